// ThresholdTable: Suricata's threshold types on packet time, tracking keys, and bounded
// replacement.

#include "sensor/detect/threshold_table.h"

#include <gtest/gtest.h>

#include <vector>

#include "detect_test_support.h"

namespace sensor::detect {
namespace {

using rules::Threshold;
using test_support::ip;

constexpr int64_t kSecond = 1'000'000;

Threshold make(Threshold::Type type, uint32_t count, uint32_t seconds,
               Threshold::Track track = Threshold::Track::kBySrc) {
    Threshold t;
    t.type = type;
    t.track = track;
    t.count = count;
    t.seconds = seconds;
    return t;
}

// Alert decisions for matches at the given seconds, all from one source to one destination.
std::vector<bool> run(ThresholdTable& table, const Threshold& t, std::vector<int64_t> at) {
    std::vector<bool> out;
    for (int64_t s : at) {
        out.push_back(table.allow(t, 7, ip("10.0.0.1"), ip("10.0.0.2"), s * kSecond));
    }
    return out;
}

using Bools = std::vector<bool>;

TEST(ThresholdTable, LimitAlertsOnTheFirstCountPerWindow) {
    ThresholdTable table(64);
    Threshold t = make(Threshold::Type::kLimit, 2, 10);
    EXPECT_EQ(run(table, t, {0, 1, 2, 9, 10, 11, 12}),
              (Bools{true, true, false, false, true, true, false}));
}

TEST(ThresholdTable, ThresholdAlertsOnEveryCountthMatch) {
    ThresholdTable table(64);
    Threshold t = make(Threshold::Type::kThreshold, 3, 10);
    EXPECT_EQ(run(table, t, {0, 1, 2, 3, 4, 5, 20}),
              (Bools{false, false, true, false, false, true, false}));
    ThresholdTable one(64);
    EXPECT_EQ(run(one, make(Threshold::Type::kThreshold, 1, 10), {0, 1}), (Bools{true, true}));
}

TEST(ThresholdTable, BothAlertsOncePerWindowAtTheCount) {
    ThresholdTable table(64);
    Threshold t = make(Threshold::Type::kBoth, 2, 10);
    EXPECT_EQ(run(table, t, {0, 1, 2, 3, 10, 11}), (Bools{false, true, false, false, false, true}));
}

TEST(ThresholdTable, DetectionFilterAlertsPastTheCount) {
    ThresholdTable table(64);
    Threshold t = make(Threshold::Type::kDetectionFilter, 2, 10);
    EXPECT_EQ(run(table, t, {0, 1, 2, 3, 10, 11, 12}),
              (Bools{false, false, true, true, false, false, true}));
}

TEST(ThresholdTable, TrackingKeys) {
    ThresholdTable table(64);
    const Threshold by_src = make(Threshold::Type::kLimit, 1, 60, Threshold::Track::kBySrc);
    const Threshold by_dst = make(Threshold::Type::kLimit, 1, 60, Threshold::Track::kByDst);
    const Threshold by_rule = make(Threshold::Type::kLimit, 1, 60, Threshold::Track::kByRule);
    const Threshold by_both = make(Threshold::Type::kLimit, 1, 60, Threshold::Track::kByBoth);
    auto a = ip("10.0.0.1");
    auto b = ip("10.0.0.2");
    auto c = ip("10.0.0.3");
    EXPECT_TRUE(table.allow(by_src, 1, a, b, 0));
    EXPECT_FALSE(table.allow(by_src, 1, a, c, 0));  // same source
    EXPECT_TRUE(table.allow(by_src, 1, b, c, 0));
    EXPECT_TRUE(table.allow(by_src, 2, a, b, 0));  // another rule counts apart
    EXPECT_TRUE(table.allow(by_dst, 3, a, b, 0));
    EXPECT_FALSE(table.allow(by_dst, 3, c, b, 0));  // same destination
    EXPECT_TRUE(table.allow(by_rule, 4, a, b, 0));
    EXPECT_FALSE(table.allow(by_rule, 4, c, c, 0));  // any address
    EXPECT_TRUE(table.allow(by_both, 5, a, b, 0));
    EXPECT_FALSE(table.allow(by_both, 5, b, a, 0));  // the pair either way
    EXPECT_TRUE(table.allow(by_both, 5, a, c, 0));
    EXPECT_EQ(table.replaced(), 0u);
}

TEST(ThresholdTable, FullSetsReplaceTheOldestAndCount) {
    ThresholdTable table(4);  // one set of four ways
    EXPECT_EQ(table.capacity(), 4u);
    const Threshold t = make(Threshold::Type::kLimit, 1, 60);
    for (uint32_t rank = 0; rank < 4; ++rank) {
        EXPECT_TRUE(table.allow(t, rank, ip("10.0.0.1"), ip("10.0.0.2"), rank * kSecond));
    }
    EXPECT_EQ(table.replaced(), 0u);
    EXPECT_TRUE(table.allow(t, 9, ip("10.0.0.1"), ip("10.0.0.2"), 5 * kSecond));
    EXPECT_EQ(table.replaced(), 1u);
    // Rank 0 had the oldest window and was replaced: it starts over and alerts again.
    EXPECT_TRUE(table.allow(t, 0, ip("10.0.0.1"), ip("10.0.0.2"), 6 * kSecond));
    // Rank 3 was kept: still limited.
    EXPECT_FALSE(table.allow(t, 3, ip("10.0.0.1"), ip("10.0.0.2"), 7 * kSecond));
}

}  // namespace
}  // namespace sensor::detect
