// Mapped capture files hand their packets to workers in place: a file must stay mapped until
// every worker has processed every batch pointing into it, on every path of replay(), and no
// worker may read a frame's bytes once its batch is done. These tests hold the workers back so
// that batches of a file still queue when the file ends, then go on with a file that is not
// mapped, one that cannot be opened, one from an earlier time, a read error or a stop.

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <ostream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "capture/pcap_file_reader.h"
#include "pipeline_test_support.h"
#include "sensor/core/frame.h"
#include "sensor/pipeline/pipeline.h"
#include "sensor/pipeline/worker.h"
#include "tests/unit/corpus_captures.h"
#include "tests/unit/temp_dir.h"
#include "tunnel_frames.h"

namespace sensor::pipeline {
namespace {

using test_support::ip4;
using test_support::spec;
using test_support::text;

constexpr int64_t kStartUs = trafficgen::kDefaultStartSeconds * 1'000'000;

class TempDir : public ::sensor::test_support::TempDir {
public:
    TempDir() : ::sensor::test_support::TempDir("mapped-review") {}
};

// One rule that fires on every frame these tests build, so every batch has output.
const std::shared_ptr<const detect::SignatureDb>& probe_rules() {
    static const auto db = test_support::rules_from_text(
        "alert udp any any -> any any (msg:\"mapped probe\"; content:\"mapped\"; "
        "sid:9100201; rev:1;)\n");
    return db;
}

// `count` UDP frames of one address pair (so of one worker), 1 us apart from `first_us`.
trafficgen::Capture pair_capture(uint8_t pair, size_t count, int64_t first_us) {
    trafficgen::Capture capture;
    for (size_t i = 0; i < count; ++i) {
        capture.packets.push_back(
            {first_us + static_cast<int64_t>(i),
             trafficgen::make_udp_frame(spec(ip4(10, 60, pair, 1), ip4(10, 60, pair, 2)), 5000,
                                        6000, text("mapped"))});
    }
    return capture;
}

std::string write_pcap(const std::string& path, const trafficgen::Capture& capture) {
    auto written = trafficgen::write_pcap(capture, path);
    EXPECT_TRUE(written) << written.error().message;
    return path;
}

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

// The same packets as pcapng (little endian, microseconds): libpcap reads it, never mapped.
std::string write_pcapng(const std::string& path, const trafficgen::Capture& capture) {
    std::vector<uint8_t> out;
    put_u32(out, 0x0a0d0d0a);  // section header block
    put_u32(out, 28);
    put_u32(out, 0x1a2b3c4d);
    put_u32(out, 1);  // version 1.0
    put_u32(out, 0xffffffff);
    put_u32(out, 0xffffffff);  // section length unknown
    put_u32(out, 28);
    put_u32(out, 1);  // interface description block
    put_u32(out, 20);
    put_u32(out, 1);  // DLT_EN10MB, reserved
    put_u32(out, 65535);
    put_u32(out, 20);
    for (const trafficgen::Packet& p : capture.packets) {
        const auto caplen = static_cast<uint32_t>(p.bytes.size());
        const uint32_t padded = (caplen + 3) & ~3u;
        const auto ts = static_cast<uint64_t>(p.ts_us);
        put_u32(out, 6);  // enhanced packet block
        put_u32(out, 32 + padded);
        put_u32(out, 0);
        put_u32(out, static_cast<uint32_t>(ts >> 32));
        put_u32(out, static_cast<uint32_t>(ts));
        put_u32(out, caplen);
        put_u32(out, caplen);
        out.insert(out.end(), p.bytes.begin(), p.bytes.end());
        out.resize(out.size() + (padded - caplen), 0);
        put_u32(out, 32 + padded);
    }
    std::ofstream file(path, std::ios::binary);
    file.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    EXPECT_TRUE(file.good()) << path;
    return path;
}

// Keeps the output thread at its first record until released: each worker then stops after
// filling its output blocks, and the batches behind them stay queued, pointing into their file.
class HeldSink : public RecordSink {
public:
    explicit HeldSink(bool held) : released_(!held) {}
    bool alert(const core::AlertRecord& r) override {
        wait();
        records.alerts.push_back(r);
        return true;
    }
    void flow(const core::FlowRecord& r) override {
        wait();
        records.flows.push_back(r);
    }
    void flush() override {}
    void release() {
        std::lock_guard<std::mutex> lock(mutex_);
        released_ = true;
        ready_.notify_all();
    }
    // Called on the output thread at its first record (before it waits).
    std::function<void()> on_first_record;
    std::chrono::milliseconds hold{20'000};
    test_support::CollectingSink records;

private:
    void wait() {
        if (!first_seen_.exchange(true) && on_first_record) {
            on_first_record();
        }
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait_for(lock, hold, [this] { return released_; });
        released_ = true;  // held once, at most for `hold`
    }
    std::mutex mutex_;
    std::condition_variable ready_;
    bool released_;
    std::atomic<bool> first_seen_{false};
};

struct Outcome {
    test_support::ComparableRecords records;
    uint64_t packets = 0;
    uint64_t frames = 0;
    uint64_t enqueued = 0;
    size_t errors = 0;
};

uint64_t processed(const Pipeline& pipeline) {
    uint64_t frames = 0;
    for (const Worker* w : pipeline.workers()) {
        frames += w->stats().frames.load();
    }
    return frames;
}

uint64_t enqueued(const PipelineStats& stats) {
    uint64_t frames = 0;
    for (size_t i = 0; i < stats.worker_count; ++i) {
        frames += stats.enqueued[i].load();
    }
    return frames;
}

// How many workers, and whether a ReadAhead thread reads for the capture thread.
struct Lanes {
    Lanes(size_t n, ReadAheadMode mode = ReadAheadMode::kOff)  // NOLINT: a count reads as lanes
        : workers(n), read_ahead(mode) {}
    size_t workers;
    ReadAheadMode read_ahead;
};

std::ostream& operator<<(std::ostream& out, const Lanes& lanes) {
    return out << lanes.workers << " workers"
               << (lanes.read_ahead == ReadAheadMode::kOn ? ", read ahead" : "");
}

// One worker inline, two fed by the capture thread reading alone, and two with the reading on a
// ReadAhead thread.
const std::vector<Lanes> kLaneCases = {{1}, {2}, {2, ReadAheadMode::kOn}};

// Replays with shallow rings (4 batches a worker). held: the output thread waits at its first
// record until the release_at-th read error (0: never) or 20 s; stop_at_first_record: it asks
// the reader to stop there, and waits 300 ms. settle_on_error: each read error waits for the
// workers to process every batch handed over.
Outcome replay(const std::vector<std::string>& files, Lanes lanes, bool map_files,
               bool held = false, size_t release_at = 1, bool stop_at_first_record = false,
               bool settle_on_error = false) {
    HeldSink sink(held && lanes.workers > 1);
    PipelineStats stats;
    PipelineOptions options;
    options.workers = lanes.workers;
    options.read_ahead = lanes.read_ahead;
    options.batches_per_worker = 4;
    options.map_files = map_files;
    Outcome out;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), probe_rules(), {}, sink,
                          stats);
        if (stop_at_first_record) {
            sink.on_first_record = [&pipeline] { pipeline.request_stop(); };
            sink.hold = std::chrono::milliseconds(300);
        }
        ReplayHooks hooks;
        hooks.on_error = [&](const std::string&) {
            if (++out.errors == release_at) {
                sink.release();
            }
            if (settle_on_error) {
                // Until the workers have processed every batch handed over: only frames
                // waiting in batches still being filled are left.
                for (int i = 0; i < 20'000 && processed(pipeline) != enqueued(stats); ++i) {
                    std::this_thread::sleep_for(std::chrono::milliseconds(1));
                }
            }
        };
        const ReplayResult result = pipeline.replay(files, hooks);
        sink.release();
        out.packets = result.packets;
        out.frames = processed(pipeline);
    }
    out.enqueued = enqueued(stats);
    out.records = test_support::comparable(sink.records);
    return out;
}

// 341 frames of one pair: with 4 batches a worker and 4 output blocks, its worker stops at the
// fifth batch (1 frame handed with the first clock tick, then 4 x 64) while the output thread is
// held; the sixth (64) queues and 20 frames wait in the batch being filled when the file ends.
constexpr size_t kHeldFrames = 1 + 4 * 64 + 64 + 20;

struct Files {
    TempDir dir;  // first: the paths below are made in it
    Files()
        : mapped_a(write_pcap(dir.file("a.pcap"), pair_capture(1, kHeldFrames, kStartUs))),
          pcapng_b(write_pcapng(dir.file("b.pcapng"), pair_capture(1, 30, kStartUs + 10'000))),
          earlier_c(write_pcap(dir.file("c.pcap"), pair_capture(1, 30, kStartUs - 86'400'000'000))),
          cut_a(dir.file("a-cut.pcap")),
          missing(dir.file("missing.pcap")) {
        std::filesystem::copy_file(mapped_a, cut_a);
        std::filesystem::resize_file(cut_a, std::filesystem::file_size(cut_a) - 7);
    }
    std::string mapped_a;   // classic pcap, kHeldFrames frames of pair 1
    std::string pcapng_b;   // 30 frames of pair 1, later
    std::string earlier_c;  // classic pcap, 30 frames of pair 1, a day earlier
    std::string cut_a;      // mapped_a with its last record cut short
    std::string missing;
};

const Files& files() {
    static const Files f;
    return f;
}

// The same records mapped as copied, with the workers held while a mapped file ends and the
// next one is handled, for one worker (inline) and two.
void expect_same_as_copied(const std::vector<std::string>& list, size_t release_at,
                           size_t expected_errors) {
    const Outcome copied = replay(list, 1, /*map_files=*/false);
    ASSERT_EQ(copied.errors, expected_errors);
    ASSERT_GT(copied.records.alerts.size(), kHeldFrames - 10);
    for (const Lanes& lanes : kLaneCases) {
        const Outcome mapped = replay(list, lanes, /*map_files=*/true, /*held=*/true, release_at);
        EXPECT_EQ(mapped.errors, expected_errors) << lanes;
        EXPECT_EQ(mapped.packets, copied.packets) << lanes;
        EXPECT_EQ(mapped.frames, copied.packets) << lanes;
        EXPECT_EQ(mapped.enqueued, copied.packets) << lanes;
        EXPECT_EQ(mapped.records.alerts, copied.records.alerts) << lanes;
        EXPECT_EQ(mapped.records.flows, copied.records.flows) << lanes;
    }
}

TEST(MappedReview, FileEndingWithBatchesQueuedThenAFileThatCannotBeOpened) {
    expect_same_as_copied({files().mapped_a, files().missing}, 1, 1);
}

TEST(MappedReview, FileEndingWithBatchesQueuedThenPcapngThenAFileThatCannotBeOpened) {
    expect_same_as_copied({files().mapped_a, files().pcapng_b, files().missing}, 1, 1);
}

TEST(MappedReview, FileEndingWithBatchesQueuedThenAnEarlierMappedFile) {
    expect_same_as_copied({files().mapped_a, files().earlier_c, files().missing}, 1, 1);
}

TEST(MappedReview, ReadErrorWithBatchesQueuedThenAFileThatCannotBeOpened) {
    // Released at the second error: the file with the read error has been retired by then.
    expect_same_as_copied({files().cut_a, files().missing}, 2, 2);
}

// An exception out of a hook (here at a read error, the workers held with batches queued) leaves
// replay() while batches still point into the file: the file must stay mapped until the
// Pipeline's destructor has let the workers finish them.
TEST(MappedReview, ExceptionOutOfAHookKeepsTheFileMappedForTheWorkers) {
    for (ReadAheadMode mode : {ReadAheadMode::kOff, ReadAheadMode::kOn}) {
        HeldSink sink(/*held=*/true);
        PipelineStats stats;
        PipelineOptions options;
        options.workers = 2;
        options.batches_per_worker = 4;
        options.map_files = true;
        options.read_ahead = mode;
        {
            Pipeline pipeline(options, test_support::small_capture_config(), probe_rules(), {},
                              sink, stats);
            ReplayHooks hooks;
            hooks.on_error = [](const std::string&) { throw std::runtime_error("hook failed"); };
            EXPECT_THROW(pipeline.replay({files().cut_a}, hooks), std::runtime_error);
            sink.release();
        }
        // the queued batches were processed
        EXPECT_GT(sink.records.alerts.size(), 4u * 64u) << Lanes(2, mode);
    }
}

// The same while a ReadAhead thread still reads the file: the progress hook throws once the
// workers were held (the reading thread has filled every chunk and waits). The reading thread
// ends, the file stays mapped for the batches queued, and every frame placed is processed.
TEST(MappedReview, ExceptionWhileAThreadReadsAheadEndsItAndLosesNothingPlaced) {
    TempDir dir;
    const std::string big = write_pcap(dir.file("big.pcap"), pair_capture(1, 5000, kStartUs));
    HeldSink sink(/*held=*/true);
    sink.hold = std::chrono::milliseconds(700);  // past the hook's half second between calls
    PipelineStats stats;
    PipelineOptions options;
    options.workers = 2;
    options.batches_per_worker = 4;
    options.map_files = true;
    options.read_ahead = ReadAheadMode::kOn;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), probe_rules(), {}, sink,
                          stats);
        ReplayHooks hooks;
        hooks.progress = [](uint64_t, uint64_t, double) {
            throw std::runtime_error("progress failed");
        };
        EXPECT_THROW(pipeline.replay({big}, hooks), std::runtime_error);
        sink.release();
    }  // the destructor lets the workers finish what was handed over
    EXPECT_GT(sink.records.alerts.size(), 4u * 64u);
    EXPECT_LT(sink.records.alerts.size(), 5000u);  // the throw came before the file's end
    EXPECT_EQ(sink.records.alerts.size(), enqueued(stats));
}

// A file whose last frames wait in a batch being filled, every batch handed over already
// processed: the file stays mapped until that batch is processed too (at the end of the run),
// although the next file is opened before.
TEST(MappedReview, FramesWaitingInABatchKeepTheirFileMapped) {
    TempDir dir;
    const std::string a = write_pcap(dir.file("a.pcap"), pair_capture(1, 20, kStartUs));
    const std::string b = write_pcap(dir.file("b.pcap"), pair_capture(2, 30, kStartUs + 10'000));
    const std::vector<std::string> list = {a, files().missing, b};
    const Outcome copied = replay(list, 1, /*map_files=*/false);
    ASSERT_EQ(copied.records.alerts.size(), 50u);
    for (const Lanes& lanes : kLaneCases) {
        const Outcome mapped = replay(list, lanes, /*map_files=*/true, /*held=*/false, 1,
                                      /*stop_at_first_record=*/false, /*settle_on_error=*/true);
        EXPECT_EQ(mapped.frames, copied.packets) << lanes;
        EXPECT_EQ(mapped.records.alerts, copied.records.alerts) << lanes;
        EXPECT_EQ(mapped.records.flows, copied.records.flows) << lanes;
    }
}

TEST(MappedReview, StopWhileBatchesQueueLosesNothingRead) {
    for (const Lanes& lanes : kLaneCases) {
        // The output thread asks for the stop at its first record and is held for 300 ms: the
        // reader stops with frames of the mapped file still queued or waiting.
        const Outcome r = replay({files().mapped_a, files().mapped_a}, lanes, true,
                                 /*held=*/true, /*release_at=*/0, /*stop_at_first_record=*/true);
        EXPECT_GT(r.packets, 0u) << lanes;
        EXPECT_EQ(r.frames, r.packets) << lanes;
        EXPECT_EQ(r.enqueued, r.packets) << lanes;
        EXPECT_EQ(r.records.alerts.size(), r.packets) << lanes;
    }
}

// ---- the worker keeps no pointer into frame bytes ------------------------------------------

// Pages holding the frames of one batch; made unreadable once the worker is done with them, so
// that a read through a pointer kept past its batch faults at once.
class BatchPages {
public:
    explicit BatchPages(size_t bytes) {
        const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
        size_ = std::max<size_t>(page, (bytes + page - 1) / page * page);
        void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        base_ = p == MAP_FAILED ? nullptr : static_cast<uint8_t*>(p);
    }
    ~BatchPages() {
        if (base_ != nullptr) {
            munmap(base_, size_);
        }
    }
    BatchPages(const BatchPages&) = delete;
    BatchPages& operator=(const BatchPages&) = delete;
    uint8_t* data() const noexcept { return base_; }
    bool seal() noexcept { return mprotect(base_, size_, PROT_NONE) == 0; }

private:
    uint8_t* base_ = nullptr;
    size_t size_ = 0;
};

using ::sensor::test_support::corpus_captures;

struct Fed {
    uint64_t frames = 0;
    uint64_t batches = 0;
    bool sealed = true;
};

// Feeds a capture to the worker batch by batch, each batch's frames in pages of their own laid
// out as in a capture file (a 16-byte record header before each, so at any alignment), and
// seals those pages as soon as the batch is processed. timeline: a new one per capture, so the
// flows of the previous capture end while its pages are sealed.
Fed feed(Worker& worker, const std::string& path, uint32_t timeline,
         std::vector<std::unique_ptr<BatchPages>>& sealed) {
    Fed fed;
    auto reader = capture::PcapFileReader::open(path, 0, capture::FileAccess::kLibpcap);
    if (!reader) {
        return fed;
    }
    std::vector<core::Frame> frames;
    std::vector<std::vector<uint8_t>> bytes;
    int64_t clock = 0;
    auto flush = [&] {
        size_t total = 0;
        for (const auto& b : bytes) {
            total += 16 + b.size();
        }
        auto pages = std::make_unique<BatchPages>(total);
        core::FrameBatch batch(64);
        size_t at = 0;
        for (size_t i = 0; i < frames.size(); ++i) {
            at += 16;
            if (!bytes[i].empty()) {
                std::memcpy(pages->data() + at, bytes[i].data(), bytes[i].size());
            }
            core::Frame f = frames[i];
            f.data = pages->data() + at;
            batch.push_in_place(f);
            at += bytes[i].size();
        }
        batch.set_clock(clock);
        batch.set_timeline(timeline);
        worker.process(batch);
        worker.output().clear();
        fed.sealed = pages->seal() && fed.sealed;
        sealed.push_back(std::move(pages));
        ++fed.batches;
        frames.clear();
        bytes.clear();
    };
    core::Frame frame;
    while ((*reader)->next(frame) == capture::ReadStatus::kOk) {
        clock = std::max(clock, frame.ts_us);
        frames.push_back(frame);
        bytes.emplace_back(frame.data, frame.data + frame.caplen);
        ++fed.frames;
        if (frames.size() == core::FrameBatch::kMaxFrames) {
            flush();
        }
    }
    if (!frames.empty()) {
        flush();
    }
    return fed;
}

// Every frame of the generated sample and of the corpus captures, through one worker with the
// shipped rules; a read of a sealed page kills the child with SIGSEGV.
TEST(MappedReviewDeathTest, WorkerReadsNoFrameBytesAfterItsBatch) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    TempDir dir;
    std::vector<std::string> captures = {
        write_pcap(dir.file("sample.pcap"), trafficgen::generate(trafficgen::Options{}))};
    for (const auto& p : corpus_captures()) {
        captures.push_back(p.string());
    }
    EXPECT_EXIT(
        {
            const test_support::SampleRules rules = test_support::load_sample_rules();
            Worker worker(WorkerConfig{}, rules.db, rules.builtin);
            std::vector<std::unique_ptr<BatchPages>> sealed;
            uint64_t frames = 0;
            bool all_sealed = true;
            for (size_t i = 0; i < captures.size(); ++i) {
                const Fed fed = feed(worker, captures[i], static_cast<uint32_t>(i), sealed);
                frames += fed.frames;
                all_sealed = all_sealed && fed.sealed;
            }
            worker.finish();
            worker.output().clear();
            dir.remove_now();
            std::fprintf(stderr, "fed %llu frames in %zu batches\n",
                         static_cast<unsigned long long>(frames), sealed.size());
            std::exit(all_sealed && frames > 10000 ? 0 : 2);
        },
        ::testing::ExitedWithCode(0), "fed [0-9]+ frames");
}

// ---- copied reading still cuts frames longer than a batch ----------------------------------

// Frames of a mapped file travel whole, never cut: Pipeline.FramesLongerThanABatchAreCutNotLost
// (whose capture is mapped by default) no longer reaches the cut. Copied reading still cuts a
// frame longer than the arena to it: every frame is processed, and the cut ones are seen cut
// (their marker, past byte 200, is gone).
TEST(MappedReview, CopiedFramesLongerThanABatchAreCutNotLost) {
    TempDir dir;
    trafficgen::Capture capture;
    const std::string payload = std::string(300, 'x') + "tailmark";
    for (uint8_t i = 0; i < 200; ++i) {
        capture.packets.push_back(
            {kStartUs + int64_t{i} * 1'000,
             trafficgen::make_udp_frame(spec(ip4(10, 61, i, 1), ip4(10, 61, i, 2)), 5000, 6000,
                                        text(payload))});
    }
    const std::string path = write_pcap(dir.file("long.pcap"), capture);
    const auto db = test_support::rules_from_text(
        "alert udp any any -> any any (msg:\"tail\"; content:\"tailmark\"; sid:9100202;)\n");
    for (bool map_files : {false, true}) {
        for (size_t workers : {1u, 2u}) {
            test_support::CollectingSink sink;
            PipelineStats stats;
            PipelineOptions options;
            options.workers = workers;
            options.batches_per_worker = 4;
            options.batch_arena_bytes = 200;
            options.map_files = map_files;
            uint64_t frames = 0;
            uint64_t packets = 0;
            {
                Pipeline pipeline(options, test_support::small_capture_config(), db, {}, sink,
                                  stats);
                packets = pipeline.replay({path}, ReplayHooks{}).packets;
                for (const Worker* w : pipeline.workers()) {
                    frames += w->stats().frames.load();
                }
            }
            uint64_t enqueued = 0;
            for (size_t i = 0; i < stats.worker_count; ++i) {
                enqueued += stats.enqueued[i].load();
            }
            EXPECT_EQ(packets, 200u);
            EXPECT_EQ(enqueued, packets) << workers << " workers, mapped " << map_files;
            EXPECT_EQ(frames, packets) << workers << " workers, mapped " << map_files;
            if (!map_files) {
                EXPECT_EQ(sink.alerts.size(), 0u) << workers << " workers: frames not cut";
            } else {
                EXPECT_EQ(sink.alerts.size(), 200u) << workers << " workers: in place, whole";
            }
        }
    }
}

}  // namespace
}  // namespace sensor::pipeline
