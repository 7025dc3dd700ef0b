// Work handed to a loop from other threads (offload completions, events set
// from another thread). Producers lock, append and ring the loop's doorbell
// (an eventfd); the loop swaps the whole batch out under the lock and runs
// it on its own thread. `pending` lets the loop check cheaply each turn.
#pragma once

#include <atomic>
#include <mutex>
#include <vector>

namespace sy::detail {

struct remote_item {
    void (*fn)(void*);
    void* arg;
};

class remote_queue {
public:
    // Returns true when the queue was empty (the caller rings the doorbell).
    bool push(remote_item item) {
        std::lock_guard lock(mu_);
        items_.push_back(item);
        pending_.store(true, std::memory_order_release);
        return items_.size() == 1;
    }
    bool pending() const { return pending_.load(std::memory_order_acquire); }
    // Runs every queued item; returns how many ran.
    std::size_t drain() {
        {
            std::lock_guard lock(mu_);
            batch_.swap(items_);
            pending_.store(false, std::memory_order_relaxed);
        }
        std::size_t n = batch_.size();
        for (auto& it : batch_) it.fn(it.arg);
        batch_.clear();
        return n;
    }

private:
    std::mutex mu_;
    std::vector<remote_item> items_, batch_;
    std::atomic<bool> pending_{false};
};

}  // namespace sy::detail
