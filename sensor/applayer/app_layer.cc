#include "sensor/applayer/app_layer.h"

#include <algorithm>
#include <cctype>
#include <memory>
#include <new>
#include <string_view>

#include "sensor/applayer/tls_parser.h"

namespace sensor::applayer {
namespace {

constexpr uint16_t kDnsPort = 53;

// flow.app_state of a flow we decided not to parse: no allocation, nothing to free.
char g_ignored_tag;
void* const kIgnored = &g_ignored_tag;

// Request methods that open an HTTP/1.x request (Suricata's detection list), followed by a
// space or tab; matched case-insensitively as Suricata does.
constexpr std::string_view kMethods[] = {
    "GET",    "PUT",    "POST",     "HEAD",        "TRACE",      "OPTIONS",   "CONNECT",
    "DELETE", "PATCH",  "PROPFIND", "PROPPATCH",   "MKCOL",      "COPY",      "MOVE",
    "LOCK",   "UNLOCK", "CHECKOUT", "UNCHECKOUT",  "CHECKIN",    "UPDATE",    "LABEL",
    "REPORT", "MERGE",  "SEARCH",   "MKWORKSPACE", "MKACTIVITY", "SUBSCRIBE", "NOTIFY",
};

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

std::span<const uint8_t> view(const std::string& s) noexcept {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

struct AppLayer::FlowState {
    Proto proto = Proto::kNone;
    bool done = false;  // stop parsing; the state is freed on the flow's next packet
    size_t charged = 0;
    StreamCursor cursor[2];  // [0] to server, [1] to client
    // DNS: one transaction per query message id.
    uint64_t dns_transactions = 0;
    uint16_t dns_last_id = 0;
    // TLS: the ClientHello when it spans records or segments.
    TlsHelloAssembler tls;
    std::unique_ptr<HttpSession> http;
    // Intrusive list of live states.
    FlowState* prev = nullptr;
    FlowState* next = nullptr;
};

AppLayer::AppLayer(const AppLayerConfig& config) : config_(config), http_(config.http) {
    budget_.cap = config.memcap_bytes;
    sni_.reserve(256);
    ja3_text_.reserve(1024);
}

AppLayer::~AppLayer() {
    while (states_ != nullptr) {
        destroy_state(states_);
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
    if (tcp && to_server && config_.tls_enabled && looks_like_client_hello(pkt.payload)) {
        return Proto::kTls;
    }
    if (config_.dns_enabled && (pkt.src_port == kDnsPort || pkt.dst_port == kDnsPort)) {
        return Proto::kDns;
    }
    return Proto::kNone;
}

AppLayer::FlowState* AppLayer::create_state(flow::Flow& flow, Proto proto,
                                            const decode::DecodedPacket& pkt) noexcept {
    size_t charge = sizeof(FlowState);
    if (proto == Proto::kHttp) {
        if (stats_.http_parsers_active.load() >= config_.http.max_parsers) {
            stats_.http_parsers_refused.add();
            return nullptr;
        }
        charge += kHttpSessionEstimate;
    } else if (proto == Proto::kTls) {
        charge += kTlsMaxHelloBytes;  // the most the assembler may hold
    }
    if (!budget_.charge(charge)) {
        (proto == Proto::kHttp ? stats_.http_parsers_refused : stats_.memcap_refused).add();
        return nullptr;
    }
    auto* st = new (std::nothrow) FlowState;
    if (st == nullptr) {
        budget_.refund(charge);
        return nullptr;
    }
    st->proto = proto;
    st->charged = charge;
    if (proto == Proto::kHttp) {
        st->http = HttpSession::create(http_, stats_, budget_, flow.client_port, flow.server_port,
                                       pkt.ts_us);
        if (st->http == nullptr) {
            budget_.refund(charge);
            delete st;
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
    if (st->http != nullptr) {
        st->http.reset();
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
    delete st;
    publish_memory();
}

void AppLayer::ignore(flow::Flow& flow) noexcept {
    if (flow.app_state != nullptr && flow.app_state != kIgnored) {
        destroy_state(static_cast<FlowState*>(flow.app_state));
    }
    flow.app_state = kIgnored;
}

void AppLayer::release(flow::Flow& flow) noexcept {
    if (flow.app_state != nullptr && flow.app_state != kIgnored) {
        destroy_state(static_cast<FlowState*>(flow.app_state));
    }
    flow.app_state = nullptr;
}

void AppLayer::publish_memory() noexcept { stats_.memory_bytes.set(budget_.used); }

void AppLayer::update(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                      core::AppBuffers& out) noexcept {
    out.clear();
    pending_ = nullptr;
    if (flow.app_state == kIgnored) {
        return;
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
        if (proto == Proto::kTls && to_server) {
            // Common case: the whole ClientHello in this segment, parsed without any state.
            std::span<const uint8_t> hello = whole_client_hello(pkt.payload);
            if (!hello.empty()) {
                if (!report_hello(hello, out)) {
                    stats_.tls_parse_errors.add();
                }
                flow.app_state = kIgnored;
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
        st = create_state(flow, proto, pkt);
        if (st == nullptr) {
            flow.app_state = kIgnored;
            return;
        }
        if (proto == Proto::kDns) {
            st->dns_transactions = 1;
            st->dns_last_id = dns_question_.id;
            return;
        }
    }
    if (st->done) {
        ignore(flow);  // the views of the previous packet are no longer needed
        return;
    }
    switch (st->proto) {
        case Proto::kHttp:
            update_http(*st, to_server, pkt, out);
            break;
        case Proto::kDns:
            update_dns(st, pkt, out);
            break;
        case Proto::kTls:
            update_tls(flow, *st, to_server, pkt, out);
            break;
        case Proto::kNone:
            break;
    }
}

bool AppLayer::next(core::AppBuffers& out) noexcept {
    out.clear();
    if (pending_ == nullptr || pending_next_ >= pending_->event_count()) {
        return false;
    }
    pending_->fill(pending_next_++, pending_to_server_, out);
    return true;
}

void AppLayer::update_http(FlowState& st, bool to_server, const decode::DecodedPacket& pkt,
                           core::AppBuffers& out) noexcept {
    HttpSession& http = *st.http;
    http.begin_packet();
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
    if (http.event_count() > 0) {
        http.fill(0, to_server, out);
        pending_ = &http;
        pending_next_ = 1;
        pending_to_server_ = to_server;
    }
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
    if (!to_server || pkt.payload.empty()) {
        return;  // only the client's first handshake message is parsed
    }
    bool gap = false;
    std::span<const uint8_t> data = in_order(st.cursor[0], pkt, gap);
    if (gap) {
        stats_.stream_gaps.add();
        ignore(flow);
        return;
    }
    if (data.empty()) {
        return;
    }
    switch (st.tls.feed(data)) {
        case TlsHelloAssembler::State::kNeedMore:
            return;
        case TlsHelloAssembler::State::kComplete:
            stats_.tls_hellos_reassembled.add();
            if (!report_hello(st.tls.message(), out)) {
                stats_.tls_parse_errors.add();
            }
            break;
        case TlsHelloAssembler::State::kTooLarge:
            stats_.tls_parse_errors.add();
            break;
        case TlsHelloAssembler::State::kNotHandshake:
            stats_.tls_without_hello.add();
            break;
    }
    // The views were copied into sni_ and ja3_hash_, so the state can go now.
    ignore(flow);
}

bool AppLayer::report_hello(std::span<const uint8_t> msg, core::AppBuffers& out) noexcept {
    ClientHello hello;
    if (parse_client_hello(msg, hello) != TlsParse::kOk) {
        return false;
    }
    stats_.tls_client_hellos.add();
    sni_.assign(reinterpret_cast<const char*>(hello.sni.data()), hello.sni.size());
    ja3_text(hello, ja3_text_);
    md5_hex(view(ja3_text_), ja3_hash_);
    out.transaction_id = 1;
    out.set(core::BufferKind::kTlsSni, view(sni_));
    out.set(core::BufferKind::kJa3Hash,
            std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(ja3_hash_.data()), 32));
    return true;
}

}  // namespace sensor::applayer
