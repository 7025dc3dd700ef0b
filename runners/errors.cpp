// Limit descriptions for resource_error messages.
#include "runners/errors.hpp"

#include <sys/resource.h>

#include <cstring>
#include <fstream>

namespace sy {

namespace {
std::string read_first_line(const char* path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s.empty() ? "?" : s;
}
std::string rlimit_text(int res) {
    rlimit r{};
    if (getrlimit(res, &r) != 0) return "?";
    return r.rlim_cur == RLIM_INFINITY ? "unlimited" : std::to_string(r.rlim_cur);
}
}  // namespace

std::string errno_text(int err) { return std::strerror(err); }

std::string thread_limits_text() {
    return "ulimit -u " + rlimit_text(RLIMIT_NPROC) + ", kernel.threads-max " +
           read_first_line("/proc/sys/kernel/threads-max") + ", kernel.pid_max " +
           read_first_line("/proc/sys/kernel/pid_max") + ", vm.max_map_count " +
           read_first_line("/proc/sys/vm/max_map_count");
}

std::string fd_limit_text() { return "ulimit -n " + rlimit_text(RLIMIT_NOFILE); }

}  // namespace sy
