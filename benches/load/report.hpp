// The result of a switchyard-load run: one JSON object on stdout (its keys
// are what bench_echo and the scripts read; keep them and their order), and
// the CPU placement it records. The client marks itself `client_bound`
// when it kept >= kClientBoundPct of its core busy (spin waits excluded):
// the throughput is then the client's, not the server's.
//
// Latency samples are the messages echoed in the window plus the `censored`
// ones (not echoed when it closed, recorded at their age then). A
// percentile p is reported only when at least kMinTailSamples samples lie
// beyond it (samples x (100 - p) / 100 >= 100: p99 needs 10 000 samples,
// p99.9 100 000); otherwise its key is null -- a tail resting on a handful
// of samples is noise, not a figure. `samples` says how many there were.
#pragma once

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "benches/load/load_client.hpp"
#include "benches/load/options.hpp"
#include "benches/load/server_stats.hpp"

namespace sy::load {

inline constexpr double kClientBoundPct = 95.0;  // client CPU that marks a result client_bound

// CPUs `pid` (0: this process) may run on, as a JSON array (null if unreadable).
inline nlohmann::json cpus_of(int pid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(pid, sizeof set, &set) != 0) return nullptr;
    nlohmann::json a = nlohmann::json::array();
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) a.push_back(c);
    return a;
}

inline bool cpu_in(const nlohmann::json& cpus, int cpu) {
    if (!cpus.is_array()) return true;  // unknown: assume shared
    for (const auto& c : cpus)
        if (c == cpu) return true;
    return false;
}

inline constexpr std::uint64_t kMinTailSamples = 100;

// Samples beyond percentile p (given in per mille, e.g. 999 for p99.9), in
// integers so that 10 000 samples give exactly 100 beyond p99.
inline std::uint64_t tail_samples(std::uint64_t samples, unsigned per_mille) {
    return samples * (1000 - per_mille) / 1000;
}

inline nlohmann::json num_or_null(std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
inline double round3(double v) { return std::round(v * 1000.0) / 1000.0; }
inline double us(std::uint64_t ns) { return round3(static_cast<double>(ns) / 1000.0); }

// What the run found out besides the client's own counters.
struct run_facts {
    bool spin = false;  // the wait mode: spin or block
    std::string io_path, io_note, recv_mode, uring_setup;
    std::uint64_t enobufs = 0;
    std::optional<server_cpu_sample> srv_cpu0, srv_cpu1;  // the window's edges
    std::optional<syscall_profile> syscalls;             // --profile only
    std::string syscalls_note;                           // why there is no profile
};

// The JSON object of a finished run.
inline nlohmann::ordered_json report(const options& o, const load_client& cl, const run_facts& f) {
    const double secs = cl.window_s();
    const std::uint64_t msgs = cl.msgs();
    const std::uint64_t bytes = msgs * static_cast<std::uint64_t>(o.size);
    const auto& h = cl.latency();
    const double cpu_pct = secs > 0 ? 100.0 * static_cast<double>(cl.cpu_ns()) / 1e9 / secs : 0;
    const double spin_pct = secs > 0 ? 100.0 * static_cast<double>(cl.spin_ns()) / 1e9 / secs : 0;
    const double busy_pct = std::max(0.0, cpu_pct - spin_pct);
    nlohmann::ordered_json j;
    j["mode"] = o.mode == load_mode::open ? "open" : "closed";
    j["conns"] = o.conns;
    j["size"] = o.size;
    j["rate_offered"] = o.mode == load_mode::open ? nlohmann::json(o.rate) : nlohmann::json(nullptr);
    j["duration_s"] = std::round(secs * 1e6) / 1e6;
    j["warmup_s"] = o.warmup;
    j["msgs"] = msgs;
    j["bytes"] = bytes;
    j["msgs_per_second"] = secs > 0 ? round3(static_cast<double>(msgs) / secs) : 0.0;
    j["bytes_per_second"] = secs > 0 ? round3(static_cast<double>(bytes) / secs) : 0.0;
    for (auto [key, per_mille] : {std::pair{"p50_us", 500u}, {"p90_us", 900u}, {"p99_us", 990u}, {"p999_us", 999u}})
        j[key] = tail_samples(h.count(), per_mille) >= kMinTailSamples
                     ? nlohmann::json(us(h.percentile(per_mille / 10.0)))
                     : nlohmann::json(nullptr);
    j["max_us"] = us(h.max());
    j["mean_us"] = round3(h.mean() / 1000.0);
    j["client_cpu_pct"] = round3(cpu_pct);
    j["client_user_pct"] = secs > 0 ? round3(100.0 * static_cast<double>(cl.user_ns()) / 1e9 / secs) : 0.0;
    j["client_sys_pct"] = secs > 0 ? round3(100.0 * static_cast<double>(cl.sys_ns()) / 1e9 / secs) : 0.0;
    j["client_cpu_ns_per_msg"] =
        msgs ? nlohmann::json(round3(static_cast<double>(cl.cpu_ns()) / static_cast<double>(msgs))) : nlohmann::json(nullptr);
    j["client_spin_pct"] = round3(spin_pct);
    j["client_busy_pct"] = round3(busy_pct);
    j["client_bound"] = busy_pct >= kClientBoundPct ? 1 : 0;
    j["wait_mode"] = f.spin ? "spin" : "block";
    j["loop_turns"] = cl.turns();
    j["idle_turns"] = cl.idle_turns();
    j["events_per_busy_turn"] =
        cl.turns() > cl.idle_turns()
            ? round3(static_cast<double>(cl.events()) / static_cast<double>(cl.turns() - cl.idle_turns()))
            : 0.0;
    std::optional<double> srv_ns_per_msg, srv_pct, sc_per_msg;
    const auto srv_cpu = server_cpu_between(f.srv_cpu0, f.srv_cpu1);
    if (srv_cpu) {
        const double d = static_cast<double>(srv_cpu->ns);
        if (msgs) srv_ns_per_msg = round3(d / static_cast<double>(msgs));
        if (secs > 0) srv_pct = round3(100.0 * d / 1e9 / secs);
    }
    if (f.syscalls && msgs) sc_per_msg = round3(static_cast<double>(f.syscalls->total) / static_cast<double>(msgs));
    j["server_pid"] = o.server_pid ? nlohmann::json(*o.server_pid) : nlohmann::json(nullptr);
    j["server_cpu_pct"] = num_or_null(srv_pct);
    j["server_cpu_ns_per_msg"] = num_or_null(srv_ns_per_msg);
    j["server_cpu_source"] = srv_cpu ? nlohmann::json(srv_cpu->source) : nlohmann::json(nullptr);
    j["syscalls"] = f.syscalls ? nlohmann::json(f.syscalls->total) : nlohmann::json(nullptr);
    j["syscalls_per_msg"] = num_or_null(sc_per_msg);
    nlohmann::ordered_json by_name = nlohmann::ordered_json::object();
    if (f.syscalls && msgs)
        for (const auto& [name, count] : f.syscalls->by_name)
            if (count) by_name[name] = round3(static_cast<double>(count) / static_cast<double>(msgs));
    j["syscalls_per_msg_by_name"] = f.syscalls ? nlohmann::json(by_name) : nlohmann::json(nullptr);
    j["syscalls_note"] = f.syscalls_note.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.syscalls_note);
    j["io_path"] = f.io_path;
    j["recv_mode"] = f.recv_mode;
    j["uring_setup"] = f.uring_setup.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.uring_setup);
    j["io_note"] = f.io_note.empty() ? nlohmann::json(nullptr) : nlohmann::json(f.io_note);
    j["enobufs"] = f.enobufs;
    if (o.mode == load_mode::open) {
        j["send_lag_p99_us"] = us(cl.send_lag().percentile(99));
        j["send_lag_max_us"] = us(cl.send_lag().max());
    } else {
        j["send_lag_p99_us"] = nullptr;
        j["send_lag_max_us"] = nullptr;
    }
    j["outstanding_at_end"] = cl.outstanding();
    j["samples"] = h.count();
    j["censored"] = cl.censored();
    if (o.mode == load_mode::open) {
        j["msgs_due"] = cl.due_in_window();
        j["backlog_at_start"] = cl.backlog_at_start();
        j["backlog_at_end"] = cl.backlog_at_end();
        j["saturated"] = cl.saturated() ? 1 : 0;
    } else {
        j["msgs_due"] = j["backlog_at_start"] = j["backlog_at_end"] = j["saturated"] = nullptr;
    }
    j["verify_errors"] = cl.verify_errors();
    j["unexpected_bytes"] = cl.unexpected_bytes();
    j["pinned_cpu"] = o.cpu ? nlohmann::json(*o.cpu) : nlohmann::json(nullptr);
    j["client_cpus"] = cpus_of(0);
    j["server_cpus"] = o.server_pid ? cpus_of(*o.server_pid) : nlohmann::json(nullptr);
    j["host"] = o.host;
    j["port"] = o.port;
    return j;
}

}  // namespace sy::load
