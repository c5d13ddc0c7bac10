#pragma once
// Built-in detectors that need no rule: TCP SYN port scan and SYN flood. State lives in
// fixed-size direct-mapped tables (a colliding key replaces the old entry, counted), so
// memory is bounded whatever the traffic. One instance per worker; packet time only.

#include <cstdint>
#include <vector>

#include "sensor/core/counter.h"
#include "sensor/core/ip_address.h"
#include "sensor/decode/decoded_packet.h"

namespace sensor::detect {

inline constexpr uint32_t kPortScanSid = 9000001;
inline constexpr uint32_t kSynFloodSid = 9000002;

struct BuiltinConfig {
    bool enabled = true;
    uint32_t scan_ports = 20;  // distinct ports of one target within scan_window_us
    int64_t scan_window_us = 10'000'000;
    uint32_t flood_syns = 200;  // SYNs to one ip:port within flood_window_us
    int64_t flood_window_us = 1'000'000;
    int64_t idle_us = 60'000'000;  // an entry idle this long starts over (and may re-alert)
    uint32_t table_size = 4096;    // entries per detector
};

struct BuiltinStats {
    core::Counter scan_alerts;
    core::Counter flood_alerts;
    core::Counter entries_replaced;  // direct-mapped collisions
};

class BuiltinDetectors {
public:
    explicit BuiltinDetectors(const BuiltinConfig& config);

    // Looks at one TCP packet; returns the sid of a detector that fires now, else 0.
    uint32_t observe(const decode::DecodedPacket& pkt) noexcept;

    const BuiltinStats& stats() const noexcept { return stats_; }

private:
    static constexpr size_t kPortSlots = 32;
    struct ScanEntry {
        core::IpAddress src;
        core::IpAddress dst;
        int64_t window_start = 0;
        int64_t last_seen = 0;
        uint16_t ports[kPortSlots] = {};
        uint8_t port_count = 0;
        bool used = false;
        bool alerted = false;
    };
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
    std::vector<ScanEntry> scans_;
    std::vector<FloodEntry> floods_;
    BuiltinStats stats_;
};

}  // namespace sensor::detect
