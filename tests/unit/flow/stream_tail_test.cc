#include "sensor/flow/stream_tail.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sensor/flow/flow_table.h"

namespace sensor::flow {
namespace {

constexpr size_t kToServer = 0;
constexpr size_t kToClient = 1;

// A TCP segment of the conversation 10.0.0.1:40000 <-> 10.0.0.2:80. The payload string must
// outlive the packet.
decode::DecodedPacket segment(bool from_client, uint32_t seq, uint8_t flags,
                              const std::string& payload) {
    decode::DecodedPacket p;
    const uint8_t client[4] = {10, 0, 0, 1};
    const uint8_t server[4] = {10, 0, 0, 2};
    p.src = core::IpAddress::v4_from(from_client ? client : server);
    p.dst = core::IpAddress::v4_from(from_client ? server : client);
    p.src_port = from_client ? 40000 : 80;
    p.dst_port = from_client ? 80 : 40000;
    p.ip_proto = decode::kIpProtoTcp;
    p.tcp_flags = flags;
    p.tcp_seq = seq;
    p.payload = {reinterpret_cast<const uint8_t*>(payload.data()), payload.size()};
    return p;
}

class StreamTailTest : public ::testing::Test {
protected:
    StreamTailTest() : table_(config()) {}
    static FlowConfig config() {
        FlowConfig c;
        c.max_flows = 4;
        return c;
    }
    // Looks the segment's flow up, then prefix (returned as text) and advance, as the worker
    // does for every packet.
    std::string feed(const decode::DecodedPacket& p) {
        bool to_server = false;
        Flow& f = table_.find_or_insert(p, to_server, [](Flow&, EndReason) {});
        table_.update(f, p, to_server, 60);
        flow_ = &f;
        auto prefix = table_.stream_prefix(f, to_server, p);
        std::string text(prefix.begin(), prefix.end());  // advance overwrites the tail
        table_.advance_stream(f, to_server, p);
        return text;
    }
    uint64_t appended(size_t dir) const { return table_.stream_stats().appended_bytes[dir].load(); }
    uint64_t gap(size_t dir) const { return table_.stream_stats().gap_bytes[dir].load(); }
    uint64_t retransmitted(size_t dir) const {
        return table_.stream_stats().retransmitted_bytes[dir].load();
    }
    uint64_t tails() const { return table_.stream_stats().tails_in_use.load(); }

    FlowTable table_;
    Flow* flow_ = nullptr;
};

TEST_F(StreamTailTest, InOrderBytesAreAppendedPerDirection) {
    const std::string a = "GET /index.html HTTP/1.1\r\n";
    const std::string b = "Host: example.com\r\n\r\n";
    const std::string reply = "HTTP/1.1 200 OK\r\n";
    feed(segment(true, 1000, decode::kTcpSyn, ""));
    feed(segment(false, 5000, decode::kTcpSyn | decode::kTcpAck, ""));
    EXPECT_EQ(tails(), 0u);  // a handshake holds no tail bytes
    EXPECT_EQ(feed(segment(true, 1001, decode::kTcpAck, a)), "");
    EXPECT_EQ(feed(segment(true, static_cast<uint32_t>(1001 + a.size()), decode::kTcpAck, b)), a);
    EXPECT_EQ(feed(segment(false, 5001, decode::kTcpAck, reply)), "");
    EXPECT_EQ(appended(kToServer), a.size() + b.size());
    EXPECT_EQ(appended(kToClient), reply.size());
    EXPECT_EQ(gap(kToServer) + gap(kToClient), 0u);
    EXPECT_EQ(retransmitted(kToServer) + retransmitted(kToClient), 0u);
    EXPECT_EQ(tails(), 2u);
    EXPECT_EQ(table_.memory_used_bytes(), FlowTable::slot_bytes() + 2 * kStreamTailBytes);
}

TEST_F(StreamTailTest, GapIsCountedAndRestartsTheTail) {
    const std::string a = "first segment";
    const std::string c = "third segment";
    feed(segment(true, 100, decode::kTcpSyn, ""));
    feed(segment(true, 101, decode::kTcpAck, a));
    // 20 bytes after `a` were never captured.
    const auto c_seq = static_cast<uint32_t>(101 + a.size() + 20);
    EXPECT_EQ(feed(segment(true, c_seq, decode::kTcpAck, c)), "");
    EXPECT_EQ(gap(kToServer), 20u);
    EXPECT_EQ(appended(kToServer), a.size() + c.size());
    // The tail now holds only the bytes after the gap.
    const std::string d = "next";
    EXPECT_EQ(feed(segment(true, static_cast<uint32_t>(c_seq + c.size()), decode::kTcpAck, d)), c);
}

TEST_F(StreamTailTest, RetransmissionIsCountedAndDoesNotMoveTheTail) {
    const std::string a = "0123456789";
    const std::string b = "abcdefghij";
    feed(segment(true, 100, decode::kTcpSyn, ""));
    feed(segment(true, 101, decode::kTcpAck, a));
    feed(segment(true, 111, decode::kTcpAck, b));
    EXPECT_EQ(feed(segment(true, 101, decode::kTcpAck, a)), "");  // old data: no prefix
    EXPECT_EQ(retransmitted(kToServer), a.size());
    EXPECT_EQ(appended(kToServer), a.size() + b.size());
    EXPECT_EQ(gap(kToServer), 0u);
    const std::string c = "next";
    EXPECT_EQ(feed(segment(true, 121, decode::kTcpAck, c)), a + b);
}

TEST_F(StreamTailTest, OverlapAppendsOnlyTheNewBytes) {
    const std::string a = "0123456789";
    feed(segment(true, 100, decode::kTcpSyn, ""));
    feed(segment(true, 101, decode::kTcpAck, a));
    // Resent with 5 new bytes: "56789" (5 old) + "ABCDE".
    const std::string overlap = "56789ABCDE";
    EXPECT_EQ(feed(segment(true, 106, decode::kTcpAck, overlap)), "");
    EXPECT_EQ(retransmitted(kToServer), 5u);
    EXPECT_EQ(appended(kToServer), a.size() + 5);
    // The next segment continues after the new bytes, with them in its prefix.
    EXPECT_EQ(feed(segment(true, 116, decode::kTcpAck, "xyz")), a + "ABCDE");
    EXPECT_EQ(gap(kToServer), 0u);
}

TEST_F(StreamTailTest, TailKeepsTheLastBytesOfLongSegments) {
    const std::string big(100, 'x');
    const std::string end = "-end";
    std::string seg = big + end;
    feed(segment(true, 100, decode::kTcpSyn, ""));
    feed(segment(true, 101, decode::kTcpAck, seg));
    const std::string prefix =
        feed(segment(true, static_cast<uint32_t>(101 + seg.size()), decode::kTcpAck, "more"));
    ASSERT_EQ(prefix.size(), kStreamTailBytes);
    EXPECT_EQ(prefix, seg.substr(seg.size() - kStreamTailBytes));
    EXPECT_EQ(appended(kToServer), seg.size() + 4);
}

TEST_F(StreamTailTest, MidstreamFlowStartsItsTailAtTheFirstData) {
    const std::string a = "joined late";
    feed(segment(true, 3000, decode::kTcpAck, ""));  // the client's ACK makes 10.0.0.1 client
    EXPECT_EQ(feed(segment(false, 7000, decode::kTcpAck, a)), "");
    EXPECT_EQ(appended(kToClient), a.size());
    EXPECT_EQ(feed(segment(false, static_cast<uint32_t>(7000 + a.size()), decode::kTcpAck, "!")),
              a);
    EXPECT_EQ(gap(kToClient), 0u);
    EXPECT_EQ(appended(kToServer), 0u);
}

TEST_F(StreamTailTest, SequenceWrapIsInOrder) {
    const std::string a = "before wrap";
    const uint32_t seq = UINT32_MAX - 4;  // a spans the 2^32 wrap
    feed(segment(true, seq - 1, decode::kTcpSyn, ""));
    feed(segment(true, seq, decode::kTcpAck, a));
    EXPECT_EQ(feed(segment(true, static_cast<uint32_t>(seq + a.size()), decode::kTcpAck, "x")), a);
    EXPECT_EQ(gap(kToServer), 0u);
    EXPECT_EQ(retransmitted(kToServer), 0u);
}

TEST_F(StreamTailTest, PayloadBytesAreAccountedForExactly) {
    // appended + retransmitted = every payload byte, whatever the order of arrival.
    const std::vector<std::pair<uint32_t, std::string>> segs = {
        {101, "aaaa"}, {105, "bbbb"}, {113, "dddd"}, {109, "cccc"}, {105, "bbbbcc"}, {117, "e"}};
    feed(segment(true, 100, decode::kTcpSyn, ""));
    uint64_t total = 0;
    for (const auto& [seq, data] : segs) {
        feed(segment(true, seq, decode::kTcpAck, data));
        total += data.size();
    }
    EXPECT_EQ(appended(kToServer) + retransmitted(kToServer), total);
    EXPECT_EQ(gap(kToServer), 4u);  // "cccc" arrived after "dddd"
}

TEST_F(StreamTailTest, TailsReturnToThePoolWhenFlowsEnd) {
    feed(segment(true, 100, decode::kTcpSyn, ""));
    feed(segment(true, 101, decode::kTcpAck, "data"));
    feed(segment(false, 900, decode::kTcpAck, "reply"));
    EXPECT_EQ(tails(), 2u);
    size_t ended = 0;
    table_.end_all([&](Flow&, EndReason) { ++ended; });
    EXPECT_EQ(ended, 1u);
    EXPECT_EQ(tails(), 0u);
    EXPECT_EQ(table_.memory_used_bytes(), 0u);
    // The next flow in the same slot starts without old bytes.
    feed(segment(true, 101, decode::kTcpAck, "new"));
    EXPECT_EQ(feed(segment(true, 104, decode::kTcpAck, "er")), "new");
}

TEST_F(StreamTailTest, NonTcpAndEmptySegmentsTakeNoTail) {
    auto udp = segment(true, 0, 0, "dns?");
    udp.ip_proto = decode::kIpProtoUdp;
    feed(udp);
    feed(segment(true, 100, decode::kTcpSyn, ""));
    feed(segment(true, 101, decode::kTcpAck, ""));
    EXPECT_EQ(tails(), 0u);
    EXPECT_EQ(appended(kToServer), 0u);
}

TEST(StreamTailPool, HandsOutEachTailOnceAndReusesReleasedOnes) {
    StreamTailPool pool(2);
    const uint32_t a = pool.acquire();
    const uint32_t b = pool.acquire();
    EXPECT_NE(a, kNoTail);
    EXPECT_NE(b, kNoTail);
    EXPECT_NE(a, b);
    EXPECT_EQ(pool.acquire(), kNoTail);
    EXPECT_EQ(pool.in_use(), 2u);
    pool.release(a);
    EXPECT_EQ(pool.in_use(), 1u);
    EXPECT_EQ(pool.acquire(), a);
    EXPECT_EQ(pool.acquire(), kNoTail);
}

TEST(StreamTailWindow, AJumpBeyondAnyWindowIsNoGap) {
    StreamState s;
    const std::string a = "payload";
    const auto bytes =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size());
    advance_window(s, {}, 1000, false, bytes);
    // 1 GiB + 1 ahead: more than a window can hold, so not counted as lost bytes.
    StreamAdvance far = advance_window(s, {}, 1007u + (1u << 30) + 1u, false, bytes);
    EXPECT_TRUE(far.resynced);
    EXPECT_EQ(far.gap, 0u);
    EXPECT_EQ(far.appended, a.size());
    // Exactly 1 GiB ahead is still a gap.
    const uint32_t next = s.next_seq;
    StreamAdvance edge = advance_window(s, {}, next + (1u << 30), false, bytes);
    EXPECT_FALSE(edge.resynced);
    EXPECT_EQ(edge.gap, 1u << 30);
}

TEST(StreamTailWindow, WithoutTailBytesOnlyTheSequenceMoves) {
    StreamState s;
    const std::string a = "payload";
    const auto bytes =
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(a.data()), a.size());
    StreamAdvance r = advance_window(s, {}, 10, false, bytes);
    EXPECT_EQ(r.appended, a.size());
    EXPECT_EQ(s.len, 0u);
    EXPECT_TRUE(s.seq_known);
    EXPECT_EQ(s.next_seq, 10 + a.size());
}

}  // namespace
}  // namespace sensor::flow
