// CandidateIndex: which key each pattern-less rule is filed under, interval lookups, and
// that indexed rules still fire exactly where their header allows.

#include "sensor/detect/candidate_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <random>
#include <vector>

#include "detect_test_support.h"

namespace sensor::detect {
namespace {

using test_support::ip;
using test_support::packet;
using Key = CandidateIndex::Key;

rules::Rule parse_one(const std::string& text) {
    rules::Taxonomy taxonomy;
    auto set = rules::parse_rules_text(text, "index.rules", {}, taxonomy);
    EXPECT_TRUE(set.has_value());
    EXPECT_EQ(set->rules().size(), 1u);
    return set->rules().empty() ? rules::Rule{} : set->rules()[0];
}

TEST(IntervalIndex, LookupReturnsTheCoveringRanks) {
    IntervalIndex<uint32_t> index;
    index.build({{10, 20, 1}, {15, 30, 2}, {40, 40, 3}, {0xfffffff0u, 0xffffffffu, 4}});
    auto at = [&](uint32_t v) {
        auto s = index.lookup(v);
        return std::vector<uint32_t>(s.begin(), s.end());
    };
    EXPECT_EQ(at(0), std::vector<uint32_t>{});
    EXPECT_EQ(at(10), std::vector<uint32_t>{1});
    EXPECT_EQ(at(15), (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(at(20), (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(at(21), std::vector<uint32_t>{2});
    EXPECT_EQ(at(31), std::vector<uint32_t>{});
    EXPECT_EQ(at(40), std::vector<uint32_t>{3});
    EXPECT_EQ(at(41), std::vector<uint32_t>{});
    EXPECT_EQ(at(0xffffffffu), std::vector<uint32_t>{4});
    IntervalIndex<uint32_t> none;
    none.build({});
    EXPECT_TRUE(none.lookup(5).empty());
}

// Large indexes are looked up through a slice table; every lookup must still return exactly
// the ranks whose ranges cover the value.
template <class T>
void check_against_brute_force(uint64_t seed, size_t entries, uint64_t span) {
    std::mt19937_64 rng(seed);
    std::vector<typename IntervalIndex<T>::Entry> list;
    for (size_t r = 0; r < entries; ++r) {
        const uint64_t max = std::numeric_limits<T>::max();
        const uint64_t lo = rng() % (max + 1);
        const uint64_t hi = std::min<uint64_t>(max, lo + rng() % span);
        list.push_back({static_cast<T>(lo), static_cast<T>(hi), static_cast<uint32_t>(r)});
    }
    IntervalIndex<T> index;
    index.build(list);
    std::vector<uint64_t> probes = {0, std::numeric_limits<T>::max()};
    for (const auto& e : list) {  // every boundary and its neighbours
        for (int64_t d = -1; d <= 1; ++d) {
            probes.push_back(static_cast<uint64_t>(static_cast<int64_t>(e.lo) + d));
            probes.push_back(static_cast<uint64_t>(static_cast<int64_t>(e.hi) + d));
        }
    }
    for (int i = 0; i < 2000; ++i) {
        probes.push_back(rng());
    }
    for (uint64_t p : probes) {
        const auto v = static_cast<T>(p);
        std::vector<uint32_t> want;
        for (const auto& e : list) {
            if (e.lo <= v && v <= e.hi) {
                want.push_back(e.rank);
            }
        }
        const auto got = index.lookup(v);
        ASSERT_EQ(std::vector<uint32_t>(got.begin(), got.end()), want) << "value " << p;
    }
}

TEST(IntervalIndex, SliceTableLookupsMatchBruteForce) {
    check_against_brute_force<uint32_t>(1, 3000, 1u << 12);          // narrow address ranges
    check_against_brute_force<uint32_t>(2, 500, uint64_t{1} << 28);  // wide ones
    check_against_brute_force<uint32_t>(3, 40, 1u << 20);
    check_against_brute_force<uint16_t>(4, 800, 64);  // port ranges
    check_against_brute_force<uint16_t>(5, 20, 4000);
}

TEST(CandidateIndex, KeyChoice) {
    EXPECT_EQ(CandidateIndex::key_for(
                  parse_one("alert tcp any any -> any 80 (flowbits:isset,a; sid:1;)")),
              Key::kFlowbit);
    EXPECT_EQ(CandidateIndex::key_for(
                  parse_one("alert ip [1.2.3.4,2001:db8::/48] any -> $HOME_NET any (sid:1;)")),
              Key::kSrcAddress);
    EXPECT_EQ(
        CandidateIndex::key_for(parse_one("alert ip $HOME_NET any -> 5.6.7.0/24 any (sid:1;)")),
        Key::kDstAddress);
    EXPECT_EQ(CandidateIndex::key_for(parse_one("alert udp any any -> any 53 (sid:1;)")),
              Key::kDstPort);
    EXPECT_EQ(CandidateIndex::key_for(parse_one("alert udp any 53 -> any any (sid:1;)")),
              Key::kSrcPort);
    // Wide sets, `<>` and Snort 3 services are not indexed.
    EXPECT_EQ(CandidateIndex::key_for(parse_one("alert tcp $HOME_NET any -> any any (sid:1;)")),
              Key::kNone);
    EXPECT_EQ(CandidateIndex::key_for(parse_one("alert tcp 1.2.3.4 any <> any 80 (sid:1;)")),
              Key::kNone);
    EXPECT_EQ(
        CandidateIndex::key_for(parse_one("alert tcp any any -> any 80 (service:http; sid:1;)")),
        Key::kNone);
}

class IndexedRules : public test_support::DetectFixture {};

TEST_F(IndexedRules, FireExactlyWhereTheHeaderAllows) {
    load(
        "alert ip [198.51.100.0/24,2001:db8:1::/48] any -> any any (sid:1;)\n"
        "alert ip any any -> [203.0.113.9] any (sid:2;)\n"
        "alert tcp any any -> any [445,139] (flags:S; sid:3;)\n"
        "alert tcp any any -> any any (flowbits:isset,marked; sid:4;)\n"
        "alert tcp any any -> any any (content:\"mark\"; flowbits:set,marked; "
        "flowbits:noalert; sid:5;)\n");
    EXPECT_EQ(db_->candidate_index().indexed(), 4u);
    auto from = [&](const char* src, const char* dst, uint16_t dport) {
        decode::DecodedPacket p = packet("", decode::kIpProtoTcp, src, 1234, dst, dport);
        p.tcp_flags = decode::kTcpSyn;
        return fired(p);
    };
    EXPECT_EQ(from("198.51.100.7", "10.0.0.1", 80), Sids{1});
    EXPECT_EQ(from("198.51.101.7", "10.0.0.1", 80), Sids{});
    EXPECT_EQ(from("2001:db8:1::5", "2001:db8:9::1", 80), Sids{1});
    EXPECT_EQ(from("2001:db8:2::5", "2001:db8:9::1", 80), Sids{});
    EXPECT_EQ(from("10.0.0.1", "203.0.113.9", 80), Sids{2});
    EXPECT_EQ(from("10.0.0.1", "10.0.0.2", 445), Sids{3});
    EXPECT_EQ(from("10.0.0.1", "10.0.0.2", 446), Sids{});
    flow::FlowDetectState state;
    test_support::Side side{"", "", true, true, nullptr, &state};
    EXPECT_EQ(fired(packet("no"), side), Sids{});
    EXPECT_EQ(fired(packet("mark"), side), Sids{4});  // the setter runs first in the packet
    EXPECT_EQ(fired(packet("later"), side), Sids{4});
}

}  // namespace
}  // namespace sensor::detect
