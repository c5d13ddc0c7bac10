#pragma once
// Detector: signature matching for one worker. Scans a packet's payload (with the tail of the
// previous in-order segment) and its app-layer buffers against the shared SignatureDb's
// prefilters, then fully evaluates each candidate rule in Suricata's order. One per worker
// thread: it owns its hs_scratch_t, PCRE2 scratch, threshold table and buffers.

#include <hs.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "sensor/core/app_buffers.h"
#include "sensor/core/counter.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/detect/inspection.h"
#include "sensor/detect/signature_db.h"
#include "sensor/detect/threshold_table.h"
#include "sensor/detect/xbit_table.h"
#include "sensor/flow/flow_table.h"

namespace sensor::detect {

// What detection knows about one packet. Filled by the worker per packet; the pointers must
// stay valid for the match() call.
struct PacketContext {
    const decode::DecodedPacket* pkt = nullptr;
    // The flow's application protocol in Suricata's names ("http", "tls", ...); "" unknown.
    std::string_view app_proto;
    // The protocol recognised in each direction (Suricata's alproto_ts / alproto_tc, which
    // differ for e.g. an HTTP client talking to an SSH server); empty: app_proto.
    std::string_view app_proto_to_server;
    std::string_view app_proto_to_client;
    // Whether this packet concluded protocol detection in its direction (Suricata's
    // PKT_PROTO_DETECT_*_DONE). Rules made only of app-layer-protocol checks match on such
    // packets only; kUntracked (a caller that does not follow it) lets them match on any.
    enum class ProtoDetect : uint8_t { kUntracked, kNotThisPacket, kThisPacket };
    ProtoDetect proto_detect = ProtoDetect::kUntracked;
    // Last bytes (up to Detector::kMaxPrefix; more are cut from the front) of the previous
    // in-order TCP segment in the same direction, or empty.
    std::span<const uint8_t> stream_prefix;
    // Set by a caller that orders TCP payload: payload keywords inspect stream_payload (bytes
    // of this direction handed over in sequence order with this packet, after
    // stream_prefix) instead of the packet's payload, which may be held back while a
    // missing segment is awaited, or be a retransmission already inspected. dsize still
    // measures the packet.
    bool payload_from_stream = false;
    std::span<const uint8_t> stream_payload;
    // Only rules with payload keywords are evaluated: a further run of stream bytes (after a
    // hole) handed over with a packet whose headers and buffers were already inspected.
    bool payload_only = false;
    bool to_server = true;
    // TCP: the three-way handshake completed (or the flow was picked up midstream, when the
    // worker allows that). Other protocols: packets have been seen in both directions.
    bool established = false;
    // False only for callers without flow tracking: rules that need flow direction, state
    // or flowbits never match then.
    bool flow_known = true;
    // Flowbits, pass verdict and per-transaction alert memory of the packet's flow; nullptr
    // for a packet without flow state (flowbits checks fail, sets are dropped).
    flow::FlowDetectState* flow_state = nullptr;
    // App-layer buffers of this packet's transaction; nullptr when there are none.
    const core::AppBuffers* buffers = nullptr;
    // The TLS version of the packet's direction (core::AppInfo::tls_version); 0 unknown.
    uint16_t tls_version = 0;
    // Set when match() runs again on the same packet for a further transaction it completed
    // (pipelined HTTP requests): only rules that inspect app-layer buffers are evaluated, as
    // the others already were with the packet's first transaction.
    bool extra_transaction = false;
};

// Rules that fired on one packet, in evaluation order (rule indices into the RuleSet). A
// packet that fires more than kMax rules keeps the first kMax; the rest are counted.
struct MatchList {
    static constexpr size_t kMax = 32;
    uint32_t rule_index[kMax];
    size_t count = 0;
    uint64_t overflow = 0;
};

struct DetectStats {
    core::Counter scans;              // payload prefilter scans run
    core::Counter scan_errors;        // scans Hyperscan refused (the packet got no prefilter hits)
    core::Counter prefilter_hits;     // rules made candidates by the prefilter
    core::Counter candidates;         // rules fully evaluated (prefilter hits + always candidates)
    core::Counter matches;            // rules that matched (alerting or not)
    core::Counter overflow;           // fired rules left out of a full MatchList
    core::Counter buffer_scans;       // app-layer buffer prefilter scans run
    core::Counter buffers_reused;     // of those, answered by the slot's previous scan
    core::Counter pcre_errors;        // pcre runs stopped by a PCRE2 limit (counted as no match)
    core::Counter inspect_budget;     // keyword lists cut short by the step budget (no match)
    core::Counter flowbits_overflow;  // flowbit sets dropped: the flow's slots were full
    core::Counter threshold_suppressed;  // matches kept from alerting by threshold/filters
    core::Counter threshold_replaced;    // threshold entries evicted from a full table set
    core::Counter xbits_evicted;         // live xbits evicted from a full table set
    core::Counter tx_duplicates;         // app-layer alerts repeated in one transaction
    core::Counter tx_overflow;           // transaction alert memory full: oldest forgotten
    core::Counter passed_packets;        // packets not inspected: their flow hit a pass rule
    core::Counter transform_truncated;   // buffers too long for a transform (left out)
    core::Counter payload_uninspected;   // payloads of encrypted flows left uninspected
};

inline constexpr core::CounterSpec<DetectStats> kDetectCounters[] = {
    {&DetectStats::scans, "sensor_detect_scans_total", "Packets scanned by the prefilter"},
    {&DetectStats::scan_errors, "sensor_detect_scan_errors_total",
     "Prefilter scans that failed; those packets were checked against always-candidates only"},
    {&DetectStats::prefilter_hits, "sensor_detect_prefilter_hits_total",
     "Rules made candidates by a fast-pattern hit"},
    {&DetectStats::candidates, "sensor_detect_candidates_total",
     "Rules fully evaluated against a packet"},
    {&DetectStats::matches, "sensor_detect_matches_total", "Rules that matched a packet"},
    {&DetectStats::overflow, "sensor_detect_match_overflow_total",
     "Rule matches dropped because a packet matched more than MatchList::kMax rules"},
    {&DetectStats::buffer_scans, "sensor_detect_buffer_scans_total",
     "App-layer buffers (http.uri, dns.query, ...) scanned by their prefilter"},
    {&DetectStats::buffers_reused, "sensor_detect_buffer_scans_reused_total",
     "App-layer buffer scans answered from the previous scan of the same bytes in that buffer"},
    {&DetectStats::pcre_errors, "sensor_detect_pcre_errors_total",
     "pcre evaluations stopped by the PCRE2 match or depth limit, counted as no match"},
    {&DetectStats::inspect_budget, "sensor_detect_inspect_budget_exhausted_total",
     "Rule keyword lists abandoned after the backtracking step budget, counted as no match"},
    {&DetectStats::flowbits_overflow, "sensor_detect_flowbits_overflow_total",
     "Flowbits not set because the flow already held the maximum number of flowbits"},
    {&DetectStats::threshold_suppressed, "sensor_detect_threshold_suppressed_total",
     "Rule matches kept from alerting by threshold or detection_filter"},
    {&DetectStats::threshold_replaced, "sensor_detect_threshold_replaced_total",
     "Threshold tracking entries evicted because their table set was full"},
    {&DetectStats::xbits_evicted, "sensor_detect_xbits_evicted_total",
     "Xbits forgotten before they expired because their table set was full"},
    {&DetectStats::tx_duplicates, "sensor_detect_tx_duplicates_total",
     "App-layer rule matches not alerted again within the same transaction"},
    {&DetectStats::tx_overflow, "sensor_detect_tx_overflow_total",
     "Per-transaction alert memory overflows (the oldest entry was forgotten)"},
    {&DetectStats::passed_packets, "sensor_detect_passed_packets_total",
     "Packets not inspected because a pass rule matched their flow"},
    {&DetectStats::transform_truncated, "sensor_detect_transform_truncated_total",
     "Buffers too long for a transform such as dotprefix, left uninspected"},
    {&DetectStats::payload_uninspected, "sensor_detect_payload_uninspected_total",
     "Packet payloads not inspected because their flow is in its encrypted phase"},
};
static_assert(sizeof(DetectStats) == std::size(kDetectCounters) * sizeof(core::Counter),
              "register every counter");

class Detector {
public:
    static constexpr size_t kMaxPrefix = 64;       // bytes of the previous segment kept
    static constexpr size_t kMaxPayload = 65535;   // larger payloads are scanned alone
    static constexpr size_t kMaxTransform = 4096;  // bytes a transformed buffer can hold
    // App-layer buffers up to kMemoBytes are remembered with up to kMemoHits prefilter hits.
    static constexpr size_t kMemoBytes = 2048;
    static constexpr size_t kMemoHits = 32;
    // Threshold entries of a table shared by every worker (16 bytes each).
    static constexpr size_t kDefaultThresholdEntries = 65536;
    // Xbits of a table shared by every worker (16 bytes each).
    static constexpr size_t kDefaultXbitEntries = 65536;

    // Allocates this worker's scratch spaces and tables; aborts (SENSOR_CHECK) when
    // Hyperscan cannot. This form keeps threshold state of its own (one worker, tests).
    explicit Detector(std::shared_ptr<const SignatureDb> db,
                      size_t threshold_entries = kDefaultThresholdEntries);
    // Threshold state in a table shared with the other workers' detectors, and with the
    // detectors that replace them on rule reload (state is kept by rule identity).
    // Likewise xbits (kept by name); nullptr: a table of kDefaultXbitEntries of its own.
    Detector(std::shared_ptr<const SignatureDb> db, std::shared_ptr<ThresholdTable> thresholds,
             std::shared_ptr<XbitTable> xbits = nullptr);
    ~Detector();
    Detector(const Detector&) = delete;
    Detector& operator=(const Detector&) = delete;

    // Fills out with the rules that alert on ctx.pkt, and updates ctx.flow_state (flowbits,
    // pass, transaction memory). Unanchored payload contents match anywhere in prefix +
    // payload, but a payload keyword list only matches when one of its positive matches ends
    // inside the payload, so a match wholly inside the prefix (seen with the previous
    // packet) does not fire again. Rules that inspect only app-layer buffers alert at most
    // once per transaction. No allocation, no locks.
    void match(PacketContext& ctx, MatchList& out) noexcept;

    // Former interface, kept until every caller passes a PacketContext: no flow state, no
    // app-layer buffers, so rules with flow or flowbits conditions never match.
    void match(const decode::DecodedPacket& pkt, std::string_view app_proto,
               std::span<const uint8_t> stream_prefix, MatchList& out) noexcept;

    const DetectStats& stats() const noexcept { return stats_; }
    const SignatureDb& db() const noexcept { return *db_; }
    const ThresholdTable& thresholds() const noexcept { return *thresholds_; }
    const XbitTable& xbits() const noexcept { return *xbits_; }

private:
    struct SlotBuffer {
        std::span<const uint8_t> bytes;
        size_t base = 0;
    };

    // The last prefilter scan of one app-layer slot: its bytes (in memo_bytes_) and the
    // pattern ids it reported. A scan depends only on the database and the bytes, and an
    // HTTP transaction's buffers come back with each of its events (request, body, response),
    // so scanning the same bytes again would report the same ids.
    struct ScanMemo {
        size_t size = 0;
        uint32_t hit_count = 0;  // ids reported; more than kMemoHits: not valid
        bool valid = false;
        std::array<uint32_t, kMemoHits> hits{};
    };

    static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                        unsigned int flags, void* context);
    // on_match, also recording the id in recording_.
    static int on_memo_match(unsigned int id, unsigned long long from, unsigned long long to,
                             unsigned int flags, void* context);
    void add_candidate(uint32_t rank) noexcept;
    SlotBuffer slot_buffer(size_t slot, const PacketContext& ctx) noexcept;
    // One prefilter scan into hits_; scans (if given) counts it.
    void scan(const hs_database_t* hdb, std::span<const uint8_t> bytes,
              core::Counter* scans) noexcept;
    // The prefilter scan with the memo memos_[index], or the memo's hits when the bytes are
    // those of its previous scan.
    void scan_buffer(size_t index, const hs_database_t* hdb,
                     std::span<const uint8_t> bytes) noexcept;
    bool evaluate(const rules::Rule& rule, const PacketContext& ctx) noexcept;
    // After a match: flowbits, xbits, pass, transaction memory, thresholds. True when it
    // alerts.
    bool post_match(const rules::Rule& rule, uint32_t rank, PacketContext& ctx,
                    bool& stop) noexcept;
    bool set_flowbit(flow::FlowDetectState& state, uint16_t id) noexcept;
    // Makes the rules filed under flowbits set by the rule at rank candidates of this
    // packet, after position next of hits_, so a later rule sees a bit set earlier.
    void add_flowbit_candidates(uint32_t rank, size_t next) noexcept;

    std::shared_ptr<const SignatureDb> db_;
    hs_scratch_t* scratch_ = nullptr;
    std::unique_ptr<uint8_t[]> buffer_;  // prefix + payload, kMaxPrefix + kMaxPayload bytes
    std::vector<uint32_t> hits_;         // candidate ranks of this packet; capacity = rules
    std::vector<uint8_t> hit_flag_;      // per rank: already in hits_
    // Per packet: the resolved buffer of each slot, valid when slot_gen_ == gen_.
    std::array<SlotBuffer, rules::kBufferSlots> slots_{};
    std::array<uint64_t, rules::kBufferSlots> slot_gen_{};
    std::array<std::unique_ptr<uint8_t[]>, rules::kBufferSlots> transformed_;
    // App-layer slots (not the payload) with a prefilter database or pattern-less rules.
    std::vector<uint8_t> app_slots_;
    // One memo per entry of app_slots_, then one per direction for the joint body database
    // (CompiledRules::body_database); memo i's bytes at memo_bytes_ + i * kMemoBytes.
    std::vector<ScanMemo> memos_;
    std::unique_ptr<uint8_t[]> memo_bytes_;
    ScanMemo* recording_ = nullptr;  // the memo on_memo_match fills
    uint64_t gen_ = 0;
    std::array<uint16_t, flow::FlowDetectState::kMaxFlowbits> newly_set_{};
    size_t newly_set_count_ = 0;
    Inspector inspector_;
    Inspector::Vars vars_{};
    std::shared_ptr<ThresholdTable> thresholds_;  // shared with other workers' detectors
    std::shared_ptr<XbitTable> xbits_;            // likewise
    DetectStats stats_;
};

}  // namespace sensor::detect
