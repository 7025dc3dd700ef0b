// One test body, run on all seven models (the callback models through
// cb_adapter, which maps every await onto their own callback operations).
// Models whose kernel facility is missing (io_uring) skip with the reason.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <system_error>
#include <atomic>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "runners/all.hpp"
#include "runners/probe.hpp"
#include "tests/runners/counted.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

using namespace std::chrono_literals;

namespace {

using sy::task;

// Tasks that hold several blocking tasks alive at once (echo, offload with
// a ticker) need more than the default one worker per CPU on small machines.
constexpr unsigned kTestPoolWorkers = 4;

template <class R>
std::unique_ptr<R> make_runner() {
    if constexpr (std::is_same_v<R, sy::pool_runner>)
        return std::make_unique<R>(sy::pool_options{kTestPoolWorkers});
    else
        return std::make_unique<R>();
}

template <class R>
class Runner : public ::testing::Test {
protected:
    void SetUp() override {
        if constexpr (sy::needs_uring<R>) {
            const auto& u = sy::probe_uring();
            if (!u.available) GTEST_SKIP() << "io_uring unavailable: " << u.reason;
        }
        rt = make_runner<R>();
    }
    std::unique_ptr<R> rt;
};

struct model_name {
    template <class R>
    static std::string GetName(int) {
        return std::string(R::name);
    }
};

// coroutine_mt at fixed worker counts (its default is one per CPU): one
// worker shows the scheduler's logic alone, two its cross-thread paths.
template <unsigned N>
struct coroutine_mt_workers : sy::coroutine_mt_runner {
    static constexpr std::string_view name =
        N == 1 ? "coroutine_mt_workers1" : "coroutine_mt_workers2";
    coroutine_mt_workers() : sy::coroutine_mt_runner(sy::coroutine_mt_options{N}) {}
};

using Models =
    ::testing::Types<SY_ALL_TASK_MODELS, coroutine_mt_workers<1>, coroutine_mt_workers<2>>;
TYPED_TEST_SUITE(Runner, Models, model_name);

// Atomic when tasks may run on several threads.
template <class R>
using counter_t = std::atomic<long>;

// ---- ordering ------------------------------------------------------------------------
template <class R>
sy::task_t<R> yielder(R& rt, char id, int rounds, std::string& log, std::mutex& mu) {
    for (int i = 0; i < rounds; ++i) {
        {
            std::lock_guard l(mu);
            log += id;
        }
        co_await rt.yield();
    }
}

TYPED_TEST(Runner, YieldInterleavesCooperativeTasks) {
    using R = TypeParam;
    constexpr int kRounds = 5;
    std::string log;
    std::mutex mu;
    auto body = [&](R& rt) -> sy::task_t<R> {
        auto a = rt.spawn(yielder(rt, 'A', kRounds, log, mu));
        auto b = rt.spawn(yielder(rt, 'B', kRounds, log, mu));
        co_await a.join();
        co_await b.join();
    };
    this->rt->run(body(*this->rt));
    if constexpr (R::cooperative) {
        EXPECT_EQ(log, "ABABABABAB");  // strict FIFO: each yield lets the other run
    } else {
        // Preemptive models: no order between tasks, but all steps happen.
        EXPECT_EQ(std::count(log.begin(), log.end(), 'A'), kRounds);
        EXPECT_EQ(std::count(log.begin(), log.end(), 'B'), kRounds);
    }
}

// ---- many tasks --------------------------------------------------------------------
template <class R>
sy::task_t<R, long> square(R& rt, long i, counter_t<R>& ran) {
    ++ran;
    co_return i * i;
}

template <class R>
void many_tasks(R& rt, long n) {
    counter_t<R> ran{0};
    auto body = [&](R& r) -> sy::task_t<R, long> {
        std::vector<typename R::template join_handle<long>> hs;
        hs.reserve(std::size_t(n));
        for (long i = 0; i < n; ++i) hs.push_back(r.spawn(square(r, i, ran)));
        long sum = 0;
        for (auto& h : hs) sum += co_await h.join();
        co_return sum;
    };
    long sum = rt.run(body(rt));
    EXPECT_EQ(ran.load(), n);
    EXPECT_EQ(sum, (n - 1) * n * (2 * n - 1) / 6);  // sum of i^2 for i < n
}

TYPED_TEST(Runner, OneTaskCompletes) { many_tasks(*this->rt, 1); }
TYPED_TEST(Runner, ThousandTasksComplete) { many_tasks(*this->rt, 1000); }
TYPED_TEST(Runner, HundredThousandTasksComplete) {
    // One OS thread per task: 100k creations would take most of the CI
    // budget; 10k shows the same property (threads are reaped as they end).
    long n = TypeParam::name == "thread" ? 10'000 : 100'000;
    many_tasks(*this->rt, n);
}

// ---- sleep -----------------------------------------------------------------------------
TYPED_TEST(Runner, SleepNeverWakesEarly) {
    using R = TypeParam;
    constexpr std::chrono::nanoseconds kDurations[] = {1ms, 3ms, 12ms, 40ms};
    std::vector<std::chrono::nanoseconds> slept(std::size(kDurations));
    auto sleeper = [](R& rt, std::chrono::nanoseconds d, std::chrono::nanoseconds& out) -> sy::task_t<R> {
        auto t0 = std::chrono::steady_clock::now();
        co_await rt.sleep_for(d);
        out = std::chrono::steady_clock::now() - t0;
    };
    auto body = [&](R& rt) -> sy::task_t<R> {
        std::vector<typename R::template join_handle<void>> hs;
        for (std::size_t i = 0; i < std::size(kDurations); ++i)
            hs.push_back(rt.spawn(sleeper(rt, kDurations[i], slept[i])));
        for (auto& h : hs) co_await h.join();
    };
    this->rt->run(body(*this->rt));
    for (std::size_t i = 0; i < std::size(kDurations); ++i)
        EXPECT_GE(slept[i].count(), kDurations[i].count()) << "sleep " << kDurations[i].count() << " ns";
}

// ---- exceptions ------------------------------------------------------------------------
template <class R>
sy::task_t<R, int> thrower(R& rt) {
    co_await rt.yield();
    throw std::runtime_error("from task");
}

TYPED_TEST(Runner, ExceptionsPropagateToTheAwaitingTask) {
    using R = TypeParam;
    auto body = [](R& rt) -> sy::task_t<R, std::string> {
        std::string seen;
        auto h = rt.spawn(thrower(rt));
        try {
            co_await h.join();
        } catch (const std::runtime_error& e) {
            seen += e.what();
        }
        try {
            co_await thrower(rt);  // awaited directly, not spawned
        } catch (const std::runtime_error& e) {
            seen += std::string("+") + e.what();
        }
        co_return seen;
    };
    EXPECT_EQ(this->rt->run(body(*this->rt)), "from task+from task");
    auto failing_main = [](R& rt) -> sy::task_t<R, int> { co_return co_await thrower(rt); };
    EXPECT_THROW(this->rt->run(failing_main(*this->rt)), std::runtime_error);
}

// ---- I/O -----------------------------------------------------------------------------------
constexpr int kEchoMessages = 200;
constexpr std::size_t kEchoSize = 3000;  // not a power of two: partial reads happen

inline unsigned char pattern(std::size_t msg, std::size_t i) {
    return static_cast<unsigned char>((msg * 131 + i * 7) & 0xff);
}

template <class R>
sy::task_t<R, long> echo_server(R& rt, int fd) {
    std::vector<char> buf(4096);
    long total = 0;
    for (;;) {
        sy::io_result n = co_await rt.read(fd, buf.data(), buf.size());
        if (n < 0) throw std::runtime_error("server read: " + std::string(std::strerror(int(-n))));
        if (n == 0) break;  // client shut down its side
        for (sy::io_result off = 0; off < n;) {
            sy::io_result w = co_await rt.write(fd, buf.data() + off, std::size_t(n - off));
            if (w < 0) throw std::runtime_error("server write failed");
            off += w;
        }
        total += n;
    }
    rt.close(fd);
    co_return total;
}

template <class R>
sy::task_t<R, long> echo_client(R& rt, int fd) {
    std::vector<unsigned char> out(kEchoSize), in(kEchoSize);
    long bad = 0;
    for (int m = 0; m < kEchoMessages; ++m) {
        for (std::size_t i = 0; i < kEchoSize; ++i) out[i] = pattern(std::size_t(m), i);
        for (std::size_t off = 0; off < kEchoSize;) {
            sy::io_result w = co_await rt.write(fd, out.data() + off, kEchoSize - off);
            if (w <= 0) throw std::runtime_error("client write failed");
            off += std::size_t(w);
        }
        for (std::size_t off = 0; off < kEchoSize;) {
            sy::io_result r = co_await rt.read(fd, in.data() + off, kEchoSize - off);
            if (r <= 0) throw std::runtime_error("client read failed");
            off += std::size_t(r);
        }
        for (std::size_t i = 0; i < kEchoSize; ++i) bad += in[i] != out[i];
    }
    ::shutdown(fd, SHUT_WR);
    char c;
    sy::io_result eof = co_await rt.read(fd, &c, 1);  // server closes after EOF
    rt.close(fd);
    co_return eof == 0 ? bad : -1;
}

TYPED_TEST(Runner, EchoOverSocketpair) {
    using R = TypeParam;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    long served = 0, bad = 0;
    auto body = [&](R& rt) -> sy::task_t<R> {
        auto s = rt.spawn(echo_server(rt, sv[0]));
        auto c = rt.spawn(echo_client(rt, sv[1]));
        bad = co_await c.join();
        served = co_await s.join();
    };
    this->rt->run(body(*this->rt));
    EXPECT_EQ(bad, 0) << "echoed bytes differ (-1: no EOF after the server closed)";
    EXPECT_EQ(served, long(kEchoMessages * kEchoSize));
}

TYPED_TEST(Runner, FdErrorsSurfaceAsResults) {
    using R = TypeParam;
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    ::close(sv[1]);  // the peer is gone
    sy::io_result bad_fd = 0, eof = 1, broken = 0;
    auto body = [&](R& rt) -> sy::task_t<R> {
        char c = 'x';
        bad_fd = co_await rt.read(1 << 20, &c, 1);  // no such fd
        eof = co_await rt.read(sv[0], &c, 1);
        broken = co_await rt.write(sv[0], &c, 1);
        rt.close(sv[0]);
    };
    this->rt->run(body(*this->rt));
    EXPECT_EQ(bad_fd, -EBADF);
    EXPECT_EQ(eof, 0);
    EXPECT_EQ(broken, -EPIPE);
}

TYPED_TEST(Runner, ClosingAnFdEndsItsPendingRead) {
    using R = TypeParam;
    if constexpr (!R::cooperative) {
        GTEST_SKIP() << "a thread blocked in poll(2) is not woken by close(2) on Linux; "
                        "blocking models must shut the peer down instead";
    } else {
        int sv[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
        sy::io_result got = 0;
        auto reader = [&](R& rt) -> sy::task_t<R> {
            char c;
            got = co_await rt.read(sv[0], &c, 1);
        };
        auto body = [&](R& rt) -> sy::task_t<R> {
            auto h = rt.spawn(reader(rt));
            co_await rt.sleep_for(2ms);  // the read is pending now
            rt.close(sv[0]);
            co_await h.join();
        };
        this->rt->run(body(*this->rt));
        ::close(sv[1]);
        EXPECT_LT(got, 0) << "the pending read must end with an error";
    }
}

// ---- wait_fd: readiness of an fd the runner does not read itself ------------------------
constexpr auto kWaitBound = 5s;       // a wait that should end early, bounded by this
constexpr auto kWaitWriteAfter = 5ms;  // the peer writes this long after the wait starts
constexpr auto kWaitShort = 20ms;     // a wait that should time out

// A nonblocking unix socketpair, closed at the end of the scope.
struct sock_pair {
    int sv[2] = {-1, -1};
    sock_pair() {
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
            throw std::system_error(errno, std::generic_category(), "socketpair");
    }
    ~sock_pair() {
        for (int fd : sv) ::close(fd);
    }
    sock_pair(const sock_pair&) = delete;
    sock_pair& operator=(const sock_pair&) = delete;
};

TYPED_TEST(Runner, WaitFdSeesReadableAfterAWrite) {
    using R = TypeParam;
    sock_pair pair;
    int* sv = pair.sv;
    sy::io_result before = 0, writable = 0, readable = 0;
    std::chrono::nanoseconds waited{};
    auto writer = [&](R& rt) -> sy::task_t<R> {
        co_await rt.sleep_for(kWaitWriteAfter);
        char c = 'x';
        EXPECT_EQ(::write(sv[1], &c, 1), 1);
    };
    auto body = [&](R& rt) -> sy::task_t<R> {
        before = co_await rt.wait_fd(sv[0], sy::kWaitRead, 0ns);  // nothing yet, and no time to wait
        writable = co_await rt.wait_fd(sv[1], sy::kWaitWrite, kWaitBound);
        auto h = rt.spawn(writer(rt));
        auto t0 = std::chrono::steady_clock::now();
        readable = co_await rt.wait_fd(sv[0], sy::kWaitRead, kWaitBound);
        waited = std::chrono::steady_clock::now() - t0;
        co_await h.join();
    };
    this->rt->run(body(*this->rt));
    EXPECT_EQ(before, sy::io_result(sy::kWaitTimeout));
    EXPECT_EQ(writable, sy::io_result(sy::kWaitWrite));
    EXPECT_EQ(readable, sy::io_result(sy::kWaitRead));
    EXPECT_LT(waited, kWaitBound / 2) << "woken by the timeout, not by the write";
}

TYPED_TEST(Runner, WaitFdTimesOutNeverEarlyAndWaitsAgain) {
    using R = TypeParam;
    sock_pair pair;
    int* sv = pair.sv;
    sy::io_result timed_out = 0, again = 0, hung_up = 0;
    std::chrono::nanoseconds waited{};
    auto body = [&](R& rt) -> sy::task_t<R> {
        auto t0 = std::chrono::steady_clock::now();
        timed_out = co_await rt.wait_fd(sv[0], sy::kWaitRead, kWaitShort);
        waited = std::chrono::steady_clock::now() - t0;
        char c = 'x';
        EXPECT_EQ(::write(sv[1], &c, 1), 1);  // the timed-out wait must not be armed any more
        again = co_await rt.wait_fd(sv[0], sy::kWaitRead, kWaitBound);
        EXPECT_EQ(::read(sv[0], &c, 1), 1);
        ::shutdown(sv[1], SHUT_RDWR);  // a hang-up is "readable": the next read sees it
        hung_up = co_await rt.wait_fd(sv[0], sy::kWaitRead, kWaitBound);
    };
    this->rt->run(body(*this->rt));
    EXPECT_EQ(timed_out, sy::io_result(sy::kWaitTimeout));
    EXPECT_GE(waited, kWaitShort) << "a wait_fd timed out early";
    EXPECT_EQ(again, sy::io_result(sy::kWaitRead));
    EXPECT_EQ(hung_up, sy::io_result(sy::kWaitRead));
}

// Many waits at once, half of them answered: the others time out, and every
// waiter gets its own result (timers and readiness matched to the right task).
TYPED_TEST(Runner, WaitFdManyWaitersGetTheirOwnResults) {
    using R = TypeParam;
    constexpr int kPairs = 8;
    std::array<sock_pair, kPairs> pairs;
    auto sv = [&](int i) { return pairs[std::size_t(i)].sv; };
    std::vector<sy::io_result> got(kPairs, 0);
    auto waiter = [&](R& rt, int i) -> sy::task_t<R> {
        got[std::size_t(i)] = co_await rt.wait_fd(sv(i)[0], sy::kWaitRead,
                                                  i % 2 ? std::chrono::nanoseconds(kWaitShort) : kWaitBound);
    };
    auto body = [&](R& rt) -> sy::task_t<R> {
        std::vector<typename R::template join_handle<void>> hs;
        for (int i = 0; i < kPairs; ++i) hs.push_back(rt.spawn(waiter(rt, i)));
        co_await rt.sleep_for(kWaitWriteAfter);
        for (int i = 0; i < kPairs; i += 2) {
            char c = 'x';
            EXPECT_EQ(::write(sv(i)[1], &c, 1), 1);
        }
        for (auto& h : hs) co_await h.join();
    };
    this->rt->run(body(*this->rt));
    for (int i = 0; i < kPairs; ++i)
        EXPECT_EQ(got[std::size_t(i)], sy::io_result(i % 2 ? sy::kWaitTimeout : sy::kWaitRead)) << "waiter " << i;
}

// ---- offload and cross-thread wake -----------------------------------------------------
TYPED_TEST(Runner, OffloadReturnsWhileOtherTasksRun) {
    using R = TypeParam;
    std::atomic<bool> done{false};
    std::atomic<int> ticks{0};
    int value = 0, ticks_during = 0;
    std::string error;
    auto ticker = [&](R& rt) -> sy::task_t<R> {
        while (!done) {
            co_await rt.sleep_for(1ms);
            ++ticks;
        }
    };
    auto body = [&](R& rt) -> sy::task_t<R> {
        auto t = rt.spawn(ticker(rt));
        value = co_await rt.offload([] {
            std::this_thread::sleep_for(60ms);  // a blocking call
            return 42;
        });
        ticks_during = ticks;
        done = true;
        co_await t.join();
        try {
            co_await rt.offload([]() -> int { throw std::logic_error("offloaded"); });
        } catch (const std::logic_error& e) {
            error = e.what();
        }
    };
    this->rt->run(body(*this->rt));
    EXPECT_EQ(value, 42);
    EXPECT_EQ(error, "offloaded");
    EXPECT_GE(ticks_during, 2) << "the ticker must keep running while the offload blocks";
}

TYPED_TEST(Runner, EventSetFromAnotherThreadWakesTheTask) {
    using R = TypeParam;
    typename R::event ev(*this->rt);
    std::thread setter;
    auto body = [&](R& rt) -> sy::task_t<R, bool> {
        setter = std::thread([&] {
            std::this_thread::sleep_for(5ms);
            ev.set();
        });
        co_await ev.wait();
        co_await ev.wait();  // already set: returns at once
        co_return ev.is_set();
    };
    bool ok = this->rt->run(body(*this->rt));
    setter.join();
    EXPECT_TRUE(ok);
}

TYPED_TEST(Runner, ChannelHandsValuesOverInOrder) {
    using R = TypeParam;
    constexpr long kValues = 2000;
    auto producer = [](typename R::template channel<long>& ch) -> sy::task_t<R> {
        for (long i = 1; i <= kValues; ++i) co_await ch.send(i);
    };
    auto body = [&](R& rt) -> sy::task_t<R, long> {
        typename R::template channel<long> ch(rt);
        auto p = rt.spawn(producer(ch));
        long sum = 0, last = 0, out_of_order = 0;
        for (long i = 0; i < kValues; ++i) {
            long v = co_await ch.recv();
            out_of_order += v != last + 1;
            last = v;
            sum += v;
        }
        co_await p.join();
        co_return out_of_order == 0 ? sum : -1;
    };
    EXPECT_EQ(this->rt->run(body(*this->rt)), kValues * (kValues + 1) / 2);
}

// ---- shutdown --------------------------------------------------------------------------
template <class R>
sy::task_t<R> holds_counted(R& rt, int sleeps) {
    sy::test::counted c;
    for (int i = 0; i < sleeps; ++i) co_await rt.sleep_for(100us);
}

TYPED_TEST(Runner, ShutdownDestroysEverything) {
    using R = TypeParam;
    sy::test::counted::reset();
    {
        auto rt = make_runner<R>();
        auto body = [](R& r) -> sy::task_t<R> {
            sy::test::counted mine;
            std::vector<typename R::template join_handle<void>> joined;
            for (int i = 0; i < 50; ++i) {
                joined.push_back(r.spawn(holds_counted(r, i % 3)));
                r.spawn(holds_counted(r, i % 4));  // detached: handle dropped at once
            }
            for (auto& h : joined) co_await h.join();
        };
        rt->run(body(*rt));
        EXPECT_EQ(rt->live_tasks(), 0u);
        if constexpr (requires { rt->frames(); }) {
            EXPECT_EQ(rt->frames().live_blocks(), 0) << "coroutine frames leaked";
        }
    }
    EXPECT_EQ(sy::test::counted::constructed.load(), 101);
    EXPECT_EQ(sy::test::counted::alive(), 0) << "objects owned by tasks were not destroyed";
}

TYPED_TEST(Runner, DeadlockIsReportedNotHung) {
    using R = TypeParam;
    if constexpr (!R::cooperative) {
        GTEST_SKIP() << "blocked OS threads cannot be told apart from slow ones: "
                        "the watchdog bounds such runs";
    } else {
#if defined(__SANITIZE_ADDRESS__)
        // Deadlocked tasks are left suspended and leaked by design.
        __lsan::ScopedDisabler leaks_expected;
#endif
        auto rt = new R();  // not reusable after a deadlock: leaked with its tasks
        auto body = [](R& r) -> sy::task_t<R> {
            typename R::template channel<int> ch(r);
            co_await ch.recv();  // nobody will ever send
        };
        EXPECT_THROW(rt->run(body(*rt)), sy::deadlock_error);
    }
}

// ---- limits -----------------------------------------------------------------------------
#if SY_HAVE_BOOST_CONTEXT
TEST(FiberLimits, UnmappableStackFailsTheTaskWithAResourceError) {
    sy::fiber_runner rt(sy::fiber_options{std::size_t(1) << 44, true});  // 16 TiB stacks
    auto body = [](sy::fiber_runner&) -> task<int> { co_return 1; };
    try {
        rt.run(body(rt));
        FAIL() << "expected resource_error";
    } catch (const sy::resource_error& e) {
        EXPECT_NE(std::string(e.what()).find("fiber stacks"), std::string::npos) << e.what();
    }
}
#endif

// Runs `child` in a forked process under a small address-space limit and
// returns its exit status (0: the runner raised resource_error naming it).
int in_limited_child(void (*child)()) {
    pid_t pid = fork();
    if (pid == 0) {
        rlimit lim{};
        getrlimit(RLIMIT_AS, &lim);
        constexpr rlim_t kLimit = rlim_t(1) << 30;  // 1 GiB of address space
        lim.rlim_cur = kLimit;
        setrlimit(RLIMIT_AS, &lim);
        child();
        _exit(3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(ThreadLimits, TooManyThreadsRaisesAResourceErrorNamingTheLimits) {
#if defined(SY_SANITIZE)
    GTEST_SKIP() << "sanitizers reserve terabytes of address space; RLIMIT_AS cannot be lowered";
#else
    int rc = in_limited_child([] {
        sy::thread_runner rt;
        sy::thread_runner::event gate(rt);
        auto blocked = [](sy::thread_runner::event& g) -> task<void> { co_await g.wait(); };
        try {
            auto body = [&](sy::thread_runner& r) -> task<void> {
                std::vector<sy::thread_runner::join_handle<void>> hs;
                std::string error;
                try {
                    for (int i = 0; i < 100000; ++i) hs.push_back(r.spawn(blocked(gate)));
                } catch (const sy::resource_error& e) {
                    error = e.what();
                }
                gate.set();
                for (auto& h : hs) co_await h.join();
                if (error.empty()) _exit(1);  // no limit was hit
                _exit(error.find("threads-max") != std::string::npos ? 0 : 2);
            };
            rt.run(body(rt));
        } catch (...) {
            _exit(4);
        }
        _exit(1);  // no limit was hit
    });
    EXPECT_EQ(rc, 0) << "1: no limit hit; 2: message does not name the limits; 4: other error";
#endif
}

TEST(CoroutineLimits, FramesBeyondMemoryRaiseAResourceError) {
#if defined(SY_SANITIZE)
    GTEST_SKIP() << "sanitizer builds allocate frames with operator new and reserve shadow memory";
#else
    int rc = in_limited_child([] {
        sy::coroutine_runner rt;
        sy::coroutine_runner::event gate(rt);
        auto blocked = [](sy::coroutine_runner::event& g) -> task<void> { co_await g.wait(); };
        auto body = [&](sy::coroutine_runner& r) -> task<void> {
            std::vector<sy::coroutine_runner::join_handle<void>> hs;
            hs.reserve(1 << 20);
            try {
                for (;;) hs.push_back(r.spawn(blocked(gate)));
            } catch (const sy::resource_error& e) {
                _exit(std::string(e.what()).find("coroutine frames") != std::string::npos ? 0 : 2);
            } catch (const std::bad_alloc&) {
                _exit(5);
            }
            co_return;
        };
        rt.run(body(rt));
        _exit(1);
    });
    EXPECT_EQ(rc, 0) << "2: message does not name the limit; 5: bad_alloc instead of resource_error";
#endif
}

}  // namespace

namespace {

// A file of 4 KiB blocks, each starting with its index; pread at random
// offsets must return the right block on every model.
TYPED_TEST(Runner, PreadReadsTheRightBlock) {
    using R = TypeParam;
    constexpr int kBlocks = 64;
    constexpr std::size_t kBlock = 4096;
    char path[] = "/tmp/switchyard-test-XXXXXX";
    int fd = mkstemp(path);
    ASSERT_GE(fd, 0);
    unlink(path);
    std::vector<char> block(kBlock);
    for (std::uint64_t i = 0; i < kBlocks; ++i) {
        std::memcpy(block.data(), &i, sizeof i);
        ASSERT_EQ(::write(fd, block.data(), kBlock), ssize_t(kBlock));
    }
    long wrong = 0, bad_results = 0;
    auto body = [&](R& rt) -> sy::task_t<R> {
        std::vector<char> buf(kBlock);
        for (std::uint64_t k = 0; k < 200; ++k) {
            std::uint64_t b = (k * 37) % kBlocks;
            sy::io_result n = co_await rt.pread(fd, buf.data(), kBlock, off_t(b * kBlock));
            if (n != sy::io_result(kBlock)) {
                ++bad_results;
                continue;
            }
            std::uint64_t got;
            std::memcpy(&got, buf.data(), sizeof got);
            wrong += got != b;
        }
        sy::io_result past_end = co_await rt.pread(fd, buf.data(), kBlock, off_t(kBlocks * kBlock));
        bad_results += past_end != 0;  // end of file
    };
    this->rt->run(body(*this->rt));
    ::close(fd);
    EXPECT_EQ(bad_results, 0);
    EXPECT_EQ(wrong, 0);
}

}  // namespace

namespace {

// ---- help-first join (coroutine loops and fiber) ---------------------------------------------------
// A 10-ary spawn-then-join tree of 11,111 tasks: a join on a child still in
// the ready queue runs that child at once, so the tree runs depth-first and
// only a few hundred tasks are live at a time. A FIFO-only scheduler holds
// all 11,111 live before the first leaf runs (measured).
// Correctness of the sum is checked on every model by skynet's smoke run.
template <class R>
sy::task_t<R, long> tree_node(R& rt, long num, long size, std::size_t& peak_live) {
    peak_live = std::max(peak_live, rt.live_tasks());
    if (size == 1) co_return num;
    constexpr long kFanout = 10;
    std::vector<typename R::template join_handle<long>> kids;
    kids.reserve(kFanout);
    for (long i = 0; i < kFanout; ++i)
        kids.push_back(rt.spawn(tree_node(rt, num + i * (size / kFanout), size / kFanout, peak_live)));
    long sum = 0;
    for (auto& k : kids) sum += co_await k.join();
    co_return sum;
}

template <class R>
void expect_depth_first_tree(R& rt) {
    constexpr long kLeaves = 10'000;
    // depth 5 x fan-out 10, plus the subtrees started from the queue's head
    // each time a loop turn's transfer budget runs out (measured: 235)
    constexpr std::size_t kMaxLive = 1'000;
    std::size_t peak_live = 0;
    long sum = rt.run(tree_node(rt, 0, kLeaves, peak_live));
    EXPECT_EQ(sum, kLeaves * (kLeaves - 1) / 2);
    EXPECT_LE(peak_live, kMaxLive) << "the spawn-join tree ran breadth-first";
    EXPECT_EQ(rt.live_tasks(), 0u);
}

TEST(HelpFirstJoin, CoroutineRunsASpawnJoinTreeDepthFirst) {
    sy::coroutine_runner rt;
    expect_depth_first_tree(rt);
}

TEST(HelpFirstJoin, FiberRunsASpawnJoinTreeDepthFirst) {
    sy::fiber_runner rt;
    expect_depth_first_tree(rt);
}

TEST(HelpFirstJoin, CoroutineUringRunsASpawnJoinTreeDepthFirst) {
    const auto& u = sy::probe_uring();
    if (!u.available) GTEST_SKIP() << "io_uring unavailable: " << u.reason;
    sy::coroutine_uring_runner rt;
    expect_depth_first_tree(rt);
}

// join_policy::fifo turns the help-first join off: the same tree runs
// breadth-first, every task alive before the first leaf finishes (skynet's
// order:breadth rows rely on it).
template <class R>
void expect_breadth_first_tree(R& rt) {
    constexpr long kLeaves = 10'000;
    constexpr std::size_t kTasks = 11'111;
    rt.set_join_policy(sy::join_policy::fifo);
    std::size_t peak_live = 0;
    long sum = rt.run(tree_node(rt, 0, kLeaves, peak_live));
    EXPECT_EQ(sum, kLeaves * (kLeaves - 1) / 2);
    EXPECT_GE(peak_live, kTasks - 1) << "the fifo join still helped first";
    EXPECT_EQ(rt.live_tasks(), 0u);
}

TEST(FifoJoin, CoroutineRunsASpawnJoinTreeBreadthFirst) {
    sy::coroutine_runner rt;
    expect_breadth_first_tree(rt);
}

TEST(FifoJoin, FiberRunsASpawnJoinTreeBreadthFirst) {
    sy::fiber_runner rt;
    expect_breadth_first_tree(rt);
}

TEST(FifoJoin, CoroutineUringRunsASpawnJoinTreeBreadthFirst) {
    const auto& u = sy::probe_uring();
    if (!u.available) GTEST_SKIP() << "io_uring unavailable: " << u.reason;
    sy::coroutine_uring_runner rt;
    expect_breadth_first_tree(rt);
}

}  // namespace

namespace {

// ---- coroutine_mt: what the typed body skips for a non-cooperative model, and
// the cross-worker paths at several worker counts ----------------------------------
class CoroutineMt : public ::testing::TestWithParam<unsigned> {};

INSTANTIATE_TEST_SUITE_P(Workers, CoroutineMt, ::testing::Values(1u, 2u, 4u),
                         [](const auto& info) { return "workers" + std::to_string(info.param); });

// The last worker to park finds nothing that could wake the tasks left.
TEST_P(CoroutineMt, DeadlockIsReportedNotHung) {
#if defined(__SANITIZE_ADDRESS__)
    __lsan::ScopedDisabler leaks_expected;
#endif
    auto rt = new sy::coroutine_mt_runner({GetParam()});  // not reusable: leaked with its tasks
    auto body = [](sy::coroutine_mt_runner& r) -> task<void> {
        sy::coroutine_mt_runner::channel<int> ch(r);
        co_await ch.recv();  // nobody will ever send
    };
    EXPECT_THROW(rt->run(body(*rt)), sy::deadlock_error);
}

TEST_P(CoroutineMt, ClosingAnFdEndsItsPendingRead) {
    sy::coroutine_mt_runner rt({GetParam()});
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    std::atomic<sy::io_result> got{0};
    auto reader = [&](sy::coroutine_mt_runner& r) -> task<void> {
        char c;
        got = co_await r.read(sv[0], &c, 1);
    };
    auto body = [&](sy::coroutine_mt_runner& r) -> task<void> {
        auto h = r.spawn(reader(r));
        co_await r.sleep_for(2ms);  // the read is pending now
        r.close(sv[0]);
        co_await h.join();
    };
    rt.run(body(rt));
    ::close(sv[1]);
    EXPECT_LT(got.load(), 0) << "the pending read must end with an error";
}

// A 10-ary spawn-join tree: joins race finishers on other workers.
TEST_P(CoroutineMt, SpawnJoinTreeSumsRight) {
    constexpr long kLeaves = 100'000;
    sy::coroutine_mt_runner rt({GetParam()});
    std::size_t peak_live = 0;  // written racily by design in tree_node: unused here
    auto body = [&](sy::coroutine_mt_runner& r) -> task<long> {
        std::vector<sy::coroutine_mt_runner::join_handle<long>> kids;
        constexpr long kParts = 10;
        for (long i = 0; i < kParts; ++i)
            kids.push_back(r.spawn([](sy::coroutine_mt_runner& r2, long num, long size) -> task<long> {
                std::vector<sy::coroutine_mt_runner::join_handle<long>> leaves;
                leaves.reserve(std::size_t(size));
                for (long j = 0; j < size; ++j)
                    leaves.push_back(r2.spawn([](long v) -> task<long> { co_return v; }(num + j)));
                long s = 0;
                for (auto& l : leaves) s += co_await l.join();
                co_return s;
            }(r, i * (kLeaves / kParts), kLeaves / kParts)));
        long sum = 0;
        for (auto& k : kids) sum += co_await k.join();
        co_return sum;
    };
    (void)peak_live;
    for (int round = 0; round < 3; ++round)  // the runner is reusable
        EXPECT_EQ(rt.run(body(rt)), kLeaves * (kLeaves - 1) / 2);
    EXPECT_EQ(rt.live_tasks(), 0u);
}

// Two tasks bat values over two channels: every hand-off may cross workers.
TEST_P(CoroutineMt, ChannelPingPongAcrossWorkers) {
    constexpr long kRounds = 20'000;
    using R = sy::coroutine_mt_runner;
    R rt({GetParam()});
    auto body = [&](R& r) -> task<long> {
        R::channel<long> ping(r), pong(r);
        auto echo = r.spawn([](R::channel<long>& in, R::channel<long>& out) -> task<void> {
            for (long i = 0; i < kRounds; ++i) co_await out.send(co_await in.recv() + 1);
        }(ping, pong));
        long v = 0;
        for (long i = 0; i < kRounds; ++i) {
            co_await ping.send(v);
            v = co_await pong.recv();
        }
        co_await echo.join();
        co_return v;
    };
    EXPECT_EQ(rt.run(body(rt)), kRounds);
}

// Many sleepers and yielders at once: timers fire on whichever worker drives.
TEST_P(CoroutineMt, ManySleepersAllWake) {
    using R = sy::coroutine_mt_runner;
    R rt({GetParam()});
    std::atomic<long> woke{0};
    auto body = [&](R& r) -> task<void> {
        std::vector<R::join_handle<void>> hs;
        for (int i = 0; i < 2000; ++i)
            hs.push_back(r.spawn([](R& r2, int k, std::atomic<long>& n) -> task<void> {
                co_await r2.sleep_for(std::chrono::microseconds(50 * (k % 40)));
                co_await r2.yield();
                ++n;
            }(r, i, woke)));
        for (auto& h : hs) co_await h.join();
    };
    rt.run(body(rt));
    EXPECT_EQ(woke.load(), 2000);
}

}  // namespace
