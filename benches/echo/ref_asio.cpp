// echo/asio_ref: the echo server as Asio's own
// src/examples/cpp20/coroutines/echo_server.cpp writes it -- an
// io_context, a listener coroutine on a tcp::acceptor that co_spawns one
// coroutine per connection (detached), which loops on
// socket.async_read_some and asio::async_write with use_awaitable -- taking
// the bench's listening socket instead of binding its own. Two departures,
// both for the robustness tests every echo server passes: accept errors
// (out of fds) come back through as_tuple and the listener waits a
// millisecond and goes on instead of ending on an exception; TCP_NODELAY
// and the buffer size are those of every echo server here. The per-
// connection write is awaited before the next read, so a client that never
// reads stops its connection's reading (backpressure), as in the example.
// The `asio` model's row divided by this one is the seam's cost for Asio.
#if SY_HAVE_ASIO
#include <cstddef>  // before Asio's headers: see runners/asio.hpp

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <cerrno>
#include <chrono>
#include <string>

#include "benches/echo/refs.hpp"

namespace sy::echo {
namespace {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

// How long the listener backs off when the process is out of fds.
constexpr auto kAcceptBackoff = std::chrono::milliseconds(1);

awaitable<void> echo(tcp::socket socket) {
    try {
        char data[kBufSize];
        for (;;) {
            std::size_t n = co_await socket.async_read_some(asio::buffer(data), use_awaitable);
            co_await asio::async_write(socket, asio::buffer(data, n), use_awaitable);
        }
    } catch (const std::exception&) {
        // end of file, reset: this connection is done (the example prints it)
    }
}

awaitable<void> listener(tcp::acceptor acceptor) {
    auto executor = co_await asio::this_coro::executor;
    for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::experimental::as_tuple(use_awaitable));
        if (ec) {
            if (ec == asio::error::no_descriptors || ec.value() == ENFILE) {
                asio::steady_timer backoff(executor, kAcceptBackoff);
                co_await backoff.async_wait(use_awaitable);
            }
            continue;
        }
        asio::error_code ignored;
        socket.set_option(tcp::no_delay(true), ignored);
        asio::co_spawn(executor, echo(std::move(socket)), asio::detached);
    }
}

}  // namespace

void run_asio_reference(int lfd) {
    asio::io_context io_context(1);
    asio::error_code ec;
    tcp::acceptor acceptor(io_context);
    acceptor.assign(tcp::v4(), lfd, ec);
    if (ec) die("asio_ref: " + ec.message());
    asio::co_spawn(io_context, listener(std::move(acceptor)), asio::detached);
    io_context.run();
}

}  // namespace sy::echo
#endif
