// asio_runner's operations that are not templates: the loop (poll / run_one
// with deadlock detection), the fd table and the fd operations, sleep and
// yield. See asio.hpp for the design.
#include "runners/asio.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <cerrno>
#include <string>

#include "runners/detail/offload_pool.hpp"  // default_worker_count

namespace sy {

namespace {

constexpr auto kTupleAwaitable = asio::experimental::as_tuple(asio::use_awaitable);

// An Asio completion as the seam's io_result: bytes, 0 at end of file, -errno.
io_result to_result(const asio::error_code& ec, std::size_t n) {
    if (!ec) return io_result(n);
    if (ec == asio::error::eof) return 0;
    if (ec == asio::error::operation_aborted) return -ECANCELED;
    if (ec.category() == asio::system_category()) return -ec.value();
    return -EIO;  // not an errno (Asio's misc/netdb categories): none is expected here
}

}  // namespace

asio_runner::asio_runner() { detail::ignore_sigpipe(); }

asio_runner::~asio_runner() {
    if (pool_) pool_->join();
    // The fds are the caller's: deregister them from the reactor, close none.
    for (auto& d : fds_)
        if (d) d->release();
}

void asio_runner::drive() {
    for (;;) {
        ctx_.poll();  // everything ready, including what it posts, without blocking
        if (live_ == 0) return;
        if (owed_ == 0)
            throw deadlock_error(std::to_string(live_) +
                                 " task(s) suspended with nothing that could wake them "
                                 "(no timer, I/O, offload or event pending)");
        ctx_.run_one();  // block for the next owed completion
    }
}

asio::thread_pool& asio_runner::offload_pool() {
    if (!pool_) pool_ = std::make_unique<asio::thread_pool>(detail::default_worker_count());
    return *pool_;
}

asio::awaitable<void> asio_runner::yield() { return asio::post(ctx_, asio::use_awaitable); }

asio::awaitable<void> asio_runner::sleep_for(std::chrono::nanoseconds d) {
    if (d.count() <= 0) {  // sleep(0) is a yield
        co_await yield();
        co_return;
    }
    asio::steady_timer timer(ctx_, d);
    owed_scope owed(owed_);
    co_await timer.async_wait(kTupleAwaitable);
}

asio_runner::descriptor* asio_runner::descriptor_of(int fd, io_result& err) {
    if (fd >= 0 && std::size_t(fd) < fds_.size() && fds_[std::size_t(fd)]) return fds_[std::size_t(fd)].get();
    auto d = std::make_unique<descriptor>(ctx_);
    asio::error_code ec;
    d->assign(fd, ec);  // registers fd with Asio's reactor (epoll); fails with EBADF for a bad fd
    if (ec) {
        err = to_result(ec, 0);
        return nullptr;
    }
    if (fds_.size() <= std::size_t(fd)) fds_.resize(std::size_t(fd) + 1);
    fds_[std::size_t(fd)] = std::move(d);
    return fds_[std::size_t(fd)].get();
}

asio::awaitable<io_result> asio_runner::read(int fd, void* buf, std::size_t n) {
    io_result err = 0;
    descriptor* d = descriptor_of(fd, err);
    if (!d) co_return err;
    owed_scope owed(owed_);
    auto [ec, got] = co_await d->async_read_some(asio::buffer(buf, n), kTupleAwaitable);
    co_return to_result(ec, got);
}

asio::awaitable<io_result> asio_runner::write(int fd, const void* buf, std::size_t n) {
    io_result err = 0;
    descriptor* d = descriptor_of(fd, err);
    if (!d) co_return err;
    owed_scope owed(owed_);
    auto [ec, put] = co_await d->async_write_some(asio::buffer(buf, n), kTupleAwaitable);
    co_return to_result(ec, put);
}

// Synchronous: Asio 1.22 has no asynchronous file read without io_uring.
asio::awaitable<io_result> asio_runner::pread(int fd, void* buf, std::size_t n, off_t offset) {
    ssize_t r = ::pread(fd, buf, n, offset);
    co_return r >= 0 ? io_result(r) : detail::errno_result();
}

// What Asio's reactive accept does inside: try, and wait for readiness on EAGAIN.
asio::awaitable<io_result> asio_runner::accept(int fd) {
    for (;;) {
        int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (c >= 0) co_return c;
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) co_return detail::errno_result();
        io_result err = 0;
        descriptor* d = descriptor_of(fd, err);
        if (!d) co_return err;
        owed_scope owed(owed_);
        auto [ec] = co_await d->async_wait(asio::posix::descriptor_base::wait_read, kTupleAwaitable);
        if (ec) co_return to_result(ec, 0);
    }
}

asio::awaitable<io_result> asio_runner::wait_fd(int fd, unsigned events, std::chrono::nanoseconds timeout) {
    using namespace asio::experimental::awaitable_operators;
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    const auto type = (events & kWaitRead)    ? descriptor::wait_read
                      : (events & kWaitWrite) ? descriptor::wait_write
                                              : descriptor::wait_error;
    for (;;) {
        const io_result now = detail::wait_fd_now(fd, events);  // ready already, or no time left
        if (now != io_result(kWaitTimeout) || clock::now() >= deadline) co_return now;
        descriptor d(ctx_);
        asio::error_code ec;
        d.assign(fd, ec);
        if (ec) co_return to_result(ec, 0);
        asio::steady_timer timer(ctx_, deadline);
        owed_scope owed(owed_);
        auto first = co_await (d.async_wait(type, kTupleAwaitable) || timer.async_wait(kTupleAwaitable));
        d.release();  // the library's fd: deregistered, not closed
        if (first.index() == 1) co_return kWaitTimeout;  // the timer fired: never early
        if (auto [wait_ec] = std::get<0>(first); wait_ec) co_return to_result(wait_ec, 0);
        // ready: the next look returns the bits
    }
}

// What Asio's reactive connect does inside: start it, wait for writability,
// read the outcome from SO_ERROR.
asio::awaitable<io_result> asio_runner::connect(int fd, const sockaddr* addr, socklen_t len) {
    if (::connect(fd, addr, len) == 0) co_return 0;
    if (errno != EINPROGRESS && errno != EINTR) co_return detail::errno_result();
    io_result err = 0;
    descriptor* d = descriptor_of(fd, err);
    if (!d) co_return err;
    {
        owed_scope owed(owed_);
        auto [ec] = co_await d->async_wait(asio::posix::descriptor_base::wait_write, kTupleAwaitable);
        if (ec) co_return to_result(ec, 0);
    }
    int so_error = 0;
    socklen_t sl = sizeof so_error;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &sl) != 0) co_return detail::errno_result();
    co_return -io_result(so_error);
}

void asio_runner::close(int fd) {
    if (fd >= 0 && std::size_t(fd) < fds_.size() && fds_[std::size_t(fd)]) {
        asio::error_code ec;
        fds_[std::size_t(fd)]->close(ec);  // cancels its pending operations (operation_aborted)
        fds_[std::size_t(fd)].reset();
        return;
    }
    ::close(fd);
}

}  // namespace sy
