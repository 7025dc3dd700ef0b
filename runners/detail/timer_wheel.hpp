// Hierarchical timing wheel with intrusive nodes (no allocation per timer).
//
// Why a wheel: a loop holding 1M sleepers must insert and expire each in
// O(1), and "sleep" p99 lateness <= 0.5 ms needs a tick well under a
// millisecond. Four levels of 256 slots; level 0 has a tick of 2^17 ns
// (~131 us), so a level-0 lap is ~34 ms, level 1 ~8.6 s, level 2 ~37 min,
// level 3 ~6.3 days (later deadlines park in level 3 and are re-filed).
// A timer fires at the first tick boundary at or after its deadline, so it
// is never early and at most one tick (plus the loop's wake-up) late.
//
// No cascade bursts: a classic wheel re-files a whole level-1 slot (every
// timer due in the next 34 ms) at each level-0 wrap, which stalls the loop
// for milliseconds when 100k timers are pending. Here level 0 has a second
// array for the *next* lap: a timer due in the next lap is filed there
// directly, and the next lap's level-1 slot is drained into it a bounded
// number of timers per tick during the current lap; at the wrap the arrays
// swap in O(slots). Full cascades remain only at a level-1 wrap (every 8.6 s)
// and for what a loop that was idle (jumping over ticks) left undrained.
//
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
inline constexpr unsigned kDrainPerTick = 128;  // next-lap timers moved per tick

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
            for (auto& s : level) init(s);
        for (auto& s : next0_) init(s);
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
            if (bits_empty(bits_[0])) {
                // Nothing in the current lap: jump to the next wrap or to the
                // target (ticks skipped while idle do no draining; the wrap
                // moves what is left).
                std::uint64_t wrap = (now_ | (kWheelSlots - 1)) + 1;
                if (target < wrap) {
                    now_ = target;
                    return;
                }
                now_ = wrap;
            } else {
                ++now_;
            }
            if ((now_ & (kWheelSlots - 1)) == 0) wrap_level0();
            else drain_next_lap(kDrainPerTick);
            fire_slot(unsigned(now_ & (kWheelSlots - 1)));
        }
    }

    // The time at which advance() would next have work, or UINT64_MAX.
    std::uint64_t next_expiry_ns() const {
        if (size_ == 0) return UINT64_MAX;
        const std::uint64_t lap = now_ & ~std::uint64_t(kWheelSlots - 1);
        const unsigned cur = unsigned(now_ & (kWheelSlots - 1));
        for (unsigned idx = cur + 1; idx < kWheelSlots; ++idx)  // rest of this lap
            if (bit(bits_[0], idx)) return (lap + idx) << kWheelTickShift;
        // Otherwise the wrap: the next lap's slot 0, cascades, draining.
        return (lap + kWheelSlots) << kWheelTickShift;
    }

private:
    using bitmap = std::uint64_t[kWheelSlots / 64];

    static void init(timer_node& head) { head.next = head.prev = &head; }
    static std::uint64_t tick_of(std::uint64_t deadline_ns) {
        return (deadline_ns + kWheelTickNs - 1) >> kWheelTickShift;
    }
    static void push(timer_node& head, timer_node* n) {
        n->next = &head;
        n->prev = head.prev;
        head.prev->next = n;
        head.prev = n;
    }

    void file(timer_node* n) {
        std::uint64_t tick = tick_of(n->deadline_ns);
        if (tick <= now_) tick = now_ + 1;  // due: fires on the next tick
        const std::uint64_t lap = now_ >> kWheelBits, tick_lap = tick >> kWheelBits;
        if (tick_lap == lap) {
            unsigned idx = unsigned(tick) & (kWheelSlots - 1);
            push(slots_[0][idx], n);
            set_bit(bits_[0], idx);
            return;
        }
        if (tick_lap == lap + 1) {
            unsigned idx = unsigned(tick) & (kWheelSlots - 1);
            push(next0_[idx], n);
            set_bit(next_bits_, idx);
            return;
        }
        constexpr unsigned kTop = kWheelLevels - 1;
        constexpr std::uint64_t kRange = std::uint64_t(1) << (kWheelBits * kWheelLevels);
        unsigned level = 1;
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
        push(slots_[level][idx], n);
        set_bit(bits_[level], idx);
    }

    // The level-1 slot holding timers of the next lap, when it is in level 1
    // (at a level-1 wrap they are still in level 2 and cascade at the wrap).
    timer_node* next_lap_slot() {
        const std::uint64_t next_lap = (now_ >> kWheelBits) + 1;
        unsigned idx = unsigned(next_lap) & (kWheelSlots - 1);
        if (idx == 0) return nullptr;
        return &slots_[1][idx];
    }

    // Moves up to `quota` timers of the next lap from level 1 into next0_.
    void drain_next_lap(unsigned quota) {
        timer_node* head = next_lap_slot();
        if (!head) return;
        for (; quota > 0 && head->next != head; --quota) {
            timer_node* n = head->next;
            n->prev->next = n->next;
            n->next->prev = n->prev;
            file(n);  // lands in next0_ (or fires early never: fire_slot re-checks)
        }
    }

    // The lap ends: finish draining, make the next lap current, cascade a
    // level-2 slot into level 1 at a level-1 wrap.
    void wrap_level0() {
        // now_ already points at the new lap; file() relative to the old lap
        // would misplace, so drain with the old lap's view first.
        --now_;
        drain_next_lap(~0u);
        ++now_;
        for (unsigned i = 0; i < kWheelSlots; ++i) {  // swap current and next lap
            splice(slots_[0][i], next0_[i]);
        }
        for (unsigned w = 0; w < kWheelSlots / 64; ++w) {
            bits_[0][w] = next_bits_[w];
            next_bits_[w] = 0;
        }
        if (((now_ >> kWheelBits) & (kWheelSlots - 1)) == 0) cascade(2);
    }

    // Moves `from`'s list into the (empty) `to`.
    static void splice(timer_node& to, timer_node& from) {
        if (from.next == &from) {
            init(to);
            return;
        }
        to.next = from.next;
        to.prev = from.prev;
        to.next->prev = &to;
        to.prev->next = &to;
        init(from);
    }

    void cascade(unsigned level) {
        if (level >= kWheelLevels) return;
        unsigned idx = unsigned(now_ >> (kWheelBits * level)) & (kWheelSlots - 1);
        if (idx == 0) cascade(level + 1);
        timer_node& head = slots_[level][idx];
        clear_bit(bits_[level], idx);
        if (head.next == &head) return;
        timer_node* n = head.next;
        head.prev->next = nullptr;
        init(head);
        while (n) {
            timer_node* next = n->next;
            file(n);
            n = next;
        }
    }

    void fire_slot(unsigned idx) {
        timer_node& head = slots_[0][idx];
        clear_bit(bits_[0], idx);
        if (head.next == &head) return;
        // Detach the whole list first: callbacks may insert into this slot.
        timer_node* n = head.next;
        head.prev->next = nullptr;
        init(head);
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

    static bool bits_empty(const bitmap& b) {
        for (auto w : b)
            if (w) return false;
        return true;
    }
    static bool bit(const bitmap& b, unsigned idx) { return (b[idx / 64] >> (idx % 64)) & 1; }
    static void set_bit(bitmap& b, unsigned idx) { b[idx / 64] |= 1ull << (idx % 64); }
    static void clear_bit(bitmap& b, unsigned idx) { b[idx / 64] &= ~(1ull << (idx % 64)); }

    timer_node slots_[kWheelLevels][kWheelSlots];
    timer_node next0_[kWheelSlots];  // level 0 of the next lap
    bitmap bits_[kWheelLevels] = {};
    bitmap next_bits_ = {};
    std::size_t size_ = 0;
    std::uint64_t now_;  // current tick
};

}  // namespace sy::detail
