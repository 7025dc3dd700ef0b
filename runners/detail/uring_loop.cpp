// uring_loop: ring setup with probed flags, submission, waiting, dispatch,
// -EAGAIN re-arming and the eventfd doorbell.
#include "runners/detail/uring_loop.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

#include "runners/detail/clock.hpp"
#include "runners/errors.hpp"
#include "runners/probe.hpp"

namespace sy::detail {

uring_loop::uring_loop() {
    ignore_sigpipe();
    const uring_support& sup = probe_uring();
    if (!sup.available) throw uring_unavailable(sup.reason);
    io_uring_params p{};
    p.flags = sup.setup_flags;
    int r = io_uring_queue_init_params(kRingEntries, &ring_, &p);
    if (r < 0) {
        if (r == -ENOMEM || r == -EMFILE || r == -ENFILE)
            throw resource_error("io_uring_queue_init: " + errno_text(-r) +
                                 " (locked memory, " + fd_limit_text() + ")");
        throw uring_unavailable("io_uring_queue_init: " + errno_text(-r));
    }
    flags_ = sup.setup_flags;
    evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (evfd_ < 0) {
        int err = errno;
        io_uring_queue_exit(&ring_);
        throw resource_error("eventfd: " + errno_text(err) + " (" + fd_limit_text() + ")");
    }
    doorbell_.complete = &doorbell_done;
    arm_doorbell();
}

uring_loop::~uring_loop() {
    ::close(evfd_);
    io_uring_queue_exit(&ring_);
}

std::string uring_loop::describe() const {
    std::string s;
    if (flags_ & IORING_SETUP_SINGLE_ISSUER) s += "single_issuer ";
    if (flags_ & IORING_SETUP_DEFER_TASKRUN) s += "defer_taskrun ";
    if (flags_ & IORING_SETUP_COOP_TASKRUN) s += "coop_taskrun ";
    if (flags_ & IORING_SETUP_SUBMIT_ALL) s += "submit_all ";
    if (s.empty()) s = "no setup flags ";
    s.pop_back();
    return s;
}

io_uring_sqe* uring_loop::sqe() {
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    while (!s) {  // SQ full: submit what we have and try again
        io_uring_submit(&ring_);
        s = io_uring_get_sqe(&ring_);
    }
    return s;
}

void uring_loop::arm_doorbell() {
    io_uring_sqe* s = sqe();
    io_uring_prep_poll_multishot(s, evfd_, POLLIN);
    io_uring_sqe_set_data(s, &doorbell_);
}

void uring_loop::doorbell_done(uring_op*, int, unsigned) {}

bool uring_loop::can_multishot_accept() const { return probe_uring().multishot_accept; }
bool uring_loop::can_recv_multishot() const {
    return probe_uring().recv_multishot && probe_uring().buf_ring;
}

buffer_ring& uring_loop::buffers() {
    if (!buffers_) buffers_ = std::make_unique<buffer_ring>(&ring_);
    return *buffers_;
}

buffer_ring::buffer_ring(io_uring* ring) : ring_(ring) {
    std::size_t ring_bytes = kEntries * sizeof(io_uring_buf);
    void* r = mmap(nullptr, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    void* b = mmap(nullptr, std::size_t(kEntries) * kBufSize, PROT_READ | PROT_WRITE,
                   MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (r == MAP_FAILED || b == MAP_FAILED)
        throw resource_error("io_uring buffer ring: mmap failed: " + errno_text(errno));
    br_ = static_cast<io_uring_buf_ring*>(r);
    bufs_ = static_cast<char*>(b);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<unsigned long>(br_);
    reg.ring_entries = kEntries;
    reg.bgid = kGroup;
    int err = io_uring_register_buf_ring(ring_, &reg, 0);
    if (err != 0) throw uring_unavailable("io_uring_register_buf_ring: " + errno_text(-err));
    io_uring_buf_ring_init(br_);
    for (unsigned i = 0; i < kEntries; ++i)
        io_uring_buf_ring_add(br_, data(i), kBufSize, static_cast<unsigned short>(i),
                              io_uring_buf_ring_mask(kEntries), int(i));
    io_uring_buf_ring_advance(br_, int(kEntries));
}

buffer_ring::~buffer_ring() {
    io_uring_unregister_buf_ring(ring_, kGroup);
    munmap(br_, kEntries * sizeof(io_uring_buf));
    munmap(bufs_, std::size_t(kEntries) * kBufSize);
}

void uring_loop::ring() {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(evfd_, &one, sizeof one);
}

void uring_loop::submit_linked_timeout(uring_op* op, __kernel_timespec* ts) {
    // Both SQEs in one submission: a link cut by a full SQ would not hold.
    if (io_uring_sq_space_left(&ring_) < 2) io_uring_submit(&ring_);
    io_uring_sqe* s = sqe();
    op->polling = false;
    op->prep(op, s);
    io_uring_sqe_set_data(s, op);
    s->flags |= IOSQE_IO_LINK;
    ++inflight_;
    io_uring_sqe* t = sqe();
    io_uring_prep_link_timeout(t, ts, 0);
    io_uring_sqe_set_data(t, nullptr);
}

void uring_loop::cancel_fd(int fd) {
    io_uring_sqe* s = sqe();
    io_uring_prep_cancel_fd(s, fd, IORING_ASYNC_CANCEL_ALL);
    io_uring_sqe_set_data(s, nullptr);
    io_uring_submit(&ring_);
}

void uring_loop::dispatch() {
    io_uring_cqe* cqe;
    unsigned head, seen = 0;
    bool doorbell = false;
    io_uring_for_each_cqe(&ring_, head, cqe) {
        ++seen;
        auto* op = static_cast<uring_op*>(io_uring_cqe_get_data(cqe));
        if (!op) continue;
        if (op == &doorbell_) {
            doorbell = true;
            if (!(cqe->flags & IORING_CQE_F_MORE)) arm_doorbell();
            continue;
        }
        if (op->polling) {  // the re-arming poll fired: submit the op again
            --inflight_;
            submit(op);
            continue;
        }
        if (cqe->res == -EAGAIN && op->poll_events) {
            io_uring_sqe* s = sqe();
            io_uring_prep_poll_add(s, op->fd, unsigned(op->poll_events));
            io_uring_sqe_set_data(s, op);
            op->polling = true;
            continue;
        }
        if (!op->multishot || !(cqe->flags & IORING_CQE_F_MORE)) --inflight_;
        op->complete(op, cqe->res, cqe->flags);
    }
    io_uring_cq_advance(&ring_, seen);
    if (doorbell) {
        std::uint64_t v;
        [[maybe_unused]] ssize_t r = ::read(evfd_, &v, sizeof v);
    }
    if (doorbell || remote_.pending()) remote_.drain();
}

void uring_loop::poll() {
    io_uring_submit_and_get_events(&ring_);
    dispatch();
}

void uring_loop::wait(std::uint64_t timeout_ns) {
    io_uring_cqe* cqe = nullptr;
    int r;
    if (timeout_ns == UINT64_MAX) {
        r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, nullptr, nullptr);
    } else {
        __kernel_timespec ts{};
        ts.tv_sec = (long long)(timeout_ns / 1'000'000'000);
        ts.tv_nsec = (long long)(timeout_ns % 1'000'000'000);
        r = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    }
    if (r < 0 && r != -ETIME && r != -EINTR && r != -EBUSY && r != -EAGAIN)
        throw std::runtime_error("io_uring_submit_and_wait_timeout: " + errno_text(-r));
    dispatch();
}

void prep_read(uring_op* op, io_uring_sqe* s) {
    auto* o = static_cast<uring_rw_op*>(op);
    io_uring_prep_read(s, o->fd, o->buf, o->len, o->offset);
}
void prep_write(uring_op* op, io_uring_sqe* s) {
    auto* o = static_cast<uring_rw_op*>(op);
    io_uring_prep_write(s, o->fd, o->buf, o->len, std::uint64_t(-1));
}
void prep_accept(uring_op* op, io_uring_sqe* s) {
    io_uring_prep_accept(s, op->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
void prep_multishot_accept(uring_op* op, io_uring_sqe* s) {
    io_uring_prep_multishot_accept(s, op->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
}
void prep_recv_multishot(uring_op* op, io_uring_sqe* s) {
    io_uring_prep_recv_multishot(s, op->fd, nullptr, 0, 0);
    s->flags |= IOSQE_BUFFER_SELECT;
    s->buf_group = buffer_ring::kGroup;
}
void prep_connect(uring_op* op, io_uring_sqe* s) {
    auto* o = static_cast<uring_connect_op*>(op);
    io_uring_prep_connect(s, o->fd, o->addr, o->addrlen);
}

void prep_poll(uring_op* op, io_uring_sqe* s) {
    auto* o = static_cast<uring_poll_op*>(op);
    io_uring_prep_poll_add(s, o->fd, unsigned(poll_events_of(o->events)) | POLLRDHUP);
}

void setup_poll(uring_poll_op& op, int fd, unsigned events, std::uint64_t ns) {
    op.fd = fd;
    op.events = events;
    op.poll_events = 0;  // a poll never completes with -EAGAIN: no re-arming
    op.prep = &prep_poll;
    op.deadline_ns = now_ns() + ns;
    op.ts.tv_sec = (long long)(ns / 1'000'000'000);
    op.ts.tv_nsec = (long long)(ns % 1'000'000'000);
}

io_result uring_poll_op::result_of(int res) const {
    if (res >= 0) {
        io_result r = wait_bits_of(unsigned(res), events);
        return r == -EAGAIN ? -EIO : r;  // woken with nothing we asked for
    }
    if (res == -ECANCELED && now_ns() >= deadline_ns) return kWaitTimeout;
    return res;
}

}  // namespace sy::detail
