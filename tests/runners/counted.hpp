// Counts constructions and destructions (after cppcoro's counted.hpp), to
// prove that a runner's shutdown destroyed every object its tasks created.
#pragma once

#include <atomic>

namespace sy::test {

struct counted {
    static inline std::atomic<long> constructed{0};
    static inline std::atomic<long> destroyed{0};
    static void reset() {
        constructed = 0;
        destroyed = 0;
    }
    static long alive() { return constructed - destroyed; }

    counted() { ++constructed; }
    counted(const counted&) { ++constructed; }
    counted(counted&&) noexcept { ++constructed; }
    ~counted() { ++destroyed; }
};

}  // namespace sy::test
