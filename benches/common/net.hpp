// Socket helpers shared by every process of the suite that talks TCP on
// loopback: the load generator (benches/load/), the real-server benches'
// clients and servers (benches/realserver/) and the echo bench.
//
// Header-only and free of the runner library, so that switchyard-load (its
// own small executable, no sy_runners) can use it too. What is here was
// written more than once before: an fd closed by RAII, the 127.0.0.1
// address of a port, TCP_NODELAY as client libraries set it.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <utility>

namespace sy::net {

// An fd closed on destruction; move-only.
class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    unique_fd(const unique_fd&) = delete;
    unique_fd& operator=(const unique_fd&) = delete;
    ~unique_fd() { reset(); }
    int get() const { return fd_; }
    // Gives the fd up without closing it (the caller closes it).
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// 127.0.0.1:port.
inline sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(std::uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// The port a bound socket got (after binding port 0); -1 on error.
inline int local_port(int fd) {
    sockaddr_in a{};
    socklen_t len = sizeof a;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) return -1;
    return ntohs(a.sin_port);
}

// Small messages leave at once (no Nagle delay), as client libraries and
// servers set it. Best effort: a socket that refuses it still works.
inline void set_nodelay(int fd) {
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace sy::net
