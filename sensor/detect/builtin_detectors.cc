#include "sensor/detect/builtin_detectors.h"

#include <algorithm>
#include <cstring>

namespace sensor::detect {

namespace {

uint64_t addr_hash(const core::IpAddress& a) noexcept {
    uint64_t lo = 0;
    uint64_t hi = 0;
    std::memcpy(&lo, a.bytes.data(), 8);
    std::memcpy(&hi, a.bytes.data() + 8, 8);
    uint64_t h = (lo * 0x9e3779b97f4a7c15ULL) ^ (hi + 0x632be59bd9b4e019ULL);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return h ^ (h >> 32);
}

// Whole seconds of a window, at least one (threshold windows count in seconds).
uint32_t window_seconds(int64_t us) noexcept {
    const int64_t s = (us + 999'999) / 1'000'000;
    return static_cast<uint32_t>(std::clamp<int64_t>(s, 1, UINT32_MAX));
}

// The alert limit's rule identity: gid 0 is no rule's.
constexpr uint32_t kScanAlertRev = 1;

}  // namespace

PortScanState::PortScanState(size_t scanner_target_entries)
    : ports_(std::max<size_t>(scanner_target_entries, 1)),
      alerts_(std::max<size_t>(scanner_target_entries / 4, 64)) {}

BuiltinDetectors::BuiltinDetectors(const BuiltinConfig& config,
                                   std::shared_ptr<PortScanState> scans)
    : config_(config),
      scans_(scans != nullptr ? std::move(scans)
                              : std::make_shared<PortScanState>(config.table_size)),
      scan_threshold_(std::clamp<uint32_t>(config.scan_ports, 1,
                                           static_cast<uint32_t>(PortScanTable::kPortSlots))),
      floods_(std::max<uint32_t>(config.table_size, 1)) {
    once_ = rules::Threshold{.type = rules::Threshold::Type::kLimit,
                             .count = 1,
                             .seconds = window_seconds(config.idle_us)};
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
        scans_->ports().observe(pkt.src, pkt.dst, pkt.dst_port, pkt.ts_us, config_.scan_window_us);
    uint32_t replaced = seen.replaced;
    bool alert = false;
    if (seen.new_port_count == scan_threshold_) {
        const ThresholdTable::Decision d = scans_->alerts().allow_key(
            once_, ThresholdRule{.gid = 0, .sid = kPortScanSid, .rev = kScanAlertRev}, pkt.src,
            pkt.dst, pkt.ts_us);
        replaced += d.replaced;
        alert = d.alert;
    }
    if (replaced != 0) {
        stats_.entries_replaced.add(replaced);
    }
    return alert;
}

bool BuiltinDetectors::observe_flood(const decode::DecodedPacket& pkt) noexcept {
    size_t slot = (addr_hash(pkt.dst) + uint64_t{pkt.dst_port} * 0x9e3779b1u) % floods_.size();
    FloodEntry& e = floods_[slot];
    bool same = e.used && e.dst == pkt.dst && e.port == pkt.dst_port;
    if (!same || pkt.ts_us - e.last_seen > config_.idle_us) {
        if (e.used && !same) {
            stats_.entries_replaced.add();
        }
        e = FloodEntry{};
        e.used = true;
        e.dst = pkt.dst;
        e.port = pkt.dst_port;
        e.window_start = pkt.ts_us;
    }
    e.last_seen = std::max(e.last_seen, pkt.ts_us);
    if (e.alerted) {
        return false;
    }
    if (pkt.ts_us - e.window_start > config_.flood_window_us) {
        e.window_start = pkt.ts_us;
        e.syns = 0;
    }
    if (++e.syns >= config_.flood_syns) {
        e.alerted = true;
        return true;
    }
    return false;
}

}  // namespace sensor::detect
