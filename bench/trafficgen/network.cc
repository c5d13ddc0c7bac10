#include "bench/trafficgen/network.h"

#include <algorithm>
#include <utility>

#include "sensor/core/check.h"

namespace sensor::trafficgen {
namespace {

constexpr uint16_t kEphemeralFirst = 49152;
constexpr uint32_t kEphemeralCount = 65536 - kEphemeralFirst;

uint64_t hash_ip(const core::IpAddress& ip) {
    uint64_t h = ip.v6 ? 0x6666 : 0x4444;
    for (size_t i = 0; i < ip.size(); ++i) {
        h = mix64(h ^ ip.bytes[i]);
    }
    return h;
}

MacAddress mac(uint8_t o0, uint8_t o1, uint8_t o2, uint64_t low) {
    return MacAddress{{o0, o1, o2, static_cast<uint8_t>(low >> 16), static_cast<uint8_t>(low >> 8),
                       static_cast<uint8_t>(low)}};
}

// Router interfaces: the office VLAN and the ICS cell each have their own gateway.
MacAddress gateway_mac(const core::IpAddress& segment_member) {
    return plan::is_ics(segment_member) ? mac(0x00, 0x1b, 0x54, 0x0a1401)
                                        : mac(0x00, 0x1b, 0x54, 0x0a0101);
}

bool same_segment(const core::IpAddress& a, const core::IpAddress& b) {
    return (plan::is_office(a) && plan::is_office(b)) || (plan::is_ics(a) && plan::is_ics(b));
}

bool is_server(const core::IpAddress& ip) {
    return ip == plan::dns_resolver() || ip == plan::web_server() ||
           ip == plan::dns_resolver_v6() || ip == plan::web_server_v6() ||
           ip == plan::office_gateway();
}

}  // namespace

core::IpAddress ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    core::IpAddress ip;
    ip.bytes[0] = a;
    ip.bytes[1] = b;
    ip.bytes[2] = c;
    ip.bytes[3] = d;
    return ip;
}

core::IpAddress ipv6_doc(uint16_t g2, uint16_t g3, uint16_t g7) {
    core::IpAddress ip;
    ip.v6 = true;
    ip.bytes[0] = 0x20;
    ip.bytes[1] = 0x01;
    ip.bytes[2] = 0x0d;
    ip.bytes[3] = 0xb8;
    ip.bytes[4] = static_cast<uint8_t>(g2 >> 8);
    ip.bytes[5] = static_cast<uint8_t>(g2);
    ip.bytes[6] = static_cast<uint8_t>(g3 >> 8);
    ip.bytes[7] = static_cast<uint8_t>(g3);
    ip.bytes[14] = static_cast<uint8_t>(g7 >> 8);
    ip.bytes[15] = static_cast<uint8_t>(g7);
    return ip;
}

namespace plan {
core::IpAddress office_gateway() { return ipv4(10, 1, 0, 1); }
core::IpAddress dns_resolver() { return ipv4(10, 1, 0, 53); }
core::IpAddress web_server() { return ipv4(10, 1, 0, 80); }
core::IpAddress dns_resolver_v6() { return ipv6_doc(1, 0, 0x53); }
core::IpAddress web_server_v6() { return ipv6_doc(1, 0, 0x80); }
core::IpAddress upstream_resolver() { return ipv4(198, 51, 100, 53); }
core::IpAddress plc() { return ipv4(10, 20, 0, 10); }
core::IpAddress hmi() { return ipv4(10, 20, 0, 5); }

bool is_office(const core::IpAddress& ip) {
    if (ip.v6) {
        return ip.bytes[0] == 0x20 && ip.bytes[1] == 0x01 && ip.bytes[2] == 0x0d &&
               ip.bytes[3] == 0xb8 && ip.bytes[4] == 0 && ip.bytes[5] == 1;
    }
    return ip.bytes[0] == 10 && ip.bytes[1] == 1;
}

bool is_ics(const core::IpAddress& ip) {
    return !ip.v6 && ip.bytes[0] == 10 && ip.bytes[1] == 20 && ip.bytes[2] == 0;
}
}  // namespace plan

Network::Network(uint64_t seed) : seed_(seed), rng_(mix64(seed ^ 0x6e6574776f726bULL)) {}

Host& Network::host(const core::IpAddress& ip) {
    auto it = hosts_.find(ip);
    if (it != hosts_.end()) {
        return it->second;
    }
    // Identity (MAC, stack, distance) depends on the address only; counters also on the seed.
    const uint64_t h = hash_ip(ip);
    Host host;
    if (plan::is_ics(ip)) {
        if (ip == plan::plc()) {
            host.stack = Stack::kEmbedded;
            host.mac = mac(0x00, 0x1b, 0x1b, h);  // Siemens
        } else {
            host.stack = Stack::kWindows;
            host.mac = mac(0x00, 0xd0, 0xc9, h);  // Advantech panel PC
        }
    } else if (plan::is_office(ip)) {
        if (is_server(ip)) {
            host.stack = Stack::kLinux;
            host.mac = mac(0xac, 0x1f, 0x6b, h);  // Supermicro
        } else {
            host.stack = Stack::kWindows;
            host.mac = (h & 1) != 0 ? mac(0xd4, 0x81, 0xd7, h >> 1) : mac(0x54, 0xee, 0x75, h >> 1);
        }
    } else {
        host.stack = ip == ipv4(198, 51, 100, 66) ? Stack::kScanner : Stack::kLinux;
        host.mac = mac(0x02, 0x00, 0x5e, h);  // never on the wire here: routed via a gateway
        host.hops = static_cast<uint8_t>(6 + (h >> 8) % 14);
    }
    host.initial_ttl = host.stack == Stack::kWindows ? 128 : 64;
    const uint64_t c = mix64(h ^ seed_);
    host.next_ip_id = static_cast<uint16_t>(c);
    host.next_port = static_cast<uint16_t>(kEphemeralFirst + (c >> 16) % kEphemeralCount);
    host.icmp_seq = static_cast<uint16_t>(1 + (c >> 32) % 200);
    return hosts_.emplace(ip, host).first->second;
}

bool Network::claim(uint8_t proto, const core::IpAddress& a, uint16_t port_a,
                    const core::IpAddress& b, uint16_t port_b) {
    FlowKey key;
    key.proto = proto;
    if (std::pair(a, port_a) <= std::pair(b, port_b)) {
        key.lo_ip = a;
        key.lo_port = port_a;
        key.hi_ip = b;
        key.hi_port = port_b;
    } else {
        key.lo_ip = b;
        key.lo_port = port_b;
        key.hi_ip = a;
        key.hi_port = port_a;
    }
    return flows_.insert(key).second;
}

uint16_t Network::ephemeral_port(uint8_t proto, const core::IpAddress& client,
                                 const core::IpAddress& server, uint16_t server_port) {
    Host& h = host(client);
    for (uint32_t tries = 0; tries < kEphemeralCount; ++tries) {
        const uint16_t port = h.next_port;
        h.next_port = port == 65535 ? kEphemeralFirst : static_cast<uint16_t>(port + 1);
        if (claim(proto, client, port, server, server_port)) {
            return port;
        }
    }
    SENSOR_CHECK(false, "ephemeral ports exhausted");
    return 0;
}

FrameSpec Network::spec(const core::IpAddress& src, const core::IpAddress& dst, uint8_t proto) {
    Host& s = host(src);
    Host& d = host(dst);
    FrameSpec f;
    f.src_ip = src;
    f.dst_ip = dst;
    if (plan::is_internal(src)) {
        f.src_mac = s.mac;
        f.dst_mac = same_segment(src, dst) ? d.mac : gateway_mac(src);
        f.ttl = s.initial_ttl;
    } else {
        f.src_mac = gateway_mac(dst);
        f.dst_mac = d.mac;
        f.ttl = static_cast<uint8_t>(s.initial_ttl - s.hops);
    }
    if (s.stack == Stack::kScanner) {
        f.ip_id = static_cast<uint16_t>(rng_.next());
    } else {
        f.ip_id = s.next_ip_id++;
    }
    f.dont_fragment = (proto == kProtoTcp && s.stack != Stack::kScanner) ||
                      (proto == kProtoUdp && s.stack == Stack::kLinux);
    if (src.v6) {
        f.flow_label = static_cast<uint32_t>(mix64(hash_ip(src) ^ hash_ip(dst) ^ proto) & 0xfffff);
    }
    return f;
}

void Network::emit(int64_t ts_us, std::vector<uint8_t> frame) {
    packets_.push_back(Packet{ts_us, std::move(frame)});
}

std::vector<Packet> Network::take_packets() {
    std::stable_sort(packets_.begin(), packets_.end(),
                     [](const Packet& a, const Packet& b) { return a.ts_us < b.ts_us; });
    return std::exchange(packets_, {});
}

FlowCounts Network::flow_counts() const {
    FlowCounts n;
    for (const FlowKey& k : flows_) {
        if (k.proto == kProtoTcp) {
            ++n.tcp;
        } else if (k.proto == kProtoUdp) {
            ++n.udp;
        } else if (k.proto == kProtoIcmp) {
            ++n.icmp;
        }
        if (k.lo_ip.v6) {
            ++n.ipv6;
        }
    }
    return n;
}

}  // namespace sensor::trafficgen
