#pragma once
// Fixtures shared by the rules tests: a small fixed taxonomy (independent of rules/data) and
// a helper that parses rule text with it.

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include "rules/rule_set.h"
#include "rules/taxonomy.h"

namespace sensor::rules::test_support {

inline constexpr std::string_view kClassText =
    "config classification: trojan-activity,A Network Trojan was detected,1\n"
    "config classification: attempted-recon,Attempted Information Leak,2\n"
    "config classification: misc-activity,Misc activity,3\n"
    "config classification: policy-violation,Potential Corporate Privacy Violation,1\n";

inline constexpr std::string_view kConceptText =
    "classtype\tconcepts\n"
    "trojan-activity\tcrime.02,threat.06\n"
    "attempted-recon\tthreat.04\n"
    "policy-violation\tcrime.03\n";

inline const Taxonomy& taxonomy() {
    static const Taxonomy t = [] {
        auto loaded = Taxonomy::from_text(kClassText, kConceptText);
        if (!loaded) {
            ADD_FAILURE() << loaded.error().message;
            return Taxonomy{};
        }
        return *loaded;
    }();
    return t;
}

inline RuleSet parse(std::string_view text, const LoadOptions& options = {},
                     std::string_view file = "test.rules") {
    auto set = parse_rules_text(text, file, options, taxonomy());
    if (!set) {
        ADD_FAILURE() << set.error().message;
        return RuleSet{};
    }
    return std::move(*set);
}

// All issue messages of a report, one per line, for failure output.
inline std::string issues_text(const LoadReport& report) {
    std::string out;
    for (const auto& e : report.errors) {
        out += "error: " + e.message + "\n";
    }
    for (const auto& u : report.unsupported) {
        out += "unsupported: " + u.message + "\n";
    }
    return out;
}

}  // namespace sensor::rules::test_support
