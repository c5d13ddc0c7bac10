#include "rules/compiled_rules.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>

#include "sensor/core/cpus.h"

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
// only set, then set and read, then only read, then none), then xbits (below), then priority;
// file order last.
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

// Suricata's order then puts rules that check host xbits (track ip_src or ip_dst) before
// the others, then likewise those that check ip_pair xbits. A rule that only sets xbits ranks
// with the rules that have none: Suricata counts xbits setters as writers only under the
// hostbits keyword, so a rule checking a bit runs before a rule setting it on one packet.
int xbits_order(const Rule& r, bool pair) {
    for (const XbitOp& op : r.xbits) {
        if (op.is_check() && (op.track == XbitOp::Track::kIpPair) == pair) {
            return 0;
        }
    }
    return 1;
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

// Which payload variants a rule can match: a bit per payload_variant().
unsigned payload_variant_mask(const Rule& r) {
    unsigned protos = 0;
    auto add_proto = [&](PayloadProto p) { protos |= 1u << static_cast<unsigned>(p); };
    switch (r.proto) {
        case Protocol::kIp:
            add_proto(PayloadProto::kTcp);
            add_proto(PayloadProto::kUdp);
            add_proto(PayloadProto::kOther);
            break;
        case Protocol::kTcp:
            add_proto(PayloadProto::kTcp);
            break;
        case Protocol::kUdp:
            add_proto(PayloadProto::kUdp);
            break;
        case Protocol::kIcmp:
        case Protocol::kSctp:
            add_proto(PayloadProto::kOther);
            break;
        case Protocol::kApp:  // app-layer protocols ride on TCP or UDP
            add_proto(PayloadProto::kTcp);
            add_proto(PayloadProto::kUdp);
            break;
        case Protocol::kArp:  // no payload: the loader refuses payload keywords on arp rules
            break;
    }
    // The detector rejects flow:to_server on a packet to the client and the reverse.
    const bool server = !r.flow.to_client;
    const bool client = !r.flow.to_server;
    unsigned mask = 0;
    for (size_t p = 0; p < kPayloadProtos; ++p) {
        if ((protos & (1u << p)) == 0) {
            continue;
        }
        const auto proto = static_cast<PayloadProto>(p);
        if (server) {
            mask |= 1u << payload_variant(proto, false);
        }
        if (client) {
            mask |= 1u << payload_variant(proto, true);
        }
    }
    return mask;
}

size_t port_count(const PortSpec& spec) {
    size_t n = 0;
    for (const auto& r : spec.set.ranges()) {
        n += size_t{r.hi} - r.lo + 1;
    }
    return n;
}

// Whether a packet to one of `ports` can match the rule's header (see kMaxPortGroups).
bool admits_any_port(const Rule& r, const std::vector<uint16_t>& ports) {
    if (!r.services.empty()) {
        return true;
    }
    return std::any_of(ports.begin(), ports.end(), [&](uint16_t port) {
        return r.dst_port.matches(port) || (r.bidirectional && r.src_port.matches(port));
    });
}

// Whether a packet to some port outside `grouped` (sorted) can match the rule's header.
bool admits_other_port(const Rule& r, const std::vector<uint16_t>& grouped) {
    auto outside = [&](const PortSpec& spec) {
        if (spec.any) {
            return true;
        }
        size_t inside = 0;
        for (uint16_t p : grouped) {
            inside += spec.matches(p) ? 1 : 0;
        }
        return port_count(spec) > inside;
    };
    return !r.services.empty() || outside(r.dst_port) || (r.bidirectional && outside(r.src_port));
}

// The port groups past group 0. The ports that payload rules name in their destination
// (port lists and ranges of at most kNarrowSpec ports; wider ones, such as 1024:, name every
// port alike): the kMaxPortGroups - 1 most named ones get a group each, the other named ones
// share the last group. Group 0 (every port no rule names) then leaves out every rule that
// names its ports, which is most of the payload traffic's destinations: clients' ports.
std::vector<std::vector<uint16_t>> choose_port_groups(const std::vector<Rule>& rules,
                                                      const std::vector<Pattern>& placed) {
    constexpr size_t kNarrowSpec = 1024;
    constexpr unsigned kPortedVariants = (1u << payload_variant(PayloadProto::kTcp, false)) |
                                         (1u << payload_variant(PayloadProto::kTcp, true)) |
                                         (1u << payload_variant(PayloadProto::kUdp, false)) |
                                         (1u << payload_variant(PayloadProto::kUdp, true));
    std::vector<uint32_t> weight(65536, 0);
    std::vector<uint8_t> seen(rules.size(), 0);
    for (const Pattern& p : placed) {
        const Rule& r = rules[p.rule];
        if (seen[p.rule] != 0 || (payload_variant_mask(r) & kPortedVariants) == 0 ||
            !r.services.empty() || r.bidirectional || r.dst_port.any ||
            port_count(r.dst_port) > kNarrowSpec) {
            continue;
        }
        seen[p.rule] = 1;
        for (const auto& range : r.dst_port.set.ranges()) {
            for (uint32_t port = range.lo; port <= range.hi; ++port) {
                ++weight[port];
            }
        }
    }
    std::vector<uint16_t> named;
    for (uint32_t port = 0; port < weight.size(); ++port) {
        if (weight[port] > 0) {
            named.push_back(static_cast<uint16_t>(port));
        }
    }
    // The most named first; the lower port on ties, so the choice does not depend on order.
    std::stable_sort(named.begin(), named.end(),
                     [&](uint16_t a, uint16_t b) { return weight[a] > weight[b]; });
    std::vector<std::vector<uint16_t>> groups;
    size_t i = 0;
    for (; i < named.size() && groups.size() + 1 < kMaxPortGroups &&
           weight[named[i]] >= kMinRulesPerPortGroup;
         ++i) {
        groups.push_back({named[i]});
    }
    if (i < named.size()) {
        groups.emplace_back(named.begin() + static_cast<std::ptrdiff_t>(i), named.end());
    }
    return groups;
}

// Payload pattern lists of one kind (contents, or pcre prefilters and anchored contents),
// one entry per distinct (variant, port group) list: groups whose rules are those of another
// group of the same variant share its entry.
struct PayloadLists {
    std::array<uint16_t, kPayloadVariants * kPortGroups> index{};
    std::vector<std::vector<Pattern>> lists;
    std::vector<size_t> variant;  // of each entry (for messages)
    // The first group that uses each entry, or kWholeVariant for the variant's whole list.
    std::vector<size_t> group;
};

// A port group gets a database of its own only when it holds at most this share of its
// variant's patterns.
constexpr size_t kMaxGroupSharePercent = 85;
constexpr size_t kWholeVariant = SIZE_MAX;

// `admitted[rule]` has bit g when port group g admits the rule; `groups` counts the groups in
// use (group 0 included). Without `admitted` the lists are split by variant only.
PayloadLists split_payload(const std::vector<Rule>& rules, const std::vector<Pattern>& placed,
                           bool pcre, const std::vector<uint32_t>* admitted, size_t groups) {
    if (admitted == nullptr) {
        groups = 1;
    }
    PayloadLists out;
    for (size_t v = 0; v < kPayloadVariants; ++v) {
        const bool ported = static_cast<PayloadProto>(v / 2) != PayloadProto::kOther;
        const size_t first_entry = out.lists.size();
        std::vector<Pattern> whole;  // the variant's patterns, every group's
        for (const Pattern& p : placed) {
            if (p.pcre == pcre && (payload_variant_mask(rules[p.rule]) & (1u << v)) != 0) {
                whole.push_back(p);
            }
        }
        for (size_t g = 0; g < (ported ? groups : 1); ++g) {
            std::vector<Pattern> list;
            for (const Pattern& p : whole) {
                if (!ported || admitted == nullptr || ((*admitted)[p.rule] & (1u << g)) != 0) {
                    list.push_back(p);
                }
            }
            // A group that would leave out few patterns is not worth a database of its own
            // (each costs compile time and memory): it scans the variant's whole list.
            const bool own = list.size() * 100 <= whole.size() * kMaxGroupSharePercent;
            if (!own) {
                list = whole;
            }
            auto same = [&list](const std::vector<Pattern>& other) {
                return other.size() == list.size() &&
                       std::equal(
                           other.begin(), other.end(), list.begin(),
                           [](const Pattern& x, const Pattern& y) { return x.rank == y.rank; });
            };
            const auto found =
                std::find_if(out.lists.begin() + static_cast<std::ptrdiff_t>(first_entry),
                             out.lists.end(), same);
            const auto entry = static_cast<size_t>(found - out.lists.begin());
            if (found == out.lists.end()) {
                out.lists.push_back(std::move(list));
                out.variant.push_back(v);
                out.group.push_back(own ? g : kWholeVariant);
            }
            out.index[v * kPortGroups + g] = static_cast<uint16_t>(entry);
        }
        // Groups past those in use, and every group of a protocol without ports, read the
        // entry of group 0.
        for (size_t g = ported ? groups : 1; g < kPortGroups; ++g) {
            out.index[v * kPortGroups + g] = out.index[v * kPortGroups];
        }
    }
    return out;
}

// Bit g per rule: whether port group g admits it.
std::vector<uint32_t> admitted_groups(const std::vector<Rule>& rules,
                                      const std::vector<Pattern>& placed,
                                      const std::vector<std::vector<uint16_t>>& group_ports) {
    std::vector<uint16_t> grouped;
    for (const auto& ports : group_ports) {
        grouped.insert(grouped.end(), ports.begin(), ports.end());
    }
    std::sort(grouped.begin(), grouped.end());
    std::vector<uint32_t> admitted(rules.size(), 0);
    std::vector<uint8_t> known(rules.size(), 0);
    for (const Pattern& p : placed) {
        if (known[p.rule] != 0) {
            continue;
        }
        known[p.rule] = 1;
        const Rule& r = rules[p.rule];
        uint32_t bits = admits_other_port(r, grouped) ? 1u : 0u;
        for (size_t g = 0; g < group_ports.size(); ++g) {
            if (admits_any_port(r, group_ports[g])) {
                bits |= 1u << (g + 1);
            }
        }
        admitted[p.rule] = bits;
    }
    return admitted;
}

// One database to build: its patterns, where the result goes and what failed.
struct CompileJob {
    const std::vector<Pattern>* patterns = nullptr;
    hs_database_t** target = nullptr;
    std::string what;  // for messages: the buffer and variant
    struct Failure {
        size_t pattern;  // index into *patterns
        std::string message;
    };
    std::vector<Failure> failures;
    std::string fatal;
    bool from_cache = false;  // the database was loaded, not compiled
    std::string store_error;
};

// Builds one database, leaving out excluded rules and, one at a time, every pattern Hyperscan
// names as failing, until it succeeds or fails for a reason that names no pattern.
void run_job(CompileJob& job, const std::vector<uint8_t>& excluded, const HsCache* cache) {
    job.failures.clear();
    job.fatal.clear();
    job.from_cache = false;
    job.store_error.clear();
    std::vector<size_t> live;
    for (size_t i = 0; i < job.patterns->size(); ++i) {
        if (excluded[(*job.patterns)[i].rule] == 0) {
            live.push_back(i);
        }
    }
    while (!live.empty()) {
        std::vector<const char*> exprs;
        std::vector<unsigned> flags;
        std::vector<unsigned> ids;
        exprs.reserve(live.size());
        flags.reserve(live.size());
        ids.reserve(live.size());
        for (size_t i : live) {
            const Pattern& p = (*job.patterns)[i];
            exprs.push_back(p.expression.c_str());
            // A prefilter only needs to know that a pattern occurred: one report per pattern
            // and scan spares the callback (and Hyperscan the bookkeeping) of every repeat.
            flags.push_back(p.flags | HS_FLAG_SINGLEMATCH);
            ids.push_back(p.rank);
        }
        std::string key;
        if (cache != nullptr) {
            key = HsCache::key(exprs, flags, ids);
            if (std::optional<HsCache::Entry> hit = cache->load(key)) {
                if (hit->database != nullptr) {
                    *job.target = hit->database;
                    job.from_cache = true;
                    return;
                }
                if (hit->failed_pattern < live.size()) {
                    auto bad = hit->failed_pattern;
                    job.failures.push_back(CompileJob::Failure{live[bad], hit->failure});
                    live.erase(live.begin() + static_cast<std::ptrdiff_t>(bad));
                    continue;
                }
            }
        }
        hs_database_t* db = nullptr;
        hs_compile_error_t* raw_error = nullptr;
        hs_error_t rc = hs_compile_multi(exprs.data(), flags.data(), ids.data(),
                                         static_cast<unsigned>(live.size()), HS_MODE_BLOCK, nullptr,
                                         &db, &raw_error);
        if (rc == HS_SUCCESS) {
            *job.target = db;
            if (cache != nullptr) {
                if (auto stored = cache->store(key, db); !stored) {
                    job.store_error = stored.error().message;
                }
            }
            return;
        }
        std::unique_ptr<hs_compile_error_t, CompileErrorFree> error(raw_error);
        std::string message = error && error->message ? error->message : "unknown error";
        if (!error || error->expression < 0 ||
            static_cast<size_t>(error->expression) >= live.size()) {
            job.fatal = "hyperscan: cannot compile " + std::to_string(live.size()) +
                        " prefilter patterns of " + job.what + ": " + message;
            return;
        }
        auto bad = static_cast<size_t>(error->expression);
        if (cache != nullptr) {
            if (auto stored = cache->store_failure(key, bad, message); !stored) {
                job.store_error = stored.error().message;
            }
        }
        job.failures.push_back(CompileJob::Failure{live[bad], std::move(message)});
        live.erase(live.begin() + static_cast<std::ptrdiff_t>(bad));
    }
}

// Runs the jobs on up to `threads` threads: Hyperscan's compiler is reentrant, and the
// databases are independent.
void run_jobs(std::vector<CompileJob*>& jobs, const std::vector<uint8_t>& excluded,
              unsigned threads, const HsCache* cache, const std::atomic<bool>* cancel) {
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i = next++; i < jobs.size(); i = next++) {
            if (cancel != nullptr && cancel->load(std::memory_order_relaxed)) {
                return;
            }
            run_job(*jobs[i], excluded, cache);
        }
    };
    const size_t extra = std::min<size_t>(threads, jobs.size()) - 1;
    std::vector<std::thread> pool;
    pool.reserve(extra);
    for (size_t t = 0; t < extra; ++t) {
        pool.emplace_back(work);
    }
    work();
    for (std::thread& t : pool) {
        t.join();
    }
}

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

int choose_anchored_pattern(const Rule& rule, std::string& expression, unsigned& flags) {
    int best = -1;
    size_t best_len = 0;
    for (size_t i = 0; i < rule.contents.size(); ++i) {
        const Content& c = rule.contents[i];
        if (c.negated || c.relative() || !c.has_depth || !c.buffer.is_payload() ||
            c.depth.is_var() || (c.has_offset && c.offset.is_var())) {
            continue;
        }
        const int64_t offset = c.has_offset ? c.offset.value : 0;
        const int64_t depth = c.depth.value;
        const auto len = static_cast<int64_t>(c.bytes.size());
        // depth < len never matches; the inspector then decides on its own.
        if (offset < 0 || depth < len || offset + depth > kMaxAnchoredWindow) {
            continue;
        }
        if (best < 0 || c.bytes.size() > best_len) {
            best = static_cast<int>(i);
            best_len = c.bytes.size();
        }
    }
    if (best < 0) {
        return -1;
    }
    const Content& c = rule.contents[static_cast<size_t>(best)];
    const int64_t lo = c.has_offset ? c.offset.value : 0;
    const int64_t hi = lo + c.depth.value - static_cast<int64_t>(c.bytes.size());
    expression = "\\A";
    if (hi > 0) {
        expression += "(?s:.{" + std::to_string(lo) + "," + std::to_string(hi) + "})";
    }
    expression += escape_literal(c.bytes);
    flags = c.nocase ? HS_FLAG_CASELESS : 0u;
    return best;
}

PayloadProto payload_proto(uint8_t ip_proto) noexcept {
    constexpr uint8_t kTcp = 6;
    constexpr uint8_t kUdp = 17;
    if (ip_proto == kTcp) {
        return PayloadProto::kTcp;
    }
    return ip_proto == kUdp ? PayloadProto::kUdp : PayloadProto::kOther;
}

CompiledRules::~CompiledRules() {
    for (const hs_database_t* db : databases()) {
        hs_free_database(const_cast<hs_database_t*>(db));
    }
}

std::vector<const hs_database_t*> CompiledRules::databases() const {
    std::vector<const hs_database_t*> out;
    auto add = [&](const hs_database_t* db) {
        if (db != nullptr) {
            out.push_back(db);
        }
    };
    for (const hs_database_t* db : dbs_) {
        add(db);
    }
    for (const hs_database_t* db : body_dbs_) {
        add(db);
    }
    for (const hs_database_t* db : payload_dbs_) {
        add(db);
    }
    for (const hs_database_t* db : payload_pcre_dbs_) {
        add(db);
    }
    add(union_db_);
    add(union_pcre_db_);
    return out;
}

size_t CompiledRules::database_bytes() const noexcept {
    size_t total = 0;
    for (const hs_database_t* db : databases()) {
        size_t bytes = 0;
        if (hs_database_size(db, &bytes) == HS_SUCCESS) {
            total += bytes;
        }
    }
    return total;
}

core::Result<std::shared_ptr<const CompiledRules>> CompiledRules::compile(
    const RuleSet& rules, const CompileOptions& options) {
    std::shared_ptr<CompiledRules> out(new CompiledRules());
    const std::vector<Rule>& list = rules.rules();
    const size_t n = list.size();
    out->fast_pattern_.assign(n, -1);
    out->pcre_prefilter_.assign(n, -1);
    out->anchored_prefilter_.assign(n, -1);
    out->usable_.assign(n, 1);

    out->order_.resize(n);
    std::iota(out->order_.begin(), out->order_.end(), 0u);
    std::stable_sort(out->order_.begin(), out->order_.end(), [&](uint32_t a, uint32_t b) {
        const Rule& ra = list[a];
        const Rule& rb = list[b];
        auto key = [](const Rule& r) {
            return std::make_tuple(action_order(r.action), flowbits_order(r), xbits_order(r, false),
                                   xbits_order(r, true), r.priority);
        };
        return key(ra) < key(rb);
    });
    out->rank_.assign(n, 0);
    for (uint32_t rank = 0; rank < n; ++rank) {
        out->rank_[out->order_[rank]] = rank;
    }

    // Pattern lists: one per app-layer slot (the payload slot's stays empty), one per payload
    // variant for contents and for pcres, and the unsplit payload lists when asked for.
    std::array<std::vector<Pattern>, kBufferSlots> slot_patterns;
    // Payload patterns wait until every rule is seen: the port groups depend on all of them.
    std::vector<Pattern> payload_placed;
    std::vector<Pattern> union_patterns;
    std::vector<Pattern> union_pcre_patterns;
    auto place = [&](BufferId buffer, const Pattern& p, bool anchored = false) {
        if (!buffer.is_payload()) {
            slot_patterns[buffer.slot()].push_back(p);
            return;
        }
        payload_placed.push_back(p);
        // The union databases keep what the limit benchmark has always scanned: fast
        // patterns and pcre prefilters, not the anchored short contents.
        if (options.union_payload && !anchored) {
            (p.pcre ? union_pcre_patterns : union_patterns).push_back(p);
        }
    };
    for (uint32_t rank = 0; rank < n; ++rank) {
        const uint32_t index = out->order_[rank];
        const Rule& r = list[index];
        if (int fp = choose_fast_pattern(r); fp >= 0) {
            const Content& c = r.contents[static_cast<size_t>(fp)];
            out->fast_pattern_[index] = fp;
            place(c.buffer, Pattern{rank, index, false, escape_literal(c.prefilter_bytes()),
                                    c.nocase ? HS_FLAG_CASELESS : 0u});
            continue;
        }
        bool placed = false;
        for (size_t i = 0; i < r.pcres.size() && !placed; ++i) {
            Pattern p{rank, index, true, {}, 0};
            if (pcre_prefilter_pattern(r.pcres[i], p.expression, p.flags)) {
                out->pcre_prefilter_[index] = static_cast<int>(i);
                place(r.pcres[i].buffer, p);
                placed = true;
            }
        }
        if (placed) {
            continue;
        }
        // Goes with the pcre prefilters: scanned over the payload alone, and a failure to
        // compile only makes the rule an always candidate again.
        if (Pattern p{rank, index, true, {}, 0};
            (out->anchored_prefilter_[index] = choose_anchored_pattern(r, p.expression, p.flags)) >=
            0) {
            place(BufferId{}, p, true);
            continue;
        }
        size_t slot = required_slot(r);
        if (slot < kBufferSlots) {
            out->slot_always_[slot].push_back(rank);
        } else {
            out->always_.push_back(rank);
        }
    }

    const std::vector<std::vector<uint16_t>> group_ports = choose_port_groups(list, payload_placed);
    const std::vector<uint32_t> admitted = admitted_groups(list, payload_placed, group_ports);
    // Pcre prefilters and anchored contents stay split by variant only: ET Open has 14 to 54 of
    // them per variant, too few for groups to save a scan's worth.
    const PayloadLists contents =
        split_payload(list, payload_placed, false, &admitted, group_ports.size() + 1);
    const PayloadLists pcres = split_payload(list, payload_placed, true, nullptr, 1);
    for (size_t g = 0; g < group_ports.size(); ++g) {
        for (uint16_t port : group_ports[g]) {
            out->port_group_[port] = static_cast<uint8_t>(g + 1);
        }
        // A shared last group is listed by its first port.
        out->group_ports_.push_back(group_ports[g].front());
    }
    out->payload_index_ = contents.index;
    out->payload_pcre_index_ = pcres.index;
    out->payload_dbs_.assign(contents.lists.size(), nullptr);
    out->payload_pcre_dbs_.assign(pcres.lists.size(), nullptr);

    std::vector<CompileJob> jobs;
    auto add_job = [&](const std::vector<Pattern>& pats, hs_database_t** target, std::string what) {
        if (!pats.empty()) {
            jobs.push_back(CompileJob{&pats, target, std::move(what), {}, {}, false, {}});
        }
    };
    for (size_t slot = 0; slot < kBufferSlots; ++slot) {
        add_job(slot_patterns[slot], &out->dbs_[slot], buffer_name(BufferId::from_slot(slot)));
    }
    const std::vector<Pattern>& file_data = slot_patterns[BufferId{BufferId::kFileData}.slot()];
    std::array<std::vector<Pattern>, 2> body_patterns;
    for (size_t side = 0; side < 2; ++side) {
        const auto body =
            side == 0 ? core::BufferKind::kHttpRequestBody : core::BufferKind::kHttpResponseBody;
        const BufferId id{static_cast<uint8_t>(body)};
        const std::vector<Pattern>& own = slot_patterns[id.slot()];
        if (own.empty() || file_data.empty()) {
            continue;
        }
        body_patterns[side] = own;
        body_patterns[side].insert(body_patterns[side].end(), file_data.begin(), file_data.end());
        add_job(body_patterns[side], &out->body_dbs_[side], buffer_name(id) + " and file_data");
    }
    static constexpr const char* kProtoNames[kPayloadProtos] = {"tcp", "udp", "other"};
    auto payload_what = [&](const PayloadLists& lists, size_t e) {
        std::string what = std::string("payload (") + kProtoNames[lists.variant[e] / 2] +
                           (lists.variant[e] % 2 == 0 ? ", to server" : ", to client");
        if (lists.group[e] == 0 && !group_ports.empty()) {
            what += ", other ports";
        } else if (lists.group[e] != kWholeVariant && lists.group[e] != 0) {
            const auto& ports = group_ports[lists.group[e] - 1];
            what += (ports.size() == 1 ? ", port " : ", ports ") + std::to_string(ports.front()) +
                    (ports.size() == 1 ? "" : "...");
        }
        return what + ")";
    };
    for (size_t e = 0; e < contents.lists.size(); ++e) {
        add_job(contents.lists[e], &out->payload_dbs_[e], payload_what(contents, e));
    }
    for (size_t e = 0; e < pcres.lists.size(); ++e) {
        add_job(pcres.lists[e], &out->payload_pcre_dbs_[e], "pcre " + payload_what(pcres, e));
    }
    add_job(union_patterns, &out->union_db_, "payload");
    add_job(union_pcre_patterns, &out->union_pcre_db_, "pcre payload");

    // A pattern that fails is left out of every database that holds it: a failed literal
    // drops its rule (reported with file:line); a failed pcre prefilter only makes its rule
    // an always candidate. Databases built before such a failure was known are rebuilt
    // without the pattern, so no rule is both prefiltered and always evaluated.
    // The CPUs this process may use (its affinity mask), not the machine's: a sensor pinned
    // to a few cores must not compile on the cores left to others.
    const auto threads =
        options.threads != 0 ? options.threads : static_cast<unsigned>(core::usable_cpu_count());
    std::vector<uint8_t> excluded(n, 0);
    std::vector<CompileJob*> pending;
    pending.reserve(jobs.size());
    for (CompileJob& job : jobs) {
        pending.push_back(&job);
    }
    while (!pending.empty()) {
        run_jobs(pending, excluded, threads, options.cache, options.cancel);
        if (options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed)) {
            return core::make_error("compile cancelled");
        }
        bool newly_excluded = false;
        for (CompileJob* job : pending) {
            if (!job->fatal.empty()) {
                return core::make_error(job->fatal);
            }
            for (const CompileJob::Failure& f : job->failures) {
                const Pattern& p = (*job->patterns)[f.pattern];
                if (excluded[p.rule] != 0) {
                    continue;
                }
                excluded[p.rule] = 1;
                newly_excluded = true;
                const Rule& r = list[p.rule];
                if (p.pcre) {
                    out->pcre_prefilter_[p.rule] = -1;
                    out->anchored_prefilter_[p.rule] = -1;
                    size_t need = required_slot(r);
                    auto& target = need < kBufferSlots ? out->slot_always_[need] : out->always_;
                    target.insert(std::lower_bound(target.begin(), target.end(), p.rank), p.rank);
                } else {
                    out->issues_.push_back(
                        LoadIssue{r.file, r.line, "content",
                                  r.file + ":" + std::to_string(r.line) +
                                      ": fast pattern does not compile: " + f.message});
                    out->usable_[p.rule] = 0;
                    out->fast_pattern_[p.rule] = -1;
                }
            }
        }
        pending.clear();
        if (!newly_excluded) {
            break;
        }
        for (CompileJob& job : jobs) {
            if (*job.target == nullptr) {
                continue;
            }
            const bool holds_excluded =
                std::any_of(job.patterns->begin(), job.patterns->end(),
                            [&](const Pattern& p) { return excluded[p.rule] != 0; });
            if (holds_excluded) {
                hs_free_database(*job.target);
                *job.target = nullptr;
                pending.push_back(&job);
            }
        }
    }
    for (const CompileJob& job : jobs) {
        if (*job.target != nullptr) {
            ++out->cache_report_.databases;
            ++(job.from_cache ? out->cache_report_.loaded : out->cache_report_.compiled);
        }
        if (!job.store_error.empty()) {
            ++out->cache_report_.store_failures;
            out->cache_report_.store_error = job.store_error;
        }
        if (job.patterns == &union_patterns || job.patterns == &union_pcre_patterns) {
            continue;
        }
        for (const Pattern& p : *job.patterns) {
            if (excluded[p.rule] == 0) {
                out->prefiltered_.push_back(p.rank);
            }
        }
    }
    std::sort(out->prefiltered_.begin(), out->prefiltered_.end());
    out->prefiltered_.erase(std::unique(out->prefiltered_.begin(), out->prefiltered_.end()),
                            out->prefiltered_.end());
    return std::shared_ptr<const CompiledRules>(std::move(out));
}

}  // namespace sensor::rules
