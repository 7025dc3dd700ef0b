// Blocking primitives for the models whose tasks own an OS thread while they
// run (`thread`, `pool`): a one-slot channel and an event on a mutex and
// condition variables, a latch for offload, a counter of live tasks, and the
// join protocol on a spawned task's state word.
//
// Join protocol. The finishing thread sets kDone|kBusy in one atomic RMW,
// wakes waiters, then clears kBusy; it touches the frame no more after that.
// A joiner waits for kDone, then for kBusy to clear, before it reads the
// result or frees the frame. A dropped handle sets kDetached; whichever side
// sees the other's bit in its RMW destroys the frame. So a frame is freed
// exactly once and never while the other thread still touches it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <coroutine>
#include <cstdint>
#include <mutex>
#include <optional>

#include "runners/task.hpp"

namespace sy::detail {

inline constexpr std::uint32_t kBusy = 8;

inline std::atomic_ref<std::uint32_t> state_of(promise_base& p) {
    return std::atomic_ref<std::uint32_t>(p.state);
}

inline void cpu_relax() { __builtin_ia32_pause(); }

// The task's thread, after its body returned.
inline void complete_blocking(std::coroutine_handle<> h, promise_base& p) {
    auto st = state_of(p);
    std::uint32_t old = st.fetch_or(kDone | kBusy, std::memory_order_acq_rel);
    if (old & kDetached) {
        h.destroy();
        return;
    }
    st.notify_all();
    st.fetch_and(~kBusy, std::memory_order_release);
}

// Wait until the task is done and its thread has let go of the frame.
// `help()` may run other work while waiting; it returns false when there is
// none, and then we block.
template <class Help>
void wait_blocking(promise_base& p, Help help) {
    auto st = state_of(p);
    for (;;) {
        std::uint32_t v = st.load(std::memory_order_acquire);
        if (v & kDone) break;
        if (help()) continue;
        st.wait(v, std::memory_order_acquire);
    }
    while (st.load(std::memory_order_acquire) & kBusy) cpu_relax();
}

// A dropped join handle: destroy now if done, else let the task do it.
inline void drop_blocking(std::coroutine_handle<> h, promise_base& p) {
    auto st = state_of(p);
    std::uint32_t old = st.fetch_or(kDetached, std::memory_order_acq_rel);
    if (old & kDone) {
        while (st.load(std::memory_order_acquire) & kBusy) cpu_relax();
        h.destroy();
    }
}

// Count of live tasks; run() waits for zero. Notifying under the lock makes
// it safe for the waiter to destroy the runner as soon as wait() returns.
class live_counter {
public:
    void add() {
        std::lock_guard l(m_);
        ++n_;
    }
    void sub() {
        std::lock_guard l(m_);
        if (--n_ == 0) cv_.notify_all();
    }
    void wait_zero() {
        std::unique_lock l(m_);
        cv_.wait(l, [this] { return n_ == 0; });
    }
    std::size_t get() {
        std::lock_guard l(m_);
        return n_;
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    std::size_t n_ = 0;
};

// One-shot: set once from any thread, wait from any thread.
class latch {
public:
    void set() {
        std::lock_guard l(m_);
        done_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock l(m_);
        cv_.wait(l, [this] { return done_; });
    }
    bool is_set() {
        std::lock_guard l(m_);
        return done_;
    }

private:
    std::mutex m_;
    std::condition_variable cv_;
    bool done_ = false;
};

// One-slot channel between OS threads (mutex + two condition variables).
template <class T>
class blocking_channel {
public:
    void send(T v) {
        std::unique_lock l(m_);
        not_full_.wait(l, [this] { return !slot_; });
        slot_.emplace(std::move(v));
        not_empty_.notify_one();
    }
    T recv() {
        std::unique_lock l(m_);
        not_empty_.wait(l, [this] { return bool(slot_); });
        T v = std::move(*slot_);
        slot_.reset();
        not_full_.notify_one();
        return v;
    }

private:
    std::mutex m_;
    std::condition_variable not_full_, not_empty_;
    std::optional<T> slot_;
};

}  // namespace sy::detail
