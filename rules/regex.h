#pragma once
// Regex: a PCRE2 pattern compiled once on the control thread (JIT-compiled where the library
// supports it) and shared read-only by every worker. RegexScratch: one per worker thread,
// holding the match data, match limits and JIT stack, so matching never allocates.

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sensor/core/result.h"

namespace sensor::rules {

class RegexScratch;

class Regex {
public:
    enum class Outcome : uint8_t { kMatch, kNoMatch, kError };

    Regex() = default;

    // options: PCRE2 compile options. The error names PCRE2's reason and the pattern offset,
    // without a location (the caller adds file:line).
    static core::Result<Regex> compile(std::string_view pattern, uint32_t options);

    bool valid() const noexcept { return code_ != nullptr; }
    bool jit() const noexcept { return jit_; }

    // Searches subject from byte `start` on; on kMatch sets [match_start, match_end) in
    // subject coordinates. kError: a match or depth limit was hit (counted by the caller as
    // "no match"). No allocation once scratch has been warmed by a first search.
    Outcome search(std::span<const uint8_t> subject, size_t start, RegexScratch& scratch,
                   size_t& match_start, size_t& match_end) const noexcept;

private:
    std::shared_ptr<pcre2_code> code_;
    bool jit_ = false;
};

class RegexScratch {
public:
    // Suricata's defaults: bounded backtracking so a hostile payload cannot stall a worker.
    static constexpr uint32_t kMatchLimit = 3500;
    static constexpr uint32_t kDepthLimit = 1500;

    RegexScratch();  // aborts (SENSOR_CHECK) when PCRE2 cannot allocate: out of memory
    ~RegexScratch();
    RegexScratch(const RegexScratch&) = delete;
    RegexScratch& operator=(const RegexScratch&) = delete;

private:
    friend class Regex;
    pcre2_match_data* data_ = nullptr;
    pcre2_match_context* context_ = nullptr;
    pcre2_jit_stack* jit_stack_ = nullptr;
};

}  // namespace sensor::rules
