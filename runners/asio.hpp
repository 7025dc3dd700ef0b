// Model `asio`: standalone Asio 1.22 (apt libasio-dev, header-only), its
// C++20 coroutines (asio::awaitable<T>) on one asio::io_context, written the
// way Asio's examples/cpp20/coroutines programs are.
//
// Tasks are Asio's own asio::awaitable<T> (the runner's task_type; workloads
// write sy::task_t<R, T>), not sy::task: an awaitable can await only what
// Asio knows (other awaitables, operations with use_awaitable), so every
// operation below is an Asio operation or an awaitable of the runner's.
// Frames come from Asio's recycling allocator (its default: a per-thread
// cache of recently freed blocks); no operation allocates a std::function.
//
// Scheduling: one OS thread runs the io_context (concurrency hint 1, as
// Asio's docs advise for a context one thread runs; still locked, because
// offload and event::set post from other threads). Its queue is FIFO. A
// switch is a completion handler posted to that queue and run by the
// scheduler, which resumes the awaitable "thread" it belongs to: a queue
// push and pop under the context's mutex, and a resume of the coroutine
// stack Asio keeps per spawned task -- no symmetric transfer between tasks.
//   spawn      co_spawn(ctx, awaitable, handler); the handler settles the
//              join (single thread: no locks, no atomics)
//   join       waits, if the task has not finished, as an Asio operation
//              (async_initiate) whose handler the finisher posts
//   yield      asio::post(ctx, use_awaitable)
//   sleep_for  steady_timer::async_wait (Asio fires a timer at or after its
//              expiry, never before)
//   read/write posix::stream_descriptor per fd (made on its first
//              operation, kept in a table by fd), async_read_some /
//              async_write_some with as_tuple(use_awaitable): errors map to
//              -errno (io_result), end of file to 0, cancellation (close)
//              to -ECANCELED
//   channel<T> experimental::channel<void(error_code, T)> with a buffer of
//              one: the same one-slot hand-off as the other models
//   offload    co_spawn onto an asio::thread_pool (one thread per CPU, as
//              the other models' offload pools) with use_awaitable
// Where the seam has no direct Asio equivalent:
//   accept/connect: the seam hands over raw, non-blocking socket fds of any
//              family; an acceptor or socket object needs its protocol and
//              would register the fd a second time when it is made a
//              stream_descriptor for reads. So these do what Asio's own
//              reactive accept/connect do inside: try the syscall, and on
//              EAGAIN / EINPROGRESS wait for readiness with the descriptor's
//              async_wait (wait_read / wait_write).
//   pread:     Asio 1.22 has no asynchronous file read without io_uring
//              (ASIO_HAS_IO_URING, not in Debian's build), so it is a plain
//              pread(2), as on the other readiness models.
//   event:     set from any thread: posts to the context, which wakes the
//              waiters (handlers kept by the event, posted on set).
//   deadlock:  co_spawn holds work on the context for every live task, so
//              io_context::run() would block forever when every task waits
//              on something that cannot happen. run() therefore alternates
//              poll() (everything ready, without blocking) with run_one()
//              (block for one completion), and blocks only while a
//              completion from outside is owed: a timer, I/O, an offload,
//              an event waiter. Nothing ready and nothing owed, with tasks
//              unfinished: sy::deadlock_error.
//   fds:       the runner deregisters but never closes, on destruction,
//              fds it did not close through close(fd): they are the caller's.
#pragma once

// First, before any Asio header: Asio 1.22's config.hpp picks aligned_alloc /
// free for its handler and frame memory only when libstdc++'s c++config.h
// (_GLIBCXX_HAVE_ALIGNED_ALLOC) has been seen, and includes no standard
// header itself; a translation unit that starts with an Asio header gets
// operator new / delete instead, and the linker mixes the two (ASan:
// alloc-dealloc-mismatch). Every file that includes Asio includes this line
// or this header first.
#include <cstddef>

#include <asio/async_result.hpp>
#include <asio/co_spawn.hpp>
#include <asio/experimental/channel.hpp>
#include <asio/io_context.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/post.hpp>
#include <asio/recycling_allocator.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "runners/detail/fd_ops.hpp"  // io_result
#include "runners/errors.hpp"

namespace sy {

class asio_runner {
    // The handler Asio makes for an operation awaited with use_awaitable
    // and signature void(): resuming it resumes the awaiting task.
    using resume_handler = asio::async_result<asio::use_awaitable_t<>, void()>::handler_type;

    // Suspends the awaiting task and hands its resume handler to `keep`.
    template <class Keep>
    static auto suspend_with(Keep keep) {
        return asio::async_initiate<const asio::use_awaitable_t<>&, void()>(
            [keep](resume_handler h) mutable { keep(std::move(h)); }, asio::use_awaitable);
    }

    // Counts a completion owed from outside the loop while it is awaited.
    struct owed_scope {
        std::size_t& n;
        explicit owed_scope(std::size_t& c) : n(c) { ++n; }
        ~owed_scope() { --n; }
        owed_scope(const owed_scope&) = delete;
        owed_scope& operator=(const owed_scope&) = delete;
    };

    template <class T>
    using stored_t = std::conditional_t<std::is_void_v<T>, std::monostate, T>;

    // Shared by a spawned task's completion handler and its join handle.
    template <class T>
    struct join_state {
        int refs = 2;  // the handle and the completion; one thread: a plain int
        bool done = false;
        std::exception_ptr error;
        std::optional<stored_t<T>> value;
        std::optional<resume_handler> joiner;
    };
    template <class T>
    using state_alloc = asio::recycling_allocator<join_state<T>>;
    template <class T>
    static join_state<T>* new_state() {
        state_alloc<T> a;
        join_state<T>* s = a.allocate(1);
        return ::new (static_cast<void*>(s)) join_state<T>();
    }
    template <class T>
    static void unref(join_state<T>* s) noexcept {
        if (--s->refs > 0) return;
        s->~join_state<T>();
        state_alloc<T>().deallocate(s, 1);
    }

public:
    static constexpr std::string_view name = "asio";
    static constexpr bool cooperative = true;  // one thread, switches only at co_await
    // io_context concurrency hint: one thread runs the context.
    static constexpr int kConcurrencyHint = 1;
    // experimental::channel buffer: one value, the other models' one-slot hand-off.
    static constexpr std::size_t kChannelCapacity = 1;

    template <class T>
    using task_type = asio::awaitable<T>;

    asio_runner();
    ~asio_runner();
    asio_runner(const asio_runner&) = delete;
    asio_runner& operator=(const asio_runner&) = delete;

    // ---- spawn / join ------------------------------------------------------------
    template <class T>
    class join_handle {
    public:
        join_handle() noexcept = default;
        join_handle(join_handle&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
        join_handle& operator=(join_handle&& o) noexcept {
            if (this != &o) {
                drop();
                s_ = std::exchange(o.s_, nullptr);
            }
            return *this;
        }
        ~join_handle() { drop(); }

        // The task's value, or its exception rethrown.
        [[nodiscard]] asio::awaitable<T> join() {
            join_state<T>* s = s_;
            if (!s->done) co_await suspend_with([s](resume_handler h) { s->joiner.emplace(std::move(h)); });
            if (s->error) std::rethrow_exception(s->error);
            if constexpr (!std::is_void_v<T>) co_return std::move(*s->value);
        }

    private:
        friend class asio_runner;
        explicit join_handle(join_state<T>* s) noexcept : s_(s) {}
        void drop() noexcept {
            if (s_) unref(std::exchange(s_, nullptr));
        }
        join_state<T>* s_ = nullptr;
    };

    // Starts `t` (co_spawn); dropping the handle detaches it.
    template <class T>
    join_handle<T> spawn(asio::awaitable<T> t) {
        join_state<T>* s = new_state<T>();
        ++live_;
        if constexpr (std::is_void_v<T>)
            asio::co_spawn(ctx_, std::move(t), [this, s](std::exception_ptr e) { finish(s, std::move(e)); });
        else
            asio::co_spawn(ctx_, std::move(t), [this, s](std::exception_ptr e, T v) {
                if (!e) s->value.emplace(std::move(v));
                finish(s, std::move(e));
            });
        return join_handle<T>(s);
    }

    // ---- yield / sleep -------------------------------------------------------------
    [[nodiscard]] asio::awaitable<void> yield();
    [[nodiscard]] asio::awaitable<void> sleep_for(std::chrono::nanoseconds d);

    // ---- fd operations ---------------------------------------------------------------
    [[nodiscard]] asio::awaitable<io_result> read(int fd, void* buf, std::size_t n);
    [[nodiscard]] asio::awaitable<io_result> write(int fd, const void* buf, std::size_t n);
    [[nodiscard]] asio::awaitable<io_result> pread(int fd, void* buf, std::size_t n, off_t offset);
    [[nodiscard]] asio::awaitable<io_result> accept(int fd);
    [[nodiscard]] asio::awaitable<io_result> connect(int fd, const sockaddr* addr, socklen_t len);
    // Readiness of an fd a client library owns (Connector/C's socket), the
    // way an Asio program integrates such a library: a stream_descriptor
    // assigned for the wait, async_wait raced against a steady_timer with
    // awaitable_operators' ||, then release() (the fd stays the library's;
    // two epoll_ctl per wait). kWait* bits (read first: one direction per
    // wait, as Connector/C asks), kWaitTimeout, or -errno.
    [[nodiscard]] asio::awaitable<io_result> wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout);
    // Closes fd; its pending operations end with -ECANCELED.
    void close(int fd);

    // ---- offload (run_in_executor) -----------------------------------------------
    template <class F>
    [[nodiscard]] asio::awaitable<std::invoke_result_t<F&>> offload(F fn) {
        using R = std::invoke_result_t<F&>;
        owed_scope owed(owed_);
        co_return co_await asio::co_spawn(
            offload_pool(), [f = std::move(fn)]() mutable -> asio::awaitable<R> { co_return f(); },
            asio::use_awaitable);
    }

    // ---- channel: a one-slot hand-off ------------------------------------------------
    template <class T>
    class channel {
    public:
        explicit channel(asio_runner& rt) : ch_(rt.ctx_, kChannelCapacity) {}
        channel(const channel&) = delete;
        channel& operator=(const channel&) = delete;
        [[nodiscard]] asio::awaitable<void> send(T v) {
            return ch_.async_send(asio::error_code{}, std::move(v), asio::use_awaitable);
        }
        [[nodiscard]] asio::awaitable<T> recv() { return ch_.async_receive(asio::use_awaitable); }

    private:
        asio::experimental::channel<void(asio::error_code, T)> ch_;
    };

    // ---- event: set once (from any thread), wakes every waiter -------------------------
    class event {
    public:
        explicit event(asio_runner& rt) : rt_(&rt) {}
        event(const event&) = delete;
        event& operator=(const event&) = delete;
        // Thread-safe: on the loop's thread it wakes the waiters at once,
        // elsewhere it posts that to the context.
        void set() {
            if (rt_->ctx_.get_executor().running_in_this_thread())
                set_local();
            else
                asio::post(rt_->ctx_, [this] { set_local(); });
        }
        bool is_set() const { return set_; }
        [[nodiscard]] asio::awaitable<void> wait() {
            if (set_) co_return;
            owed_scope owed(rt_->owed_);  // may be set from another thread
            co_await suspend_with([this](resume_handler h) { waiters_.push_back(std::move(h)); });
        }

    private:
        void set_local() {
            if (set_) return;
            set_ = true;
            for (auto& h : waiters_) asio::post(rt_->ctx_, std::move(h));
            waiters_.clear();
        }
        asio_runner* rt_;
        bool set_ = false;
        std::vector<resume_handler> waiters_;
    };

    // ---- run -----------------------------------------------------------------------------
    // Runs `main` and every task it spawns until all have finished; returns
    // main's value or rethrows its exception.
    template <class T>
    T run(asio::awaitable<T> main) {
        ctx_.restart();
        auto h = spawn(std::move(main));
        drive();
        join_state<T>* s = h.s_;
        if (s->error) std::rethrow_exception(s->error);
        if constexpr (!std::is_void_v<T>) return std::move(*s->value);
    }

    std::size_t live_tasks() const { return live_; }
    asio::io_context& context() { return ctx_; }

private:
    using descriptor = asio::posix::stream_descriptor;

    template <class T>
    void finish(join_state<T>* s, std::exception_ptr e) {
        s->error = std::move(e);
        s->done = true;
        --live_;
        if (s->joiner) {
            asio::post(ctx_, std::move(*s->joiner));
            s->joiner.reset();
        }
        unref(s);
    }
    void drive();
    // The fd's stream_descriptor, made on first use; nullptr and err = -errno
    // when Asio cannot register it.
    descriptor* descriptor_of(int fd, io_result& err);
    asio::thread_pool& offload_pool();

    asio::io_context ctx_{kConcurrencyHint};  // first constructed, last destroyed
    std::vector<std::unique_ptr<descriptor>> fds_;  // by fd
    std::unique_ptr<asio::thread_pool> pool_;
    std::size_t live_ = 0;
    std::size_t owed_ = 0;  // completions owed from outside: timers, I/O, offload, events
};

}  // namespace sy
