// redis: N clients doing GET/SET against a private Redis, on every model.
//
// What: bench_redis starts its own redis-server once (127.0.0.1, a free
// port, no persistence, temp dir; see benches/realserver/process.hpp),
// stores kKeys keys with deterministic kValueSize-byte values, then each
// case makes kRequests requests per iteration over RESP framed by hand:
//   redis/<model>/op:get|set/mode:sequential/concurrency:1/pipeline:P
//       one client on one connection;
//   redis/<model>/op:get|set/mode:concurrent/concurrency:C/pipeline:P
//       C clients, each on its own connection and each a task of the model
//       (a callback chain on uring and libuv), sharing the same requests.
// pipeline:P = each client writes P requests, then reads the P replies.
// Every reply is verified: SET must answer +OK, GET must return exactly the
// key's value (bytes compared). Counters (per iteration, checked exactly):
// requests, checksum (value bytes verified: requests x kValueSize), errors
// (0; any protocol or I/O error fails the case). requests/s = requests /
// real_time.
// Why: claim 12, "async I/O against real servers improves throughput over
// sequential calls": concurrent over sequential requests/s, per model, op
// and pipeline depth (scripts/sylib/claims.py pairs the rows).
// pool: every client blocks its worker, so the pool gets one worker per
// client plus one for the main task. thread: a thread per client.
// Skips: redis-server missing (apt install redis-server), or SY_NO_PEERS=1
// (`switchyard run --no-peers`). Timing: quick and full fit in 25 s / 90 s
// on 2 cores, so the full tier sets its own minimum time per case.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"
#include "benches/realserver/client.hpp"
#include "benches/realserver/process.hpp"
#include "benches/realserver/pyclient.hpp"

namespace {

namespace rs = sy::realserver;
using sy::bench::pick;

constexpr const char* kRedisServer = "/usr/bin/redis-server";
constexpr int kKeys = 1000;                  // key:000000 .. key:000999
constexpr std::size_t kValueSize = 64;       // bytes per value
constexpr std::size_t kReplyBuffer = 16384;  // read buffer per connection
constexpr int kSmokeConcurrency[] = {10};
constexpr int kConcurrency[] = {10, 100};
constexpr int kPipelines[] = {1, 16};
// Requests per iteration, any concurrency and pipeline (a multiple of
// 100 x 16, so that every client makes whole batches).
constexpr std::uint64_t kSmokeRequests = 160, kRequests = 1600;
constexpr double kFullMinTimeS = 0.1;  // 84 cases x 5 repetitions must fit 90 s
// The Python client (runners/peers/py_redis_asyncio.py, redis.asyncio): in
// the default run op:get at pipeline:1, sequential and the largest
// concurrency, on asyncio's loop (py::loops) -- 2 rows, each a Python
// process (the run's 15-minute budget: 4 rows with uvloop measured 7.0 s per
// bench process on a loaded 2-core machine). `run --full` (opts().full) adds
// uvloop, op:set, concurrency:10 and pipeline:16, the C++ rows' whole sweep.
// Smoke: concurrency:10 instead of 100, both loops.
constexpr int kPySmokeConcurrency[] = {10};
constexpr int kPyConcurrency[] = {100};
constexpr int kPyPublicationConcurrency[] = {10, 100};
constexpr int kPyPipelines[] = {1};

enum class op { get, set };

// Keys, values and the request bytes of each, built once.
struct keyspace {
    std::vector<std::string> value, get, set;
    keyspace() {
        for (int i = 0; i < kKeys; ++i) {
            char key[16];
            std::snprintf(key, sizeof key, "key:%06d", i);
            std::string v(kValueSize, '\0');
            for (std::size_t j = 0; j < kValueSize; ++j) v[j] = char('a' + (std::size_t(i) * 7 + j * 13) % 26);
            const std::string k(key);
            const std::string klen = "$" + std::to_string(k.size()) + "\r\n" + k + "\r\n";
            value.push_back(v);
            get.push_back("*2\r\n$3\r\nGET\r\n" + klen);
            set.push_back("*3\r\n$3\r\nSET\r\n" + klen + "$" + std::to_string(kValueSize) + "\r\n" + v + "\r\n");
        }
    }
};

const keyspace& keys() {
    static const keyspace k;
    return k;
}

// RESP for our two commands: SET answers "+OK", GET a bulk string "$<n>"
// (nil "$-1" is an error: every key was stored); "-ERR ..." is an error.
struct redis_proto {
    op what;
    int pipeline;
    std::uint64_t per_iteration;  // requests of this client per iteration
    int next_key, reply_key;      // the key of the next request / next reply
    std::uint64_t left_ = 0;
    int pending = 0;  // replies still due in this batch
    rs::reply_stats stats;

    redis_proto(op w, int p, std::uint64_t each, int first)
        : what(w), pipeline(p), per_iteration(each), next_key(first), reply_key(first) {}
    void restart() { left_ = per_iteration; }
    bool left() const { return left_ > 0; }
    void begin(std::vector<char>& out) {
        const auto& reqs = what == op::get ? keys().get : keys().set;
        out.clear();
        pending = int(std::min<std::uint64_t>(std::uint64_t(pipeline), left_));
        left_ -= std::uint64_t(pending);
        for (int i = 0; i < pending; ++i) {
            const std::string& r = reqs[std::size_t(next_key)];
            out.insert(out.end(), r.begin(), r.end());
            next_key = (next_key + 1) % kKeys;
        }
    }

    // Length of the line at p (up to "\r\n"), or npos if incomplete.
    static std::size_t line(const char* p, std::size_t n) {
        for (std::size_t i = 0; i + 1 < n; ++i)
            if (p[i] == '\r' && p[i + 1] == '\n') return i;
        return std::string_view::npos;
    }
    // Bytes of one complete reply at p (0: incomplete), verified; -1 on error.
    long one_reply(const char* p, std::size_t n) {
        std::size_t len = line(p, n);
        if (len == std::string_view::npos) return 0;
        std::string_view head(p, len);
        if (head.empty()) return fail("empty reply line");
        if (head[0] == '-') return fail("redis: " + std::string(head.substr(1)));
        if (what == op::set) {
            if (head != "+OK") return fail("SET answered '" + std::string(head) + "'");
            stats.checksum += kValueSize;
            return long(len + 2);
        }
        if (head[0] != '$') return fail("GET answered '" + std::string(head) + "'");
        if (head == "$-1") return fail("GET key:" + std::to_string(reply_key) + " returned nil");
        std::size_t size = 0;
        for (char ch : head.substr(1)) {
            if (ch < '0' || ch > '9') return fail("bad bulk length '" + std::string(head) + "'");
            size = size * 10 + std::size_t(ch - '0');
        }
        if (n < len + 2 + size + 2) return 0;
        const std::string& want = keys().value[std::size_t(reply_key)];
        const char* body = p + len + 2;
        if (size != want.size() || std::memcmp(body, want.data(), size) != 0 || body[size] != '\r' ||
            body[size + 1] != '\n')
            return fail("GET key:" + std::to_string(reply_key) + " returned a wrong value");
        stats.checksum += size;
        return long(len + 2 + size + 2);
    }
    long fail(std::string why) {
        stats.fail(std::move(why));
        return -1;
    }
    rs::fed feed(rs::conn& c) {
        std::size_t pos = 0;
        while (pending > 0) {
            long used = one_reply(c.in.data() + pos, c.have - pos);
            if (used < 0) return rs::fed::error;
            if (used == 0) break;
            pos += std::size_t(used);
            --pending;
            ++stats.requests;
            reply_key = (reply_key + 1) % kKeys;
        }
        std::memmove(c.in.data(), c.in.data() + pos, c.have - pos);
        c.have -= pos;
        if (pending > 0) return rs::fed::more;
        if (c.have != 0) {
            stats.fail(std::to_string(c.have) + " unexpected bytes after the replies");
            return rs::fed::error;
        }
        return rs::fed::done;
    }
};

// Stores every key once (one pipelined blocking exchange); "" or the error.
std::string populate(int port) {
    std::string all;
    for (const auto& s : keys().set) all += s;
    std::string reply = rs::exchange(port, all, [](const std::string& r) {
        return r.size() >= std::size_t(kKeys) * 5 || r.find('-') != std::string::npos;
    });
    std::string want;
    for (int i = 0; i < kKeys; ++i) want += "+OK\r\n";
    if (reply != want) return "storing the keys failed: '" + reply.substr(0, 60) + "'";
    return "";
}

// The bench's redis-server: started on first use, stopped at exit.
struct redis_server {
    rs::managed_server srv;
    sockaddr_in addr{};
    std::string error;
    redis_server()
        : srv("redis", "redis-server",
              [](int port, const std::string& dir) -> std::vector<std::string> {
                  return {kRedisServer, "--port", std::to_string(port), "--bind", "127.0.0.1", "--save", "",
                          "--appendonly", "no", "--daemonize", "no", "--dir", dir, "--databases", "1"};
              },
              [](const std::string&) {},
              [](int port, const std::string& dir) {
                  // Our server, not another process on that port: its dir.
                  std::string r = rs::exchange(port, "CONFIG GET dir\r\n", [&](const std::string& t) {
                      return t.find(dir + "\r\n") != std::string::npos;
                  }, 1.0);
                  return r.find(dir + "\r\n") != std::string::npos;
              }) {
        error = srv.error;
        if (error.empty()) error = populate(srv.port);
        addr = rs::loopback(srv.port);
    }
};

// The server, or nullptr after reporting why the case cannot run.
const redis_server* server(benchmark::State& state) {
    return rs::shared_server<redis_server>(state, kRedisServer,
                                           "redis-server not installed (apt install redis-server)");
}

std::uint64_t requests() { return pick(kSmokeRequests, kRequests, kRequests); }

std::vector<redis_proto> protos(op what, int concurrency, int pipeline) {
    const std::uint64_t each = requests() / std::uint64_t(concurrency);
    std::vector<redis_proto> ps;
    for (int i = 0; i < concurrency; ++i) {
        int first = int((std::uint64_t(i) * each) % kKeys);
        ps.emplace_back(what, pipeline, each, first);
    }
    return ps;
}

// Task and callback models alike (rs::run_case).
template <class R>
void redis_case(benchmark::State& state, op what, int concurrency, int pipeline) {
    const redis_server* s = server(state);
    if (!s) return;
    rs::run_case<R>(
        state, *s, concurrency, kReplyBuffer, [&] { return protos(what, concurrency, pipeline); },
        [&](const rs::reply_stats& setup, const std::vector<redis_proto>& ps, bool pinned) {
            rs::finish(state, setup, ps, requests(), kValueSize, pinned);
        });
}

template <class T, std::size_t N>
std::vector<int> v(const T (&a)[N]) {
    return {std::begin(a), std::end(a)};
}

// Every (op, mode, concurrency, pipeline) of one model.
template <class Fn>
void register_model(std::string_view model, Fn fn) {
    const std::vector<int> cs = pick(v(kSmokeConcurrency), v(kConcurrency), v(kConcurrency));
    const double min_time = pick(0.0, 0.0, kFullMinTimeS);
    for (op what : {op::get, op::set}) {
        for (int p : kPipelines) {
            std::vector<std::pair<std::string, int>> modes = {{"sequential", 1}};
            for (int c : cs) modes.emplace_back("concurrent", c);
            for (const auto& [mode, c] : modes) {
                auto* b = sy::bench::add(
                    sy::bench::name("redis", model,
                                    {{"op", what == op::get ? "get" : "set"}, {"mode", mode},
                                     {"concurrency", std::to_string(c)}, {"pipeline", std::to_string(p)}}),
                    [fn, what, c, p](benchmark::State& st) { fn(st, what, c, p); });
                if (min_time > 0 && sy::bench::opts().iterations == 0) b->MinTime(min_time);
            }
        }
    }
}

// The Python client: the same requests, keys and checks as redis_case, in a
// child process (benches/realserver/pyclient.hpp).
void py_case(benchmark::State& state, op what, int concurrency, int pipeline, const std::string& loop) {
    const redis_server* s = server(state);
    if (!s) return;
    const bool sequential = concurrency == 1;
    sy::realserver::py::run_case(
        state, s->srv, "py_redis_asyncio.py",
        {"--op", what == op::get ? "get" : "set", "--mode", sequential ? "sequential" : "concurrent",
         "--concurrency", std::to_string(concurrency), "--requests", std::to_string(requests()),
         "--pipeline", std::to_string(pipeline)},
        loop, {requests(), requests() * kValueSize}, "redis.asyncio", "python3-redis");
}

// redis/py_redis_asyncio/op:O/mode:M/concurrency:C/pipeline:P/loop:L: the
// C++ rows' params (claim 12 pairs them alike) and the event loop.
void register_py() {
    if (!sy::realserver::py::wanted()) return;
    const bool publication = sy::bench::opts().full;
    const std::vector<int> cs = pick(v(kPySmokeConcurrency), v(kPyConcurrency),
                                     publication ? v(kPyPublicationConcurrency) : v(kPyConcurrency));
    const std::vector<op> ops = publication ? std::vector<op>{op::get, op::set} : std::vector<op>{op::get};
    const std::vector<int> pipelines = publication ? v(kPipelines) : v(kPyPipelines);
    for (op what : ops) {
        for (int p : pipelines) {
            std::vector<std::pair<std::string, int>> modes = {{"sequential", 1}};
            for (int c : cs) modes.emplace_back("concurrent", c);
            for (const auto& [mode, c] : modes) {
                for (const std::string& loop : sy::realserver::py::loops()) {
                    sy::bench::add_manual_time(
                        sy::bench::name("redis", "py_redis_asyncio",
                                        {{"op", what == op::get ? "get" : "set"}, {"mode", mode},
                                         {"concurrency", std::to_string(c)}, {"pipeline", std::to_string(p)},
                                         {"loop", loop}}),
                        [what, c, p, loop](benchmark::State& st) { py_case(st, what, c, p, loop); })
                        ->Iterations(1);
                }
            }
        }
    }
}

}  // namespace

SY_WORKLOAD(redis) {
    sy::bench::for_each_task_model([&]<class R>() { register_model(R::name, &redis_case<R>); });
    sy::bench::for_each_callback_model([&]<class R>() { register_model(R::name, &redis_case<R>); });
    register_py();
}
