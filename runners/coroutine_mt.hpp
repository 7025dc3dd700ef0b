// Model `coroutine_mt`: the same sy::task coroutines on an M:N scheduler --
// N worker threads (default one per CPU; `workers:n` in bench names).
//
// Queues (as in Tokio's multi-thread scheduler and Go's runtime):
//   lifo      per worker, owner only: the task just woken by the running one
//             (a channel hand-off); runs next, at most kLifoStreak times in a
//             row; never stolen, never used by yield().
//   local     per worker, FIFO: tasks spawned or woken on that worker: a
//             ring (detail/ring_queue.hpp) under a spin lock
//             (detail/spin_lock.hpp), on cache lines of its own so the
//             owner's private fields do not bounce with thieves' locking.
//   inject    global, spin lock: tasks made ready by threads that are not workers
//             (offload completions, events set from outside, the main task).
//   steal     a worker out of work takes half of a random victim's local queue.
// A switch is what it is in `coroutine` (await_suspend returns the next
// handle: symmetric transfer), plus a lock/unlock of the worker's own queue
// per pop or push (none for the LIFO slot) and one of a channel's lock per
// send or recv; kTransferBudget resumes per turn, then the worker looks at
// the inject queue, timers and I/O. Live tasks are counted per worker with
// plain stores; the last worker to park sums the counts and ends run() at 0.
//
// Parking (Tokio's idle.rs protocol): counts of searching and unparked
// workers; a push wakes a parked worker only when nobody is searching; a
// worker that stops searching because it found work wakes another if more is
// queued; a worker that parks registers first, then looks at every queue
// again under the queue's lock, while a push reads the idle counts after its
// unlock (the locks order the two sides: Dekker without a seq_cst store per
// push), so a push is never lost between the look and the sleep. Parked workers sleep on a futex (std::atomic::wait),
// except one: the first to park takes the "driver" role and sleeps in the
// shared poller's epoll_pwait2 with the next timer as its timeout (woken by
// the poller's eventfd).
//
// Join (cppcoro's task/static_thread_pool): the joiner stores its handle as
// the continuation, then sets kJoined in the task's state word; the finisher
// sets kDone. Each does one atomic RMW; whichever comes second resumes the
// joiner (the finisher by symmetric transfer, the joiner by not suspending).
// Help-first: a join on a child still near the tail of the joiner's own
// queue takes it out and runs it at once (join_policy::help_first). The RMWs
// are skipped where no race is possible: a help-first joiner stores kJoined
// (nobody else can see the child yet), a finisher that finds kJoined already
// set stores kDone (the joiner is suspended), and a handle dropped after its
// task is seen done frees it at once. In a tree of joins that leaves the
// queue's lock as the only RMW per task.
//
// Timers: one timer_wheel under a mutex, advanced by whichever worker is at
// a turn boundary (try_lock) or by the driver when its wait times out. I/O:
// one shared epoll poller (detail/mt_poller.hpp, and why there). Frames:
// from a frame_pool per worker (a detail::frame_pool_group): a frame made on
// one worker and ended on another goes to the second one's free list, and
// full lists trade batches through the group (detail/frame_pool.hpp), so a
// spawn costs what it costs in `coroutine`, with no malloc and no lock.
// Deadlock: the last worker to park, finding no queued task, timer, armed
// I/O or pending cross-thread wake, ends run() with sy::deadlock_error.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "runners/detail/blocking.hpp"
#include "runners/detail/clock.hpp"
#include "runners/detail/co_scheduler.hpp"
#include "runners/detail/fd_ops.hpp"
#include "runners/detail/intrusive.hpp"
#include "runners/detail/mt_poller.hpp"
#include "runners/detail/offload_pool.hpp"
#include "runners/detail/ring_queue.hpp"
#include "runners/detail/spin_lock.hpp"
#include "runners/detail/timer_wheel.hpp"
#include "runners/errors.hpp"
#include "runners/join_policy.hpp"
#include "runners/task.hpp"

namespace sy {

struct coroutine_mt_options {
    unsigned workers = 0;  // 0: one per CPU this process may use
};

namespace detail {
inline constexpr std::uint32_t kJoined = 4;  // a joiner's continuation is set
// x86-64's line: what a worker's shared and private fields are kept apart by
// (std::hardware_destructive_interference_size warns in headers on GCC 12).
inline constexpr std::size_t kCacheLine = 64;
// Runs from the LIFO slot in a row before the local queue gets a turn (Tokio: 3).
inline constexpr unsigned kLifoStreak = 3;
}  // namespace detail

class coroutine_mt_runner : private detail::completion_hook {
public:
    static constexpr std::string_view name = "coroutine_mt";
    // Tasks run in parallel on several threads: no order between them.
    static constexpr bool cooperative = false;
    // ...but, unlike thread and pool, an await suspends the task and never
    // blocks its worker (benches: sleepers are not OS threads, pread is sync).
    static constexpr bool work_stealing = true;

    explicit coroutine_mt_runner(coroutine_mt_options opts = {});
    ~coroutine_mt_runner();
    coroutine_mt_runner(const coroutine_mt_runner&) = delete;
    coroutine_mt_runner& operator=(const coroutine_mt_runner&) = delete;

    // ---- spawn / join ----------------------------------------------------------------
    template <class T>
    class join_handle {
    public:
        join_handle() = default;
        explicit join_handle(std::coroutine_handle<detail::promise<T>> h) : h_(h) {}
        join_handle(join_handle&& o) noexcept : h_(std::exchange(o.h_, {})) {}
        join_handle& operator=(join_handle&& o) noexcept {
            if (this != &o) {
                drop();
                h_ = std::exchange(o.h_, {});
            }
            return *this;
        }
        ~join_handle() { drop(); }

        [[nodiscard]] auto join() noexcept {
            struct awaiter {
                std::coroutine_handle<detail::promise<T>> h;
                bool await_ready() const noexcept {
                    return detail::state_of(h.promise()).load(std::memory_order_acquire) &
                           detail::kDone;
                }
                std::coroutine_handle<> await_suspend(std::coroutine_handle<> joiner) noexcept {
                    detail::promise_base& p = h.promise();
                    auto* s = static_cast<coroutine_mt_runner*>(
                        static_cast<detail::completion_hook*>(p.ext));
                    p.continuation = joiner;
                    if (s->take_recent_local(h)) {  // not started: run it here, now
                        // Nobody else can reach the task before it runs, so
                        // a plain store (no RMW); its finisher, wherever it
                        // ends, is ordered after this by the queue it went
                        // through when it suspended.
                        auto st = detail::state_of(p);
                        st.store(st.load(std::memory_order_relaxed) | detail::kJoined,
                                 std::memory_order_relaxed);
                        return h;
                    }
                    // One RMW settles the race with the finisher (see the header).
                    std::uint32_t old =
                        detail::state_of(p).fetch_or(detail::kJoined, std::memory_order_acq_rel);
                    if (old & detail::kDone) return joiner;  // finished meanwhile
                    return s->next();  // `this` may be gone now (resumed elsewhere)
                }
                T await_resume() { return h.promise().take(); }
            };
            return awaiter{h_};
        }
        bool done() const {
            return h_ && (detail::state_of(h_.promise()).load(std::memory_order_acquire) &
                          detail::kDone);
        }
        // After run(): the task's value or exception.
        T result() { return h_.promise().take(); }

    private:
        void drop() noexcept {
            if (!h_) return;
            auto st = detail::state_of(h_.promise());
            // Seen done (the usual case after a join): the finisher is past
            // its last touch of the frame, so no RMW is needed to free it.
            if (st.load(std::memory_order_acquire) & detail::kDone ||
                st.fetch_or(detail::kDetached, std::memory_order_acq_rel) & detail::kDone)
                h_.destroy();  // else the task destroys itself at its end
            h_ = {};
        }
        std::coroutine_handle<detail::promise<T>> h_{};
    };

    // Starts `t`: on a worker it goes to that worker's local queue.
    template <class T>
    join_handle<T> spawn(task<T> t) {
        auto h = t.release();
        detail::promise_base& p = h.promise();
        p.ext = static_cast<detail::completion_hook*>(this);
        p.hooked = true;
        count_live(+1);
        make_ready(h);
        return join_handle<T>{h};
    }

    // ---- yield / sleep -----------------------------------------------------------------
    [[nodiscard]] auto yield() noexcept {
        struct awaiter {
            coroutine_mt_runner* s;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> h) noexcept {
                // Copy s first: once h is queued another worker may resume it,
                // finish the task and free the frame this awaiter lives in.
                coroutine_mt_runner* rt = s;
                rt->make_ready(h);
                return rt->next();
            }
            void await_resume() const noexcept {}
        };
        return awaiter{this};
    }

    [[nodiscard]] auto sleep_for(std::chrono::nanoseconds d) noexcept {
        struct awaiter : detail::timer_node {
            coroutine_mt_runner* s;
            std::coroutine_handle<> h;
            std::uint64_t ns;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) noexcept {
                h = handle;
                coroutine_mt_runner* rt = s;
                if (ns == 0) {  // sleep(0) is a yield
                    rt->make_ready(h);
                    return rt->next();
                }
                deadline_ns = detail::now_ns() + ns;
                fire = [](detail::timer_node* n) {  // under timer_mu_, on a worker
                    auto* a = static_cast<awaiter*>(n);
                    a->s->make_ready(a->h);
                };
                rt->add_timer(this);  // may fire on another worker at once
                return rt->next();
            }
            void await_resume() const noexcept {}
        };
        awaiter a;
        a.s = this;
        a.ns = d.count() > 0 ? std::uint64_t(d.count()) : 0;
        return a;
    }

    // ---- offload (run_in_executor) -------------------------------------------------------
    template <class F>
    [[nodiscard]] auto offload(F fn) {
        using R = std::invoke_result_t<F&>;
        struct awaiter {
            coroutine_mt_runner* s;
            F fn;
            detail::outcome_box<R> out;
            std::coroutine_handle<> h;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
                h = handle;
                coroutine_mt_runner* rt = s;
                rt->outstanding_.fetch_add(1, std::memory_order_relaxed);
                rt->offload_pool().submit([this] {
                    out.capture(fn);
                    s->make_ready(h);  // nothing of *this is touched after
                });
                return rt->next();
            }
            R await_resume() {
                s->outstanding_.fetch_sub(1, std::memory_order_acq_rel);
                return out.take();
            }
        };
        return awaiter{this, std::move(fn), {}, {}};
    }

    // ---- I/O -----------------------------------------------------------------------------
    template <class Op>
    struct io_awaiter : Op {
        coroutine_mt_runner* rt;
        std::coroutine_handle<> h;
        template <class... A>
        explicit io_awaiter(coroutine_mt_runner* r, A... args) : Op(args...), rt(r) {}
        bool await_ready() {
            this->result = this->attempt(this);
            return this->result != -EAGAIN;
        }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
            h = handle;
            this->complete = &done;
            coroutine_mt_runner* s = rt;
            if (!s->poller_.arm(this, Op::dir)) return handle;  // ready after all
            return s->next();  // may already run elsewhere
        }
        io_result await_resume() const noexcept { return this->result; }
        static void done(detail::io_op* o) {
            auto* a = static_cast<io_awaiter*>(o);
            a->rt->make_ready(a->h);
        }
    };

    [[nodiscard]] auto read(int fd, void* buf, std::size_t n) {
        return io_awaiter<detail::read_op>(this, fd, buf, n);
    }
    [[nodiscard]] auto write(int fd, const void* buf, std::size_t n) {
        return io_awaiter<detail::write_op>(this, fd, buf, n);
    }
    [[nodiscard]] auto pread(int fd, void* buf, std::size_t n, off_t offset) {
        return io_awaiter<detail::pread_op>(this, fd, buf, n, offset);
    }
    [[nodiscard]] auto accept(int fd) { return io_awaiter<detail::accept_op>(this, fd); }
    [[nodiscard]] auto connect(int fd, const sockaddr* addr, socklen_t len) {
        return io_awaiter<detail::connect_op>(this, fd, addr, len);
    }
    // Readiness with a bound (detail/fd_ops.hpp): the fd in the shared poller
    // and a timer in the wheel. The two may fire on two workers at once and
    // their locks are never nested, so neither unlinks the other: the first
    // to claim the wait records the result and resumes the task, and the
    // resumed task (holding no lock) unlinks what is left, under each one's
    // own lock, before its frame can go. `gate` keeps a claim made while
    // await_suspend is still arming from resuming the task under its feet:
    // the last of the two (claim, end of arming) resumes it.
    struct wait_awaiter : detail::poll_op {
        struct timer : detail::timer_node {
            wait_awaiter* self;
        } t;
        coroutine_mt_runner* rt;
        std::coroutine_handle<> h;
        std::uint64_t ns;
        io_result final_ = 0;
        std::atomic<bool> claimed{false};
        std::atomic<int> gate{2};
        bool suspended = false;
        wait_awaiter(coroutine_mt_runner* r, int fd, unsigned ev, std::uint64_t n)
            : poll_op(fd, ev), rt(r), ns(n) {}
        bool await_ready() {
            final_ = this->attempt(this);
            if (final_ == -EAGAIN && ns == 0) final_ = kWaitTimeout;
            return final_ != -EAGAIN;
        }
        // true: the caller resumes the task
        bool claim(io_result r) {
            if (claimed.exchange(true, std::memory_order_acq_rel)) return false;
            final_ = r;
            return gate.fetch_sub(1, std::memory_order_acq_rel) == 1;
        }
        std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
            h = handle;
            suspended = true;
            this->complete = &done;
            t.self = this;
            t.deadline_ns = detail::now_ns() + ns;
            t.fire = &timed_out;
            coroutine_mt_runner* s = rt;
            s->add_timer(&t);
            if (!s->poller_.arm(this, dir())) claim(this->result);  // ready after all
            if (gate.fetch_sub(1, std::memory_order_acq_rel) == 1) return handle;  // claimed meanwhile
            return s->next();
        }
        io_result await_resume() {
            if (suspended) {
                rt->poller_.disarm(this);
                rt->cancel_timer(&t);
            }
            return final_;
        }
        static void done(detail::io_op* o) {  // under the poller's lock
            auto* a = static_cast<wait_awaiter*>(o);
            coroutine_mt_runner* s = a->rt;
            std::coroutine_handle<> h = a->h;
            if (a->claim(a->result)) s->make_ready(h);
        }
        static void timed_out(detail::timer_node* n) {  // under timer_mu_
            wait_awaiter* a = static_cast<timer*>(n)->self;
            coroutine_mt_runner* s = a->rt;
            std::coroutine_handle<> h = a->h;
            if (a->claim(kWaitTimeout)) s->make_ready(h);
        }
    };
    [[nodiscard]] auto wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout) {
        return wait_awaiter(this, fd, events, detail::wait_ns(timeout));
    }

    // Closes an fd used with this runner (pending ops end with -ECANCELED).
    void close(int fd) {
        poller_.forget(fd);
        ::close(fd);
    }

    // ---- channel: a one-slot hand-off, safe across workers ------------------------------------
    template <class T>
    class channel {
    public:
        struct send_awaiter {
            channel* c;
            T value;
            std::coroutine_handle<> h{};
            send_awaiter* next = nullptr;
            // Everything under one lock in await_suspend (a ready send resumes
            // at once): await_ready would take the lock a second time.
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
                std::coroutine_handle<> wake{};
                coroutine_mt_runner* s = c->s_;
                {
                    std::lock_guard l(c->mu_);
                    if (!c->try_send(value, wake)) {
                        h = handle;
                        c->senders_.push_back(this);
                        return s->next();  // unlocks after choosing: nothing of *this used
                    }
                }
                if (wake) s->wake(wake);
                return handle;  // sent after all
            }
            void await_resume() const noexcept {}
        };
        struct recv_awaiter {
            channel* c;
            std::optional<T> value{};
            std::coroutine_handle<> h{};
            recv_awaiter* next = nullptr;
            bool await_ready() const noexcept { return false; }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) {
                std::coroutine_handle<> wake{};
                coroutine_mt_runner* s = c->s_;
                {
                    std::lock_guard l(c->mu_);
                    if (!c->try_recv(value, wake)) {
                        h = handle;
                        c->receivers_.push_back(this);
                        return s->next();
                    }
                }
                if (wake) s->wake(wake);
                return handle;
            }
            T await_resume() { return std::move(*value); }
        };

        explicit channel(coroutine_mt_runner& s) : s_(&s) {}
        channel(const channel&) = delete;
        channel& operator=(const channel&) = delete;

        [[nodiscard]] send_awaiter send(T v) noexcept { return send_awaiter{this, std::move(v)}; }
        [[nodiscard]] recv_awaiter recv() noexcept { return recv_awaiter{this}; }

    private:
        // Under mu_; `wake` is the task to make ready once the lock is released.
        bool try_send(T& v, std::coroutine_handle<>& wake) {
            if (recv_awaiter* r = receivers_.pop_front()) {
                r->value.emplace(std::move(v));
                wake = r->h;
                return true;
            }
            if (slot_) return false;
            slot_.emplace(std::move(v));
            return true;
        }
        bool try_recv(std::optional<T>& out, std::coroutine_handle<>& wake) {
            if (!slot_) return false;
            out.emplace(std::move(*slot_));
            slot_.reset();
            if (send_awaiter* snd = senders_.pop_front()) {
                slot_.emplace(std::move(snd->value));
                wake = snd->h;
            }
            return true;
        }
        coroutine_mt_runner* s_;
        detail::spin_lock mu_;
        std::optional<T> slot_;
        detail::intrusive_fifo<recv_awaiter> receivers_;
        detail::intrusive_fifo<send_awaiter> senders_;
    };

    // ---- event: set once (from any thread), wakes every waiter ------------------------------
    class event {
    public:
        struct wait_awaiter {
            event* e;
            std::coroutine_handle<> h{};
            wait_awaiter* next = nullptr;
            bool await_ready() const noexcept { return e->set_.load(std::memory_order_acquire); }
            std::coroutine_handle<> await_suspend(std::coroutine_handle<> handle) noexcept {
                coroutine_mt_runner* s = e->s_;
                std::lock_guard l(e->mu_);
                if (e->set_.load(std::memory_order_relaxed)) return handle;
                h = handle;
                s->outstanding_.fetch_add(1, std::memory_order_relaxed);  // may be woken from outside
                e->waiters_.push_back(this);
                return s->next();
            }
            void await_resume() const noexcept {}
        };

        explicit event(coroutine_mt_runner& s) : s_(&s) {}
        event(const event&) = delete;
        event& operator=(const event&) = delete;

        void set() {  // any thread
            detail::intrusive_fifo<wait_awaiter> woken;
            {
                std::lock_guard l(mu_);
                if (set_.load(std::memory_order_relaxed)) return;
                set_.store(true, std::memory_order_release);
                while (wait_awaiter* w = waiters_.pop_front()) woken.push_back(w);
            }
            coroutine_mt_runner* s = s_;
            while (wait_awaiter* w = woken.pop_front()) {
                std::coroutine_handle<> h = w->h;
                s->make_ready(h);
                s->outstanding_.fetch_sub(1, std::memory_order_acq_rel);  // after: see deadlock check
            }
        }
        bool is_set() const { return set_.load(std::memory_order_acquire); }
        [[nodiscard]] wait_awaiter wait() noexcept { return wait_awaiter{this}; }

    private:
        coroutine_mt_runner* s_;
        std::mutex mu_;
        std::atomic<bool> set_{false};
        detail::intrusive_fifo<wait_awaiter> waiters_;
    };

    // ---- run ----------------------------------------------------------------------------------
    // Runs `main` and every task it spawns on the workers (the calling thread
    // is worker 0) until all have finished; returns main's value.
    template <class T>
    T run(task<T> main) {
        auto jh = spawn(std::move(main));
        run_workers();  // throws deadlock_error or a worker's error
        return jh.result();
    }

    // Exact once run() has returned; a moment's estimate while it runs.
    std::size_t live_tasks() const;
    unsigned worker_count() const { return unsigned(workers_.size()); }
    // The workers' frame pools (see the header).
    detail::frame_pool_group& frames() { return frames_; }
    // Before run(): help-first joins (the default) or plain FIFO.
    void set_join_policy(join_policy p) noexcept { help_first_ = p == join_policy::help_first; }

    // ---- used by the awaiters ----------------------------------------------------------------
    struct worker;
    // The next task for this worker's thread, within its turn budget (else
    // noop: back to the worker loop).
    std::coroutine_handle<> next() noexcept;
    // Ready `h`: on one of our workers, its local queue; elsewhere, inject.
    void make_ready(std::coroutine_handle<> h);
    // Wake `h` from a running task: it runs next on this worker (LIFO slot).
    void wake(std::coroutine_handle<> h);

private:
    static std::coroutine_handle<> complete_spawned(detail::completion_hook* hook,
                                                    detail::promise_base& p,
                                                    std::coroutine_handle<> h) noexcept;
    bool take_recent_local(std::coroutine_handle<> h) noexcept;
    void count_live(int delta) noexcept;
    std::int64_t live_sum() const;
    void add_timer(detail::timer_node* n);
    void cancel_timer(detail::timer_node* n);
    detail::offload_pool& offload_pool();

    void run_workers();
    void work(worker& w);
    void maintain(worker& w);
    std::coroutine_handle<> find_work(worker& w);
    std::coroutine_handle<> pop_local(worker& w);
    std::coroutine_handle<> pop_inject();
    std::coroutine_handle<> steal_into(worker& w);
    void push_local(worker& w, std::coroutine_handle<> h, bool notify = true);
    void push_inject(std::coroutine_handle<> h);
    bool work_visible();
    void leave_searching(worker& w);
    void notify_parked();
    void unpark(unsigned i);  // under idle_mu_
    void park(worker& w);
    void park_wait(worker& w);
    void unpark_self(worker& w);
    bool finished_or_deadlocked(worker& w);
    void stop_all_locked();  // under idle_mu_
    void fail(std::exception_ptr e);

    detail::frame_pool_group frames_;  // first member constructed, last destroyed
    std::vector<std::unique_ptr<worker>> workers_;
    bool help_first_ = true;

    // inject queue
    detail::spin_lock inject_mu_;
    std::deque<std::coroutine_handle<>> inject_;
    std::atomic<std::size_t> inject_size_{0};

    // idle: who is searching, who is parked (Tokio's idle.rs)
    std::mutex idle_mu_;
    std::vector<unsigned> sleepers_;  // under idle_mu_
    std::atomic<unsigned> searching_{0};
    std::atomic<unsigned> unparked_{0};
    std::atomic<bool> stop_{false};
    std::exception_ptr failure_;  // under idle_mu_

    // timers
    std::mutex timer_mu_;
    detail::timer_wheel wheel_;
    std::atomic<std::size_t> timers_{0};
    std::uint64_t driver_deadline_ = 0;  // under timer_mu_: the driver's wake time (0: none)

    // I/O and the driver role
    detail::mt_poller poller_;
    std::mutex driver_mu_;
    std::atomic<int> driver_owner_{-1};

    // Live tasks = external_live_ + the sum of the workers' counts: a worker
    // counts the spawns and completions that happen on it with plain stores
    // to its own word (one shared counter bounced between the cores on every
    // spawn). Only the last worker to park sums them, when none can change.
    std::atomic<std::int64_t> external_live_{0};  // spawned off the workers
    std::atomic<std::size_t> outstanding_{0};  // suspended tasks owed a wake from outside

    std::mutex offload_mu_;
    std::unique_ptr<detail::offload_pool> offload_;  // last: its threads stop first
};

// ---- the worker and the hot paths (inline) ------------------------------------------------------
struct alignas(detail::kCacheLine) coroutine_mt_runner::worker {
    // Shared with thieves and parkers: the local queue.
    detail::spin_lock mu;
    // Help-first joins take a task out of the middle: it leaves a hole (a
    // null handle) that pops skip and that is trimmed at once at the tail.
    detail::ring_queue<std::coroutine_handle<>> local;  // under mu
    std::atomic<std::size_t> local_size{0};  // tasks, not holes: for thieves and parkers

    // The owner's own (a line of their own).
    alignas(detail::kCacheLine) coroutine_mt_runner* rt = nullptr;
    unsigned index = 0;
    std::coroutine_handle<> lifo{};
    unsigned lifo_streak = 0;
    std::size_t budget = 0;
    bool searching = false;
    std::uint64_t rng = 0;
    std::atomic<std::int64_t> live{0};     // spawns - completions on this worker (owner writes)
    std::vector<std::coroutine_handle<>> stolen;  // scratch for steal_into
    std::thread thread;

    alignas(detail::kCacheLine) std::atomic<std::uint32_t> parked{0};  // futex word: 1 while parked
};

namespace detail {
// The worker the calling thread is (nullptr: not a worker of any runner).
inline thread_local coroutine_mt_runner::worker* tl_mt_worker = nullptr;
}  // namespace detail

inline void coroutine_mt_runner::push_local(worker& w, std::coroutine_handle<> h, bool notify) {
    {
        std::lock_guard l(w.mu);
        w.local.push(h);
        // A hint for thieves; a parker looks under the lock (work_visible).
        w.local_size.store(w.local.size(), std::memory_order_relaxed);
    }
    if (notify && workers_.size() > 1) notify_parked();
}

inline std::coroutine_handle<> coroutine_mt_runner::pop_local(worker& w) {
    if (w.local_size.load(std::memory_order_relaxed) == 0) return {};
    std::lock_guard l(w.mu);
    if (w.local.empty()) return {};
    auto h = w.local.pop();
    w.local_size.store(w.local.size(), std::memory_order_relaxed);
    return h;
}

inline void coroutine_mt_runner::make_ready(std::coroutine_handle<> h) {
    worker* w = detail::tl_mt_worker;
    if (w && w->rt == this)
        push_local(*w, h);
    else
        push_inject(h);
}

inline void coroutine_mt_runner::wake(std::coroutine_handle<> h) {
    worker* w = detail::tl_mt_worker;
    if (!w || w->rt != this) {
        push_inject(h);
        return;
    }
    if (w->lifo) push_local(*w, w->lifo);
    w->lifo = h;
}

inline std::coroutine_handle<> coroutine_mt_runner::next() noexcept {
    worker* w = detail::tl_mt_worker;
    if (w->budget == 0) return std::noop_coroutine();
    if (w->lifo) {
        // The cap is for fairness to the local queue: with nothing queued the
        // slot's task just runs on (a ping-pong pair stays on this worker
        // until the turn ends), and a capped one is queued without waking
        // anyone -- this worker is about to run the queue itself.
        if (w->lifo_streak < detail::kLifoStreak ||
            w->local_size.load(std::memory_order_relaxed) == 0) {
            ++w->lifo_streak;
            --w->budget;
            return std::exchange(w->lifo, {});
        }
        push_local(*w, std::exchange(w->lifo, {}), /*notify=*/false);
    }
    w->lifo_streak = 0;
    if (auto h = pop_local(*w)) {
        --w->budget;
        return h;
    }
    return std::noop_coroutine();
}

inline bool coroutine_mt_runner::take_recent_local(std::coroutine_handle<> h) noexcept {
    worker* w = detail::tl_mt_worker;
    if (!help_first_ || w->budget == 0) return false;
    std::lock_guard l(w->mu);
    if (!w->local.take_recent(h, detail::kJoinWindow)) return false;
    w->local_size.store(w->local.size(), std::memory_order_relaxed);
    --w->budget;
    return true;
}

inline void coroutine_mt_runner::count_live(int delta) noexcept {
    worker* w = detail::tl_mt_worker;
    if (w && w->rt == this)
        w->live.store(w->live.load(std::memory_order_relaxed) + delta, std::memory_order_relaxed);
    else
        external_live_.fetch_add(delta, std::memory_order_acq_rel);
}

inline std::coroutine_handle<> coroutine_mt_runner::complete_spawned(detail::completion_hook* hook,
                                                                     detail::promise_base& p,
                                                                     std::coroutine_handle<> h) noexcept {
    auto* s = static_cast<coroutine_mt_runner*>(hook);
    auto st = detail::state_of(p);
    std::coroutine_handle<> then;
    // A joiner already waiting is suspended until we resume it, and only it
    // could write the state word: a plain store of kDone will do (the usual
    // case in a tree of joins). Otherwise one RMW settles the race.
    if (std::uint32_t cur = st.load(std::memory_order_acquire); cur & detail::kJoined) {
        then = p.continuation;  // the joiner runs here, now
        st.store(cur | detail::kDone, std::memory_order_relaxed);
    } else if (std::uint32_t old = st.fetch_or(detail::kDone, std::memory_order_acq_rel);
               old & detail::kDetached) {
        h.destroy();
    } else if (old & detail::kJoined) {
        then = p.continuation;
    }
    s->count_live(-1);  // run() ends when the last worker to park sums these to 0
    return then ? then : s->next();
}

}  // namespace sy
