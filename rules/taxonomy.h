#pragma once
// Taxonomy: the classtype table (classification.config) and the classtype -> Concept category
// map (concept-map.tsv) from rules/data/. Built once on the control thread, then immutable and
// shared read-only by every thread.

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "sensor/core/result.h"

namespace sensor::rules {

struct Classification {
    std::string name;         // the rule's classtype, e.g. "trojan-activity"
    std::string description;  // EVE alert.category
    int priority;             // default EVE alert.severity, 1 = most severe
};

class Taxonomy {
public:
    // Reads <data_dir>/classification.config and <data_dir>/concept-map.tsv. Every malformed line,
    // unknown concept id or unknown classtype in the map is reported as "path:line: message",
    // one per line of the error message; nothing is loaded partially.
    static core::Result<Taxonomy> load(const std::string& data_dir);
    // Same checks on in-memory text; errors name "classification.config" and "concept-map.tsv".
    static core::Result<Taxonomy> from_text(std::string_view classification_text,
                                            std::string_view concept_map_text);

    // nullptr when the classtype is not in the table. The pointer lives as long as the Taxonomy.
    const Classification* find_class(std::string_view classtype) const;

    // The rule's own concept ids (metadata), in order and without repeats, when it has any;
    // else the map's categories for its classtype; else {"unclassified"}.
    std::vector<std::string> concepts_for(const std::vector<std::string>& metadata_concepts,
                                          std::string_view classtype) const;

    // threat.01..threat.15 and crime.01..crime.10, exactly two digits.
    static bool is_known_concept(std::string_view id);

    size_t class_count() const { return classes_.size(); }

private:
    std::map<std::string, Classification, std::less<>> classes_;
    std::map<std::string, std::vector<std::string>, std::less<>> concepts_;
};

}  // namespace sensor::rules
