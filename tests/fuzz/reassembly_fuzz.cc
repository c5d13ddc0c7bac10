// Fuzz target for sensor/flow/reassembly (TCP bytes held until acknowledged and put back in
// order). Input layout:
//   byte 0   selector: bit 0 a pool so small that it runs out (one entry, a few blocks);
//            bit 1 the server side was seen acknowledging (bytes wait for ACKs)
//   rest     records [u8 flags][u16 offset][u8 length]; flags bit 0: from the client; bits
//            1-5: the TCP flags FIN, SYN, RST, PSH, ACK (wire bits 0-4); bit 6: the ACK
//            acknowledges the peer's bytes up to the record's offset; bit 7: release the
//            flow. The payload of a segment at stream offset `offset` is `length` bytes
//            derived from its offset and the record's position (a retransmission may carry
//            other bytes).
// Traps when a direction's bytes come out of order or backwards, when a byte handed over is
// not the first one the capture showed at that sequence number, or when the pool leaks.

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "sensor/flow/reassembly.h"

namespace {

namespace flow = sensor::flow;
namespace decode = sensor::decode;

void require(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

constexpr uint32_t kIsn[2] = {0xfffff000u, 0x7ffff000u};  // both wrap within the first 64 KiB

// Checks each delivery against the first byte seen at each sequence number.
class CheckingSink final : public flow::StreamSink {
public:
    void data(bool to_server, std::span<const uint8_t> bytes, uint32_t seq) noexcept override {
        const size_t d = to_server ? 0 : 1;
        require(!bytes.empty());
        if (started_[d]) {
            require(static_cast<int32_t>(seq - next_[d]) >= 0);  // never backwards
        }
        for (size_t i = 0; i < bytes.size(); ++i) {
            const auto it = first_[d].find(seq + static_cast<uint32_t>(i));
            require(it != first_[d].end() && it->second == bytes[i]);
        }
        started_[d] = true;
        next_[d] = seq + static_cast<uint32_t>(bytes.size());
    }
    void end(bool, bool) noexcept override {}

    void saw(size_t d, uint32_t seq, uint8_t byte) { first_[d].emplace(seq, byte); }
    // The flow was released: what it held is gone, and its next bytes start anew.
    void reset() {
        for (size_t d = 0; d < 2; ++d) {
            first_[d].clear();
            started_[d] = false;
        }
    }

private:
    std::unordered_map<uint32_t, uint8_t> first_[2];
    uint32_t next_[2] = {0, 0};
    bool started_[2] = {false, false};
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const uint8_t selector = data[0];
    flow::ReassemblyConfig config;
    config.max_flows = 4;
    config.memcap_bytes = (selector & 1) != 0 ? 12 * 1024 : 1 << 20;
    flow::Reassembler r(config);
    require(r.enabled());
    flow::Flow f;
    f.key.ip_proto = decode::kIpProtoTcp;
    f.tcp_flags[0] = decode::kTcpSyn | decode::kTcpAck;
    if ((selector & 2) != 0) {
        f.tcp_flags[1] = decode::kTcpSyn | decode::kTcpAck;
    }
    constexpr uint32_t kSlot = 1;
    CheckingSink sink;
    std::vector<uint8_t> payload;
    size_t pos = 1;
    while (pos + 4 <= size) {
        const uint8_t flags = data[pos];
        const auto offset = static_cast<uint32_t>((data[pos + 1] << 8) | data[pos + 2]);
        const uint8_t length = data[pos + 3];
        pos += 4;
        if ((flags & 0x80) != 0) {
            r.release(kSlot);
            sink.reset();
            require(r.stats().blocks_in_use.load() == 0 && r.stats().streams_in_use.load() == 0);
            continue;
        }
        const bool to_server = (flags & 1) != 0;
        const size_t d = to_server ? 0 : 1;
        decode::DecodedPacket pkt;
        pkt.ip_proto = decode::kIpProtoTcp;
        pkt.tcp_flags = static_cast<uint8_t>((flags >> 1) & 0x1f);
        const bool syn = (pkt.tcp_flags & decode::kTcpSyn) != 0;
        pkt.tcp_seq = kIsn[d] + offset - (syn ? 1u : 0u);
        pkt.tcp_ack = kIsn[1 - d] + ((flags & 0x40) != 0 ? offset : 0u);
        payload.assign(length, 0);
        for (uint32_t i = 0; i < length; ++i) {
            payload[i] = static_cast<uint8_t>((offset + i) * 31u + pos);
            sink.saw(d, kIsn[d] + offset + i, payload[i]);
        }
        pkt.payload = payload;
        if (!r.holds(kSlot) && !r.refused(kSlot)) {
            r.open(kSlot, f, to_server, pkt);
        }
        r.on_packet(kSlot, f, to_server, pkt, sink);
        require(r.stats().blocks_in_use.load() <= r.block_capacity());
    }
    r.flush(kSlot, sink);
    r.release(kSlot);
    require(r.stats().blocks_in_use.load() == 0 && r.stats().streams_in_use.load() == 0);
    return 0;
}
