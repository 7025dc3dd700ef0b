// Model `uring`: raw liburing with callbacks and user_data, no coroutine
// layer -- what a C program on io_uring looks like.
//
// Scheduling: one OS thread. post() appends a callback node to a FIFO;
// each loop turn runs up to detail::kTransferBudget callbacks (the turn
// budget of every loop model, counting ones posted during the turn), then
// submits every SQE queued meanwhile and reaps completions in one
// io_uring_enter. A
// completion's user_data is its op node (callback + arguments), whose
// callback runs right there. Timers use the same wheel as the coroutine
// loops; offload runs on a worker pool and comes back through the doorbell.
// Nodes come from the loop's frame pool. Construct and run on one thread.
#pragma once

#include <poll.h>

#include <array>
#include <memory>
#include <vector>
#include <string_view>
#include <thread>

#include "runners/detail/callback.hpp"
#include "runners/detail/clock.hpp"
#include "runners/detail/offload_pool.hpp"
#include "runners/detail/ring_queue.hpp"
#include "runners/detail/timer_wheel.hpp"
#include "runners/detail/uring_loop.hpp"

namespace sy {

class uring_runner {
public:
    static constexpr std::string_view name = "uring";
    static constexpr bool cooperative = true;

    uring_runner();
    ~uring_runner();
    uring_runner(const uring_runner&) = delete;
    uring_runner& operator=(const uring_runner&) = delete;

    template <class F>
    void post(F&& f) {
        post_node(detail::make_cb(std::forward<F>(f)));
    }
    void post_node(detail::cb_node* n) { ready_.push(n); }

    template <class F>
    void after(std::chrono::nanoseconds d, F&& f) {
        struct node final : detail::timer_node, detail::pooled {
            std::decay_t<F> fn;
            explicit node(F&& x) : fn(std::forward<F>(x)) {}
        };
        auto* n = new node(std::forward<F>(f));
        n->deadline_ns = detail::now_ns() + std::uint64_t(d.count() > 0 ? d.count() : 0);
        n->fire = [](detail::timer_node* t) {
            auto* self = static_cast<node*>(t);
            struct deleter {
                node* p;
                ~deleter() { delete p; }
            } del{self};
            self->fn();
        };
        wheel_.insert(n);
    }

    template <class F>
    void read(int fd, void* buf, std::size_t len, F&& f) {
        auto* op = new io_node<detail::uring_rw_op, std::decay_t<F>>(std::forward<F>(f));
        op->fd = fd;
        op->buf = buf;
        op->len = unsigned(len);
        op->prep = &detail::prep_read;
        op->poll_events = POLLIN;
        io_.submit(op);
    }
    template <class F>
    void pread(int fd, void* buf, std::size_t len, off_t offset, F&& f) {
        auto* op = new io_node<detail::uring_rw_op, std::decay_t<F>>(std::forward<F>(f));
        op->fd = fd;
        op->buf = buf;
        op->len = unsigned(len);
        op->offset = std::uint64_t(offset);
        op->prep = &detail::prep_read;
        io_.submit(op);
    }
    template <class F>
    void write(int fd, const void* buf, std::size_t len, F&& f) {
        auto* op = new io_node<detail::uring_rw_op, std::decay_t<F>>(std::forward<F>(f));
        op->fd = fd;
        op->buf = const_cast<void*>(buf);
        op->len = unsigned(len);
        op->prep = &detail::prep_write;
        op->poll_events = POLLOUT;
        io_.submit(op);
    }
    template <class F>
    void accept(int fd, F&& f) {
        auto* op = new io_node<detail::uring_op, std::decay_t<F>>(std::forward<F>(f));
        op->fd = fd;
        op->prep = &detail::prep_accept;
        op->poll_events = POLLIN;
        io_.submit(op);
    }
    template <class F>
    void connect(int fd, const sockaddr* addr, socklen_t len, F&& f) {
        auto* op = new io_node<detail::uring_connect_op, std::decay_t<F>>(std::forward<F>(f));
        op->fd = fd;
        op->addr = addr;
        op->addrlen = len;
        op->prep = &detail::prep_connect;
        io_.submit(op);
    }
    // f(io_result) once fd is ready or the timeout passed (detail/fd_ops.hpp):
    // IORING_OP_POLL_ADD linked to a LINK_TIMEOUT, in the turn's submission.
    template <class F>
    void wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout, F&& f) {
        const std::uint64_t ns = detail::wait_ns(timeout);
        if (ns == 0) return detail::post_wait_fd_now(*this, fd, events, std::forward<F>(f));
        struct node final : detail::uring_poll_op, detail::pooled {
            std::decay_t<F> fn;
            explicit node(F&& x) : fn(std::forward<F>(x)) {}
        };
        auto* n = new node(std::forward<F>(f));
        detail::setup_poll(*n, fd, events, ns);
        n->complete = [](detail::uring_op* o, int res, unsigned) {
            auto* self = static_cast<node*>(o);
            struct deleter {
                node* p;
                ~deleter() { delete p; }
            } del{self};
            self->fn(self->result_of(res));
        };
        io_.submit_linked_timeout(n, &n->ts);
    }
    void close(int fd) {
        io_.cancel_fd(fd);
        end_starved(fd);
        ::close(fd);
    }

    // ---- multishot (what the kernel offers, with fallbacks) -----------------------
    // f(fd) for every accepted connection: one multishot accept when the
    // kernel has it, else one accept after another. Ends (after f(-errno))
    // when the listening socket fails for good, e.g. is closed.
    template <class F>
    void accept_each(int lfd, F&& f) {
        struct node final : detail::uring_op, detail::pooled {
            uring_runner* rt;
            std::decay_t<F> fn;
            node(uring_runner* r, F&& x) : rt(r), fn(std::forward<F>(x)) {}
        };
        auto* n = new node(this, std::forward<F>(f));
        n->fd = lfd;
        if (io_.can_multishot_accept()) {
            n->multishot = true;
            n->prep = &detail::prep_multishot_accept;
        } else {
            n->prep = &detail::prep_accept;
            n->poll_events = POLLIN;
        }
        n->complete = [](detail::uring_op* o, int res, unsigned flags) {
            auto* self = static_cast<node*>(o);
            bool more = self->multishot && (flags & IORING_CQE_F_MORE);
            bool transient = res == -EMFILE || res == -ENFILE || res == -ECONNABORTED ||
                             res == -EINTR || res == -ENOBUFS || res == -ENOMEM;
            if (res >= 0 || transient) {
                if (res >= 0) self->fn(io_result(res));
                if (!more) self->rt->io_.submit(self);  // re-arm
                return;
            }
            self->fn(io_result(res));
            if (!more) delete self;
        };
        io_.submit(n);
    }

    // A received chunk: the bytes stay valid until release(chunk).
    struct recv_chunk {
        char* data = nullptr;
        unsigned bid = 0;
        void* owner = nullptr;  // the receiving op
    };
    // f(n, chunk) for every chunk received on fd, n > 0; then once f(n <= 0,
    // {}) at EOF (0), error or cancellation (close), after which f is not
    // called again. Multishot recv into the provided buffer ring when the
    // kernel has both, else one recv after another into a buffer of the op.
    template <class F>
    void recv_each(int fd, F&& f) {
        auto* n = new recv_node<std::decay_t<F>>(this, std::forward<F>(f));
        n->fd = fd;
        n->use_ring = io_.can_recv_multishot();
        n->armed = true;
        if (n->use_ring) {
            io_.buffers();  // registered before the first SQE uses it
            n->multishot = true;
            n->prep = &detail::prep_recv_multishot;
        } else {
            n->buf = n->own.data();
            n->len = unsigned(n->own.size());
            n->prep = &detail::prep_read;
            n->poll_events = POLLIN;
        }
        io_.submit(n);
    }
    // A chunk may outlive its receive (the connection failed while its data
    // was still queued for writing): the op then stays until its last chunk
    // is released, and is freed here.
    void release(const recv_chunk& c) {
        auto* op = static_cast<recv_base*>(c.owner);
        const bool ring = op->use_ring;
        if (op->held > 0) --op->held;
        if (ring) io_.buffers().release(c.bid);
        if (op->ended) {
            if (op->held == 0) op->destroy(op);
        } else if (!op->ending) {
            if (!ring) {
                if (!op->armed) rearm(op);  // single-shot: the next recv reuses the op's buffer
            } else if (op->paused && !op->armed && op->held < detail::kMaxHeldChunks / 2) {
                op->paused = false;  // caught up: receive again
                rearm(op);
            }
        }
        if (ring && !starved_.empty()) {  // a recv stopped for want of buffers: re-arm it
            recv_base* s = starved_.back();
            starved_.pop_back();
            rearm(s);
        }
    }
    // Which receive paths this runner uses, for results' context.
    std::string io_paths() const {
        return std::string(io_.can_multishot_accept() ? "multishot accept" : "accept") + ", " +
               (io_.can_recv_multishot() ? "multishot recv + provided buffer ring" : "recv");
    }

    template <class Fn, class Done>
    void offload(Fn fn, Done done) {
        using R = std::invoke_result_t<Fn&>;
        struct job final : detail::pooled {
            uring_runner* rt;
            Fn fn;
            Done done;
            outcome<R> out;
        };
        auto* j = new job{{}, this, std::move(fn), std::move(done), {}};
        hold();
        offload_pool().submit([j] {
            j->out.capture(j->fn);
            j->rt->post_remote(
                [](void* p) {
                    auto* jj = static_cast<job*>(p);
                    struct deleter {
                        job* p;
                        ~deleter() { delete p; }
                    } del{jj};
                    jj->rt->release();
                    jj->done(std::move(jj->out));
                },
                j);
        });
    }

    template <class T>
    using channel = detail::cb_channel<uring_runner, T>;
    using event = detail::cb_event<uring_runner>;

    void post_remote(void (*fn)(void*), void* arg) {
        if (io_.remote().push({fn, arg})) io_.ring();
    }
    void hold() { ++held_; }
    void release() { --held_; }
    bool on_loop_thread() const { return std::this_thread::get_id() == owner_; }

    // Runs callbacks until no work is left (no queued callback, timer, I/O
    // in flight, offload or awaited cross-thread event).
    void run();

    detail::frame_pool& frames() { return frames_; }
    std::string describe() const { return io_.describe(); }

private:
    struct recv_base : detail::uring_rw_op, detail::pooled {
        bool use_ring = false;
        bool paused = false;  // multishot cancelled for flow control, not ended
        bool armed = false;   // an SQE of this op is in flight
        bool closed = false;  // its fd was closed: end, never re-arm (the number may be reused)
        bool ending = false;  // its last callback is running: never re-arm
        bool ended = false;   // finished with chunks still out: the last release frees it
        unsigned held = 0;    // chunks delivered and not yet released
        std::array<char, detail::buffer_ring::kBufSize> own{};  // single-shot fallback
        void (*cancelled)(recv_base*) = nullptr;  // ends a parked recv (not in flight)
        void (*destroy)(recv_base*) = nullptr;
    };
    void rearm(recv_base* op) {
        if (op->closed) return op->cancelled(op);  // ends it
        op->armed = true;
        io_.submit(op);
    }
    // A recv parked for want of buffers, or paused for flow control, is not in
    // flight, so cancelling its fd would not end it: end it here, before the
    // fd number can be reused.
    void end_starved(int fd) {
        for (std::size_t i = 0; i < starved_.size();) {
            if (starved_[i]->fd == fd) {
                recv_base* op = starved_[i];
                starved_.erase(starved_.begin() + std::ptrdiff_t(i));
                op->cancelled(op);
            } else {
                ++i;
            }
        }
        for (std::size_t i = 0; i < open_.size();) {
            recv_base* op = open_[i];
            if (op->fd != fd) {
                ++i;
                continue;
            }
            op->closed = true;
            op->paused = false;  // its -ECANCELED is an end now, not a pause
            if (!op->armed)
                op->cancelled(op);  // not in flight: end it here (removes itself from open_)
            else
                ++i;
        }
    }
    template <class F>
    struct recv_node final : recv_base {
        uring_runner* rt;
        F fn;
        recv_node(uring_runner* r, F x) : rt(r), fn(std::move(x)) {
            this->complete = &done;
            this->destroy = [](recv_base* b) { delete static_cast<recv_node*>(b); };
            this->cancelled = [](recv_base* b) {
                auto* self = static_cast<recv_node*>(b);
                self->finish(io_result(-ECANCELED));
            };
            r->open_.push_back(this);
        }
        void finish(io_result res) {
            std::erase(rt->open_, static_cast<recv_base*>(this));
            this->ending = true;
            fn(res, recv_chunk{});
            if (this->held > 0) {
                this->ended = true;  // chunks still out: the last release frees it
                return;
            }
            delete this;
        }
        static void done(detail::uring_op* o, int res, unsigned flags) {
            auto* self = static_cast<recv_node*>(o);
            bool more = self->multishot && (flags & IORING_CQE_F_MORE);
            if (!more) self->armed = false;
            if (self->paused && !more && res == -ECANCELED) return;  // flow control, not an end
            if (res > 0) {
                recv_chunk c{};
                c.owner = self;
                if (self->use_ring) {
                    c.bid = flags >> IORING_CQE_BUFFER_SHIFT;
                    c.data = self->rt->io_.buffers().data(c.bid);
                } else {
                    c.data = self->own.data();
                }
                ++self->held;
                if (self->use_ring && self->held >= detail::kMaxHeldChunks && more && !self->paused) {
                    self->paused = true;  // the reader is behind: stop receiving (backpressure)
                    self->rt->io_.cancel_op(self);
                }
                bool rearm_now = self->use_ring && !more && !self->paused;
                self->fn(io_result(res), c);
                if (rearm_now) self->rt->rearm(self);  // multishot ended early
                return;
            }
            if (res == -ENOBUFS && self->use_ring) {  // all buffers held: wait for a release
                if (!more) self->rt->starved_.push_back(self);
                return;
            }
            if (more) return;  // an error CQE of a still-armed multishot: wait for the last
            self->finish(io_result(res));
        }
    };

    template <class Op, class F>
    struct io_node final : Op, detail::pooled {
        F fn;
        explicit io_node(F f) : fn(std::move(f)) { this->complete = &done; }
        static void done(detail::uring_op* o, int res, unsigned) {
            auto* self = static_cast<io_node*>(o);
            struct deleter {
                io_node* p;
                ~deleter() { delete p; }
            } del{self};
            self->fn(io_result(res));
        }
    };
    detail::offload_pool& offload_pool();

    detail::frame_pool frames_;
    detail::frame_pool_scope frames_scope_{&frames_};  // nodes made before run() too
    detail::uring_loop io_;
    detail::ring_queue<detail::cb_node*> ready_;
    detail::timer_wheel wheel_;
    std::size_t held_ = 0;
    std::vector<recv_base*> starved_;  // multishot recvs waiting for buffers
    std::vector<recv_base*> open_;     // recv streams not yet ended
    std::thread::id owner_;
    std::unique_ptr<detail::offload_pool> offload_;
};

}  // namespace sy
