// Registering one workload for every model: for_each_task_model visits the
// models that run sy::task bodies, for_each_callback_model the two callback
// models, each only if built and asked for (--sy_models). make_runner builds
// a runner from the options a bench cares about (each model takes what
// applies to it), and guarded() turns runner exceptions into one-line
// results: io_uring unavailable and machine limits are skips with their
// reason; anything else is a failure.
#pragma once

#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "benches/common/bench.hpp"
#include "runners/all.hpp"
#include "runners/join_policy.hpp"

namespace sy::bench {

struct runner_config {
    placement where = placement::none;  // thread, pool
    unsigned workers = 0;               // pool, coroutine_mt (0: one per CPU)
    std::size_t fiber_stack = kDefaultFiberStack;
    bool fiber_guard = true;
    join_policy join = join_policy::help_first;  // the loop models (see runners/join_policy.hpp)
};

template <class R>
inline constexpr bool placeable = requires { R::placeable; };

// Tasks suspend at every await and never block an OS thread: the loop
// models (cooperative) and coroutine_mt (several workers, not cooperative).
template <class R>
inline constexpr bool suspends_at_awaits = R::cooperative || requires { R::work_stealing; };

// coroutine_mt's rows in spawn and switch: one worker (the scheduler's own
// cost beside `coroutine`) and two (its cross-thread paths). Benches that do
// not name a worker count run it with one worker per CPU.
inline constexpr unsigned kMtWorkerCounts[] = {1, 2};

template <class R>
std::unique_ptr<R> construct_runner(const runner_config& c) {
    if constexpr (std::is_same_v<R, thread_runner>)
        return std::make_unique<R>(thread_options{c.where});
    else if constexpr (std::is_same_v<R, pool_runner>)
        return std::make_unique<R>(pool_options{c.workers, c.where});
    else if constexpr (std::is_same_v<R, coroutine_mt_runner>)
        return std::make_unique<R>(coroutine_mt_options{c.workers});
#if SY_HAVE_BOOST_CONTEXT
    else if constexpr (std::is_same_v<R, fiber_runner>)
        return std::make_unique<R>(fiber_options{c.fiber_stack, c.fiber_guard});
#endif
    else
        return std::make_unique<R>();
}

template <class R>
std::unique_ptr<R> make_runner(const runner_config& c) {
    auto rt = construct_runner<R>(c);
    if constexpr (requires { rt->set_join_policy(c.join); })
        rt->set_join_policy(c.join);
    else if (c.join != join_policy::help_first)
        throw std::logic_error(std::string(R::name) + " has no join policy to set");
    return rt;
}

// After a run: a placement that could not be applied makes the case a skip.
template <class R>
bool placement_ok(benchmark::State& state, R& rt) {
    if constexpr (placeable<R>) {
        std::string err = rt.placement_error();
        if (!err.empty()) {
            skip(state, "CPU placement: " + err);
            return false;
        }
    }
    return true;
}

// Runs fn(), mapping runner exceptions to skip/error results.
template <class Fn>
void guarded(benchmark::State& state, Fn&& fn) {
    try {
        fn();
#if SY_HAVE_URING
    } catch (const uring_unavailable& e) {
        skip(state, std::string("io_uring unavailable: ") + e.what());
#endif
    } catch (const resource_error& e) {
        skip(state, std::string("machine limit: ") + e.what());
    } catch (const std::exception& e) {
        state.SkipWithError((std::string("exception: ") + e.what()).c_str());
    }
}

namespace detail {
template <class R, class F>
void visit(F& f) {
    if (opts().wants(R::name)) f.template operator()<R>();
}
}  // namespace detail

// f.template operator()<R>() for each task model (thread, pool, fiber,
// coroutine, coroutine_mt, coroutine_uring, asio) in this build and in
// --sy_models.
template <class F>
void for_each_task_model(F&& f) {
    detail::visit<thread_runner>(f);
    detail::visit<pool_runner>(f);
#if SY_HAVE_BOOST_CONTEXT
    detail::visit<fiber_runner>(f);
#endif
    detail::visit<coroutine_runner>(f);
    detail::visit<coroutine_mt_runner>(f);
#if SY_HAVE_URING
    detail::visit<coroutine_uring_runner>(f);
#endif
#if SY_HAVE_ASIO
    detail::visit<asio_runner>(f);
#endif
}

// The same for the callback models (uring, libuv).
template <class F>
void for_each_callback_model(F&& f) {
#if SY_HAVE_URING
    detail::visit<uring_runner>(f);
#endif
#if SY_HAVE_UV
    detail::visit<libuv_runner>(f);
#endif
}

}  // namespace sy::bench
