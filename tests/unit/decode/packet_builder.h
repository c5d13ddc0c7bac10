#pragma once
// Packet builders and a decoding harness for the decode tests. Each builder writes one
// header with a comment per field and fills lengths and checksums as a sender would, using
// its own checksum code so that a bug shared with the decoder cannot hide.

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

#include "sensor/core/frame.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/decode/decoder.h"

namespace sensor::decode::test {

using Bytes = std::vector<uint8_t>;
using Ip4 = std::array<uint8_t, 4>;
using Ip6 = std::array<uint8_t, 16>;

inline constexpr int kLinkEthernet = 1;
inline constexpr int kLinkRaw = 12;
inline constexpr int kLinkRawOpenBsd = 14;
inline constexpr int kLinkRawPcap = 101;
inline constexpr int kLinkNull = 0;
inline constexpr int kLinkLoop = 108;
inline constexpr int kLinkSll = 113;
inline constexpr int kLinkSll2 = 276;
inline constexpr int kLinkIpv4 = 228;
inline constexpr int kLinkIpv6 = 229;
inline constexpr int kLinkPpp = 9;
inline constexpr int kLinkPppSerial = 50;
inline constexpr int kLinkChdlc = 104;

inline constexpr Ip4 kSrc4{192, 0, 2, 1};
inline constexpr Ip4 kDst4{198, 51, 100, 2};
inline constexpr Ip6 kSrc6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
inline constexpr Ip6 kDst6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

inline Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes all;
    for (const Bytes& p : parts) {
        all.insert(all.end(), p.begin(), p.end());
    }
    return all;
}

inline Bytes filler(size_t n, uint8_t seed = 0) {
    Bytes b(n);
    for (size_t i = 0; i < n; ++i) {
        b[i] = static_cast<uint8_t>(seed + i * 7);
    }
    return b;
}

inline uint8_t hi(size_t v) { return static_cast<uint8_t>((v >> 8) & 0xff); }
inline uint8_t lo(size_t v) { return static_cast<uint8_t>(v & 0xff); }

inline void put16(Bytes& b, size_t at, size_t v) {
    b[at] = hi(v);
    b[at + 1] = lo(v);
}

inline uint16_t get16(const Bytes& b, size_t at) {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

// RFC 1071 ones'-complement sum, finished (folded and inverted).
inline uint16_t inet_checksum(const uint8_t* p, size_t n, uint64_t sum = 0) {
    for (size_t i = 0; i + 1 < n; i += 2) {
        sum += static_cast<uint64_t>((p[i] << 8) | p[i + 1]);
    }
    if (n % 2 == 1) {
        sum += static_cast<uint64_t>(p[n - 1] << 8);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum & 0xffff);
}

inline uint64_t pseudo_sum(const uint8_t* src, const uint8_t* dst, size_t addr_len, uint8_t proto,
                           size_t length) {
    uint64_t sum = 0;
    for (size_t i = 0; i < addr_len; i += 2) {
        sum += static_cast<uint64_t>((src[i] << 8) | src[i + 1]);
        sum += static_cast<uint64_t>((dst[i] << 8) | dst[i + 1]);
    }
    return sum + proto + (length >> 16) + (length & 0xffff);
}

// Where an L4 header keeps its checksum, or 0 when it has none the IP layer must fill.
inline size_t l4_checksum_at(uint8_t proto) {
    switch (proto) {
        case kIpProtoTcp:
            return 16;
        case kIpProtoUdp:
            return 6;
        case kIpProtoIcmpv6:
            return 2;
        default:
            return 0;
    }
}

// ---- link layers ----

inline Bytes ether(uint16_t type) {
    return {
        0x02,     0x00,     0x00, 0x00, 0x00, 0x02,  // destination MAC
        0x02,     0x00,     0x00, 0x00, 0x00, 0x01,  // source MAC
        hi(type), lo(type),                          // ethertype
    };
}

inline Bytes vlan(uint16_t tci, uint16_t type) {
    return {
        hi(tci), lo(tci),    // PCP, DEI, VLAN id
        hi(type), lo(type),  // inner ethertype
    };
}

inline Bytes mpls(uint32_t label, bool bottom) {
    return {
        static_cast<uint8_t>(label >> 12),                                    // label 19..12
        static_cast<uint8_t>(label >> 4),                                     // label 11..4
        static_cast<uint8_t>(((label & 0xf) << 4) | (bottom ? 0x01 : 0x00)),  // label, TC, S
        64,                                                                   // TTL
    };
}

inline Bytes pppoe_session(uint16_t ppp_proto, const Bytes& payload) {
    const size_t length = payload.size() + 2;
    return cat({{
                    0x11,                          // version 1, type 1
                    0x00,                          // code: session data
                    0x12, 0x34,                    // session id
                    hi(length), lo(length),        // length: PPP protocol + payload
                    hi(ppp_proto), lo(ppp_proto),  // PPP protocol
                },
                payload});
}

// PPP (RFC 1661/1662). `framed`: with the HDLC address and control bytes; a protocol below
// 0x100 is written in one byte when `compressed` (protocol-field compression).
inline Bytes ppp(uint16_t proto, const Bytes& payload, bool framed, bool compressed) {
    Bytes header;
    if (framed) {
        header = {0xff, 0x03};  // all-stations address, unnumbered information
    }
    if (compressed) {
        header.push_back(lo(proto));  // protocol, one byte
    } else {
        header.push_back(hi(proto));  // protocol
        header.push_back(lo(proto));
    }
    return cat({header, payload});
}

inline Bytes chdlc(uint16_t type, uint8_t address = 0x0f) {
    return {
        address,             // 0x0f unicast, 0x8f broadcast
        0x00,                // control
        hi(type), lo(type),  // ethertype
    };
}

inline Bytes sll(uint16_t proto, uint16_t hatype = 1) {
    return {
        0x00,       0x00,                                            // packet type: to us
        hi(hatype), lo(hatype),                                      // ARPHRD type
        0x00,       0x06,                                            // address length
        0x02,       0x00,       0x00, 0x00, 0x00, 0x01, 0x00, 0x00,  // address, padded to 8
        hi(proto),  lo(proto),                                       // protocol (ethertype)
    };
}

inline Bytes sll2(uint16_t proto, uint16_t hatype = 1) {
    return {
        hi(proto),  lo(proto),                                       // protocol (ethertype)
        0x00,       0x00,                                            // reserved
        0x00,       0x00,       0x00, 0x02,                          // interface index
        hi(hatype), lo(hatype),                                      // ARPHRD type
        0x00,                                                        // packet type
        0x06,                                                        // address length
        0x02,       0x00,       0x00, 0x00, 0x00, 0x01, 0x00, 0x00,  // address, padded to 8
    };
}

inline Bytes null_le(uint32_t family) {  // DLT_NULL written by a little-endian host
    return {static_cast<uint8_t>(family), static_cast<uint8_t>(family >> 8),
            static_cast<uint8_t>(family >> 16), static_cast<uint8_t>(family >> 24)};
}

inline Bytes family_be(uint32_t family) {  // DLT_LOOP, or DLT_NULL from a big-endian host
    return {static_cast<uint8_t>(family >> 24), static_cast<uint8_t>(family >> 16),
            static_cast<uint8_t>(family >> 8), static_cast<uint8_t>(family)};
}

inline Bytes arp_request() {
    return {
        0x00, 0x01,                          // hardware type: Ethernet
        0x08, 0x00,                          // protocol type: IPv4
        0x06, 0x04,                          // address lengths
        0x00, 0x01,                          // opcode: request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // sender MAC
        192,  0,    2,    1,                 // sender IP
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target MAC
        198,  51,   100,  2,                 // target IP
    };
}

// ---- IP ----

struct Ipv4Spec {
    Ip4 src = kSrc4;
    Ip4 dst = kDst4;
    uint8_t ttl = 64;
    uint16_t id = 0x1234;
    uint16_t frag = 0x4000;  // flags and offset field: DF
    Bytes options;           // multiple of 4
    bool fix_l4 = true;      // fill the L4 checksum (TCP, UDP, ICMPv6)
};

inline Bytes ipv4(uint8_t proto, const Bytes& payload, const Ipv4Spec& s = {}) {
    const size_t header_len = 20 + s.options.size();
    const size_t total = header_len + payload.size();
    Bytes h = {
        static_cast<uint8_t>(0x40 | (header_len / 4)),  // version 4, IHL
        0x00,                                           // DSCP, ECN
        hi(total),
        lo(total),  // total length
        hi(s.id),
        lo(s.id),  // identification
        hi(s.frag),
        lo(s.frag),  // flags, fragment offset
        s.ttl,       // TTL
        proto,       // protocol
        0x00,
        0x00,  // header checksum (below)
        s.src[0],
        s.src[1],
        s.src[2],
        s.src[3],  // source
        s.dst[0],
        s.dst[1],
        s.dst[2],
        s.dst[3],  // destination
    };
    h.insert(h.end(), s.options.begin(), s.options.end());
    put16(h, 10, inet_checksum(h.data(), h.size()));
    Bytes l4 = payload;
    const size_t at = l4_checksum_at(proto);
    if (s.fix_l4 && at != 0 && l4.size() >= at + 2) {
        put16(l4, at, 0);
        put16(l4, at,
              inet_checksum(l4.data(), l4.size(),
                            pseudo_sum(s.src.data(), s.dst.data(), 4, proto, l4.size())));
    }
    return cat({h, l4});
}

struct Ipv6Spec {
    Ip6 src = kSrc6;
    Ip6 dst = kDst6;
    uint8_t hop_limit = 64;
    size_t l4_at = 0;    // extension headers before the L4 header, in bytes
    int l4_proto = -1;   // L4 protocol when extension headers come first
    bool fix_l4 = true;  // fill the L4 checksum (TCP, UDP, ICMPv6)
};

inline Bytes ipv6(uint8_t next, const Bytes& payload, const Ipv6Spec& s = {}) {
    const size_t length = payload.size();
    Bytes h = {
        0x60,        0x00,       0x00, 0x00,  // version 6, traffic class, flow label
        hi(length),  lo(length),              // payload length
        next,                                 // next header
        s.hop_limit,                          // hop limit
    };
    h.insert(h.end(), s.src.begin(), s.src.end());  // source
    h.insert(h.end(), s.dst.begin(), s.dst.end());  // destination
    Bytes p = payload;
    const auto proto = static_cast<uint8_t>(s.l4_proto < 0 ? next : s.l4_proto);
    const size_t at = l4_checksum_at(proto);
    if (s.fix_l4 && at != 0 && p.size() >= s.l4_at + at + 2) {
        uint8_t* l4 = p.data() + s.l4_at;
        const size_t n = p.size() - s.l4_at;
        l4[at] = 0;
        l4[at + 1] = 0;
        const uint16_t sum =
            inet_checksum(l4, n, pseudo_sum(s.src.data(), s.dst.data(), 16, proto, n));
        l4[at] = hi(sum);
        l4[at + 1] = lo(sum);
    }
    return cat({h, p});
}

// Hop-by-hop, routing or destination options header of total_len bytes (a multiple of 8).
inline Bytes ext_header(uint8_t next, size_t total_len, uint8_t segments_left = 0) {
    Bytes h(total_len, 0x00);                        // options: Pad1
    h[0] = next;                                     // next header
    h[1] = static_cast<uint8_t>(total_len / 8 - 1);  // length in 8 bytes, minus one
    h[3] = segments_left;                            // routing: segments left
    return h;
}

inline Bytes ah_header(uint8_t next) {
    return {
        next,                    // next header
        0x04,                    // payload length: 24 bytes in 4-byte words, minus 2
        0x00, 0x00,              // reserved
        0x00, 0x00, 0x10, 0x01,  // SPI
        0x00, 0x00, 0x00, 0x01,  // sequence number
        0x00, 0x00, 0x00, 0x00,  // ICV (12 bytes)
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
}

// ---- L4 ----

inline Bytes tcp(uint16_t sport, uint16_t dport, uint32_t seq, uint32_t ack, uint8_t flags,
                 const Bytes& payload = {}, const Bytes& options = {}, uint16_t window = 8192) {
    const size_t header_len = 20 + options.size();
    Bytes h = {
        hi(sport),
        lo(sport),  // source port
        hi(dport),
        lo(dport),  // destination port
        static_cast<uint8_t>(seq >> 24),
        static_cast<uint8_t>(seq >> 16),  // sequence number
        static_cast<uint8_t>(seq >> 8),
        static_cast<uint8_t>(seq),
        static_cast<uint8_t>(ack >> 24),
        static_cast<uint8_t>(ack >> 16),  // ack number
        static_cast<uint8_t>(ack >> 8),
        static_cast<uint8_t>(ack),
        static_cast<uint8_t>((header_len / 4) << 4),  // data offset
        flags,                                        // flags
        hi(window),
        lo(window),  // window
        0x00,
        0x00,  // checksum (IP builder)
        0x00,
        0x00,  // urgent pointer
    };
    h.insert(h.end(), options.begin(), options.end());
    return cat({h, payload});
}

inline Bytes udp(uint16_t sport, uint16_t dport, const Bytes& payload = {}) {
    const size_t length = 8 + payload.size();
    return cat({{
                    hi(sport), lo(sport),    // source port
                    hi(dport), lo(dport),    // destination port
                    hi(length), lo(length),  // length
                    0x00, 0x00,              // checksum (IP builder)
                },
                payload});
}

inline Bytes icmp(uint8_t type, uint8_t code, const Bytes& payload = {}) {
    Bytes m = cat({{
                       type, code,  // type, code
                       0x00, 0x00,  // checksum (below)
                       0x00, 0x2a,  // identifier
                       0x00, 0x01,  // sequence
                   },
                   payload});
    put16(m, 2, inet_checksum(m.data(), m.size()));
    return m;
}

inline Bytes icmpv6(uint8_t type, uint8_t code, const Bytes& payload = {}) {
    return cat({{
                    type, code,              // type, code
                    0x00, 0x00,              // checksum (IP builder)
                    0x00, 0x2a, 0x00, 0x01,  // identifier, sequence
                },
                payload});
}

// ---- tunnels ----

inline Bytes gre(uint16_t flags, uint16_t proto, const Bytes& optional, const Bytes& payload) {
    return cat({{
                    hi(flags), lo(flags),  // C R K S, version
                    hi(proto), lo(proto),  // protocol type
                },
                optional,  // checksum/offset, key, sequence as the flags say
                payload});
}

inline Bytes vxlan(uint32_t vni, const Bytes& inner_frame, uint8_t flags = 0x08) {
    return cat({{
                    flags, 0x00, 0x00, 0x00,  // flags (I = VNI valid), reserved
                    static_cast<uint8_t>(vni >> 16), static_cast<uint8_t>(vni >> 8),
                    static_cast<uint8_t>(vni),  // VNI
                    0x00,                       // reserved
                },
                inner_frame});
}

// ---- fragments ----

// One fragment of a whole IPv4 datagram: payload bytes [offset, offset + len) of it.
inline Bytes ipv4_fragment(const Bytes& datagram, size_t offset, size_t len, bool more) {
    const size_t header_len = size_t{datagram[0] & 0x0fu} * 4;
    Bytes h(datagram.begin(), datagram.begin() + static_cast<std::ptrdiff_t>(header_len));
    put16(h, 2, header_len + len);                               // total length
    put16(h, 6, (more ? 0x2000 : 0) | ((offset / 8) & 0x1fff));  // MF, offset in 8 bytes
    put16(h, 10, 0);
    put16(h, 10, inet_checksum(h.data(), header_len));
    const auto from = datagram.begin() + static_cast<std::ptrdiff_t>(header_len + offset);
    return cat({h, Bytes(from, from + static_cast<std::ptrdiff_t>(len))});
}

// One fragment of a whole IPv6 packet whose payload starts with unfrag_len bytes of
// unfragmentable extension headers (hop-by-hop, routing, each of 8 * (len + 1) bytes).
inline Bytes ipv6_fragment(const Bytes& packet, size_t unfrag_len, size_t offset, size_t len,
                           bool more, uint32_t id) {
    Bytes h(packet.begin(), packet.begin() + static_cast<std::ptrdiff_t>(40 + unfrag_len));
    size_t next_at = 6;
    for (size_t pos = 40; pos < 40 + unfrag_len; pos += (size_t{h[pos + 1]} + 1) * 8) {
        next_at = pos;
    }
    const uint8_t inner = h[next_at];
    h[next_at] = 44;
    const Bytes frag = {
        inner,  // next header
        0x00,   // reserved
        hi(offset | (more ? 1 : 0)),
        lo(offset | (more ? 1 : 0)),  // offset, M
        static_cast<uint8_t>(id >> 24),
        static_cast<uint8_t>(id >> 16),  // identification
        static_cast<uint8_t>(id >> 8),
        static_cast<uint8_t>(id),
    };
    const auto from = packet.begin() + static_cast<std::ptrdiff_t>(40 + unfrag_len + offset);
    Bytes out = cat({h, frag, Bytes(from, from + static_cast<std::ptrdiff_t>(len))});
    put16(out, 4, out.size() - 40);
    return out;
}

// ---- decoding ----

// A Decoder plus the bookkeeping every test checks: frames fed, and the identity
// frames = decoded + sum(dropped).
class Harness {
public:
    static constexpr int64_t kT0 = 1'700'000'000'000'000;

    explicit Harness(const DecodeConfig& config = {})
        : decoder_(std::make_unique<Decoder>(config)) {}

    // Decodes frame as captured with wire_len bytes on the wire (0: caplen). The frame is
    // kept so that spans in packet() stay valid until the next call.
    Verdict decode(const Bytes& frame, int linktype = kLinkEthernet, uint32_t wire_len = 0,
                   int64_t ts_us = kT0) {
        frame_ = frame;
        core::Frame f;
        f.data = frame_.data();
        f.caplen = static_cast<uint32_t>(frame_.size());
        f.wire_len = wire_len == 0 ? f.caplen : wire_len;
        f.ts_us = ts_us;
        f.linktype = linktype;
        f.index = ++frames_;
        return decoder_->decode(f, packet_);
    }

    const DecodedPacket& packet() const { return packet_; }
    Decoder& decoder() { return *decoder_; }
    const DecodeStats& stats() const { return decoder_->stats(); }
    uint64_t frames() const { return frames_; }
    uint64_t dropped(DropReason r) const {
        return decoder_->stats().dropped[static_cast<size_t>(r)].load();
    }
    bool balanced() const {
        return frames_ == decoder_->stats().decoded.load() + decoder_->stats().dropped_total();
    }

private:
    std::unique_ptr<Decoder> decoder_;
    DecodedPacket packet_;
    Bytes frame_;
    uint64_t frames_ = 0;
};

inline Bytes payload_of(const DecodedPacket& p) {
    return Bytes(p.payload.begin(), p.payload.end());
}
inline Bytes ip_of(const DecodedPacket& p) { return Bytes(p.ip.begin(), p.ip.end()); }

}  // namespace sensor::decode::test
