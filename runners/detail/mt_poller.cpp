// mt_poller: registration, waiting and dispatch for coroutine_mt.
#include "runners/detail/mt_poller.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>

#include <stdexcept>

#include "runners/detail/clock.hpp"
#include "runners/errors.hpp"

namespace sy::detail {

namespace {
constexpr int kMaxEvents = 256;
constexpr std::uint64_t kDoorbellTag = ~std::uint64_t(0);
}  // namespace

mt_poller::mt_poller() {
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
    ev.events = EPOLLIN;  // level-triggered: a ring before the wait is not lost
    ev.data.u64 = kDoorbellTag;
    epoll_ctl(epfd_, EPOLL_CTL_ADD, evfd_, &ev);
}

mt_poller::~mt_poller() {
    ::close(evfd_);
    ::close(epfd_);
}

mt_poller::fd_slot& mt_poller::slot(int fd) {
    if (std::size_t(fd) >= fds_.size()) fds_.resize(std::size_t(fd) + 1 + fds_.size() / 2);
    return fds_[std::size_t(fd)];
}

bool mt_poller::arm(io_op* op, io_dir dir) {
    if (op->fd < 0) {
        op->result = -EBADF;
        return false;
    }
    std::lock_guard lock(mu_);
    fd_slot& s = slot(op->fd);
    if (!s.added) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
        ev.data.u64 = std::uint64_t(op->fd);
        if (epoll_ctl(epfd_, EPOLL_CTL_ADD, op->fd, &ev) != 0 && errno != EEXIST) {
            op->result = errno_result();
            return false;
        }
        s.added = true;
    }
    auto& q = dir == io_dir::in ? s.readers : s.writers;
    if (q.empty()) {  // re-attempt under the lock (see the header); FIFO order kept otherwise
        io_result r = op->attempt(op);
        if (r != -EAGAIN) {
            op->result = r;
            return false;
        }
    }
    q.push_back(op);
    armed_.fetch_add(1, std::memory_order_acq_rel);
    return true;
}

bool mt_poller::disarm(io_op* op) {
    std::lock_guard lock(mu_);
    if (op->fd < 0 || std::size_t(op->fd) >= fds_.size()) return false;
    fd_slot& s = fds_[std::size_t(op->fd)];
    if (!s.readers.remove(op) && !s.writers.remove(op)) return false;
    armed_.fetch_sub(1, std::memory_order_acq_rel);
    return true;
}

void mt_poller::forget(int fd) {
    std::lock_guard lock(mu_);
    if (fd < 0 || std::size_t(fd) >= fds_.size()) return;
    fd_slot& s = fds_[std::size_t(fd)];
    if (s.added) epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
    s.added = false;
    for (auto* q : {&s.readers, &s.writers})
        while (io_op* op = q->pop_front()) {
            op->result = -ECANCELED;
            op->complete(op);
            armed_.fetch_sub(1, std::memory_order_acq_rel);
        }
}

void mt_poller::ring() {
    std::uint64_t one = 1;
    [[maybe_unused]] ssize_t r = ::write(evfd_, &one, sizeof one);
}

void mt_poller::run_queue(intrusive_fifo<io_op>& q) {
    while (io_op* op = q.front()) {
        io_result r = op->attempt(op);
        if (r == -EAGAIN) return;
        q.pop_front();
        op->result = r;
        op->complete(op);  // the op may be gone after this
        armed_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void mt_poller::wait(std::uint64_t timeout_ns) {
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
    std::lock_guard lock(mu_);
    for (int i = 0; i < n; ++i) {
        if (evs[i].data.u64 == kDoorbellTag) {
            std::uint64_t v;
            [[maybe_unused]] ssize_t r = ::read(evfd_, &v, sizeof v);
            continue;
        }
        int fd = int(evs[i].data.u64);
        if (std::size_t(fd) >= fds_.size()) continue;
        fd_slot& s = fds_[std::size_t(fd)];
        std::uint32_t e = evs[i].events;
        if (e & (EPOLLIN | EPOLLERR | EPOLLHUP | EPOLLRDHUP)) run_queue(s.readers);
        if (e & (EPOLLOUT | EPOLLERR | EPOLLHUP)) run_queue(s.writers);
    }
}

}  // namespace sy::detail
