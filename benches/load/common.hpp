// Small pieces every part of switchyard-load uses: the clocks it reads, the
// error a run fails with, and how an I/O path waits in one loop turn.
//
// Waiting. On the project's VM every timer that fires costs the sleeper
// ~28 us of CPU (a timed io_uring wait or nanosleep of 1 us: 28-29 us CPU;
// a non-blocking poll: 0.1-0.2 us), a wake-up overshoots by 20-60 us, and
// waking a halted vCPU costs the waker ~25 us. So the client never arms a
// timer per turn: the phase edges (end of warm-up, end of window) are one
// timer each (IORING_OP_TIMEOUT / timerfd); closed loop blocks without a
// timeout; open loop, when the client has a core of its own (--cpu, not the
// server's), polls without blocking until the next send is due ("spin":
// idle polls are reported as client_spin_pct and not counted as busy).
// --wait spin makes closed loop spin too (the server then never pays for
// waking the client's vCPU); --wait block never spins. How long open loop
// sleeps for a send: benches/load/open_loop.hpp.
#pragma once

#include <sys/time.h>
#include <time.h>

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

namespace sy::load {

// A run that cannot go on (a syscall of the I/O path failed): exit 1.
struct run_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

inline std::uint64_t now_ns() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_nsec);
}
inline std::uint64_t process_cpu_ns() {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_nsec);
}
inline std::uint64_t tv_ns(const timeval& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_usec) * 1000ull;
}
inline std::string errstr(int e) { return std::strerror(e); }

// How the I/O path waits in one loop turn.
enum class wait_kind {
    poll,       // do not block: submit and reap what is there
    block,      // until a completion (or the phase timer)
    block_for,  // until a completion, the phase timer or timeout_ns
};
struct wait_plan {
    wait_kind kind;
    std::int64_t timeout_ns;
    bool spin;  // a poll only to wait for the next send: idle time if nothing happens
};

}  // namespace sy::load
