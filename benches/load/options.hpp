// Command line of switchyard-load: parsing, bounds and the loopback-only rule.
//
// Every problem is a usage_error carrying one readable line; main() prints it
// and exits 2. Flags take their value as the next argument or after '='.
// Hosts: numeric 127.0.0.0/8, ::1 (also written [::1]) or the name
// `localhost`; nothing is ever resolved through DNS.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace sy::load {

// Bounds of the tool (hard caps, not tunables).
inline constexpr long kDefaultMaxConns = 10000;
inline constexpr long kAbsoluteMaxConns = 28000;   // ~ the default ephemeral port range per target
inline constexpr long kMinSize = 8;                 // the header alone
inline constexpr long kMaxSize = 1L << 20;          // 1 MiB per message
inline constexpr double kMaxRate = 10e6;            // msgs/s offered, open loop
inline constexpr double kDefaultDuration = 2.0;
inline constexpr double kDefaultWarmup = 0.5;
inline constexpr double kDefaultTimeLimit = 300.0;
inline constexpr double kMaxTimeLimit = 3600.0;
// Time the tool needs beyond warm-up + duration (connect, perf start-up, exit).
inline constexpr double kTimeLimitSlack = 5.0;

struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

enum class load_mode { closed, open };
enum class io_choice { automatic, uring, epoll };
enum class recv_choice { automatic, multishot, plain };
// auto: open loop spins when the client has a core of its own (--cpu, not
// the server's), closed loop blocks; spin / block: always.
enum class wait_choice { automatic, spin, block };

struct options {
    std::string host = "127.0.0.1";
    int port = 0;
    long conns = 1;
    long size = 64;
    load_mode mode = load_mode::closed;
    double rate = 0;                  // open loop: msgs/s over all connections
    double duration = kDefaultDuration;
    double warmup = kDefaultWarmup;
    std::optional<int> server_pid;
    std::optional<int> cpu;
    long max_conns = kDefaultMaxConns;
    double time_limit = kDefaultTimeLimit;
    io_choice io = io_choice::automatic;
    recv_choice recv = recv_choice::automatic;
    wait_choice wait = wait_choice::automatic;
    // --profile: attach perf to --server-pid over the window and count its
    // syscalls per name. A profiled run's timing is disturbed (measured: perf
    // doubles a blocking-thread server's CPU per message): use it for a
    // separate profiling pass, never for the timed one.
    bool profile = false;
    bool help = false;

    sockaddr_storage addr{};          // resolved target, loopback only
    socklen_t addr_len = 0;
};

inline constexpr const char* kUsage =
    "usage: switchyard-load --port P [--host 127.0.0.1] [--conns C] [--size S]\n"
    "         [--mode closed|open] [--rate R] [--duration SEC] [--warmup SEC]\n"
    "         [--server-pid PID] [--cpu N] [--max-conns 10000] [--time-limit SEC]\n"
    "         [--io auto|uring|epoll] [--recv auto|multishot|plain]\n"
    "         [--wait auto|spin|block] [--profile]\n"
    "Prints one JSON object on stdout. Exit 0 ok, 1 verification or run failure, 2 usage.\n";

namespace detail {

inline long parse_int(std::string_view flag, const std::string& v, long lo, long hi) {
    errno = 0;
    char* end = nullptr;
    const long x = std::strtol(v.c_str(), &end, 10);
    if (v.empty() || *end != '\0' || errno == ERANGE)
        throw usage_error(std::string(flag) + ": not an integer: '" + v + "'");
    if (x < lo || x > hi)
        throw usage_error(std::string(flag) + ": " + v + " is out of range [" + std::to_string(lo) +
                          ", " + std::to_string(hi) + "]");
    return x;
}

inline double parse_real(std::string_view flag, const std::string& v, double lo, double hi) {
    errno = 0;
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(x))
        throw usage_error(std::string(flag) + ": not a number: '" + v + "'");
    if (x < lo || x > hi) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "%s: %s is out of range [%g, %g]", std::string(flag).c_str(),
                      v.c_str(), lo, hi);
        throw usage_error(buf);
    }
    return x;
}

}  // namespace detail

// Fills o.addr from o.host and o.port, or throws: loopback addresses only.
inline void resolve_loopback(options& o) {
    std::string h = o.host;
    if (h == "localhost") h = "127.0.0.1";
    if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    o.addr = {};
    in_addr a4{};
    in6_addr a6{};
    if (inet_pton(AF_INET, h.c_str(), &a4) == 1) {
        if ((ntohl(a4.s_addr) >> 24) != 127)
            throw usage_error("refusing non-loopback host '" + o.host +
                              "' (only 127.0.0.0/8, ::1 or localhost)");
        auto* s = reinterpret_cast<sockaddr_in*>(&o.addr);
        s->sin_family = AF_INET;
        s->sin_port = htons(static_cast<std::uint16_t>(o.port));
        s->sin_addr = a4;
        o.addr_len = sizeof(sockaddr_in);
        return;
    }
    if (inet_pton(AF_INET6, h.c_str(), &a6) == 1) {
        if (!IN6_IS_ADDR_LOOPBACK(&a6))
            throw usage_error("refusing non-loopback host '" + o.host +
                              "' (only 127.0.0.0/8, ::1 or localhost)");
        auto* s = reinterpret_cast<sockaddr_in6*>(&o.addr);
        s->sin6_family = AF_INET6;
        s->sin6_port = htons(static_cast<std::uint16_t>(o.port));
        s->sin6_addr = a6;
        o.addr_len = sizeof(sockaddr_in6);
        return;
    }
    throw usage_error("refusing host '" + o.host +
                      "': not a loopback address (only 127.0.0.0/8, ::1 or localhost; names are not resolved)");
}

inline options parse_options(int argc, char** argv) {
    options o;
    bool have_port = false, have_rate = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            o.help = true;
            return o;
        }
        if (arg.rfind("--", 0) != 0) throw usage_error("unexpected argument '" + arg + "'");
        std::string flag = arg, value;
        bool inline_value = false;
        if (auto eq = arg.find('='); eq != std::string::npos) {
            flag = arg.substr(0, eq);
            value = arg.substr(eq + 1);
            inline_value = true;
        }
        auto take = [&]() -> const std::string& {
            if (!inline_value) {
                if (i + 1 >= argc) throw usage_error(flag + ": missing value");
                value = argv[++i];
            }
            return value;
        };
        using detail::parse_int;
        using detail::parse_real;
        if (flag == "--host") {
            o.host = take();
        } else if (flag == "--port") {
            o.port = static_cast<int>(parse_int(flag, take(), 1, 65535));
            have_port = true;
        } else if (flag == "--conns") {
            o.conns = parse_int(flag, take(), 1, kAbsoluteMaxConns);
        } else if (flag == "--size") {
            o.size = parse_int(flag, take(), kMinSize, kMaxSize);
        } else if (flag == "--mode") {
            const auto& m = take();
            if (m == "closed") o.mode = load_mode::closed;
            else if (m == "open") o.mode = load_mode::open;
            else throw usage_error("--mode: expected closed or open, got '" + m + "'");
        } else if (flag == "--rate") {
            o.rate = parse_real(flag, take(), 1e-3, kMaxRate);
            have_rate = true;
        } else if (flag == "--duration") {
            o.duration = parse_real(flag, take(), 1e-3, kMaxTimeLimit);
        } else if (flag == "--warmup") {
            o.warmup = parse_real(flag, take(), 0, kMaxTimeLimit);
        } else if (flag == "--server-pid") {
            o.server_pid = static_cast<int>(parse_int(flag, take(), 1, 1L << 30));
        } else if (flag == "--profile") {
            o.profile = true;
        } else if (flag == "--cpu") {
            o.cpu = static_cast<int>(parse_int(flag, take(), 0, 1023));
        } else if (flag == "--max-conns") {
            o.max_conns = parse_int(flag, take(), 1, kAbsoluteMaxConns);
        } else if (flag == "--time-limit") {
            o.time_limit = parse_real(flag, take(), 1, kMaxTimeLimit);
        } else if (flag == "--io") {
            const auto& m = take();
            if (m == "auto") o.io = io_choice::automatic;
            else if (m == "uring") o.io = io_choice::uring;
            else if (m == "epoll") o.io = io_choice::epoll;
            else throw usage_error("--io: expected auto, uring or epoll, got '" + m + "'");
        } else if (flag == "--recv") {
            const auto& m = take();
            if (m == "auto") o.recv = recv_choice::automatic;
            else if (m == "multishot") o.recv = recv_choice::multishot;
            else if (m == "plain") o.recv = recv_choice::plain;
            else throw usage_error("--recv: expected auto, multishot or plain, got '" + m + "'");
        } else if (flag == "--wait") {
            const auto& m = take();
            if (m == "auto") o.wait = wait_choice::automatic;
            else if (m == "spin") o.wait = wait_choice::spin;
            else if (m == "block") o.wait = wait_choice::block;
            else throw usage_error("--wait: expected auto, spin or block, got '" + m + "'");
        } else {
            throw usage_error("unknown option '" + flag + "' (see --help)");
        }
    }
    if (!have_port) throw usage_error("--port is required");
    if (o.mode == load_mode::open && !have_rate) throw usage_error("--mode open needs --rate R (msgs/s, all connections)");
    if (o.mode == load_mode::closed && have_rate) throw usage_error("--rate applies to --mode open only");
    if (o.conns > o.max_conns)
        throw usage_error("--conns " + std::to_string(o.conns) + " exceeds --max-conns " +
                          std::to_string(o.max_conns));
    if (o.warmup + o.duration + kTimeLimitSlack > o.time_limit) {
        char buf[200];
        std::snprintf(buf, sizeof buf,
                      "--warmup %g + --duration %g + %g s slack exceeds --time-limit %g",
                      o.warmup, o.duration, kTimeLimitSlack, o.time_limit);
        throw usage_error(buf);
    }
    resolve_loopback(o);
    return o;
}

}  // namespace sy::load
