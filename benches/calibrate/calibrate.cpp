// switchyard-calibrate: the machine facts that explain verdicts, measured in
// about a second at the start of every `switchyard run` and stored in the
// results' fingerprint (`facts`).
//
// Why: the same claim gets different answers on different machines. A
// syscall costs 70 ns on one VM and 1.2 us on another (so io_uring's batching
// saves 15x more there), a cross-CPU futex wake-up 6 us on one and 64 us on
// another. A reader comparing verdicts across machines needs these numbers
// beside them (MEASURING.md's table, measured instead of remembered).
//
// Prints one JSON object; each fact is the median of kTrials batches, or
// null with the reason in "notes" when the machine cannot measure it (one
// CPU: no cross-CPU figure; pinning forbidden). Exit 0 unless output fails.
//
//   getppid_ns                  a trivial syscall
//   futex_roundtrip_same_cpu_ns two threads on one CPU handing a word back
//   futex_roundtrip_cross_cpu_ns  and forth through futex wait/wake
//   page_fault_ns               first touch of a fresh 4 KiB anonymous page
//   thread_create_join_us       std::thread start + join of an empty body
//   coroutine_switch_ns         C++20 symmetric transfer between two frames
#include <linux/futex.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "benches/common/bare_transfer.hpp"
#include "runners/affinity.hpp"

namespace {

constexpr int kTrials = 5;                       // batches per fact; the median is kept
constexpr int kSyscalls = 20'000;                // per batch
constexpr int kRoundTrips = 2'000;               // futex ping-pong per batch
constexpr std::size_t kFaultBytes = 16u << 20;   // 4096 pages per batch
constexpr int kThreads = 200;                    // create+join per batch
constexpr std::uint64_t kSwitches = 1'000'000;   // symmetric transfers per batch

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
    return std::chrono::duration<double>(clock_type::now() - t0).count();
}

template <class F>
double median_of_trials(F batch) {  // batch() returns a per-unit cost
    std::vector<double> v;
    for (int i = 0; i < kTrials; ++i) v.push_back(batch());
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

using sy::allowed_cpus;

bool pin(int cpu) {  // the calling thread, for good (this process only measures)
    return sy::pin_this_thread(cpu).empty();
}

double getppid_ns() {
    return median_of_trials([] {
        auto t0 = clock_type::now();
        for (int i = 0; i < kSyscalls; ++i) syscall(SYS_getppid);
        return seconds_since(t0) * 1e9 / kSyscalls;
    });
}

void futex_wait(std::atomic<int>& w, int expected) {
    syscall(SYS_futex, reinterpret_cast<int*>(&w), FUTEX_WAIT_PRIVATE, expected, nullptr, nullptr, 0);
}
void futex_wake(std::atomic<int>& w) {
    syscall(SYS_futex, reinterpret_cast<int*>(&w), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

// Round trip: main sets the word to 1 and wakes the peer, the peer sets it
// back to 0 and wakes main. Both block in futex_wait while it is not theirs.
std::optional<double> futex_roundtrip_ns(int cpu_main, int cpu_peer, std::string& why) {
    std::atomic<int> word{0};
    std::atomic<bool> stop{false}, peer_pinned{true};
    std::thread peer([&] {
        if (!pin(cpu_peer)) peer_pinned = false;
        for (;;) {
            while (word.load(std::memory_order_acquire) != 1) {
                if (stop.load()) return;
                futex_wait(word, 0);
            }
            word.store(0, std::memory_order_release);
            futex_wake(word);
        }
    });
    std::optional<double> out;
    if (!pin(cpu_main)) {
        why = "sched_setaffinity refused";
    } else {
        out = median_of_trials([&] {
            auto t0 = clock_type::now();
            for (int i = 0; i < kRoundTrips; ++i) {
                word.store(1, std::memory_order_release);
                futex_wake(word);
                while (word.load(std::memory_order_acquire) != 0) futex_wait(word, 1);
            }
            return seconds_since(t0) * 1e9 / kRoundTrips;
        });
    }
    stop = true;
    word.store(1);
    futex_wake(word);
    peer.join();
    if (!peer_pinned) {
        why = "sched_setaffinity refused for the peer thread";
        return std::nullopt;
    }
    return out;
}

double page_fault_ns() {
    const long page = sysconf(_SC_PAGESIZE);
    return median_of_trials([page] {
        void* p = mmap(nullptr, kFaultBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                       -1, 0);
        if (p == MAP_FAILED) return -1.0;
        auto* bytes = static_cast<volatile char*>(p);
        auto t0 = clock_type::now();
        for (std::size_t off = 0; off < kFaultBytes; off += std::size_t(page)) bytes[off] = 1;
        double ns = seconds_since(t0) * 1e9 / double(kFaultBytes / std::size_t(page));
        munmap(p, kFaultBytes);
        return ns;
    });
}

double thread_create_join_us() {
    return median_of_trials([] {
        auto t0 = clock_type::now();
        for (int i = 0; i < kThreads; ++i) std::thread([] {}).join();
        return seconds_since(t0) * 1e6 / kThreads;
    });
}

// C++20 symmetric transfer with no scheduler: the suite's switch/bare_coroutine.
double coroutine_switch_ns() {
    sy::bench::bare::pair p(kSwitches / 2);
    return median_of_trials([&p] {
        auto t0 = clock_type::now();
        volatile std::uint64_t sum = p.run_batch();
        (void)sum;
        return seconds_since(t0) * 1e9 / double(p.switches_per_batch());
    });
}

std::string number(std::optional<double> v) {
    if (!v || *v < 0) return "null";
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.4g", *v);
    return buf;
}

}  // namespace

int main() {
    std::map<std::string, std::optional<double>> facts;
    std::map<std::string, std::string> notes;
    const auto cpus = allowed_cpus();
    facts["getppid_ns"] = getppid_ns();
    if (cpus.empty()) {
        notes["futex"] = "sched_getaffinity failed";
    } else {
        std::string why;
        facts["futex_roundtrip_same_cpu_ns"] = futex_roundtrip_ns(cpus[0], cpus[0], why);
        if (!why.empty()) notes["futex_roundtrip_same_cpu_ns"] = why;
        if (cpus.size() >= 2) {
            why.clear();
            facts["futex_roundtrip_cross_cpu_ns"] = futex_roundtrip_ns(cpus[0], cpus[1], why);
            if (!why.empty()) notes["futex_roundtrip_cross_cpu_ns"] = why;
        } else {
            facts["futex_roundtrip_cross_cpu_ns"] = std::nullopt;
            notes["futex_roundtrip_cross_cpu_ns"] = "one CPU available: no cross-CPU hand-off";
        }
    }
    facts["page_fault_ns"] = page_fault_ns();
    facts["thread_create_join_us"] = thread_create_join_us();
    facts["coroutine_switch_ns"] = coroutine_switch_ns();
    std::string out = "{";
    for (const auto& [k, v] : facts) out += "\"" + k + "\": " + number(v) + ", ";
    out += "\"notes\": {";
    bool first = true;
    for (const auto& [k, v] : notes) {
        out += std::string(first ? "" : ", ") + "\"" + k + "\": \"" + v + "\"";
        first = false;
    }
    out += "}}\n";
    return std::fputs(out.c_str(), stdout) >= 0 ? 0 : 1;
}
