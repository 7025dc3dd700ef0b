// multicore: the same total compute work (W items, each an integer hash
// chain) on one or more cores; speed-up = real_time(coroutine/loops:1) /
// real_time(row), computed by the report.
//
// Why: the seed claims "coroutines cannot use multiple cores". One loop is
// one OS thread, so it cannot -- but one loop per core, with the work
// partitioned, can, exactly like threads or a pool. Per model:
//   loops:<n>    the loop models (fiber, coroutine, coroutine_uring, uring,
//                libuv): n independent loops, each on its own OS thread
//                (loop 0 on the calling thread), each given every n-th item
//                (threads and loops are created once and reused across
//                iterations; two barriers per iteration).
//   workers:<n>  pool with n workers; n tasks, each doing every n-th item.
//   threads:<n>  thread: n tasks, so n OS threads.
// n in {1, 2, 4}. A row whose runnable threads exceed the CPUs this process
// may use (sched_getaffinity) is marked oversubscribed=1: more threads than
// cores cannot go faster, they only share. Items never yield: this is about
// cores, not switching (see compute). checksum = sum of the items' chain
// values, checked; work_items = W; os_threads = threads of the process
// while the lanes run (loops:1 is one).
#include <sched.h>

#include <barrier>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"
#include "runners/affinity.hpp"

namespace {

using sy::bench::pick;

constexpr std::uint64_t kItems = 64;  // divisible by every n below
constexpr std::uint64_t kStepsPerItem = 1'000'000;
constexpr std::uint64_t kQuickStepsPerItem = 500'000;
constexpr std::uint64_t kSmokeStepsPerItem = 10'000;
constexpr unsigned kParallelism[] = {1, 2, 4};
constexpr unsigned kSmokeParallelism[] = {1, 2};

std::uint64_t steps_per_item() {
    return pick(kSmokeStepsPerItem, kQuickStepsPerItem, kStepsPerItem);
}

unsigned cpus() { return sy::usable_cpu_count(); }

// One item: a multiply-xorshift chain from the item's own seed.
std::uint64_t item_value(std::uint64_t item, std::uint64_t steps) {
    std::uint64_t x = 0x5eed'0000ull + item;
    for (std::uint64_t i = 0; i < steps; ++i) {
        x ^= x >> 29;
        x *= 0xbf58476d1ce4e5b9ull;
        x += 0x9e3779b97f4a7c15ull;
    }
    return x;
}

// Lane `lane` of `lanes` does items lane, lane + lanes, ...
std::uint64_t lane_work(unsigned lane, unsigned lanes, std::uint64_t steps) {
    std::uint64_t sum = 0;
    for (std::uint64_t i = lane; i < kItems; i += lanes) sum += item_value(i, steps);
    return sum;
}

std::uint64_t expected_checksum(std::uint64_t steps) {
    static std::uint64_t cached_steps = 0, cached = 0;
    if (cached_steps != steps) {
        cached = lane_work(0, 1, steps);
        cached_steps = steps;
    }
    return cached;
}

void finish(benchmark::State& state, unsigned n, std::uint64_t checksum,
            const sy::bench::thread_peak& threads) {
    const std::uint64_t steps = steps_per_item();
    if (!sy::bench::expect_eq(state, "checksum", checksum, expected_checksum(steps))) return;
    sy::bench::counter(state, "work_items", double(kItems));
    sy::bench::counter(state, "checksum", double(checksum));
    sy::bench::counter(state, "oversubscribed", n > cpus() ? 1 : 0);
    threads.publish(state);
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(kItems));
}

// ---- loops: n loops on n OS threads ------------------------------------------------------
// Loop 0 runs on the calling thread (so loops:1 is one loop on one thread,
// nothing else); loops 1..n-1 each on a thread of their own, started once.
// Every loop is constructed and run on its own thread; per iteration all
// run their lane between two barriers.
template <class Loop>
class loop_group {
public:
    explicit loop_group(unsigned n) : n_(n), start_(n), end_(n), sums_(n), errors_(n) {
        try {
            loop0_ = std::make_unique<Loop>();
        } catch (...) {
            errors_[0] = std::current_exception();
        }
        for (unsigned i = 1; i < n; ++i) threads_.emplace_back([this, i] { work(i); });
        end_.arrive_and_wait();  // every loop constructed (or failed): see check()
    }
    ~loop_group() {
        stop_ = true;
        start_.arrive_and_wait();
        for (auto& t : threads_) t.join();
    }
    loop_group(const loop_group&) = delete;
    loop_group& operator=(const loop_group&) = delete;

    // Rethrows a loop's construction error (e.g. io_uring unavailable).
    void check() { rethrow(); }

    std::uint64_t run_once(sy::bench::thread_peak& threads) {
        start_.arrive_and_wait();
        threads.sample_once();  // every loop is running its lane now
        run_lane(*loop0_, 0);
        end_.arrive_and_wait();
        rethrow();
        std::uint64_t sum = 0;
        for (auto s : sums_) sum += s;
        return sum;
    }

private:
    void run_lane(Loop& loop, unsigned lane) {
        try {
            sums_[lane] = loop.run_lane(lane, n_, steps_per_item());
        } catch (...) {
            errors_[lane] = std::current_exception();
        }
    }
    void work(unsigned lane) {
        std::unique_ptr<Loop> loop;
        try {
            loop = std::make_unique<Loop>();
        } catch (...) {
            errors_[lane] = std::current_exception();
        }
        end_.arrive_and_wait();
        for (;;) {
            start_.arrive_and_wait();
            if (stop_) return;
            if (loop) run_lane(*loop, lane);
            end_.arrive_and_wait();
        }
    }
    void rethrow() {
        for (auto& e : errors_)
            if (e) std::rethrow_exception(e);
    }

    unsigned n_;
    std::barrier<> start_, end_;
    std::vector<std::uint64_t> sums_;
    std::vector<std::exception_ptr> errors_;
    std::unique_ptr<Loop> loop0_;
    std::vector<std::thread> threads_;
    bool stop_ = false;  // written before start_, read after it
};

template <class R>
sy::task_t<R, std::uint64_t> lane_task(unsigned lane, unsigned lanes, std::uint64_t steps) {
    co_return lane_work(lane, lanes, steps);
}

// A task-model loop: the lane is a task run to completion on the loop.
template <class R>
struct task_loop {
    std::unique_ptr<R> rt = sy::bench::make_runner<R>({});
    std::uint64_t run_lane(unsigned lane, unsigned lanes, std::uint64_t steps) {
        return rt->run(lane_task<R>(lane, lanes, steps));
    }
};

// A callback-model loop: the lane is a posted callback.
template <class R>
struct callback_loop {
    R rt;
    std::uint64_t run_lane(unsigned lane, unsigned lanes, std::uint64_t steps) {
        std::uint64_t sum = 0;
        rt.post([&] { sum = lane_work(lane, lanes, steps); });
        rt.run();
        return sum;
    }
};

template <class Loop>
void multicore_loops(benchmark::State& state, unsigned n) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        loop_group<Loop> group(n);
        group.check();
        std::uint64_t checksum = 0;
        for (auto _ : state) {
            checksum = group.run_once(threads);
            benchmark::DoNotOptimize(checksum);
        }
        finish(state, n, checksum, threads);
    });
}

// ---- workers / threads: n tasks on one preemptive runner --------------------------------------
template <class R>
sy::task_t<R> parallel_main(R& rt, benchmark::State& state, unsigned n, std::uint64_t& checksum,
                             sy::bench::thread_peak& threads) {
    std::vector<typename R::template join_handle<std::uint64_t>> hs;
    hs.reserve(n);
    const std::uint64_t steps = steps_per_item();
    for (auto _ : state) {
        for (unsigned lane = 0; lane < n; ++lane) hs.push_back(rt.spawn(lane_task<R>(lane, n, steps)));
        threads.sample_once();
        std::uint64_t sum = 0;
        for (auto& h : hs) sum += co_await h.join();
        hs.clear();
        benchmark::DoNotOptimize(sum);
        checksum = sum;
    }
}

template <class R>
void multicore_parallel(benchmark::State& state, unsigned n) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto rt = sy::bench::make_runner<R>({.workers = n});
        std::uint64_t checksum = 0;
        rt->run(parallel_main(*rt, state, n, checksum, threads));
        finish(state, n, checksum, threads);
    });
}

template <class R>
inline constexpr bool fixed_workers = requires(R& r) { r.workers(); };  // pool

std::vector<unsigned> parallelism() {
    if (sy::bench::opts().size == sy::bench::tier::smoke)
        return {std::begin(kSmokeParallelism), std::end(kSmokeParallelism)};
    return {std::begin(kParallelism), std::end(kParallelism)};
}

}  // namespace

SY_WORKLOAD(multicore) {
    using sy::bench::add;
    using sy::bench::name;
    sy::bench::for_each_task_model([&]<class R>() {
        for (unsigned n : parallelism()) {
            const std::string ns = std::to_string(n);
            if constexpr (R::cooperative)
                add(name("multicore", R::name, {{"loops", ns}}),
                    [n](benchmark::State& st) { multicore_loops<task_loop<R>>(st, n); });
            else if constexpr (fixed_workers<R> || sy::bench::suspends_at_awaits<R>)  // pool, coroutine_mt
                add(name("multicore", R::name, {{"workers", ns}}),
                    [n](benchmark::State& st) { multicore_parallel<R>(st, n); });
            else
                add(name("multicore", R::name, {{"threads", ns}}),
                    [n](benchmark::State& st) { multicore_parallel<R>(st, n); });
        }
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        for (unsigned n : parallelism())
            add(name("multicore", R::name, {{"loops", std::to_string(n)}}),
                [n](benchmark::State& st) { multicore_loops<callback_loop<R>>(st, n); });
    });
}
