// Pooled memory for coroutine frames and callback nodes.
//
// Why: spawning a task must not cost a malloc+free (~20 ns) when the budget
// for a whole skynet task is ~50 ns, and fresh pages cost ~13 us each to
// fault in on VMs. A single-threaded loop owns one frame_pool and installs it
// as the thread's current pool while it runs; allocations made then come
// from 16-byte size classes carved out of 1 MiB chunks that are reused, not
// returned to the OS, until the loop is destroyed.
//
// Every block carries an 8-byte header naming its pool (or none, for blocks
// from ::operator new), so a frame created outside the loop (e.g. the main
// task) and destroyed inside it -- or the reverse -- is freed correctly.
// Pool blocks start at 8 mod 16, so the object after the header is 16-byte
// aligned, as ::operator new would give.
// Sanitizer builds bypass the pool so ASan sees every frame.
//
// Several threads (coroutine_mt's workers): a frame_pool_group gives each
// worker a pool of its own, and a frame may end on another worker than the
// one that made it. A block of the group freed on a member's thread goes to
// that thread's pool (no lock, no atomic: mimalloc and tcmalloc keep a free
// list per thread too); a pool whose free list of a size class grows past
// kSpillBlocks hands a batch of kTransferBatch blocks to the group, and a
// pool out of blocks takes a batch from there before it carves new memory
// (tcmalloc's transfer cache), so a producer/consumer pair of workers does
// not grow one list for ever. Chunks stay with the pool that carved them and
// every pool lives as long as the group, so a block can wander freely.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "runners/detail/spin_lock.hpp"

namespace sy::detail {

inline constexpr std::size_t kFrameGranule = 16;        // size-class step
inline constexpr std::size_t kMaxPooledBlock = 1024;    // larger: ::operator new
inline constexpr std::size_t kFrameChunkBytes = 1 << 20;
inline constexpr std::size_t kBlockHeader = 8;          // the owning pool (or null)
inline constexpr std::size_t kHeapPrefix = 16;          // heap blocks: pad + header
inline constexpr std::size_t kFrameClasses = kMaxPooledBlock / kFrameGranule + 1;
// Group pools: free blocks of one class a pool keeps before it hands
// kTransferBatch of them to the group (~200 KiB of 100-byte frames).
inline constexpr std::uint32_t kSpillBlocks = 4096;
inline constexpr std::uint32_t kTransferBatch = 2048;

class frame_pool_group;

class frame_pool {
public:
    frame_pool() = default;
    ~frame_pool();
    frame_pool(const frame_pool&) = delete;
    frame_pool& operator=(const frame_pool&) = delete;

    void* allocate(std::size_t bytes) {
        std::size_t cls = (bytes + kFrameGranule - 1) / kFrameGranule;
        if (free_node* n = heads_[cls]) {
            heads_[cls] = n->next;
            --free_[cls];
            ++live_;
            return n;
        }
        if (group_ && refill(cls)) return allocate(bytes);
        return carve(cls * kFrameGranule, cls);
    }
    void deallocate(void* p, std::size_t bytes) noexcept {
        std::size_t cls = (bytes + kFrameGranule - 1) / kFrameGranule;
        auto* n = static_cast<free_node*>(p);
        n->next = heads_[cls];
        heads_[cls] = n;
        --live_;
        if (++free_[cls] > kSpillBlocks && group_) spill(cls);
    }
    // Blocks allocated here minus blocks freed here: in a group, a block may
    // be freed by another member, so only the group's sum is a count.
    std::int64_t live_blocks() const { return live_; }
    std::size_t reserved_bytes() const { return chunks_.size() * kFrameChunkBytes; }
    frame_pool_group* group() const { return group_; }

    // The pool frames are allocated from on this thread (nullptr: heap).
    static frame_pool*& current() noexcept {
        static thread_local frame_pool* cur = nullptr;
        return cur;
    }

private:
    friend class frame_pool_group;
    struct free_node {
        free_node* next;
        free_node* next_batch;  // in the group's list: the batch after this one
    };
    void* carve(std::size_t bytes, std::size_t cls);
    bool refill(std::size_t cls);
    void spill(std::size_t cls) noexcept;

    free_node* heads_[kFrameClasses] = {};
    std::uint32_t free_[kFrameClasses] = {};
    char* bump_ = nullptr;
    char* bump_end_ = nullptr;
    std::vector<void*> chunks_;
    std::int64_t live_ = 0;
    frame_pool_group* group_ = nullptr;
};

// One pool per thread of a multi-threaded scheduler (see the top).
class frame_pool_group {
public:
    explicit frame_pool_group(std::size_t members);
    ~frame_pool_group();
    frame_pool_group(const frame_pool_group&) = delete;
    frame_pool_group& operator=(const frame_pool_group&) = delete;

    frame_pool& member(std::size_t i) { return *pools_[i]; }
    std::size_t size() const { return pools_.size(); }
    // Blocks not yet freed, over all members (exact when none is running).
    std::int64_t live_blocks() const;
    std::size_t reserved_bytes() const;

private:
    friend class frame_pool;
    spin_lock mu_;
    frame_pool::free_node* batches_[kFrameClasses] = {};  // under mu_: full batches
    std::vector<std::unique_ptr<frame_pool>> pools_;
};

// Installs `pool` as the thread's current pool for a scope.
class frame_pool_scope {
public:
    explicit frame_pool_scope(frame_pool* pool) : prev_(frame_pool::current()) {
        frame_pool::current() = pool;
    }
    ~frame_pool_scope() { frame_pool::current() = prev_; }
    frame_pool_scope(const frame_pool_scope&) = delete;
    frame_pool_scope& operator=(const frame_pool_scope&) = delete;

private:
    frame_pool* prev_;
};

// Allocation entry points used by promise types and callback nodes.
inline void* pooled_allocate(std::size_t bytes) {
    std::size_t total = bytes + kBlockHeader;
    frame_pool* pool = nullptr;
#ifndef SY_SANITIZE
    pool = frame_pool::current();
    if (total > kMaxPooledBlock) pool = nullptr;
#endif
    char* obj;
    if (pool)
        obj = static_cast<char*>(pool->allocate(total)) + kBlockHeader;
    else
        obj = static_cast<char*>(::operator new(bytes + kHeapPrefix)) + kHeapPrefix;
    *reinterpret_cast<frame_pool**>(obj - kBlockHeader) = pool;
    return obj;
}

inline void pooled_deallocate(void* p, std::size_t bytes) noexcept {
    char* obj = static_cast<char*>(p);
    frame_pool* pool = *reinterpret_cast<frame_pool**>(obj - kBlockHeader);
    if (pool && bytes + kBlockHeader <= kMaxPooledBlock) {  // large blocks always came from the heap
        // A group's block freed on another member's thread: to that pool.
        if (frame_pool* cur = frame_pool::current();
            cur != pool && cur && pool->group() && cur->group() == pool->group())
            pool = cur;
        pool->deallocate(obj - kBlockHeader, bytes + kBlockHeader);
    } else {
        ::operator delete(obj - kHeapPrefix);
    }
}

// Base for objects that should live in the current frame pool.
struct pooled {
    static void* operator new(std::size_t n) { return pooled_allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { pooled_deallocate(p, n); }
};

}  // namespace sy::detail
