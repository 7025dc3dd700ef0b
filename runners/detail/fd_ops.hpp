// Non-blocking fd operations as retryable ops: `attempt` makes the syscall
// and returns bytes / a new fd / 0, or -errno, with -EAGAIN meaning "not
// ready, wait for readiness and attempt again". Readiness models (epoll loop,
// fiber, libuv) attempt first and wait only on -EAGAIN; thread and pool make
// plain blocking calls (run_blocking), as a thread-per-connection program does.
// Results follow io_uring's convention: >= 0 success, -errno failure.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <time.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace sy {

// Bytes transferred / new fd / 0 on success, -errno on failure.
using io_result = long;

// wait_fd(fd, events, timeout): readiness of an fd the program does not read
// through the runner (a client library's socket: Connector/C's non-blocking
// API says "wait until readable/writable, at most this long"). `events` and
// a successful result use the same bits, those of Connector/C's MYSQL_WAIT_*
// (benches/sql.cpp checks that they agree), so a client passes them through:
// the result is the ready bits among those asked for (an error or hang-up on
// the fd reports read/write ready, so the next syscall sees the error), or
// kWaitTimeout alone when `timeout` passed first (never earlier), or -errno.
// Every wait is bounded: there is no "forever".
inline constexpr unsigned kWaitRead = 1, kWaitWrite = 2, kWaitExcept = 4, kWaitTimeout = 8;

namespace detail {

enum class io_dir : unsigned char { in, out };

struct io_op {
    int fd = -1;
    io_result result = 0;
    io_result (*attempt)(io_op*) = nullptr;
    void (*complete)(io_op*) = nullptr;  // set by the waiting model
    void* owner = nullptr;               // the waiting model's context
    io_op* next = nullptr;               // per-fd wait queue
};

inline io_result errno_result() { return -long(errno); }

struct read_op : io_op {
    void* buf;
    std::size_t len;
    read_op(int f, void* b, std::size_t n) : buf(b), len(n) {
        fd = f;
        attempt = &run;
    }
    static constexpr io_dir dir = io_dir::in;
    static io_result run(io_op* o) {
        auto* op = static_cast<read_op*>(o);
        ssize_t r = ::read(op->fd, op->buf, op->len);
        return r >= 0 ? io_result(r) : errno_result();
    }
};

// pread(2) at an offset. Regular files never report "not ready": on the
// readiness models the read runs synchronously on the loop's thread.
struct pread_op : io_op {
    void* buf;
    std::size_t len;
    off_t offset;
    pread_op(int f, void* b, std::size_t n, off_t off) : buf(b), len(n), offset(off) {
        fd = f;
        attempt = &run;
    }
    static constexpr io_dir dir = io_dir::in;
    static io_result run(io_op* o) {
        auto* op = static_cast<pread_op*>(o);
        ssize_t r = ::pread(op->fd, op->buf, op->len, op->offset);
        return r >= 0 ? io_result(r) : errno_result();
    }
};

struct write_op : io_op {
    const void* buf;
    std::size_t len;
    write_op(int f, const void* b, std::size_t n) : buf(b), len(n) {
        fd = f;
        attempt = &run;
    }
    static constexpr io_dir dir = io_dir::out;
    static io_result run(io_op* o) {
        auto* op = static_cast<write_op*>(o);
        ssize_t r = ::write(op->fd, op->buf, op->len);
        return r >= 0 ? io_result(r) : errno_result();
    }
};

// accept4(2); the new socket is non-blocking for the readiness models and
// blocking for thread and pool (`blocking_fd`).
struct accept_op : io_op {
    int flags;
    explicit accept_op(int f, bool blocking_fd = false)
        : flags(blocking_fd ? SOCK_CLOEXEC : SOCK_NONBLOCK | SOCK_CLOEXEC) {
        fd = f;
        attempt = &run;
    }
    static constexpr io_dir dir = io_dir::in;
    static io_result run(io_op* o) {
        auto* op = static_cast<accept_op*>(o);
        int r = ::accept4(op->fd, nullptr, nullptr, op->flags);
        return r >= 0 ? io_result(r) : errno_result();
    }
};

// connect(2) on a non-blocking socket: the first attempt starts it; once
// EINPROGRESS, later attempts read SO_ERROR after the socket is writable.
struct connect_op : io_op {
    const sockaddr* addr;
    socklen_t addrlen;
    bool started = false;
    connect_op(int f, const sockaddr* a, socklen_t l) : addr(a), addrlen(l) {
        fd = f;
        attempt = &run;
    }
    static constexpr io_dir dir = io_dir::out;
    static io_result run(io_op* o) {
        auto* op = static_cast<connect_op*>(o);
        if (!op->started) {
            op->started = true;
            if (::connect(op->fd, op->addr, op->addrlen) == 0) return 0;
            if (errno == EINPROGRESS) return -EAGAIN;
            return errno_result();
        }
        pollfd p{op->fd, POLLOUT, 0};
        if (::poll(&p, 1, 0) == 0) return -EAGAIN;  // still connecting
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(op->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return errno_result();
        return err ? -long(err) : 0;
    }
};

// A wait_fd without its timeout: attempt = poll(fd, events, 0), -EAGAIN
// when nothing is ready. Queued as a reader if reading is asked for, else as
// a writer (one queue per op: asking for both notices writability only at
// the next event on the fd or at the timeout; Connector/C asks for one).
inline short poll_events_of(unsigned events) {
    return short(((events & kWaitRead) ? POLLIN : 0) | ((events & kWaitWrite) ? POLLOUT : 0) |
                 ((events & kWaitExcept) ? POLLPRI : 0));
}
inline io_result wait_bits_of(unsigned revents, unsigned events) {
    if (revents & POLLNVAL) return -EBADF;
    unsigned bits = 0;
    if (revents & (POLLIN | POLLERR | POLLHUP | POLLRDHUP)) bits |= kWaitRead;
    if (revents & (POLLOUT | POLLERR | POLLHUP)) bits |= kWaitWrite;
    if (revents & POLLPRI) bits |= kWaitExcept;
    bits &= events & (kWaitRead | kWaitWrite | kWaitExcept);
    return bits ? io_result(bits) : -EAGAIN;
}
struct poll_op : io_op {
    unsigned events;
    poll_op(int f, unsigned ev) : events(ev) {
        fd = f;
        attempt = &run;
    }
    io_dir dir() const { return (events & kWaitRead) ? io_dir::in : io_dir::out; }
    static io_result run(io_op* o) {
        auto* op = static_cast<poll_op*>(o);
        pollfd p{op->fd, short(poll_events_of(op->events) | POLLRDHUP), 0};
        int n = ::poll(&p, 1, 0);
        if (n < 0) return errno == EINTR ? -EAGAIN : errno_result();
        return n == 0 ? -EAGAIN : wait_bits_of(unsigned(p.revents), op->events);
    }
};

inline std::uint64_t wait_ns(std::chrono::nanoseconds d) { return d.count() > 0 ? std::uint64_t(d.count()) : 0; }

// A wait with no time left looks once: the ready bits, or kWaitTimeout.
inline io_result wait_fd_now(int fd, unsigned events) {
    poll_op now(fd, events);
    io_result r = poll_op::run(&now);
    return r == -EAGAIN ? io_result(kWaitTimeout) : r;
}

// Callback models (libuv, uring) with no time to wait: look once now and
// deliver from a posted callback, since a completion never runs inside the
// call that asked for it.
template <class Runner, class F>
void post_wait_fd_now(Runner& rt, int fd, unsigned events, F&& f) {
    rt.post([f = std::forward<F>(f), r = wait_fd_now(fd, events)]() mutable { f(r); });
}

// Thread/pool: poll(2) until ready or the deadline (CLOCK_MONOTONIC; EINTR
// and an early return wait again for the rest).
inline io_result wait_blocking(int fd, unsigned events, std::chrono::nanoseconds timeout) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + timeout;
    pollfd p{fd, short(poll_events_of(events) | POLLRDHUP), 0};
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline - clock::now());
        if (left.count() < 0) left = std::chrono::nanoseconds(0);
        timespec ts{time_t(left.count() / 1'000'000'000), long(left.count() % 1'000'000'000)};
        p.revents = 0;
        int n = ::ppoll(&p, 1, &ts, nullptr);
        if (n < 0 && errno != EINTR) return errno_result();
        if (n > 0) {
            io_result r = wait_bits_of(unsigned(p.revents), events);
            if (r != -EAGAIN) return r;
        }
        if (clock::now() >= deadline) return kWaitTimeout;
    }
}

// Clears O_NONBLOCK; false if the fd's flags cannot be read or set.
inline bool make_blocking(int fd) {
    int fl = ::fcntl(fd, F_GETFL);
    return fl >= 0 && ((fl & O_NONBLOCK) == 0 || ::fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) == 0);
}

// Thread/pool: one plain blocking syscall, the way a thread-per-connection
// program is written (read, then write: 2 syscalls per echoed message, not
// read -> EAGAIN -> poll -> read -> write). An fd that arrives non-blocking
// (the benches make them for the loop models) is switched to blocking the
// first time it is not ready, once. A connect in progress, or an fd whose
// flags cannot be changed, waits in poll(2) instead.
inline io_result run_blocking(io_op& op, io_dir dir) {
    io_result r = op.attempt(&op);
    if (r != -EAGAIN) return r;
    if (make_blocking(op.fd)) {
        r = op.attempt(&op);
        if (r != -EAGAIN) return r;
    }
    for (;;) {
        pollfd p{op.fd, short(dir == io_dir::in ? POLLIN : POLLOUT), 0};
        if (::poll(&p, 1, -1) < 0 && errno != EINTR) return errno_result();
        if (p.revents & POLLNVAL) return -EBADF;
        r = op.attempt(&op);
        if (r != -EAGAIN) return r;
    }
}

// Writing to a closed socket or pipe must return EPIPE, not kill the
// process: every runner ignores SIGPIPE once.
void ignore_sigpipe();

}  // namespace detail
}  // namespace sy
