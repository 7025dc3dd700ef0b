// CPU placement helpers: which CPUs this process may use, and pinning the
// calling thread (restored by RAII). Used for pin:same / pin:cross / pin:none
// placements; a machine or container that forbids it yields a reason string.
#pragma once

#include <sched.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace sy {

// CPUs this process may run on (its affinity mask; else the machine's count;
// at least 1): the default worker count, and the line past which more worker
// threads than this are oversubscribed.
inline unsigned usable_cpu_count() {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return unsigned(CPU_COUNT(&set));
    unsigned n = std::thread::hardware_concurrency();
    return n ? n : 1;
}

inline std::vector<int> allowed_cpus() {
    cpu_set_t set;
    CPU_ZERO(&set);
    std::vector<int> cpus;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return cpus;
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) cpus.push_back(c);
    return cpus;
}

// Pins the calling thread to `cpu` until destroyed; `error` says why not.
class scoped_pin {
public:
    explicit scoped_pin(std::optional<int> cpu) {
        if (!cpu) return;
        CPU_ZERO(&old_);
        if (sched_getaffinity(0, sizeof old_, &old_) != 0) {
            error = std::string("sched_getaffinity: ") + std::strerror(errno);
            return;
        }
        cpu_set_t want;
        CPU_ZERO(&want);
        CPU_SET(*cpu, &want);
        if (sched_setaffinity(0, sizeof want, &want) != 0) {
            error = "sched_setaffinity(cpu " + std::to_string(*cpu) +
                    "): " + std::strerror(errno);
            return;
        }
        pinned_ = true;
    }
    ~scoped_pin() {
        if (pinned_) sched_setaffinity(0, sizeof old_, &old_);
    }
    scoped_pin(const scoped_pin&) = delete;
    scoped_pin& operator=(const scoped_pin&) = delete;
    std::string error;

private:
    cpu_set_t old_{};
    bool pinned_ = false;
};

// Placement of two communicating threads.
enum class placement { none, same, cross };

inline const char* placement_name(placement p) {
    switch (p) {
        case placement::same: return "same";
        case placement::cross: return "cross";
        default: return "none";
    }
}

// CPUs for (first, second) thread under placement `p`, or a reason it cannot
// be arranged here.
struct pin_plan {
    std::optional<int> first, second;
    std::string error;
};

inline pin_plan plan_pins(placement p) {
    pin_plan plan;
    if (p == placement::none) return plan;
    auto cpus = allowed_cpus();
    if (cpus.empty()) {
        plan.error = "cannot read the CPU affinity mask";
        return plan;
    }
    if (p == placement::same) {
        plan.first = plan.second = cpus[0];
    } else if (cpus.size() < 2) {
        plan.error = "pin:cross needs two CPUs, this process may use only one";
    } else {
        plan.first = cpus[0];
        plan.second = cpus[1];
    }
    return plan;
}

// CPUs for a group of threads under one placement, decided once (from the
// mask of the thread that creates the group, before any of them is pinned):
// all on the first allowed CPU (same), alternating over the first two
// (cross), or unpinned (none). `error` says why it cannot be arranged.
class cpu_plan {
public:
    explicit cpu_plan(placement p) : where_(p) {
        pin_plan plan = plan_pins(p);
        error = plan.error;
        first_ = plan.first;
        second_ = plan.second;
    }
    // The CPU for the index-th thread, or nullopt (unpinned or impossible).
    std::optional<int> cpu(std::size_t index) const {
        if (where_ == placement::none || !error.empty()) return std::nullopt;
        return index % 2 == 0 ? first_ : second_;
    }
    std::string error;

private:
    placement where_;
    std::optional<int> first_, second_;
};

// Pins the calling thread for good (no restore); returns an error text or "".
inline std::string pin_this_thread(int cpu) {
    cpu_set_t want;
    CPU_ZERO(&want);
    CPU_SET(cpu, &want);
    if (sched_setaffinity(0, sizeof want, &want) != 0)
        return "sched_setaffinity(cpu " + std::to_string(cpu) + "): " + std::strerror(errno);
    return "";
}

}  // namespace sy
