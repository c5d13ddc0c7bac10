#pragma once
// Frame and FrameBatch: packets as they leave capture. A batch owns one preallocated byte
// arena; frames point into it, so filling a batch never allocates, or into a mapped capture
// file that outlives the batch (push_in_place). One batch per producer.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

namespace sensor::core {

struct Frame {
    const uint8_t* data = nullptr;
    uint32_t caplen = 0;    // bytes present in data
    uint32_t wire_len = 0;  // length on the wire (>= caplen)
    int64_t ts_us = 0;      // packet time, microseconds since the Unix epoch
    // The capture's time when the dispatcher read this frame: the newest packet time read so
    // far, from any source (0 where no dispatcher set it). A packet later in the file than its
    // flow's timeout has ts_us far behind it; flow timeouts are judged by this clock, which
    // does not depend on how frames were batched or on the number of workers.
    int64_t clock_us = 0;
    uint64_t index = 0;   // 1-based position in its source (for error messages)
    int linktype = 0;     // libpcap DLT_* of the source
    uint32_t source = 0;  // which input file or interface

    std::span<const uint8_t> bytes() const noexcept { return {data, caplen}; }
};

class FrameBatch {
public:
    static constexpr size_t kMaxFrames = 64;
    // Room for one frame of the largest snaplen (262144): deep rings of batches stay cheap,
    // and an arena's pages are touched only as far as frames fill it.
    static constexpr size_t kDefaultArenaBytes = 1u << 18;

    explicit FrameBatch(size_t arena_bytes = kDefaultArenaBytes);

    // Copies the packet into the arena. False when the batch has no room left
    // (the caller flushes the batch and pushes again).
    bool push(std::span<const uint8_t> bytes, uint32_t wire_len, int64_t ts_us, int linktype,
              uint64_t index, uint32_t source) noexcept;
    void clear() noexcept {
        count_ = 0;
        used_ = 0;
        clock_us_ = 0;
        timeline_ = 0;
    }
    bool push(const Frame& frame) noexcept {
        if (!push(frame.bytes(), frame.wire_len, frame.ts_us, frame.linktype, frame.index,
                  frame.source)) {
            return false;
        }
        frames_[count_ - 1].clock_us = frame.clock_us;
        return true;
    }
    // Takes the frame as it is, its bytes not copied: for bytes that stay valid until the
    // batch has been processed (a mapped capture file). False when the batch is full.
    bool push_in_place(const Frame& frame) noexcept {
        if (count_ == kMaxFrames) {
            return false;
        }
        if (count_ + kSlotsAhead < kMaxFrames) {
            __builtin_prefetch(&frames_[count_ + kSlotsAhead], 1, 3);
        }
        frames_[count_++] = frame;
        return true;
    }
    // Asks for the first frame slots' cache lines, for writing; push_in_place() asks for
    // those a few slots ahead as it goes. A batch comes back from a worker whose core read
    // those lines last, and a dispatcher filling it in place would otherwise wait for them
    // one after another. Asking for all of them at once only moved the wait (the requests
    // queue up behind each other).
    void prefetch_for_filling() const noexcept {
        const auto* slots = reinterpret_cast<const char*>(frames_);
        for (size_t at = 0; at < kSlotsAhead * sizeof(Frame); at += 64) {
            __builtin_prefetch(slots + at, 1, 3);
        }
    }
    // Packet time of the whole capture when the batch was handed over (newest packet seen by
    // the dispatcher, on any worker): lets a worker expire flows even when its own share of
    // traffic is quiet, so results do not depend on the number of workers.
    void set_clock(int64_t clock_us) noexcept { clock_us_ = clock_us; }
    int64_t clock() const noexcept { return clock_us_; }
    // Which run of forward-moving time the batch belongs to: the dispatcher starts a new one
    // when a file begins before the time already read, and a worker then ends every flow of
    // the old one before it looks at the batch (so time never runs backwards inside a flow).
    void set_timeline(uint32_t timeline) noexcept { timeline_ = timeline; }
    uint32_t timeline() const noexcept { return timeline_; }

    size_t size() const noexcept { return count_; }
    bool empty() const noexcept { return count_ == 0; }
    bool full() const noexcept { return count_ == kMaxFrames; }
    size_t arena_bytes() const noexcept { return arena_bytes_; }
    const Frame* begin() const noexcept { return frames_; }
    const Frame* end() const noexcept { return frames_ + count_; }
    const Frame& operator[](size_t i) const noexcept { return frames_[i]; }
    int64_t last_ts() const noexcept { return count_ == 0 ? 0 : frames_[count_ - 1].ts_us; }

private:
    static constexpr size_t kSlotsAhead = 8;
    std::unique_ptr<uint8_t[]> arena_;
    size_t arena_bytes_;
    size_t used_ = 0;
    size_t count_ = 0;
    int64_t clock_us_ = 0;
    uint32_t timeline_ = 0;
    Frame frames_[kMaxFrames];
};

}  // namespace sensor::core
