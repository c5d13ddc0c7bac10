#pragma once
// CompiledRules: a RuleSet's evaluation order and prefilter. Rules are ranked as Suricata
// orders them (action, flowbits setters before readers, priority, then file order); each
// rule gives at most one prefilter pattern (its fast-pattern content, or else a pcre in
// Hyperscan prefilter mode) to the block-mode database of that pattern's buffer, with the
// rank as pattern id. Rules without a pattern are "always candidates" (of their required
// app-layer buffer when they have one). Built on the control thread; immutable after, and
// shared by every worker (each brings its own hs_scratch_t).

#include <hs.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "rules/rule_set.h"
#include "sensor/core/result.h"

namespace sensor::rules {

// Payload contents shorter than this stay out of the prefilter: they would match too often
// to be worth a candidate each. App-layer buffers are small and scanned only when present,
// so any length is worth it there.
inline constexpr size_t kMinFastPatternBytes = 4;

size_t min_fast_pattern_bytes(BufferId buffer) noexcept;

// Index of the content that feeds the prefilter: the rule's fast_pattern content when it is
// positive and long enough for its buffer, else its longest such positive content (first on
// ties); -1 when there is none.
int choose_fast_pattern(const Rule& rule) noexcept;

class CompiledRules {
public:
    // Errors only when Hyperscan fails as a whole; a rule whose own pattern fails to compile
    // is dropped and listed in issues() with its file:line.
    static core::Result<std::shared_ptr<const CompiledRules>> compile(const RuleSet& rules);

    ~CompiledRules();
    CompiledRules(const CompiledRules&) = delete;
    CompiledRules& operator=(const CompiledRules&) = delete;

    // Evaluation order: order()[rank] is a rule index; rank(index) the inverse.
    std::span<const uint32_t> order() const noexcept { return order_; }
    uint32_t rank(uint32_t rule) const noexcept { return rank_[rule]; }

    // The prefilter of one buffer slot (BufferId::slot()); nullptr when no rule has a pattern
    // there. Pattern ids are ranks.
    const hs_database_t* database(size_t slot) const noexcept { return dbs_[slot]; }
    // The packet payload's database (contents; scanned over stream prefix + payload).
    const hs_database_t* database() const noexcept { return dbs_[BufferId{}.slot()]; }
    // Pcre prefilter patterns of the packet payload, scanned over the payload alone: a pcre
    // without R anchors at the payload start, which the stream prefix would move.
    const hs_database_t* payload_pcre_database() const noexcept { return payload_pcre_db_; }
    // Ranks, ascending, evaluated for every packet (no pattern, no app-layer buffer needed).
    std::span<const uint32_t> always_candidates() const noexcept { return always_; }
    // Ranks, ascending, without a pattern that need the buffer of this slot: evaluated for
    // every packet that has that buffer.
    std::span<const uint32_t> slot_candidates(size_t slot) const noexcept {
        return slot_always_[slot];
    }
    // Ranks, ascending, that have a pattern in some database.
    std::span<const uint32_t> prefiltered() const noexcept { return prefiltered_; }
    // Content index used as the rule's fast pattern, or -1.
    int fast_pattern(uint32_t rule) const noexcept { return fast_pattern_[rule]; }
    // Pcre index used as the rule's prefilter pattern (when it has no fast pattern), or -1.
    int pcre_prefilter(uint32_t rule) const noexcept { return pcre_prefilter_[rule]; }
    // False for rules dropped at compile time: never a candidate.
    bool usable(uint32_t rule) const noexcept { return usable_[rule] != 0; }
    const std::vector<LoadIssue>& issues() const noexcept { return issues_; }
    // Total bytes of all databases.
    size_t database_bytes() const noexcept;

private:
    CompiledRules() = default;

    std::array<hs_database_t*, kBufferSlots> dbs_{};
    hs_database_t* payload_pcre_db_ = nullptr;
    std::vector<uint32_t> order_;
    std::vector<uint32_t> rank_;
    std::vector<uint32_t> always_;
    std::array<std::vector<uint32_t>, kBufferSlots> slot_always_;
    std::vector<uint32_t> prefiltered_;
    std::vector<int> fast_pattern_;
    std::vector<int> pcre_prefilter_;
    std::vector<uint8_t> usable_;
    std::vector<LoadIssue> issues_;
};

}  // namespace sensor::rules
