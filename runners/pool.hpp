// Model `pool`: a fixed pool of worker threads (default: one per CPU) and a
// task queue -- the executor / run_in_executor analog. A task runs on a
// worker from start to end; every await is a blocking call that holds the
// worker (sleep, I/O, a hand-off), exactly as a blocking function submitted
// to an executor does.
//
// Queues: each worker has its own deque (tasks it spawns go there, and it
// takes the newest first), plus a shared injection queue for tasks from
// outside; an idle worker steals the oldest task of another. Joining a task
// runs the joiner's own queued tasks meanwhile (a "helping" join, as in
// fork-join pools), so a tree of tasks finishes even on one worker.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "runners/thread.hpp"

namespace sy {

struct pool_options {
    unsigned workers = 0;  // 0: one per CPU this process may use
    placement where = placement::none;  // worker i's CPU (see thread_options)
};

class pool_runner : public blocking_ops {
public:
    static constexpr std::string_view name = "pool";
    static constexpr bool placeable = true;  // accepts a CPU placement
    // A waiting task holds its worker: at most workers() tasks wait at once,
    // the rest stay queued.
    static constexpr bool bounded_waiters = true;

    explicit pool_runner(pool_options opts = {});
    ~pool_runner();
    pool_runner(const pool_runner&) = delete;
    pool_runner& operator=(const pool_runner&) = delete;

    template <class T>
    class join_handle : public detail::owned_task<T, true, pool_runner> {
    public:
        using detail::owned_task<T, true, pool_runner>::owned_task;
        // Joining runs the joiner's own queued tasks meanwhile (helping join).
        [[nodiscard]] auto join() {
            return detail::sync_await([this]() -> T {
                detail::wait_blocking(this->h_.promise(), [this] { return this->rt_->help_one(); });
                return this->h_.promise().take();
            });
        }
    };

    template <class T>
    join_handle<T> spawn(task<T> t) {
        auto h = t.release();
        submit({h, &h.promise()});
        return join_handle<T>{h, this};
    }

    template <class T>
    T run(task<T> main) {
        auto jh = spawn(std::move(main));
        live_.wait_zero();
        return jh.result();
    }

    unsigned workers() const { return unsigned(workers_.size()); }
    // Why a requested placement could not be applied ("" if it was).
    std::string placement_error();
    std::size_t live_tasks() { return live_.get(); }

private:
    struct job {
        std::coroutine_handle<> h;
        detail::promise_base* p;
        explicit operator bool() const { return bool(h); }
    };
    struct worker {
        std::mutex mu;
        std::deque<job> tasks;
        std::thread thread;
    };
    void submit(job j);
    bool help_one();  // run one task from the calling worker's own deque
    job take(unsigned self);
    void work(unsigned self);
    void run_task(job j);

    std::vector<std::unique_ptr<worker>> workers_;
    std::mutex mu_;  // injection queue + sleeping workers
    std::condition_variable cv_;
    std::deque<job> inject_;
    std::size_t queued_ = 0;  // tasks in any queue (under mu_)
    bool stop_ = false;
    detail::live_counter live_;
    std::string placement_error_;  // under mu_
};

}  // namespace sy
