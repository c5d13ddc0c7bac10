// DNS-family flows opened by a response (an LLMNR reply to a multicast query comes from a new
// address): the worker reverses them, so flow:to_client rules see the reply, and alerts on
// LLMNR flows carry the `llmnr` description of their packet.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/trafficgen/packet_builder.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline {
namespace {

core::IpAddress ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    core::IpAddress x;
    x.bytes = {a, b, c, d};
    return x;
}

// The unicast reply of suricata-verify llmnr/llmnr-udp: hs2011 A 192.168.10.101.
const std::vector<uint8_t> kReply = {
    0xc3, 0x41, 0x80, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,  // header, QR
    6,    'h',  's',  '2',  '0',  '1',  '1',  0,    0x00, 0x01, 0x00, 0x01,  // question
    6,    'H',  'S',  '2',  '0',  '1',  '1',  0,    0x00, 0x01, 0x00, 0x01,  // answer
    0x00, 0x00, 0x00, 0x1e, 0x00, 0x04, 192,  168,  10,   101,
};

class LlmnrWorker : public ::testing::Test {
protected:
    void start(const std::string& rules_text) {
        rules::Taxonomy taxonomy;
        auto set = rules::parse_rules_text(rules_text, "test.rules", {}, taxonomy);
        ASSERT_TRUE(set.has_value()) << set.error().message;
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        worker_ = std::make_unique<Worker>(WorkerConfig{}, *db, std::vector<BuiltinRule>{});
    }
    void TearDown() override {
        if (worker_ != nullptr) {
            worker_->finish();
        }
    }
    // The reply from responder:sport to querier:dport, as the only packet of its flow.
    void feed_reply(uint16_t sport, uint16_t dport) {
        trafficgen::FrameSpec spec;
        spec.src_ip = ip4(192, 168, 10, 101);
        spec.dst_ip = ip4(192, 168, 10, 233);
        const std::vector<uint8_t> frame = trafficgen::make_udp_frame(spec, sport, dport, kReply);
        auto batch = std::make_unique<core::FrameBatch>();
        ASSERT_TRUE(batch->push(frame, static_cast<uint32_t>(frame.size()), 1'000'000, 1, 1, 0));
        batch->set_clock(1'000'000);
        worker_->process(*batch);
        alerts_ = std::move(worker_->output().alerts);
        worker_->output().alerts.clear();
    }

    std::unique_ptr<Worker> worker_;
    std::vector<core::AlertRecord> alerts_;
};

TEST_F(LlmnrWorker, ReplyOpeningAFlowGoesToTheClient) {
    ASSERT_NO_FATAL_FAILURE(
        start("alert llmnr any any -> any any (flow:to_client; sid:3;)\n"
              "alert udp any any -> any any (flow:to_server; sid:4;)\n"));
    ASSERT_NO_FATAL_FAILURE(feed_reply(5355, 54022));
    ASSERT_EQ(alerts_.size(), 1u);
    const core::AlertRecord& a = alerts_[0];
    EXPECT_EQ(a.signature_id, 3u);
    EXPECT_EQ(a.direction, "to_client");
    EXPECT_EQ(a.app_proto, "llmnr");
    ASSERT_TRUE(a.flow.has_value());
    EXPECT_EQ(a.flow->src_ip, ip4(192, 168, 10, 233));  // the querier is the flow's client
    EXPECT_EQ(a.flow->src_port, 54022);
    EXPECT_EQ(a.flow->pkts_toclient, 1u);
    EXPECT_EQ(a.flow->pkts_toserver, 0u);
    ASSERT_TRUE(a.llmnr.has_value());
    EXPECT_TRUE(a.llmnr->response);
    EXPECT_EQ(a.llmnr->id, 49985);
    ASSERT_EQ(a.llmnr->answers.size(), 1u);
    EXPECT_EQ(a.llmnr->answers[0].data.front(), "192.168.10.101");
}

TEST_F(LlmnrWorker, DnsReplyFirstIsReversedTooButNotDescribed) {
    ASSERT_NO_FATAL_FAILURE(start("alert udp any any -> any any (flow:to_client; sid:5;)\n"));
    ASSERT_NO_FATAL_FAILURE(feed_reply(53, 40000));
    ASSERT_EQ(alerts_.size(), 1u);
    EXPECT_EQ(alerts_[0].direction, "to_client");
    EXPECT_FALSE(alerts_[0].llmnr.has_value());
}

TEST_F(LlmnrWorker, ReplyOnAnotherPortKeepsTheSenderAsClient) {
    ASSERT_NO_FATAL_FAILURE(start("alert udp any any -> any any (flow:to_server; sid:6;)\n"));
    ASSERT_NO_FATAL_FAILURE(feed_reply(7000, 40000));
    ASSERT_EQ(alerts_.size(), 1u);
    EXPECT_EQ(alerts_[0].direction, "to_server");
}

}  // namespace
}  // namespace sensor::pipeline
