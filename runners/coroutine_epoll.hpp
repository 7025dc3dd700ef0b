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
    // Closes an fd used with this runner (pending ops end with -ECANCELED).
    void close(int fd) {
        backend().forget(fd);
        ::close(fd);
    }
};

}  // namespace sy
