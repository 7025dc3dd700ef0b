// http: a small crawler against a private nginx, on every model.
//
// What: bench_http starts its own nginx once (generated config in a temp
// dir, 127.0.0.1 on a free port, one process: master_process off, daemon off,
// keep-alive without a request limit, no access log; see
// benches/realserver/process.hpp) serving static files of kSizes bytes with
// a deterministic pattern. Each case makes requests() HTTP/1.1 keep-alive
// GETs of one file per iteration:
//   http/<model>/size:S/mode:sequential/concurrency:1    one client, one
//       connection, one request at a time;
//   http/<model>/size:S/mode:concurrent/concurrency:C    C clients, each on
//       its own connection and each a task of the model (a callback chain on
//       uring and libuv), sharing the same requests.
// Every response is verified: status 200, Content-Length = S, and the body
// compared byte for byte with the file as it streams in (fixed 64 KiB buffer
// per connection). Counters (per iteration, checked exactly): requests,
// checksum (body bytes verified: requests x S), errors (0; any protocol or
// I/O error fails the case). requests/s = requests / real_time.
// Cross-check: http/wrk/size:16384/mode:concurrent/concurrency:10 runs
// `wrk -t1 -c10` against the same server for kWrkSeconds (one repetition =
// one wrk run; time = wrk's own duration, requests / its Requests/sec):
// counters requests_per_second (wrk's figure), requests, errors (socket
// errors + non-2xx), bytes_per_request (wrk's "read" / requests, checked to
// lie between S and S + kMaxHeaderBytes: wrk does not verify bodies). It is
// comparable with http/<model>/size:16384/mode:concurrent/concurrency:10 of
// the same run -- closest to coroutine, uring and libuv, which like wrk are
// one thread on an event loop; wrk does not check bodies, so it does less
// work per response than our clients.
// Why: claim 12, "async I/O against real servers improves throughput over
// sequential calls": concurrent over sequential requests/s, per model and
// size (scripts/sylib/claims.py pairs the rows).
// pool: every client blocks its worker, so the pool gets one worker per
// client plus one for the main task. thread: a thread per client.
// Skips: nginx (or wrk, for its row) missing, or SY_NO_PEERS=1 (`switchyard
// run --no-peers`). Timing: quick and full fit in 25 s / 90 s on 2 cores,
// so the full tier sets its own minimum time per case.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
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

constexpr const char* kNginx = "/usr/sbin/nginx";
constexpr const char* kWrk = "/usr/bin/wrk";
constexpr std::size_t kSmokeSizes[] = {1024, 16384};
constexpr std::size_t kSizes[] = {1024, 16384, 262144};
constexpr int kSmokeConcurrency[] = {10};
constexpr int kConcurrency[] = {10, 100};
constexpr std::size_t kReadBuffer = 65536;  // per connection; headers must fit
constexpr std::size_t kMaxHeaderBytes = 1024;
// Requests per iteration by file size (multiples of 100: whole shares for
// every client), smaller for large files so an iteration stays short.
constexpr std::uint64_t kSmokeRequests = 100;
constexpr std::uint64_t kRequestsSmallFile = 1000, kRequestsLargeFile = 200;
constexpr std::size_t kLargeFile = 262144;
constexpr double kFullMinTimeS = 0.1;  // 63 cases x 5 repetitions must fit 90 s
// The Python client (runners/peers/py_aiohttp.py, aiohttp): in the default
// run size 16384 only, sequential and the largest concurrency, on asyncio's
// loop (py::loops) -- 2 rows, each a Python process (the run's 15-minute
// budget: 4 rows with uvloop measured 5.3 s per bench process on a loaded
// 2-core machine). `run --full` (opts().full) adds uvloop, sizes 1024 and
// 262144 and concurrency:10, the C++ rows' whole sweep. Smoke: size 1024,
// concurrency:10, both loops.
constexpr std::size_t kPySmokeSizes[] = {1024};
constexpr std::size_t kPySizes[] = {16384};
constexpr int kPySmokeConcurrency[] = {10};
constexpr int kPyConcurrency[] = {100};
// The wrk cross-check: one configuration.
constexpr std::size_t kWrkSize = 16384;
constexpr int kWrkConcurrency = 10;
constexpr int kWrkSeconds = 1;       // wrk takes whole seconds
constexpr double kWrkSlackS = 20;    // beyond its duration, then killed

// The served file of `size` bytes: its content and the request for it.
struct file {
    std::size_t size;
    std::string path, content, request;
    explicit file(std::size_t n) : size(n), path("/" + std::to_string(n) + ".bin"), content(n, '\0') {
        for (std::size_t i = 0; i < n; ++i) content[i] = char((i * 131 + (i >> 9) * 7 + n) & 0xff);
        request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: switchyard\r\n\r\n";
    }
};

const file& file_of(std::size_t size) {
    static std::map<std::size_t, file> files;
    auto it = files.find(size);
    if (it == files.end()) it = files.emplace(size, file(size)).first;
    return it->second;
}

// HTTP/1.1 responses to our GETs: "HTTP/1.1 200", Content-Length equal to the
// file's size, no chunked encoding; the body checked as it arrives.
struct http_proto {
    const file* f;
    std::uint64_t per_iteration;
    std::uint64_t left_ = 0;
    bool in_body = false;
    std::size_t body_got = 0;
    rs::reply_stats stats;

    http_proto(const file& served, std::uint64_t each) : f(&served), per_iteration(each) {}
    void restart() { left_ = per_iteration; }
    bool left() const { return left_ > 0; }
    void begin(std::vector<char>& out) {
        out.assign(f->request.begin(), f->request.end());
        --left_;
    }
    rs::fed fail(std::string why) {
        stats.fail(std::move(why));
        return rs::fed::error;
    }
    // The value of header `name` (lower case, with ':'), or npos.
    static std::size_t header_number(std::string_view head, std::string_view name) {
        for (std::size_t at = head.find("\r\n"); at != std::string_view::npos; at = head.find("\r\n", at + 2)) {
            std::string_view rest = head.substr(at + 2);
            if (rest.size() < name.size()) break;
            bool match = true;
            for (std::size_t i = 0; i < name.size() && match; ++i)
                match = std::tolower(static_cast<unsigned char>(rest[i])) == name[i];
            if (!match) continue;
            std::size_t v = name.size(), n = 0;
            while (v < rest.size() && rest[v] == ' ') ++v;
            if (v >= rest.size() || !std::isdigit(static_cast<unsigned char>(rest[v]))) return std::string_view::npos;
            while (v < rest.size() && std::isdigit(static_cast<unsigned char>(rest[v]))) n = n * 10 + std::size_t(rest[v++] - '0');
            return n;
        }
        return std::string_view::npos;
    }
    rs::fed feed(rs::conn& c) {
        std::size_t pos = 0;
        if (!in_body) {
            std::string_view got(c.in.data(), c.have);
            std::size_t end = got.find("\r\n\r\n");
            if (end == std::string_view::npos) return rs::fed::more;
            std::string_view head = got.substr(0, end + 2);
            if (head.rfind("HTTP/1.1 200 ", 0) != 0)
                return fail("status '" + std::string(head.substr(0, head.find('\r'))) + "'");
            if (header_number(head, "transfer-encoding:") != std::string_view::npos ||
                head.find("chunked") != std::string_view::npos)
                return fail("chunked response");
            std::size_t length = header_number(head, "content-length:");
            if (length != f->size)
                return fail("Content-Length " + (length == std::string_view::npos ? std::string("missing") : std::to_string(length)) +
                            ", expected " + std::to_string(f->size));
            pos = end + 4;
            in_body = true;
            body_got = 0;
        }
        std::size_t n = std::min(c.have - pos, f->size - body_got);
        if (std::memcmp(c.in.data() + pos, f->content.data() + body_got, n) != 0)
            return fail("body of " + f->path + " differs near byte " + std::to_string(body_got));
        body_got += n;
        pos += n;
        if (body_got < f->size) {
            c.have = 0;  // all consumed
            return rs::fed::more;
        }
        in_body = false;
        ++stats.requests;
        stats.checksum += f->size;
        if (pos != c.have) return fail(std::to_string(c.have - pos) + " unexpected bytes after the body");
        c.have = 0;
        return rs::fed::done;
    }
};

// nginx.conf for the temp dir `dir`, listening on 127.0.0.1:port.
std::string nginx_conf(int port, const std::string& dir) {
    return "worker_processes 1;\n"
           "daemon off;\n"
           "master_process off;\n"
           "pid " + dir + "/nginx.pid;\n"
           "error_log " + dir + "/server.log warn;\n"
           "events { worker_connections 4096; }\n"
           "http {\n"
           "  access_log off;\n"
           "  default_type application/octet-stream;\n"
           "  sendfile on;\n"
           "  tcp_nodelay on;\n"
           "  keepalive_requests 100000000;\n"
           "  keepalive_timeout 600s;\n"
           "  client_body_temp_path " + dir + "/tmp/body;\n"
           "  proxy_temp_path " + dir + "/tmp/proxy;\n"
           "  fastcgi_temp_path " + dir + "/tmp/fastcgi;\n"
           "  uwsgi_temp_path " + dir + "/tmp/uwsgi;\n"
           "  scgi_temp_path " + dir + "/tmp/scgi;\n"
           "  server {\n"
           "    listen 127.0.0.1:" + std::to_string(port) + ";\n"
           "    root " + dir + "/www;\n"
           "    location / { }\n"
           "  }\n"
           "}\n";
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream f(path, std::ios::binary);
    f.write(content.data(), std::streamsize(content.size()));
    if (!f) throw std::runtime_error("cannot write " + path);
}

// The bench's nginx: started on first use, stopped at exit.
struct nginx_server {
    rs::managed_server srv;
    sockaddr_in addr{};
    std::string error;  // why it did not start ("" if it did)
    nginx_server()
        : srv("http", "nginx",
              [](int port, const std::string& dir) -> std::vector<std::string> {
                  write_file(dir + "/nginx.conf", nginx_conf(port, dir));
                  return {kNginx, "-p", dir + "/", "-c", dir + "/nginx.conf", "-e", dir + "/server.log"};
              },
              [](const std::string& dir) {
                  std::filesystem::create_directories(dir + "/www");
                  std::filesystem::create_directories(dir + "/tmp");
                  for (std::size_t s : kSizes) write_file(dir + "/www" + file_of(s).path, file_of(s).content);
                  write_file(dir + "/www/ready.txt", dir + "\n");  // tells our server from another
              },
              [](int port, const std::string& dir) {
                  std::string r = rs::exchange(port, "GET /ready.txt HTTP/1.0\r\n\r\n", [&](const std::string& t) {
                      return t.find(dir + "\n") != std::string::npos;
                  }, 1.0);
                  return r.rfind("HTTP/1.1 200", 0) == 0 && r.find(dir + "\n") != std::string::npos;
              }) {
        if (!srv.ok()) error = srv.error.empty() ? "nginx did not report a port" : srv.error;
        addr = rs::loopback(srv.port);
    }
};

// The server, or nullptr after reporting why the case cannot run.
const nginx_server* server(benchmark::State& state) {
    return rs::shared_server<nginx_server>(state, kNginx, "nginx not installed (apt install nginx)");
}

std::uint64_t requests(std::size_t size) {
    return pick(kSmokeRequests, size >= kLargeFile ? kRequestsLargeFile : kRequestsSmallFile,
                size >= kLargeFile ? kRequestsLargeFile : kRequestsSmallFile);
}

std::vector<http_proto> protos(std::size_t size, int concurrency) {
    std::vector<http_proto> ps;
    for (int i = 0; i < concurrency; ++i)
        ps.emplace_back(file_of(size), requests(size) / std::uint64_t(concurrency));
    return ps;
}

void finish(benchmark::State& state, const rs::reply_stats& setup, const std::vector<http_proto>& ps,
            std::size_t size, bool pinned) {
    rs::finish(state, setup, ps, requests(size), size, pinned);
    if (!state.error_occurred())
        state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(requests(size) * size));
}

// Task and callback models alike (rs::run_case).
template <class R>
void http_case(benchmark::State& state, std::size_t size, int concurrency) {
    const nginx_server* s = server(state);
    if (!s) return;
    rs::run_case<R>(
        state, *s, concurrency, kReadBuffer, [&] { return protos(size, concurrency); },
        [&](const rs::reply_stats& setup, const std::vector<http_proto>& ps, bool pinned) {
            finish(state, setup, ps, size, pinned);
        });
}

// wrk's summary: "12345 requests in 1.00s, 190.00MB read" (binary units),
// "Requests/sec: 12345.67", and the error lines it prints only when there
// were errors. Negative: not found.
struct wrk_report {
    double requests = -1, rps = -1, bytes = -1, errors = 0;
};

wrk_report parse_wrk(const std::string& out) {
    wrk_report r;
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
        const char* l = line.c_str();
        double a = 0, b = 0, c = 0, d = 0;
        if (std::size_t at = line.find(" requests in "); at != std::string::npos) {
            r.requests = std::strtod(l, nullptr);
            std::size_t comma = line.find(", ", at);
            if (comma == std::string::npos) continue;
            char* end = nullptr;
            double amount = std::strtod(l + comma + 2, &end);
            for (const char* unit = "KMGT"; *unit && *end != 'B'; ++unit) {
                amount *= 1024;
                if (*end == *unit) ++end;
            }
            if (std::strncmp(end, "B read", 6) == 0) r.bytes = amount;
        } else if (std::sscanf(l, " Requests/sec: %lf", &a) == 1) {
            r.rps = a;
        } else if (std::sscanf(l, " Socket errors: connect %lf, read %lf, write %lf, timeout %lf", &a, &b, &c, &d) == 4) {
            r.errors += a + b + c + d;
        } else if (std::sscanf(l, " Non-2xx or 3xx responses: %lf", &a) == 1) {
            r.errors += a;
        }
    }
    return r;
}

// One wrk run per iteration against our nginx (see the header comment).
void wrk_case(benchmark::State& state) {
    const nginx_server* s = server(state);
    if (!s) return;
    if (access(kWrk, X_OK) != 0) return sy::bench::skip(state, "wrk not installed (apt install wrk)");
    const rs::client_pin pin(s->srv);  // wrk inherits the client CPU
    const std::string url = "http://127.0.0.1:" + std::to_string(s->srv.port) + file_of(kWrkSize).path;
    const std::string dir = s->srv.dir->path();
    double requests = 0, rps = 0, errors = 0, bytes = 0;
    for (auto _ : state) {
        std::string error;
        std::string out = rs::run_capture({kWrk, "-t1", "-c" + std::to_string(kWrkConcurrency),
                                           "-d" + std::to_string(kWrkSeconds) + "s", "--timeout", "5s", url},
                                          dir, dir + "/wrk.log", kWrkSeconds + kWrkSlackS, error);
        if (!error.empty()) return state.SkipWithError(("wrk: " + error).c_str());
        const wrk_report r = parse_wrk(out);
        if (r.requests < 0 || r.bytes < 0 || r.rps < 0)
            return state.SkipWithError("wrk: no 'requests in ... read' or 'Requests/sec' line in its output");
        requests = r.requests;
        rps = r.rps;
        bytes = r.bytes;
        errors = r.errors;
        if (requests <= 0 || rps <= 0) return state.SkipWithError("wrk made no request");
        state.SetIterationTime(requests / rps);  // wrk's own measured duration
    }
    if (errors > 0) return state.SkipWithError(("wrk: " + std::to_string(std::uint64_t(errors)) + " errors").c_str());
    const double per_request = bytes / requests;
    if (per_request < double(kWrkSize) || per_request > double(kWrkSize + kMaxHeaderBytes))
        return state.SkipWithError(("wrk: " + std::to_string(per_request) + " bytes read per response, expected " +
                                    std::to_string(kWrkSize) + " + headers").c_str());
    sy::bench::counter(state, "requests", requests);
    sy::bench::counter(state, "requests_per_second", rps);
    sy::bench::counter(state, "bytes_per_request", per_request);
    sy::bench::counter(state, "errors", 0);
    sy::bench::counter(state, "concurrency", kWrkConcurrency);
    sy::bench::counter(state, "pinned", pin.pinned() ? 1 : 0);
    state.SetItemsProcessed(std::int64_t(requests) * std::int64_t(state.iterations()));
}

template <class T, std::size_t N>
std::vector<T> v(const T (&a)[N]) {
    return {std::begin(a), std::end(a)};
}

// Every (size, mode, concurrency) of one model.
template <class Fn>
void register_model(std::string_view model, Fn fn) {
    const std::vector<std::size_t> sizes = pick(v(kSmokeSizes), v(kSizes), v(kSizes));
    const std::vector<int> cs = pick(v(kSmokeConcurrency), v(kConcurrency), v(kConcurrency));
    const double min_time = pick(0.0, 0.0, kFullMinTimeS);
    for (std::size_t size : sizes) {
        std::vector<std::pair<std::string, int>> modes = {{"sequential", 1}};
        for (int c : cs) modes.emplace_back("concurrent", c);
        for (const auto& [mode, c] : modes) {
            auto* b = sy::bench::add(sy::bench::name("http", model, {{"size", std::to_string(size)}, {"mode", mode},
                                                                      {"concurrency", std::to_string(c)}}),
                                     [fn, size, c](benchmark::State& st) { fn(st, size, c); });
            if (min_time > 0 && sy::bench::opts().iterations == 0) b->MinTime(min_time);
        }
    }
}

// The Python client: the same requests, file and checks as http_case, in a
// child process (benches/realserver/pyclient.hpp).
void py_case(benchmark::State& state, std::size_t size, int concurrency, const std::string& loop) {
    const nginx_server* s = server(state);
    if (!s) return;
    sy::realserver::py::run_case(
        state, s->srv, "py_aiohttp.py",
        {"--size", std::to_string(size), "--mode", concurrency == 1 ? "sequential" : "concurrent",
         "--concurrency", std::to_string(concurrency), "--requests", std::to_string(requests(size))},
        loop, {requests(size), requests(size) * size}, "aiohttp", "python3-aiohttp");
    if (!state.error_occurred())
        state.SetBytesProcessed(std::int64_t(state.iterations()) * std::int64_t(requests(size) * size));
}

// http/py_aiohttp/size:S/mode:M/concurrency:C/loop:L: the C++ rows' params
// (claim 12 pairs them alike) and the event loop.
void register_py() {
    if (!sy::realserver::py::wanted()) return;
    const bool publication = sy::bench::opts().full;
    const std::vector<std::size_t> sizes = pick(v(kPySmokeSizes), v(kPySizes), publication ? v(kSizes) : v(kPySizes));
    const std::vector<int> cs = pick(v(kPySmokeConcurrency), v(kPyConcurrency),
                                     publication ? v(kConcurrency) : v(kPyConcurrency));
    for (std::size_t size : sizes) {
        std::vector<std::pair<std::string, int>> modes = {{"sequential", 1}};
        for (int c : cs) modes.emplace_back("concurrent", c);
        for (const auto& [mode, c] : modes) {
            for (const std::string& loop : sy::realserver::py::loops()) {
                sy::bench::add_manual_time(
                    sy::bench::name("http", "py_aiohttp", {{"size", std::to_string(size)}, {"mode", mode},
                                                           {"concurrency", std::to_string(c)}, {"loop", loop}}),
                    [size, c, loop](benchmark::State& st) { py_case(st, size, c, loop); })
                    ->Iterations(1);
            }
        }
    }
}

}  // namespace

SY_WORKLOAD(http) {
    sy::bench::for_each_task_model([&]<class R>() { register_model(R::name, &http_case<R>); });
    sy::bench::for_each_callback_model([&]<class R>() { register_model(R::name, &http_case<R>); });
    // The wrk cross-check (a reference, like echo's epoll: always registered).
    sy::bench::add_manual_time(sy::bench::name("http", "wrk", {{"size", std::to_string(kWrkSize)}, {"mode", "concurrent"},
                                                               {"concurrency", std::to_string(kWrkConcurrency)}}),
                               wrk_case)
        ->Iterations(1);
    register_py();
}
