// Hierarchical timing wheel with intrusive nodes (no allocation per timer).
//
// Why a wheel: a loop holding 1M sleepers must insert and expire each in
// O(1), and "sleep" p99 lateness <= 0.5 ms needs a tick well under a
// millisecond. Four levels of 256 slots; level 0 has a tick of 2^17 ns
// (~131 us), so a level-0 lap is ~34 ms, level 1 ~8.6 s, level 2 ~37 min,
// level 3 ~6.3 days (later deadlines park in level 3 and are re-filed).
// Timers in a higher level cascade down when the wheel reaches their slot.
// A timer fires at the first tick boundary at or after its deadline, so it
// is never early and at most one tick (plus the loop's wake-up) late.
// Bitmaps of occupied slots find the next expiry without scanning; a cancel
// only unlinks (O(1)) and may leave a slot's bit set until the wheel visits
// that slot, which costs at most an early wake-up, never a missed timer.
#pragma once

#include <cstdint>

namespace sy::detail {

inline constexpr unsigned kWheelTickShift = 17;                 // 131,072 ns
inline constexpr std::uint64_t kWheelTickNs = 1ull << kWheelTickShift;
inline constexpr unsigned kWheelBits = 8;                       // 256 slots
inline constexpr unsigned kWheelSlots = 1u << kWheelBits;
inline constexpr unsigned kWheelLevels = 4;

struct timer_node {
    std::uint64_t deadline_ns = 0;  // absolute, CLOCK_MONOTONIC
    timer_node* next = nullptr;
    timer_node* prev = nullptr;
    void (*fire)(timer_node*) = nullptr;
    bool linked() const { return next != nullptr; }
};

class timer_wheel {
public:
    explicit timer_wheel(std::uint64_t now_ns = 0) : now_(now_ns >> kWheelTickShift) {
        for (auto& level : slots_)
            for (auto& s : level) s.next = s.prev = &s;
    }
    timer_wheel(const timer_wheel&) = delete;
    timer_wheel& operator=(const timer_wheel&) = delete;

    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }

    void insert(timer_node* n) {
        ++size_;
        file(n);
    }

    void cancel(timer_node* n) {
        if (!n->linked()) return;
        n->prev->next = n->next;
        n->next->prev = n->prev;
        n->next = n->prev = nullptr;
        --size_;
    }

    // Fires every timer whose tick is <= now_ns's tick. `fire` callbacks
    // may insert new timers.
    void advance(std::uint64_t now_ns) {
        const std::uint64_t target = now_ns >> kWheelTickShift;
        while (now_ < target) {
            if (level_empty(0)) {
                // Nothing in level 0: jump to the next level-0 wrap (where a
                // cascade may bring timers down) or to the target.
                std::uint64_t wrap = (now_ | (kWheelSlots - 1)) + 1;
                if (target < wrap) {
                    now_ = target;
                    return;
                }
                now_ = wrap;
            } else {
                ++now_;
            }
            if ((now_ & (kWheelSlots - 1)) == 0) cascade(1);
            fire_slot(now_ & (kWheelSlots - 1));
        }
    }

    // The time at which advance() would next have work, or UINT64_MAX.
    std::uint64_t next_expiry_ns() const {
        if (size_ == 0) return UINT64_MAX;
        if (!level_empty(0)) {
            // Next occupied level-0 slot after now_ (wrapping).
            unsigned start = unsigned(now_ & (kWheelSlots - 1));
            for (unsigned step = 1; step <= kWheelSlots; ++step) {
                unsigned idx = (start + step) & (kWheelSlots - 1);
                if (bit(0, idx)) {
                    std::uint64_t tick = (now_ & ~std::uint64_t(kWheelSlots - 1)) + idx;
                    if (tick <= now_) tick += kWheelSlots;
                    return tick << kWheelTickShift;
                }
            }
        }
        // Otherwise wake at the next level-0 wrap to cascade.
        std::uint64_t wrap = (now_ | (kWheelSlots - 1)) + 1;
        return wrap << kWheelTickShift;
    }

private:
    static std::uint64_t tick_of(std::uint64_t deadline_ns) {
        return (deadline_ns + kWheelTickNs - 1) >> kWheelTickShift;
    }

    void file(timer_node* n) {
        std::uint64_t tick = tick_of(n->deadline_ns);
        if (tick <= now_) tick = now_ + 1;  // due: fires on the next tick
        constexpr unsigned kTop = kWheelLevels - 1;
        constexpr std::uint64_t kRange = std::uint64_t(1) << (kWheelBits * kWheelLevels);
        unsigned level = 0;
        while (level < kTop &&
               (tick >> (kWheelBits * (level + 1))) != (now_ >> (kWheelBits * (level + 1))))
            ++level;
        unsigned idx = unsigned(tick >> (kWheelBits * level)) & (kWheelSlots - 1);
        // The top level wraps: a tick in its next lap may share the index of
        // the slot the wheel is in now (already cascaded). Such timers, and
        // those beyond the range, park in the slot before the current one
        // and are re-filed when the wheel gets there.
        const unsigned top_now = unsigned(now_ >> (kWheelBits * kTop)) & (kWheelSlots - 1);
        if (level == kTop && (tick - now_ >= kRange || idx == top_now))
            idx = (top_now + kWheelSlots - 1) & (kWheelSlots - 1);
        timer_node& head = slots_[level][idx];
        n->next = &head;
        n->prev = head.prev;
        head.prev->next = n;
        head.prev = n;
        set_bit(level, idx);
    }

    void cascade(unsigned level) {
        if (level >= kWheelLevels) return;
        unsigned idx = unsigned(now_ >> (kWheelBits * level)) & (kWheelSlots - 1);
        if (idx == 0) cascade(level + 1);
        timer_node& head = slots_[level][idx];
        clear_bit(level, idx);
        if (head.next == &head) return;
        timer_node* n = head.next;
        head.prev->next = nullptr;
        head.next = head.prev = &head;
        while (n) {
            timer_node* next = n->next;
            file(n);
            n = next;
        }
    }

    void fire_slot(unsigned idx) {
        timer_node& head = slots_[0][idx];
        clear_bit(0, idx);
        if (head.next == &head) return;
        // Detach the whole list first: callbacks may insert into this slot.
        timer_node* n = head.next;
        head.prev->next = nullptr;
        head.next = head.prev = &head;
        while (n) {
            timer_node* next = n->next;
            n->next = n->prev = nullptr;
            if (tick_of(n->deadline_ns) > now_) {
                file(n);  // parked beyond the wheel's range, not due yet
            } else {
                --size_;
                n->fire(n);
            }
            n = next;
        }
    }

    bool level_empty(unsigned level) const {
        for (auto w : bits_[level])
            if (w) return false;
        return true;
    }
    bool bit(unsigned level, unsigned idx) const {
        return (bits_[level][idx / 64] >> (idx % 64)) & 1;
    }
    void set_bit(unsigned level, unsigned idx) { bits_[level][idx / 64] |= 1ull << (idx % 64); }
    void clear_bit(unsigned level, unsigned idx) {
        bits_[level][idx / 64] &= ~(1ull << (idx % 64));
    }

    timer_node slots_[kWheelLevels][kWheelSlots];
    std::uint64_t bits_[kWheelLevels][kWheelSlots / 64] = {};
    std::size_t size_ = 0;
    std::uint64_t now_;  // current tick
};

}  // namespace sy::detail
