// asynciter: K items consumed from an async generator, from a loop of awaited
// coroutines, and from a plain loop over a prebuilt vector.
//
// What it measures: ns per item (real_time / items) of three ways to consume
// the same K items in a task on each task model:
//   asynciter/<model>/form:generator   it = co_await g.begin(); while (it != g.end())
//                                      { use(*it); co_await ++it; } over an sy::async_generator
//                                      (runners/async_generator.hpp): C++'s `async for`;
//                                      on asio, Asio's own async generator instead
//                                      (asio::experimental::coro, resumed with
//                                      async_resume(use_awaitable), as its docs do)
//   asynciter/<model>/form:await_loop  for (i < K) sum += co_await next_item(rt, i):
//                                      one sy::task awaited per item, the explicit loop
//   asynciter/<model>/form:plain_loop  for (x : items) over a vector built before timing
// each with suspend:0 (the producer never suspends) and suspend:1 (every item
// costs one `co_await rt.yield()` -- a real suspension through the runner --
// in the producer, or in the loop body for plain_loop).
// Why: claim 13, "asynchronous iterators don't really help much; they only
// add the `async for` syntax", is a statement about what the generator costs
// per item over the loop one would write without it; the plain loop is the
// floor. The Python side of the claim is pybench's pyiter/pyctx cases
// (runners/peers/py_microbench.py).
// Every iteration sums the items (0..K-1) and the sum is checked after timing
// on every iteration; the item count is published as `items` (and the OS
// threads used as `os_threads`, as on every workload).
#include <cstdint>
#include <numeric>
#include <type_traits>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"
#include "runners/async_generator.hpp"
#if SY_HAVE_ASIO
#include <asio/experimental/coro.hpp>
#include <asio/experimental/use_coro.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#endif

namespace {

using sy::bench::pick;

// Items per benchmark iteration: enough that the per-iteration cost (the
// generator's frame, a loop turn) is under 1% of a ~3 ns item.
constexpr std::uint64_t kItems = 10'000;
constexpr std::uint64_t kQuickItems = 2'000;
constexpr std::uint64_t kSmokeItems = 100;  // (every row skips under ASan: see SY_WORKLOAD)

std::uint64_t items() { return pick<std::uint64_t>(kSmokeItems, kQuickItems, kItems); }

constexpr std::uint64_t expected_checksum(std::uint64_t k) { return k * (k - 1) / 2; }

enum class form { generator, await_loop, plain_loop };
constexpr const char* form_name(form f) {
    switch (f) {
        case form::generator: return "generator";
        case form::await_loop: return "await_loop";
        default: return "plain_loop";
    }
}

// sy::async_generator is an sy::task-family coroutine: a runner whose tasks
// are a coroutine type of its own (asio::awaitable, which awaits only what
// Asio knows) can neither await the generator nor be awaited inside it, so
// asio's rows use Asio's generator (asio_numbers).
template <class R>
inline constexpr bool runs_sy_generator = std::is_same_v<sy::task_t<R, int>, sy::task<int>>;

// ---- the producers ----------------------------------------------------------------
template <class R>
sy::async_generator<std::uint64_t> numbers(R& rt, std::uint64_t k, bool suspend) {
    for (std::uint64_t i = 0; i < k; ++i) {
        if (suspend) co_await rt.yield();
        co_yield i;
    }
}

#if SY_HAVE_ASIO
// Asio's async generator: the same items; a suspension is the asio model's
// yield (a post to the io_context), spelled with the coro's own token.
asio::experimental::coro<std::uint64_t> asio_numbers(asio::any_io_executor ex, std::uint64_t k,
                                                     bool suspend) {
    for (std::uint64_t i = 0; i < k; ++i) {
        if (suspend) co_await asio::post(ex, asio::experimental::use_coro);
        co_yield i;
    }
}
#endif

template <class R>
sy::task_t<R, std::uint64_t> next_item(R& rt, std::uint64_t i, bool suspend) {
    if (suspend) co_await rt.yield();
    co_return i;
}

// ---- the consumers: one batch of K items each ---------------------------------------
template <class R>
sy::task_t<R, std::uint64_t> consume(R& rt, form f, std::uint64_t k, bool suspend,
                                const std::vector<std::uint64_t>& list) {
    std::uint64_t sum = 0;
    if (f == form::generator) {
        if constexpr (runs_sy_generator<R>) {
            auto g = numbers(rt, k, suspend);
            // cppcoro's `for (auto it = co_await g.begin(); it != g.end(); co_await ++it)`;
            // GCC 12 rejects co_await in a for statement's increment, so spelled as a while.
            auto it = co_await g.begin();
            while (it != g.end()) {
                sum += *it;
                co_await ++it;
            }
        } else {
#if SY_HAVE_ASIO
            auto g = asio_numbers(co_await asio::this_coro::executor, k, suspend);
            while (auto v = co_await g.async_resume(asio::use_awaitable)) sum += *v;
#endif
        }
    } else if (f == form::await_loop) {
        for (std::uint64_t i = 0; i < k; ++i) sum += co_await next_item(rt, i, suspend);
    } else {
        for (std::uint64_t x : list) {
            if (suspend) co_await rt.yield();
            sum += x;
        }
    }
    co_return sum;
}

template <class R>
sy::task_t<R> asynciter_main(R& rt, benchmark::State& state, form f, std::uint64_t k,
                              bool suspend, sy::bench::iteration_check& check,
                              sy::bench::thread_peak& threads) {
    std::vector<std::uint64_t> list(k);
    std::iota(list.begin(), list.end(), std::uint64_t{0});
    for (auto _ : state) {
        std::uint64_t sum = co_await consume(rt, f, k, suspend, list);
        threads.sample_once();
        benchmark::DoNotOptimize(sum);
        check.record(sum);
    }
}

template <class R>
void asynciter_task(benchmark::State& state, form f, bool suspend) {
    sy::bench::guarded(state, [&] {
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto rt = sy::bench::make_runner<R>({});
        const std::uint64_t k = items();
        sy::bench::iteration_check check;
        rt->run(asynciter_main(*rt, state, f, k, suspend, check, threads));
        threads.publish(state);
        if (!check.expect(state, "checksum", expected_checksum(k))) return;
        sy::bench::counter(state, "items", double(k));
        sy::bench::counter(state, "checksum", double(check.value()));
        state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(k));
    });
}

}  // namespace

SY_WORKLOAD(asynciter) {
    using sy::bench::add;
    using sy::bench::name;
    sy::bench::for_each_task_model([&]<class R>() {
        for (form f : {form::generator, form::await_loop, form::plain_loop})
            for (bool suspend : {false, true})
                add(name("asynciter", R::name,
                         {{"form", form_name(f)}, {"suspend", suspend ? "1" : "0"}}),
                    [f, suspend](benchmark::State& st) {
#if defined(__SANITIZE_ADDRESS__)
                        // ASan builds do not turn symmetric transfer (generator
                        // <-> consumer, awaited task <-> awaiter) into a tail
                        // call: frames nest (per item and per iteration) and
                        // overflowed fiber and thread stacks in the ASan smoke.
                        return sy::bench::skip(st, "under AddressSanitizer symmetric transfer is not "
                                                   "a tail call: the awaits of a batch and of the "
                                                   "iterations nest and overflowed thread and fiber "
                                                   "stacks; the release smoke and runs check this bench");
#endif
                        asynciter_task<R>(st, f, suspend);
                    });
    });
}
