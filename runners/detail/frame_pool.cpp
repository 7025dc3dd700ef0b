// Chunk management for frame_pool (the hot paths are inline in the header).
#include "runners/detail/frame_pool.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <mutex>

#include "runners/errors.hpp"

namespace sy::detail {

frame_pool::~frame_pool() {
    if (live_ != 0 && !group_)  // a group checks its sum
        std::fprintf(stderr, "switchyard: frame_pool destroyed with %lld live blocks (leak)\n",
                     static_cast<long long>(live_));
    for (void* c : chunks_) munmap(c, kFrameChunkBytes);
}

// Out of blocks of class `cls`: take a batch the other members spilled.
bool frame_pool::refill(std::size_t cls) {
    free_node* batch;
    {
        std::lock_guard l(group_->mu_);
        batch = group_->batches_[cls];
        if (!batch) return false;
        group_->batches_[cls] = batch->next_batch;
    }
    heads_[cls] = batch;
    free_[cls] = kTransferBatch;
    return true;
}

// Too many free blocks of class `cls` here (another member keeps making
// what this one frees): hand the newest kTransferBatch to the group.
void frame_pool::spill(std::size_t cls) noexcept {
    free_node* first = heads_[cls];
    free_node* last = first;
    for (std::uint32_t i = 1; i < kTransferBatch; ++i) last = last->next;
    heads_[cls] = last->next;
    free_[cls] -= kTransferBatch;
    last->next = nullptr;
    std::lock_guard l(group_->mu_);
    first->next_batch = group_->batches_[cls];
    group_->batches_[cls] = first;
}

frame_pool_group::frame_pool_group(std::size_t members) {
    pools_.reserve(members);
    for (std::size_t i = 0; i < members; ++i) {
        pools_.push_back(std::make_unique<frame_pool>());
        pools_.back()->group_ = this;
    }
}

frame_pool_group::~frame_pool_group() {
    if (std::int64_t n = live_blocks(); n != 0)
        std::fprintf(stderr, "switchyard: frame_pool_group destroyed with %lld live blocks (leak)\n",
                     static_cast<long long>(n));
}

std::int64_t frame_pool_group::live_blocks() const {
    std::int64_t n = 0;
    for (auto& p : pools_) n += p->live_;
    return n;
}

std::size_t frame_pool_group::reserved_bytes() const {
    std::size_t n = 0;
    for (auto& p : pools_) n += p->reserved_bytes();
    return n;
}

void* frame_pool::carve(std::size_t bytes, std::size_t) {
    if (bump_ + bytes > bump_end_) {
        // MAP_POPULATE faults the chunk in with one call instead of one trap
        // per page in the middle of a measurement.
        void* c = mmap(nullptr, kFrameChunkBytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (c == MAP_FAILED)
            throw resource_error("coroutine frames: mmap of a 1 MiB chunk failed after " +
                                 std::to_string(chunks_.size()) +
                                 " MiB (memory limit or vm.max_map_count)");
        chunks_.push_back(c);
        bump_ = static_cast<char*>(c) + kBlockHeader;  // blocks at 8 mod 16
        bump_end_ = static_cast<char*>(c) + kFrameChunkBytes;
    }
    void* p = bump_;
    bump_ += bytes;
    ++live_;
    return p;
}

}  // namespace sy::detail
