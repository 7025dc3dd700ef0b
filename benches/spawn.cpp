// spawn: create, run to completion and join N trivial tasks; ns per task.
//
// Why: "coroutines scale to huge numbers at low cost" is first a claim about
// creation cost. Each task returns its index; the joined sum is checked.
// Task models: N spawns then N joins from one main task (the join handles
// are kept, so all N exist at once before the joins). Callback models: N
// posted callbacks, "joined" when the loop runs out of work.
// thread stops at N = 1e5 (each creation is a clone(2), ~55 us here: 1e6
// would take about a minute per repetition); its larger sizes are skip rows
// saying so.
#include <cstdint>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

using sy::bench::pick;

constexpr std::uint64_t kSmokeSizes[] = {1, 100};
// Quick keeps n:1e6 (tens of ms on the loop models): claim 7's "a million
// concurrent tasks" needs it, and `run --quick` gives every claim a verdict.
constexpr std::uint64_t kQuickSizes[] = {1, 1'000, 100'000, 1'000'000};
constexpr std::uint64_t kFullSizes[] = {1, 1'000, 100'000, 1'000'000};
constexpr std::uint64_t kThreadMax = 100'000;
constexpr std::uint64_t kThreadQuickMax = 1'000;

constexpr std::uint64_t expected_sum(std::uint64_t n) { return n * (n - 1) / 2; }

void finish(benchmark::State& state, std::uint64_t n, const sy::bench::iteration_check& check) {
    if (!check.expect(state, "checksum", expected_sum(n))) return;
    sy::bench::counter(state, "tasks", double(n));
    sy::bench::counter(state, "checksum", double(check.value()));
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(n));
}

// Templated on the task type, not the runner: the models whose bodies are
// sy::task share one instantiation, as when this was a plain function.
template <class Task>
Task leaf(std::uint64_t i) {
    co_return i;
}

template <class R>
sy::task_t<R> spawn_main(R& rt, benchmark::State& state, std::uint64_t n,
                          sy::bench::iteration_check& check, sy::bench::thread_peak& threads) {
    std::vector<typename R::template join_handle<std::uint64_t>> handles;
    handles.reserve(n);
    for (auto _ : state) {
        for (std::uint64_t i = 0; i < n; ++i) handles.push_back(rt.spawn(leaf<sy::task_t<R, std::uint64_t>>(i)));
        threads.sample_once();  // with the n tasks spawned (threads: all running)
        std::uint64_t s = 0;
        for (auto& h : handles) s += co_await h.join();
        handles.clear();
        check.record(s);
    }
}

template <class R>
void spawn_task(benchmark::State& state, std::uint64_t n, sy::bench::runner_config cfg = {}) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto rt = sy::bench::make_runner<R>(cfg);
        sy::bench::iteration_check check;
        rt->run(spawn_main(*rt, state, n, check, threads));
        finish(state, n, check);
        threads.publish(state);
    });
}

template <class R>
void spawn_callback(benchmark::State& state, std::uint64_t n) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        R rt;
        // The same work as a task model's spawn and join: every task writes its
        // result into a slot of its own and counts itself done; the parent
        // waits for the count and then reads every slot (the join).
        std::vector<std::uint64_t> slots(n);
        sy::bench::iteration_check check;
        for (auto _ : state) {
            std::uint64_t pending = n;
            for (std::uint64_t i = 0; i < n; ++i)
                rt.post([&slots, &pending, i] {
                    slots[i] = i;
                    --pending;
                });
            rt.run();  // returns when every posted task has run
            threads.sample_once();
            if (pending != 0) return state.SkipWithError("spawn: a posted task never ran");
            std::uint64_t s = 0;
            for (std::uint64_t v : slots) s += v;
            check.record(s);
        }
        finish(state, n, check);
        threads.publish(state);
    });
}

std::vector<std::uint64_t> sizes() {
    switch (sy::bench::opts().size) {
        case sy::bench::tier::smoke: return {std::begin(kSmokeSizes), std::end(kSmokeSizes)};
        case sy::bench::tier::quick: return {std::begin(kQuickSizes), std::end(kQuickSizes)};
        default: return {std::begin(kFullSizes), std::end(kFullSizes)};
    }
}

}  // namespace

SY_WORKLOAD(spawn) {
    using sy::bench::add;
    using sy::bench::name;
    // n:1e5 threads (5-20 s per process, as the kernel's state goes) runs with
    // `run --full`: the default run's 15-minute budget (2026-12-03).
    const std::uint64_t thread_max =
        pick<std::uint64_t>(100, kThreadQuickMax, sy::bench::opts().full ? kThreadMax : kThreadQuickMax);
    sy::bench::for_each_task_model([&]<class R>() {
        for (std::uint64_t n : sizes()) {
            if constexpr (R::name == "thread") {
                if (n > thread_max) {
                    add(name("spawn", R::name, {{"n", std::to_string(n)}}),
                        [n, thread_max](benchmark::State& st) {
                            sy::bench::skip(st, "one OS thread per task: " + std::to_string(n) +
                                                    " clone(2) calls (~55 us each here) per "
                                                    "repetition are over the time budget; threads "
                                                    "stop at n:" + std::to_string(thread_max) +
                                                    (n <= kThreadMax ? " (run --full has n:" + std::to_string(n) + ")" : ""));
                        });
                    continue;
                }
            }
            if constexpr (R::name == "coroutine_mt") {
                for (unsigned w : sy::bench::kMtWorkerCounts)
                    add(name("spawn", R::name, {{"n", std::to_string(n)}, {"workers", std::to_string(w)}}),
                        [n, w](benchmark::State& st) { spawn_task<R>(st, n, {.workers = w}); });
                continue;
            }
            add(name("spawn", R::name, {{"n", std::to_string(n)}}),
                [n](benchmark::State& st) { spawn_task<R>(st, n); });
        }
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        for (std::uint64_t n : sizes())
            add(name("spawn", R::name, {{"n", std::to_string(n)}}),
                [n](benchmark::State& st) { spawn_callback<R>(st, n); });
    });
}
