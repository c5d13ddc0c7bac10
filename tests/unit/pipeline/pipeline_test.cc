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
#include "pipeline_test_support.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/detect/signature_db.h"

namespace sensor::pipeline {
namespace {

using test_support::CollectingSink;

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
    std::vector<test_support::AlertKey> alerts;
    std::vector<test_support::FlowKey> flows;
    uint64_t packets = 0;
    uint64_t enqueued = 0;
    uint64_t frames = 0;
    uint64_t decoded_plus_dropped = 0;
    int flushes = 0;
    ReplayResult replay;
};

RunResult run(size_t workers, size_t arena_bytes = core::FrameBatch::kDefaultArenaBytes) {
    const Fixture& f = fixture();
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = workers;
    options.batches_per_worker = 4;  // small rings: exercise the lossless waits
    options.batch_arena_bytes = arena_bytes;
    RunResult r;
    {
        Pipeline pipeline(options, f.config, f.db, f.builtin, sink, stats);
        ReplayResult replay = pipeline.replay({f.pcap}, ReplayHooks{});
        EXPECT_FALSE(replay.read_error);
        r.packets = replay.packets;
        r.replay = replay;
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
    test_support::ComparableRecords records = test_support::comparable(sink);
    r.alerts = std::move(records.alerts);
    r.flows = std::move(records.flows);
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

TEST(Pipeline, FramesLongerThanABatchAreCutNotLost) {
    // A 200-byte arena is shorter than most of the sample's frames: each such frame travels
    // alone, cut to the arena, and is still read, enqueued, processed and decoded.
    for (size_t workers : {1u, 2u}) {
        RunResult r = run(workers, 200);
        EXPECT_GT(r.packets, 10000u);
        EXPECT_EQ(r.enqueued, r.packets) << workers << " workers";
        EXPECT_EQ(r.frames, r.packets) << workers << " workers";
        EXPECT_EQ(r.decoded_plus_dropped, r.packets) << workers << " workers";
    }
}

TEST(Pipeline, ReportsTheCpuTimeOfEachThread) {
    // Inline: everything ran on the caller's thread, so all of it is capture time.
    RunResult inline_run = run(1);
    EXPECT_GT(inline_run.replay.capture_cpu_s, 0);
    EXPECT_TRUE(inline_run.replay.worker_cpu_s.empty());
    EXPECT_EQ(inline_run.replay.output_cpu_s, 0);

    // Threaded: one figure per worker, each of which processed frames, and the output thread.
    RunResult threaded = run(3);
    EXPECT_GT(threaded.replay.capture_cpu_s, 0);
    ASSERT_EQ(threaded.replay.worker_cpu_s.size(), 3u);
    for (double cpu : threaded.replay.worker_cpu_s) {
        EXPECT_GT(cpu, 0);
    }
    EXPECT_GT(threaded.replay.output_cpu_s, 0);
    // CPU time cannot exceed the wall time of a single thread (with slack for the clocks).
    EXPECT_LE(threaded.replay.capture_cpu_s, threaded.replay.elapsed_s + 0.05);
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
