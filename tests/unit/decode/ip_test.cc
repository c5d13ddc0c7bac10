// IPv4, IPv6 and extension headers, TCP/UDP/ICMP/ICMPv6, checksums, snaplen truncation and
// tunnels (IP-in-IP, GRE, VXLAN).

#include <gtest/gtest.h>

#include "tests/unit/decode/packet_builder.h"

namespace sensor::decode::test {
namespace {

DecodeConfig no_checksums() {
    DecodeConfig c;
    c.validate_checksums = false;
    return c;
}

// A packet whose transport header was unusable: the IP layer is described, nothing above it.
void expect_ip_only(const Harness& h, uint8_t proto) {
    const DecodedPacket& p = h.packet();
    EXPECT_TRUE(p.l4_malformed);
    EXPECT_EQ(p.ip_proto, proto);
    EXPECT_FALSE(p.ip.empty());
    EXPECT_EQ(p.src_port, 0);
    EXPECT_EQ(p.dst_port, 0);
    EXPECT_EQ(p.tcp_flags, 0);
    EXPECT_EQ(p.icmp_type, 0);
    EXPECT_TRUE(p.payload.empty());
    EXPECT_TRUE(h.balanced());
}

TEST(Ip, Ipv4TcpFields) {
    Harness h;
    // Written out in full once: every other test uses the builders.
    const Bytes frame = {
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02,  // destination MAC
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01,  // source MAC
        0x08, 0x00,                          // ethertype IPv4
        0x45,                                // version 4, IHL 5
        0x00,                                // DSCP, ECN
        0x00, 0x2c,                          // total length 44
        0xbe, 0xef,                          // identification
        0x40, 0x00,                          // DF, offset 0
        0x37,                                // TTL 55
        0x06,                                // protocol TCP
        0x00, 0x00,                          // header checksum (fixed below)
        10,   1,    2,    3,                 // source 10.1.2.3
        10,   4,    5,    6,                 // destination 10.4.5.6
        0xc3, 0x50,                          // source port 50000
        0x01, 0xbb,                          // destination port 443
        0x01, 0x02, 0x03, 0x04,              // sequence number
        0x0a, 0x0b, 0x0c, 0x0d,              // acknowledgement number
        0x50,                                // data offset 5
        0x18,                                // flags PSH ACK
        0x72, 0x10,                          // window 29200
        0x00, 0x00,                          // checksum (fixed below)
        0x00, 0x00,                          // urgent pointer
        'a',  'b',  'c',  'd',               // payload
    };
    Bytes f = frame;
    put16(f, 24, inet_checksum(f.data() + 14, 20));
    const Ip4 s{10, 1, 2, 3};
    const Ip4 d{10, 4, 5, 6};
    put16(f, 50, inet_checksum(f.data() + 34, 24, pseudo_sum(s.data(), d.data(), 4, 6, 24)));

    ASSERT_EQ(h.decode(f), Verdict::kPacket);
    const DecodedPacket& p = h.packet();
    EXPECT_EQ(p.src.to_string(), "10.1.2.3");
    EXPECT_EQ(p.dst.to_string(), "10.4.5.6");
    EXPECT_EQ(p.ttl, 55);
    EXPECT_EQ(p.ip_proto, kIpProtoTcp);
    EXPECT_EQ(p.src_port, 50000);
    EXPECT_EQ(p.dst_port, 443);
    EXPECT_EQ(p.tcp_seq, 0x01020304u);
    EXPECT_EQ(p.tcp_ack, 0x0a0b0c0du);
    EXPECT_EQ(p.tcp_flags, kTcpPsh | kTcpAck);
    EXPECT_EQ(p.tcp_window, 29200);
    EXPECT_EQ(payload_of(p), (Bytes{'a', 'b', 'c', 'd'}));
    EXPECT_EQ(ip_of(p), Bytes(f.begin() + 14, f.end()));
    EXPECT_EQ(p.frame_index, 1u);
    EXPECT_EQ(p.ts_us, Harness::kT0);
    EXPECT_FALSE(p.reassembled);
}

TEST(Ip, Ipv4OptionsAndTcpOptionsAreSkipped) {
    Harness h;
    Ipv4Spec s;
    s.options = {0x94, 0x04, 0x00, 0x00};                                // router alert
    const Bytes mss = {0x02, 0x04, 0x05, 0xb4, 0x01, 0x01, 0x04, 0x02};  // MSS, NOP, NOP, SACKOK
    const Bytes f =
        cat({ether(0x0800), ipv4(kIpProtoTcp, tcp(1, 2, 7, 0, kTcpSyn, {'x'}, mss), s)});
    ASSERT_EQ(h.decode(f), Verdict::kPacket);
    EXPECT_EQ(h.packet().tcp_flags, kTcpSyn);
    EXPECT_EQ(payload_of(h.packet()), Bytes{'x'});
}

TEST(Ip, Ipv4HeaderErrors) {
    Harness h(no_checksums());
    Bytes ip = ipv4(kIpProtoUdp, udp(1, 2));
    EXPECT_EQ(h.decode(Bytes(ip.begin(), ip.begin() + 19), kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedIpv4);

    Bytes bad = ip;
    bad[0] = 0x44;  // IHL 4
    EXPECT_EQ(h.decode(bad, kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv4Ihl);

    bad = ip;
    bad[0] = 0x4f;  // IHL 15: 60 bytes, more than the 28 captured
    EXPECT_EQ(h.decode(bad, kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedIpv4);

    bad = ip;
    put16(bad, 2, 19);  // total length shorter than the header
    EXPECT_EQ(h.decode(bad, kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv4TotalLength);

    bad = ip;
    put16(bad, 2, 29);  // one byte more than the whole, uncut frame
    EXPECT_EQ(h.decode(bad, kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv4TotalLength);
    EXPECT_TRUE(h.balanced());
}

TEST(Ip, SnaplenTruncationKeepsWhatWasCaptured) {
    Harness h;
    const Bytes whole =
        cat({ether(0x0800), ipv4(kIpProtoTcp, tcp(80, 1025, 1, 1, kTcpAck, filler(1000)))});
    const Bytes cut(whole.begin(), whole.begin() + 96);
    const auto wire = static_cast<uint32_t>(whole.size());
    ASSERT_EQ(h.decode(cut, kLinkEthernet, wire), Verdict::kPacket);
    EXPECT_EQ(h.packet().src_port, 80);
    EXPECT_EQ(h.packet().ip.size(), 96u - 14u);
    EXPECT_EQ(payload_of(h.packet()), filler(96 - 14 - 40));
    // The same bytes without the snaplen excuse are a lie about the length.
    EXPECT_EQ(h.decode(cut), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv4TotalLength);
    // Cut inside the TCP header: the IP layer is still described.
    ASSERT_EQ(h.decode(Bytes(whole.begin(), whole.begin() + 44), kLinkEthernet, wire),
              Verdict::kPacket);
    expect_ip_only(h, kIpProtoTcp);
}

TEST(Ip, SnaplenTruncationSkipsL4ChecksumsOnly) {
    Harness h;
    Bytes whole = cat({ether(0x0800), ipv4(kIpProtoUdp, udp(5, 6, filler(300)))});
    whole[14 + 20 + 8 + 200] ^= 0xff;  // corrupt a byte that the capture cut away
    const Bytes cut(whole.begin(), whole.begin() + 100);
    const auto wire = static_cast<uint32_t>(whole.size());
    ASSERT_EQ(h.decode(cut, kLinkEthernet, wire), Verdict::kPacket);
    EXPECT_EQ(h.packet().payload.size(), 100u - 42u);
    EXPECT_EQ(h.stats().checksum_bad_udp.load(), 0u);
    Bytes bad_header = cut;
    bad_header[14 + 8] ^= 0x01;  // TTL: the IPv4 header is whole, so it is still checked
    EXPECT_EQ(h.decode(bad_header, kLinkEthernet, wire), Verdict::kPacket);
    EXPECT_EQ(h.stats().checksum_bad_ipv4.load(), 1u);
}

TEST(Ip, Ipv6ExtensionHeadersAreWalked) {
    Harness h;
    // hop-by-hop (8) -> destination options (16) -> routing (8, no segments left) -> AH (24)
    const Bytes l4 = udp(4000, 5000, {1, 2, 3});
    const Bytes ext =
        cat({ext_header(60, 8), ext_header(43, 16), ext_header(51, 8), ah_header(kIpProtoUdp)});
    Ipv6Spec s;
    s.l4_at = ext.size();
    s.l4_proto = kIpProtoUdp;
    ASSERT_EQ(h.decode(cat({ether(0x86dd), ipv6(0, cat({ext, l4}), s)})), Verdict::kPacket);
    EXPECT_EQ(h.packet().ip_proto, kIpProtoUdp);
    EXPECT_EQ(h.packet().dst_port, 5000);
    EXPECT_EQ(payload_of(h.packet()), (Bytes{1, 2, 3}));
    EXPECT_EQ(h.packet().ip.size(), 40 + ext.size() + l4.size());
}

TEST(Ip, Ipv6ExtensionHeaderLimits) {
    Harness h;
    Bytes eight;
    for (int i = 0; i < 7; ++i) {
        eight = cat({eight, ext_header(60, 8)});
    }
    Bytes nine = cat({eight, ext_header(60, 8)});
    eight = cat({eight, ext_header(59, 8)});  // no next header
    nine = cat({nine, ext_header(59, 8)});
    ASSERT_EQ(h.decode(cat({ether(0x86dd), ipv6(60, eight)})), Verdict::kPacket);
    EXPECT_EQ(h.packet().ip_proto, 59);
    EXPECT_TRUE(h.packet().payload.empty());
    EXPECT_EQ(h.decode(cat({ether(0x86dd), ipv6(60, nine)})), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTooManyIpv6ExtHeaders);

    Bytes short_ext = ext_header(6, 16);
    short_ext.resize(12);  // says 16 bytes, 12 present
    EXPECT_EQ(h.decode(cat({ether(0x86dd), ipv6(0, short_ext)})), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedIpv6ExtHeader);
}

TEST(Ip, Ipv6HeaderErrors) {
    Harness h;
    const Bytes ip = ipv6(kIpProtoUdp, udp(1, 2));
    EXPECT_EQ(h.decode(Bytes(ip.begin(), ip.begin() + 39), kLinkIpv6), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedIpv6);
    Bytes bad = ip;
    put16(bad, 4, 9);  // payload length beyond the frame
    EXPECT_EQ(h.decode(bad, kLinkIpv6), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv6PayloadLength);
    // Trailing bytes beyond the payload length are not part of the packet.
    ASSERT_EQ(h.decode(cat({ip, Bytes(7, 0xaa)}), kLinkIpv6), Verdict::kPacket);
    EXPECT_EQ(h.packet().ip.size(), ip.size());
}

TEST(Ip, UdpLengthChecks) {
    Harness h;
    Bytes ip = ipv4(kIpProtoUdp, udp(1, 2, filler(10)));
    Bytes bad = ip;
    put16(bad, 20 + 4, 7);  // UDP length below its header
    ASSERT_EQ(h.decode(bad, kLinkIpv4), Verdict::kPacket);
    expect_ip_only(h, kIpProtoUdp);
    bad = ip;
    put16(bad, 20 + 4, 19);  // beyond the IP payload
    ASSERT_EQ(h.decode(bad, kLinkIpv4), Verdict::kPacket);
    expect_ip_only(h, kIpProtoUdp);
    ASSERT_EQ(h.decode(ipv4(kIpProtoUdp, Bytes(7, 0)), kLinkIpv4), Verdict::kPacket);
    expect_ip_only(h, kIpProtoUdp);
    EXPECT_EQ(h.stats().l4_malformed.load(), 3u);
    EXPECT_EQ(h.stats().dropped_total(), 0u);
    // A good datagram afterwards is whole again.
    ASSERT_EQ(h.decode(ip, kLinkIpv4), Verdict::kPacket);
    EXPECT_FALSE(h.packet().l4_malformed);
    EXPECT_EQ(h.packet().dst_port, 2);
}

TEST(Ip, TcpHeaderErrors) {
    Harness h(no_checksums());
    Bytes seg = tcp(1, 2, 3, 4, kTcpAck);
    seg[12] = 0x40;  // data offset 4
    ASSERT_EQ(h.decode(ipv4(kIpProtoTcp, seg), kLinkIpv4), Verdict::kPacket);
    expect_ip_only(h, kIpProtoTcp);
    EXPECT_EQ(h.packet().src, core::IpAddress::v4_from(kSrc4.data()));
    EXPECT_EQ(h.packet().tcp_seq, 0u);
    seg[12] = 0x60;  // data offset 6 with no options present
    ASSERT_EQ(h.decode(ipv6(kIpProtoTcp, seg), kLinkIpv6), Verdict::kPacket);
    expect_ip_only(h, kIpProtoTcp);
    EXPECT_TRUE(h.packet().is_v6());
    ASSERT_EQ(h.decode(ipv4(kIpProtoTcp, Bytes(19, 0)), kLinkIpv4), Verdict::kPacket);
    expect_ip_only(h, kIpProtoTcp);
    EXPECT_EQ(h.stats().l4_malformed.load(), 3u);
    EXPECT_EQ(h.stats().decoded.load(), 3u);
    EXPECT_TRUE(h.balanced());
}

TEST(Ip, IcmpAndIcmpv6) {
    Harness h;
    ASSERT_EQ(h.decode(cat({ether(0x0800), ipv4(kIpProtoIcmp, icmp(8, 0, {'p', 'i', 'n', 'g'}))})),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().icmp_type, 8);
    EXPECT_EQ(h.packet().icmp_code, 0);
    EXPECT_EQ(h.packet().src_port, 0);
    EXPECT_EQ(payload_of(h.packet()), (Bytes{'p', 'i', 'n', 'g'}));

    ASSERT_EQ(h.decode(cat({ether(0x86dd), ipv6(kIpProtoIcmpv6, icmpv6(1, 4, filler(48)))})),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().icmp_type, 1);
    EXPECT_EQ(h.packet().icmp_code, 4);
    EXPECT_EQ(payload_of(h.packet()), filler(48));

    ASSERT_EQ(h.decode(ipv4(kIpProtoIcmp, Bytes(7, 0)), kLinkIpv4), Verdict::kPacket);
    expect_ip_only(h, kIpProtoIcmp);
    ASSERT_EQ(h.decode(ipv6(kIpProtoIcmpv6, Bytes(7, 0)), kLinkIpv6), Verdict::kPacket);
    expect_ip_only(h, kIpProtoIcmpv6);
}

TEST(Ip, OtherProtocolsCarryTheirPayload) {
    Harness h;
    const Bytes esp = filler(40);
    ASSERT_EQ(h.decode(ipv4(50, esp), kLinkIpv4), Verdict::kPacket);
    EXPECT_EQ(h.packet().ip_proto, 50);
    EXPECT_EQ(payload_of(h.packet()), esp);
    ASSERT_EQ(h.decode(ipv6(103, esp), kLinkIpv6), Verdict::kPacket);  // PIM
    EXPECT_EQ(h.packet().ip_proto, 103);
    EXPECT_EQ(h.packet().src_port, 0);
    EXPECT_EQ(payload_of(h.packet()), esp);
}

TEST(Ip, SctpPortsAndChunks) {
    Harness h;
    const Bytes chunks = filler(20);
    const Bytes common = {
        0x00, 0x07,              // source port 7
        0x13, 0x88,              // destination port 5000
        0x01, 0x02, 0x03, 0x04,  // verification tag
        0xde, 0xad, 0xbe, 0xef,  // CRC32c: not checked
    };
    ASSERT_EQ(h.decode(ipv4(kIpProtoSctp, cat({common, chunks})), kLinkIpv4), Verdict::kPacket);
    EXPECT_EQ(h.packet().ip_proto, kIpProtoSctp);
    EXPECT_EQ(h.packet().src_port, 7);
    EXPECT_EQ(h.packet().dst_port, 5000);
    EXPECT_EQ(payload_of(h.packet()), chunks);
    EXPECT_FALSE(h.packet().l4_malformed);
    ASSERT_EQ(h.decode(ipv6(kIpProtoSctp, Bytes(common.begin(), common.begin() + 11)), kLinkIpv6),
              Verdict::kPacket);
    expect_ip_only(h, kIpProtoSctp);
}

// ---- checksums ----

struct ChecksumCase {
    const char* name;
    Bytes frame;  // Ethernet
    size_t corrupt_at;
    bool drops;  // only TCP: Suricata keeps such segments out of the stream
    core::Counter DecodeStats::*counter;
};

std::vector<ChecksumCase> checksum_cases() {
    return {
        {"ipv4", cat({ether(0x0800), ipv4(kIpProtoUdp, udp(1, 2, {9}))}), 14 + 8, false,
         &DecodeStats::checksum_bad_ipv4},
        {"tcp4", cat({ether(0x0800), ipv4(kIpProtoTcp, tcp(1, 2, 3, 4, kTcpAck, {'z'}))}),
         14 + 20 + 20, true, &DecodeStats::checksum_bad_tcp},
        {"tcp6", cat({ether(0x86dd), ipv6(kIpProtoTcp, tcp(1, 2, 3, 4, kTcpAck, {'z'}))}),
         14 + 40 + 4, true, &DecodeStats::checksum_bad_tcp},
        {"udp4", cat({ether(0x0800), ipv4(kIpProtoUdp, udp(1, 2, filler(33)))}), 14 + 20 + 8 + 32,
         false, &DecodeStats::checksum_bad_udp},
        {"udp6", cat({ether(0x86dd), ipv6(kIpProtoUdp, udp(1, 2, filler(33)))}), 14 + 40 + 1, false,
         &DecodeStats::checksum_bad_udp},
        {"icmp", cat({ether(0x0800), ipv4(kIpProtoIcmp, icmp(0, 0, {1, 2, 3}))}), 14 + 20 + 10,
         false, &DecodeStats::checksum_bad_icmp},
        {"icmpv6", cat({ether(0x86dd), ipv6(kIpProtoIcmpv6, icmpv6(128, 0, {1, 2, 3}))}),
         14 + 40 + 9, false, &DecodeStats::checksum_bad_icmpv6},
    };
}

TEST(Checksum, BadIsCountedOnlyTcpDrops) {
    for (const ChecksumCase& c : checksum_cases()) {
        Harness h;
        ASSERT_EQ(h.decode(c.frame), Verdict::kPacket) << c.name;
        EXPECT_EQ((h.stats().*c.counter).load(), 0u) << c.name;
        Bytes bad = c.frame;
        bad[c.corrupt_at] ^= 0x20;
        if (c.drops) {
            EXPECT_EQ(h.decode(bad), Verdict::kDropped) << c.name;
            EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadTcpChecksum) << c.name;
            EXPECT_EQ(h.dropped(DropReason::kBadTcpChecksum), 1u) << c.name;
        } else {
            EXPECT_EQ(h.decode(bad), Verdict::kPacket) << c.name;
            EXPECT_EQ(h.stats().dropped_total(), 0u) << c.name;
        }
        EXPECT_EQ((h.stats().*c.counter).load(), 1u) << c.name;
        EXPECT_TRUE(h.balanced()) << c.name;

        Harness off(no_checksums());
        EXPECT_EQ(off.decode(bad), Verdict::kPacket) << c.name;
        EXPECT_EQ((off.stats().*c.counter).load(), 0u) << c.name;
    }
}

// Frames [0, sample) of a checksum_auto run: `bad` of them TCP with a broken checksum.
uint64_t run_checksum_sample(Harness& h, uint64_t bad) {
    const Bytes good = cat({ether(0x0800), ipv4(kIpProtoTcp, tcp(1, 2, 3, 4, kTcpAck, {'z'}))});
    Bytes broken = good;
    broken[14 + 20 + 16] ^= 0x01;
    uint64_t dropped = 0;
    for (uint64_t i = 0; i < kChecksumSampleFrames; ++i) {
        if (h.decode(i < bad ? broken : good) == Verdict::kDropped) {
            ++dropped;
        }
    }
    return dropped;
}

TEST(Checksum, AutoModeSwitchesOffWhenOffloadingShows) {
    DecodeConfig c;
    c.checksum_auto = true;
    Bytes broken = cat({ether(0x0800), ipv4(kIpProtoTcp, tcp(1, 2, 3, 4, kTcpAck, {'z'}))});
    broken[14 + 20 + 16] ^= 0x01;
    // 101 of 1000 bad: more than one in ten, so validation stops after the sample.
    Harness off(c);
    EXPECT_EQ(run_checksum_sample(off, 101), 101u);
    EXPECT_EQ(off.stats().checksum_auto_off.load(), 1u);
    EXPECT_EQ(off.decode(broken), Verdict::kPacket);
    EXPECT_EQ(off.stats().checksum_bad_tcp.load(), 101u);
    // 100 of 1000: validation stays on.
    Harness on(c);
    EXPECT_EQ(run_checksum_sample(on, 100), 100u);
    EXPECT_EQ(on.stats().checksum_auto_off.load(), 0u);
    EXPECT_EQ(on.decode(broken), Verdict::kDropped);
    EXPECT_EQ(on.stats().checksum_bad_tcp.load(), 101u);
    // Without checksum_auto every bad segment is dropped, however many.
    Harness all;
    EXPECT_EQ(run_checksum_sample(all, 500), 500u);
    EXPECT_EQ(all.decode(broken), Verdict::kDropped);
    EXPECT_EQ(all.stats().checksum_auto_off.load(), 0u);
    EXPECT_TRUE(all.balanced());
}

TEST(Checksum, ZeroUdpChecksumMeansNoneOverIpv4Only) {
    Harness h;
    Ipv4Spec s4;
    s4.fix_l4 = false;
    EXPECT_EQ(h.decode(ipv4(kIpProtoUdp, udp(1, 2, {7, 7}), s4), kLinkIpv4), Verdict::kPacket);
    Ipv6Spec s6;
    s6.fix_l4 = false;
    EXPECT_EQ(h.stats().checksum_bad_udp.load(), 0u);
    EXPECT_EQ(h.decode(ipv6(kIpProtoUdp, udp(1, 2, {7, 7}), s6), kLinkIpv6), Verdict::kPacket);
    EXPECT_EQ(h.stats().checksum_bad_udp.load(), 1u);
    // RFC 6935 lets UDP tunnels over IPv6 send a zero checksum.
    const Bytes inner = cat({ether(0x0800), ipv4(kIpProtoUdp, udp(3, 4))});
    EXPECT_EQ(h.decode(ipv6(kIpProtoUdp, udp(40000, 4789, vxlan(1, inner)), s6), kLinkIpv6),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().tunnel_depth, 1);
}

TEST(Checksum, RoutingHeaderWithSegmentsLeftSkipsL4Check) {
    Harness h;
    Ipv6Spec s;
    s.l4_at = 24;
    s.l4_proto = kIpProtoTcp;
    s.fix_l4 = false;  // the sender used the final destination, which the decoder cannot know
    const Bytes seg = tcp(1, 2, 3, 4, kTcpSyn);
    EXPECT_EQ(h.decode(ipv6(43, cat({ext_header(6, 24, 1), seg}), s), kLinkIpv6), Verdict::kPacket);
    EXPECT_EQ(h.decode(ipv6(43, cat({ext_header(6, 24, 0), seg}), s), kLinkIpv6),
              Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadTcpChecksum);
}

// ---- reuse ----

TEST(Ip, EveryFieldIsResetBetweenFrames) {
    Harness h;
    const Bytes tcp_frame =
        cat({ether(0x8100), vlan(9, 0x0800), ipv4(kIpProtoTcp, tcp(1, 2, 3, 4, kTcpSyn, {'q'}))});
    ASSERT_EQ(h.decode(tcp_frame), Verdict::kPacket);
    ASSERT_EQ(h.packet().vlan_count, 1);
    ASSERT_EQ(h.decode(cat({ether(0x0806), arp_request()}), kLinkEthernet, 0, 42), Verdict::kArp);
    const DecodedPacket& p = h.packet();
    const DecodedPacket fresh;
    EXPECT_EQ(p.src, fresh.src);
    EXPECT_EQ(p.dst, fresh.dst);
    EXPECT_EQ(p.ip_proto, 0);
    EXPECT_EQ(p.ttl, 0);
    EXPECT_EQ(p.src_port, 0);
    EXPECT_EQ(p.dst_port, 0);
    EXPECT_EQ(p.tcp_flags, 0);
    EXPECT_EQ(p.tcp_seq, 0u);
    EXPECT_EQ(p.tcp_ack, 0u);
    EXPECT_EQ(p.tcp_window, 0);
    EXPECT_EQ(p.vlan_count, 0);
    EXPECT_EQ(p.vlan_ids[0], 0);
    EXPECT_EQ(p.tunnel_depth, 0);
    EXPECT_FALSE(p.reassembled);
    EXPECT_TRUE(p.ip.empty());
    EXPECT_TRUE(p.payload.empty());
    EXPECT_EQ(p.ts_us, 42);
    EXPECT_EQ(p.frame_index, 2u);
}

// ---- tunnels ----

Bytes inner_tcp4() {
    Ipv4Spec s;
    s.src = {172, 16, 0, 1};
    s.dst = {172, 16, 0, 2};
    return ipv4(kIpProtoTcp, tcp(2222, 22, 100, 0, kTcpSyn, {'i', 'n'}), s);
}

void expect_inner_tcp4(const DecodedPacket& p, uint8_t depth) {
    EXPECT_EQ(p.tunnel_depth, depth);
    EXPECT_EQ(p.src.to_string(), "172.16.0.1");
    EXPECT_EQ(p.dst.to_string(), "172.16.0.2");
    EXPECT_EQ(p.ip_proto, kIpProtoTcp);
    EXPECT_EQ(p.dst_port, 22);
    EXPECT_EQ(payload_of(p), (Bytes{'i', 'n'}));
    EXPECT_EQ(ip_of(p), inner_tcp4());
}

TEST(Tunnel, IpInIpAllFourCombinations) {
    Harness h;
    const Bytes inner6 = ipv6(kIpProtoUdp, udp(7, 8, {1}));
    ASSERT_EQ(h.decode(ipv4(4, inner_tcp4()), kLinkIpv4), Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 1);
    ASSERT_EQ(h.decode(ipv6(4, inner_tcp4()), kLinkIpv6), Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 1);
    ASSERT_EQ(h.decode(ipv4(41, inner6), kLinkIpv4), Verdict::kPacket);
    EXPECT_TRUE(h.packet().is_v6());
    EXPECT_EQ(h.packet().dst_port, 8);
    ASSERT_EQ(h.decode(ipv6(41, inner6), kLinkIpv6), Verdict::kPacket);
    EXPECT_TRUE(h.packet().is_v6());
    EXPECT_EQ(h.packet().tunnel_depth, 1);
}

TEST(Tunnel, DepthLimit) {
    Harness h;
    Bytes three = inner_tcp4();
    for (int i = 0; i < 3; ++i) {
        three = ipv4(4, three);
    }
    ASSERT_EQ(h.decode(three, kLinkIpv4), Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 3);
    EXPECT_EQ(h.decode(ipv4(4, three), kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTooManyTunnelLayers);
}

TEST(Tunnel, GreVersion0WithOptionalFields) {
    Harness h;
    // checksum + reserved, key, sequence: all present.
    const Bytes options = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05};
    const Bytes outer = ipv4(47, gre(0xb000, 0x0800, options, inner_tcp4()));
    ASSERT_EQ(h.decode(cat({ether(0x0800), outer})), Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 1);
    // Plain GRE carrying IPv6.
    ASSERT_EQ(h.decode(ipv4(47, gre(0x0000, 0x86dd, {}, ipv6(kIpProtoUdp, udp(1, 2)))), kLinkIpv4),
              Verdict::kPacket);
    EXPECT_TRUE(h.packet().is_v6());
    // RFC 1701 routing: checksum/offset, one source route entry, then the null entry.
    const Bytes routed = {
        0x00, 0x00, 0x00, 0x00,  // checksum, offset
        0x08, 0x00, 0x00, 0x04,  // SRE: family IPv4, offset, length 4
        10,   0,    0,    1,     // route
        0x00, 0x00, 0x00, 0x00,  // null SRE
    };
    ASSERT_EQ(h.decode(ipv4(47, gre(0x4000, 0x0800, routed, inner_tcp4())), kLinkIpv4),
              Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 1);
}

TEST(Tunnel, GreTransparentEthernetBridging) {
    Harness h;
    const Bytes inner_frame = cat({ether(0x8100), vlan(33, 0x0800), inner_tcp4()});
    ASSERT_EQ(h.decode(ipv6(47, gre(0x2000, 0x6558, {0, 0, 0, 9}, inner_frame)), kLinkIpv6),
              Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 1);
    EXPECT_EQ(h.packet().vlan_ids[0], 33);
}

TEST(Tunnel, GreErrorsAndUnknownPayloads) {
    Harness h;
    // Malformed GRE headers leave the outer IP packet, described at the IP layer.
    ASSERT_EQ(h.decode(ipv4(47, {0x00, 0x00, 0x08}), kLinkIpv4), Verdict::kPacket);
    expect_ip_only(h, 47);
    ASSERT_EQ(h.decode(ipv4(47, gre(0x3000, 0x0800, {0, 0, 0, 1}, {})), kLinkIpv4),
              Verdict::kPacket);  // key present, sequence missing
    expect_ip_only(h, 47);
    ASSERT_EQ(h.decode(ipv4(47, gre(0x0002, 0x0800, {}, inner_tcp4())), kLinkIpv4),
              Verdict::kPacket);  // no GRE version 2
    expect_ip_only(h, 47);
    ASSERT_EQ(h.decode(ipv4(47, gre(0x2001, 0x0800, Bytes(4, 0), inner_tcp4())), kLinkIpv4),
              Verdict::kPacket);  // version 1 carries PPP only
    expect_ip_only(h, 47);
    EXPECT_EQ(h.stats().dropped_total(), 0u);
    // A payload type we do not peel: the GRE packet itself is what we describe.
    ASSERT_EQ(h.decode(ipv4(47, gre(0x0000, 0x88be, {}, filler(30))), kLinkIpv4), Verdict::kPacket);
    EXPECT_EQ(h.packet().ip_proto, 47);
    EXPECT_EQ(h.packet().tunnel_depth, 0);
    EXPECT_EQ(payload_of(h.packet()), filler(30));
}

TEST(Tunnel, GreCarryingPpp) {
    Harness h;
    // GRE version 0 with PPP inside, as in suricata-verify's bug-6942 capture.
    ASSERT_EQ(h.decode(ipv4(47, gre(0x0000, 0x880b, {}, ppp(0x0021, inner_tcp4(), false, true))),
                       kLinkIpv4),
              Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 1);
    // PPTP: enhanced GRE (version 1) with key, sequence and acknowledgement numbers.
    const Bytes enhanced = {
        0x00, 0x2c, 0x12, 0x34,  // payload length, call id
        0x00, 0x00, 0x00, 0x05,  // sequence number
        0x00, 0x00, 0x00, 0x04,  // acknowledgement number
    };
    ASSERT_EQ(
        h.decode(ipv4(47, gre(0x3081, 0x880b, enhanced, ppp(0x0021, inner_tcp4(), true, false))),
                 kLinkIpv4),
        Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 1);
    // Acknowledgement only (no payload is allowed then, but the header still parses).
    ASSERT_EQ(h.decode(ipv4(47, gre(0x2081, 0x880b, Bytes(8, 0), {})), kLinkIpv4),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().tunnel_depth, 0);
    EXPECT_EQ(h.packet().ip_proto, 47);
    // PPP control traffic in the tunnel: the GRE packet itself is described.
    ASSERT_EQ(
        h.decode(ipv4(47, gre(0x3001, 0x880b, Bytes(8, 0), ppp(0xc021, filler(6), true, false))),
                 kLinkIpv4),
        Verdict::kPacket);
    EXPECT_EQ(h.packet().tunnel_depth, 0);
    EXPECT_EQ(h.packet().ip_proto, 47);
    EXPECT_EQ(h.stats().dropped_total(), 0u);
}

TEST(Tunnel, VxlanToInnerEthernet) {
    Harness h;
    const Bytes inner_frame = cat({ether(0x0800), inner_tcp4()});
    const Bytes f =
        cat({ether(0x0800), ipv4(kIpProtoUdp, udp(51000, 4789, vxlan(0x123456, inner_frame)))});
    ASSERT_EQ(h.decode(f), Verdict::kPacket);
    expect_inner_tcp4(h.packet(), 1);
    EXPECT_EQ(h.packet().src_port, 2222);  // inner ports, not the outer UDP ones

    // Too short for a VXLAN header: plain UDP to port 4789.
    ASSERT_EQ(h.decode(cat({ether(0x0800), ipv4(kIpProtoUdp, udp(1, 4789, {0x08, 0, 0}))})),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().tunnel_depth, 0);
    EXPECT_EQ(payload_of(h.packet()), (Bytes{0x08, 0, 0}));
    // Without the I flag it is not VXLAN: plain UDP to port 4789.
    ASSERT_EQ(h.decode(cat(
                  {ether(0x0800), ipv4(kIpProtoUdp, udp(1, 4789, vxlan(5, inner_frame, 0x00)))})),
              Verdict::kPacket);
    EXPECT_EQ(h.packet().tunnel_depth, 0);
    EXPECT_EQ(h.packet().dst_port, 4789);
}

TEST(Tunnel, NonIpInsideTunnelDescribesTheOuterPacket) {
    Harness h;
    const Bytes inner_arp = cat({ether(0x0806), arp_request()});
    const Bytes udp_part = udp(51000, 4789, vxlan(7, inner_arp));
    ASSERT_EQ(h.decode(cat({ether(0x0800), ipv4(kIpProtoUdp, udp_part)})), Verdict::kPacket);
    EXPECT_EQ(h.packet().tunnel_depth, 0);
    EXPECT_EQ(h.packet().dst_port, 4789);
    EXPECT_EQ(h.packet().src, core::IpAddress::v4_from(kSrc4.data()));
    EXPECT_EQ(h.packet().payload.size(), udp_part.size() - 8);
    EXPECT_EQ(h.stats().non_ip.load(), 0u);
}

TEST(Tunnel, MalformedInnerPacketDropsTheFrame) {
    Harness h;
    Bytes inner = inner_tcp4();
    inner[0] = 0x44;  // inner IPv4 header length 16
    EXPECT_EQ(h.decode(ipv4(4, inner), kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv4Ihl);
    EXPECT_EQ(h.decode(ipv4(41, inner_tcp4()), kLinkIpv4), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadIpv6Version);
}

}  // namespace
}  // namespace sensor::decode::test
