// Every model compiled into this build, as type lists for benches and tests,
// each checked against its concept.
#pragma once

#include "runners/cb_adapter.hpp"
#include "runners/coroutine_epoll.hpp"
#include "runners/coroutine_mt.hpp"
#include "runners/pool.hpp"
#include "runners/runner.hpp"
#include "runners/thread.hpp"
#if SY_HAVE_BOOST_CONTEXT
#include "runners/fiber.hpp"
#endif
#if SY_HAVE_URING
#include "runners/coroutine_uring.hpp"
#include "runners/uring.hpp"
#endif
#if SY_HAVE_UV
#include "runners/libuv.hpp"
#endif
#if SY_HAVE_ASIO
#include "runners/asio.hpp"
#endif

namespace sy {

template <class... Ts>
struct type_list {};

static_assert(task_runner<thread_runner>);
static_assert(task_runner<pool_runner>);
static_assert(task_runner<coroutine_runner>);
static_assert(task_runner<coroutine_mt_runner>);
#if SY_HAVE_BOOST_CONTEXT
static_assert(task_runner<fiber_runner>);
#endif
#if SY_HAVE_URING
static_assert(task_runner<coroutine_uring_runner>);
static_assert(callback_runner<uring_runner>);
static_assert(task_runner<cb_adapter<uring_runner>>);
#endif
#if SY_HAVE_UV
static_assert(callback_runner<libuv_runner>);
static_assert(task_runner<cb_adapter<libuv_runner>>);
#endif
#if SY_HAVE_ASIO
static_assert(task_runner<asio_runner>);
#endif

// Does this model need io_uring (and should skip when it is unavailable)?
template <class R>
inline constexpr bool needs_uring = R::name == "coroutine_uring" || R::name == "uring";

}  // namespace sy

// Macro lists, for gtest's typed tests (which need a type list literal).
#if SY_HAVE_BOOST_CONTEXT
#define SY_FIBER_MODEL , sy::fiber_runner
#else
#define SY_FIBER_MODEL
#endif
#if SY_HAVE_URING
#define SY_URING_TASK_MODELS , sy::coroutine_uring_runner, sy::cb_adapter<sy::uring_runner>
#else
#define SY_URING_TASK_MODELS
#endif
#if SY_HAVE_UV
#define SY_UV_TASK_MODEL , sy::cb_adapter<sy::libuv_runner>
#else
#define SY_UV_TASK_MODEL
#endif
#if SY_HAVE_ASIO
#define SY_ASIO_MODEL , sy::asio_runner
#else
#define SY_ASIO_MODEL
#endif
// Every model but coroutine_mt (the tests add it at fixed worker counts) as
// task runners (the callback ones through cb_adapter).
#define SY_ALL_TASK_MODELS                                                                       \
    sy::thread_runner, sy::pool_runner SY_FIBER_MODEL, sy::coroutine_runner SY_URING_TASK_MODELS \
        SY_UV_TASK_MODEL SY_ASIO_MODEL
