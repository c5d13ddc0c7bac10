#include "sensor/flow/stream_tail.h"

#include <algorithm>
#include <cstring>

namespace sensor::flow {

std::span<const uint8_t> stream_prefix(const Flow& flow, bool to_server,
                                       const decode::DecodedPacket& pkt) noexcept {
    const StreamTail& tail = flow.tail[to_server ? 0 : 1];
    if (pkt.ip_proto != decode::kIpProtoTcp || pkt.payload.empty() || !tail.seq_known ||
        tail.next_seq != pkt.tcp_seq) {
        return {};
    }
    return {tail.data.data(), tail.len};
}

void advance_stream(Flow& flow, bool to_server, const decode::DecodedPacket& pkt) noexcept {
    if (pkt.ip_proto != decode::kIpProtoTcp) {
        return;
    }
    StreamTail& tail = flow.tail[to_server ? 0 : 1];
    uint32_t syn = (pkt.tcp_flags & decode::kTcpSyn) != 0 ? 1u : 0u;
    uint32_t len = static_cast<uint32_t>(pkt.payload.size());
    if (len == 0) {
        if (syn != 0) {
            tail.next_seq = pkt.tcp_seq + 1;
            tail.seq_known = true;
            tail.len = 0;
        }
        return;
    }
    bool in_order = tail.seq_known && tail.next_seq == pkt.tcp_seq;
    if (tail.seq_known && !in_order) {
        // A retransmission or old segment must not move the window backwards.
        int32_t delta = static_cast<int32_t>(pkt.tcp_seq - tail.next_seq);
        if (delta < 0) {
            return;
        }
    }
    if (!in_order) {
        tail.len = 0;  // gap or first data seen: start a new window
    }
    size_t keep_old = 0;
    if (len < kStreamTailBytes) {
        keep_old = std::min<size_t>(tail.len, kStreamTailBytes - len);
    }
    if (keep_old > 0) {
        std::memmove(tail.data.data(), tail.data.data() + (tail.len - keep_old), keep_old);
    }
    size_t take = std::min<size_t>(len, kStreamTailBytes);
    std::memcpy(tail.data.data() + keep_old, pkt.payload.data() + (len - take), take);
    tail.len = static_cast<uint8_t>(keep_old + take);
    tail.next_seq = pkt.tcp_seq + syn + len;
    tail.seq_known = true;
}

}  // namespace sensor::flow
