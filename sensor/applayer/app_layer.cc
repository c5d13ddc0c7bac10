#include "sensor/applayer/app_layer.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <new>
#include <string_view>

#include "sensor/applayer/der_reader.h"
#include "sensor/applayer/tls_parser.h"

namespace sensor::applayer {
namespace {

constexpr uint16_t kDnsPort = 53;
constexpr uint16_t kLlmnrPort = 5355;

// flow.app_state of a flow we decided not to parse: no allocation, nothing to free. One tag
// per AppLayer::Proto value, so that a flow parsed no further keeps its recognised protocol.
constexpr size_t kProtoCount = 5;
char g_ignored_tags[kProtoCount];
void* const kIgnored = &g_ignored_tags[0];

void* ignored_tag(uint8_t proto) noexcept {
    return proto < kProtoCount ? &g_ignored_tags[proto] : kIgnored;
}
// The Proto value of an ignored flow's tag, or kProtoCount when state is not a tag.
size_t ignored_proto(const void* state) noexcept {
    for (size_t i = 0; i < kProtoCount; ++i) {
        if (state == &g_ignored_tags[i]) {
            return i;
        }
    }
    return kProtoCount;
}
bool is_ignored(const void* state) noexcept { return ignored_proto(state) < kProtoCount; }

// flow.app_state of a TLS flow whose ClientHello was read without state: nothing is held
// until the server speaks.
char g_tls_await_server_tag;
void* const kTlsAwaitServer = &g_tls_await_server_tag;

// A tag rather than a FlowState.
bool is_tag(const void* state) noexcept { return is_ignored(state) || state == kTlsAwaitServer; }

// Request methods that open an HTTP/1.x request (Suricata's detection list), followed by a
// space or tab; matched case-insensitively as Suricata does.
constexpr std::string_view kMethods[] = {
    "GET",    "PUT",    "POST",     "HEAD",        "TRACE",      "OPTIONS",   "CONNECT",
    "DELETE", "PATCH",  "PROPFIND", "PROPPATCH",   "MKCOL",      "COPY",      "MOVE",
    "LOCK",   "UNLOCK", "CHECKOUT", "UNCHECKOUT",  "CHECKIN",    "UPDATE",    "LABEL",
    "REPORT", "MERGE",  "SEARCH",   "MKWORKSPACE", "MKACTIVITY", "SUBSCRIBE", "NOTIFY",
};

// A status line ("HTTP/1.1 200 OK"): Suricata's pattern for HTTP seen from the server.
bool looks_like_http_response(std::span<const uint8_t> p) noexcept {
    constexpr std::string_view kVersion = "HTTP/";
    return p.size() > kVersion.size() && std::equal(kVersion.begin(), kVersion.end(), p.begin());
}

// No SYN seen either way: the flow was picked up mid-stream, and the flow table's guess at
// who is the client (the first packet's sender) may be wrong.
bool picked_up_midstream(const flow::Flow& flow) noexcept {
    return ((flow.tcp_flags[0] | flow.tcp_flags[1]) & decode::kTcpSyn) == 0;
}

bool looks_like_http_request(std::span<const uint8_t> p) noexcept {
    for (std::string_view m : kMethods) {
        if (p.size() <= m.size()) {
            continue;
        }
        bool same = true;
        for (size_t i = 0; i < m.size() && same; ++i) {
            same = std::toupper(p[i]) == m[i];
        }
        if (same && (p[m.size()] == ' ' || p[m.size()] == '\t')) {
            return true;
        }
    }
    return false;
}

struct StreamCursor {
    uint32_t next_seq = 0;
    bool known = false;
};

// The bytes of a TCP segment not delivered before, or gap = true when the segment starts
// past the next expected byte (data we never saw: the parser cannot resume).
std::span<const uint8_t> in_order(StreamCursor& c, const decode::DecodedPacket& pkt,
                                  bool& gap) noexcept {
    gap = false;
    const uint32_t seq = pkt.tcp_seq + ((pkt.tcp_flags & decode::kTcpSyn) != 0 ? 1u : 0u);
    if (!c.known) {
        c.known = true;
        c.next_seq = seq;
    }
    const auto ahead = static_cast<int32_t>(seq - c.next_seq);
    if (ahead > 0) {
        gap = true;
        return {};
    }
    const size_t seen = static_cast<size_t>(-static_cast<int64_t>(ahead));
    if (seen >= pkt.payload.size()) {
        return {};  // retransmission or keep-alive probe
    }
    std::span<const uint8_t> fresh = pkt.payload.subspan(seen);
    c.next_seq += static_cast<uint32_t>(fresh.size());
    return fresh;
}

// An empty string is "not present" (a ClientHello without SNI has no tls.sni buffer), not a
// present but empty buffer.
std::span<const uint8_t> view(const std::string& s) noexcept {
    if (s.empty()) {
        return {};
    }
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

struct AppLayer::FlowState {
    Proto proto = Proto::kNone;
    bool done = false;  // stop parsing; the state is freed on the flow's next packet
    size_t charged = 0;
    StreamCursor cursor[2];  // [0] to server, [1] to client
    // HTTP: the flow table's client is the server. Suricata reverses a flow picked up
    // mid-stream whose first data is a response; so do the parser's directions.
    bool reversed = false;
    // DNS: one transaction per query message id.
    uint64_t dns_transactions = 0;
    uint16_t dns_last_id = 0;
    // TLS: the ClientHello when it spans records or segments.
    TlsHelloAssembler tls;
    bool tls_client_done = false;
    bool tls_server_done = false;
    bool tls_hello_charged = false;  // kTlsMaxHelloBytes held for the ClientHello
    // TLS server side: handshake messages, JA3S, the certificate chain (into tls_server).
    TlsServerAssembler tls_server;
    bool has_ja3s = false;
    std::array<char, 33> ja3s_hash{};
    std::array<std::span<const uint8_t>, kTlsMaxChainCertificates> certs{};
    size_t cert_count = 0;
    std::unique_ptr<HttpSession> http;
    // Intrusive list of live states.
    FlowState* prev = nullptr;
    FlowState* next = nullptr;
};

AppLayer::AppLayer(const AppLayerConfig& config) : config_(config), http_(config.http) {
    budget_.cap = config.memcap_bytes;
    http_pool_.reserve(kMaxPooledHttpSessions);
    sni_.reserve(256);
    ja3_text_.reserve(1024);
    cert_subject_.reserve(512);
    cert_issuer_.reserve(512);
    cert_serial_.reserve(128);
}

AppLayer::~AppLayer() {
    while (states_ != nullptr) {
        destroy_state(states_);
    }
    while (free_state_memory_ != nullptr) {
        FreeStateMemory* next = free_state_memory_->next;
        ::operator delete(static_cast<void*>(free_state_memory_));
        free_state_memory_ = next;
    }
}

void* AppLayer::take_state_memory() noexcept {
    if (free_state_memory_ == nullptr) {
        return ::operator new(sizeof(FlowState), std::nothrow);
    }
    FreeStateMemory* block = free_state_memory_;
    free_state_memory_ = block->next;
    --pooled_states_;
    return block;
}

void AppLayer::give_back_state_memory(void* memory) noexcept {
    if (pooled_states_ >= kMaxPooledStates) {
        ::operator delete(memory);
        return;
    }
    static_assert(sizeof(FreeStateMemory) <= sizeof(FlowState));
    free_state_memory_ = new (memory) FreeStateMemory{free_state_memory_};
    ++pooled_states_;
}

std::unique_ptr<HttpSession> AppLayer::take_http_session(const flow::Flow& flow,
                                                         int64_t ts_us) noexcept {
    if (http_pool_.empty()) {
        return HttpSession::create(http_, stats_, budget_, flow.client_port, flow.server_port,
                                   ts_us);
    }
    std::unique_ptr<HttpSession> session = std::move(http_pool_.back());
    http_pool_.pop_back();
    if (!session->reopen(flow.client_port, flow.server_port, ts_us)) {
        return nullptr;
    }
    stats_.http_sessions_reused.add();
    return session;
}

void AppLayer::give_back_http_session(std::unique_ptr<HttpSession> session) noexcept {
    session->recycle();
    if (http_pool_.size() < kMaxPooledHttpSessions) {
        http_pool_.push_back(std::move(session));  // no allocation: the room is reserved
    }
}

AppLayer::Proto AppLayer::detect(const flow::Flow& flow, bool to_server,
                                 const decode::DecodedPacket& pkt) const noexcept {
    const bool tcp = pkt.ip_proto == decode::kIpProtoTcp;
    const bool udp = pkt.ip_proto == decode::kIpProtoUdp;
    if (!tcp && !udp) {
        return Proto::kNone;
    }
    // The classifier's verdict first, then content, then the DNS port: a request line on
    // port 53 is HTTP, as Suricata's pattern-based detection would say.
    const std::string_view app(flow.app.app_proto);
    if (app == "http") {
        return config_.http_enabled && tcp ? Proto::kHttp : Proto::kNone;
    }
    if (app == "tls") {
        return config_.tls_enabled && tcp ? Proto::kTls : Proto::kNone;
    }
    if (app == "dns") {
        return config_.dns_enabled ? Proto::kDns : Proto::kNone;
    }
    if (tcp && to_server && config_.http_enabled && looks_like_http_request(pkt.payload)) {
        return Proto::kHttp;
    }
    if (tcp && to_server && config_.http_enabled && picked_up_midstream(flow) &&
        looks_like_http_response(pkt.payload)) {
        return Proto::kHttp;  // parsed reversed (FlowState::reversed)
    }
    if (tcp && to_server && config_.tls_enabled && looks_like_client_hello(pkt.payload)) {
        return Proto::kTls;
    }
    if (config_.dns_enabled && (pkt.src_port == kDnsPort || pkt.dst_port == kDnsPort)) {
        return Proto::kDns;
    }
    // LLMNR is recognised (Suricata's probe: its port and a DNS message) but not parsed: rules
    // name it, and alerts describe their packet's message.
    if (config_.dns_enabled &&
        (app == "llmnr" || pkt.src_port == kLlmnrPort || pkt.dst_port == kLlmnrPort) &&
        (tcp || is_dns_message(pkt.payload))) {
        return Proto::kLlmnr;
    }
    return Proto::kNone;
}

AppLayer::FlowState* AppLayer::create_state(flow::Flow& flow, Proto proto,
                                            const decode::DecodedPacket& pkt,
                                            bool reserve_hello) noexcept {
    size_t charge = sizeof(FlowState);
    if (proto == Proto::kHttp) {
        if (stats_.http_parsers_active.load() >= config_.http.max_parsers) {
            stats_.http_parsers_refused.add();
            return nullptr;
        }
        charge += kHttpSessionEstimate;
    } else if (proto == Proto::kTls && reserve_hello) {
        charge += kTlsMaxHelloBytes;  // the most the ClientHello assembler may hold
    }
    if (!budget_.charge(charge)) {
        (proto == Proto::kHttp ? stats_.http_parsers_refused : stats_.memcap_refused).add();
        return nullptr;
    }
    void* memory = take_state_memory();
    if (memory == nullptr) {
        budget_.refund(charge);
        return nullptr;
    }
    auto* st = new (memory) FlowState;
    st->proto = proto;
    st->charged = charge;
    st->tls_hello_charged = proto == Proto::kTls && reserve_hello;
    if (proto == Proto::kHttp) {
        st->http = take_http_session(flow, pkt.ts_us);
        if (st->http == nullptr) {
            budget_.refund(charge);
            st->~FlowState();
            give_back_state_memory(st);
            stats_.http_parsers_refused.add();
            return nullptr;
        }
        stats_.http_parsers_created.add();
        stats_.http_parsers_active.add();
    }
    st->next = states_;
    if (states_ != nullptr) {
        states_->prev = st;
    }
    states_ = st;
    flow.app_state = st;
    publish_memory();
    return st;
}

void AppLayer::destroy_state(FlowState* st) noexcept {
    if (pending_ != nullptr && st->http.get() == pending_) {
        pending_ = nullptr;
    }
    if (tls_pending_ == st) {
        tls_pending_ = nullptr;
    }
    st->tls_server.refund_all(budget_);
    if (st->http != nullptr) {
        give_back_http_session(std::move(st->http));
        stats_.http_parsers_active.set(stats_.http_parsers_active.load() - 1);
    }
    if (st->prev != nullptr) {
        st->prev->next = st->next;
    } else {
        states_ = st->next;
    }
    if (st->next != nullptr) {
        st->next->prev = st->prev;
    }
    budget_.refund(st->charged);
    st->~FlowState();
    give_back_state_memory(st);
    publish_memory();
}

void AppLayer::ignore(flow::Flow& flow) noexcept {
    void* tag = flow.app_state == nullptr ? kIgnored : flow.app_state;
    if (flow.app_state == kTlsAwaitServer) {
        tag = ignored_tag(static_cast<uint8_t>(Proto::kTls));
    } else if (flow.app_state != nullptr && !is_ignored(flow.app_state)) {
        auto* st = static_cast<FlowState*>(flow.app_state);
        tag = ignored_tag(static_cast<uint8_t>(st->proto));
        destroy_state(st);
    }
    flow.app_state = tag;
}

void AppLayer::release(flow::Flow& flow) noexcept {
    if (flow.app_state != nullptr && !is_tag(flow.app_state)) {
        destroy_state(static_cast<FlowState*>(flow.app_state));
    }
    flow.app_state = nullptr;
}

std::string_view AppLayer::protocol(const flow::Flow& flow) const noexcept {
    if (flow.app_state == nullptr) {
        return {};
    }
    if (flow.app_state == kTlsAwaitServer) {
        return "tls";
    }
    const size_t tagged = ignored_proto(flow.app_state);
    const Proto proto = tagged < kProtoCount ? static_cast<Proto>(tagged)
                                             : static_cast<const FlowState*>(flow.app_state)->proto;
    switch (proto) {
        case Proto::kHttp:
            return "http";
        case Proto::kDns:
            return "dns";
        case Proto::kTls:
            return "tls";
        case Proto::kLlmnr:
            return "llmnr";
        case Proto::kNone:
            break;
    }
    return {};
}

bool AppLayer::describe_http(const flow::Flow& flow, uint64_t transaction_id,
                             core::HttpRecord& out) const {
    if (transaction_id == 0 || flow.app_state == nullptr || is_tag(flow.app_state)) {
        return false;
    }
    const auto* st = static_cast<const FlowState*>(flow.app_state);
    return st->proto == Proto::kHttp && st->http != nullptr &&
           st->http->describe(transaction_id - 1, out);
}

void AppLayer::publish_memory() noexcept { stats_.memory_bytes.set(budget_.used); }

void AppLayer::update(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                      core::AppBuffers& out, bool consume) noexcept {
    out.clear();
    pending_ = nullptr;
    tls_pending_ = nullptr;
    ingest(flow, to_server, pkt, out);
    // On arrival a packet reports what its own bytes advanced, then what the other side has
    // not reported yet (a response that the client's RST completed).
    if (out.transaction_id == 0) {
        report_http(flow, to_server, true, out, consume);
    }
}

void AppLayer::ingest(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                      core::AppBuffers& out) noexcept {
    if (is_ignored(flow.app_state)) {
        return;
    }
    if (flow.app_state == kTlsAwaitServer) {
        if (to_server || pkt.payload.empty()) {
            return;  // the client's data after its hello is encrypted or not parsed
        }
        FlowState* server = create_state(flow, Proto::kTls, pkt, false);
        if (server == nullptr) {
            flow.app_state = ignored_tag(static_cast<uint8_t>(Proto::kTls));
            return;
        }
        server->tls_client_done = true;
    }
    auto* st = static_cast<FlowState*>(flow.app_state);
    if (st == nullptr) {
        if (pkt.payload.empty()) {
            return;  // handshake or pure ACK: nothing to decide on yet
        }
        const Proto proto = detect(flow, to_server, pkt);
        if (proto == Proto::kNone) {
            // Keep looking while the classifier may still name a protocol we parse.
            if (flow.app.state != core::ClassifyState::kPending) {
                flow.app_state = kIgnored;
            }
            return;
        }
        if (proto == Proto::kLlmnr) {
            flow.app_state = ignored_tag(static_cast<uint8_t>(proto));
            return;
        }
        if (proto == Proto::kTls && to_server) {
            // Common case: the whole ClientHello in this segment, parsed without any state.
            std::span<const uint8_t> hello = whole_client_hello(pkt.payload);
            if (!hello.empty()) {
                if (!report_hello(hello, flow, out)) {
                    stats_.tls_parse_errors.add();
                }
                // The server's handshake is followed from its first data on.
                flow.app_state = kTlsAwaitServer;
                return;
            }
        }
        if (proto == Proto::kDns) {
            // DNS keeps no state for a flow until it has a query to count.
            update_dns(nullptr, pkt, out);
            if (out.transaction_id == 0) {
                return;
            }
        }
        st = create_state(flow, proto, pkt, proto == Proto::kTls && to_server);
        if (st == nullptr) {
            flow.app_state = ignored_tag(static_cast<uint8_t>(proto));
            return;
        }
        st->reversed = proto == Proto::kHttp && to_server && picked_up_midstream(flow) &&
                       looks_like_http_response(pkt.payload);
        if (proto == Proto::kDns) {
            st->dns_transactions = 1;
            st->dns_last_id = dns_question_.id;
            return;
        }
    }
    if (st->done) {
        // The views of the previous packet are no longer needed; events not reported yet
        // keep the state until they are.
        if (st->http == nullptr ||
            (!st->http->has_unreported(true) && !st->http->has_unreported(false))) {
            ignore(flow);
        }
        return;
    }
    switch (st->proto) {
        case Proto::kHttp:
            update_http(*st, to_server, pkt);
            break;
        case Proto::kDns:
            update_dns(st, pkt, out);
            break;
        case Proto::kTls:
            update_tls(flow, *st, to_server, pkt, out);
            break;
        case Proto::kLlmnr:  // never given state
        case Proto::kNone:
            break;
    }
}

bool AppLayer::reverses_flow(const flow::Flow& flow,
                             const decode::DecodedPacket& pkt) const noexcept {
    if (!config_.dns_enabled || pkt.ip_proto != decode::kIpProtoUdp || flow.pkts[0] != 0 ||
        flow.pkts[1] != 0) {
        return false;
    }
    bool dns_port = false;
    for (uint16_t port : kDnsFamilyPorts) {
        dns_port = dns_port || pkt.src_port == port || pkt.dst_port == port;
    }
    return dns_port && is_dns_response(pkt.payload);
}

bool AppLayer::next(core::AppBuffers& out) noexcept {
    out.clear();
    if (tls_pending_ != nullptr) {
        if (tls_pending_next_ < tls_pending_->cert_count) {
            fill_tls_server(*tls_pending_, tls_pending_next_++, out);
            return true;
        }
        tls_pending_ = nullptr;
    }
    return next_http(out);
}

AppLayer::FlowState* AppLayer::http_state(const flow::Flow& flow) const noexcept {
    if (flow.app_state == nullptr || is_tag(flow.app_state)) {
        return nullptr;
    }
    auto* st = static_cast<FlowState*>(flow.app_state);
    return st->proto == Proto::kHttp && st->http != nullptr ? st : nullptr;
}

bool AppLayer::report_http(flow::Flow& flow, bool to_server, bool other_side, core::AppBuffers& out,
                           bool consume) noexcept {
    FlowState* st = http_state(flow);
    if (st == nullptr) {
        return false;
    }
    pending_ = st->http.get();
    pending_to_server_ = to_server != st->reversed;  // the parser's side
    pending_next_ = 0;
    pending_other_side_ = other_side;
    pending_consume_ = consume;
    if (pending_->has_unreported(pending_to_server_)) {
        if (consume) {
            pending_->mark_reported(pending_to_server_);
        }
    } else {
        pending_next_ = SIZE_MAX;  // nothing on this side: straight to the other
    }
    return next_http(out);
}

bool AppLayer::next_http(core::AppBuffers& out) noexcept {
    while (pending_ != nullptr) {
        if (pending_next_ < pending_->event_count(pending_to_server_)) {
            pending_->fill(pending_next_++, pending_to_server_, out);
            return true;
        }
        if (!pending_other_side_ || !pending_->has_unreported(!pending_to_server_)) {
            pending_ = nullptr;
            break;
        }
        pending_other_side_ = false;
        pending_to_server_ = !pending_to_server_;
        pending_next_ = 0;
        if (pending_consume_) {
            pending_->mark_reported(pending_to_server_);
        }
    }
    return false;
}

bool AppLayer::wants_stream(const flow::Flow& flow, bool to_server,
                            const decode::DecodedPacket& pkt) const noexcept {
    if (pkt.ip_proto != decode::kIpProtoTcp || !config_.http_enabled) {
        return false;
    }
    if (flow.app_state == nullptr) {
        return !pkt.payload.empty() && detect(flow, to_server, pkt) == Proto::kHttp;
    }
    const FlowState* st = http_state(flow);
    return st != nullptr && !st->done;
}

bool AppLayer::keeps_stream(const flow::Flow& flow) const noexcept {
    if (flow.app_state == nullptr) {
        return true;  // the held bytes will decide
    }
    const FlowState* st = http_state(flow);
    return st != nullptr && !st->done;
}

void AppLayer::deliver(flow::Flow& flow, bool to_server, std::span<const uint8_t> data,
                       uint32_t seq, int64_t ts_us) noexcept {
    if (data.empty()) {
        return;
    }
    // The parsers read a segment; this one carries the delivered bytes, in the direction
    // they were sent.
    decode::DecodedPacket seg;
    seg.ip_proto = decode::kIpProtoTcp;
    seg.src_port = to_server ? flow.client_port : flow.server_port;
    seg.dst_port = to_server ? flow.server_port : flow.client_port;
    seg.tcp_flags = decode::kTcpAck;
    seg.tcp_seq = seq;
    seg.payload = data;
    seg.ts_us = ts_us;
    ingest(flow, to_server, seg, discarded_);
}

void AppLayer::end_stream(flow::Flow& flow, bool to_server, bool reset, int64_t ts_us) noexcept {
    FlowState* st = http_state(flow);
    if (st == nullptr || st->done) {
        return;
    }
    // As on arrival: the server closing (or either side resetting) ends a response
    // delimited by close.
    if (reset || to_server == st->reversed) {
        st->http->close(ts_us);
        st->done = true;
        publish_memory();
    }
}

void AppLayer::report(flow::Flow& flow, bool to_server, core::AppBuffers& out,
                      bool consume) noexcept {
    out.clear();
    pending_ = nullptr;
    tls_pending_ = nullptr;
    FlowState* st = http_state(flow);
    if (st == nullptr) {
        return;
    }
    if (st->done && !st->http->has_unreported(true) && !st->http->has_unreported(false)) {
        ignore(flow);  // nothing left to show: free the parser now
        return;
    }
    report_http(flow, to_server, false, out, consume);
}

bool AppLayer::has_unreported(const flow::Flow& flow, bool to_server) const noexcept {
    const FlowState* st = http_state(flow);
    return st != nullptr && st->http->has_unreported(to_server != st->reversed);
}

void AppLayer::update_http(FlowState& st, bool to_server,
                           const decode::DecodedPacket& pkt) noexcept {
    HttpSession& http = *st.http;
    http.begin_packet();
    to_server = to_server != st.reversed;  // from here on: the parser's direction
    StreamCursor& cursor = st.cursor[to_server ? 0 : 1];
    if (pkt.payload.empty() && (pkt.tcp_flags & decode::kTcpSyn) != 0) {
        cursor.known = true;
        cursor.next_seq = pkt.tcp_seq + 1;
    }
    if (!pkt.payload.empty()) {
        bool gap = false;
        std::span<const uint8_t> data = in_order(cursor, pkt, gap);
        if (gap) {
            stats_.stream_gaps.add();
            st.done = true;
            return;
        }
        if (!data.empty()) {
            switch (http.feed(to_server, data, pkt.ts_us)) {
                case HttpSession::Feed::kOk:
                    break;
                case HttpSession::Feed::kError:
                    stats_.http_parse_errors.add();
                    st.done = true;
                    break;
                case HttpSession::Feed::kStop:
                    stats_.http_stopped.add();
                    st.done = true;
                    break;
            }
        }
    }
    // The server closing (or either side resetting) ends a response delimited by close.
    if (!st.done && ((pkt.tcp_flags & decode::kTcpRst) != 0 ||
                     (!to_server && (pkt.tcp_flags & decode::kTcpFin) != 0))) {
        http.close(pkt.ts_us);
        st.done = true;
    }
    publish_memory();  // bodies may have grown
}

void AppLayer::update_dns(FlowState* st, const decode::DecodedPacket& pkt,
                          core::AppBuffers& out) noexcept {
    std::span<const uint8_t> msg = pkt.payload;
    if (pkt.ip_proto == decode::kIpProtoTcp) {
        if (msg.empty()) {
            return;
        }
        // One message per segment, starting at its first byte; messages split over segments
        // are not reassembled.
        const size_t len = msg.size() >= 2 ? static_cast<size_t>((msg[0] << 8) | msg[1]) : 0;
        if (msg.size() < 2 || len > msg.size() - 2) {
            stats_.dns_parse_errors.add();
            return;
        }
        msg = msg.subspan(2, len);
    }
    if (parse_dns_question(msg, dns_question_) != DnsParse::kOk) {
        stats_.dns_parse_errors.add();
        return;
    }
    if (dns_question_.is_response) {
        stats_.dns_responses.add();
        return;  // dns.query matches queries only (Suricata 7)
    }
    stats_.dns_queries.add();
    if (st == nullptr) {
        out.transaction_id = 1;  // the flow's first transaction; the caller creates the state
    } else {
        if (st->dns_transactions == 0 || dns_question_.id != st->dns_last_id) {
            ++st->dns_transactions;
            st->dns_last_id = dns_question_.id;
        }
        out.transaction_id = st->dns_transactions;
    }
    out.set(core::BufferKind::kDnsQuery, dns_question_.name_bytes());
}

void AppLayer::update_tls(flow::Flow& flow, FlowState& st, bool to_server,
                          const decode::DecodedPacket& pkt, core::AppBuffers& out) noexcept {
    if (pkt.payload.empty() || (to_server ? st.tls_client_done : st.tls_server_done)) {
        return;
    }
    bool gap = false;
    std::span<const uint8_t> data = in_order(st.cursor[to_server ? 0 : 1], pkt, gap);
    if (gap) {
        stats_.stream_gaps.add();
        ignore(flow);
        return;
    }
    if (data.empty()) {
        return;
    }
    bool holds_views = false;
    if (to_server) {
        if (!st.tls_hello_charged) {
            // The state was made for the server's side (it spoke first); the client's hello
            // needs its buffer now.
            if (!budget_.charge(kTlsMaxHelloBytes)) {
                stats_.memcap_refused.add();
                ignore(flow);
                return;
            }
            st.charged += kTlsMaxHelloBytes;
            st.tls_hello_charged = true;
        }
        switch (st.tls.feed(data)) {
            case TlsHelloAssembler::State::kNeedMore:
                return;
            case TlsHelloAssembler::State::kComplete:
                stats_.tls_hellos_reassembled.add();
                if (!report_hello(st.tls.message(), flow, out)) {
                    stats_.tls_parse_errors.add();
                }
                break;
            case TlsHelloAssembler::State::kTooLarge:
                stats_.tls_parse_errors.add();
                break;
            case TlsHelloAssembler::State::kNotHandshake:
                stats_.tls_without_hello.add();
                ignore(flow);  // not TLS as we know it: the server side is not followed either
                return;
        }
        // The views were copied into sni_ and ja3_hash_: the hello buffer can go now.
        st.tls_client_done = true;
        st.tls = TlsHelloAssembler{};
        if (st.tls_hello_charged) {
            budget_.refund(kTlsMaxHelloBytes);
            st.charged -= kTlsMaxHelloBytes;
            st.tls_hello_charged = false;
        }
        publish_memory();
    } else {
        holds_views = update_tls_server(flow, st, data, out);
    }
    if (st.tls_client_done && st.tls_server_done) {
        if (holds_views) {
            st.done = true;  // freed on the flow's next packet
        } else {
            ignore(flow);
        }
    }
}

bool AppLayer::update_tls_server(flow::Flow& flow, FlowState& st, std::span<const uint8_t> data,
                                 core::AppBuffers& out) noexcept {
    const TlsServerAssembler::State state = st.tls_server.feed(data, budget_);
    publish_memory();
    bool exposed = false;
    if (std::span<const uint8_t> msg = st.tls_server.take_server_hello(); !msg.empty()) {
        ServerHello hello;
        if (parse_server_hello(msg, hello) == TlsParse::kOk) {
            flow.app.tls_version[1] = hello_version(hello);
            ja3s_text(hello, ja3_text_);
            md5_hex(view(ja3_text_), st.ja3s_hash);
            st.has_ja3s = true;
            exposed = true;
        } else {
            stats_.tls_parse_errors.add();
        }
    }
    cert_parsed_ = false;
    if (std::span<const uint8_t> msg = st.tls_server.take_certificate(); !msg.empty()) {
        st.cert_count = split_certificates(msg, st.certs);
        CertificateView cert;
        if (st.cert_count > 0 && parse_certificate(st.certs[0], cert)) {
            const bool subject_ok = format_distinguished_name(cert.subject, cert_subject_);
            const bool issuer_ok = format_distinguished_name(cert.issuer, cert_issuer_);
            format_serial(cert.serial, cert_serial_);
            cert_parsed_ = subject_ok && issuer_ok;
        }
        if (!cert_parsed_) {
            stats_.tls_parse_errors.add();
        }
        exposed = exposed || st.cert_count > 0;
    }
    switch (state) {
        case TlsServerAssembler::State::kNeedMore:
            break;
        case TlsServerAssembler::State::kFinished:
            st.tls_server_done = true;
            break;
        case TlsServerAssembler::State::kNotTls:
            stats_.tls_parse_errors.add();
            st.tls_server_done = true;
            break;
        case TlsServerAssembler::State::kOverBudget:
            stats_.memcap_refused.add();
            st.tls_server_done = true;
            break;
    }
    if (!exposed) {
        return false;
    }
    fill_tls_server(st, 0, out);
    if (st.cert_count > 1) {
        tls_pending_ = &st;
        tls_pending_next_ = 1;
    }
    return true;  // JA3S and the certificates are held by st
}

void AppLayer::fill_tls_server(const FlowState& st, size_t cert,
                               core::AppBuffers& out) const noexcept {
    out.transaction_id = 1;  // one TLS transaction per flow, as in Suricata
    if (st.has_ja3s) {
        out.set(
            core::BufferKind::kJa3sHash,
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(st.ja3s_hash.data()), 32));
    }
    if (cert >= st.cert_count) {
        return;
    }
    if (cert_parsed_) {
        out.set(core::BufferKind::kTlsCertSubject, view(cert_subject_));
        out.set(core::BufferKind::kTlsCertIssuer, view(cert_issuer_));
        out.set(core::BufferKind::kTlsCertSerial, view(cert_serial_));
    }
    out.set(core::BufferKind::kTlsCerts, st.certs[cert]);
}

bool AppLayer::report_hello(std::span<const uint8_t> msg, flow::Flow& flow,
                            core::AppBuffers& out) noexcept {
    ClientHello hello;
    if (parse_client_hello(msg, hello) != TlsParse::kOk) {
        return false;
    }
    flow.app.tls_version[0] = hello_version(hello);
    stats_.tls_client_hellos.add();
    sni_.assign(reinterpret_cast<const char*>(hello.sni.data()), hello.sni.size());
    ja3_text(hello, ja3_text_);
    md5_hex(view(ja3_text_), ja3_hash_);
    out.transaction_id = 1;
    out.set(core::BufferKind::kTlsSni, view(sni_));
    out.set(core::BufferKind::kJa3Hash,
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(ja3_hash_.data()), 32));
    out.set(core::BufferKind::kJa3String, view(ja3_text_));
    return true;
}

}  // namespace sensor::applayer
