// Model `fiber`: stackful fibers on Boost.Context (boost::context::fiber)
// with our own scheduler, timer wheel and epoll readiness.
//
// Scheduling: one OS thread; a FIFO ready queue of fibers plus a `runnext`
// slot for the fiber just woken (as in the coroutine loop). A switch saves
// the callee-saved registers and stack pointer and jumps straight to the next
// fiber (jump_fcontext): fiber to fiber, never through a scheduler context;
// the loop's own context runs only when nothing is ready or a turn's budget
// is spent. Workload bodies are sy::task coroutines whose awaits complete
// inside await_ready by switching fibers, so a body runs straight through on
// its fiber's stack and the coroutine frame merely holds its locals.
// Stacks: fixed size (default 32 KiB), guard page, pooled (see stack_pool).
#pragma once

#include <boost/context/fiber.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <thread>

#include "runners/detail/clock.hpp"
#include "runners/detail/co_scheduler.hpp"  // outcome_box, kTransferBudget
#include "runners/detail/epoll_reactor.hpp"
#include "runners/detail/fd_ops.hpp"
#include "runners/detail/frame_pool.hpp"
#include "runners/detail/intrusive.hpp"
#include "runners/detail/owned_task.hpp"
#include "runners/detail/offload_pool.hpp"
#include "runners/detail/ring_queue.hpp"
#include "runners/detail/stack_pool.hpp"
#include "runners/detail/sync_awaiter.hpp"
#include "runners/detail/timer_wheel.hpp"
#include "runners/join_policy.hpp"
#include "runners/task.hpp"

namespace sy {

inline constexpr std::size_t kDefaultFiberStack = 32 * 1024;

struct fiber_options {
    std::size_t stack_size = kDefaultFiberStack;
    bool guard_page = true;
};

class fiber_runner {
public:
    static constexpr std::string_view name = "fiber";
    static constexpr bool cooperative = true;

    explicit fiber_runner(fiber_options opts = {});
    ~fiber_runner();
    fiber_runner(const fiber_runner&) = delete;
    fiber_runner& operator=(const fiber_runner&) = delete;

    struct fiber_rec : detail::pooled {
        boost::context::fiber ctx;  // empty until the fiber first runs
        std::coroutine_handle<> task{};
        detail::promise_base* promise = nullptr;
        void (*fail)(fiber_rec*, std::exception_ptr) = nullptr;  // could not start
        bool started = false;
#if defined(__SANITIZE_ADDRESS__)
        const void* stack_bottom = nullptr;
        std::size_t stack_size = 0;
#endif
    };

    // ---- spawn / join ------------------------------------------------------------
    template <class T>
    class join_handle : public detail::owned_task<T, false, fiber_runner> {
        using base = detail::owned_task<T, false, fiber_runner>;

    public:
        join_handle() = default;
        join_handle(std::coroutine_handle<detail::promise<T>> h, fiber_runner* rt, fiber_rec* rec)
            : base(h, rt), rec_(rec) {}
        [[nodiscard]] auto join() {
            return detail::sync_await([this]() -> T {
                auto& p = this->h_.promise();
                while (!(p.state & detail::kDone)) {
                    p.ext = this->rt_->current_;
                    this->rt_->suspend_for(rec_);  // rec_ lives until the task is done
                }
                return p.take();
            });
        }

    private:
        fiber_rec* rec_ = nullptr;
    };

    // The fiber (and its stack) is created when it first runs, so spawned
    // but not yet started tasks cost only their frame and a record.
    template <class T>
    join_handle<T> spawn(task<T> t) {
        auto h = t.release();
        auto* rec = new fiber_rec;
        rec->task = h;
        rec->promise = &h.promise();
        rec->fail = [](fiber_rec* r, std::exception_ptr e) {
            auto typed = std::coroutine_handle<detail::promise<T>>::from_address(r->task.address());
            typed.promise().unhandled_exception_from(std::move(e));
        };
        ++live_;
        ready_.push(rec);
        return join_handle<T>{h, this, rec};
    }

    // ---- yield / sleep -------------------------------------------------------------
    [[nodiscard]] auto yield() {
        return detail::sync_await([this] {
            ready_.push(current_);
            suspend();
        });
    }

    [[nodiscard]] auto sleep_for(std::chrono::nanoseconds d) {
        return detail::sync_await([this, d] { sleep_ns(d.count() > 0 ? std::uint64_t(d.count()) : 0); });
    }

    // ---- I/O (readiness: attempt, park on EAGAIN) ----------------------------------
    [[nodiscard]] auto read(int fd, void* buf, std::size_t n) {
        return detail::sync_await([=, this] {
            detail::read_op op(fd, buf, n);
            return do_io(op, detail::io_dir::in);
        });
    }
    [[nodiscard]] auto write(int fd, const void* buf, std::size_t n) {
        return detail::sync_await([=, this] {
            detail::write_op op(fd, buf, n);
            return do_io(op, detail::io_dir::out);
        });
    }
    [[nodiscard]] auto pread(int fd, void* buf, std::size_t n, off_t offset) {
        return detail::sync_await([=, this] {
            detail::pread_op op(fd, buf, n, offset);
            return do_io(op, detail::io_dir::in);
        });
    }
    [[nodiscard]] auto accept(int fd) {
        return detail::sync_await([=, this] {
            detail::accept_op op(fd);
            return do_io(op, detail::io_dir::in);
        });
    }
    [[nodiscard]] auto connect(int fd, const sockaddr* addr, socklen_t len) {
        return detail::sync_await([=, this] {
            detail::connect_op op(fd, addr, len);
            return do_io(op, detail::io_dir::out);
        });
    }
    // Readiness with a bound: the fd in the reactor and a timer in the
    // wheel, whichever comes first (detail/fd_ops.hpp).
    [[nodiscard]] auto wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout) {
        return detail::sync_await([=, this] { return wait_ready(fd, events, detail::wait_ns(timeout)); });
    }
    void close(int fd) {
        io_.forget(fd);
        ::close(fd);
    }

    // ---- offload --------------------------------------------------------------------
    template <class F>
    [[nodiscard]] auto offload(F fn) {
        using R = std::invoke_result_t<F&>;
        return detail::sync_await([this, fn = std::move(fn)]() mutable -> R {
            detail::outcome_box<R> out;
            fiber_rec* self = current_;
            struct ctx_t {
                fiber_runner* rt;
                fiber_rec* self;
            } ctx{this, self};
            ++outstanding_;
            offload_pool().submit([&out, &fn, &ctx] {
                out.capture(fn);
                ctx.rt->post_remote(
                    [](void* p) {
                        auto* c = static_cast<ctx_t*>(p);
                        --c->rt->outstanding_;
                        c->rt->ready_.push(c->self);
                    },
                    &ctx);
            });
            suspend();
            return out.take();
        });
    }

    // ---- channel ----------------------------------------------------------------------
    // Same semantics as the coroutine loop's channel; the waiting fiber's
    // record sits on its own stack, so nothing is allocated.
    template <class T>
    class channel {
    public:
        explicit channel(fiber_runner& rt) : rt_(&rt) {}
        channel(const channel&) = delete;
        channel& operator=(const channel&) = delete;

        struct send_awaiter {
            channel* c;
            T value;
            bool await_ready() {
                c->do_send(value);
                return true;
            }
            void await_suspend(std::coroutine_handle<>) const noexcept {}
            void await_resume() const noexcept {}
        };
        struct recv_awaiter {
            channel* c;
            bool await_ready() const noexcept { return true; }
            void await_suspend(std::coroutine_handle<>) const noexcept {}
            T await_resume() { return c->do_recv(); }
        };
        [[nodiscard]] send_awaiter send(T v) { return send_awaiter{this, std::move(v)}; }
        [[nodiscard]] recv_awaiter recv() { return recv_awaiter{this}; }

    private:
        struct waiter {
            fiber_rec* fiber;
            std::optional<T> value{};
            waiter* next = nullptr;
        };
        // A waiter lives on its fiber's stack while that fiber is suspended in
        // this call, and is unlinked before the call returns; GCC cannot see
        // the suspension and warns that a local's address escapes.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
        void do_send(T& v) {
            if (waiter* r = receivers_.pop_front()) {
                r->value.emplace(std::move(v));
                rt_->wake(r->fiber);
                return;
            }
            if (!slot_) {
                slot_.emplace(std::move(v));
                return;
            }
            waiter me{rt_->current_};
            me.value.emplace(std::move(v));
            senders_.push_back(&me);
            rt_->suspend();  // a receiver took our value
        }
        T do_recv() {
            if (slot_) {
                T v = std::move(*slot_);
                slot_.reset();
                if (waiter* s = senders_.pop_front()) {
                    slot_.emplace(std::move(*s->value));
                    rt_->wake(s->fiber);
                }
                return v;
            }
            waiter me{rt_->current_};
            receivers_.push_back(&me);
            rt_->suspend();
            return std::move(*me.value);
        }
#pragma GCC diagnostic pop
        fiber_runner* rt_;
        std::optional<T> slot_;
        detail::intrusive_fifo<waiter> receivers_, senders_;
    };

    // ---- event ---------------------------------------------------------------------------
    class event {
    public:
        explicit event(fiber_runner& rt) : rt_(&rt) {}
        event(const event&) = delete;
        event& operator=(const event&) = delete;
        void set() {
            if (std::this_thread::get_id() == rt_->owner_)
                set_local();
            else
                rt_->post_remote([](void* p) { static_cast<event*>(p)->set_local(); }, this);
        }
        bool is_set() const { return set_; }
        [[nodiscard]] auto wait() {
            return detail::sync_await([this] {
                if (set_) return;
                waiter me{rt_->current_};
                waiters_.push_back(&me);
                ++rt_->outstanding_;
                rt_->suspend();
            });
        }

    private:
        struct waiter {
            fiber_rec* fiber;
            waiter* next = nullptr;
        };
        void set_local() {
            if (set_) return;
            set_ = true;
            while (waiter* w = waiters_.pop_front()) {
                --rt_->outstanding_;
                rt_->ready_.push(w->fiber);
            }
        }
        fiber_runner* rt_;
        bool set_ = false;
        detail::intrusive_fifo<waiter> waiters_;
    };

    // ---- run ------------------------------------------------------------------------------
    template <class T>
    T run(task<T> main) {
        detail::frame_pool_scope scope(&frames_);
        owner_ = std::this_thread::get_id();
        auto jh = spawn(std::move(main));
        loop();
        return jh.result();
    }

    std::size_t live_tasks() const { return live_; }
    detail::frame_pool& frames() { return frames_; }
    const detail::stack_pool& stacks() const { return stacks_; }
    // Before run(): help-first joins (the default) or plain FIFO.
    void set_join_policy(join_policy p) noexcept { help_first_ = p == join_policy::help_first; }

private:
    // Creates the fiber of a record that has not run yet; if that fails (no
    // memory, map count), the task ends with the resource_error and the
    // next ready fiber is tried instead.
    fiber_rec* start(fiber_rec* r) noexcept;
    void complete_task(fiber_rec* r) noexcept;
    boost::context::fiber finish(fiber_rec* self) noexcept;
    void entered(boost::context::fiber&& caller) noexcept;
    void free_zombie() noexcept;
#if defined(__SANITIZE_ADDRESS__)
    void asan_start_switch(fiber_rec* to, bool dying) noexcept;
    void asan_finish_switch() noexcept;
#else
    void asan_start_switch(fiber_rec*, bool) noexcept {}
    void asan_finish_switch() noexcept {}
#endif

    // The hot path of every switch, inline.
    void switch_to(fiber_rec* next) noexcept {
        if (!next->started) [[unlikely]]
            next = start(next);
        fiber_rec* self = current_;
        if (next == self) return;
        prev_ = self;
        current_ = next;
        asan_start_switch(next, false);
        boost::context::fiber c = std::move(next->ctx).resume();
        asan_finish_switch();
        if (prev_) prev_->ctx = std::move(c);
        if (zombie_) [[unlikely]]
            free_zombie();
    }
    fiber_rec* pick_next() noexcept {
        if (budget_ > 0) {
            if (runnext_) {
                --budget_;
                return std::exchange(runnext_, nullptr);
            }
            if (!ready_.empty()) {
                --budget_;
                return ready_.pop();
            }
        }
        return &main_rec_;
    }
    void suspend() noexcept { switch_to(pick_next()); }
    // Suspends to wait for `child`: runs it at once if it is ready and was
    // queued lately (help-first join, as in the coroutine loops), so
    // spawn-then-join trees run depth-first and reuse a few hot stacks
    // (unless join_policy::fifo).
    void suspend_for(fiber_rec* child) noexcept {
        if (help_first_ && budget_ > 0 && ready_.take_recent(child, detail::kJoinWindow)) {
            --budget_;
            switch_to(child);
        } else {
            suspend();
        }
    }
    void wake(fiber_rec* f) {
        if (runnext_) ready_.push(runnext_);
        runnext_ = f;
    }
    void sleep_ns(std::uint64_t ns);
    io_result wait_ready(int fd, unsigned events, std::uint64_t ns);
    io_result do_io(detail::io_op& op, detail::io_dir dir);
    void post_remote(void (*fn)(void*), void* arg) {
        if (io_.remote().push({fn, arg})) io_.ring();
    }
    detail::offload_pool& offload_pool();
    void loop();

    detail::frame_pool frames_;
    detail::stack_pool stacks_;
    detail::epoll_reactor io_;
    detail::timer_wheel wheel_;
    detail::ring_queue<fiber_rec*> ready_;
    fiber_rec* runnext_ = nullptr;
    fiber_rec main_rec_{};        // the loop's own context while a fiber runs
    fiber_rec* current_ = &main_rec_;
    fiber_rec* prev_ = nullptr;   // the fiber that just switched away
    fiber_rec* zombie_ = nullptr; // a finished fiber's record, freed by the next one
    std::size_t live_ = 0;
    std::size_t outstanding_ = 0;
    std::size_t budget_ = 0;
    bool help_first_ = true;  // join_policy::help_first
    std::thread::id owner_;
    std::unique_ptr<detail::offload_pool> offload_;
};

}  // namespace sy
