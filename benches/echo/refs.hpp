// The reference echo servers beside the models: each is what a user of the
// library writes without switchyard's seam, so the ratio of a model's row to
// its reference is the seam's cost (benches/echo.cpp, README "echo").
//   epoll        (server.cpp)   edge-triggered epoll loop, the readiness floor
//   thread_ref   (server.cpp)   blocking accept, a thread per connection
//   libuv_ref    (ref_libuv.cpp) libuv's own test/echo-server.c shape
//   uring_ref    (ref_uring.cpp) liburing directly, the uring model's kernel paths
//   asio_ref     (ref_asio.cpp)  Asio's own cpp20/coroutines/echo_server.cpp shape
// Each takes the listening socket (non-blocking, bound to 127.0.0.1) and
// serves until killed.
#pragma once

#include <cstddef>
#include <string>

namespace sy::echo {

inline constexpr std::size_t kBufSize = 16 * 1024;  // the largest message size swept
inline constexpr int kBacklog = 4096;

[[noreturn]] void die(const std::string& msg, int code = 2);

void run_libuv_reference(int lfd);
void run_uring_reference(int lfd);
void run_asio_reference(int lfd);

}  // namespace sy::echo
