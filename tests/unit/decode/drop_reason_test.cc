// Every DropReason is produced by some input, names stay stable label values, and every
// frame lands in exactly one bucket: frames = decoded + sum(dropped).

#include <gtest/gtest.h>

#include <algorithm>
#include <regex>
#include <set>
#include <string>

#include "sensor/decode/linktype.h"
#include "tests/unit/decode/cases.h"

namespace sensor::decode::test {
namespace {

Verdict run(Harness& h, const Input& in) { return h.decode(in.frame, in.linktype, in.wire_len); }

TEST(DropReasons, EveryReasonIsProducedByATableInput) {
    const std::vector<Case> cases = drop_cases();
    for (size_t i = 0; i < kDropReasonCount; ++i) {
        const auto reason = static_cast<DropReason>(i);
        const std::string name(kDropReasonNames[i]);
        const auto it = std::find_if(cases.begin(), cases.end(),
                                     [&](const Case& c) { return c.reason == reason; });
        ASSERT_NE(it, cases.end()) << "no input in drop_cases() produces " << name;
        Harness h(it->config);
        for (size_t k = 0; k + 1 < it->inputs.size(); ++k) {
            EXPECT_NE(run(h, it->inputs[k]), Verdict::kDropped) << name << " setup frame " << k;
        }
        EXPECT_EQ(run(h, it->inputs.back()), Verdict::kDropped) << name;
        EXPECT_EQ(drop_reason_name(h.decoder().last_drop_reason()), name);
        EXPECT_EQ(h.dropped(reason), 1u) << name;
        EXPECT_EQ(h.stats().dropped_total(), 1u) << name;
        EXPECT_TRUE(h.balanced()) << name;
    }
}

TEST(DropReasons, NamesAreUniqueSnakeCaseLabels) {
    const std::regex label("^[a-z][a-z0-9_]*[a-z0-9]$");
    std::set<std::string_view> seen;
    for (std::string_view name : kDropReasonNames) {
        EXPECT_TRUE(std::regex_match(std::string(name), label)) << name;
        EXPECT_TRUE(seen.insert(name).second) << "duplicate " << name;
    }
    EXPECT_EQ(seen.size(), kDropReasonCount);
    // Existing names are part of the metrics interface: spot-check that none moved.
    EXPECT_EQ(drop_reason_name(DropReason::kUnsupportedLinktype), "unsupported_linktype");
    EXPECT_EQ(drop_reason_name(DropReason::kBadTcpChecksum), "bad_tcp_checksum");
    EXPECT_EQ(drop_reason_name(DropReason::kFragmentMemcap), "fragment_memcap");
    EXPECT_EQ(drop_reason_name(DropReason::kTruncatedFragment), "truncated_fragment");
}

TEST(DropReasons, CounterNamesAreUniqueMetricNames) {
    const std::regex metric("^sensor_[a-z0-9_]+(_total)?$");
    std::set<std::string_view> seen{kDecodeDroppedMetric};
    EXPECT_TRUE(std::regex_match(std::string(kDecodeDroppedMetric), metric));
    for (const auto& spec : kDecodeCounters) {
        EXPECT_TRUE(std::regex_match(std::string(spec.name), metric)) << spec.name;
        EXPECT_TRUE(seen.insert(spec.name).second) << "duplicate " << spec.name;
        EXPECT_FALSE(spec.help.empty()) << spec.name;
    }
}

TEST(DropReasons, GoodCasesDecodeAsLabelled) {
    for (const Case& c : good_cases()) {
        Harness h(c.config);
        for (size_t k = 0; k + 1 < c.inputs.size(); ++k) {
            EXPECT_NE(run(h, c.inputs[k]), Verdict::kDropped) << c.name << " frame " << k;
        }
        EXPECT_EQ(run(h, c.inputs.back()), c.last_verdict)
            << c.name << ": " << drop_reason_name(h.decoder().last_drop_reason());
        EXPECT_EQ(h.stats().dropped_total(), 0u) << c.name;
        EXPECT_TRUE(h.balanced()) << c.name;
    }
}

TEST(Accounting, EveryFrameLandsInExactlyOneBucket) {
    // All inputs through one decoder, in order: drops, non-IP, held fragments, packets.
    Harness h;
    uint64_t packets = 0;
    uint64_t non_ip = 0;
    uint64_t arp = 0;
    uint64_t held = 0;
    uint64_t dropped = 0;
    std::vector<Case> all = drop_cases();
    const std::vector<Case> more = good_cases();
    all.insert(all.end(), more.begin(), more.end());
    for (const Case& c : all) {
        for (const Input& in : c.inputs) {
            switch (run(h, in)) {
                case Verdict::kPacket:
                    ++packets;
                    break;
                case Verdict::kNonIp:
                    ++non_ip;
                    break;
                case Verdict::kArp:
                    ++arp;
                    break;
                case Verdict::kFragmentHeld:
                    ++held;
                    break;
                case Verdict::kDropped:
                    ++dropped;
                    break;
            }
            ASSERT_TRUE(h.balanced()) << c.name;
        }
    }
    const DecodeStats& s = h.stats();
    EXPECT_EQ(s.decoded.load(), packets + non_ip + arp + held);
    EXPECT_EQ(s.non_ip.load(), non_ip + arp);  // ARP is analysed, but carries no IP
    EXPECT_EQ(s.fragments_held.load(), held);
    EXPECT_EQ(s.dropped_total(), dropped);
    EXPECT_EQ(h.frames(), s.decoded.load() + s.dropped_total());
    EXPECT_GT(packets, 0u);
    EXPECT_GT(non_ip, 0u);
    EXPECT_GT(arp, 0u);
    EXPECT_GT(held, 0u);
    EXPECT_GE(dropped, kDropReasonCount - 1);  // fragment_memcap needs its own small cap
}

TEST(Linktypes, EverySupportedTypeIsDecoded) {
    for (int t : kSupportedLinktypes) {
        EXPECT_TRUE(linktype_supported(t));
        Harness h;
        h.decode(Bytes(64, 0x45), t);
        EXPECT_EQ(h.dropped(DropReason::kUnsupportedLinktype), 0u) << t;
    }
    EXPECT_FALSE(linktype_supported(127));
    Harness h;
    EXPECT_EQ(h.decode(Bytes(64, 0x45), 127), Verdict::kDropped);
    EXPECT_EQ(h.decoder().last_drop_reason(), DropReason::kUnsupportedLinktype);
}

}  // namespace
}  // namespace sensor::decode::test
