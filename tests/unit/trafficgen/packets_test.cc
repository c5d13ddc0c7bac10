// Wire-level properties of every generated frame: checksums, TCP sequence continuity and
// the flow count the sensor will see.

#include <gtest/gtest.h>

#include <map>
#include <set>
#include <tuple>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "tests/unit/trafficgen/frame_view.h"

namespace sensor::trafficgen {
namespace {

using testing::FrameView;
using testing::parse_frame;
using testing::sample_capture;

TEST(TrafficgenChecksums, EveryPacketVerifies) {
    const Capture& c = sample_capture();
    uint64_t v4 = 0;
    uint64_t v6 = 0;
    std::map<uint8_t, uint64_t> by_proto;
    for (const Packet& p : c.packets) {
        const FrameView v = parse_frame(p.bytes);
        ASSERT_TRUE(v.ok) << "unparsable frame at " << p.ts_us;
        EXPECT_GE(p.bytes.size(), 60u);
        if (v.v6) {
            ++v6;
        } else {
            ++v4;
            ASSERT_TRUE(testing::ipv4_header_ok(v)) << "ipv4 header checksum at " << p.ts_us;
        }
        ASSERT_TRUE(testing::l4_checksum_ok(v))
            << "l4 checksum, proto " << int{v.proto} << " at " << p.ts_us;
        ++by_proto[v.proto];
    }
    EXPECT_GT(v4, 0u);
    EXPECT_GT(v6, 0u);
    EXPECT_GT(by_proto[1], 0u);
    EXPECT_GT(by_proto[6], 0u);
    EXPECT_GT(by_proto[17], 0u);
}

TEST(TrafficgenChecksums, CheckerRejectsACorruptedByte) {
    // Guards the checker itself: one flipped payload bit must be caught at each layer.
    const Capture& c = sample_capture();
    bool tested_tcp = false;
    bool tested_udp = false;
    for (const Packet& p : c.packets) {
        FrameView v = parse_frame(p.bytes);
        if (v.payload.empty() || (v.proto == 6 ? tested_tcp : v.proto == 17 ? tested_udp : true)) {
            continue;
        }
        std::vector<uint8_t> bad = p.bytes;
        const size_t at = static_cast<size_t>(v.payload.data() - p.bytes.data());
        bad[at] ^= 0x01;
        EXPECT_FALSE(testing::l4_checksum_ok(parse_frame(bad)));
        std::vector<uint8_t> bad_ip = p.bytes;
        if (!v.v6) {
            bad_ip[14 + 8] ^= 0x01;  // TTL
            EXPECT_FALSE(testing::ipv4_header_ok(parse_frame(bad_ip)));
        }
        (v.proto == 6 ? tested_tcp : tested_udp) = true;
    }
    EXPECT_TRUE(tested_tcp && tested_udp);
}

struct Endpoint {
    core::IpAddress ip;
    uint16_t port = 0;
    auto operator<=>(const Endpoint&) const = default;
};

struct DirState {
    bool syn_seen = false;
    uint32_t next_seq = 0;
    bool acked_any = false;
    uint32_t last_ack = 0;
    // A data segment captured ahead of the one before it (Options::swap_first_two): where it
    // starts and ends, until the missing segment comes.
    bool ahead = false;
    uint32_t ahead_seq = 0;
    uint32_t ahead_end = 0;
};

// Sessions keyed by (initiator, responder); direction 0 = from the initiator.
struct Session {
    DirState dir[2];
    bool fin[2] = {false, false};
};

TEST(TrafficgenTcp, SequenceNumbersAreConsistentWithinEachSession) {
    const Capture& c = sample_capture();
    std::map<std::pair<Endpoint, Endpoint>, Session> sessions;
    uint64_t data_segments = 0;
    uint64_t closed_by_fin = 0;
    uint64_t closed_by_rst = 0;
    uint64_t reordered = 0;
    for (const Packet& p : c.packets) {
        const FrameView v = parse_frame(p.bytes);
        if (!v.ok || v.proto != 6) {
            continue;
        }
        const Endpoint src{v.src, v.src_port};
        const Endpoint dst{v.dst, v.dst_port};
        auto it = sessions.find({src, dst});
        int d = 0;
        if (it == sessions.end()) {
            it = sessions.find({dst, src});
            d = 1;
        }
        if (it == sessions.end()) {
            ASSERT_EQ(v.flags, 0x02) << "a session must open with a bare SYN at " << p.ts_us;
            it = sessions.emplace(std::pair{src, dst}, Session{}).first;
            d = 0;
        }
        Session& s = it->second;
        DirState& me = s.dir[d];
        DirState& peer = s.dir[1 - d];
        const bool syn = (v.flags & 0x02) != 0;
        const bool fin = (v.flags & 0x01) != 0;
        const bool rst = (v.flags & 0x04) != 0;
        const bool ack = (v.flags & 0x10) != 0;
        if (syn) {
            ASSERT_FALSE(me.syn_seen) << "second SYN in one direction at " << p.ts_us;
            me.syn_seen = true;
            me.next_seq = v.seq;
        }
        if (rst && !me.syn_seen) {
            // A closed port answers without a SYN of its own: RST/ACK, seq 0.
            EXPECT_EQ(v.seq, 0u);
            EXPECT_TRUE(ack);
            EXPECT_EQ(v.ack, peer.next_seq);
            ++closed_by_rst;
            continue;
        }
        ASSERT_TRUE(me.syn_seen);
        const auto len = static_cast<uint32_t>(v.payload.size());
        if (!me.ahead && !v.payload.empty() && v.seq != me.next_seq &&
            v.seq - me.next_seq < 0x10000u) {
            // Reordered on purpose: the segment before it must come next and end where it
            // starts.
            me.ahead = true;
            me.ahead_seq = v.seq;
            me.ahead_end = v.seq + len;
            ++reordered;
            continue;
        }
        EXPECT_EQ(v.seq, me.next_seq) << "sequence gap at " << p.ts_us;
        me.next_seq = v.seq + len + (syn ? 1 : 0) + (fin ? 1 : 0);
        if (me.ahead) {
            EXPECT_EQ(me.next_seq, me.ahead_seq) << "reordered segment not filled at " << p.ts_us;
            me.next_seq = me.ahead_end;
            me.ahead = false;
        }
        if (ack) {
            // Never acknowledge unsent data; never move the acknowledgement backwards.
            EXPECT_TRUE(peer.syn_seen);
            EXPECT_LE(v.ack - (peer.next_seq - 0x40000000u), 0x40000000u) << "ack ahead of data";
            if (me.acked_any) {
                EXPECT_LE(v.ack - me.last_ack, 0x40000000u) << "ack went backwards";
            }
            me.acked_any = true;
            me.last_ack = v.ack;
        }
        if (!v.payload.empty()) {
            ++data_segments;
            EXPECT_LE(v.payload.size(), v.v6 ? 1440u : 1460u);
        }
        if (fin) {
            s.fin[d] = true;
            if (s.fin[0] && s.fin[1]) {
                ++closed_by_fin;
            }
        }
        if (rst) {
            ++closed_by_rst;
        }
    }
    EXPECT_EQ(reordered, c.summary.tally.c2_split_beacons);  // the split beacon only
    EXPECT_GT(data_segments, 5000u);
    EXPECT_GT(closed_by_fin, 100u);
    EXPECT_GT(closed_by_rst, 10u);
}

TEST(TrafficgenFlows, SummaryMatchesAnIndependentCount) {
    const Capture& c = sample_capture();
    using Key = std::tuple<uint8_t, core::IpAddress, uint16_t, core::IpAddress, uint16_t>;
    std::set<Key> flows;
    std::map<uint8_t, uint64_t> by_proto;
    uint64_t bytes = 0;
    for (const Packet& p : c.packets) {
        bytes += p.bytes.size();
        const FrameView v = parse_frame(p.bytes);
        ASSERT_TRUE(v.ok);
        Endpoint a{v.src, v.src_port};
        Endpoint b{v.dst, v.dst_port};
        if (b < a) {
            std::swap(a, b);
        }
        if (flows.insert(Key{v.proto, a.ip, a.port, b.ip, b.port}).second) {
            ++by_proto[v.proto];
        }
    }
    EXPECT_EQ(c.summary.packets, c.packets.size());
    EXPECT_EQ(c.summary.bytes, bytes);
    EXPECT_EQ(c.summary.flows.tcp, by_proto[6]);
    EXPECT_EQ(c.summary.flows.udp, by_proto[17]);
    EXPECT_EQ(c.summary.flows.icmp, by_proto[1]);
    EXPECT_EQ(c.summary.flows.total(), flows.size());
}

TEST(TrafficgenFrames, LinkAndNetworkFieldsFollowTheAddressPlan) {
    const Capture& c = sample_capture();
    const auto is_office_v4 = [](const core::IpAddress& ip) {
        return !ip.v6 && ip.bytes[0] == 10 && ip.bytes[1] == 1;
    };
    for (const Packet& p : c.packets) {
        const FrameView v = parse_frame(p.bytes);
        ASSERT_TRUE(v.ok);
        const bool multicast_dst = (p.bytes[0] & 1) != 0;
        const bool multicast_src = (p.bytes[6] & 1) != 0;
        EXPECT_FALSE(multicast_dst || multicast_src);
        if (is_office_v4(v.src) && v.proto != 1) {
            // Office hosts are seen before any router: initial TTL (Windows 128, servers 64).
            EXPECT_TRUE(v.ttl == 128 || v.ttl == 64) << v.src.to_string();
        }
        if (!v.v6 && !is_office_v4(v.src) && !(v.src.bytes[0] == 10)) {
            EXPECT_LT(v.ttl, 64) << "routed packets lost TTL: " << v.src.to_string();
        }
    }
}

}  // namespace
}  // namespace sensor::trafficgen
