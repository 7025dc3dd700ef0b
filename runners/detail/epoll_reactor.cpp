// epoll_reactor: registration, waiting and dispatch.
#include "runners/detail/epoll_reactor.hpp"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

#include <mutex>

#include "runners/detail/clock.hpp"
#include "runners/errors.hpp"

namespace sy::detail {

namespace {
constexpr int kMaxEvents = 256;
constexpr std::uint64_t kDoorbellTag = ~std::uint64_t(0);
}  // namespace

void ignore_sigpipe() {
    static std::once_flag once;
    std::call_once(once, [] { ::signal(SIGPIPE, SIG_IGN); });
}

epoll_reactor::epoll_reactor() {
    ignore_sigpipe();
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0)
        throw resource_error("epoll_create1: " + errno_text(errno) + " (" + fd_limit_text() + ")");
    evfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (evfd_ < 0) {
        int err = errno;
        ::close(epfd_);
        throw resource_error("eventfd: " + errno_text(err) + " (" + fd_limit_text() + ")");
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kDoorbellTag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
}

epoll_reactor::~epoll_reactor() {
    ::close(evfd_);
    ::close(epfd_);
}

epoll_reactor::fd_slot& epoll_reactor::slot(int fd) {
    if (std::size_t(fd) >= fds_.size()) fds_.resize(std::size_t(fd) + 1 + fds_.size() / 2);
    return fds_[std::size_t(fd)];
}

void epoll_reactor::arm(io_op* op, io_dir dir) {
    if (op->fd < 0) {
        op->result = -EBADF;
        op->complete(op);
        return;
    }
    fd_slot& s = slot(op->fd);
    if (!s.added) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = std::uint64_t(op->fd);
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, op->fd, &ev) != 0 && errno != EEXIST) {
            op->result = errno_result();
            op->complete(op);
            return;
        }
        s.added = true;
    }
    (dir == io_dir::in ? s.readers : s.writers).push_back(op);
    ++armed_;
}

bool epoll_reactor::disarm(io_op* op) {
    if (op->fd < 0 || std::size_t(op->fd) >= fds_.size()) return false;
    fd_slot& s = fds_[std::size_t(op->fd)];
    if (!s.readers.remove(op) && !s.writers.remove(op)) return false;
    --armed_;
    return true;
}

void epoll_reactor::forget(int fd) {
    if (fd < 0 || std::size_t(fd) >= fds_.size()) return;
    fd_slot& s = fds_[std::size_t(fd)];
    if (s.added) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    s.added = false;
    for (auto* q : {&s.readers, &s.writers})
        while (io_op* op = q->pop_front()) {
            --armed_;
            op->result = -ECANCELED;
            op->complete(op);
        }
}

void epoll_reactor::ring() {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(evfd_, &one, sizeof one);
}

void epoll_reactor::run_queue(intrusive_fifo<io_op>& q) {
    while (io_op* op = q.front()) {
        io_result r = op->attempt(op);
        if (r == -EAGAIN) return;  // still not ready: keep waiting, FIFO order kept
        q.pop_front();
        --armed_;
        op->result = r;
        op->complete(op);
    }
}

void epoll_reactor::dispatch(int fd, std::uint32_t events) {
    if (std::size_t(fd) >= fds_.size()) return;
    fd_slot& s = fds_[std::size_t(fd)];
    if (events & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) run_queue(s.readers);
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) run_queue(s.writers);
}

void epoll_reactor::wait(std::uint64_t timeout_ns) {
    epoll_event evs[kMaxEvents];
    timespec ts{};
    timespec* tp = nullptr;
    if (timeout_ns != kForever) {
        ts.tv_sec = time_t(timeout_ns / 1'000'000'000);
        ts.tv_nsec = long(timeout_ns % 1'000'000'000);
        tp = &ts;
    }
    int n = epoll_pwait2(epfd_, evs, kMaxEvents, tp, nullptr);
    if (n < 0) {
        if (errno == EINTR) return;
        throw std::runtime_error("epoll_pwait2: " + errno_text(errno));
    }
    bool doorbell = false;
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == kDoorbellTag) {
            std::uint64_t v;
            [[maybe_unused]] ssize_t r = ::read(evfd_, &v, sizeof v);
            doorbell = true;
            continue;
        }
        dispatch(int(evs[i].data.u64), evs[i].events);
    }
    if (doorbell || remote_.pending()) remote_.drain();
}

}  // namespace sy::detail
