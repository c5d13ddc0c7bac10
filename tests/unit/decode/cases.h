#pragma once
// Named frame sequences shared by the drop-reason table and the fuzz seed writer: one
// sequence per drop reason (its last frame is dropped for that reason) and a set of
// well-formed frames covering each protocol the decoder peels.

#include <string>
#include <vector>

#include "sensor/decode/drop_reason.h"
#include "tests/unit/decode/packet_builder.h"

namespace sensor::decode::test {

struct Input {
    Bytes frame;
    int linktype = kLinkEthernet;
    uint32_t wire_len = 0;  // 0: the frame was not cut by snaplen
};

struct Case {
    std::string name;
    std::vector<Input> inputs;
    Verdict last_verdict = Verdict::kPacket;
    DropReason reason = DropReason::kCount;  // when last_verdict is kDropped
    DecodeConfig config;
};

inline Bytes eth(uint16_t type, const Bytes& rest) { return cat({ether(type), rest}); }

inline Bytes small_udp4() { return ipv4(kIpProtoUdp, udp(1234, 53, {1, 2, 3, 4})); }
inline Bytes small_udp6() { return ipv6(kIpProtoUdp, udp(1234, 53, {1, 2, 3, 4})); }

inline Bytes with_byte(Bytes b, size_t at, uint8_t value) {
    b[at] = value;
    return b;
}

inline Ipv4Spec unfragmented() {
    Ipv4Spec s;
    s.frag = 0;
    return s;
}
inline Ipv4Spec no_l4_checksum4() {
    Ipv4Spec s;
    s.fix_l4 = false;
    return s;
}
inline Ipv6Spec no_l4_checksum6() {
    Ipv6Spec s;
    s.fix_l4 = false;
    return s;
}

inline Bytes fragmented_source() {
    Ipv4Spec s;
    s.frag = 0;
    return ipv4(kIpProtoUdp, udp(7, 8, filler(100)), s);  // 108 bytes of UDP
}

inline Case drop(DropReason reason, std::vector<Input> inputs, DecodeConfig config = {}) {
    Case c;
    c.name = std::string(drop_reason_name(reason));
    c.inputs = std::move(inputs);
    c.last_verdict = Verdict::kDropped;
    c.reason = reason;
    c.config = config;
    return c;
}

inline std::vector<Case> drop_cases() {
    using R = DropReason;
    const Bytes u4 = small_udp4();
    const Bytes u6 = small_udp6();
    const Bytes frag_src = fragmented_source();
    DecodeConfig tiny_memcap;
    tiny_memcap.defrag_memcap_bytes = 512;
    Bytes nine_ext;
    for (int i = 0; i < 9; ++i) {
        nine_ext = cat({nine_ext, ext_header(60, 8)});
    }
    Bytes tunnel4 = u4;
    for (int i = 0; i < 4; ++i) {
        tunnel4 = ipv4(4, tunnel4);
    }
    const Bytes big_frag =
        ipv4_fragment(ipv4(kIpProtoUdp, udp(7, 8, filler(1200)), unfragmented()), 0, 1024, true);
    const Bytes arp = arp_request();

    return {
        drop(R::kUnsupportedLinktype, {{u4, 147}}),
        drop(R::kTruncatedEthernet, {{Bytes(12, 0xff)}}),
        drop(R::kTruncatedVlan, {{eth(0x8100, {0x00, 0x05})}}),
        drop(R::kTooManyVlanTags, {{eth(0x8100, cat({vlan(1, 0x8100), vlan(2, 0x8100),
                                                     vlan(3, 0x8100), vlan(4, 0x0800), u4}))}}),
        drop(R::kTruncatedMpls, {{eth(0x8847, {0x00, 0x06, 0x40})}}),
        drop(R::kTruncatedPppoe, {{eth(0x8864, {0x11, 0x00, 0x00, 0x01})}}),
        drop(R::kUnsupportedPppoeProtocol, {{eth(0x8864, pppoe_session(0xc021, Bytes(4, 1)))}}),
        drop(R::kTruncatedSll, {{Bytes(10, 0), kLinkSll}}),
        drop(R::kTruncatedNull, {{{0x02, 0x00}, kLinkNull}}),
        drop(R::kTruncatedIpv4, {{eth(0x0800, Bytes(u4.begin(), u4.begin() + 12))}}),
        drop(R::kBadIpv4Version, {{eth(0x0800, u6)}}),
        drop(R::kBadIpv4Ihl, {{eth(0x0800, with_byte(u4, 0, 0x43))}}),
        drop(R::kBadIpv4TotalLength, {{eth(0x0800, with_byte(u4, 3, 0x10))}}),
        drop(R::kTruncatedIpv6, {{eth(0x86dd, Bytes(u6.begin(), u6.begin() + 30))}}),
        drop(R::kBadIpv6Version, {{eth(0x86dd, with_byte(u6, 0, 0x50))}}),
        drop(R::kBadIpv6PayloadLength, {{eth(0x86dd, with_byte(u6, 5, 0x40))}}),
        drop(R::kTruncatedIpv6ExtHeader, {{eth(0x86dd, ipv6(0, {kIpProtoUdp, 0x03, 0, 0}))}}),
        drop(R::kTooManyIpv6ExtHeaders, {{eth(0x86dd, ipv6(60, nine_ext))}}),
        drop(R::kBadTcpChecksum,
             {{eth(0x0800, ipv4(kIpProtoTcp, tcp(1, 2, 3, 4, kTcpAck), no_l4_checksum4()))}}),
        drop(R::kTooManyTunnelLayers, {{eth(0x0800, tunnel4)}}),
        drop(R::kBadFragment, {{eth(0x0800, ipv4_fragment(frag_src, 0, 20, true))}}),
        drop(R::kFragmentOverlap, {{eth(0x0800, ipv4_fragment(frag_src, 0, 64, true))},
                                   {eth(0x0800, ipv4_fragment(frag_src, 0, 64, true))}}),
        drop(R::kFragmentMemcap, {{eth(0x0800, big_frag)}}, tiny_memcap),
        drop(R::kUnknownIpVersion, {{with_byte(u4, 0, 0x75), kLinkRaw}}),
        drop(R::kTruncatedFragment, {{eth(0x0800, Bytes(big_frag.begin(), big_frag.begin() + 60)),
                                      kLinkEthernet, static_cast<uint32_t>(big_frag.size() + 14)}}),
        drop(R::kTruncatedChdlc, {{{0x0f, 0x00, 0x08}, kLinkChdlc}}),
        drop(R::kTruncatedPpp, {{{0xff, 0x03, 0x00}, kLinkPpp}}),
        drop(R::kTruncatedArp, {{eth(0x0806, Bytes(arp.begin(), arp.begin() + 27))}}),
        drop(R::kBadArp, {{eth(0x0806, cat({with_byte(arp, 4, 8), Bytes(4, 0)}))}}),
    };
}

inline Case good(std::string name, std::vector<Input> inputs, Verdict last = Verdict::kPacket) {
    Case c;
    c.name = std::move(name);
    c.inputs = std::move(inputs);
    c.last_verdict = last;
    return c;
}

inline std::vector<Case> good_cases() {
    const Bytes u4 = small_udp4();
    const Bytes u6 = small_udp6();
    const Bytes t4 = ipv4(kIpProtoTcp, tcp(40000, 80, 1, 0, kTcpSyn, {}, {2, 4, 5, 0xb4}));
    const Bytes t6 = ipv6(kIpProtoTcp, tcp(40000, 443, 9, 10, kTcpAck | kTcpPsh, {'h', 'i'}));
    const Bytes frag_src = fragmented_source();
    const Bytes v6_src = ipv6(kIpProtoUdp, udp(7, 8, filler(100)));
    Ipv6Spec ext_spec;
    ext_spec.l4_at = 16;
    ext_spec.l4_proto = kIpProtoUdp;
    return {
        good("eth_udp4", {{eth(0x0800, u4)}}),
        good("eth_tcp4_syn", {{eth(0x0800, t4)}}),
        good("eth_tcp6", {{eth(0x86dd, t6)}}),
        good("eth_icmp4", {{eth(0x0800, ipv4(kIpProtoIcmp, icmp(8, 0, {'a', 'b'})))}}),
        good("eth_icmp6", {{eth(0x86dd, ipv6(kIpProtoIcmpv6, icmpv6(128, 0, {'a'})))}}),
        good("eth_ipv6_ext",
             {{eth(0x86dd, ipv6(0, cat({ext_header(60, 8), ext_header(17, 8), udp(1, 2, {5})}),
                                ext_spec))}}),
        good("eth_arp", {{eth(0x0806, arp_request())}}, Verdict::kArp),
        good("vlan_arp", {{eth(0x8100, cat({vlan(6, 0x0806), arp_request()}))}}, Verdict::kArp),
        good("eth_arp_other_hardware", {{eth(0x0806, with_byte(arp_request(), 1, 6))}},
             Verdict::kNonIp),
        good("vlan_udp4", {{eth(0x8100, cat({vlan(100, 0x0800), u4}))}}),
        good("qinq_udp6", {{eth(0x88a8, cat({vlan(1, 0x8100), vlan(2, 0x86dd), u6}))}}),
        good("mpls_udp4", {{eth(0x8847, cat({mpls(16, false), mpls(17, true), u4}))}}),
        good("pppoe_udp4", {{eth(0x8864, pppoe_session(0x0021, u4))}}),
        good("pppoe_udp6", {{eth(0x8864, pppoe_session(0x0057, u6))}}),
        good("gre_tcp4", {{eth(0x0800, ipv4(47, gre(0x3000, 0x0800, Bytes(8, 1), t4)))}}),
        good("gre_teb", {{eth(0x0800, ipv4(47, gre(0, 0x6558, {}, eth(0x0800, u4))))}}),
        good("vxlan", {{eth(0x0800, ipv4(kIpProtoUdp, udp(5, 4789, vxlan(7, eth(0x0800, t4)))))}}),
        good("ipip", {{eth(0x0800, ipv4(4, t4))}}),
        good("six_in_four", {{eth(0x0800, ipv4(41, t6))}}),
        good("sll_udp4", {{cat({sll(0x0800), u4}), kLinkSll}}),
        good("sll2_udp6", {{cat({sll2(0x86dd), u6}), kLinkSll2}}),
        good("raw_udp4", {{u4, kLinkRaw}}),
        good("raw_udp6", {{u6, kLinkRawPcap}}),
        good("ipv4_link", {{t4, kLinkIpv4}}),
        good("ipv6_link", {{t6, kLinkIpv6}}),
        good("null_udp4", {{cat({null_le(2), u4}), kLinkNull}}),
        good("loop_udp6", {{cat({family_be(24), u6}), kLinkLoop}}),
        good("snaplen_cut", {{eth(0x0800, Bytes(u4.begin(), u4.begin() + 30)), kLinkEthernet,
                              static_cast<uint32_t>(u4.size() + 14)}}),
        good("frag4_in_order", {{eth(0x0800, ipv4_fragment(frag_src, 0, 64, true))},
                                {eth(0x0800, ipv4_fragment(frag_src, 64, 44, false))}}),
        good("frag4_reverse", {{eth(0x0800, ipv4_fragment(frag_src, 64, 44, false))},
                               {eth(0x0800, ipv4_fragment(frag_src, 32, 32, true))},
                               {eth(0x0800, ipv4_fragment(frag_src, 0, 48, true))}}),
        good("frag6", {{eth(0x86dd, ipv6_fragment(v6_src, 0, 56, 52, false, 3))},
                       {eth(0x86dd, ipv6_fragment(v6_src, 0, 0, 56, true, 3))}}),
        good("frag4_held", {{eth(0x0800, ipv4_fragment(frag_src, 8, 16, true))}},
             Verdict::kFragmentHeld),
        good("vlan3_udp4",
             {{eth(0x88a8, cat({vlan(1, 0x8100), vlan(2, 0x8100), vlan(3, 0x0800), u4}))}}),
        good("chdlc_udp4", {{cat({chdlc(0x0800), u4}), kLinkChdlc}}),
        good("ppp_udp6", {{ppp(0x0057, u6, true, false), kLinkPpp}}),
        good("ppp_compressed_udp4", {{ppp(0x0021, u4, false, true), kLinkPpp}}),
        good("ppp_serial_lcp", {{ppp(0xc021, Bytes(8, 1), true, false), kLinkPppSerial}},
             Verdict::kNonIp),
        good("gre_ppp_udp4",
             {{eth(0x0800, ipv4(47, gre(0, 0x880b, {}, ppp(0x0021, u4, false, true))))}}),
        good("pptp_udp4", {{eth(0x0800, ipv4(47, gre(0x3081, 0x880b, Bytes(12, 0),
                                                     ppp(0x0021, u4, true, false))))}}),
        good("sctp4", {{eth(0x0800, ipv4(kIpProtoSctp, Bytes(16, 7)))}}),
        good("tcp_bad_offset_ip_only",
             {{eth(0x0800, ipv4(kIpProtoTcp, with_byte(tcp(1, 2, 3, 4, kTcpAck), 12, 0x20)))}}),
        good("udp_bad_checksum_counted", {{eth(0x0800, with_byte(u4, 20 + 8, 0x09))}}),
        good("ipv4_bad_checksum_counted", {{eth(0x0800, with_byte(u4, 8, 0x01))}}),
    };
}

}  // namespace sensor::decode::test
