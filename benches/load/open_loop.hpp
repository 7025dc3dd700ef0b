// Open loop (--mode open): the schedule of a constant total rate R.
//
// Message k (counting over all connections from the start of the run, the
// warm-up included) is due at t_start + k / R and goes to connection k % C,
// whether or not earlier messages were answered (pipelined). Latency is
// measured from each message's *intended* send time, so queueing shows up
// as latency instead of being hidden by a slowed sender (coordinated-omission
// corrected); how late messages left is reported apart (send_lag_*).
//
// Saturation. A server keeps up with the offered rate when, over the
// measured window, it echoes (nearly) every message that fell due in it and
// does not end the window far behind. `saturated` is set when either
//   echoed in the window < (1 - kSaturatedShare) x due in the window
//     (the achieved rate fell short of the offered rate by more than 5%;
//     equivalently the backlog -- due but not yet echoed -- grew through the
//     window by more than 5% of the window's messages), or
//   backlog when the window closed > kSaturatedShare x due in the window
//     (it kept pace but stayed behind by more than 5% of the window, e.g. a
//     backlog built up during warm-up and never cleared).
// A healthy server's backlog is rate x latency: 40 000 msg/s x 100 us = 4
// messages, far below 5% of bench_echo's windows (>= 10 000 messages).
// load_client (benches/load/load_client.hpp) asks this schedule which
// connections have messages due, when a message was meant to leave, and how
// to wait for the next one; everything the open loop decides is here.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "benches/load/common.hpp"

namespace sy::load {

// Share of the window's due messages a server may fall short by, or stay
// behind by at the close, before it is marked saturated (see above).
inline constexpr double kSaturatedShare = 0.05;
// Bytes queued per connection before the client stops generating for it
// (the server is behind; the messages stay due and their latency grows).
inline constexpr std::size_t kOutHighWater = 256 * 1024;
// Sleeping for a send only pays when it is far away (see "Waiting" in
// benches/load/common.hpp):
inline constexpr std::int64_t kSpinSleepAboveNs = 2'000'000;  // spin mode: sleep if the next send is further
inline constexpr std::int64_t kSpinWakeEarlyNs = 300'000;     // ... and wake this much before it
// Open loop without spinning sleeps at least this long per turn so timer
// cost stays bounded (<= 10k wake-ups/s); the extra lateness is in the
// latency (measured from the intended time) and in send_lag_*.
inline constexpr std::int64_t kSleepQuantumNs = 100'000;

class open_schedule {
public:
    open_schedule() = default;  // closed loop: unused
    open_schedule(double rate, std::size_t conns) : ns_per_msg_(1e9 / rate), conns_(conns) {}

    void begin(std::uint64_t t_start) { t_start_ = t_start; }

    // Calls mark(i) for the connection i of every message that fell due
    // since the last call.
    template <class Mark>
    void advance(std::uint64_t now, Mark&& mark) {
        const auto due = static_cast<std::uint64_t>(static_cast<double>(now - t_start_) / ns_per_msg_) + 1;
        const std::uint64_t n = conns_;
        for (std::uint64_t k = k_due_; k < due; ++k) mark(static_cast<std::uint32_t>(k % n));
        k_due_ = std::max(k_due_, due);
    }

    // Messages due so far, over all connections.
    std::uint64_t due_total() const { return k_due_; }
    // Messages of connection i due so far (message k goes to k % C).
    std::uint64_t due_count(std::uint32_t i) const {
        const std::uint64_t n = conns_;
        return k_due_ > i ? (k_due_ - i - 1) / n + 1 : 0;
    }
    // When message `seq` of connection i was meant to leave.
    std::uint64_t intended(std::uint32_t i, std::uint64_t seq) const {
        const double k = static_cast<double>(seq) * static_cast<double>(conns_) + i;
        return t_start_ + static_cast<std::uint64_t>(k * ns_per_msg_);
    }
    // A connection with `queued` bytes not yet sent may take one more message.
    static bool may_queue(std::size_t queued, std::size_t size) {
        return queued == 0 || queued + size <= kOutHighWater;
    }

    // See "Saturation" above.
    static bool saturated(std::uint64_t due_in_window, std::uint64_t echoed_in_window, std::uint64_t backlog_at_end) {
        const double due = static_cast<double>(due_in_window);
        return static_cast<double>(echoed_in_window) < (1.0 - kSaturatedShare) * due ||
               static_cast<double>(backlog_at_end) > kSaturatedShare * due;
    }

    // How to wait for the next due message when nothing is to be sent now;
    // `spin`: the client has a core of its own.
    wait_plan plan_wait(std::uint64_t now, bool spin) const {
        const std::uint64_t due = t_start_ + static_cast<std::uint64_t>(static_cast<double>(k_due_) * ns_per_msg_);
        const std::int64_t left = due > now ? static_cast<std::int64_t>(due - now) : 0;
        if (spin) {
            if (left > kSpinSleepAboveNs) return {wait_kind::block_for, left - kSpinWakeEarlyNs, false};
            return {wait_kind::poll, 0, true};
        }
        return {wait_kind::block_for, std::max(left, kSleepQuantumNs), false};
    }

private:
    double ns_per_msg_ = 0;
    std::size_t conns_ = 0;
    std::uint64_t t_start_ = 0;
    std::uint64_t k_due_ = 0;  // messages due so far
};

}  // namespace sy::load
