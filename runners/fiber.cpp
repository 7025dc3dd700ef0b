// fiber_runner: switching, the loop, timers, I/O and offload for fibers.
#include "runners/fiber.hpp"

#include "runners/errors.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace sy {

fiber_runner::fiber_runner(fiber_options opts)
    : stacks_(opts.stack_size, opts.guard_page), wheel_(detail::now_ns()) {
    main_rec_.started = true;
}

fiber_runner::~fiber_runner() { free_zombie(); }

detail::offload_pool& fiber_runner::offload_pool() {
    if (!offload_) offload_ = std::make_unique<detail::offload_pool>();
    return *offload_;
}

void fiber_runner::free_zombie() noexcept {
    delete zombie_;
    zombie_ = nullptr;
}

// ASan must be told when the stack changes under it, or it reports false
// stack-buffer errors on the fibers' stacks.
#if defined(__SANITIZE_ADDRESS__)
namespace {
thread_local void* asan_fake_stack = nullptr;
}
void fiber_runner::asan_start_switch(fiber_rec* to, bool dying) noexcept {
    __sanitizer_start_switch_fiber(dying ? nullptr : &asan_fake_stack, to->stack_bottom,
                                   to->stack_size);
}
void fiber_runner::asan_finish_switch() noexcept {
    const void* from_bottom;
    std::size_t from_size;
    __sanitizer_finish_switch_fiber(asan_fake_stack, &from_bottom, &from_size);
    if (prev_) {
        prev_->stack_bottom = from_bottom;
        prev_->stack_size = from_size;
    }
}
#endif

void fiber_runner::entered(boost::context::fiber&& caller) noexcept {
    asan_finish_switch();
    if (prev_) prev_->ctx = std::move(caller);
    if (zombie_) free_zombie();
}

fiber_runner::fiber_rec* fiber_runner::start(fiber_rec* r) noexcept {
    while (!r->started) {
        try {
            r->ctx = boost::context::fiber(
                std::allocator_arg, detail::pooled_stack_allocator{&stacks_},
                [this, r](boost::context::fiber&& caller) {
                    entered(std::move(caller));
                    r->task.resume();  // the whole body runs here, switching at awaits
                    return finish(r);
                });
            r->started = true;
#if defined(__SANITIZE_ADDRESS__)
            r->stack_size = stacks_.stack_size();
#endif
        } catch (...) {
            r->fail(r, std::current_exception());
            complete_task(r);
            delete r;
            r = pick_next();
        }
    }
    return r;
}

void fiber_runner::complete_task(fiber_rec* r) noexcept {
    --live_;
    detail::promise_base& p = *r->promise;
    p.state |= detail::kDone;
    if (p.state & detail::kDetached)
        r->task.destroy();
    else if (p.ext)
        wake(static_cast<fiber_rec*>(p.ext));
}

boost::context::fiber fiber_runner::finish(fiber_rec* self) noexcept {
    complete_task(self);
    fiber_rec* next = pick_next();
    if (!next->started) next = start(next);
    prev_ = nullptr;  // nothing to save: this fiber ends
    zombie_ = self;
    current_ = next;
    asan_start_switch(next, true);
    return std::move(next->ctx);
}

void fiber_runner::sleep_ns(std::uint64_t ns) {
    if (ns == 0) {  // sleep(0) is a yield
        ready_.push(current_);
        suspend();
        return;
    }
    struct node : detail::timer_node {
        fiber_runner* rt;
        fiber_rec* fiber;
    } n;
    n.rt = this;
    n.fiber = current_;
    n.deadline_ns = detail::now_ns() + ns;
    n.fire = [](detail::timer_node* t) {
        auto* x = static_cast<node*>(t);
        x->rt->ready_.push(x->fiber);
    };
    wheel_.insert(&n);
    suspend();
}

io_result fiber_runner::do_io(detail::io_op& op, detail::io_dir dir) {
    io_result r = op.attempt(&op);
    if (r != -EAGAIN) return r;
    struct waitctx {
        fiber_runner* rt;
        fiber_rec* fiber;
    } w{this, current_};
    op.owner = &w;
    op.complete = [](detail::io_op* o) {
        auto* c = static_cast<waitctx*>(o->owner);
        --c->rt->outstanding_;
        c->rt->ready_.push(c->fiber);
    };
    ++outstanding_;
    io_.arm(&op, dir);
    suspend();
    return op.result;
}

io_result fiber_runner::wait_ready(int fd, unsigned events, std::uint64_t ns) {
    detail::poll_op op(fd, events);
    io_result r = op.attempt(&op);
    if (r != -EAGAIN) return r;
    if (ns == 0) return kWaitTimeout;
    struct waitctx : detail::timer_node {
        fiber_runner* rt;
        fiber_rec* fiber;
        detail::poll_op* op;
    } w;
    w.rt = this;
    w.fiber = current_;
    w.op = &op;
    w.deadline_ns = detail::now_ns() + ns;
    w.fire = [](detail::timer_node* t) {  // the timeout came first
        auto* c = static_cast<waitctx*>(t);
        c->rt->io_.disarm(c->op);
        c->op->result = kWaitTimeout;
        --c->rt->outstanding_;
        c->rt->ready_.push(c->fiber);
    };
    op.owner = &w;
    op.complete = [](detail::io_op* o) {  // readiness (or an error) came first
        auto* c = static_cast<waitctx*>(o->owner);
        c->rt->wheel_.cancel(c);
        --c->rt->outstanding_;
        c->rt->ready_.push(c->fiber);
    };
    ++outstanding_;
    wheel_.insert(&w);  // first: arm() may complete at once
    io_.arm(&op, op.dir());
    suspend();
    return op.result;
}

void fiber_runner::loop() {
    while (live_ > 0) {
        if (runnext_) ready_.push(std::exchange(runnext_, nullptr));
        if (io_.remote().pending()) io_.remote().drain();
        if (!wheel_.empty()) wheel_.advance(detail::now_ns());
        if (ready_.empty()) {
            if (wheel_.empty() && outstanding_ == 0 && !io_.remote().pending())
                throw deadlock_error(std::to_string(live_) +
                                     " fiber(s) suspended with nothing that could wake them "
                                     "(no timer, I/O, offload or event pending)");
            std::uint64_t timeout = detail::kForever;
            if (!wheel_.empty()) {
                std::uint64_t due = wheel_.next_expiry_ns(), now = detail::now_ns();
                timeout = due > now ? due - now : 0;
            }
            io_.wait(timeout);
            continue;
        }
        if (io_.needs_poll()) io_.poll();
        // The coroutine loops' turn budget (detail::kTransferBudget resumes,
        // this first switch included) before timers and I/O are looked at
        // again: the same policy for every loop model, not max(ready, 256).
        budget_ = detail::kTransferBudget - 1;
        switch_to(ready_.pop());
    }
}

}  // namespace sy
