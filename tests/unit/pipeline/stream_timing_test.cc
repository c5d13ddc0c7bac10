// When the worker's app layer sees TCP bytes (flow/reassembly.h): in sequence order, and in
// Suricata's IDS timing (parsed once the other side acknowledged them, inspected on the next
// packet of their direction), with the fallbacks for one-sided captures, requests never
// acknowledged and a full pool. Driven through Worker::process on generated frames.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <span>
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

constexpr const char* kRules =
    "alert http any any -> any any (msg:\"uri\"; flow:to_server; http.uri; "
    "content:\"/admin/secret\"; sid:1;)\n"
    "alert http any any -> any any (msg:\"status\"; http.stat_code; content:\"200\"; sid:2;)\n";

const std::string kRequest =
    "GET /admin/secret HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
const std::string kResponse = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
// The request in three segments, cut inside the URI.
const std::string kPart[3] = {kRequest.substr(0, 9), kRequest.substr(9, 6), kRequest.substr(15)};
constexpr uint32_t kAt[3] = {0, 9, 15};

class StreamTiming : public tcp_test::FeedsWorker {
protected:
    void start(size_t memcap = flow::ReassemblyConfig{}.memcap_bytes,
               const char* rules_text = kRules) {
        WorkerConfig config;
        config.stream_reassembly_memcap = memcap;
        start_worker(config, rules_text);
    }

    std::vector<const core::AlertRecord*> alerts(uint32_t sid) const {
        std::vector<const core::AlertRecord*> found;
        for (const auto& a : alerts_) {
            if (a.signature_id == sid) {
                found.push_back(&a);
            }
        }
        return found;
    }
};

// What the two runs must agree on.
struct UriAlert {
    uint64_t packet_index;
    int64_t tx_id;
    std::string url;
    std::string direction;
    bool operator==(const UriAlert&) const = default;
};

TEST_F(StreamTiming, RequestDeliveredOneThreeTwoIsParsedAndAlertsLikeTheInOrderOne) {
    std::vector<UriAlert> runs;
    for (const auto& order : {std::vector<int>{0, 1, 2}, std::vector<int>{0, 2, 1}}) {
        SCOPED_TRACE(order[1] == 1 ? "in order" : "segments 1, 3, 2");
        ASSERT_NO_FATAL_FAILURE(start());
        Talk t;
        feed(t.syn());
        feed(t.syn_ack());
        feed(t.ack(true, 0));
        for (int i : order) {
            EXPECT_EQ(feed(t.data(true, kAt[i], kPart[i])), 0u);  // held: not acknowledged
        }
        EXPECT_EQ(feed(t.ack(false, static_cast<uint32_t>(kRequest.size()))), 0u);
        EXPECT_EQ(feed(t.ack(true, 0)), 1u);  // the client's next packet inspects it
        const auto uri = alerts(1);
        ASSERT_EQ(uri.size(), 1u);
        ASSERT_TRUE(uri[0]->http.has_value());
        runs.push_back({uri[0]->packet_index, uri[0]->tx_id, uri[0]->http->url,
                        std::string(uri[0]->direction)});
        const auto& rs = worker_->reassembler().stats();
        EXPECT_EQ(rs.out_of_order_segments.load(), order[1] == 1 ? 0u : 1u);
        EXPECT_EQ(rs.gaps.load(), 0u);
        EXPECT_EQ(worker_->app_layer().stats().stream_gaps.load(), 0u);
    }
    ASSERT_EQ(runs.size(), 2u);
    EXPECT_EQ(runs[0], (UriAlert{8, 0, "/admin/secret", "to_server"}));
    EXPECT_EQ(runs[1], runs[0]);
}

TEST_F(StreamTiming, ResponseIsInspectedOnTheServersPacketAfterTheClientsAck) {
    ASSERT_NO_FATAL_FAILURE(start());
    Talk t;
    feed(t.syn());
    feed(t.syn_ack());
    feed(t.ack(true, 0));
    feed(t.data(true, 0, kRequest));  // 4
    t.ack(false, static_cast<uint32_t>(kRequest.size()));
    EXPECT_EQ(feed(t.data(false, 0, kResponse)), 0u);  // 5: the request is parsed here
    EXPECT_EQ(feed(t.ack(true, static_cast<uint32_t>(kResponse.size()))), 1u);  // 6: uri
    EXPECT_EQ(feed(t.ack(false, static_cast<uint32_t>(kRequest.size()))), 1u);  // 7: status
    const auto status = alerts(2);
    ASSERT_EQ(status.size(), 1u);
    EXPECT_EQ(status[0]->packet_index, 7u);
    EXPECT_EQ(status[0]->direction, "to_client");
    EXPECT_EQ(status[0]->tx_id, 0);
    const auto uri = alerts(1);
    ASSERT_EQ(uri.size(), 1u);
    EXPECT_EQ(uri[0]->packet_index, 6u);
    ASSERT_TRUE(uri[0]->http.has_value());
    EXPECT_EQ(uri[0]->http->status, 200);  // the response packet 6 acknowledged came first
}

TEST_F(StreamTiming, OneSidedCaptureIsParsedOnArrivalInSequenceOrder) {
    ASSERT_NO_FATAL_FAILURE(start());
    Talk t;
    feed(t.syn());
    feed(t.ack(true, 0));  // the server's packets are not in the capture
    EXPECT_EQ(feed(t.data(true, kAt[0], kPart[0])), 0u);
    EXPECT_EQ(feed(t.data(true, kAt[2], kPart[2])), 0u);  // waits for the missing piece
    EXPECT_EQ(feed(t.data(true, kAt[1], kPart[1])), 1u);  // fills it: parsed and inspected
    const auto uri = alerts(1);
    ASSERT_EQ(uri.size(), 1u);
    EXPECT_EQ(uri[0]->packet_index, 5u);
    EXPECT_EQ(worker_->reassembler().stats().out_of_order_segments.load(), 1u);
}

TEST_F(StreamTiming, RequestNeverAcknowledgedIsInspectedWhenTheFlowEnds) {
    ASSERT_NO_FATAL_FAILURE(start());
    Talk t;
    feed(t.syn());
    feed(t.syn_ack());
    feed(t.ack(true, 0));
    EXPECT_EQ(feed(t.data(true, 0, kRequest)), 0u);
    EXPECT_EQ(finish(), 1u);
    const auto uri = alerts(1);
    ASSERT_EQ(uri.size(), 1u);
    EXPECT_EQ(uri[0]->packet_index, 0u);  // Suricata's end-of-stream pseudo packet
    EXPECT_EQ(uri[0]->direction, "to_server");
    EXPECT_EQ(uri[0]->endpoints.src_port, 40000);
    EXPECT_EQ(uri[0]->tx_id, 0);
    ASSERT_EQ(worker_->output().flows.size(), 1u);
    EXPECT_TRUE(worker_->output().flows[0].alerted);
}

TEST_F(StreamTiming, RequestFirstInspectedOnAFinIsInspectedAgainWhenTheFlowEnds) {
    ASSERT_NO_FATAL_FAILURE(start(flow::ReassemblyConfig{}.memcap_bytes,
                                  "alert http any any -> any any (msg:\"any state\"; "
                                  "flow:to_server; http.uri; content:\"/admin\"; sid:1;)\n"
                                  "alert http any any -> any any (msg:\"established\"; "
                                  "flow:established,to_server; http.uri; content:\"/admin\"; "
                                  "sid:3;)\n"));
    Talk t;
    feed(t.syn());
    feed(t.syn_ack());
    feed(t.ack(true, 0));
    feed(t.data(true, 0, kRequest));
    t.ack(false, static_cast<uint32_t>(kRequest.size()));
    // The server answers and closes; the client's next packet is its own FIN.
    feed(t.data(false, 0, kResponse, trafficgen::kAck | trafficgen::kPsh | trafficgen::kFin));
    t.ack(true, static_cast<uint32_t>(kResponse.size()) + 1);
    EXPECT_EQ(feed(t.data(true, static_cast<uint32_t>(kRequest.size()), "",
                          trafficgen::kAck | trafficgen::kFin)),
              1u);
    ASSERT_EQ(alerts(1).size(), 1u);
    EXPECT_EQ(alerts(1)[0]->packet_index, 6u);
    EXPECT_TRUE(alerts(3).empty());  // a FIN is past the established session
    // Suricata's end-of-stream packet counts as established: the transaction is inspected
    // again there, and only the rule that could not match before alerts.
    EXPECT_EQ(finish(), 1u);
    ASSERT_EQ(alerts(3).size(), 1u);
    EXPECT_EQ(alerts(3)[0]->packet_index, 0u);
    EXPECT_EQ(alerts(3)[0]->tx_id, 0);
    EXPECT_EQ(alerts(1).size(), 1u);
}

TEST_F(StreamTiming, HoleTheServerAcknowledgedIsSkippedAndCounted) {
    ASSERT_NO_FATAL_FAILURE(start());
    Talk t;
    feed(t.syn());
    feed(t.syn_ack());
    feed(t.ack(true, 0));
    feed(t.data(true, kAt[0], kPart[0]));
    feed(t.data(true, kAt[2], kPart[2]));  // the middle segment never shows up
    feed(t.ack(false, static_cast<uint32_t>(kRequest.size())));
    feed(t.ack(true, 0));
    finish();
    EXPECT_TRUE(alerts(1).empty());  // the URI was never seen whole
    EXPECT_EQ(worker_->reassembler().stats().gaps.load(), 1u);
    EXPECT_EQ(worker_->reassembler().stats().gap_bytes.load(), kPart[1].size());
    EXPECT_EQ(worker_->app_layer().stats().stream_gaps.load(), 1u);
}

TEST_F(StreamTiming, FullPoolParsesTheFlowOnArrivalAndCountsIt) {
    ASSERT_NO_FATAL_FAILURE(start(12 * 1024));  // room for one held flow
    ASSERT_EQ(worker_->reassembler().entry_capacity(), 1u);
    Talk first(40001);
    Talk second(40002);
    for (Talk* t : {&first, &second}) {
        feed(t->syn());
        feed(t->syn_ack());
        feed(t->ack(true, 0));
    }
    EXPECT_EQ(feed(first.data(true, 0, kRequest)), 0u);   // held
    EXPECT_EQ(feed(second.data(true, 0, kRequest)), 1u);  // no room: parsed on arrival
    EXPECT_EQ(worker_->reassembler().stats().pool_full.load(), 1u);
    feed(first.ack(false, static_cast<uint32_t>(kRequest.size())));
    EXPECT_EQ(feed(first.ack(true, 0)), 1u);
    EXPECT_EQ(alerts(1).size(), 2u);
}

TEST_F(StreamTiming, ZeroMemcapParsesOnArrival) {
    ASSERT_NO_FATAL_FAILURE(start(0));
    Talk t;
    feed(t.syn());
    feed(t.syn_ack());
    feed(t.ack(true, 0));
    EXPECT_EQ(feed(t.data(true, 0, kRequest)), 1u);
    EXPECT_EQ(worker_->reassembler().stats().held_bytes.load(), 0u);
}

}  // namespace
}  // namespace sensor::pipeline
