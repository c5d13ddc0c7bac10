#include "sensor/pipeline/pipeline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sample_rules.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/detect/signature_db.h"

namespace sensor::pipeline {
namespace {

class CollectingSink : public RecordSink {
public:
    void alert(const core::AlertRecord& r) override { alerts.push_back(r); }
    void flow(const core::FlowRecord& r) override { flows.push_back(r); }
    void flush() override { ++flushes; }
    std::vector<core::AlertRecord> alerts;
    std::vector<core::FlowRecord> flows;
    int flushes = 0;
};

struct Fixture {
    std::string pcap;
    std::shared_ptr<const detect::SignatureDb> db;
    std::vector<BuiltinRule> builtin;
    WorkerConfig config;
};

// One generated sample capture and the shipped rules, shared by the tests.
const Fixture& fixture() {
    static Fixture f = [] {
        Fixture out;
        // One file per process: ctest runs the tests of this binary as parallel processes.
        auto dir = std::filesystem::temp_directory_path() /
                   ("pipeline-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir);
        out.pcap = (dir / "sample.pcap").string();
        trafficgen::Options options;
        auto capture = trafficgen::generate(options);
        auto written = trafficgen::write_pcap(capture, out.pcap);
        EXPECT_TRUE(written) << written.error().message;
        test_support::SampleRules rules = test_support::load_sample_rules();
        out.db = rules.db;
        out.builtin = std::move(rules.builtin);
        return out;
    }();
    return f;
}

struct RunResult {
    std::vector<std::tuple<uint32_t, uint64_t, uint64_t>> alerts;  // sid, flow_id, packet
    std::vector<std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, std::string>> flows;
    uint64_t packets = 0;
    uint64_t enqueued = 0;
    uint64_t frames = 0;
    uint64_t decoded_plus_dropped = 0;
    int flushes = 0;
};

RunResult run(size_t workers) {
    const Fixture& f = fixture();
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = workers;
    options.batches_per_worker = 4;  // small rings: exercise the lossless waits
    RunResult r;
    {
        Pipeline pipeline(options, f.config, f.db, f.builtin, sink, stats);
        ReplayResult replay = pipeline.replay({f.pcap}, ReplayHooks{});
        EXPECT_FALSE(replay.read_error);
        r.packets = replay.packets;
        for (const Worker* w : pipeline.workers()) {
            r.frames += w->stats().frames.load();
            r.decoded_plus_dropped +=
                w->decoder().stats().decoded.load() + w->decoder().stats().dropped_total();
        }
    }
    for (size_t i = 0; i < stats.worker_count; ++i) {
        r.enqueued += stats.enqueued[i].load();
        EXPECT_EQ(stats.ring_full_drops[i].load(), 0u);  // replay never drops
    }
    for (const auto& a : sink.alerts) {
        if (a.signature_id == detect::kSynFloodSid) {
            // Each worker sees a share of the spoofed SYNs and fires at its share of the
            // threshold: the alert is the same, the SYN that completes it differs.
            r.alerts.emplace_back(a.signature_id, a.endpoints.dest_port, 0);
            continue;
        }
        r.alerts.emplace_back(a.signature_id, a.flow_id, a.packet_index);
    }
    for (const auto& fl : sink.flows) {
        r.flows.emplace_back(fl.flow_id, fl.pkts_toserver, fl.pkts_toclient, fl.bytes_toserver,
                             static_cast<uint64_t>(fl.start_us), fl.app_proto);
    }
    std::sort(r.alerts.begin(), r.alerts.end());
    std::sort(r.flows.begin(), r.flows.end());
    r.flushes = sink.flushes;
    return r;
}

TEST(Pipeline, AccountingHoldsInlineAndThreaded) {
    for (size_t workers : {1u, 3u}) {
        RunResult r = run(workers);
        EXPECT_GT(r.packets, 10000u);
        EXPECT_EQ(r.enqueued, r.packets) << workers << " workers";
        EXPECT_EQ(r.frames, r.packets) << workers << " workers";
        EXPECT_EQ(r.decoded_plus_dropped, r.packets) << workers << " workers";
        EXPECT_GE(r.flushes, 1);
    }
}

TEST(Pipeline, SameAlertsAndFlowsForAnyNumberOfWorkers) {
    RunResult one = run(1);
    ASSERT_EQ(one.alerts.size(), 15u);  // the sample's expected alerts
    ASSERT_EQ(one.flows.size(), 2564u);
    for (size_t workers : {2u, 4u}) {
        RunResult many = run(workers);
        EXPECT_EQ(many.alerts, one.alerts) << workers << " workers";
        EXPECT_EQ(many.flows, one.flows) << workers << " workers";
    }
}

}  // namespace
}  // namespace sensor::pipeline
