// Tests of the asio runner beyond the typed body (test_runners.cpp): the
// operations the typed body does not reach -- accept and connect over
// loopback TCP, connect's error through SO_ERROR -- and the fd contract
// (the runner deregisters but never closes fds it did not close itself).
// Skipped as a whole when the build has no Asio (SY_HAVE_ASIO).
#include <gtest/gtest.h>

#if SY_HAVE_ASIO
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "benches/common/net.hpp"
#include "runners/asio.hpp"
#include "runners/runner.hpp"  // sy::task_t

namespace {

using R = sy::asio_runner;
template <class T = void>
using task = sy::task_t<R, T>;

constexpr char kMessage[] = "switchyard asio accept/connect";
constexpr std::size_t kMessageSize = sizeof kMessage;

int nonblocking_tcp_socket() {
    return ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

// A non-blocking listening socket on 127.0.0.1 and an ephemeral port.
int listen_loopback() {
    int fd = nonblocking_tcp_socket();
    const sockaddr_in a = sy::net::loopback(0);
    if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0)
        return -1;
    return fd;
}

task<std::string> serve_one(R& rt, int lfd) {
    sy::io_result fd = co_await rt.accept(lfd);  // the client connects after this waits
    if (fd < 0) co_return "accept: " + std::string(std::strerror(int(-fd)));
    char buf[kMessageSize];
    std::size_t got = 0;
    while (got < kMessageSize) {
        sy::io_result n = co_await rt.read(int(fd), buf + got, kMessageSize - got);
        if (n <= 0) co_return "server read: " + std::to_string(n);
        got += std::size_t(n);
    }
    sy::io_result w = co_await rt.write(int(fd), buf, kMessageSize);
    rt.close(int(fd));
    co_return w == sy::io_result(kMessageSize) ? std::string(buf) : "server write: " + std::to_string(w);
}

TEST(AsioRunner, AcceptAndConnectOverLoopbackTcp) {
    int lfd = listen_loopback();
    ASSERT_GE(lfd, 0) << std::strerror(errno);
    const sockaddr_in addr = sy::net::loopback(sy::net::local_port(lfd));
    R rt;
    std::string served, echoed, error;
    auto body = [&](R& r) -> task<> {
        auto server = r.spawn(serve_one(r, lfd));
        co_await r.yield();  // the accept is waiting now
        int cfd = nonblocking_tcp_socket();
        sy::io_result c = co_await r.connect(cfd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        if (c != 0) error = "connect: " + std::to_string(c);
        sy::io_result w = co_await r.write(cfd, kMessage, kMessageSize);
        if (w != sy::io_result(kMessageSize)) error += " client write: " + std::to_string(w);
        char buf[kMessageSize] = {};
        std::size_t got = 0;
        while (got < kMessageSize) {
            sy::io_result n = co_await r.read(cfd, buf + got, kMessageSize - got);
            if (n <= 0) break;
            got += std::size_t(n);
        }
        echoed.assign(buf, got ? got - 1 : 0);
        r.close(cfd);
        served = co_await server.join();
    };
    rt.run(body(rt));
    rt.close(lfd);
    EXPECT_EQ(error, "");
    EXPECT_EQ(served, kMessage);
    EXPECT_EQ(echoed, kMessage);
}

TEST(AsioRunner, RefusedConnectEndsWithMinusEconnrefused) {
    int probe = listen_loopback();  // an ephemeral port, then nobody listens on it
    ASSERT_GE(probe, 0);
    const sockaddr_in addr = sy::net::loopback(sy::net::local_port(probe));
    ::close(probe);
    R rt;
    sy::io_result got = 0;
    int cfd = nonblocking_tcp_socket();
    auto body = [&](R& r) -> task<> {
        got = co_await r.connect(cfd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        r.close(cfd);
    };
    rt.run(body(rt));
    EXPECT_EQ(got, -ECONNREFUSED);
}

TEST(AsioRunner, LeavesFdsItDidNotCloseOpen) {
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    {
        R rt;
        auto body = [&](R& r) -> task<sy::io_result> {
            char c = 'a';
            sy::io_result w = co_await r.write(sv[0], &c, 1);  // registers sv[0] with the runner
            co_return w == 1 ? co_await r.read(sv[1], &c, 1) : w;
        };
        ASSERT_EQ(rt.run(body(rt)), 1);
    }  // the runner is gone: sv[0] and sv[1] are still the caller's
    EXPECT_NE(::fcntl(sv[0], F_GETFD), -1) << "the runner closed an fd it did not open";
    EXPECT_NE(::fcntl(sv[1], F_GETFD), -1) << "the runner closed an fd it did not open";
    char c = 'b';
    EXPECT_EQ(::write(sv[0], &c, 1), 1);
    EXPECT_EQ(::read(sv[1], &c, 1), 1);
    ::close(sv[0]);
    ::close(sv[1]);
}

}  // namespace
#else
TEST(AsioRunner, Skipped) { GTEST_SKIP() << "this build has no Asio (apt install libasio-dev)"; }
#endif
