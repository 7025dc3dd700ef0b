// memory: bytes per live, suspended task.
//
// What: N tasks are spawned and all wait on one event; the process's RSS
// growth is measured when all N are waiting, for N in a sweep, each N in a
// fresh forked process (so pools and pages left by a previous size cannot
// hide the cost). bytes_per_task is the least-squares slope of RSS growth
// over N (fixed costs fall into the intercept); r2 says how straight it is.
// Why: "coroutines scale to huge numbers at low cost" (claim 7).
// Per model:
//   thread  N up to 1e4 (each waiting task is an OS thread; kernel.pid_max
//           and memory stop it well before 1e6: capped); also the virtual
//           memory reserved per thread (its stack mapping) and the kernel
//           stack per thread (/proc/meminfo KernelStack: system-wide, so
//           noisy on a busy machine), which RSS does not show.
//   pool    state:queued -- a waiting pool task holds its worker, so N tasks
//           wait mostly queued: the cost of a queued task.
//   fiber   stack_kib and guard_page reported; guard pages off, because a
//           million guarded stacks need two million mappings
//           (vm.max_map_count is 65530 by default).
//   callback models: a pending callback registered on the event.
// The bench's own bookkeeping (the vector of join handles) is allocated
// before the baseline and not counted.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

using sy::bench::pick;

constexpr std::uint64_t kSmokeSizes[] = {100, 300, 1'000};
constexpr std::uint64_t kQuickSizes[] = {1'000, 10'000, 100'000};
constexpr std::uint64_t kFullSizes[] = {1'000, 10'000, 100'000, 1'000'000};
constexpr std::uint64_t kThreadMax = 10'000;
constexpr int kChildTimeoutMs = 180'000;
constexpr std::size_t kFiberStack = sy::kDefaultFiberStack;

struct sample {
    std::uint64_t n;
    double rss, vm, kernel_stack;  // growth in bytes
    int error;                     // 0, or a stage that failed in the child
};

long page_size() { return sysconf(_SC_PAGESIZE); }

// (resident, size) of this process in bytes, from /proc/self/statm.
std::pair<double, double> statm() {
    std::ifstream f("/proc/self/statm");
    double size = 0, resident = 0;
    f >> size >> resident;
    return {resident * double(page_size()), size * double(page_size())};
}

double kernel_stack_bytes() {
    std::ifstream f("/proc/meminfo");
    std::string key;
    double kb = 0;
    while (f >> key) {
        if (key == "KernelStack:") {
            f >> kb;
            return kb * 1024;
        }
        f.ignore(1 << 10, '\n');
    }
    return 0;
}

struct snapshot {
    double rss, vm, kstack;
    static snapshot now() {
        auto [rss, vm] = statm();
        return {rss, vm, kernel_stack_bytes()};
    }
};

// Everything the waiting tasks share, passed as one pointer: a frame holds
// its parameters, and four references would make each frame 24 bytes larger.
template <class R>
struct shared_state {
    typename R::event gate, all_in;
    std::atomic<std::uint64_t> in{0};
    std::uint64_t n;
    shared_state(R& rt, std::uint64_t count) : gate(rt), all_in(rt), n(count) {}
};

template <class R>
sy::task_t<R> waiter(shared_state<R>* s) {
    if (s->in.fetch_add(1) + 1 == s->n) s->all_in.set();
    co_await s->gate.wait();
}

// In the child: spawn n waiting tasks, measure, release, join.
template <class R>
sample measure_task_model(std::uint64_t n, const sy::bench::runner_config& cfg) {
    auto rt = sy::bench::make_runner<R>(cfg);
    sample s{n, 0, 0, 0, 0};
    auto body = [&](R& r) -> sy::task_t<R> {
        shared_state<R> st(r, n);
        std::vector<typename R::template join_handle<void>> handles;
        handles.reserve(n);
        snapshot before = snapshot::now();
        for (std::uint64_t i = 0; i < n; ++i) handles.push_back(r.spawn(waiter<R>(&st)));
        if constexpr (!requires { R::bounded_waiters; }) co_await st.all_in.wait();  // all N waiting
        snapshot after = snapshot::now();
        s.rss = after.rss - before.rss;
        s.vm = after.vm - before.vm;
        s.kernel_stack = after.kstack - before.kstack;
        st.gate.set();
        for (auto& h : handles) co_await h.join();
    };
    rt->run(body(*rt));
    return s;
}

template <class R>
sample measure_callback_model(std::uint64_t n) {
    R rt;
    sample s{n, 0, 0, 0, 0};
    typename R::event gate(rt);
    std::uint64_t done = 0;
    snapshot before = snapshot::now();
    for (std::uint64_t i = 0; i < n; ++i) rt.post([&] { gate.wait([&] { ++done; }); });
    rt.post([&] {  // FIFO: runs after every waiter has registered
        snapshot after = snapshot::now();
        s.rss = after.rss - before.rss;
        s.vm = after.vm - before.vm;
        gate.set();
    });
    rt.run();
    if (done != n) s.error = 3;
    return s;
}

// Runs measure(n) in a fresh child process; the parent waits at most
// kChildTimeoutMs and reads the sample from a pipe.
template <class Measure>
sample in_child(std::uint64_t n, Measure measure, std::string& error) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        error = "pipe failed";
        return {};
    }
    pid_t pid = fork();
    if (pid < 0) {
        error = "fork failed";
        return {};
    }
    if (pid == 0) {
        ::close(fds[0]);
        sample s{n, 0, 0, 0, 1};
        try {
            s = measure(n);
        } catch (const std::exception& e) {
            std::string msg = e.what();
            [[maybe_unused]] ssize_t w = ::write(fds[1], msg.data(), msg.size());
            _exit(2);
        }
        [[maybe_unused]] ssize_t w = ::write(fds[1], &s, sizeof s);
        _exit(0);
    }
    ::close(fds[1]);
    std::string data;
    pollfd p{fds[0], POLLIN, 0};
    char buf[4096];
    for (;;) {
        int r = ::poll(&p, 1, kChildTimeoutMs);
        if (r <= 0) {
            ::kill(pid, SIGKILL);
            error = "child for N=" + std::to_string(n) + " timed out";
            break;
        }
        ssize_t got = ::read(fds[0], buf, sizeof buf);
        if (got <= 0) break;
        data.append(buf, std::size_t(got));
    }
    ::close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!error.empty()) return {};
    if (!WIFEXITED(status)) {
        error = "child for N=" + std::to_string(n) + " died (signal " +
                std::to_string(WIFSIGNALED(status) ? WTERMSIG(status) : 0) + ")";
        return {};
    }
    if (WEXITSTATUS(status) == 2) {
        error = data;  // the runner's exception text, e.g. a machine limit
        return {};
    }
    sample s{};
    if (data.size() != sizeof s) {
        error = "child for N=" + std::to_string(n) + " sent no result";
        return {};
    }
    std::memcpy(&s, data.data(), sizeof s);
    if (s.error) error = "child for N=" + std::to_string(n) + " failed at stage " + std::to_string(s.error);
    return s;
}

struct fit {
    double slope, intercept, r2;
};

fit least_squares(const std::vector<sample>& xs, double sample::*field) {
    double n = double(xs.size()), mx = 0, my = 0;
    for (auto& s : xs) {
        mx += double(s.n);
        my += s.*field;
    }
    mx /= n;
    my /= n;
    double sxy = 0, sxx = 0, syy = 0;
    for (auto& s : xs) {
        double dx = double(s.n) - mx, dy = s.*field - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    double slope = sxx > 0 ? sxy / sxx : 0;
    double r2 = (sxx > 0 && syy > 0) ? (sxy * sxy) / (sxx * syy) : 1;
    return {slope, my - slope * mx, r2};
}

template <class Measure>
void sweep(benchmark::State& state, const std::vector<std::uint64_t>& sizes, Measure measure,
           bool capped, bool report_thread_costs) {
    std::vector<sample> samples;
    std::string error;
    for (auto _ : state) {
        samples.clear();
        for (std::uint64_t n : sizes) {
            sample s = in_child(n, measure, error);
            if (!error.empty()) break;
            samples.push_back(s);
        }
        if (!error.empty()) break;
    }
    if (!error.empty()) {
        if (error.find("limit") != std::string::npos || error.find("mmap") != std::string::npos)
            return sy::bench::skip(state, "machine limit: " + error);
        return state.SkipWithError(error.c_str());
    }
    fit rss = least_squares(samples, &sample::rss);
    sy::bench::counter(state, "bytes_per_task", rss.slope);
    sy::bench::counter(state, "r2", rss.r2);
    sy::bench::counter(state, "tasks", double(sizes.back()));
    sy::bench::counter(state, "capped", capped ? 1 : 0);
    for (auto& s : samples) sy::bench::counter(state, ("rss_bytes_n" + std::to_string(s.n)).c_str(), s.rss);
    if (report_thread_costs) {
        sy::bench::counter(state, "vm_reserved_bytes_per_task", least_squares(samples, &sample::vm).slope);
        sy::bench::counter(state, "kernel_stack_bytes_per_task",
                           least_squares(samples, &sample::kernel_stack).slope);
    }
}

std::vector<std::uint64_t> sizes(std::uint64_t cap = UINT64_MAX) {
    std::vector<std::uint64_t> v;
    switch (sy::bench::opts().size) {
        case sy::bench::tier::smoke: v.assign(std::begin(kSmokeSizes), std::end(kSmokeSizes)); break;
        case sy::bench::tier::quick: v.assign(std::begin(kQuickSizes), std::end(kQuickSizes)); break;
        default:
            v.assign(std::begin(kFullSizes), std::end(kFullSizes));
            // n:1e6 (a million fibers' first-touched stacks alone took 13-20 s
            // per process) runs with `run --full`: the default run's budget;
            // the slope rests on 1e3..1e5 (2026-12-03).
            if (!sy::bench::opts().full) std::erase(v, kFullSizes[std::size(kFullSizes) - 1]);
    }
    std::erase_if(v, [cap](std::uint64_t n) { return n > cap; });
    return v;
}

}  // namespace

SY_WORKLOAD(memory) {
    using sy::bench::name;
    // One sweep per iteration; repetitions re-run the whole sweep.
    const auto add = [](const std::string& n, std::function<void(benchmark::State&)> fn) {
        return sy::bench::add(n, std::move(fn))->Iterations(1);
    };
    sy::bench::for_each_task_model([&]<class R>() {
        sy::bench::runner_config cfg{.fiber_stack = kFiberStack, .fiber_guard = false};
        constexpr bool threads = sy::bench::placeable<R> && !requires { R::bounded_waiters; };
        std::vector<std::uint64_t> ns = threads ? sizes(kThreadMax) : sizes();
        bool capped = ns.size() < sizes().size();
        std::string label = requires { R::bounded_waiters; } ? name("memory", R::name, {{"state", "queued"}})
                                                              : name("memory", R::name);
        add(label, [ns, cfg, capped](benchmark::State& st) {
            sweep(st, ns, [cfg](std::uint64_t n) { return measure_task_model<R>(n, cfg); }, capped,
                  threads);
            if constexpr (requires { std::declval<R&>().stacks(); }) {
                sy::bench::counter(st, "stack_kib", double(cfg.fiber_stack >> 10));
                sy::bench::counter(st, "guard_page", cfg.fiber_guard ? 1 : 0);
            }
        });
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        std::vector<std::uint64_t> ns = sizes();
        add(name("memory", R::name), [ns](benchmark::State& st) {
            sweep(st, ns, [](std::uint64_t n) { return measure_callback_model<R>(n); }, false, false);
        });
    });
}
