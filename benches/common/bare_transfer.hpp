// Two C++20 coroutines handing control to each other by symmetric transfer,
// with no scheduler: the floor of a coroutine switch. Used by
// switch/bare_coroutine (benches/switch.cpp) and by the calibrate step's
// coroutine_switch_ns (benches/calibrate/calibrate.cpp), so both are the
// same measurement. Every hop adds the incremented token to `sum`.
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>

namespace sy::bench::bare {

// A coroutine that starts suspended and is destroyed by its owner.
struct co {
    struct promise_type {
        co get_return_object() { return {std::coroutine_handle<promise_type>::from_promise(*this)}; }
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
    std::coroutine_handle<> await_suspend(std::coroutine_handle<>) const noexcept { return *target; }
    void await_resume() const noexcept {}
};

struct pair_state {
    std::uint64_t token = 0, sum = 0, hops = 0;
    std::coroutine_handle<> a, b;
};

// Side A makes `hops` round trips per resume from main, then suspends back.
inline co side_a(pair_state& p) {
    for (;;) {
        for (std::uint64_t i = 0; i < p.hops; ++i) {
            p.sum += ++p.token;
            co_await transfer_to{&p.b};
        }
        co_await std::suspend_always{};  // batch done: back to main
    }
}

inline co side_b(pair_state& p) {
    for (;;) {
        p.sum += ++p.token;
        co_await transfer_to{&p.a};
    }
}

// The two sides, wired to each other; a batch is one resume() of A.
class pair {
public:
    explicit pair(std::uint64_t round_trips) : a_(side_a(p_)), b_(side_b(p_)) {
        p_.hops = round_trips;
        p_.a = a_.h;
        p_.b = b_.h;
    }
    ~pair() {
        a_.h.destroy();
        b_.h.destroy();
    }
    pair(const pair&) = delete;
    pair& operator=(const pair&) = delete;

    // One batch of 2 * round_trips switches; returns its checksum.
    std::uint64_t run_batch() {
        p_.token = p_.sum = 0;
        a_.h.resume();
        return p_.sum;
    }
    std::uint64_t switches_per_batch() const { return 2 * p_.hops; }

private:
    pair_state p_;
    co a_, b_;
};

}  // namespace sy::bench::bare
