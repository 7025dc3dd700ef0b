// The concurrency models by name, and which ones this build has, generated
// from the one list in runners/model_list.hpp. Names are fixed: they appear
// in benchmark names, charts and claims.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "runners/model_list.hpp"

namespace sy {

#define SY_MODEL_NAME(name, shape, loop, needs) #name,
inline constexpr std::array all_models = {SY_MODELS(SY_MODEL_NAME)};
#undef SY_MODEL_NAME
static_assert(std::size(all_models) > 0);

inline bool is_known_model(std::string_view m) {
    for (std::string_view k : all_models)
        if (k == m) return true;
    return false;
}

inline std::string known_models_text() {
    std::string s;
    for (std::string_view k : all_models) {
        if (!s.empty()) s += ", ";
        s += k;
    }
    return s;
}

// Models compiled into this build (optional back ends may be missing).
inline std::vector<std::string_view> enabled_models() {
    std::vector<std::string_view> v;
#define SY_MODEL_ENABLED(name, shape, loop, needs) \
    if (SY_NEEDS_##needs) v.push_back(#name);
    SY_MODELS(SY_MODEL_ENABLED)
#undef SY_MODEL_ENABLED
    return v;
}

}  // namespace sy
