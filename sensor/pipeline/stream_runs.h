#pragma once
// StreamRuns: collects what the payload-ordering reassembler hands over while one packet is
// processed, per direction, as runs of consecutive sequence numbers (a run ends where a hole
// was skipped), so that each run is inspected once. One per worker; its buffers are sized at
// construction and reused for every packet.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "sensor/flow/reassembly.h"

namespace sensor::pipeline {

class StreamRuns final : public flow::StreamSink {
public:
    // More runs per packet and direction than this (holes skipped in one go) join the last.
    static constexpr size_t kMaxRuns = 16;
    // What one packet can hand over in one direction: everything the direction held plus
    // the packet's own payload.
    static constexpr size_t kBufferBytes = flow::kReassemblyWindowBytes + 65536;

    struct Run {
        uint32_t seq = 0;
        std::span<const uint8_t> bytes;
    };

    StreamRuns();

    // Starts a packet: forgets the previous runs. Bytes handed over from inside payload (the
    // packet's own, delivered straight) are referenced rather than copied.
    void begin(std::span<const uint8_t> payload) noexcept;
    void data(bool to_server, std::span<const uint8_t> bytes, uint32_t seq) noexcept override;
    void end(bool /*to_server*/, bool /*reset*/) noexcept override {}

    // The runs of one direction, in sequence order; valid until the next begin().
    std::span<const Run> runs(bool to_server) const noexcept {
        const Direction& d = dir_[to_server ? 0 : 1];
        return {d.runs.data(), d.count};
    }
    // Bytes that did not fit the buffer (never expected: see kBufferBytes), left uninspected.
    uint64_t truncated_bytes() const noexcept { return truncated_; }

private:
    struct Direction {
        std::array<Run, kMaxRuns> runs;
        size_t count = 0;
        size_t used = 0;  // bytes of buffer taken
        std::unique_ptr<uint8_t[]> buffer;
    };
    // Copies bytes behind the buffer's used part; the span written (possibly shorter).
    std::span<const uint8_t> copy(Direction& d, std::span<const uint8_t> bytes) noexcept;

    std::array<Direction, 2> dir_;
    std::span<const uint8_t> payload_;
    uint64_t truncated_ = 0;
};

}  // namespace sensor::pipeline
