// xbits in the Detector: a bit set by one flow's packet is seen by another flow of the same
// host (or pair), expires on packet time, is kept per host whichever side named it, survives a
// rule reload through the shared table, and a full table counts what it evicts.

#include <gtest/gtest.h>

#include <memory>
#include <string_view>

#include "detect_test_support.h"
#include "sensor/detect/xbit_table.h"

namespace sensor::detect {
namespace {

using test_support::DetectFixture;
using test_support::packet;
using test_support::Side;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSecond;

class DetectorXbits : public DetectFixture {
protected:
    // A packet of its own flow (each call: a fresh flow state) at time ts_us.
    Sids at(int64_t ts_us, std::string_view payload, const char* src, const char* dst,
            bool to_server = true) {
        decode::DecodedPacket p = packet(payload, decode::kIpProtoTcp, src, 40000, dst, 80);
        p.ts_us = ts_us;
        flow::FlowDetectState state;
        Side side;
        side.to_server = to_server;
        side.state = &state;
        return fired(p, side);
    }
};

constexpr std::string_view kLoginRules =
    "alert tcp any any -> any any (msg:\"login\"; content:\"LOGIN\"; "
    "xbits:set,ET.login,track ip_src,expire 10; xbits:noalert; sid:1;)\n"
    "alert tcp any any -> any any (msg:\"fetch after login\"; content:\"FETCH\"; "
    "xbits:isset,ET.login,track ip_src; sid:2;)\n"
    "alert tcp any any -> any any (msg:\"fetch without login\"; content:\"FETCH\"; "
    "xbits:isnotset,ET.login,track ip_src; sid:3;)\n"
    "alert tcp any any -> any any (msg:\"logout\"; content:\"LOGOUT\"; "
    "xbits:unset,ET.login,track ip_src; sid:4;)\n";

TEST_F(DetectorXbits, SetInOneFlowIsSeenByAnotherFlowOfTheSameHost) {
    load(kLoginRules);
    EXPECT_EQ(at(kT0, "FETCH", "10.0.0.1", "192.0.2.1"), Sids{3});
    EXPECT_EQ(at(kT0, "LOGIN", "10.0.0.1", "192.0.2.1"), Sids{});  // noalert
    // Another flow of the same client, to another server.
    EXPECT_EQ(at(kT0 + kSecond, "FETCH", "10.0.0.1", "192.0.2.9"), Sids{2});
    // Another client.
    EXPECT_EQ(at(kT0 + kSecond, "FETCH", "10.0.0.2", "192.0.2.1"), Sids{3});
    EXPECT_EQ(at(kT0 + 2 * kSecond, "LOGOUT", "10.0.0.1", "192.0.2.1"), Sids{4});
    EXPECT_EQ(at(kT0 + 3 * kSecond, "FETCH", "10.0.0.1", "192.0.2.9"), Sids{3});
}

TEST_F(DetectorXbits, BitExpiresOnPacketTime) {
    load(kLoginRules);
    at(kT0 + kSecond / 2, "LOGIN", "10.0.0.1", "192.0.2.1");  // expire 10: last second T0+10
    EXPECT_EQ(at(kT0 + 10 * kSecond + kSecond / 2, "FETCH", "10.0.0.1", "192.0.2.1"), Sids{2});
    EXPECT_EQ(at(kT0 + 11 * kSecond, "FETCH", "10.0.0.1", "192.0.2.1"), Sids{3});
    // Set again once expired: a new bit.
    at(kT0 + 12 * kSecond, "LOGIN", "10.0.0.1", "192.0.2.1");
    EXPECT_EQ(at(kT0 + 13 * kSecond, "FETCH", "10.0.0.1", "192.0.2.1"), Sids{2});
}

TEST_F(DetectorXbits, HostBitIsOneBitWhicheverSideNamedIt) {
    // Suricata's documented idiom: set on the request with track ip_dst (the server), check
    // the response with track ip_src (the server again).
    load(
        "alert tcp any any -> any any (content:\"REQ\"; "
        "xbits:set,ET.srv,track ip_dst; xbits:noalert; sid:1;)\n"
        "alert tcp any any -> any any (content:\"RESP\"; "
        "xbits:isset,ET.srv,track ip_src; sid:2;)\n");
    EXPECT_EQ(at(kT0, "RESP", "192.0.2.1", "10.0.0.1", false), Sids{});
    at(kT0, "REQ", "10.0.0.1", "192.0.2.1");
    EXPECT_EQ(at(kT0, "RESP", "192.0.2.1", "10.0.0.1", false), Sids{2});
    EXPECT_EQ(at(kT0, "RESP", "10.0.0.1", "192.0.2.1"), Sids{});  // the client has no bit
}

TEST_F(DetectorXbits, PairBitBelongsToBothAddressesInEitherOrder) {
    load(
        "alert tcp any any -> any any (content:\"HELLO\"; "
        "xbits:set,ET.pair,track ip_pair,expire 60; xbits:noalert; sid:1;)\n"
        "alert tcp any any -> any any (content:\"REPLY\"; "
        "xbits:isset,ET.pair,track ip_pair; sid:2;)\n"
        "alert tcp any any -> any any (content:\"REPLY\"; "
        "xbits:isset,ET.pair,track ip_src; sid:3;)\n");
    at(kT0, "HELLO", "10.0.0.1", "192.0.2.1");
    EXPECT_EQ(at(kT0, "REPLY", "192.0.2.1", "10.0.0.1", false), Sids{2});
    EXPECT_EQ(at(kT0, "REPLY", "10.0.0.1", "192.0.2.1"), Sids{2});
    EXPECT_EQ(at(kT0, "REPLY", "192.0.2.1", "10.0.0.3", false), Sids{});
}

TEST_F(DetectorXbits, ToggleFlipsTheBit) {
    load(
        "alert tcp any any -> any any (content:\"FLIP\"; "
        "xbits:toggle,ET.t,track ip_src; xbits:noalert; sid:1;)\n"
        "alert tcp any any -> any any (content:\"CHECK\"; xbits:isset,ET.t,track ip_src; "
        "sid:2;)\n");
    at(kT0, "FLIP", "10.0.0.1", "192.0.2.1");
    EXPECT_EQ(at(kT0, "CHECK", "10.0.0.1", "192.0.2.1"), Sids{2});
    at(kT0, "FLIP", "10.0.0.1", "192.0.2.1");
    EXPECT_EQ(at(kT0, "CHECK", "10.0.0.1", "192.0.2.1"), Sids{});
}

TEST_F(DetectorXbits, CheckRunsBeforeSetOnTheSamePacketAsInSuricata) {
    // Suricata orders rules that check xbits before the others, the setter included: on the
    // packet that sets the bit the check does not see it yet.
    load(
        "alert tcp any any -> any any (content:\"BOTH\"; "
        "xbits:set,ET.b,track ip_src; sid:1;)\n"
        "alert tcp any any -> any any (content:\"BOTH\"; xbits:isset,ET.b,track ip_src; "
        "sid:2;)\n");
    EXPECT_EQ(at(kT0, "BOTH", "10.0.0.1", "192.0.2.1"), Sids{1});
    EXPECT_EQ(at(kT0, "BOTH", "10.0.0.1", "192.0.2.1"), (Sids{2, 1}));
}

// Detectors over a rule set, all on one shared table (as the workers and the detectors that
// replace them on a reload).
std::unique_ptr<Detector> detector_on(std::string_view text, std::shared_ptr<XbitTable> xbits,
                                      std::shared_ptr<const SignatureDb>& db) {
    rules::Taxonomy taxonomy;
    auto set = rules::parse_rules_text(text, "reload.rules", {}, taxonomy);
    EXPECT_TRUE(set.has_value() && set->report().errors.empty() &&
                set->report().unsupported.empty());
    auto built = SignatureDb::build(std::make_shared<const rules::RuleSet>(std::move(*set)));
    EXPECT_TRUE(built.has_value());
    db = *built;
    return std::make_unique<Detector>(db, std::make_shared<ThresholdTable>(64), std::move(xbits));
}

std::vector<uint32_t> run(Detector& d, const SignatureDb& db, std::string_view payload,
                          const char* src, const char* dst) {
    decode::DecodedPacket p = packet(payload, decode::kIpProtoTcp, src, 40000, dst, 80);
    p.ts_us = kT0;
    flow::FlowDetectState state;
    PacketContext ctx;
    ctx.pkt = &p;
    ctx.flow_state = &state;
    MatchList out;
    d.match(ctx, out);
    std::vector<uint32_t> sids;
    for (size_t i = 0; i < out.count; ++i) {
        sids.push_back(db.rule(out.rule_index[i]).sid);
    }
    return sids;
}

TEST(DetectorXbitsShared, BitsOutliveARuleReloadAndStayInTheirTable) {
    auto shared = std::make_shared<XbitTable>(1024);
    std::shared_ptr<const SignatureDb> db1;
    std::shared_ptr<const SignatureDb> db2;
    std::shared_ptr<const SignatureDb> db3;
    auto before = detector_on(
        "alert tcp any any -> any any (content:\"SET\"; xbits:set,ET.keep,track ip_src; "
        "sid:1;)\n",
        shared, db1);
    // The reloaded set names the bit in another rule, at another index.
    constexpr std::string_view kAfter =
        "alert tcp any any -> any any (content:\"OTHER\"; sid:7;)\n"
        "alert tcp any any -> any any (content:\"CHECK\"; xbits:isset,ET.keep,track ip_src; "
        "sid:8;)\n";
    auto after = detector_on(kAfter, shared, db2);
    auto alone = detector_on(kAfter, nullptr, db3);  // a table of its own
    EXPECT_EQ(run(*before, *db1, "SET", "10.0.0.1", "192.0.2.1"), std::vector<uint32_t>{1});
    EXPECT_EQ(run(*after, *db2, "CHECK", "10.0.0.1", "192.0.2.1"), std::vector<uint32_t>{8});
    EXPECT_EQ(run(*alone, *db3, "CHECK", "10.0.0.1", "192.0.2.1"), std::vector<uint32_t>{});
    EXPECT_EQ(&before->xbits(), shared.get());
    EXPECT_NE(&alone->xbits(), shared.get());
}

TEST(DetectorXbitsShared, FullTableEvictsAndCounts) {
    auto shared = std::make_shared<XbitTable>(XbitTable::kWays);  // one set of four
    std::shared_ptr<const SignatureDb> db;
    auto d = detector_on(
        "alert tcp any any -> any any (content:\"SET\"; xbits:set,ET.many,track ip_src; "
        "xbits:noalert; sid:1;)\n"
        "alert tcp any any -> any any (content:\"CHECK\"; xbits:isset,ET.many,track ip_src; "
        "sid:2;)\n",
        shared, db);
    const char* hosts[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"};
    for (const char* h : hosts) {
        run(*d, *db, "SET", h, "192.0.2.1");
    }
    EXPECT_EQ(d->stats().xbits_evicted.load(), 1u);
    EXPECT_EQ(shared->evicted(), 1u);
    size_t still_set = 0;
    for (const char* h : hosts) {
        still_set += run(*d, *db, "CHECK", h, "192.0.2.1").size();
    }
    EXPECT_EQ(still_set, XbitTable::kWays);
}

}  // namespace
}  // namespace sensor::detect
