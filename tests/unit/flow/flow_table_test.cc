#include "sensor/flow/flow_table.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "sensor/core/process_memory.h"
#include "sensor/flow/stream_tail.h"

namespace sensor::flow {
namespace {

decode::DecodedPacket tcp_packet(uint8_t src_last, uint16_t sport, uint8_t dst_last, uint16_t dport,
                                 uint8_t flags, int64_t ts_us) {
    decode::DecodedPacket p;
    const uint8_t src[4] = {10, 0, 0, src_last};
    const uint8_t dst[4] = {10, 0, 0, dst_last};
    p.src = core::IpAddress::v4_from(src);
    p.dst = core::IpAddress::v4_from(dst);
    p.src_port = sport;
    p.dst_port = dport;
    p.ip_proto = decode::kIpProtoTcp;
    p.tcp_flags = flags;
    p.ts_us = ts_us;
    return p;
}

decode::DecodedPacket udp_packet(uint8_t src_last, uint16_t sport, int64_t ts_us) {
    auto p = tcp_packet(src_last, sport, 1, 53, 0, ts_us);
    p.ip_proto = decode::kIpProtoUdp;
    return p;
}

// Separate statements: the direction is an output of find_or_insert.
template <class OnEnd>
Flow& touch(FlowTable& table, const decode::DecodedPacket& p, uint32_t len, OnEnd&& on_end) {
    bool to_server = false;
    Flow& f = table.find_or_insert(p, to_server, on_end);
    table.update(f, p, to_server, len);
    return f;
}

struct Ended {
    uint64_t id;
    EndReason reason;
};

constexpr int64_t kSecond = 1'000'000;

TEST(FlowKey, IsSymmetric) {
    auto a = tcp_packet(1, 1234, 2, 80, decode::kTcpSyn, 0);
    auto b = tcp_packet(2, 80, 1, 1234, decode::kTcpSyn | decode::kTcpAck, 0);
    bool a_lo = false;
    bool b_lo = false;
    FlowKey ka = make_flow_key(a, a_lo);
    FlowKey kb = make_flow_key(b, b_lo);
    EXPECT_EQ(ka, kb);
    EXPECT_NE(a_lo, b_lo);
    EXPECT_EQ(hash_flow_key(ka), hash_flow_key(kb));
    auto c = tcp_packet(1, 1235, 2, 80, decode::kTcpSyn, 0);
    bool c_lo = false;
    EXPECT_NE(hash_flow_key(make_flow_key(c, c_lo)), hash_flow_key(ka));
}

// The table takes the hash's low bits as the bucket: keys that differ in one field only (the
// common case: one client's ports, one subnet's hosts) must still spread over the buckets.
TEST(FlowKey, HashSpreadsKeysThatDifferInOneField) {
    constexpr size_t kBuckets = 1 << 12;
    constexpr size_t kKeys = kBuckets * 8;
    auto max_load = [&](auto make) {
        std::vector<uint32_t> load(kBuckets, 0);
        for (size_t i = 0; i < kKeys; ++i) {
            bool lo = false;
            ++load[hash_flow_key(make_flow_key(make(i), lo)) & (kBuckets - 1)];
        }
        return *std::max_element(load.begin(), load.end());
    };
    // Mean load 8: a uniform hash stays well below 32 in each bucket.
    EXPECT_LT(max_load([](size_t i) {
                  return tcp_packet(1, static_cast<uint16_t>(1024 + i), 2, 80, decode::kTcpSyn, 0);
              }),
              32u);
    EXPECT_LT(max_load([](size_t i) {
                  auto p = tcp_packet(1, 5555, 2, 443, decode::kTcpSyn, 0);
                  const uint8_t host[4] = {10, static_cast<uint8_t>(i >> 16),
                                           static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i)};
                  p.src = core::IpAddress::v4_from(host);
                  return p;
              }),
              32u);
}

TEST(FlowTable, BothDirectionsShareOneFlowWithClientFromFirstPacket) {
    FlowTable table(FlowConfig{});
    std::vector<Ended> ended;
    auto on_end = [&](Flow& f, EndReason r) { ended.push_back({f.id(), r}); };
    bool to_server = false;
    auto syn = tcp_packet(1, 1234, 2, 80, decode::kTcpSyn, 0);
    Flow& f1 = table.find_or_insert(syn, to_server, on_end);
    EXPECT_TRUE(to_server);
    table.update(f1, syn, to_server, 60);
    auto synack = tcp_packet(2, 80, 1, 1234, decode::kTcpSyn | decode::kTcpAck, 1000);
    Flow& f2 = table.find_or_insert(synack, to_server, on_end);
    EXPECT_EQ(&f1, &f2);
    EXPECT_FALSE(to_server);
    table.update(f2, synack, to_server, 60);
    auto ack = tcp_packet(1, 1234, 2, 80, decode::kTcpAck, 2000);
    touch(table, ack, 54, on_end);
    EXPECT_EQ(table.active(), 1u);
    EXPECT_EQ(f1.pkts[0], 2u);
    EXPECT_EQ(f1.pkts[1], 1u);
    EXPECT_EQ(f1.bytes[0], 114u);
    EXPECT_EQ(f1.tcp_state, TcpState::kEstablished);
    EXPECT_EQ(f1.client_port, 1234);
    EXPECT_TRUE(ended.empty());
}

TEST(FlowTable, SynAckFirstMakesItsDestinationTheClient) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    bool to_server = true;
    auto synack = tcp_packet(2, 80, 1, 1234, decode::kTcpSyn | decode::kTcpAck, 0);
    Flow& f = table.find_or_insert(synack, to_server, on_end);
    EXPECT_FALSE(to_server);
    EXPECT_EQ(f.server_port, 80);
}

TEST(FlowTable, ExpiresByPacketTimePerTimeoutClass) {
    FlowConfig config;
    FlowTable table(config);
    std::vector<Ended> ended;
    auto on_end = [&](Flow& f, EndReason r) { ended.push_back({f.id(), r}); };
    auto udp = udp_packet(5, 5000, 0);
    touch(table, udp, 80, on_end);
    auto syn = tcp_packet(1, 1234, 2, 80, decode::kTcpSyn, 0);
    touch(table, syn, 60, on_end);

    // udp-new times out after 30 s, tcp-new after 60 s.
    EXPECT_EQ(table.expire(29 * kSecond, on_end), 0u);
    EXPECT_EQ(table.expire(30 * kSecond, on_end), 1u);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].reason, EndReason::kTimeout);
    EXPECT_EQ(table.active(), 1u);
    EXPECT_EQ(table.expire(59 * kSecond, on_end), 0u);
    EXPECT_EQ(table.expire(60 * kSecond, on_end), 1u);
    EXPECT_EQ(table.active(), 0u);
    EXPECT_EQ(table.stats().ended_timeout.load(), 2u);
}

TEST(FlowTable, ClosedTcpFlowUsesShortTimeout) {
    FlowTable table(FlowConfig{});
    std::vector<Ended> ended;
    auto on_end = [&](Flow& f, EndReason r) { ended.push_back({f.id(), r}); };
    bool to_server = false;
    auto syn = tcp_packet(1, 1234, 2, 80, decode::kTcpSyn, 0);
    touch(table, syn, 60, on_end);
    auto rst = tcp_packet(2, 80, 1, 1234, decode::kTcpRst | decode::kTcpAck, kSecond);
    Flow& f = table.find_or_insert(rst, to_server, on_end);
    table.update(f, rst, to_server, 60);
    EXPECT_EQ(f.tcp_state, TcpState::kClosed);
    EXPECT_EQ(table.expire(10 * kSecond, on_end), 0u);
    EXPECT_EQ(table.expire(11 * kSecond, on_end), 1u);
}

TEST(FlowTable, FullTableEvictsFlowNearestToExpiryAndCountsIt) {
    FlowConfig config;
    config.max_flows = 4;
    FlowTable table(config);
    std::vector<Ended> ended;
    auto on_end = [&](Flow& f, EndReason r) { ended.push_back({f.id(), r}); };
    bool to_server = false;
    std::vector<uint64_t> ids;
    for (uint16_t i = 0; i < 4; ++i) {
        auto p = udp_packet(static_cast<uint8_t>(10 + i), 1000, i * kSecond);
        Flow& f = table.find_or_insert(p, to_server, on_end);
        table.update(f, p, to_server, 100);
        ids.push_back(f.id());
    }
    EXPECT_EQ(table.active(), 4u);
    // Touch the oldest so the second-oldest becomes the victim.
    auto again = udp_packet(10, 1000, 5 * kSecond);
    touch(table, again, 100, on_end);
    auto fifth = udp_packet(20, 1000, 6 * kSecond);
    touch(table, fifth, 100, on_end);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0].reason, EndReason::kForced);
    EXPECT_EQ(ended[0].id, ids[1]);
    EXPECT_EQ(table.active(), 4u);
    EXPECT_EQ(table.stats().ended_forced.load(), 1u);
    EXPECT_EQ(table.stats().created.load(), 5u);
}

TEST(FlowTable, EndAllFlushesEveryFlowAsShutdown) {
    FlowTable table(FlowConfig{});
    std::vector<Ended> ended;
    auto on_end = [&](Flow& f, EndReason r) { ended.push_back({f.id(), r}); };
    for (uint8_t i = 0; i < 10; ++i) {
        auto p = udp_packet(i, 1000, 0);
        touch(table, p, 100, on_end);
    }
    table.end_all(on_end);
    EXPECT_EQ(ended.size(), 10u);
    EXPECT_EQ(table.active(), 0u);
    for (const auto& e : ended) {
        EXPECT_EQ(e.reason, EndReason::kShutdown);
    }
}

TEST(FlowTable, SlotsAreReusedAfterExpiry) {
    FlowConfig config;
    config.max_flows = 2;
    FlowTable table(config);
    auto on_end = [](Flow&, EndReason) {};
    for (int round = 0; round < 100; ++round) {
        auto p = udp_packet(static_cast<uint8_t>(round), 1000, round * 100 * kSecond);
        touch(table, p, 100, on_end);
        table.expire(round * 100 * kSecond + 31 * kSecond, on_end);
    }
    EXPECT_EQ(table.stats().ended_forced.load(), 0u);
    EXPECT_EQ(table.stats().ended_timeout.load(), 100u);
}

// A table sized for a million flows (344 MB of slots) writes a slot when it is first handed
// out: starting it, and holding a few thousand flows, leaves most of those pages untouched.
// Slots are handed out in order and released ones come back first.
TEST(FlowTable, SlotsBecomeResidentAsFlowsNeedThem) {
    FlowConfig config;
    config.max_flows = 1'000'000;
    const uint64_t before = core::resident_bytes();
    ASSERT_GT(before, 0u);
    FlowTable table(config);
    auto on_end = [](Flow&, EndReason) {};
    for (uint32_t i = 0; i < 5000; ++i) {
        Flow& f = touch(table, udp_packet(1, static_cast<uint16_t>(1024 + i), 0), 100, on_end);
        EXPECT_EQ(table.slot_of(f), i);
    }
    // Other tests of the same process may have freed memory since `before`: then none grew.
    const uint64_t after = core::resident_bytes();
    const uint64_t grown = after > before ? after - before : 0;
    // The bucket array (8 MB, written at start) and 5,000 slots; all slots would be 344 MB.
    EXPECT_LT(grown, uint64_t{64} << 20) << grown << " bytes";
    EXPECT_EQ(table.active(), 5000u);
    EXPECT_EQ(table.memory_limit_bytes(),
              1'000'000 * (FlowTable::slot_bytes() + 2 * kStreamTailBytes));

    // Flows 0..4999 end at the same time; the next flow takes a released slot, not a new one.
    EXPECT_EQ(table.expire(31 * kSecond, on_end), config.expire_budget);
    Flow& next = touch(table, udp_packet(2, 7, 31 * kSecond), 100, on_end);
    EXPECT_LT(table.slot_of(next), 5000u);
    EXPECT_EQ(table.stats().ended_forced.load(), 0u);
}

TEST(StreamTail, PrefixOnlyForNextInOrderSegment) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    bool to_server = false;
    auto syn = tcp_packet(1, 1234, 2, 80, decode::kTcpSyn, 0);
    syn.tcp_seq = 100;
    Flow& f = table.find_or_insert(syn, to_server, on_end);
    table.advance_stream(f, to_server, syn);

    const std::string first = "GET / HTTP/1.1\r\nUser-Agent: Night";
    const std::string second = "OwlBot/3.2\r\n\r\n";
    auto seg1 = tcp_packet(1, 1234, 2, 80, decode::kTcpAck, 1);
    seg1.tcp_seq = 101;
    seg1.payload = {reinterpret_cast<const uint8_t*>(first.data()), first.size()};
    EXPECT_TRUE(table.stream_prefix(f, true, seg1).empty());
    table.advance_stream(f, true, seg1);

    auto seg2 = tcp_packet(1, 1234, 2, 80, decode::kTcpAck, 2);
    seg2.tcp_seq = static_cast<uint32_t>(101 + first.size());
    seg2.payload = {reinterpret_cast<const uint8_t*>(second.data()), second.size()};
    auto prefix = table.stream_prefix(f, true, seg2);
    std::string prefix_text(prefix.begin(), prefix.end());
    EXPECT_EQ(prefix_text, first);

    // A retransmission of the first segment gets no prefix and does not move the window.
    EXPECT_TRUE(table.stream_prefix(f, true, seg1).empty());
    table.advance_stream(f, true, seg1);
    EXPECT_EQ(table.stream_prefix(f, true, seg2).size(), first.size());

    table.advance_stream(f, true, seg2);
    auto seg3 = seg2;
    seg3.tcp_seq = static_cast<uint32_t>(seg2.tcp_seq + second.size());
    auto p3 = table.stream_prefix(f, true, seg3);
    std::string tail_text(p3.begin(), p3.end());
    EXPECT_EQ(tail_text, first + second);  // 48 bytes < 64: all kept
}

}  // namespace
}  // namespace sensor::flow

namespace sensor::flow {
namespace {

TEST(FlowTable, IdleFlowIsEndedWhenItsNextPacketArrivesBeforeExpiryRan) {
    FlowTable table(FlowConfig{});
    std::vector<EndReason> ended;
    auto on_end = [&](Flow&, EndReason r) { ended.push_back(r); };
    decode::DecodedPacket p;
    const uint8_t a[4] = {10, 0, 0, 1};
    const uint8_t b[4] = {10, 0, 0, 2};
    p.src = core::IpAddress::v4_from(a);
    p.dst = core::IpAddress::v4_from(b);
    p.src_port = 5000;
    p.dst_port = 53;
    p.ip_proto = decode::kIpProtoUdp;
    bool to_server = false;
    Flow& first = table.find_or_insert(p, to_server, on_end);
    table.update(first, p, to_server, 80);
    uint64_t first_id = first.id();
    // 31 s later (udp-new times out after 30 s), without any expire() call in between.
    p.ts_us = 31'000'000;
    Flow& second = table.find_or_insert(p, to_server, on_end);
    table.update(second, p, to_server, 80);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0], EndReason::kTimeout);
    EXPECT_NE(second.id(), first_id);
    EXPECT_EQ(second.pkts[0], 1u);
    EXPECT_EQ(table.stats().created.load(), 2u);
}

}  // namespace
}  // namespace sensor::flow

namespace sensor::flow {
namespace {

// Packets late in the file by more than the timeout, read together: their flow's idle time is
// judged by the capture clock at which each was read, so they make one flow whether or not
// expiry (by that clock) ran between them; and the flow is over once the clock has gone a
// timeout past the reading of its last packet, by expiry or by its next packet alike.
TEST(FlowTable, LatePacketsReadTogetherMakeOneFlowWhateverExpiryRan) {
    constexpr int64_t kNow = 1000 * kSecond;  // the capture's clock
    constexpr int64_t kLate = kNow - 300 * kSecond;
    for (bool expire_between : {false, true}) {
        FlowTable table(FlowConfig{});
        std::vector<EndReason> ended;
        auto on_end = [&](Flow&, EndReason r) { ended.push_back(r); };
        auto late = udp_packet(7, 5000, kLate);
        late.clock_us = kNow;
        Flow& first = touch(table, late, 80, on_end);
        EXPECT_EQ(first.last_clock_us(), kNow);
        const uint64_t id = first.id();
        if (expire_between) {
            EXPECT_EQ(table.expire(kNow + kSecond, on_end), 0u) << "idle 1 s by the clock";
        }
        late.ts_us = kLate + 2 * kSecond;
        late.clock_us = kNow + kSecond;
        Flow& again = touch(table, late, 80, on_end);
        EXPECT_EQ(again.id(), id) << "expire between: " << expire_between;
        EXPECT_EQ(again.pkts[0], 2u);
        EXPECT_EQ(again.last_us, kLate + 2 * kSecond);  // records keep the packets' own time
        EXPECT_TRUE(ended.empty());
        // udp-new times out after 30 s: 30 s of the clock after its last packet's reading.
        if (expire_between) {
            EXPECT_EQ(table.expire(kNow + 31 * kSecond - 1, on_end), 0u);
            EXPECT_EQ(table.expire(kNow + 31 * kSecond, on_end), 1u);
        } else {
            late.ts_us = kLate + 3 * kSecond;  // 1 s after its last by its own time
            late.clock_us = kNow + 31 * kSecond;
            EXPECT_NE(touch(table, late, 80, on_end).id(), id);
            EXPECT_EQ(table.stats().created.load(), 2u);
        }
        ASSERT_EQ(ended.size(), 1u);
        EXPECT_EQ(ended[0], EndReason::kTimeout);
    }
}

// A packet stamped a timeout after its flow's last ends the flow even when it was read at
// about the same clock (packets of one flow far apart in time, merged late into a file).
TEST(FlowTable, PacketAfterTheTimeoutByItsOwnTimeStartsANewFlow) {
    FlowTable table(FlowConfig{});
    std::vector<EndReason> ended;
    auto on_end = [&](Flow&, EndReason r) { ended.push_back(r); };
    auto p = udp_packet(8, 5000, 100 * kSecond);
    p.clock_us = 500 * kSecond;
    const uint64_t id = touch(table, p, 80, on_end).id();
    p.ts_us = 130 * kSecond;  // 30 s later by its own time
    p.clock_us = 500 * kSecond + 1;
    EXPECT_NE(touch(table, p, 80, on_end).id(), id);
    ASSERT_EQ(ended.size(), 1u);
    EXPECT_EQ(ended[0], EndReason::kTimeout);
}

TEST(FlowTable, FinFromBothSidesClosesTheFlow) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    const uint8_t a[4] = {10, 0, 0, 1};
    const uint8_t b[4] = {10, 0, 0, 2};
    auto packet = [&](bool from_client, uint8_t flags) {
        decode::DecodedPacket p;
        p.src = core::IpAddress::v4_from(from_client ? a : b);
        p.dst = core::IpAddress::v4_from(from_client ? b : a);
        p.src_port = from_client ? 40000 : 80;
        p.dst_port = from_client ? 80 : 40000;
        p.ip_proto = decode::kIpProtoTcp;
        p.tcp_flags = flags;
        bool to_server = false;
        Flow& f = table.find_or_insert(p, to_server, on_end);
        table.update(f, p, to_server, 60);
        return &f;
    };
    Flow* f = packet(true, decode::kTcpSyn);
    packet(false, decode::kTcpSyn | decode::kTcpAck);
    packet(true, decode::kTcpAck);
    EXPECT_EQ(f->tcp_state, TcpState::kEstablished);
    packet(true, decode::kTcpFin | decode::kTcpAck);
    EXPECT_EQ(f->tcp_state, TcpState::kClosing);
    packet(false, decode::kTcpFin | decode::kTcpAck);
    EXPECT_EQ(f->tcp_state, TcpState::kClosed);
    EXPECT_EQ(f->timeout_class, TimeoutClass::kTcpClosed);
}

}  // namespace
}  // namespace sensor::flow

namespace sensor::flow {
namespace {

TEST(FlowTable, EndpointsAndIdAreDerivedFromTheKey) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    bool to_server = false;
    // The client (10.0.0.9) is the key's "hi" endpoint; its SYN/ACK-first twin flips roles.
    auto syn = tcp_packet(9, 40000, 2, 80, decode::kTcpSyn, 5 * kSecond);
    Flow& f = table.find_or_insert(syn, to_server, on_end);
    EXPECT_TRUE(to_server);
    EXPECT_EQ(f.client_ip(), syn.src);
    EXPECT_EQ(f.server_ip(), syn.dst);
    EXPECT_EQ(f.client_port, 40000);
    EXPECT_EQ(f.server_port, 80);
    EXPECT_FALSE(f.client_is_lo);
    const uint64_t id = f.id();
    EXPECT_LT(id, uint64_t{1} << 51);
    auto reply = tcp_packet(2, 80, 9, 40000, decode::kTcpSyn | decode::kTcpAck, 6 * kSecond);
    EXPECT_EQ(&table.find_or_insert(reply, to_server, on_end), &f);
    EXPECT_FALSE(to_server);
    EXPECT_EQ(f.id(), id);  // the id depends on the key and start time only

    auto synack = tcp_packet(3, 443, 4, 50000, decode::kTcpSyn | decode::kTcpAck, 5 * kSecond);
    Flow& g = table.find_or_insert(synack, to_server, on_end);
    EXPECT_FALSE(to_server);
    EXPECT_EQ(g.client_ip(), synack.dst);
    EXPECT_EQ(g.server_ip(), synack.src);
    EXPECT_EQ(g.client_port, 50000);
    EXPECT_NE(g.id(), id);

    decode::DecodedPacket v6;
    uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
    uint8_t b[16] = {0x20, 0x01, 0x0d, 0xb8};
    a[15] = 2;
    b[15] = 1;
    v6.src = core::IpAddress::v6_from(a);
    v6.dst = core::IpAddress::v6_from(b);
    v6.src_port = 5353;
    v6.dst_port = 53;
    v6.ip_proto = decode::kIpProtoUdp;
    Flow& h = table.find_or_insert(v6, to_server, on_end);
    EXPECT_TRUE(to_server);
    EXPECT_EQ(h.client_ip(), v6.src);
    EXPECT_TRUE(h.client_ip().v6);
    EXPECT_EQ(h.server_ip(), v6.dst);
}

TEST(FlowTable, IdenticalEndpointsCountEveryPacketToServer) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    bool to_server = false;
    auto synack = tcp_packet(7, 1000, 7, 1000, decode::kTcpSyn | decode::kTcpAck, 0);
    Flow& f = table.find_or_insert(synack, to_server, on_end);
    EXPECT_TRUE(to_server);
    EXPECT_EQ(&table.find_or_insert(synack, to_server, on_end), &f);
    EXPECT_TRUE(to_server);
}

TEST(FlowTable, SlotStaysWithinItsMemoryBudget) {
    EXPECT_LE(FlowTable::slot_bytes(), kMaxFlowSlotBytes);
    EXPECT_EQ(FlowTable::tail_bytes(), kStreamTailBytes);
    FlowConfig config;
    config.max_flows = 100;
    FlowTable table(config);
    EXPECT_EQ(table.memory_used_bytes(), 0u);
    EXPECT_EQ(table.memory_limit_bytes(), 100 * (FlowTable::slot_bytes() + 2 * kStreamTailBytes));
}

}  // namespace
}  // namespace sensor::flow

namespace sensor::flow {
namespace {

// Suricata's flow:established holds from the handshake's last ACK until the first FIN: the
// FIN itself, the peer's answer and a RST are no longer established.
TEST(FlowTable, DetectionEstablishedEndsWithTheFirstFin) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    auto send = [&](bool from_client, uint8_t flags) {
        decode::DecodedPacket p = from_client ? tcp_packet(1, 40000, 2, 88, flags, 0)
                                              : tcp_packet(2, 88, 1, 40000, flags, 0);
        return detect_established(touch(table, p, 60, on_end));
    };
    EXPECT_FALSE(send(true, decode::kTcpSyn));
    EXPECT_FALSE(send(false, decode::kTcpSyn | decode::kTcpAck));
    EXPECT_TRUE(send(true, decode::kTcpAck));
    EXPECT_TRUE(send(true, decode::kTcpAck | decode::kTcpPsh));
    EXPECT_TRUE(send(false, decode::kTcpAck));
    EXPECT_FALSE(send(true, decode::kTcpFin | decode::kTcpAck));
    EXPECT_FALSE(send(false, decode::kTcpAck));
    EXPECT_FALSE(send(false, decode::kTcpRst | decode::kTcpAck));
}

TEST(FlowTable, DetectionEstablishedForUdpNeedsBothDirections) {
    FlowTable table(FlowConfig{});
    auto on_end = [](Flow&, EndReason) {};
    decode::DecodedPacket query = udp_packet(1, 5000, 0);
    decode::DecodedPacket answer = udp_packet(1, 5000, 0);
    std::swap(answer.src, answer.dst);
    std::swap(answer.src_port, answer.dst_port);
    EXPECT_FALSE(detect_established(touch(table, query, 60, on_end)));
    EXPECT_TRUE(detect_established(touch(table, answer, 60, on_end)));
}

}  // namespace
}  // namespace sensor::flow
