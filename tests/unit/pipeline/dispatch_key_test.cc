// DispatchKey: frames are placed by their innermost address pair (GRE, VXLAN, IP-in-IP and
// IPv6-in-IPv6 peeled), symmetric in direction, with tunnels that carry no IP kept at the outer
// pair and outer fragments identified by datagram. FragmentSteering keeps a datagram's fragments
// on the worker its first-seen fragment chose. On real captures the key's pair is the pair of
// the packet the decoder hands to the worker.

#include "sensor/pipeline/dispatch_key.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include "capture/pcap_file_reader.h"
#include "sensor/decode/decoder.h"
#include "sensor/flow/flow_key.h"
#include "sensor/pipeline/fragment_steering.h"
#include "tunnel_frames.h"

namespace sensor::pipeline {
namespace {

using namespace test_support;

const core::IpAddress kRouterA = ip4(192, 0, 2, 1);
const core::IpAddress kRouterB = ip4(192, 0, 2, 2);
const core::IpAddress kClient = ip4(10, 50, 0, 7);
const core::IpAddress kServer = ip4(10, 60, 0, 9);

DispatchKey key_of(const Bytes& frame) {
    core::Frame f;
    f.data = frame.data();
    f.caplen = static_cast<uint32_t>(frame.size());
    f.wire_len = f.caplen;
    f.linktype = 1;  // Ethernet
    return dispatch_key(f);
}

Bytes probe(const core::IpAddress& src, const core::IpAddress& dst) {
    return udp_packet(src, dst, 40000, 53, text("probe"));
}

TEST(DispatchKey, PlainPacketsUseTheirOwnPairInBothDirections) {
    const DispatchKey there = key_of(ethernet(probe(kClient, kServer)));
    const DispatchKey back = key_of(ethernet(probe(kServer, kClient)));
    EXPECT_EQ(there.kind, DispatchKey::Kind::kPair);
    EXPECT_EQ(there.pair, address_pair_hash(kClient, kServer));
    EXPECT_EQ(back.pair, there.pair);
    EXPECT_EQ(there.tunnel_depth, 0);
    EXPECT_NE(there.pair, address_pair_hash(kClient, kRouterA));
}

TEST(DispatchKey, GreTunnelledFlowsUseTheInnerPair) {
    const DispatchKey there = key_of(gre_frame(kRouterA, kRouterB, probe(kClient, kServer)));
    const DispatchKey back = key_of(gre_frame(kRouterB, kRouterA, probe(kServer, kClient)));
    EXPECT_EQ(there.kind, DispatchKey::Kind::kPair);
    EXPECT_EQ(there.pair, address_pair_hash(kClient, kServer));
    EXPECT_EQ(back.pair, there.pair);
    EXPECT_EQ(there.tunnel_depth, 1);
    // Another conversation in the same tunnel gets its own pair.
    const DispatchKey other = key_of(gre_frame(kRouterA, kRouterB, probe(kClient, kRouterB)));
    EXPECT_NE(other.pair, there.pair);
}

TEST(DispatchKey, VxlanIpInIpAndIpv6InIpv6AreUnwrapped) {
    const Bytes inner_frame = ethernet(probe(kClient, kServer));
    const DispatchKey vxlan = key_of(vxlan_frame(kRouterA, kRouterB, inner_frame));
    EXPECT_EQ(vxlan.pair, address_pair_hash(kClient, kServer));
    EXPECT_EQ(vxlan.tunnel_depth, 1);

    const DispatchKey ipip = key_of(ipip_frame(kRouterA, kRouterB, probe(kClient, kServer)));
    EXPECT_EQ(ipip.pair, address_pair_hash(kClient, kServer));

    const DispatchKey six = key_of(ipv6_in_ipv6_frame(ip6(1), ip6(2), probe(ip6(10), ip6(20))));
    EXPECT_EQ(six.pair, address_pair_hash(ip6(10), ip6(20)));
    EXPECT_EQ(six.tunnel_depth, 1);

    // GRE inside VXLAN: two layers.
    const Bytes nested =
        vxlan_frame(kRouterA, kRouterB, gre_frame(kRouterB, kRouterA, probe(kClient, kServer)));
    const DispatchKey two = key_of(nested);
    EXPECT_EQ(two.pair, address_pair_hash(kClient, kServer));
    EXPECT_EQ(two.tunnel_depth, 2);
}

TEST(DispatchKey, VlanTagsInFrontOfTheTunnelAreSkipped) {
    Bytes tagged = gre_frame(kRouterA, kRouterB, probe(kClient, kServer));
    const Bytes tag = {0x81, 0x00, 0x00, 0x64};  // 802.1Q, VLAN 100
    tagged.insert(tagged.begin() + 12, tag.begin(), tag.end());
    EXPECT_EQ(key_of(tagged).pair, address_pair_hash(kClient, kServer));
}

TEST(DispatchKey, TunnelsThatCarryNoIpKeepTheOuterPair) {
    const uint64_t outer = address_pair_hash(kRouterA, kRouterB);
    // ERSPAN (0x88be) is not unwrapped by the decoder.
    EXPECT_EQ(key_of(gre_frame(kRouterA, kRouterB, probe(kClient, kServer), 0x88be)).pair, outer);
    // ARP over VXLAN: the decoder analyses the outer packet.
    Bytes arp(28, 0);
    EXPECT_EQ(key_of(vxlan_frame(kRouterA, kRouterB, ethernet(arp, 0x0806))).pair, outer);
    // A GRE header cut short.
    const Bytes cut = ethernet(ipv4_header(kRouterA, kRouterB, 47, 2));
    EXPECT_EQ(key_of(Bytes(cut.begin(), cut.begin() + 14 + 22)).pair, outer);
}

TEST(DispatchKey, FlowsAreKeyedByTheirPortsInBothDirections) {
    const DispatchKey there = key_of(ethernet(udp_packet(kClient, kServer, 40000, 53, text("q"))));
    const DispatchKey back = key_of(ethernet(udp_packet(kServer, kClient, 53, 40000, text("a"))));
    EXPECT_NE(there.flow, 0u);
    EXPECT_EQ(back.flow, there.flow);
    const DispatchKey other = key_of(ethernet(udp_packet(kClient, kServer, 40001, 53, text("q"))));
    EXPECT_EQ(other.pair, there.pair);
    EXPECT_NE(other.flow, there.flow) << "another flow of the same pair";
    // Tunnelled: the inner flow's.
    const DispatchKey inner =
        key_of(gre_frame(kRouterA, kRouterB, udp_packet(kClient, kServer, 40000, 53, text("q"))));
    EXPECT_EQ(inner.flow, there.flow);
    // No ports: ICMP goes by its pair alone.
    const Bytes echo = ethernet(concat(ipv4_header(kClient, kServer, 1, 8), Bytes(8, 0)));
    EXPECT_EQ(key_of(echo).flow, 0u);
    EXPECT_EQ(key_of(echo).pair, there.pair);
}

bool same_key(const DispatchKey& a, const DispatchKey& b) {
    return a.kind == b.kind && a.pair == b.pair && a.datagram == b.datagram &&
           a.first_fragment == b.first_fragment && a.flow == b.flow &&
           a.tunnel_depth == b.tunnel_depth;
}

// dispatch_key() keys plain Ethernet/IPv4/TCP-or-UDP frames without walking their layers; it
// must key every frame as the walk does. Each byte of the headers of a UDP, a TCP and a VXLAN
// frame is set to values that take the frame off the shortcut or change what it reads (a
// version, header length, total length, fragment field, protocol, UDP length, port, TCP data
// offset), and each frame is cut at every length.
TEST(DispatchKey, TheShortcutKeysEveryFrameAsTheWalkDoes) {
    const Bytes tcp_ip = concat(ipv4_header(kClient, kServer, 6, 24), Bytes(24, 0));
    Bytes tcp = ethernet(tcp_ip);
    put16(tcp, 34, 40000);
    put16(tcp, 36, 443);
    tcp[46] = 0x50;  // data offset: 20 bytes
    const std::vector<Bytes> frames = {
        ethernet(udp_packet(kClient, kServer, 40000, 53, text("plain udp"))), tcp,
        vxlan_frame(kRouterA, kRouterB, ethernet(udp_packet(kClient, kServer, 1, 2, text("v"))))};
    size_t compared = 0;
    size_t mismatches = 0;
    auto check = [&](const Bytes& bytes, size_t caplen) {
        core::Frame f;
        f.data = bytes.data();
        f.caplen = static_cast<uint32_t>(caplen);
        f.wire_len = static_cast<uint32_t>(bytes.size());
        f.linktype = 1;
        for (bool with_flow : {false, true}) {
            ++compared;
            if (!same_key(dispatch_key(f, with_flow), dispatch_key_walked(f, with_flow))) {
                ++mismatches;
                ADD_FAILURE() << "caplen " << caplen << ", with flow " << with_flow;
            }
        }
    };
    for (const Bytes& frame : frames) {
        for (size_t caplen = 0; caplen <= frame.size(); ++caplen) {
            check(frame, caplen);
        }
        for (size_t at = 12; at < std::min<size_t>(frame.size(), 14 + 20 + 20); ++at) {
            const uint8_t original = frame[at];
            for (int v : {0x00, 0x01, 0x05, 0x06, 0x08, 0x11, 0x12, 0x20, 0x3f, 0x40, 0x45, 0x46,
                          0x50, 0x60, 0x80, 0xf0, 0xff, original - 1, original + 1}) {
                Bytes changed = frame;
                changed[at] = static_cast<uint8_t>(v);
                check(changed, changed.size());
            }
        }
    }
    EXPECT_GT(compared, 2000u);
    EXPECT_EQ(mismatches, 0u);
}

// Placing by pair, the capture thread asks for no flow: the key is otherwise the same.
TEST(DispatchKey, WithoutTheFlowTheRestOfTheKeyIsTheSame) {
    const Bytes frames[] = {
        ethernet(udp_packet(kClient, kServer, 40000, 53, text("q"))),
        gre_frame(kRouterA, kRouterB, udp_packet(kClient, kServer, 40000, 53, text("q"))),
        ethernet(concat(ipv4_header(kClient, kServer, 1, 8), Bytes(8, 0))),
    };
    for (const Bytes& bytes : frames) {
        core::Frame f;
        f.data = bytes.data();
        f.caplen = static_cast<uint32_t>(bytes.size());
        f.wire_len = f.caplen;
        f.linktype = 1;
        const DispatchKey with = dispatch_key(f);
        const DispatchKey without = dispatch_key(f, /*with_flow=*/false);
        EXPECT_EQ(without.flow, 0u);
        EXPECT_EQ(without.kind, with.kind);
        EXPECT_EQ(without.pair, with.pair);
        EXPECT_EQ(without.datagram, with.datagram);
        EXPECT_EQ(without.first_fragment, with.first_fragment);
        EXPECT_EQ(without.tunnel_depth, with.tunnel_depth);
    }
}

TEST(DispatchKey, AFirstFragmentShowsItsFlowLaterOnesDoNot) {
    const Bytes big = udp_packet(kClient, kServer, 40000, 53, Bytes(1200, 'x'));
    const std::vector<Bytes> pieces = gre_fragments(kRouterA, kRouterB, big, 79, 512);
    ASSERT_EQ(pieces.size(), 3u);
    const DispatchKey whole = key_of(gre_frame(kRouterA, kRouterB, big));
    const DispatchKey first = key_of(pieces[0]);
    EXPECT_NE(first.flow, 0u);
    EXPECT_EQ(first.flow, whole.flow) << "the ports the reassembled datagram will show";
    for (size_t i = 1; i < pieces.size(); ++i) {
        EXPECT_EQ(key_of(pieces[i]).flow, 0u);
    }
}

TEST(DispatchKey, NonIpFramesHaveNoPair) {
    EXPECT_EQ(key_of(ethernet(Bytes(28, 0), 0x0806)).kind, DispatchKey::Kind::kNone);
    EXPECT_EQ(key_of(Bytes(10, 0)).kind, DispatchKey::Kind::kNone);
}

TEST(DispatchKey, OuterFragmentsNameTheirDatagram) {
    const Bytes big = udp_packet(kClient, kServer, 40000, 53, Bytes(1200, 'x'));
    const std::vector<Bytes> pieces = gre_fragments(kRouterA, kRouterB, big, 77, 512);
    ASSERT_EQ(pieces.size(), 3u);
    const DispatchKey first = key_of(pieces[0]);
    EXPECT_EQ(first.kind, DispatchKey::Kind::kFragment);
    EXPECT_TRUE(first.first_fragment);
    EXPECT_EQ(first.pair, address_pair_hash(kClient, kServer));  // seen inside the first piece
    for (size_t i = 1; i < pieces.size(); ++i) {
        const DispatchKey later = key_of(pieces[i]);
        EXPECT_EQ(later.kind, DispatchKey::Kind::kFragment);
        EXPECT_FALSE(later.first_fragment);
        EXPECT_EQ(later.datagram, first.datagram);
        EXPECT_EQ(later.pair, address_pair_hash(kRouterA, kRouterB));  // only the outer shows
    }
    const DispatchKey other = key_of(gre_fragments(kRouterA, kRouterB, big, 78, 512)[1]);
    EXPECT_NE(other.datagram, first.datagram);
}

// Frames whose decoded packet (not reassembled) has a pair other than the key's, and flows
// (as the flow table keys them) whose frames the dispatcher would place by flow as more than
// one unit.
struct Agreement {
    uint64_t compared = 0;
    uint64_t tunnelled = 0;
    uint64_t with_flow = 0;
    std::vector<std::string> mismatches;
    std::vector<std::string> split_flows;
    std::vector<std::string> shortcut_mismatches;  // dispatch_key() against dispatch_key_walked()
};

void compare_with_decoder(const std::string& path, Agreement& out) {
    auto reader = capture::PcapFileReader::open(path, 0);
    ASSERT_TRUE(reader) << reader.error().message;
    decode::Decoder decoder(decode::DecodeConfig{});
    decode::DecodedPacket packet;
    core::Frame frame;
    std::unordered_map<uint64_t, uint64_t> unit_of_flow;  // flow table hash -> placement unit
    while ((*reader)->next(frame) == capture::ReadStatus::kOk) {
        const DispatchKey key = dispatch_key(frame);
        if (!same_key(key, dispatch_key_walked(frame)) ||
            !same_key(dispatch_key(frame, false), dispatch_key_walked(frame, false))) {
            out.shortcut_mismatches.push_back(path + " frame " + std::to_string(frame.index));
        }
        if (decoder.decode(frame, packet) != decode::Verdict::kPacket || packet.reassembled ||
            key.kind == DispatchKey::Kind::kFragment) {
            continue;
        }
        ++out.compared;
        out.tunnelled += packet.tunnel_depth > 0 ? 1 : 0;
        out.with_flow += key.flow != 0 ? 1 : 0;
        if (key.pair != address_pair_hash(packet.src, packet.dst) ||
            key.tunnel_depth != packet.tunnel_depth) {
            out.mismatches.push_back(path + " frame " + std::to_string(frame.index));
        }
        bool src_is_lo = false;
        const uint64_t flow = flow::hash_flow_key(flow::make_flow_key(packet, src_is_lo));
        const uint64_t unit = key.flow != 0 ? key.flow : key.pair;
        const auto [it, inserted] = unit_of_flow.emplace(flow, unit);
        if (!inserted && it->second != unit) {
            out.split_flows.push_back(path + " frame " + std::to_string(frame.index));
        }
    }
}

TEST(DispatchKey, AgreesWithTheDecoderOnCorpusCaptures) {
    const std::filesystem::path corpora =
        std::filesystem::path(SENSOR_SOURCE_DIR) / ".." / "shared" / "corpora";
    if (!std::filesystem::exists(corpora)) {
        GTEST_SKIP() << "no ../shared/corpora beside the checkout";
    }
    std::vector<std::string> files;
    for (const char* dir : {"ndpi/pcap", "suricata-verify/tests"}) {
        for (const auto& e : std::filesystem::recursive_directory_iterator(corpora / dir)) {
            const std::string ext = e.path().extension().string();
            if (e.is_regular_file() && (ext == ".pcap" || ext == ".pcapng")) {
                files.push_back(e.path().string());
            }
        }
    }
    // The benchmark mix carries IPv6-in-IPv6 and other tunnels from real networks.
    files.push_back((corpora / "bench" / "bench-mixed-dev.pcap").string());
    Agreement agreement;
    for (const std::string& f : files) {
        if (std::filesystem::exists(f)) {
            compare_with_decoder(f, agreement);
        }
    }
    EXPECT_GT(agreement.compared, 100000u);
    EXPECT_GT(agreement.tunnelled, 0u);
    EXPECT_TRUE(agreement.mismatches.empty())
        << agreement.mismatches.size() << " frames, first " << agreement.mismatches.front();
    // Placed by flow, every flow's frames are one unit: both directions, and packets whose
    // transport header the decoder finds malformed (analysed at the IP layer) by their pair.
    EXPECT_GT(agreement.with_flow, agreement.compared / 2);
    EXPECT_TRUE(agreement.split_flows.empty())
        << agreement.split_flows.size() << " frames, first " << agreement.split_flows.front();
    EXPECT_TRUE(agreement.shortcut_mismatches.empty())
        << agreement.shortcut_mismatches.size() << " frames, first "
        << agreement.shortcut_mismatches.front();
}

TEST(FragmentSteering, LaterFragmentsFollowTheFirstSeen) {
    FragmentSteering steering(64, 30'000'000);
    EXPECT_EQ(steering.find(5, 0), FragmentSteering::kNone);
    steering.remember(5, 3, 0);
    EXPECT_EQ(steering.find(5, 1'000), 3u);
    EXPECT_EQ(steering.find(6, 1'000), FragmentSteering::kNone);
    // Each fragment keeps the entry alive for another lifetime.
    EXPECT_EQ(steering.find(5, 30'001'000), 3u);
    EXPECT_EQ(steering.find(5, 60'002'001), FragmentSteering::kNone);
    EXPECT_EQ(steering.evictions(), 0u);
}

TEST(FragmentSteering, AFullNeighbourhoodEvictsTheOldestAndCounts) {
    FragmentSteering steering(8, 30'000'000);  // every slot is in every probe window
    for (uint64_t d = 0; d < 8; ++d) {
        steering.remember(d, d % 2, static_cast<int64_t>(d));
    }
    EXPECT_EQ(steering.evictions(), 0u);
    steering.remember(100, 1, 10);
    EXPECT_EQ(steering.evictions(), 1u);
    EXPECT_EQ(steering.find(0, 11), FragmentSteering::kNone);  // the oldest made room
    EXPECT_EQ(steering.find(1, 11), 1u);
    EXPECT_EQ(steering.find(100, 11), 1u);
    // Expired entries are reused without counting.
    steering.remember(200, 0, 40'000'000);
    EXPECT_EQ(steering.evictions(), 1u);
}

}  // namespace
}  // namespace sensor::pipeline
