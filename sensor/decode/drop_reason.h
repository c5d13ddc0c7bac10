#pragma once
// DropReason: why a frame stopped early. Names are stable label values
// (sensor_decode_dropped_total{reason="..."}) and are never reused. Retired names, which must
// not come back with another meaning: bad_ipv4_checksum, bad_udp_checksum, bad_icmp_checksum,
// bad_icmpv6_checksum (now counted, not dropped), truncated_tcp, bad_tcp_data_offset,
// truncated_udp, bad_udp_length, truncated_icmp, truncated_icmpv6, truncated_gre,
// unsupported_gre_version, truncated_vxlan (now DecodedPacket::l4_malformed).

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sensor::decode {

enum class DropReason : uint8_t {
    kUnsupportedLinktype,
    kTruncatedEthernet,
    kTruncatedVlan,
    kTooManyVlanTags,
    kTruncatedMpls,
    kTruncatedPppoe,
    kUnsupportedPppoeProtocol,
    kTruncatedSll,
    kTruncatedNull,
    kTruncatedIpv4,
    kBadIpv4Version,
    kBadIpv4Ihl,
    kBadIpv4TotalLength,
    kTruncatedIpv6,
    kBadIpv6Version,
    kBadIpv6PayloadLength,
    kTruncatedIpv6ExtHeader,
    kTooManyIpv6ExtHeaders,
    kBadTcpChecksum,
    kTooManyTunnelLayers,
    kBadFragment,
    kFragmentOverlap,
    kFragmentMemcap,
    kUnknownIpVersion,   // link layer says IP, first nibble is neither 4 nor 6
    kTruncatedFragment,  // fragment cut by snaplen: its bytes cannot be reassembled
    kTruncatedChdlc,     // Cisco HDLC link header shorter than 4 bytes
    kTruncatedPpp,       // PPP link header or protocol field cut short
    kTruncatedArp,       // ARP shorter than its fixed header or the addresses it announces
    kBadArp,             // Ethernet/IPv4 ARP whose address lengths are not 6 and 4
    kCount,
};

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

inline constexpr std::array<std::string_view, kDropReasonCount> kDropReasonNames{
    "unsupported_linktype",
    "truncated_ethernet",
    "truncated_vlan",
    "too_many_vlan_tags",
    "truncated_mpls",
    "truncated_pppoe",
    "unsupported_pppoe_protocol",
    "truncated_sll",
    "truncated_null",
    "truncated_ipv4",
    "bad_ipv4_version",
    "bad_ipv4_ihl",
    "bad_ipv4_total_length",
    "truncated_ipv6",
    "bad_ipv6_version",
    "bad_ipv6_payload_length",
    "truncated_ipv6_ext_header",
    "too_many_ipv6_ext_headers",
    "bad_tcp_checksum",
    "too_many_tunnel_layers",
    "bad_fragment",
    "fragment_overlap",
    "fragment_memcap",
    "unknown_ip_version",
    "truncated_fragment",
    "truncated_chdlc",
    "truncated_ppp",
    "truncated_arp",
    "bad_arp",
};

namespace detail {

// Names are label values: non-empty, lower snake_case and unique. A reason appended to the
// enum without a name leaves an empty entry in the array, which this rejects.
consteval bool drop_reason_names_valid() {
    for (size_t i = 0; i < kDropReasonNames.size(); ++i) {
        std::string_view name = kDropReasonNames[i];
        if (name.empty() || name.front() == '_' || name.back() == '_') {
            return false;
        }
        for (char c : name) {
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
                return false;
            }
        }
        for (size_t j = i + 1; j < kDropReasonNames.size(); ++j) {
            if (kDropReasonNames[j] == name) {
                return false;
            }
        }
    }
    return true;
}

}  // namespace detail

static_assert(detail::drop_reason_names_valid(),
              "kDropReasonNames must name every DropReason once, in enum order, in snake_case");

inline constexpr std::string_view drop_reason_name(DropReason r) noexcept {
    return kDropReasonNames[static_cast<size_t>(r)];
}

}  // namespace sensor::decode
