// Shared helpers for every bench executable: flags (--sy_quick, --sy_smoke,
// --sy_models, --sy_iterations), benchmark naming (<workload>/<model>/<param>:<value>),
// registration with the suite's defaults, and result checks.
//
// A bench file registers its workload inside SY_WORKLOAD(name) { ... }; the
// body runs after flags are parsed, so sizes can depend on --sy_quick and
// --sy_smoke, and models the user did not ask for are never registered.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sy::bench {

// Size tier chosen by the driver: smoke (ctest, seconds), quick (whole suite
// in about three minutes), full (the default run).
enum class tier { smoke, quick, full };

struct options {
    tier size = tier::full;
    std::set<std::string> models;  // empty: every model
    // --sy_iterations=N: a fixed iteration count for every benchmark and no
    // warm-up (callgrind mode of `switchyard gate`); 0: Google Benchmark decides.
    std::int64_t iterations = 0;
    // --sy_repetitions=N: the user asked for N repetitions (`run
    // --repetitions`); benches that set their own count (echo) follow it.
    // 0: each bench's own default.
    int repetitions = 0;
    // --sy_profile: benches that can (echo) follow each timed case with a
    // separate, shorter profiling pass of the same configuration (perf
    // attached: syscalls per message by name). `run` passes it to one round's
    // processes only; timed windows never have anything attached.
    bool profile = false;
    // --sy_long_open: benches with an open loop (echo) give every offered
    // rate a window long enough for p99.9 to rest on >= 100 samples
    // (`run --long-open`; publication-grade, much longer).
    bool long_open = false;
    // --sy_full (`run --full`): the publication tier. Benches register the
    // sweep points the default run leaves out to hold its 15 minutes (each
    // such point says so where it is defined); --sy_long_open comes with it.
    // Not a size: opts().size stays tier::full, the default run's sizes.
    bool full = false;
    bool wants(std::string_view model) const {
        return models.empty() || models.count(std::string(model)) != 0;
    }
};

const options& opts();

// Pick a value by tier: pick(smoke, quick, full).
template <class T>
T pick(T smoke, T quick, T full) {
    switch (opts().size) {
        case tier::smoke: return smoke;
        case tier::quick: return quick;
        default: return full;
    }
}

using param = std::pair<std::string_view, std::string>;
std::string name(std::string_view workload, std::string_view model,
                 std::initializer_list<param> params = {});

// RegisterBenchmark with the suite's defaults (ns, real time, a short
// warm-up outside timing). Returns the benchmark for further settings.
benchmark::internal::Benchmark* add(const std::string& name,
                                    std::function<void(benchmark::State&)> fn);

// The same, for benchmarks that time themselves (SetIterationTime), e.g. a
// load run whose duration the load generator reports.
benchmark::internal::Benchmark* add_manual_time(const std::string& name,
                                                std::function<void(benchmark::State&)> fn);

// A case the machine cannot run: reported as an error whose message starts
// with "skipped: " so the driver counts it as a skip, not a failure.
void skip(benchmark::State& state, const std::string& reason);

// A work counter or checksum that must equal its expected value. On a
// mismatch the benchmark reports an error (a failure, never a number).
bool expect_eq(benchmark::State& state, const char* what, std::uint64_t got,
               std::uint64_t want);

// The checksum of every iteration, not only the last: record() each
// iteration's value (cheap: a compare), expect() after timing checks that all
// were equal to the expected value and reports the first iteration that was
// not. Test only: SY_TEST_BAD_ITERATION=k in the environment flips one bit of
// iteration k's value, to prove a wrong middle iteration fails the benchmark.
class iteration_check {
public:
    iteration_check();
    void record(std::uint64_t value) {
        if (iterations_ == corrupt_at_) value ^= 1;  // test only
        if (iterations_ == 0) {
            first_ = value;
        } else if (value != first_ && !differs_) {
            differs_ = true;
            bad_iteration_ = iterations_;
            bad_value_ = value;
        }
        ++iterations_;
    }
    // True when every recorded value equals `want`; else SkipWithError with
    // the first wrong iteration.
    bool expect(benchmark::State& state, const char* what, std::uint64_t want) const;
    std::uint64_t value() const { return first_; }
    std::uint64_t iterations() const { return iterations_; }

private:
    std::uint64_t first_ = 0, iterations_ = 0, bad_iteration_ = 0, bad_value_ = 0;
    std::uint64_t corrupt_at_ = ~std::uint64_t(0);
    bool differs_ = false;
};

// Timer slack of every bench process (and of the servers they start): 1 ns,
// so a timed wake-up is not deferred by the kernel's default 50 us.
constexpr unsigned long kTimerSlackNs = 1;

// Test only: a known slowdown of one benchmark, to show that the regression
// gate catches it (CMake -DSY_TEST_SLOWDOWN=P -DSY_TEST_SLOWDOWN_TARGET=NAME
// -DSY_TEST_SLOWDOWN_KIND=work|time), active only while NAME (or NAME/...)
// runs. Kind work: test_slowdown_units(u) = P% of u, the extra units of its
// own work the benchmark does (P% more instructions). Kind time: a
// test_slowdown_scope around an iteration's work spins for P% of the time it
// measured (P% more wall time). Both are no-ops in normal builds.
#if SY_TEST_SLOWDOWN
std::uint64_t test_slowdown_units(std::uint64_t units);
class test_slowdown_scope {
public:
    test_slowdown_scope();
    ~test_slowdown_scope();
    test_slowdown_scope(const test_slowdown_scope&) = delete;
    test_slowdown_scope& operator=(const test_slowdown_scope&) = delete;

private:
    std::int64_t start_ns_ = -1;
};
#else
inline std::uint64_t test_slowdown_units(std::uint64_t) { return 0; }
struct test_slowdown_scope {};
#endif

// Threads of this process right now (/proc/self/status), for the
// `os_threads` counter: sampled once while a workload's tasks are alive, it
// shows how many OS threads a model used ("concurrency in one thread").
int os_threads();

// The OS threads a benchmark used: os_threads() when first asked (so a
// timed loop pays for /proc once), less the threads that existed when this
// object was made and have not run since (idle leftovers of an earlier
// benchmark in the process, such as libuv's fs threadpool). A thread counts
// as having run when its context-switch count changed. The constructor first
// waits (<= 100 ms) for threads of an earlier case that are still exiting.
struct thread_peak {
    int peak = 0;
    thread_peak();
    void sample_once() {
        if (peak == 0) peak = sample();
    }
    void publish(benchmark::State& state) const;

private:
    struct earlier {
        long tid;
        long switches;
    };
    std::vector<earlier> earlier_;  // every thread but the constructing one
    int sample() const;
};

// Publish a work counter (per iteration, checked equal on every model).
inline void counter(benchmark::State& state, const std::string& what, double per_iteration) {
    state.counters[what] = benchmark::Counter(per_iteration);
}

struct workload_registrar {
    workload_registrar(const char* name, void (*fn)());
};

}  // namespace sy::bench

#define SY_WORKLOAD(id)                                                             \
    static void sy_register_workload_##id();                                        \
    static const ::sy::bench::workload_registrar sy_workload_registrar_##id{        \
        #id, &sy_register_workload_##id};                                           \
    static void sy_register_workload_##id()
