// ARP frames through Worker::process: detection without a flow, alerts carrying the `arp`
// record, and the frame accounting (decoded as non-IP, never a flow packet).

#include <gtest/gtest.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline {
namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;

// Broadcast ARP request from 18:60:24:8d:97:ba (10.204.1.5) behind `tags` VLAN tags.
std::vector<uint8_t> arp_frame(const std::vector<uint16_t>& tags) {
    std::vector<uint8_t> f = {
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // destination MAC: broadcast
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05,  // source MAC
    };
    for (uint16_t id : tags) {
        f.insert(f.end(), {0x81, 0x00, static_cast<uint8_t>(id >> 8), static_cast<uint8_t>(id)});
    }
    f.insert(f.end(), {
                          0x08, 0x06,                          // ethertype: ARP
                          0x00, 0x01,                          // hardware type: Ethernet
                          0x08, 0x00,                          // protocol type: IPv4
                          0x06, 0x04,                          // address lengths
                          0x00, 0x01,                          // opcode: request
                          0x18, 0x60, 0x24, 0x8d, 0x97, 0xba,  // sender MAC
                          10,   204,  1,    5,                 // sender IP
                          0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // target MAC
                          10,   204,  1,    1,                 // target IP
                      });
    return f;
}

class ArpWorker : public ::testing::Test {
protected:
    void start(const std::string& rules_text, const WorkerConfig& config = {}) {
        rules::Taxonomy taxonomy;
        auto set = rules::parse_rules_text(rules_text, "test.rules", {}, taxonomy);
        ASSERT_TRUE(set.has_value()) << set.error().message;
        ASSERT_TRUE(set->report().unsupported.empty()) << set->report().unsupported[0].message;
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        worker_ = std::make_unique<Worker>(config, *db, std::vector<BuiltinRule>{});
    }

    void feed(const std::vector<std::vector<uint8_t>>& frames) {
        auto batch = std::make_unique<core::FrameBatch>();
        for (const auto& f : frames) {
            ++index_;
            ASSERT_TRUE(batch->push(f, static_cast<uint32_t>(f.size()),
                                    kStartUs + static_cast<int64_t>(index_), 1, index_, 0));
        }
        batch->set_clock(kStartUs + static_cast<int64_t>(index_));
        worker_->process(*batch);
    }

    std::unique_ptr<Worker> worker_;
    uint64_t index_ = 0;
};

TEST_F(ArpWorker, ArpRuleAlertsOnEveryArpFrameWithoutAFlow) {
    start(
        "alert arp any any -> any any (msg:\"arp\"; sid:1;)\n"
        "alert ip any any -> any any (sid:2;)\n");
    feed({arp_frame({6}), arp_frame({1, 10}), arp_frame({1, 10, 100})});
    const auto& alerts = worker_->output().alerts;
    ASSERT_EQ(alerts.size(), 3u);
    for (size_t i = 0; i < alerts.size(); ++i) {
        const core::AlertRecord& a = alerts[i];
        EXPECT_EQ(a.signature_id, 1u);
        EXPECT_EQ(a.signature(), "arp");
        EXPECT_FALSE(a.flow.has_value());
        EXPECT_EQ(a.flow_id, 0u);
        EXPECT_EQ(a.packet_index, i + 1);
        EXPECT_EQ(a.vlan_count, i + 1);
        ASSERT_TRUE(a.arp.has_value());
        EXPECT_EQ(a.arp->opcode, 1);
        EXPECT_EQ(a.arp->src_ip.to_string(), "10.204.1.5");
        EXPECT_EQ(a.arp->dest_ip.to_string(), "10.204.1.1");
        EXPECT_EQ(a.arp->src_mac, (std::array<uint8_t, 6>{0x18, 0x60, 0x24, 0x8d, 0x97, 0xba}));
        EXPECT_EQ(a.packet.size(), 14 + 4 * (i + 1) + 28);  // the whole frame
        EXPECT_EQ(a.endpoints.ip_proto, 0);
        // For the outputs without an `arp` object (Alertmanager, syslog).
        EXPECT_EQ(a.endpoints.src_ip.to_string(), "10.204.1.5");
        EXPECT_EQ(a.endpoints.dest_ip.to_string(), "10.204.1.1");
    }
    EXPECT_EQ(alerts[2].vlan[2], 100);
    // Accounting: every frame decoded (as non-IP), none reached flow tracking.
    EXPECT_EQ(worker_->stats().frames.load(), 3u);
    EXPECT_EQ(worker_->stats().packets_analysed.load(), 0u);
    EXPECT_EQ(worker_->stats().alerts.load(), 3u);
    EXPECT_EQ(worker_->decoder().stats().decoded.load(), 3u);
    EXPECT_EQ(worker_->decoder().stats().non_ip.load(), 3u);
    EXPECT_EQ(worker_->flows().active(), 0u);
    worker_->finish();
    EXPECT_TRUE(worker_->output().flows.empty());
}

TEST_F(ArpWorker, IpRulesAloneNeverAlertOnArp) {
    start("alert ip any any -> any any (sid:2;)\n");
    feed({arp_frame({}), arp_frame({7})});
    EXPECT_TRUE(worker_->output().alerts.empty());
    EXPECT_EQ(worker_->decoder().stats().non_ip.load(), 2u);
}

TEST_F(ArpWorker, PacketAlertMaxAppliesToArpFrames) {
    WorkerConfig config;
    config.packet_alert_max = 1;
    start(
        "alert arp any any -> any any (sid:1;)\n"
        "alert arp any any -> any any (sid:2;)\n",
        config);
    feed({arp_frame({})});
    ASSERT_EQ(worker_->output().alerts.size(), 1u);
    EXPECT_EQ(worker_->output().alerts[0].signature_id, 1u);
    EXPECT_EQ(worker_->stats().alerts_suppressed_overflow.load(), 1u);
}

}  // namespace
}  // namespace sensor::pipeline
