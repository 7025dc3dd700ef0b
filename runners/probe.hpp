// What this kernel offers the io_uring models, probed once per process.
//
// The uring runners use the fastest setup flags the kernel accepts and fall
// back otherwise; tests and benches skip with `reason` when io_uring is
// unavailable (old kernel, seccomp, kernel.io_uring_disabled), like
// liburing's own tests do.
//
// Header-only parts (kernel_at_least, kUringSetupCandidates) are shared with
// the load generator (benches/load/uring_backend.hpp), which does not link
// the runner library.
#pragma once

#include <sys/utsname.h>

#include <cstdio>
#include <string>

#if SY_HAVE_URING
#include <liburing.h>
#endif

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

// The running kernel is at least major.minor (false if uname fails).
inline bool kernel_at_least(int major, int minor) {
    utsname u{};
    if (uname(&u) != 0) return false;
    int ma = 0, mi = 0;
    if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
    return ma > major || (ma == major && mi >= minor);
}

#if SY_HAVE_URING
// io_uring setup flags to try, fastest first, down to none: SINGLE_ISSUER +
// DEFER_TASKRUN (6.1), COOP_TASKRUN (5.19), SUBMIT_ALL (5.18), plain.
inline constexpr unsigned kUringSetupCandidates[] = {
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
    IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
    IORING_SETUP_SUBMIT_ALL,
    0,
};
#endif

// Probed on first call (creates and destroys a small ring).
const uring_support& probe_uring();

// One line of JSON describing the probe result.
std::string uring_support_json();

}  // namespace sy
