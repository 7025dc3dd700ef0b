// sy::async_generator<T>: a coroutine that may both co_await and co_yield,
// consumed one item at a time by an awaiting task -- C++'s `async for`.
//
// The shape is cppcoro's async_generator (lewissbaker/cppcoro,
// include/cppcoro/async_generator.hpp), cut down to what benches need:
//
//   sy::async_generator<int> numbers(R& rt, int n) {
//       for (int i = 0; i < n; ++i) { co_await rt.yield(); co_yield i; }
//   }
//   auto g = numbers(rt, 10);
//   for (auto it = co_await g.begin(); it != g.end(); co_await ++it) use(*it);
//   (GCC 12 rejects co_await in the increment: write it as a while loop.)
//
// Lazy: the body starts at begin(). Each begin()/++ transfers control to the
// generator (symmetric transfer) and the generator transfers back at its
// next co_yield or at its end, so an item costs two resumptions and no
// allocation. Awaits inside the body suspend the generator's own frame; the
// runner resumes that frame later, exactly as it would a task's, and the
// consumer stays suspended until the item arrives. Frames come from the
// loop's frame_pool, as sy::task's do. One consumer at a time; the value
// is only valid until the next ++. An exception in the body is rethrown from
// the begin()/++ that resumed it.
#pragma once

#include <coroutine>
#include <exception>
#include <memory>
#include <utility>

#include "runners/detail/frame_pool.hpp"

namespace sy {

template <class T>
class async_generator;

namespace detail {

template <class T>
class async_generator_promise {
public:
    static void* operator new(std::size_t n) { return pooled_allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { pooled_deallocate(p, n); }

    async_generator<T> get_return_object() noexcept;
    std::suspend_always initial_suspend() const noexcept { return {}; }

    // co_yield and the end both hand control back to the waiting consumer.
    struct to_consumer {
        bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) const noexcept {
            return h.promise().consumer_;
        }
        void await_resume() const noexcept {}
    };

    to_consumer yield_value(T& v) noexcept {
        value_ = std::addressof(v);
        return {};
    }
    to_consumer yield_value(T&& v) noexcept {
        value_ = std::addressof(v);
        return {};
    }
    to_consumer final_suspend() noexcept {
        value_ = nullptr;
        return {};
    }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { error_ = std::current_exception(); }

    T& value() const noexcept { return *value_; }
    bool finished() const noexcept { return value_ == nullptr; }
    void rethrow_if_failed() const {
        if (error_) std::rethrow_exception(error_);
    }
    void set_consumer(std::coroutine_handle<> c) noexcept { consumer_ = c; }

private:
    T* value_ = nullptr;  // the item yielded (lives in the suspended frame)
    std::coroutine_handle<> consumer_{};
    std::exception_ptr error_;
};

}  // namespace detail

template <class T>
class [[nodiscard]] async_generator {
public:
    using promise_type = detail::async_generator_promise<T>;
    using handle_type = std::coroutine_handle<promise_type>;

    struct sentinel {};

    class iterator {
    public:
        explicit iterator(handle_type h) noexcept : h_(h) {}
        T& operator*() const noexcept { return h_.promise().value(); }
        bool operator==(sentinel) const noexcept { return h_.done() || h_.promise().finished(); }
        // Resumes the generator up to its next item (or its end).
        [[nodiscard]] auto operator++() noexcept { return advance{h_, this}; }

    private:
        friend class async_generator;
        struct advance {
            handle_type h;
            iterator* it;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> consumer) noexcept {
                h.promise().set_consumer(consumer);
                return h;
            }
            iterator& await_resume() const {
                h.promise().rethrow_if_failed();
                return *it;
            }
        };
        handle_type h_;
    };

    async_generator() noexcept = default;
    explicit async_generator(handle_type h) noexcept : h_(h), it_(h) {}
    async_generator(async_generator&& o) noexcept
        : h_(std::exchange(o.h_, {})), it_(h_) {}
    async_generator& operator=(async_generator&& o) noexcept {
        if (this != &o) {
            if (h_) h_.destroy();
            h_ = std::exchange(o.h_, {});
            it_ = iterator(h_);
        }
        return *this;
    }
    async_generator(const async_generator&) = delete;
    async_generator& operator=(const async_generator&) = delete;
    ~async_generator() {
        if (h_) h_.destroy();
    }

    // Starts the body and waits for its first item.
    [[nodiscard]] auto begin() noexcept { return typename iterator::advance{h_, &it_}; }
    sentinel end() const noexcept { return {}; }

private:
    handle_type h_{};
    iterator it_{handle_type{}};
};

namespace detail {
template <class T>
async_generator<T> async_generator_promise<T>::get_return_object() noexcept {
    return async_generator<T>{std::coroutine_handle<async_generator_promise<T>>::from_promise(*this)};
}
}  // namespace detail

}  // namespace sy
