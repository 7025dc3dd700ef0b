// The epoll I/O path of switchyard-load: used when the tool is built
// without liburing or io_uring is unavailable at run time (seccomp,
// kernel.io_uring_disabled), or with --io epoll. Non-blocking sockets, one
// recv per readiness into one shared buffer, sends until EAGAIN and then
// EPOLLOUT, a timerfd for the phase edges; epoll_pwait2 for the open loop's
// timed sleeps when the kernel has it (5.11), else epoll_wait's milliseconds.
#pragma once

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include "benches/load/common.hpp"
#include "benches/load/connection.hpp"
#include "benches/load/load_client.hpp"

namespace sy::load {

inline constexpr std::size_t kEpollRecvBytes = 256 * 1024;  // one shared receive buffer
inline constexpr int kEpollEvents = 1024;                   // events per epoll_wait

class epoll_backend {
public:
    explicit epoll_backend(load_client& cl) : cl_(cl), buf_(kEpollRecvBytes), events_(kEpollEvents) {}

    void start() {
        ep_.reset(epoll_create1(EPOLL_CLOEXEC));
        if (ep_.get() < 0) throw run_error("epoll_create1: " + errstr(errno));
        timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
        if (timer_.get() < 0) throw run_error("timerfd_create: " + errstr(errno));
        epoll_event tev{};
        tev.events = EPOLLIN;
        tev.data.u32 = kTimerTag;
        if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, timer_.get(), &tev) != 0)
            throw run_error("epoll_ctl: " + errstr(errno));
        for (auto& c : cl_.conns()) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u32 = c.idx;
            if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev) != 0)
                throw run_error("epoll_ctl: " + errstr(errno));
        }
    }

    void start_send(connection& c) { send_some(c); }

    // Waits as planned and handles what is ready; returns the number of events.
    std::size_t wait_and_process(const wait_plan& plan, std::uint64_t edge) {
        if (edge != armed_edge_) {
            itimerspec its{};
            its.it_value.tv_sec = static_cast<time_t>(edge / 1'000'000'000);
            its.it_value.tv_nsec = static_cast<long>(edge % 1'000'000'000);
            if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr) != 0) {
                cl_.fail("timerfd_settime: " + errstr(errno));
                return 0;
            }
            armed_edge_ = edge;
        }
        int n;
        if (plan.kind == wait_kind::poll) {
            n = epoll_wait(ep_.get(), events_.data(), kEpollEvents, 0);
        } else if (plan.kind == wait_kind::block) {
            n = epoll_wait(ep_.get(), events_.data(), kEpollEvents, -1);
        } else if (have_pwait2_) {
            const timespec ts{static_cast<time_t>(plan.timeout_ns / 1'000'000'000),
                              static_cast<long>(plan.timeout_ns % 1'000'000'000)};
            n = epoll_pwait2(ep_.get(), events_.data(), kEpollEvents, &ts, nullptr);
            if (n < 0 && errno == ENOSYS) {
                have_pwait2_ = false;
                n = 0;
            }
        } else {
            n = epoll_wait(ep_.get(), events_.data(), kEpollEvents,
                           static_cast<int>((plan.timeout_ns + 999'999) / 1'000'000));
        }
        if (n < 0) {
            if (errno == EINTR) return 0;
            cl_.fail("epoll_wait: " + errstr(errno));
            return 0;
        }
        const std::uint64_t now = now_ns();
        for (int i = 0; i < n; ++i) {
            if (events_[i].data.u32 == kTimerTag) {  // phase edge: the loop's tick acts on it
                std::uint64_t expirations;
                [[maybe_unused]] auto r = read(timer_.get(), &expirations, sizeof expirations);
                continue;
            }
            connection& c = cl_.conns()[events_[i].data.u32];
            const std::uint32_t ev = events_[i].events;
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                const ssize_t r = recv(c.fd.get(), buf_.data(), buf_.size(), MSG_DONTWAIT);
                if (r > 0) {
                    cl_.on_data(c, buf_.data(), static_cast<std::size_t>(r), now);
                } else if (r == 0) {
                    cl_.fail("server closed connection " + std::to_string(c.idx) + " during the run");
                    return 0;
                } else if (errno != EAGAIN && errno != EINTR) {
                    cl_.fail(peer_error("reset the connection", errno));
                    return 0;
                }
            }
            if ((ev & EPOLLOUT) && c.want_out) send_some(c);
        }
        return static_cast<std::size_t>(n);
    }

private:
    void send_some(connection& c) {
        while (c.tx_busy) {
            const ssize_t r = send(c.fd.get(), c.tx.data() + c.tx_off, c.tx.size() - c.tx_off,
                                   MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r > 0) {
                cl_.on_sent(c, static_cast<std::size_t>(r));
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && errno != EAGAIN) {
                cl_.fail(peer_error("reset the connection (send)", errno));
                return;
            }
            break;  // EAGAIN: wait for EPOLLOUT
        }
        const bool want = c.tx_busy;
        if (want != c.want_out) {
            epoll_event ev{};
            ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
            ev.data.u32 = c.idx;
            if (epoll_ctl(ep_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0)
                cl_.fail("epoll_ctl: " + errstr(errno));
            c.want_out = want;
        }
    }

    static constexpr std::uint32_t kTimerTag = 0xffff'ffffu;  // epoll data of the phase timerfd

    load_client& cl_;
    unique_fd ep_, timer_;
    std::uint64_t armed_edge_ = 0;
    std::vector<std::uint8_t> buf_;
    std::vector<epoll_event> events_;
    bool have_pwait2_ = true;
};

}  // namespace sy::load
