#pragma once
// In-order stream window per direction: detection scans (tail of previous in-order segment)
// + (this segment), so a pattern split across a segment boundary is still seen, at a fixed
// cost of kStreamTailBytes per direction instead of buffering the stream.

#include <span>

#include "sensor/flow/flow_table.h"

namespace sensor::flow {

// Bytes that precede pkt's payload in its direction's stream, or empty when pkt is not the
// next in-order segment (first segment, gap, retransmission, non-TCP).
std::span<const uint8_t> stream_prefix(const Flow& flow, bool to_server,
                                       const decode::DecodedPacket& pkt) noexcept;

// Records pkt's payload as the direction's newest in-order bytes.
void advance_stream(Flow& flow, bool to_server, const decode::DecodedPacket& pkt) noexcept;

}  // namespace sensor::flow
