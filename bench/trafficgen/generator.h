#pragma once
// Traffic generator entry points: build a deterministic capture (benign mix and/or attack
// scenarios) in memory, then write it as a pcap through libpcap. Same Options, same bytes:
// all randomness comes from the seed, never from the clock.
//
// Address plan (HOME_NET = 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16):
//   office clients   10.1.0.0/16 (Windows); IPv6 2001:db8:1:1::/64 for dual-stack ones
//   office servers   10.1.0.1 gateway, 10.1.0.53 DNS resolver, 10.1.0.80 web server
//                    (intranet.example.com); IPv6 2001:db8:1::53 and 2001:db8:1::80
//   ICS cell         10.20.0.0/24: PLC (Modbus server) 10.20.0.10, HMI 10.20.0.5 (the only
//                    allowed Modbus client, reads only)
//   external         198.51.100.0/24 and 203.0.113.0/24 (web/TLS sites .10-.40, upstream
//                    resolver 198.51.100.53); IPv6 sites in 2001:db8:100::/48, 2001:db8:203::/48
//   attack actors    10.1.3.41 EICAR downloader (from 198.51.100.20), 10.1.7.23 C2 victim
//                    (to 203.0.113.66), 198.51.100.77 SQLi attacker, 10.1.5.77 rogue Modbus
//                    writer, 198.51.100.66 port scanner, 203.0.113.0/24 spoofed SYN flood
// The capture point is the core switch: office and ICS hosts appear with their own MAC and
// initial TTL, routed traffic with a gateway MAC and a TTL reduced by its hops.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trafficgen/network.h"
#include "bench/trafficgen/scenarios.h"
#include "sensor/core/result.h"

namespace sensor::trafficgen {

enum class Scenario : uint8_t {
    kAll,
    kBenign,
    kEicar,
    kC2,
    kSqli,
    kModbusWrite,
    kPortscan,
    kSynflood,
    kSplit,
};

core::Result<Scenario> parse_scenario(std::string_view name);
std::string_view scenario_name(Scenario scenario);

inline constexpr int64_t kDefaultStartSeconds = 1767600000;  // 2026-01-05T08:00:00Z
inline constexpr uint32_t kDefaultBenignSessions = 400;

struct Options {
    uint64_t seed = 1;
    Scenario scenario = Scenario::kAll;
    uint32_t benign_flows = kDefaultBenignSessions;  // benign application sessions
    int64_t start_seconds = kDefaultStartSeconds;
};

struct Summary {
    uint64_t packets = 0;
    uint64_t bytes = 0;  // captured bytes, Ethernet headers and padding included
    FlowCounts flows;    // distinct 5-tuples (ICMP: address pairs) by transport
    Tally tally;
};

struct Capture {
    std::vector<Packet> packets;  // in time order
    Summary summary;
};

Capture generate(const Options& options);

// Writes Ethernet (DLT_EN10MB) records with snaplen 65535; errors name the path.
core::Result<void> write_pcap(const Capture& capture, const std::string& path);

// "<packets> packets, <flows> flows (tcp N, udp N, icmp N), <bytes> bytes"
std::string format_summary(const Summary& summary);

}  // namespace sensor::trafficgen
