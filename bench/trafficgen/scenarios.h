#pragma once
// Scenarios: the benign office/ICS mix and the attack scenarios, each written into a
// Network from its own Rng so that one scenario's draws never shift another's. The Tally is
// the ground truth that tests compare the sensor's alerts against.

#include <cstdint>

#include "bench/trafficgen/network.h"
#include "bench/trafficgen/rng.h"

namespace sensor::trafficgen {

struct Tally {
    uint64_t benign_sessions = 0;
    uint64_t benign_http = 0;  // TCP connections, 1-3 requests each
    uint64_t benign_tls = 0;
    uint64_t benign_dns = 0;           // client -> resolver exchanges
    uint64_t benign_dns_upstream = 0;  // resolver -> upstream exchanges (cache misses)
    uint64_t benign_modbus = 0;        // HMI polling connections
    uint64_t benign_ping = 0;          // echo sessions of 4 requests + 4 replies
    uint64_t eicar_downloads = 0;
    uint64_t c2_beacons = 0;        // whole-segment beacons
    uint64_t c2_split_beacons = 0;  // beacons whose User-Agent crosses a segment boundary
    uint64_t sqli_requests = 0;
    uint64_t modbus_write_single = 0;    // function 6 from a client other than the HMI
    uint64_t modbus_write_multiple = 0;  // function 16 from a client other than the HMI
    uint64_t portscan_ports = 0;
    uint64_t synflood_syns = 0;
    uint64_t synflood_synacks = 0;
};

// Offsets from the capture start (seconds) at which each scenario begins.
inline constexpr int64_t kBenignSpanS = 600;
inline constexpr int64_t kEicarAtS = 95;
inline constexpr int64_t kC2FirstAtS = 120;  // then every 60 s, kC2Beacons times
inline constexpr int64_t kC2IntervalS = 60;
inline constexpr int kC2Beacons = 5;
inline constexpr int64_t kSplitAtS = kC2FirstAtS + kC2Beacons * kC2IntervalS;  // 6th beacon
inline constexpr int64_t kSqliAtS = 200;
inline constexpr int64_t kModbusWriteAtS = 330;
inline constexpr int64_t kPortscanAtS = 450;
inline constexpr int64_t kSynfloodAtS = 510;

inline constexpr int kSqliRequests = 3;
inline constexpr int kPortscanPorts = 100;
inline constexpr int kSynfloodSyns = 2000;
inline constexpr int kSynfloodBacklog = 256;  // SYNs answered before the listen queue fills

void add_benign(Network& net, Rng& rng, int64_t start_us, uint32_t sessions, Tally& tally);
void add_eicar(Network& net, Rng& rng, int64_t start_us, Tally& tally);
void add_c2(Network& net, Rng& rng, int64_t start_us, Tally& tally);
void add_split(Network& net, Rng& rng, int64_t start_us, Tally& tally);
void add_sqli(Network& net, Rng& rng, int64_t start_us, Tally& tally);
void add_modbus_write(Network& net, Rng& rng, int64_t start_us, Tally& tally);
void add_portscan(Network& net, Rng& rng, int64_t start_us, Tally& tally);
void add_synflood(Network& net, Rng& rng, int64_t start_us, Tally& tally);

}  // namespace sensor::trafficgen
