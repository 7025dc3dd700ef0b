// FIFO ring buffer that grows by doubling: the ready queue of every
// single-threaded loop (coroutine handles, fibers, callbacks). Push and pop
// are a store/load and a mask, with no allocation in steady state.
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
    bool empty() const { return head_ == tail_; }
    std::size_t size() const { return tail_ - head_; }
    [[gnu::always_inline]] void push(T v) {
        if (tail_ - head_ == cap_) [[unlikely]]
            grow();
        buf_[tail_++ & (cap_ - 1)] = std::move(v);
    }
    [[gnu::always_inline]] T pop() { return std::move(buf_[head_++ & (cap_ - 1)]); }

private:
    static std::size_t round_up(std::size_t n) {
        std::size_t c = 16;
        while (c < n) c <<= 1;
        return c;
    }
    [[gnu::noinline, gnu::cold]] void grow() {
        std::unique_ptr<T[]> bigger;
        try {
            bigger = std::make_unique<T[]>(cap_ * 2);
        } catch (const std::bad_alloc&) {
            throw resource_error("ready queue: cannot grow to " + std::to_string(cap_ * 2) +
                                 " entries: out of memory (memory limit, ulimit -v)");
        }
        std::size_t n = size();
        for (std::size_t i = 0; i < n; ++i) bigger[i] = std::move(buf_[(head_ + i) & (cap_ - 1)]);
        buf_ = std::move(bigger);
        cap_ *= 2;
        head_ = 0;
        tail_ = n;
    }
    std::unique_ptr<T[]> buf_;
    std::size_t cap_;
    std::size_t head_ = 0, tail_ = 0;
};

}  // namespace sy::detail
