// Xbits shared by every worker: a bit one worker sets on a host is seen by another worker's
// flows of that host, workers setting and checking bits at the same time on their own threads
// share the table safely (this test also runs under TSan), a rule reload keeps the bits, and
// a Pipeline gives all its workers the one table of the configured size.

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "pipeline_test_support.h"
#include "sensor/detect/xbit_table.h"
#include "sensor/pipeline/pipeline.h"
#include "sensor/pipeline/rule_exchange.h"
#include "sensor/pipeline/worker.h"
#include "tunnel_frames.h"

namespace sensor::pipeline {
namespace {

using namespace test_support;

constexpr int64_t kStartUs = trafficgen::kDefaultStartSeconds * 1'000'000;

// A host says MARK to its server (bit set on the host), then CHECK to anyone.
constexpr std::string_view kRulesText =
    "alert udp any any -> any any (msg:\"mark\"; content:\"XBIT-MARK\"; "
    "xbits:set,ET.marked,track ip_src,expire 300; xbits:noalert; sid:1;)\n"
    "alert udp any any -> any any (msg:\"check\"; content:\"XBIT-CHECK\"; "
    "xbits:isset,ET.marked,track ip_src; sid:2;)\n";

core::IpAddress host(uint32_t group, uint32_t i) {
    return ip4(10, static_cast<uint8_t>(group), static_cast<uint8_t>(i / 200),
               static_cast<uint8_t>(i % 200 + 1));
}

const core::IpAddress kServer = ip4(192, 0, 2, 1);

// One datagram per host, first..first+n of the group, each to its own server port, processed
// by w in batches; returns the alerts.
size_t send(Worker& w, std::string_view what, uint32_t group, uint32_t first, uint32_t n,
            int64_t at_us) {
    size_t alerts = 0;
    core::FrameBatch batch;
    for (uint32_t i = first; i < first + n; ++i) {
        const Bytes f = trafficgen::make_udp_frame(
            spec(host(group, i), kServer), static_cast<uint16_t>(40000 + i), 7000, text(what));
        EXPECT_TRUE(batch.push(f, static_cast<uint32_t>(f.size()), at_us + i, 1, i + 1, 0));
        if (batch.full() || i + 1 == first + n) {
            w.process(batch);
            alerts += w.output().alerts.size();
            w.output().clear();
            batch.clear();
        }
    }
    return alerts;
}

TEST(SharedXbits, BitSetByOneWorkerIsSeenByAnother) {
    const auto db = rules_from_text(kRulesText);
    auto table = std::make_shared<detect::XbitTable>(4096);
    Worker one(WorkerConfig{}, db, {}, nullptr, table);
    Worker two(WorkerConfig{}, db, {}, nullptr, table);
    Worker alone(WorkerConfig{}, db, {});                       // a table of its own
    EXPECT_EQ(send(one, "XBIT-MARK", 1, 0, 50, kStartUs), 0u);  // noalert
    EXPECT_EQ(send(two, "XBIT-CHECK", 1, 0, 50, kStartUs + 1'000'000), 50u);
    EXPECT_EQ(send(two, "XBIT-CHECK", 1, 50, 10, kStartUs + 1'000'000), 0u);
    EXPECT_EQ(send(alone, "XBIT-CHECK", 1, 0, 50, kStartUs + 1'000'000), 0u);
    for (Worker* w : {&one, &two, &alone}) {
        w->finish();
    }
}

TEST(SharedXbits, WorkersOnTheirOwnThreadsShareTheTable) {
    const auto db = rules_from_text(kRulesText);
    auto table = std::make_shared<detect::XbitTable>(65536);
    Worker one(WorkerConfig{}, db, {}, nullptr, table);
    Worker two(WorkerConfig{}, db, {}, nullptr, table);
    constexpr uint32_t kHosts = 400;
    // Both mark their own hosts at once, then each checks the other's hosts at once.
    std::thread a([&] { send(one, "XBIT-MARK", 1, 0, kHosts, kStartUs); });
    std::thread b([&] { send(two, "XBIT-MARK", 2, 0, kHosts, kStartUs); });
    a.join();
    b.join();
    size_t seen_by_one = 0;
    size_t seen_by_two = 0;
    a = std::thread([&] { seen_by_one = send(one, "XBIT-CHECK", 2, 0, kHosts, kStartUs); });
    b = std::thread([&] { seen_by_two = send(two, "XBIT-CHECK", 1, 0, kHosts, kStartUs); });
    a.join();
    b.join();
    EXPECT_EQ(seen_by_one, kHosts);
    EXPECT_EQ(seen_by_two, kHosts);
    EXPECT_EQ(table->evicted(), 0u);
    for (Worker* w : {&one, &two}) {
        w->finish();
    }
}

TEST(SharedXbits, RuleReloadKeepsTheBits) {
    auto table = std::make_shared<detect::XbitTable>(1024);
    RuleExchange exchange(rules_from_text(kRulesText));
    Worker worker(WorkerConfig{}, exchange.current(), {}, nullptr, table);
    worker.follow_rules(&exchange);
    send(worker, "XBIT-MARK", 1, 0, 5, kStartUs);
    // Another rule set that checks the same bit, under another sid.
    exchange.publish(rules_from_text(
        "alert udp any any -> any any (msg:\"other\"; content:\"XBIT-OTHER\"; sid:7;)\n"
        "alert udp any any -> any any (msg:\"check\"; content:\"XBIT-CHECK\"; "
        "xbits:isset,ET.marked,track ip_src; sid:8;)\n"));
    const Bytes f =
        trafficgen::make_udp_frame(spec(host(1, 0), kServer), 40000, 7000, text("XBIT-CHECK"));
    core::FrameBatch batch;
    ASSERT_TRUE(batch.push(f, static_cast<uint32_t>(f.size()), kStartUs + 1'000'000, 1, 1, 0));
    worker.process(batch);
    EXPECT_EQ(worker.rules_generation(), exchange.generation());
    ASSERT_EQ(worker.output().alerts.size(), 1u);
    EXPECT_EQ(worker.output().alerts[0].signature_id, 8u);
    worker.output().clear();
    EXPECT_EQ(send(worker, "XBIT-CHECK", 1, 1, 4, kStartUs + 1'000'000), 4u);
    worker.finish();
}

TEST(SharedXbits, PipelineGivesEveryWorkerOneTableOfTheConfiguredSize) {
    const auto db = rules_from_text(kRulesText);
    trafficgen::Capture capture;
    for (uint32_t i = 0; i < 40; ++i) {
        const Bytes f = trafficgen::make_udp_frame(
            spec(host(1, i), kServer), static_cast<uint16_t>(40000 + i), 7000, text("XBIT-MARK"));
        capture.packets.push_back({kStartUs + int64_t{i} * 1000, f});
    }
    const std::string path = write_capture("xbits-marks.pcap", capture);
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = 3;
    WorkerConfig config;
    config.xbit_entries = 2048;
    Pipeline pipeline(options, config, db, {}, sink, stats);
    EXPECT_EQ(pipeline.xbits().capacity(), 2048u);
    const ReplayResult replay = pipeline.replay({path}, ReplayHooks{});
    EXPECT_FALSE(replay.read_error);
    const std::vector<const Worker*> workers = pipeline.workers();
    ASSERT_EQ(workers.size(), 3u);
    for (const Worker* w : workers) {
        EXPECT_EQ(&w->detector().xbits(), &pipeline.xbits());
    }
    // Every mark landed in the one table, whichever worker saw it.
    for (uint32_t i = 0; i < 40; ++i) {
        EXPECT_TRUE(pipeline.xbits().is_set(
            detect::XbitTable::host_key(db->rule(0).xbits.at(0).name_hash, host(1, i)), kStartUs))
            << i;
    }
    EXPECT_TRUE(sink.alerts.empty());
}

}  // namespace
}  // namespace sensor::pipeline
