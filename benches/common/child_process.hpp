// The one child-process class of the benches that start other programs:
// bench_echo (its echo server and the load generator), bench_redis and
// bench_http (their real servers and wrk, through benches/realserver/).
//
// What every child gets:
//  - it dies with the bench: PR_SET_PDEATHSIG(SIGKILL), then a getppid()
//    check against the race where the bench died between fork and prctl. A
//    watchdog's SIGKILL of a bench therefore leaves no server or load
//    generator running (tests/scripts/test_child_cleanup.py). PDEATHSIG
//    fires when the *thread* that forked exits: benches fork on their main
//    thread, which lives as long as the process.
//  - stdin /dev/null; stdout and stderr each to a pipe the parent reads
//    (read_until, stderr_tail), to a given fd, or appended to a log file;
//  - optionally a working directory, extra environment variables, and one
//    CPU (the parent checks the pinning with pinned_to);
//  - a clean signal state: empty signal mask, SIGPIPE default (the runners
//    ignore SIGPIPE and exec would keep that).
// Between fork and exec the child only makes async-signal-safe calls:
// argv, envp, the CPU mask and the paths are prepared before fork.
// Destruction stops it (SIGTERM, SIGKILL after kStopGrace) and reaps it.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "benches/common/net.hpp"
#include "runners/errors.hpp"

extern char** environ;

namespace sy {

// How a child is started. argv[0] is a path (no PATH search).
struct child_spec {
    std::vector<std::string> argv;
    std::map<std::string, std::string> env;  // added to (or replacing in) the bench's environment
    std::string cwd;                         // "": the bench's
    std::string log;                         // stdout/stderr not piped or redirected are appended here ("": inherited)
    bool pipe_stdout = false;                // read with read_until / text
    bool pipe_stderr = false;                // read with stderr_tail
    int stdout_fd = -1;                      // or: stdout to this fd
    std::optional<int> cpu;                  // pinned to this CPU (checked with pinned_to)
};

class child_process {
public:
    static constexpr auto kStopGrace = std::chrono::seconds(2);  // SIGTERM, then SIGKILL
    static constexpr auto kPollStep = std::chrono::milliseconds(20);
    static constexpr std::size_t kReadChunk = 4096;
    static constexpr int kSetupFailed = 126;  // exit code: the child could not be set up
    static constexpr int kExecFailed = 127;   // exit code: exec failed

    // Starts the child; throws resource_error when pipe or fork fails.
    explicit child_process(const child_spec& spec) {
        // Everything the child needs is prepared before fork.
        std::vector<char*> args;
        for (const auto& a : spec.argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        std::vector<std::string> env_text;
        for (char** e = environ; *e; ++e) {
            const std::string kv = *e;
            if (!spec.env.count(kv.substr(0, kv.find('=')))) env_text.push_back(kv);
        }
        for (const auto& [k, v] : spec.env) env_text.push_back(k + "=" + v);
        std::vector<char*> envp;
        for (auto& kv : env_text) envp.push_back(kv.data());
        envp.push_back(nullptr);
        const std::string exec_failed = "cannot run " + spec.argv.at(0) + ": ";
        cpu_set_t mask;
        CPU_ZERO(&mask);
        if (spec.cpu) CPU_SET(*spec.cpu, &mask);
        net::unique_fd out_r, out_w, err_r, err_w;
        if (spec.pipe_stdout) make_pipe(out_r, out_w);
        if (spec.pipe_stderr) make_pipe(err_r, err_w);
        const int out_fd = spec.pipe_stdout ? out_w.get() : spec.stdout_fd;
        const int err_fd = spec.pipe_stderr ? err_w.get() : -1;

        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw resource_error("fork: " + errno_text(errno) + " (" + thread_limits_text() + ")");
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (::getppid() != parent) _exit(kSetupFailed);  // the bench died before prctl
            const int null = ::open("/dev/null", O_RDONLY);
            const int log = spec.log.empty() ? -1 : ::open(spec.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
            if (null < 0 || (!spec.log.empty() && log < 0)) _exit(kSetupFailed);
            if (!spec.cwd.empty() && ::chdir(spec.cwd.c_str()) != 0) _exit(kSetupFailed);
            if (spec.cpu) ::sched_setaffinity(0, sizeof mask, &mask);  // checked by the parent
            ::dup2(null, 0);
            if (out_fd >= 0) ::dup2(out_fd, 1);
            else if (log >= 0) ::dup2(log, 1);
            if (err_fd >= 0) ::dup2(err_fd, 2);
            else if (log >= 0) ::dup2(log, 2);
            sigset_t none;
            sigemptyset(&none);
            ::sigprocmask(SIG_SETMASK, &none, nullptr);
            ::signal(SIGPIPE, SIG_DFL);
            ::execve(args[0], args.data(), envp.data());
            const char* why = std::strerror(errno);
            [[maybe_unused]] auto r = ::write(2, exec_failed.data(), exec_failed.size());
            r = ::write(2, why, std::strlen(why));
            r = ::write(2, "\n", 1);
            _exit(kExecFailed);
        }
        out_ = std::move(out_r);
        err_ = std::move(err_r);
    }
    ~child_process() { stop(); }
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

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
    // Waits for the exit, however long it takes; returns exit_code().
    int wait() {
        if (pid_ > 0) {
            ::waitpid(pid_, &status_, 0);
            pid_ = -1;
        }
        return exit_code();
    }
    // The exit status as a shell shows it: the code, or 128 + the signal.
    int exit_code() const { return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_); }
    // SIGTERM, SIGKILL if it has not exited after kStopGrace; reaped.
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        if (!wait_for(kStopGrace)) {
            ::kill(pid_, SIGKILL);
            wait();
        }
    }

    // Piped stdout: reads until `done(text())`, EOF or `timeout_s`; false on
    // timeout.
    template <class Done>
    bool read_until(double timeout_s, Done done) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
        char buf[kReadChunk];
        for (;;) {
            if (done(text_)) return true;
            auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{out_.get(), POLLIN, 0};
            const int r = ::poll(&p, 1, int(left.count()));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return false;
            const ssize_t n = ::read(out_.get(), buf, sizeof buf);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return true;  // EOF
            text_.append(buf, std::size_t(n));
        }
    }
    // Piped stdout read so far.
    const std::string& text() const { return text_; }
    // Piped stderr: the last line of what is there now (does not block).
    std::string stderr_tail() {
        char buf[kReadChunk];
        ::fcntl(err_.get(), F_SETFL, O_NONBLOCK);
        const ssize_t n = ::read(err_.get(), buf, sizeof buf);
        std::string s = n > 0 ? std::string(buf, std::size_t(n)) : "";
        while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
        const auto nl = s.rfind('\n');
        return nl == std::string::npos ? s : s.substr(nl + 1);
    }

private:
    static void make_pipe(net::unique_fd& r, net::unique_fd& w) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) != 0) throw resource_error("pipe: " + errno_text(errno) + " (" + fd_limit_text() + ")");
        r.reset(p[0]);
        w.reset(p[1]);
    }

    pid_t pid_ = -1;
    int status_ = 0;
    net::unique_fd out_, err_;
    std::string text_;
};

}  // namespace sy
