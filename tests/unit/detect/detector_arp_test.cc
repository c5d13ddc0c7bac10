// arp rules: evaluated on ARP frames only, from their own always-candidate bucket; IP rules
// never see ARP frames (as in Suricata, where `alert ip` does not match ARP).

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "detect_test_support.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/detector.h"
#include "sensor/detect/signature_db.h"

namespace sensor::detect {
namespace {

using test_support::DetectFixture;
using test_support::ip;
using test_support::packet;

decode::DecodedPacket arp_packet(const char* sender, const char* target, int64_t ts_us = 1) {
    decode::DecodedPacket p;
    p.is_arp = true;
    p.arp.opcode = decode::kArpReply;
    p.arp.sender_ip = ip(sender);
    p.arp.target_ip = ip(target);
    p.ts_us = ts_us;
    return p;
}

TEST(SignatureDb, ArpRulesHaveTheirOwnBucket) {
    rules::Taxonomy taxonomy;
    auto set = rules::parse_rules_text(
        "alert tcp any any -> any any (sid:1;)\n"
        "alert arp any any -> any any (sid:2;)\n"
        "alert ip any any -> any any (sid:3;)\n"
        "alert arp any any -> any any (msg:\"second\"; sid:4;)\n",
        "t.rules", {}, taxonomy);
    ASSERT_TRUE(set.has_value());
    ASSERT_TRUE(set->report().unsupported.empty()) << set->report().unsupported[0].message;
    auto db = SignatureDb::build(std::make_shared<const rules::RuleSet>(std::move(*set)));
    ASSERT_TRUE(db.has_value()) << db.error().message;
    auto list = [&](ProtoBucket b) {
        auto s = (*db)->always_candidates(b);
        return std::vector<uint32_t>(s.begin(), s.end());
    };
    EXPECT_EQ(list(ProtoBucket::kArp), (std::vector<uint32_t>{1, 3}));
    EXPECT_EQ(list(ProtoBucket::kTcp), (std::vector<uint32_t>{0, 2}));
    EXPECT_EQ(list(ProtoBucket::kUdp), (std::vector<uint32_t>{2}));
    EXPECT_EQ(list(ProtoBucket::kOther), (std::vector<uint32_t>{2}));
}

class ArpDetectTest : public DetectFixture {};

TEST_F(ArpDetectTest, ArpRulesMatchArpFramesOnlyAndIpRulesNever) {
    load(
        "alert arp any any -> any any (sid:1;)\n"
        "alert ip any any -> any any (sid:2;)\n"
        "alert ip !10.0.0.0/8 any -> any any (sid:3;)\n"
        "alert tcp any any -> any any (sid:4;)\n"
        "alert ip any any -> any any (content:\"x\"; sid:5;)\n");
    EXPECT_EQ(fired(arp_packet("10.0.0.1", "10.0.0.2")), Sids{1});
    EXPECT_EQ(fired(packet("x")), (Sids{2, 3, 4, 5}));
    EXPECT_EQ(fired(packet("", decode::kIpProtoUdp)), (Sids{2, 3}));
}

TEST_F(ArpDetectTest, ThresholdBySourceFollowsTheArpSender) {
    load(
        "alert arp any any -> any any (threshold:type limit, track by_src, count 1, seconds 60; "
        "sid:1;)\n");
    EXPECT_EQ(fired(arp_packet("10.0.0.1", "10.0.0.9", 1'000'000)), Sids{1});
    EXPECT_EQ(fired(arp_packet("10.0.0.1", "10.0.0.8", 2'000'000)), Sids{});
    EXPECT_EQ(fired(arp_packet("10.0.0.2", "10.0.0.9", 3'000'000)), Sids{1});
    EXPECT_EQ(detector_->stats().threshold_suppressed.load(), 1u);
}

TEST_F(ArpDetectTest, WithoutArpRulesNothingFires) {
    load("alert ip any any -> any any (sid:1;)\n");
    EXPECT_EQ(fired(arp_packet("10.0.0.1", "10.0.0.2")), Sids{});
    EXPECT_EQ(detector_->stats().candidates.load(), 0u);
}

}  // namespace
}  // namespace sensor::detect
