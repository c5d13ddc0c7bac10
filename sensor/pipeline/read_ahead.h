#pragma once
// ReadAhead: a thread of its own reads a mapped capture file and keys its packets
// (DispatchKey) ahead of the capture thread, which then only places them on workers. With
// many workers one capture thread reading, keying and placing every packet is what bounds a
// replay (docs/performance.md, section 2b): reading a record and finding its innermost address
// pair were about half of that thread's instructions. Split in two stages, each thread does
// about half, in file order, so placement (and with it every result) is what one thread
// would have done.
//
// The reading thread owns the PcapFileReader from construction until join() (or the
// destructor): the capture thread must not use it meanwhile. Keyed frames travel in chunks
// over two Boost.Lockfree SPSC rings (filled, and back empty); frames point into the mapping,
// which the reading thread releases only where release_before() says the workers are past.

#include <array>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "capture/pcap_file_reader.h"
#include "sensor/core/frame.h"
#include "sensor/pipeline/dispatch_key.h"

namespace sensor::pipeline {

// Whether a replay reads mapped files on a ReadAhead thread (PipelineOptions::read_ahead).
enum class ReadAheadMode : uint8_t { kAuto, kOn, kOff };

struct KeyedFrame {
    core::Frame frame;
    DispatchKey key;
    uint64_t end_offset = 0;  // file offset just past the frame's record
};

class ReadAhead {
public:
    // A chunk is handed over once full (or at the end): big enough that the rings are touched
    // rarely, small enough that a few chunks stay in a core's cache (24 KiB each). 4,096 frames
    // in all: at about 60 ns per frame the other stage is busy for 0.25 ms with them, longer
    // than a sleeping thread takes to wake (a 50 us sleep plus the kernel's timer slack).
    static constexpr size_t kChunkFrames = 256;
    static constexpr size_t kChunks = 16;

    struct Chunk {
        std::array<KeyedFrame, kChunkFrames> frames;
        size_t count = 0;
        // The reading ended after these frames: the file's end, a read error or a stop
        // (status kOk) requested through `stop`.
        bool last = false;
        capture::ReadStatus status = capture::ReadStatus::kOk;
        uint64_t filtered = 0;  // records the capture filter rejected so far in the file
    };

    // Starts reading at once. with_flow: keys carry flow hashes (placing by flow). stop: read
    // no further once set (a signal); what was read is still handed over. Null when no thread
    // can be had: the caller then reads on its own thread.
    static std::unique_ptr<ReadAhead> start(capture::PcapFileReader& reader, bool with_flow,
                                            const std::atomic<bool>& stop);
    // Ends the reading thread, even before the file's end (an exception on the capture thread).
    ~ReadAhead();
    ReadAhead(const ReadAhead&) = delete;
    ReadAhead& operator=(const ReadAhead&) = delete;

    // Capture thread: the next chunk in file order, waiting for it; hand it back with
    // recycle() once its frames are placed. After a chunk with `last`, call join().
    Chunk& next() noexcept;
    void recycle(Chunk& chunk) noexcept;
    // Capture thread: no frame before offset is used any more; the reading thread releases
    // that part of the mapping (PcapFileReader::release_before) at its next chunk.
    void release_before(uint64_t offset) noexcept {
        release_to_.store(offset, std::memory_order_relaxed);
    }
    // Waits for the reading thread to end, after which the reader is the caller's again.
    void join() noexcept;

    // After join(): the reading thread's CPU time, its waits for the capture thread to hand
    // chunks back (the capture thread is the slower stage), and the capture thread's waits
    // for chunks (the reading thread is).
    double reader_cpu_s() const noexcept { return reader_cpu_s_; }
    double reader_waited_s() const noexcept { return static_cast<double>(reader_wait_ns_) / 1e9; }
    double capture_waited_s() const noexcept { return static_cast<double>(capture_wait_ns_) / 1e9; }

private:
    ReadAhead(capture::PcapFileReader& reader, bool with_flow, const std::atomic<bool>& stop);
    void run() noexcept;
    // Reading thread: a free chunk, waiting for one; null when abandoned.
    Chunk* take_free() noexcept;

    capture::PcapFileReader& reader_;
    const bool with_flow_;
    const std::atomic<bool>& stop_;
    std::unique_ptr<Chunk[]> chunks_;
    boost::lockfree::spsc_queue<Chunk*, boost::lockfree::capacity<kChunks + 1>> filled_;
    boost::lockfree::spsc_queue<Chunk*, boost::lockfree::capacity<kChunks + 1>> free_;
    std::atomic<uint64_t> release_to_{0};
    std::atomic<bool> abandoned_{false};
    std::thread thread_;
    // Written by the reading thread, read after join.
    double reader_cpu_s_ = 0;
    uint64_t reader_wait_ns_ = 0;
    uint64_t capture_wait_ns_ = 0;  // the capture thread's own
};

}  // namespace sensor::pipeline
