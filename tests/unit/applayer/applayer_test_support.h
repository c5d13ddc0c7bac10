#pragma once
// Test helpers for sensor/applayer: hand-built TCP/UDP conversations (sequence numbers kept
// per direction) and a pcap runner through the real Decoder and FlowTable.

#include <pcap/pcap.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "sensor/applayer/app_layer.h"
#include "sensor/core/app_buffers.h"
#include "sensor/core/frame.h"
#include "sensor/decode/decoder.h"
#include "sensor/flow/flow_table.h"

namespace sensor::applayer::testing {

inline const std::string kSourceDir = SENSOR_SOURCE_DIR;
inline const std::string kNdpiCorpus = kSourceDir + "/../shared/corpora/ndpi";
inline const std::string kVerifyCorpus = kSourceDir + "/../shared/corpora/suricata-verify/tests";

inline std::string str(std::span<const uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

inline std::string buf(const core::AppBuffers& b, core::BufferKind kind) {
    return str(b.get(kind));
}

// One flow driven by hand: the test plays client and server.
class Conversation {
public:
    Conversation(uint8_t ip_proto, uint16_t client_port, uint16_t server_port) {
        flow_.key.ip_proto = ip_proto;
        flow_.client_port = client_port;
        flow_.server_port = server_port;
        ip_proto_ = ip_proto;
    }

    flow::Flow& flow() noexcept { return flow_; }

    // Sends bytes as one segment (or datagram) and returns what the app layer exposed.
    core::AppBuffers send(AppLayer& app, bool to_server, std::string_view bytes,
                          uint8_t flags = decode::kTcpAck | decode::kTcpPsh) {
        decode::DecodedPacket pkt = packet(to_server, bytes, flags);
        core::AppBuffers out;
        app.update(flow_, to_server, pkt, out);
        if (ip_proto_ == decode::kIpProtoTcp) {
            seq_[to_server ? 0 : 1] += static_cast<uint32_t>(bytes.size());
        }
        return out;
    }

    // The packet send() would build, without sending it.
    decode::DecodedPacket packet(bool to_server, std::string_view bytes, uint8_t flags) {
        payloads_.emplace_back(bytes);
        const std::string& p = payloads_.back();
        decode::DecodedPacket pkt;
        pkt.ip_proto = ip_proto_;
        pkt.src_port = to_server ? flow_.client_port : flow_.server_port;
        pkt.dst_port = to_server ? flow_.server_port : flow_.client_port;
        pkt.tcp_flags = ip_proto_ == decode::kIpProtoTcp ? flags : 0;
        pkt.tcp_seq = seq_[to_server ? 0 : 1];
        pkt.payload =
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(p.data()), p.size());
        pkt.ts_us = ts_us_ += 1000;
        return pkt;
    }

    // Moves a direction's sequence number without sending (to make a gap).
    void skip(bool to_server, uint32_t bytes) { seq_[to_server ? 0 : 1] += bytes; }

private:
    flow::Flow flow_;
    uint8_t ip_proto_ = decode::kIpProtoTcp;
    uint32_t seq_[2] = {1000, 50000};
    int64_t ts_us_ = 1'700'000'000'000'000;
    std::deque<std::string> payloads_;  // payload spans stay valid for the whole test
};

// What a pcap run saw for one exposed transaction update.
struct Seen {
    uint64_t frame_index = 0;
    bool to_server = false;
    uint16_t client_port = 0;
    uint16_t server_port = 0;
    uint64_t transaction_id = 0;
    core::AppBuffers buffers;  // spans valid only inside the callback
};

// Replays a pcap (pcapng too) through Decoder, FlowTable and app; calls on_seen for every
// AppBuffers with content, including the extra transactions next() reports. Returns an
// error text, empty on success.
inline std::string run_pcap(const std::string& path, AppLayer& app,
                            const std::function<void(const Seen&)>& on_seen) {
    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle = pcap_open_offline(path.c_str(), err);
    if (handle == nullptr) {
        return path + ": " + err;
    }
    // Like Suricata's -k none in suricata-verify: many captures carry offloaded checksums.
    decode::DecodeConfig decode_config;
    decode_config.validate_checksums = false;
    decode::Decoder decoder(decode_config);
    flow::FlowTable flows(flow::FlowConfig{});
    auto on_end = [&app](flow::Flow& f, flow::EndReason) { app.release(f); };
    decode::DecodedPacket pkt;
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    uint64_t index = 0;
    while (pcap_next_ex(handle, &hdr, &data) == 1) {
        core::Frame frame;
        frame.data = data;
        frame.caplen = hdr->caplen;
        frame.wire_len = hdr->len;
        frame.ts_us = int64_t{hdr->ts.tv_sec} * 1'000'000 + hdr->ts.tv_usec;
        frame.linktype = pcap_datalink(handle);
        frame.index = ++index;
        if (decoder.decode(frame, pkt) != decode::Verdict::kPacket) {
            continue;
        }
        bool to_server = true;
        flow::Flow& f = flows.find_or_insert(pkt, to_server, on_end);
        flows.update(f, pkt, to_server, frame.wire_len);
        Seen seen;
        seen.frame_index = index;
        seen.to_server = to_server;
        seen.client_port = f.client_port;
        seen.server_port = f.server_port;
        app.update(f, to_server, pkt, seen.buffers);
        do {
            if (seen.buffers.any) {
                seen.transaction_id = seen.buffers.transaction_id;
                on_seen(seen);
            }
        } while (app.next(seen.buffers));
    }
    pcap_close(handle);
    flows.end_all(on_end);
    return {};
}

}  // namespace sensor::applayer::testing
