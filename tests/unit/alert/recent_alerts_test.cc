#include "sensor/alert/recent_alerts.h"

#include <gtest/gtest.h>

#include "sensor/alert/eve_writer.h"

namespace sensor::alert {
namespace {

core::AlertRecord make(int64_t ts_us, uint32_t sid, std::vector<std::string> concepts) {
    core::AlertRecord r;
    r.ts_us = ts_us;
    r.signature_id = sid;
    r.own_rule_texts({.signature = "sid " + std::to_string(sid), .concepts = std::move(concepts)});
    r.endpoints.ip_proto = 6;
    return r;
}

size_t count(const std::string& json, const std::string& needle) {
    size_t n = 0;
    for (size_t at = json.find(needle); at != std::string::npos; at = json.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

TEST(RecentAlerts, KeepsTheNewestAndFiltersBySinceAndConcept) {
    RecentAlerts ring(3);
    ring.add(make(1'000'000, 1, {"crime.02"}));
    ring.add(make(2'000'000, 2, {"threat.04"}));
    ring.add(make(3'000'000, 3, {"crime.10", "threat.02"}));
    ring.add(make(4'000'000, 4, {"crime.10"}));
    EXPECT_EQ(ring.size(), 3u);
    std::string all = ring.query(0, "", 100);
    EXPECT_EQ(count(all, "\"signature_id\""), 3u);
    EXPECT_EQ(all.find("\"signature_id\":1,"), std::string::npos);              // evicted
    EXPECT_LT(all.find("\"signature_id\":2"), all.find("\"signature_id\":4"));  // oldest first
    EXPECT_EQ(count(ring.query(2'500'000, "", 100), "\"signature_id\""), 2u);
    std::string ci = ring.query(0, "crime.10", 100);
    EXPECT_EQ(count(ci, "\"signature_id\""), 2u);
    EXPECT_EQ(ci.find("\"signature_id\":2"), std::string::npos);
    std::string newest = ring.query(0, "", 1);
    EXPECT_NE(newest.find("\"signature_id\":4"), std::string::npos);
    EXPECT_EQ(ring.query(9'000'000, "", 10), "[]\n");
}

TEST(RecentAlerts, AnAlreadySerializedAlertIsKeptAsGiven) {
    RecentAlerts ring(2);
    const core::AlertRecord r = make(1'000'000, 7, {"crime.02"});
    ring.add(r, alert_to_json(r));
    ring.add(make(2'000'000, 8, {"crime.02"}));
    EXPECT_EQ(ring.query(0, "", 1).find("\"signature_id\":7"), std::string::npos);
    const std::string older = ring.query(0, "crime.02", 2);
    EXPECT_NE(older.find(alert_to_json(r)), std::string::npos);
    EXPECT_EQ(count(older, "\"signature_id\""), 2u);
}

// A full ring's oldest slot takes the newest alert: it keeps the newest's concepts and line
// only, however many rounds the ring has gone.
TEST(RecentAlerts, ReusedSlotsKeepOnlyTheNewAlert) {
    RecentAlerts ring(2);
    ring.add(make(1'000'000, 1, {"crime.02", "threat.04"}));
    ring.add(make(2'000'000, 2, {"crime.10"}));
    for (uint32_t sid = 3; sid <= 7; ++sid) {
        ring.add(make(sid * 1'000'000, sid, {"threat.02"}));
    }
    EXPECT_EQ(ring.size(), 2u);
    EXPECT_EQ(ring.query(0, "crime.02", 10), "[]\n");
    EXPECT_EQ(ring.query(0, "threat.04", 10), "[]\n");
    const std::string all = ring.query(0, "threat.02", 10);
    EXPECT_EQ(count(all, "\"signature_id\""), 2u);
    EXPECT_LT(all.find("\"signature_id\":6"), all.find("\"signature_id\":7"));
    EXPECT_EQ(ring.query(0, "", 10), all);
}

TEST(RecentAlerts, ParsesQueryAndRejectsBadValues) {
    AlertsQuery q;
    std::string error;
    ASSERT_TRUE(parse_alerts_query("since=1767600000.5&concept=crime.10&limit=5&x=y", q, error));
    EXPECT_EQ(q.since_us, 1767600000500000);
    EXPECT_EQ(q.concept_id, "crime.10");
    EXPECT_EQ(q.limit, 5u);
    AlertsQuery bad;
    EXPECT_FALSE(parse_alerts_query("since=yesterday", bad, error));
    EXPECT_EQ(error, "since: expected unix seconds, got 'yesterday'");
    EXPECT_FALSE(parse_alerts_query("limit=0", bad, error));
}

}  // namespace
}  // namespace sensor::alert
