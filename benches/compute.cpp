// compute: a fixed CPU-bound job (integer hash chains) split over two
// tasks that yield every s steps; steps per second vs s, per model.
//
// Why: the seed claims "switching in compute-bound work degrades
// performance". Here the work is identical everywhere and only the yield
// granularity changes: s in {1, 10, ..., 1e5} and a no-yield baseline
// (yield_every:none). Two tasks share one core, so on the loop models a
// yield is a real switch to the other task; the throughput lost at small s
// is the price of a switch (plus its cache effects) amortised over s steps.
// Same core count for every model: thread runs its task threads pinned to
// one CPU (a CPU-placement failure makes the case a skip), pool has one
// worker; there a yield is sched_yield(2). Callback models: each task is a
// callback that does s steps and re-posts itself (post = yield).
// Each task's chain value is checked against the same chain computed
// without any runner; checksum = sum of the two tasks' final values.
// throughput = steps / real_time (items_per_second).
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

using sy::bench::pick;

constexpr unsigned kTasks = 2;
constexpr std::uint64_t kStepsPerTask = 200'000;  // >= the largest s: it still yields
constexpr std::uint64_t kSmokeStepsPerTask = 20'000;
constexpr std::uint64_t kYieldEvery[] = {1, 10, 100, 1'000, 10'000, 100'000};
constexpr std::uint64_t kSmokeYieldEvery[] = {1, 1'000};
constexpr std::uint64_t kNoYield = 0;
constexpr unsigned kComputeWorkers = 1;  // pool: one core, like the loops

std::uint64_t steps_per_task() { return pick(kSmokeStepsPerTask, kStepsPerTask, kStepsPerTask); }

// One step: a multiply-xorshift mix on each of kLanes independent chains.
// Several chains keep the core's multiplier busy within one task, so a
// switch cannot "help" by overlapping the dependency chains of two tasks
// (with a single chain the out-of-order core would run the next task's
// chain under this one's latency, and yielding would look free).
constexpr unsigned kLanes = 4;
struct chain_state {
    std::uint64_t lane[kLanes];
};

inline std::uint64_t mix(std::uint64_t x) {
    x ^= x >> 29;
    x *= 0xbf58476d1ce4e5b9ull;
    return x + 0x9e3779b97f4a7c15ull;
}

inline chain_state run_steps(chain_state c, std::uint64_t n) {
    for (std::uint64_t i = 0; i < n; ++i)
        for (auto& x : c.lane) x = mix(x);
    return c;
}

inline std::uint64_t value(const chain_state& c) {
    std::uint64_t v = 0;
    for (auto x : c.lane) v = v * 31 + x;
    return v;
}

constexpr chain_state seed(unsigned task) {
    chain_state c{};
    for (unsigned l = 0; l < kLanes; ++l) c.lane[l] = 0x1234'5678ull + 0x100 * task + l;
    return c;
}

std::uint64_t expected_checksum(std::uint64_t steps) {
    std::uint64_t sum = 0;
    for (unsigned t = 0; t < kTasks; ++t) sum += value(run_steps(seed(t), steps));
    return sum;
}

void finish(benchmark::State& state, std::uint64_t steps, const sy::bench::iteration_check& check,
            const sy::bench::thread_peak& threads) {
    if (!check.expect(state, "checksum", expected_checksum(steps))) return;
    sy::bench::counter(state, "steps", double(kTasks * steps));
    sy::bench::counter(state, "checksum", double(check.value()));
    threads.publish(state);
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(kTasks * steps));
}

// ---- task models -----------------------------------------------------------------------
template <class R>
sy::task_t<R, std::uint64_t> chain(R& rt, chain_state x, std::uint64_t steps, std::uint64_t every) {
    if (every == kNoYield) co_return value(run_steps(x, steps));
    for (std::uint64_t done = 0; done < steps;) {
        const std::uint64_t n = std::min(every, steps - done);
        x = run_steps(x, n);
        done += n;
        if (done < steps) co_await rt.yield();
    }
    co_return value(x);
}

template <class R>
sy::task_t<R> compute_main(R& rt, benchmark::State& state, std::uint64_t steps,
                            std::uint64_t every, sy::bench::iteration_check& check,
                            sy::bench::thread_peak& threads) {
    std::vector<typename R::template join_handle<std::uint64_t>> hs;
    hs.reserve(kTasks);
    for (auto _ : state) {
        [[maybe_unused]] sy::bench::test_slowdown_scope slow;  // test only
        for (unsigned t = 0; t < kTasks; ++t) hs.push_back(rt.spawn(chain(rt, seed(t), steps, every)));
        threads.sample_once();
        std::uint64_t sum = 0;
        for (auto& h : hs) sum += co_await h.join();
        hs.clear();
        benchmark::DoNotOptimize(sum);
        check.record(sum);
        if (const auto extra = sy::bench::test_slowdown_units(kTasks * steps))  // test only
            benchmark::DoNotOptimize(value(run_steps(seed(kTasks), extra)));
    }
}

template <class R>
void compute_task(benchmark::State& state, std::uint64_t every) {
    sy::bench::guarded(state, [&] {
        sy::bench::runner_config cfg{.where = sy::placement::same, .workers = kComputeWorkers};
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto rt = sy::bench::make_runner<R>(cfg);
        const std::uint64_t steps = steps_per_task();
        sy::bench::iteration_check check;
        rt->run(compute_main(*rt, state, steps, every, check, threads));
        if (sy::bench::placement_ok(state, *rt)) finish(state, steps, check, threads);
    });
}

// ---- callback models -----------------------------------------------------------------------
template <class R>
struct callback_chain {
    R& rt;
    chain_state x;
    std::uint64_t left, every;
    std::uint64_t* out;

    void run() {
        const std::uint64_t n = every == kNoYield ? left : std::min(every, left);
        x = run_steps(x, n);
        left -= n;
        if (left > 0)
            rt.post([this] { run(); });
        else
            *out += value(x);
    }
};

template <class R>
void compute_callback(benchmark::State& state, std::uint64_t every) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        R rt;
        const std::uint64_t steps = steps_per_task();
        sy::bench::iteration_check check;
        for (auto _ : state) {
            [[maybe_unused]] sy::bench::test_slowdown_scope slow;  // test only
            std::uint64_t sum = 0;
            std::vector<callback_chain<R>> chains;
            chains.reserve(kTasks);
            for (unsigned t = 0; t < kTasks; ++t) chains.push_back({rt, seed(t), steps, every, &sum});
            for (auto& c : chains) rt.post([&c] { c.run(); });
            rt.post([&threads] { threads.sample_once(); });
            rt.run();
            benchmark::DoNotOptimize(sum);
            check.record(sum);
            if (const auto extra = sy::bench::test_slowdown_units(kTasks * steps))
                benchmark::DoNotOptimize(value(run_steps(seed(kTasks), extra)));  // test only
        }
        finish(state, steps, check, threads);
    });
}

std::vector<std::uint64_t> yield_sizes() {
    std::vector<std::uint64_t> v;
    if (sy::bench::opts().size == sy::bench::tier::smoke)
        v.assign(std::begin(kSmokeYieldEvery), std::end(kSmokeYieldEvery));
    else
        v.assign(std::begin(kYieldEvery), std::end(kYieldEvery));
    v.push_back(kNoYield);
    return v;
}

std::string compute_name(std::string_view model, std::uint64_t every) {
    return sy::bench::name("compute", model,
                           {{"yield_every", every == kNoYield ? "none" : std::to_string(every)}});
}

}  // namespace

SY_WORKLOAD(compute) {
    using sy::bench::add;
    sy::bench::for_each_task_model([&]<class R>() {
        for (std::uint64_t s : yield_sizes())
            add(compute_name(R::name, s), [s](benchmark::State& st) { compute_task<R>(st, s); });
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        for (std::uint64_t s : yield_sizes())
            add(compute_name(R::name, s), [s](benchmark::State& st) { compute_callback<R>(st, s); });
    });
}
