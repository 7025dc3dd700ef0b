// Ownership of a spawned task's frame, shared by every runner's join handle:
// moving transfers it; dropping the handle destroys the frame if the task is
// done, or marks it detached so that the task destroys itself at its end.
//   Blocking = true: the task runs on another OS thread (thread, pool); the
//                    state word is handled with the atomic protocol of
//                    detail/blocking.hpp.
//   Runner:          a runner the handle needs for join() (fiber, pool), or
//                    void -- then the handle is one pointer (skynet keeps ten
//                    in every frame).
#pragma once

#include <coroutine>
#include <type_traits>
#include <utility>

#include "runners/detail/blocking.hpp"
#include "runners/task.hpp"

namespace sy::detail {

template <class T, bool Blocking, class Runner = void>
class owned_task {
    struct no_runner {};
    using runner_ref = std::conditional_t<std::is_void_v<Runner>, no_runner, Runner*>;

public:
    owned_task() = default;
    explicit owned_task(std::coroutine_handle<promise<T>> h, runner_ref rt = {}) : h_(h), rt_(rt) {}
    owned_task(owned_task&& o) noexcept : h_(std::exchange(o.h_, {})), rt_(o.rt_) {}
    // Inlined: a handle's whole life is a few instructions (skynet builds and
    // destroys ten per node), and GCC 12 would otherwise call out for them.
    [[gnu::always_inline]] owned_task& operator=(owned_task&& o) noexcept {
        if (this != &o) {
            drop();
            h_ = std::exchange(o.h_, {});
            rt_ = o.rt_;
        }
        return *this;
    }
    [[gnu::always_inline]] ~owned_task() { drop(); }

    // Single-threaded runners: has the task finished?
    bool done() const
        requires(!Blocking)
    {
        return h_ && (h_.promise().state & kDone);
    }
    // The task's value (or its exception), once it has finished; on the
    // blocking runners this waits for it.
    T result() {
        if constexpr (Blocking) wait_blocking(h_.promise(), [] { return false; });
        return h_.promise().take();
    }

protected:
    [[gnu::always_inline]] void drop() {
        if (!h_) return;
        if constexpr (Blocking) {
            drop_blocking(h_, h_.promise());
        } else if (h_.promise().state & kDone) {
            h_.destroy();
        } else {
            h_.promise().state |= kDetached;  // destroys itself at its end
        }
        h_ = {};
    }

    std::coroutine_handle<promise<T>> h_{};
    [[no_unique_address]] runner_ref rt_{};
};

}  // namespace sy::detail
