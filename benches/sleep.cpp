// sleep: N tasks that each sleep T; how close to T the whole program stays,
// how late each timer fires, and what each timer costs in CPU.
//
// Why: the seed claims that one loop "can sleep a million tasks at once for
// the price of one" (wall time ~ T whatever N) and that timers are cheap.
// Two shapes, every model:
//   mode:burst   all N tasks are started at once at t0 and each sleeps T
//                (sleep_for(T) from wherever it starts); the intended wake
//                is t0 + T. wall_over_t = (last wake - t0) / T (1 = ideal);
//                create_over_t = (all N spawned or posted - t0) / T, the part
//                of it that is creating the tasks.
//                At large N creating the tasks takes longer than T itself,
//                so the creation cost shows up as lateness (on purpose: the
//                tasks were meant to start at t0), and so does a pool's
//                queue (N sleepers on W workers: N/W x T).
//   mode:steady  how servers use timeouts: about N sleepers pending at any
//                moment. At t0 the loop holds N sleepers whose deadlines are
//                spread evenly over (t0, t0 + T]; then new tasks are
//                admitted at the constant rate N/T, each sleeping until its
//                intended admission time + T (open loop: an admission that
//                runs late does not move its deadline). Lateness percentiles
//                are over the admitted tasks only (the pre-filled ones carry
//                their creation burst); wall_over_t = wall / (T + admission
//                window), 1 = ideal. T grows with N so that the admission
//                rate stays at or below kMaxAdmissionsPerSecond (one loop,
//                one core): the chosen T is in the name (sleep_ms:<T>).
// Steady sleepers sleep until their absolute deadline (sleep_for(deadline -
// now), at least 1 ns, so every task goes through the timer). Every task
// records lateness = wake (steady_clock) - intended wake. Percentiles come
// from all measured tasks of all iterations (sorted after timing). CPU per
// timer is getrusage(RUSAGE_SELF) user+sys over the run / tasks, creation
// included: process-wide, so for thread/pool it includes every thread they
// ran. The counter `tasks` (tasks that woke and recorded) is checked against
// the expected count; `capped` is always 0 (limits are skip rows).
// Task models: each sleeper is a spawned, detached sy::task (the last one
// to wake sets an event); callback models: each sleeper is a posted
// callback that arms a timer (post + after).
// Limits, labelled (skip rows with the reason, never silent):
//   thread  one OS thread per sleeper: burst stops at n:10000 (kernel.pid_max,
//           ~55 us per creation); steady stops at n:100 (N/T thread
//           creations per second do not fit beyond that).
//   pool    a worker is held for the whole sleep: N sleepers on W workers
//           take N/W x T (burst stops at n:100; steady at n:1, since N/T
//           admissions against W/T service queue without bound).
//   fiber   above kFiberGuardedMax sleepers, stacks without guard pages
//           (guard:0): guarded stacks are two mappings each and
//           vm.max_map_count caps them near 32k.
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

constexpr std::uint64_t kBurstSleepNs = 10'000'000;  // T for every burst size
constexpr std::uint64_t kMinSteadySleepNs = 10'000'000;
constexpr std::uint64_t kMaxAdmissionsPerSecond = 200'000;
constexpr std::uint64_t kSmokeSizes[] = {1, 100};
constexpr std::uint64_t kQuickBurstSizes[] = {1, 100, 10'000, 100'000};
constexpr std::uint64_t kQuickSteadySizes[] = {1, 100, 10'000};
constexpr std::uint64_t kFullSizes[] = {1, 100, 10'000, 100'000, 1'000'000};
constexpr std::uint64_t kSteadyMaxRunnable = 100'000;  // 1e6 pending: T = 5 s, see register
constexpr std::uint64_t kThreadBurstMax = 10'000;
constexpr std::uint64_t kThreadSteadyMax = 100;
constexpr std::uint64_t kPoolBurstMax = 100;
constexpr std::uint64_t kPoolSteadyMax = 1;
constexpr std::uint64_t kFiberGuardedMax = 10'000;
constexpr std::uint64_t kLargeN = 100'000;  // from here: one iteration per repetition
// Below kLargeN an iteration is one T (>= 10 ms) of mostly waiting: in the
// full tier 0.05 s per repetition (about 5 iterations, every task's
// lateness pooled) instead of the suite's 0.15 s keeps the binary within
// its time budget.
constexpr double kFullMinTime = 0.05;
constexpr std::int64_t kUnset = std::numeric_limits<std::int64_t>::min();

enum class mode { burst, steady };

std::uint64_t now_ns() {
    return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count());
}

std::uint64_t cpu_ns() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto tv = [](const timeval& t) { return std::uint64_t(t.tv_sec) * 1'000'000'000 + std::uint64_t(t.tv_usec) * 1000; };
    return tv(u.ru_utime) + tv(u.ru_stime);
}

std::chrono::nanoseconds until(std::uint64_t deadline) {
    const std::uint64_t now = now_ns();
    return std::chrono::nanoseconds(deadline > now ? deadline - now : 1);
}

// One case: N, T, and the shape of the schedule.
struct plan {
    mode m;
    std::uint64_t n;
    std::uint64_t t_ns;
    // steady: prefill = n pending at t0, then `admitted` tasks at rate n/T.
    std::uint64_t admitted() const { return m == mode::burst ? 0 : std::max<std::uint64_t>(1, n / 2); }
    std::uint64_t total() const { return n + admitted(); }
    std::uint64_t measured_from() const { return m == mode::burst ? 0 : n; }
    std::uint64_t measured() const { return total() - measured_from(); }
    // Deadline of task i relative to t0.
    std::uint64_t prefill_deadline(std::uint64_t i) const {
        return m == mode::burst ? t_ns : (i + 1) * t_ns / n;
    }
    std::uint64_t admit_at(std::uint64_t j) const { return j * t_ns / n; }
    // burst: each task sleeps T from its own start; steady: to its deadline.
    std::uint64_t relative_ns() const { return m == mode::burst ? t_ns : 0; }
    std::uint64_t ideal_ns() const {
        return m == mode::burst ? t_ns : admit_at(admitted() - 1) + t_ns;
    }
};

std::uint64_t steady_sleep_ns(std::uint64_t n) {
    return std::max(kMinSteadySleepNs, n * 1'000'000'000 / kMaxAdmissionsPerSecond);
}

// ---- one runner per case -----------------------------------------------------------------
// The runner of a case is kept across its calls (Google Benchmark's warm-up
// and every repetition), as a long-running server keeps its loop: its frame
// pool and fiber stacks are reused instead of faulted in again. The first
// call on a fresh runner is the cold one; its CPU per timer is published as
// cold_cpu_ns_per_timer (with --benchmark_min_warmup_time=0 it is also the
// first reported iteration). A new case (or an exception) drops the runner.
struct runner_cache {
    std::string key;
    std::shared_ptr<void> rt;
    double cold_cpu_ns_per_timer = 0;
};

runner_cache& cache() {
    static runner_cache c;
    return c;
}

template <class R>
R& case_runner(const std::string& key, const sy::bench::runner_config& cfg, bool& fresh) {
    runner_cache& c = cache();
    fresh = !c.rt || c.key != key;
    if (fresh) {
        c.rt.reset();  // free the previous case's memory first
        c.key = key;
        c.rt = std::shared_ptr<R>(sy::bench::make_runner<R>(cfg));
    }
    return *static_cast<R*>(c.rt.get());
}

template <class Fn>
void with_case_runner(benchmark::State& state, Fn&& fn) {
    sy::bench::guarded(state, [&] {
        try {
            fn();
        } catch (...) {
            cache().rt.reset();  // a loop that threw is not reused
            throw;
        }
    });
}

// Lateness samples and totals over all iterations of one benchmark run.
class recorder {
public:
    recorder(const plan& p, std::int64_t max_iterations) : p_(p), late_(p.total(), kUnset) {
        // Faulted in here, outside timing.
        samples_.resize(std::size_t(p.measured()) * std::size_t(std::max<std::int64_t>(1, max_iterations)));
        samples_.clear();
    }
    std::int64_t* slot(std::uint64_t i) { return &late_[i]; }
    sy::bench::thread_peak threads;  // os_threads, sampled once with the sleepers alive
    void begin() {
        std::fill(late_.begin(), late_.end(), kUnset);
        cpu0_ = cpu_ns();
        t0_ = now_ns();
    }
    std::uint64_t t0() const { return t0_; }
    void created() { tc_ = now_ns(); }  // the first N tasks are spawned (or posted)
    void woke_all() { t1_ = now_ns(); }
    void end() {
        cpu_ += cpu_ns() - cpu0_;
        wall_ += t1_ - t0_;
        create_ += (tc_ > t0_ ? tc_ - t0_ : 0);
        ++iterations_;
        std::uint64_t done = 0;
        for (std::uint64_t i = 0; i < p_.total(); ++i) {
            if (late_[i] == kUnset) continue;
            ++done;
            if (i >= p_.measured_from()) samples_.push_back(late_[i]);
        }
        done_ = std::min(done_, done);  // the worst iteration is the one checked
    }

    void finish(benchmark::State& state, bool cold) {
        if (iterations_ == 0) return;
        if (!sy::bench::expect_eq(state, "tasks", done_, p_.total())) return;
        const double cpu_per_timer = double(cpu_) / double(iterations_) / double(p_.total());
        if (cold) cache().cold_cpu_ns_per_timer = cpu_per_timer;
        std::sort(samples_.begin(), samples_.end());
        auto pct_us = [&](double q) {
            std::size_t k = std::size_t(q * double(samples_.size()));
            if (k >= samples_.size()) k = samples_.size() - 1;
            return double(samples_[k]) / 1e3;
        };
        sy::bench::counter(state, "tasks", double(p_.total()));
        sy::bench::counter(state, "wall_over_t",
                           double(wall_) / double(iterations_) / double(p_.ideal_ns()));
        // How much of wall_over_t is creating the first N tasks (claim 4 judges
        // the waits' overlap without it: at 1e6 tasks creation outlasts T).
        sy::bench::counter(state, "create_over_t",
                           double(create_) / double(iterations_) / double(p_.ideal_ns()));
        sy::bench::counter(state, "late_p50_us", pct_us(0.50));
        sy::bench::counter(state, "late_p99_us", pct_us(0.99));
        sy::bench::counter(state, "late_p999_us", pct_us(0.999));
        sy::bench::counter(state, "late_max_us", double(samples_.back()) / 1e3);
        sy::bench::counter(state, "cpu_ns_per_timer", cpu_per_timer);
        sy::bench::counter(state, "cold_cpu_ns_per_timer", cache().cold_cpu_ns_per_timer);
        sy::bench::counter(state, "capped", 0);  // every row runs its full N (limits are skip rows)
        threads.publish(state);
        state.SetItemsProcessed(std::int64_t(iterations_) * std::int64_t(p_.total()));
    }

private:
    plan p_;
    std::vector<std::int64_t> late_;     // this iteration, one slot per task
    std::vector<std::int64_t> samples_;  // measured tasks, all iterations
    std::uint64_t t0_ = 0, tc_ = 0, t1_ = 0, cpu0_ = 0;
    std::uint64_t wall_ = 0, create_ = 0, cpu_ = 0, iterations_ = 0;
    std::uint64_t done_ = std::numeric_limits<std::uint64_t>::max();
};

// ---- task models ---------------------------------------------------------------------
// Sleepers are detached (their join handles dropped at once, as a server
// does not keep one per timed-out request), so a finished sleeper's frame is
// recycled while the others still sleep; the last one to wake sets the
// iteration's event.
template <class R>
struct finish_line {
    explicit finish_line(R& rt, std::uint64_t tasks) : left(tasks), done(rt) {}
    std::atomic<std::uint64_t> left;  // atomic: thread/pool sleepers finish on many threads
    typename R::event done;
};

// Sleeps for_ns (burst) or until wake_at (steady: for_ns == 0), then records
// how late it woke against wake_at.
template <class R>
sy::task_t<R> sleeper(R& rt, std::uint64_t wake_at, std::uint64_t for_ns, std::int64_t* late,
                       finish_line<R>& fl) {
    co_await rt.sleep_for(for_ns ? std::chrono::nanoseconds(for_ns) : until(wake_at));
    *late = std::int64_t(now_ns() - wake_at);
    if (fl.left.fetch_sub(1, std::memory_order_acq_rel) == 1) fl.done.set();
}

template <class R>
sy::task_t<R> sleep_main(R& rt, benchmark::State& state, const plan& p, recorder& rec) {
    for (auto _ : state) {
        rec.begin();
        finish_line<R> fl(rt, p.total());
        const std::uint64_t t0 = rec.t0();
        for (std::uint64_t i = 0; i < p.n; ++i)
            rt.spawn(sleeper(rt, t0 + p.prefill_deadline(i), p.relative_ns(), rec.slot(i), fl));
        rec.created();
        rec.threads.sample_once();
        for (std::uint64_t j = 0; j < p.admitted();) {
            const std::uint64_t now = now_ns();
            for (; j < p.admitted() && t0 + p.admit_at(j) <= now; ++j)
                rt.spawn(sleeper(rt, t0 + p.admit_at(j) + p.t_ns, 0, rec.slot(p.n + j), fl));
            if (j < p.admitted()) co_await rt.sleep_for(until(t0 + p.admit_at(j)));
        }
        co_await fl.done.wait();
        rec.woke_all();
        rec.end();
    }
}

template <class R>
void sleep_task(benchmark::State& state, const std::string& key, plan p,
                sy::bench::runner_config cfg) {
    with_case_runner(state, [&] {
        recorder rec(p, state.max_iterations);
        bool fresh = false;
        R& rt = case_runner<R>(key, cfg, fresh);
        rt.run(sleep_main(rt, state, p, rec));
        rec.finish(state, fresh);
    });
}

// ---- callback models ---------------------------------------------------------------------
// A sleeper is a posted callback (the task starting) that arms a timer.
template <class R>
struct callback_sleep {
    R& rt;
    const plan& p;
    recorder& rec;
    std::uint64_t t0 = 0, next = 0;

    void start(std::uint64_t wake_at, std::uint64_t for_ns, std::int64_t* late) {
        rt.post([this, wake_at, for_ns, late] {
            rt.after(for_ns ? std::chrono::nanoseconds(for_ns) : until(wake_at),
                     [wake_at, late] { *late = std::int64_t(now_ns() - wake_at); });
        });
    }
    void admit() {
        const std::uint64_t now = now_ns();
        for (; next < p.admitted() && t0 + p.admit_at(next) <= now; ++next)
            start(t0 + p.admit_at(next) + p.t_ns, 0, rec.slot(p.n + next));
        if (next < p.admitted()) rt.after(until(t0 + p.admit_at(next)), [this] { admit(); });
    }
    void launch() {
        t0 = rec.t0();
        for (std::uint64_t i = 0; i < p.n; ++i)
            start(t0 + p.prefill_deadline(i), p.relative_ns(), rec.slot(i));
        if (p.admitted() > 0) admit();
    }
};

template <class R>
void sleep_callback(benchmark::State& state, const std::string& key, plan p) {
    with_case_runner(state, [&] {
        recorder rec(p, state.max_iterations);
        bool fresh = false;
        R& rt = case_runner<R>(key, {}, fresh);
        for (auto _ : state) {
            rec.begin();
            callback_sleep<R> cs{rt, p, rec};
            cs.launch();
            rec.created();
            rec.threads.sample_once();
            rt.run();
            rec.woke_all();
            rec.end();
        }
        rec.finish(state, fresh);
    });
}

// ---- registration ----------------------------------------------------------------------
std::vector<std::uint64_t> sizes(mode m) {
    auto v = [](const auto& a) { return std::vector<std::uint64_t>(std::begin(a), std::end(a)); };
    switch (sy::bench::opts().size) {
        case sy::bench::tier::smoke: return v(kSmokeSizes);
        case sy::bench::tier::quick: return m == mode::burst ? v(kQuickBurstSizes) : v(kQuickSteadySizes);
        default:
            // steady n:1e5 (T = 500 ms, ~1.5 s per model and process) runs with
            // `run --full`: the default run's 15-minute budget (2026-12-03).
            return m == mode::steady && !sy::bench::opts().full ? v(kQuickSteadySizes) : v(kFullSizes);
    }
}

const char* mode_name(mode m) { return m == mode::burst ? "burst" : "steady"; }

std::string sleep_name(std::string_view model, const plan& p, bool no_guard = false) {
    std::string t_ms = std::to_string(p.t_ns / 1'000'000);
    if (no_guard)
        return sy::bench::name("sleep", model,
                               {{"mode", mode_name(p.m)}, {"n", std::to_string(p.n)}, {"sleep_ms", t_ms}, {"guard", "0"}});
    return sy::bench::name("sleep", model,
                           {{"mode", mode_name(p.m)}, {"n", std::to_string(p.n)}, {"sleep_ms", t_ms}});
}

// Models whose sleepers each hold an OS thread for the whole sleep.
template <class R>
inline constexpr bool fixed_workers = requires(R& r) { r.workers(); };  // pool
template <class R>
inline constexpr bool has_fiber_stacks = requires(R& r) { r.stacks(); };

// Why a blocking model stops below n (empty: it runs).
template <class R>
std::string blocking_limit(const plan& p) {
    if constexpr (sy::bench::suspends_at_awaits<R>) {
        return "";
    } else if constexpr (fixed_workers<R>) {
        if (p.m == mode::burst && p.n > kPoolBurstMax)
            return "a pool worker is held for the whole sleep: " + std::to_string(p.n) +
                   " sleepers on one worker per CPU take N/W x T (minutes); see n:" +
                   std::to_string(kPoolBurstMax);
        if (p.m == mode::steady && p.n > kPoolSteadyMax)
            return "a pool worker is held for the whole sleep: W workers serve W sleepers per T, "
                   "so N/T admissions queue without bound; see n:" + std::to_string(kPoolSteadyMax);
        return "";
    } else {
        if (p.m == mode::burst && p.n > kThreadBurstMax)
            return "one OS thread per sleeper: " + std::to_string(p.n) +
                   " threads exceed kernel.pid_max/threads-max; see n:" + std::to_string(kThreadBurstMax);
        if (p.m == mode::steady && p.n > kThreadSteadyMax)
            return "one OS thread per sleeper: N pending threads and N/T thread creations per "
                   "second (~55 us each) do not fit; see n:" + std::to_string(kThreadSteadyMax);
        return "";
    }
}

void register_plan(const plan& p) {
    const bool large = p.n >= kLargeN;
    const bool too_long = p.m == mode::steady && p.n > kSteadyMaxRunnable;
    const std::string too_long_reason =
        "steady " + std::to_string(p.n) + " pending at <= " + std::to_string(kMaxAdmissionsPerSecond) +
        " admissions/s needs T = " + std::to_string(p.t_ns / 1'000'000) +
        " ms: >= 1.5 T per run and a minute per model with repetitions, over the time "
        "budget; n:" + std::to_string(kSteadyMaxRunnable) + " is the steady-state case";
    auto settle = [large](benchmark::internal::Benchmark* b) {
        if (large)
            b->Iterations(1);
        else if (sy::bench::opts().size == sy::bench::tier::full && sy::bench::opts().iterations == 0)
            b->MinTime(kFullMinTime);
    };
    sy::bench::for_each_task_model([&]<class R>() {
        std::string limit = too_long ? too_long_reason : blocking_limit<R>(p);
        if (!limit.empty()) {
            sy::bench::add(sleep_name(R::name, p), [limit](benchmark::State& st) { sy::bench::skip(st, limit); });
            return;
        }
        sy::bench::runner_config cfg{};
        bool no_guard = false;
        if constexpr (has_fiber_stacks<R>) {
            if (p.n > kFiberGuardedMax) {
                cfg.fiber_guard = false;
                no_guard = true;
            }
        }
        const std::string key = sleep_name(R::name, p, no_guard);
        settle(sy::bench::add(key, [key, p, cfg](benchmark::State& st) { sleep_task<R>(st, key, p, cfg); }));
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        if (too_long) {
            sy::bench::add(sleep_name(R::name, p),
                           [too_long_reason](benchmark::State& st) { sy::bench::skip(st, too_long_reason); });
            return;
        }
        const std::string key = sleep_name(R::name, p);
        settle(sy::bench::add(key, [key, p](benchmark::State& st) { sleep_callback<R>(st, key, p); }));
    });
}

}  // namespace

SY_WORKLOAD(sleep) {
    for (std::uint64_t n : sizes(mode::burst)) register_plan(plan{mode::burst, n, kBurstSleepNs});
    for (std::uint64_t n : sizes(mode::steady)) register_plan(plan{mode::steady, n, steady_sleep_ns(n)});
}
