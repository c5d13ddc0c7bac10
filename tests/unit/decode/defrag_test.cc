// IPv4/IPv6 fragment reassembly through the Decoder: order, overlap (first copy wins),
// duplicates, timeout, memory cap, datagram cap, malformed fragments, nesting in tunnels.

#include <gtest/gtest.h>

#include "sensor/core/process_memory.h"
#include "tests/unit/decode/packet_builder.h"

namespace sensor::decode::test {
namespace {

constexpr int64_t kSecond = 1'000'000;

// A whole UDP-over-IPv4 datagram, never sent as is: fragments are cut from it.
Bytes datagram4(size_t payload_len, uint16_t id = 0x0777, uint8_t seed = 0) {
    Ipv4Spec s;
    s.id = id;
    s.frag = 0;  // what the rebuilt header must say again
    return ipv4(kIpProtoUdp, udp(3000, 4000, filler(payload_len, seed)), s);
}

Bytes eth4(const Bytes& ip) { return cat({ether(0x0800), ip}); }

TEST(Defrag, Ipv4InOrder) {
    Harness h;
    const Bytes whole = datagram4(3000);  // 3008 bytes of UDP
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 0, 1480, true))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.packet().src, core::IpAddress::v4_from(kSrc4.data()));
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 1480, 1480, true))), Verdict::kFragmentHeld);
    const Bytes last = eth4(ipv4_fragment(whole, 2960, 48, false));
    ASSERT_EQ(h.decode(last), Verdict::kPacket);
    const DecodedPacket& p = h.packet();
    EXPECT_TRUE(p.reassembled);
    EXPECT_EQ(ip_of(p), whole);  // header fixed up: total length, no MF, checksum
    EXPECT_EQ(p.src_port, 3000);
    EXPECT_EQ(p.dst_port, 4000);
    EXPECT_EQ(payload_of(p), filler(3000));
    EXPECT_EQ(p.frame_index, 3u);
    EXPECT_EQ(h.stats().fragments_held.load(), 2u);
    EXPECT_EQ(h.stats().fragments_reassembled.load(), 1u);
    EXPECT_EQ(h.stats().fragment_overlaps.load(), 0u);
    EXPECT_EQ(h.stats().decoded.load(), 3u);
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, Ipv4OutOfOrder) {
    Harness h;
    const Bytes whole = datagram4(2000);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 1600, 408, false))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 800, 800, true))), Verdict::kFragmentHeld);
    ASSERT_EQ(h.decode(eth4(ipv4_fragment(whole, 0, 800, true))), Verdict::kPacket);
    EXPECT_EQ(ip_of(h.packet()), whole);
    EXPECT_EQ(payload_of(h.packet()), filler(2000));
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, RebuiltPacketCarriesTheFirstFragmentsLinkBytes) {
    Harness h;
    const Bytes whole = datagram4(2000);
    // The first fragment under a VLAN tag, the others without: the first one's link counts.
    const Bytes tagged = cat({ether(0x8100), vlan(6, 0x0800)});
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 1600, 408, false))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(cat({tagged, ipv4_fragment(whole, 0, 800, true)})), Verdict::kFragmentHeld);
    ASSERT_EQ(h.decode(eth4(ipv4_fragment(whole, 800, 800, true))), Verdict::kPacket);
    const DecodedPacket& p = h.packet();
    EXPECT_EQ(Bytes(p.link.begin(), p.link.end()), tagged);
    EXPECT_EQ(p.link.data() + p.link.size(), p.ip.data());  // one contiguous packet
    EXPECT_EQ(ip_of(p), whole);
    // IPv6 over PPP, as suricata-verify's bug-6887 capture: the link is the protocol byte.
    const Bytes v6 = ipv6(kIpProtoUdp, udp(7, 8, filler(100)));
    EXPECT_EQ(h.decode(cat({{0x57}, ipv6_fragment(v6, 0, 0, 56, true, 9)}), kLinkPpp),
              Verdict::kFragmentHeld);
    ASSERT_EQ(h.decode(cat({{0x57}, ipv6_fragment(v6, 0, 56, 52, false, 9)}), kLinkPpp),
              Verdict::kPacket);
    EXPECT_EQ(Bytes(h.packet().link.begin(), h.packet().link.end()), (Bytes{0x57}));
    EXPECT_EQ(h.packet().link.data() + 1, h.packet().ip.data());
    EXPECT_EQ(ip_of(h.packet()), v6);
}

TEST(Defrag, OverlapFirstCopyWins) {
    const Bytes whole = datagram4(64);
    Bytes forged = whole;
    for (size_t i = 20 + 16; i < 20 + 32; ++i) {
        forged[i] ^= 0x5a;
    }
    // Original [0,32), then forged [16,48) overlapping [16,32), then the original tail.
    {
        Harness h;
        EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 0, 32, true))), Verdict::kFragmentHeld);
        EXPECT_EQ(h.decode(eth4(ipv4_fragment(forged, 16, 32, true))), Verdict::kFragmentHeld);
        ASSERT_EQ(h.decode(eth4(ipv4_fragment(whole, 48, 24, false))), Verdict::kPacket);
        EXPECT_EQ(ip_of(h.packet()), whole);  // and so the UDP checksum held
        EXPECT_EQ(h.stats().fragment_overlaps.load(), 1u);
        EXPECT_TRUE(h.balanced());
    }
    // The forged copy first: its bytes win, and the UDP checksum then fails.
    {
        Harness h;
        EXPECT_EQ(h.decode(eth4(ipv4_fragment(forged, 16, 32, true))), Verdict::kFragmentHeld);
        EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 0, 32, true))), Verdict::kFragmentHeld);
        EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 48, 24, false))), Verdict::kPacket);
        EXPECT_NE(ip_of(h.packet()), whole);
        EXPECT_EQ(h.stats().fragments_reassembled.load(), 1u);
        EXPECT_EQ(h.stats().checksum_bad_udp.load(), 1u);
        EXPECT_TRUE(h.balanced());
    }
    {
        DecodeConfig c;
        c.validate_checksums = false;
        Harness h(c);
        h.decode(eth4(ipv4_fragment(forged, 16, 32, true)));
        h.decode(eth4(ipv4_fragment(whole, 0, 32, true)));
        ASSERT_EQ(h.decode(eth4(ipv4_fragment(whole, 48, 24, false))), Verdict::kPacket);
        EXPECT_EQ(ip_of(h.packet()), forged);
    }
}

TEST(Defrag, DuplicateFragmentDrops) {
    Harness h;
    const Bytes whole = datagram4(100);
    const Bytes first = eth4(ipv4_fragment(whole, 0, 64, true));
    EXPECT_EQ(h.decode(first), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(first), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kFragmentOverlap);
    EXPECT_EQ(h.stats().fragment_overlaps.load(), 1u);
    ASSERT_EQ(h.decode(eth4(ipv4_fragment(whole, 64, 44, false))), Verdict::kPacket);
    EXPECT_EQ(ip_of(h.packet()), whole);
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, KeyIncludesProtocolAndId) {
    DecodeConfig c;
    c.validate_checksums = false;
    Harness h(c);
    const Bytes whole = datagram4(100);
    Bytes other_proto = whole;
    other_proto[9] = kIpProtoTcp;
    const Bytes other_id = datagram4(100, 0x0778);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 0, 64, true))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(other_proto, 64, 44, false))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(other_id, 64, 44, false))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 64, 44, false))), Verdict::kPacket);
}

TEST(Defrag, TimeoutOnPacketTime) {
    DecodeConfig c;
    c.defrag_timeout_us = 2 * kSecond;
    Harness h(c);
    const Bytes whole = datagram4(100);
    const Bytes first = eth4(ipv4_fragment(whole, 0, 64, true));
    const Bytes second = eth4(ipv4_fragment(whole, 64, 44, false));
    const int64_t t0 = Harness::kT0;
    EXPECT_EQ(h.decode(first, kLinkEthernet, 0, t0), Verdict::kFragmentHeld);
    // Any frame moves packet time on, fragment or not.
    EXPECT_EQ(h.decode(cat({ether(0x0806), arp_request()}), kLinkEthernet, 0, t0 + 3 * kSecond),
              Verdict::kArp);
    EXPECT_EQ(h.stats().fragments_expired.load(), 1u);
    EXPECT_EQ(h.decode(second, kLinkEthernet, 0, t0 + 3 * kSecond), Verdict::kFragmentHeld);
    // Within the timeout of the new datagram it completes.
    ASSERT_EQ(h.decode(first, kLinkEthernet, 0, t0 + 4 * kSecond), Verdict::kPacket);
    EXPECT_EQ(ip_of(h.packet()), whole);
    EXPECT_EQ(h.stats().fragments_expired.load(), 1u);
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, MemcapEvictsTheOldestDatagram) {
    DecodeConfig c;
    c.defrag_memcap_bytes = 4 * 512;  // four pages
    Harness h(c);
    const Bytes a = datagram4(2000, 1);
    const Bytes b = datagram4(2000, 2);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(a, 0, 1024, true))), Verdict::kFragmentHeld);  // 2 pages
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(b, 0, 1024, true))), Verdict::kFragmentHeld);  // 2 pages
    EXPECT_EQ(h.stats().fragments_expired.load(), 0u);
    // b's tail needs two more pages: a, the oldest, goes.
    ASSERT_EQ(h.decode(eth4(ipv4_fragment(b, 1024, 984, false))), Verdict::kPacket);
    EXPECT_EQ(ip_of(h.packet()), b);
    EXPECT_EQ(h.stats().fragments_expired.load(), 1u);
    // a's tail now starts a datagram of its own instead of completing.
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(a, 1024, 984, false))), Verdict::kFragmentHeld);
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, FragmentLargerThanMemcapDrops) {
    DecodeConfig c;
    c.defrag_memcap_bytes = 2 * 512;
    Harness h(c);
    const Bytes a = datagram4(3000, 1);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(a, 0, 1480, true))), Verdict::kDropped);  // 3 pages
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kFragmentMemcap);
    EXPECT_EQ(h.dropped(DropReason::kFragmentMemcap), 1u);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(a, 0, 8, true))), Verdict::kFragmentHeld);
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, DatagramCapEvictsTheOldest) {
    DecodeConfig c;
    c.defrag_max_datagrams = 2;
    Harness h(c);
    const Bytes d1 = datagram4(100, 1);
    const Bytes d2 = datagram4(100, 2);
    const Bytes d3 = datagram4(100, 3);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(d1, 0, 64, true))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(d2, 0, 64, true))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(d3, 0, 64, true))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.stats().fragments_expired.load(), 1u);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(d2, 64, 44, false))), Verdict::kPacket);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(d3, 64, 44, false))), Verdict::kPacket);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(d1, 64, 44, false))), Verdict::kFragmentHeld);

    DecodeConfig none;
    none.defrag_max_datagrams = 0;
    Harness h0(none);
    EXPECT_EQ(h0.decode(eth4(ipv4_fragment(d1, 0, 64, true))), Verdict::kDropped);
    EXPECT_EQ(h0.decoder().last_drop_reason(), DropReason::kFragmentMemcap);
}

// Caps reserve memory; what becomes resident follows the datagrams held.
TEST(Defrag, DatagramSlotsAndPagesBecomeResidentAsFragmentsNeedThem) {
    DecodeConfig c;
    c.defrag_max_datagrams = 200'000;             // slots of about 1.1 KB: 230 MB
    c.defrag_memcap_bytes = uint64_t{256} << 20;  // pages
    const uint64_t before = core::resident_bytes();
    ASSERT_GT(before, 0u);
    Harness h(c);
    for (uint16_t id = 1; id <= 1000; ++id) {
        ASSERT_EQ(h.decode(eth4(ipv4_fragment(datagram4(100, id), 0, 64, true))),
                  Verdict::kFragmentHeld);
    }
    // Other tests of the same process may have freed memory since `before`: then none grew.
    const uint64_t after = core::resident_bytes();
    const uint64_t grown = after > before ? after - before : 0;
    // The hash buckets (1 MB, written at start), 1,000 slots and 1,000 pages.
    EXPECT_LT(grown, uint64_t{48} << 20) << grown << " bytes";
    for (uint16_t id = 1; id <= 1000; ++id) {
        ASSERT_EQ(h.decode(eth4(ipv4_fragment(datagram4(100, id), 64, 44, false))),
                  Verdict::kPacket);
        EXPECT_EQ(ip_of(h.packet()), datagram4(100, id));
    }
    EXPECT_EQ(h.stats().fragments_reassembled.load(), 1000u);
    EXPECT_EQ(h.stats().fragments_expired.load(), 0u);
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, MalformedFragments) {
    Harness h;
    const Bytes whole = datagram4(200);
    // MF set with a length that is not a multiple of 8.
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 0, 60, true))), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadFragment);
    // Offset + length beyond 65535.
    Bytes far = ipv4_fragment(whole, 0, 64, false);
    put16(far, 6, 8190);  // offset 65520
    put16(far, 10, 0);
    put16(far, 10, inet_checksum(far.data(), 20));
    EXPECT_EQ(h.decode(eth4(far)), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadFragment);
    // Two last fragments that disagree on where the datagram ends.
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 128, 80, false))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 64, 72, false))), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadFragment);
    // A middle fragment reaching past the known end.
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(cat({whole, Bytes(64, 0)}), 200, 16, true))),
              Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kBadFragment);
    EXPECT_EQ(h.dropped(DropReason::kBadFragment), 4u);
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, FragmentCutBySnaplenDrops) {
    Harness h;
    const Bytes f = eth4(ipv4_fragment(datagram4(2000), 0, 1480, true));
    EXPECT_EQ(
        h.decode(Bytes(f.begin(), f.begin() + 200), kLinkEthernet, static_cast<uint32_t>(f.size())),
        Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kTruncatedFragment);
}

TEST(Defrag, ChecksumIsCheckedOnTheRebuiltDatagram) {
    Harness h;
    const Bytes whole = datagram4(300);
    Bytes middle = ipv4_fragment(whole, 64, 64, true);
    middle[20 + 10] ^= 0x01;  // payload byte: the fragment's own IPv4 header stays valid
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 0, 64, true))), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(middle)), Verdict::kFragmentHeld);
    EXPECT_EQ(h.stats().checksum_bad_udp.load(), 0u);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(whole, 128, 180, false))), Verdict::kPacket);
    EXPECT_TRUE(h.packet().reassembled);
    EXPECT_EQ(h.stats().checksum_bad_udp.load(), 1u);
    EXPECT_TRUE(h.balanced());
}

// An IPv6 packet with a hop-by-hop header (unfragmentable) and 1800 bytes of UDP data.
Bytes packet6(size_t payload_len) {
    Ipv6Spec s;
    s.l4_at = 8;
    s.l4_proto = kIpProtoUdp;
    return ipv6(0, cat({ext_header(kIpProtoUdp, 8), udp(5353, 5353, filler(payload_len, 3))}), s);
}

TEST(Defrag, Ipv6WithUnfragmentableHeaders) {
    Harness h;
    const Bytes whole = packet6(1800);  // fragmentable part: 1808 bytes
    EXPECT_EQ(h.decode(cat({ether(0x86dd), ipv6_fragment(whole, 8, 1200, 608, false, 99)})),
              Verdict::kFragmentHeld);
    EXPECT_EQ(h.packet().ip_proto, kIpProtoUdp);
    ASSERT_EQ(h.decode(cat({ether(0x86dd), ipv6_fragment(whole, 8, 0, 1200, true, 99)})),
              Verdict::kPacket);
    EXPECT_TRUE(h.packet().reassembled);
    EXPECT_EQ(ip_of(h.packet()), whole);  // fragment header gone, next header and length fixed
    EXPECT_EQ(h.packet().dst_port, 5353);
    EXPECT_EQ(payload_of(h.packet()), filler(1800, 3));
    EXPECT_TRUE(h.balanced());
}

TEST(Defrag, Ipv6KeyIsTheIdentification) {
    Harness h;
    const Bytes whole = ipv6(kIpProtoUdp, udp(1, 2, filler(100)));
    EXPECT_EQ(h.decode(ipv6_fragment(whole, 0, 0, 64, true, 1), kLinkIpv6), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(ipv6_fragment(whole, 0, 64, 44, false, 2), kLinkIpv6),
              Verdict::kFragmentHeld);
    ASSERT_EQ(h.decode(ipv6_fragment(whole, 0, 64, 44, false, 1), kLinkIpv6), Verdict::kPacket);
    EXPECT_EQ(ip_of(h.packet()), whole);
}

TEST(Defrag, Ipv6AtomicFragmentIsNotHeld) {
    Harness h;
    const Bytes whole = ipv6(kIpProtoUdp, udp(1, 2, filler(20)));
    ASSERT_EQ(h.decode(ipv6_fragment(whole, 0, 0, 28, false, 5), kLinkIpv6), Verdict::kPacket);
    EXPECT_FALSE(h.packet().reassembled);
    EXPECT_EQ(h.packet().ip_proto, kIpProtoUdp);
    EXPECT_EQ(payload_of(h.packet()), filler(20));
    EXPECT_EQ(h.stats().fragments_held.load(), 0u);
}

TEST(Defrag, TunnelInsideReassembledDatagram) {
    Harness h;
    Ipv4Spec inner_spec;
    inner_spec.src = {10, 9, 9, 1};
    const Bytes inner = ipv4(kIpProtoTcp, tcp(1, 80, 5, 6, kTcpAck, filler(500)), inner_spec);
    Ipv4Spec outer_spec;
    outer_spec.frag = 0;
    const Bytes outer = ipv4(4, inner, outer_spec);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(outer, 0, 256, true))), Verdict::kFragmentHeld);
    ASSERT_EQ(h.decode(eth4(ipv4_fragment(outer, 256, inner.size() - 256, false))),
              Verdict::kPacket);
    EXPECT_TRUE(h.packet().reassembled);
    EXPECT_EQ(h.packet().tunnel_depth, 1);
    EXPECT_EQ(h.packet().src.to_string(), "10.9.9.1");
    EXPECT_EQ(h.packet().dst_port, 80);
    EXPECT_EQ(payload_of(h.packet()), filler(500));
}

TEST(Defrag, FragmentsInsideAReassembledDatagram) {
    Harness h;
    // The inner datagram is fragmented; its tail travels in an outer datagram that is itself
    // fragmented, so one frame completes two reassemblies.
    Ipv4Spec inner_spec;
    inner_spec.src = {10, 7, 7, 7};
    inner_spec.frag = 0;
    const Bytes inner = ipv4(kIpProtoUdp, udp(9, 10, filler(600)), inner_spec);
    Ipv4Spec outer_spec;
    outer_spec.frag = 0;
    const Bytes carrier_a = ipv4(4, ipv4_fragment(inner, 0, 304, true), outer_spec);
    const Bytes carrier_b = ipv4(4, ipv4_fragment(inner, 304, 304, false), outer_spec);
    EXPECT_EQ(h.decode(eth4(carrier_a)), Verdict::kFragmentHeld);
    EXPECT_EQ(h.decode(eth4(ipv4_fragment(carrier_b, 0, 160, true))), Verdict::kFragmentHeld);
    ASSERT_EQ(h.decode(eth4(ipv4_fragment(carrier_b, 160, carrier_b.size() - 20 - 160, false))),
              Verdict::kPacket);
    EXPECT_EQ(ip_of(h.packet()), inner);
    EXPECT_EQ(h.packet().tunnel_depth, 1);
    EXPECT_EQ(h.stats().fragments_reassembled.load(), 2u);
    EXPECT_TRUE(h.balanced());
}

}  // namespace
}  // namespace sensor::decode::test
