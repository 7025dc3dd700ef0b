// Unit tests of the runners' building blocks, apart from any model: the
// frame pool (blocks stay inside their chunks, are aligned, do not overlap,
// are reused) and the timer wheel (never early, at most one tick late, in
// every level, with cancellation and re-filing beyond its range) and the
// ready queue (FIFO order kept through growth and take_recent's holes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <deque>
#include <map>
#include <random>
#include <vector>

#include "runners/detail/frame_pool.hpp"
#include "runners/detail/ring_queue.hpp"
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
    EXPECT_EQ(pool.live_blocks(), 0);
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
        EXPECT_EQ(pool.live_blocks(), 1);
        sy::detail::pooled_deallocate(pooled, 64);
    }
    EXPECT_EQ(pool.live_blocks(), 0);
}

// A frame made on one worker and ended on another goes to the second one's
// pool; a pool that only frees hands full batches to the group, and a pool
// that only allocates takes them back before it carves new memory (so a
// producer/consumer pair of workers does not grow for ever).
TEST(FramePool, GroupMembersTradeBlocksWithoutGrowing) {
#if defined(SY_SANITIZE)
    GTEST_SKIP() << "sanitizer builds allocate every frame from the heap (so ASan sees them)";
#endif
    constexpr std::size_t kObject = 100;
    constexpr int kRounds = 8;
    const int n = int(sy::detail::kSpillBlocks + sy::detail::kTransferBatch);
    sy::detail::frame_pool_group group(2);
    frame_pool& maker = group.member(0);
    frame_pool& ender = group.member(1);
    std::vector<void*> blocks(std::size_t(n), nullptr);
    std::size_t reserved_after_first = 0;
    for (int round = 0; round < kRounds; ++round) {
        {
            sy::detail::frame_pool_scope on_maker(&maker);
            for (auto& b : blocks) b = sy::detail::pooled_allocate(kObject);
        }
        {
            sy::detail::frame_pool_scope on_ender(&ender);
            for (auto* b : blocks) sy::detail::pooled_deallocate(b, kObject);
        }
        EXPECT_EQ(group.live_blocks(), 0) << "round " << round;
        EXPECT_EQ(maker.live_blocks(), std::int64_t(n) * (round + 1))
            << "every block ended on the other member";
        if (round == 0) reserved_after_first = group.reserved_bytes();
    }
    EXPECT_EQ(ender.reserved_bytes(), 0u) << "the ender never carved";
    // The maker carves the first round, then lives on the batches the ender
    // spilled: at most one round's worth more (what stays under the ender's
    // spill threshold), not kRounds times as much.
    EXPECT_LE(group.reserved_bytes(), 2 * reserved_after_first + sy::detail::kFrameChunkBytes);
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

// ---- ring_queue ---------------------------------------------------------------------
// Random pushes, pops and take_recent against a std::deque model, from a tiny
// initial capacity so it grows many times with holes inside.
TEST(RingQueue, MatchesADequeThroughGrowthAndTakenEntries) {
    sy::detail::ring_queue<std::uintptr_t> q(1);
    std::deque<std::uintptr_t> model;
    std::mt19937_64 rng(7);
    std::uintptr_t next = 1;  // 0 is the empty value, never pushed
    std::size_t taken = 0, missed = 0;
    for (int step = 0; step < 200'000; ++step) {
        const unsigned op = unsigned(rng() % 10);
        if (op < 5) {
            q.push(next);
            model.push_back(next++);
        } else if (op < 8) {
            if (model.empty()) continue;
            ASSERT_EQ(q.pop(), model.front());
            model.pop_front();
        } else {
            // a value among the last few pushed (or one that is gone)
            const std::uintptr_t want = next > 20 ? next - 1 - rng() % 20 : 1;
            const std::size_t window = 1 + rng() % 16;
            auto it = std::find(model.begin(), model.end(), want);
            // distance from the tail in live entries; the window counts
            // slots (holes too), so found implies distance <= window, and
            // the tail itself (never a hole: trimmed) is always found
            const std::size_t dist = it == model.end() ? 0 : std::size_t(model.end() - it);
            const bool got = q.take_recent(want, window);
            if (got) {
                ASSERT_NE(it, model.end()) << "took " << want << ", which was not queued";
                ASSERT_LE(dist, window);
                model.erase(it);
                ++taken;
            } else {
                ASSERT_NE(dist, 1u) << "missed the tail entry " << want;
                ++missed;
            }
        }
        ASSERT_EQ(q.size(), model.size());
        ASSERT_EQ(q.empty(), model.empty());
    }
    while (!model.empty()) {
        ASSERT_EQ(q.pop(), model.front());
        model.pop_front();
    }
    EXPECT_TRUE(q.empty());
    EXPECT_GT(taken, 1000u);  // the test exercised holes
    EXPECT_GT(missed, 100u);
}

TEST(RingQueue, TakeRecentFindsOnlyWithinTheWindowAndTrimsTheTail) {
    sy::detail::ring_queue<std::uintptr_t> q(4);
    for (std::uintptr_t v = 1; v <= 10; ++v) q.push(v);
    EXPECT_FALSE(q.take_recent(5, 3));   // 5 is 6th from the tail
    EXPECT_TRUE(q.take_recent(5, 6));
    EXPECT_FALSE(q.take_recent(5, 16));  // already taken
    EXPECT_TRUE(q.take_recent(10, 1));   // at the tail
    EXPECT_EQ(q.size(), 8u);
    for (std::uintptr_t v : {9, 8, 7, 6}) EXPECT_TRUE(q.take_recent(v, 1)) << v;  // tail trimmed
    EXPECT_EQ(q.size(), 4u);
    EXPECT_TRUE(q.take_recent(4, 1));  // 5's hole was trimmed with them, so 4 is the tail
    for (std::uintptr_t v : {1, 2, 3}) EXPECT_EQ(q.pop(), v);
    EXPECT_TRUE(q.empty());
}

}  // namespace
