// The scheduler shared by the two stackless models (`coroutine` on epoll,
// `coroutine_uring` on io_uring): a FIFO ready queue of coroutine handles,
// the timer wheel, spawn/join, yield, sleep, a hand-off channel, a
// cross-thread event and offload(). Backend supplies I/O and the doorbell.
//
// Switching: when a task suspends, await_suspend returns the next ready
// handle (symmetric transfer), so a switch is a queue pop and a tail call,
// not a return to the loop. Each loop turn allows kTransferBudget resumes;
// then control returns to the loop so timers, I/O and cross-thread work are
// never starved (at a few ns per switch, that bounds their delay to about a
// microsecond). The fixed budget also bounds the depth of a transfer chain
// where the compiler does not turn symmetric transfer into a tail call
// (sanitizer and -O0 builds), so the stack cannot overflow.
// A join on a child that is still queued near the tail runs the child at
// once (run_joined), so spawn-then-join trees run depth-first; with
// join_policy::fifo (set_join_policy) the joiner waits its turn instead.
// A task woken by the running task (a channel hand-off, a finished child)
// goes to a one-entry `runnext` slot and runs next, as in Go's scheduler: a
// message exchange then costs no queue traffic. The slot is flushed to the
// FIFO at every turn, so it cannot starve the other ready tasks.
//
// Backend concept (see epoll_backend / uring_backend):
//   void wait(std::uint64_t timeout_ns);  // block <= timeout, dispatch events
//   void poll();                          // non-blocking dispatch / submit
//   bool needs_poll() const;              // in-flight I/O to reap
//   remote_queue& remote(); void ring();  // cross-thread work + doorbell
#pragma once

#include <coroutine>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

#include "runners/detail/clock.hpp"
#include "runners/detail/frame_pool.hpp"
#include "runners/detail/intrusive.hpp"
#include "runners/detail/owned_task.hpp"
#include "runners/detail/offload_pool.hpp"
#include "runners/detail/remote_queue.hpp"
#include "runners/detail/ring_queue.hpp"
#include "runners/detail/timer_wheel.hpp"
#include "runners/errors.hpp"
#include "runners/join_policy.hpp"
#include "runners/task.hpp"

namespace sy::detail {

inline constexpr std::size_t kTransferBudget = 256;
// How far back from the ready queue's tail a join looks for the task it
// waits on (a node of a fork-join tree spawns its ~10 children, then joins).
inline constexpr std::size_t kJoinWindow = 16;

// Stores the outcome of a function: value or exception.
template <class T>
struct outcome_box {
    std::variant<std::monostate, T, std::exception_ptr> v;
    template <class F>
    void capture(F& f) {
        try {
            v.template emplace<1>(f());
        } catch (...) {
            v.template emplace<2>(std::current_exception());
        }
    }
    T take() {
        if (v.index() == 2) std::rethrow_exception(std::get<2>(v));
        return std::move(std::get<1>(v));
    }
};
template <>
struct outcome_box<void> {
    std::exception_ptr e;
    template <class F>
    void capture(F& f) {
        try {
            f();
        } catch (...) {
            e = std::current_exception();
        }
    }
    void take() {
        if (e) std::rethrow_exception(e);
    }
};

template <class Backend>
class co_scheduler : private completion_hook {
public:
    static constexpr bool cooperative = true;  // one OS thread, switches only at co_await

    co_scheduler() : wheel_(now_ns()) { on_complete = &complete_spawned; }
    ~co_scheduler() = default;
    co_scheduler(const co_scheduler&) = delete;
    co_scheduler& operator=(const co_scheduler&) = delete;

    // ---- spawn / join ----------------------------------------------------------
    template <class T>
    class join_handle : public owned_task<T, false> {
    public:
        using owned_task<T, false>::owned_task;
        [[nodiscard]] auto join() noexcept {
            struct awaiter {
                std::coroutine_handle<promise<T>> h;
                bool await_ready() const noexcept { return h.promise().state & kDone; }
                std::coroutine_handle<> await_suspend(std::coroutine_handle<> joiner) noexcept {
                    h.promise().continuation = joiner;
                    auto* s = static_cast<co_scheduler*>(
                        static_cast<completion_hook*>(h.promise().ext));
                    return s->run_joined(h);
                }
                T await_resume() { return h.promise().take(); }
            };
            return awaiter{this->h_};
        }
    };

    // Starts `t` concurrently (it runs when the current task suspends).
    template <class T>
    join_handle<T> spawn(task<T> t) {
        auto h = t.release();
        promise_base& p = h.promise();
        p.ext = static_cast<completion_hook*>(this);
        p.hooked = true;
        ++live_;
        ready_.push(h);
        return join_handle<T>{h};
    }

    // ---- yield / sleep -----------------------------------------------------------
    [[nodiscard]] auto yield() noexcept {
        struct awaiter {
            co_scheduler* s;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
                s->ready_.push(h);
                return s->next();
            }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }

    [[nodiscard]] auto sleep_for(std::chrono::nanoseconds d) noexcept {
        struct awaiter : timer_node {
            co_scheduler* s;
            std::coroutine_handle<> h;
            std::uint64_t ns;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) noexcept {
                h = handle;
                if (ns == 0) {  // sleep(0) is a yield
                    s->ready_.push(h);
                    return s->next();
                }
                deadline_ns = now_ns() + ns;
                fire = [](timer_node* n) {
                    auto* a = static_cast<awaiter*>(n);
                    a->s->ready_.push(a->h);
                };
                s->wheel_.insert(this);
                return s->next();
            }
            void await_resume() const noexcept {}
        };
        awaiter a;
        a.s = this;
        a.ns = d.count() > 0 ? std::uint64_t(d.count()) : 0;
        return a;
    }

    // ---- offload (run_in_executor) ---------------------------------------------
    template <class F>
    [[nodiscard]] auto offload(F fn) {
        using R = std::invoke_result_t<F&>;
        struct awaiter {
            co_scheduler* s;
            F fn;
            outcome_box<R> out;
            std::coroutine_handle<> h;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
                h = handle;
                ++s->outstanding_;
                s->offload_pool().submit([this] {
                    out.capture(fn);
                    s->post_remote(&awaiter::resume, this);
                });
                return s->next();
            }
            static void resume(void* p) {
                auto* a = static_cast<awaiter*>(p);
                --a->s->outstanding_;
                a->s->ready_.push(a->h);
            }
            R await_resume() { return out.take(); }
        };
        return awaiter{this, std::move(fn), {}, {}};
    }

    // ---- channel: a one-slot hand-off between tasks ------------------------------
    // send() completes at once when a receiver waits (the value goes straight
    // to it) or the slot is free; recv() completes at once when the slot is
    // full. Otherwise the task waits in FIFO order.
    template <class T>
    class channel {
    public:
        struct send_awaiter {
            channel* c;
            T value;
            std::coroutine_handle<> h{};
            send_awaiter* next = nullptr;
            bool await_ready() noexcept { return c->try_send(value); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) noexcept {
                h = handle;
                c->senders_.push_back(this);
                return c->s_->next();
            }
            void await_resume() const noexcept {}
        };
        struct recv_awaiter {
            channel* c;
            std::optional<T> value{};
            std::coroutine_handle<> h{};
            recv_awaiter* next = nullptr;
            bool await_ready() noexcept { return c->try_recv(value); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) noexcept {
                h = handle;
                c->receivers_.push_back(this);
                return c->s_->next();
            }
            T await_resume() { return std::move(*value); }
        };

        explicit channel(co_scheduler& s) : s_(&s) {}
        channel(const channel&) = delete;
        channel& operator=(const channel&) = delete;

        [[nodiscard]] send_awaiter send(T v) noexcept { return send_awaiter{this, std::move(v)}; }
        [[nodiscard]] recv_awaiter recv() noexcept { return recv_awaiter{this}; }

    private:
        bool try_send(T& v) {
            if (recv_awaiter* r = receivers_.pop_front()) {
                r->value.emplace(std::move(v));
                s_->wake(r->h);
                return true;
            }
            if (slot_) return false;
            slot_.emplace(std::move(v));
            return true;
        }
        bool try_recv(std::optional<T>& out) {
            if (!slot_) return false;
            out.emplace(std::move(*slot_));
            slot_.reset();
            if (send_awaiter* snd = senders_.pop_front()) {  // refill from a waiting sender
                slot_.emplace(std::move(snd->value));
                s_->wake(snd->h);
            }
            return true;
        }
        co_scheduler* s_;
        std::optional<T> slot_;
        intrusive_fifo<recv_awaiter> receivers_;
        intrusive_fifo<send_awaiter> senders_;
    };

    // ---- event: set once (from any thread), wakes every waiter ---------------------
    class event {
    public:
        struct wait_awaiter {
            event* e;
            std::coroutine_handle<> h{};
            wait_awaiter* next = nullptr;
            bool await_ready() const noexcept { return e->set_; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) noexcept {
                h = handle;
                e->waiters_.push_back(this);
                ++e->s_->outstanding_;  // may be woken from another thread
                return e->s_->next();
            }
            void await_resume() const noexcept {}
        };

        explicit event(co_scheduler& s) : s_(&s) {}
        event(const event&) = delete;
        event& operator=(const event&) = delete;

        // Thread-safe. On the loop's thread it wakes waiters directly;
        // elsewhere it goes through the loop's remote queue and doorbell.
        void set() {
            if (std::this_thread::get_id() == s_->owner_)
                set_local();
            else
                s_->post_remote(&event::set_remote, this);
        }
        bool is_set() const { return set_; }
        [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter{this}; }

    private:
        static void set_remote(void* p) { static_cast<event*>(p)->set_local(); }
        void set_local() {
            if (set_) return;
            set_ = true;
            while (wait_awaiter* w = waiters_.pop_front()) {
                --s_->outstanding_;
                s_->ready_.push(w->h);
            }
        }
        co_scheduler* s_;
        bool set_ = false;
        intrusive_fifo<wait_awaiter> waiters_;
    };

    // ---- run -------------------------------------------------------------------------
    // Runs `main` and every task it spawns until all have finished; returns
    // main's value (or rethrows its exception).
    template <class T>
    T run(task<T> main) {
        frame_pool_scope scope(&pool_);
        owner_ = std::this_thread::get_id();
        auto jh = spawn(std::move(main));
        while (live_ > 0) turn();
        return jh.result();
    }

    std::size_t live_tasks() const { return live_; }
    frame_pool& frames() { return pool_; }
    // Before run(): help-first joins (the default) or plain FIFO.
    void set_join_policy(join_policy p) noexcept { help_first_ = p == join_policy::help_first; }
    Backend& backend() { return io_; }

    // Used by backends' I/O awaiters.
    std::coroutine_handle<> next() noexcept {
        if (budget_ > 0) {
            if (runnext_) {
                --budget_;
                return std::exchange(runnext_, {});
            }
            if (!ready_.empty()) {
                --budget_;
                return ready_.pop();
            }
        }
        return std::noop_coroutine();
    }
    // A task waits for `child`: if the child is ready and was queued lately
    // (typically spawned just before), run it now instead of queueing behind
    // everything else -- "help first" join, as fork-join pools do. Work that
    // spawns and joins (skynet, divide and conquer) then runs depth-first
    // and keeps few frames live, not a whole level of the tree.
    std::coroutine_handle<> run_joined(std::coroutine_handle<> child) noexcept {
        if (help_first_ && budget_ > 0 && ready_.take_recent(child, kJoinWindow)) {
            --budget_;
            return child;
        }
        return next();
    }
    // Wake a task from the running one: it runs next.
    void wake(std::coroutine_handle<> h) {
        if (runnext_) ready_.push(runnext_);
        runnext_ = h;
    }
    void make_ready(std::coroutine_handle<> h) { ready_.push(h); }
    void add_outstanding() { ++outstanding_; }
    void add_timer(timer_node* n) { wheel_.insert(n); }
    void cancel_timer(timer_node* n) { wheel_.cancel(n); }
    void sub_outstanding() { --outstanding_; }
    void post_remote(void (*fn)(void*), void* arg) {
        if (io_.remote().push({fn, arg})) io_.ring();
    }

private:
    static std::coroutine_handle<> complete_spawned(completion_hook* hook, promise_base& p,
                                                    std::coroutine_handle<> h) noexcept {
        auto* s = static_cast<co_scheduler*>(hook);
        --s->live_;
        p.state |= kDone;
        if (p.state & kDetached) {
            h.destroy();
            return s->next();
        }
        if (p.continuation) return p.continuation;
        return s->next();
    }

    bool idle() const { return !runnext_ && ready_.empty(); }

    detail::offload_pool& offload_pool() {
        if (!offload_) offload_ = std::make_unique<detail::offload_pool>();
        return *offload_;
    }

    void turn() {
        if (runnext_) ready_.push(std::exchange(runnext_, {}));
        if (io_.remote().pending()) io_.remote().drain();
        if (!wheel_.empty()) wheel_.advance(now_ns());
        if (ready_.empty()) {
            if (wheel_.empty() && outstanding_ == 0 && !io_.remote().pending())
                throw deadlock_error(std::to_string(live_) +
                                     " task(s) suspended with nothing that could wake them "
                                     "(no timer, I/O, offload or event pending)");
            std::uint64_t timeout = kForever;
            if (!wheel_.empty()) {
                std::uint64_t due = wheel_.next_expiry_ns(), now = now_ns();
                timeout = due > now ? due - now : 0;
            }
            io_.wait(timeout);
            if (!wheel_.empty()) wheel_.advance(now_ns());
        } else if (io_.needs_poll()) {
            io_.poll();
        }
        budget_ = kTransferBudget;
        while (budget_ > 0 && !idle()) {
            --budget_;
            (runnext_ ? std::exchange(runnext_, {}) : ready_.pop()).resume();
        }
    }

    frame_pool pool_;  // first member constructed, last destroyed
    Backend io_;
    ring_queue<std::coroutine_handle<>> ready_;
    std::coroutine_handle<> runnext_{};
    timer_wheel wheel_;
    std::size_t live_ = 0;
    std::size_t outstanding_ = 0;  // wake-ups owed by I/O, offload, events
    std::size_t budget_ = 0;
    bool help_first_ = true;  // join_policy::help_first
    std::thread::id owner_;
    std::unique_ptr<detail::offload_pool> offload_;
};

}  // namespace sy::detail
