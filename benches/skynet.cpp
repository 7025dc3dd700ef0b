// skynet: a 10-ary tree of tasks; every node spawns its 10 children, then
// joins them; the leaves return their index and the root sums them. With
// N = 1e6 leaves that is 1,111,111 tasks and the sum must be 499999500000
// (checked on every iteration of every model; a wrong sum is an error, not a
// number).
//
// Why: the classic "millions of tasks" benchmark (github.com/atemerev/skynet),
// here with the N sweep {1e4, 1e5, 1e6} so the curves compare like with like.
// Canonical shape: siblings are alive at once.
// Traversal order, in the name of every loop-model row, since it decides the
// memory the tree touches as much as the cost of a task does:
//   order:depth    a join on a child that has not started runs it at once
//                  (help-first), so the tree runs depth-first. Coroutine
//                  loops and fiber: their default join
//                  (join_policy::help_first); each time a turn's budget of
//                  detail::kTransferBudget resumes runs out, the next turn
//                  starts the oldest queued sibling, so more than one path
//                  is live (measured: fiber maps ~12k stacks at 1e6, a level
//                  has 100k-1M tasks). uring, libuv:
//                  a spawned child goes on a stack of pending tasks and each
//                  posted callback runs the newest one (LIFO), still one
//                  post per task.
//   order:breadth  children run in spawn order after their parent (FIFO):
//                  a whole level is live before the next starts. Coroutine
//                  loops and fiber with join_policy::fifo; uring and libuv
//                  with a callback per task carrying the task itself.
// Every loop model runs the whole sweep at order:depth (so the per-task cost
// compares at equal order) and order:breadth at one N (kBreadthN, every N in
// smoke) to show what the order is worth: at 1e6 breadth-first fiber would
// hold 111,111 suspended fibers' stacks (two mappings each with the guard
// page, over vm.max_map_count), and the full run's budget holds one N.
// thread and pool rows carry no order: thread's tasks are OS threads the
// kernel schedules; the pool's join runs the joiner's newest queued task
// (LIFO deque, a property of its design, not a switch), depth-first on one
// worker, mixed with stealing of the oldest on two.
// Same work per task on every model: a task with a result slot and a join.
// The callback models keep a record per inner node with a result slot per
// child and a join count; each child writes its slot, the last one sums
// the slots into its parent's slot (the task models' join handles).
// Variants, labelled in the name:
//   shape:sequential  spawn a child and join it before the next (one child
//                     alive at a time, so no order label: both orders are
//                     the same): thread at N >= 1e5, which cannot hold the
//                     canonical tree (kernel.pid_max), and coroutine for
//                     comparison;
//   workers:2         pool and coroutine_mt with two workers (the multi-threaded
//                     schedulers; coroutine_mt's workers:1 rows carry an order);
//   workers:4         coroutine_mt with four (oversubscribed=1 when the process
//                     may use fewer CPUs).
// One worker thread for every model otherwise. Time per task = real_time/tasks.
// No warm-up: repetition 0 is the cold run (fresh pages cost ~13 us each on
// a VM), the others are steady; the report shows them apart.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"
#include "runners/affinity.hpp"

namespace {

using sy::bench::pick;

constexpr unsigned kFanout = 10;
constexpr std::uint64_t kSmokeSizes[] = {100, 1'000};
constexpr std::uint64_t kSizes[] = {10'000, 100'000, 1'000'000};
constexpr std::uint64_t kThreadCanonicalMax = 10'000;   // 11,111 threads alive at most
constexpr std::uint64_t kThreadSequentialMax = 100'000; // 111,111 creations, ~6 s
constexpr unsigned kSecondPoolWorkers = 2;
// coroutine_mt's widest row: four workers, oversubscribed on a 2-CPU machine
// (marked oversubscribed=1 when more workers than usable CPUs).
constexpr unsigned kWidestMtWorkers = 4;
// The one N of the default runs where the loop models also run breadth-first:
// 111,111 tasks live at once (past the caches, so the order shows), ~0.8 s
// of the full run per model (3 processes x 2 repetitions).
constexpr std::uint64_t kBreadthN = 100'000;

enum class shape { canonical, sequential };
enum class order { depth, breadth };

constexpr std::string_view order_name(order o) { return o == order::depth ? "depth" : "breadth"; }
constexpr sy::join_policy policy_for(order o) {
    return o == order::depth ? sy::join_policy::help_first : sy::join_policy::fifo;
}
// The loop models of task shape: their join policy can be set.
template <class R>
concept has_join_policy = requires(R& r) { r.set_join_policy(sy::join_policy::fifo); };

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
// Templated on the task type, not the runner: the models whose bodies are
// sy::task share one instantiation, as when this was a plain function.
template <class Task>
Task leaf(std::uint64_t num) {
    co_return num;
}

template <class R>
sy::task_t<R, std::uint64_t> node(R& rt, std::uint64_t num, std::uint64_t size) {
    const std::uint64_t child = size / kFanout;
    std::array<typename R::template join_handle<std::uint64_t>, kFanout> kids;
    for (unsigned i = 0; i < kFanout; ++i)
        kids[i] = child == 1 ? rt.spawn(leaf<sy::task_t<R, std::uint64_t>>(num + i)) : rt.spawn(node(rt, num + i * child, child));
    std::uint64_t sum = 0;
    for (auto& k : kids) sum += co_await k.join();
    co_return sum;
}

template <class R>
sy::task_t<R, std::uint64_t> sequential_node(R& rt, std::uint64_t num, std::uint64_t size) {
    const std::uint64_t child = size / kFanout;
    std::uint64_t sum = 0;
    // Plain if/else: GCC 12 mishandles co_await inside a conditional
    // expression (this hung with `child == 1 ? co_await ... : co_await ...`).
    for (unsigned i = 0; i < kFanout; ++i) {
        if (child == 1)
            sum += co_await rt.spawn(leaf<sy::task_t<R, std::uint64_t>>(num + i)).join();
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
sy::task_t<R> sample_threads(sy::bench::thread_peak& threads) {
    threads.sample_once();
    co_return;
}

template <class R>
sy::task_t<R> skynet_main(R& rt, benchmark::State& state, std::uint64_t leaves, shape s,
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

// Callback models: a task is a posted callback. An inner node is a record
// with a result slot per child and a join count; each child writes its slot
// and counts itself done, and the last one sums the slots into its own
// parent's slot (the join). Records come from the loop's frame pool, as the
// task models' frames do.
struct parent_rec : sy::detail::pooled {
    parent_rec* up;
    unsigned slot;  // this node's slot in up's results
    unsigned left;  // children not done yet
    std::array<std::uint64_t, kFanout> results{};
    parent_rec(parent_rec* u, unsigned s) : up(u), slot(s), left(kFanout) {}
};

struct pending {  // a spawned task: where its result goes, and its subtree
    parent_rec* up;
    unsigned slot;
    std::uint64_t num, size;
};

template <class R, order O>
struct callback_skynet {
    R& rt;
    std::uint64_t result = 0;
    std::vector<pending> stack{};  // order:depth: spawned, not started, newest last

    void deliver(parent_rec* p, unsigned slot, std::uint64_t v) {
        while (p) {
            p->results[slot] = v;
            if (--p->left != 0) return;
            v = 0;
            for (std::uint64_t r : p->results) v += r;
            slot = p->slot;
            parent_rec* up = p->up;
            delete p;
            p = up;
        }
        result = v;
    }
    void run(const pending& t) {
        if (t.size == 1) return deliver(t.up, t.slot, t.num);
        auto* me = new parent_rec(t.up, t.slot);
        const std::uint64_t child = t.size / kFanout;
        if constexpr (O == order::depth) {  // child 0 on top: it runs first
            for (unsigned i = kFanout; i-- > 0;) spawn({me, i, t.num + i * child, child});
        } else {
            for (unsigned i = 0; i < kFanout; ++i) spawn({me, i, t.num + i * child, child});
        }
    }
    // One posted callback per task in both orders. Breadth: the callback
    // carries its task and the loop's FIFO runs tasks in spawn order. Depth:
    // the task goes on the stack and the callback runs whichever task is the
    // newest when it runs, as a help-first join would.
    void spawn(const pending& t) {
        if constexpr (O == order::depth) {
            stack.push_back(t);
            rt.post([this] {
                pending next = stack.back();
                stack.pop_back();
                run(next);
            });
        } else {
            rt.post([this, t] { run(t); });
        }
    }
};

template <class R, order O>
void skynet_callback(benchmark::State& state, std::uint64_t leaves) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        R rt;
        sy::bench::iteration_check check;
        callback_skynet<R, O> sk{rt};
        for (auto _ : state) {
            sk.result = 0;
            sk.spawn({nullptr, 0, 0, leaves});
            rt.post([&threads] { threads.sample_once(); });
            rt.run();
            if (!sk.stack.empty()) return state.SkipWithError("skynet: a spawned task never ran");
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

// The orders a loop model runs at N: depth always, breadth at kBreadthN
// (and at every smoke size, so the tests run both).
std::vector<order> orders(std::uint64_t n) {
    if (sy::bench::opts().size == sy::bench::tier::smoke || n == kBreadthN)
        return {order::depth, order::breadth};
    return {order::depth};
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
                } else if (n <= kThreadSequentialMax && sy::bench::opts().full) {
                    add(name("skynet", R::name, {{"n", ns}, {"workers", "1"}, {"shape", "sequential"}}),
                        [n, cfg](benchmark::State& st) { skynet_task<R>(st, n, shape::sequential, cfg); });
                } else {
                    // The sequential 1e5 tree (111,111 thread creations, ~10 s
                    // per tree) left the default run for its 15-minute budget
                    // (2026-12-03; `run --full` has it); spawn/thread/n:100000
                    // measures thread creation at that N.
                    add(name("skynet", R::name, {{"n", ns}, {"workers", "1"}, {"shape", "sequential"}}),
                        [n](benchmark::State& st) {
                            sy::bench::skip(st, std::to_string(tasks_for(n)) +
                                                " thread creations take " +
                                                (n > kThreadSequentialMax ? "about a minute" : "~10 s") +
                                                " per tree, over the default run's budget (run --full has it below 1e6); spawn/thread/n:100000 "
                                                "measures creating that many threads");
                        });
                }
                continue;
            }
            if constexpr (has_join_policy<R>) {
                for (order o : orders(n)) {
                    sy::bench::runner_config c = cfg;
                    c.join = policy_for(o);
                    add(name("skynet", R::name,
                             {{"n", ns}, {"workers", "1"}, {"order", std::string(order_name(o))}}),
                        [n, c](benchmark::State& st) { skynet_task<R>(st, n, shape::canonical, c); });
                }
            } else {
                add(name("skynet", R::name, {{"n", ns}, {"workers", "1"}}),
                    [n, cfg](benchmark::State& st) { skynet_task<R>(st, n, shape::canonical, cfg); });
            }
            if constexpr (R::name == "pool") {
                sy::bench::runner_config two{.workers = kSecondPoolWorkers};
                add(name("skynet", R::name, {{"n", ns}, {"workers", "2"}}),
                    [n, two](benchmark::State& st) { skynet_task<R>(st, n, shape::canonical, two); });
            }
            if constexpr (R::name == "coroutine_mt") {  // depth-first (help-first joins) on two
                sy::bench::runner_config two{.workers = kSecondPoolWorkers};
                add(name("skynet", R::name, {{"n", ns}, {"workers", "2"}, {"order", "depth"}}),
                    [n, two](benchmark::State& st) { skynet_task<R>(st, n, shape::canonical, two); });
                sy::bench::runner_config four{.workers = kWidestMtWorkers};
                add(name("skynet", R::name,
                         {{"n", ns}, {"workers", std::to_string(kWidestMtWorkers)}, {"order", "depth"}}),
                    [n, four](benchmark::State& st) {
                        skynet_task<R>(st, n, shape::canonical, four);
                        sy::bench::counter(st, "oversubscribed", kWidestMtWorkers > sy::usable_cpu_count() ? 1 : 0);
                    });
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
            for (order o : orders(n)) {
                const std::string nm = name("skynet", R::name,
                                            {{"n", std::to_string(n)}, {"workers", "1"},
                                             {"order", std::string(order_name(o))}});
                if (o == order::depth)
                    add(nm, [n](benchmark::State& st) { skynet_callback<R, order::depth>(st, n); });
                else
                    add(nm, [n](benchmark::State& st) { skynet_callback<R, order::breadth>(st, n); });
            }
    });
}
