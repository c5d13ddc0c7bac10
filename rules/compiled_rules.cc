#include "rules/compiled_rules.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>

namespace sensor::rules {

namespace {

// Every byte as \xHH: the pattern is then a pure literal whatever bytes it holds.
std::string escape_literal(std::string_view bytes) {
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

// Suricata's default order: action (pass, drop, reject, alert), then flowbits (rules that
// only set, then set and read, then only read, then none), then priority; file order last.
int action_order(Action a) {
    switch (a) {
        case Action::kPass:
            return 0;
        case Action::kDrop:
            return 1;
        case Action::kReject:
            return 2;
        case Action::kAlert:
            return 3;
    }
    return 3;
}

int flowbits_order(const Rule& r) {
    bool sets = false;
    bool reads = false;
    for (const FlowbitOp& op : r.flowbits) {
        (op.is_check() ? reads : sets) = true;
    }
    if (sets && !reads) {
        return 0;
    }
    if (sets) {
        return 1;
    }
    return reads ? 2 : 3;
}

// The slot of the first app-layer buffer a rule inspects; kBufferSlots when none.
size_t required_slot(const Rule& r) {
    for (const ItemList& l : r.lists) {
        if (!l.buffer.is_payload()) {
            return l.buffer.slot();
        }
    }
    return kBufferSlots;
}

// Hyperscan flags for a pcre used as a prefilter. Prefilter mode may over-approximate, and so
// may dropping anchoring (A) and $-at-end (E) semantics: a candidate is always confirmed by
// PCRE2. Returns false when Hyperscan cannot take the pattern at all.
bool pcre_prefilter_pattern(const Pcre& p, std::string& expression, unsigned& flags) {
    if (p.negated || p.relative) {
        return false;
    }
    flags = HS_FLAG_PREFILTER;
    if ((p.compile_options & PCRE2_CASELESS) != 0) {
        flags |= HS_FLAG_CASELESS;
    }
    if ((p.compile_options & PCRE2_DOTALL) != 0) {
        flags |= HS_FLAG_DOTALL;
    }
    if ((p.compile_options & PCRE2_MULTILINE) != 0) {
        flags |= HS_FLAG_MULTILINE;
    }
    expression = (p.compile_options & PCRE2_EXTENDED) != 0 ? "(?x)" + p.pattern : p.pattern;
    hs_expr_info_t* info = nullptr;
    hs_compile_error_t* raw_error = nullptr;
    hs_error_t rc = hs_expression_info(expression.c_str(), flags, &info, &raw_error);
    std::unique_ptr<hs_compile_error_t, CompileErrorFree> error(raw_error);
    if (rc != HS_SUCCESS || info == nullptr) {
        return false;
    }
    // A pattern that can match the empty string says nothing about a buffer.
    bool useful = info->min_width > 0;
    std::free(info);
    return useful;
}

struct Pattern {
    uint32_t rank = 0;
    uint32_t rule = 0;
    bool pcre = false;
    std::string expression;
    unsigned flags = 0;
};

}  // namespace

size_t min_fast_pattern_bytes(BufferId buffer) noexcept {
    return buffer.is_payload() ? kMinFastPatternBytes : 1;
}

int choose_fast_pattern(const Rule& rule) noexcept {
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < rule.contents.size(); ++i) {
        const Content& c = rule.contents[i];
        const size_t len = c.prefilter_bytes().size();
        if (c.negated || len < min_fast_pattern_bytes(c.buffer)) {
            continue;
        }
        if (c.fast_pattern) {
            return static_cast<int>(i);
        }
        if (best < 0 || len > best_len) {
            best = static_cast<int>(i);
            best_len = len;
        }
    }
    return best;
}

CompiledRules::~CompiledRules() {
    for (hs_database_t* db : dbs_) {
        if (db != nullptr) {
            hs_free_database(db);
        }
    }
    if (payload_pcre_db_ != nullptr) {
        hs_free_database(payload_pcre_db_);
    }
}

size_t CompiledRules::database_bytes() const noexcept {
    size_t total = 0;
    auto add = [&](const hs_database_t* db) {
        size_t bytes = 0;
        if (db != nullptr && hs_database_size(db, &bytes) == HS_SUCCESS) {
            total += bytes;
        }
    };
    for (const hs_database_t* db : dbs_) {
        add(db);
    }
    add(payload_pcre_db_);
    return total;
}

core::Result<std::shared_ptr<const CompiledRules>> CompiledRules::compile(const RuleSet& rules) {
    std::shared_ptr<CompiledRules> out(new CompiledRules());
    const std::vector<Rule>& list = rules.rules();
    const size_t n = list.size();
    out->fast_pattern_.assign(n, -1);
    out->pcre_prefilter_.assign(n, -1);
    out->usable_.assign(n, 1);

    out->order_.resize(n);
    std::iota(out->order_.begin(), out->order_.end(), 0u);
    std::stable_sort(out->order_.begin(), out->order_.end(), [&](uint32_t a, uint32_t b) {
        const Rule& ra = list[a];
        const Rule& rb = list[b];
        auto key = [](const Rule& r) {
            return std::make_tuple(action_order(r.action), flowbits_order(r), r.priority);
        };
        return key(ra) < key(rb);
    });
    out->rank_.assign(n, 0);
    for (uint32_t rank = 0; rank < n; ++rank) {
        out->rank_[out->order_[rank]] = rank;
    }

    // One pattern list per slot, plus the payload's pcre list last.
    constexpr size_t kPayloadPcre = kBufferSlots;
    std::array<std::vector<Pattern>, kBufferSlots + 1> patterns;
    for (uint32_t rank = 0; rank < n; ++rank) {
        const uint32_t index = out->order_[rank];
        const Rule& r = list[index];
        if (int fp = choose_fast_pattern(r); fp >= 0) {
            const Content& c = r.contents[static_cast<size_t>(fp)];
            out->fast_pattern_[index] = fp;
            patterns[c.buffer.slot()].push_back(Pattern{rank, index, false,
                                                        escape_literal(c.prefilter_bytes()),
                                                        c.nocase ? HS_FLAG_CASELESS : 0u});
            continue;
        }
        bool placed = false;
        for (size_t i = 0; i < r.pcres.size() && !placed; ++i) {
            Pattern p{rank, index, true, {}, 0};
            if (pcre_prefilter_pattern(r.pcres[i], p.expression, p.flags)) {
                out->pcre_prefilter_[index] = static_cast<int>(i);
                const BufferId b = r.pcres[i].buffer;
                patterns[b.is_payload() ? kPayloadPcre : b.slot()].push_back(std::move(p));
                placed = true;
            }
        }
        if (placed) {
            continue;
        }
        size_t slot = required_slot(r);
        if (slot < kBufferSlots) {
            out->slot_always_[slot].push_back(rank);
        } else {
            out->always_.push_back(rank);
        }
    }

    // A pattern that fails is left out and the rest compiled again, until it succeeds or
    // fails for a reason that names no pattern. A failed literal drops its rule (reported
    // with file:line); a failed pcre prefilter only makes its rule an always candidate.
    for (size_t slot = 0; slot <= kPayloadPcre; ++slot) {
        std::vector<Pattern>& pats = patterns[slot];
        hs_database_t*& target_db = slot == kPayloadPcre ? out->payload_pcre_db_ : out->dbs_[slot];
        const BufferId buffer = slot == kPayloadPcre ? BufferId{} : BufferId::from_slot(slot);
        while (!pats.empty()) {
            std::vector<const char*> exprs;
            std::vector<unsigned> flags;
            std::vector<unsigned> ids;
            exprs.reserve(pats.size());
            flags.reserve(pats.size());
            ids.reserve(pats.size());
            for (const Pattern& p : pats) {
                exprs.push_back(p.expression.c_str());
                flags.push_back(p.flags);
                ids.push_back(p.rank);
            }
            hs_database_t* db = nullptr;
            hs_compile_error_t* raw_error = nullptr;
            hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                                             static_cast<unsigned>(pats.size()), HS_MODE_BLOCK,
                                             nullptr, &db, &raw_error);
            if (rc == HS_SUCCESS) {
                target_db = db;
                break;
            }
            std::unique_ptr<hs_compile_error_t, CompileErrorFree> error(raw_error);
            std::string message = error && error->message ? error->message : "unknown error";
            if (!error || error->expression < 0 ||
                static_cast<size_t>(error->expression) >= pats.size()) {
                return core::make_error("hyperscan: cannot compile " + std::to_string(pats.size()) +
                                        " prefilter patterns of " + buffer_name(buffer) + ": " +
                                        message);
            }
            auto bad = static_cast<size_t>(error->expression);
            const Pattern& p = pats[bad];
            const Rule& r = list[p.rule];
            if (p.pcre) {
                out->pcre_prefilter_[p.rule] = -1;
                size_t need = required_slot(r);
                auto& target = need < kBufferSlots ? out->slot_always_[need] : out->always_;
                target.insert(std::lower_bound(target.begin(), target.end(), p.rank), p.rank);
            } else {
                out->issues_.push_back(
                    LoadIssue{r.file, r.line, "content",
                              r.file + ":" + std::to_string(r.line) +
                                  ": fast pattern does not compile: " + message});
                out->usable_[p.rule] = 0;
                out->fast_pattern_[p.rule] = -1;
            }
            pats.erase(pats.begin() + static_cast<std::ptrdiff_t>(bad));
        }
        for (const Pattern& p : pats) {
            out->prefiltered_.push_back(p.rank);
        }
    }
    std::sort(out->prefiltered_.begin(), out->prefiltered_.end());
    return std::shared_ptr<const CompiledRules>(std::move(out));
}

}  // namespace sensor::rules
