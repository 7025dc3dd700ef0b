// switch: two tasks hand a token back and forth; each hand-off is one switch.
//
// What it measures: the cost of one switch between two tasks, in ns per
// switch (real_time / switches) and switches per second (items_per_second).
// Why: the claim "a coroutine switch is only a CPU-context save, so it is far
// cheaper than a thread switch" is a ratio -- so the floors are measured in
// the same binary and the same run:
//   switch/bare_call       a non-inlined call and return (no switch at all)
//   switch/bare_coroutine  plain C++20 symmetric transfer, no runner
//   switch/bare_fcontext   plain Boost.Context fiber resume, no scheduler
//   switch/futex/pin:*     two OS threads on a raw futex (the kernel's floor)
// and the seven models, each through its own hand-off primitive:
//   switch/<model>[/pin:*]  two tasks ping-pong over two of the runner's
//                           channels (thread and pool: also pinned to one CPU,
//                           two CPUs, or unpinned); the callback models
//                           (uring, libuv) hand off through a callback
//                           channel, i.e. a callback posted to the loop.
// Every hop increments the token and adds it to a checksum; the checksum and
// the switch count are checked after timing on every case.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <thread>

#include "benches/common/bare_transfer.hpp"
#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"
#include "runners/affinity.hpp"

#if SY_HAVE_BOOST_CONTEXT
#include <boost/context/fiber.hpp>
#endif

namespace {

using sy::bench::pick;

// Round trips per benchmark iteration (two switches each): large enough that
// the timing loop's own cost is noise next to ~3 ns switches.
constexpr std::uint64_t kRoundTrips = 10'000;
constexpr std::uint64_t kQuickRoundTrips = 2'000;  // a cross-CPU thread hand-off costs ~25 us
constexpr std::uint64_t kSmokeRoundTrips = 100;

std::uint64_t round_trips() { return pick<std::uint64_t>(kSmokeRoundTrips, kQuickRoundTrips, kRoundTrips); }

// Sum of the tokens 1..n seen by the two sides together.
constexpr std::uint64_t expected_checksum(std::uint64_t switches) {
    return switches * (switches + 1) / 2;
}

// Checks the work of every iteration and publishes it.
void finish(benchmark::State& state, std::uint64_t switches, const sy::bench::iteration_check& check) {
    if (!check.expect(state, "checksum", expected_checksum(switches))) return;
    sy::bench::counter(state, "switches", double(switches));
    sy::bench::counter(state, "checksum", double(check.value()));
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(switches));
}

// ---- switch/bare_call ---------------------------------------------------------
// Both functions start on a cache line of their own: otherwise the loop's
// speed follows where the linker happens to put them (a build with a few
// more bytes elsewhere ran this loop 20% faster on one VM).
[[gnu::noinline, gnu::aligned(64)]] std::uint64_t hop(std::uint64_t token) {
    asm volatile("" ::: "memory");
    return token + 1;
}

// One batch of hops: what bare_call times per iteration.
[[gnu::noinline, gnu::aligned(64)]] std::uint64_t hop_batch(std::uint64_t hops) {
    std::uint64_t token = 0, sum = 0;
    for (std::uint64_t i = 0; i < hops; ++i) {
        token = hop(token);
        sum += token;
    }
    return sum;
}

void bare_call(benchmark::State& state) {
    const std::uint64_t switches = 2 * round_trips();
    const std::uint64_t extra = sy::bench::test_slowdown_units(switches);  // test only
    sy::bench::iteration_check check;
    for (auto _ : state) {
        [[maybe_unused]] sy::bench::test_slowdown_scope slow;  // test only
        const std::uint64_t sum = hop_batch(switches);  // noinline: the work cannot vanish
        check.record(sum);
        if (extra) benchmark::DoNotOptimize(hop_batch(extra));
    }
    finish(state, switches, check);
}

// ---- switch/bare_coroutine -----------------------------------------------------
// Two coroutines transfer control directly to each other (symmetric
// transfer); main resumes side A once per batch (benches/common/bare_transfer.hpp).
void bare_coroutine(benchmark::State& state) {
    sy::bench::bare::pair p(round_trips());
    sy::bench::iteration_check check;
    for (auto _ : state) {
        std::uint64_t sum = p.run_batch();
        benchmark::DoNotOptimize(sum);
        check.record(sum);
    }
    finish(state, p.switches_per_batch(), check);
}

#if SY_HAVE_BOOST_CONTEXT
// ---- switch/bare_fcontext ------------------------------------------------------
// Main and one fiber resume each other; every resume is one switch.
void bare_fcontext(benchmark::State& state) {
    namespace ctx = boost::context;
    const std::uint64_t hops = round_trips();
    std::uint64_t token = 0, sum = 0;
    ctx::fiber f{[&](ctx::fiber&& back) {
        for (;;) {
            sum += ++token;
            back = std::move(back).resume();
        }
        return std::move(back);
    }};
    sy::bench::iteration_check check;
    for (auto _ : state) {
        token = sum = 0;
        for (std::uint64_t i = 0; i < hops; ++i) {
            sum += ++token;
            f = std::move(f).resume();
        }
        benchmark::DoNotOptimize(sum);
        check.record(sum);
    }
    finish(state, 2 * hops, check);
}
#endif

// ---- switch/futex --------------------------------------------------------------
// Two OS threads take turns on one futex word: the cheapest blocking
// hand-off the kernel offers, no spinning.
long futex(std::atomic<std::uint32_t>* w, int op, std::uint32_t val) {
    return syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(w), op, val, nullptr, nullptr, 0);
}

constexpr std::uint32_t kTurnMain = 0, kTurnPeer = 1, kStop = 2;

void wait_while(std::atomic<std::uint32_t>& w, std::uint32_t v) {
    while (w.load(std::memory_order_acquire) == v) futex(&w, FUTEX_WAIT_PRIVATE, v);
}

void set_turn(std::atomic<std::uint32_t>& w, std::uint32_t v) {
    w.store(v, std::memory_order_release);
    futex(&w, FUTEX_WAKE_PRIVATE, 1);
}

void futex_pingpong(benchmark::State& state, sy::placement where) {
    auto plan = sy::plan_pins(where);
    if (!plan.error.empty()) return sy::bench::skip(state, plan.error);
    sy::scoped_pin pin_main(plan.first);
    if (!pin_main.error.empty()) return sy::bench::skip(state, pin_main.error);

    const std::uint64_t hops = round_trips();
    std::atomic<std::uint32_t> turn{kTurnMain};
    std::uint64_t token = 0, sum = 0;  // handed over with the turn (acquire/release)
    std::string peer_error;
    std::thread peer([&] {
        sy::scoped_pin pin_peer(plan.second);
        peer_error = pin_peer.error;
        for (;;) {
            wait_while(turn, kTurnMain);
            if (turn.load(std::memory_order_acquire) == kStop) return;
            sum += ++token;
            set_turn(turn, kTurnMain);
        }
    });
    sy::bench::iteration_check check;
    for (auto _ : state) {
        token = sum = 0;
        for (std::uint64_t i = 0; i < hops; ++i) {
            sum += ++token;
            set_turn(turn, kTurnPeer);
            wait_while(turn, kTurnPeer);
        }
        benchmark::DoNotOptimize(sum);
        check.record(sum);
    }
    set_turn(turn, kStop);
    peer.join();
    if (!peer_error.empty()) return sy::bench::skip(state, peer_error);
    finish(state, 2 * hops, check);
}

// ---- switch/<model>: task models ----------------------------------------------------
// Each side keeps its own sum (on thread/pool they run on different threads);
// the channel hand-offs order their updates, the joins publish them.
template <class R>
sy::task_t<R> ping(typename R::template channel<std::uint64_t>& out,
                    typename R::template channel<std::uint64_t>& in, std::uint64_t hops,
                    std::uint64_t& sum) {
    std::uint64_t token = 0;
    for (std::uint64_t i = 0; i < hops; ++i) {
        sum += ++token;
        co_await out.send(token);
        token = co_await in.recv();
    }
}

template <class R>
sy::task_t<R> pong(typename R::template channel<std::uint64_t>& in,
                    typename R::template channel<std::uint64_t>& out, std::uint64_t hops,
                    std::uint64_t& sum) {
    for (std::uint64_t i = 0; i < hops; ++i) {
        std::uint64_t token = co_await in.recv();
        sum += ++token;
        co_await out.send(token);
    }
}

template <class R>
sy::task_t<R> switch_main(R& rt, benchmark::State& state, std::uint64_t hops,
                           sy::bench::iteration_check& check, sy::bench::thread_peak& threads) {
    for (auto _ : state) {
        typename R::template channel<std::uint64_t> ab(rt), ba(rt);
        std::uint64_t a_sum = 0, b_sum = 0;
        auto a = rt.spawn(ping<R>(ab, ba, hops, a_sum));
        auto b = rt.spawn(pong<R>(ab, ba, hops, b_sum));
        threads.sample_once();  // both sides alive (thread model: started)
        co_await a.join();
        co_await b.join();
        check.record(a_sum + b_sum);
    }
}

template <class R>
void switch_task(benchmark::State& state, sy::bench::runner_config cfg) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto rt = sy::bench::make_runner<R>(cfg);
        const std::uint64_t hops = round_trips();
        sy::bench::iteration_check check;
        rt->run(switch_main(*rt, state, hops, check, threads));
        if (sy::bench::placement_ok(state, *rt)) finish(state, 2 * hops, check);
        threads.publish(state);
    });
}

// ---- switch/<model>: callback models --------------------------------------------------
template <class R>
struct callback_pingpong {
    callback_pingpong(R& r, std::uint64_t n) : ab(r), ba(r), hops(n) {}
    typename R::template channel<std::uint64_t> ab, ba;
    std::uint64_t hops, sent = 0, answered = 0, sum = 0;

    void ping(std::uint64_t token) {  // token: the last one received
        if (sent == hops) return;
        ++sent;
        sum += ++token;
        ab.send(token);
        ba.recv([this](std::uint64_t t) { ping(t); });
    }
    void pong() {
        ab.recv([this](std::uint64_t token) {
            sum += ++token;
            ba.send(token);
            if (++answered < hops) pong();
        });
    }
};

template <class R>
void switch_callback(benchmark::State& state) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        R rt;
        const std::uint64_t hops = round_trips();
        sy::bench::iteration_check check;
        for (auto _ : state) {
            callback_pingpong<R> pp(rt, hops);
            pp.pong();
            pp.ping(0);
            rt.post([&threads] { threads.sample_once(); });
            rt.run();
            check.record(pp.sum);
        }
        finish(state, 2 * hops, check);
        threads.publish(state);
    });
}

// Blocking hand-offs need both sides on a worker at once.
constexpr unsigned kSwitchPoolWorkers = 2;

}  // namespace

SY_WORKLOAD(switch) {
    using sy::bench::add;
    using sy::bench::name;
    add(name("switch", "bare_call"), bare_call);
    add(name("switch", "bare_coroutine"), bare_coroutine);
#if SY_HAVE_BOOST_CONTEXT
    add(name("switch", "bare_fcontext"), bare_fcontext);
#endif
    constexpr sy::placement kPlacements[] = {sy::placement::same, sy::placement::cross,
                                             sy::placement::none};
    for (auto where : kPlacements) {
        add(name("switch", "futex", {{"pin", sy::placement_name(where)}}),
            [where](benchmark::State& st) { futex_pingpong(st, where); });
    }
    sy::bench::for_each_task_model([&]<class R>() {
        if constexpr (sy::bench::placeable<R>) {
            for (auto where : kPlacements)
                add(name("switch", R::name, {{"pin", sy::placement_name(where)}}),
                    [where](benchmark::State& st) {
                        switch_task<R>(st, {.where = where, .workers = kSwitchPoolWorkers});
                    });
        } else if constexpr (R::name == "coroutine_mt") {
            for (unsigned w : sy::bench::kMtWorkerCounts)
                add(name("switch", R::name, {{"workers", std::to_string(w)}}),
                    [w](benchmark::State& st) { switch_task<R>(st, {.workers = w}); });
        } else {
            add(name("switch", R::name), [](benchmark::State& st) { switch_task<R>(st, {}); });
        }
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        add(name("switch", R::name), [](benchmark::State& st) { switch_callback<R>(st); });
    });
}
