#pragma once
// Network: the simulated site as the capture point sees it. Knows the address plan (see
// README.md), gives each host a stable MAC, stack, TTL and IP id counter, hands out
// ephemeral ports, guarantees that no two sessions share a 5-tuple (so the sensor's flow
// count equals ours), and collects the frames. One per generated file; not thread-safe.

#include <cstdint>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "bench/trafficgen/packet_builder.h"
#include "bench/trafficgen/rng.h"
#include "sensor/core/ip_address.h"

namespace sensor::trafficgen {

core::IpAddress ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
// 2001:db8:<g2>:<g3>::<g7> (the RFC 3849 documentation prefix).
core::IpAddress ipv6_doc(uint16_t g2, uint16_t g3, uint16_t g7);

// Address plan.
namespace plan {
core::IpAddress office_gateway();           // 10.1.0.1
core::IpAddress dns_resolver();             // 10.1.0.53
core::IpAddress web_server();               // 10.1.0.80
core::IpAddress dns_resolver_v6();          // 2001:db8:1::53
core::IpAddress web_server_v6();            // 2001:db8:1::80
core::IpAddress upstream_resolver();        // 198.51.100.53
core::IpAddress plc();                      // 10.20.0.10
core::IpAddress hmi();                      // 10.20.0.5
bool is_office(const core::IpAddress& ip);  // 10.1.0.0/16, 2001:db8:1::/48
bool is_ics(const core::IpAddress& ip);     // 10.20.0.0/24
inline bool is_internal(const core::IpAddress& ip) { return is_office(ip) || is_ics(ip); }
}  // namespace plan

// How a host's TCP/IP stack fills headers.
enum class Stack : uint8_t { kWindows, kLinux, kEmbedded, kScanner };

struct Host {
    MacAddress mac;
    Stack stack = Stack::kLinux;
    uint8_t initial_ttl = 64;
    uint8_t hops = 0;  // routers between the host and the capture point
    uint16_t next_ip_id = 0;
    uint16_t next_port = 0;  // ephemeral port cursor
    uint16_t icmp_seq = 0;   // Windows ping numbers echoes per host, not per run
};

struct Packet {
    int64_t ts_us = 0;
    std::vector<uint8_t> bytes;
};

struct FlowCounts {
    uint64_t tcp = 0;
    uint64_t udp = 0;
    uint64_t icmp = 0;
    uint64_t ipv6 = 0;  // of the above, flows over IPv6
    uint64_t total() const { return tcp + udp + icmp; }
};

class Network {
public:
    explicit Network(uint64_t seed);

    Host& host(const core::IpAddress& ip);

    // Reserves a session's 5-tuple (ICMP: the address pair, ports 0). False when taken.
    bool claim(uint8_t proto, const core::IpAddress& a, uint16_t port_a, const core::IpAddress& b,
               uint16_t port_b);
    // The client's next free ephemeral port towards server:port; claims that flow.
    uint16_t ephemeral_port(uint8_t proto, const core::IpAddress& client,
                            const core::IpAddress& server, uint16_t server_port);

    // L2/L3 fields of a frame from src to dst at the capture point; takes src's next IP id.
    FrameSpec spec(const core::IpAddress& src, const core::IpAddress& dst, uint8_t proto);

    void emit(int64_t ts_us, std::vector<uint8_t> frame);

    // All frames in time order (stable for equal times); leaves the network empty.
    std::vector<Packet> take_packets();
    FlowCounts flow_counts() const;

private:
    struct FlowKey {
        uint8_t proto = 0;
        core::IpAddress lo_ip;
        core::IpAddress hi_ip;
        uint16_t lo_port = 0;
        uint16_t hi_port = 0;
        auto operator<=>(const FlowKey&) const = default;
    };

    uint64_t seed_;
    Rng rng_;  // per-packet randomness of scanners (IP ids)
    std::map<core::IpAddress, Host> hosts_;
    std::set<FlowKey> flows_;
    std::vector<Packet> packets_;
};

}  // namespace sensor::trafficgen
