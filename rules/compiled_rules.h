#pragma once
// CompiledRules: a RuleSet's evaluation order and prefilter. Rules are ranked as Suricata
// orders them (action, flowbits setters before readers, xbits readers first, priority, then
// file order); each rule gives at most one prefilter pattern (its fast-pattern content, or
// else a pcre in Hyperscan prefilter mode) to the block-mode database of that pattern's
// buffer, with the rank as pattern id. Rules without a pattern are "always candidates" (of
// their required app-layer buffer when they have one). Built on the control thread; immutable
// after, and shared by every worker (each brings its own hs_scratch_t).

#include <hs.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rules/hs_cache.h"
#include "rules/rule_set.h"
#include "sensor/core/result.h"

namespace sensor::rules {

// Payload contents shorter than this stay out of the prefilter: they would match too often
// to be worth a candidate each. App-layer buffers are small and scanned only when present,
// so any length is worth it there.
inline constexpr size_t kMinFastPatternBytes = 4;

size_t min_fast_pattern_bytes(BufferId buffer) noexcept;

// A payload content too short for the fast pattern still prefilters its rule when it is
// anchored near the payload start (offset + depth within this window): it becomes the
// expression `\A.{offset,offset+depth-len}bytes` in the payload-alone database, which only
// hits where the content can lie. Many ET rules look for 1 to 3 bytes at fixed positions
// (protocol headers of P2P, TLS, NTP, RDP ...); without this they are evaluated for every
// packet their ports allow.
inline constexpr int64_t kMaxAnchoredWindow = 64;

// Index of the content a rule without a fast pattern is prefiltered by (the longest
// qualifying one, first on ties), or -1; `expression` and `flags` receive its Hyperscan form.
int choose_anchored_pattern(const Rule& rule, std::string& expression, unsigned& flags);

// Index of the content that feeds the prefilter: the rule's fast_pattern content when it is
// positive and long enough for its buffer, else its longest such positive content (first on
// ties); -1 when there is none.
int choose_fast_pattern(const Rule& rule) noexcept;

// The packet payload's prefilter is split by the packet's IP protocol class and direction,
// as Suricata splits its pattern matchers by signature group: a packet scans only the
// patterns of rules that could match it, which makes each scan smaller and its matches fewer.
// A rule goes into every variant it can match: `alert ip` into all three protocol classes,
// a rule without flow:to_server/to_client into both directions.
enum class PayloadProto : uint8_t { kTcp, kUdp, kOther };
inline constexpr size_t kPayloadProtos = 3;
inline constexpr size_t kPayloadVariants = kPayloadProtos * 2;

PayloadProto payload_proto(uint8_t ip_proto) noexcept;

// Variant of a packet: its protocol class and whether it travels to the client. A packet of
// no known flow uses the to-server variant, which holds every direction-free rule.
constexpr size_t payload_variant(PayloadProto proto, bool to_client) noexcept {
    return static_cast<size_t>(proto) * 2 + (to_client ? 1 : 0);
}

// TCP and UDP payload databases are split once more by the packet's destination port, as
// Suricata groups signatures by port: a rule whose header names destination ports is left out
// of the databases of every other port, so a packet to a client's port does not scan the
// patterns of rules for port 445 or 1521. Ports that at least kMinRulesPerPortGroup payload
// rules name get a group each (at most kMaxPortGroups - 1), the other named ports share one
// more, and every port no rule names is group 0. A rule with `<>` is placed by either side's
// ports, and a Snort `service` rule (which ignores its header ports on a flow of that
// service) goes into every group. A group that would leave out few of its variant's patterns
// scans the variant's whole database instead of costing one of its own.
inline constexpr size_t kMaxPortGroups = 16;
inline constexpr size_t kPortGroups = kMaxPortGroups + 1;  // with group 0
inline constexpr size_t kMinRulesPerPortGroup = 100;

struct CompileOptions {
    // Also build one payload database of all payload fast patterns (and one of all payload
    // pcre prefilters), unsplit: the benchmark tools scan it as "the rule set's patterns".
    bool union_payload = false;
    // Threads compiling databases at once; 0 = the CPUs in the affinity mask.
    unsigned threads = 0;
    // Where compiled databases are looked up first and stored after; nullptr: no cache.
    const HsCache* cache = nullptr;
    // When it reads true, no further database starts compiling and compile() fails with
    // "compile cancelled" once those already compiling are done (a stop during a reload).
    const std::atomic<bool>* cancel = nullptr;
};

// How the databases were obtained.
struct CacheReport {
    size_t databases = 0;       // built in all
    size_t loaded = 0;          // of them, from the cache
    size_t compiled = 0;        // of them, compiled
    size_t store_failures = 0;  // compiled but not stored
    std::string store_error;    // the last store failure's message
};

class CompiledRules {
public:
    // Errors only when Hyperscan fails as a whole; a rule whose own pattern fails to compile
    // is dropped and listed in issues() with its file:line.
    static core::Result<std::shared_ptr<const CompiledRules>> compile(
        const RuleSet& rules, const CompileOptions& options = {});

    ~CompiledRules();
    CompiledRules(const CompiledRules&) = delete;
    CompiledRules& operator=(const CompiledRules&) = delete;

    // Evaluation order: order()[rank] is a rule index; rank(index) the inverse.
    std::span<const uint32_t> order() const noexcept { return order_; }
    uint32_t rank(uint32_t rule) const noexcept { return rank_[rule]; }

    // The prefilter of one app-layer buffer slot (BufferId::slot()); nullptr when no rule has
    // a pattern there, and always for the payload slot (see payload_database). Pattern ids
    // are ranks.
    const hs_database_t* database(size_t slot) const noexcept { return dbs_[slot]; }
    // file_data's patterns and those of the HTTP body it names in one direction
    // (http.request_body to the server, http.response_body to the client) in one database:
    // file_data is that body, so one scan serves both slots. nullptr unless both slots have
    // patterns.
    const hs_database_t* body_database(bool to_server) const noexcept {
        return body_dbs_[to_server ? 0 : 1];
    }
    // Port group (see kMaxPortGroups) of a packet's destination port.
    size_t port_group(uint16_t dst_port) const noexcept { return port_group_[dst_port]; }
    // The ports that have a group of their own, in group order (group i + 1 is ports[i]).
    std::span<const uint16_t> group_ports() const noexcept { return group_ports_; }
    // The packet payload's contents of one variant (payload_variant) and port group
    // (port_group; protocols without ports have one database for every group), scanned over
    // stream prefix + payload; nullptr when empty.
    const hs_database_t* payload_database(size_t variant, size_t group = 0) const noexcept {
        return payload_dbs_[payload_index_[variant * kPortGroups + group]];
    }
    // Pcre prefilter patterns and anchored short contents (choose_anchored_pattern) of the
    // packet payload of one variant (one database for every port group), scanned over the
    // payload alone: a pcre without R and an anchored content count from the payload start,
    // which the stream prefix would move.
    const hs_database_t* payload_pcre_database(size_t variant, size_t group = 0) const noexcept {
        return payload_pcre_dbs_[payload_pcre_index_[variant * kPortGroups + group]];
    }
    // The unsplit payload databases (CompileOptions::union_payload); nullptr otherwise.
    const hs_database_t* payload_union_database() const noexcept { return union_db_; }
    const hs_database_t* payload_union_pcre_database() const noexcept { return union_pcre_db_; }
    // Every database built, for sizing scratch space.
    std::vector<const hs_database_t*> databases() const;
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
    // Content index used as the rule's anchored prefilter (choose_anchored_pattern; when it
    // has neither a fast pattern nor a pcre prefilter), or -1.
    int anchored_prefilter(uint32_t rule) const noexcept { return anchored_prefilter_[rule]; }
    // False for rules dropped at compile time: never a candidate.
    bool usable(uint32_t rule) const noexcept { return usable_[rule] != 0; }
    const std::vector<LoadIssue>& issues() const noexcept { return issues_; }
    const CacheReport& cache_report() const noexcept { return cache_report_; }
    // Total bytes of all databases.
    size_t database_bytes() const noexcept;

private:
    CompiledRules() = default;

    std::array<hs_database_t*, kBufferSlots> dbs_{};
    std::array<hs_database_t*, 2> body_dbs_{};  // [0] to server, [1] to client
    // Payload databases by (variant, port group): payload_index_ names the entry of
    // payload_dbs_ (payload_pcre_index_ of payload_pcre_dbs_); groups whose rules are the same
    // share one entry.
    std::array<uint16_t, kPayloadVariants * kPortGroups> payload_index_{};
    std::array<uint16_t, kPayloadVariants * kPortGroups> payload_pcre_index_{};
    std::vector<hs_database_t*> payload_dbs_;
    std::vector<hs_database_t*> payload_pcre_dbs_;
    std::vector<uint8_t> port_group_ = std::vector<uint8_t>(65536, 0);
    std::vector<uint16_t> group_ports_;
    hs_database_t* union_db_ = nullptr;
    hs_database_t* union_pcre_db_ = nullptr;
    std::vector<uint32_t> order_;
    std::vector<uint32_t> rank_;
    std::vector<uint32_t> always_;
    std::array<std::vector<uint32_t>, kBufferSlots> slot_always_;
    std::vector<uint32_t> prefiltered_;
    std::vector<int> fast_pattern_;
    std::vector<int> pcre_prefilter_;
    std::vector<int> anchored_prefilter_;
    std::vector<uint8_t> usable_;
    std::vector<LoadIssue> issues_;
    CacheReport cache_report_;
};

}  // namespace sensor::rules
