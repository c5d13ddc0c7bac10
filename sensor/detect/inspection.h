#pragma once
// Inspector: evaluates one rule's keywords of one buffer (content, pcre, byte_test,
// byte_jump, byte_extract, isdataat, bsize/urilen) with Suricata's semantics: relative
// keywords count from the end of the previous match, and when a later keyword fails the
// earlier content or pcre is retried at its next occurrence. One per worker (it owns the
// PCRE2 scratch); no allocation, no exceptions, and a fixed step budget per list.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "rules/rule.h"

namespace sensor::detect {

class Inspector {
public:
    // Keyword evaluations allowed per list and packet (Suricata's inspection recursion
    // limit): hostile payloads cannot make backtracking explode.
    static constexpr uint32_t kStepBudget = 3000;
    static constexpr size_t kMaxVars = 8;
    using Vars = std::array<uint64_t, kMaxVars>;

    // buffer: the bytes inspected. base: where the packet's own bytes start in it (the
    // length of the stream prefix; 0 for app-layer buffers). offset, depth, isdataat and byte
    // keywords without `relative` count from base, and so does a pcre without R; unanchored
    // contents also see the prefix. When base > 0 a list with a positive content or pcre
    // only matches if one of its matches ends past base (the rest fired with the previous
    // packet). vars: the rule's byte_extract values, shared by its lists.
    bool inspect(const rules::Rule& rule, const rules::ItemList& list,
                 std::span<const uint8_t> buffer, size_t base, Vars& vars) noexcept;

    uint64_t pcre_errors() const noexcept { return pcre_errors_; }
    uint64_t budget_exhausted() const noexcept { return budget_exhausted_; }

private:
    // 1: the rest of the list matched; 0: no match from here (an earlier keyword may try its
    // next occurrence); -1: no match whatever the earlier keywords do.
    int step(size_t i, int64_t prev, int64_t max_end) noexcept;
    int content_step(size_t i, const rules::Content& c, int64_t prev, int64_t max_end) noexcept;
    int pcre_step(size_t i, const rules::Pcre& p, int64_t prev, int64_t max_end) noexcept;
    int byte_step(size_t i, const rules::ByteOp& op, int64_t prev, int64_t max_end) noexcept;
    int isdataat_step(size_t i, const rules::Isdataat& d, int64_t prev, int64_t max_end) noexcept;
    int finish(int64_t max_end) const noexcept;
    // After item i matched, ending at match_end: finish the list or go on with item i + 1.
    // Returns step()'s 1, 0 or -1, or kTryNext when item i should try its next occurrence.
    static constexpr int kTryNext = 2;
    int after_match(size_t i, int64_t match_end, int64_t new_max) noexcept;
    // Whether trying the keyword before item i at a later position can help item i.
    bool later_helps(size_t i) const noexcept;
    int64_t value(const rules::Operand& op) const noexcept;

    const rules::Rule* rule_ = nullptr;
    const rules::ItemList* list_ = nullptr;
    std::span<const uint8_t> buffer_;
    int64_t len_ = 0;
    int64_t base_ = 0;
    bool require_new_ = false;
    Vars* vars_ = nullptr;
    uint32_t steps_ = 0;
    bool exhausted_ = false;
    uint64_t pcre_errors_ = 0;
    uint64_t budget_exhausted_ = 0;
    rules::RegexScratch scratch_;
};

// Reads nbytes at pos as ByteOp describes (binary endianness, or text in its base); false
// when the bytes are out of range or are not a number. consumed: bytes read (text numbers
// may stop early; with nbytes 0 they end at their last digit).
bool read_number(std::span<const uint8_t> buffer, int64_t pos, const rules::ByteOp& op,
                 uint64_t& value, int64_t& consumed) noexcept;

}  // namespace sensor::detect
