#pragma once
// Link types the decoder reads, as libpcap DLT_* values (what pcap_datalink() returns), so
// that capture can refuse a source up front instead of dropping every frame later.

#include <array>

namespace sensor::decode {

// New types go at the end: the decode fuzz target picks a link type by its index here.
inline constexpr std::array<int, 13> kSupportedLinktypes{
    0,    // DLT_NULL: 4-byte address family in the capturing host's byte order
    1,    // DLT_EN10MB: Ethernet
    12,   // DLT_RAW: IPv4 or IPv6, no link header
    14,   // DLT_RAW as OpenBSD numbers it
    101,  // LINKTYPE_RAW: what pcap files store for DLT_RAW
    108,  // DLT_LOOP: like DLT_NULL, network byte order
    113,  // DLT_LINUX_SLL: Linux cooked capture v1
    228,  // DLT_IPV4
    229,  // DLT_IPV6
    276,  // DLT_LINUX_SLL2: Linux cooked capture v2
    9,    // DLT_PPP: PPP, with or without HDLC address/control bytes
    50,   // DLT_PPP_SERIAL: PPP in HDLC-like framing (RFC 1662)
    104,  // DLT_C_HDLC: Cisco HDLC, an ethertype after address and control bytes
};

constexpr bool linktype_supported(int linktype) noexcept {
    for (int t : kSupportedLinktypes) {
        if (t == linktype) {
            return true;
        }
    }
    return false;
}

}  // namespace sensor::decode
