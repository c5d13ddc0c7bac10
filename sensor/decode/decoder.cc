#include "sensor/decode/decoder.h"

#include <algorithm>
#include <functional>
#include <span>

#include "sensor/core/byte_reader.h"
#include "sensor/decode/checksum.h"
#include "sensor/decode/defrag.h"
#include "sensor/decode/wire_constants.h"

namespace sensor::decode {
namespace {

using Bytes = std::span<const uint8_t>;
using namespace wire;  // NOLINT(google-build-using-namespace): the shared wire numbers

constexpr uint16_t kArphrdNetlink = 824;

constexpr uint16_t kEtherArp = 0x0806;

constexpr uint8_t kHdlcAllStations = 0xff;
constexpr uint8_t kHdlcUnnumbered = 0x03;

constexpr size_t kArpFixed = 8;  // hardware and protocol types, lengths, opcode
constexpr uint16_t kArpHwEthernet = 1;
constexpr uint8_t kMacLength = 6;
constexpr uint8_t kIpv4Length = 4;

constexpr size_t kSctpCommonHeader = 12;
// Reassembled datagrams may hold fragments of an inner layer; bounds the nesting per frame.
constexpr uint8_t kMaxReassembliesPerFrame = kMaxTunnelDepth + 1;

// Callers check the span's size first; these only assemble big-endian values.
uint16_t be16(Bytes b, size_t at) noexcept {
    return static_cast<uint16_t>((uint32_t{b[at]} << 8) | uint32_t{b[at + 1]});
}
uint32_t be32(Bytes b, size_t at) noexcept {
    return (uint32_t{b[at]} << 24) | (uint32_t{b[at + 1]} << 16) | (uint32_t{b[at + 2]} << 8) |
           uint32_t{b[at + 3]};
}

void clear_transport(DecodedPacket& o) noexcept {
    o.src_port = 0;
    o.dst_port = 0;
    o.tcp_flags = 0;
    o.tcp_seq = 0;
    o.tcp_ack = 0;
    o.tcp_window = 0;
    o.icmp_type = 0;
    o.icmp_code = 0;
    o.l4_malformed = false;
}

// An IP layer handed to L4: ip spans header + payload as far as captured, l4 what follows
// the IP (and IPv6 extension) headers.
struct Layer {
    Bytes ip;
    Bytes l4;
    bool truncated;      // the IP length says more than was captured (snaplen)
    bool checksummable;  // false when the pseudo-header's destination is unknown
};

}  // namespace

struct Decoder::Impl {
    Impl(const DecodeConfig& cfg, DecodeStats& counters)
        : config(cfg),
          stats(counters),
          defrag(cfg, counters),
          rebuilt{std::make_unique_for_overwrite<uint8_t[]>(Defragmenter::kMaxDatagramBytes),
                  std::make_unique_for_overwrite<uint8_t[]>(Defragmenter::kMaxDatagramBytes)} {}

    Verdict run(const core::Frame& frame, DecodedPacket& packet) noexcept {
        out = &packet;
        reason = DropReason::kCount;
        cut_ok = frame.wire_len > frame.caplen;
        reassemblies = 0;
        layer_start = frame.data;
        defrag.expire(frame.ts_us);
        const Verdict v = link(frame.linktype, frame.bytes());
        if (config.checksum_auto && checksums() && ++sampled == kChecksumSampleFrames &&
            sampled_bad * kChecksumInvalidRatio > sampled) {
            checksums_off = true;
            stats.checksum_auto_off.add();
        }
        return v;
    }

    Verdict drop(DropReason r) noexcept {
        reason = r;
        return Verdict::kDropped;
    }
    // Decode up to the last valid layer: the IP header stays described, the transport does
    // not, so that `ip` rules still see the packet as in Suricata.
    Verdict l4_malformed() noexcept {
        clear_transport(*out);
        out->payload = {};
        out->l4_malformed = true;
        return Verdict::kPacket;
    }
    bool checksums() const noexcept { return config.validate_checksums && !checksums_off; }

    Verdict link(int linktype, Bytes b) noexcept;
    Verdict ethernet(Bytes b) noexcept;
    Verdict ethertype(uint16_t type, Bytes b) noexcept;
    Verdict ppp(Bytes b) noexcept;
    Verdict mpls(Bytes b) noexcept;
    Verdict pppoe(Bytes b) noexcept;
    Verdict arp(Bytes b) noexcept;
    Verdict raw_ip(Bytes b) noexcept;
    Verdict address_family(uint32_t family, Bytes b) noexcept;
    Verdict ipv4(Bytes b) noexcept;
    Verdict ipv6(Bytes b) noexcept;
    Verdict fragment(const Fragment& frag) noexcept;
    Verdict transport(uint8_t proto, const Layer& l) noexcept;
    Verdict tcp(const Layer& l) noexcept;
    Verdict udp(const Layer& l) noexcept;
    Verdict icmp(const Layer& l) noexcept;
    Verdict icmpv6(const Layer& l) noexcept;
    Verdict gre(const Layer& l) noexcept;
    Verdict sctp(const Layer& l) noexcept;

    uint16_t l4_checksum(uint8_t proto, Bytes segment) const noexcept {
        const uint32_t pseudo =
            pseudo_header_sum(out->src, out->dst, proto, static_cast<uint32_t>(segment.size()));
        return checksum_finish(checksum_add(segment, pseudo));
    }

    // Peels one tunnel layer whose payload starts at `start`. When the tunnel carries no IP
    // (ARP over VXLAN, say) the outer IP layer stays the one described.
    template <class F>
    Verdict tunnel(const uint8_t* start, F&& inner) noexcept {
        if (out->tunnel_depth >= kMaxTunnelDepth) {
            return drop(DropReason::kTooManyTunnelLayers);
        }
        const DecodedPacket outer = *out;
        const uint8_t* outer_start = layer_start;
        ++out->tunnel_depth;
        layer_start = start;
        const Verdict v = inner();
        if (v == Verdict::kNonIp) {
            *out = outer;
            layer_start = outer_start;
            return Verdict::kPacket;
        }
        return v;
    }

    // The bytes from the start of the current layer (frame, tunnel payload or the rebuilt
    // first fragment's link bytes) up to the IP header at ip.
    Bytes link_before(Bytes ip) const noexcept {
        if (layer_start == nullptr || std::less<>{}(ip.data(), layer_start)) {
            return {};
        }
        return Bytes(layer_start, static_cast<size_t>(ip.data() - layer_start));
    }

    DecodeConfig config;
    DecodeStats& stats;
    Defragmenter defrag;
    // Two buffers so that a datagram rebuilt from fragments held in the other one (a tunnel
    // inside a reassembled datagram) never overwrites its own source.
    std::unique_ptr<uint8_t[]> rebuilt[2];
    uint8_t next_rebuilt = 0;

    // State of the frame being decoded.
    DecodedPacket* out = nullptr;
    DropReason reason = DropReason::kCount;
    bool cut_ok = false;  // snaplen cut the frame, and we are not inside a rebuilt datagram
    uint8_t reassemblies = 0;
    bool outer_only = false;               // stop at the first IP header (dispatch hashing)
    const uint8_t* layer_start = nullptr;  // where the current layer's link bytes begin

    // checksum_auto: frames sampled so far, and how many had a bad TCP or UDP checksum.
    uint64_t sampled = 0;
    uint64_t sampled_bad = 0;
    bool checksums_off = false;
};

Verdict Decoder::Impl::link(int linktype, Bytes b) noexcept {
    switch (linktype) {
        case kDltEn10mb:
            return ethernet(b);
        case kDltPpp:
        case kDltPppSerial:
            return ppp(b);
        case kDltCHdlc:
            if (b.size() < kChdlcHeader) {
                return drop(DropReason::kTruncatedChdlc);
            }
            return ethertype(be16(b, 2), b.subspan(kChdlcHeader));
        case kDltLinuxSll:
            if (b.size() < kSllHeader) {
                return drop(DropReason::kTruncatedSll);
            }
            if (be16(b, 2) == kArphrdNetlink) {
                return Verdict::kNonIp;
            }
            return ethertype(be16(b, 14), b.subspan(kSllHeader));
        case kDltLinuxSll2:
            if (b.size() < kSll2Header) {
                return drop(DropReason::kTruncatedSll);
            }
            if (be16(b, 8) == kArphrdNetlink) {
                return Verdict::kNonIp;
            }
            return ethertype(be16(b, 0), b.subspan(kSll2Header));
        case kDltRaw:
        case kDltRawOpenBsd:
        case kLinktypeRaw:
            return raw_ip(b);
        case kDltIpv4:
            return ipv4(b);
        case kDltIpv6:
            return ipv6(b);
        case kDltNull: {
            if (b.size() < 4) {
                return drop(DropReason::kTruncatedNull);
            }
            // Host byte order of the capturing machine: families are small, so a value with
            // high bits set was written big-endian.
            uint32_t family = uint32_t{b[0]} | (uint32_t{b[1]} << 8) | (uint32_t{b[2]} << 16) |
                              (uint32_t{b[3]} << 24);
            if (family > 0xffff) {
                family = be32(b, 0);
            }
            return address_family(family, b.subspan(4));
        }
        case kDltLoop:
            if (b.size() < 4) {
                return drop(DropReason::kTruncatedNull);
            }
            return address_family(be32(b, 0), b.subspan(4));
        default:
            return drop(DropReason::kUnsupportedLinktype);
    }
}

Verdict Decoder::Impl::address_family(uint32_t family, Bytes b) noexcept {
    switch (family) {
        case 2:  // AF_INET everywhere
            return ipv4(b);
        case 10:  // AF_INET6: Linux
        case 24:  // OpenBSD, NetBSD
        case 28:  // FreeBSD
        case 30:  // Darwin
            return ipv6(b);
        default:
            return Verdict::kNonIp;
    }
}

Verdict Decoder::Impl::raw_ip(Bytes b) noexcept {
    if (b.empty()) {
        return drop(DropReason::kUnknownIpVersion);
    }
    switch (b[0] >> 4) {
        case 4:
            return ipv4(b);
        case 6:
            return ipv6(b);
        default:
            return drop(DropReason::kUnknownIpVersion);
    }
}

Verdict Decoder::Impl::ethernet(Bytes b) noexcept {
    if (b.size() < kEthernetHeader) {
        return drop(DropReason::kTruncatedEthernet);
    }
    return ethertype(be16(b, 12), b.subspan(kEthernetHeader));
}

Verdict Decoder::Impl::ethertype(uint16_t type, Bytes b) noexcept {
    for (;;) {
        switch (type) {
            case kEtherIpv4:
                return ipv4(b);
            case kEtherIpv6:
                return ipv6(b);
            case kEtherVlan:
            case kEtherQinq:
            case kEtherQinqLegacy:
                if (out->vlan_count >= kMaxVlanTags) {
                    return drop(DropReason::kTooManyVlanTags);
                }
                if (b.size() < 4) {
                    return drop(DropReason::kTruncatedVlan);
                }
                out->vlan_ids[out->vlan_count] = static_cast<uint16_t>(be16(b, 0) & 0x0fff);
                ++out->vlan_count;
                type = be16(b, 2);
                b = b.subspan(4);
                continue;
            case kEtherMpls:
            case kEtherMplsMulticast:
                return mpls(b);
            case kEtherPppoeSession:
                return pppoe(b);
            case kEtherArp:
                return arp(b);
            default:
                return Verdict::kNonIp;  // LLDP, PPPoE discovery, 802.3 lengths, ...
        }
    }
}

// RFC 826. Only Ethernet/IPv4 ARP is analysed, as by Suricata; ARP for other hardware or
// protocols, opcodes other than (reverse) request and reply, and ARP carried inside a tunnel
// (whose outer packet is what gets analysed) stay non-IP frames.
Verdict Decoder::Impl::arp(Bytes b) noexcept {
    if (outer_only || out->tunnel_depth > 0) {
        return Verdict::kNonIp;
    }
    if (b.size() < kArpFixed) {
        return drop(DropReason::kTruncatedArp);
    }
    const uint16_t hw_type = be16(b, 0);
    const uint16_t proto_type = be16(b, 2);
    const uint8_t hw_len = b[4];
    const uint8_t proto_len = b[5];
    const uint16_t opcode = be16(b, 6);
    const size_t length = kArpFixed + 2 * (size_t{hw_len} + size_t{proto_len});
    if (b.size() < length) {
        return drop(DropReason::kTruncatedArp);
    }
    if (hw_type != kArpHwEthernet || proto_type != kEtherIpv4) {
        return Verdict::kNonIp;
    }
    if (hw_len != kMacLength || proto_len != kIpv4Length) {
        return drop(DropReason::kBadArp);
    }
    if (opcode < kArpRequest || opcode > kArpReverseReply) {
        return Verdict::kNonIp;
    }
    const Bytes message = b.first(length);  // what follows is Ethernet padding
    DecodedPacket& o = *out;
    o.is_arp = true;
    o.arp.opcode = opcode;
    std::copy_n(message.begin() + 8, kMacLength, o.arp.sender_mac.begin());
    o.arp.sender_ip = core::IpAddress::v4_from(&message[14]);
    std::copy_n(message.begin() + 18, kMacLength, o.arp.target_mac.begin());
    o.arp.target_ip = core::IpAddress::v4_from(&message[24]);
    o.link = link_before(message);
    o.arp_bytes = message;
    return Verdict::kArp;
}

Verdict Decoder::Impl::ppp(Bytes b) noexcept {
    if (b.size() >= 2 && b[0] == kHdlcAllStations && b[1] == kHdlcUnnumbered) {
        b = b.subspan(2);  // RFC 1662 framing; often left out (address/control compression)
    }
    if (b.empty()) {
        return drop(DropReason::kTruncatedPpp);
    }
    // Protocol-field compression (RFC 1661 6.5): an odd first byte is a one-byte protocol.
    uint16_t proto = b[0];
    if ((b[0] & 1) != 0) {
        b = b.subspan(1);
    } else {
        if (b.size() < 2) {
            return drop(DropReason::kTruncatedPpp);
        }
        proto = be16(b, 0);
        b = b.subspan(2);
    }
    switch (proto) {
        case kPppIpv4:
            return ipv4(b);
        case kPppIpv6:
            return ipv6(b);
        default:
            return Verdict::kNonIp;  // LCP, IPCP, CHAP, ...
    }
}

Verdict Decoder::Impl::mpls(Bytes b) noexcept {
    core::ByteReader r(b);
    for (;;) {
        const auto entry = r.u32();
        if (!entry) {
            return drop(DropReason::kTruncatedMpls);
        }
        if ((*entry & 0x100) != 0) {  // bottom of stack
            break;
        }
    }
    const auto first = r.peek_u8();
    if (!first) {
        return drop(DropReason::kTruncatedMpls);
    }
    // MPLS does not say what it carries; IP is recognised by its version nibble.
    switch (*first >> 4) {
        case 4:
            return ipv4(r.rest());
        case 6:
            return ipv6(r.rest());
        default:
            return Verdict::kNonIp;
    }
}

Verdict Decoder::Impl::pppoe(Bytes b) noexcept {
    // version/type, code, session id, length; then the PPP protocol inside the payload.
    if (b.size() < 8) {
        return drop(DropReason::kTruncatedPppoe);
    }
    const size_t length = be16(b, 4);
    if (length < 2) {
        return drop(DropReason::kTruncatedPppoe);
    }
    Bytes payload = b.subspan(6);
    if (length < payload.size()) {
        payload = payload.first(length);  // Ethernet padding
    }
    switch (be16(payload, 0)) {
        case kPppIpv4:
            return ipv4(payload.subspan(2));
        case kPppIpv6:
            return ipv6(payload.subspan(2));
        default:
            return drop(DropReason::kUnsupportedPppoeProtocol);
    }
}

Verdict Decoder::Impl::ipv4(Bytes b) noexcept {
    if (b.size() < 20) {
        return drop(DropReason::kTruncatedIpv4);
    }
    if ((b[0] >> 4) != 4) {
        return drop(DropReason::kBadIpv4Version);
    }
    const size_t header_len = size_t{b[0] & 0x0fu} * 4;
    if (header_len < 20) {
        return drop(DropReason::kBadIpv4Ihl);
    }
    if (header_len > b.size()) {
        return drop(DropReason::kTruncatedIpv4);
    }
    const size_t total_len = be16(b, 2);
    if (total_len < header_len) {
        return drop(DropReason::kBadIpv4TotalLength);
    }
    bool truncated = false;
    if (total_len > b.size()) {
        if (!cut_ok) {
            return drop(DropReason::kBadIpv4TotalLength);
        }
        truncated = true;
    } else {
        b = b.first(total_len);
    }
    if (outer_only) {
        out->src = core::IpAddress::v4_from(&b[12]);
        out->dst = core::IpAddress::v4_from(&b[16]);
        return Verdict::kPacket;
    }
    if (checksums() && checksum_finish(checksum_add(b.first(header_len))) != 0) {
        stats.checksum_bad_ipv4.add();
    }

    DecodedPacket& o = *out;
    clear_transport(o);
    o.src = core::IpAddress::v4_from(&b[12]);
    o.dst = core::IpAddress::v4_from(&b[16]);
    o.ttl = b[8];
    o.ip_proto = b[9];
    o.link = link_before(b);
    o.ip = b;
    o.payload = b.subspan(header_len);

    const uint16_t frag = be16(b, 6);
    const bool more = (frag & 0x2000) != 0;
    const auto offset = static_cast<uint32_t>(frag & 0x1fff) * 8;
    if (more || offset != 0) {
        if (truncated) {
            return drop(DropReason::kTruncatedFragment);
        }
        Fragment f;
        f.key = FragmentKey{o.src, o.dst, be16(b, 4), o.ip_proto};
        f.offset = offset;
        f.more = more;
        f.data = b.subspan(header_len);
        f.header = b.first(header_len);
        f.link = o.link;
        f.ts_us = o.ts_us;
        return fragment(f);
    }
    return transport(o.ip_proto, Layer{b, b.subspan(header_len), truncated, true});
}

Verdict Decoder::Impl::ipv6(Bytes b) noexcept {
    constexpr size_t kFixed = 40;
    if (b.size() < kFixed) {
        return drop(DropReason::kTruncatedIpv6);
    }
    if ((b[0] >> 4) != 6) {
        return drop(DropReason::kBadIpv6Version);
    }
    if (outer_only) {
        out->src = core::IpAddress::v6_from(&b[8]);
        out->dst = core::IpAddress::v6_from(&b[24]);
        return Verdict::kPacket;
    }
    const size_t total_len = kFixed + be16(b, 4);
    bool truncated = false;
    if (total_len > b.size()) {
        if (!cut_ok) {
            return drop(DropReason::kBadIpv6PayloadLength);
        }
        truncated = true;
    } else {
        b = b.first(total_len);
    }

    DecodedPacket& o = *out;
    clear_transport(o);
    o.src = core::IpAddress::v6_from(&b[8]);
    o.dst = core::IpAddress::v6_from(&b[24]);
    o.ttl = b[7];
    o.link = link_before(b);
    o.ip = b;

    uint8_t next = b[6];
    size_t pos = kFixed;
    size_t next_at = 6;  // where the byte naming the current header sits
    bool checksummable = true;
    for (int count = 0;; ++count) {
        if (next != kIpv6HopByHop && next != kIpv6Routing && next != kIpv6Fragment &&
            next != kIpv6Ah && next != kIpv6DestOpts) {
            break;
        }
        if (count == kMaxIpv6ExtHeaders) {
            return drop(DropReason::kTooManyIpv6ExtHeaders);
        }
        const size_t left = b.size() - pos;
        if (next == kIpv6Fragment) {
            if (left < 8) {
                return drop(DropReason::kTruncatedIpv6ExtHeader);
            }
            const uint16_t field = be16(b, pos + 2);
            const uint32_t offset = field & 0xfff8u;
            const bool more = (field & 1) != 0;
            const uint8_t inner = b[pos];
            if (offset == 0 && !more) {  // atomic fragment (RFC 6946): not reassembled
                next_at = pos;
                next = inner;
                pos += 8;
                continue;
            }
            o.ip_proto = inner;
            o.payload = b.subspan(pos + 8);
            if (truncated) {
                return drop(DropReason::kTruncatedFragment);
            }
            Fragment f;
            f.key = FragmentKey{o.src, o.dst, be32(b, pos + 4), 0};
            f.offset = offset;
            f.more = more;
            f.data = b.subspan(pos + 8);
            f.header = b.first(pos);
            f.next_header_at = static_cast<uint16_t>(next_at);
            f.next_header = inner;
            f.link = o.link;
            f.ts_us = o.ts_us;
            return fragment(f);
        }
        if (left < 2) {
            return drop(DropReason::kTruncatedIpv6ExtHeader);
        }
        const size_t len =
            next == kIpv6Ah ? (size_t{b[pos + 1]} + 2) * 4 : (size_t{b[pos + 1]} + 1) * 8;
        if (left < len) {
            return drop(DropReason::kTruncatedIpv6ExtHeader);
        }
        if (next == kIpv6Routing && b[pos + 3] != 0) {
            checksummable = false;  // segments left: the final destination is elsewhere
        }
        next_at = pos;
        next = b[pos];
        pos += len;
    }
    o.ip_proto = next;
    o.payload = b.subspan(pos);
    return transport(next, Layer{b, b.subspan(pos), truncated, checksummable});
}

Verdict Decoder::Impl::fragment(const Fragment& frag) noexcept {
    if (reassemblies >= kMaxReassembliesPerFrame) {
        return drop(DropReason::kBadFragment);
    }
    const std::span<uint8_t> target(rebuilt[next_rebuilt].get(), Defragmenter::kMaxDatagramBytes);
    const DefragResult result = defrag.add(frag, target);
    switch (result.status) {
        case DefragStatus::kHeld:
            out->payload = {};
            return Verdict::kFragmentHeld;
        case DefragStatus::kDuplicate:
            return drop(DropReason::kFragmentOverlap);
        case DefragStatus::kBad:
            return drop(DropReason::kBadFragment);
        case DefragStatus::kMemcap:
            return drop(DropReason::kFragmentMemcap);
        case DefragStatus::kComplete:
            break;
    }
    ++reassemblies;
    next_rebuilt ^= 1;
    out->reassembled = true;
    layer_start = result.link.data();
    cut_ok = false;  // a rebuilt datagram is whole by construction
    return frag.key.src.v6 ? ipv6(result.datagram) : ipv4(result.datagram);
}

Verdict Decoder::Impl::transport(uint8_t proto, const Layer& l) noexcept {
    switch (proto) {
        case kIpProtoTcp:
            return tcp(l);
        case kIpProtoUdp:
            return udp(l);
        case kIpProtoIcmp:
            return icmp(l);
        case kIpProtoIcmpv6:
            return icmpv6(l);
        case kIpProtoGre:
            return gre(l);
        case kIpProtoSctp:
            return sctp(l);
        case kIpProtoIpip:
            return tunnel(l.l4.data(), [&] { return ipv4(l.l4); });
        case kIpProtoIpv6:
            return tunnel(l.l4.data(), [&] { return ipv6(l.l4); });
        default:
            return Verdict::kPacket;  // payload already spans what follows the IP headers
    }
}

Verdict Decoder::Impl::tcp(const Layer& l) noexcept {
    const Bytes s = l.l4;
    if (s.size() < 20) {
        return l4_malformed();
    }
    const size_t data_offset = size_t{static_cast<uint8_t>(s[12] >> 4)} * 4;
    if (data_offset < 20 || data_offset > s.size()) {
        return l4_malformed();
    }
    if (checksums() && !l.truncated && l.checksummable && l4_checksum(kIpProtoTcp, s) != 0) {
        stats.checksum_bad_tcp.add();
        ++sampled_bad;
        return drop(DropReason::kBadTcpChecksum);
    }
    DecodedPacket& o = *out;
    o.src_port = be16(s, 0);
    o.dst_port = be16(s, 2);
    o.tcp_seq = be32(s, 4);
    o.tcp_ack = be32(s, 8);
    o.tcp_flags = s[13];
    o.tcp_window = be16(s, 14);
    o.payload = s.subspan(data_offset);
    return Verdict::kPacket;
}

Verdict Decoder::Impl::udp(const Layer& l) noexcept {
    Bytes s = l.l4;
    if (s.size() < 8) {
        return l4_malformed();
    }
    const size_t length = be16(s, 4);
    if (length < 8) {
        return l4_malformed();
    }
    bool cut = false;
    if (length > s.size()) {
        if (!l.truncated) {
            return l4_malformed();
        }
        cut = true;
    } else {
        s = s.first(length);
    }
    DecodedPacket& o = *out;
    o.src_port = be16(s, 0);
    o.dst_port = be16(s, 2);
    o.payload = s.subspan(8);
    const uint16_t sum = be16(s, 6);
    if (checksums() && !cut && l.checksummable) {
        // Zero means "no checksum" over IPv4; IPv6 forbids it except for tunnels (RFC 6935).
        const bool bad =
            sum == 0 ? (o.is_v6() && o.dst_port != kVxlanPort) : l4_checksum(kIpProtoUdp, s) != 0;
        if (bad) {
            stats.checksum_bad_udp.add();
            ++sampled_bad;
        }
    }
    if (o.dst_port == kVxlanPort) {
        const Bytes vxlan = o.payload;
        if (vxlan.size() < kVxlanHeader || (vxlan[0] & kVxlanVniValid) == 0) {
            return Verdict::kPacket;  // not VXLAN as RFC 7348 frames it: plain UDP
        }
        const Bytes inner_frame = vxlan.subspan(kVxlanHeader);
        return tunnel(inner_frame.data(), [&] { return ethernet(inner_frame); });
    }
    return Verdict::kPacket;
}

Verdict Decoder::Impl::icmp(const Layer& l) noexcept {
    const Bytes s = l.l4;
    if (s.size() < 8) {
        return l4_malformed();
    }
    if (checksums() && !l.truncated && checksum_finish(checksum_add(s)) != 0) {
        stats.checksum_bad_icmp.add();
    }
    out->icmp_type = s[0];
    out->icmp_code = s[1];
    out->payload = s.subspan(8);
    return Verdict::kPacket;
}

Verdict Decoder::Impl::icmpv6(const Layer& l) noexcept {
    const Bytes s = l.l4;
    if (s.size() < 8) {
        return l4_malformed();
    }
    if (checksums() && !l.truncated && l.checksummable && l4_checksum(kIpProtoIcmpv6, s) != 0) {
        stats.checksum_bad_icmpv6.add();
    }
    out->icmp_type = s[0];
    out->icmp_code = s[1];
    out->payload = s.subspan(8);
    return Verdict::kPacket;
}

Verdict Decoder::Impl::gre(const Layer& l) noexcept {
    core::ByteReader r(l.l4);
    const auto flags = r.u16();
    const auto proto = r.u16();
    if (!flags || !proto) {
        return l4_malformed();
    }
    switch (*flags & kGreVersionMask) {
        case 0:
            break;
        case 1: {
            // PPTP's enhanced GRE (RFC 2637 4.1): PPP only; key (payload length, call id)
            // required, then optional sequence and acknowledgement numbers.
            if (*proto != kEtherPpp || (*flags & (kGreChecksum | kGreRouting)) != 0 ||
                (*flags & kGreKey) == 0) {
                return l4_malformed();
            }
            size_t enhanced = 4;
            if ((*flags & kGreSequence) != 0) {
                enhanced += 4;
            }
            if ((*flags & kGreAck) != 0) {
                enhanced += 4;
            }
            if (!r.skip(enhanced)) {
                return l4_malformed();
            }
            const Bytes ppp_frame = r.rest();
            out->payload = ppp_frame;
            if (ppp_frame.empty()) {
                return Verdict::kPacket;  // an acknowledgement alone
            }
            return tunnel(ppp_frame.data(), [&] { return ppp(ppp_frame); });
        }
        default:
            return l4_malformed();
    }
    size_t optional = 0;
    if ((*flags & (kGreChecksum | kGreRouting)) != 0) {
        optional += 4;  // checksum and offset travel together
    }
    if ((*flags & kGreKey) != 0) {
        optional += 4;
    }
    if ((*flags & kGreSequence) != 0) {
        optional += 4;
    }
    if (!r.skip(optional)) {
        return l4_malformed();
    }
    if ((*flags & kGreRouting) != 0) {
        // RFC 1701 source route entries, closed by one with family 0 and length 0.
        for (;;) {
            const auto family = r.u16();
            const auto sre_offset = r.u8();
            const auto sre_length = r.u8();
            if (!family || !sre_offset || !sre_length) {
                return l4_malformed();
            }
            if (*family == 0 && *sre_length == 0) {
                break;
            }
            if (!r.skip(*sre_length)) {
                return l4_malformed();
            }
        }
    }
    const Bytes inner = r.rest();
    out->payload = inner;
    switch (*proto) {
        case kEtherIpv4:
            return tunnel(inner.data(), [&] { return ipv4(inner); });
        case kEtherIpv6:
            return tunnel(inner.data(), [&] { return ipv6(inner); });
        case kEtherTransparentBridging:
            return tunnel(inner.data(), [&] { return ethernet(inner); });
        case kEtherPpp:
            return tunnel(inner.data(), [&] { return ppp(inner); });
        default:
            return Verdict::kPacket;  // ERSPAN, ...: described as the GRE packet itself
    }
}

Verdict Decoder::Impl::sctp(const Layer& l) noexcept {
    // Common header (RFC 9260 3.1): ports, verification tag, CRC32c; chunks follow.
    const Bytes s = l.l4;
    if (s.size() < kSctpCommonHeader) {
        return l4_malformed();
    }
    out->src_port = be16(s, 0);
    out->dst_port = be16(s, 2);
    out->payload = s.subspan(kSctpCommonHeader);
    return Verdict::kPacket;
}

Decoder::Decoder(const DecodeConfig& config) : config_(config) {
    impl_ = std::make_unique<Impl>(config_, stats_);
}

Decoder::~Decoder() = default;

Verdict Decoder::outer_addresses(const core::Frame& frame, DecodedPacket& out) noexcept {
    out = DecodedPacket{};
    impl_->out = &out;
    impl_->reason = DropReason::kCount;
    impl_->cut_ok = frame.wire_len > frame.caplen;
    impl_->layer_start = frame.data;
    impl_->outer_only = true;
    const Verdict verdict = impl_->link(frame.linktype, frame.bytes());
    impl_->outer_only = false;
    return verdict;
}

Verdict Decoder::decode(const core::Frame& frame, DecodedPacket& out) noexcept {
    out = DecodedPacket{};
    out.ts_us = frame.ts_us;
    out.clock_us = frame.clock_us;
    out.frame_index = frame.index;
    out.linktype = frame.linktype;
    const Verdict verdict = impl_->run(frame, out);
    switch (verdict) {
        case Verdict::kPacket:
            stats_.decoded.add();
            if (out.l4_malformed) {
                stats_.l4_malformed.add();
            }
            break;
        case Verdict::kNonIp:
        case Verdict::kArp:
            stats_.decoded.add();
            stats_.non_ip.add();
            break;
        case Verdict::kFragmentHeld:
            stats_.decoded.add();
            stats_.fragments_held.add();
            break;
        case Verdict::kDropped:
            last_drop_ = impl_->reason;
            stats_.dropped[static_cast<size_t>(last_drop_)].add();
            break;
    }
    return verdict;
}

}  // namespace sensor::decode
