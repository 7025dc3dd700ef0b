// Callback plumbing shared by the two callback models (`uring`, `libuv`):
// type-erased callback nodes allocated from the loop's frame pool, and a
// channel and an event written once over any callback runner.
//
// Callback runner concept (uring_runner, libuv_runner):
//   post(f) / post_node(n)     run f() soon, FIFO
//   after(d, f)                run f() after d
//   read/write(fd, buf, n, f)  f(io_result); accept(fd, f); connect(fd, a, l, f)
//   wait_fd(fd, ev, d, f)      f(io_result): readiness bits, kWaitTimeout or
//                              -errno (detail/fd_ops.hpp)
//   close(fd)                  pending ops on fd end with an error
//   offload(fn, done)          fn() on a worker thread, done(outcome&&) on the loop
//   post_remote(fn, arg)       from any thread
//   hold() / release()         keep the loop alive for a cross-thread wake
//   on_loop_thread()
//   run()                      until no work is left
#pragma once

#include <deque>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "runners/detail/co_scheduler.hpp"  // outcome_box
#include "runners/detail/frame_pool.hpp"
#include "runners/detail/intrusive.hpp"

namespace sy {

// The result of an offloaded function: take() returns it or rethrows.
template <class T>
using outcome = detail::outcome_box<T>;

namespace detail {

struct cb_node : pooled {
    void (*invoke)(cb_node*) = nullptr;  // runs the callback, then frees the node
};

template <class F>
struct cb_fn final : cb_node {
    F f;
    explicit cb_fn(F fn) : f(std::move(fn)) { invoke = &run; }
    static void run(cb_node* n) {
        auto* self = static_cast<cb_fn*>(n);
        struct deleter {
            cb_fn* p;
            ~deleter() { delete p; }
        } d{self};
        self->f();
    }
};

template <class F>
cb_node* make_cb(F&& f) {
    return new cb_fn<std::decay_t<F>>(std::forward<F>(f));
}

// Unbounded FIFO channel for callback models: send never waits; a receiver
// callback is posted (one loop hop, like a switch) when a value meets it.
template <class Runner, class T>
class cb_channel {
public:
    explicit cb_channel(Runner& rt) : rt_(&rt) {}
    cb_channel(const cb_channel&) = delete;
    cb_channel& operator=(const cb_channel&) = delete;
    ~cb_channel() {
        while (recv_base* r = receivers_.pop_front()) delete r;
    }

    void send(T v) {
        if (recv_base* r = receivers_.pop_front()) {
            r->value.emplace(std::move(v));
            rt_->post_node(r);
        } else {
            values_.push_back(std::move(v));
        }
    }
    template <class F>
    void recv(F&& f) {
        auto* n = new recv_node<std::decay_t<F>>(std::forward<F>(f));
        if (!values_.empty()) {
            n->value.emplace(std::move(values_.front()));
            values_.pop_front();
            rt_->post_node(n);
        } else {
            receivers_.push_back(n);
        }
    }

private:
    struct recv_base : cb_node {
        std::optional<T> value;
        recv_base* next = nullptr;
    };
    template <class F>
    struct recv_node final : recv_base {
        F f;
        explicit recv_node(F fn) : f(std::move(fn)) { this->invoke = &run; }
        static void run(cb_node* n) {
            auto* self = static_cast<recv_node*>(n);
            struct deleter {
                recv_node* p;
                ~deleter() { delete p; }
            } d{self};
            self->f(std::move(*self->value));
        }
    };
    Runner* rt_;
    std::deque<T> values_;
    intrusive_fifo<recv_base> receivers_;
};

// Set once (from any thread); every waiter's callback is posted.
template <class Runner>
class cb_event {
public:
    explicit cb_event(Runner& rt) : rt_(&rt) {}
    cb_event(const cb_event&) = delete;
    cb_event& operator=(const cb_event&) = delete;
    ~cb_event() {
        while (wait_base* w = waiters_.pop_front()) {
            rt_->release();
            delete w;
        }
    }

    void set() {
        if (rt_->on_loop_thread())
            set_local();
        else
            rt_->post_remote([](void* p) { static_cast<cb_event*>(p)->set_local(); }, this);
    }
    bool is_set() const { return set_; }
    template <class F>
    void wait(F&& f) {
        if (set_) {
            rt_->post(std::forward<F>(f));
            return;
        }
        waiters_.push_back(new wait_node<std::decay_t<F>>(std::forward<F>(f)));
        rt_->hold();  // a set() may come from another thread
    }

private:
    struct wait_base : cb_node {
        wait_base* next = nullptr;
    };
    template <class F>
    struct wait_node final : wait_base {
        F f;
        explicit wait_node(F fn) : f(std::move(fn)) { this->invoke = &run; }
        static void run(cb_node* n) {
            auto* self = static_cast<wait_node*>(n);
            struct deleter {
                wait_node* p;
                ~deleter() { delete p; }
            } d{self};
            self->f();
        }
    };
    void set_local() {
        if (set_) return;
        set_ = true;
        while (wait_base* w = waiters_.pop_front()) {
            rt_->release();
            rt_->post_node(w);
        }
    }
    Runner* rt_;
    bool set_ = false;
    intrusive_fifo<wait_base> waiters_;
};

}  // namespace detail
}  // namespace sy
