// Loads the public rule sets of ../shared/corpora/rulesets/ as a smoke check: nothing may
// crash and the totals are printed. No threshold is asserted; keyword coverage grows later.

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "rules/compiled_rules.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"

namespace sensor::rules {
namespace {

TEST(RulesetCorpus, LoadsAndCompilesWithoutCrashing) {
    namespace fs = std::filesystem;
    const fs::path root = fs::path(SENSOR_SOURCE_DIR) / ".." / "shared" / "corpora" / "rulesets";
    if (!fs::is_directory(root)) {
        GTEST_SKIP() << "no rule set corpus at " << root;
    }
    auto taxonomy = Taxonomy::load(std::string(SENSOR_SOURCE_DIR) + "/rules/data");
    ASSERT_TRUE(taxonomy.has_value()) << taxonomy.error().message;
    std::vector<fs::path> sets;
    for (const auto& entry : fs::directory_iterator(root)) {
        if (entry.is_directory()) {
            sets.push_back(entry.path());
        }
    }
    std::sort(sets.begin(), sets.end());
    ASSERT_FALSE(sets.empty());
    for (const fs::path& dir : sets) {
        auto set = load_rule_files({dir.string()}, {}, *taxonomy);
        ASSERT_TRUE(set.has_value()) << set.error().message;
        const LoadReport& rep = set->report();
        EXPECT_EQ(rep.loaded + rep.unsupported.size() + rep.errors.size(), rep.rules_seen);
        EXPECT_EQ(rep.loaded, set->rules().size());
        auto compiled = CompiledRules::compile(*set);
        ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
        // Totals only: the full text lists every error.
        std::string text = format_load_report(rep);
        std::string head = text.substr(0, text.find("errors:\n"));
        std::printf("== %s\n%sprefiltered %zu, always candidates %zu, compile issues %zu\n",
                    dir.filename().c_str(), head.c_str(), (*compiled)->prefiltered().size(),
                    (*compiled)->always_candidates().size(), (*compiled)->issues().size());
        size_t shown = 0;
        for (const LoadIssue& e : rep.errors) {
            if (shown++ == 5) {
                break;
            }
            std::printf("  e.g. %s\n", e.message.c_str());
        }
    }
}

}  // namespace
}  // namespace sensor::rules
