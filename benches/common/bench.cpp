// Naming, registration defaults and result checks shared by all benches.
#include "benches/common/bench.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

namespace sy::bench {

std::string name(std::string_view workload, std::string_view model,
                 std::initializer_list<param> params) {
    std::string n(workload);
    n += '/';
    n += model;
    for (const auto& [k, v] : params) {
        n += '/';
        n += k;
        n += ':';
        n += v;
    }
    return n;
}

namespace {
// The benchmark running now, for the test-only slowdown hook (Google
// Benchmark 1.7 has no State::name()).
std::string g_running;
}  // namespace

benchmark::internal::Benchmark* add(const std::string& name,
                                    std::function<void(benchmark::State&)> fn) {
    auto* b = benchmark::RegisterBenchmark(
        name.c_str(), [fn = std::move(fn), name](benchmark::State& st) {
            g_running = name;
            fn(st);
        });
    // No per-benchmark warm-up (it would be appended to the name); see main.
    b->Unit(benchmark::kNanosecond)->UseRealTime();
    if (opts().iterations > 0) b->Iterations(opts().iterations);
    return b;
}

#if SY_TEST_SLOWDOWN
namespace {
bool slowdown_target() {
    static const std::string target = SY_TEST_SLOWDOWN_TARGET;
    const std::string& name = g_running;
    return name.compare(0, target.size(), target) == 0 &&
           (name.size() == target.size() || name[target.size()] == '/');
}
std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}
}  // namespace

std::uint64_t test_slowdown_units(std::uint64_t units) {
    return !SY_TEST_SLOWDOWN_TIME && slowdown_target() ? units * SY_TEST_SLOWDOWN_PCT / 100 : 0;
}

test_slowdown_scope::test_slowdown_scope() {
    if (SY_TEST_SLOWDOWN_TIME && slowdown_target()) start_ns_ = now_ns();
}

test_slowdown_scope::~test_slowdown_scope() {
    if (start_ns_ < 0) return;
    const std::int64_t t1 = now_ns();
    const std::int64_t until = t1 + (t1 - start_ns_) * SY_TEST_SLOWDOWN_PCT / 100;
    while (now_ns() < until) {
    }
}
#endif

benchmark::internal::Benchmark* add_manual_time(const std::string& name,
                                                std::function<void(benchmark::State&)> fn) {
    auto* b = benchmark::RegisterBenchmark(
        name.c_str(), [fn = std::move(fn), name](benchmark::State& st) {
            g_running = name;
            fn(st);
        });
    b->Unit(benchmark::kNanosecond)->UseManualTime();
    if (opts().iterations > 0) b->Iterations(opts().iterations);
    return b;
}

int os_threads() {
    std::ifstream f("/proc/self/status");
    std::string key;
    while (f >> key) {
        if (key == "Threads:") {
            int n = 0;
            f >> n;
            return n;
        }
        f.ignore(1 << 12, '\n');
    }
    return 0;
}

namespace {

// voluntary + nonvoluntary context switches of one thread, -1 if it is gone.
long context_switches(long tid) {
    std::ifstream f("/proc/self/task/" + std::to_string(tid) + "/status");
    std::string key;
    long total = -1, n = 0;
    while (f >> key) {
        if (key == "voluntary_ctxt_switches:" || key == "nonvoluntary_ctxt_switches:") {
            f >> n;
            total = (total < 0 ? 0 : total) + n;
        }
        f.ignore(1 << 12, '\n');
    }
    return total;
}


// A joined thread's kernel task can outlive pthread_join by a moment (the
// join returns when the thread clears its tid, before the kernel reaps it);
// after a case that ran thousands of threads, some are still exiting and
// would be counted -- and seen to run -- here. Wait, bounded, until the
// process's thread count stops falling.
void settle_exiting_threads() {
    constexpr auto kPoll = std::chrono::microseconds(200);
    constexpr int kMaxPolls = 500;  // <= 100 ms
    int n = os_threads();
    for (int i = 0; i < kMaxPolls; ++i) {
        std::this_thread::sleep_for(kPoll);
        const int now = os_threads();
        if (now >= n) return;
        n = now;
    }
}

}  // namespace

thread_peak::thread_peak() {
    settle_exiting_threads();
    const long self = long(::gettid());
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/task", ec)) {
        char* end = nullptr;
        const std::string name = e.path().filename().string();
        const long tid = std::strtol(name.c_str(), &end, 10);
        if (*end != '\0' || tid == self) continue;
        if (long s = context_switches(tid); s >= 0) earlier_.push_back({tid, s});
    }
}

int thread_peak::sample() const {
    int n = os_threads();
    for (const earlier& t : earlier_)
        if (context_switches(t.tid) == t.switches) --n;  // still there, has not run
    return n;
}

void thread_peak::publish(benchmark::State& state) const {
    if (peak > 0) state.counters["os_threads"] = benchmark::Counter(peak);
}

void skip(benchmark::State& state, const std::string& reason) {
    state.SkipWithError(("skipped: " + reason).c_str());
}

iteration_check::iteration_check() {
    if (const char* k = std::getenv("SY_TEST_BAD_ITERATION")) corrupt_at_ = std::strtoull(k, nullptr, 10);
}

bool iteration_check::expect(benchmark::State& state, const char* what, std::uint64_t want) const {
    if (iterations_ == 0) {
        state.SkipWithError((std::string(what) + ": no iteration recorded").c_str());
        return false;
    }
    if (first_ != want || differs_) {
        const bool first_wrong = first_ != want;
        const std::uint64_t at = first_wrong ? 0 : bad_iteration_;
        const std::uint64_t got = first_wrong ? first_ : bad_value_;
        std::string msg = std::string(what) + " mismatch in iteration " + std::to_string(at + 1) +
                          " of " + std::to_string(iterations_) + ": got " + std::to_string(got) +
                          ", expected " + std::to_string(want);
        state.SkipWithError(msg.c_str());
        return false;
    }
    return true;
}

bool expect_eq(benchmark::State& state, const char* what, std::uint64_t got,
               std::uint64_t want) {
    if (got == want) return true;
    std::string msg = std::string(what) + " mismatch: got " + std::to_string(got) +
                      ", expected " + std::to_string(want);
    state.SkipWithError(msg.c_str());
    return false;
}

}  // namespace sy::bench
