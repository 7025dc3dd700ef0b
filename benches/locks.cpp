// locks: M tasks each add 1 to a shared counter K times; the final value
// is checked against M x K (never assumed).
//
// Why: the seed claims "no locks are needed to modify shared data" with
// coroutines. True only while a read-modify-write has no suspension point
// inside it; this bench shows both sides:
//   sync:none/suspend:0        plain read-modify-write, single-thread models
//                              only: exactly M x K, no lock needed.
//   sync:atomic/suspend:0      std::atomic_ref fetch_add: every model.
//   sync:mutex/suspend:0       std::mutex around the update: every model (on
//                              a loop it is never contended; thread and pool
//                              need it).
//   sync:none/suspend:1        the falsifier: read, yield, write (a
//                              suspension point between read and write, as
//                              `v = x; await something; x = v + 1` would
//                              have), single-thread models, no lock: updates
//                              are lost. lost_updates must be > 0 and the
//                              same in every iteration (a FIFO scheduler
//                              makes the schedule, hence the loss,
//                              deterministic); both are checked.
//   sync:async_mutex/suspend:1 the same read-yield-write under an async
//                              mutex: 0 lost, every model. The mutex is the
//                              runner's own channel primed with one token:
//                              lock = recv, unlock = send (callback models:
//                              their callback channel).
// thread and pool run sync:none as a skip with the reason: a plain
// read-modify-write from several OS threads is a data race (undefined
// behaviour), not a measurement. Counters: expected (M x K), final,
// lost_updates (expected - final).
#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

using sy::bench::pick;

constexpr std::uint64_t kTasks = 16;         // M
constexpr std::uint64_t kIncrements = 2'000; // K per task
constexpr std::uint64_t kSmokeTasks = 4;
constexpr std::uint64_t kSmokeIncrements = 100;

enum class sync_kind { none, mutex, atomic, async_mutex };

struct variant {
    sync_kind s;
    bool suspend;
};

const char* sync_name(sync_kind s) {
    switch (s) {
        case sync_kind::none: return "none";
        case sync_kind::mutex: return "mutex";
        case sync_kind::atomic: return "atomic";
        default: return "async_mutex";
    }
}

std::uint64_t tasks() { return pick(kSmokeTasks, kTasks, kTasks); }
std::uint64_t increments() { return pick(kSmokeIncrements, kIncrements, kIncrements); }

// Keeps each increment a separate load and store (no folding of K
// increments into one add).
inline void compiler_barrier() { asm volatile("" ::: "memory"); }

// Checks every iteration's final value: the falsifier must lose updates, the
// same number every time; every other variant must lose none, in every
// iteration (iteration_check), not only the last.
class checker {
public:
    sy::bench::thread_peak threads;  // os_threads, sampled once with the tasks alive

    checker(variant v, std::uint64_t expected) : v_(v), expected_(expected) {}
    void add(std::uint64_t final_value) {
        const std::uint64_t lost = expected_ - final_value;
        if (iterations_++ == 0) first_lost_ = lost;
        if (lost != first_lost_) deterministic_ = false;
        final_ = final_value;
        finals_.record(final_value);
    }
    void finish(benchmark::State& state) {
        if (iterations_ == 0) return;
        const std::uint64_t lost = expected_ - final_;
        if (v_.s == sync_kind::none && v_.suspend) {
            if (lost == 0) {
                state.SkipWithError("falsifier lost no update: a suspension point between read "
                                    "and write must lose updates on a single-thread model");
                return;
            }
            if (!sy::bench::expect_eq(state, "lost_updates (same every iteration)", lost, first_lost_))
                return;
            if (!deterministic_) {
                state.SkipWithError("lost_updates differ between iterations: schedule not deterministic");
                return;
            }
        } else if (!finals_.expect(state, "final", expected_)) {
            return;
        }
        sy::bench::counter(state, "expected", double(expected_));
        sy::bench::counter(state, "final", double(final_));
        sy::bench::counter(state, "lost_updates", double(lost));
        threads.publish(state);
        state.SetItemsProcessed(std::int64_t(iterations_) * std::int64_t(expected_));
    }

private:
    variant v_;
    std::uint64_t expected_;
    std::uint64_t iterations_ = 0, first_lost_ = 0, final_ = 0;
    bool deterministic_ = true;
    sy::bench::iteration_check finals_;
};

// ---- task models -----------------------------------------------------------------------
template <class R>
struct shared {
    explicit shared(R& rt) : token(rt) {}
    std::uint64_t count = 0;
    std::mutex mu;
    typename R::template channel<int> token;  // the async mutex
};

template <class R, sync_kind S, bool Suspend>
sy::task_t<R> incrementer(R& rt, shared<R>& sh, std::uint64_t k) {
    for (std::uint64_t i = 0; i < k; ++i) {
        if constexpr (S == sync_kind::atomic) {
            std::atomic_ref<std::uint64_t>(sh.count).fetch_add(1, std::memory_order_relaxed);
        } else if constexpr (S == sync_kind::mutex) {
            std::lock_guard l(sh.mu);
            ++sh.count;
            compiler_barrier();
        } else {
            if constexpr (S == sync_kind::async_mutex) co_await sh.token.recv();  // lock
            const std::uint64_t v = sh.count;
            if constexpr (Suspend) co_await rt.yield();
            sh.count = v + 1;
            compiler_barrier();
            if constexpr (S == sync_kind::async_mutex) co_await sh.token.send(1);  // unlock
        }
    }
    co_return;
}

template <class R, sync_kind S, bool Suspend>
sy::task_t<R> locks_main(R& rt, benchmark::State& state, checker& chk) {
    const std::uint64_t m = tasks(), k = increments();
    std::vector<typename R::template join_handle<void>> hs;
    hs.reserve(m);
    for (auto _ : state) {
        shared<R> sh(rt);
        if constexpr (S == sync_kind::async_mutex) co_await sh.token.send(1);  // unlocked
        for (std::uint64_t t = 0; t < m; ++t) hs.push_back(rt.spawn(incrementer<R, S, Suspend>(rt, sh, k)));
        chk.threads.sample_once();
        for (auto& h : hs) co_await h.join();
        hs.clear();
        benchmark::DoNotOptimize(sh.count);
        chk.add(sh.count);
    }
}

template <class R, sync_kind S, bool Suspend>
void locks_task(benchmark::State& state) {
    sy::bench::guarded(state, [&] {
        checker chk({S, Suspend}, tasks() * increments());  // first: see its thread_peak
        auto rt = sy::bench::make_runner<R>({});
        rt->run(locks_main<R, S, Suspend>(*rt, state, chk));
        chk.finish(state);
    });
}

// ---- callback models -----------------------------------------------------------------------
// A task is a callback chain; its suspension point is a post (the rest of
// the update runs in a later callback).
template <class R, sync_kind S, bool Suspend>
struct callback_incrementer {
    R& rt;
    typename R::template channel<int>& token;
    std::uint64_t& count;
    std::mutex& mu;
    std::uint64_t left;

    void start() {
        rt.post([this] { step(); });
    }
    void step() {
        if constexpr (!Suspend) {
            for (; left > 0; --left) {
                if constexpr (S == sync_kind::atomic) {
                    std::atomic_ref<std::uint64_t>(count).fetch_add(1, std::memory_order_relaxed);
                } else if constexpr (S == sync_kind::mutex) {
                    std::lock_guard l(mu);
                    ++count;
                    compiler_barrier();
                } else {
                    const std::uint64_t v = count;
                    count = v + 1;
                    compiler_barrier();
                }
            }
        } else if constexpr (S == sync_kind::async_mutex) {
            token.recv([this](int) { read_then_write(true); });
        } else {
            read_then_write(false);
        }
    }
    void read_then_write(bool locked) {
        const std::uint64_t v = count;
        rt.post([this, v, locked] {  // the suspension point
            count = v + 1;
            if (locked) token.send(1);
            if (--left > 0) step();
        });
    }
};

template <class R, sync_kind S, bool Suspend>
void locks_callback(benchmark::State& state) {
    sy::bench::guarded(state, [&] {
        const std::uint64_t m = tasks(), k = increments();
        checker chk({S, Suspend}, m * k);  // first: see its thread_peak
        R rt;
        for (auto _ : state) {
            typename R::template channel<int> token(rt);
            if constexpr (S == sync_kind::async_mutex) token.send(1);  // unlocked
            std::uint64_t count = 0;
            std::mutex mu;
            std::vector<callback_incrementer<R, S, Suspend>> ts(m, {rt, token, count, mu, k});
            for (auto& t : ts) t.start();
            rt.post([&chk] { chk.threads.sample_once(); });
            rt.run();
            benchmark::DoNotOptimize(count);
            chk.add(count);
        }
        chk.finish(state);
    });
}

// ---- registration ----------------------------------------------------------------------
std::string locks_name(std::string_view model, variant v) {
    return sy::bench::name("locks", model, {{"sync", sync_name(v.s)}, {"suspend", v.suspend ? "1" : "0"}});
}

// The five (sync, suspend) cases, in chart order.
template <class F>
void for_each_variant(F&& f) {
    f.template operator()<sync_kind::none, false>();
    f.template operator()<sync_kind::atomic, false>();
    f.template operator()<sync_kind::mutex, false>();
    f.template operator()<sync_kind::none, true>();
    f.template operator()<sync_kind::async_mutex, true>();
}

}  // namespace

SY_WORKLOAD(locks) {
    using sy::bench::add;
    sy::bench::for_each_task_model([&]<class R>() {
        for_each_variant([&]<sync_kind S, bool Suspend>() {
            const std::string n = locks_name(R::name, {S, Suspend});
            if constexpr (S == sync_kind::none && !R::cooperative) {
                add(n, [](benchmark::State& st) {
                    sy::bench::skip(st, "a plain read-modify-write from several OS threads is a data "
                                        "race (undefined behaviour); see sync:mutex, sync:atomic, "
                                        "sync:async_mutex");
                });
            } else {
                add(n, [](benchmark::State& st) { locks_task<R, S, Suspend>(st); });
            }
        });
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        for_each_variant([&]<sync_kind S, bool Suspend>() {
            add(locks_name(R::name, {S, Suspend}),
                [](benchmark::State& st) { locks_callback<R, S, Suspend>(st); });
        });
    });
}
