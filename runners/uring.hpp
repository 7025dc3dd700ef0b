// Model `uring`: raw liburing with callbacks and user_data, no coroutine
// layer -- what a C program on io_uring looks like.
//
// Scheduling: one OS thread. post() appends a callback node to a FIFO;
// each loop turn runs the callbacks queued at its start, then submits every
// SQE queued meanwhile and reaps completions in one io_uring_enter. A
// completion's user_data is its op node (callback + arguments), whose
// callback runs right there. Timers use the same wheel as the coroutine
// loops; offload runs on a worker pool and comes back through the doorbell.
// Nodes come from the loop's frame pool. Construct and run on one thread.
#pragma once

#include <poll.h>

#include <memory>
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
    void close(int fd) {
        io_.cancel_fd(fd);
        ::close(fd);
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
    std::thread::id owner_;
    std::unique_ptr<detail::offload_pool> offload_;
};

}  // namespace sy
