// echo/uring_ref: the echo server written on liburing directly, in the shape
// of liburing's examples (examples/proxy.c): one ring, user_data naming the
// connection and the operation, io_uring_submit_and_wait, then every CQE
// handled and the CQ advanced in one step. It uses the same kernel paths
// as the `uring` model on this machine (runners/probe.hpp: the setup flags,
// multishot accept, multishot recv into a provided buffer ring, else
// one-shot accept and recv into a buffer per connection) and the same flow
// control (a connection holding kMaxHeld unsent chunks cancels its recv and
// re-arms it when fewer than half remain), so the `uring` row divided by this
// one is the seam's cost, not a different kernel path. The buffer ring's
// registration boilerplate is the runners' (liburing 2.3 has no
// io_uring_setup_buf_ring).
#if SY_HAVE_URING
#include <liburing.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <deque>
#include <string>
#include <vector>

#include "benches/common/net.hpp"
#include "benches/echo/refs.hpp"
#include "runners/detail/uring_loop.hpp"  // buffer_ring, kRingEntries, kMaxHeldChunks
#include "runners/probe.hpp"

namespace sy::echo {
namespace {

using detail::buffer_ring;
constexpr unsigned kMaxHeld = detail::kMaxHeldChunks;
enum kind : std::uint64_t { kAccept = 0, kRecv = 1, kSend = 2, kCancel = 3, kKindMask = 3 };

struct conn {
    int fd;
    struct chunk {
        char* data;
        unsigned len;
        int bid;  // -1: the connection's own buffer (one-shot recv)
    };
    std::deque<chunk> out;      // received, not yet sent back (in order)
    unsigned off = 0;           // sent of out.front()
    bool sending = false, receiving = false, ended = false;
    std::vector<char> own;      // one-shot recv's buffer
};

class server {
public:
    explicit server(int lfd) : lfd_(lfd) {
        const uring_support& sup = probe_uring();
        if (!sup.available) die("uring_ref: " + sup.reason);
        io_uring_params p{};
        p.flags = sup.setup_flags;
        int r = io_uring_queue_init_params(detail::kRingEntries, &ring_, &p);
        if (r < 0) die("uring_ref: io_uring_queue_init: " + std::string(strerror(-r)));
        multishot_accept_ = sup.multishot_accept;
        if (sup.recv_multishot && sup.buf_ring) bufs_ = std::make_unique<buffer_ring>(&ring_);
    }
    ~server() {
        bufs_.reset();
        io_uring_queue_exit(&ring_);
    }

    void run() {
        arm_accept();
        for (;;) {
            int r = io_uring_submit_and_wait(&ring_, 1);
            if (r < 0 && r != -EINTR && r != -EBUSY) die("uring_ref: io_uring_submit_and_wait: " + std::string(strerror(-r)));
            io_uring_cqe* cqe;
            unsigned head, seen = 0;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                ++seen;
                handle(cqe->user_data, cqe->res, cqe->flags);
            }
            io_uring_cq_advance(&ring_, seen);
        }
    }

private:
    io_uring_sqe* sqe() {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        while (!s) {  // SQ full: submit what is queued
            io_uring_submit(&ring_);
            s = io_uring_get_sqe(&ring_);
        }
        return s;
    }
    static std::uint64_t tag(conn* c, kind k) { return reinterpret_cast<std::uint64_t>(c) | k; }

    void arm_accept() {
        io_uring_sqe* s = sqe();
        if (multishot_accept_)
            io_uring_prep_multishot_accept(s, lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        else
            io_uring_prep_accept(s, lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        io_uring_sqe_set_data64(s, tag(nullptr, kAccept));
    }
    void arm_recv(conn* c) {
        io_uring_sqe* s = sqe();
        if (bufs_) {
            io_uring_prep_recv_multishot(s, c->fd, nullptr, 0, 0);
            s->flags |= IOSQE_BUFFER_SELECT;
            s->buf_group = buffer_ring::kGroup;
        } else {
            io_uring_prep_recv(s, c->fd, c->own.data(), c->own.size(), 0);
        }
        io_uring_sqe_set_data64(s, tag(c, kRecv));
        c->receiving = true;
    }
    void send_front(conn* c) {
        const conn::chunk& k = c->out.front();
        io_uring_sqe* s = sqe();
        io_uring_prep_send(s, c->fd, k.data + c->off, k.len - c->off, MSG_NOSIGNAL);
        io_uring_sqe_set_data64(s, tag(c, kSend));
        c->sending = true;
    }

    void handle(std::uint64_t data, int res, unsigned flags) {
        auto k = kind(data & kKindMask);
        auto* c = reinterpret_cast<conn*>(data & ~std::uint64_t(kKindMask));
        switch (k) {
        case kAccept:
            if (res >= 0) {
                sy::net::set_nodelay(res);
                auto* nc = new conn{res, {}, 0, false, false, false, {}};
                if (!bufs_) nc->own.resize(kBufSize);
                arm_recv(nc);
            }
            if (!multishot_accept_ || !(flags & IORING_CQE_F_MORE)) arm_accept();
            return;
        case kRecv: return on_recv(c, res, flags);
        case kSend: return on_send(c, res);
        case kCancel: return;
        }
    }

    void on_recv(conn* c, int res, unsigned flags) {
        bool more = bufs_ && (flags & IORING_CQE_F_MORE);
        if (!more) c->receiving = false;
        if (res > 0) {
            if (bufs_) {
                int bid = int(flags >> IORING_CQE_BUFFER_SHIFT);
                c->out.push_back({bufs_->data(unsigned(bid)), unsigned(res), bid});
                if (more && c->out.size() >= kMaxHeld) cancel_recv(c);  // flow control
            } else {
                c->out.push_back({c->own.data(), unsigned(res), -1});
            }
            if (!c->sending) send_front(c);
        } else if (res == 0 || (res != -ENOBUFS && res != -ECANCELED)) {
            c->ended = true;  // EOF or error
        }
        rearm_or_finish(c);
    }
    void cancel_recv(conn* c) {
        io_uring_sqe* s = sqe();
        io_uring_prep_cancel64(s, tag(c, kRecv), 0);
        io_uring_sqe_set_data64(s, tag(nullptr, kCancel));
    }
    void on_send(conn* c, int res) {
        c->sending = false;
        if (res <= 0) {  // the peer is gone: stop receiving too
            c->ended = true;
            drop(c);
            if (c->receiving) cancel_recv(c);
            return rearm_or_finish(c);
        }
        c->off += unsigned(res);
        if (c->off < c->out.front().len) return send_front(c);
        if (c->out.front().bid >= 0) bufs_->release(unsigned(c->out.front().bid));
        c->out.pop_front();
        c->off = 0;
        if (!c->out.empty()) send_front(c);
        rearm_or_finish(c);
    }
    void drop(conn* c) {
        for (auto& k : c->out)
            if (k.bid >= 0) bufs_->release(unsigned(k.bid));
        c->out.clear();
        c->off = 0;
    }
    // A stopped recv is re-armed once fewer than half of kMaxHeld chunks wait
    // (a one-shot recv once its buffer is sent); an ended connection closes
    // when nothing of it is in flight.
    void rearm_or_finish(conn* c) {
        if (c->receiving || c->sending) return;
        if (c->ended) {
            ::close(c->fd);
            delete c;
            return;
        }
        if (c->out.size() < (bufs_ ? kMaxHeld / 2 : 1)) arm_recv(c);
    }

    int lfd_;
    io_uring ring_{};
    bool multishot_accept_ = false;
    std::unique_ptr<buffer_ring> bufs_;
};

}  // namespace

void run_uring_reference(int lfd) {
    server s(lfd);
    s.run();
}

}  // namespace sy::echo

#endif  // SY_HAVE_URING
