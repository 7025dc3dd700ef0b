// An awaitable that does its work inside await_ready and never suspends the
// coroutine: how the stackful models (thread, pool, fiber) run sy::task
// bodies. For thread/pool the work blocks the OS thread; for fiber it
// switches to another fiber and returns when this one is resumed.
#pragma once

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

namespace sy::detail {

template <class F, class R = std::invoke_result_t<F&>>
struct sync_awaiter {
    explicit sync_awaiter(F fn) : f(std::move(fn)) {}
    F f;
    std::conditional_t<std::is_void_v<R>, char, std::conditional_t<std::is_reference_v<R>, std::remove_reference_t<R>*, R>> value{};
    std::exception_ptr error;
    bool await_ready() {
        try {
            if constexpr (std::is_void_v<R>)
                f();
            else
                value = f();
        } catch (...) {
            error = std::current_exception();
        }
        return true;
    }
    void await_suspend(std::coroutine_handle<>) const noexcept {}
    R await_resume() {
        if (error) std::rethrow_exception(error);
        if constexpr (!std::is_void_v<R>) return std::move(value);
    }
};

template <class F>
sync_awaiter<F> sync_await(F f) {
    return sync_awaiter<F>(std::move(f));
}

}  // namespace sy::detail
