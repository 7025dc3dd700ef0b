// brigade: K tasks in a ring, connected by pipes, pass a token around L laps
// (after jimblandy/context-switch). Every hop is a real I/O wait: a task
// blocks reading its pipe until the previous one writes the token.
//
// What: µs per hop (real_time / hops) per model; the token is a counter each
// hop increments, so the final value must equal K x L (checked).
// Why: "a coroutine switches to another automatically when it meets I/O":
// here every switch is caused by I/O readiness (epoll, io_uring completion,
// uv_poll, or a thread woken from read(2)), not by a channel.
// pool: a task blocked on its pipe holds its worker, so a ring larger than
// the pool cannot make progress; those cases are skipped with that reason.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "benches/common/bench.hpp"
#include "benches/common/models.hpp"

namespace {

using sy::bench::pick;

constexpr int kSmokeTasks[] = {2, 10};
constexpr int kTasks[] = {2, 10, 100};
constexpr std::uint64_t kHopsPerIteration = 10'000;  // per iteration, any K
constexpr std::uint64_t kSmokeHops = 200;

struct ring {
    std::vector<int> rd, wr;  // task i reads rd[i], writes wr[i] (= the next one's pipe)
    explicit ring(int k) : rd(static_cast<std::size_t>(k)), wr(static_cast<std::size_t>(k)) {
        std::vector<int> in(static_cast<std::size_t>(k)), out(static_cast<std::size_t>(k));
        for (int i = 0; i < k; ++i) {
            int p[2];
            if (pipe2(p, O_NONBLOCK | O_CLOEXEC) != 0) throw sy::resource_error("pipe2: " + sy::errno_text(errno) + " (" + sy::fd_limit_text() + ")");
            in[std::size_t(i)] = p[0];
            out[std::size_t(i)] = p[1];
        }
        for (int i = 0; i < k; ++i) {
            rd[std::size_t(i)] = in[std::size_t(i)];
            wr[std::size_t(i)] = out[std::size_t((i + 1) % k)];
        }
    }
    template <class Close>
    void close_all(Close close) {
        for (int fd : rd) close(fd);
        for (int fd : wr) close(fd);
    }
};

// One hop: read the token, write it + 1 to the next pipe. `laps` hops.
template <class R>
sy::task_t<R, std::uint64_t> member(R& rt, int in, int out, std::uint64_t laps, bool starts) {
    std::uint64_t token = 0;
    if (starts) {
        if (co_await rt.write(out, &token, sizeof token) != sizeof token) co_return UINT64_MAX;
    }
    for (std::uint64_t i = 0; i < laps; ++i) {
        if (co_await rt.read(in, &token, sizeof token) != sizeof token) co_return UINT64_MAX;
        ++token;
        if (starts && i + 1 == laps) break;  // the starter ends the last lap
        if (co_await rt.write(out, &token, sizeof token) != sizeof token) co_return UINT64_MAX;
    }
    co_return token;
}

template <class R>
sy::task_t<R> brigade_main(R& rt, benchmark::State& state, int k, std::uint64_t laps,
                            sy::bench::iteration_check& check, sy::bench::thread_peak& threads) {
    ring r(k);
    for (auto _ : state) {
        std::vector<typename R::template join_handle<std::uint64_t>> hs;
        for (int i = 0; i < k; ++i)
            hs.push_back(rt.spawn(member(rt, r.rd[std::size_t(i)], r.wr[std::size_t(i)], laps, i == 0)));
        threads.sample_once();
        check.record(co_await hs[0].join());  // the starter holds the last token
        for (std::size_t i = 1; i < hs.size(); ++i) co_await hs[i].join();
    }
    r.close_all([&](int fd) { rt.close(fd); });
}

// Every iteration's last token is checked (iteration_check), not only the last one's.
void finish(benchmark::State& state, std::uint64_t hops, const sy::bench::iteration_check& check) {
    if (!check.expect(state, "checksum", hops)) return;
    sy::bench::counter(state, "hops", double(hops));
    sy::bench::counter(state, "checksum", double(check.value()));
    state.SetItemsProcessed(std::int64_t(state.iterations()) * std::int64_t(hops));
}

template <class R>
void brigade_task(benchmark::State& state, int k, sy::bench::runner_config cfg) {
    sy::bench::guarded(state, [&] {
        const std::uint64_t laps = pick(kSmokeHops, kHopsPerIteration, kHopsPerIteration) / std::uint64_t(k);
        sy::bench::thread_peak threads;  // before the runner: its threads count
        auto rt = sy::bench::make_runner<R>(cfg);
        sy::bench::iteration_check check;
        rt->run(brigade_main(*rt, state, k, laps, check, threads));
        finish(state, laps * std::uint64_t(k), check);
        threads.publish(state);
    });
}

// Callback models: each member is a read callback re-armed after its write.
// The last hop closes the ring, which ends the other members' pending reads.
template <class R>
struct cb_brigade {
    R& rt;
    ring r;
    std::uint64_t hops_left, token = 0;
    std::vector<std::uint64_t> cell;  // one read/write buffer per member

    void arm(int i) {
        rt.read(r.rd[std::size_t(i)], &cell[std::size_t(i)], sizeof(std::uint64_t), [this, i](sy::io_result n) {
            if (n != sizeof(std::uint64_t)) return;  // cancelled at the end (or broken: checksum fails)
            token = ++cell[std::size_t(i)];
            if (--hops_left == 0) return r.close_all([this](int fd) { rt.close(fd); });
            rt.write(r.wr[std::size_t(i)], &cell[std::size_t(i)], sizeof(std::uint64_t),
                     [this, i](sy::io_result w) {
                         if (w == sizeof(std::uint64_t)) arm(i);
                     });
        });
    }
};

template <class R>
void brigade_callback(benchmark::State& state, int k) {
    sy::bench::guarded(state, [&] {
        const std::uint64_t laps = pick(kSmokeHops, kHopsPerIteration, kHopsPerIteration) / std::uint64_t(k);
        const std::uint64_t hops = laps * std::uint64_t(k);
        sy::bench::thread_peak threads;  // before the runner: its threads count
        R rt;
        sy::bench::iteration_check check;
        for (auto _ : state) {
            state.PauseTiming();  // a fresh ring per iteration (the last hop closes it)
            cb_brigade<R> b{rt, ring(k), hops, 0, std::vector<std::uint64_t>(std::size_t(k), 0)};
            state.ResumeTiming();
            for (int i = 0; i < k; ++i) b.arm(i);
            std::uint64_t zero = 0;
            [[maybe_unused]] ssize_t w = ::write(b.r.wr[std::size_t(k - 1)], &zero, sizeof zero);
            rt.run();  // the token enters member 0 and goes round until the last hop
            threads.sample_once();
            check.record(b.token);
        }
        finish(state, hops, check);
        threads.publish(state);
    });
}

template <class T, std::size_t N>
std::vector<int> v(const T (&a)[N]) {
    return {std::begin(a), std::end(a)};
}

}  // namespace

SY_WORKLOAD(brigade) {
    using sy::bench::add;
    using sy::bench::name;
    std::vector<int> ks = pick(v(kSmokeTasks), v(kTasks), v(kTasks));
    const int pool_workers = int(std::thread::hardware_concurrency());
    sy::bench::for_each_task_model([&]<class R>() {
        for (int k : ks) {
            std::string n = name("brigade", R::name, {{"tasks", std::to_string(k)}});
            if constexpr (requires { R::bounded_waiters; }) {
                if (k > pool_workers) {
                    add(n, [k, pool_workers](benchmark::State& st) {
                        sy::bench::skip(st, "a pool task blocked on its pipe holds its worker: a ring of " +
                                                std::to_string(k) + " cannot turn with " +
                                                std::to_string(pool_workers) + " workers");
                    });
                    continue;
                }
            }
            add(n, [k](benchmark::State& st) { brigade_task<R>(st, k, {}); });
        }
    });
    sy::bench::for_each_callback_model([&]<class R>() {
        for (int k : ks)
            add(name("brigade", R::name, {{"tasks", std::to_string(k)}}),
                [k](benchmark::State& st) { brigade_callback<R>(st, k); });
    });
}
