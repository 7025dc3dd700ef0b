// pool_runner: worker loop, queues, stealing, helping join.
#include "runners/pool.hpp"

#include "runners/errors.hpp"

namespace sy {

namespace {
// Which worker of which pool the calling thread is (for spawn and help).
thread_local const void* tl_pool = nullptr;
thread_local unsigned tl_index = 0;
}  // namespace

pool_runner::pool_runner(pool_options opts) {
    unsigned n = opts.workers ? opts.workers : detail::default_worker_count();
    workers_.reserve(n);
    for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<worker>());
    cpu_plan plan(opts.where);
    placement_error_ = plan.error;
    for (unsigned i = 0; i < n; ++i) {
        std::optional<int> cpu = plan.cpu(i);
        try {
            workers_[i]->thread = std::thread([this, i, cpu] {
                if (cpu) {
                    std::string err = pin_this_thread(*cpu);
                    if (!err.empty()) {
                        std::lock_guard l(mu_);
                        placement_error_ = err;
                    }
                }
                work(i);
            });
        } catch (const std::system_error& e) {
            {
                std::lock_guard l(mu_);
                stop_ = true;
            }
            cv_.notify_all();
            for (unsigned j = 0; j < i; ++j) workers_[j]->thread.join();
            throw resource_error(std::string("pool: cannot start worker thread (") + e.what() +
                                 "; " + thread_limits_text() + ")");
        }
    }
}

std::string pool_runner::placement_error() {
    std::lock_guard l(mu_);
    return placement_error_;
}

pool_runner::~pool_runner() {
    live_.wait_zero();
    {
        std::lock_guard l(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w->thread.join();
}

void pool_runner::submit(job h) {
    live_.add();
    if (tl_pool == this) {
        worker& w = *workers_[tl_index];
        std::lock_guard l(w.mu);
        w.tasks.push_back(h);
    } else {
        std::lock_guard l(mu_);
        inject_.push_back(h);
    }
    {
        std::lock_guard l(mu_);
        ++queued_;
    }
    cv_.notify_one();
}

pool_runner::job pool_runner::take(unsigned self) {
    {  // own deque, newest first
        worker& w = *workers_[self];
        std::lock_guard l(w.mu);
        if (!w.tasks.empty()) {
            auto h = w.tasks.back();
            w.tasks.pop_back();
            return h;
        }
    }
    {
        std::lock_guard l(mu_);
        if (!inject_.empty()) {
            auto h = inject_.front();
            inject_.pop_front();
            return h;
        }
    }
    for (unsigned k = 1; k < workers_.size(); ++k) {  // steal the oldest
        worker& v = *workers_[(self + k) % workers_.size()];
        std::lock_guard l(v.mu);
        if (!v.tasks.empty()) {
            auto h = v.tasks.front();
            v.tasks.pop_front();
            return h;
        }
    }
    return {};
}

void pool_runner::run_task(job j) {
    {
        std::lock_guard l(mu_);
        --queued_;
    }
    j.h.resume();  // the whole body; awaits block this worker
    detail::complete_blocking(j.h, *j.p);
    live_.sub();
}

bool pool_runner::help_one() {
    if (tl_pool != this) return false;
    worker& w = *workers_[tl_index];
    job h;
    {
        std::lock_guard l(w.mu);
        if (w.tasks.empty()) return false;
        h = w.tasks.back();
        w.tasks.pop_back();
    }
    run_task(h);
    return true;
}

void pool_runner::work(unsigned self) {
    tl_pool = this;
    tl_index = self;
    for (;;) {
        if (auto h = take(self)) {
            run_task(h);
            continue;
        }
        std::unique_lock l(mu_);
        cv_.wait(l, [this] { return stop_ || queued_ > 0; });
        if (stop_ && queued_ == 0) return;
    }
}

}  // namespace sy
