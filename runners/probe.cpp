// io_uring feature probe: tries the setup flags from the fastest combination
// down to none and records which ones the kernel accepts.
#include "runners/probe.hpp"

#include <cstring>
#include <sys/mman.h>

#include <cstdio>

#if SY_HAVE_URING
#include <liburing.h>
#endif

namespace sy {

namespace {

#if SY_HAVE_URING
uring_support do_probe() {
    uring_support s;
    int last_err = 0;
    for (unsigned flags : kUringSetupCandidates) {
        io_uring ring;
        io_uring_params p{};
        p.flags = flags;
        int r = io_uring_queue_init_params(8, &ring, &p);
        if (r < 0) {
            last_err = -r;
            continue;
        }
        s.available = true;
        s.setup_flags = flags;
        s.single_issuer = flags & IORING_SETUP_SINGLE_ISSUER;
        s.defer_taskrun = flags & IORING_SETUP_DEFER_TASKRUN;
        s.coop_taskrun = flags & IORING_SETUP_COOP_TASKRUN;
        s.submit_all = flags & IORING_SETUP_SUBMIT_ALL;
        // liburing 2.3 has no io_uring_setup_buf_ring: register by hand.
        constexpr unsigned kEntries = 8;
        size_t len = kEntries * sizeof(io_uring_buf);
        void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE,
                         MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (mem != MAP_FAILED) {
            io_uring_buf_reg reg{};
            reg.ring_addr = reinterpret_cast<unsigned long>(mem);
            reg.ring_entries = kEntries;
            reg.bgid = 0;
            if (io_uring_register_buf_ring(&ring, &reg, 0) == 0) {
                s.buf_ring = true;
                io_uring_unregister_buf_ring(&ring, 0);
            }
            munmap(mem, len);
        }
        io_uring_queue_exit(&ring);
        break;
    }
    if (!s.available) {
        s.reason = std::string("io_uring_setup failed: ") + std::strerror(last_err);
        if (last_err == EPERM)
            s.reason += " (kernel.io_uring_disabled or a seccomp filter)";
        else if (last_err == ENOSYS)
            s.reason += " (kernel without io_uring)";
        return s;
    }
    // Multishot accept (5.19) and multishot recv (6.0) have no opcode of
    // their own, so the opcode probe cannot see them; the kernel version can.
    s.multishot_accept = kernel_at_least(5, 19);
    s.recv_multishot = kernel_at_least(6, 0);
    return s;
}
#else
uring_support do_probe() {
    uring_support s;
    s.reason = "built without liburing (apt install liburing-dev)";
    return s;
}
#endif

}  // namespace

const uring_support& probe_uring() {
    static const uring_support s = do_probe();
    return s;
}

std::string uring_support_json() {
    const auto& s = probe_uring();
    auto b = [](bool v) { return v ? "true" : "false"; };
    std::string j = "{\"available\": ";
    j += b(s.available);
    if (!s.available) {
        j += ", \"reason\": \"" + s.reason + "\"}";
        return j;
    }
    j += std::string(", \"single_issuer\": ") + b(s.single_issuer);
    j += std::string(", \"defer_taskrun\": ") + b(s.defer_taskrun);
    j += std::string(", \"coop_taskrun\": ") + b(s.coop_taskrun);
    j += std::string(", \"submit_all\": ") + b(s.submit_all);
    j += std::string(", \"buf_ring\": ") + b(s.buf_ring);
    j += std::string(", \"multishot_accept\": ") + b(s.multishot_accept);
    j += std::string(", \"recv_multishot\": ") + b(s.recv_multishot);
    j += "}";
    return j;
}

}  // namespace sy
