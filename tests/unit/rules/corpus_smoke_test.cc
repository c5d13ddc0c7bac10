// Loads the public rule sets of ../shared/corpora/rulesets/ as a smoke check: nothing may
// crash, the totals and the load and compile times are printed, and each known set must load
// at least its target share of rules (so a keyword regression shows here).

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
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
    // Share of rule lines that must load, per known set.
    const std::map<std::string, double> targets = {
        {"et-open-2024-04-21_suricata-5.0-enhanced", 0.90},
        {"snort3-community-rules_2024-02-28", 0.85},
        {"et-open-2017-05_snort-2.9.0", 0.90},
    };
    using Clock = std::chrono::steady_clock;
    for (const fs::path& dir : sets) {
        const auto t0 = Clock::now();
        auto set = load_rule_files({dir.string()}, {}, *taxonomy);
        const auto t1 = Clock::now();
        ASSERT_TRUE(set.has_value()) << set.error().message;
        const LoadReport& rep = set->report();
        EXPECT_EQ(rep.loaded + rep.unsupported.size() + rep.errors.size(), rep.rules_seen);
        EXPECT_EQ(rep.loaded, set->rules().size());
        auto compiled = CompiledRules::compile(*set);
        const auto t2 = Clock::now();
        ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
        const double loaded_share = rep.rules_seen == 0 ? 1.0
                                                        : static_cast<double>(rep.loaded) /
                                                              static_cast<double>(rep.rules_seen);
        if (auto it = targets.find(dir.filename().string()); it != targets.end()) {
            EXPECT_GE(loaded_share, it->second) << dir.filename();
        }
        // Totals only: the full text lists every error.
        std::string text = format_load_report(rep);
        std::string head = text.substr(0, text.find("errors:\n"));
        std::printf(
            "== %s\n%sloaded %.1f%%; load %.2f s, compile %.2f s (%zu database bytes)\n"
            "prefiltered %zu, always candidates %zu, compile issues %zu\n",
            dir.filename().c_str(), head.c_str(), 100.0 * loaded_share,
            std::chrono::duration<double>(t1 - t0).count(),
            std::chrono::duration<double>(t2 - t1).count(), (*compiled)->database_bytes(),
            (*compiled)->prefiltered().size(), (*compiled)->always_candidates().size(),
            (*compiled)->issues().size());
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
