// CPU pinning (threading.worker-cpus, threading.capture-cpus): each thread runs where it was
// told, as the threads themselves see their affinity masks, and the results are those of an
// unpinned run.

#include <gtest/gtest.h>

#include <array>
#include <mutex>
#include <string>
#include <vector>

#include "pipeline_test_support.h"
#include "sensor/core/cpus.h"
#include "sensor/pipeline/pipeline.h"

namespace sensor::pipeline {
namespace {

struct Sample {
    std::string pcap;
    test_support::SampleRules rules;
};

const Sample& sample() {
    static const Sample s = [] {
        Sample out;
        out.pcap = test_support::write_sample_capture("cpu-pinning-test");
        out.rules = test_support::load_sample_rules();
        return out;
    }();
    return s;
}

// Keeps every record and the affinity mask of the thread that hands them over (the output
// thread, or with one worker the capture thread).
class MaskSink final : public test_support::CollectingSink {
public:
    bool alert(const core::AlertRecord& r) override {
        note_mask();
        return CollectingSink::alert(r);
    }
    void flow(const core::FlowRecord& r) override {
        note_mask();
        CollectingSink::flow(r);
    }
    std::vector<std::vector<int>> masks;  // each different mask seen

private:
    void note_mask() {
        const std::vector<int> mask = core::affinity_cpus();
        if (std::find(masks.begin(), masks.end(), mask) == masks.end()) {
            masks.push_back(mask);
        }
    }
};

struct PinnedRun {
    test_support::ComparableRecords records;
    std::array<std::vector<std::vector<int>>, 4> worker_masks;  // each different mask seen
    std::vector<std::vector<int>> output_masks;
    std::array<int, 4> worker_cpu{};
    std::vector<std::string> pin_errors;
    uint64_t packets = 0;
};

PinnedRun run(size_t workers, std::vector<int> worker_cpus, std::vector<int> capture_cpus) {
    const Sample& s = sample();
    PinnedRun out;
    std::array<std::mutex, 4> locks;  // uncontended: one worker each
    PipelineOptions options;
    options.workers = workers;
    options.batches_per_worker = 4;
    options.worker_cpus = std::move(worker_cpus);
    options.capture_cpus = std::move(capture_cpus);
    options.after_batch = [&](size_t worker) {
        const std::vector<int> mask = core::affinity_cpus();
        std::lock_guard<std::mutex> lock(locks[worker]);
        auto& seen = out.worker_masks[worker];
        if (std::find(seen.begin(), seen.end(), mask) == seen.end()) {
            seen.push_back(mask);
        }
    };
    MaskSink sink;
    PipelineStats stats;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), s.rules.db,
                          s.rules.builtin, sink, stats);
        const ReplayResult result = pipeline.replay({s.pcap}, ReplayHooks{});
        EXPECT_FALSE(result.read_error);
        out.packets = result.packets;
        out.pin_errors = pipeline.pin_errors();
    }
    for (size_t i = 0; i < out.worker_cpu.size(); ++i) {
        out.worker_cpu[i] = stats.worker_cpu[i];
    }
    out.output_masks = sink.masks;
    out.records = test_support::comparable(sink);
    return out;
}

TEST(CpuPinning, WorkersRunOnTheirCpusAndTheOtherThreadsOnTheCaptureCpus) {
    const std::vector<int> cpus = core::affinity_cpus();
    if (cpus.size() < 2) {
        GTEST_SKIP() << "needs two CPUs in the affinity mask";
    }
    const PinnedRun free = run(1, {}, {});
    // Three workers over two CPUs, in the order given and round robin.
    const PinnedRun pinned = run(3, {cpus[1], cpus[0]}, {cpus[0]});
    EXPECT_TRUE(pinned.pin_errors.empty());
    const std::array<int, 3> expected = {cpus[1], cpus[0], cpus[1]};
    for (size_t w = 0; w < expected.size(); ++w) {
        EXPECT_EQ(pinned.worker_cpu[w], expected[w]) << "worker " << w;
        ASSERT_FALSE(pinned.worker_masks[w].empty()) << "worker " << w << " processed nothing";
        EXPECT_EQ(pinned.worker_masks[w], (std::vector<std::vector<int>>{{expected[w]}}))
            << "worker " << w;
    }
    EXPECT_EQ(pinned.output_masks, (std::vector<std::vector<int>>{{cpus[0]}}));
    // The driving thread has its own mask back.
    EXPECT_EQ(core::affinity_cpus(), cpus);
    EXPECT_EQ(pinned.packets, free.packets);
    EXPECT_EQ(pinned.records.alerts, free.records.alerts);
    EXPECT_EQ(pinned.records.flows, free.records.flows);
    EXPECT_FALSE(free.records.alerts.empty());
}

TEST(CpuPinning, CaptureCpusAloneLeaveTheWorkersTheWholeMask) {
    const std::vector<int> cpus = core::affinity_cpus();
    if (cpus.size() < 2) {
        GTEST_SKIP() << "needs two CPUs in the affinity mask";
    }
    const PinnedRun pinned = run(2, {}, {cpus.back()});
    EXPECT_TRUE(pinned.pin_errors.empty());
    for (size_t w = 0; w < 2; ++w) {
        EXPECT_EQ(pinned.worker_cpu[w], -1) << "worker " << w;
        EXPECT_EQ(pinned.worker_masks[w], (std::vector<std::vector<int>>{cpus})) << "worker " << w;
    }
    EXPECT_EQ(pinned.output_masks, (std::vector<std::vector<int>>{{cpus.back()}}));
    EXPECT_EQ(core::affinity_cpus(), cpus);
}

TEST(CpuPinning, OneWorkerRunsOnTheFirstWorkerCpu) {
    const std::vector<int> cpus = core::affinity_cpus();
    if (cpus.size() < 2) {
        GTEST_SKIP() << "needs two CPUs in the affinity mask (worker and capture CPU apart)";
    }
    // With one worker everything runs on the capture thread: the worker CPU wins over the
    // capture CPUs.
    const PinnedRun pinned = run(1, {cpus.back()}, {cpus.front()});
    EXPECT_TRUE(pinned.pin_errors.empty());
    EXPECT_EQ(pinned.worker_cpu[0], cpus.back());
    EXPECT_EQ(pinned.output_masks, (std::vector<std::vector<int>>{{cpus.back()}}));
    EXPECT_EQ(core::affinity_cpus(), cpus);
}

TEST(CpuPinning, ACpuTheKernelRefusesLeavesTheWorkerUnpinnedAndSaysSo) {
    const std::vector<int> cpus = core::affinity_cpus();
    ASSERT_FALSE(cpus.empty());
    const int absent = 65'535;  // no machine here has it; config would refuse it at start
    ASSERT_TRUE(std::find(cpus.begin(), cpus.end(), absent) == cpus.end());
    const PinnedRun free = run(1, {}, {});
    // With capture CPUs too: the worker that could not be pinned runs anywhere, not on them.
    const PinnedRun pinned = run(2, {absent}, {cpus.front()});
    ASSERT_EQ(pinned.pin_errors.size(), 2u);
    EXPECT_NE(pinned.pin_errors[0].find("worker 0: cannot run on CPUs 65535"), std::string::npos)
        << pinned.pin_errors[0];
    EXPECT_EQ(pinned.worker_cpu[0], -1);
    EXPECT_EQ(pinned.worker_cpu[1], -1);
    EXPECT_EQ(pinned.worker_masks[0], (std::vector<std::vector<int>>{cpus}));
    EXPECT_EQ(pinned.worker_masks[1], (std::vector<std::vector<int>>{cpus}));
    EXPECT_EQ(pinned.output_masks, (std::vector<std::vector<int>>{{cpus.front()}}));
    EXPECT_EQ(core::affinity_cpus(), cpus);
    EXPECT_EQ(pinned.packets, free.packets);
    EXPECT_EQ(pinned.records.alerts, free.records.alerts);
    EXPECT_EQ(pinned.records.flows, free.records.flows);
}

}  // namespace
}  // namespace sensor::pipeline
