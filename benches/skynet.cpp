// skynet: a 10-ary tree of tasks; every node spawns its 10 children, then
// joins them; the leaves return their index and the root sums them. With
// N = 1e6 leaves that is 1,111,111 tasks and the sum must be 499999500000
// (checked on every model; a wrong sum is an error, not a number).
//
// Why: the classic "millions of tasks" benchmark (github.com/atemerev/skynet),
// here with the N sweep {1e4, 1e5, 1e6} so the curves compare like with like.
// Canonical shape: siblings are alive at once. A plain FIFO scheduler
// (uring, libuv) makes the whole tree exist before the leaves
// finish; the coroutine loops and fiber run a join's still-queued child at
// once (help-first join), which keeps a few hundred tasks alive.
// Variants, labelled in the name:
//   shape:sequential  spawn a child and join it before the next (few tasks
//                     alive at once): thread at N >= 1e5, which cannot hold
//                     the canonical tree (kernel.pid_max), and coroutine for
//                     comparison;
//   workers:2         pool with two workers (the only multi-threaded scheduler).
// One worker thread for every model otherwise. Time per task = real_time/tasks.
// No warm-up: repetition 0 is the cold run (fresh pages cost ~13 us each on
// a VM), the others are steady; the report shows them apart.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

using sy::bench::pick;

constexpr unsigned kFanout = 10;
constexpr std::uint64_t kSmokeSizes[] = {100, 1'000};
constexpr std::uint64_t kSizes[] = {10'000, 100'000, 1'000'000};
constexpr std::uint64_t kThreadCanonicalMax = 10'000;   // 11,111 threads alive at most
constexpr std::uint64_t kThreadSequentialMax = 100'000; // 111,111 creations, ~6 s
constexpr unsigned kSecondPoolWorkers = 2;

enum class shape { canonical, sequential };

constexpr std::uint64_t tasks_for(std::uint64_t leaves) {
    std::uint64_t t = 0;
    for (std::uint64_t n = leaves; n >= 1; n /= kFanout) t += n;
    return t;
}
constexpr std::uint64_t expected_sum(std::uint64_t leaves) { return leaves * (leaves - 1) / 2; }
static_assert(tasks_for(1'000'000) == 1'111'111);
static_assert(expected_sum(1'000'000) == 499'999'500'000);

// Leaves are 90% of the tasks; a coroutine of their own keeps their frames
// small (a compiler sizes a frame for every path of its function, and the
// inner nodes hold ten join handles). Same for every task model.
sy::task<std::uint64_t> leaf(std::uint64_t num) { co_return num; }

template <class R>
sy::task<std::uint64_t> node(R& rt, std::uint64_t num, std::uint64_t size) {
    const std::uint64_t child = size / kFanout;
    std::array<typename R::template join_handle<std::uint64_t>, kFanout> kids;
    for (unsigned i = 0; i < kFanout; ++i)
        kids[i] = child == 1 ? rt.spawn(leaf(num + i)) : rt.spawn(node(rt, num + i * child, child));
    std::uint64_t sum = 0;
    for (auto& k : kids) sum += co_await k.join();
    co_return sum;
}

template <class R>
sy::task<std::uint64_t> sequential_node(R& rt, std::uint64_t num, std::uint64_t size) {
    const std::uint64_t child = size / kFanout;
    std::uint64_t sum = 0;
    // Plain if/else: GCC 12 mishandles co_await inside a conditional
    // expression (this hung with `child == 1 ? co_await ... : co_await ...`).
    for (unsigned i = 0; i < kFanout; ++i) {
        if (child == 1)
            sum += co_await rt.spawn(leaf(num + i)).join();
        else
            sum += co_await rt.spawn(sequential_node(rt, num + i * child, child)).join();
    }
    co_return sum;
}

void finish(benchmark::State& state, std::uint64_t leaves, const sy::bench::iteration_check& check) {
    if (!check.expect(state, "checksum", expected_sum(leaves))) return;
    const std::uint64_t tasks = tasks_for(leaves);
    sy::bench::counter(state, "tasks", double(tasks));
    sy::bench::counter(state, "checksum", double(check.value()));
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(tasks));
}

// Samples the process's threads once, while the tree is being built.
template <class R>
sy::task<void> sample_threads(sy::bench::thread_peak& threads) {
    threads.sample_once();
    co_return;
}

template <class R>
sy::task<void> skynet_main(R& rt, benchmark::State& state, std::uint64_t leaves, shape s,
                           sy::bench::iteration_check& check, sy::bench::thread_peak& threads) {
    for (auto _ : state) {
        auto root = s == shape::canonical ? rt.spawn(node(rt, 0, leaves))
                                          : rt.spawn(sequential_node(rt, 0, leaves));
        rt.spawn(sample_threads<R>(threads));  // runs among the tree's tasks
        check.record(co_await root.join());
    }
}

template <class R>
void skynet_task(benchmark::State& state, std::uint64_t leaves, shape s,
                 sy::bench::runner_config cfg) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto rt = sy::bench::make_runner<R>(cfg);
        sy::bench::iteration_check check;
        rt->run(skynet_main(*rt, state, leaves, s, check, threads));
        finish(state, leaves, check);
        threads.publish(state);
        if constexpr (requires { rt->stacks(); }) {
            sy::bench::counter(state, "stack_kib", double(rt->stacks().stack_size() >> 10));
            sy::bench::counter(state, "guard_page", rt->stacks().guard_page() ? 1 : 0);
            // the pool only grows: its slabs are the most stacks live at once
            sy::bench::counter(state, "stack_reserved_mib",
                               double(rt->stacks().reserved_bytes()) / double(1 << 20));
        }
    });
}

// Callback models: a node is a posted callback; a parent is a small record
// counting its children's results, which the last child completes.
struct parent_rec {
    parent_rec* up;
    std::uint64_t sum;
    unsigned left;
};

template <class R>
struct callback_skynet {
    R& rt;
    std::uint64_t result = 0;

    void deliver(parent_rec* p, std::uint64_t v) {
        while (p) {
            p->sum += v;
            if (--p->left != 0) return;
            v = p->sum;
            parent_rec* up = p->up;
            delete p;
            p = up;
        }
        result = v;
    }
    void spawn(parent_rec* up, std::uint64_t num, std::uint64_t size) {
        rt.post([this, up, num, size] {
            if (size == 1) return deliver(up, num);
            auto* me = new parent_rec{up, 0, kFanout};
            const std::uint64_t child = size / kFanout;
            for (unsigned i = 0; i < kFanout; ++i) spawn(me, num + i * child, child);
        });
    }
};

template <class R>
void skynet_callback(benchmark::State& state, std::uint64_t leaves) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        R rt;
        sy::bench::iteration_check check;
        for (auto _ : state) {
            callback_skynet<R> sk{rt};
            sk.spawn(nullptr, 0, leaves);
            rt.post([&threads] { threads.sample_once(); });
            rt.run();
            check.record(sk.result);
        }
        finish(state, leaves, check);
        threads.publish(state);
    });
}

std::vector<std::uint64_t> sizes() {
    if (sy::bench::opts().size == sy::bench::tier::smoke)
        return {std::begin(kSmokeSizes), std::end(kSmokeSizes)};
    return {std::begin(kSizes), std::end(kSizes)};
}

}  // namespace

SY_WORKLOAD(skynet) {
    // One iteration per repetition at the largest N (~0.1-0.5 s each), so
    // repetition 0 is the first tree this process ever builds: the cold run.
    const auto add = [](const std::string& n, std::function<void(benchmark::State&)> fn) {
        auto* b = sy::bench::add(n, std::move(fn));
        if (n.find("n:1000000/") != std::string::npos) b->Iterations(1);
        return b;
    };
    using sy::bench::name;
    using sy::bench::param;
    const bool smoke = sy::bench::opts().size == sy::bench::tier::smoke;
    sy::bench::for_each_task_model([&]<class R>() {
        for (std::uint64_t n : sizes()) {
            std::string ns = std::to_string(n);
            sy::bench::runner_config cfg{.workers = 1};
            if constexpr (R::name == "thread") {
                if (n <= kThreadCanonicalMax) {
                    add(name("skynet", R::name, {{"n", ns}, {"workers", "1"}}),
                        [n, cfg](benchmark::State& st) { skynet_task<R>(st, n, shape::canonical, cfg); });
                } else if (n <= kThreadSequentialMax && sy::bench::opts().size == sy::bench::tier::full) {
                    add(name("skynet", R::name, {{"n", ns}, {"workers", "1"}, {"shape", "sequential"}}),
                        [n, cfg](benchmark::State& st) { skynet_task<R>(st, n, shape::sequential, cfg); })
                        ->Iterations(1)    // ~6-10 s of thread creations per tree:
                        ->Repetitions(1);  // one per process (no cold/steady split)
                } else {
                    const bool full = sy::bench::opts().size == sy::bench::tier::full;
                    add(name("skynet", R::name, {{"n", ns}, {"workers", "1"}, {"shape", "sequential"}}),
                        [n, full](benchmark::State& st) {
                            sy::bench::skip(st, std::to_string(tasks_for(n)) +
                                                " thread creations take " +
                                                (n > kThreadSequentialMax ? "about a minute" : "~6 s") +
                                                " per repetition; " +
                                                (full ? "see n:100000/shape:sequential"
                                                      : "the default (non --quick) run measures n:100000"));
                        });
                }
                continue;
            }
            add(name("skynet", R::name, {{"n", ns}, {"workers", "1"}}),
                [n, cfg](benchmark::State& st) { skynet_task<R>(st, n, shape::canonical, cfg); });
            if constexpr (R::name == "pool") {
                sy::bench::runner_config two{.workers = kSecondPoolWorkers};
                add(name("skynet", R::name, {{"n", ns}, {"workers", "2"}}),
                    [n, two](benchmark::State& st) { skynet_task<R>(st, n, shape::canonical, two); });
            }
            if constexpr (R::name == "coroutine") {
                if (smoke || n == 100'000)
                    add(name("skynet", R::name, {{"n", ns}, {"workers", "1"}, {"shape", "sequential"}}),
                        [n, cfg](benchmark::State& st) { skynet_task<R>(st, n, shape::sequential, cfg); });
            }
        }
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        for (std::uint64_t n : sizes())
            add(name("skynet", R::name, {{"n", std::to_string(n)}, {"workers", "1"}}),
                [n](benchmark::State& st) { skynet_callback<R>(st, n); });
    });
}
