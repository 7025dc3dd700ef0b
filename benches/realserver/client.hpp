// The client side of the real-server workloads, written once for both
// protocols (RESP in benches/redis.cpp, HTTP/1.1 in benches/http.cpp):
// one connection per client, and a loop "write a batch of requests, read
// until the protocol says every reply of the batch has arrived and been
// verified, repeat". A protocol P provides:
//   bool left() const                  requests still to make this iteration
//   void begin(std::vector<char>& out) the next batch's request bytes
//   fed  feed(conn& c)                 parse c.in[0, c.have): verifies and
//                                      drops complete replies, keeps a
//                                      partial one at the front
//   reply_stats stats                  requests answered, checksum, errors
// The loop exists twice: as a sy::task for the five task models and as a
// callback chain for uring and libuv. Buffers are fixed per connection (no
// unbounded buffering): a reply part larger than the read buffer is an error.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"
#include "benches/realserver/process.hpp"

namespace sy::realserver {

struct reply_stats {
    std::uint64_t requests = 0;  // replies received and verified
    std::uint64_t checksum = 0;  // protocol-defined sum over verified replies
    std::uint64_t errors = 0;
    std::string first_error;
    void fail(std::string why) {
        if (errors++ == 0) first_error = std::move(why);
    }
    void add(const reply_stats& o) {
        requests += o.requests;
        checksum += o.checksum;
        if (o.errors > 0 && errors == 0) first_error = o.first_error;
        errors += o.errors;
    }
};

enum class fed { more, done, error };

// One client connection: a non-blocking TCP socket (TCP_NODELAY, as client
// libraries set it) and its fixed buffers.
struct conn {
    unique_fd fd;
    std::vector<char> in, out;
    std::size_t have = 0;  // bytes in `in` not yet consumed
    std::size_t sent = 0;  // bytes of `out` written (callback chains)
    explicit conn(std::size_t in_size) : in(in_size) {
        fd.reset(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (fd.get() < 0) throw resource_error("socket: " + errno_text(errno) + " (" + fd_limit_text() + ")");
        net::set_nodelay(fd.get());
    }
};

inline std::string io_error(const char* what, io_result n) {
    return n == 0 ? std::string(what) + ": the server closed the connection"
                  : std::string(what) + ": " + errno_text(int(-n));
}

// ---- task models ------------------------------------------------------------------

template <class R, class P>
sy::task_t<R> task_client(R& rt, conn& c, P& p) {
    while (p.left()) {
        p.begin(c.out);
        for (std::size_t off = 0; off < c.out.size();) {
            io_result w = co_await rt.write(c.fd.get(), c.out.data() + off, c.out.size() - off);
            if (w <= 0) {
                p.stats.fail(io_error("write", w));
                co_return;
            }
            off += std::size_t(w);
        }
        for (;;) {
            if (c.have == c.in.size()) {
                p.stats.fail("a reply part is larger than the " + std::to_string(c.in.size()) + "-byte buffer");
                co_return;
            }
            io_result n = co_await rt.read(c.fd.get(), c.in.data() + c.have, c.in.size() - c.have);
            if (n <= 0) {
                p.stats.fail(io_error("read", n));
                co_return;
            }
            c.have += std::size_t(n);
            fed f = p.feed(c);
            if (f == fed::error) co_return;
            if (f == fed::done) break;
        }
    }
}

// Connects every client (before timing), then per iteration spawns one task
// per client, each making its share of the requests on its own connection,
// and joins them. Protocol stats accumulate over iterations.
template <class R, class P>
sy::task_t<R> task_main(R& rt, benchmark::State& state, const sockaddr_in& addr, std::vector<conn>& conns,
                         std::vector<P>& protos, reply_stats& setup, sy::bench::thread_peak& threads) {
    for (auto& c : conns) {
        io_result r = co_await rt.connect(c.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        if (r != 0) {
            setup.fail(io_error("connect", r));
            break;
        }
    }
    if (setup.errors == 0) {
        for (auto _ : state) {
            std::vector<typename R::template join_handle<void>> hs;
            hs.reserve(conns.size());
            for (std::size_t i = 0; i < conns.size(); ++i) {
                protos[i].restart();
                hs.push_back(rt.spawn(task_client(rt, conns[i], protos[i])));
            }
            threads.sample_once();
            for (auto& h : hs) co_await h.join();
        }
    }
    for (auto& c : conns) rt.close(c.fd.release());
}

// ---- callback models --------------------------------------------------------------

template <class R, class P>
struct cb_client {
    R& rt;
    conn& c;
    P& p;

    void start() {
        if (!p.left()) return;
        p.begin(c.out);
        c.sent = 0;
        send();
    }
    void send() {
        rt.write(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, [this](io_result w) {
            if (w <= 0) return p.stats.fail(io_error("write", w));
            c.sent += std::size_t(w);
            if (c.sent < c.out.size())
                send();
            else
                receive();
        });
    }
    void receive() {
        if (c.have == c.in.size())
            return p.stats.fail("a reply part is larger than the " + std::to_string(c.in.size()) + "-byte buffer");
        rt.read(c.fd.get(), c.in.data() + c.have, c.in.size() - c.have, [this](io_result n) {
            if (n <= 0) return p.stats.fail(io_error("read", n));
            c.have += std::size_t(n);
            switch (p.feed(c)) {
                case fed::more: return receive();
                case fed::done: return start();
                case fed::error: return;
            }
        });
    }
};

// The same steps as task_main on a callback runner: connect every client,
// then per iteration start one callback chain per client and run the loop
// until all chains have made their requests.
template <class R, class P>
void callback_main(R& rt, benchmark::State& state, const sockaddr_in& addr, std::vector<conn>& conns,
                   std::vector<P>& protos, reply_stats& setup, sy::bench::thread_peak& threads) {
    for (auto& c : conns)
        rt.connect(c.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr, [&setup](io_result r) {
            if (r != 0) setup.fail(io_error("connect", r));
        });
    rt.run();
    if (setup.errors == 0) {
        std::vector<cb_client<R, P>> clients;
        clients.reserve(conns.size());
        for (std::size_t i = 0; i < conns.size(); ++i) clients.push_back({rt, conns[i], protos[i]});
        for (auto _ : state) {
            for (std::size_t i = 0; i < conns.size(); ++i) {
                protos[i].restart();
                clients[i].start();
            }
            rt.run();
            threads.sample_once();  // the loop and any helper threads it started
        }
    }
    for (auto& c : conns) rt.close(c.fd.release());
}

// ---- results ----------------------------------------------------------------------

// After timing: every request answered and verified, every iteration.
// False (the case failed, with the first error) when any request failed or
// the case already failed.
inline bool no_errors(benchmark::State& state, const reply_stats& total) {
    if (total.errors > 0) {
        if (!state.error_occurred())
            state.SkipWithError((std::to_string(total.errors) + " error(s), first: " + total.first_error).c_str());
        return false;
    }
    return !state.error_occurred();
}

// `per_request` is the checksum one verified reply adds.
// `pinned`: server and clients ran on CPUs of their own (client_pin).
template <class P>
void finish(benchmark::State& state, const reply_stats& setup, const std::vector<P>& protos,
            std::uint64_t requests, std::uint64_t per_request, bool pinned) {
    reply_stats total = setup;
    for (const auto& p : protos) total.add(p.stats);
    if (!no_errors(state, total)) return;
    const std::uint64_t iters = std::uint64_t(state.iterations());
    if (!sy::bench::expect_eq(state, "requests", total.requests, iters * requests)) return;
    if (!sy::bench::expect_eq(state, "checksum", total.checksum, iters * requests * per_request)) return;
    sy::bench::counter(state, "requests", double(requests));
    sy::bench::counter(state, "checksum", double(requests * per_request));
    sy::bench::counter(state, "errors", 0);
    sy::bench::counter(state, "concurrency", double(protos.size()));
    sy::bench::counter(state, "pinned", pinned ? 1 : 0);
    state.SetItemsProcessed(std::int64_t(iters * requests));
}

// Skips every case when --no-peers asked for no peer systems.
inline bool no_peers() {
    const char* v = std::getenv("SY_NO_PEERS");
    return v && std::string_view(v) == "1";
}

// One case of a real-server bench on model R: `n` clients (receive buffers
// of `buffer` bytes) against server `s` (its .srv and .addr), running the
// protocol machines that make_protos() returns; then finish(setup, protos,
// pinned) checks and publishes the work. Task and callback models alike.
template <class R, class S, class MakeProtos, class Finish>
void run_case(benchmark::State& state, const S& s, int n, std::size_t buffer,
              MakeProtos make_protos, Finish finish) {
    const client_pin pin(s.srv);
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto with_runner = [&](R& rt) {
            std::vector<conn> cs;
            cs.reserve(std::size_t(n));
            for (int i = 0; i < n; ++i) cs.emplace_back(buffer);
            auto ps = make_protos();
            reply_stats setup;
            if constexpr (sy::task_runner<R>)
                rt.run(task_main(rt, state, s.addr, cs, ps, setup, threads));
            else
                callback_main(rt, state, s.addr, cs, ps, setup, threads);
            finish(setup, ps, pin.pinned());
        };
        if constexpr (sy::task_runner<R>) {
            // pool: one worker per blocking client, plus the main task's.
            with_runner(*sy::bench::make_runner<R>({.workers = unsigned(n) + 1}));
        } else {
            R rt;
            with_runner(rt);
        }
        threads.publish(state);
    });
}

// The bench's one server S (started on first use, shared by its cases), or
// nullptr after reporting why the case cannot run: --no-peers, the program
// `exe` missing (skip: `missing`), or S failing to start (S::error).
template <class S>
const S* shared_server(benchmark::State& state, const char* exe, const char* missing) {
    if (no_peers()) {
        sy::bench::skip(state, "--no-peers");
        return nullptr;
    }
    if (access(exe, X_OK) != 0) {
        sy::bench::skip(state, missing);
        return nullptr;
    }
    static const S s;
    if (!s.error.empty()) {
        state.SkipWithError(s.error.c_str());
        return nullptr;
    }
    return &s;
}

}  // namespace sy::realserver
