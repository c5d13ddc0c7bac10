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

}  // namespace

BuiltinDetectors::BuiltinDetectors(const BuiltinConfig& config)
    : config_(config),
      scans_(std::max<uint32_t>(config.table_size, 1)),
      floods_(std::max<uint32_t>(config.table_size, 1)) {}

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
    size_t slot = (addr_hash(pkt.src) ^ (addr_hash(pkt.dst) >> 1)) % scans_.size();
    ScanEntry& e = scans_[slot];
    bool same = e.used && e.src == pkt.src && e.dst == pkt.dst;
    if (!same || pkt.ts_us - e.last_seen > config_.idle_us) {
        if (e.used && !same) {
            stats_.entries_replaced.add();
        }
        e = ScanEntry{};
        e.used = true;
        e.src = pkt.src;
        e.dst = pkt.dst;
        e.window_start = pkt.ts_us;
    }
    e.last_seen = std::max(e.last_seen, pkt.ts_us);
    if (e.alerted) {
        return false;
    }
    if (pkt.ts_us - e.window_start > config_.scan_window_us) {
        e.window_start = pkt.ts_us;
        e.port_count = 0;
    }
    for (size_t i = 0; i < e.port_count; ++i) {
        if (e.ports[i] == pkt.dst_port) {
            return false;
        }
    }
    if (e.port_count < kPortSlots) {
        e.ports[e.port_count++] = pkt.dst_port;
    }
    uint32_t threshold = std::min<uint32_t>(config_.scan_ports, kPortSlots);
    if (e.port_count >= threshold) {
        e.alerted = true;
        return true;
    }
    return false;
}

bool BuiltinDetectors::observe_flood(const decode::DecodedPacket& pkt) noexcept {
    size_t slot = (addr_hash(pkt.dst) + pkt.dst_port * 0x9e3779b1u) % floods_.size();
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
