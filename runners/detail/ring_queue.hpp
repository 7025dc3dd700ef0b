// FIFO ring buffer that grows by doubling: the ready queue of every
// single-threaded loop (coroutine handles, fibers, callbacks). Push and pop
// are a store/load and a mask, with no allocation in steady state.
// take_recent() removes an entry pushed lately (it leaves a hole, an empty T,
// that pop() skips; holes at the tail are trimmed at once), so a scheduler
// can run a task it is about to wait for instead of queueing behind it.
#pragma once

#include <cstddef>
#include <memory>
#include <new>
#include <string>
#include <utility>

#include "runners/errors.hpp"

namespace sy::detail {

template <class T>
class ring_queue {
public:
    explicit ring_queue(std::size_t initial = 1024) : cap_(round_up(initial)) {
        buf_ = std::make_unique<T[]>(cap_);
    }
    bool empty() const { return tail_ - head_ == holes_; }
    std::size_t size() const { return tail_ - head_ - holes_; }
    [[gnu::always_inline]] void push(T v) {
        if (tail_ - head_ == cap_) [[unlikely]]
            grow();
        buf_[tail_++ & (cap_ - 1)] = std::move(v);
    }
    // Precondition: !empty().
    [[gnu::always_inline]] T pop() {
        if (holes_) [[unlikely]]
            skip_holes();
        return std::move(buf_[head_++ & (cap_ - 1)]);
    }
    // Removes `v` if it is among the last `window` entries (v must not be an
    // empty T); false if it is not there.
    bool take_recent(const T& v, std::size_t window) {
        std::size_t n = tail_ - head_ < window ? tail_ - head_ : window;
        for (std::size_t i = 1; i <= n; ++i) {
            T& slot = buf_[(tail_ - i) & (cap_ - 1)];
            if (!(slot == v)) continue;
            slot = T{};
            ++holes_;
            while (tail_ != head_ && !buf_[(tail_ - 1) & (cap_ - 1)]) {  // trim the tail
                --tail_;
                --holes_;
            }
            return true;
        }
        return false;
    }

private:
    static std::size_t round_up(std::size_t n) {
        std::size_t c = 16;
        while (c < n) c <<= 1;
        return c;
    }
    void skip_holes() {
        while (!buf_[head_ & (cap_ - 1)]) {
            ++head_;
            --holes_;
        }
    }
    [[gnu::noinline, gnu::cold]] void grow() {
        std::unique_ptr<T[]> bigger;
        try {
            bigger = std::make_unique<T[]>(cap_ * 2);
        } catch (const std::bad_alloc&) {
            throw resource_error("ready queue: cannot grow to " + std::to_string(cap_ * 2) +
                                 " entries: out of memory (memory limit, ulimit -v)");
        }
        std::size_t n = tail_ - head_;  // holes included
        for (std::size_t i = 0; i < n; ++i) bigger[i] = std::move(buf_[(head_ + i) & (cap_ - 1)]);
        buf_ = std::move(bigger);
        cap_ *= 2;
        head_ = 0;
        tail_ = n;
    }
    std::unique_ptr<T[]> buf_;
    std::size_t cap_;
    std::size_t head_ = 0, tail_ = 0;
    std::size_t holes_ = 0;  // emptied entries between head_ and tail_
};

}  // namespace sy::detail
