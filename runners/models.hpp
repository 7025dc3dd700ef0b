// The seven concurrency models by name, and which ones this build has.
// Names are fixed: they appear in benchmark names, charts and claims.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace sy {

inline constexpr std::array<std::string_view, 7> all_models = {
    "thread", "pool", "fiber", "coroutine", "coroutine_uring", "uring", "libuv"};

inline bool is_known_model(std::string_view m) {
    for (auto k : all_models)
        if (k == m) return true;
    return false;
}

inline std::string known_models_text() {
    std::string s;
    for (auto k : all_models) {
        if (!s.empty()) s += ", ";
        s += k;
    }
    return s;
}

// Models compiled into this build (optional back ends may be missing).
inline std::vector<std::string_view> enabled_models() {
    std::vector<std::string_view> v = {"thread", "pool"};
#if SY_HAVE_BOOST_CONTEXT
    v.push_back("fiber");
#endif
    v.push_back("coroutine");
#if SY_HAVE_URING
    v.push_back("coroutine_uring");
    v.push_back("uring");
#endif
#if SY_HAVE_UV
    v.push_back("libuv");
#endif
    return v;
}

}  // namespace sy
