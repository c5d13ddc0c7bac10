#pragma once
// AppLayer: one per worker, never shared. Parses HTTP/1.x (libhtp), DNS and the TLS
// handshake (ClientHello; ServerHello and certificates) of each flow and fills
// core::AppBuffers for the packet being analysed. Per-flow state hangs off
// flow::Flow::app_state, is created lazily and freed by release().

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
    // consume = false: HTTP progress reported here is reported again next time (see report()).
    void update(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                core::AppBuffers& out, bool consume = true) noexcept;
    // Suricata's probing of the DNS family (DNS, mDNS, LLMNR) over UDP: true when pkt, the
    // first packet of a new flow (nothing counted yet), involves a DNS-family port and is a
    // whole DNS response. The caller then reverses the flow (FlowTable::reverse) before
    // counting and analysing pkt, so the querier is the client and pkt goes to_client.
    bool reverses_flow(const flow::Flow& flow, const decode::DecodedPacket& pkt) const noexcept;
    // ---- TCP streams held by the worker's reassembly (sensor/flow/reassembly.h) ----
    // Suricata's IDS timing for HTTP: a direction's bytes are parsed once the other side has
    // acknowledged them, and what they advanced is inspected on the next packet of their own
    // direction. The worker holds the bytes and calls deliver() / end_stream() as ACKs come,
    // then report() for the packet being analysed; update() is not called for such a flow.
    //
    // Whether the flow's TCP payload should go through reassembly: it is parsed as HTTP, or
    // pkt's payload starts it (a request, or a response first on a flow picked up
    // mid-stream). Other flows are parsed on arrival by update().
    bool wants_stream(const flow::Flow& flow, bool to_server,
                      const decode::DecodedPacket& pkt) const noexcept;
    // Whether a flow already held still needs its bytes: undecided, or HTTP still parsed.
    bool keeps_stream(const flow::Flow& flow) const noexcept;
    // Parses in-order bytes of one direction of the stream (seq: the sequence number of
    // data[0]) at packet time ts_us. Nothing is reported here: report() does, on a packet of
    // that direction.
    void deliver(flow::Flow& flow, bool to_server, std::span<const uint8_t> data, uint32_t seq,
                 int64_t ts_us) noexcept;
    // The direction's stream ended with all its bytes delivered: its FIN, or reset = a RST
    // (either ends a response delimited by the connection's close).
    void end_stream(flow::Flow& flow, bool to_server, bool reset, int64_t ts_us) noexcept;
    // Fills out (cleared first) with the first HTTP transaction that progressed in direction
    // to_server since that direction was last reported; next() gives the others. Views stay
    // valid as for update(). consume = false reports them again next time (the packet could
    // not inspect them fully: Suricata retries a transaction until a packet does).
    void report(flow::Flow& flow, bool to_server, core::AppBuffers& out,
                bool consume = true) noexcept;
    // Whether report() for that direction would have something to show.
    bool has_unreported(const flow::Flow& flow, bool to_server) const noexcept;

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
    // Memory for a FlowState: from the free list of ended flows' states, else the heap.
    void* take_state_memory() noexcept;
    void give_back_state_memory(void* memory) noexcept;
    void ignore(flow::Flow& flow) noexcept;
    // The old body of update(): parses pkt, fills out for DNS and TLS; HTTP progress is
    // recorded by the session and reported by report_http().
    void ingest(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                core::AppBuffers& out) noexcept;
    void update_http(FlowState& st, bool to_server, const decode::DecodedPacket& pkt) noexcept;
    // The flow's HTTP state, done or not; nullptr for any other.
    FlowState* http_state(const flow::Flow& flow) const noexcept;
    // Starts reporting the HTTP events of packet direction to_server (then, with
    // other_side, those of the other direction) into out; false when there are none.
    bool report_http(flow::Flow& flow, bool to_server, bool other_side, core::AppBuffers& out,
                     bool consume = true) noexcept;
    bool next_http(core::AppBuffers& out) noexcept;
    void update_dns(FlowState* st, const decode::DecodedPacket& pkt,
                    core::AppBuffers& out) noexcept;
    void update_tls(flow::Flow& flow, FlowState& st, bool to_server,
                    const decode::DecodedPacket& pkt, core::AppBuffers& out) noexcept;
    // Exposes a complete ClientHello message and records the client's version in
    // flow.app.tls_version; false when it does not parse.
    bool report_hello(std::span<const uint8_t> msg, flow::Flow& flow,
                      core::AppBuffers& out) noexcept;
    // Feeds the server's handshake bytes; exposes the ServerHello and certificate views that
    // completed and records the server's version. True when out points into st (st must live
    // until the next update()).
    bool update_tls_server(flow::Flow& flow, FlowState& st, std::span<const uint8_t> data,
                           core::AppBuffers& out) noexcept;
    // The server views of st, with certificate cert of its chain as tls.certs.
    void fill_tls_server(const FlowState& st, size_t cert, core::AppBuffers& out) const noexcept;
    void publish_memory() noexcept;

    AppLayerConfig config_;
    AppLayerStats stats_;
    MemoryBudget budget_;
    HttpEngine http_;
    FlowState* states_ = nullptr;  // every live state, so the destructor can free them
    // Memory of ended flows' states, kept for new flows (which arrive all the time) up to
    // kMaxPooledStates; a free block's first bytes link it to the next.
    static constexpr size_t kMaxPooledStates = 4096;
    struct FreeStateMemory {
        FreeStateMemory* next;
    };
    FreeStateMemory* free_state_memory_ = nullptr;
    size_t pooled_states_ = 0;

    // HTTP sessions of ended flows, recycled for new ones (HttpSession::recycle), up to
    // kMaxPooledHttpSessions (the vector's room is reserved at start). What waits here is
    // outside the memory cap: at most that many times the object (about 500 bytes) and four
    // kept buffers of HttpSession::kKeptBufferBytes, about 4.3 MiB per worker.
    static constexpr size_t kMaxPooledHttpSessions = 256;
    std::vector<std::unique_ptr<HttpSession>> http_pool_;
    std::unique_ptr<HttpSession> take_http_session(const flow::Flow& flow, int64_t ts_us) noexcept;
    void give_back_http_session(std::unique_ptr<HttpSession> session) noexcept;

    // The HTTP session whose further events next() reports.
    HttpSession* pending_ = nullptr;
    size_t pending_next_ = 0;
    bool pending_to_server_ = false;   // the session side being reported
    bool pending_other_side_ = false;  // then the other side's events
    bool pending_consume_ = true;      // mark the sides reported
    core::AppBuffers discarded_;       // what deliver() parses but never reports (not HTTP)
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
