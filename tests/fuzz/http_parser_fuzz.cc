// Fuzz target for sensor/applayer (HTTP through libhtp, DNS, TLS ClientHello). Input layout:
//   byte 0   selector: bits 0-1 the flow (0 TCP to port 80, 1 TCP to 443, 2 UDP to 53,
//            3 TCP to 53); bit 2: the classifier already said "http"; bit 3: tiny body
//            limits, inspect windows and memory cap, so truncation and refusals are reachable
//   rest     records [u8 flags][u16 big-endian length][payload]; flags bit 0: to server,
//            bit 1: FIN, bit 2: RST, bit 3: skip 7 sequence numbers first (a gap), bit 4:
//            send the previous segment of that direction again first (a retransmission)
// Traps when a body view exceeds its limit, memory passes the cap, or release() leaves
// memory or parsers behind. ASan and UBSan watch everything else.

#include <cstddef>
#include <cstdint>
#include <span>

#include "sensor/applayer/app_layer.h"

namespace {

using sensor::applayer::AppLayer;
using sensor::applayer::AppLayerConfig;
using sensor::core::AppBuffers;
using sensor::core::BufferKind;
namespace decode = sensor::decode;

void require(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

struct Direction {
    uint32_t seq = 1000;
    std::span<const uint8_t> last;
    uint32_t last_seq = 0;
};

void check(const AppBuffers& out, const AppLayerConfig& config) {
    require(out.get(BufferKind::kHttpRequestBody).size() <= config.http.request_body_limit);
    require(out.get(BufferKind::kHttpResponseBody).size() <= config.http.response_body_limit);
    require(out.get(BufferKind::kJa3Hash).empty() || out.get(BufferKind::kJa3Hash).size() == 32);
    require(out.get(BufferKind::kDnsQuery).size() <= 255);
    require(!out.any || out.transaction_id != 0);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    const uint8_t selector = data[0];
    AppLayerConfig config;
    if ((selector & 0x08) != 0) {
        config.http.request_body_limit = 16;
        config.http.response_body_limit = 24;
        config.http.request_body_inspect_window = 5;
        config.http.response_body_inspect_window = 7;
        config.http.max_waiting_transactions = 2;
        config.memcap_bytes = sensor::applayer::kHttpSessionEstimate + 4096;
    }
    AppLayer app(config);
    sensor::flow::Flow flow;
    const uint8_t kind = selector & 0x03;
    const bool udp = kind == 2;
    flow.key.ip_proto = udp ? decode::kIpProtoUdp : decode::kIpProtoTcp;
    flow.client_port = 40000;
    flow.server_port = kind == 0 ? 80 : kind == 1 ? 443 : 53;
    if ((selector & 0x04) != 0) {
        flow.app.state = sensor::core::ClassifyState::kClassified;
        flow.app.app_proto[0] = 'h';
        flow.app.app_proto[1] = 't';
        flow.app.app_proto[2] = 't';
        flow.app.app_proto[3] = 'p';
    }

    Direction dirs[2];
    AppBuffers out;
    int64_t ts = 1'000'000;
    size_t pos = 1;
    auto deliver = [&](bool to_server, uint8_t flags, uint32_t seq,
                       std::span<const uint8_t> payload) {
        decode::DecodedPacket pkt;
        pkt.ip_proto = flow.key.ip_proto;
        pkt.src_port = to_server ? flow.client_port : flow.server_port;
        pkt.dst_port = to_server ? flow.server_port : flow.client_port;
        pkt.tcp_flags = udp ? 0 : flags;
        pkt.tcp_seq = seq;
        pkt.payload = payload;
        pkt.ts_us = ts += 1000;
        app.update(flow, to_server, pkt, out);
        check(out, config);
        while (app.next(out)) {
            check(out, config);
        }
        require(app.memory_bytes() <= config.memcap_bytes);
    };
    while (pos + 3 <= size) {
        const uint8_t flags = data[pos];
        const size_t len = (size_t{data[pos + 1]} << 8) | data[pos + 2];
        pos += 3;
        const size_t take = len < size - pos ? len : size - pos;
        std::span<const uint8_t> payload(data + pos, take);
        pos += take;
        const bool to_server = (flags & 0x01) != 0;
        Direction& d = dirs[to_server ? 0 : 1];
        uint8_t tcp_flags = decode::kTcpAck | decode::kTcpPsh;
        if ((flags & 0x02) != 0) {
            tcp_flags |= decode::kTcpFin;
        }
        if ((flags & 0x04) != 0) {
            tcp_flags |= decode::kTcpRst;
        }
        if ((flags & 0x10) != 0 && !d.last.empty()) {
            deliver(to_server, decode::kTcpAck, d.last_seq, d.last);
        }
        if ((flags & 0x08) != 0) {
            d.seq += 7;
        }
        deliver(to_server, tcp_flags, d.seq, payload);
        d.last = payload;
        d.last_seq = d.seq;
        d.seq += static_cast<uint32_t>(payload.size());
    }
    app.release(flow);
    require(flow.app_state == nullptr);
    require(app.memory_bytes() == 0);
    require(app.stats().http_parsers_active.load() == 0);
    return 0;
}
