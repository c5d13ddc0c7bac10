#include "sensor/flow/stream_tail.h"

#include <algorithm>
#include <cstring>

namespace sensor::flow {

StreamTailPool::StreamTailPool(size_t capacity)
    : tails_(std::make_unique_for_overwrite<Tail[]>(std::min<size_t>(capacity, kNoTail))),
      capacity_(std::min<size_t>(capacity, kNoTail)) {}

uint32_t StreamTailPool::acquire() noexcept {
    uint32_t index = kNoTail;
    if (free_head_ != kNoTail) {
        index = free_head_;
        std::memcpy(&free_head_, tails_[index].bytes, sizeof(free_head_));
    } else if (never_used_ < capacity_) {
        index = never_used_++;
    } else {
        return kNoTail;
    }
    ++in_use_;
    return index;
}

void StreamTailPool::release(uint32_t index) noexcept {
    std::memcpy(tails_[index].bytes, &free_head_, sizeof(free_head_));
    free_head_ = index;
    --in_use_;
}

StreamAdvance advance_window(StreamState& state, std::span<uint8_t> tail, uint32_t seq, bool syn,
                             std::span<const uint8_t> payload) noexcept {
    StreamAdvance out;
    const uint32_t data_seq = seq + (syn ? 1u : 0u);  // a SYN takes one sequence number
    const auto len = static_cast<uint32_t>(payload.size());
    if (len == 0) {
        if (syn) {
            state.next_seq = data_seq;
            state.seq_known = true;
            state.len = 0;
        }
        return out;
    }
    std::span<const uint8_t> fresh = payload;
    if (!state.seq_known) {
        state.len = 0;  // first data of this direction (flow joined mid-stream): a new window
    } else {
        const auto delta = static_cast<int32_t>(data_seq - state.next_seq);
        if (delta > kMaxStreamGap) {
            // Further ahead than any TCP window reaches: not lost data but a segment of
            // another connection on the same ports, or garbage. Start over from it.
            out.resynced = true;
            state.len = 0;
        } else if (delta > 0) {
            out.gap = static_cast<uint32_t>(delta);
            state.len = 0;  // the bytes before the gap no longer precede the new ones
        } else if (delta < 0) {
            const auto behind = static_cast<uint32_t>(-static_cast<int64_t>(delta));
            if (behind >= len) {
                // Old data only: a retransmission must not move the window backwards.
                out.retransmitted = len;
                return out;
            }
            // Overlaps the newest bytes and goes past them: only the new part is appended.
            out.retransmitted = behind;
            fresh = payload.subspan(behind);
        }
    }
    out.appended = static_cast<uint32_t>(fresh.size());

    const size_t cap = std::min(tail.size(), kStreamTailBytes);
    const size_t held = std::min<size_t>(state.len, cap);
    const size_t keep_old = fresh.size() < cap ? std::min(held, cap - fresh.size()) : 0;
    if (keep_old > 0) {
        std::memmove(tail.data(), tail.data() + (held - keep_old), keep_old);
    }
    const size_t take = std::min(fresh.size(), cap);
    if (take > 0) {
        std::memcpy(tail.data() + keep_old, fresh.data() + (fresh.size() - take), take);
    }
    state.len = static_cast<uint8_t>(keep_old + take);
    state.next_seq = data_seq + len;
    state.seq_known = true;
    return out;
}

}  // namespace sensor::flow
