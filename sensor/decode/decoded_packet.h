#pragma once
// DecodedPacket: what the decoder learned about one frame. Filled in place by the owning
// worker's Decoder (a reused hot-path buffer); spans point into the frame or into the
// decoder's reassembly buffer and stay valid until the next decode() call.

#include <array>
#include <cstdint>
#include <span>

#include "sensor/core/ip_address.h"

namespace sensor::decode {

inline constexpr uint8_t kIpProtoIcmp = 1;
inline constexpr uint8_t kIpProtoTcp = 6;
inline constexpr uint8_t kIpProtoUdp = 17;
inline constexpr uint8_t kIpProtoIcmpv6 = 58;
inline constexpr uint8_t kIpProtoSctp = 132;

// 802.1Q/802.1ad tags read in front of IP, outer first; a frame with more is dropped.
inline constexpr uint8_t kMaxVlanTags = 3;

inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpPsh = 0x08;
inline constexpr uint8_t kTcpAck = 0x10;

// ARP opcodes Suricata analyses (RFC 826, RFC 903); others leave the frame non-IP.
inline constexpr uint16_t kArpRequest = 1;
inline constexpr uint16_t kArpReply = 2;
inline constexpr uint16_t kArpReverseRequest = 3;
inline constexpr uint16_t kArpReverseReply = 4;

// An Ethernet/IPv4 ARP message (hardware type 1, protocol 0x0800, address lengths 6 and 4).
struct ArpMessage {
    uint16_t opcode = 0;
    std::array<uint8_t, 6> sender_mac{};
    core::IpAddress sender_ip;
    std::array<uint8_t, 6> target_mac{};
    core::IpAddress target_ip;
};

struct DecodedPacket {
    // Innermost IP layer (after tunnels).
    core::IpAddress src;
    core::IpAddress dst;
    uint8_t ip_proto = 0;   // next header after IPv6 extension headers
    uint8_t ttl = 0;        // TTL or hop limit
    uint16_t src_port = 0;  // TCP/UDP/SCTP; 0 otherwise
    uint16_t dst_port = 0;
    // TCP
    uint8_t tcp_flags = 0;
    uint32_t tcp_seq = 0;
    uint32_t tcp_ack = 0;
    uint16_t tcp_window = 0;
    // ICMP / ICMPv6
    uint8_t icmp_type = 0;
    uint8_t icmp_code = 0;
    // Link layer
    int linktype = 0;                      // the frame's libpcap DLT_* value
    uint16_t vlan_ids[kMaxVlanTags] = {};  // outer first
    uint8_t vlan_count = 0;
    uint8_t tunnel_depth = 0;  // IP-in-IP, GRE, VXLAN layers peeled
    bool reassembled = false;  // built from IP fragments
    // The transport header (TCP, UDP, ICMP, SCTP, GRE) was truncated or malformed: the packet
    // is described at the IP layer only (ports, flags and payload empty), as Suricata lets
    // `ip` rules see such packets.
    bool l4_malformed = false;
    // Link-layer bytes right in front of ip (link.end() == ip.begin()): the frame's, a
    // tunnel's inner frame (from its payload start), or for a reassembled datagram its first
    // fragment's. link + ip is the packet as Suricata logs it (eve `packet`).
    std::span<const uint8_t> link;
    std::span<const uint8_t> ip;       // innermost IP header + payload (what nDPI wants)
    std::span<const uint8_t> payload;  // L4 payload (TCP/UDP data, ICMP body after 8 bytes)
    // Verdict::kArp: the frame is an ARP message, not IP. src, dst, ports, ip and payload stay
    // empty (ARP has no IP header); link spans the link-layer bytes and arp_bytes the message.
    bool is_arp = false;
    ArpMessage arp;
    std::span<const uint8_t> arp_bytes;
    int64_t ts_us = 0;
    int64_t clock_us = 0;  // the frame's capture clock (core::Frame::clock_us)
    uint64_t frame_index = 0;

    bool is_v6() const noexcept { return src.v6; }
};

}  // namespace sensor::decode
