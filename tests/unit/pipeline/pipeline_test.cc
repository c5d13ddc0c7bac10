#include "sensor/pipeline/pipeline.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <new>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "capture/batch_source.h"
#include "pipeline_test_support.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/alert/community_id.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/dispatch_key.h"
#include "sensor/pipeline/pair_scheduler.h"
#include "tunnel_frames.h"

namespace sensor::pipeline {
namespace {

using test_support::CollectingSink;

struct Fixture {
    std::string pcap;
    std::shared_ptr<const detect::SignatureDb> db;
    std::vector<BuiltinRule> builtin;
    WorkerConfig config = test_support::small_capture_config();
};

// One generated sample capture and the shipped rules, shared by the tests.
const Fixture& fixture() {
    static Fixture f = [] {
        Fixture out;
        out.pcap = test_support::write_sample_capture("pipeline-test");
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
    // Flow records whose community_id the worker left empty or got wrong (against the
    // output's own computation).
    uint64_t community_id_misses = 0;
    // Records of timed-out flows, and those whose time is not their last packet's plus one
    // of the configured timeouts.
    uint64_t timed_out = 0;
    uint64_t timed_out_off_time = 0;
    ReplayResult replay;
};

RunResult run(size_t workers, size_t arena_bytes = core::FrameBatch::kDefaultArenaBytes,
              bool map_files = true, bool dispatch_by_flow = false,
              ReadAheadMode read_ahead = ReadAheadMode::kAuto) {
    const Fixture& f = fixture();
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = workers;
    options.batches_per_worker = 4;  // small rings: exercise the lossless waits
    options.batch_arena_bytes = arena_bytes;
    options.map_files = map_files;
    options.dispatch_by_flow = dispatch_by_flow;
    options.read_ahead = read_ahead;
    RunResult r;
    {
        Pipeline pipeline(options, f.config, f.db, f.builtin, sink, stats);
        ReplayResult replay = pipeline.replay({f.pcap}, ReplayHooks{});
        EXPECT_FALSE(replay.read_error);
        test_support::expect_worker_accounting(pipeline, stats,
                                               std::to_string(workers) + " workers");
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
    for (const core::FlowRecord& flow : sink.flows) {
        r.community_id_misses +=
            flow.community_id.view() != alert::community_id_v1(flow.endpoints) ? 1 : 0;
        if (flow.reason == "timeout") {
            ++r.timed_out;
            const auto& timeouts = f.config.flow.timeout_s;
            const int64_t idle_us = flow.ts_us - flow.end_us;
            const bool on_time = std::any_of(timeouts.begin(), timeouts.end(), [&](uint32_t t) {
                return idle_us == int64_t{t} * 1'000'000;
            });
            r.timed_out_off_time += on_time ? 0 : 1;
        }
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
    // alone, cut to the arena, and is still read, enqueued, processed and decoded. Copied
    // frames only: a mapped file's frames travel in place, whole.
    for (size_t workers : {1u, 2u}) {
        RunResult r = run(workers, 200, /*map_files=*/false);
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
    EXPECT_EQ(inline_run.replay.capture_helper_cpu_s, 0);  // one worker maps its file itself

    // Threaded: one figure per worker, each of which processed frames, and the output thread.
    RunResult threaded = run(3);
    EXPECT_GT(threaded.replay.capture_cpu_s, 0);
    ASSERT_EQ(threaded.replay.worker_cpu_s.size(), 3u);
    for (double cpu : threaded.replay.worker_cpu_s) {
        EXPECT_GT(cpu, 0);
    }
    EXPECT_GT(threaded.replay.output_cpu_s, 0);
    // The mapped sample's page tables were kept by a helper thread, which mapped it ahead.
    EXPECT_GT(threaded.replay.capture_helper_cpu_s, 0);
    // CPU time cannot exceed the wall time of a single thread (with slack for the clocks).
    EXPECT_LE(threaded.replay.capture_cpu_s, threaded.replay.elapsed_s + 0.05);
    EXPECT_LE(threaded.replay.capture_helper_cpu_s, threaded.replay.elapsed_s + 0.05);

    // Read through libpcap, a file has no mapping to keep.
    RunResult unmapped = run(3, core::FrameBatch::kDefaultArenaBytes, /*map_files=*/false);
    EXPECT_EQ(unmapped.replay.capture_helper_cpu_s, 0);
}

TEST(Pipeline, SameAlertsAndFlowsForAnyNumberOfWorkers) {
    RunResult one = run(1);
    ASSERT_EQ(one.alerts.size(), 15u);  // the sample's expected alerts
    ASSERT_EQ(one.flows.size(), 2564u);
    EXPECT_EQ(one.community_id_misses, 0u);
    EXPECT_GT(one.timed_out, 100u);
    EXPECT_EQ(one.timed_out_off_time, 0u);
    for (size_t workers : {2u, 4u}) {
        RunResult many = run(workers);
        EXPECT_EQ(many.alerts, one.alerts) << workers << " workers";
        EXPECT_EQ(many.flows, one.flows) << workers << " workers";
        EXPECT_EQ(many.community_id_misses, 0u) << workers << " workers";
    }
}

// Placed by flow, a pair's flows spread over the workers; the sample's flow records and rule
// alerts stay the same. A port scan's connections spread too: the shared port-scan state
// counts them once, but which worker's SYN completes the count depends on how the threads
// ran, so built-in alerts are compared by sid and count.
// Rule alerts, and the sids of the port-scan and SYN-flood detections. Placed by flow, which
// SYN completes a target's shared count (the alert's flow and packet) depends on how the
// workers' threads ran; that there is such an alert does not.
std::pair<std::vector<test_support::AlertKey>, std::multiset<uint32_t>> split_builtin(
    const std::vector<test_support::AlertKey>& alerts) {
    std::pair<std::vector<test_support::AlertKey>, std::multiset<uint32_t>> out;
    for (const auto& a : alerts) {
        const uint32_t sid = std::get<0>(a);
        if (sid == detect::kPortScanSid || sid == detect::kSynFloodSid) {
            out.second.insert(sid);
        } else {
            out.first.push_back(a);
        }
    }
    return out;
}

TEST(Pipeline, SameRuleAlertsAndFlowsForAnyNumberOfWorkersPlacedByFlow) {
    const auto split = split_builtin;
    RunResult one = run(1);
    ASSERT_EQ(one.alerts.size(), 15u);
    const auto [one_rules, one_builtin] = split(one.alerts);
    ASSERT_EQ(one_rules.size(), 13u);
    for (size_t workers : {2u, 4u}) {
        RunResult many = run(workers, core::FrameBatch::kDefaultArenaBytes, /*map_files=*/true,
                             /*dispatch_by_flow=*/true);
        const auto [many_rules, many_builtin] = split(many.alerts);
        EXPECT_EQ(many_rules, one_rules) << workers << " workers";
        EXPECT_EQ(many_builtin, one_builtin) << workers << " workers: the same detections";
        EXPECT_EQ(many.flows, one.flows) << workers << " workers";
        EXPECT_EQ(many.community_id_misses, 0u) << workers << " workers";
    }
}

// A ReadAhead thread reads and keys the packets, the capture thread places them: the same
// placement as one capture thread doing both, so the same records, and every packet accounted
// for. Automatic from four workers on.
TEST(Pipeline, ReadingAheadGivesWhatOneReaderGives) {
    const RunResult one = run(1);
    for (size_t workers : {2u, 4u}) {
        for (bool by_flow : {false, true}) {
            const std::string where =
                std::to_string(workers) + " workers, by flow " + std::to_string(by_flow);
            const RunResult alone = run(workers, core::FrameBatch::kDefaultArenaBytes, true,
                                        by_flow, ReadAheadMode::kOff);
            const RunResult ahead = run(workers, core::FrameBatch::kDefaultArenaBytes, true,
                                        by_flow, ReadAheadMode::kOn);
            EXPECT_EQ(alone.replay.capture_reader_cpu_s, 0) << where;
            EXPECT_GT(ahead.replay.capture_reader_cpu_s, 0) << where;
            EXPECT_LE(ahead.replay.capture_reader_cpu_s, ahead.replay.elapsed_s + 0.05) << where;
            EXPECT_EQ(ahead.packets, one.packets) << where;
            EXPECT_EQ(ahead.enqueued, one.packets) << where;
            EXPECT_EQ(ahead.frames, one.packets) << where;
            EXPECT_EQ(split_builtin(ahead.alerts), split_builtin(alone.alerts)) << where;
            EXPECT_EQ(ahead.flows, alone.flows) << where;
            if (!by_flow) {
                EXPECT_EQ(ahead.alerts, one.alerts) << where;
                EXPECT_EQ(ahead.flows, one.flows) << where;
            }
        }
    }
    EXPECT_EQ(run(2).replay.capture_reader_cpu_s, 0);  // auto: the capture thread reads
    EXPECT_GT(run(4).replay.capture_reader_cpu_s, 0);
    // Copied (libpcap) reading hands out one packet at a time: nothing to read ahead.
    EXPECT_EQ(
        run(4, core::FrameBatch::kDefaultArenaBytes, /*map_files=*/false, false, ReadAheadMode::kOn)
            .replay.capture_reader_cpu_s,
        0);
}

// Placement, clock and shutdown cases of the ring-fed pipeline, each on a small capture built
// here: results (flow records with their end reason, alerts) must not depend on the number of
// workers, and nothing read may be lost when a run is stopped early.
namespace review {

using namespace test_support;

constexpr int64_t kStartUs = trafficgen::kDefaultStartSeconds * 1'000'000;
constexpr int64_t kSecondUs = 1'000'000;

// flow_id, packets and bytes each way, start, end, end reason.
using FullFlow =
    std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, int64_t, int64_t, std::string>;

struct Replayed {
    std::vector<FullFlow> flows;  // sorted
    std::vector<AlertKey> alerts;
    std::vector<uint64_t> ring_depth;
    uint64_t packets = 0;
    uint64_t enqueued = 0;
    uint64_t frames = 0;
    uint64_t flows_created = 0;
    size_t workers_with_frames = 0;
};

// One rule that fires on every frame these tests build.
const std::shared_ptr<const detect::SignatureDb>& review_rules() {
    static const auto db = rules_from_text(
        "alert udp any any -> any any (msg:\"review probe\"; content:\"review\"; "
        "sid:9100101; rev:1;)\n");
    return db;
}

// Replays the files with `workers` workers (small rings, so the lossless waits happen).
Replayed replay(const std::vector<std::string>& files, size_t workers,
                CollectingSink* sink = nullptr,
                const std::function<void(Pipeline&)>& started = nullptr, bool map_files = true,
                bool dispatch_by_flow = false, ReadAheadMode read_ahead = ReadAheadMode::kAuto) {
    CollectingSink collected;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = workers;
    options.batches_per_worker = 4;
    options.map_files = map_files;
    options.dispatch_by_flow = dispatch_by_flow;
    options.read_ahead = read_ahead;
    Replayed r;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), review_rules(), {},
                          sink != nullptr ? *sink : collected, stats);
        if (started) {
            started(pipeline);
        }
        const ReplayResult result = pipeline.replay(files, ReplayHooks{});
        EXPECT_FALSE(result.read_error);
        expect_worker_accounting(pipeline, stats, std::to_string(workers) + " workers");
        r.packets = result.packets;
        for (const Worker* w : pipeline.workers()) {
            r.frames += w->stats().frames.load();
            r.workers_with_frames += w->stats().frames.load() > 0 ? 1 : 0;
            r.flows_created += w->flows().stats().created.load();
        }
    }
    for (size_t i = 0; i < stats.worker_count; ++i) {
        r.enqueued += stats.enqueued[i].load();
        r.ring_depth.push_back(stats.ring_depth[i].load());
    }
    const CollectingSink& out =
        sink != nullptr ? static_cast<const CollectingSink&>(*sink) : collected;
    for (const auto& f : out.flows) {
        r.flows.emplace_back(f.flow_id, f.pkts_toserver, f.pkts_toclient, f.bytes_toserver,
                             f.bytes_toclient, f.start_us, f.end_us, f.reason);
    }
    std::sort(r.flows.begin(), r.flows.end());
    r.alerts = comparable(out).alerts;
    return r;
}

Bytes udp_frame(const core::IpAddress& src, const core::IpAddress& dst, uint16_t sport,
                uint16_t dport) {
    return trafficgen::make_udp_frame(spec(src, dst), sport, dport, text("review"));
}

// The worker a pair goes to when the scheduler has nothing better to go by (all idle).
size_t hash_worker(const core::IpAddress& a, const core::IpAddress& b, size_t workers) {
    return static_cast<size_t>(address_pair_hash(a, b) % workers);
}

// A worker whose traffic stops gets no more batches, so it never learned the capture's time:
// its flows outlived their timeout and ended at shutdown, while one worker alone ends them by
// timeout. Pair A fills exactly one batch and goes quiet; pair B, which hashes to the other
// worker, talks for 200 s (UDP flows time out after 30 s).
TEST(PipelineReview, WorkerWithoutTrafficStillExpiresItsFlowsOnTime) {
    const core::IpAddress a1 = ip4(10, 70, 0, 1);
    const core::IpAddress a2 = ip4(10, 70, 0, 2);
    core::IpAddress b1 = ip4(10, 71, 0, 1);
    core::IpAddress b2 = ip4(10, 71, 0, 2);
    for (uint8_t i = 3; hash_worker(b1, b2, 2) == hash_worker(a1, a2, 2); ++i) {
        b2 = ip4(10, 71, 0, i);
    }
    trafficgen::Capture capture;
    for (int64_t i = 0; i < static_cast<int64_t>(core::FrameBatch::kMaxFrames); ++i) {
        capture.packets.push_back({kStartUs + i * 1'000, udp_frame(a1, a2, 5000, 6000)});
    }
    for (int64_t i = 0; i < 100; ++i) {
        capture.packets.push_back(
            {kStartUs + kSecondUs + i * 2 * kSecondUs, udp_frame(b1, b2, 5001, 6001)});
    }
    const std::string path = write_capture("quiet-worker.pcap", capture);

    const Replayed one = replay({path}, 1);
    ASSERT_EQ(one.flows.size(), 2u);
    const Replayed two = replay({path}, 2);
    EXPECT_EQ(two.flows, one.flows);
    EXPECT_EQ(two.alerts, one.alerts);
    for (const FullFlow& f : two.flows) {
        if (std::get<1>(f) == core::FrameBatch::kMaxFrames) {
            EXPECT_EQ(std::get<7>(f), "timeout") << "pair A's flow";
        }
    }
}

// One pair of hosts with sixteen flows: placed by pair, one worker takes them all; placed by
// flow, they spread over the workers, and the flows and alerts stay those of one worker.
TEST(PipelineReview, FlowPlacementSpreadsOnePairsFlows) {
    const core::IpAddress client = ip4(10, 72, 0, 1);
    const core::IpAddress server = ip4(10, 72, 0, 2);
    trafficgen::Capture capture;
    for (int64_t i = 0; i < 16 * 8; ++i) {
        const auto port = static_cast<uint16_t>(5000 + i % 16);
        const bool to_server = (i / 16) % 2 == 0;
        capture.packets.push_back(
            {kStartUs + i * 1'000, to_server ? udp_frame(client, server, port, 6000)
                                             : udp_frame(server, client, 6000, port)});
    }
    const std::string path = write_capture("one-pair-many-flows.pcap", capture);

    const Replayed one = replay({path}, 1);
    ASSERT_EQ(one.flows.size(), 16u);
    const Replayed by_pair = replay({path}, 4);
    EXPECT_EQ(by_pair.workers_with_frames, 1u);
    const Replayed by_flow = replay({path}, 4, nullptr, nullptr, true, /*dispatch_by_flow=*/true);
    EXPECT_GE(by_flow.workers_with_frames, 2u);
    EXPECT_EQ(by_flow.flows, one.flows);
    EXPECT_EQ(by_flow.alerts, one.alerts);
}

// A packet stamped an hour ahead (a clock glitch) makes every flow due. A worker ends at most
// expire_budget (64) of them per batch, oldest first, so pair X's flow, the newest on its
// worker, may still be in the table when X's next packet comes, a second after its last; by
// the capture's clock it is over all the same, and X's next packet starts a new flow whatever
// the batches and the number of workers (once, one worker joined it to the old flow while
// several split it).
TEST(PipelineReview, PairStaysOnItsWorkerWhenTheCaptureClockJumps) {
    const core::IpAddress x1 = ip4(10, 80, 0, 1);
    const core::IpAddress x2 = ip4(10, 80, 0, 2);
    const core::IpAddress server = ip4(10, 83, 0, 1);
    for (size_t workers : {2u, 4u}) {
        // First a pair on X's hash worker, so that X is placed elsewhere and a tie would move it.
        core::IpAddress first = ip4(10, 82, 1, 1);
        for (uint8_t i = 2; hash_worker(first, server, workers) != hash_worker(x1, x2, workers);
             ++i) {
            first = ip4(10, 82, 1, i);
        }
        trafficgen::Capture capture;
        int64_t at = kStartUs;
        capture.packets.push_back({at, udp_frame(first, server, 1, 2)});
        capture.packets.push_back({at, udp_frame(x1, x2, 5000, 6000)});
        for (uint32_t i = 0; i < 100 * workers; ++i) {  // one-packet flows, ~100 per worker
            at += 100;
            const core::IpAddress client =
                ip4(10, 82, static_cast<uint8_t>(2 + i / 200), static_cast<uint8_t>(i % 200 + 1));
            capture.packets.push_back({at, udp_frame(client, server, 1, 2)});
        }
        capture.packets.push_back({at, udp_frame(x1, x2, 5000, 6000)});
        capture.packets.push_back(
            {kStartUs + 3600 * kSecondUs, udp_frame(ip4(10, 81, 0, 1), ip4(10, 81, 0, 2), 1, 2)});
        capture.packets.push_back({at + kSecondUs, udp_frame(x2, x1, 6000, 5000)});
        const std::string path =
            write_capture("clock-jump-" + std::to_string(workers) + ".pcap", capture);

        // Which flows reach the budget at the end differs (timeout or shutdown): compare the
        // flows themselves.
        auto counts = [](const Replayed& r) {
            std::vector<FullFlow> out = r.flows;
            for (FullFlow& f : out) {
                std::get<7>(f).clear();
            }
            return out;
        };
        const Replayed one = replay({path}, 1);
        ASSERT_EQ(one.flows.size(), 100 * workers + 4);  // X's in two
        const Replayed many = replay({path}, workers);
        EXPECT_EQ(counts(many), counts(one)) << workers << " workers";
        EXPECT_EQ(many.alerts, one.alerts) << workers << " workers";
        EXPECT_EQ(many.flows_created, one.flows_created) << workers << " workers";
    }
}

// Two packets of one flow come in the file long after their time (a merged capture: the bench
// capture has such, 300 s late). The first starts a flow that the capture's clock had already
// ended when a worker's expiry judged it by packet time, and whether that expiry ran before
// the second came depended on where batch ends fell: the flow was one record or two depending
// on the number of workers. Judged by the clock at which each packet was read, it is one,
// always: whether the late packets are next to each other or a batch or more apart.
TEST(PipelineReview, LatePacketsGiveTheSameFlowsForAnyNumberOfWorkers) {
    const core::IpAddress late1 = ip4(10, 84, 0, 1);
    const core::IpAddress late2 = ip4(10, 84, 0, 255);
    for (size_t gap : {0u, 1u, 70u, 200u}) {
        trafficgen::Capture capture;
        int64_t at = kStartUs;
        for (uint32_t i = 0; i < 400; ++i) {  // 400 s of one-packet flows, many hosts
            at += kSecondUs;
            const core::IpAddress client =
                ip4(10, 85, static_cast<uint8_t>(1 + i / 200), static_cast<uint8_t>(i % 200 + 1));
            capture.packets.push_back({at, udp_frame(client, ip4(10, 86, 0, 1), 1, 2)});
        }
        const int64_t late_at = at - 300 * kSecondUs;
        capture.packets.push_back({late_at, udp_frame(late1, late2, 54977, 21027)});
        for (uint32_t i = 0; i < gap; ++i) {
            at += 1'000;
            const core::IpAddress client =
                ip4(10, 87, static_cast<uint8_t>(1 + i / 200), static_cast<uint8_t>(i % 200 + 1));
            capture.packets.push_back({at, udp_frame(client, ip4(10, 86, 0, 2), 1, 2)});
        }
        capture.packets.push_back({late_at + 1'000, udp_frame(late1, late2, 54977, 21027)});
        const std::string path = write_capture("late-" + std::to_string(gap) + ".pcap", capture);

        const Replayed one = replay({path}, 1);
        ASSERT_EQ(one.flows.size(), 400 + gap + 1) << "gap " << gap << ": the late flow whole";
        for (size_t workers : {2u, 3u, 4u}) {
            for (bool by_flow : {false, true}) {
                // Reading ahead or not, in turn: each placement meets both with each gap, at
                // half the runs (reading ahead changes who keys the frames, not where they go).
                const ReadAheadMode mode = (workers + (by_flow ? 1 : 0)) % 2 == 0
                                               ? ReadAheadMode::kOn
                                               : ReadAheadMode::kOff;
                const Replayed many =
                    replay({path}, workers, nullptr, nullptr, true, by_flow, mode);
                const std::string where = "gap " + std::to_string(gap) + ", " +
                                          std::to_string(workers) + " workers, by flow " +
                                          std::to_string(by_flow) + ", read ahead " +
                                          std::to_string(mode == ReadAheadMode::kOn);
                EXPECT_EQ(many.flows, one.flows) << where;
                EXPECT_EQ(many.alerts, one.alerts) << where;
            }
        }
    }
}

// A live source fed from memory, a few frames per read(). After its frames it waits (up to
// 5 s of wall time) until `ready` holds, notes whether it did, and asks the pipeline to stop.
class FeedSource final : public capture::BatchSource {
public:
    FeedSource(const trafficgen::Capture& capture, std::function<bool()> ready)
        : capture_(capture), ready_(std::move(ready)) {}

    capture::ReadStatus read(core::FrameBatch& batch) noexcept override {
        for (size_t n = 0; next_ < capture_.packets.size() && n < 8; ++n, ++next_) {
            const trafficgen::Packet& p = capture_.packets[next_];
            const auto len = static_cast<uint32_t>(p.bytes.size());
            if (!batch.push(p.bytes, len, p.ts_us, 1, next_ + 1, 0)) {
                break;
            }
        }
        if (batch.empty()) {
            const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
            while (!ready_() && std::chrono::steady_clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            was_ready = ready_();
            pipeline->request_stop();
        }
        return capture::ReadStatus::kOk;
    }
    void break_loop() noexcept override {}
    void update_stats() noexcept override {}
    const capture::LiveStats& stats() const noexcept override { return stats_; }
    const std::string& iface() const noexcept override { return name_; }
    const std::string& error() const noexcept override { return name_; }

    Pipeline* pipeline = nullptr;
    bool was_ready = false;

private:
    const trafficgen::Capture& capture_;
    std::function<bool()> ready_;
    size_t next_ = 0;
    capture::LiveStats stats_;
    std::string name_ = "feed";
};

// Live, a worker with little traffic held its frames until its batch filled or the whole link
// went quiet: pair L's one packet waited while pair H talked on another worker, and its alert
// with it. A tick of capture time hands it over.
TEST(PipelineReview, LiveFramesOfAQuietWorkerWaitNoLongerThanATick) {
    const core::IpAddress l1 = ip4(10, 90, 0, 1);
    trafficgen::Capture capture;
    capture.packets.push_back({kStartUs, udp_frame(l1, ip4(10, 90, 0, 2), 5000, 6000)});
    for (int64_t i = 1; i <= 200; ++i) {
        capture.packets.push_back(
            {kStartUs + i * 20'000, udp_frame(ip4(10, 91, 0, 1), ip4(10, 91, 0, 2), 5001, 6001)});
    }
    class WatchingSink final : public CollectingSink {
    public:
        core::IpAddress watched;
        std::atomic<bool> seen{false};
        bool alert(const core::AlertRecord& r) override {
            CollectingSink::alert(r);
            if (r.endpoints.src_ip == watched) {
                seen.store(true);
            }
            return true;
        }
    };
    WatchingSink sink;
    sink.watched = l1;
    FeedSource source(capture, [&] { return sink.seen.load(); });
    PipelineStats stats;
    PipelineOptions options;
    options.workers = 2;
    options.batches_per_worker = 2;
    uint64_t frames = 0;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), review_rules(), {}, sink,
                          stats);
        source.pipeline = &pipeline;
        const ReplayResult result = pipeline.run_live(source, ReplayHooks{});
        EXPECT_EQ(result.packets, capture.packets.size());
        expect_worker_accounting(pipeline, stats, "live");
        for (const Worker* w : pipeline.workers()) {
            frames += w->stats().frames.load();
        }
    }
    EXPECT_TRUE(source.was_ready) << "pair L's alert was still held when the link went quiet";
    EXPECT_TRUE(sink.seen.load());
    const uint64_t enqueued = stats.enqueued[0].load() + stats.enqueued[1].load();
    const uint64_t dropped = stats.ring_full_drops[0].load() + stats.ring_full_drops[1].load();
    EXPECT_EQ(enqueued + dropped, capture.packets.size());
    EXPECT_EQ(frames, enqueued);
}

TEST(PairScheduler, PairIdleOnlyByTheCaptureClockKeepsItsWorker) {
    constexpr int64_t kLimit = 700 * kSecondUs;
    PairScheduler scheduler(2, 64, kLimit);
    std::vector<uint64_t> backlog = {0, 0};
    auto load = [&](size_t w) { return backlog[w]; };
    const size_t first = scheduler.pick(42, kStartUs, kStartUs, load);
    backlog[first] = 100;  // the other worker is less loaded: a pair free to move goes there
    // The capture clock jumped an hour ahead; this pair's own packet is a second later.
    EXPECT_EQ(scheduler.pick(42, kStartUs + 3600 * kSecondUs, kStartUs + kSecondUs, load), first);
    // Idle by its own time as well: now it may move.
    EXPECT_NE(scheduler.pick(42, kStartUs + 7200 * kSecondUs, kStartUs + 7200 * kSecondUs, load),
              first);
}

// Read errors, an empty file and a missing one among good files: each readable packet is
// enqueued and processed once, the other files still run, and each error is reported.
TEST(PipelineReview, BadFilesAmongGoodOnesLoseAndDoubleNothing) {
    trafficgen::Capture capture;
    for (uint32_t i = 0; i < 200; ++i) {
        capture.packets.push_back(
            {kStartUs + int64_t{i} * 1'000,
             udp_frame(ip4(10, 84, 0, static_cast<uint8_t>(i % 50 + 1)), ip4(10, 85, 0, 1),
                       static_cast<uint16_t>(1000 + i), 53)});
    }
    const std::string good = write_capture("files-good.pcap", capture);
    std::string bytes;
    {
        std::ifstream in(good, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    ASSERT_GT(bytes.size(), 24u + 16u);
    auto write = [&](const std::string& name, size_t length) {
        std::string path = std::filesystem::path(good).parent_path() / name;
        std::ofstream(path, std::ios::binary)
            .write(bytes.data(), static_cast<std::streamsize>(length));
        return path;
    };
    const std::string cut_last = write("files-cut-last.pcap", bytes.size() - 10);  // 199 read
    const std::string cut_first = write("files-cut-first.pcap", 24 + 10);  // record header cut
    const std::string empty = write("files-empty.pcap", 24);               // file header only
    const std::string missing = std::filesystem::path(good).parent_path() / "files-missing.pcap";
    const std::vector<std::string> files = {good, cut_last, cut_first, empty, missing, good};

    for (size_t workers : {1u, 3u}) {
        CollectingSink sink;
        PipelineStats stats;
        PipelineOptions options;
        options.workers = workers;
        options.batches_per_worker = 2;
        std::vector<std::string> errors;
        ReplayHooks hooks;
        hooks.on_error = [&](const std::string& message) { errors.push_back(message); };
        uint64_t frames = 0;
        uint64_t flows_created = 0;
        ReplayResult result;
        {
            Pipeline pipeline(options, test_support::small_capture_config(), review_rules(), {},
                              sink, stats);
            result = pipeline.replay(files, hooks);
            for (const Worker* w : pipeline.workers()) {
                frames += w->stats().frames.load();
                flows_created += w->flows().stats().created.load();
            }
        }
        uint64_t enqueued = 0;
        for (size_t i = 0; i < workers; ++i) {
            enqueued += stats.enqueued[i].load();
        }
        EXPECT_TRUE(result.read_error);
        ASSERT_EQ(result.files.size(), files.size());
        EXPECT_EQ(errors.size(), 3u) << workers << " workers";
        std::vector<uint64_t> per_file;
        for (const FileResult& f : result.files) {
            per_file.push_back(f.stats.packets);
        }
        EXPECT_EQ(per_file, (std::vector<uint64_t>{200, 199, 0, 0, 0, 200}));
        EXPECT_TRUE(result.files[0].error.empty());
        EXPECT_FALSE(result.files[1].error.empty());
        EXPECT_FALSE(result.files[2].error.empty());
        EXPECT_TRUE(result.files[3].error.empty());
        EXPECT_FALSE(result.files[4].error.empty());
        EXPECT_EQ(result.packets, 599u) << workers << " workers";
        EXPECT_EQ(enqueued, result.packets) << workers << " workers";
        EXPECT_EQ(frames, result.packets) << workers << " workers";
        EXPECT_EQ(sink.alerts.size(), result.packets) << workers << " workers";  // one a frame
        EXPECT_EQ(sink.flows.size(), flows_created) << workers << " workers";
        EXPECT_EQ(sink.flushes, 1);
    }
}

// Stopped from the output side while batches are in flight: every packet read is enqueued and
// processed, and every flow a worker opened is written.
TEST(PipelineReview, StopMidRunLosesNothingRead) {
    class StoppingSink final : public CollectingSink {
    public:
        Pipeline* pipeline = nullptr;
        void flow(const core::FlowRecord& r) override {
            CollectingSink::flow(r);
            if (flows.size() == 50 && pipeline != nullptr) {
                pipeline->request_stop();
            }
        }
    };
    const trafficgen::Capture sample = trafficgen::generate(trafficgen::Options{});
    const std::string path = write_capture("stop-sample.pcap", sample);
    for (size_t workers : {1u, 3u}) {
        StoppingSink sink;
        const Replayed r =
            replay({path, path}, workers, &sink, [&](Pipeline& p) { sink.pipeline = &p; });
        EXPECT_GT(r.packets, 0u) << workers << " workers";
        EXPECT_LT(r.packets, 2 * sample.packets.size()) << workers << " workers: stopped late";
        EXPECT_EQ(r.enqueued, r.packets) << workers << " workers";
        EXPECT_EQ(r.frames, r.packets) << workers << " workers";
        EXPECT_EQ(sink.flows.size(), r.flows_created) << workers << " workers";
        EXPECT_EQ(sink.flushes, 1) << workers << " workers";
    }
}

// With several workers, alerts and flow records come to a sink that asks for it with their
// lines made by the workers (the output thread then only copies them); a record whose line
// could not be made (the formatter ran out of memory) comes unformatted, and one worker
// working inline formats nothing ahead.
TEST(PipelineReview, WorkersFormatRecordLinesForTheSink) {
    class IdFormatter final : public RecordFormatter {
    public:
        void append_alert(std::string& out, const core::AlertRecord& a) const override {
            if (a.packet_index % 5 == 0) {
                out += "partial";  // taken out again by the worker
                throw std::bad_alloc();
            }
            out += "alert " + std::to_string(a.signature_id) + " " + std::to_string(a.packet_index);
        }
        void append_flow(std::string& out, const core::FlowRecord& r) const override {
            if (r.flow_id % 3 == 0) {
                out += "partial";
                throw std::bad_alloc();
            }
            out += "flow " + std::to_string(r.flow_id) + " " + std::to_string(r.pkts_toserver);
        }
    };
    class FormattingSink final : public CollectingSink {
    public:
        const RecordFormatter* record_formatter() const noexcept override { return &formatter; }
        bool alert_formatted(const core::AlertRecord& a, std::string_view line) override {
            alert_lines.emplace_back(a.packet_index, std::string(line));
            return CollectingSink::alert(a);
        }
        void flow_formatted(const core::FlowRecord& r, std::string_view line) override {
            CollectingSink::flow(r);
            flow_lines.emplace_back(r.flow_id, std::string(line));
        }
        IdFormatter formatter;
        std::vector<std::pair<uint64_t, std::string>> alert_lines;
        std::vector<std::pair<uint64_t, std::string>> flow_lines;
    };
    trafficgen::Capture capture;  // 300 flows of 2 packets, each packet alerting
    for (int64_t i = 0; i < 600; ++i) {
        const auto client = ip4(10, 88, static_cast<uint8_t>(1 + i % 300 / 200),
                                static_cast<uint8_t>(1 + i % 300 % 200));
        capture.packets.push_back(
            {kStartUs + i * 1'000, udp_frame(client, ip4(10, 89, 0, 1), 5000, 6000)});
    }
    const std::string path = write_capture("formatting.pcap", capture);
    FormattingSink inline_sink;
    const Replayed one = replay({path}, 1, &inline_sink);
    ASSERT_EQ(one.flows.size(), 300u);
    ASSERT_EQ(one.alerts.size(), 600u);
    EXPECT_TRUE(inline_sink.alert_lines.empty());
    EXPECT_TRUE(inline_sink.flow_lines.empty());
    for (size_t workers : {2u, 4u}) {
        FormattingSink sink;
        const Replayed many = replay({path}, workers, &sink);
        EXPECT_EQ(many.flows, one.flows) << workers << " workers";
        EXPECT_EQ(many.alerts, one.alerts) << workers << " workers";
        EXPECT_EQ(sink.alert_lines.size(), 600u - 600u / 5) << workers << " workers";
        for (const auto& [packet, line] : sink.alert_lines) {
            EXPECT_EQ(line, "alert 9100101 " + std::to_string(packet)) << workers << " workers";
        }
        size_t unformatted = 0;
        std::map<uint64_t, uint64_t> pkts_toserver;
        for (const core::FlowRecord& r : sink.flows) {
            unformatted += r.flow_id % 3 == 0 ? 1 : 0;
            pkts_toserver[r.flow_id] = r.pkts_toserver;
        }
        ASSERT_GT(unformatted, 0u);
        EXPECT_EQ(sink.flow_lines.size(), sink.flows.size() - unformatted) << workers << " workers";
        for (const auto& [id, line] : sink.flow_lines) {
            EXPECT_EQ(line, "flow " + std::to_string(id) + " " + std::to_string(pkts_toserver[id]))
                << workers << " workers";
        }
    }
}

// The ring depth gauge says how many batches wait for each worker: none once the run ended.
TEST(PipelineReview, RingDepthIsZeroOnceTheRunEnded) {
    const std::string path =
        write_capture("depth-sample.pcap", trafficgen::generate(trafficgen::Options{}));
    const Replayed r = replay({path}, 4);
    ASSERT_EQ(r.ring_depth.size(), 4u);
    EXPECT_EQ(r.ring_depth, std::vector<uint64_t>(4, 0));
}

// Files given out of time order: the second begins two days before the first ended. Its flows
// must not meet the first file's time at batch ends, which fall at different packets for
// different numbers of workers.
TEST(PipelineReview, FilesOutOfTimeOrderGiveTheSameFlowsForAnyNumberOfWorkers) {
    const int64_t kDay = 86'400;
    std::vector<std::string> files;
    for (int64_t shift : {kDay, -kDay}) {
        trafficgen::Options options;
        options.start_seconds = trafficgen::kDefaultStartSeconds + shift;
        files.push_back(write_capture("timeline-" + std::to_string(shift) + ".pcap",
                                      trafficgen::generate(options)));
    }
    const Replayed one = replay(files, 1);
    // Each file alone gives 2,564 flow records (Pipeline.SameAlertsAndFlowsForAnyNumberOfWorkers).
    EXPECT_EQ(one.flows.size(), 2 * 2564u);
    for (size_t workers : {2u, 4u}) {
        for (ReadAheadMode mode : {ReadAheadMode::kOff, ReadAheadMode::kOn}) {
            const Replayed many = replay(files, workers, nullptr, nullptr, true, false, mode);
            const std::string where = std::to_string(workers) + " workers, read ahead " +
                                      std::to_string(mode == ReadAheadMode::kOn);
            EXPECT_EQ(many.packets, one.packets) << where;
            EXPECT_EQ(many.flows, one.flows) << where;
            EXPECT_EQ(many.alerts, one.alerts) << where;
        }
    }
    // In time order the same two files give the same records: the flows of the first file
    // end where the second begins in one case, and at the end of the run in the other, but
    // each is still one whole flow.
    const Replayed ordered = replay({files[1], files[0]}, 2);
    EXPECT_EQ(ordered.flows.size(), one.flows.size());
}

// A file that ends with frames waiting in a lane whose last batch already carried the current
// time (packets sharing one timestamp across a batch end), then a file from an earlier time:
// those frames belong to the old timeline. Sent with the new one, they met a worker that had
// already ended the old flows, and the flow split in two.
TEST(PipelineReview, FramesWaitingAtANewTimelineGoWithTheOldOne) {
    const core::IpAddress x1 = ip4(10, 90, 0, 1);
    const core::IpAddress x2 = ip4(10, 90, 0, 2);
    const size_t kPackets = core::FrameBatch::kMaxFrames + 36;  // a full batch, then 36 waiting
    trafficgen::Capture late;
    for (size_t i = 0; i < kPackets; ++i) {
        late.packets.push_back({kStartUs, udp_frame(x1, x2, 5000, 6000)});
    }
    trafficgen::Capture early;
    early.packets.push_back({kStartUs - 86'400 * kSecondUs,
                             udp_frame(ip4(10, 91, 0, 1), ip4(10, 91, 0, 2), 5001, 6001)});
    const std::vector<std::string> files = {write_capture("waiting-late.pcap", late),
                                            write_capture("waiting-early.pcap", early)};
    for (bool map_files : {true, false}) {
        for (size_t workers : {1u, 2u}) {
            const Replayed r = replay(files, workers, nullptr, nullptr, map_files);
            ASSERT_EQ(r.flows.size(), 2u) << workers << " workers, mapped " << map_files;
            size_t x_packets = 0;
            for (const FullFlow& f : r.flows) {
                x_packets = std::max<size_t>(x_packets, std::get<1>(f) + std::get<2>(f));
            }
            EXPECT_EQ(x_packets, kPackets) << workers << " workers, mapped " << map_files;
        }
    }
}

// Mapped files hand their packets to workers in place: each file must stay mapped until every
// worker has processed the batches pointing into it, also when the next file is already being
// read (shallow rings, several files, so files end while their batches still queue).
TEST(PipelineReview, MappedFilesGiveWhatCopiedFilesGive) {
    std::vector<std::string> files;
    for (int64_t hour = 0; hour < 4; ++hour) {
        trafficgen::Options options;
        options.start_seconds = trafficgen::kDefaultStartSeconds + hour * 3600;
        files.push_back(write_capture("mapped-" + std::to_string(hour) + ".pcap",
                                      trafficgen::generate(options)));
    }
    const Replayed copied = replay(files, 1, nullptr, nullptr, /*map_files=*/false);
    EXPECT_EQ(copied.flows.size(), 4 * 2564u);
    for (size_t workers : {1u, 2u, 4u}) {
        for (ReadAheadMode mode : {ReadAheadMode::kOff, ReadAheadMode::kOn}) {
            const Replayed mapped =
                replay(files, workers, nullptr, nullptr, /*map_files=*/true, false, mode);
            const std::string where = std::to_string(workers) + " workers, read ahead " +
                                      std::to_string(mode == ReadAheadMode::kOn);
            EXPECT_EQ(mapped.packets, copied.packets) << where;
            EXPECT_EQ(mapped.frames, copied.frames) << where;
            EXPECT_EQ(mapped.flows, copied.flows) << where;
            EXPECT_EQ(mapped.alerts, copied.alerts) << where;
        }
    }
}

}  // namespace review

}  // namespace
}  // namespace sensor::pipeline
