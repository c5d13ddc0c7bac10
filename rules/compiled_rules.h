#pragma once
// CompiledRules: a RuleSet's prefilter. One fast pattern per rule in a Hyperscan block-mode
// database (pattern id = rule index); rules without a usable pattern are "always candidates".
// Built on the control thread; immutable after, and shared by every worker (each brings
// its own hs_scratch_t).

#include <hs.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "rules/rule_set.h"
#include "sensor/core/result.h"

namespace sensor::rules {

// Contents shorter than this stay out of the prefilter: they would match too often to be
// worth a candidate each, so such rules are checked on header alone first.
inline constexpr size_t kMinFastPatternBytes = 4;

// Index of the content that feeds the prefilter: the rule's fast_pattern content when it is
// positive and long enough, else its longest positive content (first on ties); -1 when the
// chosen content is shorter than kMinFastPatternBytes or the rule has no positive content.
int choose_fast_pattern(const Rule& rule) noexcept;

class CompiledRules {
public:
    // Errors only when Hyperscan fails as a whole; a rule whose own pattern fails to compile
    // is dropped and listed in issues() with its file:line.
    static core::Result<std::shared_ptr<const CompiledRules>> compile(const RuleSet& rules);

    ~CompiledRules();
    CompiledRules(const CompiledRules&) = delete;
    CompiledRules& operator=(const CompiledRules&) = delete;

    // nullptr when no rule has a prefilter pattern.
    const hs_database_t* database() const noexcept { return db_; }
    // Rule indices, ascending, that are evaluated for every packet.
    std::span<const uint32_t> always_candidates() const noexcept { return always_; }
    // Rule indices, ascending, that are in the database.
    std::span<const uint32_t> prefiltered() const noexcept { return prefiltered_; }
    // Content index used as the rule's fast pattern; -1 for always candidates and dropped rules.
    int fast_pattern(uint32_t rule) const noexcept { return fast_pattern_[rule]; }
    // False for rules dropped at compile time: never a candidate.
    bool usable(uint32_t rule) const noexcept { return usable_[rule] != 0; }
    const std::vector<LoadIssue>& issues() const noexcept { return issues_; }

private:
    CompiledRules() = default;

    hs_database_t* db_ = nullptr;
    std::vector<uint32_t> always_;
    std::vector<uint32_t> prefiltered_;
    std::vector<int> fast_pattern_;
    std::vector<uint8_t> usable_;
    std::vector<LoadIssue> issues_;
};

}  // namespace sensor::rules
