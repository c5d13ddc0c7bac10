// Threshold state shared by every worker: one source hitting threshold rules towards many
// destinations (whose pairs the dispatcher spreads over workers) gives the same number of alerts
// for any number of workers; a full table still counts its replacements; a rule reload keeps
// the state of rules that stay and starts afresh for a new revision.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "pipeline_test_support.h"
#include "sensor/detect/threshold_table.h"
#include "sensor/pipeline/pipeline.h"
#include "sensor/pipeline/rule_exchange.h"
#include "sensor/pipeline/worker.h"
#include "tunnel_frames.h"

namespace sensor::pipeline {
namespace {

using namespace test_support;

constexpr int64_t kStartUs = trafficgen::kDefaultStartSeconds * 1'000'000;
constexpr uint32_t kFromA = 240;  // destinations probed by source A
constexpr uint32_t kFromB = 40;   // by source B (the first kFromB of A's)
constexpr uint32_t kRules = 6;

// Every rule matches every probe; all matches fall in one window of each threshold.
constexpr std::string_view kRulesText =
    "alert udp any any -> any any (msg:\"limit\"; content:\"THRESHOLD-PROBE\"; "
    "threshold:type limit, track by_src, count 5, seconds 60; sid:1; rev:1;)\n"
    "alert udp any any -> any any (msg:\"threshold\"; content:\"THRESHOLD-PROBE\"; "
    "threshold:type threshold, track by_src, count 7, seconds 60; sid:2; rev:1;)\n"
    "alert udp any any -> any any (msg:\"both\"; content:\"THRESHOLD-PROBE\"; "
    "threshold:type both, track by_src, count 10, seconds 60; sid:3; rev:1;)\n"
    "alert udp any any -> any any (msg:\"filter\"; content:\"THRESHOLD-PROBE\"; "
    "detection_filter:track by_src, count 150, seconds 60; sid:4; rev:1;)\n"
    "alert udp any any -> any any (msg:\"per target\"; content:\"THRESHOLD-PROBE\"; "
    "threshold:type limit, track by_dst, count 1, seconds 60; sid:5; rev:1;)\n"
    "alert udp any any -> any any (msg:\"per rule\"; content:\"THRESHOLD-PROBE\"; "
    "threshold:type threshold, track by_rule, count 4, seconds 60; sid:6; rev:1;)\n";

const core::IpAddress kSourceA = ip4(10, 9, 0, 1);
const core::IpAddress kSourceB = ip4(10, 9, 0, 2);

core::IpAddress target(uint32_t i) {
    return ip4(10, 8, static_cast<uint8_t>(i / 200), static_cast<uint8_t>(i % 200 + 1));
}

Bytes probe_frame(const core::IpAddress& src, const core::IpAddress& dst, uint32_t i) {
    return trafficgen::make_udp_frame(spec(src, dst), static_cast<uint16_t>(50000 + i), 7777,
                                      text("THRESHOLD-PROBE"));
}

// A's probes every 100 ms, B's in between while it lasts: 28 s in all.
const std::string& probe_capture() {
    static const std::string path = [] {
        trafficgen::Capture capture;
        for (uint32_t i = 0; i < kFromA; ++i) {
            const int64_t at = kStartUs + int64_t{i} * 100'000;
            capture.packets.push_back({at, probe_frame(kSourceA, target(i), i)});
            if (i < kFromB) {
                capture.packets.push_back({at + 50'000, probe_frame(kSourceB, target(i), i)});
            }
        }
        return write_capture("threshold-probes.pcap", capture);
    }();
    return path;
}

std::map<uint32_t, uint64_t> expected_alerts() {
    auto per_source = [](auto f) { return f(kFromA) + f(kFromB); };
    return {
        {1, per_source([](uint64_t n) { return std::min<uint64_t>(n, 5); })},
        {2, per_source([](uint64_t n) { return n / 7; })},
        {3, per_source([](uint64_t n) { return n >= 10 ? 1 : 0; })},
        {4, per_source([](uint64_t n) { return n > 150 ? n - 150 : 0; })},
        {5, kFromA},  // one per destination
        {6, (kFromA + kFromB) / 4},
    };
}

struct RunResult {
    std::map<uint32_t, uint64_t> alerts;  // by sid
    size_t workers_with_probes = 0;
    uint64_t suppressed = 0;
    uint64_t replaced_by_workers = 0;
    uint64_t replaced_in_table = 0;
};

RunResult run(size_t workers,
              size_t threshold_entries = detect::Detector::kDefaultThresholdEntries) {
    static const auto db = rules_from_text(kRulesText);
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = workers;
    options.batches_per_worker = 4;
    WorkerConfig config;
    config.threshold_entries = threshold_entries;
    RunResult r;
    {
        Pipeline pipeline(options, config, db, {}, sink, stats);
        const ReplayResult replay = pipeline.replay({probe_capture()}, ReplayHooks{});
        EXPECT_FALSE(replay.read_error);
        EXPECT_EQ(replay.packets, kFromA + kFromB);
        for (const Worker* w : pipeline.workers()) {
            r.workers_with_probes += w->stats().frames.load() > 0 ? 1 : 0;
            r.suppressed += w->detect_stats().threshold_suppressed.load();
            r.replaced_by_workers += w->detect_stats().threshold_replaced.load();
        }
        r.replaced_in_table = pipeline.thresholds().replaced();
    }
    for (const auto& a : sink.alerts) {
        ++r.alerts[a.signature_id];
    }
    return r;
}

TEST(SharedThreshold, SameAlertCountsForAnyNumberOfWorkers) {
    const std::map<uint32_t, uint64_t> expected = expected_alerts();
    uint64_t expected_total = 0;
    for (const auto& [sid, n] : expected) {
        expected_total += n;
    }
    for (size_t workers : {1u, 2u, 4u}) {
        const RunResult r = run(workers);
        EXPECT_EQ(r.alerts, expected) << workers << " workers";
        // Every match is either an alert or suppressed, once.
        EXPECT_EQ(r.suppressed, uint64_t{kRules} * (kFromA + kFromB) - expected_total)
            << workers << " workers";
        EXPECT_EQ(r.replaced_in_table, 0u);
        // The source's probes really were spread: otherwise this proves nothing.
        EXPECT_EQ(r.workers_with_probes, workers);
    }
}

TEST(SharedThreshold, ReplacementsInAFullTableAreCountedOnce) {
    // Four entries for 240 by_dst keys and the other rules' keys: eviction all along.
    const RunResult r = run(2, 4);
    EXPECT_GT(r.replaced_in_table, 100u);
    EXPECT_EQ(r.replaced_by_workers, r.replaced_in_table);
}

core::FrameBatch probes(const core::IpAddress& src, uint32_t first, uint32_t n, int64_t at_us) {
    core::FrameBatch batch;
    for (uint32_t i = first; i < first + n; ++i) {
        const Bytes f = probe_frame(src, target(i), i);
        EXPECT_TRUE(batch.push(f, static_cast<uint32_t>(f.size()), at_us + i, 1, i + 1, 0));
    }
    return batch;
}

constexpr std::string_view kLimitRule =
    "alert udp any any -> any any (msg:\"limit\"; content:\"THRESHOLD-PROBE\"; "
    "threshold:type limit, track by_src, count 1, seconds 60; sid:1; rev:1;)\n";

size_t alerts_of(Worker& w, const core::FrameBatch& batch) {
    w.process(batch);
    const size_t n = w.output().alerts.size();
    w.output().clear();
    return n;
}

TEST(SharedThreshold, WorkersSharingATableCountTogether) {
    const auto db = rules_from_text(kLimitRule);
    auto table = std::make_shared<detect::ThresholdTable>(1024);
    Worker one(WorkerConfig{}, db, {}, table);
    Worker two(WorkerConfig{}, db, {}, table);
    EXPECT_EQ(alerts_of(one, probes(kSourceA, 0, 3, kStartUs)), 1u);
    EXPECT_EQ(alerts_of(two, probes(kSourceA, 10, 3, kStartUs)), 0u);  // same source
    EXPECT_EQ(alerts_of(two, probes(kSourceB, 20, 3, kStartUs)), 1u);
    // A worker of its own counts apart.
    Worker alone(WorkerConfig{}, db, {});
    EXPECT_EQ(alerts_of(alone, probes(kSourceA, 30, 3, kStartUs)), 1u);
    for (Worker* w : {&one, &two, &alone}) {
        w->finish();  // frees the flows' classifier state
    }
}

TEST(SharedThreshold, RuleReloadKeepsTheStateOfRulesThatStay) {
    auto table = std::make_shared<detect::ThresholdTable>(1024);
    RuleExchange exchange(rules_from_text(kLimitRule));
    Worker worker(WorkerConfig{}, exchange.current(), {}, table);
    worker.follow_rules(&exchange);
    EXPECT_EQ(alerts_of(worker, probes(kSourceA, 0, 3, kStartUs)), 1u);

    // The same rule, compiled again: its window goes on.
    exchange.publish(rules_from_text(kLimitRule));
    EXPECT_EQ(alerts_of(worker, probes(kSourceA, 3, 3, kStartUs + 10'000'000)), 0u);
    EXPECT_EQ(worker.rules_generation(), exchange.generation());

    // A new revision is another rule for thresholds (as in Suricata): counting starts over.
    std::string revised(kLimitRule);
    revised.replace(revised.find("rev:1"), 5, "rev:2");
    exchange.publish(rules_from_text(revised));
    EXPECT_EQ(alerts_of(worker, probes(kSourceA, 6, 3, kStartUs + 20'000'000)), 1u);
    EXPECT_EQ(worker.rules_generation(), exchange.generation());
    worker.finish();
}

}  // namespace
}  // namespace sensor::pipeline
