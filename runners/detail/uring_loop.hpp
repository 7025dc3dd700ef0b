// The io_uring ring shared by `coroutine_uring` and `uring`: setup with the
// fastest flags the kernel accepts (SINGLE_ISSUER + DEFER_TASKRUN, else
// COOP_TASKRUN, else none), one submission per loop turn, completion
// dispatch through `user_data` = a uring_op*, and an eventfd doorbell
// watched by a multishot poll for cross-thread work.
//
// user_data encoding: always the address of a uring_op (never packed bits);
// nullptr marks completions we ignore (cancellations).
//
// An op that completes with -EAGAIN (older kernels on O_NONBLOCK fds) is
// re-armed with a one-shot poll and resubmitted, so models see the same
// "wait until done" semantics everywhere.
//
// SINGLE_ISSUER: construct the runner on the thread that runs it.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "runners/detail/fd_ops.hpp"
#include "runners/detail/remote_queue.hpp"

namespace sy {

// io_uring cannot be used here (old kernel, seccomp, io_uring_disabled).
struct uring_unavailable : std::runtime_error {
    using std::runtime_error::runtime_error;
};

namespace detail {

inline constexpr unsigned kRingEntries = 4096;
// Flow control of a multishot recv: once a stream holds this many chunks its
// reader has not released, the recv is cancelled (the peer's sends then block:
// backpressure); it is re-armed when fewer than half remain.
inline constexpr unsigned kMaxHeldChunks = 8;

struct uring_op {
    // Called with the CQE's res and flags.
    void (*complete)(uring_op*, int res, unsigned flags) = nullptr;
    // Fills an SQE for this op (kept so -EAGAIN can resubmit it).
    void (*prep)(uring_op*, io_uring_sqe*) = nullptr;
    int fd = -1;            // the fd an fd op works on
    short poll_events = 0;  // for -EAGAIN re-arming: POLLIN or POLLOUT
    bool polling = false;   // the in-flight SQE is the re-arming poll
    bool multishot = false; // stays in flight while CQEs carry IORING_CQE_F_MORE
};

// Provided buffers (kernel 5.19+): the kernel picks a buffer for each
// multishot recv completion (its id is in the CQE flags); the program hands
// it back with release() when done with the bytes. liburing 2.3 has no
// io_uring_setup_buf_ring, so the ring is mapped and registered here.
class buffer_ring {
public:
    static constexpr unsigned kEntries = 4096;     // buffers (power of two)
    static constexpr unsigned kBufSize = 16 * 1024;  // bytes each
    static constexpr unsigned short kGroup = 1;

    explicit buffer_ring(io_uring* ring);
    ~buffer_ring();
    buffer_ring(const buffer_ring&) = delete;
    buffer_ring& operator=(const buffer_ring&) = delete;

    char* data(unsigned bid) { return bufs_ + std::size_t(bid) * kBufSize; }
    void release(unsigned bid) {
        io_uring_buf_ring_add(br_, data(bid), kBufSize, static_cast<unsigned short>(bid),
                              io_uring_buf_ring_mask(kEntries), 0);
        io_uring_buf_ring_advance(br_, 1);
    }

private:
    io_uring* ring_;
    io_uring_buf_ring* br_ = nullptr;
    char* bufs_ = nullptr;
};

class uring_loop {
public:
    uring_loop();
    ~uring_loop();
    uring_loop(const uring_loop&) = delete;
    uring_loop& operator=(const uring_loop&) = delete;

    // Queue `op` (its prep fills the SQE); submitted at the next poll/wait.
    void submit(uring_op* op) {
        io_uring_sqe* s = sqe();
        op->polling = false;
        op->prep(op, s);
        io_uring_sqe_set_data(s, op);
        ++inflight_;
    }
    // Queue `op` linked to a timeout (IOSQE_IO_LINK + IORING_OP_LINK_TIMEOUT):
    // if `ts` passes first the kernel cancels op (it completes with
    // -ECANCELED); the timeout's own completion is ignored (user_data 0).
    // `ts` must stay valid until the next submission.
    void submit_linked_timeout(uring_op* op, __kernel_timespec* ts);
    // Cancel one op in flight (its last completion arrives as usual, with
    // -ECANCELED unless it completed first). Queued for the next submission.
    void cancel_op(uring_op* op) {
        io_uring_sqe* s = sqe();
        io_uring_prep_cancel64(s, reinterpret_cast<std::uint64_t>(op), 0);
        io_uring_sqe_set_data(s, nullptr);
    }
    // Cancel every op in flight on fd (their completions arrive as usual,
    // with -ECANCELED). Submits at once, because the kernel matches the file
    // the fd refers to now: call it before closing the fd. Never reaps, so it
    // is safe inside a completion callback.
    void cancel_fd(int fd);

    void wait(std::uint64_t timeout_ns);  // submit, wait <= timeout, dispatch
    void poll();                          // submit, dispatch what is there
    bool needs_poll() const { return inflight_ > 0 || io_uring_sq_ready(&ring_) > 0; }
    std::size_t inflight() const { return inflight_; }

    remote_queue& remote() { return remote_; }
    void ring();  // doorbell, callable from any thread

    // Which setup path ran, for results' context.
    std::string describe() const;

    // Multishot accept / recv with provided buffers, when the kernel has them.
    bool can_multishot_accept() const;
    bool can_recv_multishot() const;  // multishot recv and buffer rings
    buffer_ring& buffers();           // created on first use

private:
    io_uring_sqe* sqe();
    void dispatch();
    void arm_doorbell();
    static void doorbell_done(uring_op* op, int res, unsigned flags);

    io_uring ring_;
    unsigned flags_ = 0;
    std::size_t inflight_ = 0;
    int evfd_ = -1;
    uring_op doorbell_;
    remote_queue remote_;
    std::unique_ptr<buffer_ring> buffers_;
};

// Prep functions for the fd operations (op types carry their arguments).
struct uring_rw_op : uring_op {
    void* buf = nullptr;
    unsigned len = 0;
    std::uint64_t offset = std::uint64_t(-1);  // -1: the fd's current position
};
// wait_fd: IORING_OP_POLL_ADD for poll_events, bounded by a linked timeout.
struct uring_poll_op : uring_op {
    __kernel_timespec ts{};
    std::uint64_t deadline_ns = 0;
    unsigned events = 0;  // kWait* bits asked for
    // The wait's result from the poll's CQE: ready bits, kWaitTimeout when
    // the linked timeout cancelled it (at or after the deadline), or -errno.
    io_result result_of(int res) const;
};
struct uring_connect_op : uring_op {
    const sockaddr* addr = nullptr;
    socklen_t addrlen = 0;
};

void prep_read(uring_op* op, io_uring_sqe* s);  // at the op's offset
void prep_write(uring_op* op, io_uring_sqe* s);
void prep_accept(uring_op* op, io_uring_sqe* s);
void prep_multishot_accept(uring_op* op, io_uring_sqe* s);
void prep_recv_multishot(uring_op* op, io_uring_sqe* s);  // into the buffer ring
void prep_connect(uring_op* op, io_uring_sqe* s);
void prep_poll(uring_op* op, io_uring_sqe* s);
// Fills op (a uring_poll_op) for fd, events and a timeout of ns > 0.
void setup_poll(uring_poll_op& op, int fd, unsigned events, std::uint64_t ns);

}  // namespace detail
}  // namespace sy
