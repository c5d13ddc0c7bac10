// Fuzz target for sensor/decode. Input layout:
//   byte 0   selector: bits 0-3 index kSupportedLinktypes (modulo its size); bit 4: frames
//            were cut by snaplen (wire_len = caplen + 64); bit 5: checksums not validated
//   rest     decoded once as a single frame, then again as records
//            [u16 big-endian length][frame bytes] one second of packet time apart, through
//            the same Decoder so that fragments meet across frames.
// Reassembly limits are small so that eviction, memcap and timeout are reachable. Traps when
// a frame escapes the accounting identity or a span leaves its buffer.

#include <cstddef>
#include <cstdint>
#include <span>

#include "sensor/core/frame.h"
#include "sensor/decode/decoder.h"
#include "sensor/decode/linktype.h"

namespace {

using sensor::decode::DecodedPacket;
using sensor::decode::Verdict;

constexpr int64_t kSecond = 1'000'000;

void require(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

bool within(std::span<const uint8_t> inner, std::span<const uint8_t> outer) {
    if (inner.empty()) {
        return true;
    }
    return inner.data() >= outer.data() &&
           inner.data() + inner.size() <= outer.data() + outer.size();
}

class Feeder {
public:
    Feeder(const sensor::decode::DecodeConfig& config, int linktype, bool cut)
        : decoder_(config), linktype_(linktype), cut_(cut) {}

    void feed(std::span<const uint8_t> bytes, int64_t ts_us) {
        sensor::core::Frame frame;
        frame.data = bytes.data();
        frame.caplen = static_cast<uint32_t>(bytes.size());
        frame.wire_len = frame.caplen + (cut_ ? 64 : 0);
        frame.ts_us = ts_us;
        frame.linktype = linktype_;
        frame.index = ++frames_;
        const Verdict v = decoder_.decode(frame, packet_);
        const auto& s = decoder_.stats();
        require(frames_ == s.decoded.load() + s.dropped_total());
        require(packet_.vlan_count <= sensor::decode::kMaxVlanTags && packet_.tunnel_depth <= 3);
        if (v == Verdict::kDropped) {
            require(static_cast<size_t>(decoder_.last_drop_reason()) <
                    sensor::decode::kDropReasonCount);
            return;
        }
        if (v != Verdict::kPacket) {
            return;
        }
        require(!packet_.ip.empty());
        require(within(packet_.payload, packet_.ip));
        if (!packet_.reassembled) {
            require(within(packet_.ip, bytes));
        }
        // Touch every byte the spans claim, so that the sanitizer sees a bad span.
        uint32_t sum = 0;
        for (uint8_t b : packet_.ip) {
            sum += b;
        }
        sink_ = sink_ + sum;
    }

private:
    sensor::decode::Decoder decoder_;
    DecodedPacket packet_;
    int linktype_;
    bool cut_;
    uint64_t frames_ = 0;
    volatile uint32_t sink_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const uint8_t selector = data[0];
    const auto& types = sensor::decode::kSupportedLinktypes;
    const int linktype = types[(selector & 0x0f) % types.size()];
    sensor::decode::DecodeConfig config;
    config.validate_checksums = (selector & 0x20) == 0;
    config.defrag_memcap_bytes = 16 * 512;
    config.defrag_max_datagrams = 4;
    config.defrag_timeout_us = 5 * kSecond;
    Feeder feeder(config, linktype, (selector & 0x10) != 0);

    const std::span<const uint8_t> rest(data + 1, size - 1);
    int64_t ts = 1'700'000'000 * kSecond;
    feeder.feed(rest, ts);
    for (size_t at = 0; at + 2 <= rest.size();) {
        size_t len = (size_t{rest[at]} << 8) | rest[at + 1];
        at += 2;
        if (len > rest.size() - at) {
            len = rest.size() - at;
        }
        ts += kSecond;
        feeder.feed(rest.subspan(at, len), ts);
        at += len;
    }
    return 0;
}
