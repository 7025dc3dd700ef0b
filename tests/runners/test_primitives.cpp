// Unit tests of the runners' building blocks, apart from any model: the
// frame pool (blocks stay inside their chunks, are aligned, do not overlap,
// are reused) and the timer wheel (never early, at most one tick late, in
// every level, with cancellation and re-filing beyond its range).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "runners/detail/frame_pool.hpp"
#include "runners/detail/timer_wheel.hpp"

namespace {

using sy::detail::frame_pool;
using sy::detail::timer_node;
using sy::detail::timer_wheel;

// The pool itself (every build; sanitizer builds only route frames around it).
TEST(FramePool, BlocksAreAlignedInsideChunksAndDisjoint) {
    frame_pool pool;
    std::mt19937 rng(42);
    std::uniform_int_distribution<std::size_t> size(1, sy::detail::kMaxPooledBlock - sy::detail::kBlockHeader);
    struct block {
        char* p;
        std::size_t n;
    };
    std::vector<block> blocks;
    // Enough to fill several 1 MiB chunks, so many blocks end near a chunk end.
    for (int i = 0; i < 20000; ++i) {
        std::size_t n = size(rng) + sy::detail::kBlockHeader;  // as pooled_allocate asks
        auto* p = static_cast<char*>(pool.allocate(n));
        ASSERT_EQ(reinterpret_cast<std::uintptr_t>(p + sy::detail::kBlockHeader) % 16, 0u)
            << "the object after the header must be 16-byte aligned";
        std::fill(p, p + n, char(i));  // would fault past a chunk's end
        blocks.push_back({p, n});
    }
    EXPECT_GT(pool.reserved_bytes(), 4u << 20);
    std::sort(blocks.begin(), blocks.end(), [](auto& a, auto& b) { return a.p < b.p; });
    for (std::size_t i = 1; i < blocks.size(); ++i)
        ASSERT_LE(blocks[i - 1].p + blocks[i - 1].n, blocks[i].p) << "blocks overlap";
    for (auto& b : blocks) pool.deallocate(b.p, b.n);
    EXPECT_EQ(pool.live_blocks(), 0u);
    // Freed blocks are reused before new memory is carved.
    std::size_t reserved = pool.reserved_bytes();
    void* again = pool.allocate(100);
    EXPECT_EQ(pool.reserved_bytes(), reserved);
    pool.deallocate(again, 100);
}

TEST(FramePool, BlocksFromTheHeapAndThePoolMixSafely) {
#if defined(SY_SANITIZE)
    GTEST_SKIP() << "sanitizer builds allocate every frame from the heap (so ASan sees them)";
#endif
    void* heap = sy::detail::pooled_allocate(64);  // no current pool: heap
    frame_pool pool;
    {
        sy::detail::frame_pool_scope scope(&pool);
        void* pooled = sy::detail::pooled_allocate(64);
        sy::detail::pooled_deallocate(heap, 64);  // freed while a pool is current
        heap = nullptr;
        EXPECT_EQ(pool.live_blocks(), 1u);
        sy::detail::pooled_deallocate(pooled, 64);
    }
    EXPECT_EQ(pool.live_blocks(), 0u);
}

// Timer wheel: a fake clock, timers at many distances, each must fire at
// the first advance() at or after its deadline, within one tick.
struct test_timer : timer_node {
    std::uint64_t fired_at = 0;
    std::uint64_t* clock = nullptr;
};

TEST(TimerWheel, FiresNeverEarlyAndAtMostOneTickLateAtEveryLevel) {
    constexpr std::uint64_t kStart = 1'000'000'000;
    std::uint64_t clock = kStart;
    timer_wheel wheel(clock);
    std::mt19937_64 rng(7);
    // Distances from microseconds to beyond the wheel's range (~6 days).
    std::vector<std::uint64_t> delays;
    for (int i = 0; i < 2000; ++i) delays.push_back(std::uint64_t(std::exp2(rng() % 50)) + rng() % 1000);
    std::vector<test_timer> timers(delays.size());
    for (std::size_t i = 0; i < delays.size(); ++i) {
        timers[i].deadline_ns = clock + delays[i];
        timers[i].clock = &clock;
        timers[i].fire = [](timer_node* n) {
            auto* t = static_cast<test_timer*>(n);
            t->fired_at = *t->clock;
        };
        wheel.insert(&timers[i]);
    }
    // Advance by uneven steps, as a loop does, until every timer fired.
    while (!wheel.empty()) {
        std::uint64_t next = wheel.next_expiry_ns();
        ASSERT_NE(next, UINT64_MAX);
        clock = std::max(clock + 1, next) + rng() % 1000;
        wheel.advance(clock);
    }
    for (auto& t : timers) {
        ASSERT_GE(t.fired_at, t.deadline_ns) << "fired early";
        ASSERT_LE(t.fired_at, t.deadline_ns + 2 * sy::detail::kWheelTickNs + 1000)
            << "fired more than a tick late (deadline " << t.deadline_ns - kStart << " ns)";
    }
}

TEST(TimerWheel, CancelledTimersDoNotFire) {
    std::uint64_t clock = 0;
    timer_wheel wheel(clock);
    int fired = 0;
    struct counting : timer_node {
        int* count;
    };
    std::vector<counting> ts(100);
    for (std::size_t i = 0; i < ts.size(); ++i) {
        ts[i].deadline_ns = 1'000'000 * (i + 1);
        ts[i].count = &fired;
        ts[i].fire = [](timer_node* n) { ++*static_cast<counting*>(n)->count; };
        wheel.insert(&ts[i]);
    }
    for (std::size_t i = 0; i < ts.size(); i += 2) wheel.cancel(&ts[i]);
    EXPECT_EQ(wheel.size(), 50u);
    wheel.advance(1'000'000'000);
    EXPECT_EQ(fired, 50);
    EXPECT_TRUE(wheel.empty());
}

}  // namespace
