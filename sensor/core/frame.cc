#include "sensor/core/frame.h"

#include <cstring>

namespace sensor::core {

FrameBatch::FrameBatch(size_t arena_bytes)
    : arena_(std::make_unique_for_overwrite<uint8_t[]>(arena_bytes)), arena_bytes_(arena_bytes) {}

bool FrameBatch::push(std::span<const uint8_t> bytes, uint32_t wire_len, int64_t ts_us,
                      int linktype, uint64_t index, uint32_t source) noexcept {
    if (count_ == kMaxFrames || arena_bytes_ - used_ < bytes.size()) {
        return false;
    }
    uint8_t* dst = arena_.get() + used_;
    if (!bytes.empty()) {
        std::memcpy(dst, bytes.data(), bytes.size());
    }
    // Keep each frame 8-byte aligned: decoders memcpy anyway, but it keeps loads cheap.
    used_ += (bytes.size() + 7) & ~size_t{7};
    if (used_ > arena_bytes_) {
        used_ = arena_bytes_;
    }
    Frame& f = frames_[count_++];
    f.data = dst;
    f.caplen = static_cast<uint32_t>(bytes.size());
    f.wire_len = wire_len;
    f.ts_us = ts_us;
    f.clock_us = 0;
    f.linktype = linktype;
    f.index = index;
    f.source = source;
    return true;
}

}  // namespace sensor::core
