// stack_pool: slab growth, guard pages, limit errors.
#include "runners/detail/stack_pool.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <string>

#include "runners/errors.hpp"

namespace sy::detail {

namespace {
constexpr std::size_t kFirstSlabStacks = 64;
constexpr std::size_t kMaxSlabStacks = 4096;

std::size_t page_size() {
    static const std::size_t p = std::size_t(sysconf(_SC_PAGESIZE));
    return p;
}
std::size_t round_to_page(std::size_t n) {
    std::size_t p = page_size();
    return (n + p - 1) / p * p;
}
std::string max_map_count() {
    std::ifstream f("/proc/sys/vm/max_map_count");
    std::string s;
    std::getline(f, s);
    return s.empty() ? "?" : s;
}
}  // namespace

stack_pool::stack_pool(std::size_t stack_size, bool guard_page)
    : stack_size_(round_to_page(stack_size)),
      guard_(guard_page ? page_size() : 0),
      slot_(stack_size_ + guard_),
      next_slab_stacks_(kFirstSlabStacks) {}

stack_pool::~stack_pool() {
    for (auto& s : slabs_) munmap(s.base, s.bytes);
}

void stack_pool::grow() {
    std::size_t n = next_slab_stacks_;
    std::size_t bytes = n * slot_;
    void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
    if (mem == MAP_FAILED)
        throw resource_error("fiber stacks: mmap of " + std::to_string(bytes >> 10) +
                             " KiB failed with " + std::to_string(live_) +
                             " fibers live: " + errno_text(errno) +
                             " (memory limit or vm.max_map_count " + max_map_count() + ")");
    char* base = static_cast<char*>(mem);
    if (guard_) {
        for (std::size_t i = 0; i < n; ++i) {
            if (mprotect(base + i * slot_, guard_, PROT_NONE) != 0) {
                int err = errno;
                munmap(mem, bytes);
                throw resource_error(
                    "fiber stacks: cannot add a guard page with " + std::to_string(live_) +
                    " fibers live: " + errno_text(err) + " (vm.max_map_count " +
                    max_map_count() +
                    " allows about half as many guarded stacks; use guard_page=false)");
            }
        }
    }
    slabs_.push_back({base, bytes});
    reserved_ += bytes;
    free_.reserve(reserved_ / slot_);  // deallocate() then never allocates
    // LIFO: hand out the lowest addresses first.
    for (std::size_t i = n; i-- > 0;) free_.push_back(base + i * slot_);
    if (next_slab_stacks_ < kMaxSlabStacks) next_slab_stacks_ *= 2;
}

boost::context::stack_context stack_pool::allocate() {
    if (free_.empty()) grow();
    char* slot = free_.back();
    free_.pop_back();
    ++live_;
    boost::context::stack_context sc;
    sc.size = stack_size_;
    sc.sp = slot + slot_;  // stacks grow down from the top
    return sc;
}

void stack_pool::deallocate(boost::context::stack_context& sc) noexcept {
    free_.push_back(static_cast<char*>(sc.sp) - slot_);
    --live_;
}

}  // namespace sy::detail
