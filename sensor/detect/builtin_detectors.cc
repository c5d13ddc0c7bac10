#include "sensor/detect/builtin_detectors.h"

#include <algorithm>

namespace sensor::detect {

namespace {

// Whole seconds of a window, at least one (threshold windows count in seconds).
uint32_t window_seconds(int64_t us) noexcept {
    const int64_t s = (us + 999'999) / 1'000'000;
    return static_cast<uint32_t>(std::clamp<int64_t>(s, 1, UINT32_MAX));
}

// The built-in detectors' identities in the shared threshold tables: gid 0 is no rule's.
constexpr ThresholdRule kScanIdentity{.gid = 0, .sid = kPortScanSid, .rev = 1};
constexpr ThresholdRule kFloodIdentity{.gid = 0, .sid = kSynFloodSid, .rev = 1};

// The tables key two addresses; a flood's key is one address and a port, so the port stands
// in the second address (an IPv4 address of its two bytes, whatever the target's family).
core::IpAddress port_as_address(uint16_t port) noexcept {
    core::IpAddress a;
    a.bytes[0] = static_cast<uint8_t>(port >> 8);
    a.bytes[1] = static_cast<uint8_t>(port & 0xff);
    return a;
}

}  // namespace

BuiltinState::BuiltinState(size_t entries)
    : ports_(std::max<size_t>(entries, 1)),
      floods_(std::max<size_t>(entries, 1)),
      alerts_(std::max<size_t>(entries / 4, 64)) {}

BuiltinDetectors::BuiltinDetectors(const BuiltinConfig& config, std::shared_ptr<BuiltinState> state)
    : config_(config),
      state_(state != nullptr ? std::move(state)
                              : std::make_shared<BuiltinState>(config.table_size)),
      scan_threshold_(std::clamp<uint32_t>(config.scan_ports, 1,
                                           static_cast<uint32_t>(PortScanTable::kPortSlots))) {
    once_ = rules::Threshold{.type = rules::Threshold::Type::kLimit,
                             .count = 1,
                             .seconds = window_seconds(config.idle_us)};
    flood_ = rules::Threshold{
        .type = rules::Threshold::Type::kBoth,
        .count = std::clamp<uint32_t>(config.flood_syns, 1, ThresholdTable::kMaxCount),
        .seconds = window_seconds(config.flood_window_us)};
}

uint32_t BuiltinDetectors::observe(const decode::DecodedPacket& pkt) noexcept {
    if (!config_.enabled || pkt.ip_proto != decode::kIpProtoTcp) {
        return 0;
    }
    // Only connection attempts: SYN without ACK.
    if ((pkt.tcp_flags & (decode::kTcpSyn | decode::kTcpAck)) != decode::kTcpSyn) {
        return 0;
    }
    bool flood = observe_flood(pkt);
    bool scan = observe_scan(pkt);
    if (flood) {
        stats_.flood_alerts.add();
        return kSynFloodSid;
    }
    if (scan) {
        stats_.scan_alerts.add();
        return kPortScanSid;
    }
    return 0;
}

bool BuiltinDetectors::observe_scan(const decode::DecodedPacket& pkt) noexcept {
    // The shared table counts the distinct ports; only the SYN whose port completes the count
    // goes on, so one scan alerts once whichever workers see its connections, and at most
    // once per idle_us.
    const PortScanTable::Observation seen =
        state_->ports().observe(pkt.src, pkt.dst, pkt.dst_port, pkt.ts_us, config_.scan_window_us);
    uint32_t replaced = seen.replaced;
    bool alert = false;
    if (seen.new_port_count == scan_threshold_) {
        const ThresholdTable::Decision d =
            state_->alerts().allow_key(once_, kScanIdentity, pkt.src, pkt.dst, pkt.ts_us);
        replaced += d.replaced;
        alert = d.alert;
    }
    if (replaced != 0) {
        stats_.entries_replaced.add(replaced);
    }
    return alert;
}

bool BuiltinDetectors::observe_flood(const decode::DecodedPacket& pkt) noexcept {
    // One table counts every worker's SYNs to the target, so a flood alerts at flood_syns
    // however its spoofed sources spread over the workers, and a busy server whose clients
    // land unevenly on them is never taken for one (giving each worker a share of the count
    // did that). Once the target has alerted, its SYNs are only looked at until idle_us has
    // passed: a flood's SYNs then read the shared entries instead of all writing one.
    const core::IpAddress port = port_as_address(pkt.dst_port);
    if (state_->alerts().window_open(once_, kFloodIdentity, pkt.dst, port, pkt.ts_us)) {
        return false;
    }
    const ThresholdTable::Decision counted =
        state_->floods().allow_key(flood_, kFloodIdentity, pkt.dst, port, pkt.ts_us);
    uint32_t replaced = counted.replaced;
    bool alert = false;
    if (counted.alert) {
        const ThresholdTable::Decision once =
            state_->alerts().allow_key(once_, kFloodIdentity, pkt.dst, port, pkt.ts_us);
        replaced += once.replaced;
        alert = once.alert;
    }
    if (replaced != 0) {
        stats_.entries_replaced.add(replaced);
    }
    return alert;
}

}  // namespace sensor::detect
