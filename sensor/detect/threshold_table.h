#pragma once
// ThresholdTable: state of threshold and detection_filter rules (Suricata's semantics, on packet
// time), one table shared by every worker so that a source met by several workers is counted
// once. Fixed size, allocated at construction, updated lock-free (see threshold_table.cc).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "rules/rule.h"
#include "sensor/core/ip_address.h"
#include "sensor/detect/tagged_ways.h"

namespace sensor::detect {

// Which rule a threshold belongs to. State is kept by rule identity, not by its index in a
// rule set, so that it outlives a rule reload (as Suricata's threshold hash, keyed by gid, sid
// and rev): a reloaded rule with the same rev and threshold carries on counting; a new rev or a
// changed threshold starts afresh.
struct ThresholdRule {
    uint32_t gid = 1;
    uint32_t sid = 0;
    uint32_t rev = 0;
};

class ThresholdTable {
public:
    static constexpr size_t kWays = 4;
    // Matches counted per window at most; a count above it behaves as never reached.
    static constexpr uint32_t kMaxCount = (1u << 20) - 2;

    // capacity: entries, rounded up to a power of two of at least kWays. Allocates once.
    explicit ThresholdTable(size_t capacity);
    ~ThresholdTable();
    ThresholdTable(const ThresholdTable&) = delete;
    ThresholdTable& operator=(const ThresholdTable&) = delete;

    struct Decision {
        bool alert = false;
        // Entries this match evicted from a full set: another key's, or its own when every
        // way of the set was being claimed by other workers at that moment.
        uint32_t replaced = 0;
    };

    // The rule matched a packet from src to dst at now_us: does the alert go out? Every match
    // is counted, alerted or not. Thread-safe: any number of workers may call it at once; no
    // locks, no allocation.
    Decision allow(const rules::Threshold& t, const ThresholdRule& rule, const core::IpAddress& src,
                   const core::IpAddress& dst, int64_t now_us) noexcept;
    // The same with the key given: a and b in this order, whatever t.track says (the built-in
    // port-scan detector counts per scanner and target, one direction only).
    Decision allow_key(const rules::Threshold& t, const ThresholdRule& rule,
                       const core::IpAddress& a, const core::IpAddress& b, int64_t now_us) noexcept;

    // Whether the key has a window open at now_us (its entry is there and the window has not
    // ended), without counting anything: only reads, so workers asking about one key at once
    // share its cache line instead of passing it around.
    bool window_open(const rules::Threshold& t, const ThresholdRule& rule, const core::IpAddress& a,
                     const core::IpAddress& b, int64_t now_us) const noexcept;

    // Entries evicted so far, by every caller.
    uint64_t replaced() const noexcept { return replaced_.load(std::memory_order_relaxed); }
    size_t capacity() const noexcept { return sets_count_ * kWays; }

private:
    // tag: key fingerprint << 2 | generation; state: window end (ms) | count | generation.
    using Slot = TaggedWay;
    struct alignas(64) Set {
        Slot ways[kWays];
    };

    std::unique_ptr<Set[]> sets_;
    size_t sets_count_ = 0;
    std::atomic<uint64_t> replaced_{0};
};

}  // namespace sensor::detect
