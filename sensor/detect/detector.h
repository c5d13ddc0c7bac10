#pragma once
// Detector: signature matching for one worker. Scans a packet (with the tail of the previous
// in-order segment) against the shared SignatureDb's prefilter, then fully evaluates each
// candidate rule. One per worker thread: it owns its hs_scratch_t and buffers.

#include <hs.h>

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "sensor/core/counter.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/detect/signature_db.h"

namespace sensor::detect {

// Rules that fired on one packet, ascending rule index. A packet that fires more than kMax
// rules keeps the first kMax; the rest are counted in overflow.
struct MatchList {
    static constexpr size_t kMax = 32;
    uint32_t rule_index[kMax];
    size_t count = 0;
    uint64_t overflow = 0;
};

struct DetectStats {
    core::Counter scans;           // prefilter scans run
    core::Counter scan_errors;     // scans Hyperscan refused (the packet got no prefilter hits)
    core::Counter prefilter_hits;  // rules made candidates by the prefilter
    core::Counter candidates;      // rules fully evaluated (prefilter hits + always candidates)
    core::Counter matches;         // rules that fired
    core::Counter overflow;        // fired rules left out of a full MatchList
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
};
static_assert(sizeof(DetectStats) == std::size(kDetectCounters) * sizeof(core::Counter),
              "register every counter");

class Detector {
public:
    static constexpr size_t kMaxPrefix = 64;      // bytes of the previous segment kept
    static constexpr size_t kMaxPayload = 65535;  // larger payloads are scanned alone

    // Allocates this worker's scratch; aborts (SENSOR_CHECK) when Hyperscan cannot.
    explicit Detector(std::shared_ptr<const SignatureDb> db);
    ~Detector();
    Detector(const Detector&) = delete;
    Detector& operator=(const Detector&) = delete;

    // Fills out with the rules that fire on pkt. app_proto: the flow's application protocol
    // ("" when unknown). stream_prefix: the last bytes (up to kMaxPrefix; more are cut from
    // the front) of the previous in-order TCP segment in the same direction, or empty.
    // Unanchored contents match anywhere in prefix + payload, but a rule fires only when one
    // of its positive contents ends inside the payload, so a match wholly inside the prefix
    // (already seen with the previous packet) does not fire again. offset/depth count from
    // the payload start. No allocation, no locks.
    void match(const decode::DecodedPacket& pkt, std::string_view app_proto,
               std::span<const uint8_t> stream_prefix, MatchList& out) noexcept;

    const DetectStats& stats() const noexcept { return stats_; }
    const SignatureDb& db() const noexcept { return *db_; }

private:
    static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                        unsigned int flags, void* context);
    bool evaluate(const rules::Rule& rule, const decode::DecodedPacket& pkt,
                  std::string_view app_proto, std::span<const uint8_t> buffer,
                  size_t prefix_len) const noexcept;

    std::shared_ptr<const SignatureDb> db_;
    hs_scratch_t* scratch_ = nullptr;
    std::unique_ptr<uint8_t[]> buffer_;  // prefix + payload, kMaxPrefix + kMaxPayload bytes
    std::vector<uint32_t> hits_;         // prefilter candidates of this packet; capacity = rules
    std::vector<uint8_t> hit_flag_;      // per rule: already in hits_
    DetectStats stats_;
};

}  // namespace sensor::detect
