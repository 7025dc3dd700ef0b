// epoll readiness for the `coroutine` and `fiber` models.
//
// Each fd is registered once, edge-triggered for both directions, the first
// time an op on it would block; ops always attempt the syscall first, so an
// edge that arrives after -EAGAIN is never lost. An eventfd is the doorbell
// other threads ring after queueing work in the remote queue. Fds must be
// closed through the runner (close()), so a reused fd number is registered
// afresh and pending ops end with -ECANCELED.
#pragma once

#include <cstdint>
#include <vector>

#include "runners/detail/fd_ops.hpp"
#include "runners/detail/intrusive.hpp"
#include "runners/detail/remote_queue.hpp"

namespace sy::detail {

class epoll_reactor {
public:
    epoll_reactor();
    ~epoll_reactor();
    epoll_reactor(const epoll_reactor&) = delete;
    epoll_reactor& operator=(const epoll_reactor&) = delete;

    // Wait for readiness of `op->fd`; `op->complete` runs once `attempt`
    // returns anything but -EAGAIN (or on registration failure).
    void arm(io_op* op, io_dir dir);
    // Unqueues `op` if it still waits (a wait_fd whose timeout came first);
    // its complete does not run. True if it was queued.
    bool disarm(io_op* op);
    // Ends pending ops on `fd` with -ECANCELED and forgets the registration.
    void forget(int fd);

    // Block up to timeout_ns (kForever: no limit; 0: just poll), dispatch.
    void wait(std::uint64_t timeout_ns);
    void poll() { wait(0); }
    bool needs_poll() const { return armed_ > 0; }
    std::size_t armed() const { return armed_; }

    remote_queue& remote() { return remote_; }
    void ring();  // doorbell, callable from any thread

private:
    struct fd_slot {
        intrusive_fifo<io_op> readers, writers;
        bool added = false;
    };
    fd_slot& slot(int fd);
    void dispatch(int fd, std::uint32_t events);
    void run_queue(intrusive_fifo<io_op>& q);

    int epfd_ = -1;
    int evfd_ = -1;
    std::size_t armed_ = 0;
    std::vector<fd_slot> fds_;
    remote_queue remote_;
};

}  // namespace sy::detail
