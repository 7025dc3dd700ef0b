// cb_adapter<R>: runs sy::task bodies on a callback runner (uring, libuv).
//
// Why: the runner tests are one body for all seven models, and that body is
// written in sy::task. For the callback models this adapter turns each await
// into the runner's own callback operation (post, after, read, offload, ...)
// whose callback resumes the coroutine, so the tests exercise exactly the
// primitives the callback benches use. Benches do not use it: `uring` and
// `libuv` are measured as callback programs, without a coroutine layer.
#pragma once

#include <coroutine>
#include <string_view>

#include "runners/detail/callback.hpp"
#include "runners/detail/fd_ops.hpp"
#include "runners/detail/owned_task.hpp"
#include "runners/errors.hpp"
#include "runners/task.hpp"

namespace sy {

template <class R>
class cb_adapter : private detail::completion_hook {
public:
    static constexpr std::string_view name = R::name;
    static constexpr bool cooperative = true;

    cb_adapter() { on_complete = &finished; }
    cb_adapter(const cb_adapter&) = delete;
    cb_adapter& operator=(const cb_adapter&) = delete;

    R& base() { return rt_; }

    // ---- spawn / join -------------------------------------------------------------
    template <class T>
    class join_handle : public detail::owned_task<T, false> {
    public:
        using detail::owned_task<T, false>::owned_task;
        [[nodiscard]] auto join() noexcept {
            struct awaiter {
                std::coroutine_handle<detail::promise<T>> h;
                bool await_ready() const noexcept { return h.promise().state & detail::kDone; }
                void await_suspend(std::coroutine_handle<> joiner) noexcept {
                    h.promise().continuation = joiner;
                }
                T await_resume() { return h.promise().take(); }
            };
            return awaiter{this->h_};
        }
    };

    template <class T>
    join_handle<T> spawn(task<T> t) {
        auto h = t.release();
        detail::promise_base& p = h.promise();
        p.ext = static_cast<detail::completion_hook*>(this);
        p.hooked = true;
        ++live_;
        rt_.post([h] { h.resume(); });
        return join_handle<T>{h};
    }

    // ---- awaitables over callbacks ----------------------------------------------------
    // Suspends, starts `start(resume)`; the callback stores its result and
    // resumes the coroutine.
    template <class Result, class Start>
    struct cb_awaiter {
        Start start;
        Result value{};
        bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> h) {
            start([this, h](Result r) {
                value = std::move(r);
                h.resume();
            });
        }
        Result await_resume() { return std::move(value); }
    };
    template <class Result, class Start>
    static cb_awaiter<Result, Start> on_callback(Start s) {
        return cb_awaiter<Result, Start>{std::move(s)};
    }

    [[nodiscard]] auto yield() {
        return on_callback<bool>([this](auto k) { rt_.post([k]() mutable { k(true); }); });
    }
    [[nodiscard]] auto sleep_for(std::chrono::nanoseconds d) {
        return on_callback<bool>([this, d](auto k) { rt_.after(d, [k]() mutable { k(true); }); });
    }
    [[nodiscard]] auto read(int fd, void* buf, std::size_t n) {
        return on_callback<io_result>([=, this](auto k) { rt_.read(fd, buf, n, k); });
    }
    [[nodiscard]] auto write(int fd, const void* buf, std::size_t n) {
        return on_callback<io_result>([=, this](auto k) { rt_.write(fd, buf, n, k); });
    }
    [[nodiscard]] auto pread(int fd, void* buf, std::size_t n, off_t offset) {
        return on_callback<io_result>([=, this](auto k) { rt_.pread(fd, buf, n, offset, k); });
    }
    [[nodiscard]] auto accept(int fd) {
        return on_callback<io_result>([=, this](auto k) { rt_.accept(fd, k); });
    }
    [[nodiscard]] auto connect(int fd, const sockaddr* addr, socklen_t len) {
        return on_callback<io_result>([=, this](auto k) { rt_.connect(fd, addr, len, k); });
    }
    [[nodiscard]] auto wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout) {
        return on_callback<io_result>([=, this](auto k) { rt_.wait_fd(fd, events, timeout, k); });
    }
    void close(int fd) { rt_.close(fd); }

    template <class F>
    [[nodiscard]] auto offload(F fn) {
        using V = std::invoke_result_t<F&>;
        struct awaiter {
            cb_adapter* self;
            F fn;
            outcome<V> out{};
            bool await_ready() const noexcept { return false; }
            void await_suspend(std::coroutine_handle<> h) {
                self->rt_.offload(std::move(fn), [this, h](outcome<V>&& o) {
                    out = std::move(o);
                    h.resume();
                });
            }
            V await_resume() { return out.take(); }
        };
        return awaiter{this, std::move(fn)};
    }

    template <class T>
    class channel {
    public:
        explicit channel(cb_adapter& a) : ch_(a.rt_) {}
        [[nodiscard]] auto send(T v) {
            struct awaiter {  // callback channels never make the sender wait
                channel* c;
                T v;
                bool await_ready() {
                    c->ch_.send(std::move(v));
                    return true;
                }
                void await_suspend(std::coroutine_handle<>) const noexcept {}
                void await_resume() const noexcept {}
            };
            return awaiter{this, std::move(v)};
        }
        [[nodiscard]] auto recv() {
            return on_callback<T>([this](auto k) { ch_.recv(k); });
        }

    private:
        typename R::template channel<T> ch_;
    };

    class event {
    public:
        explicit event(cb_adapter& a) : ev_(a.rt_) {}
        void set() { ev_.set(); }
        bool is_set() const { return ev_.is_set(); }
        [[nodiscard]] auto wait() {
            return on_callback<bool>([this](auto k) { ev_.wait([k]() mutable { k(true); }); });
        }

    private:
        typename R::event ev_;
    };

    // ---- run ---------------------------------------------------------------------------
    template <class T>
    T run(task<T> main) {
        auto jh = spawn(std::move(main));
        rt_.run();
        if (live_ != 0)
            throw deadlock_error(std::to_string(live_) +
                                 " task(s) suspended with nothing that could wake them");
        return jh.result();
    }
    std::size_t live_tasks() const { return live_; }
    detail::frame_pool& frames() { return rt_.frames(); }

private:
    static std::coroutine_handle<> finished(detail::completion_hook* hook, detail::promise_base& p,
                                            std::coroutine_handle<> h) noexcept {
        auto* self = static_cast<cb_adapter*>(hook);
        --self->live_;
        p.state |= detail::kDone;
        if (p.state & detail::kDetached) {
            h.destroy();
            return std::noop_coroutine();
        }
        if (p.continuation) return p.continuation;
        return std::noop_coroutine();
    }

    R rt_;
    std::size_t live_ = 0;
};

}  // namespace sy
