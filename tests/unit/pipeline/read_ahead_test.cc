#include "sensor/pipeline/read_ahead.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <tuple>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "capture/pcap_file_reader.h"
#include "tests/unit/corpus_captures.h"
#include "tests/unit/temp_dir.h"

namespace sensor::pipeline {
namespace {

// What the capture thread learns of one frame, read one way or the other.
using Seen =
    std::tuple<uint64_t /*index*/, int64_t /*ts*/, uint32_t /*caplen*/, uint32_t /*wire_len*/,
               uint64_t /*pair*/, uint64_t /*flow*/, uint64_t /*datagram*/, uint8_t /*kind*/,
               uint64_t /*end offset*/, uint64_t /*first byte*/>;

Seen seen(const core::Frame& frame, const DispatchKey& key, uint64_t end_offset) {
    return {frame.index,  frame.ts_us,
            frame.caplen, frame.wire_len,
            key.pair,     key.flow,
            key.datagram, static_cast<uint8_t>(key.kind),
            end_offset,   frame.caplen > 0 ? frame.data[0] : 0u};
}

struct Read {
    std::vector<Seen> frames;
    capture::ReadStatus status = capture::ReadStatus::kOk;
    std::string error;
    capture::SourceStats stats;
    size_t chunks = 0;
    uint64_t last_filtered = 0;
};

std::unique_ptr<capture::PcapFileReader> open_mapped(const std::string& path,
                                                     const std::string& filter = {}) {
    auto reader = capture::PcapFileReader::open(path, 0, capture::FileAccess::kMapped, filter);
    EXPECT_TRUE(reader) << (reader ? "" : reader.error().message);
    return reader ? std::move(*reader) : nullptr;
}

// The capture thread alone: read, then key, one frame at a time.
Read read_alone(const std::string& path, bool with_flow, const std::string& filter = {}) {
    Read out;
    auto reader = open_mapped(path, filter);
    core::Frame frame;
    while ((out.status = reader->next(frame)) == capture::ReadStatus::kOk) {
        out.frames.push_back(seen(frame, dispatch_key(frame, with_flow), reader->offset()));
    }
    out.error = reader->error();
    out.stats = reader->stats();
    return out;
}

// A ReadAhead thread reads and keys; this thread takes the chunks. stop_after: set the stop
// flag once that many frames were taken (0: never).
Read read_ahead(const std::string& path, bool with_flow, const std::string& filter = {},
                size_t stop_after = 0) {
    Read out;
    auto reader = open_mapped(path, filter);
    std::atomic<bool> stop{false};
    auto ahead = ReadAhead::start(*reader, with_flow, stop);
    EXPECT_NE(ahead, nullptr);
    for (bool last = false; !last;) {
        ReadAhead::Chunk& chunk = ahead->next();
        ++out.chunks;
        for (size_t k = 0; k < chunk.count; ++k) {
            const KeyedFrame& keyed = chunk.frames[k];
            out.frames.push_back(seen(keyed.frame, keyed.key, keyed.end_offset));
            if (stop_after != 0 && out.frames.size() == stop_after) {
                stop.store(true);
            }
        }
        out.last_filtered = chunk.filtered;
        last = chunk.last;
        out.status = chunk.status;
        ahead->recycle(chunk);
    }
    ahead->join();
    EXPECT_GT(ahead->reader_cpu_s(), 0);  // it read the whole file
    out.error = reader->error();
    out.stats = reader->stats();
    return out;
}

// The generated sample capture, written once per test process.
struct Sample {
    test_support::TempDir dir{"read-ahead"};
    std::string path = dir.file("sample.pcap");
    Sample() {
        auto written = trafficgen::write_pcap(trafficgen::generate(trafficgen::Options{}), path);
        EXPECT_TRUE(written) << written.error().message;
    }
};

const Sample& sample() {
    static const Sample s;
    return s;
}

TEST(ReadAhead, HandsOverWhatTheCaptureThreadWouldHaveReadAndKeyed) {
    for (bool with_flow : {false, true}) {
        const Read alone = read_alone(sample().path, with_flow);
        const Read ahead = read_ahead(sample().path, with_flow);
        ASSERT_GT(alone.frames.size(), 10'000u);
        EXPECT_EQ(ahead.status, capture::ReadStatus::kEnd);
        EXPECT_EQ(ahead.frames, alone.frames) << "with flow " << with_flow;
        // Full chunks, then one with the rest (possibly none) that says the file ended.
        EXPECT_EQ(ahead.chunks, alone.frames.size() / ReadAhead::kChunkFrames + 1);
        EXPECT_EQ(ahead.stats.packets, alone.stats.packets);
        EXPECT_EQ(ahead.stats.bytes, alone.stats.bytes);
    }
}

TEST(ReadAhead, EveryCorpusCaptureTheSameWay) {
    size_t compared = 0;
    for (const auto& path : test_support::corpus_captures()) {
        auto probe = capture::PcapFileReader::open(path.string(), 0, capture::FileAccess::kMapped);
        if (!probe || !(*probe)->mapped()) {
            continue;  // pcapng and the like are read by libpcap: nothing to read ahead
        }
        const Read alone = read_alone(path.string(), true);
        const Read ahead = read_ahead(path.string(), true);
        EXPECT_EQ(ahead.frames, alone.frames) << path;
        EXPECT_EQ(ahead.status, alone.status) << path;
        EXPECT_EQ(ahead.error, alone.error) << path;
        ++compared;
    }
    EXPECT_GT(compared, 0u);
}

TEST(ReadAhead, ReadErrorEndsTheLastChunkWithTheFramesBeforeIt) {
    const std::string cut = sample().dir.file("cut.pcap");
    std::filesystem::copy_file(sample().path, cut,
                               std::filesystem::copy_options::overwrite_existing);
    std::filesystem::resize_file(cut, std::filesystem::file_size(cut) - 7);
    const Read alone = read_alone(cut, false);
    const Read ahead = read_ahead(cut, false);
    ASSERT_EQ(alone.status, capture::ReadStatus::kError);
    EXPECT_EQ(ahead.status, capture::ReadStatus::kError);
    EXPECT_EQ(ahead.error, alone.error);
    EXPECT_NE(ahead.error.find("cut.pcap: packet"), std::string::npos) << ahead.error;
    EXPECT_EQ(ahead.frames, alone.frames);
}

TEST(ReadAhead, FilteredRecordsAreCountedAndNeverHandedOver) {
    const Read alone = read_alone(sample().path, false, "udp");
    const Read ahead = read_ahead(sample().path, false, "udp");
    ASSERT_GT(alone.stats.filtered, 0u);
    ASSERT_GT(alone.frames.size(), 0u);
    EXPECT_EQ(ahead.frames, alone.frames);
    EXPECT_EQ(ahead.stats.filtered, alone.stats.filtered);
    EXPECT_EQ(ahead.last_filtered, alone.stats.filtered);
}

TEST(ReadAhead, StopEndsTheReadingWithEverythingReadHandedOver) {
    const Read alone = read_alone(sample().path, false);
    const Read ahead = read_ahead(sample().path, false, {}, /*stop_after=*/1000);
    EXPECT_EQ(ahead.status, capture::ReadStatus::kOk);  // stopped, not ended
    EXPECT_GE(ahead.frames.size(), 1000u);
    EXPECT_LT(ahead.frames.size(), alone.frames.size());
    // What was read is what the reader counted, frame for frame from the start.
    EXPECT_EQ(ahead.stats.packets, ahead.frames.size());
    EXPECT_TRUE(std::equal(ahead.frames.begin(), ahead.frames.end(), alone.frames.begin()));
}

TEST(ReadAhead, DestroyedBeforeTheEndItsThreadStops) {
    auto reader = open_mapped(sample().path);
    std::atomic<bool> stop{false};
    auto ahead = ReadAhead::start(*reader, false, stop);
    ASSERT_NE(ahead, nullptr);
    ReadAhead::Chunk& chunk = ahead->next();
    EXPECT_EQ(chunk.count, ReadAhead::kChunkFrames);
    ahead.reset();  // the reading thread waits for free chunks: it must end, not hang
    // The reader is this thread's again, where the reading thread left it.
    core::Frame frame;
    EXPECT_EQ(reader->next(frame), capture::ReadStatus::kOk);
    EXPECT_GT(frame.index, ReadAhead::kChunkFrames);
}

}  // namespace
}  // namespace sensor::pipeline
