// Model `libuv`: a uv_loop_t with callbacks, the way Node.js and uvloop use
// it.
//
// Scheduling: one OS thread running uv_run. post() appends to a FIFO that a
// uv_idle handle drains (like setImmediate / uvloop's call_soon): each loop
// iteration runs up to detail::kTransferBudget callbacks, including ones
// posted meanwhile -- the turn budget every loop model uses -- so a chain of
// posts does not pay one loop iteration (an epoll_wait) per callback.
// Timers are uv_timer_t (libuv's binary heap, millisecond resolution);
// offload is uv_queue_work on libuv's thread pool; cross-thread wakes use a
// uv_async_t. Shutdown closes every handle so uv_loop_close() returns 0.
//
// I/O is libuv's stream API, as libuv's test/echo-server.c and Node's net
// module use it: a socket or pipe fd becomes a uv_tcp_t / uv_pipe_t on its
// first operation (uv_tcp_open / uv_pipe_open; accepted connections come
// from uv_accept). Reading is uv_read_start with an alloc callback that hands
// libuv the waiting read's own buffer (no copy); data that arrives while no
// read waits goes to a per-stream buffer of kSpillBytes (Node reads into
// 64 KiB too), and reading stops only when that buffer is full -- so a
// connection is not stopped and restarted (an epoll_ctl each) per message.
// Writes try uv_try_write and queue the rest with uv_write. Listening sockets
// use uv_listen + uv_accept; connect is uv_tcp_connect (uv_pipe_connect for
// AF_UNIX paths). Regular files go through pread (uv_fs_read on libuv's
// thread pool, as Node's fs does); other fd kinds (UDP, eventfd) are not
// streams and fail with -EOPNOTSUPP.
//
// Where this departs from libuv's own idiom: the seam's read(fd, buf, len)
// is one-shot, so a completion is a read that libuv made into buf; libuv
// owns a stream's fd from its first operation until close(fd), and the
// destructor closes fds left open.
#pragma once

#include <uv.h>

#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "runners/detail/callback.hpp"
#include "runners/detail/fd_ops.hpp"  // io_result, ignore_sigpipe
#include "runners/detail/intrusive.hpp"
#include "runners/detail/remote_queue.hpp"
#include "runners/detail/ring_queue.hpp"

namespace sy {

class libuv_runner {
public:
    static constexpr std::string_view name = "libuv";
    static constexpr bool cooperative = true;

    libuv_runner();
    ~libuv_runner();
    libuv_runner(const libuv_runner&) = delete;
    libuv_runner& operator=(const libuv_runner&) = delete;

    template <class F>
    void post(F&& f) {
        post_node(detail::make_cb(std::forward<F>(f)));
    }
    void post_node(detail::cb_node* n) {
        if (ready_.empty()) start_idle();
        ready_.push(n);
    }

    // libuv keeps loop time in whole milliseconds, truncated, so a uv_timer
    // can fire up to 1 ms early in real time (as Node's setTimeout does).
    // The runner keeps the precise deadline and re-arms for the remainder.
    template <class F>
    void after(std::chrono::nanoseconds d, F&& f) {
        struct node final : detail::pooled {
            uv_timer_t timer;
            std::uint64_t deadline_ns;
            std::decay_t<F> fn;
            explicit node(F&& x) : fn(std::forward<F>(x)) {}
            static void on_fire(uv_timer_t* t) {
                auto* self = static_cast<node*>(t->data);
                if (uv_hrtime() < self->deadline_ns) {  // early: wait for the rest
                    start_timer(t, self->deadline_ns, &on_fire);
                    return;
                }
                uv_close(reinterpret_cast<uv_handle_t*>(t),
                         [](uv_handle_t* h) { delete static_cast<node*>(h->data); });
                self->fn();
            }
        };
        auto* n = new node(std::forward<F>(f));
        uv_timer_init(&loop_, &n->timer);
        n->timer.data = n;
        n->deadline_ns = uv_hrtime() + std::uint64_t(d.count() > 0 ? d.count() : 0);
        start_timer(&n->timer, n->deadline_ns, &node::on_fire);
    }

    template <class F>
    void read(int fd, void* buf, std::size_t len, F&& f) {
        start_read(fd, make_op(std::forward<F>(f), buf, len));
    }
    // File reads go to libuv's thread pool (uv_fs_read), as Node's fs does.
    template <class F>
    void pread(int fd, void* buf, std::size_t len, off_t offset, F&& f) {
        struct node final : detail::pooled {
            uv_fs_t req;
            std::decay_t<F> fn;
            explicit node(F&& x) : fn(std::forward<F>(x)) {}
        };
        auto* n = new node(std::forward<F>(f));
        n->req.data = n;
        uv_buf_t b = uv_buf_init(static_cast<char*>(buf), unsigned(len));
        int r = uv_fs_read(&loop_, &n->req, fd, &b, 1, offset, [](uv_fs_t* req) {
            auto* self = static_cast<node*>(req->data);
            io_result res = req->result;
            uv_fs_req_cleanup(req);
            struct deleter {
                node* p;
                ~deleter() { delete p; }
            } del{self};
            self->fn(res);
        });
        if (r < 0) {
            io_result res = r;
            auto fn = std::move(n->fn);
            delete n;
            post([fn = std::move(fn), res]() mutable { fn(res); });
        }
    }
    template <class F>
    void write(int fd, const void* buf, std::size_t len, F&& f) {
        start_write(fd, make_op(std::forward<F>(f), const_cast<void*>(buf), len));
    }
    template <class F>
    void accept(int fd, F&& f) {
        start_accept(fd, make_op(std::forward<F>(f), nullptr, 0));
    }
    template <class F>
    void connect(int fd, const sockaddr* addr, socklen_t len, F&& f) {
        start_connect(fd, addr, len, make_op(std::forward<F>(f), nullptr, 0));
    }
    // f(io_result) once fd is ready or the timeout passed (detail/fd_ops.hpp):
    // a uv_poll_t and a uv_timer_t per wait, both closed when either fires,
    // as a libuv program integrates a library that owns its socket (the fd
    // must not be one this runner uses as a stream). Each wait registers and
    // unregisters the fd with epoll (2 epoll_ctl), which a program keeping
    // one uv_poll_t per connection would not pay.
    template <class F>
    void wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout, F&& f) {
        const std::uint64_t ns = detail::wait_ns(timeout);
        if (ns == 0) return detail::post_wait_fd_now(*this, fd, events, std::forward<F>(f));
        struct node final : detail::pooled {
            uv_poll_t poll;
            uv_timer_t timer;
            std::uint64_t deadline_ns = 0;
            unsigned events = 0;
            int open = 0;  // handles not yet closed
            std::decay_t<F> fn;
            explicit node(F&& x) : fn(std::forward<F>(x)) {}
            static void on_closed(uv_handle_t* h) {
                auto* self = static_cast<node*>(h->data);
                if (--self->open == 0) delete self;
            }
            void close_handles() {
                uv_close(reinterpret_cast<uv_handle_t*>(&poll), &on_closed);
                uv_close(reinterpret_cast<uv_handle_t*>(&timer), &on_closed);
            }
            void finish(io_result r) {  // the node lives until both close callbacks
                close_handles();
                fn(r);
            }
            static void on_poll(uv_poll_t* p, int status, int ev) {
                auto* self = static_cast<node*>(p->data);
                if (status < 0) return self->finish(status);
                unsigned revents = ((ev & UV_READABLE) ? POLLIN : 0) | ((ev & UV_WRITABLE) ? POLLOUT : 0) |
                                   ((ev & UV_DISCONNECT) ? POLLRDHUP : 0) | ((ev & UV_PRIORITIZED) ? POLLPRI : 0);
                io_result r = detail::wait_bits_of(revents, self->events);
                if (r != -EAGAIN) self->finish(r);
            }
            static void on_fire(uv_timer_t* t) {
                auto* self = static_cast<node*>(t->data);
                if (uv_hrtime() < self->deadline_ns) {  // early: wait for the rest
                    start_timer(t, self->deadline_ns, &on_fire);
                    return;
                }
                self->finish(kWaitTimeout);
            }
        };
        auto* n = new node(std::forward<F>(f));
        n->events = events;
        int r = uv_poll_init(&loop_, &n->poll, fd);
        if (r < 0) {
            auto fn = std::move(n->fn);
            delete n;
            post([fn = std::move(fn), r]() mutable { fn(io_result(r)); });
            return;
        }
        uv_timer_init(&loop_, &n->timer);
        n->poll.data = n->timer.data = n;
        n->open = 2;
        int uv_events = ((events & kWaitRead) ? UV_READABLE : 0) | ((events & kWaitWrite) ? UV_WRITABLE : 0) |
                        ((events & kWaitExcept) ? UV_PRIORITIZED : 0);
        r = uv_poll_start(&n->poll, uv_events | UV_DISCONNECT, &node::on_poll);
        if (r < 0) {
            auto fn = std::move(n->fn);
            n->close_handles();  // the close callbacks free n
            post([fn = std::move(fn), r]() mutable { fn(io_result(r)); });
            return;
        }
        n->deadline_ns = uv_hrtime() + ns;
        start_timer(&n->timer, n->deadline_ns, &node::on_fire);
    }

    // Pending reads and accepts on fd end with -ECANCELED, pending writes and
    // connects with libuv's UV_ECANCELED; the stream is closed with its fd.
    void close(int fd);

    template <class Fn, class Done>
    void offload(Fn fn, Done done) {
        using R = std::invoke_result_t<Fn&>;
        struct job final : detail::pooled {
            uv_work_t req;
            Fn fn;
            Done done;
            outcome<R> out;
            job(Fn f, Done d) : fn(std::move(f)), done(std::move(d)) {}
        };
        auto* j = new job(std::move(fn), std::move(done));
        j->req.data = j;
        uv_queue_work(
            &loop_, &j->req, [](uv_work_t* r) { static_cast<job*>(r->data)->out.capture(static_cast<job*>(r->data)->fn); },
            [](uv_work_t* r, int) {
                auto* self = static_cast<job*>(r->data);
                struct deleter {
                    job* p;
                    ~deleter() { delete p; }
                } del{self};
                self->done(std::move(self->out));
            });
    }

    template <class T>
    using channel = detail::cb_channel<libuv_runner, T>;
    using event = detail::cb_event<libuv_runner>;

    void post_remote(void (*fn)(void*), void* arg) {
        remote_.push({fn, arg});
        uv_async_send(&async_);
    }
    void hold();
    void release();
    bool on_loop_thread() const { return std::this_thread::get_id() == owner_; }

    // uv_run until no handle or request is active.
    void run();

    detail::frame_pool& frames() { return frames_; }
    uv_loop_t* loop() { return &loop_; }

private:
    struct stream;
    // A pending read, write, accept or connect. `finish` runs the user's
    // callback with the result (run = true) or only frees the node (the loop
    // is being torn down), then frees it.
    struct op : detail::pooled {
        op* next = nullptr;
        void (*finish)(op*, io_result, bool run) = nullptr;
        void* buf = nullptr;  // read: destination; write: source
        std::size_t len = 0;
        union {
            uv_write_t write;
            uv_connect_t connect;
        } req;
    };
    template <class F>
    struct op_node final : op {
        F fn;
        explicit op_node(F f) : fn(std::move(f)) { this->finish = &done; }
        static void done(op* o, io_result r, bool run) {
            auto* self = static_cast<op_node*>(o);
            struct deleter {
                op_node* p;
                ~deleter() { delete p; }
            } del{self};
            if (run) self->fn(r);
        }
    };
    template <class F>
    static op* make_op(F&& f, void* buf, std::size_t len) {
        auto* o = new op_node<std::decay_t<F>>(std::forward<F>(f));
        o->buf = buf;
        o->len = len;
        return o;
    }
    // Delivers a result known at once through the queue, never re-entrantly.
    void finish_soon(op* o, io_result r) {
        post([o, r] { o->finish(o, r, true); });
    }
    void start_read(int fd, op* o);
    void start_write(int fd, op* o);
    void start_accept(int fd, op* o);
    void start_connect(int fd, const sockaddr* addr, socklen_t len, op* o);
    stream* stream_of(int fd, io_result& err);  // opens the handle on first use
    io_result accept_one(stream& listener);
    bool adopt(std::unique_ptr<stream>& s);
    void start_reading(stream& s);
    static void update_ref(stream& s);
    static void on_alloc(uv_handle_t* h, std::size_t suggested, uv_buf_t* buf);
    static void on_read(uv_stream_t* h, ssize_t nread, const uv_buf_t* buf);
    static void on_write(uv_write_t* req, int status);
    static void on_connect(uv_connect_t* req, int status);
    static void on_connection(uv_stream_t* h, int status);
    static void close_stream(std::unique_ptr<stream> s);
    void start_idle();
    static void on_idle(uv_idle_t* h);
    // Starts `t` to fire at deadline_ns (uv_hrtime clock), rounded up to ms.
    static void start_timer(uv_timer_t* t, std::uint64_t deadline_ns, uv_timer_cb cb) {
        uv_update_time(t->loop);
        std::uint64_t now = uv_hrtime();
        std::uint64_t left = deadline_ns > now ? deadline_ns - now : 0;
        uv_timer_start(t, cb, (left + 999'999) / 1'000'000, 0);
    }

    detail::frame_pool frames_;
    detail::frame_pool_scope frames_scope_{&frames_};
    uv_loop_t loop_;
    uv_idle_t idle_;
    uv_async_t async_;
    bool idle_active_ = false;
    std::size_t held_ = 0;
    detail::ring_queue<detail::cb_node*> ready_;
    std::vector<std::unique_ptr<stream>> fds_;  // by fd
    bool tearing_down_ = false;
    detail::remote_queue remote_;
    std::thread::id owner_;
};

}  // namespace sy
