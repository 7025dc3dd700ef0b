// What this kernel offers the io_uring models, probed once per process.
//
// The uring runners use the fastest setup flags the kernel accepts and fall
// back otherwise; tests and benches skip with `reason` when io_uring is
// unavailable (old kernel, seccomp, kernel.io_uring_disabled), like
// liburing's own tests do.
#pragma once

#include <string>

namespace sy {

struct uring_support {
    bool available = false;
    std::string reason;           // why not, when !available
    unsigned setup_flags = 0;     // the flags a loop ring will be created with
    bool single_issuer = false;   // IORING_SETUP_SINGLE_ISSUER
    bool defer_taskrun = false;   // IORING_SETUP_DEFER_TASKRUN
    bool coop_taskrun = false;    // IORING_SETUP_COOP_TASKRUN
    bool submit_all = false;      // IORING_SETUP_SUBMIT_ALL
    bool buf_ring = false;        // provided buffer rings (io_uring_register_buf_ring)
    bool multishot_accept = false;
    bool recv_multishot = false;
};

// Probed on first call (creates and destroys a small ring).
const uring_support& probe_uring();

// One line of JSON describing the probe result.
std::string uring_support_json();

}  // namespace sy
