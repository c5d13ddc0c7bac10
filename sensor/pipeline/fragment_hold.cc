#include "sensor/pipeline/fragment_hold.h"

#include <algorithm>
#include <cstring>

namespace sensor::pipeline {

FragmentHold::FragmentHold(size_t frames, size_t frame_bytes, int64_t hold_us)
    : entries_(frames), bytes_(frames * frame_bytes), frame_bytes_(frame_bytes), hold_us_(hold_us) {
    expired_.reserve(frames);
}

bool FragmentHold::hold(uint64_t datagram, uint64_t pair, const core::Frame& frame) noexcept {
    if (frame.caplen > frame_bytes_) {
        return false;
    }
    for (size_t i = 0; i < entries_.size(); ++i) {
        Entry& e = entries_[i];
        if (e.used) {
            continue;
        }
        uint8_t* slot = bytes_.data() + i * frame_bytes_;
        if (frame.caplen > 0) {
            std::memcpy(slot, frame.data, frame.caplen);
        }
        e.datagram = datagram;
        e.pair = pair;
        e.order = next_order_++;
        e.held_at_us = frame.ts_us;
        e.frame = frame;
        e.frame.data = slot;
        e.used = true;
        ++held_;
        next_expiry_us_ = std::min(next_expiry_us_, frame.ts_us + hold_us_);
        return true;
    }
    return false;
}

void FragmentHold::refresh_expiry() noexcept {
    next_expiry_us_ = kNoExpiry;
    for (const Entry& e : entries_) {
        if (e.used) {
            next_expiry_us_ = std::min(next_expiry_us_, e.held_at_us + hold_us_);
        }
    }
}

}  // namespace sensor::pipeline
