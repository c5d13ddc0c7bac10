#pragma once
// ThresholdTable: per-worker state of threshold and detection_filter rules (Suricata's
// semantics, on packet time). Fixed size, set-associative; when a set is full its oldest
// entry is replaced and counted. One per worker: no locks, no allocation after construction.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "rules/rule.h"
#include "sensor/core/ip_address.h"

namespace sensor::detect {

class ThresholdTable {
public:
    static constexpr size_t kWays = 4;

    // capacity: entries, rounded up to a power of two of at least kWays.
    explicit ThresholdTable(size_t capacity);

    // Called when the rule (by rank) matched a packet from src to dst at now_us; true when
    // the alert goes out. Every match is counted, alerted or not.
    bool allow(const rules::Threshold& t, uint32_t rank, const core::IpAddress& src,
               const core::IpAddress& dst, int64_t now_us) noexcept;

    uint64_t replaced() const noexcept { return replaced_; }
    size_t capacity() const noexcept { return entries_.size(); }

private:
    struct Entry {
        core::IpAddress a;
        core::IpAddress b;
        int64_t window_start_us = 0;
        uint32_t rank = 0;
        uint32_t count = 0;
        uint8_t track = 0;
        bool used = false;
    };

    std::vector<Entry> entries_;
    size_t set_mask_ = 0;  // number of sets - 1
    uint64_t replaced_ = 0;
};

}  // namespace sensor::detect
