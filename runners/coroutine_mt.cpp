// coroutine_mt_runner: the worker loop, stealing, parking and the driver role.
// The protocol is described in coroutine_mt.hpp; the comments here say which
// step each function is and what it must not reorder.
#include "runners/coroutine_mt.hpp"

#include <algorithm>
#include <string>

namespace sy {

namespace {
using handle = std::coroutine_handle<>;
constexpr std::uint64_t kRngSeed = 0x9e3779b97f4a7c15ull;

std::uint64_t xorshift(std::uint64_t& s) {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
}
}  // namespace

coroutine_mt_runner::coroutine_mt_runner(coroutine_mt_options opts)
    : frames_(opts.workers ? opts.workers : detail::default_worker_count()),
      wheel_(detail::now_ns()) {
    on_complete = &complete_spawned;
    const unsigned n = unsigned(frames_.size());
    workers_.reserve(n);
    for (unsigned i = 0; i < n; ++i) {
        auto w = std::make_unique<worker>();
        w->rt = this;
        w->index = i;
        w->rng = kRngSeed * (i + 1);
        workers_.push_back(std::move(w));
    }
    sleepers_.reserve(n);
}

coroutine_mt_runner::~coroutine_mt_runner() = default;

detail::offload_pool& coroutine_mt_runner::offload_pool() {
    std::lock_guard l(offload_mu_);
    if (!offload_) offload_ = std::make_unique<detail::offload_pool>();
    return *offload_;
}

// ---- queues ----------------------------------------------------------------------------------
void coroutine_mt_runner::push_inject(handle h) {
    {
        std::lock_guard l(inject_mu_);
        inject_.push_back(h);
        inject_size_.store(inject_.size(), std::memory_order_relaxed);
    }
    notify_parked();
}

handle coroutine_mt_runner::pop_inject() {
    if (inject_size_.load(std::memory_order_relaxed) == 0) return {};
    std::lock_guard l(inject_mu_);
    if (inject_.empty()) return {};
    handle h = inject_.front();
    inject_.pop_front();
    inject_size_.store(inject_.size(), std::memory_order_relaxed);
    return h;
}

// Takes half of a random victim's queue (oldest first); returns one of them
// to run and queues the rest locally. Never holds two queue locks at once.
handle coroutine_mt_runner::steal_into(worker& w) {
    const std::size_t n = workers_.size();
    const std::size_t start = std::size_t(xorshift(w.rng) % n);
    for (std::size_t k = 0; k < n; ++k) {
        worker& v = *workers_[(start + k) % n];
        if (&v == &w || v.local_size.load(std::memory_order_relaxed) == 0) continue;
        w.stolen.clear();
        {
            std::lock_guard l(v.mu);
            std::size_t take = (v.local.size() + 1) / 2;
            while (w.stolen.size() < take && !v.local.empty()) w.stolen.push_back(v.local.pop());
            v.local_size.store(v.local.size(), std::memory_order_relaxed);
        }
        if (w.stolen.empty()) continue;
        if (w.stolen.size() > 1) {
            std::lock_guard l(w.mu);
            for (std::size_t i = 1; i < w.stolen.size(); ++i) w.local.push(w.stolen[i]);
            w.local_size.store(w.local.size(), std::memory_order_relaxed);
        }
        return w.stolen.front();
    }
    return {};
}

// Every queue, each under its lock: a push's critical section comes before
// or after this look at its queue, so either we see the task, or the pusher
// -- which loads the idle counters after its unlock -- sees what our caller
// did before calling (registered as parked, stopped searching). The locks
// are the Dekker pair, so a push needs no seq_cst store (an xchg on x86,
// per task) and the rare parker pays N uncontended locks instead.
bool coroutine_mt_runner::work_visible() {
    {
        std::lock_guard l(inject_mu_);
        if (!inject_.empty()) return true;
    }
    for (auto& w : workers_) {
        std::lock_guard l(w->mu);
        if (!w->local.empty()) return true;
    }
    return false;
}

handle coroutine_mt_runner::find_work(worker& w) {
    if (w.lifo) return std::exchange(w.lifo, {});
    if (handle h = pop_local(w)) return h;
    if (handle h = pop_inject()) return h;
    if (workers_.size() == 1) return {};
    if (!w.searching) {
        // At most half the unparked workers search at once (Tokio): the rest
        // park at once, and parking looks at every queue anyway.
        std::lock_guard l(idle_mu_);
        if (2 * searching_.load(std::memory_order_relaxed) >= unparked_.load(std::memory_order_relaxed))
            return {};
        searching_.fetch_add(1, std::memory_order_seq_cst);
        w.searching = true;
    }
    if (handle h = steal_into(w)) return h;
    return pop_inject();
}

// ---- idle: searching, parking, waking ------------------------------------------------------------
// A push calls this after queueing, after its unlock. park() registers
// before it looks at every queue under its lock (work_visible), so either
// the parker sees the task or we see the parker. (Locks, not fences: TSan
// ignores fences.)
void coroutine_mt_runner::notify_parked() {
    if (searching_.load(std::memory_order_seq_cst) != 0 ||
        unparked_.load(std::memory_order_seq_cst) == workers_.size())
        return;
    std::lock_guard l(idle_mu_);
    if (searching_.load(std::memory_order_relaxed) != 0 || sleepers_.empty()) return;
    unsigned i = sleepers_.back();
    sleepers_.pop_back();
    searching_.fetch_add(1, std::memory_order_seq_cst);  // the woken worker searches
    unparked_.fetch_add(1, std::memory_order_seq_cst);
    unpark(i);
}

// Under idle_mu_, after `i` left sleepers_: clear its futex word, wake it
// either in the futex or, if it holds the driver role, in epoll.
void coroutine_mt_runner::unpark(unsigned i) {
    worker& w = *workers_[i];
    w.parked.store(0, std::memory_order_seq_cst);
    w.parked.notify_one();
    if (driver_owner_.load(std::memory_order_seq_cst) == int(i)) poller_.ring();
}

// A worker that found work stops searching; if it was the last searcher
// and more work is queued, it wakes another to look (pushes meanwhile did not).
void coroutine_mt_runner::leave_searching(worker& w) {
    w.searching = false;
    if (searching_.fetch_sub(1, std::memory_order_seq_cst) == 1 && work_visible()) notify_parked();
}

void coroutine_mt_runner::park(worker& w) {
    {
        std::lock_guard l(idle_mu_);
        if (w.searching) {
            searching_.fetch_sub(1, std::memory_order_seq_cst);
            w.searching = false;
        }
        unparked_.fetch_sub(1, std::memory_order_seq_cst);
        sleepers_.push_back(w.index);
        w.parked.store(1, std::memory_order_seq_cst);
    }
    if (stop_.load(std::memory_order_acquire) || work_visible() || finished_or_deadlocked(w)) {
        unpark_self(w);
        return;
    }
    park_wait(w);
    unpark_self(w);
}

// Sleep until unparked. The first parked worker takes the driver role and
// sleeps in the poller (with the next timer as timeout), and fires the
// timers that are due when it returns; the others sleep on their futex word.
void coroutine_mt_runner::park_wait(worker& w) {
    while (w.parked.load(std::memory_order_acquire) == 1 && !stop_.load(std::memory_order_acquire)) {
        if (driver_mu_.try_lock()) {
            std::lock_guard driver(driver_mu_, std::adopt_lock);
            driver_owner_.store(int(w.index), std::memory_order_seq_cst);
            if (w.parked.load(std::memory_order_seq_cst) == 1) {
                std::uint64_t timeout = detail::kForever;
                {
                    std::lock_guard l(timer_mu_);
                    if (!wheel_.empty()) {
                        std::uint64_t due = wheel_.next_expiry_ns(), now = detail::now_ns();
                        timeout = due > now ? due - now : 0;
                        driver_deadline_ = due;
                    } else {
                        driver_deadline_ = detail::kForever;
                    }
                }
                poller_.wait(timeout);
                std::lock_guard l(timer_mu_);
                driver_deadline_ = 0;
                if (!wheel_.empty()) {
                    wheel_.advance(detail::now_ns());
                    timers_.store(wheel_.size(), std::memory_order_relaxed);
                }
            }
            driver_owner_.store(-1, std::memory_order_seq_cst);
            return;  // woken, or I/O or a timer made work: look for it
        }
        w.parked.wait(1, std::memory_order_acquire);
    }
}

// After park_wait: if nobody unparked us (a timeout, I/O, a spurious wake),
// leave sleepers_ ourselves. Either way we search next.
void coroutine_mt_runner::unpark_self(worker& w) {
    std::lock_guard l(idle_mu_);
    if (w.parked.load(std::memory_order_relaxed) == 1) {
        sleepers_.erase(std::find(sleepers_.begin(), sleepers_.end(), w.index));
        w.parked.store(0, std::memory_order_relaxed);
        searching_.fetch_add(1, std::memory_order_seq_cst);
        unparked_.fetch_add(1, std::memory_order_seq_cst);
    }
    w.searching = true;  // counted by us or by whoever unparked us
}

std::int64_t coroutine_mt_runner::live_sum() const {
    std::int64_t n = external_live_.load(std::memory_order_acquire);
    for (auto& w : workers_) n += w->live.load(std::memory_order_relaxed);
    return n;
}

std::size_t coroutine_mt_runner::live_tasks() const {
    std::int64_t n = live_sum();
    return n > 0 ? std::size_t(n) : 0;
}

// The last worker to park: every other one is parked, so no count can
// change (they stored theirs before taking idle_mu_ to park). No task left:
// run() is over. Tasks left, but none queued, no timer, no armed I/O and no
// wake owed from outside: nothing can ever run again.
bool coroutine_mt_runner::finished_or_deadlocked(worker&) {
    if (unparked_.load(std::memory_order_seq_cst) != 0) return false;
    // Lock order: timers, then poller, then idle (firing and dispatch push
    // tasks, which may take idle_mu_, while holding the first two).
    std::scoped_lock l(timer_mu_, poller_.mutex(), idle_mu_);
    if (unparked_.load(std::memory_order_relaxed) != 0 || stop_.load(std::memory_order_relaxed))
        return false;
    if (live_sum() == 0) {
        stop_all_locked();
        return true;
    }
    if (!wheel_.empty() || poller_.armed() != 0) return false;
    if (outstanding_.load(std::memory_order_seq_cst) != 0 || work_visible()) return false;
    failure_ = std::make_exception_ptr(deadlock_error(
        std::to_string(live_sum()) +
        " task(s) suspended with nothing that could wake them "
        "(no timer, I/O, offload or event pending)"));
    stop_all_locked();
    return true;
}

void coroutine_mt_runner::stop_all_locked() {
    stop_.store(true, std::memory_order_seq_cst);
    for (unsigned i : sleepers_) unpark(i);
    sleepers_.clear();
    poller_.ring();
}

void coroutine_mt_runner::fail(std::exception_ptr e) {
    std::lock_guard l(idle_mu_);
    if (!failure_) failure_ = e;
    stop_all_locked();
}

// ---- timers ------------------------------------------------------------------------------------------
void coroutine_mt_runner::add_timer(detail::timer_node* n) {
    bool ring;
    {
        std::lock_guard l(timer_mu_);
        wheel_.insert(n);
        timers_.store(wheel_.size(), std::memory_order_relaxed);
        ring = n->deadline_ns < driver_deadline_;  // the driver sleeps past it
    }
    if (ring) poller_.ring();
}

void coroutine_mt_runner::cancel_timer(detail::timer_node* n) {
    std::lock_guard l(timer_mu_);
    wheel_.cancel(n);
    timers_.store(wheel_.size(), std::memory_order_relaxed);
}

// At a turn boundary: due timers and ready I/O, if no other worker is at it.
void coroutine_mt_runner::maintain(worker&) {
    if (timers_.load(std::memory_order_relaxed) != 0 && timer_mu_.try_lock()) {
        std::lock_guard l(timer_mu_, std::adopt_lock);
        wheel_.advance(detail::now_ns());
        timers_.store(wheel_.size(), std::memory_order_relaxed);
    }
    if (poller_.armed() != 0 && driver_mu_.try_lock()) {
        std::lock_guard l(driver_mu_, std::adopt_lock);
        poller_.wait(0);
    }
}

// ---- the worker loop -----------------------------------------------------------------------------------
void coroutine_mt_runner::work(worker& w) {
    detail::tl_mt_worker = &w;
    detail::frame_pool_scope frames(&frames_.member(w.index));
    try {
        while (!stop_.load(std::memory_order_acquire)) {
            maintain(w);
            handle h;
            // Inject first now and then, so outside wake-ups are not starved.
            if (w.local_size.load(std::memory_order_relaxed) != 0) h = pop_inject();
            if (!h) h = find_work(w);
            if (!h) {
                park(w);
                continue;
            }
            if (w.searching) leave_searching(w);
            w.budget = detail::kTransferBudget;
            w.lifo_streak = 0;
            h.resume();
            while (!stop_.load(std::memory_order_relaxed)) {  // the rest of the turn
                handle more = next();
                if (more == std::noop_coroutine()) break;
                more.resume();
            }
        }
    } catch (...) {
        fail(std::current_exception());
    }
    if (w.searching) {
        w.searching = false;
        searching_.fetch_sub(1, std::memory_order_seq_cst);
    }
    detail::tl_mt_worker = nullptr;
}

void coroutine_mt_runner::run_workers() {
    const unsigned n = unsigned(workers_.size());
    stop_.store(false);
    failure_ = nullptr;
    sleepers_.clear();
    searching_.store(0);
    unparked_.store(n);
    for (auto& w : workers_) {
        w->parked.store(0);
        w->searching = false;
    }
    std::size_t started = 1;
    try {
        for (unsigned i = 1; i < n; ++i, ++started)
            workers_[i]->thread = std::thread([this, i] { work(*workers_[i]); });
    } catch (const std::system_error& e) {
        fail(std::make_exception_ptr(resource_error(
            std::string("coroutine_mt: cannot start worker thread (") + e.what() + "; " +
            thread_limits_text() + ")")));
    }
    if (started == n) work(*workers_[0]);
    for (std::size_t i = 1; i < started; ++i) workers_[i]->thread.join();
    for (auto& w : workers_) w->lifo = {};
    if (failure_) std::rethrow_exception(failure_);
}

}  // namespace sy
