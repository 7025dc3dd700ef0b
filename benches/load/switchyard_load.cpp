// switchyard-load: TCP echo load generator for the echo benchmarks (issue 6).
//
// One thread, one core: opens C connections to an echo server on a loopback
// address and drives them closed loop (one message in flight per connection)
// or open loop (a constant total rate R, round-robin over connections,
// pipelined, latency measured from each message's *intended* send time so
// queueing shows up as latency instead of being hidden by a slowed sender:
// coordinated-omission corrected). Every echoed byte is compared with what
// was sent (benches/load/wire.hpp). Latency goes into a log-linear histogram
// (benches/load/histogram.hpp, <= 1% relative error).
//
// Output: one JSON object on stdout. Exit 0 ok; 1 verification failure
// (JSON still printed, plus one line on stderr) or run failure (server closed
// or reset a connection, nothing measured, time limit); 2 usage (bad flag or
// number, non-loopback host, refused/unreachable target, too many
// connections, file-descriptor limit), always one line on stderr.
//
//   switchyard-load --port 9000 --conns 10 --size 64 --mode closed --duration 2 --warmup 0.5
//   switchyard-load --port 9000 --conns 10 --size 64 --mode open --rate 50000 --server-pid 1234 --cpu 1
//
// Cost: the client must be cheaper than the servers it measures. The
// io_uring path makes one io_uring_enter per loop turn (all sends and re-arms
// of the turn submitted together with the wait), receives with multishot recv
// into a provided buffer ring (so an idle connection costs no SQE), sends
// through registered files, and in open loop sends every message that is
// due on a connection in one send. It arms no timer per turn (see "Waiting"
// below: on the project's VM a fired timer costs ~28 us of CPU). It reports
// its own CPU use over the measured window; >= 95% of one core busy (not
// counting open-loop spin waits) marks the result `client_bound`.
//
// Kernel needs: io_uring (5.5 for IORING_TIMEOUT_ABS; 5.11 EXT_ARG for the
// open loop's timed sleeps in one syscall); SINGLE_ISSUER + DEFER_TASKRUN
// (6.1) when accepted, else COOP_TASKRUN, else plain; multishot recv + buffer
// rings (6.0) when the kernel has them, else one-shot recv per connection.
// Without liburing or io_uring (seccomp, kernel.io_uring_disabled) it uses
// epoll (non-blocking sockets, one recv per readiness, one send per
// connection per turn, a timerfd for the phase edges). `io_path`,
// `recv_mode`, `uring_setup` and `io_note` in the JSON say which path ran
// and why; `wait_mode` says whether open loop spun or slept.
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "benches/load/histogram.hpp"
#include "benches/load/options.hpp"
#include "benches/load/server_stats.hpp"
#include "benches/load/wire.hpp"

#if SY_HAVE_URING
#include <liburing.h>
#endif

namespace sy::load {
namespace {

// ---- sizes and limits ------------------------------------------------------------
constexpr double kClientBoundPct = 95.0;              // client CPU that marks a result client_bound
constexpr std::size_t kOutHighWater = 256 * 1024;     // open loop: bytes queued per connection before pausing
constexpr std::size_t kEpollRecvBytes = 256 * 1024;   // epoll: one shared receive buffer
constexpr int kEpollEvents = 1024;
constexpr int kConnectTimeoutMs = 5000;               // per connection
constexpr rlim_t kFdReserve = 64;                     // fds besides the connections
constexpr std::size_t kMinRecvBuf = 4096;
constexpr std::size_t kMaxRecvBuf = 64 * 1024;
constexpr unsigned kMinBufRing = 256;                 // provided buffers, power of two
constexpr unsigned kMaxBufRing = 8192;
constexpr std::size_t kMaxBufRingBytes = 64u << 20;   // memory cap of the buffer ring
constexpr std::size_t kPlainRecvManyConns = 256;      // above this, one-shot recv buffers shrink
constexpr unsigned kMaxRingEntries = 4096;            // SQ; the CQ is 4x
constexpr unsigned long kTimerSlackNs = 1;            // precise open-loop wake-ups
// Waiting. On the project's VM every timer that fires costs the sleeper
// ~28 us of CPU (a timed io_uring wait or nanosleep of 1 us: 28-29 us CPU;
// a non-blocking poll: 0.1-0.2 us), a wake-up overshoots by 20-60 us, and
// waking a halted vCPU costs the waker ~25 us. So the client never arms a
// timer per turn: the phase edges (end of warm-up, end of window) are one
// timer each (IORING_OP_TIMEOUT / timerfd); closed loop blocks without a
// timeout; open loop, when the client has a core of its own (--cpu, not the
// server's), polls without blocking until the next send is due ("spin":
// idle polls are reported as client_spin_pct and not counted as busy).
// --wait spin makes closed loop spin too (the server then never pays for
// waking the client's vCPU); --wait block never spins. Sleeping for a send
// only pays when it is far away:
constexpr std::int64_t kSpinSleepAboveNs = 2'000'000;  // spin mode: sleep if the next send is further
constexpr std::int64_t kSpinWakeEarlyNs = 300'000;     // ... and wake this much before it
// Open loop without spinning sleeps at least this long per turn so timer
// cost stays bounded (<= 10k wake-ups/s); the extra lateness is in the
// latency (measured from the intended time) and in send_lag_*.
constexpr std::int64_t kSleepQuantumNs = 100'000;

struct run_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::uint64_t now_ns() {
    timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_nsec);
}
std::uint64_t process_cpu_ns() {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_nsec);
}
std::uint64_t tv_ns(const timeval& t) {
    return static_cast<std::uint64_t>(t.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(t.tv_usec) * 1000ull;
}
std::string errstr(int e) { return std::strerror(e); }

class unique_fd {
public:
    unique_fd() = default;
    explicit unique_fd(int fd) : fd_(fd) {}
    unique_fd(unique_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
    unique_fd& operator=(unique_fd&& o) noexcept {
        if (this != &o) reset(std::exchange(o.fd_, -1));
        return *this;
    }
    ~unique_fd() { reset(); }
    void reset(int fd = -1) {
        if (fd_ >= 0) close(fd_);
        fd_ = fd;
    }
    int get() const { return fd_; }

private:
    int fd_ = -1;
};

// How the I/O path waits in one loop turn.
enum class wait_kind {
    poll,       // do not block: submit and reap what is there
    block,      // until a completion (or the phase timer)
    block_for,  // until a completion, the phase timer or timeout_ns
};
struct wait_plan {
    wait_kind kind;
    std::int64_t timeout_ns;
    bool spin;  // a poll only to wait for the next send: idle time if nothing happens
};

// ---- per-connection state --------------------------------------------------------
struct connection {
    unique_fd fd;
    std::uint32_t idx = 0;
    std::uint64_t tx_seq = 0;      // next message to generate
    std::uint64_t rx_seq = 0;      // message being received
    std::size_t rx_off = 0;        // bytes of it received so far
    bool rx_bad = false;           // a byte of it mismatched
    std::uint64_t sent_at = 0;     // closed loop: when message rx_seq was queued
    std::vector<std::uint8_t> out; // generated, not yet handed to the kernel
    std::vector<std::uint8_t> tx;  // handed to the kernel (send in flight), stable
    std::size_t tx_off = 0;
    bool tx_busy = false;
    bool dirty = false;            // in the flush list
    std::vector<std::uint8_t> rxbuf;  // io_uring one-shot recv only
    bool want_out = false;         // epoll: EPOLLOUT armed
};

// ---- the load logic, shared by both I/O paths ------------------------------------
class load_client {
public:
    load_client(const options& o, std::vector<unique_fd> fds)
        : opt_(o), codec_(static_cast<std::size_t>(o.size)), size_(static_cast<std::size_t>(o.size)),
          open_(o.mode == load_mode::open), conns_(fds.size()) {
        for (std::size_t i = 0; i < fds.size(); ++i) {
            conns_[i].fd = std::move(fds[i]);
            conns_[i].idx = static_cast<std::uint32_t>(i);
        }
        if (open_) ns_per_msg_ = 1e9 / o.rate;
        dirty_.reserve(conns_.size());
    }

    std::function<void()> on_window_start, on_window_end;  // server-side snapshots

    std::vector<connection>& conns() { return conns_; }
    std::size_t size() const { return size_; }

    void begin(std::uint64_t now) {
        t_start_ = now;
        ws_target_ = now + static_cast<std::uint64_t>(opt_.warmup * 1e9);
        we_target_ = ws_target_ + static_cast<std::uint64_t>(opt_.duration * 1e9);
        if (opt_.warmup == 0) start_window();
        if (!open_)
            for (auto& c : conns_) mark_dirty(c);
    }

    // Start of a loop turn: phase changes and open-loop scheduling.
    void tick(std::uint64_t now) {
        if (!in_window_ && !done_ && now >= ws_target_) start_window();
        if (in_window_ && now >= we_target_) end_window();
        if (open_ && !done_) {
            const auto due = static_cast<std::uint64_t>(static_cast<double>(now - t_start_) / ns_per_msg_) + 1;
            const std::uint64_t n = conns_.size();
            for (std::uint64_t k = k_due_; k < due; ++k) mark_dirty(conns_[k % n]);
            k_due_ = std::max(k_due_, due);
        }
    }

    bool finished() const { return done_ || !failure_.empty(); }

    // How the I/O path waits this turn. Phase edges wake it by themselves
    // (phase_edge(): one timer per phase, armed by the I/O path).
    wait_plan plan_wait(std::uint64_t now) const {
        if (!dirty_.empty()) return {wait_kind::poll, 0, false};
        if (!open_) return spin_ ? wait_plan{wait_kind::poll, 0, true} : wait_plan{wait_kind::block, 0, false};
        const std::uint64_t due = t_start_ + static_cast<std::uint64_t>(static_cast<double>(k_due_) * ns_per_msg_);
        const std::int64_t left = due > now ? static_cast<std::int64_t>(due - now) : 0;
        if (spin_) {
            if (left > kSpinSleepAboveNs) return {wait_kind::block_for, left - kSpinWakeEarlyNs, false};
            return {wait_kind::poll, 0, true};
        }
        return {wait_kind::block_for, std::max(left, kSleepQuantumNs), false};
    }
    // Absolute CLOCK_MONOTONIC time of the next phase edge; 0 when done.
    std::uint64_t phase_edge() const {
        if (done_) return 0;
        return in_window_ ? we_target_ : ws_target_;
    }
    void allow_spin(bool on) { spin_ = on; }
    // Wall time of spin turns that found nothing to do.
    void add_spin(std::uint64_t ns) {
        if (in_window_) spin_ns_ += ns;
    }
    // Loop turns and completions/events handled in the window.
    void count_turn(std::size_t events) {
        if (!in_window_) return;
        ++turns_;
        events_ += events;
        idle_turns_ += events == 0;
    }
    std::uint64_t turns() const { return turns_; }
    std::uint64_t idle_turns() const { return idle_turns_; }
    std::uint64_t events() const { return events_; }
    std::uint64_t spin_ns() const { return spin_ns_; }

    // Generates due messages on every dirty connection; hands out's bytes to
    // `start_send` when the connection has no send in flight.
    // Returns the number of sends started.
    template <class F>
    std::size_t flush(std::uint64_t now, F&& start_send) {
        std::size_t started = 0;
        work_.swap(dirty_);
        for (std::uint32_t i : work_) {
            connection& c = conns_[i];
            c.dirty = false;
            generate(c, now);
            if (!c.tx_busy && !c.out.empty()) {
                c.tx.swap(c.out);
                c.out.clear();
                c.tx_off = 0;
                c.tx_busy = true;
                start_send(c);
                ++started;
            }
        }
        work_.clear();
        return started;
    }

    // n bytes of c's send completed.
    void on_sent(connection& c, std::size_t n) {
        c.tx_off += n;
        if (c.tx_off < c.tx.size()) return;
        c.tx.clear();
        c.tx_off = 0;
        c.tx_busy = false;
        if (!c.out.empty() || (open_ && c.tx_seq < due_count(c.idx))) mark_dirty(c);
    }

    // Echoed bytes arrived on c at time now.
    void on_data(connection& c, const std::uint8_t* p, std::size_t n, std::uint64_t now) {
        while (n > 0) {
            if (c.rx_seq >= c.tx_seq) {  // more bytes than were ever sent
                ++verify_errors_;
                unexpected_bytes_ += n;
                return;
            }
            const std::size_t take = std::min(n, size_ - c.rx_off);
            if (!c.rx_bad && !codec_.matches(c.idx, c.rx_seq, c.rx_off, p, take)) c.rx_bad = true;
            c.rx_off += take;
            p += take;
            n -= take;
            if (c.rx_off == size_) complete(c, now);
        }
    }

    void fail(std::string why) {
        if (failure_.empty()) failure_ = std::move(why);
    }
    const std::string& failure() const { return failure_; }

    // Results.
    const log_histogram& latency() const { return lat_; }
    const log_histogram& send_lag() const { return lag_; }
    std::uint64_t msgs() const { return msgs_; }
    std::uint64_t verify_errors() const { return verify_errors_; }
    std::uint64_t unexpected_bytes() const { return unexpected_bytes_; }
    double window_s() const { return static_cast<double>(we_ - ws_) / 1e9; }
    std::uint64_t cpu_ns() const { return cpu1_ - cpu0_; }
    std::uint64_t user_ns() const { return tv_ns(ru1_.ru_utime) - tv_ns(ru0_.ru_utime); }
    std::uint64_t sys_ns() const { return tv_ns(ru1_.ru_stime) - tv_ns(ru0_.ru_stime); }
    std::uint64_t outstanding() const {
        std::uint64_t n = 0;
        for (const auto& c : conns_) n += c.tx_seq - c.rx_seq;
        if (open_) n += k_due_ - std::min<std::uint64_t>(k_due_, generated_total());
        return n;
    }

private:
    std::uint64_t generated_total() const {
        std::uint64_t n = 0;
        for (const auto& c : conns_) n += c.tx_seq;
        return n;
    }
    // Open loop: messages of connection i due so far (message k goes to k % C).
    std::uint64_t due_count(std::uint32_t i) const {
        const std::uint64_t n = conns_.size();
        return k_due_ > i ? (k_due_ - i - 1) / n + 1 : 0;
    }
    std::uint64_t intended(std::uint32_t i, std::uint64_t seq) const {
        const double k = static_cast<double>(seq) * static_cast<double>(conns_.size()) + i;
        return t_start_ + static_cast<std::uint64_t>(k * ns_per_msg_);
    }

    void mark_dirty(connection& c) {
        if (c.dirty) return;
        c.dirty = true;
        dirty_.push_back(c.idx);
    }

    void append(connection& c) {
        const std::size_t at = c.out.size();
        c.out.resize(at + size_);
        codec_.write(c.idx, c.tx_seq, c.out.data() + at);
        ++c.tx_seq;
    }

    void generate(connection& c, std::uint64_t now) {
        if (done_) return;
        if (!open_) {
            if (c.tx_seq == c.rx_seq) {  // closed loop: exactly one in flight
                c.sent_at = now;
                append(c);
            }
            return;
        }
        const std::uint64_t due = due_count(c.idx);
        while (c.tx_seq < due && (c.out.empty() || c.out.size() + size_ <= kOutHighWater)) {
            if (in_window_) lag_.record(now - std::min(now, intended(c.idx, c.tx_seq)));
            append(c);
        }
    }

    void complete(connection& c, std::uint64_t now) {
        const std::uint64_t from = open_ ? intended(c.idx, c.rx_seq) : c.sent_at;
        if (in_window_) {
            lat_.record(now - std::min(now, from));
            ++msgs_;
        }
        if (c.rx_bad) ++verify_errors_;
        c.rx_bad = false;
        c.rx_off = 0;
        ++c.rx_seq;
        if (!open_) mark_dirty(c);
    }

    void start_window() {
        if (on_window_start) on_window_start();
        getrusage(RUSAGE_SELF, &ru0_);
        cpu0_ = process_cpu_ns();
        ws_ = now_ns();
        in_window_ = true;
        lat_.reset();
        lag_.reset();
        msgs_ = 0;
        spin_ns_ = 0;
        turns_ = idle_turns_ = events_ = 0;
    }
    void end_window() {
        we_ = now_ns();
        cpu1_ = process_cpu_ns();
        getrusage(RUSAGE_SELF, &ru1_);
        in_window_ = false;
        done_ = true;
        if (on_window_end) on_window_end();
    }

    const options& opt_;
    wire_codec codec_;
    std::size_t size_;
    bool open_;
    double ns_per_msg_ = 0;
    std::vector<connection> conns_;
    std::vector<std::uint32_t> dirty_, work_;
    std::uint64_t t_start_ = 0, ws_target_ = 0, we_target_ = 0, ws_ = 0, we_ = 0;
    std::uint64_t k_due_ = 0;
    bool in_window_ = false, done_ = false, spin_ = false;
    std::uint64_t spin_ns_ = 0, turns_ = 0, idle_turns_ = 0, events_ = 0;
    log_histogram lat_, lag_;
    std::uint64_t msgs_ = 0, verify_errors_ = 0, unexpected_bytes_ = 0;
    std::uint64_t cpu0_ = 0, cpu1_ = 0;
    rusage ru0_{}, ru1_{};
    std::string failure_;
};

// The loop both paths share: tick, flush sends, wait + process completions.
template <class Backend>
void run_loop(load_client& cl, Backend& io) {
    cl.begin(now_ns());
    io.start();
    for (;;) {
        std::uint64_t now = now_ns();
        cl.tick(now);
        if (cl.finished()) break;
        const std::size_t sent = cl.flush(now, [&](connection& c) { io.start_send(c); });
        const wait_plan plan = cl.plan_wait(now);
        const std::size_t events = io.wait_and_process(plan, cl.phase_edge());
        if (plan.spin && sent == 0 && events == 0) cl.add_spin(now_ns() - now);
        cl.count_turn(events);
        if (cl.finished()) break;
    }
}

std::string peer_error(const char* what, int res) {
    return std::string("server ") + what + ": " + errstr(res);
}

// ---- epoll path ---------------------------------------------------------------------
class epoll_backend {
public:
    explicit epoll_backend(load_client& cl) : cl_(cl), buf_(kEpollRecvBytes), events_(kEpollEvents) {}

    void start() {
        ep_.reset(epoll_create1(EPOLL_CLOEXEC));
        if (ep_.get() < 0) throw run_error("epoll_create1: " + errstr(errno));
        timer_.reset(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
        if (timer_.get() < 0) throw run_error("timerfd_create: " + errstr(errno));
        epoll_event tev{};
        tev.events = EPOLLIN;
        tev.data.u32 = kTimerTag;
        if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, timer_.get(), &tev) != 0)
            throw run_error("epoll_ctl: " + errstr(errno));
        for (auto& c : cl_.conns()) {
            epoll_event ev{};
            ev.events = EPOLLIN;
            ev.data.u32 = c.idx;
            if (epoll_ctl(ep_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev) != 0)
                throw run_error("epoll_ctl: " + errstr(errno));
        }
    }

    void start_send(connection& c) { send_some(c); }

    // Waits as planned and handles what is ready; returns the number of events.
    std::size_t wait_and_process(const wait_plan& plan, std::uint64_t edge) {
        if (edge != armed_edge_) {
            itimerspec its{};
            its.it_value.tv_sec = static_cast<time_t>(edge / 1'000'000'000);
            its.it_value.tv_nsec = static_cast<long>(edge % 1'000'000'000);
            if (timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &its, nullptr) != 0) {
                cl_.fail("timerfd_settime: " + errstr(errno));
                return 0;
            }
            armed_edge_ = edge;
        }
        int n;
        if (plan.kind == wait_kind::poll) {
            n = epoll_wait(ep_.get(), events_.data(), kEpollEvents, 0);
        } else if (plan.kind == wait_kind::block) {
            n = epoll_wait(ep_.get(), events_.data(), kEpollEvents, -1);
        } else if (have_pwait2_) {
            const timespec ts{static_cast<time_t>(plan.timeout_ns / 1'000'000'000),
                              static_cast<long>(plan.timeout_ns % 1'000'000'000)};
            n = epoll_pwait2(ep_.get(), events_.data(), kEpollEvents, &ts, nullptr);
            if (n < 0 && errno == ENOSYS) {
                have_pwait2_ = false;
                n = 0;
            }
        } else {
            n = epoll_wait(ep_.get(), events_.data(), kEpollEvents,
                           static_cast<int>((plan.timeout_ns + 999'999) / 1'000'000));
        }
        if (n < 0) {
            if (errno == EINTR) return 0;
            cl_.fail("epoll_wait: " + errstr(errno));
            return 0;
        }
        const std::uint64_t now = now_ns();
        for (int i = 0; i < n; ++i) {
            if (events_[i].data.u32 == kTimerTag) {  // phase edge: the loop's tick acts on it
                std::uint64_t expirations;
                [[maybe_unused]] auto r = read(timer_.get(), &expirations, sizeof expirations);
                continue;
            }
            connection& c = cl_.conns()[events_[i].data.u32];
            const std::uint32_t ev = events_[i].events;
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                const ssize_t r = recv(c.fd.get(), buf_.data(), buf_.size(), MSG_DONTWAIT);
                if (r > 0) {
                    cl_.on_data(c, buf_.data(), static_cast<std::size_t>(r), now);
                } else if (r == 0) {
                    cl_.fail("server closed connection " + std::to_string(c.idx) + " during the run");
                    return 0;
                } else if (errno != EAGAIN && errno != EINTR) {
                    cl_.fail(peer_error("reset the connection", errno));
                    return 0;
                }
            }
            if ((ev & EPOLLOUT) && c.want_out) send_some(c);
        }
        return static_cast<std::size_t>(n);
    }

private:
    void send_some(connection& c) {
        while (c.tx_busy) {
            const ssize_t r = send(c.fd.get(), c.tx.data() + c.tx_off, c.tx.size() - c.tx_off,
                                   MSG_DONTWAIT | MSG_NOSIGNAL);
            if (r > 0) {
                cl_.on_sent(c, static_cast<std::size_t>(r));
                continue;
            }
            if (r < 0 && errno == EINTR) continue;
            if (r < 0 && errno != EAGAIN) {
                cl_.fail(peer_error("reset the connection (send)", errno));
                return;
            }
            break;  // EAGAIN: wait for EPOLLOUT
        }
        const bool want = c.tx_busy;
        if (want != c.want_out) {
            epoll_event ev{};
            ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
            ev.data.u32 = c.idx;
            if (epoll_ctl(ep_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0)
                cl_.fail("epoll_ctl: " + errstr(errno));
            c.want_out = want;
        }
    }

    static constexpr std::uint32_t kTimerTag = 0xffff'ffffu;  // epoll data of the phase timerfd

    load_client& cl_;
    unique_fd ep_, timer_;
    std::uint64_t armed_edge_ = 0;
    std::vector<std::uint8_t> buf_;
    std::vector<epoll_event> events_;
    bool have_pwait2_ = true;
};

// ---- io_uring path ---------------------------------------------------------------------
#if SY_HAVE_URING
bool kernel_at_least(int major, int minor) {
    utsname u{};
    if (uname(&u) != 0) return false;
    int ma = 0, mi = 0;
    if (std::sscanf(u.release, "%d.%d", &ma, &mi) != 2) return false;
    return ma > major || (ma == major && mi >= minor);
}

// user_data encoding: bits 63..56 the operation (kOpSend, kOpRecv,
// kOpTimer), bits 31..0 the connection index (0 for kOpTimer). Nothing else
// is packed.
constexpr std::uint64_t kOpShift = 56;
constexpr std::uint64_t kOpSend = 1;
constexpr std::uint64_t kOpRecv = 2;
constexpr std::uint64_t kOpTimer = 3;
constexpr std::uint64_t kIdxMask = 0xffff'ffffull;
constexpr std::uint16_t kBufGroup = 0;

constexpr std::uint64_t make_user_data(std::uint64_t op, std::uint32_t idx) { return (op << kOpShift) | idx; }

class uring_backend {
public:
    explicit uring_backend(load_client& cl) : cl_(cl) {}
    uring_backend(const uring_backend&) = delete;
    uring_backend& operator=(const uring_backend&) = delete;
    ~uring_backend() {
        if (ring_ok_) io_uring_queue_exit(&ring_);  // cancels what is in flight first
        if (br_) munmap(br_, br_bytes_);
        if (bufs_) munmap(bufs_, bufs_bytes_);
    }

    // Sets the ring up; false with `why` if io_uring cannot be used at all.
    bool init(recv_choice want_recv, std::string& why) {
        const std::size_t nconn = cl_.conns().size();
        const unsigned entries = std::min<unsigned>(kMaxRingEntries, std::bit_ceil(static_cast<unsigned>(2 * nconn + 8)));
        const unsigned candidates[] = {
            IORING_SETUP_SUBMIT_ALL | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
            IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
            IORING_SETUP_SUBMIT_ALL,
            0,
        };
        int err = 0;
        for (unsigned flags : candidates) {
            io_uring_params p{};
            p.flags = flags | IORING_SETUP_CQSIZE;
            p.cq_entries = entries * 4;
            const int r = io_uring_queue_init_params(entries, &ring_, &p);
            if (r == 0) {
                ring_ok_ = true;
                setup_ = flags & IORING_SETUP_DEFER_TASKRUN ? "single_issuer+defer_taskrun"
                         : flags & IORING_SETUP_COOP_TASKRUN ? "coop_taskrun"
                                                             : "plain";
                ext_arg_ = p.features & IORING_FEAT_EXT_ARG;
                break;
            }
            err = -r;
        }
        if (!ring_ok_) {
            why = "io_uring_setup failed: " + errstr(err);
            if (err == EPERM) why += " (kernel.io_uring_disabled or a seccomp filter)";
            return false;
        }
        // Registered files: one fd lookup less per operation; optional.
        std::vector<int> fds;
        fds.reserve(nconn);
        for (auto& c : cl_.conns()) fds.push_back(c.fd.get());
        fixed_files_ = io_uring_register_files(&ring_, fds.data(), static_cast<unsigned>(fds.size())) == 0;

        const std::size_t s = cl_.size();
        buf_size_ = std::clamp<std::size_t>(std::bit_ceil(s), kMinRecvBuf, kMaxRecvBuf);
        if (want_recv != recv_choice::plain) {
            std::string no;
            if (!kernel_at_least(6, 0)) no = "kernel older than 6.0 (no multishot recv)";
            else if (!setup_buf_ring(nconn, no)) {}
            if (no.empty()) {
                multishot_ = true;
                recv_mode_ = "multishot+buf_ring";
            } else if (want_recv == recv_choice::multishot) {
                why = "multishot recv unavailable: " + no;
                return false;
            } else {
                recv_note_ = no;
            }
        }
        if (!multishot_) {
            recv_mode_ = "recv";
            plain_buf_ = nconn > kPlainRecvManyConns ? kMinRecvBuf : buf_size_;
        }
        return true;
    }

    const std::string& setup() const { return setup_; }
    const std::string& recv_mode() const { return recv_mode_; }
    const std::string& recv_note() const { return recv_note_; }
    std::uint64_t enobufs() const { return enobufs_; }
    bool fixed_files() const { return fixed_files_; }
    bool ext_arg() const { return ext_arg_; }

    void start() {
        for (auto& c : cl_.conns()) arm_recv(c);
    }

    void start_send(connection& c) {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return;
        io_uring_prep_send(sqe, file(c), c.tx.data() + c.tx_off, c.tx.size() - c.tx_off, MSG_NOSIGNAL);
        finish_sqe(sqe, kOpSend, c);
    }

    // One io_uring_enter: submits the turn's SQEs, waits as planned, then
    // handles the completions; returns their number.
    std::size_t wait_and_process(const wait_plan& plan, std::uint64_t edge) {
        for (std::uint32_t i : rearm_) arm_recv(cl_.conns()[i]);
        rearm_.clear();
        if (edge != armed_edge_ && edge != 0) arm_phase_timer(edge);
        int r;
        if (plan.kind == wait_kind::poll) {
            r = io_uring_submit_and_get_events(&ring_);
        } else if (plan.kind == wait_kind::block) {
            r = io_uring_submit_and_wait(&ring_, 1);
        } else {
            __kernel_timespec ts{plan.timeout_ns / 1'000'000'000, plan.timeout_ns % 1'000'000'000};
            io_uring_cqe* first = nullptr;
            r = io_uring_submit_and_wait_timeout(&ring_, &first, 1, &ts, nullptr);
        }
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            cl_.fail("io_uring_submit_and_wait_timeout: " + errstr(-r));
            return 0;
        }
        const std::uint64_t now = now_ns();
        unsigned head, seen = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring_, head, cqe) {
            ++seen;
            handle(cqe, now);
        }
        io_uring_cq_advance(&ring_, seen);
        if (recycled_) {
            io_uring_buf_ring_advance(br_, recycled_);
            recycled_ = 0;
        }
        return seen;
    }

private:
    // One IORING_OP_TIMEOUT at the absolute time of the next phase edge.
    void arm_phase_timer(std::uint64_t edge) {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return;
        phase_ts_.tv_sec = static_cast<long long>(edge / 1'000'000'000);
        phase_ts_.tv_nsec = static_cast<long long>(edge % 1'000'000'000);
        io_uring_prep_timeout(sqe, &phase_ts_, 0, IORING_TIMEOUT_ABS);
        io_uring_sqe_set_data64(sqe, make_user_data(kOpTimer, 0));
        armed_edge_ = edge;
    }

    int file(const connection& c) const { return fixed_files_ ? static_cast<int>(c.idx) : c.fd.get(); }

    io_uring_sqe* get_sqe() {
        io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
        if (!sqe) {  // SQ full this turn: push it out early (rare: > kMaxRingEntries ops per turn)
            io_uring_submit(&ring_);
            sqe = io_uring_get_sqe(&ring_);
        }
        if (!sqe) cl_.fail("io_uring submission queue full");
        return sqe;
    }
    void finish_sqe(io_uring_sqe* sqe, std::uint64_t op, const connection& c) {
        if (fixed_files_) sqe->flags |= IOSQE_FIXED_FILE;
        io_uring_sqe_set_data64(sqe, make_user_data(op, c.idx));
    }

    void arm_recv(connection& c) {
        io_uring_sqe* sqe = get_sqe();
        if (!sqe) return;
        if (multishot_) {
            io_uring_prep_recv_multishot(sqe, file(c), nullptr, 0, 0);
            sqe->flags |= IOSQE_BUFFER_SELECT;
            sqe->buf_group = kBufGroup;
        } else {
            if (c.rxbuf.size() != plain_buf_) c.rxbuf.assign(plain_buf_, 0);
            io_uring_prep_recv(sqe, file(c), c.rxbuf.data(), c.rxbuf.size(), 0);
        }
        finish_sqe(sqe, kOpRecv, c);
    }

    bool setup_buf_ring(std::size_t nconn, std::string& why) {
        unsigned n = std::clamp<unsigned>(std::bit_ceil(static_cast<unsigned>(2 * nconn)), kMinBufRing, kMaxBufRing);
        while (n > kMinBufRing && n * buf_size_ > kMaxBufRingBytes) n /= 2;
        br_bytes_ = n * sizeof(io_uring_buf);
        void* ring_mem = mmap(nullptr, br_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (ring_mem == MAP_FAILED) {
            why = "mmap: " + errstr(errno);
            return false;
        }
        br_ = static_cast<io_uring_buf_ring*>(ring_mem);
        // liburing 2.3 has no io_uring_setup_buf_ring: register by hand.
        io_uring_buf_reg reg{};
        reg.ring_addr = reinterpret_cast<unsigned long>(br_);
        reg.ring_entries = n;
        reg.bgid = kBufGroup;
        if (int r = io_uring_register_buf_ring(&ring_, &reg, 0); r != 0) {
            why = "io_uring_register_buf_ring: " + errstr(-r);
            return false;
        }
        bufs_bytes_ = static_cast<std::size_t>(n) * buf_size_;
        void* mem = mmap(nullptr, bufs_bytes_, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE | MAP_POPULATE, -1, 0);
        if (mem == MAP_FAILED) {
            why = "mmap: " + errstr(errno);
            return false;
        }
        bufs_ = static_cast<std::uint8_t*>(mem);
        mask_ = io_uring_buf_ring_mask(n);
        io_uring_buf_ring_init(br_);
        for (unsigned i = 0; i < n; ++i)
            io_uring_buf_ring_add(br_, bufs_ + static_cast<std::size_t>(i) * buf_size_,
                                  static_cast<unsigned>(buf_size_), static_cast<unsigned short>(i), mask_, static_cast<int>(i));
        io_uring_buf_ring_advance(br_, static_cast<int>(n));
        return true;
    }

    void recycle(unsigned bid) {
        io_uring_buf_ring_add(br_, bufs_ + static_cast<std::size_t>(bid) * buf_size_, static_cast<unsigned>(buf_size_),
                              static_cast<unsigned short>(bid), mask_, static_cast<int>(recycled_));
        ++recycled_;
    }

    void handle(const io_uring_cqe* cqe, std::uint64_t now) {
        const std::uint64_t ud = io_uring_cqe_get_data64(cqe);
        const std::uint64_t op = ud >> kOpShift;
        const int res = cqe->res;
        if (op == kOpTimer) {  // phase edge: the loop's tick acts on it
            if (res != -ETIME && res != -ECANCELED) cl_.fail("io_uring phase timer: " + errstr(-res));
            return;
        }
        connection& c = cl_.conns()[ud & kIdxMask];
        if (op == kOpSend) {
            if (res < 0) return cl_.fail(peer_error("reset the connection (send)", -res));
            if (res == 0) return cl_.fail("send on connection " + std::to_string(c.idx) + " made no progress");
            cl_.on_sent(c, static_cast<std::size_t>(res));
            if (c.tx_busy) start_send(c);  // short send: the rest
            return;
        }
        // kOpRecv
        if (res > 0) {
            if (cqe->flags & IORING_CQE_F_BUFFER) {
                const unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                cl_.on_data(c, bufs_ + static_cast<std::size_t>(bid) * buf_size_, static_cast<std::size_t>(res), now);
                recycle(bid);
            } else {
                cl_.on_data(c, c.rxbuf.data(), static_cast<std::size_t>(res), now);
            }
            got_data_ = true;
        } else if (res == 0) {
            return cl_.fail("server closed connection " + std::to_string(c.idx) + " during the run");
        } else if (res == -ENOBUFS) {
            ++enobufs_;  // all provided buffers in use: re-armed once this turn returns them
        } else if (res == -EINVAL && multishot_ && !got_data_) {
            multishot_ = false;  // kernel refused multishot recv: one-shot from now on
            fell_back_ = true;
            recv_mode_ = "recv";
            recv_note_ = "multishot recv rejected (EINVAL)";
            plain_buf_ = cl_.conns().size() > kPlainRecvManyConns ? kMinRecvBuf : buf_size_;
        } else if (!(res == -EINVAL && fell_back_)) {  // (other connections' refusals: re-arm)
            return cl_.fail(peer_error("reset the connection", -res));
        }
        const bool more = multishot_ && (cqe->flags & IORING_CQE_F_MORE);
        if (!more) rearm_.push_back(c.idx);
    }

    load_client& cl_;
    io_uring ring_{};
    bool ring_ok_ = false, fixed_files_ = false, ext_arg_ = false, multishot_ = false, got_data_ = false,
         fell_back_ = false;
    std::string setup_, recv_mode_, recv_note_;
    io_uring_buf_ring* br_ = nullptr;
    std::size_t br_bytes_ = 0;
    std::uint8_t* bufs_ = nullptr;
    std::size_t bufs_bytes_ = 0, buf_size_ = 0, plain_buf_ = 0;
    unsigned recycled_ = 0;
    int mask_ = 0;
    std::vector<std::uint32_t> rearm_;
    std::uint64_t enobufs_ = 0;
    std::uint64_t armed_edge_ = 0;
    __kernel_timespec phase_ts_{};  // read by the kernel when the timeout SQE is submitted
};
#endif  // SY_HAVE_URING

// ---- setup: limits, pinning, connections -------------------------------------------------
[[noreturn]] void die(int code, const std::string& line) {
    std::fprintf(stderr, "switchyard-load: %s\n", line.c_str());
    std::fflush(stderr);
    abandon_perf();
    std::_Exit(code);
}

void on_time_limit(int) {
    static constexpr char kMsg[] = "switchyard-load: --time-limit reached, run aborted\n";
    [[maybe_unused]] auto r = write(2, kMsg, sizeof kMsg - 1);
    abandon_perf();
    _exit(1);
}

void raise_fd_limit(long conns) {
    const rlim_t need = static_cast<rlim_t>(conns) + kFdReserve;
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) die(2, "getrlimit(RLIMIT_NOFILE): " + errstr(errno));
    if (rl.rlim_cur >= need) return;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need)
        die(2, "--conns " + std::to_string(conns) + " needs " + std::to_string(need) +
                   " file descriptors but the RLIMIT_NOFILE hard limit is " + std::to_string(rl.rlim_max) +
                   " (raise it with ulimit -Hn)");
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &want) != 0) {
        want.rlim_cur = need;
        if (setrlimit(RLIMIT_NOFILE, &want) != 0)
            die(2, "cannot raise RLIMIT_NOFILE to " + std::to_string(need) + ": " + errstr(errno));
    }
}

std::string target_name(const options& o) {
    const bool v6 = o.addr.ss_family == AF_INET6 && o.host.front() != '[';
    return (v6 ? "[" + o.host + "]" : o.host) + ":" + std::to_string(o.port);
}

// Connects one socket (non-blocking, TCP_NODELAY); error text or "".
std::string connect_one(const options& o, unique_fd& out) {
    unique_fd fd(socket(o.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return "socket: " + errstr(errno);
    const int one = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd.get(), reinterpret_cast<const sockaddr*>(&o.addr), o.addr_len) != 0) {
        if (errno != EINPROGRESS) return errstr(errno);
        pollfd p{fd.get(), POLLOUT, 0};
        int r;
        do r = poll(&p, 1, kConnectTimeoutMs);
        while (r < 0 && errno == EINTR);
        if (r == 0) return "timed out after " + std::to_string(kConnectTimeoutMs / 1000) + " s";
        if (r < 0) return "poll: " + errstr(errno);
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) return errstr(err);
    }
    out = std::move(fd);
    return "";
}

// CPUs `pid` (0: this process) may run on, as a JSON array (null if unreadable).
nlohmann::json cpus_of(int pid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(pid, sizeof set, &set) != 0) return nullptr;
    nlohmann::json a = nlohmann::json::array();
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &set)) a.push_back(c);
    return a;
}

bool cpu_in(const nlohmann::json& cpus, int cpu) {
    if (!cpus.is_array()) return true;  // unknown: assume shared
    for (const auto& c : cpus)
        if (c == cpu) return true;
    return false;
}

nlohmann::json num_or_null(std::optional<double> v) { return v ? nlohmann::json(*v) : nlohmann::json(nullptr); }
double round3(double v) { return std::round(v * 1000.0) / 1000.0; }
double us(std::uint64_t ns) { return round3(static_cast<double>(ns) / 1000.0); }

int run(int argc, char** argv) {
    options o;
    try {
        o = parse_options(argc, argv);
    } catch (const usage_error& e) {
        die(2, e.what());
    }
    if (o.help) {
        std::fputs(kUsage, stdout);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    // Hard time cap over everything (connect, perf, run): abort with one line.
    signal(SIGALRM, on_time_limit);
    itimerval it{};
    it.it_value.tv_sec = static_cast<time_t>(o.time_limit);
    it.it_value.tv_usec = static_cast<suseconds_t>((o.time_limit - std::floor(o.time_limit)) * 1e6);
    setitimer(ITIMER_REAL, &it, nullptr);
    prctl(PR_SET_TIMERSLACK, kTimerSlackNs);

    if (o.cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(*o.cpu, &set);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            die(2, "--cpu " + std::to_string(*o.cpu) + ": sched_setaffinity: " + errstr(errno));
    }
    std::optional<server_cpu_sample> srv_cpu0, srv_cpu1;
    if (o.server_pid && !proc_cpu_ns(*o.server_pid))
        die(2, "--server-pid " + std::to_string(*o.server_pid) + ": cannot read /proc/" +
                   std::to_string(*o.server_pid) + "/stat (no such process?)");
    raise_fd_limit(o.conns);

    std::vector<unique_fd> fds(static_cast<std::size_t>(o.conns));
    for (long i = 0; i < o.conns; ++i) {
        std::string err = connect_one(o, fds[static_cast<std::size_t>(i)]);
        if (err.empty()) continue;
        if (i == 0) die(2, "cannot connect to " + target_name(o) + ": " + err);
        die(1, "connection " + std::to_string(i + 1) + " of " + std::to_string(o.conns) + " to " +
                   target_name(o) + " failed: " + err);
    }

    // Server-side syscalls, only in a profiling run (--profile): perf attached
    // (disabled) before the run starts. A timed run attaches nothing.
    syscall_counter perf;
    bool perf_ok = false;
    if (o.server_pid && o.profile) perf_ok = perf.start(*o.server_pid);

    load_client cl(o, std::move(fds));
    // Spin (poll without blocking) only on a core of the client's own: pinned,
    // and not one the server may run on; by default only in open loop.
    const bool own_core = o.cpu && (!o.server_pid || !cpu_in(cpus_of(*o.server_pid), *o.cpu));
    const bool spin = o.wait == wait_choice::spin ||
                      (o.wait == wait_choice::automatic && o.mode == load_mode::open && own_core);
    cl.allow_spin(spin);
    cl.on_window_start = [&] {
        if (o.server_pid) srv_cpu0 = sample_server_cpu(*o.server_pid);
        if (perf_ok) perf.enable();
    };
    cl.on_window_end = [&] {
        if (perf_ok) perf.disable();
        if (o.server_pid) srv_cpu1 = sample_server_cpu(*o.server_pid);
    };

    std::string io_path, io_note, recv_mode, uring_setup;
    std::uint64_t enobufs = 0;
    try {
        bool done = false;
#if SY_HAVE_URING
        if (o.io != io_choice::epoll) {
            uring_backend u(cl);
            std::string why;
            if (u.init(o.recv, why)) {
                io_path = "io_uring";
                recv_mode = u.recv_mode();
                io_note = u.recv_note();
                uring_setup = u.setup() + (u.fixed_files() ? "+fixed_files" : "") + (u.ext_arg() ? "+ext_arg" : "");
                run_loop(cl, u);
                enobufs = u.enobufs();
                recv_mode = u.recv_mode();
                io_note = u.recv_note();
                done = true;
            } else if (o.io == io_choice::uring) {
                die(2, why);
            } else {
                io_note = why;
            }
        }
#else
        if (o.io == io_choice::uring) die(2, "--io uring: built without liburing (apt install liburing-dev)");
        io_note = "built without liburing";
#endif
        if (!done) {
            if (o.recv == recv_choice::multishot) die(2, "--recv multishot needs the io_uring path");
            epoll_backend e(cl);
            io_path = "epoll";
            recv_mode = "recv";
            run_loop(cl, e);
        }
    } catch (const run_error& e) {
        die(1, e.what());
    }
    if (!cl.failure().empty()) die(1, cl.failure());

    std::optional<syscall_profile> syscalls;
    std::string syscalls_note;
    if (!o.profile) {
        syscalls_note = "not profiled (--profile: a separate pass)";
    } else if (o.server_pid) {
        syscalls = perf.finish();
        if (!syscalls) syscalls_note = perf.note();
    } else {
        syscalls_note = "no --server-pid";
    }

    const double secs = cl.window_s();
    const std::uint64_t msgs = cl.msgs();
    const std::uint64_t bytes = msgs * static_cast<std::uint64_t>(o.size);
    const auto& h = cl.latency();
    const double cpu_pct = secs > 0 ? 100.0 * static_cast<double>(cl.cpu_ns()) / 1e9 / secs : 0;
    const double spin_pct = secs > 0 ? 100.0 * static_cast<double>(cl.spin_ns()) / 1e9 / secs : 0;
    const double busy_pct = std::max(0.0, cpu_pct - spin_pct);
    nlohmann::ordered_json j;
    j["mode"] = o.mode == load_mode::open ? "open" : "closed";
    j["conns"] = o.conns;
    j["size"] = o.size;
    j["rate_offered"] = o.mode == load_mode::open ? nlohmann::json(o.rate) : nlohmann::json(nullptr);
    j["duration_s"] = std::round(secs * 1e6) / 1e6;
    j["warmup_s"] = o.warmup;
    j["msgs"] = msgs;
    j["bytes"] = bytes;
    j["msgs_per_second"] = secs > 0 ? round3(static_cast<double>(msgs) / secs) : 0.0;
    j["bytes_per_second"] = secs > 0 ? round3(static_cast<double>(bytes) / secs) : 0.0;
    j["p50_us"] = us(h.percentile(50));
    j["p90_us"] = us(h.percentile(90));
    j["p99_us"] = us(h.percentile(99));
    j["p999_us"] = us(h.percentile(99.9));
    j["max_us"] = us(h.max());
    j["mean_us"] = round3(h.mean() / 1000.0);
    j["client_cpu_pct"] = round3(cpu_pct);
    j["client_user_pct"] = secs > 0 ? round3(100.0 * static_cast<double>(cl.user_ns()) / 1e9 / secs) : 0.0;
    j["client_sys_pct"] = secs > 0 ? round3(100.0 * static_cast<double>(cl.sys_ns()) / 1e9 / secs) : 0.0;
    j["client_cpu_ns_per_msg"] =
        msgs ? nlohmann::json(round3(static_cast<double>(cl.cpu_ns()) / static_cast<double>(msgs))) : nlohmann::json(nullptr);
    j["client_spin_pct"] = round3(spin_pct);
    j["client_busy_pct"] = round3(busy_pct);
    j["client_bound"] = busy_pct >= kClientBoundPct ? 1 : 0;
    j["wait_mode"] = spin ? "spin" : "block";
    j["loop_turns"] = cl.turns();
    j["idle_turns"] = cl.idle_turns();
    j["events_per_busy_turn"] =
        cl.turns() > cl.idle_turns()
            ? round3(static_cast<double>(cl.events()) / static_cast<double>(cl.turns() - cl.idle_turns()))
            : 0.0;
    std::optional<double> srv_ns_per_msg, srv_pct, sc_per_msg;
    const auto srv_cpu = server_cpu_between(srv_cpu0, srv_cpu1);
    if (srv_cpu) {
        const double d = static_cast<double>(srv_cpu->ns);
        if (msgs) srv_ns_per_msg = round3(d / static_cast<double>(msgs));
        if (secs > 0) srv_pct = round3(100.0 * d / 1e9 / secs);
    }
    if (syscalls && msgs) sc_per_msg = round3(static_cast<double>(syscalls->total) / static_cast<double>(msgs));
    j["server_pid"] = o.server_pid ? nlohmann::json(*o.server_pid) : nlohmann::json(nullptr);
    j["server_cpu_pct"] = num_or_null(srv_pct);
    j["server_cpu_ns_per_msg"] = num_or_null(srv_ns_per_msg);
    j["server_cpu_source"] = srv_cpu ? nlohmann::json(srv_cpu->source) : nlohmann::json(nullptr);
    j["syscalls"] = syscalls ? nlohmann::json(syscalls->total) : nlohmann::json(nullptr);
    j["syscalls_per_msg"] = num_or_null(sc_per_msg);
    nlohmann::ordered_json by_name = nlohmann::ordered_json::object();
    if (syscalls && msgs)
        for (const auto& [name, count] : syscalls->by_name)
            if (count) by_name[name] = round3(static_cast<double>(count) / static_cast<double>(msgs));
    j["syscalls_per_msg_by_name"] = syscalls ? nlohmann::json(by_name) : nlohmann::json(nullptr);
    j["syscalls_note"] = syscalls_note.empty() ? nlohmann::json(nullptr) : nlohmann::json(syscalls_note);
    j["io_path"] = io_path;
    j["recv_mode"] = recv_mode;
    j["uring_setup"] = uring_setup.empty() ? nlohmann::json(nullptr) : nlohmann::json(uring_setup);
    j["io_note"] = io_note.empty() ? nlohmann::json(nullptr) : nlohmann::json(io_note);
    j["enobufs"] = enobufs;
    if (o.mode == load_mode::open) {
        j["send_lag_p99_us"] = us(cl.send_lag().percentile(99));
        j["send_lag_max_us"] = us(cl.send_lag().max());
    } else {
        j["send_lag_p99_us"] = nullptr;
        j["send_lag_max_us"] = nullptr;
    }
    j["outstanding_at_end"] = cl.outstanding();
    j["verify_errors"] = cl.verify_errors();
    j["unexpected_bytes"] = cl.unexpected_bytes();
    j["pinned_cpu"] = o.cpu ? nlohmann::json(*o.cpu) : nlohmann::json(nullptr);
    j["client_cpus"] = cpus_of(0);
    j["server_cpus"] = o.server_pid ? cpus_of(*o.server_pid) : nlohmann::json(nullptr);
    j["host"] = o.host;
    j["port"] = o.port;
    std::printf("%s\n", j.dump().c_str());
    std::fflush(stdout);

    if (cl.verify_errors() != 0)
        die(1, "verification failed: " + std::to_string(cl.verify_errors()) +
                   " echoed messages differ from what was sent");
    if (msgs == 0) die(1, "no message completed in the measured window");
    return 0;
}

}  // namespace
}  // namespace sy::load

int main(int argc, char** argv) { return sy::load::run(argc, argv); }
