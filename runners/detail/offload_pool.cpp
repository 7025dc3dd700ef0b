// offload_pool: a mutex + condition-variable queue and N threads.
#include "runners/detail/offload_pool.hpp"

#include <sched.h>

#include "runners/affinity.hpp"
#include "runners/errors.hpp"

namespace sy::detail {

unsigned default_worker_count() { return usable_cpu_count(); }

offload_pool::~offload_pool() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
}

void offload_pool::start() {
    threads_.reserve(size_);
    for (unsigned i = 0; i < size_; ++i) {
        try {
            threads_.emplace_back([this] { work(); });
        } catch (const std::system_error& e) {
            throw resource_error("offload pool: cannot start worker thread " + std::to_string(i) +
                                 ": " + e.what() + " (" + thread_limits_text() + ")");
        }
    }
}

void offload_pool::submit(std::function<void()> job) {
    {
        std::lock_guard lock(mu_);
        if (threads_.empty()) start();
        jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
}

void offload_pool::work() {
    for (;;) {
        std::function<void()> job;
        {
            std::unique_lock lock(mu_);
            cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
            if (jobs_.empty()) return;  // stop_ and drained
            job = std::move(jobs_.front());
            jobs_.pop_front();
        }
        job();
    }
}

}  // namespace sy::detail
