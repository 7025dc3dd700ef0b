// thread_runner and the blocking operations shared with pool_runner.
#include "runners/thread.hpp"

#include <time.h>

#include <cerrno>
#include <system_error>
#include <thread>

#include "runners/errors.hpp"

namespace sy {

blocking_ops::blocking_ops() { detail::ignore_sigpipe(); }
blocking_ops::~blocking_ops() = default;

void blocking_ops::sleep_ns(std::chrono::nanoseconds d) {
    if (d.count() <= 0) {
        sched_yield();
        return;
    }
    timespec ts{time_t(d.count() / 1'000'000'000), long(d.count() % 1'000'000'000)};
    while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

detail::offload_pool& blocking_ops::offload_pool() {
    std::lock_guard l(offload_mu_);
    if (!offload_) offload_ = std::make_unique<detail::offload_pool>();
    return *offload_;
}

thread_runner::thread_runner(thread_options opts) : plan_(opts.where) {
    placement_error_ = plan_.error;
}

std::string thread_runner::placement_error() {
    std::lock_guard l(error_mu_);
    return placement_error_;
}

void thread_runner::start_thread(std::coroutine_handle<> h, detail::promise_base& p) {
    live_.add();
    std::optional<int> cpu = plan_.cpu(spawned_++);
    try {
        std::thread([this, h, &p, cpu] {
            if (cpu) {
                std::string err = pin_this_thread(*cpu);
                if (!err.empty()) {
                    std::lock_guard l(error_mu_);
                    placement_error_ = err;
                }
            }
            h.resume();  // the whole body, blocking at every await
            detail::complete_blocking(h, p);
            live_.sub();
        }).detach();
    } catch (const std::system_error& e) {
        live_.sub();
        h.destroy();
        throw resource_error(std::string("thread: cannot create another thread (") + e.what() +
                             "; " + thread_limits_text() + ")");
    }
}

}  // namespace sy
