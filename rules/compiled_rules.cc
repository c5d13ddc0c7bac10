#include "rules/compiled_rules.h"

#include <string>
#include <utility>

namespace sensor::rules {

namespace {

// Every byte as \xHH: the pattern is then a pure literal whatever bytes it holds.
std::string escape_literal(const std::string& bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 4);
    for (char ch : bytes) {
        auto c = static_cast<unsigned char>(ch);
        out += "\\x";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xf]);
    }
    return out;
}

struct CompileErrorFree {
    void operator()(hs_compile_error_t* e) const noexcept { hs_free_compile_error(e); }
};

}  // namespace

int choose_fast_pattern(const Rule& rule) noexcept {
    int best = -1;
    for (size_t i = 0; i < rule.contents.size(); ++i) {
        const Content& c = rule.contents[i];
        if (c.negated) {
            continue;
        }
        if (c.fast_pattern && c.bytes.size() >= kMinFastPatternBytes) {
            return static_cast<int>(i);
        }
        if (best < 0 || c.bytes.size() > rule.contents[static_cast<size_t>(best)].bytes.size()) {
            best = static_cast<int>(i);
        }
    }
    if (best >= 0 && rule.contents[static_cast<size_t>(best)].bytes.size() < kMinFastPatternBytes) {
        return -1;
    }
    return best;
}

CompiledRules::~CompiledRules() {
    if (db_ != nullptr) {
        hs_free_database(db_);
    }
}

core::Result<std::shared_ptr<const CompiledRules>> CompiledRules::compile(const RuleSet& rules) {
    std::shared_ptr<CompiledRules> out(new CompiledRules());
    const std::vector<Rule>& list = rules.rules();
    out->fast_pattern_.assign(list.size(), -1);
    out->usable_.assign(list.size(), 1);

    std::vector<uint32_t> ids;
    std::vector<std::string> patterns;
    std::vector<unsigned> flags;
    for (size_t i = 0; i < list.size(); ++i) {
        int fp = choose_fast_pattern(list[i]);
        if (fp < 0) {
            out->always_.push_back(static_cast<uint32_t>(i));
            continue;
        }
        const Content& c = list[i].contents[static_cast<size_t>(fp)];
        out->fast_pattern_[i] = fp;
        ids.push_back(static_cast<uint32_t>(i));
        patterns.push_back(escape_literal(c.bytes));
        flags.push_back(c.nocase ? HS_FLAG_CASELESS : 0u);
    }

    // A pattern that fails is reported against its rule and left out, then the rest is
    // compiled again, until it succeeds or fails for a reason that names no pattern.
    while (!ids.empty()) {
        std::vector<const char*> exprs;
        exprs.reserve(patterns.size());
        for (const std::string& p : patterns) {
            exprs.push_back(p.c_str());
        }
        hs_database_t* db = nullptr;
        hs_compile_error_t* raw_error = nullptr;
        hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                                         static_cast<unsigned>(ids.size()), HS_MODE_BLOCK, nullptr,
                                         &db, &raw_error);
        if (rc == HS_SUCCESS) {
            out->db_ = db;
            break;
        }
        std::unique_ptr<hs_compile_error_t, CompileErrorFree> error(raw_error);
        std::string message = error && error->message ? error->message : "unknown error";
        if (!error || error->expression < 0 ||
            static_cast<size_t>(error->expression) >= ids.size()) {
            return core::make_error("hyperscan: cannot compile " + std::to_string(ids.size()) +
                                    " fast patterns: " + message);
        }
        auto bad = static_cast<size_t>(error->expression);
        uint32_t rule_index = ids[bad];
        const Rule& r = list[rule_index];
        out->issues_.push_back(LoadIssue{
            r.file, r.line, "content",
            r.file + ":" + std::to_string(r.line) + ": fast pattern does not compile: " + message});
        out->usable_[rule_index] = 0;
        out->fast_pattern_[rule_index] = -1;
        ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(bad));
        patterns.erase(patterns.begin() + static_cast<std::ptrdiff_t>(bad));
        flags.erase(flags.begin() + static_cast<std::ptrdiff_t>(bad));
    }
    out->prefiltered_ = std::move(ids);
    return std::shared_ptr<const CompiledRules>(std::move(out));
}

}  // namespace sensor::rules
