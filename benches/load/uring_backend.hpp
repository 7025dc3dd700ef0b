// The io_uring I/O path of switchyard-load (the default when the tool is
// built with liburing and the kernel allows io_uring).
//
// One io_uring_enter per loop turn: all sends and re-arms of the turn are
// submitted together with the wait. Receives use multishot recv into a
// provided buffer ring (so an idle connection costs no SQE) when the kernel
// has them (6.0), else one one-shot recv per connection; sends go through
// registered files; the phase edges are one absolute IORING_OP_TIMEOUT each
// (5.5), and open loop's timed sleeps use EXT_ARG (5.11). The setup flags
// are tried fastest first (runners/probe.hpp, shared with the runners'
// probe): SINGLE_ISSUER + DEFER_TASKRUN, else COOP_TASKRUN, else plain.
#pragma once

#if SY_HAVE_URING
#include <liburing.h>
#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "benches/load/common.hpp"
#include "benches/load/connection.hpp"
#include "benches/load/load_client.hpp"
#include "benches/load/options.hpp"
#include "runners/probe.hpp"

namespace sy::load {

inline constexpr std::size_t kMinRecvBuf = 4096;
inline constexpr std::size_t kMaxRecvBuf = 64 * 1024;
inline constexpr unsigned kMinBufRing = 256;                // provided buffers, power of two
inline constexpr unsigned kMaxBufRing = 8192;
inline constexpr std::size_t kMaxBufRingBytes = 64u << 20;  // memory cap of the buffer ring
inline constexpr std::size_t kPlainRecvManyConns = 256;     // above this, one-shot recv buffers shrink
inline constexpr unsigned kMaxRingEntries = 4096;           // SQ; the CQ is 4x

// user_data encoding: bits 63..56 the operation (kOpSend, kOpRecv,
// kOpTimer), bits 31..0 the connection index (0 for kOpTimer). Nothing else
// is packed.
inline constexpr std::uint64_t kOpShift = 56;
inline constexpr std::uint64_t kOpSend = 1;
inline constexpr std::uint64_t kOpRecv = 2;
inline constexpr std::uint64_t kOpTimer = 3;
inline constexpr std::uint64_t kIdxMask = 0xffff'ffffull;
inline constexpr std::uint16_t kBufGroup = 0;

constexpr std::uint64_t make_user_data(std::uint64_t op, std::uint32_t idx) { return (op << kOpShift) | idx; }

class uring_backend {
public:
    explicit uring_backend(load_client& cl) : cl_(cl) {}
    uring_backend(const uring_backend&) = delete;
    uring_backend& operator=(const uring_backend&) = delete;
    ~uring_backend() {
        if (ring_ok_) io_uring_queue_exit(&ring_);  // cancels what is in flight first
        if (br_) munmap(br_, br_bytes_);
        if (bufs_) munmap(bufs_, bufs_bytes_);
    }

    // Sets the ring up; false with `why` if io_uring cannot be used at all.
    bool init(recv_choice want_recv, std::string& why) {
        const std::size_t nconn = cl_.conns().size();
        const unsigned entries = std::min<unsigned>(kMaxRingEntries, std::bit_ceil(static_cast<unsigned>(2 * nconn + 8)));
        int err = 0;
        for (unsigned flags : kUringSetupCandidates) {
            io_uring_params p{};
            p.flags = flags | IORING_SETUP_CQSIZE;
            p.cq_entries = entries * 4;
            const int r = io_uring_queue_init_params(entries, &ring_, &p);
            if (r == 0) {
                ring_ok_ = true;
                setup_ = flags & IORING_SETUP_DEFER_TASKRUN ? "single_issuer+defer_taskrun"
                         : flags & IORING_SETUP_COOP_TASKRUN ? "coop_taskrun"
                                                             : "plain";
                ext_arg_ = p.features & IORING_FEAT_EXT_ARG;
                break;
            }
            err = -r;
        }
        if (!ring_ok_) {
            why = "io_uring_setup failed: " + errstr(err);
            if (err == EPERM) why += " (kernel.io_uring_disabled or a seccomp filter)";
            return false;
        }
        // Registered files: one fd lookup less per operation; optional.
        std::vector<int> fds;
        fds.reserve(nconn);
        for (auto& c : cl_.conns()) fds.push_back(c.fd.get());
        fixed_files_ = io_uring_register_files(&ring_, fds.data(), static_cast<unsigned>(fds.size())) == 0;

        const std::size_t s = cl_.size();
        buf_size_ = std::clamp<std::size_t>(std::bit_ceil(s), kMinRecvBuf, kMaxRecvBuf);
        if (want_recv != recv_choice::plain) {
            std::string no;
            if (!kernel_at_least(6, 0)) no = "kernel older than 6.0 (no multishot recv)";
            else if (!setup_buf_ring(nconn, no)) {}
            if (no.empty()) {
                multishot_ = true;
                recv_mode_ = "multishot+buf_ring";
            } else if (want_recv == recv_choice::multishot) {
                why = "multishot recv unavailable: " + no;
                return false;
            } else {
                recv_note_ = no;
            }
        }
        if (!multishot_) {
            recv_mode_ = "recv";
            plain_buf_ = nconn > kPlainRecvManyConns ? kMinRecvBuf : buf_size_;
        }
        return true;
    }

    const std::string& setup() const { return setup_; }
    const std::string& recv_mode() const { return recv_mode_; }
    const std::string& recv_note() const { return recv_note_; }
    std::uint64_t enobufs() const { return enobufs_; }
    bool fixed_files() const { return fixed_files_; }
    bool ext_arg() const { return ext_arg_; }

    void start() {
        for (auto& c : cl_.conns()) arm_recv(c);
    }

    void start_send(connection& c) {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return;
        io_uring_prep_send(sqe, file(c), c.tx.data() + c.tx_off, c.tx.size() - c.tx_off, MSG_NOSIGNAL);
        finish_sqe(sqe, kOpSend, c);
    }

    // One io_uring_enter: submits the turn's SQEs, waits as planned, then
    // handles the completions; returns their number.
    std::size_t wait_and_process(const wait_plan& plan, std::uint64_t edge) {
        for (std::uint32_t i : rearm_) arm_recv(cl_.conns()[i]);
        rearm_.clear();
        if (edge != armed_edge_ && edge != 0) arm_phase_timer(edge);
        int r;
        if (plan.kind == wait_kind::poll) {
            r = io_uring_submit_and_get_events(&ring_);
        } else if (plan.kind == wait_kind::block) {
            r = io_uring_submit_and_wait(&ring_, 1);
        } else {
            __kernel_timespec ts{plan.timeout_ns / 1'000'000'000, plan.timeout_ns % 1'000'000'000};
            io_uring_cqe* first = nullptr;
            r = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
        }
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            cl_.fail("io_uring_submit_and_wait_timeout: " + errstr(-r));
            return 0;
        }
        const std::uint64_t now = now_ns();
        unsigned head, seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            handle(cqe, now);
        }
        io_uring_cq_advance(&ring_, seen);
        if (recycled_) {
            io_uring_buf_ring_advance(br_, recycled_);
            recycled_ = 0;
        }
        return seen;
    }

private:
    // One IORING_OP_TIMEOUT at the absolute time of the next phase edge.
    void arm_phase_timer(std::uint64_t edge) {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return;
        phase_ts_.tv_sec = static_cast<long long>(edge / 1'000'000'000);
        phase_ts_.tv_nsec = static_cast<long long>(edge % 1'000'000'000);
        io_uring_prep_timeout(sqe, &phase_ts_, 0, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(sqe, make_user_data(kOpTimer, 0));
        armed_edge_ = edge;
    }

    int file(const connection& c) const { return fixed_files_ ? static_cast<int>(c.idx) : c.fd.get(); }

    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (!sqe) {  // SQ full this turn: push it out early (rare: > kMaxRingEntries ops per turn)
            io_uring_submit(&ring_);
            sqe = io_uring_get_sqe(&ring_);
        }
        if (!sqe) cl_.fail("io_uring submission queue full");
        return sqe;
    }
    void finish_sqe(io_uring_sqe* sqe, std::uint64_t op, const connection& c) {
        if (fixed_files_) sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, make_user_data(op, c.idx));
    }

    void arm_recv(connection& c) {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return;
        if (multishot_) {
            io_uring_prep_recv_multishot(sqe, file(c), nullptr, 0, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = kBufGroup;
        } else {
            if (c.rxbuf.size() != plain_buf_) c.rxbuf.assign(plain_buf_, 0);
            io_uring_prep_recv(sqe, file(c), c.rxbuf.data(), c.rxbuf.size(), 0);
        }
        finish_sqe(sqe, kOpRecv, c);
    }

    bool setup_buf_ring(std::size_t nconn, std::string& why) {
        unsigned n = std::clamp<unsigned>(std::bit_ceil(static_cast<unsigned>(2 * nconn)), kMinBufRing, kMaxBufRing);
        while (n > kMinBufRing && n * buf_size_ > kMaxBufRingBytes) n /= 2;
        br_bytes_ = n * sizeof(io_uring_buf);
        void* ring_mem = mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (ring_mem == MAP_FAILED) {
            why = "mmap: " + errstr(errno);
            return false;
        }
        br_ = static_cast<io_uring_buf_ring*>(ring_mem);
        // liburing 2.3 has no io_uring_setup_buf_ring: register by hand.
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<unsigned long>(br_);
        reg.ring_entries = n;
        reg.bgid = kBufGroup;
        if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r != 0) {
            why = "io_uring_register_buf_ring: " + errstr(-r);
            return false;
        }
        bufs_bytes_ = static_cast<std::size_t>(n) * buf_size_;
        void* mem = mmap(nullptr, bufs_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
        if (mem == MAP_FAILED) {
            why = "mmap: " + errstr(errno);
            return false;
        }
        bufs_ = static_cast<std::uint8_t*>(mem);
        mask_ = io_uring_buf_ring_mask(n);
        io_uring_buf_ring_init(br_);
        for (unsigned i = 0; i < n; ++i)
            io_uring_buf_ring_add(br_, bufs_ + static_cast<std::size_t>(i) * buf_size_,
                                  static_cast<unsigned>(buf_size_), static_cast<unsigned short>(i), mask_, static_cast<int>(i));
        io_uring_buf_ring_advance(br_, static_cast<int>(n));
        return true;
    }

    void recycle(unsigned bid) {
        io_uring_buf_ring_add(br_, bufs_ + static_cast<std::size_t>(bid) * buf_size_, static_cast<unsigned>(buf_size_),
                              static_cast<unsigned short>(bid), mask_, static_cast<int>(recycled_));
        ++recycled_;
    }

    void handle(const io_uring_cqe* cqe, std::uint64_t now) {
        const std::uint64_t ud = io_uring_cqe_get_data64(cqe);
        const std::uint64_t op = ud >> kOpShift;
        const int res = cqe->res;
        if (op == kOpTimer) {  // phase edge: the loop's tick acts on it
            if (res != -ETIME && res != -ECANCELED) cl_.fail("io_uring phase timer: " + errstr(-res));
            return;
        }
        connection& c = cl_.conns()[ud & kIdxMask];
        if (op == kOpSend) {
            if (res < 0) return cl_.fail(peer_error("reset the connection (send)", -res));
            if (res == 0) return cl_.fail("send on connection " + std::to_string(c.idx) + " made no progress");
            cl_.on_sent(c, static_cast<std::size_t>(res));
            if (c.tx_busy) start_send(c);  // short send: the rest
            return;
        }
        // kOpRecv
        if (res > 0) {
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                cl_.on_data(c, bufs_ + static_cast<std::size_t>(bid) * buf_size_, static_cast<std::size_t>(res), now);
                recycle(bid);
            } else {
                cl_.on_data(c, c.rxbuf.data(), static_cast<std::size_t>(res), now);
            }
            got_data_ = true;
        } else if (res == 0) {
            return cl_.fail("server closed connection " + std::to_string(c.idx) + " during the run");
        } else if (res == -ENOBUFS) {
            ++enobufs_;  // all provided buffers in use: re-armed once this turn returns them
        } else if (res == -EINVAL && multishot_ && !got_data_) {
            multishot_ = false;  // kernel refused multishot recv: one-shot from now on
            fell_back_ = true;
            recv_mode_ = "recv";
            recv_note_ = "multishot recv rejected (EINVAL)";
            plain_buf_ = cl_.conns().size() > kPlainRecvManyConns ? kMinRecvBuf : buf_size_;
        } else if (!(res == -EINVAL && fell_back_)) {  // (other connections' refusals: re-arm)
            return cl_.fail(peer_error("reset the connection", -res));
        }
        const bool more = multishot_ && (cqe->flags & IORING_CQE_F_MORE);
        if (!more) rearm_.push_back(c.idx);
    }

    load_client& cl_;
    io_uring ring_{};
    bool ring_ok_ = false, fixed_files_ = false, ext_arg_ = false, multishot_ = false, got_data_ = false,
         fell_back_ = false;
    std::string setup_, recv_mode_, recv_note_;
    io_uring_buf_ring* br_ = nullptr;
    std::size_t br_bytes_ = 0;
    std::uint8_t* bufs_ = nullptr;
    std::size_t bufs_bytes_ = 0, buf_size_ = 0, plain_buf_ = 0;
    unsigned recycled_ = 0;
    int mask_ = 0;
    std::vector<std::uint32_t> rearm_;
    std::uint64_t enobufs_ = 0;
    std::uint64_t armed_edge_ = 0;
    __kernel_timespec phase_ts_{};  // read by the kernel when the timeout SQE is submitted
};

}  // namespace sy::load
#endif  // SY_HAVE_URING
