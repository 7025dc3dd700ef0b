// blocking: K tasks each make one blocking 10 ms call (nanosleep) while a
// heartbeat task ticks every 1 ms; direct in the task vs through offload.
//
// Why: the seed claims "a blocking call blocks the whole program" on an
// event loop, and that the executor pattern (run_in_executor: hand the call
// to a thread pool and await its result) fixes it. Two modes, every model:
//   mode:direct   the task calls nanosleep itself. On a loop (fiber,
//                 coroutine, coroutine_uring, uring, libuv) that stops the
//                 loop: the K calls run one after another (wall ~ K x 10 ms)
//                 and the heartbeat starves for the whole time.
//   mode:offload  the task awaits rt.offload(call): the call runs on the
//                 runner's offload pool (one worker per CPU; libuv: its own
//                 threadpool, 4 threads unless UV_THREADPOOL_SIZE), the loop
//                 keeps running: wall ~ ceil(K / pool) x 10 ms, heartbeat on
//                 time.
// thread and pool are preemptive: a blocking call holds only its own OS
// thread, so direct does not starve the heartbeat there either (a finding,
// kept): thread runs the K calls in parallel; pool runs them on whatever
// workers are not held by the heartbeat and the main task.
// Counters: wall_ms (start of the K calls to the last one's return),
// heartbeat_max_gap_ms (the longest interval between consecutive heartbeat
// ticks, worst over the iterations), pool_size (how many distinct OS
// threads ran the K calls: 1 = the loop thread itself), tasks (= K, checked:
// each call returns 1 and the sum must be K).
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

using namespace std::chrono_literals;

constexpr unsigned kCalls = 8;                       // K
constexpr std::uint64_t kCallNs = 10'000'000;        // each blocking call
constexpr auto kHeartbeat = 1ms;

enum class mode { direct, offload };

std::uint64_t now_ns() {
    return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count());
}

// What one iteration shares between the tasks (the heartbeat and the calls
// may run on other OS threads: thread, pool, offload workers).
struct run_state {
    std::atomic<bool> done{false};
    std::atomic<bool> beating{false};  // the heartbeat has started
    std::uint64_t max_gap_ns = 0;  // heartbeat's; read after it is joined
    std::mutex mu;
    std::vector<std::thread::id> callers;

    void reset() {
        done = false;
        beating = false;
        max_gap_ns = 0;
        std::lock_guard l(mu);
        callers.clear();
    }
    unsigned distinct_callers() {
        std::lock_guard l(mu);
        std::vector<std::thread::id> v = callers;
        std::sort(v.begin(), v.end());
        return unsigned(std::unique(v.begin(), v.end()) - v.begin());
    }
};

// The blocking call itself: nanosleep for kCallNs, whoever runs it.
int blocking_call(run_state& rs) {
    {
        std::lock_guard l(rs.mu);
        rs.callers.push_back(std::this_thread::get_id());
    }
    timespec ts{0, long(kCallNs)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return 1;
}

// Totals over the iterations of one benchmark run.
struct totals {
    std::uint64_t wall_ns = 0, iterations = 0, max_gap_ns = 0, sum = 0;
    unsigned callers = 0;
    sy::bench::thread_peak threads;  // sampled once, when the first call returned
    void add(std::uint64_t wall, run_state& rs, std::uint64_t s) {
        wall_ns += wall;
        ++iterations;
        max_gap_ns = std::max(max_gap_ns, rs.max_gap_ns);
        sum = s;
        callers = rs.distinct_callers();
    }
    void finish(benchmark::State& state) {
        if (iterations == 0) return;
        if (!sy::bench::expect_eq(state, "tasks", sum, kCalls)) return;
        sy::bench::counter(state, "tasks", kCalls);
        sy::bench::counter(state, "wall_ms", double(wall_ns) / double(iterations) / 1e6);
        sy::bench::counter(state, "heartbeat_max_gap_ms", double(max_gap_ns) / 1e6);
        sy::bench::counter(state, "pool_size", callers);
        threads.publish(state);
        state.SetItemsProcessed(std::int64_t(iterations) * kCalls);
    }
};

// ---- task models -----------------------------------------------------------------------
template <class R>
sy::task_t<R> heartbeat(R& rt, run_state& rs) {
    rs.beating.store(true, std::memory_order_release);
    std::uint64_t last = now_ns();
    while (!rs.done.load(std::memory_order_acquire)) {
        co_await rt.sleep_for(kHeartbeat);
        const std::uint64_t t = now_ns();
        rs.max_gap_ns = std::max(rs.max_gap_ns, t - last);
        last = t;
    }
}

template <class R>
sy::task_t<R, int> caller(R& rt, run_state& rs, mode m) {
    if (m == mode::direct) co_return blocking_call(rs);
    co_return co_await rt.offload([&rs] { return blocking_call(rs); });
}

template <class R>
sy::task_t<R> blocking_main(R& rt, benchmark::State& state, mode m, totals& tot) {
    run_state rs;
    std::vector<typename R::template join_handle<int>> hs;
    hs.reserve(kCalls);
    for (auto _ : state) {
        rs.reset();
        auto hb = rt.spawn(heartbeat(rt, rs));
        // Let the heartbeat start ticking before the calls exist: a join
        // may run a queued child at once (help-first), ahead of the heartbeat.
        co_await rt.yield();
        if (R::cooperative && !rs.beating.load(std::memory_order_acquire)) {
            state.SkipWithError("the heartbeat had not started before the calls: its gap "
                                "would measure nothing");
            rs.done.store(true, std::memory_order_release);
            co_await hb.join();
            co_return;
        }
        const std::uint64_t t0 = now_ns();
        for (unsigned k = 0; k < kCalls; ++k) hs.push_back(rt.spawn(caller(rt, rs, m)));
        std::uint64_t sum = 0;
        for (auto& h : hs) {
            sum += std::uint64_t(co_await h.join());
            tot.threads.sample_once();
        }
        const std::uint64_t wall = now_ns() - t0;
        rs.done.store(true, std::memory_order_release);
        co_await hb.join();
        hs.clear();
        tot.add(wall, rs, sum);
    }
}

template <class R>
void blocking_task(benchmark::State& state, mode m) {
    sy::bench::guarded(state, [&] {
        totals tot;  // first: its thread count's baseline must not include the runner's threads
        auto rt = sy::bench::make_runner<R>({});
        rt->run(blocking_main(*rt, state, m, tot));
        tot.finish(state);
    });
}

// ---- callback models -----------------------------------------------------------------------
// The heartbeat is a timer callback that re-arms itself; each call is a
// posted callback that blocks (direct) or hands the call to offload().
template <class R>
struct callback_blocking {
    R& rt;
    run_state& rs;
    sy::bench::thread_peak& threads;
    std::uint64_t t0 = 0, wall = 0, sum = 0, last = 0;
    unsigned finished = 0;

    void beat() {
        rt.after(kHeartbeat, [this] {
            const std::uint64_t t = now_ns();
            rs.max_gap_ns = std::max(rs.max_gap_ns, t - last);
            last = t;
            if (!rs.done.load(std::memory_order_acquire)) beat();
        });
    }
    void complete(int v) {
        sum += std::uint64_t(v);
        threads.sample_once();
        if (++finished == kCalls) {
            wall = now_ns() - t0;
            rs.done.store(true, std::memory_order_release);
        }
    }
    void start(mode m) {
        last = now_ns();
        beat();
        t0 = now_ns();
        for (unsigned k = 0; k < kCalls; ++k) {
            if (m == mode::direct)
                rt.post([this] { complete(blocking_call(rs)); });
            else
                rt.post([this] {
                    rt.offload([this] { return blocking_call(rs); },
                               [this](sy::outcome<int>&& o) { complete(o.take()); });
                });
        }
    }
};

template <class R>
void blocking_callback(benchmark::State& state, mode m) {
    sy::bench::guarded(state, [&] {
        totals tot;  // first: its thread count's baseline must not include the runner's threads
        R rt;
        run_state rs;
        for (auto _ : state) {
            rs.reset();
            callback_blocking<R> cb{rt, rs, tot.threads};
            cb.start(m);
            rt.run();
            tot.add(cb.wall, rs, cb.sum);
        }
        tot.finish(state);
    });
}

std::string blocking_name(std::string_view model, mode m) {
    return sy::bench::name("blocking", model,
                           {{"mode", m == mode::direct ? "direct" : "offload"}, {"k", std::to_string(kCalls)}});
}

}  // namespace

SY_WORKLOAD(blocking) {
    using sy::bench::add;
    constexpr mode kModes[] = {mode::direct, mode::offload};
    sy::bench::for_each_task_model([&]<class R>() {
        for (mode m : kModes)
            add(blocking_name(R::name, m), [m](benchmark::State& st) { blocking_task<R>(st, m); });
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        for (mode m : kModes)
            add(blocking_name(R::name, m), [m](benchmark::State& st) { blocking_callback<R>(st, m); });
    });
}
