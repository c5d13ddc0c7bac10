// Pipeline::run_sources: workers that read their own source (AF_PACKET fanout in the
// program), fed here from the generated sample split by address pair as the kernel's
// fanout program splits it. Results must equal the ring-fed replay, and the accounting
// (packets read = enqueued = worker frames) must hold, also when a source fails.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "capture/batch_source.h"
#include "capture/pcap_file_reader.h"
#include "pipeline_test_support.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/core/cpus.h"
#include "sensor/decode/decoder.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/pipeline.h"

namespace sensor::pipeline {
namespace {

using test_support::CollectingSink;

struct StoredFrame {
    std::vector<uint8_t> bytes;
    uint32_t wire_len = 0;
    int64_t ts_us = 0;
    int linktype = 0;
    uint64_t index = 0;
};

struct Fixture {
    std::string pcap;
    std::vector<StoredFrame> frames;
    std::shared_ptr<const detect::SignatureDb> db;
    std::vector<BuiltinRule> builtin;
    WorkerConfig config = test_support::small_capture_config();
};

const Fixture& fixture() {
    static Fixture f = [] {
        Fixture out;
        out.pcap = test_support::write_sample_capture("source-workers-test");
        auto reader = capture::PcapFileReader::open(out.pcap, 0);
        EXPECT_TRUE(reader) << reader.error().message;
        core::Frame frame;
        while ((*reader)->next(frame) == capture::ReadStatus::kOk) {
            out.frames.push_back({std::vector<uint8_t>(frame.data, frame.data + frame.caplen),
                                  frame.wire_len, frame.ts_us, frame.linktype, frame.index});
        }
        test_support::SampleRules rules = test_support::load_sample_rules();
        out.db = rules.db;
        out.builtin = std::move(rules.builtin);
        return out;
    }();
    return f;
}

// One fanout member: the frames of its address pairs, in capture order, a few per read().
// After its last frame it reports kError when told to (a failing interface), or else waits
// like an idle interface until break_loop().
class FeedSource final : public capture::BatchSource {
public:
    FeedSource(std::vector<const StoredFrame*> frames, size_t fail_after)
        : frames_(std::move(frames)), fail_after_(fail_after) {}

    capture::ReadStatus read(core::FrameBatch& batch) noexcept override {
        const size_t end = std::min(frames_.size(), fail_after_);
        size_t n = 0;
        while (next_ < end && n < kPerRead) {
            const StoredFrame& f = *frames_[next_];
            if (!batch.push(f.bytes, f.wire_len, f.ts_us, f.linktype, f.index, 0)) {
                break;
            }
            stats_.received.add();
            stats_.bytes.add(f.bytes.size());
            ++next_;
            ++n;
        }
        if (n > 0) {
            return capture::ReadStatus::kOk;
        }
        if (next_ == fail_after_) {
            error_ = "feed: interface disappeared";
            return capture::ReadStatus::kError;
        }
        drained_.store(true);
        // An idle interface: wait for traffic that never comes, or a wake-up.
        for (int i = 0; i < 5 && !woken_.exchange(false); ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        return capture::ReadStatus::kOk;
    }
    void break_loop() noexcept override { woken_.store(true); }
    void update_stats() noexcept override {
        ++stats_queries_;
        stats_.kernel_dropped.set(kKernelDropped);
        stats_.iface_dropped.set(kIfaceDropped);
    }
    const capture::LiveStats& stats() const noexcept override { return stats_; }
    const std::string& iface() const noexcept override { return iface_; }
    const std::string& error() const noexcept override { return error_; }

    bool drained() const noexcept { return drained_.load(); }
    size_t delivered() const noexcept { return next_; }
    size_t size() const noexcept { return frames_.size(); }
    int stats_queries() const noexcept { return stats_queries_; }

    static constexpr uint64_t kKernelDropped = 7;
    static constexpr uint64_t kIfaceDropped = 3;

private:
    static constexpr size_t kPerRead = 48;
    std::vector<const StoredFrame*> frames_;
    size_t fail_after_;
    size_t next_ = 0;
    std::atomic<bool> drained_{false};
    std::atomic<bool> woken_{false};
    int stats_queries_ = 0;
    capture::LiveStats stats_;
    std::string iface_ = "feed0";
    std::string error_;
};

// Splits the sample over members by a symmetric hash of the outer IP addresses, as the
// fanout program does: every packet between two hosts on one member.
std::vector<std::unique_ptr<FeedSource>> make_sources(size_t members, size_t fail_member,
                                                      size_t fail_after) {
    const Fixture& f = fixture();
    decode::DecodeConfig config;
    decode::Decoder decoder(config);
    decode::DecodedPacket packet;
    std::vector<std::vector<const StoredFrame*>> split(members);
    for (const StoredFrame& s : f.frames) {
        core::Frame frame;
        frame.data = s.bytes.data();
        frame.caplen = static_cast<uint32_t>(s.bytes.size());
        frame.wire_len = s.wire_len;
        frame.ts_us = s.ts_us;
        frame.linktype = s.linktype;
        size_t member = 0;
        if (decoder.outer_addresses(frame, packet) == decode::Verdict::kPacket) {
            uint32_t h = 0;
            for (size_t i = 0; i < 16; i += 4) {
                uint32_t a = 0;
                uint32_t b = 0;
                std::memcpy(&a, packet.src.bytes.data() + i, 4);
                std::memcpy(&b, packet.dst.bytes.data() + i, 4);
                h ^= a ^ b;
            }
            h *= 0x9e3779b1u;
            member = (h ^ (h >> 16)) % members;
        }
        split[member].push_back(&s);
    }
    std::vector<std::unique_ptr<FeedSource>> out;
    for (size_t i = 0; i < members; ++i) {
        out.push_back(std::make_unique<FeedSource>(
            std::move(split[i]), i == fail_member ? fail_after : static_cast<size_t>(-1)));
    }
    return out;
}

using test_support::AlertKey;
using test_support::FlowKey;

struct RunResult {
    std::vector<AlertKey> alerts;
    std::vector<FlowKey> flows;
    ReplayResult replay;
    uint64_t enqueued = 0;
    uint64_t ring_full = 0;
    uint64_t source_packets = 0;
    uint64_t kernel_drops = 0;
    uint64_t interface_drops = 0;
    uint64_t frames = 0;
    uint64_t decoded_plus_dropped = 0;
    std::vector<uint64_t> enqueued_per_worker;
    std::vector<uint64_t> delivered_per_source;
    int flushes = 0;
    // With worker CPUs: each worker's affinity masks as its thread saw them after its batches.
    std::vector<std::vector<std::vector<int>>> worker_masks;
    std::vector<int> worker_cpu;
};

void collect(const CollectingSink& sink, RunResult& r) {
    test_support::ComparableRecords records = test_support::comparable(sink);
    r.alerts = std::move(records.alerts);
    r.flows = std::move(records.flows);
    // Workers that read their own sources share no clock at the end: a flow still open then
    // ends at its worker's last packet time (as shutdown), where a replay's dispatcher hands
    // every worker the capture's last time (so it may end as a timeout, at its timeout). The
    // record's time is left out here; everything else must match.
    for (FlowKey& flow : r.flows) {
        std::get<5>(flow) = 0;
    }
    std::sort(r.flows.begin(), r.flows.end());
    r.flushes = sink.flushes;
}

RunResult run_replay() {
    const Fixture& f = fixture();
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    RunResult r;
    {
        Pipeline pipeline(options, f.config, f.db, f.builtin, sink, stats);
        r.replay = pipeline.replay({f.pcap}, ReplayHooks{});
    }
    collect(sink, r);
    return r;
}

// Runs the self-reading workers until every source is drained (or one failed), then stops.
RunResult run_self_reading(size_t workers, size_t fail_member = static_cast<size_t>(-1),
                           size_t fail_after = 0, const std::vector<int>& worker_cpus = {}) {
    const Fixture& f = fixture();
    auto sources = make_sources(workers, fail_member, fail_after);
    std::vector<capture::BatchSource*> raw;
    raw.reserve(sources.size());
    for (auto& s : sources) {
        raw.push_back(s.get());
    }
    CollectingSink sink;
    PipelineStats stats;
    stats.source_count = workers;
    PipelineOptions options;
    options.workers = workers;
    options.workers_read_sources = true;
    options.worker_cpus = worker_cpus;
    RunResult r;
    r.worker_masks.resize(workers);  // each written by its own worker's thread only
    if (!worker_cpus.empty()) {
        options.after_batch = [&r](size_t worker) {
            auto& seen = r.worker_masks[worker];
            std::vector<int> mask = core::affinity_cpus();
            if (std::find(seen.begin(), seen.end(), mask) == seen.end()) {
                seen.push_back(std::move(mask));
            }
        };
    }
    std::vector<std::string> errors;
    {
        Pipeline pipeline(options, f.config, f.db, f.builtin, sink, stats);
        std::atomic<bool> done{false};
        std::thread stopper([&] {
            while (!done.load()) {
                if (std::all_of(sources.begin(), sources.end(),
                                [](const auto& s) { return s->drained(); })) {
                    pipeline.request_stop();
                    for (auto& s : sources) {
                        s->break_loop();
                    }
                    return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        });
        ReplayHooks hooks;
        hooks.on_error = [&errors](const std::string& message) { errors.push_back(message); };
        r.replay = pipeline.run_sources(raw, hooks);
        done.store(true);
        stopper.join();
        for (const Worker* w : pipeline.workers()) {
            r.frames += w->stats().frames.load();
            r.decoded_plus_dropped +=
                w->decoder().stats().decoded.load() + w->decoder().stats().dropped_total();
        }
    }
    for (size_t i = 0; i < workers; ++i) {
        r.enqueued += stats.enqueued[i].load();
        r.enqueued_per_worker.push_back(stats.enqueued[i].load());
        r.ring_full += stats.ring_full_drops[i].load();
        r.source_packets += stats.sources[i].packets.load();
        r.kernel_drops += stats.sources[i].kernel_drops.load();
        r.interface_drops += stats.sources[i].interface_drops.load();
        r.delivered_per_source.push_back(sources[i]->delivered());
        r.worker_cpu.push_back(stats.worker_cpu[i]);
        EXPECT_GE(sources[i]->stats_queries(), 1) << "source " << i << ": stats never read";
    }
    EXPECT_EQ(errors.size(), fail_member < workers ? 1u : 0u);
    collect(sink, r);
    return r;
}

TEST(SourceWorkers, SameAlertsAndFlowsAsReplay) {
    const RunResult replay = run_replay();
    ASSERT_FALSE(replay.alerts.empty());
    ASSERT_FALSE(replay.flows.empty());
    for (size_t workers : {1u, 2u, 3u}) {
        RunResult r = run_self_reading(workers);
        EXPECT_FALSE(r.replay.read_error) << workers << " workers";
        EXPECT_EQ(r.replay.packets, fixture().frames.size()) << workers << " workers";
        EXPECT_EQ(r.alerts, replay.alerts) << workers << " workers";
        EXPECT_EQ(r.flows, replay.flows) << workers << " workers";
        EXPECT_EQ(r.flushes, 1) << workers << " workers";
    }
}

// threading.worker-cpus with af-packet: each self-reading worker is pinned as it starts.
TEST(SourceWorkers, PinnedWorkersReadOnTheirCpus) {
    const std::vector<int> cpus = core::affinity_cpus();
    ASSERT_FALSE(cpus.empty());
    const RunResult replay = run_replay();
    const std::vector<int> listed = {cpus.back(), cpus.front()};
    RunResult r = run_self_reading(2, static_cast<size_t>(-1), 0, listed);
    EXPECT_EQ(r.alerts, replay.alerts);
    EXPECT_EQ(r.flows, replay.flows);
    for (size_t w = 0; w < 2; ++w) {
        EXPECT_EQ(r.worker_cpu[w], listed[w]) << "worker " << w;
        if (r.enqueued_per_worker[w] > 0) {
            EXPECT_EQ(r.worker_masks[w], (std::vector<std::vector<int>>{{listed[w]}}))
                << "worker " << w;
        }
    }
}

TEST(SourceWorkers, AccountingPerWorkerAndKernelDropsSummed) {
    constexpr size_t kWorkers = 3;
    RunResult r = run_self_reading(kWorkers);
    const uint64_t packets = fixture().frames.size();
    EXPECT_EQ(r.replay.packets, packets);
    EXPECT_EQ(r.source_packets, packets);
    EXPECT_EQ(r.enqueued, packets);
    EXPECT_EQ(r.ring_full, 0u);
    EXPECT_EQ(r.frames, packets);
    EXPECT_EQ(r.decoded_plus_dropped, packets);
    // Each worker counts what its own source delivered, and every source had traffic.
    ASSERT_EQ(r.replay.files.size(), kWorkers);
    for (size_t i = 0; i < kWorkers; ++i) {
        EXPECT_EQ(r.enqueued_per_worker[i], r.delivered_per_source[i]) << "worker " << i;
        EXPECT_EQ(r.replay.files[i].stats.packets, r.delivered_per_source[i]) << "worker " << i;
        EXPECT_EQ(r.replay.files[i].path, "feed0");
        EXPECT_GT(r.delivered_per_source[i], 0u) << "worker " << i;
    }
    EXPECT_EQ(r.kernel_drops, kWorkers * FeedSource::kKernelDropped);
    EXPECT_EQ(r.interface_drops, kWorkers * FeedSource::kIfaceDropped);
    EXPECT_GT(r.replay.last_ts_us, r.replay.first_ts_us);
    EXPECT_EQ(r.replay.first_ts_us, fixture().frames.front().ts_us);
}

TEST(SourceWorkers, FailingSourceStopsEveryWorkerAfterProcessingWhatWasRead) {
    constexpr size_t kWorkers = 2;
    constexpr size_t kFailAfter = 500;
    RunResult r = run_self_reading(kWorkers, 1, kFailAfter);
    EXPECT_TRUE(r.replay.read_error);
    ASSERT_EQ(r.replay.files.size(), kWorkers);
    EXPECT_EQ(r.replay.files[1].error, "feed: interface disappeared");
    EXPECT_TRUE(r.replay.files[0].error.empty());
    EXPECT_EQ(r.delivered_per_source[1], kFailAfter);
    // Whatever was read was processed, and the run ended without the healthy source being
    // drained by a stop from outside.
    EXPECT_EQ(r.enqueued, r.replay.packets);
    EXPECT_EQ(r.frames, r.replay.packets);
    EXPECT_EQ(r.decoded_plus_dropped, r.replay.packets);
    EXPECT_EQ(r.flushes, 1);
}

TEST(SourceWorkers, RefusesASourceCountOtherThanTheWorkerCount) {
    const Fixture& f = fixture();
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = 2;
    options.workers_read_sources = true;
    Pipeline pipeline(options, f.config, f.db, f.builtin, sink, stats);
    auto sources = make_sources(1, static_cast<size_t>(-1), 0);
    std::string error;
    ReplayHooks hooks;
    hooks.on_error = [&error](const std::string& message) { error = message; };
    ReplayResult result = pipeline.run_sources({sources[0].get()}, hooks);
    EXPECT_TRUE(result.read_error);
    EXPECT_NE(error.find("1 source(s) for 2 worker(s)"), std::string::npos) << error;
    EXPECT_EQ(result.packets, 0u);
}

}  // namespace
}  // namespace sensor::pipeline
