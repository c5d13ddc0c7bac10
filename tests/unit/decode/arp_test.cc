// ARP: Ethernet/IPv4 messages are decoded for detection (Verdict::kArp, counted as non-IP),
// malformed ones are dropped by reason, other ARP variants stay plain non-IP frames.

#include <gtest/gtest.h>

#include "tests/unit/decode/packet_builder.h"

namespace sensor::decode::test {
namespace {

Bytes arp_reply() {
    return {
        0x00, 0x01,                          // hardware type: Ethernet
        0x08, 0x00,                          // protocol type: IPv4
        0x06, 0x04,                          // address lengths
        0x00, 0x02,                          // opcode: reply
        0x02, 0x11, 0x22, 0x33, 0x44, 0x55,  // sender MAC
        10,   0,    0,    1,                 // sender IP
        0x02, 0x66, 0x77, 0x88, 0x99, 0xaa,  // target MAC
        10,   0,    0,    2,                 // target IP
    };
}

TEST(Arp, EthernetRequestIsDecodedWithoutIpFields) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x0806), arp_request()})), Verdict::kArp);
    const DecodedPacket& p = h.packet();
    EXPECT_TRUE(p.is_arp);
    EXPECT_EQ(p.arp.opcode, kArpRequest);
    EXPECT_EQ(p.arp.sender_mac, (std::array<uint8_t, 6>{0x02, 0, 0, 0, 0, 0x01}));
    EXPECT_EQ(p.arp.sender_ip.to_string(), "192.0.2.1");
    EXPECT_EQ(p.arp.target_mac, (std::array<uint8_t, 6>{}));
    EXPECT_EQ(p.arp.target_ip.to_string(), "198.51.100.2");
    EXPECT_EQ(p.link.size(), 14u);
    EXPECT_EQ(Bytes(p.arp_bytes.begin(), p.arp_bytes.end()), arp_request());
    // No IP layer: nothing may pretend to be one.
    const DecodedPacket fresh;
    EXPECT_EQ(p.src, fresh.src);
    EXPECT_EQ(p.dst, fresh.dst);
    EXPECT_EQ(p.ip_proto, 0);
    EXPECT_TRUE(p.ip.empty());
    EXPECT_TRUE(p.payload.empty());
    EXPECT_EQ(h.stats().decoded.load(), 1u);
    EXPECT_EQ(h.stats().non_ip.load(), 1u);
    EXPECT_TRUE(h.balanced());
}

TEST(Arp, ReplyFieldsAndPaddingTrimmed) {
    Harness h;
    // Padded to Ethernet's 60-byte minimum with 18 bytes.
    ASSERT_EQ(h.decode(cat({ether(0x0806), arp_reply(), Bytes(18, 0xee)})), Verdict::kArp);
    const DecodedPacket& p = h.packet();
    EXPECT_EQ(p.arp.opcode, kArpReply);
    EXPECT_EQ(p.arp.sender_mac, (std::array<uint8_t, 6>{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}));
    EXPECT_EQ(p.arp.sender_ip.to_string(), "10.0.0.1");
    EXPECT_EQ(p.arp.target_mac, (std::array<uint8_t, 6>{0x02, 0x66, 0x77, 0x88, 0x99, 0xaa}));
    EXPECT_EQ(p.arp.target_ip.to_string(), "10.0.0.2");
    EXPECT_EQ(p.arp_bytes.size(), 28u);
}

TEST(Arp, VlanTaggedUpToThreeTags) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x8100), vlan(6, 0x0806), arp_request()})), Verdict::kArp);
    EXPECT_EQ(h.packet().vlan_count, 1);
    EXPECT_EQ(h.packet().vlan_ids[0], 6);
    EXPECT_EQ(h.packet().link.size(), 18u);
    EXPECT_EQ(h.packet().arp.opcode, kArpRequest);
    // Three tags, as in suricata-verify arp/detect-arp-03-vlan.
    ASSERT_EQ(h.decode(cat({ether(0x8100), vlan(1, 0x8100), vlan(10, 0x8100), vlan(100, 0x0806),
                            arp_request()})),
              Verdict::kArp);
    EXPECT_EQ(h.packet().vlan_count, 3);
    EXPECT_EQ(h.packet().vlan_ids[2], 100);
    EXPECT_EQ(h.packet().link.size(), 26u);
    EXPECT_EQ(h.stats().non_ip.load(), 2u);
}

TEST(Arp, TruncatedIsDropped) {
    Harness h;
    const Bytes arp = arp_request();
    EXPECT_EQ(h.decode(cat({ether(0x0806), Bytes(arp.begin(), arp.begin() + 7)})),
              Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedArp);
    EXPECT_EQ(h.decode(cat({ether(0x0806), Bytes(arp.begin(), arp.begin() + 27)})),
              Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedArp);
    // Address lengths announce more than the frame holds, whatever the hardware type.
    Bytes long_addresses = arp;
    long_addresses[1] = 6;
    long_addresses[4] = 16;
    EXPECT_EQ(h.decode(cat({ether(0x0806), long_addresses})), Verdict::kDropped);
    EXPECT_EQ(h.dropped(DropReason::kTruncatedArp), 3u);
    EXPECT_EQ(h.stats().non_ip.load(), 0u);
    EXPECT_TRUE(h.balanced());
}

TEST(Arp, EthernetIpv4WithWrongAddressLengthsIsDropped) {
    Harness h;
    Bytes bad = cat({arp_request(), Bytes(4, 0)});
    bad[4] = 8;  // an 8-byte hardware address for Ethernet
    EXPECT_EQ(h.decode(cat({ether(0x0806), bad})), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadArp);
    Bytes bad_proto_len = arp_request();
    bad_proto_len[5] = 2;  // IPv4 in 2 bytes
    EXPECT_EQ(h.decode(cat({ether(0x0806), bad_proto_len})), Verdict::kDropped);
    EXPECT_EQ(h.dropped(DropReason::kBadArp), 2u);
}

TEST(Arp, OtherVariantsStayNonIp) {
    Harness h;
    Bytes ieee802 = arp_request();
    ieee802[1] = 6;  // hardware type IEEE 802
    EXPECT_EQ(h.decode(cat({ether(0x0806), ieee802})), Verdict::kNonIp);
    EXPECT_FALSE(h.packet().is_arp);
    Bytes inarp = arp_request();
    inarp[7] = 8;  // InARP request (RFC 2390)
    EXPECT_EQ(h.decode(cat({ether(0x0806), inarp})), Verdict::kNonIp);
    Bytes opcode0 = arp_request();
    opcode0[7] = 0;
    EXPECT_EQ(h.decode(cat({ether(0x0806), opcode0})), Verdict::kNonIp);
    EXPECT_EQ(h.stats().non_ip.load(), 3u);
    EXPECT_EQ(h.stats().dropped_total(), 0u);
}

TEST(Arp, InsideVxlanTheOuterPacketIsAnalysed) {
    Harness h;
    const Bytes inner = cat({ether(0x0806), arp_request()});
    ASSERT_EQ(h.decode(cat({ether(0x0800), ipv4(kIpProtoUdp, udp(5, 4789, vxlan(7, inner)))})),
              Verdict::kPacket);
    EXPECT_FALSE(h.packet().is_arp);
    EXPECT_EQ(h.packet().dst_port, 4789);
    EXPECT_EQ(h.packet().tunnel_depth, 0);
}

TEST(Arp, OuterAddressesTreatsArpAsNonIp) {
    Decoder decoder(DecodeConfig{});
    const Bytes frame = cat({ether(0x0806), arp_request()});
    core::Frame f;
    f.data = frame.data();
    f.caplen = static_cast<uint32_t>(frame.size());
    f.wire_len = f.caplen;
    f.linktype = kLinkEthernet;
    DecodedPacket p;
    EXPECT_EQ(decoder.outer_addresses(f, p), Verdict::kNonIp);
    EXPECT_FALSE(p.is_arp);
    EXPECT_EQ(decoder.stats().decoded.load(), 0u);
}

TEST(Arp, FieldsAreResetByTheNextFrame) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x0806), arp_reply()})), Verdict::kArp);
    ASSERT_EQ(h.decode(cat({ether(0x0800), ipv4(kIpProtoUdp, udp(1, 2))})), Verdict::kPacket);
    EXPECT_FALSE(h.packet().is_arp);
    EXPECT_EQ(h.packet().arp.opcode, 0);
    EXPECT_TRUE(h.packet().arp_bytes.empty());
}

}  // namespace
}  // namespace sensor::decode::test
