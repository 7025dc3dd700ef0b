// Intrusive singly-linked FIFO of waiters (each waiter has a `next` field and
// lives in its suspended coroutine's frame or fiber's stack: no allocation).
// The tail is a pointer to the last `next` field, so push is three stores.
#pragma once

namespace sy::detail {

template <class T>
class intrusive_fifo {
public:
    intrusive_fifo() = default;
    intrusive_fifo(const intrusive_fifo&) = delete;
    intrusive_fifo& operator=(const intrusive_fifo&) = delete;
    // Moving re-points the tail when it pointed at our own head.
    intrusive_fifo(intrusive_fifo&& o) noexcept : head_(o.head_), tail_(o.head_ ? o.tail_ : &head_) {
        o.head_ = nullptr;
        o.tail_ = &o.head_;
    }

    bool empty() const { return head_ == nullptr; }
    T* front() const { return head_; }
    void push_back(T* n) {
        n->next = nullptr;
        *tail_ = n;
        tail_ = &n->next;
    }
    T* pop_front() {
        T* n = head_;
        if (n) {
            head_ = n->next;
            if (!head_) tail_ = &head_;
        }
        return n;
    }

    // Unlinks n if queued (O(length): for cancellations); true if it was.
    bool remove(T* n) {
        for (T** p = &head_; *p; p = &(*p)->next) {
            if (*p != n) continue;
            *p = n->next;
            if (tail_ == &n->next) tail_ = p;
            return true;
        }
        return false;
    }

private:
    T* head_ = nullptr;
    T** tail_ = &head_;
};

}  // namespace sy::detail
