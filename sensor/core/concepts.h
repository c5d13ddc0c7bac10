#pragma once
// The Concept taxonomy ids (../shared/concept/TAXONOMY.md) as a fixed table, so per-worker
// counters can be indexed by category without strings or maps on the packet path.

#include <array>
#include <cstddef>
#include <string_view>

namespace sensor::core {

inline constexpr std::array<std::string_view, 26> kConceptIds{
    "threat.01", "threat.02", "threat.03", "threat.04", "threat.05",    "threat.06", "threat.07",
    "threat.08", "threat.09", "threat.10", "threat.11", "threat.12",    "threat.13", "threat.14",
    "threat.15", "crime.01",  "crime.02",  "crime.03",  "crime.04",     "crime.05",  "crime.06",
    "crime.07",  "crime.08",  "crime.09",  "crime.10",  "unclassified",
};
inline constexpr size_t kConceptCount = kConceptIds.size();

// Index of id in kConceptIds, or kConceptCount when unknown.
constexpr size_t concept_index(std::string_view id) noexcept {
    for (size_t i = 0; i < kConceptIds.size(); ++i) {
        if (kConceptIds[i] == id) {
            return i;
        }
    }
    return kConceptCount;
}

}  // namespace sensor::core
