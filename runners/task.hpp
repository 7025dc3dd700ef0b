// sy::task<T>: the coroutine type every workload body is written in.
//
// Lazy (starts when awaited or spawned), symmetric transfer on completion,
// frames from the loop's frame_pool, exceptions stored and rethrown in the
// awaiting task. The same task runs on every model: on the coroutine loops
// an await really suspends; on thread/pool/fiber the runner's awaitables
// complete inside await_ready (blocking the OS thread, or switching the
// fiber), so the body runs straight through and the frame only holds locals.
//
// Spawn state. A spawned task is owned by its runner's join handle. The
// fields `state` and `ext` in promise_base are the runner's to use:
//   state:  kDone | kDetached bits (atomic_ref on threaded runners)
//   ext:    the runner's completion hook (coroutine loops) or the joining
//           fiber (fiber runner)
//   hooked: ext is a completion_hook; set before the task first runs and
//           never changed, so reading it needs no synchronisation
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>

#include "runners/detail/frame_pool.hpp"

namespace sy {

template <class T = void>
class task;

namespace detail {

inline constexpr std::uint32_t kDone = 1;      // body finished (result stored)
inline constexpr std::uint32_t kDetached = 2;  // join handle dropped: self-destroy

struct promise_base;

// A runner that wants to run code when a spawned task finishes (coroutine
// loops: wake the joiner or pick the next ready task).
struct completion_hook {
    std::coroutine_handle<> (*on_complete)(completion_hook*, promise_base&,
                                           std::coroutine_handle<>) noexcept;
};

struct promise_base {
    std::coroutine_handle<> continuation{};
    void* ext = nullptr;
    std::uint32_t state = 0;
    bool hooked = false;

    static void* operator new(std::size_t n) { return pooled_allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { pooled_deallocate(p, n); }

    std::suspend_always initial_suspend() noexcept { return {}; }

    struct final_awaiter {
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
            promise_base& p = h.promise();
            if (p.hooked) {
                auto* hook = static_cast<completion_hook*>(p.ext);
                return hook->on_complete(hook, p, h);
            }
            if (p.continuation) return p.continuation;
            return std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
};

// The result lives in a tagged union (cheaper to set and destroy than a
// std::variant: a task's whole life is a few dozen instructions).
template <class T>
struct promise final : promise_base {
    promise() noexcept {}
    ~promise() {
        if (kind_ == kind::value)
            value_.~T();
        else if (kind_ == kind::error)
            error_.~exception_ptr();
    }

    task<T> get_return_object() noexcept;
    template <class U>
    void return_value(U&& v) {
        ::new (static_cast<void*>(&value_)) T(std::forward<U>(v));
        kind_ = kind::value;
    }
    void unhandled_exception() noexcept { unhandled_exception_from(std::current_exception()); }
    // A runner could not start the task: it ends with this error.
    void unhandled_exception_from(std::exception_ptr e) noexcept {
        if (kind_ == kind::value) value_.~T();
        ::new (static_cast<void*>(&error_)) std::exception_ptr(std::move(e));
        kind_ = kind::error;
    }
    T take() {
        if (kind_ == kind::error) std::rethrow_exception(error_);
        return std::move(value_);
    }

private:
    enum class kind : unsigned char { empty, value, error };
    union {
        T value_;
        std::exception_ptr error_;
    };
    kind kind_ = kind::empty;
};

template <>
struct promise<void> final : promise_base {
    std::exception_ptr error;
    task<void> get_return_object() noexcept;
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error = std::current_exception(); }
    void unhandled_exception_from(std::exception_ptr e) noexcept { error = std::move(e); }
    void take() {
        if (error) std::rethrow_exception(error);
    }
};

}  // namespace detail

template <class T>
class [[nodiscard]] task {
public:
    using promise_type = detail::promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;
    using value_type = T;

    task() noexcept = default;
    explicit task(handle_type h) noexcept : h_(h) {}
    task(task&& o) noexcept : h_(std::exchange(o.h_, {})) {}
    task& operator=(task&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() {
        if (h_) h_.destroy();
    }

    // Awaiting a task runs it to completion, then resumes the awaiter.
    auto operator co_await() && noexcept {
        struct awaiter {
            handle_type h;
            bool await_ready() const noexcept { return !h || h.done(); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
                h.promise().continuation = awaiting;
                return h;
            }
            T await_resume() { return h.promise().take(); }
        };
        return awaiter{h_};
    }

    // For runners: take ownership of the frame.
    handle_type release() noexcept { return std::exchange(h_, {}); }
    explicit operator bool() const noexcept { return bool(h_); }

private:
    handle_type h_{};
};

namespace detail {
template <class T>
task<T> promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<promise<T>>::from_promise(*this)};
}
inline task<void> promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<promise<void>>::from_promise(*this)};
}

}  // namespace detail

// The value a task produces, for the concept checks below.
template <class Task>
using task_value_t = typename std::remove_cvref_t<Task>::value_type;

}  // namespace sy
