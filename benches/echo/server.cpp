// switchyard-echo: the echo server of the echo benchmarks, one per model.
//
//   switchyard-echo --model coroutine [--port 0] [--cpu 0]
//
// Binds 127.0.0.1 only, prints "port <P>" on stdout once listening, and
// serves until killed (the bench sends SIGTERM). Every model runs the same
// connection body: read what arrived, write all of it back, repeat until EOF
// or an error; a pending write stops reading from that connection
// (backpressure, no unbounded buffering).
//   thread            a thread per connection (spawned by the accept task)
//   pool              connection handlers are pool tasks that block their
//                     worker; the pool has one worker per CPU of the machine
//                     plus one that accepts, so it serves as many connections
//                     at once as there are CPUs -- the executor's limit
//   fiber, coroutine, coroutine_uring, asio: a task per connection on one thread
//   coroutine_mt      a task per connection on one worker per CPU
//   uring, libuv      the same steps as callbacks on the raw loop
//   The io_uring models use what the kernel offers -- multishot accept,
//   multishot recv into a provided buffer ring -- and fall back to one-shot
//   accept/recv; the path used is printed on stderr at start.
//   epoll             the reference: a minimal hand-written edge-triggered
//                     epoll loop, no runner, the floor everyone is compared to
//   thread_ref        the textbook thread-per-connection server, no runner:
//                     blocking accept, then one std::thread per connection
//                     looping on blocking recv/send -- what `thread` is
//                     compared to (the seam's cost for threads)
//   libuv_ref, uring_ref, asio_ref  libuv's, liburing's and Asio's own
//                     echo-server shapes, no runner (ref_libuv.cpp,
//                     ref_uring.cpp, ref_asio.cpp; refs.hpp)
// Connections get TCP_NODELAY. RLIMIT_NOFILE is raised to its hard limit.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <thread>
#include <vector>

#include "benches/common/net.hpp"
#include "benches/echo/refs.hpp"
#include "runners/affinity.hpp"
#include "runners/all.hpp"
#include "runners/models.hpp"

namespace {

using sy::echo::die;
using sy::echo::kBacklog;
using sy::echo::kBufSize;
constexpr int kEpollBatch = 256;

// ---- task models -------------------------------------------------------------------------
template <class R>
sy::task_t<R> serve(R& rt, int fd) {
    std::vector<char> buf(kBufSize);
    for (;;) {
        sy::io_result n = co_await rt.read(fd, buf.data(), buf.size());
        if (n <= 0) break;  // EOF, reset or error: this connection is done
        for (sy::io_result off = 0; off < n;) {
            sy::io_result w = co_await rt.write(fd, buf.data() + off, std::size_t(n - off));
            if (w <= 0) goto done;
            off += w;
        }
    }
done:
    rt.close(fd);
}

template <class R>
sy::task_t<R> accept_loop(R& rt, int lfd) {
    for (;;) {
        sy::io_result fd = co_await rt.accept(lfd);
        if (fd < 0) {
            if (fd == -EMFILE || fd == -ENFILE) co_await rt.sleep_for(std::chrono::milliseconds(1));
            continue;
        }
        sy::net::set_nodelay(int(fd));
        rt.spawn(serve(rt, int(fd)));  // detached: it ends with its connection
    }
}

// Runners with multishot streams (coroutine_uring): accepted fds and
// received chunks arrive as streams, the chunk's buffer is written back and
// returned to the kernel's buffer ring.
template <class R>
sy::task_t<R> serve_stream(R& rt, int fd) {
    auto in = rt.recv_stream(fd);
    for (bool ok = true; ok;) {
        auto it = co_await in.next();
        if (it.n <= 0) break;
        for (sy::io_result off = 0; off < it.n;) {
            sy::io_result w = co_await rt.write(fd, it.data + off, std::size_t(it.n - off));
            if (w <= 0) {
                ok = false;
                break;
            }
            off += w;
        }
        in.release(it);
    }
    rt.close(fd);
}

template <class R>
sy::task_t<R> accept_stream_loop(R& rt, int lfd) {
    auto incoming = rt.accept_stream(lfd);
    for (;;) {
        auto it = co_await incoming.next();
        if (it.n < 0) break;  // the listening socket failed for good
        sy::net::set_nodelay(int(it.n));
        rt.spawn(serve_stream(rt, int(it.n)));
    }
}

template <class R>
void run_task_model(int lfd) {
    R rt;
    if constexpr (requires { rt.accept_stream(lfd); }) {
        std::fprintf(stderr, "switchyard-echo: %s: %s\n", std::string(R::name).c_str(), rt.io_paths().c_str());
        rt.run(accept_stream_loop(rt, lfd));
    } else {
        rt.run(accept_loop(rt, lfd));
    }
}

// One worker per CPU of the machine (not of this pinned process) + the acceptor.
void run_pool(int lfd) {
    sy::pool_runner rt(sy::pool_options{std::thread::hardware_concurrency() + 1});
    rt.run(accept_loop(rt, lfd));
}

// ---- callback models -------------------------------------------------------------------
template <class R>
struct cb_conn {
    R& rt;
    int fd;
    std::vector<char> buf = std::vector<char>(kBufSize);

    void read_more() {
        rt.read(fd, buf.data(), buf.size(), [this](sy::io_result n) {
            if (n <= 0) return finish();
            write_rest(0, std::size_t(n));
        });
    }
    void write_rest(std::size_t off, std::size_t n) {
        rt.write(fd, buf.data() + off, n - off, [this, off, n](sy::io_result w) {
            if (w <= 0) return finish();
            if (off + std::size_t(w) < n) return write_rest(off + std::size_t(w), n);
            read_more();
        });
    }
    void finish() {
        rt.close(fd);
        delete this;
    }
};

template <class R>
void accept_more(R& rt, int lfd) {
    rt.accept(lfd, [&rt, lfd](sy::io_result fd) {
        if (fd >= 0) {
            sy::net::set_nodelay(int(fd));
            (new cb_conn<R>{rt, int(fd)})->read_more();
        }
        accept_more(rt, lfd);
    });
}

// Callback runners with multishot (uring): chunks are queued and written
// back in order, one write in flight per connection; each chunk's buffer goes
// back to the ring once written. The connection ends when its receive stream
// has ended and no write is pending.
template <class R>
struct ms_conn {
    ms_conn(R& r, int f) : rt(r), fd(f) {}
    R& rt;
    int fd;
    struct pending {
        typename R::recv_chunk chunk;
        std::size_t n;
    };
    std::deque<pending> queue;
    std::size_t off = 0;
    bool writing = false, ended = false, closed = false;

    void start() {
        rt.recv_each(fd, [this](sy::io_result n, typename R::recv_chunk c) {
            if (n <= 0) {
                ended = true;
                return maybe_finish();
            }
            queue.push_back({c, std::size_t(n)});
            if (!writing) write_front();
        });
    }
    void write_front() {
        if (queue.empty()) {
            writing = false;
            return maybe_finish();
        }
        writing = true;
        pending& p = queue.front();
        rt.write(fd, p.chunk.data + off, p.n - off, [this](sy::io_result w) {
            if (w <= 0) return fail();
            off += std::size_t(w);
            if (off < queue.front().n) return write_front();
            rt.release(queue.front().chunk);
            queue.pop_front();
            off = 0;
            write_front();
        });
    }
    void drop_queue() {
        for (auto& p : queue) rt.release(p.chunk);
        queue.clear();
    }
    void fail() {  // a write failed: stop writing, end the receive stream
        writing = false;
        drop_queue();
        if (!closed) {
            closed = true;
            rt.close(fd);  // cancels the recv; its last callback finishes us
        }
        maybe_finish();
    }
    void maybe_finish() {
        if (!ended || writing) return;
        drop_queue();
        if (!closed) rt.close(fd);
        delete this;
    }
};

template <class R>
void run_callback_model(int lfd) {
    R rt;
    if constexpr (requires { rt.io_paths(); }) {
        std::fprintf(stderr, "switchyard-echo: %s: %s\n", std::string(R::name).c_str(), rt.io_paths().c_str());
        rt.accept_each(lfd, [&rt](sy::io_result fd) {
            if (fd < 0) return;
            sy::net::set_nodelay(int(fd));
            (new ms_conn<R>(rt, int(fd)))->start();
        });
    } else {
        accept_more(rt, lfd);
    }
    rt.run();
}

// ---- the epoll reference ---------------------------------------------------------------
// Edge-triggered; per connection at most one pending (unsent) slice.
struct ref_conn {
    int fd;
    std::vector<char> pending;
    std::size_t sent = 0;
};

bool ref_flush(ref_conn& c) {  // false: connection failed
    while (c.sent < c.pending.size()) {
        ssize_t w = ::send(c.fd, c.pending.data() + c.sent, c.pending.size() - c.sent, MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN;
        c.sent += std::size_t(w);
    }
    c.pending.clear();
    c.sent = 0;
    return true;
}

bool ref_echo(ref_conn& c, char* buf) {  // false: close the connection
    if (!c.pending.empty()) return ref_flush(c);  // backpressure: no reading while blocked
    for (;;) {
        ssize_t n = ::recv(c.fd, buf, kBufSize, 0);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN;
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = ::send(c.fd, buf + off, std::size_t(n - off), MSG_NOSIGNAL);
            if (w < 0) {
                if (errno != EAGAIN) return false;
                c.pending.assign(buf + off, buf + n);  // wait for EPOLLOUT
                return true;
            }
            off += w;
        }
    }
}

void run_epoll_reference(int lfd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die(std::string("epoll_create1: ") + std::strerror(errno));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;  // the listening socket
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
    std::vector<char> buf(kBufSize);
    epoll_event evs[kEpollBatch];
    for (;;) {
        int n = epoll_wait(ep, evs, kEpollBatch, -1);
        for (int i = 0; i < n; ++i) {
            auto* c = static_cast<ref_conn*>(evs[i].data.ptr);
            if (!c) {
                for (;;) {
                    int fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
                    if (fd < 0) break;
                    sy::net::set_nodelay(fd);
                    auto* nc = new ref_conn{fd, {}, 0};
                    epoll_event e{};
                    e.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                    e.data.ptr = nc;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (!ref_echo(*c, buf.data())) {
                ::close(c->fd);
                delete c;
            }
        }
    }
}

// ---- the thread-per-connection reference -----------------------------------------------
void serve_blocking(int fd) {
    std::vector<char> buf(kBufSize);
    for (;;) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n <= 0) break;  // EOF or error
        ssize_t off = 0;
        while (off < n) {
            ssize_t w = ::send(fd, buf.data() + off, std::size_t(n - off), MSG_NOSIGNAL);
            if (w < 0) break;
            off += w;
        }
        if (off < n) break;
    }
    ::close(fd);
}

void run_thread_reference(int lfd) {
    int fl = fcntl(lfd, F_GETFL);
    if (fl < 0 || fcntl(lfd, F_SETFL, fl & ~O_NONBLOCK) != 0)
        die(std::string("fcntl: ") + std::strerror(errno));
    for (;;) {
        int fd = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {  // out of fds: let some close
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
                continue;
            }
            die(std::string("accept: ") + std::strerror(errno));
        }
        sy::net::set_nodelay(fd);
        try {
            std::thread(serve_blocking, fd).detach();
        } catch (const std::system_error&) {  // out of threads: refuse this one
            ::close(fd);
        }
    }
}

int listen_on(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) die(std::string("socket: ") + std::strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const sockaddr_in a = sy::net::loopback(port);  // loopback only
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0)
        die("bind 127.0.0.1:" + std::to_string(port) + ": " + std::strerror(errno));
    if (::listen(fd, kBacklog) != 0) die(std::string("listen: ") + std::strerror(errno));
    std::printf("port %d\n", sy::net::local_port(fd));
    std::fflush(stdout);
    return fd;
}

void raise_nofile() {
    rlimit r{};
    if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
        r.rlim_cur = r.rlim_max;
        setrlimit(RLIMIT_NOFILE, &r);
    }
}

}  // namespace

[[noreturn]] void sy::echo::die(const std::string& msg, int code) {
    std::fprintf(stderr, "switchyard-echo: %s\n", msg.c_str());
    std::exit(code);
}

int main(int argc, char** argv) {
    // Timer slack 1 ns, as every bench process (benches/common/bench.hpp
    // kTimerSlackNs): a server's timed waits are not deferred by 50 us.
    ::prctl(PR_SET_TIMERSLACK, 1UL);
    std::string model;
    int port = 0, cpu = -1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) die("missing value after " + a);
            return argv[++i];
        };
        auto number = [&](const std::string& v) {
            char* end = nullptr;
            long x = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end || x < 0 || x > 65535) die("not a valid number for " + a + ": '" + v + "'");
            return int(x);
        };
        if (a == "--model") model = value();
        else if (a == "--port") port = number(value());
        else if (a == "--cpu") cpu = number(value());
        else die("unknown option '" + a + "' (usage: switchyard-echo --model M [--port P] [--cpu N])");
    }
    if (model.empty()) die("--model is required (" + sy::known_models_text() + ", epoll, thread_ref, libuv_ref, uring_ref, asio_ref)");
    if (cpu >= 0) {
        std::string err = sy::pin_this_thread(cpu);
        if (!err.empty()) die(err);
    }
    raise_nofile();
    int lfd = listen_on(port);
    try {
        if (model == "epoll") run_epoll_reference(lfd);
        else if (model == "thread_ref") run_thread_reference(lfd);
#if SY_HAVE_UV
        else if (model == "libuv_ref") sy::echo::run_libuv_reference(lfd);
#endif
#if SY_HAVE_URING
        else if (model == "uring_ref") sy::echo::run_uring_reference(lfd);
#endif
#if SY_HAVE_ASIO
        else if (model == "asio_ref") sy::echo::run_asio_reference(lfd);
#endif
        else if (model == "thread") run_task_model<sy::thread_runner>(lfd);
        else if (model == "pool") run_pool(lfd);
#if SY_HAVE_BOOST_CONTEXT
        else if (model == "fiber") run_task_model<sy::fiber_runner>(lfd);
#endif
        else if (model == "coroutine") run_task_model<sy::coroutine_runner>(lfd);
        else if (model == "coroutine_mt") run_task_model<sy::coroutine_mt_runner>(lfd);
#if SY_HAVE_URING
        else if (model == "coroutine_uring") run_task_model<sy::coroutine_uring_runner>(lfd);
        else if (model == "uring") run_callback_model<sy::uring_runner>(lfd);
#endif
#if SY_HAVE_UV
        else if (model == "libuv") run_callback_model<sy::libuv_runner>(lfd);
#endif
#if SY_HAVE_ASIO
        else if (model == "asio") run_task_model<sy::asio_runner>(lfd);
#endif
        else die("unknown or disabled model '" + model + "' (" + sy::known_models_text() +
                 ", epoll, thread_ref, libuv_ref, uring_ref, asio_ref)");
    } catch (const std::exception& e) {
        die(e.what(), 1);
    }
    return 0;
}
