// echo: a TCP echo server per model under the same load generator.
//
// What: for each server (the seven models and the hand-written references:
// `epoll` for the readiness loops, `thread_ref` for threads, `libuv_ref`,
// `uring_ref` and `asio_ref` for the libuv, uring and asio models --
// benches/echo/refs.hpp; the last three run the closed loop at 10 and 100
// connections only), bench_echo starts `switchyard-echo --model M` pinned to the
// first CPU and runs `switchyard-load` -- its own process, pinned to the
// second CPU when there is one -- against it on 127.0.0.1:
//   echo/<server>/conns:C/size:S/mode:closed          C connections, one
//       message in flight each: the throughput curve over C and S;
//   echo/<server>/conns:100/size:64/mode:open/rate:R   a constant offered rate
//       of R messages per second over the 100 connections, the same list
//       of rates (kOpenRates) for every server, peers included, so latency
//       curves compare at the same absolute load; latency from each
//       message's intended send time, so queueing shows. A server that
//       cannot keep up is not given a lower rate: its row is marked
//       `saturated` (benches/load/open_loop.hpp: it echoed < 95% of the
//       window's due messages, or ended the window > 5% of them behind).
//       Messages still unanswered when the window closes are recorded at
//       their age then (a lower bound; counter `censored` says how many),
//       so a slow server's worst messages are not dropped. A percentile
//       counter is present only when >= 100 samples lie beyond it (p99:
//       >= 10 000 samples, p99.9: >= 100 000; `samples` says how many):
//       the open windows are sized by message count for p99 in the default
//       run (open_window_s), and for p99.9 with --sy_long_open.
// One repetition = one load run (fixed duration after a warm-up). Counters:
// msgs_per_second, bytes_per_second, p50/p90/p99/p999/max_us (each only
// with >= 100 samples beyond it), samples, censored, saturated (open loop),
// server CPU per
// message (which compares servers fairly even when the client is the
// bottleneck), client_cpu_pct and client_bound (the client used >= 95% of
// its core: the throughput is the client's, not the server's), msgs. Every
// echoed byte is verified by the client; a mismatch fails the case.
// Nothing is attached to the server during a timed run. With --sy_profile
// (`run` passes it to its first round only) each closed-loop 64-byte case at
// 10 and 100 connections is followed
// by a shorter profiling pass of the same configuration with perf attached:
// syscalls_per_msg, sc_<name>_per_msg per syscall name, and
// profiled_server_cpu_ns_per_msg (what the profiler costs the server).
// Why: the seed's promise is that coroutines "switch automatically on I/O"
// and give single-thread concurrency that scales; closed-loop numbers alone
// hide tail latency, hence the open-loop curve.
// Peer systems (Python asyncio/uvloop/gevent/threads, Node, Go) are other
// servers of the same kind, listed in runners/peers/peers.json (found via
// SY_PEERS_DIR, set by the driver; SY_NO_PEERS=1 or --sy_models leaves them
// out). A peer whose requirement is missing is skipped with the reason.
// The pool server's handlers block their workers; with one worker per CPU
// (plus one accepting) it serves as many connections at once as there are
// CPUs: larger C is skipped with that reason.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/child_process.hpp"
#include "benches/common/models.hpp"
#include "runners/affinity.hpp"

namespace {

using sy::bench::pick;
using json = nlohmann::json;

constexpr int kSmokeConns[] = {1, 10};
constexpr int kQuickConns[] = {1, 10, 100};
constexpr int kFullConns[] = {1, 10, 100, 1000};
constexpr int kSmokeSizes[] = {64};
// The full run takes every echo row from 3 processes (process-level
// repetitions); to stay within its 15-minute budget the sweep dropped size 1024
// (64 B and 16 KiB bracket it), runs 16 KiB at 100 connections only
// (kLargeSizeConns) and the open loop at the two ends of its rates
// (2026-12-03: with libuv_ref, uring_ref and coroutine_mt added the full run
// measured 15:35; with sql, the Python library clients and asio it would
// have been ~17 minutes, so 16 KiB at 10 connections and 50 000 msg/s went).
// `run --full` (opts().full) puts all of it back: kPublicationSizes at every
// connection count, kPublicationOpenRates, and the refs everywhere.
constexpr int kFullSizes[] = {64, 16384};
constexpr int kPublicationSizes[] = {64, 1024, 16384};
constexpr int kLargeSize = 16384;
constexpr int kLargeSizeConns[] = {100};
// Offered rates of the open loop, messages per second over all connections,
// the same for every server. Picked from what this project's 2-vCPU machines
// do (indicative only: a shared machine with others building beside it,
// 2026-12-03). Closed loop at 100 connections x 64 B: C++ servers ~7k
// (thread) to ~35k (coroutine) msg/s, Python asyncio ~7k, node ~20k. The
// open loop pipelines (several messages per connection in flight, one read
// takes many), so servers keep up far beyond their closed-loop rate:
// epoll and thread kept 40k, epoll 200k; thread saturated at 80k, Python
// threads at 80k, Python asyncio kept 80k at ~5 ms p50. Doubling steps from
// light load to where the first servers saturate; the default and quick runs
// keep the two ends (the budget), `run --full` all four; smoke the lowest.
constexpr int kOpenRates[] = {12500, 100000};
constexpr int kPublicationOpenRates[] = {12500, 25000, 50000, 100000};
constexpr int kQuickOpenRates[] = {12500, 100000};
constexpr int kSmokeOpenRates[] = {12500};
constexpr int kOpenConns = 100;
// Open-loop windows are sized by message count, not time: a percentile p
// rests on samples x (100 - p) / 100 samples beyond it, and is reported only
// when those are >= 100 (benches/load/report.hpp). Default (quick, full):
// 10 200 messages (p99 on >= 100 samples, 2% margin), window =
// max(kMinOpenWindowS, 10 200 / R):
//   full:  0.816 + 0.204 + 0.2 = 1.22 s + 3 x 0.1 s warm-up = 1.52 s
//          per server per process (before: 4 rates x (0.4 + 0.1) s = 2.0 s,
//          with p99 on 4-40 samples and p99.9 on 0.4-4);
//   quick: 0.816 + 0.2 + 2 x 0.1 = 1.22 s (before: 2 x 0.5 s = 1.0 s).
// --sy_long_open (`run --long-open`): 102 000 messages (p99.9 on >= 100):
//   8.16 + 2.04 + 1.02 + 0.3 = 11.5 s per server per process (~8 min
//   more for a full run's 15 open-loop servers x 3 processes).
constexpr double kOpenMsgs = 10'200, kLongOpenMsgs = 102'000;
// The shortest window (the highest rate): shorter is within one of the
// servers' scheduling hiccups.
constexpr double kMinOpenWindowS = 0.2;
// The configurations the profiling pass covers (its perf start-up costs ~1 s
// per case): the closed-loop 64-byte rows at 10 and 100 connections.
constexpr int kProfileConns[] = {10, 100};
constexpr int kProfileSize = 64;
constexpr int kOpenSize = 64;
constexpr double kServerStartTimeoutS = 10;
constexpr double kLoadSlackS = 30;  // beyond duration + warm-up, then killed

// One load run per repetition; repetitions for echo are capped (each is a
// load run of its own, and 17 servers x the sweep must fit the run budget);
// `run --repetitions N` (--sy_repetitions) overrides them.
constexpr int kQuickRepetitions = 1, kFullRepetitions = 2;

// The measured window and the warm-up before it. Closed loop: a throughput,
// steady within 0.3 s (every echo row runs in 3 processes). Open loop: long
// enough for its latency tail at offered rate `rate` (see kOpenMsgs); smoke
// (ctest) keeps 0.2 s, its percentiles beyond p90 are then absent.
double duration_s(const std::string& mode, double rate = 0) {
    if (mode != "open" || sy::bench::opts().size == sy::bench::tier::smoke) return pick(0.2, 0.3, 0.3);
    const double msgs = sy::bench::opts().long_open ? kLongOpenMsgs : kOpenMsgs;
    return std::max(kMinOpenWindowS, msgs / rate);
}
double warmup_s() { return pick(0.05, 0.1, 0.1); }
// The profiling pass (--sy_profile): shorter, its timing is not reported.
double profile_duration_s() { return pick(0.1, 0.15, 0.2); }
double profile_warmup_s() { return 0.05; }

std::string exe_dir() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return ".";
    std::string p(buf, std::size_t(n));
    return p.substr(0, p.rfind('/'));
}

// CPUs for the server and the client: apart when the machine allows.
struct placement_t {
    std::optional<int> server, client;
};
placement_t place() {
    auto cpus = sy::allowed_cpus();
    if (cpus.size() >= 2) return {cpus[0], cpus[1]};
    return {};
}

// How to start a server: our switchyard-echo with a model, or a peer.
struct server_spec {
    std::string name;
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;
    std::string missing;  // why it cannot run here ("" if it can)
};

// The server of one case: started once per benchmark run, reused by its
// repetitions' iterations.
struct server {
    std::unique_ptr<sy::child_process> proc;
    int port = 0;
    std::string error;

    server(const server_spec& spec, std::optional<int> cpu) {
        try {
            sy::child_spec c;
            c.argv = spec.argv;
            c.env = spec.env;
            c.pipe_stdout = c.pipe_stderr = true;
            c.cpu = cpu;
            proc = std::make_unique<sy::child_process>(c);
        } catch (const std::exception& e) {
            error = "server " + spec.name + " could not start: " + e.what();
            return;
        }
        bool ok = proc->read_until(kServerStartTimeoutS, [](const std::string& t) {
            return t.find('\n') != std::string::npos;
        });
        if (!ok || std::sscanf(proc->text().c_str(), "port %d", &port) != 1) {
            error = "server " + spec.name + " did not start: " + proc->stderr_tail();
            port = 0;
        } else if (cpu && !proc->pinned_to(*cpu)) {
            error = "server " + spec.name + " could not be pinned to CPU " + std::to_string(*cpu);
            port = 0;
        }
    }
    // The I/O paths our server reports on stderr when it starts
    // ("switchyard-echo: coroutine_uring: multishot accept, ..."); "" if none.
    std::string io_paths() {
        const std::string line = proc->stderr_tail();
        const std::string prefix = "switchyard-echo: ";
        if (line.rfind(prefix, 0) != 0) return "";
        const auto colon = line.find(": ", prefix.size());
        return colon == std::string::npos ? "" : line.substr(colon + 2);
    }
};

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

// A peers.json requirement: an executable path, or "python3:<module>".
std::string check_requirement(const std::string& req) {
    if (req.rfind("python3:", 0) == 0) {
        std::string module = req.substr(8);
        std::string cmd = "/usr/bin/python3 -c 'import " + module + "' >/dev/null 2>&1";
        if (std::system(cmd.c_str()) != 0)
            return "Python module " + module + " is not installed (apt: python3-" + module + ")";
        return "";
    }
    if (access(req.c_str(), X_OK) != 0) return req + " is missing (not installed or not built)";
    return "";
}

std::string expand(std::string s, const std::string& peers, const std::string& build) {
    for (auto [key, value] : {std::pair<std::string, std::string>{"{peers}", peers}, {"{build}", build}})
        for (std::size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), value);
    return s;
}

// Peers from $SY_PEERS_DIR/peers.json; none with SY_NO_PEERS=1 or --sy_models.
std::vector<server_spec> peer_specs() {
    std::vector<server_spec> specs;
    if (env_or("SY_NO_PEERS", "") == "1" || !sy::bench::opts().models.empty()) return specs;
    const std::string peers = env_or("SY_PEERS_DIR", std::string(SY_SOURCE_DIR) + "/runners/peers");
    char resolved[4096];
    std::string parent = exe_dir() + "/..";
    const std::string build = env_or("SY_BUILD_DIR", realpath(parent.c_str(), resolved) ? resolved : parent);
    std::ifstream f(peers + "/peers.json");
    if (!f) return specs;  // no peers in this tree
    try {
        json list = json::parse(f);
        for (const auto& p : list) {
            server_spec spec;
            spec.name = p.at("name").get<std::string>();
            const json argv = p.value("argv", json::array());
            const json env = p.value("env", json::object());
            const json requires_ = p.value("requires", json::array());
            for (const auto& a : argv) spec.argv.push_back(expand(a.get<std::string>(), peers, build));
            for (const auto& [k, v] : env.items()) spec.env[k] = v.get<std::string>();
            for (const auto& r : requires_) {
                spec.missing = check_requirement(expand(r.get<std::string>(), peers, build));
                if (!spec.missing.empty()) break;
            }
            if (spec.argv.empty()) throw std::runtime_error("peer " + spec.name + " has no argv");
            specs.push_back(std::move(spec));
        }
    } catch (const std::exception& e) {
        std::fprintf(stderr, "switchyard: %s/peers.json unusable, peers left out: %s\n", peers.c_str(), e.what());
        specs.clear();
    }
    return specs;
}

// One load run; returns its JSON or sets error. profile: the profiling pass
// (perf attached to the server, shorter), never a timed run.
json run_load(const server& srv, int conns, int size, const std::string& mode, double rate,
              std::optional<int> cpu, std::string& error, bool profile = false) {
    const double duration = profile ? profile_duration_s() : duration_s(mode, rate);
    const double warmup = profile ? profile_warmup_s() : warmup_s();
    std::vector<std::string> argv = {exe_dir() + "/switchyard-load", "--port", std::to_string(srv.port),
                                     "--conns", std::to_string(conns), "--size", std::to_string(size),
                                     "--mode", mode, "--duration", std::to_string(duration),
                                     "--warmup", std::to_string(warmup), "--server-pid",
                                     std::to_string(srv.proc->pid())};
    if (mode == "open") argv.insert(argv.end(), {"--rate", std::to_string(std::llround(rate))});
    if (cpu) argv.insert(argv.end(), {"--cpu", std::to_string(*cpu)});
    if (profile) argv.push_back("--profile");
    std::optional<sy::child_process> load;
    try {
        sy::child_spec c;
        c.argv = argv;
        c.pipe_stdout = c.pipe_stderr = true;
        load.emplace(c);
    } catch (const std::exception& e) {
        error = std::string("load generator could not start: ") + e.what();
        return {};
    }
    if (!load->read_until(duration + warmup + kLoadSlackS, [](const std::string&) { return false; })) {
        error = "load generator timed out";
        return {};
    }
    const int rc = load->wait();
    json j;
    try {
        j = json::parse(load->text());
    } catch (const std::exception&) {
        error = "load generator exit " + std::to_string(rc) + ": " + load->stderr_tail();
        return {};
    }
    if (rc != 0) error = "load generator exit " + std::to_string(rc) + ": " + load->stderr_tail();
    return j;
}

constexpr const char* kCounters[] = {"msgs_per_second", "bytes_per_second", "p50_us",  "p90_us",
                                     "p99_us",          "p999_us",          "max_us",  "server_cpu_ns_per_msg",
                                     "client_cpu_pct",  "client_busy_pct", "client_bound", "msgs",
                                     "rate_offered",    "samples",          "censored", "saturated"};

// The profiling pass of a closed-loop case, after its timed runs: the same
// server and configuration with perf attached, shorter. Counters
// syscalls_per_msg, sc_<name>_per_msg (per syscall name) and
// profiled_server_cpu_ns_per_msg (the server's CPU per message with perf
// attached: what profiling costs it); "" or why no profile.
std::string profile_case(benchmark::State& state, const server& srv, int conns, int size,
                         std::optional<int> client_cpu) {
    std::string err;
    json p = run_load(srv, conns, size, "closed", 0, client_cpu, err, true);
    if (!err.empty()) return "profiling pass failed: " + err;
    auto total = p.find("syscalls_per_msg");
    if (total == p.end() || !total->is_number())
        return "no syscall profile: " + p.value("syscalls_note", std::string("perf gave no count"));
    sy::bench::counter(state, "syscalls_per_msg", total->get<double>());
    if (auto cpu = p.find("server_cpu_ns_per_msg"); cpu != p.end() && cpu->is_number())
        sy::bench::counter(state, "profiled_server_cpu_ns_per_msg", cpu->get<double>());
    if (auto names = p.find("syscalls_per_msg_by_name"); names != p.end() && names->is_object())
        for (const auto& [name, v] : names->items())
            if (v.is_number()) sy::bench::counter(state, "sc_" + name + "_per_msg", v.get<double>());
    return "";
}

void echo_case(benchmark::State& state, const server_spec& spec, int conns, int size,
               const std::string& mode, double rate) {
    if (!spec.missing.empty()) return sy::bench::skip(state, spec.missing);
    placement_t cpus = place();
    server srv(spec, cpus.server);
    if (!srv.error.empty()) return state.SkipWithError(srv.error.c_str());
    json last;
    double msgs = 0;
    for (auto _ : state) {
        std::string err;
        json j = run_load(srv, conns, size, mode, rate, cpus.client, err);
        if (!err.empty()) return state.SkipWithError(err.c_str());
        if (j.value("verify_errors", 0) != 0) return state.SkipWithError("echoed bytes differ");
        state.SetIterationTime(j.value("duration_s", duration_s(mode, rate)));
        msgs += j.value("msgs", 0.0);
        last = std::move(j);
    }
    for (const char* c : kCounters) {
        auto it = last.find(c);
        if (it != last.end() && it->is_number()) sy::bench::counter(state, c, it->get<double>());
    }
    std::string profile_note;
    const bool profiled = std::find(std::begin(kProfileConns), std::end(kProfileConns), conns) !=
                              std::end(kProfileConns) && size == kProfileSize;
    if (mode == "closed" && profiled && sy::bench::opts().profile)
        profile_note = profile_case(state, srv, conns, size, cpus.client);
    sy::bench::counter(state, "conns", conns);
    sy::bench::counter(state, "size", size);
    sy::bench::counter(state, "pinned", cpus.server ? 1 : 0);
    // Which I/O paths ran, in the row's label: the server's (io_uring
    // models: multishot or not, provided buffers) and the client's.
    std::string label = "client: " + last.value("io_path", std::string("?"));
    if (auto r = last.value("recv_mode", std::string()); !r.empty()) label += " " + r;
    if (auto paths = srv.io_paths(); !paths.empty()) label = "server: " + paths + "; " + label;
    if (!profile_note.empty()) label += "; " + profile_note;
    state.SetLabel(label);
    state.SetItemsProcessed(std::int64_t(msgs));
    state.SetBytesProcessed(std::int64_t(msgs) * size * 2);
    // Open loop: a server that echoed nothing is a result (saturated, every
    // sample censored) as long as there were samples.
    if (state.iterations() > 0 && msgs <= 0 && !(mode == "open" && last.value("samples", 0.0) > 0))
        state.SkipWithError("no message was echoed");
}

template <class T, std::size_t N>
std::vector<int> v(const T (&a)[N]) {
    return {std::begin(a), std::end(a)};
}

}  // namespace

// libuv_ref, uring_ref and asio_ref are there for the seam's cost per message: they run
// the closed loop at 10 and 100 connections (the configurations the seam table
// and its targets use), not the open loop -- the default run's budget; `run
// --full` runs them everywhere.
static bool closed_refs_only(const std::string& server) {
    return !sy::bench::opts().full && (server == "libuv_ref" || server == "uring_ref" || server == "asio_ref");
}

SY_WORKLOAD(echo) {
    using sy::bench::name;
    const bool publication = sy::bench::opts().full;
    // 1000 connections (a row per server and process, ~50 s of the default
    // run) come with `run --full`: the default run's budget (2026-12-03).
    std::vector<int> conns = pick(v(kSmokeConns), v(kQuickConns), publication ? v(kFullConns) : v(kQuickConns));
    std::vector<int> sizes = pick(v(kSmokeSizes), v(kSmokeSizes), publication ? v(kPublicationSizes) : v(kFullSizes));
    const std::string echo_server = exe_dir() + "/switchyard-echo";
    std::vector<server_spec> servers;
    auto ours = [&](std::string_view m) {
        servers.push_back({std::string(m), {echo_server, "--model", std::string(m)}, {}, ""});
    };
    ours("epoll");
    ours("thread_ref");
#if SY_HAVE_UV
    ours("libuv_ref");
#endif
#if SY_HAVE_URING
    ours("uring_ref");
#endif
#if SY_HAVE_ASIO
    ours("asio_ref");
#endif
    sy::bench::for_each_task_model([&]<class R>() { ours(R::name); });
    sy::bench::for_each_callback_model([&]<class R>() { ours(R::name); });
    for (auto& p : peer_specs()) servers.push_back(std::move(p));
    const int pool_conns = int(std::thread::hardware_concurrency());
    const auto add = [](const std::string& n, std::function<void(benchmark::State&)> fn) {
        auto* b = sy::bench::add_manual_time(n, std::move(fn))->Iterations(1);
        if (sy::bench::opts().size != sy::bench::tier::smoke)
            b->Repetitions(sy::bench::opts().repetitions
                               ? sy::bench::opts().repetitions
                               : pick(1, kQuickRepetitions, kFullRepetitions));
        return b;
    };
    for (const auto& spec : servers) {
        const std::string& m = spec.name;
        const bool peer = spec.argv.front() != echo_server;
        for (int s : sizes) {
            if (peer && s != kOpenSize) continue;  // peers: the 64-byte sweep

            for (int c : conns) {
                if (closed_refs_only(m) && c != 10 && c != 100) continue;
                if (s == kLargeSize && sizes.size() > 1 && !publication &&
                    std::find(std::begin(kLargeSizeConns), std::end(kLargeSizeConns), c) == std::end(kLargeSizeConns))
                    continue;
                std::string n = name("echo", m, {{"conns", std::to_string(c)}, {"size", std::to_string(s)},
                                                  {"mode", "closed"}});
                if (m == "pool" && c > pool_conns) {
                    add(n, [c, pool_conns](benchmark::State& st) {
                        sy::bench::skip(st, "the pool's blocking handlers hold one worker per "
                                            "connection; with one worker per CPU it serves " +
                                                std::to_string(pool_conns) + " connections at once and the other " +
                                                std::to_string(c - pool_conns) + " would never be answered");
                    });
                    continue;
                }
                add(n, [spec, c, s](benchmark::State& st) { echo_case(st, spec, c, s, "closed", 0); });
            }
        }
        if (closed_refs_only(m)) continue;
        const int open_conns = sy::bench::opts().size == sy::bench::tier::smoke ? 10 : kOpenConns;
        for (int rate : pick(v(kSmokeOpenRates), v(kQuickOpenRates),
                             publication ? v(kPublicationOpenRates) : v(kOpenRates))) {
            std::string n = name("echo", m, {{"conns", std::to_string(open_conns)}, {"size", std::to_string(kOpenSize)},
                                             {"mode", "open"}, {"rate", std::to_string(rate)}});
            if (m == "pool" && open_conns > pool_conns) {
                add(n, [open_conns, pool_conns](benchmark::State& st) {
                    sy::bench::skip(st, "the pool's blocking handlers hold one worker per connection: " +
                                            std::to_string(pool_conns) + " workers cannot serve " +
                                            std::to_string(open_conns) +
                                            " connections");
                });
                continue;
            }
            add(n, [spec, open_conns, rate](benchmark::State& st) {
                echo_case(st, spec, open_conns, kOpenSize, "open", rate);
            });
        }
    }
}
