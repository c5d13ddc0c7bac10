// Live capture never waits: not on a stalled worker (its frames are dropped at the ring) and not
// on a stalled output (a worker drops the records it cannot queue); both counted, so that frames
// read = enqueued + ring drops and alerts generated = written + queue drops + output failures. Rule
// sets published while workers run take effect between batches.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "bench/trafficgen/packet_builder.h"
#include "capture/batch_source.h"
#include "pipeline_test_support.h"
#include "sensor/pipeline/pipeline.h"
#include "tunnel_frames.h"

namespace sensor::pipeline {
namespace {

using namespace test_support;
using Clock = std::chrono::steady_clock;

constexpr int64_t kStartUs = int64_t{trafficgen::kDefaultStartSeconds} * 1'000'000;
// One rule that fires on every frame these tests build.
const std::shared_ptr<const detect::SignatureDb>& probe_rules() {
    static const auto kRules = rules_from_text(
        "alert udp any any -> any any (msg:\"live probe\"; content:\"probe\"; sid:9300001; "
        "rev:1;)\n");
    return kRules;
}

// A UDP frame of the pair (10.60.<pair>.1, 10.60.<pair>.2) whose payload the probe matches.
Bytes probe_frame(uint8_t pair) {
    return trafficgen::make_udp_frame(spec(ip4(10, 60, pair, 1), ip4(10, 60, pair, 2)), 40000, 7000,
                                      text("probe"));
}

// Opened once; waiters give up after their limit.
class Latch {
public:
    void open() {
        std::lock_guard<std::mutex> lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }
    // True when the latch was opened within `limit`.
    bool wait_for(std::chrono::milliseconds limit) {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, limit, [this] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

// A live source fed from memory, up to 8 frames per read(), frame i stamped 1 ms after frame
// i - 1 and numbered i + 1. Before it hands out frame `next`, ready(next) must hold: until it
// does, read() returns nothing (the pipeline then hands over what waits), for at most 10 s, after
// which the source stops asking (gave_up). After the last frame it calls at_end once and asks
// the pipeline to stop. Everything runs on the capture thread.
class MemorySource final : public capture::BatchSource {
public:
    MemorySource(std::vector<Bytes> frames, Pipeline& pipeline)
        : frames_(std::move(frames)), pipeline_(pipeline) {}

    capture::ReadStatus read(core::FrameBatch& batch) noexcept override {
        if (next_ == frames_.size()) {
            if (!ended_) {
                ended_ = true;
                if (at_end) {
                    at_end();
                }
                pipeline_.request_stop();
            }
            return capture::ReadStatus::kOk;
        }
        if (ready && !gave_up && !ready(next_)) {
            if (waiting_since_ == Clock::time_point{}) {
                waiting_since_ = Clock::now();
            } else if (Clock::now() - waiting_since_ > std::chrono::seconds(10)) {
                gave_up = true;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
            return capture::ReadStatus::kOk;
        }
        waiting_since_ = Clock::time_point{};
        for (size_t n = 0; n < 8 && next_ < frames_.size(); ++n, ++next_) {
            const Bytes& f = frames_[next_];
            const int64_t ts = kStartUs + static_cast<int64_t>(next_) * 1000;
            if (!batch.push(f, static_cast<uint32_t>(f.size()), ts, 1, next_ + 1, 0)) {
                break;
            }
        }
        delivered.store(next_);
        return capture::ReadStatus::kOk;
    }
    void break_loop() noexcept override {}
    void update_stats() noexcept override {}
    const capture::LiveStats& stats() const noexcept override { return stats_; }
    const std::string& iface() const noexcept override { return name_; }
    const std::string& error() const noexcept override { return name_; }

    std::function<bool(size_t next)> ready;
    std::function<void()> at_end;
    bool gave_up = false;
    std::atomic<size_t> delivered{0};  // frames handed out so far (any thread may read)

private:
    std::vector<Bytes> frames_;
    Pipeline& pipeline_;
    size_t next_ = 0;
    bool ended_ = false;
    Clock::time_point waiting_since_{};
    capture::LiveStats stats_;
    std::string name_ = "memory";
};

uint64_t frames_processed(const Pipeline& pipeline) {
    uint64_t n = 0;
    for (const Worker* w : pipeline.workers()) {
        n += w->stats().frames.load();
    }
    return n;
}

uint64_t alerts_generated(const Pipeline& pipeline) {
    uint64_t n = 0;
    for (const Worker* w : pipeline.workers()) {
        n += w->stats().alerts.load();
    }
    return n;
}

uint64_t flows_ended(const Pipeline& pipeline) {
    uint64_t n = 0;
    for (const Worker* w : pipeline.workers()) {
        n += w->stats().flows_ended.load();
    }
    return n;
}

// Counts the records as they arrive, readable from any thread.
class CountingSink : public CollectingSink {
public:
    bool alert(const core::AlertRecord& r) override {
        CollectingSink::alert(r);
        alerts_seen.store(alerts.size());
        return true;
    }
    std::atomic<uint64_t> alerts_seen{0};
};

// What a run read, queued and wrote, and the accounting identities every run must satisfy.
struct Accounts {
    uint64_t read = 0;
    uint64_t enqueued = 0;
    uint64_t ring_drops = 0;
    uint64_t processed = 0;
    uint64_t generated = 0;
    uint64_t written = 0;
    uint64_t alert_queue_drops = 0;
    uint64_t flow_queue_drops = 0;
    uint64_t flows_ended = 0;
};

Accounts settle_accounts(const Pipeline& pipeline, const PipelineStats& stats, uint64_t read,
                         const CollectingSink& sink, const std::string& what) {
    Accounts a;
    a.read = read;
    a.enqueued = sum_per_worker(stats.enqueued, stats.worker_count);
    a.ring_drops = sum_per_worker(stats.ring_full_drops, stats.worker_count);
    a.processed = frames_processed(pipeline);
    a.generated = alerts_generated(pipeline);
    a.written = stats.alerts_written.load();
    a.alert_queue_drops = sum_per_worker(stats.alerts_queue_drops, stats.worker_count);
    a.flow_queue_drops = sum_per_worker(stats.flows_queue_drops, stats.worker_count);
    a.flows_ended = flows_ended(pipeline);
    EXPECT_EQ(a.read, a.enqueued + a.ring_drops) << what;
    EXPECT_EQ(a.processed, a.enqueued) << what;
    expect_worker_accounting(pipeline, stats, what);
    EXPECT_EQ(a.generated, a.written + a.alert_queue_drops + stats.alerts_output_failed.load())
        << what;
    EXPECT_EQ(sink.alerts.size(), a.written) << what;
    EXPECT_EQ(a.flows_ended, sink.flows.size() + a.flow_queue_drops) << what;
    return a;
}

// A worker that stops taking batches (here: held after its first) costs frames at its ring, and
// nothing else: the capture thread reads on to the end of the source while the worker is still
// held. Were dispatch to wait for the worker in live mode, the source would reach its end only
// once the hold timed out.
TEST(PipelineLive, StalledWorkerDropsAtItsRingWhileTheCaptureReadsOn) {
    constexpr size_t kFrames = size_t{64} * 20;
    std::vector<Bytes> frames(kFrames, probe_frame(1));  // one pair: one worker
    Latch release;
    std::atomic<int> held_worker{-1};
    std::atomic<bool> holding{false};
    PipelineOptions options;
    options.workers = 2;
    options.batches_per_worker = 2;
    options.after_batch = [&](size_t worker) {
        int none = -1;
        if (held_worker.compare_exchange_strong(none, static_cast<int>(worker))) {
            holding.store(true);
            release.wait_for(std::chrono::seconds(10));
            holding.store(false);
        }
    };
    CountingSink sink;
    PipelineStats stats;
    bool ended_while_held = false;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), probe_rules(), {}, sink,
                          stats);
        MemorySource source(frames, pipeline);
        // The first batch reaches the worker before the rest is read.
        source.ready = [&](size_t next) { return next < 64 || holding.load(); };
        source.at_end = [&] {
            ended_while_held = holding.load();
            release.open();
        };
        const ReplayResult result = pipeline.run_live(source, ReplayHooks{});
        EXPECT_FALSE(source.gave_up) << "the source waited 10 s for the worker to be held";
        EXPECT_EQ(result.packets, kFrames);
        const Accounts a = settle_accounts(pipeline, stats, result.packets, sink, "stalled worker");
        ASSERT_GE(held_worker.load(), 0);
        const auto held = static_cast<size_t>(held_worker.load());
        EXPECT_GT(stats.ring_full_drops[held].load(), 0u);
        EXPECT_GT(a.processed, 0u);
        EXPECT_EQ(a.generated, a.processed);  // the probe fires on every frame
    }
    EXPECT_TRUE(ended_while_held) << "the capture waited for the held worker";
}

// Holds the output thread at its first alert until released, at most for `hold`.
class HoldingSink final : public CountingSink {
public:
    explicit HoldingSink(std::chrono::milliseconds hold = std::chrono::seconds(10)) : hold_(hold) {}
    bool alert(const core::AlertRecord& r) override {
        if (!first_.exchange(true)) {
            holding.store(true);
            release.wait_for(hold_);
            holding.store(false);
        }
        return CountingSink::alert(r);
    }
    Latch release;
    std::atomic<bool> holding{false};

private:
    std::chrono::milliseconds hold_;
    std::atomic<bool> first_{false};
};

// A stalled output (a slow disk under eve.json) costs records, not frames, and stalls no worker:
// the worker drops the records of each batch it cannot queue, counted per kind, and keeps taking
// batches. Here the source hands out a batch at a time while the worker keeps up (so frames
// are not lost at the ring), and at its end waits until the worker has processed every frame
// enqueued, all while the output thread is held at its first alert.
TEST(PipelineLive, StalledOutputCostsRecordsNotWorkerProgress) {
    constexpr size_t kFrames = size_t{64} * 20;
    std::vector<Bytes> frames(kFrames, probe_frame(2));
    PipelineOptions options;
    options.workers = 2;
    options.batches_per_worker = 2;  // two output blocks per worker
    HoldingSink sink;
    PipelineStats stats;
    bool processed_while_held = false;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), probe_rules(), {}, sink,
                          stats);
        MemorySource source(frames, pipeline);
        source.ready = [&](size_t next) {
            return next % 64 != 0 || frames_processed(pipeline) >= next;
        };
        source.at_end = [&] {
            const auto deadline = Clock::now() + std::chrono::seconds(10);
            const uint64_t enqueued = sum_per_worker(stats.enqueued, stats.worker_count);
            while (frames_processed(pipeline) < enqueued && Clock::now() < deadline) {
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
            processed_while_held = frames_processed(pipeline) == enqueued && sink.holding.load();
            sink.release.open();
        };
        const ReplayResult result = pipeline.run_live(source, ReplayHooks{});
        EXPECT_FALSE(source.gave_up) << "the worker stopped taking batches";
        const Accounts a = settle_accounts(pipeline, stats, result.packets, sink, "stalled output");
        EXPECT_EQ(a.read, kFrames);
        EXPECT_EQ(a.ring_drops, 0u);
        EXPECT_EQ(a.generated, kFrames);
        EXPECT_GT(a.alert_queue_drops, 0u);
        EXPECT_GT(a.written, 0u);
        // The one flow ends when the run does, after the capture stopped: it waits for room.
        EXPECT_EQ(a.flows_ended, 1u);
        EXPECT_EQ(sink.flows.size(), 1u);
    }
    EXPECT_TRUE(processed_while_held) << "the worker waited for the held output";
}

// Replay never drops at the output, however slow it is: the worker waits (here for 500 ms of a
// held output thread, with two output blocks for twenty batches).
TEST(PipelineLive, ReplayWaitsForAStalledOutput) {
    trafficgen::Capture capture;
    for (size_t i = 0; i < size_t{64} * 20; ++i) {
        capture.packets.push_back({kStartUs + static_cast<int64_t>(i) * 1000, probe_frame(3)});
    }
    const std::string path = write_capture("live-output-replay.pcap", capture);
    PipelineOptions options;
    options.workers = 2;
    options.batches_per_worker = 2;
    HoldingSink sink(std::chrono::milliseconds(500));
    PipelineStats stats;
    Pipeline pipeline(options, test_support::small_capture_config(), probe_rules(), {}, sink,
                      stats);
    const ReplayResult result = pipeline.replay({path}, ReplayHooks{});
    const Accounts a = settle_accounts(pipeline, stats, result.packets, sink, "replay");
    EXPECT_EQ(a.read, capture.packets.size());
    EXPECT_EQ(a.written, capture.packets.size());
    EXPECT_EQ(a.alert_queue_drops + a.flow_queue_drops + a.ring_drops, 0u);
    // The waits are timed (stats.json): the output thread was busy at least the 500 ms it was
    // held while writing, the pair's worker waited for an output block meanwhile, and the
    // capture thread for that worker's batches.
    uint64_t output_waited_ns = 0;
    uint64_t capture_waited_ns = 0;
    for (size_t w = 0; w < options.workers; ++w) {
        output_waited_ns += stats.output_wait_ns[w].load();
        capture_waited_ns += stats.dispatch_wait_ns[w].load();
    }
    EXPECT_GE(stats.output_busy_ns.load(), 450'000'000u);
    EXPECT_GT(output_waited_ns, 250'000'000u);
    EXPECT_GT(capture_waited_ns, 250'000'000u);
}

// An alert the sink could not take (eve.json failed to write it) is an output failure, not a
// written alert: the written count and its labels match what the file holds.
TEST(PipelineOutput, AlertsTheSinkRefusesAreOutputFailuresNotWritten) {
    class RefusingSink final : public CollectingSink {
    public:
        bool alert(const core::AlertRecord& r) override {
            if (++calls_ % 3 == 0) {
                return false;  // lost
            }
            return CollectingSink::alert(r);
        }

    private:
        uint64_t calls_ = 0;
    };
    trafficgen::Capture capture;
    for (size_t i = 0; i < 300; ++i) {
        capture.packets.push_back(
            {kStartUs + static_cast<int64_t>(i) * 1000, probe_frame(static_cast<uint8_t>(i % 5))});
    }
    const std::string path = write_capture("live-output-refused.pcap", capture);
    for (size_t workers : {1u, 3u}) {
        const std::string what = std::to_string(workers) + " workers";
        RefusingSink sink;
        PipelineStats stats;
        PipelineOptions options;
        options.workers = workers;
        Pipeline pipeline(options, test_support::small_capture_config(), probe_rules(), {}, sink,
                          stats);
        const ReplayResult result = pipeline.replay({path}, ReplayHooks{});
        const Accounts a = settle_accounts(pipeline, stats, result.packets, sink, what);
        EXPECT_EQ(a.generated, capture.packets.size()) << what;
        EXPECT_EQ(stats.alerts_output_failed.load(), capture.packets.size() / 3) << what;
        EXPECT_EQ(a.written, capture.packets.size() - capture.packets.size() / 3) << what;
        uint64_t by_severity = 0;
        for (const core::Counter& c : stats.alerts_by_severity) {
            by_severity += c.load();
        }
        EXPECT_EQ(by_severity, a.written) << what;
    }
}

// Rule sets published by the control thread while workers run (here: this thread, while the
// capture runs on another) take effect between batches. Generation g has one rule, sid
// kGenerationSid + g, that fires on every frame. The source reads phase p (kPhase frames) only
// once generation p is published, and the workers still process earlier phases as it is. So:
// every frame alerts exactly once; a frame read once generation g was out alerts with g or a
// later one, never an older one; per flow, generations never go back; every generation alerts;
// every worker that had traffic ends on the last one.
TEST(PipelineReload, RulesPublishedWhileWorkersRunTakeEffectBetweenBatches) {
    constexpr uint32_t kGenerationSid = 9310000;
    constexpr size_t kGenerations = 4;
    constexpr size_t kPhase = 512;
    constexpr size_t kPairs = 6;
    std::vector<std::shared_ptr<const detect::SignatureDb>> generations;
    for (size_t g = 0; g < kGenerations; ++g) {
        generations.push_back(rules_from_text(
            "alert udp any any -> any any (msg:\"generation\"; content:\"probe\"; sid:" +
            std::to_string(kGenerationSid + g) + "; rev:1;)\n"));
        ASSERT_NE(generations.back(), nullptr);
    }
    std::vector<Bytes> frames;
    std::vector<size_t> phase_of;  // by frame index - 1
    for (size_t i = 0; i < kPhase * kGenerations; ++i) {
        frames.push_back(probe_frame(static_cast<uint8_t>(10 + i % kPairs)));
        phase_of.push_back(i / kPhase);
    }
    PipelineOptions options;
    options.workers = 3;
    options.batches_per_worker = 16;
    CountingSink sink;
    PipelineStats stats;
    Pipeline pipeline(options, test_support::small_capture_config(), generations[0], {}, sink,
                      stats);
    MemorySource source(frames, pipeline);
    // Lossless by pacing: at most 128 frames in flight, then everything processed and written
    // (the live pipeline would drop at a full ring or output queue, never wait).
    bool draining = false;
    source.ready = [&](size_t next) {
        if (next % kPhase == 0 && pipeline.rules_generation() < next / kPhase + 1) {
            return false;  // generation next / kPhase is not published yet
        }
        const uint64_t processed = frames_processed(pipeline);
        if (draining) {
            draining = processed < next || sink.alerts_seen.load() < alerts_generated(pipeline);
            return !draining;
        }
        draining = next - processed >= 128;
        return !draining;
    };
    std::thread capture([&] {
        const ReplayResult result = pipeline.run_live(source, ReplayHooks{});
        EXPECT_EQ(result.packets, frames.size());
    });
    for (size_t g = 1; g < kGenerations; ++g) {
        const auto deadline = Clock::now() + std::chrono::seconds(20);
        while (source.delivered.load() < g * kPhase && Clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        pipeline.publish_rules(generations[g]);
    }
    capture.join();
    EXPECT_FALSE(source.gave_up);
    EXPECT_EQ(pipeline.rules_generation(), kGenerations);
    for (const Worker* w : pipeline.workers()) {
        if (w->stats().frames.load() > 0) {
            EXPECT_EQ(w->rules_generation(), kGenerations);
        }
    }
    const Accounts a = settle_accounts(pipeline, stats, frames.size(), sink, "reload");
    EXPECT_EQ(a.ring_drops + a.alert_queue_drops, 0u);

    ASSERT_EQ(sink.alerts.size(), frames.size());
    std::set<uint64_t> alerted;
    std::map<uint64_t, size_t> last_generation;  // by flow
    std::vector<size_t> per_generation(kGenerations, 0);
    for (const core::AlertRecord& r : sink.alerts) {
        ASSERT_GE(r.signature_id, kGenerationSid);
        const size_t g = r.signature_id - kGenerationSid;
        ASSERT_LT(g, kGenerations);
        ASSERT_GE(r.packet_index, 1u);
        ASSERT_LE(r.packet_index, frames.size());
        EXPECT_TRUE(alerted.insert(r.packet_index).second) << "frame " << r.packet_index;
        const size_t phase = phase_of[r.packet_index - 1];
        EXPECT_GE(g, phase) << "frame " << r.packet_index << " met rules older than it";
        auto [it, first] = last_generation.emplace(r.flow_id, g);
        EXPECT_GE(g, it->second) << "flow " << r.flow_id << " went back a generation";
        it->second = g;
        ++per_generation[g];
    }
    EXPECT_EQ(last_generation.size(), kPairs);
    for (size_t g = 0; g < kGenerations; ++g) {
        EXPECT_GT(per_generation[g], 0u) << "generation " << g;
    }
}

}  // namespace
}  // namespace sensor::pipeline
