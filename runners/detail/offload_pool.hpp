// Worker threads for offload(): the run_in_executor analog. A loop submits a
// blocking function; a worker runs it and calls the completion on the worker
// thread (which hands the result back to the loop through its remote queue).
// Started lazily on the first offload, joined when the runner is destroyed.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace sy::detail {

// Default size: one worker per CPU this process may use.
unsigned default_worker_count();

class offload_pool {
public:
    explicit offload_pool(unsigned workers = 0) : size_(workers ? workers : default_worker_count()) {}
    ~offload_pool();
    offload_pool(const offload_pool&) = delete;
    offload_pool& operator=(const offload_pool&) = delete;

    void submit(std::function<void()> job);
    unsigned size() const { return size_; }

private:
    void start();
    void work();
    unsigned size_;
    std::mutex mu_;
    std::condition_variable cv_;
    std::deque<std::function<void()>> jobs_;
    std::vector<std::thread> threads_;
    bool stop_ = false;
};

}  // namespace sy::detail
