#include "sensor/pipeline/read_ahead.h"

#include <chrono>
#include <system_error>

#include "sensor/core/thread_cpu.h"
#include "sensor/pipeline/backoff.h"

namespace sensor::pipeline {

namespace {

// Both stages wake within about 50 us of work arriving (plus timer slack): the chunks queued
// take the other stage several times that to get through, so neither runs dry while the
// other sleeps.
constexpr std::chrono::microseconds kMaxSleep{50};

}  // namespace

ReadAhead::ReadAhead(capture::PcapFileReader& reader, bool with_flow, const std::atomic<bool>& stop)
    : reader_(reader), with_flow_(with_flow), stop_(stop), chunks_(new Chunk[kChunks]) {
    for (size_t i = 0; i < kChunks; ++i) {
        free_.push(&chunks_[i]);
    }
}

std::unique_ptr<ReadAhead> ReadAhead::start(capture::PcapFileReader& reader, bool with_flow,
                                            const std::atomic<bool>& stop) {
    std::unique_ptr<ReadAhead> read_ahead(new ReadAhead(reader, with_flow, stop));
    try {
        read_ahead->thread_ = std::thread([r = read_ahead.get()] { r->run(); });
    } catch (const std::system_error&) {
        return nullptr;
    }
    return read_ahead;
}

ReadAhead::~ReadAhead() {
    abandoned_.store(true, std::memory_order_release);
    join();
}

void ReadAhead::join() noexcept {
    if (thread_.joinable()) {
        thread_.join();
    }
}

ReadAhead::Chunk* ReadAhead::take_free() noexcept {
    Chunk* chunk = nullptr;
    if (free_.pop(chunk)) {
        return chunk;
    }
    const auto start = std::chrono::steady_clock::now();
    Backoff backoff(kMaxSleep);
    while (!free_.pop(chunk)) {
        if (abandoned_.load(std::memory_order_acquire)) {
            return nullptr;
        }
        backoff.pause();
    }
    reader_wait_ns_ += elapsed_ns(start);
    return chunk;
}

void ReadAhead::run() noexcept {
    uint64_t released = 0;
    bool last = false;
    while (!last) {
        Chunk* chunk = take_free();
        if (chunk == nullptr) {
            break;
        }
        // Releases wait for a chunk boundary: a page call per chunk at most.
        const uint64_t release_to = release_to_.load(std::memory_order_relaxed);
        if (release_to > released) {
            reader_.release_before(release_to);
            released = release_to;
        }
        chunk->count = 0;
        chunk->status = capture::ReadStatus::kOk;
        while (chunk->count < kChunkFrames) {
            if (stop_.load(std::memory_order_relaxed) ||
                abandoned_.load(std::memory_order_relaxed)) {
                last = true;
                break;
            }
            KeyedFrame& keyed = chunk->frames[chunk->count];
            const capture::ReadStatus status = reader_.next(keyed.frame);
            if (status != capture::ReadStatus::kOk) {
                chunk->status = status;
                last = true;
                break;
            }
            keyed.key = dispatch_key(keyed.frame, with_flow_);
            keyed.end_offset = reader_.offset();
            ++chunk->count;
        }
        chunk->last = last;
        chunk->filtered = reader_.stats().filtered;
        filled_.push(chunk);  // room for every chunk: never fails
    }
    reader_cpu_s_ = core::thread_cpu_seconds();
}

ReadAhead::Chunk& ReadAhead::next() noexcept {
    Chunk* chunk = nullptr;
    if (filled_.pop(chunk)) {
        return *chunk;
    }
    const auto start = std::chrono::steady_clock::now();
    Backoff backoff(kMaxSleep);
    while (!filled_.pop(chunk)) {
        backoff.pause();
    }
    capture_wait_ns_ += elapsed_ns(start);
    return *chunk;
}

void ReadAhead::recycle(Chunk& chunk) noexcept { free_.push(&chunk); }

}  // namespace sensor::pipeline
