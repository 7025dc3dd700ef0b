// Monotonic clock in nanoseconds (CLOCK_MONOTONIC through the vDSO, ~28 ns).
#pragma once

#include <chrono>
#include <cstdint>

namespace sy::detail {

inline std::uint64_t now_ns() {
    return std::uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count());
}

inline constexpr std::uint64_t kForever = UINT64_MAX;

}  // namespace sy::detail
