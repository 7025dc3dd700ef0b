// uring_runner: the loop.
#include "runners/uring.hpp"

namespace sy {

uring_runner::uring_runner() : wheel_(detail::now_ns()), owner_(std::this_thread::get_id()) {}

uring_runner::~uring_runner() {
    // Unrun callbacks (run() not called, or ended by an exception) are freed
    // without running.
    while (!ready_.empty()) delete ready_.pop();
}

detail::offload_pool& uring_runner::offload_pool() {
    if (!offload_) offload_ = std::make_unique<detail::offload_pool>();
    return *offload_;
}

void uring_runner::run() {
    owner_ = std::this_thread::get_id();
    for (;;) {
        if (io_.remote().pending()) io_.remote().drain();
        if (!wheel_.empty()) wheel_.advance(detail::now_ns());
        if (ready_.empty()) {
            if (wheel_.empty() && io_.inflight() == 0 && held_ == 0 && !io_.remote().pending())
                return;  // nothing left that could run
            std::uint64_t timeout = detail::kForever;
            if (!wheel_.empty()) {
                std::uint64_t due = wheel_.next_expiry_ns(), now = detail::now_ns();
                timeout = due > now ? due - now : 0;
            }
            io_.wait(timeout);
            continue;
        }
        if (io_.needs_poll()) io_.poll();
        // The turn budget of every loop model: callbacks posted meanwhile
        // run in this turn too, up to kTransferBudget.
        for (std::size_t n = detail::kTransferBudget; n > 0 && !ready_.empty(); --n) {
            detail::cb_node* node = ready_.pop();
            node->invoke(node);
        }
    }
}

}  // namespace sy
