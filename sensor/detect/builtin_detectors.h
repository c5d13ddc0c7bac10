#pragma once
// Built-in detectors that need no rule: TCP SYN port scan and SYN flood, on packet time.
// - Port scan: distinct destination ports one scanner tries on one target within a window.
//   Its state is shared by every worker (PortScanState, lock-free tables like the threshold
//   rules'), so a scan counts the same however its connections are spread over the workers
//   (by address pair or by flow). Counts are exact or under, never over (PortScanTable).
// - SYN flood: SYNs to one ip:port within a window, per worker in fixed-size direct-mapped
//   tables (a colliding key replaces the old entry, counted). A flood's spoofed sources spread
//   over the workers whatever the placement; the pipeline gives each worker its share of the
//   threshold and keeps one alert per target.
// Memory is bounded by the configured table sizes whatever the traffic.

#include <cstdint>
#include <memory>
#include <vector>

#include "sensor/core/counter.h"
#include "sensor/core/ip_address.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/detect/port_scan_table.h"
#include "sensor/detect/threshold_table.h"

namespace sensor::detect {

inline constexpr uint32_t kPortScanSid = 9000001;
inline constexpr uint32_t kSynFloodSid = 9000002;

struct BuiltinConfig {
    bool enabled = true;
    uint32_t scan_ports = 20;  // distinct ports of one target within scan_window_us (<= 32)
    int64_t scan_window_us = 10'000'000;
    uint32_t flood_syns = 200;  // SYNs to one ip:port within flood_window_us
    int64_t flood_window_us = 1'000'000;
    // A scanner and target alert at most once this long; a flood entry idle this long starts
    // over (and may alert again).
    int64_t idle_us = 60'000'000;
    uint32_t table_size = 4096;  // flood entries per worker; scanner-target pairs shared
};

struct BuiltinStats {
    core::Counter scan_alerts;
    core::Counter flood_alerts;
    core::Counter entries_replaced;  // flood collisions and port-scan entries evicted
};

// Port-scan state shared by every worker: the ports each scanner tried on each target in the
// window (PortScanTable), and when each pair last alerted (a threshold table: at most one
// alert per idle_us).
class PortScanState {
public:
    explicit PortScanState(size_t scanner_target_entries);

    PortScanTable& ports() noexcept { return ports_; }
    ThresholdTable& alerts() noexcept { return alerts_; }

private:
    PortScanTable ports_;
    ThresholdTable alerts_;
};

class BuiltinDetectors {
public:
    // scans: port-scan state shared with other workers; nullptr: one for this worker alone.
    explicit BuiltinDetectors(const BuiltinConfig& config,
                              std::shared_ptr<PortScanState> scans = nullptr);

    // Looks at one TCP packet; returns the sid of a detector that fires now, else 0.
    uint32_t observe(const decode::DecodedPacket& pkt) noexcept;

    const BuiltinStats& stats() const noexcept { return stats_; }

private:
    struct FloodEntry {
        core::IpAddress dst;
        uint16_t port = 0;
        int64_t window_start = 0;
        int64_t last_seen = 0;
        uint32_t syns = 0;
        bool used = false;
        bool alerted = false;
    };

    bool observe_scan(const decode::DecodedPacket& pkt) noexcept;
    bool observe_flood(const decode::DecodedPacket& pkt) noexcept;

    BuiltinConfig config_;
    std::shared_ptr<PortScanState> scans_;
    uint32_t scan_threshold_;  // scan_ports, at most PortScanTable::kPortSlots
    // At most one alert per scanner and target per idle_us (limit 1).
    rules::Threshold once_;
    std::vector<FloodEntry> floods_;
    BuiltinStats stats_;
};

}  // namespace sensor::detect
