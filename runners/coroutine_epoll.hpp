// Model `coroutine`: C++20 stackless coroutines (sy::task) on an epoll loop.
//
// Scheduling: one OS thread; a FIFO ready queue of coroutine handles; a
// switch is a symmetric transfer from the suspending task's await_suspend to
// the next ready handle (a pop and an indirect tail call, no kernel entry).
// I/O is readiness-based: every read/write/accept/connect first tries the
// syscall; only on EAGAIN does the task park on the fd (edge-triggered
// epoll). Timers live in a hierarchical wheel (~131 us tick). Blocking work
// goes to a worker pool through offload() and comes back via an eventfd.
#pragma once

#include <string_view>

#include "runners/detail/co_scheduler.hpp"
#include "runners/detail/epoll_reactor.hpp"
#include "runners/detail/fd_ops.hpp"

namespace sy {

class coroutine_runner : public detail::co_scheduler<detail::epoll_reactor> {
public:
    static constexpr std::string_view name = "coroutine";

    template <class Op>
    struct io_awaiter : Op {
        coroutine_runner* rt;
        std::coroutine_handle<> h;
        template <class... A>
        explicit io_awaiter(coroutine_runner* r, A... args) : Op(args...), rt(r) {}
        bool await_ready() {
            this->result = this->attempt(this);
            return this->result != -EAGAIN;
        }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
            h = handle;
            this->complete = &done;
            rt->add_outstanding();
            rt->backend().arm(this, Op::dir);
            return rt->next();
        }
        io_result await_resume() const noexcept { return this->result; }
        static void done(detail::io_op* o) {
            auto* a = static_cast<io_awaiter*>(o);
            a->rt->sub_outstanding();
            a->rt->make_ready(a->h);
        }
    };

    [[nodiscard]] auto read(int fd, void* buf, std::size_t n) {
        return io_awaiter<detail::read_op>(this, fd, buf, n);
    }
    [[nodiscard]] auto write(int fd, const void* buf, std::size_t n) {
        return io_awaiter<detail::write_op>(this, fd, buf, n);
    }
    [[nodiscard]] auto pread(int fd, void* buf, std::size_t n, off_t offset) {
        return io_awaiter<detail::pread_op>(this, fd, buf, n, offset);
    }
    [[nodiscard]] auto accept(int fd) { return io_awaiter<detail::accept_op>(this, fd); }
    [[nodiscard]] auto connect(int fd, const sockaddr* addr, socklen_t len) {
        return io_awaiter<detail::connect_op>(this, fd, addr, len);
    }
    // Readiness with a bound (see detail/fd_ops.hpp): the fd waits in the
    // epoll reactor and a timer in the wheel; whichever comes first unlinks
    // the other and resumes the task.
    struct wait_awaiter : detail::poll_op {
        struct timer : detail::timer_node {
            wait_awaiter* self;
        } t;
        coroutine_runner* rt;
        std::coroutine_handle<> h;
        std::uint64_t ns;
        wait_awaiter(coroutine_runner* r, int fd, unsigned ev, std::uint64_t n)
            : poll_op(fd, ev), rt(r), ns(n) {}
        bool await_ready() {
            this->result = this->attempt(this);
            if (this->result == -EAGAIN && ns == 0) this->result = kWaitTimeout;
            return this->result != -EAGAIN;
        }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
            h = handle;
            this->complete = &done;
            t.self = this;
            t.deadline_ns = detail::now_ns() + ns;
            t.fire = &timed_out;
            rt->add_outstanding();
            rt->add_timer(&t);  // first: arm() may complete at once
            rt->backend().arm(this, dir());
            return rt->next();
        }
        io_result await_resume() const noexcept { return this->result; }
        static void done(detail::io_op* o) {
            auto* a = static_cast<wait_awaiter*>(o);
            a->rt->cancel_timer(&a->t);
            a->rt->sub_outstanding();
            a->rt->make_ready(a->h);
        }
        static void timed_out(detail::timer_node* n) {
            wait_awaiter* a = static_cast<timer*>(n)->self;
            a->rt->backend().disarm(a);
            a->result = kWaitTimeout;
            a->rt->sub_outstanding();
            a->rt->make_ready(a->h);
        }
    };
    [[nodiscard]] auto wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout) {
        return wait_awaiter(this, fd, events, detail::wait_ns(timeout));
    }

    // Closes an fd used with this runner (pending ops end with -ECANCELED).
    void close(int fd) {
        backend().forget(fd);
        ::close(fd);
    }
};

}  // namespace sy
