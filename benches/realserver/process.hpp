// Private server processes for the real-server workloads (benches/redis.cpp,
// benches/http.cpp): a temp dir, a free loopback port, a child process that
// dies with the bench, a readiness probe, and a client tool run with its
// output captured (wrk).
//
// Lifetime: a bench process starts its server once, lazily, and keeps it in a
// function-local static (`managed_server`) destroyed at exit: SIGTERM, then
// SIGKILL after a grace period, reaped, temp dir removed. The child is a
// sy::child_process (benches/common/child_process.hpp): it dies with the
// bench (PR_SET_PDEATHSIG) when the bench is killed (watchdog, Ctrl-C,
// crash). A killed bench cannot remove its temp dir; the next
// bench process of the same kind removes dirs whose owner pid is gone.
//
// Temp dirs are /tmp/switchyard-<kind>-<bench pid>-XXXXXX; the server runs
// with that dir as its working directory, and the bench prints one line on
// stderr naming the server's pid and dir, so tests can check that nothing
// is left behind (tests/scripts/test_realservers.py).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
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

#include "benches/common/child_process.hpp"
#include "benches/common/net.hpp"
#include "runners/affinity.hpp"
#include "runners/errors.hpp"

namespace sy::realserver {

constexpr double kReadyTimeoutS = 10;  // a server must answer its probe within this
constexpr int kPortAttempts = 5;       // a picked port taken meanwhile: try another
constexpr auto kPollStep = std::chrono::milliseconds(20);
constexpr std::string_view kTempRoot = "/tmp";

using net::loopback;
using net::unique_fd;

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
    const sockaddr_in a = loopback(0);
    const int port = ::bind(s.get(), reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0 ? net::local_port(s.get()) : -1;
    if (port < 0) throw std::runtime_error("cannot pick a loopback port: " + errno_text(errno));
    return port;
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
    std::unique_ptr<child_process> proc;
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
                child_spec spec;
                spec.argv = argv_for(port, dir->path());
                spec.cwd = dir->path();
                spec.log = log;
                spec.cpu = cpu;
                proc = std::make_unique<child_process>(spec);
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
    child_spec spec;
    spec.argv = argv;
    spec.cwd = cwd;
    spec.log = log;
    spec.pipe_stdout = true;
    child_process child(spec);
    if (!child.read_until(timeout_s, [](const std::string&) { return false; })) {
        error = argv[0] + " timed out after " + std::to_string(int(timeout_s)) + " s";
        return child.text();  // child is killed and reaped by its destructor
    }
    if (!child.wait_for(std::chrono::duration<double>(timeout_s))) {
        error = argv[0] + " did not exit";
        return child.text();
    }
    if (child.exit_code() != 0) error = argv[0] + " exit " + std::to_string(child.exit_code()) + ": " + last_line(log);
    return child.text();
}

}  // namespace sy::realserver
