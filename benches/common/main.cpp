// Common main for every bench executable.
//
// Parses switchyard's own flags, registers the workloads, runs Google
// Benchmark, and exits non-zero when any benchmark reported an error that is
// not a "skipped: ..." case -- Google Benchmark alone exits 0 even when a
// checksum check failed, which would let a wrong number through.
#include "benches/common/bench.hpp"

#include <sys/prctl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "runners/models.hpp"

namespace sy::bench {

namespace {
options g_opts;

struct workload_entry {
    const char* name;
    void (*fn)();
};
std::vector<workload_entry>& workloads() {
    static std::vector<workload_entry> w;
    return w;
}

// Counts real errors (not "skipped: ...") while reporting in Base's format.
struct error_count {
    int failures = 0;
    int skips = 0;
};

template <class Base>
class tracking_reporter : public Base {
public:
    template <class... A>
    explicit tracking_reporter(error_count& c, A... args) : Base(args...), count_(c) {}
    void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run>& runs) override {
        for (const auto& r : runs) {
            if (!r.error_occurred) continue;
            if (r.error_message.rfind("skipped: ", 0) == 0)
                ++count_.skips;
            else
                ++count_.failures;
        }
        Base::ReportRuns(runs);
    }

private:
    error_count& count_;
};

// The display reporter for --benchmark_format (console or json; Google
// Benchmark deprecated csv, which falls back to console here).
std::unique_ptr<benchmark::BenchmarkReporter> make_reporter(int argc, char** argv, bool color,
                                                            error_count& count) {
    std::string format = "console";
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--benchmark_format=", 19) == 0) format = argv[i] + 19;
    if (format == "json") return std::make_unique<tracking_reporter<benchmark::JSONReporter>>(count);
    return std::make_unique<tracking_reporter<benchmark::ConsoleReporter>>(
        count, color ? benchmark::ConsoleReporter::OO_ColorTabular : benchmark::ConsoleReporter::OO_Tabular);
}

[[noreturn]] void usage_error(const std::string& msg) {
    std::fprintf(stderr, "%s\n", msg.c_str());
    std::exit(2);
}

// Removes --sy_* flags from argv, leaving Google Benchmark's own.
void parse_own_flags(int& argc, char** argv) {
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if (a.rfind("--sy_", 0) != 0) {
            argv[out++] = argv[i];
            continue;
        }
        if (a == "--sy_smoke") {
            g_opts.size = tier::smoke;
        } else if (a == "--sy_quick") {
            g_opts.size = tier::quick;
        } else if (a.rfind("--sy_models=", 0) == 0) {
            std::string list = a.substr(std::strlen("--sy_models="));
            size_t pos = 0;
            while (pos <= list.size()) {
                size_t comma = list.find(',', pos);
                if (comma == std::string::npos) comma = list.size();
                std::string m = list.substr(pos, comma - pos);
                if (!m.empty()) {
                    if (!sy::is_known_model(m))
                        usage_error("unknown model '" + m + "' (known: " +
                                    sy::known_models_text() + ")");
                    g_opts.models.insert(m);
                }
                pos = comma + 1;
            }
        } else if (a.rfind("--sy_iterations=", 0) == 0) {
            const char* text = a.c_str() + std::strlen("--sy_iterations=");
            char* end = nullptr;
            long long n = std::strtoll(text, &end, 10);
            if (*text == '\0' || *end != '\0' || n < 1)
                usage_error("--sy_iterations: not a positive whole number: '" +
                            std::string(text) + "'");
            g_opts.iterations = n;
        } else if (a.rfind("--sy_repetitions=", 0) == 0) {
            const char* text = a.c_str() + std::strlen("--sy_repetitions=");
            char* end = nullptr;
            long n = std::strtol(text, &end, 10);
            if (*text == '\0' || *end != '\0' || n < 1 || n > 1000)
                usage_error("--sy_repetitions: not a whole number from 1 to 1000: '" +
                            std::string(text) + "'");
            g_opts.repetitions = int(n);
        } else if (a == "--sy_profile") {
            g_opts.profile = true;
        } else if (a == "--sy_long_open") {
            g_opts.long_open = true;
        } else if (a == "--sy_full") {
            g_opts.full = true;
        } else if (a == "--sy_list_models") {
            for (auto m : sy::enabled_models()) std::printf("%s\n", std::string(m).c_str());
            std::exit(0);
        } else {
            usage_error("unknown flag '" + a +
                        "' (switchyard flags: --sy_smoke --sy_quick --sy_models=LIST "
                        "--sy_iterations=N --sy_repetitions=N --sy_profile --sy_long_open --sy_full --sy_list_models)");
        }
    }
    argc = out;
    argv[argc] = nullptr;
}
}  // namespace

// --benchmark_color=true|false|auto (Google Benchmark's flag; our reporter
// must honour it itself); auto: colour only on a terminal.
bool want_color(int argc, char** argv) {
    std::string v = "auto";
    for (int i = 1; i < argc; ++i)
        if (std::strncmp(argv[i], "--benchmark_color=", 18) == 0) v = argv[i] + 18;
    if (v == "true" || v == "yes" || v == "1") return true;
    if (v == "false" || v == "no" || v == "0") return false;
    return isatty(STDOUT_FILENO) != 0;
}

const options& opts() { return g_opts; }

workload_registrar::workload_registrar(const char* name, void (*fn)()) {
    workloads().push_back({name, fn});
}

}  // namespace sy::bench

int main(int argc, char** argv) {
    // Timer slack 1 ns before anything is timed: the kernel's default 50 us
    // delays nanosleep and epoll_pwait2 wake-ups but not io_uring's timed
    // waits, so sleep lateness would differ by backend, not by model.
    ::prctl(PR_SET_TIMERSLACK, sy::bench::kTimerSlackNs);
    sy::bench::parse_own_flags(argc, argv);
    // No separate warm-up phase by default. Google Benchmark's iteration-count
    // estimation runs each adaptive benchmark before the run it reports (that
    // is the warm-up), and a fixed-iteration benchmark (Iterations(n)) has no
    // such runs, so its repetition 0 is the cold one. (A per-benchmark
    // MinWarmUpTime(0) cannot override a global warm-up flag in Google
    // Benchmark 1.7.1, so a global default would make every run warm.)
    bool color = sy::bench::want_color(argc, argv);
    sy::bench::error_count errors;
    auto reporter = sy::bench::make_reporter(argc, argv, color, errors);
    benchmark::Initialize(&argc, argv);
    benchmark::AddCustomContext("timer_slack_ns", std::to_string(::prctl(PR_GET_TIMERSLACK)));
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    for (auto& w : sy::bench::workloads()) w.fn();
    size_t ran = benchmark::RunSpecifiedBenchmarks(reporter.get());
    benchmark::Shutdown();
    if (errors.failures > 0) {
        std::fprintf(stderr, "switchyard: %d benchmark(s) failed their checks\n", errors.failures);
        return 1;
    }
    if (ran == 0) std::fprintf(stderr, "switchyard: no benchmark matched\n");
    return 0;
}
