#pragma once
// SignatureDb: a RuleSet with its compiled prefilter, evaluation order and per-protocol lists
// of the rules checked on every packet. Built on the control thread; immutable and shared by
// all workers.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "rules/compiled_rules.h"
#include "rules/rule_set.h"
#include "sensor/core/result.h"
#include "sensor/detect/candidate_index.h"

namespace sensor::detect {

// Which always-candidate list a packet consults, from its IP protocol; ARP frames (no IP)
// consult kArp, which holds the arp rules and nothing else.
enum class ProtoBucket : uint8_t { kTcp, kUdp, kIcmp, kOther, kArp, kCount };

ProtoBucket proto_bucket(uint8_t ip_proto) noexcept;

class SignatureDb {
public:
    static core::Result<std::shared_ptr<const SignatureDb>> build(
        std::shared_ptr<const rules::RuleSet> rules, const rules::CompileOptions& options = {});

    const rules::Rule& rule(uint32_t index) const noexcept { return rules_->rules()[index]; }
    size_t size() const noexcept { return rules_->rules().size(); }
    const rules::RuleSet& rule_set() const noexcept { return *rules_; }
    const rules::CompiledRules& compiled() const noexcept { return *compiled_; }
    // Rule index evaluated at this rank (rules are evaluated in rank order).
    uint32_t rule_at(uint32_t rank) const noexcept { return compiled_->order()[rank]; }
    // Rules dropped because their fast pattern did not compile (file:line messages).
    const std::vector<rules::LoadIssue>& compile_issues() const noexcept {
        return compiled_->issues();
    }
    // Ranks, ascending, of the always candidates that can match a packet of this bucket
    // and that the candidate index does not hold.
    std::span<const uint32_t> always_candidates(ProtoBucket bucket) const noexcept {
        return always_[static_cast<size_t>(bucket)];
    }
    // The other always candidates, by flowbit, address or port.
    const CandidateIndex& candidate_index() const noexcept { return index_; }
    // Whether some rule inspects the buffer of this slot (so workers size its storage).
    bool slot_used(size_t slot) const noexcept { return slot_used_[slot]; }

private:
    SignatureDb() = default;

    std::shared_ptr<const rules::RuleSet> rules_;
    std::shared_ptr<const rules::CompiledRules> compiled_;
    std::vector<uint32_t> always_[static_cast<size_t>(ProtoBucket::kCount)];
    std::array<bool, rules::kBufferSlots> slot_used_{};
    CandidateIndex index_;
};

}  // namespace sensor::detect
