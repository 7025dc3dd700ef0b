// Model `coroutine_uring`: the same sy::task coroutines and scheduler as
// `coroutine`, on an io_uring completion loop instead of epoll readiness.
//
// I/O is completion-based: an await queues an SQE (read, write, accept,
// connect) and suspends; all SQEs queued during a loop turn go to the kernel
// in one io_uring_enter, which also reaps completions (one syscall per turn,
// not per operation). Setup uses SINGLE_ISSUER + DEFER_TASKRUN when the
// kernel has them. Timers are the same wheel; the wait timeout is passed to
// io_uring_enter (no timeout SQEs). Construct and run on the same thread.
#pragma once

#include <poll.h>

#include <string_view>

#include "runners/detail/co_scheduler.hpp"
#include "runners/detail/uring_loop.hpp"

namespace sy {

class coroutine_uring_runner : public detail::co_scheduler<detail::uring_loop> {
public:
    static constexpr std::string_view name = "coroutine_uring";

    template <class Op>
    struct io_awaiter : Op {
        coroutine_uring_runner* rt;
        std::coroutine_handle<> h;
        int res = 0;
        bool await_ready() const noexcept { return false; }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
            h = handle;
            this->complete = &done;
            rt->add_outstanding();
            rt->backend().submit(this);
            return rt->next();
        }
        io_result await_resume() const noexcept { return res; }
        static void done(detail::uring_op* o, int r, unsigned) {
            auto* a = static_cast<io_awaiter*>(o);
            a->res = r;
            a->rt->sub_outstanding();
            a->rt->make_ready(a->h);
        }
    };

    [[nodiscard]] auto read(int fd, void* buf, std::size_t n) {
        io_awaiter<detail::uring_rw_op> a;
        a.rt = this;
        a.fd = fd;
        a.buf = buf;
        a.len = unsigned(n);
        a.prep = &detail::prep_read;
        a.poll_events = POLLIN;
        return a;
    }
    [[nodiscard]] auto write(int fd, const void* buf, std::size_t n) {
        io_awaiter<detail::uring_rw_op> a;
        a.rt = this;
        a.fd = fd;
        a.buf = const_cast<void*>(buf);
        a.len = unsigned(n);
        a.prep = &detail::prep_write;
        a.poll_events = POLLOUT;
        return a;
    }
    [[nodiscard]] auto accept(int fd) {
        io_awaiter<detail::uring_op> a;
        a.rt = this;
        a.fd = fd;
        a.prep = &detail::prep_accept;
        a.poll_events = POLLIN;
        return a;
    }
    [[nodiscard]] auto connect(int fd, const sockaddr* addr, socklen_t len) {
        io_awaiter<detail::uring_connect_op> a;
        a.rt = this;
        a.fd = fd;
        a.addr = addr;
        a.addrlen = len;
        a.prep = &detail::prep_connect;
        return a;
    }
    // Cancels ops in flight on fd (they end with -ECANCELED), then closes it.
    void close(int fd) {
        backend().cancel_fd(fd);
        ::close(fd);
    }
};

}  // namespace sy
