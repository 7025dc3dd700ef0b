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
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

namespace sy::detail {

inline constexpr std::size_t kFrameGranule = 16;        // size-class step
inline constexpr std::size_t kMaxPooledBlock = 1024;    // larger: ::operator new
inline constexpr std::size_t kFrameChunkBytes = 1 << 20;
inline constexpr std::size_t kBlockHeader = 8;          // the owning pool (or null)
inline constexpr std::size_t kHeapPrefix = 16;          // heap blocks: pad + header

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
            ++live_;
            return n;
        }
        return carve(cls * kFrameGranule, cls);
    }
    void deallocate(void* p, std::size_t bytes) noexcept {
        std::size_t cls = (bytes + kFrameGranule - 1) / kFrameGranule;
        auto* n = static_cast<free_node*>(p);
        n->next = heads_[cls];
        heads_[cls] = n;
        --live_;
    }
    std::size_t live_blocks() const { return live_; }
    std::size_t reserved_bytes() const { return chunks_.size() * kFrameChunkBytes; }

    // The pool frames are allocated from on this thread (nullptr: heap).
    static frame_pool*& current() noexcept {
        static thread_local frame_pool* cur = nullptr;
        return cur;
    }

private:
    struct free_node {
        free_node* next;
    };
    void* carve(std::size_t bytes, std::size_t cls);

    free_node* heads_[kMaxPooledBlock / kFrameGranule + 1] = {};
    char* bump_ = nullptr;
    char* bump_end_ = nullptr;
    std::vector<void*> chunks_;
    std::size_t live_ = 0;
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
    if (pool && bytes + kBlockHeader <= kMaxPooledBlock)  // large blocks always came from the heap
        pool->deallocate(obj - kBlockHeader, bytes + kBlockHeader);
    else
        ::operator delete(obj - kHeapPrefix);
}

// Base for objects that should live in the current frame pool.
struct pooled {
    static void* operator new(std::size_t n) { return pooled_allocate(n); }
    static void operator delete(void* p, std::size_t n) noexcept { pooled_deallocate(p, n); }
};

}  // namespace sy::detail
