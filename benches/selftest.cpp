// selftest: a test-only bench (built with -DSY_SELFTEST=ON, never in the
// default build) that lets the driver's tests provoke each failure the
// watchdog must handle. SY_SELFTEST_FAULT selects it:
//   hang      sleep forever inside the timed loop (watchdog timeout)
//   crash     abort() (a crashed bench process)
//   mismatch  report a wrong checksum (a failed check, exit status 1)
//   skip      report a skipped case (not a failure)
// Unset, it does a trivial checked loop, so the ctest smoke run passes.
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "benches/common/bench.hpp"

namespace {

constexpr std::uint64_t kWork = 1000;

void fault(benchmark::State& state) {
    const char* env = std::getenv("SY_SELFTEST_FAULT");
    std::string mode = env ? env : "";
    if (mode == "skip") return sy::bench::skip(state, "selftest asked to skip");
    std::uint64_t sum = 0;
    for (auto _ : state) {
        if (mode == "hang")
            for (;;) pause();
        if (mode == "crash") std::abort();
        sum = 0;
        for (std::uint64_t i = 1; i <= kWork; ++i) benchmark::DoNotOptimize(sum += i);
    }
    std::uint64_t want = kWork * (kWork + 1) / 2;
    if (mode == "mismatch") want += 1;
    if (sy::bench::expect_eq(state, "checksum", sum, want))
        sy::bench::counter(state, "checksum", double(sum));
}

}  // namespace

SY_WORKLOAD(selftest) { sy::bench::add("selftest/fault", fault); }
