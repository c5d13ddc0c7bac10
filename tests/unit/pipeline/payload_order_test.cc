// Payload rules see each TCP direction in sequence order, each byte once (Worker's payload
// ordering): a pattern split across segments that arrive out of order alerts, a
// retransmission does not alert again, an overlap keeps the copy that came first, a hole
// that never fills is given up. Each case also runs with ordering off
// (stream.reassembly.ordering-memcap 0, arrival order) to show what the ordering changes.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"
#include "tests/unit/pipeline/tcp_talk.h"

namespace sensor::pipeline {
namespace {

using tcp_test::Talk;

// Port 9000: no app-layer parser holds these bytes, only payload ordering.
constexpr const char* kRules =
    "alert tcp any any -> any any (msg:\"split\"; flow:to_server; content:\"NightOwlBot/2.1\"; "
    "sid:1;)\n"
    "alert tcp any any -> any any (msg:\"evil\"; flow:to_server; content:\"EVIL\"; sid:2;)\n"
    "alert tcp any any -> any any (msg:\"relative\"; flow:to_server; content:\"BEGIN\"; "
    "content:\"END\"; distance:100; within:20; sid:3;)\n";

constexpr size_t kOrderingOn = size_t{16} << 20;

class PayloadOrder : public tcp_test::FeedsWorker {
protected:
    void start(size_t ordering_memcap, uint32_t depth = WorkerConfig{}.stream_depth) {
        WorkerConfig config;
        config.stream_ordering_memcap = ordering_memcap;
        config.stream_depth = depth;
        start_worker(config, kRules);
        payload_bytes_ = 0;
    }
    size_t send(Talk& t, uint32_t at, const std::string& text) {
        payload_bytes_ += text.size();
        return feed(t.data(true, at, text));
    }
    std::vector<uint64_t> packets_of(uint32_t sid) const {
        std::vector<uint64_t> v;
        for (const auto& a : alerts_) {
            if (a.signature_id == sid) {
                v.push_back(a.packet_index);
            }
        }
        return v;
    }
    void handshake(Talk& t) {
        feed(t.syn());
        feed(t.syn_ack());
        feed(t.ack(true, 0));
    }
    // Every TCP payload byte the worker saw is either appended to its stream or counted as
    // retransmitted.
    void expect_bytes_accounted() const {
        const auto& s = worker_->flows().stream_stats();
        EXPECT_EQ(s.appended_bytes[0].load() + s.retransmitted_bytes[0].load(), payload_bytes_);
    }

    uint64_t payload_bytes_ = 0;  // TCP payload bytes the client sent
};

const std::string kBeacon =
    "POST /gate.php HTTP/1.1\r\nUser-Agent: NightOwlBot/2.1\r\nHost: cdn\r\n\r\nid=7";
const size_t kCut = kBeacon.find("NightOwl") + 5;

TEST_F(PayloadOrder, PatternSplitAcrossSegmentsThatArriveOutOfOrderAlerts) {
    for (const size_t memcap : {kOrderingOn, size_t{0}}) {
        SCOPED_TRACE(memcap == 0 ? "ordering off" : "ordering on");
        ASSERT_NO_FATAL_FAILURE(start(memcap));
        Talk t(9000);
        handshake(t);
        const auto cut = static_cast<uint32_t>(kCut);
        EXPECT_EQ(send(t, cut, kBeacon.substr(kCut)), 0u);  // 4: ahead of the missing part
        send(t, 0, kBeacon.substr(0, kCut));                // 5: fills the hole
        if (memcap == 0) {
            EXPECT_TRUE(packets_of(1).empty());  // arrival order never sees both halves
            continue;
        }
        EXPECT_EQ(packets_of(1), std::vector<uint64_t>{5});
        const auto& order = worker_->payload_order().stats();
        EXPECT_EQ(order.out_of_order_segments.load(), 1u);
        // The early segment waited; the one filling the hole went through the pool with it.
        EXPECT_EQ(order.held_bytes.load(), kBeacon.size());
        EXPECT_EQ(order.gaps.load(), 0u);
        EXPECT_EQ(order.streams_in_use.load(), 0u);  // released once nothing waits
        expect_bytes_accounted();
    }
}

TEST_F(PayloadOrder, RetransmissionDoesNotAlertAgain) {
    for (const size_t memcap : {kOrderingOn, size_t{0}}) {
        SCOPED_TRACE(memcap == 0 ? "ordering off" : "ordering on");
        ASSERT_NO_FATAL_FAILURE(start(memcap));
        Talk t(9000);
        handshake(t);
        EXPECT_EQ(send(t, 0, "hello EVIL world"), 1u);                     // 4
        EXPECT_EQ(send(t, 0, "hello EVIL world"), memcap == 0 ? 1u : 0u);  // 5: again
        // A retransmission that also brings new bytes: only those are inspected.
        EXPECT_EQ(send(t, 6, "EVIL world EVIL"), 1u);  // 6: the second EVIL is new
        if (memcap != 0) {
            EXPECT_EQ(packets_of(2), (std::vector<uint64_t>{4, 6}));
            expect_bytes_accounted();
            EXPECT_EQ(worker_->flows().stream_stats().retransmitted_bytes[0].load(), 16u + 10u);
        }
    }
}

TEST_F(PayloadOrder, OverlapKeepsTheCopyThatCameFirst) {
    ASSERT_NO_FATAL_FAILURE(start(kOrderingOn));
    Talk t(9000);
    handshake(t);
    send(t, 0, "0123456789");                  // 4
    EXPECT_EQ(send(t, 20, "abcdefghij"), 0u);  // 5: ahead, held (bytes 20..29)
    // 6: fills 10..19 and rewrites 20..23 as "EVIL": the receiver has "abcd" there already.
    EXPECT_EQ(send(t, 10, "klmnopqrstEVIL"), 0u);
    EXPECT_TRUE(packets_of(2).empty());
    EXPECT_EQ(worker_->payload_order().stats().overlap_bytes.load(), 4u);
    expect_bytes_accounted();
}

TEST_F(PayloadOrder, RelativeMatchReachesBackPastTheCurrentSegment) {
    // "BEGIN" and "END" 100 bytes apart, the END in a segment that arrives first. Only the
    // ordering puts the two in one inspected buffer (the stream tail keeps 64 bytes).
    const std::string text = "BEGIN" + std::string(100, '.') + "END tail";
    for (const size_t memcap : {kOrderingOn, size_t{0}}) {
        SCOPED_TRACE(memcap == 0 ? "ordering off" : "ordering on");
        ASSERT_NO_FATAL_FAILURE(start(memcap));
        Talk t(9000);
        handshake(t);
        EXPECT_EQ(send(t, 50, text.substr(50)), 0u);  // 4
        send(t, 0, text.substr(0, 50));               // 5
        EXPECT_EQ(packets_of(3), memcap == 0 ? std::vector<uint64_t>{} : std::vector<uint64_t>{5});
    }
}

TEST_F(PayloadOrder, HoleThatNeverFillsIsGivenUpAndTheBytesAfterItInspected) {
    ASSERT_NO_FATAL_FAILURE(start(kOrderingOn));
    Talk t(9000);
    handshake(t);
    send(t, 0, "start ");                          // 4
    EXPECT_EQ(send(t, 100, "an EVIL thing"), 0u);  // 5: bytes 6..99 never come
    EXPECT_EQ(finish(), 1u);                       // the flow's end gives the hole up
    ASSERT_EQ(packets_of(2).size(), 1u);
    EXPECT_EQ(packets_of(2)[0], 0u);  // inspected on the end-of-stream pseudo packet
    EXPECT_EQ(worker_->payload_order().stats().gaps.load(), 1u);
    EXPECT_EQ(worker_->payload_order().stats().gap_bytes.load(), 94u);
    EXPECT_EQ(worker_->payload_order().stats().streams_in_use.load(), 0u);
}

TEST_F(PayloadOrder, HoleIsGivenUpAfterSixteenFurtherSegments) {
    ASSERT_NO_FATAL_FAILURE(start(kOrderingOn));
    Talk t(9000);
    handshake(t);
    EXPECT_EQ(send(t, 10, "EVIL"), 0u);  // 4: bytes 0..9 never come
    uint32_t at = 14;
    size_t alerts = 0;
    for (int i = 0; i < 17; ++i) {
        alerts += send(t, at, "....");
        at += 4;
    }
    EXPECT_EQ(alerts, 1u);
    EXPECT_EQ(packets_of(2), std::vector<uint64_t>{4 + 16});
    EXPECT_EQ(worker_->payload_order().stats().gaps.load(), 1u);
}

TEST_F(PayloadOrder, HoleTheReceiverAcknowledgedIsGivenUpAtOnce) {
    // Capture loss: the server acknowledges bytes the capture never showed. What waited
    // behind them is inspected on a pseudo packet of its own direction right then, and the
    // client's next segments are inspected as they come.
    ASSERT_NO_FATAL_FAILURE(start(kOrderingOn));
    Talk t(9000);
    handshake(t);
    send(t, 0, "start ");                          // 4
    EXPECT_EQ(send(t, 100, "an EVIL thing"), 0u);  // 5: bytes 6..99 lost
    EXPECT_EQ(feed(t.ack(false, 113)), 1u);        // 6: the server has them all
    ASSERT_EQ(packets_of(2).size(), 1u);
    EXPECT_EQ(packets_of(2)[0], 0u);
    EXPECT_EQ(alerts_[0].direction, "to_server");
    EXPECT_EQ(worker_->payload_order().stats().gaps.load(), 1u);
    EXPECT_EQ(worker_->payload_order().stats().streams_in_use.load(), 0u);
    EXPECT_EQ(send(t, 113, "EVIL again"), 1u);  // 7: in order, inspected as it comes
    EXPECT_EQ(packets_of(2)[1], 7u);
    expect_bytes_accounted();
}

TEST_F(PayloadOrder, SegmentsPastTheReassemblyDepthAreInspectedAsTheyCome) {
    // The beacon starts 200 bytes into the stream: within a depth of 1 KiB it is put back in
    // order, past a depth of 100 bytes its two halves are inspected as they come.
    const std::string lead(200, '.');
    for (const uint32_t depth : {1024u, 100u}) {
        SCOPED_TRACE(depth);
        ASSERT_NO_FATAL_FAILURE(start(kOrderingOn, depth));
        Talk t(9000);
        handshake(t);
        send(t, 0, lead);  // 4
        const auto cut = static_cast<uint32_t>(lead.size() + kCut);
        EXPECT_EQ(send(t, cut, kBeacon.substr(kCut)), 0u);                     // 5
        send(t, static_cast<uint32_t>(lead.size()), kBeacon.substr(0, kCut));  // 6
        EXPECT_EQ(packets_of(1),
                  depth == 1024u ? std::vector<uint64_t>{6} : std::vector<uint64_t>{});
        EXPECT_EQ(worker_->payload_order().stats().out_of_order_segments.load(),
                  depth == 1024u ? 1u : 0u);
    }
}

TEST_F(PayloadOrder, FullPoolFallsBackToArrivalOrderAndIsCounted) {
    // Room for one flow's entry: the first flow with a hole takes it, the second is refused
    // and inspected in arrival order.
    ASSERT_NO_FATAL_FAILURE(start(12 * 1024));
    ASSERT_EQ(worker_->payload_order().entry_capacity(), 1u);
    Talk first(9000);
    handshake(first);
    EXPECT_EQ(send(first, 100, "held"), 0u);  // waits for bytes 0..99
    Talk second(9001);
    handshake(second);
    const auto cut = static_cast<uint32_t>(kCut);
    EXPECT_EQ(send(second, cut, kBeacon.substr(kCut)), 0u);
    send(second, 0, kBeacon.substr(0, kCut));
    EXPECT_TRUE(packets_of(1).empty());
    EXPECT_EQ(worker_->payload_order().stats().pool_full.load(), 1u);
    EXPECT_EQ(worker_->payload_order().stats().streams_in_use.load(), 1u);
}

}  // namespace
}  // namespace sensor::pipeline
