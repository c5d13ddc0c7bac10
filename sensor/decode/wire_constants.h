#pragma once
// Wire constants of the link and tunnel layers the decoder reads (libpcap DLT_* values,
// EtherTypes, tunnel protocols, GRE and VXLAN fields), shared with the dispatcher's header
// walk (sensor/pipeline/dispatch_key.cc) so that both read frames by the same numbers.

#include <cstddef>
#include <cstdint>

namespace sensor::decode::wire {

// libpcap DLT_* values (pcap/dlt.h); decode does not link libpcap.
inline constexpr int kDltNull = 0;
inline constexpr int kDltEn10mb = 1;
inline constexpr int kDltPpp = 9;
inline constexpr int kDltRaw = 12;
inline constexpr int kDltRawOpenBsd = 14;
inline constexpr int kDltPppSerial = 50;
inline constexpr int kLinktypeRaw = 101;  // what pcap files store for DLT_RAW
inline constexpr int kDltCHdlc = 104;
inline constexpr int kDltLoop = 108;
inline constexpr int kDltLinuxSll = 113;
inline constexpr int kDltIpv4 = 228;
inline constexpr int kDltIpv6 = 229;
inline constexpr int kDltLinuxSll2 = 276;

// Link headers before the EtherType-carried payload.
inline constexpr size_t kEthernetHeader = 14;
inline constexpr size_t kSllHeader = 16;
inline constexpr size_t kSll2Header = 20;
inline constexpr size_t kChdlcHeader = 4;  // address, control, ethertype

// EtherTypes and PPP protocol numbers.
inline constexpr uint16_t kEtherIpv4 = 0x0800;
inline constexpr uint16_t kEtherIpv6 = 0x86dd;
inline constexpr uint16_t kEtherVlan = 0x8100;
inline constexpr uint16_t kEtherQinq = 0x88a8;
inline constexpr uint16_t kEtherQinqLegacy = 0x9100;
inline constexpr uint16_t kEtherMpls = 0x8847;
inline constexpr uint16_t kEtherMplsMulticast = 0x8848;
inline constexpr uint16_t kEtherPppoeSession = 0x8864;
inline constexpr uint16_t kEtherTransparentBridging = 0x6558;  // GRE payload type
inline constexpr uint16_t kEtherPpp = 0x880b;                  // GRE payload type (PPTP)
inline constexpr uint16_t kPppIpv4 = 0x0021;
inline constexpr uint16_t kPppIpv6 = 0x0057;

// IP protocols that carry another IP layer, and IPv6 extension headers.
inline constexpr uint8_t kIpProtoIpip = 4;
inline constexpr uint8_t kIpProtoIpv6 = 41;
inline constexpr uint8_t kIpProtoGre = 47;
inline constexpr uint8_t kIpv6HopByHop = 0;
inline constexpr uint8_t kIpv6Routing = 43;
inline constexpr uint8_t kIpv6Fragment = 44;
inline constexpr uint8_t kIpv6Ah = 51;
inline constexpr uint8_t kIpv6DestOpts = 60;
inline constexpr int kMaxIpv6ExtHeaders = 8;

// GRE flags (RFC 2784, 2890; RFC 2637 for version 1) and VXLAN (RFC 7348).
inline constexpr uint16_t kGreChecksum = 0x8000;
inline constexpr uint16_t kGreRouting = 0x4000;
inline constexpr uint16_t kGreKey = 0x2000;
inline constexpr uint16_t kGreSequence = 0x1000;
inline constexpr uint16_t kGreAck = 0x0080;  // enhanced GRE (version 1) only
inline constexpr uint16_t kGreVersionMask = 0x0007;
inline constexpr uint16_t kVxlanPort = 4789;
inline constexpr size_t kVxlanHeader = 8;
inline constexpr uint8_t kVxlanVniValid = 0x08;

// Tunnels peeled at most; the decoder drops frames with more.
inline constexpr uint8_t kMaxTunnelDepth = 3;

}  // namespace sensor::decode::wire
