// Private server processes for the real-server workloads (benches/redis.cpp,
// benches/http.cpp): a temp dir, a free loopback port, a child process that
// dies with the bench, a readiness probe, and a client tool run with its
// output captured (wrk).
//
// Lifetime: a bench process starts its server once, lazily, and keeps it in a
// function-local static (`managed_server`) destroyed at exit: SIGTERM, then
// SIGKILL after a grace period, reaped, temp dir removed. The child is
// started with PR_SET_PDEATHSIG(SIGKILL), so it also dies when the bench is
// killed (watchdog, Ctrl-C, crash). PDEATHSIG fires when the *thread* that
// forked exits: forks happen on the benchmark's main thread, which lives as
// long as the process. A killed bench cannot remove its temp dir; the next
// bench process of the same kind removes dirs whose owner pid is gone.
//
// Temp dirs are /tmp/switchyard-<kind>-<bench pid>-XXXXXX; the server runs
// with that dir as its working directory, and the bench prints one line on
// stderr naming the server's pid and dir, so tests can check that nothing
// is left behind (tests/scripts/test_realservers.py).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "runners/affinity.hpp"
#include "runners/errors.hpp"

namespace sy::realserver {

constexpr double kReadyTimeoutS = 10;  // a server must answer its probe within this
constexpr int kPortAttempts = 5;       // a picked port taken meanwhile: try another
constexpr auto kStopGrace = std::chrono::seconds(2);  // SIGTERM, then SIGKILL
constexpr auto kPollStep = std::chrono::milliseconds(20);
constexpr std::string_view kTempRoot = "/tmp";

// An fd closed on destruction.
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
    int get() const { return fd_; }
    int release() { return std::exchange(fd_, -1); }
    void reset(int fd = -1) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = fd;
    }

private:
    int fd_ = -1;
};

// mkdtemp /tmp/switchyard-<kind>-<pid>-XXXXXX, removed with its contents on
// destruction. Dirs of earlier bench processes of this kind whose pid is
// gone are removed first.
class temp_dir {
public:
    explicit temp_dir(const std::string& kind) {
        remove_stale(kind);
        std::string tmpl = std::string(kTempRoot) + "/switchyard-" + kind + "-" + std::to_string(getpid()) + "-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp " + tmpl + ": " + errno_text(errno));
        path_ = tmpl;
    }
    ~temp_dir() {
        std::error_code ec;
        if (!path_.empty()) std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
    const std::string& path() const { return path_; }

private:
    static void remove_stale(const std::string& kind) {
        const std::string prefix = "switchyard-" + kind + "-";
        std::error_code ec;
        std::vector<std::filesystem::path> stale;
        for (const auto& e : std::filesystem::directory_iterator(kTempRoot, ec)) {
            std::string n = e.path().filename().string();
            if (n.rfind(prefix, 0) != 0) continue;
            long pid = std::strtol(n.c_str() + prefix.size(), nullptr, 10);
            if (pid <= 0 || pid == getpid()) continue;
            if (::kill(pid_t(pid), 0) == 0 || errno != ESRCH) continue;  // its owner still runs
            stale.push_back(e.path());
        }
        for (const auto& p : stale) std::filesystem::remove_all(p, ec);
    }
    std::string path_;
};

// A TCP port on 127.0.0.1 free right now (bind port 0, read it back, close).
// Another process may take it before the server binds it: callers retry.
inline int free_loopback_port() {
    unique_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.get() < 0) throw resource_error("socket: " + errno_text(errno) + " (" + fd_limit_text() + ")");
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (::bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(s.get(), reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("cannot pick a loopback port: " + errno_text(errno));
    return ntohs(a.sin_port);
}

inline sockaddr_in loopback(int port) {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(std::uint16_t(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

// Where the server and the client side run: apart when the process may use
// two CPUs or more (the server on the first, every client thread of the
// bench on the second, as for echo), so that neither steals the other's CPU
// and a sequential round trip always includes the wake-up of the other side;
// unpinned otherwise. Without pinning, the scheduler sometimes puts both on
// one CPU and sometimes not, and sequential rates swing by 10x between runs.
struct cpu_plan {
    std::optional<int> server, client;
};
inline cpu_plan place() {
    auto cpus = allowed_cpus();
    if (cpus.size() >= 2) return {cpus[0], cpus[1]};
    return {};
}

// A child process (argv[0] is a path): stdin /dev/null, stdout to `out_fd`
// (or the log), stderr to the log file, working directory `cwd`, pinned to
// `cpu` if given, killed with the bench (PR_SET_PDEATHSIG). Stopped and
// reaped on destruction.
class process {
public:
    process(const std::vector<std::string>& argv, const std::string& cwd, const std::string& log,
            int out_fd = -1, std::optional<int> cpu = {}) {
        // Everything the child needs is prepared before fork: between fork
        // and exec it only makes async-signal-safe calls.
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        cpu_set_t mask;
        CPU_ZERO(&mask);
        if (cpu) CPU_SET(*cpu, &mask);
        const pid_t parent = getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw resource_error("fork: " + errno_text(errno) + " (" + thread_limits_text() + ")");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) _exit(126);  // the bench died before prctl
            int null = ::open("/dev/null", O_RDONLY);
            int lg = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (null < 0 || lg < 0 || ::chdir(cwd.c_str()) != 0) _exit(126);
            if (cpu) ::sched_setaffinity(0, sizeof mask, &mask);  // checked by the parent
            ::dup2(null, 0);
            ::dup2(out_fd >= 0 ? out_fd : lg, 1);
            ::dup2(lg, 2);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGPIPE, SIG_DFL);  // the runners ignore it, and exec keeps that
            ::execv(args[0], args.data());
            _exit(127);
        }
    }
    ~process() { stop(); }
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    pid_t pid() const { return pid_; }
    // Runs on `cpu` alone (the child's pinning worked).
    bool pinned_to(int cpu) const {
        cpu_set_t m;
        CPU_ZERO(&m);
        return pid_ > 0 && ::sched_getaffinity(pid_, sizeof m, &m) == 0 && CPU_COUNT(&m) == 1 && CPU_ISSET(cpu, &m);
    }
    // Still running (false once it exited; it is reaped then).
    bool running() {
        if (pid_ <= 0) return false;
        if (::waitpid(pid_, &status_, WNOHANG) == pid_) {
            pid_ = -1;
            return false;
        }
        return true;
    }
    // Waits up to `timeout` for the exit; false (still running) on timeout.
    bool wait_for(std::chrono::duration<double> timeout) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (running()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            std::this_thread::sleep_for(kPollStep);
        }
        return true;
    }
    int exit_code() const { return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_); }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        if (!wait_for(kStopGrace)) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, &status_, 0);
            pid_ = -1;
        }
    }

private:
    pid_t pid_ = -1;
    int status_ = 0;
};

// The last non-empty line of a file (a server's log), for one-line errors.
inline std::string last_line(const std::string& path) {
    std::ifstream f(path);
    std::string line, last;
    while (std::getline(f, line))
        if (!line.empty()) last = line;
    return last.empty() ? "(no output)" : last;
}

// One blocking exchange with 127.0.0.1:port: sends `request`, reads until
// `complete(reply)`, EOF or the timeout; returns what was read ("" when the
// connection failed).
inline std::string exchange(int port, std::string_view request,
                            const std::function<bool(const std::string&)>& complete,
                            double timeout_s = kReadyTimeoutS) {
    unique_fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (s.get() < 0) return "";
    timeval tv{long(timeout_s), long((timeout_s - double(long(timeout_s))) * 1e6)};
    ::setsockopt(s.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(s.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in a = loopback(port);
    if (::connect(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return "";
    for (std::size_t off = 0; off < request.size();) {
        ssize_t w = ::send(s.get(), request.data() + off, request.size() - off, MSG_NOSIGNAL);
        if (w <= 0) return "";
        off += std::size_t(w);
    }
    std::string reply;
    char buf[4096];
    while (!complete(reply)) {
        ssize_t n = ::recv(s.get(), buf, sizeof buf, 0);
        if (n <= 0) break;
        reply.append(buf, std::size_t(n));
    }
    return reply;
}

// A server of the bench: its temp dir, process and port. `argv_for(port,
// dir)` builds the command line; `ready(port)` probes it (and must tell our
// server from another process that took the port). Up to kPortAttempts
// ports are tried when the server exits at start (port taken); `error` says
// why it could not start.
struct managed_server {
    std::unique_ptr<temp_dir> dir;  // destroyed last: the process stops first
    std::unique_ptr<process> proc;
    int port = 0;
    std::string error;

    std::optional<int> cpu;  // where it runs (place().server)

    managed_server(const std::string& kind, const std::string& what,
                   const std::function<std::vector<std::string>(int, const std::string&)>& argv_for,
                   const std::function<void(const std::string&)>& prepare,
                   const std::function<bool(int, const std::string&)>& ready) {
        try {
            cpu = place().server;
            dir = std::make_unique<temp_dir>(kind);
            prepare(dir->path());
            const std::string log = dir->path() + "/server.log";
            for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
                port = free_loopback_port();
                proc = std::make_unique<process>(argv_for(port, dir->path()), dir->path(), log, -1, cpu);
                auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(kReadyTimeoutS);
                while (proc->running() && std::chrono::steady_clock::now() < deadline) {
                    if (ready(port, dir->path())) {
                        if (cpu && !proc->pinned_to(*cpu)) cpu.reset();
                        std::fprintf(stderr, "switchyard: %s pid %d on 127.0.0.1:%d in %s, %s\n", what.c_str(),
                                     int(proc->pid()), port, dir->path().c_str(),
                                     cpu ? ("pinned to CPU " + std::to_string(*cpu)).c_str() : "not pinned");
                        return;
                    }
                    std::this_thread::sleep_for(kPollStep);
                }
                if (proc->running()) {
                    error = what + " did not answer on 127.0.0.1:" + std::to_string(port) + " within " +
                            std::to_string(int(kReadyTimeoutS)) + " s: " + last_line(log);
                    break;
                }
                error = what + " exited at start (code " + std::to_string(proc->exit_code()) +
                        "): " + last_line(log);
            }
        } catch (const std::exception& e) {
            error = what + " could not start: " + e.what();
        }
        proc.reset();
        port = 0;
    }
    bool ok() const { return error.empty() && port > 0; }
};

// For one case: pins the calling thread -- and so every thread and process
// it starts (runner workers, the thread model's threads, wrk) -- to the
// client CPU when the server is pinned to its own; restored afterwards.
class client_pin {
public:
    explicit client_pin(const managed_server& s) : cpu_(s.cpu ? place().client : std::nullopt), pin_(cpu_) {}
    bool pinned() const { return cpu_ && pin_.error.empty(); }

private:
    std::optional<int> cpu_;  // decided before pinning (which narrows place())
    scoped_pin pin_;
};

// Runs a tool to completion (killed after `timeout_s`) and returns its
// stdout; `error` is set on a timeout or a non-zero exit (with its stderr's
// last line).
inline std::string run_capture(const std::vector<std::string>& argv, const std::string& cwd,
                               const std::string& log, double timeout_s, std::string& error) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
        error = "pipe: " + errno_text(errno);
        return "";
    }
    unique_fd rd(p[0]), wr(p[1]);
    process child(argv, cwd, log, wr.get());
    wr.reset();
    std::string out;
    char buf[4096];
    auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            error = argv[0] + " timed out after " + std::to_string(int(timeout_s)) + " s";
            return out;  // child is killed and reaped by its destructor
        }
        pollfd pf{rd.get(), POLLIN, 0};
        int r = ::poll(&pf, 1, int(left.count()));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;
        ssize_t n = ::read(rd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, std::size_t(n));
    }
    if (!child.wait_for(std::chrono::duration<double>(timeout_s))) {
        error = argv[0] + " did not exit";
        return out;
    }
    if (child.exit_code() != 0) error = argv[0] + " exit " + std::to_string(child.exit_code()) + ": " + last_line(log);
    return out;
}

}  // namespace sy::realserver
