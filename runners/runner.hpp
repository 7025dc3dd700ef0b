// The seam: what a runner offers a workload. Two shapes, because two of the
// eight models are callback programs by nature.
//
// task_runner (thread, pool, fiber, coroutine, coroutine_mt, coroutine_uring, asio;
// and the callback models through cb_adapter, for the tests): workload bodies
// are coroutines of type sy::task_t<R, T> -- R::task_type<T> when the runner
// names one (asio: asio::awaitable<T>, which can only await what Asio knows),
// else sy::task<T>.
//   auto h = rt.spawn(task_t<R, T>)   start a task; co_await h.join() -> T
//   co_await rt.yield()               let others run
//   co_await rt.sleep_for(d)          never wakes early
//   co_await rt.read/write(fd, b, n)  io_result: bytes, or -errno
//   co_await rt.pread(fd, b, n, off)  positioned read (files); asynchronous on
//                                     io_uring and libuv (thread pool),
//                                     synchronous on the readiness models
//   co_await rt.accept(fd)            new fd (non-blocking), or -errno
//   co_await rt.connect(fd, a, len)   0, or -errno
//   rt.close(fd)                      close an fd used with rt
//   co_await rt.wait_fd(fd, ev, d)    readiness of an fd rt does not read or
//                                     write itself (a client library's
//                                     socket), bounded by d: the kWait* bits
//                                     ready, kWaitTimeout, or -errno
//                                     (detail/fd_ops.hpp)
//   co_await rt.offload(fn)           fn() on a worker thread; value or rethrow
//   R::channel<T> ch(rt)              co_await ch.send(v) / ch.recv()
//   R::event ev(rt)                   ev.set() from any thread; co_await ev.wait()
//   rt.run(task_t<R, T>) -> T         until every task has finished
//   R::name, R::cooperative           model name; one thread, switching only at awaits
//
// callback_runner (uring, libuv): see detail/callback.hpp.
//
// Errors: resource limits raise sy::resource_error naming the limit; a loop
// whose tasks all wait on something that can never happen raises
// sy::deadlock_error; io_uring missing raises sy::uring_unavailable.
#pragma once

#include <chrono>
#include <concepts>
#include <string_view>

#include "runners/detail/fd_ops.hpp"
#include "runners/errors.hpp"
#include "runners/task.hpp"

struct sockaddr;

namespace sy {

namespace detail {
template <class R, class T>
struct task_of {
    using type = task<T>;
};
template <class R, class T>
    requires requires { typename R::template task_type<T>; }
struct task_of<R, T> {
    using type = typename R::template task_type<T>;
};
}  // namespace detail

// The coroutine type task bodies are written in on runner R.
template <class R, class T = void>
using task_t = typename detail::task_of<R, T>::type;

template <class R>
concept task_runner = requires(R& rt, task_t<R, int> t, int fd, void* buf, std::size_t n,
                               const sockaddr* sa, socklen_t sl) {
    { R::name } -> std::convertible_to<std::string_view>;
    { R::cooperative } -> std::convertible_to<bool>;
    rt.spawn(std::move(t));
    rt.yield();
    rt.sleep_for(std::chrono::nanoseconds(1));
    rt.read(fd, buf, n);
    rt.pread(fd, buf, n, off_t(0));
    rt.write(fd, buf, n);
    rt.accept(fd);
    rt.connect(fd, sa, sl);
    rt.close(fd);
    rt.wait_fd(fd, kWaitRead, std::chrono::nanoseconds(1));
    rt.offload([] { return 1; });
    typename R::template channel<int>;
    typename R::event;
    { rt.run(std::move(t)) } -> std::same_as<int>;
};

template <class R>
concept callback_runner = requires(R& rt, int fd, void* buf, std::size_t n, const sockaddr* sa,
                                   socklen_t sl) {
    { R::name } -> std::convertible_to<std::string_view>;
    rt.post([] {});
    rt.after(std::chrono::nanoseconds(1), [] {});
    rt.read(fd, buf, n, [](io_result) {});
    rt.pread(fd, buf, n, off_t(0), [](io_result) {});
    rt.write(fd, buf, n, [](io_result) {});
    rt.accept(fd, [](io_result) {});
    rt.connect(fd, sa, sl, [](io_result) {});
    rt.wait_fd(fd, kWaitRead, std::chrono::nanoseconds(1), [](io_result) {});
    rt.close(fd);
    typename R::template channel<int>;
    typename R::event;
    rt.run();
};

}  // namespace sy
