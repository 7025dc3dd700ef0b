// The Python clients of the real-server benches (runners/peers/py_*.py: the
// tutorial's libraries -- redis.asyncio, aiohttp, aiomysql), run as rows of
// the bench that owns the private server, beside its C++ models.
//
// What one case does, per iteration: starts `/usr/bin/python3 <peers>/<script>
// --host 127.0.0.1 --port <server's> <args> --timeout <s>` as a child of the
// bench (sy::child_process: it dies with the bench), pinned to the client CPU
// like every C++ client (client_pin), reads its one JSON line within
// kRunTimeoutS (then it is killed: a bounded wait), and checks it: exit 0,
// requests and checksum equal to what the C++ rows of the same case must
// reach, errors 0 -- else the case fails with the client's own reason. The
// iteration's time is the client's `elapsed_ns`: the timed part only, its
// connections made before it and the interpreter's start-up left out
// (manual time). Cases run one iteration (one child) per repetition, like
// wrk's row: the driver's repetitions are separate bench processes anyway.
//
// Skips: SY_NO_PEERS=1 (through shared_server), /usr/bin/python3 or the
// library (or uvloop, for loop:uvloop) not importable -- with the apt package
// to install.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "benches/common/bench.hpp"
#include "benches/common/child_process.hpp"
#include "benches/realserver/process.hpp"

#ifndef SY_SOURCE_DIR
#error "pyclient.hpp needs SY_SOURCE_DIR (benches/CMakeLists.txt)"
#endif

namespace sy::realserver::py {

constexpr const char* kPython = "/usr/bin/python3";
constexpr double kRunTimeoutS = 60;   // one client run, start-up included; the program's own bound
constexpr double kExitTimeoutS = 5;   // from its JSON line to its exit

// The event loops a case runs on: asyncio's default loop (the tutorial's)
// in the default run, and uvloop as well under `run --full` and in the smoke
// (which checks both paths): the default run's 15-minute budget.
inline std::vector<std::string> loops() {
    if (sy::bench::opts().full || sy::bench::opts().size == sy::bench::tier::smoke) return {"asyncio", "uvloop"};
    return {"asyncio"};
}

// runners/peers: $SY_PEERS_DIR (set by the driver), else the source tree's.
inline std::string peers_dir() {
    const char* v = std::getenv("SY_PEERS_DIR");
    return v && *v ? v : std::string(SY_SOURCE_DIR) + "/runners/peers";
}

// "" when `module` imports with /usr/bin/python3, else why (asked once per
// module per bench process).
inline std::string missing_module(const std::string& module, const std::string& apt) {
    static std::map<std::string, std::string> known;
    auto it = known.find(module);
    if (it != known.end()) return it->second;
    std::string why;
    if (access(kPython, X_OK) != 0) {
        why = std::string(kPython) + " is missing (apt-get install python3)";
    } else {
        child_spec spec;
        spec.argv = {kPython, "-c", "import " + module};
        spec.log = "/dev/null";
        child_process check(spec);
        if (!check.wait_for(std::chrono::duration<double>(kRunTimeoutS)) || check.exit_code() != 0)
            why = "Python module " + module + " is not installed (apt-get install " + apt + ")";
    }
    return known.emplace(module, why).first->second;
}

// What a client run must have done: the same as the C++ rows of the case.
struct expected {
    std::uint64_t requests = 0;
    std::uint64_t checksum = 0;
};

// One client run: its JSON, or `error` set to a one-line reason.
inline nlohmann::json run_once(const std::vector<std::string>& argv, std::string& error) {
    child_spec spec;
    spec.argv = argv;
    spec.pipe_stdout = true;
    spec.pipe_stderr = true;
    child_process child(spec);  // stopped and reaped by its destructor on every path
    const bool answered = child.read_until(kRunTimeoutS, [](const std::string& t) {
        return t.find('\n') != std::string::npos;
    });
    if (!answered) {
        error = "no result within " + std::to_string(int(kRunTimeoutS)) + " s (killed)";
        return {};
    }
    if (!child.wait_for(std::chrono::duration<double>(kExitTimeoutS))) {
        error = "did not exit after its result (killed)";
        return {};
    }
    const std::string line = child.text().substr(0, child.text().find('\n'));
    nlohmann::json out = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (!out.is_object()) {
        const std::string tail = child.stderr_tail();
        error = "exit " + std::to_string(child.exit_code()) + ": " + (tail.empty() ? "no JSON result" : tail);
        return {};
    }
    if (out.value("errors", std::uint64_t(0)) > 0) {
        error = std::to_string(out.value("errors", std::uint64_t(0))) +
                " wrong replies, first: " + out.value("first_error", std::string("?"));
        return {};
    }
    if (child.exit_code() != 0) {
        error = "exit " + std::to_string(child.exit_code()) + ": " + child.stderr_tail();
        return {};
    }
    return out;
}

// One Python client case against server `srv` (a managed_server that runs):
// `script` in runners/peers with `args`, run once per iteration, checked
// against `want`. `module` / `apt`: the library and its package; `loop`:
// asyncio or uvloop (then python3-uvloop is needed too).
inline void run_case(benchmark::State& state, const managed_server& srv, const std::string& script,
                     const std::vector<std::string>& args, const std::string& loop, const expected& want,
                     const std::string& module, const std::string& apt) {
    for (const auto& [mod, pkg] : {std::pair{module, apt}, std::pair<std::string, std::string>{"uvloop", "python3-uvloop"}}) {
        if (mod == "uvloop" && loop != "uvloop") continue;
        if (std::string why = missing_module(mod, pkg); !why.empty()) return sy::bench::skip(state, why);
    }
    std::vector<std::string> argv = {kPython, peers_dir() + "/" + script, "--host", "127.0.0.1",
                                     "--port", std::to_string(srv.port), "--loop", loop,
                                     "--timeout", std::to_string(int(kRunTimeoutS))};
    argv.insert(argv.end(), args.begin(), args.end());
    const client_pin pin(srv);  // the child inherits the client CPU
    std::string versions;  // "redis 4.3.4": the row's label
    double concurrency = 0;
    for (auto _ : state) {
        std::string error;
        const nlohmann::json out = run_once(argv, error);
        if (!error.empty()) return state.SkipWithError((script + ": " + error).c_str());
        const auto requests = out.value("requests", std::uint64_t(0));
        const auto checksum = out.value("checksum", std::uint64_t(0));
        const auto elapsed_ns = out.value("elapsed_ns", std::uint64_t(0));
        if (!sy::bench::expect_eq(state, "requests", requests, want.requests)) return;
        if (!sy::bench::expect_eq(state, "checksum", checksum, want.checksum)) return;
        if (elapsed_ns == 0) return state.SkipWithError((script + ": elapsed_ns missing or 0").c_str());
        state.SetIterationTime(double(elapsed_ns) / 1e9);
        concurrency = out.value("concurrency", 0.0);
        versions.clear();
        const nlohmann::json libs = out.value("versions", nlohmann::json::object());
        for (const auto& [lib, version] : libs.items())
            versions += (versions.empty() ? "" : " ") + lib + " " + version.get<std::string>();
    }
    sy::bench::counter(state, "requests", double(want.requests));
    sy::bench::counter(state, "checksum", double(want.checksum));
    sy::bench::counter(state, "errors", 0);
    sy::bench::counter(state, "concurrency", concurrency);
    sy::bench::counter(state, "pinned", pin.pinned() ? 1 : 0);
    state.SetItemsProcessed(std::int64_t(want.requests) * std::int64_t(state.iterations()));
    state.SetLabel(versions);
}

// Python rows are left out with --sy_models (as bench_echo leaves its peers
// out): they are no C++ model.
inline bool wanted() { return sy::bench::opts().models.empty(); }

}  // namespace sy::realserver::py
