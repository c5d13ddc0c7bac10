#include "sensor/flow/reassembly.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace sensor::flow {
namespace {

// Records what the reassembler hands over, per direction: the bytes, the sequence number
// expected next, and the gaps it saw (a call starting past the previous one's end).
class RecordingSink final : public StreamSink {
public:
    void data(bool to_server, std::span<const uint8_t> bytes, uint32_t seq) noexcept override {
        Side& s = side_[to_server ? 0 : 1];
        if (s.started && seq != s.next) {
            s.gaps.push_back(seq - s.next);
        }
        s.started = true;
        s.next = seq + static_cast<uint32_t>(bytes.size());
        s.bytes.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        ++s.calls;
    }
    void end(bool to_server, bool reset) noexcept override { ends.push_back({to_server, reset}); }

    const std::string& bytes(bool to_server) const { return side_[to_server ? 0 : 1].bytes; }
    const std::vector<uint32_t>& gaps(bool to_server) const {
        return side_[to_server ? 0 : 1].gaps;
    }
    size_t calls(bool to_server) const { return side_[to_server ? 0 : 1].calls; }

    struct End {
        bool to_server;
        bool reset;
    };
    std::vector<End> ends;

private:
    struct Side {
        std::string bytes;
        std::vector<uint32_t> gaps;
        uint32_t next = 0;
        bool started = false;
        size_t calls = 0;
    };
    Side side_[2];
};

constexpr uint32_t kClientIsn = 1000;
constexpr uint32_t kServerIsn = 70000;
constexpr uint32_t kSlot = 3;

// A TCP flow after its handshake, seen from both sides (or, with peer_seen false, from the
// client only), driven by hand.
class Conversation {
public:
    explicit Conversation(bool peer_seen = true, uint32_t client_isn = kClientIsn) {
        flow_.key.ip_proto = decode::kIpProtoTcp;
        flow_.tcp_flags[0] = decode::kTcpSyn | decode::kTcpAck;
        flow_.stream[0].next_seq = client_isn + 1;
        flow_.stream[0].seq_known = true;
        if (peer_seen) {
            flow_.tcp_flags[1] = decode::kTcpSyn | decode::kTcpAck;
            flow_.stream[1].next_seq = kServerIsn + 1;
            flow_.stream[1].seq_known = true;
        }
        next_[0] = client_isn + 1;
        next_[1] = kServerIsn + 1;
    }

    Flow& flow() { return flow_; }

    // A segment of direction to_server at offset `at` past that side's first data byte.
    decode::DecodedPacket segment(bool to_server, uint32_t at, std::string_view bytes,
                                  uint8_t flags = decode::kTcpAck | decode::kTcpPsh) {
        payloads_.emplace_back(bytes);
        const std::string& p = payloads_.back();
        decode::DecodedPacket pkt;
        pkt.ip_proto = decode::kIpProtoTcp;
        pkt.tcp_flags = flags;
        pkt.tcp_seq = next_[to_server ? 0 : 1] + at;
        pkt.tcp_ack = next_[to_server ? 1 : 0] + acked_[to_server ? 1 : 0];
        pkt.payload =
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p.data()), p.size());
        return pkt;
    }
    // A pure ACK from to_server's side acknowledging `bytes` of the other side's data.
    decode::DecodedPacket ack(bool to_server, uint32_t bytes) {
        acked_[to_server ? 1 : 0] = bytes;
        return segment(to_server, 0, "", decode::kTcpAck);
    }

private:
    Flow flow_;
    uint32_t next_[2] = {};
    uint32_t acked_[2] = {};
    std::deque<std::string> payloads_;
};

ReassemblyConfig small_pool(size_t memcap = size_t{1} << 20) {
    ReassemblyConfig c;
    c.memcap_bytes = memcap;
    c.max_flows = 16;
    return c;
}

TEST(Reassembly, InOrderBytesWithoutAPeerGoStraightFromThePacket) {
    Reassembler r(small_pool());
    Conversation c(/*peer_seen=*/false);
    RecordingSink sink;
    auto p1 = c.segment(true, 0, "GET / HTTP/1.1\r\n");
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, p1));
    r.on_packet(kSlot, c.flow(), true, p1, sink);
    EXPECT_EQ(sink.bytes(true), "GET / HTTP/1.1\r\n");
    auto p2 = c.segment(true, 16, "Host: a\r\n\r\n");
    r.on_packet(kSlot, c.flow(), true, p2, sink);
    EXPECT_EQ(sink.bytes(true), "GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(r.stats().held_bytes.load(), 0u);
    EXPECT_EQ(r.stats().direct_bytes.load(), 27u);
    EXPECT_EQ(r.stats().blocks_in_use.load(), 0u);
}

TEST(Reassembly, BytesWaitForTheOtherSidesAcknowledgement) {
    Reassembler r(small_pool());
    Conversation c;
    RecordingSink sink;
    auto req = c.segment(true, 0, "GET /a HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, req));
    r.on_packet(kSlot, c.flow(), true, req, sink);
    EXPECT_EQ(sink.bytes(true), "");
    EXPECT_EQ(r.stats().held_bytes.load(), 19u);

    auto part = c.ack(false, 4);
    r.on_packet(kSlot, c.flow(), false, part, sink);
    EXPECT_EQ(sink.bytes(true), "GET ");
    auto all = c.ack(false, 19);
    r.on_packet(kSlot, c.flow(), false, all, sink);
    EXPECT_EQ(sink.bytes(true), "GET /a HTTP/1.0\r\n\r\n");
    EXPECT_TRUE(sink.gaps(true).empty());
    EXPECT_EQ(r.stats().blocks_in_use.load(), 0u);  // nothing held any more
}

TEST(Reassembly, ResponseWaitsForTheClientsAck) {
    Reassembler r(small_pool());
    Conversation c;
    RecordingSink sink;
    auto req = c.segment(true, 0, "GET / HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, req));
    r.on_packet(kSlot, c.flow(), true, req, sink);
    // The response acknowledges the request: the request goes, the response is held.
    c.ack(false, 18);
    auto resp = c.segment(false, 0, "HTTP/1.0 200 OK\r\n\r\n");
    r.on_packet(kSlot, c.flow(), false, resp, sink);
    EXPECT_EQ(sink.bytes(true), "GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(sink.bytes(false), "");
    auto ack = c.ack(true, 19);
    r.on_packet(kSlot, c.flow(), true, ack, sink);
    EXPECT_EQ(sink.bytes(false), "HTTP/1.0 200 OK\r\n\r\n");
}

TEST(Reassembly, OutOfOrderSegmentsAreHandedOverInSequence) {
    for (bool peer_seen : {false, true}) {
        SCOPED_TRACE(peer_seen ? "held until acknowledged" : "handed over once in order");
        Reassembler r(small_pool());
        Conversation c(peer_seen);
        RecordingSink sink;
        auto s1 = c.segment(true, 0, "GET /x");
        auto s3 = c.segment(true, 12, "\r\n\r\n");
        auto s2 = c.segment(true, 6, " HTTP/");
        ASSERT_TRUE(r.open(kSlot, c.flow(), true, s1));
        r.on_packet(kSlot, c.flow(), true, s1, sink);
        r.on_packet(kSlot, c.flow(), true, s3, sink);
        EXPECT_EQ(sink.bytes(true), peer_seen ? "" : "GET /x");
        r.on_packet(kSlot, c.flow(), true, s2, sink);
        if (peer_seen) {
            auto ack = c.ack(false, 16);
            r.on_packet(kSlot, c.flow(), false, ack, sink);
        }
        EXPECT_EQ(sink.bytes(true), "GET /x HTTP/\r\n\r\n");
        EXPECT_TRUE(sink.gaps(true).empty());
        EXPECT_EQ(r.stats().out_of_order_segments.load(), 1u);
        EXPECT_EQ(r.stats().gaps.load(), 0u);
    }
}

TEST(Reassembly, AcknowledgedHoleIsSkippedAndCounted) {
    Reassembler r(small_pool());
    Conversation c;
    RecordingSink sink;
    auto s1 = c.segment(true, 0, "abcd");
    auto s3 = c.segment(true, 10, "klmn");  // [4, 10) never captured
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, s1));
    r.on_packet(kSlot, c.flow(), true, s1, sink);
    r.on_packet(kSlot, c.flow(), true, s3, sink);
    auto ack = c.ack(false, 14);
    r.on_packet(kSlot, c.flow(), false, ack, sink);
    EXPECT_EQ(sink.bytes(true), "abcdklmn");
    ASSERT_EQ(sink.gaps(true).size(), 1u);
    EXPECT_EQ(sink.gaps(true)[0], 6u);
    EXPECT_EQ(r.stats().gaps.load(), 1u);
    EXPECT_EQ(r.stats().gap_bytes.load(), 6u);
}

TEST(Reassembly, HoleWithoutAPeerIsWaitedForABoundedNumberOfSegments) {
    Reassembler r(small_pool());
    Conversation c(/*peer_seen=*/false);
    RecordingSink sink;
    auto first = c.segment(true, 0, "ab");
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, first));
    r.on_packet(kSlot, c.flow(), true, first, sink);
    // Byte 2 never comes; every later segment is one byte.
    for (uint32_t i = 0; i < kReassemblyHoleSegments; ++i) {
        auto s = c.segment(true, 3 + i, "x");
        r.on_packet(kSlot, c.flow(), true, s, sink);
    }
    EXPECT_EQ(sink.bytes(true), "ab");  // still waiting
    auto last = c.segment(true, 3 + kReassemblyHoleSegments, "y");
    r.on_packet(kSlot, c.flow(), true, last, sink);
    EXPECT_EQ(sink.bytes(true), "ab" + std::string(kReassemblyHoleSegments, 'x') + "y");
    ASSERT_EQ(sink.gaps(true).size(), 1u);
    EXPECT_EQ(sink.gaps(true)[0], 1u);
    EXPECT_EQ(r.stats().gap_bytes.load(), 1u);
}

TEST(Reassembly, TheFirstCopyOfOverlappingBytesWins) {
    Reassembler r(small_pool());
    Conversation c;
    RecordingSink sink;
    auto s2 = c.segment(true, 4, "EFGH");
    auto s1 = c.segment(true, 0, "abcdefgh");  // overlaps s2 with other bytes
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, s2));
    r.on_packet(kSlot, c.flow(), true, s2, sink);
    r.on_packet(kSlot, c.flow(), true, s1, sink);
    auto again = c.segment(true, 0, "ABCD");  // retransmission of held bytes
    r.on_packet(kSlot, c.flow(), true, again, sink);
    auto ack = c.ack(false, 8);
    r.on_packet(kSlot, c.flow(), false, ack, sink);
    auto old = c.segment(true, 2, "zz");  // already handed over
    r.on_packet(kSlot, c.flow(), true, old, sink);
    EXPECT_EQ(sink.bytes(true), "abcdEFGH");
    EXPECT_EQ(r.stats().overlap_bytes.load(), 4u + 4u + 2u);
    EXPECT_EQ(r.stats().held_bytes.load(), 8u);
}

TEST(Reassembly, FinEndsTheDirectionOnceItsBytesAreHandedOver) {
    Reassembler r(small_pool());
    Conversation c;
    RecordingSink sink;
    auto resp =
        c.segment(false, 0, "HTTP/1.0 200 OK\r\n\r\nbody", decode::kTcpAck | decode::kTcpFin);
    ASSERT_TRUE(r.open(kSlot, c.flow(), false, resp));
    r.on_packet(kSlot, c.flow(), false, resp, sink);
    EXPECT_TRUE(sink.ends.empty());
    // The client acknowledges the data and the FIN (one sequence number more).
    auto ack = c.ack(true, 24 + 1);
    r.on_packet(kSlot, c.flow(), true, ack, sink);
    EXPECT_EQ(sink.bytes(false), "HTTP/1.0 200 OK\r\n\r\nbody");
    ASSERT_EQ(sink.ends.size(), 1u);
    EXPECT_FALSE(sink.ends[0].to_server);
    EXPECT_FALSE(sink.ends[0].reset);
    EXPECT_EQ(r.stats().gaps.load(), 0u);  // the FIN's sequence number is no missing byte
}

TEST(Reassembly, ResetHandsOverEverythingHeldAndEnds) {
    Reassembler r(small_pool());
    Conversation c;
    RecordingSink sink;
    auto req = c.segment(true, 0, "GET / HTTP/1.0\r\n\r\n");
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, req));
    r.on_packet(kSlot, c.flow(), true, req, sink);
    auto resp = c.segment(false, 0, "HTTP/1.0 200 OK\r\n");
    r.on_packet(kSlot, c.flow(), false, resp, sink);  // acknowledges nothing yet
    auto rst = c.segment(true, 18, "", decode::kTcpRst);
    r.on_packet(kSlot, c.flow(), true, rst, sink);
    EXPECT_EQ(sink.bytes(true), "GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(sink.bytes(false), "HTTP/1.0 200 OK\r\n");
    ASSERT_EQ(sink.ends.size(), 1u);
    EXPECT_TRUE(sink.ends[0].to_server);
    EXPECT_TRUE(sink.ends[0].reset);
}

TEST(Reassembly, FullWindowDeliversUnacknowledgedBytesOldestFirst) {
    Reassembler r(small_pool());
    Conversation c;
    RecordingSink sink;
    std::string sent;
    const std::string chunk(1400, 'q');
    bool opened = false;
    for (uint32_t at = 0; at < 2 * kReassemblyWindowBytes; at += 1400) {
        std::string bytes = chunk;
        bytes[0] = static_cast<char>('a' + (at / 1400) % 26);  // tell the chunks apart
        auto s = c.segment(false, at, bytes);
        if (!opened) {
            ASSERT_TRUE(r.open(kSlot, c.flow(), false, s));
            opened = true;
        }
        r.on_packet(kSlot, c.flow(), false, s, sink);
        sent += bytes;
    }
    // Never acknowledged: the window made room by handing over the oldest bytes.
    EXPECT_GT(r.stats().forced_bytes.load(), 0u);
    EXPECT_LE(sent.size() - sink.bytes(false).size(), kReassemblyWindowBytes);
    EXPECT_EQ(sink.bytes(false), sent.substr(0, sink.bytes(false).size()));
    r.flush(kSlot, sink);
    EXPECT_EQ(sink.bytes(false), sent);
    EXPECT_TRUE(sink.gaps(false).empty());
}

TEST(Reassembly, SequenceNumbersWrapAround) {
    Reassembler r(small_pool());
    Conversation c(true, UINT32_MAX - 5);  // the data straddles 2^32
    RecordingSink sink;
    auto s2 = c.segment(true, 6, "world");
    auto s1 = c.segment(true, 0, "hello ");
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, s1));
    r.on_packet(kSlot, c.flow(), true, s2, sink);
    r.on_packet(kSlot, c.flow(), true, s1, sink);
    auto ack = c.ack(false, 11);
    r.on_packet(kSlot, c.flow(), false, ack, sink);
    EXPECT_EQ(sink.bytes(true), "hello world");
    EXPECT_TRUE(sink.gaps(true).empty());
}

TEST(Reassembly, NoFreeEntryRefusesTheFlowAndCountsIt) {
    // A pool this small has one stream entry.
    ReassemblyConfig cfg = small_pool(12 * 1024);
    Reassembler r(cfg);
    ASSERT_TRUE(r.enabled());
    ASSERT_EQ(r.entry_capacity(), 1u);
    Conversation a;
    Conversation b;
    auto pa = a.segment(true, 0, "GET");
    auto pb = b.segment(true, 0, "GET");
    EXPECT_TRUE(r.open(1, a.flow(), true, pa));
    EXPECT_FALSE(r.open(2, b.flow(), true, pb));
    EXPECT_TRUE(r.refused(2));
    EXPECT_FALSE(r.holds(2));
    EXPECT_EQ(r.stats().pool_full.load(), 1u);
    r.release(1);
    r.release(2);
    EXPECT_FALSE(r.refused(2));
    EXPECT_TRUE(r.open(2, b.flow(), true, pb));
}

TEST(Reassembly, RunningOutOfBlocksFlushesAndFallsBackToOnArrival) {
    ReassemblyConfig cfg = small_pool(12 * 1024);
    Reassembler r(cfg);
    ASSERT_TRUE(r.enabled());
    const size_t blocks = r.block_capacity();
    Conversation c;
    RecordingSink sink;
    std::string sent;
    bool opened = false;
    uint32_t at = 0;
    // Unacknowledged bytes until the pool has no block left.
    while (r.holds(kSlot) || !opened) {
        std::string bytes(1000, static_cast<char>('a' + (at / 1000) % 26));
        auto s = c.segment(true, at, bytes);
        if (!opened) {
            ASSERT_TRUE(r.open(kSlot, c.flow(), true, s));
            opened = true;
        }
        r.on_packet(kSlot, c.flow(), true, s, sink);
        sent += bytes;
        at += 1000;
        ASSERT_LT(at, (blocks + 2) * kReassemblyBlockBytes) << "pool never ran out";
    }
    EXPECT_EQ(r.stats().pool_full.load(), 1u);
    EXPECT_TRUE(r.refused(kSlot));
    EXPECT_EQ(sink.bytes(true), sent);  // nothing lost: all handed over, in order
    EXPECT_EQ(r.stats().blocks_in_use.load(), 0u);
    EXPECT_EQ(r.stats().streams_in_use.load(), 0u);
}

TEST(Reassembly, ReleaseReturnsBlocksAndEntries) {
    Reassembler r(small_pool());
    Conversation c;
    RecordingSink sink;
    auto s3 = c.segment(true, 5000, "late");
    auto s1 = c.segment(true, 0, "early");
    ASSERT_TRUE(r.open(kSlot, c.flow(), true, s1));
    r.on_packet(kSlot, c.flow(), true, s1, sink);
    r.on_packet(kSlot, c.flow(), true, s3, sink);
    EXPECT_EQ(r.stats().streams_in_use.load(), 1u);
    EXPECT_EQ(r.stats().blocks_in_use.load(), 2u);
    r.release(kSlot);
    EXPECT_EQ(r.stats().streams_in_use.load(), 0u);
    EXPECT_EQ(r.stats().blocks_in_use.load(), 0u);
    EXPECT_FALSE(r.holds(kSlot));
    EXPECT_EQ(sink.bytes(true), "");
}

TEST(Reassembly, ZeroMemcapTurnsHoldingOff) {
    Reassembler r(small_pool(0));
    Conversation c;
    auto p = c.segment(true, 0, "GET");
    EXPECT_FALSE(r.enabled());
    EXPECT_FALSE(r.open(kSlot, c.flow(), true, p));
    EXPECT_FALSE(r.holds(kSlot));
}

}  // namespace
}  // namespace sensor::flow
