// Model `thread`: one OS thread (std::thread) per task; every operation is a
// blocking call. Sleeps are nanosleep, I/O is a plain blocking read/write/
// accept (detail::run_blocking: a non-blocking fd is made blocking once), the
// hand-offs are a mutex + condition variable, offload runs on a
// worker pool while the caller's thread waits. A switch is the kernel
// putting one thread to sleep and waking another (futex wait/wake).
//
// Threads are detached and joined through the task's state word, so tasks
// that have finished do not hold their stacks: a run can create far more
// threads over time than can be alive at once. Hitting a limit (threads,
// memory, map count) raises resource_error naming the limits.
#pragma once

#include <string_view>

#include "runners/affinity.hpp"
#include "runners/detail/blocking.hpp"
#include "runners/detail/co_scheduler.hpp"  // outcome_box
#include "runners/detail/fd_ops.hpp"
#include "runners/detail/owned_task.hpp"
#include "runners/detail/offload_pool.hpp"
#include "runners/detail/sync_awaiter.hpp"
#include "runners/task.hpp"

namespace sy {

// Awaitables shared by the models whose tasks block their OS thread.
class blocking_ops {
public:
    static constexpr bool cooperative = false;

    blocking_ops();
    ~blocking_ops();

    [[nodiscard]] auto yield() {
        return detail::sync_await([] { sched_yield(); });
    }
    [[nodiscard]] auto sleep_for(std::chrono::nanoseconds d) {
        return detail::sync_await([d] { sleep_ns(d); });
    }
    [[nodiscard]] auto read(int fd, void* buf, std::size_t n) {
        return detail::sync_await([=] {
            detail::read_op op(fd, buf, n);
            return detail::run_blocking(op, op.dir);
        });
    }
    [[nodiscard]] auto write(int fd, const void* buf, std::size_t n) {
        return detail::sync_await([=] {
            detail::write_op op(fd, buf, n);
            return detail::run_blocking(op, op.dir);
        });
    }
    [[nodiscard]] auto pread(int fd, void* buf, std::size_t n, off_t offset) {
        return detail::sync_await([=] {
            detail::pread_op op(fd, buf, n, offset);
            return detail::run_blocking(op, op.dir);
        });
    }
    [[nodiscard]] auto accept(int fd) {
        return detail::sync_await([=] {
            detail::accept_op op(fd, /*blocking_fd=*/true);
            return detail::run_blocking(op, op.dir);
        });
    }
    [[nodiscard]] auto connect(int fd, const sockaddr* addr, socklen_t len) {
        return detail::sync_await([=] {
            detail::connect_op op(fd, addr, len);
            return detail::run_blocking(op, op.dir);
        });
    }
    // poll(2) with the timeout: the thread blocks, as with every other op.
    [[nodiscard]] auto wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout) {
        return detail::sync_await([=] { return detail::wait_blocking(fd, events, timeout); });
    }
    void close(int fd) { ::close(fd); }

    // Runs fn on the offload pool; the calling thread waits for it.
    template <class F>
    [[nodiscard]] auto offload(F fn) {
        using R = std::invoke_result_t<F&>;
        return detail::sync_await([this, fn = std::move(fn)]() mutable -> R {
            detail::outcome_box<R> out;
            detail::latch done;
            offload_pool().submit([&] {
                out.capture(fn);
                done.set();
            });
            done.wait();
            return out.take();
        });
    }

    template <class T>
    class channel {
    public:
        template <class Runner>
        explicit channel(Runner&) {}
        [[nodiscard]] auto send(T v) {
            return detail::sync_await([this, v = std::move(v)]() mutable { ch_.send(std::move(v)); });
        }
        [[nodiscard]] auto recv() {
            return detail::sync_await([this] { return ch_.recv(); });
        }

    private:
        detail::blocking_channel<T> ch_;
    };

    class event {
    public:
        template <class Runner>
        explicit event(Runner&) {}
        void set() { l_.set(); }
        bool is_set() { return l_.is_set(); }
        [[nodiscard]] auto wait() {
            return detail::sync_await([this] { l_.wait(); });
        }

    private:
        detail::latch l_;
    };

protected:
    static void sleep_ns(std::chrono::nanoseconds d);
    detail::offload_pool& offload_pool();

private:
    std::mutex offload_mu_;
    std::unique_ptr<detail::offload_pool> offload_;
};

// Where the runner's threads run: pin:same puts every task thread on one
// CPU, pin:cross alternates two CPUs, none leaves it to the kernel.
struct thread_options {
    placement where = placement::none;
};

class thread_runner : public blocking_ops {
public:
    static constexpr std::string_view name = "thread";
    static constexpr bool placeable = true;  // accepts a CPU placement

    explicit thread_runner(thread_options opts = {});
    ~thread_runner() { live_.wait_zero(); }
    thread_runner(const thread_runner&) = delete;
    thread_runner& operator=(const thread_runner&) = delete;

    template <class T>
    class join_handle : public detail::owned_task<T, true> {
    public:
        using detail::owned_task<T, true>::owned_task;
        [[nodiscard]] auto join() {
            return detail::sync_await([this]() -> T { return this->result(); });
        }
    };

    template <class T>
    join_handle<T> spawn(task<T> t) {
        auto h = t.release();
        start_thread(h, h.promise());
        return join_handle<T>{h};
    }

    template <class T>
    T run(task<T> main) {
        auto jh = spawn(std::move(main));
        live_.wait_zero();
        return jh.result();
    }

    std::size_t live_tasks() { return live_.get(); }
    // Why a requested placement could not be applied ("" if it was).
    std::string placement_error();

private:
    void start_thread(std::coroutine_handle<> h, detail::promise_base& p);
    detail::live_counter live_;
    cpu_plan plan_;
    std::atomic<std::size_t> spawned_{0};
    std::mutex error_mu_;
    std::string placement_error_;
};

}  // namespace sy
