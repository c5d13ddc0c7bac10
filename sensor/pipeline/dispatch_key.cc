#include "sensor/pipeline/dispatch_key.h"

#include <algorithm>
#include <cstring>
#include <span>

#include "sensor/decode/decoded_packet.h"
#include "sensor/decode/wire_constants.h"

// The walk follows the decoder's layering (sensor/decode/decoder.cc) so that the pair it ends on
// is the one whose flow the worker will analyse: where the decoder keeps an outer layer (a tunnel
// carrying no IP, a malformed GRE or UDP header), the walk keeps it too. Where the decoder drops
// the frame, any worker will do, so those checks are not repeated here.

namespace sensor::pipeline {

namespace {

using Bytes = std::span<const uint8_t>;
using namespace decode::wire;  // NOLINT(google-build-using-namespace): shared wire numbers

constexpr size_t kSctpCommonHeader = 12;  // ports, verification tag, CRC32c (RFC 9260 3.1)
constexpr size_t kTcpMinHeader = 20;

uint16_t be16(Bytes b, size_t at) noexcept {
    return static_cast<uint16_t>((uint32_t{b[at]} << 8) | uint32_t{b[at + 1]});
}
uint32_t be32(Bytes b, size_t at) noexcept {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
           uint32_t{b[at + 3]};
}

uint64_t mix(uint64_t h) noexcept {
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h;
}

// Symmetric: x and y are the two addresses' 16 bytes each.
uint64_t pair_hash(const uint64_t (&x)[2], const uint64_t (&y)[2]) noexcept {
    uint64_t h = (x[0] ^ y[0]) * 0x9e3779b97f4a7c15ULL + ((x[1] ^ y[1]) + (x[0] + y[0]));
    h += (x[1] + y[1]) * 0xc2b2ae3d27d4eb4fULL;
    return mix(h);
}

// Symmetric in the ports; never 0 (0 says no flow).
uint64_t flow_hash(uint64_t pair, uint8_t proto, uint16_t a, uint16_t b) noexcept {
    const uint64_t ordered = (uint64_t{std::min(a, b)} << 16) | std::max(a, b);
    return mix((pair ^ (ordered << 8 | proto)) * 0x9e3779b97f4a7c15ULL) | 1;
}

uint64_t datagram_hash(Bytes src, Bytes dst, uint32_t id, uint8_t proto) noexcept {
    uint64_t h = (uint64_t{id} << 8) | proto | (uint64_t{src.size()} << 40);
    for (Bytes part : {src, dst}) {
        for (size_t i = 0; i < part.size(); i += 8) {
            uint64_t w = 0;
            std::memcpy(&w, part.data() + i, std::min<size_t>(8, part.size() - i));
            h = mix((h ^ w) * 0x9e3779b97f4a7c15ULL);
        }
    }
    return h;
}

class Walker {
public:
    DispatchKey key;
    bool with_flow = true;  // also the flow of the innermost layer (key.flow)

    void link(int linktype, Bytes b) noexcept {
        switch (linktype) {
            case kDltEn10mb:
                ethernet(b);
                return;
            case kDltPpp:
            case kDltPppSerial:
                ppp(b);
                return;
            case kDltCHdlc:
                if (b.size() >= kChdlcHeader) {
                    ethertype(be16(b, 2), b.subspan(kChdlcHeader));
                }
                return;
            case kDltLinuxSll:
                if (b.size() >= kSllHeader) {
                    ethertype(be16(b, 14), b.subspan(kSllHeader));
                }
                return;
            case kDltLinuxSll2:
                if (b.size() >= kSll2Header) {
                    ethertype(be16(b, 0), b.subspan(kSll2Header));
                }
                return;
            case kDltRaw:
            case kDltRawOpenBsd:
            case kLinktypeRaw:
                raw_ip(b);
                return;
            case kDltIpv4:
                ipv4(b);
                return;
            case kDltIpv6:
                ipv6(b);
                return;
            case kDltNull:
            case kDltLoop:
                // The family (in either byte order) only says which IP version: the version
                // nibble says the same.
                if (b.size() >= 4) {
                    raw_ip(b.subspan(4));
                }
                return;
            default:
                return;
        }
    }

private:
    void ethernet(Bytes b) noexcept {
        if (b.size() >= kEthernetHeader) {
            ethertype(be16(b, 12), b.subspan(kEthernetHeader));
        }
    }

    void ethertype(uint16_t type, Bytes b) noexcept {
        for (;;) {
            switch (type) {
                case kEtherIpv4:
                    ipv4(b);
                    return;
                case kEtherIpv6:
                    ipv6(b);
                    return;
                case kEtherVlan:
                case kEtherQinq:
                case kEtherQinqLegacy:
                    if (++vlan_tags_ > decode::kMaxVlanTags || b.size() < 4) {
                        return;
                    }
                    type = be16(b, 2);
                    b = b.subspan(4);
                    continue;
                case kEtherMpls:
                case kEtherMplsMulticast:
                    mpls(b);
                    return;
                case kEtherPppoeSession:
                    pppoe(b);
                    return;
                default:
                    return;  // ARP, LLDP, ...: no IP here
            }
        }
    }

    void ppp(Bytes b) noexcept {
        if (b.size() >= 2 && b[0] == 0xff && b[1] == 0x03) {
            b = b.subspan(2);
        }
        if (b.empty()) {
            return;
        }
        uint16_t proto = b[0];
        if ((b[0] & 1) != 0) {
            b = b.subspan(1);
        } else {
            if (b.size() < 2) {
                return;
            }
            proto = be16(b, 0);
            b = b.subspan(2);
        }
        if (proto == kPppIpv4) {
            ipv4(b);
        } else if (proto == kPppIpv6) {
            ipv6(b);
        }
    }

    void mpls(Bytes b) noexcept {
        for (;;) {
            if (b.size() < 4) {
                return;
            }
            const bool bottom = (b[2] & 1) != 0;
            b = b.subspan(4);
            if (bottom) {
                break;
            }
        }
        raw_ip(b);
    }

    void pppoe(Bytes b) noexcept {
        if (b.size() < 8) {
            return;
        }
        const size_t length = be16(b, 4);
        if (length < 2) {
            return;
        }
        Bytes payload = b.subspan(6);
        if (length < payload.size()) {
            payload = payload.first(length);
        }
        const uint16_t proto = be16(payload, 0);
        if (proto == kPppIpv4) {
            ipv4(payload.subspan(2));
        } else if (proto == kPppIpv6) {
            ipv6(payload.subspan(2));
        }
    }

    void raw_ip(Bytes b) noexcept {
        if (b.empty()) {
            return;
        }
        if ((b[0] >> 4) == 4) {
            ipv4(b);
        } else if ((b[0] >> 4) == 6) {
            ipv6(b);
        }
    }

    // The pair of an IP layer just read; a deeper layer read later replaces it. Hashed as
    // address_pair_hash() hashes the two IpAddresses (an IPv4 address fills the first 4 of
    // their 16 bytes), without making them.
    void pair(Bytes src, Bytes dst) noexcept {
        uint64_t x[2] = {0, 0};
        uint64_t y[2] = {0, 0};
        std::memcpy(x, src.data(), src.size());
        std::memcpy(y, dst.data(), dst.size());
        key.pair = pair_hash(x, y);
        key.flow = 0;  // this layer's ports are not read yet
        key.tunnel_depth = depth_;
        if (key.kind == DispatchKey::Kind::kNone) {
            key.kind = DispatchKey::Kind::kPair;
        }
    }

    // A fragment at the current layer. False when nothing more can be read from this frame.
    bool fragment(Bytes src, Bytes dst, uint32_t id, uint8_t proto, bool first) noexcept {
        if (key.kind != DispatchKey::Kind::kFragment) {
            key.kind = DispatchKey::Kind::kFragment;
            key.datagram = datagram_hash(src, dst, id, proto);
            key.first_fragment = first;
        }
        return first;
    }

    void ipv4(Bytes b) noexcept {
        if (b.size() < 20 || (b[0] >> 4) != 4) {
            return;
        }
        const size_t header_len = size_t{b[0] & 0x0fu} * 4;
        const size_t total_len = be16(b, 2);
        if (header_len < 20 || header_len > b.size() || total_len < header_len) {
            return;
        }
        const bool truncated = total_len > b.size();
        if (!truncated) {
            b = b.first(total_len);
        }
        const Bytes src = b.subspan(12, 4);
        const Bytes dst = b.subspan(16, 4);
        pair(src, dst);
        const uint16_t frag = be16(b, 6);
        const bool more = (frag & 0x2000) != 0;
        const bool first = (frag & 0x1fff) == 0;
        if ((more || !first) && !fragment(src, dst, be16(b, 4), b[9], first)) {
            return;
        }
        // A first fragment holds only the start of what its headers describe.
        transport(b[9], b.subspan(header_len), truncated || more);
    }

    void ipv6(Bytes b) noexcept {
        constexpr size_t kFixed = 40;
        if (b.size() < kFixed || (b[0] >> 4) != 6) {
            return;
        }
        const size_t total_len = kFixed + be16(b, 4);
        const bool truncated = total_len > b.size();
        if (!truncated) {
            b = b.first(total_len);
        }
        const Bytes src = b.subspan(8, 16);
        const Bytes dst = b.subspan(24, 16);
        pair(src, dst);
        uint8_t next = b[6];
        size_t pos = kFixed;
        bool partial = truncated;
        for (int count = 0;; ++count) {
            if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6Fragment &&
                next != kIpv6Ah && next != kIpv6DestOpts) {
                break;
            }
            const size_t left = b.size() - pos;
            if (count == kMaxIpv6ExtHeaders || left < 8) {
                return;  // dropped by the decoder (every extension header has 8 bytes or more)
            }
            if (next == kIpv6Fragment) {
                const uint16_t field = be16(b, pos + 2);
                const bool more = (field & 1) != 0;
                const bool first = (field & 0xfff8u) == 0;
                next = b[pos];
                pos += 8;
                if (!first || more) {
                    if (!fragment(src, dst, be32(b, pos - 4), 0, first)) {
                        return;
                    }
                    partial = true;
                }
                continue;
            }
            const size_t len =
                next == kIpv6Ah ? (size_t{b[pos + 1]} + 2) * 4 : (size_t{b[pos + 1]} + 1) * 8;
            if (left < len) {
                return;
            }
            next = b[pos];
            pos += len;
        }
        transport(next, b.subspan(pos), partial);
    }

    // The flow of the current layer: its pair with the protocol and both ports, in an order
    // that makes both directions equal. Only where the decoder reads the ports too: it
    // analyses a packet with a malformed transport header at the IP layer, so by the pair. A
    // first fragment (truncated) shows the ports the reassembled datagram will have.
    void ports(uint8_t proto, Bytes l4, bool truncated) noexcept {
        if (!with_flow || l4.size() < 4) {
            return;
        }
        if (!truncated && proto == decode::kIpProtoTcp) {
            if (l4.size() < kTcpMinHeader) {
                return;
            }
            const size_t data_offset = size_t{static_cast<uint8_t>(l4[12] >> 4)} * 4;
            if (data_offset < kTcpMinHeader || data_offset > l4.size()) {
                return;
            }
        }
        if (!truncated && proto == decode::kIpProtoSctp && l4.size() < kSctpCommonHeader) {
            return;
        }
        key.flow = flow_hash(key.pair, proto, be16(l4, 0), be16(l4, 2));
    }

    void transport(uint8_t proto, Bytes l4, bool truncated) noexcept {
        switch (proto) {
            case decode::kIpProtoTcp:
            case decode::kIpProtoSctp:
                ports(proto, l4, truncated);
                return;
            case kIpProtoIpip:
                if (enter_tunnel()) {
                    ipv4(l4);
                }
                return;
            case kIpProtoIpv6:
                if (enter_tunnel()) {
                    ipv6(l4);
                }
                return;
            case kIpProtoGre:
                gre(l4);
                return;
            case decode::kIpProtoUdp:
                udp(l4, truncated);
                return;
            default:
                return;
        }
    }

    bool enter_tunnel() noexcept {
        if (depth_ >= kMaxTunnelDepth) {
            return false;
        }
        ++depth_;
        return true;
    }

    void udp(Bytes s, bool truncated) noexcept {
        if (s.size() < 8) {
            return;
        }
        const size_t length = be16(s, 4);
        if (length < 8 || (length > s.size() && !truncated)) {
            return;  // the decoder analyses such a packet at its IP layer
        }
        if (length <= s.size()) {
            s = s.first(length);
        }
        ports(decode::kIpProtoUdp, s, truncated);  // a VXLAN layer read below replaces it
        if (be16(s, 2) != kVxlanPort) {
            return;
        }
        const Bytes vxlan = s.subspan(8);
        if (vxlan.size() < kVxlanHeader || (vxlan[0] & kVxlanVniValid) == 0) {
            return;
        }
        if (enter_tunnel()) {
            ethernet(vxlan.subspan(kVxlanHeader));
        }
    }

    void gre(Bytes l4) noexcept {
        if (l4.size() < 4) {
            return;
        }
        const uint16_t flags = be16(l4, 0);
        const uint16_t proto = be16(l4, 2);
        size_t pos = 4;
        switch (flags & kGreVersionMask) {
            case 0:
                break;
            case 1: {
                // PPTP's enhanced GRE: PPP only, key required.
                if (proto != kEtherPpp || (flags & (kGreChecksum | kGreRouting)) != 0 ||
                    (flags & kGreKey) == 0) {
                    return;
                }
                pos += 4;
                pos += (flags & kGreSequence) != 0 ? 4 : 0;
                pos += (flags & kGreAck) != 0 ? 4 : 0;
                if (pos >= l4.size() || !enter_tunnel()) {
                    return;
                }
                ppp(l4.subspan(pos));
                return;
            }
            default:
                return;
        }
        pos += (flags & (kGreChecksum | kGreRouting)) != 0 ? 4 : 0;
        pos += (flags & kGreKey) != 0 ? 4 : 0;
        pos += (flags & kGreSequence) != 0 ? 4 : 0;
        if (pos > l4.size()) {
            return;
        }
        if ((flags & kGreRouting) != 0) {
            for (;;) {
                if (l4.size() - pos < 4) {
                    return;
                }
                const uint16_t family = be16(l4, pos);
                const size_t sre_length = l4[pos + 3];
                pos += 4;
                if (family == 0 && sre_length == 0) {
                    break;
                }
                if (l4.size() - pos < sre_length) {
                    return;
                }
                pos += sre_length;
            }
        }
        const Bytes inner = l4.subspan(pos);
        switch (proto) {
            case kEtherIpv4:
            case kEtherIpv6:
            case kEtherTransparentBridging:
            case kEtherPpp:
                break;
            default:
                return;  // ERSPAN, ...: the decoder describes the GRE packet itself
        }
        if (!enter_tunnel()) {
            return;
        }
        if (proto == kEtherIpv4) {
            ipv4(inner);
        } else if (proto == kEtherIpv6) {
            ipv6(inner);
        } else if (proto == kEtherTransparentBridging) {
            ethernet(inner);
        } else {
            ppp(inner);
        }
    }

    uint8_t depth_ = 0;
    size_t vlan_tags_ = 0;
};

}  // namespace

uint64_t address_pair_hash(const core::IpAddress& a, const core::IpAddress& b) noexcept {
    uint64_t x[2] = {0, 0};
    uint64_t y[2] = {0, 0};
    std::memcpy(x, a.bytes.data(), 16);
    std::memcpy(y, b.bytes.data(), 16);
    return pair_hash(x, y);
}

namespace {

// Most frames are Ethernet, then IPv4 without options, unfragmented and whole, then TCP or
// UDP: keyed here without the walk, as the walk keys them (which tests check on every corpus
// capture), for about half its instructions. False for anything else, VXLAN's port included.
bool key_plain_ipv4(const core::Frame& frame, bool with_flow, DispatchKey& key) noexcept {
    constexpr size_t kIpv4Header = 20;
    constexpr size_t kUdpHeader = 8;
    if (frame.linktype != kDltEn10mb || frame.caplen < kEthernetHeader + kIpv4Header + kUdpHeader) {
        return false;
    }
    const Bytes b = frame.bytes();
    const Bytes ip = b.subspan(kEthernetHeader);
    if (be16(b, 12) != kEtherIpv4 || ip[0] != 0x45) {
        return false;
    }
    const size_t total_len = be16(ip, 2);
    // Not a fragment (neither more fragments nor an offset), nor cut short by the snaplen.
    if (total_len < kIpv4Header + kUdpHeader || total_len > ip.size() ||
        (be16(ip, 6) & 0x3fffu) != 0) {
        return false;
    }
    const uint8_t proto = ip[9];
    const Bytes l4 = ip.subspan(kIpv4Header, total_len - kIpv4Header);
    bool ports_read = false;  // as Walker::ports() would read them
    if (proto == decode::kIpProtoTcp) {
        if (with_flow) {
            const size_t data_offset =
                l4.size() >= kTcpMinHeader ? size_t{static_cast<uint8_t>(l4[12] >> 4)} * 4 : 0;
            ports_read = data_offset >= kTcpMinHeader && data_offset <= l4.size();
        }
    } else if (proto == decode::kIpProtoUdp) {
        const size_t length = be16(l4, 4);
        if (length >= kUdpHeader && length <= l4.size() && be16(l4, 2) == kVxlanPort) {
            return false;  // maybe a tunnel: the walk looks inside
        }
        ports_read = length >= kUdpHeader && length <= l4.size();
    } else {
        return false;
    }
    uint64_t x[2] = {0, 0};
    uint64_t y[2] = {0, 0};
    std::memcpy(x, ip.data() + 12, 4);
    std::memcpy(y, ip.data() + 16, 4);
    key.kind = DispatchKey::Kind::kPair;
    key.pair = pair_hash(x, y);
    key.flow = with_flow && ports_read ? flow_hash(key.pair, proto, be16(l4, 0), be16(l4, 2)) : 0;
    return true;
}

}  // namespace

DispatchKey dispatch_key(const core::Frame& frame, bool with_flow) noexcept {
    DispatchKey key;
    if (key_plain_ipv4(frame, with_flow, key)) {
        return key;
    }
    return dispatch_key_walked(frame, with_flow);
}

DispatchKey dispatch_key_walked(const core::Frame& frame, bool with_flow) noexcept {
    Walker walker;
    walker.with_flow = with_flow;
    walker.link(frame.linktype, frame.bytes());
    return walker.key;
}

}  // namespace sensor::pipeline
