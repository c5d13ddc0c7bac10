// Link layers in front of IP: Ethernet, VLAN/QinQ, MPLS, PPPoE, Linux cooked, raw, BSD loopback.

#include <gtest/gtest.h>

#include "tests/unit/decode/packet_builder.h"

namespace sensor::decode::test {
namespace {

// A small UDP datagram from kSrc4:1234 to kDst4:53 with a 4-byte payload.
Bytes udp4() { return ipv4(kIpProtoUdp, udp(1234, 53, {0xde, 0xad, 0xbe, 0xef})); }
Bytes udp6() { return ipv6(kIpProtoUdp, udp(1234, 53, {0xde, 0xad, 0xbe, 0xef})); }

void expect_udp4(const DecodedPacket& p) {
    EXPECT_FALSE(p.is_v6());
    EXPECT_EQ(p.src, core::IpAddress::v4_from(kSrc4.data()));
    EXPECT_EQ(p.dst, core::IpAddress::v4_from(kDst4.data()));
    EXPECT_EQ(p.ip_proto, kIpProtoUdp);
    EXPECT_EQ(p.src_port, 1234);
    EXPECT_EQ(p.dst_port, 53);
    EXPECT_EQ(payload_of(p), (Bytes{0xde, 0xad, 0xbe, 0xef}));
}

void expect_udp6(const DecodedPacket& p) {
    EXPECT_TRUE(p.is_v6());
    EXPECT_EQ(p.src, core::IpAddress::v6_from(kSrc6.data()));
    EXPECT_EQ(p.dst, core::IpAddress::v6_from(kDst6.data()));
    EXPECT_EQ(p.ip_proto, kIpProtoUdp);
    EXPECT_EQ(p.dst_port, 53);
}

TEST(LinkLayer, EthernetIpv4) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x0800), udp4()})), Verdict::kPacket);
    expect_udp4(h.packet());
    EXPECT_EQ(h.packet().vlan_count, 0);
    EXPECT_EQ(h.packet().tunnel_depth, 0);
    EXPECT_EQ(h.packet().ip.size(), udp4().size());
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, EthernetIpv6) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x86dd), udp6()})), Verdict::kPacket);
    expect_udp6(h.packet());
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, EthernetPaddingIsTrimmed) {
    Harness h;
    // A 28-byte IPv4 datagram padded to Ethernet's 60-byte minimum with 18 bytes.
    const Bytes ip = ipv4(kIpProtoUdp, udp(1, 2));
    ASSERT_EQ(h.decode(cat({ether(0x0800), ip, Bytes(18, 0xee)})), Verdict::kPacket);
    EXPECT_EQ(h.packet().ip.size(), 28u);
    EXPECT_TRUE(h.packet().payload.empty());
}

TEST(LinkLayer, SingleVlanTag) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x8100), vlan(0x2064, 0x0800), udp4()})), Verdict::kPacket);
    EXPECT_EQ(h.packet().vlan_count, 1);
    EXPECT_EQ(h.packet().vlan_ids[0], 100);  // PCP 1 stripped
    expect_udp4(h.packet());
}

TEST(LinkLayer, QinqRecordsOuterFirst) {
    for (uint16_t outer : {uint16_t{0x88a8}, uint16_t{0x9100}, uint16_t{0x8100}}) {
        Harness h;
        ASSERT_EQ(h.decode(cat({ether(outer), vlan(10, 0x8100), vlan(20, 0x86dd), udp6()})),
                  Verdict::kPacket)
            << outer;
        EXPECT_EQ(h.packet().vlan_count, 2);
        EXPECT_EQ(h.packet().vlan_ids[0], 10);
        EXPECT_EQ(h.packet().vlan_ids[1], 20);
        expect_udp6(h.packet());
    }
}

TEST(LinkLayer, ThreeVlanTagsAreRead) {
    Harness h;
    const Bytes f =
        cat({ether(0x88a8), vlan(10, 0x8100), vlan(20, 0x8100), vlan(30, 0x0800), udp4()});
    ASSERT_EQ(h.decode(f), Verdict::kPacket);
    EXPECT_EQ(h.packet().vlan_count, 3);
    EXPECT_EQ(h.packet().vlan_ids[0], 10);
    EXPECT_EQ(h.packet().vlan_ids[1], 20);
    EXPECT_EQ(h.packet().vlan_ids[2], 30);
    expect_udp4(h.packet());
    // ARP under three tags is decoded, not dropped.
    EXPECT_EQ(h.decode(cat({ether(0x8100), vlan(1, 0x8100), vlan(10, 0x8100), vlan(100, 0x0806),
                            arp_request()})),
              Verdict::kArp);
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, FourthVlanTagDrops) {
    Harness h;
    const Bytes f = cat({ether(0x88a8), vlan(10, 0x8100), vlan(20, 0x8100), vlan(30, 0x8100),
                         vlan(40, 0x0800), udp4()});
    EXPECT_EQ(h.decode(f), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTooManyVlanTags);
    EXPECT_EQ(h.dropped(DropReason::kTooManyVlanTags), 1u);
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, MplsLabelStackToIpv4AndIpv6) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x8847), mpls(100, false), mpls(200, true), udp4()})),
              Verdict::kPacket);
    expect_udp4(h.packet());
    ASSERT_EQ(h.decode(cat({ether(0x8848), mpls(300, true), udp6()})), Verdict::kPacket);
    expect_udp6(h.packet());
    // Under a VLAN tag too.
    ASSERT_EQ(h.decode(cat({ether(0x8100), vlan(5, 0x8847), mpls(1, true), udp4()})),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().vlan_ids[0], 5);
}

TEST(LinkLayer, MplsWithNonIpPayloadIsNonIp) {
    Harness h;
    // A pseudowire control word (first nibble 0) then an Ethernet frame.
    const Bytes f = cat({ether(0x8847), mpls(16, true), {0x00, 0x00, 0x00, 0x00}, ether(0x0800)});
    EXPECT_EQ(h.decode(f), Verdict::kNonIp);
    EXPECT_EQ(h.stats().non_ip.load(), 1u);
}

TEST(LinkLayer, MplsTruncatedStack) {
    Harness h;
    EXPECT_EQ(h.decode(cat({ether(0x8847), mpls(100, false), {0x00, 0x01}})), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedMpls);
    EXPECT_EQ(h.decode(cat({ether(0x8847), mpls(100, true)})), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedMpls);
}

TEST(LinkLayer, PppoeSessionIpv4AndIpv6) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x8864), pppoe_session(0x0021, udp4())})), Verdict::kPacket);
    expect_udp4(h.packet());
    ASSERT_EQ(h.decode(cat({ether(0x8864), pppoe_session(0x0057, udp6())})), Verdict::kPacket);
    expect_udp6(h.packet());
    // Ethernet padding after the PPPoE payload is not part of IP.
    ASSERT_EQ(h.decode(cat({ether(0x8864), pppoe_session(0x0021, udp4()), Bytes(6, 0)})),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().ip.size(), udp4().size());
}

TEST(LinkLayer, PppoeControlProtocolDrops) {
    Harness h;
    // LCP echo request inside a PPPoE session.
    EXPECT_EQ(h.decode(cat({ether(0x8864), pppoe_session(0xc021, {0x09, 0x01, 0x00, 0x04})})),
              Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kUnsupportedPppoeProtocol);
}

TEST(LinkLayer, PppoeDiscoveryArpAndLldpAreNonIp) {
    Harness h;
    const Bytes padi = {
        0x11,        // version, type
        0x09,        // code: PADI
        0x00, 0x00,  // session id
        0x00, 0x04,  // length
        0x01, 0x01,  // tag: service name
        0x00, 0x00,  // tag length
    };
    EXPECT_EQ(h.decode(cat({ether(0x8863), padi})), Verdict::kNonIp);
    EXPECT_EQ(h.decode(cat({ether(0x0806), arp_request()})), Verdict::kArp);
    EXPECT_EQ(h.decode(cat({ether(0x88cc), Bytes(20, 0)})), Verdict::kNonIp);
    // An 802.3 length field in place of an ethertype (LLC frames).
    EXPECT_EQ(h.decode(cat({ether(0x0026), Bytes(38, 0x42)})), Verdict::kNonIp);
    EXPECT_EQ(h.stats().non_ip.load(), 4u);
    EXPECT_EQ(h.stats().decoded.load(), 4u);
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, LinuxCookedV1AndV2) {
    Harness h;
    ASSERT_EQ(h.decode(cat({sll(0x0800), udp4()}), kLinkSll), Verdict::kPacket);
    expect_udp4(h.packet());
    ASSERT_EQ(h.decode(cat({sll2(0x86dd), udp6()}), kLinkSll2), Verdict::kPacket);
    expect_udp6(h.packet());
    ASSERT_EQ(h.decode(cat({sll(0x8100), vlan(7, 0x0800), udp4()}), kLinkSll), Verdict::kPacket);
    EXPECT_EQ(h.packet().vlan_ids[0], 7);
    EXPECT_EQ(h.decode(cat({sll(0x0806), arp_request()}), kLinkSll), Verdict::kArp);
    // Netlink captures carry netlink messages, whatever the protocol field says.
    EXPECT_EQ(h.decode(cat({sll(0x0800, 824), udp4()}), kLinkSll), Verdict::kNonIp);
    EXPECT_EQ(h.decode(cat({sll2(0x0800, 824), udp4()}), kLinkSll2), Verdict::kNonIp);
    EXPECT_EQ(h.decode(Bytes(15, 0), kLinkSll), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedSll);
    EXPECT_EQ(h.decode(Bytes(19, 0), kLinkSll2), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedSll);
}

TEST(LinkLayer, RawLinkTypesGuessTheVersion) {
    for (int link : {kLinkRaw, kLinkRawOpenBsd, kLinkRawPcap}) {
        Harness h;
        ASSERT_EQ(h.decode(udp4(), link), Verdict::kPacket) << link;
        expect_udp4(h.packet());
        ASSERT_EQ(h.decode(udp6(), link), Verdict::kPacket) << link;
        expect_udp6(h.packet());
        Bytes bad = udp4();
        bad[0] = 0x55;
        EXPECT_EQ(h.decode(bad, link), Verdict::kDropped);
        EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kUnknownIpVersion);
        EXPECT_EQ(h.decode({}, link), Verdict::kDropped);
        EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kUnknownIpVersion);
    }
}

TEST(LinkLayer, Ipv4AndIpv6LinkTypesInsistOnTheirVersion) {
    Harness h;
    ASSERT_EQ(h.decode(udp4(), kLinkIpv4), Verdict::kPacket);
    ASSERT_EQ(h.decode(udp6(), kLinkIpv6), Verdict::kPacket);
    EXPECT_EQ(h.decode(udp6(), kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv4Version);
    EXPECT_EQ(h.decode(udp4(), kLinkIpv6), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedIpv6);  // 32 < 40 bytes
    EXPECT_EQ(h.decode(cat({udp4(), Bytes(20, 0)}), kLinkIpv6), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv6Version);
}

TEST(LinkLayer, NullIsHostOrderLoopIsNetworkOrder) {
    Harness h;
    ASSERT_EQ(h.decode(cat({null_le(2), udp4()}), kLinkNull), Verdict::kPacket);
    expect_udp4(h.packet());
    ASSERT_EQ(h.decode(cat({family_be(2), udp4()}), kLinkNull), Verdict::kPacket);
    for (uint32_t af : {10u, 24u, 28u, 30u}) {
        ASSERT_EQ(h.decode(cat({null_le(af), udp6()}), kLinkNull), Verdict::kPacket) << af;
        expect_udp6(h.packet());
        ASSERT_EQ(h.decode(cat({family_be(af), udp6()}), kLinkLoop), Verdict::kPacket) << af;
        expect_udp6(h.packet());
    }
    ASSERT_EQ(h.decode(cat({family_be(2), udp4()}), kLinkLoop), Verdict::kPacket);
    // AF_APPLETALK (16 on BSD) is a valid frame that is not IP.
    EXPECT_EQ(h.decode(cat({null_le(16), Bytes(20, 0)}), kLinkNull), Verdict::kNonIp);
    EXPECT_EQ(h.decode({0x02, 0x00, 0x00}, kLinkNull), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedNull);
    EXPECT_EQ(h.decode({0x00, 0x00}, kLinkLoop), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedNull);
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, LinkBytesPrecedeTheIpPacket) {
    Harness h;
    const Bytes head = cat({ether(0x8100), vlan(7, 0x0800)});
    const Bytes frame = cat({head, udp4()});
    ASSERT_EQ(h.decode(frame), Verdict::kPacket);
    EXPECT_EQ(Bytes(h.packet().link.begin(), h.packet().link.end()), head);
    EXPECT_EQ(h.packet().link.data() + h.packet().link.size(), h.packet().ip.data());
    // Raw IP has none.
    ASSERT_EQ(h.decode(udp4(), kLinkRaw), Verdict::kPacket);
    EXPECT_TRUE(h.packet().link.empty());
    // Inside a tunnel the inner frame starts at the tunnel's payload: VXLAN's inner Ethernet.
    const Bytes inner = cat({ether(0x0800), udp4()});
    ASSERT_EQ(h.decode(cat({ether(0x0800), ipv4(kIpProtoUdp, udp(5, 4789, vxlan(1, inner)))})),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().tunnel_depth, 1);
    EXPECT_EQ(Bytes(h.packet().link.begin(), h.packet().link.end()), ether(0x0800));
    // ... and IP-in-IP has no inner link bytes.
    ASSERT_EQ(h.decode(ipv4(4, udp4()), kLinkIpv4), Verdict::kPacket);
    EXPECT_EQ(h.packet().tunnel_depth, 1);
    EXPECT_TRUE(h.packet().link.empty());
}

TEST(LinkLayer, CiscoHdlc) {
    Harness h;
    // Bytes of the first frame of suricata-verify's decode-chdlc-01 capture, up to the ports.
    const Bytes head = {
        0x0f, 0x00, 0x08, 0x00,  // C-HDLC: unicast address, control, ethertype IPv4
    };
    ASSERT_EQ(h.decode(cat({head, udp4()}), kLinkChdlc), Verdict::kPacket);
    expect_udp4(h.packet());
    EXPECT_EQ(h.packet().linktype, kLinkChdlc);
    ASSERT_EQ(h.decode(cat({chdlc(0x86dd, 0x8f), udp6()}), kLinkChdlc), Verdict::kPacket);
    expect_udp6(h.packet());
    // VLAN tags may follow, as after any ethertype.
    ASSERT_EQ(h.decode(cat({chdlc(0x8100), vlan(7, 0x0800), udp4()}), kLinkChdlc),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().vlan_ids[0], 7);
    // Cisco SLARP keepalives carry no IP.
    EXPECT_EQ(h.decode(cat({chdlc(0x8035), Bytes(18, 0)}), kLinkChdlc), Verdict::kNonIp);
    EXPECT_EQ(h.decode({0x0f, 0x00, 0x08}, kLinkChdlc), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedChdlc);
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, PppFramingAndProtocolCompression) {
    Harness h;
    for (int link : {kLinkPpp, kLinkPppSerial}) {
        for (bool framed : {true, false}) {
            ASSERT_EQ(h.decode(ppp(0x0021, udp4(), framed, false), link), Verdict::kPacket);
            expect_udp4(h.packet());
            ASSERT_EQ(h.decode(ppp(0x0057, udp6(), framed, true), link), Verdict::kPacket);
            expect_udp6(h.packet());
        }
    }
    // As in suricata-verify's bug-6887 capture: one-byte protocol 0x57, no address/control.
    ASSERT_EQ(h.decode(cat({{0x57}, udp6()}), kLinkPpp), Verdict::kPacket);
    expect_udp6(h.packet());
    EXPECT_EQ(h.packet().linktype, kLinkPpp);
    // Link control and unknown protocols are valid frames without IP.
    EXPECT_EQ(h.decode(ppp(0xc021, Bytes(8, 1), true, false), kLinkPpp), Verdict::kNonIp);
    EXPECT_EQ(h.decode(ppp(0x8021, Bytes(8, 1), false, false), kLinkPpp), Verdict::kNonIp);
    EXPECT_EQ(h.decode({0xff, 0x03}, kLinkPpp), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedPpp);
    EXPECT_EQ(h.decode({0x00}, kLinkPpp), Verdict::kDropped);  // two-byte protocol cut
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedPpp);
    EXPECT_EQ(h.dropped(DropReason::kTruncatedPpp), 2u);
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, UnsupportedLinkTypeDrops) {
    Harness h;
    for (int link : {105, 127, 147, 9999, -1}) {  // 802.11, radiotap, user0, ...
        EXPECT_EQ(h.decode(udp4(), link), Verdict::kDropped) << link;
        EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kUnsupportedLinktype);
    }
    EXPECT_EQ(h.dropped(DropReason::kUnsupportedLinktype), 5u);
    EXPECT_EQ(h.stats().decoded.load(), 0u);
    EXPECT_TRUE(h.balanced());
}

TEST(LinkLayer, TruncatedEthernetAndVlan) {
    Harness h;
    EXPECT_EQ(h.decode(Bytes(13, 0)), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedEthernet);
    EXPECT_EQ(h.decode(cat({ether(0x8100), {0x00, 0x64, 0x08}})), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedVlan);
    EXPECT_EQ(h.decode(cat({ether(0x8864), {0x11, 0x00, 0x00, 0x01, 0x00}})), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedPppoe);
}

}  // namespace
}  // namespace sensor::decode::test
