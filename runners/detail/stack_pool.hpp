// Fiber stacks: fixed size, carved from large mmap'd slabs, each with a
// PROT_NONE guard page below it, recycled LIFO (a reused stack is already
// faulted in, which matters when a first touch costs ~13 us on a VM).
//
// Limits: every guarded stack is two kernel mappings (guard + stack), so
// guard pages cap live fibers near vm.max_map_count / 2 (65530 -> ~32k).
// Past that, allocation throws resource_error naming the limit; run with
// guard_page = false (one mapping per slab) to hold a million fibers.
#pragma once

#include <boost/context/stack_context.hpp>

#include <cstddef>
#include <vector>

namespace sy::detail {

class stack_pool {
public:
    stack_pool(std::size_t stack_size, bool guard_page);
    ~stack_pool();
    stack_pool(const stack_pool&) = delete;
    stack_pool& operator=(const stack_pool&) = delete;

    boost::context::stack_context allocate();
    void deallocate(boost::context::stack_context& sc) noexcept;

    std::size_t stack_size() const { return stack_size_; }
    bool guard_page() const { return guard_ != 0; }
    std::size_t live() const { return live_; }
    std::size_t reserved_bytes() const { return reserved_; }

private:
    void grow();
    std::size_t stack_size_;  // usable bytes
    std::size_t guard_;       // 0 or one page
    std::size_t slot_;        // stack + guard
    std::size_t next_slab_stacks_;
    std::vector<char*> free_;  // slot bases (guard page first)
    struct slab {
        char* base;
        std::size_t bytes;
    };
    std::vector<slab> slabs_;
    std::size_t live_ = 0;
    std::size_t reserved_ = 0;
};

// The StackAllocator Boost.Context expects, drawing from a stack_pool.
struct pooled_stack_allocator {
    stack_pool* pool;
    boost::context::stack_context allocate() { return pool->allocate(); }
    void deallocate(boost::context::stack_context& sc) noexcept { pool->deallocate(sc); }
};

}  // namespace sy::detail
