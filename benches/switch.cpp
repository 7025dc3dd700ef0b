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
// Every hop increments the token and adds it to a checksum; the checksum and
// the switch count are checked after timing on every case.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <thread>

#include "benches/common/bench.hpp"
#include "runners/affinity.hpp"

#if SY_HAVE_BOOST_CONTEXT
#include <boost/context/fiber.hpp>
#endif

namespace {

using sy::bench::pick;

// Round trips per benchmark iteration (two switches each): large enough that
// the timing loop's own cost is noise next to ~3 ns switches.
constexpr std::uint64_t kRoundTrips = 10'000;
constexpr std::uint64_t kSmokeRoundTrips = 100;

std::uint64_t round_trips() { return pick<std::uint64_t>(kSmokeRoundTrips, kRoundTrips, kRoundTrips); }

// Sum of the tokens 1..n seen by the two sides together.
constexpr std::uint64_t expected_checksum(std::uint64_t switches) {
    return switches * (switches + 1) / 2;
}

// Checks and publishes the work of the last iteration.
void finish(benchmark::State& state, std::uint64_t switches, std::uint64_t checksum) {
    if (!sy::bench::expect_eq(state, "checksum", checksum, expected_checksum(switches)))
        return;
    sy::bench::counter(state, "switches", double(switches));
    sy::bench::counter(state, "checksum", double(checksum));
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(switches));
}

// ---- switch/bare_call ---------------------------------------------------------
[[gnu::noinline]] std::uint64_t hop(std::uint64_t token) {
    asm volatile("" ::: "memory");
    return token + 1;
}

void bare_call(benchmark::State& state) {
    const std::uint64_t switches = 2 * round_trips();
    std::uint64_t sum = 0;
    for (auto _ : state) {
        std::uint64_t token = 0;
        sum = 0;
        for (std::uint64_t i = 0; i < switches; ++i) {
            token = hop(token);
            sum += token;
        }
        benchmark::DoNotOptimize(sum);
        sy::bench::test_slowdown_hook();
    }
    finish(state, switches, sum);
}

// ---- switch/bare_coroutine -----------------------------------------------------
// Two coroutines transfer control directly to each other (symmetric
// transfer); main resumes side A once per batch.
struct bare_co {
    struct promise_type {
        bare_co get_return_object() {
            return {std::coroutine_handle<promise_type>::from_promise(*this)};
        }
        std::suspend_always initial_suspend() noexcept { return {}; }
        std::suspend_always final_suspend() noexcept { return {}; }
        void return_void() noexcept {}
        void unhandled_exception() noexcept { std::terminate(); }
    };
    std::coroutine_handle<promise_type> h;
};

struct transfer_to {
    std::coroutine_handle<>* target;
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept {
        return *target;
    }
    void await_resume() const noexcept {}
};

struct bare_pair {
    std::uint64_t token = 0, sum = 0, hops = 0;
    std::coroutine_handle<> a, b;
};

bare_co side_a(bare_pair& p) {
    for (;;) {
        for (std::uint64_t i = 0; i < p.hops; ++i) {
            p.sum += ++p.token;
            co_await transfer_to{&p.b};
        }
        co_await std::suspend_always{};  // batch done: back to main
    }
}

bare_co side_b(bare_pair& p) {
    for (;;) {
        p.sum += ++p.token;
        co_await transfer_to{&p.a};
    }
}

void bare_coroutine(benchmark::State& state) {
    bare_pair p;
    p.hops = round_trips();
    auto a = side_a(p);
    auto b = side_b(p);
    p.a = a.h;
    p.b = b.h;
    for (auto _ : state) {
        p.token = p.sum = 0;
        a.h.resume();
        benchmark::DoNotOptimize(p.sum);
    }
    finish(state, 2 * p.hops, p.sum);
    a.h.destroy();
    b.h.destroy();
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
    for (auto _ : state) {
        token = sum = 0;
        for (std::uint64_t i = 0; i < hops; ++i) {
            sum += ++token;
            f = std::move(f).resume();
        }
        benchmark::DoNotOptimize(sum);
    }
    finish(state, 2 * hops, sum);
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
    for (auto _ : state) {
        token = sum = 0;
        for (std::uint64_t i = 0; i < hops; ++i) {
            sum += ++token;
            set_turn(turn, kTurnPeer);
            wait_while(turn, kTurnPeer);
        }
        benchmark::DoNotOptimize(sum);
    }
    set_turn(turn, kStop);
    peer.join();
    if (!peer_error.empty()) return sy::bench::skip(state, peer_error);
    finish(state, 2 * hops, sum);
}

}  // namespace

SY_WORKLOAD(switch) {
    using sy::bench::add;
    using sy::bench::name;
    add(name("switch", "bare_call"), bare_call);
    add(name("switch", "bare_coroutine"), bare_coroutine);
#if SY_HAVE_BOOST_CONTEXT
    add(name("switch", "bare_fcontext"), bare_fcontext);
#endif
    for (auto where : {sy::placement::same, sy::placement::cross, sy::placement::none}) {
        add(name("switch", "futex", {{"pin", sy::placement_name(where)}}),
            [where](benchmark::State& st) { futex_pingpong(st, where); });
    }
}
