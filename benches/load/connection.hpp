// The client's connections: their per-connection state, the file-descriptor
// limit they need, and connecting them (non-blocking, TCP_NODELAY, with a
// timeout) to the loopback target of the options.
//
// The socket basics (an fd closed by RAII, TCP_NODELAY) are the suite's
// shared ones, benches/common/net.hpp.
#pragma once

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "benches/common/net.hpp"
#include "benches/load/common.hpp"
#include "benches/load/options.hpp"

namespace sy::load {

using net::unique_fd;

inline constexpr int kConnectTimeoutMs = 5000;  // per connection
inline constexpr rlim_t kFdReserve = 64;        // fds besides the connections

// One connection's state: what it sent and received, its send buffers.
struct connection {
    unique_fd fd;
    std::uint32_t idx = 0;
    std::uint64_t tx_seq = 0;      // next message to generate
    std::uint64_t rx_seq = 0;      // message being received
    std::size_t rx_off = 0;        // bytes of it received so far
    bool rx_bad = false;           // a byte of it mismatched
    std::uint64_t sent_at = 0;     // closed loop: when message rx_seq was queued
    std::vector<std::uint8_t> out; // generated, not yet handed to the kernel
    std::vector<std::uint8_t> tx;  // handed to the kernel (send in flight), stable
    std::size_t tx_off = 0;
    bool tx_busy = false;
    bool dirty = false;            // in the flush list
    std::vector<std::uint8_t> rxbuf;  // io_uring one-shot recv only
    bool want_out = false;         // epoll: EPOLLOUT armed
};

// Raises RLIMIT_NOFILE for `conns` connections; "" or why it cannot.
inline std::string raise_fd_limit(long conns) {
    const rlim_t need = static_cast<rlim_t>(conns) + kFdReserve;
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return "getrlimit(RLIMIT_NOFILE): " + errstr(errno);
    if (rl.rlim_cur >= need) return "";
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        return "--conns " + std::to_string(conns) + " needs " + std::to_string(need) +
               " file descriptors but the RLIMIT_NOFILE hard limit is " + std::to_string(rl.rlim_max) +
               " (raise it with ulimit -Hn)";
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &want) != 0)
            return "cannot raise RLIMIT_NOFILE to " + std::to_string(need) + ": " + errstr(errno);
    }
    return "";
}

inline std::string target_name(const options& o) {
    const bool v6 = o.addr.ss_family == AF_INET6 && o.host.front() != '[';
    return (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
}

// Connects one socket (non-blocking, TCP_NODELAY); error text or "".
inline std::string connect_one(const options& o, unique_fd& out) {
    unique_fd fd(socket(o.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return "socket: " + errstr(errno);
    net::set_nodelay(fd.get());
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&o.addr), o.addr_len) != 0) {
        if (errno != EINPROGRESS) return errstr(errno);
        pollfd p{fd.get(), POLLOUT, 0};
        int r;
        do r = poll(&p, 1, kConnectTimeoutMs);
        while (r < 0 && errno == EINTR);
        if (r == 0) return "timed out after " + std::to_string(kConnectTimeoutMs / 1000) + " s";
        if (r < 0) return "poll: " + errstr(errno);
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return errstr(err);
    }
    out = std::move(fd);
    return "";
}


}  // namespace sy::load
