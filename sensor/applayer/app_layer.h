#pragma once
// AppLayer: one per worker, never shared. Parses HTTP/1.x (libhtp), DNS and the TLS
// handshake (ClientHello; ServerHello and certificates) of each flow and fills
// core::AppBuffers for the packet being analysed. Per-flow state hangs off
// flow::Flow::app_state, is created lazily and freed by release().

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "sensor/applayer/app_layer_stats.h"
#include "sensor/applayer/dns_parser.h"
#include "sensor/applayer/http_session.h"
#include "sensor/applayer/memory_budget.h"
#include "sensor/core/app_buffers.h"
#include "sensor/core/records.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/flow/flow_table.h"

namespace sensor::applayer {

struct AppLayerConfig {
    bool http_enabled = true;
    bool dns_enabled = true;
    bool tls_enabled = true;
    HttpConfig http;
    // Everything the app layer keeps per flow (parsers, bodies, ClientHello buffers), per
    // worker. A flow that would pass it is not parsed; a body that would is truncated.
    size_t memcap_bytes = size_t{64} << 20;
};

class AppLayer {
public:
    explicit AppLayer(const AppLayerConfig& config);
    ~AppLayer();  // frees the state of flows never released
    AppLayer(const AppLayer&) = delete;
    AppLayer& operator=(const AppLayer&) = delete;

    // Parses pkt (to_server: client to server, as the flow table says) and fills out with the
    // views of the transaction it advanced; out is cleared first and stays empty when nothing
    // new is ready. Call after classification (flow.app.app_proto is read) and before
    // detection. Views stay valid until the next update(), next() or release() of this
    // AppLayer. Allocates only when a flow starts being parsed (and libhtp per transaction).
    void update(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                core::AppBuffers& out) noexcept;
    // Suricata's probing of the DNS family (DNS, mDNS, LLMNR) over UDP: true when pkt, the
    // first packet of a new flow (nothing counted yet), involves a DNS-family port and is a
    // whole DNS response. The caller then reverses the flow (FlowTable::reverse) before
    // counting and analysing pkt, so the querier is the client and pkt goes to_client.
    bool reverses_flow(const flow::Flow& flow, const decode::DecodedPacket& pkt) const noexcept;
    // When one packet advanced several HTTP transactions (pipelining), update() reported the
    // first; each call reports the next one. Likewise for a TLS certificate chain: update()
    // reported the server's certificate, each call the next one of the chain (tls.certs; the
    // other TLS views repeated, same transaction). False when none is left.
    bool next(core::AppBuffers& out) noexcept;
    // The flow ends: frees its state. Must run before the flow slot is reused.
    void release(flow::Flow& flow) noexcept;
    // The protocol this module recognised the flow as ("http", "dns", "tls", "llmnr"), also once it
    // stopped parsing it; empty when none. Suricata's app-layer detection names a flow this
    // way before (or without) the classifier.
    std::string_view protocol(const flow::Flow& flow) const noexcept;
    // For an alert: copies the EVE view of the flow's HTTP transaction transaction_id (as in
    // AppBuffers) into out; false when the flow has no such transaction held. Allocates.
    bool describe_http(const flow::Flow& flow, uint64_t transaction_id,
                       core::HttpRecord& out) const;

    const AppLayerStats& stats() const noexcept { return stats_; }
    const AppLayerConfig& config() const noexcept { return config_; }
    size_t memory_bytes() const noexcept { return budget_.used; }

private:
    enum class Proto : uint8_t { kNone, kHttp, kDns, kTls, kLlmnr };  // kLlmnr: named only
    struct FlowState;

    Proto detect(const flow::Flow& flow, bool to_server,
                 const decode::DecodedPacket& pkt) const noexcept;
    // reserve_hello: charge the most a ClientHello assembler may hold.
    FlowState* create_state(flow::Flow& flow, Proto proto, const decode::DecodedPacket& pkt,
                            bool reserve_hello = false) noexcept;
    void destroy_state(FlowState* state) noexcept;
    void ignore(flow::Flow& flow) noexcept;
    void update_http(FlowState& st, bool to_server, const decode::DecodedPacket& pkt,
                     core::AppBuffers& out) noexcept;
    void update_dns(FlowState* st, const decode::DecodedPacket& pkt,
                    core::AppBuffers& out) noexcept;
    void update_tls(flow::Flow& flow, FlowState& st, bool to_server,
                    const decode::DecodedPacket& pkt, core::AppBuffers& out) noexcept;
    // Exposes a complete ClientHello message; false when it does not parse.
    bool report_hello(std::span<const uint8_t> msg, core::AppBuffers& out) noexcept;
    // Feeds the server's handshake bytes; exposes the ServerHello and certificate views that
    // completed. True when out points into st (st must live until the next update()).
    bool update_tls_server(FlowState& st, std::span<const uint8_t> data,
                           core::AppBuffers& out) noexcept;
    // The server views of st, with certificate cert of its chain as tls.certs.
    void fill_tls_server(const FlowState& st, size_t cert, core::AppBuffers& out) const noexcept;
    void publish_memory() noexcept;

    AppLayerConfig config_;
    AppLayerStats stats_;
    MemoryBudget budget_;
    HttpEngine http_;
    FlowState* states_ = nullptr;  // every live state, so the destructor can free them

    // The HTTP session whose further events next() reports.
    HttpSession* pending_ = nullptr;
    size_t pending_next_ = 0;
    bool pending_to_server_ = false;
    // The TLS flow whose further certificates next() reports.
    const FlowState* tls_pending_ = nullptr;
    size_t tls_pending_next_ = 0;

    // Views built per packet (DNS name, SNI, JA3).
    DnsQuestion dns_question_;
    std::string sni_;
    std::string ja3_text_;
    std::array<char, 33> ja3_hash_{};
    // The server certificate's views, built once per chain.
    std::string cert_subject_;
    std::string cert_issuer_;
    std::string cert_serial_;
    bool cert_parsed_ = false;
};

}  // namespace sensor::applayer
