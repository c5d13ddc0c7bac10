#pragma once
// Frame assembly: Ethernet II + IPv4/IPv6 + TCP/UDP/ICMP with every checksum filled in and
// short frames padded to the 60-byte Ethernet minimum, as a tap on the wire records them.
// Pure functions; each call returns a new frame.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "sensor/core/ip_address.h"

namespace sensor::trafficgen {

inline constexpr uint8_t kProtoIcmp = 1;
inline constexpr uint8_t kProtoTcp = 6;
inline constexpr uint8_t kProtoUdp = 17;

inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;

inline constexpr size_t kEthernetHeaderLen = 14;
inline constexpr size_t kMinFrameLen = 60;  // without FCS

struct MacAddress {
    std::array<uint8_t, 6> bytes{};
};

// Link and network fields of one frame as seen at the capture point.
struct FrameSpec {
    MacAddress src_mac;
    MacAddress dst_mac;
    core::IpAddress src_ip;
    core::IpAddress dst_ip;
    uint8_t ttl = 64;  // hop limit for IPv6
    uint16_t ip_id = 0;
    bool dont_fragment = false;
    uint8_t tos = 0;          // traffic class for IPv6
    uint32_t flow_label = 0;  // IPv6 only, 20 bits
};

struct TcpHeader {
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint8_t flags = 0;
    uint16_t window = 0;
    std::span<const uint8_t> options;  // length must be a multiple of 4, at most 40
};

// One's complement sum (RFC 1071) folded to 16 bits and inverted; `initial` carries a
// pseudo-header sum.
uint16_t internet_checksum(std::span<const uint8_t> data, uint64_t initial = 0);

std::vector<uint8_t> make_tcp_frame(const FrameSpec& spec, const TcpHeader& tcp,
                                    std::span<const uint8_t> payload);
std::vector<uint8_t> make_udp_frame(const FrameSpec& spec, uint16_t src_port, uint16_t dst_port,
                                    std::span<const uint8_t> payload);
// ICMPv4 echo request (type 8) or reply (type 0); spec must carry IPv4 addresses.
std::vector<uint8_t> make_icmp_echo_frame(const FrameSpec& spec, bool reply, uint16_t id,
                                          uint16_t seq, std::span<const uint8_t> data);

}  // namespace sensor::trafficgen
