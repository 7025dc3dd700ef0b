// switchyard-load: TCP echo load generator for the echo benchmarks (issue 6).
//
// One thread, one core: opens C connections to an echo server on a loopback
// address and drives them closed loop (one message in flight per connection)
// or open loop (a constant total rate R, round-robin over connections,
// pipelined, latency measured from each message's *intended* send time so
// queueing shows up as latency instead of being hidden by a slowed sender:
// coordinated-omission corrected). Every echoed byte is compared with what
// was sent (benches/load/wire.hpp). Latency goes into a log-linear histogram
// (benches/load/histogram.hpp, <= 1% relative error).
//
// Open loop also reports `saturated` (the server fell short of the offered
// rate or ended the window behind: benches/load/open_loop.hpp) and, in both
// modes, `censored`: messages not echoed when the window closed, recorded
// in the histogram at their age then. Percentiles resting on fewer than 100
// samples beyond them are null (benches/load/report.hpp).
//
// Output: one JSON object on stdout. Exit 0 ok; 1 verification failure
// (JSON still printed, plus one line on stderr) or run failure (server closed
// or reset a connection, nothing measured, time limit); 2 usage (bad flag or
// number, non-loopback host, refused/unreachable target, too many
// connections, file-descriptor limit), always one line on stderr.
//
//   switchyard-load --port 9000 --conns 10 --size 64 --mode closed --duration 2 --warmup 0.5
//   switchyard-load --port 9000 --conns 10 --size 64 --mode open --rate 50000 --server-pid 1234 --cpu 1
//
// Cost: the client must be cheaper than the servers it measures. The
// io_uring path makes one io_uring_enter per loop turn (all sends and re-arms
// of the turn submitted together with the wait), receives with multishot recv
// into a provided buffer ring (so an idle connection costs no SQE), sends
// through registered files, and in open loop sends every message that is
// due on a connection in one send. It arms no timer per turn (see "Waiting"
// below: on the project's VM a fired timer costs ~28 us of CPU). It reports
// its own CPU use over the measured window; >= 95% of one core busy (not
// counting open-loop spin waits) marks the result `client_bound`.
//
// Kernel needs: io_uring (5.5 for IORING_TIMEOUT_ABS; 5.11 EXT_ARG for the
// open loop's timed sleeps in one syscall); SINGLE_ISSUER + DEFER_TASKRUN
// (6.1) when accepted, else COOP_TASKRUN, else plain; multishot recv + buffer
// rings (6.0) when the kernel has them, else one-shot recv per connection.
// Without liburing or io_uring (seccomp, kernel.io_uring_disabled) it uses
// epoll (non-blocking sockets, one recv per readiness, one send per
// connection per turn, a timerfd for the phase edges). `io_path`,
// `recv_mode`, `uring_setup` and `io_note` in the JSON say which path ran
#include <signal.h>
#include <sys/prctl.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <thread>
#include <string>
#include <utility>
#include <vector>

#include "benches/load/common.hpp"
#include "benches/load/connection.hpp"
#include "benches/load/epoll_backend.hpp"
#include "benches/load/load_client.hpp"
#include "benches/load/options.hpp"
#include "benches/load/report.hpp"
#include "benches/load/server_stats.hpp"
#include "benches/load/uring_backend.hpp"

namespace sy::load {
namespace {

constexpr unsigned long kTimerSlackNs = 1;  // precise open-loop wake-ups
constexpr int kPerfAttempts = 3;            // perf start-ups tried on ESRCH
constexpr std::chrono::milliseconds kPerfRetryDelay{100};

[[noreturn]] void die(int code, const std::string& line) {
    std::fprintf(stderr, "switchyard-load: %s\n", line.c_str());
    std::fflush(stderr);
    abandon_perf();
    std::_Exit(code);
}

void on_time_limit(int) {
    static constexpr char kMsg[] = "switchyard-load: --time-limit reached, run aborted\n";
    [[maybe_unused]] auto r = write(2, kMsg, sizeof kMsg - 1);
    abandon_perf();
    _exit(1);
}


int run(int argc, char** argv) {
    options o;
    try {
        o = parse_options(argc, argv);
    } catch (const usage_error& e) {
        die(2, e.what());
    }
    if (o.help) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    // Hard time cap over everything (connect, perf, run): abort with one line.
    signal(SIGALRM, on_time_limit);
    itimerval it{};
    it.it_value.tv_sec = static_cast<time_t>(o.time_limit);
    it.it_value.tv_usec = static_cast<suseconds_t>((o.time_limit - std::floor(o.time_limit)) * 1e6);
    setitimer(ITIMER_REAL, &it, nullptr);
    prctl(PR_SET_TIMERSLACK, kTimerSlackNs);

    if (o.cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(*o.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die(2, "--cpu " + std::to_string(*o.cpu) + ": sched_setaffinity: " + errstr(errno));
    }
    run_facts f;
    if (o.server_pid && !proc_cpu_ns(*o.server_pid))
        die(2, "--server-pid " + std::to_string(*o.server_pid) + ": cannot read /proc/" +
                   std::to_string(*o.server_pid) + "/stat (no such process?)");
    if (std::string err = raise_fd_limit(o.conns); !err.empty()) die(2, err);

    std::vector<unique_fd> fds(static_cast<std::size_t>(o.conns));
    for (long i = 0; i < o.conns; ++i) {
        std::string err = connect_one(o, fds[static_cast<std::size_t>(i)]);
        if (err.empty()) continue;
        if (i == 0) die(2, "cannot connect to " + target_name(o) + ": " + err);
        die(1, "connection " + std::to_string(i + 1) + " of " + std::to_string(o.conns) + " to " +
                   target_name(o) + " failed: " + err);
    }

    // Server-side syscalls, only in a profiling run (--profile): perf attached
    // (disabled) before the run starts. A timed run attaches nothing.
    syscall_counter perf;
    bool perf_ok = false;
    // A thread-per-connection server may still be ending the threads of the
    // previous run's connections while perf enumerates them (ESRCH): retry.
    for (int attempt = 0; o.server_pid && o.profile && !perf_ok && attempt < kPerfAttempts; ++attempt) {
        if (attempt > 0) std::this_thread::sleep_for(kPerfRetryDelay);
        perf_ok = perf.start(*o.server_pid);
        if (!perf_ok && perf.note().find("No such process") == std::string::npos) break;
    }

    load_client cl(o, std::move(fds));
    // Spin (poll without blocking) only on a core of the client's own: pinned,
    // and not one the server may run on; by default only in open loop.
    const bool own_core = o.cpu && (!o.server_pid || !cpu_in(cpus_of(*o.server_pid), *o.cpu));
    const bool spin = o.wait == wait_choice::spin ||
                      (o.wait == wait_choice::automatic && o.mode == load_mode::open && own_core);
    cl.allow_spin(spin);
    f.spin = spin;
    cl.on_window_start = [&] {
        if (o.server_pid) f.srv_cpu0 = sample_server_cpu(*o.server_pid);
        if (perf_ok) perf.enable();
    };
    cl.on_window_end = [&] {
        if (perf_ok) perf.disable();
        if (o.server_pid) f.srv_cpu1 = sample_server_cpu(*o.server_pid);
    };

    try {
        bool done = false;
#if SY_HAVE_URING
        if (o.io != io_choice::epoll) {
            uring_backend u(cl);
            std::string why;
            if (u.init(o.recv, why)) {
                f.io_path = "io_uring";
                f.recv_mode = u.recv_mode();
                f.io_note = u.recv_note();
                f.uring_setup = u.setup() + (u.fixed_files() ? "+fixed_files" : "") + (u.ext_arg() ? "+ext_arg" : "");
                run_loop(cl, u);
                f.enobufs = u.enobufs();
                f.recv_mode = u.recv_mode();
                f.io_note = u.recv_note();
                done = true;
            } else if (o.io == io_choice::uring) {
                die(2, why);
            } else {
                f.io_note = why;
            }
        }
#else
        if (o.io == io_choice::uring) die(2, "--io uring: built without liburing (apt install liburing-dev)");
        f.io_note = "built without liburing";
#endif
        if (!done) {
            if (o.recv == recv_choice::multishot) die(2, "--recv multishot needs the io_uring path");
            epoll_backend e(cl);
            f.io_path = "epoll";
            f.recv_mode = "recv";
            run_loop(cl, e);
        }
    } catch (const run_error& e) {
        die(1, e.what());
    }
    if (!cl.failure().empty()) die(1, cl.failure());

    if (!o.profile) {
        f.syscalls_note = "not profiled (--profile: a separate pass)";
    } else if (o.server_pid) {
        f.syscalls = perf.finish();
        if (!f.syscalls) f.syscalls_note = perf.note();
    } else {
        f.syscalls_note = "no --server-pid";
    }

    std::printf("%s\n", report(o, cl, f).dump().c_str());
    std::fflush(stdout);

    if (cl.verify_errors() != 0)
        die(1, "verification failed: " + std::to_string(cl.verify_errors()) +
                   " echoed messages differ from what was sent");
    // Open loop: a server that answered nothing in the window still has a
    // result (saturated, every sample censored); closed loop has none.
    if (o.mode == load_mode::closed ? cl.msgs() == 0 : cl.latency().count() == 0)
        die(1, "no message completed in the measured window");
    return 0;
}

}  // namespace
}  // namespace sy::load

int main(int argc, char** argv) { return sy::load::run(argc, argv); }
