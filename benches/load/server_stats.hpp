// What the server process spent over the measured window, seen from outside:
//
//  - CPU time (user + sys): another process's rusage cannot be read, /proc
//    can. Precise: the sum of /proc/PID/task/*/schedstat run times (ns) when
//    the server has at most kMaxSchedstatThreads threads and the same threads
//    at both ends of the window. Otherwise utime + stime of /proc/PID/stat
//    (all threads, dead ones included) in clock ticks (10 ms: under 1% of a
//    busy core over a window of a few seconds). `source` says which.
//  - syscalls (--profile only: never in a timed run): `perf stat -e
//    raw_syscalls:sys_enter,syscalls:sys_enter_<name>... -p PID -x,` (the
//    total and one count per name of kProfiledSyscalls whose tracepoint the
//    kernel has), started with
//    events disabled (--delay=-1) before the run and switched on and off over
//    its control pipe (--control fd:CTL,ACK, perf >= 5.10) exactly at the
//    window's edges, so perf's own start-up and exit are not counted. Needs
//    /usr/bin/perf and permission to trace PID (root, CAP_PERFMON, or
//    kernel.perf_event_paranoid <= -1); otherwise `note` says why and the
//    count is absent.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sy::load {

inline constexpr const char* kPerfPath = "/usr/bin/perf";
inline constexpr int kPerfAckTimeoutMs = 5000;      // start-up handshake and the final disable
inline constexpr int kPerfExitTimeoutMs = 3000;     // after SIGINT, before SIGKILL
inline constexpr std::size_t kMaxSchedstatThreads = 256;  // more: reading them all would stall the load loop

// utime + stime of process `pid` in ns, or nullopt if unreadable.
inline std::optional<std::uint64_t> proc_cpu_ns(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE* f = std::fopen(path, "re");
    if (!f) return std::nullopt;
    char buf[4096];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // The command name (field 2) may hold spaces and ')': fields resume after the last ')'.
    const char* p = std::strrchr(buf, ')');
    if (!p) return std::nullopt;
    ++p;
    // After ')' come fields 3 (state) ... ; utime is field 14, stime field 15.
    unsigned long long utime = 0, stime = 0;
    int field = 2;
    char* save = nullptr;
    std::string rest(p);
    for (char* tok = strtok_r(rest.data(), " ", &save); tok; tok = strtok_r(nullptr, " ", &save)) {
        ++field;
        if (field == 14) utime = std::strtoull(tok, nullptr, 10);
        if (field == 15) {
            stime = std::strtoull(tok, nullptr, 10);
            const long hz = sysconf(_SC_CLK_TCK);
            return (utime + stime) * (1'000'000'000ull / static_cast<unsigned long long>(hz > 0 ? hz : 100));
        }
    }
    return std::nullopt;
}

// Sum of the run times (ns) of the threads `tids` of `pid`, from schedstat.
inline std::optional<std::uint64_t> schedstat_ns(int pid, const std::vector<int>& tids) {
    std::uint64_t sum = 0;
    for (int tid : tids) {
        char path[96];
        std::snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", pid, tid);
        FILE* f = std::fopen(path, "re");
        if (!f) return std::nullopt;
        unsigned long long run = 0;
        const int n = std::fscanf(f, "%llu", &run);
        std::fclose(f);
        if (n != 1) return std::nullopt;
        sum += run;
    }
    return sum;
}

// One reading of a server's CPU time, taken at each edge of the window.
struct server_cpu_sample {
    std::uint64_t stat_ns = 0;                 // utime + stime, tick resolution
    std::optional<std::uint64_t> sched_ns;     // ns resolution, threads `tids` only
    std::vector<int> tids;
};

inline std::optional<server_cpu_sample> sample_server_cpu(int pid) {
    server_cpu_sample s;
    auto st = proc_cpu_ns(pid);
    if (!st) return std::nullopt;
    s.stat_ns = *st;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/task", pid);
    if (DIR* d = opendir(path)) {
        while (dirent* e = readdir(d))
            if (e->d_name[0] != '.') s.tids.push_back(std::atoi(e->d_name));
        closedir(d);
        std::sort(s.tids.begin(), s.tids.end());
        if (!s.tids.empty() && s.tids.size() <= kMaxSchedstatThreads) s.sched_ns = schedstat_ns(pid, s.tids);
    }
    return s;
}

// CPU ns spent between two samples and where the figure came from.
struct server_cpu_delta {
    std::uint64_t ns = 0;
    const char* source = "stat";
};
inline std::optional<server_cpu_delta> server_cpu_between(const std::optional<server_cpu_sample>& a,
                                                          const std::optional<server_cpu_sample>& b) {
    if (!a || !b) return std::nullopt;
    if (a->sched_ns && b->sched_ns && a->tids == b->tids && *b->sched_ns >= *a->sched_ns)
        return server_cpu_delta{*b->sched_ns - *a->sched_ns, "schedstat"};
    if (b->stat_ns < a->stat_ns) return std::nullopt;
    return server_cpu_delta{b->stat_ns - a->stat_ns, "stat"};
}

// The running perf child and its temporary files, for exits that skip
// destructors (the time-limit signal handler, _Exit on errors).
inline volatile sig_atomic_t g_perf_child = 0;
inline char g_perf_files[2][64] = {};

// Async-signal-safe: kills perf and removes its files.
inline void abandon_perf() {
    if (g_perf_child > 0) kill(g_perf_child, SIGKILL);
    for (auto& f : g_perf_files)
        if (f[0]) unlink(f);
}

// The syscalls counted by name in a profile (the I/O and wake-up paths of
// the servers: blocking and non-blocking reads and writes, readiness waits,
// io_uring, futex); the rest are counted in the total only.
inline constexpr const char* kProfiledSyscalls[] = {
    "read",       "write",      "readv",      "writev",   "recvfrom",   "sendto",
    "recvmsg",    "sendmsg",    "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl",
    "poll",       "ppoll",      "io_uring_enter", "futex", "accept4",   "nanosleep",
    "clock_nanosleep", "sched_yield", "getppid"};
inline constexpr const char* kTotalEvent = "raw_syscalls:sys_enter";

// Does the kernel have the tracepoint syscalls:sys_enter_<name>?
inline bool have_syscall_tracepoint(const std::string& name) {
    for (const char* root : {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"}) {
        const std::string dir = std::string(root) + "/events/syscalls/sys_enter_" + name;
        if (access(dir.c_str(), F_OK) == 0) return true;
    }
    return false;
}

// What a profile counted: the total and the per-name counts (names whose
// tracepoint is missing are absent).
struct syscall_profile {
    std::uint64_t total = 0;
    std::vector<std::pair<std::string, std::uint64_t>> by_name;
};

// perf stat on another process, switched on and off over its control pipe.
class syscall_counter {
public:
    syscall_counter() = default;
    syscall_counter(const syscall_counter&) = delete;
    syscall_counter& operator=(const syscall_counter&) = delete;
    ~syscall_counter() {
        stop();
        if (!out_path_.empty()) unlink(out_path_.c_str());
        if (!err_path_.empty()) unlink(err_path_.c_str());
        g_perf_files[0][0] = g_perf_files[1][0] = '\0';
    }

    // Starts perf with events disabled and waits until it listens. False
    // (with note()) if perf is missing or cannot trace pid.
    bool start(int pid) {
        if (access(kPerfPath, X_OK) != 0) return fail(std::string(kPerfPath) + " not found");
        char out_tmpl[] = "/tmp/switchyard-load-perf-XXXXXX";
        char err_tmpl[] = "/tmp/switchyard-load-perf-err-XXXXXX";
        int out_fd = mkstemp(out_tmpl);
        int err_fd = mkstemp(err_tmpl);
        if (out_fd < 0 || err_fd < 0) {
            if (out_fd >= 0) close(out_fd), unlink(out_tmpl);
            if (err_fd >= 0) close(err_fd), unlink(err_tmpl);
            return fail(std::string("cannot create a temporary file: ") + std::strerror(errno));
        }
        out_path_ = out_tmpl;
        err_path_ = err_tmpl;
        std::snprintf(g_perf_files[0], sizeof g_perf_files[0], "%s", out_tmpl);
        std::snprintf(g_perf_files[1], sizeof g_perf_files[1], "%s", err_tmpl);
        close(out_fd);
        int ctl[2], ack[2];
        if (pipe2(ctl, O_CLOEXEC) != 0) {
            close(err_fd);
            return fail(std::string("pipe: ") + std::strerror(errno));
        }
        if (pipe2(ack, O_CLOEXEC) != 0) {
            close(err_fd), close(ctl[0]), close(ctl[1]);
            return fail(std::string("pipe: ") + std::strerror(errno));
        }
        const std::string pid_s = std::to_string(pid);
        const std::string control = "fd:" + std::to_string(ctl[0]) + "," + std::to_string(ack[1]);
        std::string events = kTotalEvent;
        for (const char* name : kProfiledSyscalls)
            if (have_syscall_tracepoint(name)) events += std::string(",syscalls:sys_enter_") + name;
        std::vector<std::string> args = {kPerfPath, "stat", "-e", events, "-p", pid_s,
                                         "-x,", "-o", out_path_, "--delay=-1", "--control", control};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        const pid_t parent = getpid();
        child_ = fork();
        if (child_ < 0) {
            close(err_fd), close(ctl[0]), close(ctl[1]), close(ack[0]), close(ack[1]);
            return fail(std::string("fork: ") + std::strerror(errno));
        }
        if (child_ == 0) {
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() != parent) _exit(127);
            int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
            dup2(devnull, 0);
            dup2(devnull, 1);
            dup2(err_fd, 2);
            fcntl(ctl[0], F_SETFD, 0);
            fcntl(ack[1], F_SETFD, 0);
            // perf opens one fd per event per thread of the server: a
            // thread-per-connection server at 100 connections needs more
            // than the default 1024 (perf failed with EMFILE there).
            rlimit rl{};
            if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                setrlimit(RLIMIT_NOFILE, &rl);
            }
            execv(kPerfPath, argv.data());
            _exit(127);
        }
        g_perf_child = child_;
        close(err_fd);
        close(ctl[0]);
        close(ack[1]);
        ctl_ = ctl[1];
        ack_ = ack[0];
        // Handshake: a no-op "disable" is acknowledged once perf is attached and listening.
        if (!command("disable")) return fail_with_perf_stderr("perf did not start");
        return true;
    }

    bool running() const { return child_ > 0 && ctl_ >= 0; }

    // Window edges. enable() does not wait for perf's ack (it would stall the
    // load loop); perf reacts within microseconds. disable() waits.
    void enable() {
        if (!running()) return;
        static constexpr char kCmd[] = "enable\n";
        if (write(ctl_, kCmd, sizeof kCmd - 1) < 0) note_ = "perf control write failed";
        else pending_acks_ = 1;
    }
    void disable() {
        if (!running()) return;
        if (!command("disable")) note_ = "perf did not acknowledge disable";
    }

    // Stops perf and returns the counts, or nullopt (then note() says why).
    std::optional<syscall_profile> finish() {
        if (child_ <= 0) return std::nullopt;
        stop();
        if (!note_.empty()) return std::nullopt;
        FILE* f = std::fopen(out_path_.c_str(), "re");
        if (!f) {
            note_ = "perf wrote no output";
            return std::nullopt;
        }
        // -x, lines: "<count>,<unit>,<event>,..." ("<not counted>" when the
        // traced threads never ran while enabled: none made that syscall).
        static constexpr char kPrefix[] = "syscalls:sys_enter_";
        char line[512];
        syscall_profile p;
        bool have_total = false;
        while (std::fgets(line, sizeof line, f)) {
            const char* ev = std::strstr(line, kTotalEvent);
            const char* named = std::strstr(line, kPrefix);
            if (!ev && !named) continue;
            char* end = nullptr;
            std::uint64_t v = std::strtoull(line, &end, 10);
            if (end == line || *end != ',') {
                if (std::strncmp(line, "<not counted>", 13) != 0) {
                    note_ = "perf: event " + std::string(line, std::strcspn(line, ","));
                    continue;
                }
                v = 0;
            }
            if (ev) {
                p.total = v;
                have_total = true;
            } else {
                const char* name = named + sizeof kPrefix - 1;
                p.by_name.emplace_back(std::string(name, std::strcspn(name, ",\n")), v);
            }
        }
        std::fclose(f);
        if (have_total) return p;
        if (note_.empty()) note_ = std::string("perf output had no ") + kTotalEvent + " line";
        return std::nullopt;
    }

    const std::string& note() const { return note_; }

private:
    // Writes `cmd`, waits for the acks owed so far plus this one.
    bool command(const char* cmd) {
        std::string c = std::string(cmd) + "\n";
        if (write(ctl_, c.data(), c.size()) != static_cast<ssize_t>(c.size())) return false;
        int want = pending_acks_ + 1;
        pending_acks_ = 0;
        // Acks are "ack\n\0" each; count newlines.
        auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kPerfAckTimeoutMs);
        while (want > 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now()).count();
            if (left <= 0) return false;
            pollfd p{ack_, POLLIN, 0};
            int r = poll(&p, 1, static_cast<int>(left));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
            char buf[64];
            ssize_t n = read(ack_, buf, sizeof buf);
            if (n <= 0) return false;  // perf exited
            for (ssize_t i = 0; i < n; ++i) want -= buf[i] == '\n';
        }
        return true;
    }

    void stop() {
        if (ctl_ >= 0) close(ctl_), ctl_ = -1;
        if (ack_ >= 0) close(ack_), ack_ = -1;
        if (child_ > 0) {
            kill(child_, SIGINT);
            int status = 0;
            auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kPerfExitTimeoutMs);
            while (waitpid(child_, &status, WNOHANG) == 0) {
                if (std::chrono::steady_clock::now() > deadline) {
                    kill(child_, SIGKILL);
                    waitpid(child_, &status, 0);
                    if (note_.empty()) note_ = "perf did not exit after SIGINT";
                    break;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
            }
            child_ = -1;
            g_perf_child = 0;
        }
    }

    bool fail(std::string why) {
        note_ = std::move(why);
        return false;
    }

    bool fail_with_perf_stderr(const std::string& what) {
        stop();
        std::string first;
        if (FILE* f = std::fopen(err_path_.c_str(), "re")) {
            char line[256];
            while (std::fgets(line, sizeof line, f)) {
                std::string s(line);
                while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
                if (s.empty() || s == "Events disabled") continue;
                // perf writes "Error:" on a line of its own, the reason after it.
                first += first.empty() ? s : " " + s;
                if (s != "Error:") break;
            }
            std::fclose(f);
        }
        note_ = what + (first.empty() ? "" : ": " + first);
        return false;
    }

    pid_t child_ = -1;
    int ctl_ = -1, ack_ = -1;
    int pending_acks_ = 0;
    std::string out_path_, err_path_;
    std::string note_;
};

}  // namespace sy::load
