#pragma once
// Built-in detectors that need no rule: TCP SYN port scan and SYN flood, on packet time.
// - Port scan: distinct destination ports one scanner tries on one target within a window.
// - SYN flood: SYNs to one ip:port within a window, whatever their sources.
// Their state is shared by every worker (BuiltinState, lock-free tables like the threshold
// rules'), so a scan or a flood counts the same however its packets are spread over the
// workers (by address pair, by flow, or af-packet fanout), and the same capture gives the same
// built-in detections (scanner and target, flooded ip:port) for any number of workers; which
// SYN completes a count can depend on how the workers ran. Counts are exact or under, never over.
// Memory is bounded by the configured table sizes whatever the traffic.

#include <cstdint>
#include <memory>

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
    // A scanner and target, or a flooded ip:port, alert at most once this long; a flood's
    // SYNs are not counted meanwhile.
    int64_t idle_us = 60'000'000;
    uint32_t table_size = 4096;  // scanner-target pairs and flood targets (shared tables)
};

struct BuiltinStats {
    core::Counter scan_alerts;
    core::Counter flood_alerts;
    core::Counter entries_replaced;  // entries evicted from the shared tables when a set is full
};

// Built-in detector state shared by every worker: the ports each scanner tried on each target
// in the window (PortScanTable), the SYNs each ip:port received in the window (a threshold
// table), and when each scanner-target pair or flood target last alerted (a threshold table:
// at most one alert per idle_us).
class BuiltinState {
public:
    explicit BuiltinState(size_t entries);

    PortScanTable& ports() noexcept { return ports_; }
    ThresholdTable& floods() noexcept { return floods_; }
    ThresholdTable& alerts() noexcept { return alerts_; }

private:
    PortScanTable ports_;
    ThresholdTable floods_;
    ThresholdTable alerts_;
};

class BuiltinDetectors {
public:
    // state: shared with other workers; nullptr: state for this worker alone.
    explicit BuiltinDetectors(const BuiltinConfig& config,
                              std::shared_ptr<BuiltinState> state = nullptr);

    // Looks at one TCP packet; returns the sid of a detector that fires now, else 0.
    uint32_t observe(const decode::DecodedPacket& pkt) noexcept;

    const BuiltinStats& stats() const noexcept { return stats_; }

private:
    bool observe_scan(const decode::DecodedPacket& pkt) noexcept;
    bool observe_flood(const decode::DecodedPacket& pkt) noexcept;

    BuiltinConfig config_;
    std::shared_ptr<BuiltinState> state_;
    uint32_t scan_threshold_;  // scan_ports, at most PortScanTable::kPortSlots
    // At most one alert per scanner and target, or per flood target, per idle_us (limit 1).
    rules::Threshold once_;
    // flood_syns SYNs within flood_window_us: the one that completes the count alerts.
    rules::Threshold flood_;
    BuiltinStats stats_;
};

}  // namespace sensor::detect
