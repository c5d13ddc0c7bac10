// packet-alert-max in the worker: payload rules and rules on app-layer buffers each keep the
// first N alerts of a packet in rule order (Suricata inspects the transaction on a later
// packet, with a queue of its own), and the rest are counted, never silently lost.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <set>
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

class AlertBudget : public ::testing::Test {
protected:
    void start(const std::string& rules_text, uint32_t packet_alert_max) {
        rules::Taxonomy taxonomy;
        auto set = rules::parse_rules_text(rules_text, "test.rules", {}, taxonomy);
        ASSERT_TRUE(set.has_value()) << set.error().message;
        ASSERT_TRUE(set->report().errors.empty() && set->report().unsupported.empty());
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        WorkerConfig config;
        config.packet_alert_max = packet_alert_max;
        worker_ = std::make_unique<Worker>(config, *db, std::vector<BuiltinRule>{});
    }
    void TearDown() override {
        if (worker_ != nullptr) {
            worker_->finish();
        }
    }
    // One HTTP request segment of a flow picked up mid-stream.
    std::set<uint32_t> feed_request() {
        trafficgen::FrameSpec spec;
        spec.src_ip = ip4(10, 0, 0, 1);
        spec.dst_ip = ip4(10, 0, 0, 2);
        trafficgen::TcpHeader tcp;
        tcp.src_port = 40000;
        tcp.dst_port = 80;
        tcp.seq = 1000;
        tcp.ack = 2000;
        tcp.flags = 0x18;  // PSH ACK
        tcp.window = 512;
        const std::string request = "GET /index.html HTTP/1.0\r\nHost: example\r\n\r\n";
        const std::vector<uint8_t> payload(request.begin(), request.end());
        const std::vector<uint8_t> frame = trafficgen::make_tcp_frame(spec, tcp, payload);
        auto batch = std::make_unique<core::FrameBatch>();
        EXPECT_TRUE(batch->push(frame, static_cast<uint32_t>(frame.size()), 1'000'000, 1, 1, 0));
        batch->set_clock(1'000'000);
        worker_->process(*batch);
        std::set<uint32_t> sids;
        for (const core::AlertRecord& a : worker_->output().alerts) {
            sids.insert(a.signature_id);
        }
        worker_->output().alerts.clear();
        return sids;
    }
    uint64_t suppressed() const { return worker_->stats().alerts_suppressed_overflow.load(); }

    std::unique_ptr<Worker> worker_;
};

constexpr const char* kRules =
    "alert tcp any any -> any any (dsize:<140; sid:1;)\n"
    "alert tcp any any -> any any (content:\"GET\"; sid:2;)\n"
    "alert tcp any any -> any any (content:\"HTTP\"; sid:3;)\n"
    "alert http any any -> any any (http.uri; content:\"/index\"; sid:4;)\n"
    "alert http any any -> any any (http.method; content:\"GET\"; sid:5;)\n"
    "alert http any any -> any any (http.host; content:\"example\"; sid:6;)\n";

TEST_F(AlertBudget, PayloadAndTransactionRulesEachKeepTheFirstN) {
    ASSERT_NO_FATAL_FAILURE(start(kRules, 2));
    EXPECT_EQ(feed_request(), (std::set<uint32_t>{1, 2, 4, 5}));
    EXPECT_EQ(suppressed(), 2u);  // sids 3 and 6
}

TEST_F(AlertBudget, AGenerousLimitKeepsEveryMatch) {
    ASSERT_NO_FATAL_FAILURE(start(kRules, 15));
    EXPECT_EQ(feed_request(), (std::set<uint32_t>{1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(suppressed(), 0u);
}

}  // namespace
}  // namespace sensor::pipeline
