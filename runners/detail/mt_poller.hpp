// One epoll instance shared by the workers of `coroutine_mt` (the I/O half
// of the M:N scheduler, in the manner of Go's netpoller).
//
// Why shared, not one per worker: a task may suspend on one worker and be
// resumed on another, so a per-worker poller would need fds migrated or
// readiness forwarded between pollers; with one poller any parked worker can
// wait for I/O, and a running worker polls it without blocking once per turn
// (whoever takes the driver role first; see coroutine_mt.hpp).
//
// Thread safety: the per-fd wait queues are under one mutex. epoll_pwait2
// runs without it (one thread at a time: the caller holds the driver role),
// then dispatch takes it. arm() re-attempts the syscall under the mutex
// before queueing, so an edge dispatched between the awaiter's first attempt
// (-EAGAIN) and the queueing is never lost: either the dispatch ran first and
// the re-attempt succeeds, or the op is queued when the dispatch looks.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <vector>

#include "runners/detail/fd_ops.hpp"
#include "runners/detail/intrusive.hpp"

namespace sy::detail {

class mt_poller {
public:
    mt_poller();
    ~mt_poller();
    mt_poller(const mt_poller&) = delete;
    mt_poller& operator=(const mt_poller&) = delete;

    // Queues `op` until its fd is ready, or completes it at once: returns
    // false when op->result is already final (ready, or an error).
    // `op->complete` later runs on the thread that dispatches, under the lock.
    bool arm(io_op* op, io_dir dir);
    // Unqueues `op` if it still waits (a wait_fd whose timeout came first);
    // its complete does not run. True if it was queued.
    bool disarm(io_op* op);
    // Ends pending ops on `fd` with -ECANCELED and forgets the registration.
    void forget(int fd);
    // Block up to timeout_ns (0: just poll), then dispatch. One caller at a time.
    void wait(std::uint64_t timeout_ns);
    // Doorbell: makes a blocked wait() return. Any thread.
    void ring();

    std::size_t armed() const { return armed_.load(std::memory_order_acquire); }
    std::mutex& mutex() { return mu_; }  // held while ops complete

private:
    struct fd_slot {
        intrusive_fifo<io_op> readers, writers;
        bool added = false;
    };
    fd_slot& slot(int fd);
    void run_queue(intrusive_fifo<io_op>& q);

    std::mutex mu_;
    int epfd_ = -1;
    int evfd_ = -1;
    std::atomic<std::size_t> armed_{0};
    std::vector<fd_slot> fds_;  // under mu_
};

}  // namespace sy::detail
