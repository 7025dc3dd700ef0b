// Chunk management for frame_pool (the hot paths are inline in the header).
#include "runners/detail/frame_pool.hpp"

#include <sys/mman.h>

#include <cstdio>

#include "runners/errors.hpp"

namespace sy::detail {

frame_pool::~frame_pool() {
    if (live_ != 0)
        std::fprintf(stderr, "switchyard: frame_pool destroyed with %zu live blocks (leak)\n",
                     live_);
    for (void* c : chunks_) munmap(c, kFrameChunkBytes);
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
