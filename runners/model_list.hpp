// The one list of concurrency models. Everything that names the models is
// generated from it: sy::all_models and sy::enabled_models (runners/models.hpp),
// and the Python side (scripts/sylib/results.py reads this file for MODELS and
// LOOP_MODELS; tests/scripts/test_models.py checks the rest agrees).
//
// X(name, shape, loop, needs)
//   name   the model's name in benchmark names, charts and claims (fixed)
//   shape  task: runs sy::task_t<R, T> bodies (sy::task<T>, or the runner's own
//          task_type: asio::awaitable<T>); callback: runs callbacks (cb_adapter)
//   loop   1 when all its tasks share one event loop thread (a "loop model")
//   needs  the library the model is built with: none, boost_context, uring, uv,
//          asio (SY_HAVE_BOOST_CONTEXT, SY_HAVE_URING, SY_HAVE_UV, SY_HAVE_ASIO
//          from CMake)
//
// Adding a model: see the README, "Adding a model".
#pragma once

#define SY_MODELS(X)                            \
    X(thread, task, 0, none)                    \
    X(pool, task, 0, none)                      \
    X(fiber, task, 1, boost_context)            \
    X(coroutine, task, 1, none)                 \
    X(coroutine_mt, task, 0, none)              \
    X(coroutine_uring, task, 1, uring)          \
    X(uring, callback, 1, uring)                \
    X(libuv, callback, 1, uv)                   \
    X(asio, task, 1, asio)

// needs -> whether this build has it (the CMake macros are 1 or undefined).
#define SY_NEEDS_none 1
#if SY_HAVE_BOOST_CONTEXT
#define SY_NEEDS_boost_context 1
#else
#define SY_NEEDS_boost_context 0
#endif
#if SY_HAVE_URING
#define SY_NEEDS_uring 1
#else
#define SY_NEEDS_uring 0
#endif
#if SY_HAVE_UV
#define SY_NEEDS_uv 1
#else
#define SY_NEEDS_uv 0
#endif
#if SY_HAVE_ASIO
#define SY_NEEDS_asio 1
#else
#define SY_NEEDS_asio 0
#endif
