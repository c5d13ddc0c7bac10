#pragma once
// Stream tails: the last kStreamTailBytes of in-order TCP payload per flow direction, so that
// detection sees a pattern crossing a segment boundary without buffering whole streams. The
// sequence state lives in the flow slot; the bytes come from a StreamTailPool owned by the
// worker's FlowTable, taken on a direction's first payload byte (SYN-only, UDP and ICMP flows
// hold none). One writer: the owning worker.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "sensor/core/counter.h"

namespace sensor::flow {

inline constexpr size_t kStreamTailBytes = 64;
inline constexpr uint32_t kNoTail = UINT32_MAX;

// One direction's sequence tracking, kept in the flow slot.
struct StreamState {
    uint32_t next_seq = 0;    // sequence number of the byte after the newest in-order byte
    uint32_t tail = kNoTail;  // index into the table's StreamTailPool
    uint8_t len = 0;          // bytes held in the tail
    bool seq_known = false;   // a SYN or payload was seen in this direction
};

// What the stream tails did with TCP payload, per direction ([0] to server, [1] to client).
// appended + retransmitted = every TCP payload byte the worker saw.
struct StreamStats {
    std::array<core::Counter, 2> appended_bytes;       // became the direction's newest bytes
    std::array<core::Counter, 2> gap_bytes;            // sequence space skipped (never seen)
    std::array<core::Counter, 2> retransmitted_bytes;  // already passed: not appended
    core::Counter tails_in_use;                        // gauge: pool entries held by flows
};

// Fixed-capacity pool of tail buffers. The whole capacity is reserved at construction but
// pages are first written when a tail is first taken, so resident memory follows the peak
// number of directions that carried payload, never more than the configured capacity.
class StreamTailPool {
public:
    explicit StreamTailPool(size_t capacity);

    // kNoTail when every tail is in use.
    uint32_t acquire() noexcept;
    void release(uint32_t index) noexcept;
    std::span<uint8_t, kStreamTailBytes> bytes(uint32_t index) noexcept {
        return std::span<uint8_t, kStreamTailBytes>(tails_[index].bytes);
    }
    std::span<const uint8_t, kStreamTailBytes> bytes(uint32_t index) const noexcept {
        return std::span<const uint8_t, kStreamTailBytes>(tails_[index].bytes);
    }
    size_t in_use() const noexcept { return in_use_; }
    size_t capacity() const noexcept { return capacity_; }
    static constexpr size_t entry_bytes() noexcept { return sizeof(Tail); }

private:
    struct alignas(64) Tail {
        uint8_t bytes[kStreamTailBytes];  // no initialiser: untouched until first acquired
    };
    std::unique_ptr<Tail[]> tails_;
    size_t capacity_ = 0;
    uint32_t never_used_ = 0;       // tails at and above this index were never handed out
    uint32_t free_head_ = kNoTail;  // released tails, linked through their first 4 bytes
    size_t in_use_ = 0;
};

// Bytes of one TCP segment's effect on its direction's sequence space.
struct StreamAdvance {
    uint32_t appended = 0;
    uint32_t gap = 0;
    uint32_t retransmitted = 0;
    bool resynced = false;  // jumped further than kMaxStreamGap: no gap counted
};

// The largest jump ahead counted as a gap: a receiver's window is at most 2^30 bytes (window
// scaling, RFC 7323), so data further ahead cannot follow the bytes seen before.
inline constexpr int32_t kMaxStreamGap = int32_t{1} << 30;

// Moves a direction's window over a segment (seq: the segment's sequence number; syn: its SYN
// flag; payload: its data). tail holds state.len valid bytes on entry and on return; it may be
// empty (no tail could be taken), in which case only the sequence state moves.
StreamAdvance advance_window(StreamState& state, std::span<uint8_t> tail, uint32_t seq, bool syn,
                             std::span<const uint8_t> payload) noexcept;

}  // namespace sensor::flow
