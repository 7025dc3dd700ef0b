// A test-and-set lock for critical sections of a few instructions (a queue
// push or pop, a channel hand-off). Why not std::mutex: its unlock is an
// atomic RMW as well as its lock, and an uncontended pair was 40% of a
// coroutine_mt channel switch (perf, this VM); here unlock is a plain
// release store. A waiter spins with pause, then yields its CPU (these
// sections never block, but the holder may be preempted on a busy machine).
#pragma once

#include <atomic>
#include <thread>

namespace sy::detail {

inline constexpr int kSpinsBeforeYield = 64;

class spin_lock {
public:
    void lock() noexcept {
        for (int spins = 0; held_.exchange(true, std::memory_order_acquire);) {
            while (held_.load(std::memory_order_relaxed)) {
                if (++spins < kSpinsBeforeYield) {
                    __builtin_ia32_pause();
                } else {
                    spins = 0;
                    std::this_thread::yield();
                }
            }
        }
    }
    bool try_lock() noexcept { return !held_.exchange(true, std::memory_order_acquire); }
    void unlock() noexcept { held_.store(false, std::memory_order_release); }

private:
    std::atomic<bool> held_{false};
};

}  // namespace sy::detail
