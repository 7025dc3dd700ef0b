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

#include <array>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

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
    [[nodiscard]] auto pread(int fd, void* buf, std::size_t n, off_t offset) {
        io_awaiter<detail::uring_rw_op> a;
        a.rt = this;
        a.fd = fd;
        a.buf = buf;
        a.len = unsigned(n);
        a.offset = std::uint64_t(offset);
        a.prep = &detail::prep_read;
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
    // Readiness with a bound: IORING_OP_POLL_ADD linked to a LINK_TIMEOUT,
    // both in the turn's one submission (detail/fd_ops.hpp for the bits).
    struct wait_awaiter : detail::uring_poll_op {
        coroutine_uring_runner* rt;
        std::coroutine_handle<> h;
        std::uint64_t ns;
        io_result res = 0;
        bool await_ready() {
            if (ns > 0) return false;
            res = detail::wait_fd_now(fd, events);  // no time to wait: look once
            return true;
        }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
            h = handle;
            this->complete = &done;
            detail::setup_poll(*this, fd, events, ns);
            rt->add_outstanding();
            rt->backend().submit_linked_timeout(this, &this->ts);
            return rt->next();
        }
        io_result await_resume() const noexcept { return res; }
        static void done(detail::uring_op* o, int r, unsigned) {
            auto* a = static_cast<wait_awaiter*>(o);
            a->res = a->result_of(r);
            a->rt->sub_outstanding();
            a->rt->make_ready(a->h);
        }
    };
    [[nodiscard]] auto wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout) {
        wait_awaiter a;
        a.rt = this;
        a.fd = fd;
        a.events = events;
        a.ns = detail::wait_ns(timeout);
        return a;
    }

    // Cancels ops in flight on fd (they end with -ECANCELED), then closes it.
    void close(int fd) {
        backend().cancel_fd(fd);
        end_starved(fd);
        ::close(fd);
    }

    // ---- multishot streams (what the kernel offers, with fallbacks) -------------------
    // An item of a stream: n > 0 bytes at data (recv) or a new fd (accept);
    // n <= 0 ends the stream (EOF, error, cancellation).
    struct item {
        io_result n = 0;
        char* data = nullptr;
        unsigned bid = 0;
    };

private:
    struct stream_op : detail::uring_rw_op {
        coroutine_uring_runner* rt = nullptr;
        std::deque<item> items;
        std::coroutine_handle<> waiter{};
        bool ended = false, orphaned = false, use_ring = false, is_recv = false;
        bool paused = false;   // multishot cancelled for flow control, not ended
        bool armed = false;    // an SQE of this op is in flight
        bool closed = false;   // its fd was closed: end, never re-arm (the number may be reused)
        unsigned held = 0;     // chunks delivered and not yet released
        std::array<char, detail::buffer_ring::kBufSize> own{};  // single-shot recv
    };
    static void stream_done(detail::uring_op* o, int res, unsigned flags) {
        auto* op = static_cast<stream_op*>(o);
        coroutine_uring_runner* rt = op->rt;
        bool more = op->multishot && (flags & IORING_CQE_F_MORE);
        if (!more) op->armed = false;
        if (op->paused && !more && res == -ECANCELED) {  // flow control, not an end
            if (op->orphaned) delete op;
            return;
        }
        bool transient = !op->is_recv && (res == -EMFILE || res == -ENFILE || res == -ECONNABORTED ||
                                          res == -EINTR || res == -ENOMEM);
        if (res > 0 && op->orphaned && op->is_recv) {  // nobody reads it any more
            if (op->use_ring) rt->backend().buffers().release(flags >> IORING_CQE_BUFFER_SHIFT);
            return;
        }
        if (res > 0 || (!op->is_recv && res == 0)) {
            item it{res, nullptr, 0};
            if (op->is_recv) {
                if (op->use_ring) {
                    it.bid = flags >> IORING_CQE_BUFFER_SHIFT;
                    it.data = rt->backend().buffers().data(it.bid);
                } else {
                    it.data = op->own.data();
                }
            }
            op->items.push_back(it);
            if (op->is_recv && op->use_ring && ++op->held >= detail::kMaxHeldChunks && more &&
                !op->paused) {
                op->paused = true;  // the reader is behind: stop receiving (backpressure)
                rt->backend().cancel_op(op);
            }
            if (!more && !op->paused && (op->use_ring || !op->is_recv)) rearm(op);
        } else if (transient) {
            if (!more) rearm(op);
            return;
        } else if (res == -ENOBUFS && op->use_ring) {
            if (!more) rt->starved_.push_back(op);  // re-armed by the next release
            return;
        } else {
            if (more) return;  // an error of a still-armed multishot: wait for the last CQE
            op->items.push_back(item{res, nullptr, 0});
            op->ended = true;
            if (op->orphaned) {
                delete op;
                return;
            }
        }
        if (op->waiter) {
            rt->sub_outstanding();
            rt->make_ready(std::exchange(op->waiter, {}));
        }
    }
    static void rearm(stream_op* op) {
        if (op->closed) return stream_done(op, -ECANCELED, 0);  // ends it
        op->armed = true;
        op->rt->backend().submit(op);
    }
    // Closing an fd ends its streams that wait for buffers or are paused
    // (neither is in flight, so no completion would end them).
    void end_starved(int fd) {
        for (std::size_t i = 0; i < starved_.size();) {
            stream_op* op = starved_[i];
            if (op->fd != fd) {
                ++i;
                continue;
            }
            starved_.erase(starved_.begin() + std::ptrdiff_t(i));
            stream_done(op, -ECANCELED, 0);
        }
        for (stream_op* op : open_) {
            if (op->fd != fd || op->ended) continue;
            op->closed = true;
            op->paused = false;  // its -ECANCELED is an end now, not a pause
            if (!op->armed) stream_done(op, -ECANCELED, 0);  // not in flight: end it here
        }
    }
    std::vector<stream_op*> starved_;
    std::vector<stream_op*> open_;  // streams not yet destroyed by their reader

public:
    // A stream of items from one multishot op. Destroying it early leaves
    // the op to free itself at its last completion.
    class stream {
    public:
        stream(coroutine_uring_runner& rt, int fd, bool recv) : op_(new stream_op) {
            auto& io = rt.backend();
            op_->rt = &rt;
            op_->fd = fd;
            op_->is_recv = recv;
            op_->complete = &stream_done;
            if (recv && io.can_recv_multishot()) {
                io.buffers();
                op_->use_ring = op_->multishot = true;
                op_->prep = &detail::prep_recv_multishot;
            } else if (recv) {
                op_->buf = op_->own.data();
                op_->len = unsigned(op_->own.size());
                op_->prep = &detail::prep_read;
                op_->poll_events = POLLIN;
            } else if (io.can_multishot_accept()) {
                op_->multishot = true;
                op_->prep = &detail::prep_multishot_accept;
            } else {
                op_->prep = &detail::prep_accept;
                op_->poll_events = POLLIN;
            }
            op_->armed = true;
            io.submit(op_);
            rt.open_.push_back(op_);
        }
        ~stream() {
            auto& open = op_->rt->open_;
            std::erase(open, op_);
            for (const item& it : op_->items)  // unread chunks hand their buffers back
                if (op_->is_recv && op_->use_ring && it.n > 0) op_->rt->backend().buffers().release(it.bid);
            op_->items.clear();
            if (op_->paused && !op_->armed) {  // paused and idle: nothing will complete it
                delete op_;
                return;
            }
            if (op_->ended)
                delete op_;
            else
                op_->orphaned = true;
        }
        stream(const stream&) = delete;
        stream& operator=(const stream&) = delete;

        [[nodiscard]] auto next() noexcept {
            struct awaiter {
                stream_op* op;
                bool await_ready() const noexcept { return !op->items.empty(); }
                std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
                    op->waiter = h;
                    op->rt->add_outstanding();
                    return op->rt->next();
                }
                item await_resume() noexcept {
                    item it = op->items.front();
                    op->items.pop_front();
                    return it;
                }
            };
            return awaiter{op_};
        }
        // Done with a received item's bytes (recv streams).
        void release(const item& it) {
            auto& io = op_->rt->backend();
            if (op_->use_ring) {
                io.buffers().release(it.bid);
                if (op_->held > 0) --op_->held;
                if (op_->paused && !op_->armed && !op_->ended && op_->held < detail::kMaxHeldChunks / 2) {
                    op_->paused = false;  // caught up: receive again
                    rearm(op_);
                }
                auto& starved = op_->rt->starved_;
                if (!starved.empty()) {
                    stream_op* s = starved.back();
                    starved.pop_back();
                    rearm(s);
                }
            } else if (!op_->ended && !op_->armed) {
                rearm(op_);  // single-shot: the next recv reuses our buffer
            }
        }

    private:
        stream_op* op_;
    };

    // Accepted fds (multishot accept when available) / received chunks
    // (multishot recv into the provided buffer ring when available).
    stream accept_stream(int lfd) { return stream(*this, lfd, false); }
    stream recv_stream(int fd) { return stream(*this, fd, true); }
    std::string io_paths() {
        return std::string(backend().can_multishot_accept() ? "multishot accept" : "accept") + ", " +
               (backend().can_recv_multishot() ? "multishot recv + provided buffer ring" : "recv");
    }
};

}  // namespace sy
