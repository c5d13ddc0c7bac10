#include "sensor/pipeline/stream_runs.h"

#include <algorithm>
#include <cstring>
#include <functional>

namespace sensor::pipeline {

StreamRuns::StreamRuns() {
    for (Direction& d : dir_) {
        d.buffer = std::make_unique_for_overwrite<uint8_t[]>(kBufferBytes);
    }
}

void StreamRuns::begin(std::span<const uint8_t> payload) noexcept {
    payload_ = payload;
    for (Direction& d : dir_) {
        d.count = 0;
        d.used = 0;
    }
}

std::span<const uint8_t> StreamRuns::copy(Direction& d, std::span<const uint8_t> bytes) noexcept {
    const size_t n = std::min(bytes.size(), kBufferBytes - d.used);
    truncated_ += bytes.size() - n;
    uint8_t* at = d.buffer.get() + d.used;
    if (n > 0) {
        std::memcpy(at, bytes.data(), n);
    }
    d.used += n;
    return {at, n};
}

void StreamRuns::data(bool to_server, std::span<const uint8_t> bytes, uint32_t seq) noexcept {
    if (bytes.empty()) {
        return;
    }
    Direction& d = dir_[to_server ? 0 : 1];
    if (d.count > 0) {
        Run& last = d.runs[d.count - 1];
        const bool continues = last.seq + static_cast<uint32_t>(last.bytes.size()) == seq;
        if (continues || d.count == kMaxRuns) {
            // Runs grow at the buffer's end: one that still points into the packet moves there
            // first, so that run and bytes lie side by side.
            const uint8_t* buffer_end = d.buffer.get() + d.used;
            if (last.bytes.data() + last.bytes.size() != buffer_end || last.bytes.empty()) {
                last.bytes = copy(d, last.bytes);
            }
            const std::span<const uint8_t> added = copy(d, bytes);
            last.bytes = {last.bytes.data(), last.bytes.size() + added.size()};
            return;
        }
    }
    // A packet's own bytes handed over straight stay where they are, which is the common
    // case: in order, nothing held. Bytes from the reassembler's blocks are copied at once,
    // as the blocks are reused once delivered.
    const std::less<const uint8_t*> before;
    const bool in_payload = !payload_.empty() && !before(bytes.data(), payload_.data()) &&
                            !before(payload_.data() + payload_.size(), bytes.data() + bytes.size());
    d.runs[d.count++] = Run{seq, in_payload ? bytes : copy(d, bytes)};
}

}  // namespace sensor::pipeline
