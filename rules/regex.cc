#include "rules/regex.h"

#include <string>

#include "sensor/core/check.h"

namespace sensor::rules {

namespace {

struct CodeFree {
    void operator()(pcre2_code* code) const noexcept { pcre2_code_free(code); }
};

bool jit_available() {
    static const bool available = [] {
        uint32_t jit = 0;
        return pcre2_config(PCRE2_CONFIG_JIT, &jit) >= 0 && jit == 1;
    }();
    return available;
}

}  // namespace

core::Result<Regex> Regex::compile(std::string_view pattern, uint32_t options) {
    int error_code = 0;
    PCRE2_SIZE error_offset = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                     options, &error_code, &error_offset, nullptr);
    if (code == nullptr) {
        PCRE2_UCHAR buffer[256];
        int n = pcre2_get_error_message(error_code, buffer, sizeof(buffer));
        std::string reason =
            n > 0 ? std::string(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n))
                  : std::string("unknown pcre2 error");
        return core::make_error(reason + " at offset " + std::to_string(error_offset));
    }
    Regex out;
    out.code_.reset(code, CodeFree{});
    // JIT failure is not an error: the interpreter gives the same answers, slower.
    out.jit_ = jit_available() && pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
    return out;
}

Regex::Outcome Regex::search(std::span<const uint8_t> subject, size_t start, RegexScratch& scratch,
                             size_t& match_start, size_t& match_end) const noexcept {
    if (code_ == nullptr || start > subject.size()) {
        return Outcome::kNoMatch;
    }
    // A zero-length subject still needs a valid pointer.
    static constexpr uint8_t kEmpty = 0;
    const uint8_t* data = subject.empty() ? &kEmpty : subject.data();
    int rc =
        pcre2_match(code_.get(), data, subject.size(), start, 0, scratch.data_, scratch.context_);
    if (rc == PCRE2_ERROR_NOMATCH) {
        return Outcome::kNoMatch;
    }
    if (rc < 0) {
        return Outcome::kError;
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(scratch.data_);
    match_start = ov[0];
    match_end = ov[1];
    if (match_end < match_start) {
        // \K can move the start past the end; report an empty match at the end.
        match_start = match_end;
    }
    return Outcome::kMatch;
}

RegexScratch::RegexScratch() {
    // Only the whole-match pair is read; captures are not needed by any keyword.
    data_ = pcre2_match_data_create(1, nullptr);
    context_ = pcre2_match_context_create(nullptr);
    SENSOR_CHECK(data_ != nullptr && context_ != nullptr, "pcre2 match data allocation failed");
    pcre2_set_match_limit(context_, kMatchLimit);
    pcre2_set_depth_limit(context_, kDepthLimit);
    if (jit_available()) {
        jit_stack_ = pcre2_jit_stack_create(32 * 1024, 512 * 1024, nullptr);
        SENSOR_CHECK(jit_stack_ != nullptr, "pcre2 jit stack allocation failed");
        pcre2_jit_stack_assign(context_, nullptr, jit_stack_);
    }
}

RegexScratch::~RegexScratch() {
    pcre2_jit_stack_free(jit_stack_);
    pcre2_match_context_free(context_);
    pcre2_match_data_free(data_);
}

}  // namespace sensor::rules
