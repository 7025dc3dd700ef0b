// Errors a runner raises: resource limits (threads, fds, memory, map count)
// get their own type so benches can report them as "capped"/"skipped" with
// the limit's name instead of crashing.
#pragma once

#include <stdexcept>
#include <string>

namespace sy {

// A limit of the machine or process was hit; what() names the limit.
struct resource_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The loop has suspended tasks but nothing (ready task, timer, I/O, offload,
// cross-thread event) that could ever wake them.
struct deadlock_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Text for errno values, for one-line messages.
std::string errno_text(int err);

// Current soft limits, for messages naming the limit that was hit.
std::string thread_limits_text();
std::string fd_limit_text();

}  // namespace sy
