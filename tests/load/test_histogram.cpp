// Tests of the load generator's log-linear latency histogram
// (benches/load/histogram.hpp): bucket geometry, <= 1% relative error on
// random values from 1 ns to 60 s, percentiles of known distributions against
// exact sorted percentiles, exact min/max, merge and reset.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "benches/load/histogram.hpp"

namespace {

using sy::load::log_histogram;

constexpr double kMaxRelError = 0.01;            // what the echo benchmark promises
constexpr double kDesignRelError = 1.0 / 256.0;  // midpoint of a bucket <= 1/128 wide
constexpr std::uint64_t kSixtySecondsNs = 60'000'000'000ull;
constexpr std::size_t kRandomSamples = 200'000;
constexpr double kPercentiles[] = {0, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

// Log-uniform values in [1 ns, 60 s].
std::vector<std::uint64_t> log_uniform(std::size_t n, std::uint32_t seed) {
    std::mt19937_64 rng(seed);
    std::uniform_real_distribution<double> u(0.0, std::log(static_cast<double>(kSixtySecondsNs)));
    std::vector<std::uint64_t> v(n);
    for (auto& x : v) x = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::exp(u(rng))));
    return v;
}

// Nearest-rank percentile of sorted values (HdrHistogram's definition).
std::uint64_t exact_percentile(const std::vector<std::uint64_t>& sorted, double p) {
    if (p >= 100) return sorted.back();
    auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
    rank = std::clamp<std::size_t>(rank, 1, sorted.size());
    return sorted[rank - 1];
}

double rel_error(std::uint64_t got, std::uint64_t want) {
    return std::fabs(static_cast<double>(got) - static_cast<double>(want)) / static_cast<double>(want);
}

TEST(Histogram, BucketGeometryCoversEveryValueWithinOnePercent) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 100'000; ++i) {
        const std::uint64_t v = rng() >> (rng() % 64);
        const std::size_t b = log_histogram::bucket_index(v);
        ASSERT_LT(b, log_histogram::kBuckets);
        ASSERT_LE(log_histogram::bucket_lower(b), v);
        ASSERT_GE(log_histogram::bucket_upper(b), v);
        const double width = static_cast<double>(log_histogram::bucket_upper(b) - log_histogram::bucket_lower(b) + 1);
        if (v >= log_histogram::kLinearLimit) {
            ASSERT_LE(width / static_cast<double>(log_histogram::bucket_lower(b)), 1.0 / 128.0) << v;
        }
    }
    // Contiguous: each bucket starts right after the previous one ends.
    for (std::size_t b = 1; b < log_histogram::kBuckets; ++b)
        ASSERT_EQ(log_histogram::bucket_lower(b), log_histogram::bucket_upper(b - 1) + 1) << b;
    EXPECT_EQ(log_histogram::bucket_index(std::numeric_limits<std::uint64_t>::max()), log_histogram::kBuckets - 1);
    EXPECT_EQ(log_histogram::bucket_upper(log_histogram::kBuckets - 1), std::numeric_limits<std::uint64_t>::max());
}

TEST(Histogram, SingleValuesWithinOnePercentFrom1nsTo60s) {
    for (std::uint64_t v : log_uniform(20'000, 11)) {
        log_histogram h;
        h.record(v);
        h.record(v);  // two samples so min/max clamping does not hide the bucket error
        log_histogram wide;
        wide.record(1);
        wide.record(v);
        wide.record(std::numeric_limits<std::uint64_t>::max());
        ASSERT_EQ(h.percentile(50), v);  // clamped to [min, max] = v
        ASSERT_LE(rel_error(wide.percentile(50), v), kDesignRelError + 1e-12) << v;
    }
    // Below 256 every value has its own bucket: exact.
    for (std::uint64_t v = 0; v < log_histogram::kLinearLimit; ++v) {
        log_histogram h;
        h.record(0);
        h.record(v);
        h.record(1'000'000);
        ASSERT_EQ(h.percentile(50), v);
    }
}

TEST(Histogram, RandomPercentilesWithinOnePercentOfExact) {
    for (std::uint32_t seed : {1u, 2u, 3u}) {
        auto v = log_uniform(kRandomSamples, seed);
        log_histogram h;
        for (auto x : v) h.record(x);
        std::sort(v.begin(), v.end());
        ASSERT_EQ(h.count(), v.size());
        for (double p : kPercentiles) {
            const std::uint64_t want = exact_percentile(v, p);
            const std::uint64_t got = h.percentile(p);
            EXPECT_LE(rel_error(got, want), kMaxRelError) << "p" << p << " seed " << seed;
            EXPECT_LE(rel_error(got, want), kDesignRelError + 1e-12) << "p" << p << " seed " << seed;
        }
    }
}

TEST(Histogram, KnownDistributions) {
    // Uniform: every integer 1..100000 once, so the p-th percentile is 1000 * p.
    log_histogram u;
    for (std::uint64_t v = 1; v <= 100'000; ++v) u.record(v);
    for (double p : {10.0, 50.0, 90.0, 99.0, 99.9})
        EXPECT_LE(rel_error(u.percentile(p), static_cast<std::uint64_t>(1000 * p)), kMaxRelError) << p;
    EXPECT_EQ(u.percentile(100), 100'000u);
    EXPECT_EQ(u.percentile(0), 1u);
    EXPECT_NEAR(u.mean(), 50'000.5, 1e-6);

    // Exponential, mean 1 ms: quantile(p) = -mean * ln(1 - p); 1M samples.
    std::mt19937_64 rng(5);
    std::exponential_distribution<double> e(1.0 / 1e6);
    log_histogram x;
    std::vector<std::uint64_t> all;
    for (int i = 0; i < 1'000'000; ++i) {
        const auto v = static_cast<std::uint64_t>(e(rng)) + 1;
        x.record(v);
        all.push_back(v);
    }
    std::sort(all.begin(), all.end());
    for (double p : {50.0, 90.0, 99.0, 99.9}) {
        EXPECT_LE(rel_error(x.percentile(p), exact_percentile(all, p)), kMaxRelError) << p;
        const double theory = -1e6 * std::log(1 - p / 100);
        EXPECT_NEAR(static_cast<double>(x.percentile(p)) / theory, 1.0, 0.05) << p;  // sampling noise
    }

    // Bimodal: 99% at 10 us, 1% at 5 ms: p50/p90 in the first mode, p99.9 in the second.
    log_histogram b;
    b.record_n(10'000, 9'900);
    b.record_n(5'000'000, 100);
    EXPECT_LE(rel_error(b.percentile(50), 10'000), kDesignRelError);
    EXPECT_LE(rel_error(b.percentile(99), 10'000), kDesignRelError);
    EXPECT_LE(rel_error(b.percentile(99.9), 5'000'000), kDesignRelError);
    EXPECT_EQ(b.max(), 5'000'000u);
}

TEST(Histogram, MinAndMaxAreExact) {
    auto v = log_uniform(50'000, 9);
    v.push_back(59'999'999'937ull);  // an odd value near 60 s: not a bucket boundary
    log_histogram h;
    for (auto x : v) h.record(x);
    EXPECT_EQ(h.max(), *std::max_element(v.begin(), v.end()));
    EXPECT_EQ(h.min(), *std::min_element(v.begin(), v.end()));
    EXPECT_EQ(h.percentile(100), h.max());
    h.record(std::numeric_limits<std::uint64_t>::max());
    EXPECT_EQ(h.max(), std::numeric_limits<std::uint64_t>::max());
}

TEST(Histogram, MergeEqualsRecordingEverything) {
    const auto a = log_uniform(30'000, 21), b = log_uniform(20'000, 22);
    log_histogram ha, hb, all;
    for (auto x : a) ha.record(x), all.record(x);
    for (auto x : b) hb.record(x), all.record(x);
    ha.merge(hb);
    EXPECT_EQ(ha.count(), all.count());
    EXPECT_EQ(ha.max(), all.max());
    EXPECT_EQ(ha.min(), all.min());
    for (double p : kPercentiles) EXPECT_EQ(ha.percentile(p), all.percentile(p)) << p;
    log_histogram empty;
    ha.merge(empty);
    EXPECT_EQ(ha.count(), all.count());
}

TEST(Histogram, EmptyAndReset) {
    log_histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.percentile(50), 0u);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.min(), 0u);
    EXPECT_EQ(h.mean(), 0.0);
    h.record(12345);
    h.record_n(7, 0);  // no-op
    EXPECT_EQ(h.count(), 1u);
    h.reset();
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.max(), 0u);
    h.record(3);
    EXPECT_EQ(h.min(), 3u);
    EXPECT_EQ(h.percentile(99.9), 3u);
}

}  // namespace
