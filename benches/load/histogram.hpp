// Log-linear latency histogram (HdrHistogram-style) over unsigned 64-bit
// values, meant for nanoseconds. Header-only so the echo bench can reuse it.
//
// Usage:
//   sy::load::log_histogram h;
//   h.record(latency_ns);                 // O(1), no allocation
//   h.merge(other);
//   h.percentile(99.9);  h.max();  h.count();
//
// Layout: values below 2^(kSubBits+1) = 256 get one bucket each (exact). Above
// that, every power of two [2^e, 2^(e+1)) is split into kSubBuckets = 128
// equal sub-buckets of width 2^(e-7), so a bucket is at most 1/128 of its lower
// bound wide. A percentile is reported as the bucket's midpoint (clamped to
// the recorded min/max): relative error <= 1/256 (0.39%), well inside the 1%
// the echo benchmark promises. max() and min() are exact. The whole 64-bit
// range is covered (7424 buckets, 58 KiB), so nothing is ever clamped.
//
// Percentile definition (as HdrHistogram): the value of the sample of rank
// ceil(p/100 * count) in sorted order (rank 1 for p = 0); p = 100 is max().
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace sy::load {

class log_histogram {
public:
    static constexpr unsigned kSubBits = 7;
    static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBits;   // 128 per octave
    static constexpr std::uint64_t kLinearLimit = kSubBuckets * 2;              // 256: exact below
    static constexpr unsigned kFirstLogExp = kSubBits + 1;                       // 8
    static constexpr std::size_t kBuckets =
        kLinearLimit + (64 - kFirstLogExp) * kSubBuckets;                        // 7424

    log_histogram() : counts_(kBuckets, 0) {}

    // Index of the bucket holding v.
    static constexpr std::size_t bucket_index(std::uint64_t v) {
        if (v < kLinearLimit) return static_cast<std::size_t>(v);
        const unsigned e = 63u - static_cast<unsigned>(std::countl_zero(v));   // floor(log2 v) >= 8
        const unsigned shift = e - kSubBits;
        const std::uint64_t mantissa = v >> shift;                              // [128, 256)
        return static_cast<std::size_t>(kLinearLimit + (e - kFirstLogExp) * kSubBuckets +
                                        (mantissa - kSubBuckets));
    }
    // Smallest value in bucket i.
    static constexpr std::uint64_t bucket_lower(std::size_t i) {
        if (i < kLinearLimit) return i;
        const std::size_t j = i - kLinearLimit;
        const unsigned e = kFirstLogExp + static_cast<unsigned>(j / kSubBuckets);
        const std::uint64_t mantissa = kSubBuckets + j % kSubBuckets;
        return mantissa << (e - kSubBits);
    }
    // Largest value in bucket i (inclusive).
    static constexpr std::uint64_t bucket_upper(std::size_t i) {
        if (i < kLinearLimit) return i;
        const std::size_t j = i - kLinearLimit;
        const unsigned e = kFirstLogExp + static_cast<unsigned>(j / kSubBuckets);
        return bucket_lower(i) + ((std::uint64_t{1} << (e - kSubBits)) - 1);
    }
    // The value reported for bucket i: its midpoint.
    static constexpr std::uint64_t bucket_value(std::size_t i) {
        const std::uint64_t lo = bucket_lower(i);
        return lo + (bucket_upper(i) - lo) / 2;
    }

    void record(std::uint64_t v) { record_n(v, 1); }
    void record_n(std::uint64_t v, std::uint64_t n) {
        if (n == 0) return;
        counts_[bucket_index(v)] += n;
        total_ += n;
        sum_ += static_cast<long double>(v) * static_cast<long double>(n);
        min_ = std::min(min_, v);
        max_ = std::max(max_, v);
    }
    void merge(const log_histogram& o) {
        if (o.total_ == 0) return;
        for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += o.counts_[i];
        total_ += o.total_;
        sum_ += o.sum_;
        min_ = std::min(min_, o.min_);
        max_ = std::max(max_, o.max_);
    }
    void reset() {
        std::fill(counts_.begin(), counts_.end(), 0);
        total_ = 0;
        sum_ = 0;
        min_ = std::numeric_limits<std::uint64_t>::max();
        max_ = 0;
    }

    std::uint64_t count() const { return total_; }
    std::uint64_t max() const { return total_ ? max_ : 0; }
    std::uint64_t min() const { return total_ ? min_ : 0; }
    double mean() const { return total_ ? static_cast<double>(sum_ / total_) : 0.0; }

    // Value at percentile p in [0, 100]; 0 when empty.
    std::uint64_t percentile(double p) const {
        if (total_ == 0) return 0;
        if (!(p < 100.0)) return max_;
        if (p < 0.0) p = 0.0;
        auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
        rank = std::clamp<std::uint64_t>(rank, 1, total_);
        std::uint64_t seen = 0;
        for (std::size_t i = bucket_index(min_); i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) return std::clamp(bucket_value(i), min_, max_);
        }
        return max_;
    }

private:
    std::vector<std::uint64_t> counts_;
    std::uint64_t total_ = 0;
    long double sum_ = 0;
    std::uint64_t min_ = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t max_ = 0;
};

}  // namespace sy::load
