#include "sensor/detect/detector.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <utility>

#include "sensor/core/check.h"

namespace sensor::detect {

namespace {

using rules::BufferId;
using rules::FlowbitOp;

bool has_buffer(const core::AppBuffers* b, core::BufferKind kind) noexcept {
    return b != nullptr && !b->get(kind).empty();
}

// App-layer buffers that show a flow speaks a protocol even before (or without) the
// classifier naming it.
bool buffers_imply(std::string_view proto, const core::AppBuffers* b) noexcept {
    using core::BufferKind;
    if (b == nullptr || !b->any) {
        return false;
    }
    if (proto == "http") {
        return b->any_between(BufferKind::kHttpUri, BufferKind::kHttpResponseBody);
    }
    if (proto == "dns") {
        return has_buffer(b, BufferKind::kDnsQuery);
    }
    if (proto == "tls") {
        static_assert(static_cast<size_t>(BufferKind::kTlsCerts) + 1 == core::kBufferKindCount,
                      "the TLS kinds end the list");
        return b->any_between(BufferKind::kTlsSni, BufferKind::kTlsCerts);
    }
    return false;
}

// Suricata's AppProtoEquals: "http" covers HTTP/1 and HTTP/2, "http1" only HTTP/1 (our
// flows name HTTP/1 "http").
bool app_proto_equals(std::string_view flow_proto, std::string_view name) noexcept {
    if (name == "http") {
        return flow_proto == "http" || flow_proto == "http2";
    }
    if (name == "http1") {
        return flow_proto == "http";
    }
    return flow_proto == name;
}

// One app-layer-protocol check against one protocol name ("" unknown).
bool app_proto_check(const rules::AppProtoCheck& c, std::string_view proto) noexcept {
    if (c.name == "unknown") {
        return proto.empty();
    }
    // A negated check does not match the unknown state either (Suricata).
    return !proto.empty() && app_proto_equals(proto, c.name) != c.negated;
}

// app-layer-protocol. The flow's protocol: the classifier's name, else what the app-layer
// buffers of this packet show; "" while unknown, "failed" when classification gave up. Each
// direction's protocol defaults to it.
bool app_protocols_match(const rules::Rule& rule, const PacketContext& ctx) noexcept {
    std::string_view flow = ctx.app_proto;
    if (flow.empty() || flow == "failed") {
        for (std::string_view p : {"http", "dns", "tls"}) {
            if (buffers_imply(p, ctx.buffers)) {
                flow = p;
                break;
            }
        }
    }
    const std::string_view ts = ctx.app_proto_to_server.empty() ? flow : ctx.app_proto_to_server;
    const std::string_view tc = ctx.app_proto_to_client.empty() ? flow : ctx.app_proto_to_client;
    using Mode = rules::AppProtoCheck::Mode;
    for (const rules::AppProtoCheck& c : rule.app_protocols) {
        bool ok = false;
        switch (c.mode) {
            case Mode::kDirection:
                ok = app_proto_check(c, ctx.to_server ? ts : tc);
                break;
            case Mode::kToServer:
                ok = app_proto_check(c, ts);
                break;
            case Mode::kToClient:
                ok = app_proto_check(c, tc);
                break;
            case Mode::kEither:
                if (c.negated) {
                    // Suricata negates "either direction is it": neither direction may be it.
                    ok = app_proto_check(c, ts) && app_proto_check(c, tc);
                } else {
                    ok = app_proto_check(c, ts) || app_proto_check(c, tc);
                }
                break;
            case Mode::kFinal:
            case Mode::kOriginal:  // no protocol change is followed: the original is the final
                ok = app_proto_check(c, flow);
                break;
        }
        if (!ok) {
            return false;
        }
    }
    return true;
}

bool proto_matches(const rules::Rule& rule, const PacketContext& ctx) noexcept {
    if (ctx.pkt->is_arp) {
        return rule.proto == rules::Protocol::kArp;
    }
    const uint8_t ip_proto = ctx.pkt->ip_proto;
    switch (rule.proto) {
        case rules::Protocol::kIp:
            return true;
        case rules::Protocol::kTcp:
            return ip_proto == decode::kIpProtoTcp;
        case rules::Protocol::kUdp:
            return ip_proto == decode::kIpProtoUdp;
        case rules::Protocol::kIcmp:
            return ip_proto == decode::kIpProtoIcmp || ip_proto == decode::kIpProtoIcmpv6;
        case rules::Protocol::kSctp:
            return ip_proto == decode::kIpProtoSctp;
        case rules::Protocol::kApp:
            return (ip_proto == decode::kIpProtoTcp || ip_proto == decode::kIpProtoUdp) &&
                   (ctx.app_proto == rule.app_proto || buffers_imply(rule.app_proto, ctx.buffers));
        case rules::Protocol::kArp:
            return false;
    }
    return false;
}

bool addresses_match(const rules::Rule& rule, const decode::DecodedPacket& pkt,
                     bool ports) noexcept {
    if (rule.src.matches(pkt.src) && rule.dst.matches(pkt.dst) &&
        (!ports || (rule.src_port.matches(pkt.src_port) && rule.dst_port.matches(pkt.dst_port)))) {
        return true;
    }
    return rule.bidirectional && rule.src.matches(pkt.dst) && rule.dst.matches(pkt.src) &&
           (!ports || (rule.src_port.matches(pkt.dst_port) && rule.dst_port.matches(pkt.src_port)));
}

// Snort 3 `service`: on a flow speaking one of the rule's services the header ports do not
// matter; otherwise the header decides.
bool header_matches(const rules::Rule& rule, const PacketContext& ctx) noexcept {
    if (addresses_match(rule, *ctx.pkt, true)) {
        return true;
    }
    if (rule.services.empty() || ctx.app_proto.empty()) {
        return false;
    }
    for (const std::string& s : rule.services) {
        if (s == ctx.app_proto) {
            return addresses_match(rule, *ctx.pkt, false);
        }
    }
    return false;
}

// The payload needs bytes; an app-layer buffer only needs to be present. A span with a data
// pointer and no bytes is a buffer that exists but is empty (a `User-Agent:` header without a
// value): Suricata inspects it, so bsize:0 and negated contents match it. A null span is a
// buffer this packet does not have.
bool inspectable(std::span<const uint8_t> bytes, bool payload) noexcept {
    return payload ? !bytes.empty() : bytes.data() != nullptr;
}

bool inspects_app_layer(const rules::Rule& rule) noexcept {
    return std::any_of(rule.lists.begin(), rule.lists.end(),
                       [](const rules::ItemList& l) { return !l.buffer.is_payload(); });
}

bool inspects_payload(const rules::Rule& rule) noexcept {
    return std::any_of(rule.lists.begin(), rule.lists.end(),
                       [](const rules::ItemList& l) { return l.buffer.is_payload(); });
}

bool is_icmp(uint8_t proto) noexcept {
    return proto == decode::kIpProtoIcmp || proto == decode::kIpProtoIcmpv6;
}

uint16_t be16_at(std::span<const uint8_t> b, size_t at) noexcept {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

// The fixed part of the packet's innermost IPv4 header; empty for IPv6.
std::span<const uint8_t> ipv4_header(const decode::DecodedPacket& pkt) noexcept {
    if (pkt.is_v6() || pkt.ip.size() < 20 || (pkt.ip[0] >> 4) != 4) {
        return {};
    }
    return pkt.ip.first(20);
}

// The 8-byte ICMP or ICMPv6 header when its type carries an identifier and a sequence number
// (the types Suricata's icmp_id and icmp_seq look at); empty otherwise. The decoder leaves
// the message body as payload, right behind that header at the end of ip.
std::span<const uint8_t> icmp_id_header(const decode::DecodedPacket& pkt) noexcept {
    const uint8_t t = pkt.icmp_type;
    const bool has_id = pkt.ip_proto == decode::kIpProtoIcmp
                            ? t == 0 || t == 8 || (t >= 13 && t <= 18)
                            : pkt.ip_proto == decode::kIpProtoIcmpv6 && (t == 128 || t == 129);
    if (!has_id || pkt.l4_malformed || pkt.ip.size() < pkt.payload.size() + 8) {
        return {};
    }
    const size_t at = pkt.ip.size() - pkt.payload.size() - 8;
    if (pkt.ip.data() + at + 8 != pkt.payload.data()) {
        return {};
    }
    return pkt.ip.subspan(at, 8);
}

// The value a header FieldCheck compares; nullopt when the packet has no such field.
std::optional<uint64_t> header_field(rules::FieldCheck::Field field,
                                     const decode::DecodedPacket& pkt) noexcept {
    using Field = rules::FieldCheck::Field;
    const bool tcp = pkt.ip_proto == decode::kIpProtoTcp && !pkt.l4_malformed;
    switch (field) {
        case Field::kTtl:
            return pkt.ttl;
        case Field::kIpProto:
            return pkt.ip_proto;
        case Field::kTos:
        case Field::kIpId: {
            const std::span<const uint8_t> h = ipv4_header(pkt);
            if (h.empty()) {
                return std::nullopt;
            }
            return field == Field::kTos ? uint64_t{h[1]} : uint64_t{be16_at(h, 4)};
        }
        case Field::kTcpSeq:
            return tcp ? std::optional<uint64_t>(pkt.tcp_seq) : std::nullopt;
        case Field::kTcpAck:
            return tcp ? std::optional<uint64_t>(pkt.tcp_ack) : std::nullopt;
        case Field::kTcpWindow:
            return tcp ? std::optional<uint64_t>(pkt.tcp_window) : std::nullopt;
        case Field::kIcmpId:
        case Field::kIcmpSeq: {
            const std::span<const uint8_t> h = icmp_id_header(pkt);
            if (h.empty()) {
                return std::nullopt;
            }
            return be16_at(h, field == Field::kIcmpId ? 4 : 6);
        }
        case Field::kStreamServer:
        case Field::kStreamClient:
        case Field::kStreamBoth:
        case Field::kStreamEither:
            break;
    }
    return std::nullopt;
}

bool field_matches(const rules::FieldCheck& c, const PacketContext& ctx) noexcept {
    using Field = rules::FieldCheck::Field;
    const decode::DecodedPacket& pkt = *ctx.pkt;
    switch (c.field) {
        case Field::kStreamServer:
        case Field::kStreamClient:
        case Field::kStreamBoth:
        case Field::kStreamEither: {
            // Suricata's stream_size needs the TCP session of the packet's flow.
            if (ctx.flow_state == nullptr || pkt.ip_proto != decode::kIpProtoTcp ||
                pkt.l4_malformed) {
                return false;
            }
            const uint16_t* size = ctx.flow_state->stream_size;  // [0] client, [1] server
            const bool client = c.check.matches(size[0]);
            const bool server = c.check.matches(size[1]);
            return c.field == Field::kStreamClient   ? client
                   : c.field == Field::kStreamServer ? server
                   : c.field == Field::kStreamBoth   ? client && server
                                                     : client || server;
        }
        default: {
            const std::optional<uint64_t> v = header_field(c.field, pkt);
            return v && c.check.matches(*v);
        }
    }
}

// The TCP stream bookkeeping stream_size reads, done before the packet is inspected as
// Suricata does. A side's initial sequence number is its SYN's, or one before its first
// segment on a flow picked up mid-stream, where an acknowledgement also fixes the other
// side's at one before the acknowledged number. The size is the furthest sequence number
// reached: retransmissions do not grow it, RST segments are not counted, nor are FIN flags.
void track_stream(flow::FlowDetectState& s, const decode::DecodedPacket& pkt,
                  bool to_server) noexcept {
    if (pkt.ip_proto != decode::kIpProtoTcp || pkt.l4_malformed ||
        (pkt.tcp_flags & decode::kTcpRst) != 0) {
        return;
    }
    const size_t side = to_server ? 0 : 1;
    const size_t other = 1 - side;
    const bool syn = (pkt.tcp_flags & decode::kTcpSyn) != 0;
    if ((s.stream_known & (1u << side)) == 0) {
        s.stream_known = static_cast<uint8_t>(s.stream_known | (1u << side));
        s.stream_isn[side] = syn ? pkt.tcp_seq : pkt.tcp_seq - 1;
    }
    if ((pkt.tcp_flags & decode::kTcpAck) != 0 && (s.stream_known & (1u << other)) == 0) {
        s.stream_known = static_cast<uint8_t>(s.stream_known | (1u << other));
        s.stream_isn[other] = pkt.tcp_ack - 1;
        s.stream_size[other] = 1;
    }
    const uint32_t rel = pkt.tcp_seq - s.stream_isn[side];
    if (rel >= 0x80000000u) {
        return;  // before the initial sequence number: nothing new
    }
    const uint64_t end = uint64_t{rel} + (syn ? 1u : 0u) + pkt.payload.size();
    s.stream_size[side] = static_cast<uint16_t>(
        std::max<uint64_t>(s.stream_size[side], std::min<uint64_t>(end, UINT16_MAX)));
}

bool bit_is_set(const flow::FlowDetectState& s, uint16_t id) noexcept {
    for (uint8_t i = 0; i < s.flowbit_count; ++i) {
        if (s.flowbits[i] == id) {
            return true;
        }
    }
    return false;
}

void clear_bit(flow::FlowDetectState& s, uint16_t id) noexcept {
    for (uint8_t i = 0; i < s.flowbit_count; ++i) {
        if (s.flowbits[i] == id) {
            s.flowbits[i] = s.flowbits[s.flowbit_count - 1];
            --s.flowbit_count;
            return;
        }
    }
}

// False when the flow's flowbit slots are full.
bool set_bit(flow::FlowDetectState& s, uint16_t id) noexcept {
    if (bit_is_set(s, id)) {
        return true;
    }
    if (s.flowbit_count >= flow::FlowDetectState::kMaxFlowbits) {
        return false;
    }
    s.flowbits[s.flowbit_count++] = id;
    return true;
}

// The bit an xbits keyword names on this packet: its source or destination host, or the
// pair of both.
XbitTable::Key xbit_key(const rules::XbitOp& op, const decode::DecodedPacket& pkt) noexcept {
    switch (op.track) {
        case rules::XbitOp::Track::kIpSrc:
            return XbitTable::host_key(op.name_hash, pkt.src);
        case rules::XbitOp::Track::kIpDst:
            return XbitTable::host_key(op.name_hash, pkt.dst);
        case rules::XbitOp::Track::kIpPair:
            break;
    }
    return XbitTable::pair_key(op.name_hash, pkt.src, pkt.dst);
}

}  // namespace

Detector::Detector(std::shared_ptr<const SignatureDb> db, size_t threshold_entries)
    : Detector(std::move(db), std::make_shared<ThresholdTable>(threshold_entries)) {}

Detector::Detector(std::shared_ptr<const SignatureDb> db,
                   std::shared_ptr<ThresholdTable> thresholds, std::shared_ptr<XbitTable> xbits)
    : db_(std::move(db)),
      buffer_(std::make_unique<uint8_t[]>(kMaxPrefix + kMaxPayload)),
      thresholds_(std::move(thresholds)),
      xbits_(xbits != nullptr ? std::move(xbits)
                              : std::make_shared<XbitTable>(kDefaultXbitEntries)) {
    SENSOR_CHECK(db_ != nullptr, "detector needs a signature db");
    SENSOR_CHECK(thresholds_ != nullptr, "detector needs a threshold table");
    hits_.reserve(db_->size());
    hit_flag_.assign(db_->size(), 0);
    for (const hs_database_t* hdb : db_->compiled().databases()) {
        // One scratch grows to serve every database.
        hs_error_t rc = hs_alloc_scratch(hdb, &scratch_);
        SENSOR_CHECK(rc == HS_SUCCESS, "hs_alloc_scratch failed");
    }
    const rules::CompiledRules& compiled = db_->compiled();
    const size_t payload_slot = BufferId{}.slot();
    static_assert(rules::kBufferSlots <= 256, "app_slots_ holds slots as bytes");
    for (size_t slot = 0; slot < rules::kBufferSlots; ++slot) {
        if (BufferId::from_slot(slot).dotprefix && db_->slot_used(slot)) {
            transformed_[slot] = std::make_unique<uint8_t[]>(kMaxTransform + 1);
        }
        if (slot != payload_slot &&
            (compiled.database(slot) != nullptr || !compiled.slot_candidates(slot).empty())) {
            app_slots_.push_back(static_cast<uint8_t>(slot));
        }
    }
    memos_.resize(app_slots_.size() + 2);
    memo_bytes_ = std::make_unique<uint8_t[]>(memos_.size() * kMemoBytes);
}

Detector::~Detector() {
    if (scratch_ != nullptr) {
        hs_free_scratch(scratch_);
    }
}

int Detector::on_match(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
                       unsigned int /*flags*/, void* context) {
    static_cast<Detector*>(context)->add_candidate(id);
    return 0;  // keep scanning: other rules' patterns may follow
}

int Detector::on_memo_match(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
                            unsigned int /*flags*/, void* context) {
    auto* self = static_cast<Detector*>(context);
    self->add_candidate(id);
    ScanMemo& memo = *self->recording_;
    if (memo.hit_count < kMemoHits) {
        memo.hits[memo.hit_count] = id;
    }
    ++memo.hit_count;
    return 0;
}

void Detector::add_candidate(uint32_t rank) noexcept {
    if (rank < hit_flag_.size() && hit_flag_[rank] == 0) {
        hit_flag_[rank] = 1;
        hits_.push_back(rank);  // within the capacity reserved for every rule
    }
}

Detector::SlotBuffer Detector::slot_buffer(size_t slot, const PacketContext& ctx) noexcept {
    if (slot_gen_[slot] == gen_) {
        return slots_[slot];
    }
    slot_gen_[slot] = gen_;
    SlotBuffer out;
    const BufferId id = BufferId::from_slot(slot);
    if (id.dotprefix) {
        SlotBuffer plain = slot_buffer(BufferId{id.kind, false}.slot(), ctx);
        uint8_t* storage = transformed_[slot].get();
        if (!plain.bytes.empty() && storage != nullptr) {
            if (plain.bytes.size() > kMaxTransform) {
                stats_.transform_truncated.add();
            } else {
                storage[0] = '.';
                std::memcpy(storage + 1, plain.bytes.data(), plain.bytes.size());
                out.bytes = {storage, plain.bytes.size() + 1};
            }
        }
    } else if (id.kind == BufferId::kPayload) {
        out = slots_[slot];  // set by match() before any lookup
        slot_gen_[slot] = gen_;
        return out;
    } else if (ctx.buffers != nullptr) {
        if (id.kind == BufferId::kFileData) {
            out.bytes = ctx.buffers->get(ctx.to_server ? core::BufferKind::kHttpRequestBody
                                                       : core::BufferKind::kHttpResponseBody);
        } else {
            out.bytes = ctx.buffers->get(static_cast<core::BufferKind>(id.kind));
        }
    }
    slots_[slot] = out;
    return out;
}

void Detector::scan(const hs_database_t* hdb, std::span<const uint8_t> bytes,
                    core::Counter* scans) noexcept {
    if (scans != nullptr) {
        scans->add();
    }
    const size_t before = hits_.size();
    const hs_error_t rc =
        hs_scan(hdb, reinterpret_cast<const char*>(bytes.data()),
                static_cast<unsigned int>(bytes.size()), 0, scratch_, on_match, this);
    if (rc != HS_SUCCESS) {
        stats_.scan_errors.add();
    }
    stats_.prefilter_hits.add(hits_.size() - before);
}

void Detector::scan_buffer(size_t index, const hs_database_t* hdb,
                           std::span<const uint8_t> bytes) noexcept {
    stats_.buffer_scans.add();
    const size_t before = hits_.size();
    ScanMemo& memo = memos_[index];
    uint8_t* stored = memo_bytes_.get() + index * kMemoBytes;
    if (memo.valid && memo.size == bytes.size() &&
        std::memcmp(stored, bytes.data(), bytes.size()) == 0) {
        stats_.buffers_reused.add();
        for (uint32_t i = 0; i < memo.hit_count; ++i) {
            add_candidate(memo.hits[i]);
        }
        stats_.prefilter_hits.add(hits_.size() - before);
        return;
    }
    memo.valid = false;
    memo.hit_count = 0;
    recording_ = &memo;
    const hs_error_t rc =
        hs_scan(hdb, reinterpret_cast<const char*>(bytes.data()),
                static_cast<unsigned int>(bytes.size()), 0, scratch_, on_memo_match, this);
    recording_ = nullptr;
    if (rc != HS_SUCCESS) {
        stats_.scan_errors.add();
    } else if (bytes.size() <= kMemoBytes && memo.hit_count <= kMemoHits) {
        std::memcpy(stored, bytes.data(), bytes.size());
        memo.size = bytes.size();
        memo.valid = true;
    }
    stats_.prefilter_hits.add(hits_.size() - before);
}

void Detector::match(const decode::DecodedPacket& pkt, std::string_view app_proto,
                     std::span<const uint8_t> stream_prefix, MatchList& out) noexcept {
    PacketContext ctx;
    ctx.pkt = &pkt;
    ctx.app_proto = app_proto;
    ctx.stream_prefix = stream_prefix;
    ctx.flow_known = false;
    match(ctx, out);
}

void Detector::match(PacketContext& ctx, MatchList& out) noexcept {
    out.count = 0;
    out.overflow = 0;
    const decode::DecodedPacket& pkt = *ctx.pkt;
    if (ctx.flow_state != nullptr && ctx.flow_state->pass) {
        stats_.passed_packets.add();
        return;
    }
    if (ctx.flow_state != nullptr && !ctx.extra_transaction && !ctx.payload_only) {
        track_stream(*ctx.flow_state, pkt, ctx.to_server);
    }

    // The payload slot: prefix + payload in one buffer, base = prefix length.
    ++gen_;
    std::span<const uint8_t> payload = ctx.payload_from_stream ? ctx.stream_payload : pkt.payload;
    if (ctx.flow_state != nullptr && !payload.empty() &&
        (ctx.flow_state->payload_flags & flow::FlowDetectState::kNoPayloadInspection) != 0) {
        // Encrypted bytes: payload keywords see no payload, as in Suricata; header-only rules,
        // dsize and app-layer buffers are still evaluated.
        stats_.payload_uninspected.add();
        payload = {};
    }
    std::span<const uint8_t> stream_prefix = ctx.stream_prefix;
    if (stream_prefix.size() > kMaxPrefix) {
        stream_prefix = stream_prefix.last(kMaxPrefix);
    }
    SlotBuffer pay{payload, 0};
    if (!stream_prefix.empty() && !payload.empty() && payload.size() <= kMaxPayload) {
        std::memcpy(buffer_.get(), stream_prefix.data(), stream_prefix.size());
        std::memcpy(buffer_.get() + stream_prefix.size(), payload.data(), payload.size());
        pay.base = stream_prefix.size();
        pay.bytes = {buffer_.get(), pay.base + payload.size()};
    }
    const size_t payload_slot = BufferId{}.slot();
    slots_[payload_slot] = pay;
    slot_gen_[payload_slot] = gen_;

    hits_.clear();
    const rules::CompiledRules& compiled = db_->compiled();
    const size_t variant = rules::payload_variant(rules::payload_proto(pkt.ip_proto),
                                                  ctx.flow_known && !ctx.to_server);
    const size_t port_group = compiled.port_group(pkt.dst_port);
    if (!payload.empty()) {
        if (const hs_database_t* hdb = compiled.payload_database(variant, port_group);
            hdb != nullptr) {
            scan(hdb, pay.bytes, &stats_.scans);
        }
        for (uint32_t rank : compiled.slot_candidates(payload_slot)) {
            add_candidate(rank);
        }
    }
    // Most packets carry no app-layer buffer: then no app-layer slot can be inspected, and
    // the slots without a rule are never visited (the per-slot walk cost a fifth of the
    // worker's time when it ran over every slot for every packet).
    if (ctx.buffers != nullptr) {
        // file_data is the HTTP body of the packet's direction: one scan of the joint
        // database serves it and that body's slot, which comes first in app_slots_.
        const size_t body_slot =
            BufferId{static_cast<uint8_t>(ctx.to_server ? core::BufferKind::kHttpRequestBody
                                                        : core::BufferKind::kHttpResponseBody)}
                .slot();
        const size_t file_data_slot = BufferId{BufferId::kFileData}.slot();
        const hs_database_t* joint = compiled.body_database(ctx.to_server);
        bool file_data_scanned = false;
        for (size_t i = 0; i < app_slots_.size(); ++i) {
            const uint8_t slot = app_slots_[i];
            const SlotBuffer b = slot_buffer(slot, ctx);
            if (!inspectable(b.bytes, false)) {
                continue;
            }
            if (const hs_database_t* hdb = compiled.database(slot);
                hdb != nullptr && !b.bytes.empty()) {
                if (slot == body_slot && joint != nullptr) {
                    scan_buffer(app_slots_.size() + (ctx.to_server ? 0 : 1), joint, b.bytes);
                    file_data_scanned = true;
                } else if (slot != file_data_slot || !file_data_scanned) {
                    scan_buffer(i, hdb, b.bytes);
                }
            }
            for (uint32_t rank : compiled.slot_candidates(slot)) {
                add_candidate(rank);
            }
        }
    }
    // Rules without a pattern whose flowbit, address or port condition this packet meets.
    std::span<const uint16_t> bits;
    if (ctx.flow_state != nullptr) {
        bits = {ctx.flow_state->flowbits, ctx.flow_state->flowbit_count};
    }
    if (!pkt.is_arp && !ctx.payload_only) {  // the index holds IP rules only
        db_->candidate_index().collect(pkt.src, pkt.dst, pkt.src_port, pkt.dst_port, bits,
                                       [this](uint32_t rank) { add_candidate(rank); });
    }
    if (const hs_database_t* pdb = compiled.payload_pcre_database(variant, port_group);
        pdb != nullptr && !payload.empty()) {
        scan(pdb, payload, nullptr);
    }
    std::sort(hits_.begin(), hits_.end());

    // Merge the two ascending lists so rules are evaluated in rank order; the lists are
    // disjoint (a bucket rule has no pattern, needs no app-layer buffer and is not indexed).
    std::span<const uint32_t> always =
        db_->always_candidates(pkt.is_arp ? ProtoBucket::kArp : proto_bucket(pkt.ip_proto));
    size_t a = 0;
    size_t h = 0;
    uint64_t evaluated = 0;
    uint64_t fired = 0;
    bool stop = false;
    while (!stop && (a < always.size() || h < hits_.size())) {
        uint32_t rank;
        if (h >= hits_.size() || (a < always.size() && always[a] < hits_[h])) {
            rank = always[a++];
        } else {
            rank = hits_[h++];
        }
        const uint32_t index = db_->rule_at(rank);
        if (!compiled.usable(index)) {
            continue;
        }
        ++evaluated;
        const rules::Rule& rule = db_->rule(index);
        if ((ctx.extra_transaction && !inspects_app_layer(rule)) ||
            (ctx.payload_only && !inspects_payload(rule))) {
            continue;
        }
        if (!evaluate(rule, ctx)) {
            continue;
        }
        ++fired;
        newly_set_count_ = 0;
        const bool alert = post_match(rule, rank, ctx, stop);
        if (newly_set_count_ != 0) {
            add_flowbit_candidates(rank, h);
        }
        if (!alert) {
            continue;
        }
        if (out.count < MatchList::kMax) {
            out.rule_index[out.count++] = index;
        } else {
            ++out.overflow;
        }
    }
    for (uint32_t rank : hits_) {
        hit_flag_[rank] = 0;
    }
    stats_.candidates.add(evaluated);
    stats_.matches.add(fired);
    if (out.overflow != 0) {
        stats_.overflow.add(out.overflow);
    }
}

bool Detector::evaluate(const rules::Rule& rule, const PacketContext& ctx) noexcept {
    const decode::DecodedPacket& pkt = *ctx.pkt;
    if (!proto_matches(rule, ctx) || !header_matches(rule, ctx)) {
        return false;
    }
    const rules::FlowMatch& f = rule.flow;
    if (f.any()) {
        if (!ctx.flow_known || (f.to_server && !ctx.to_server) || (f.to_client && ctx.to_server) ||
            (f.established && !ctx.established) || (f.not_established && ctx.established) ||
            (f.only_stream && pkt.ip_proto != decode::kIpProtoTcp)) {
            return false;
        }
    }
    if (rule.tcp_flags &&
        (pkt.ip_proto != decode::kIpProtoTcp || !rule.tcp_flags->matches(pkt.tcp_flags))) {
        return false;
    }
    if (rule.itype && (!is_icmp(pkt.ip_proto) || !rule.itype->matches(pkt.icmp_type))) {
        return false;
    }
    if (rule.icode && (!is_icmp(pkt.ip_proto) || !rule.icode->matches(pkt.icmp_code))) {
        return false;
    }
    if (rule.dsize && !rule.dsize->matches(pkt.payload.size())) {
        return false;
    }
    for (const rules::FieldCheck& c : rule.field_checks) {
        if (!field_matches(c, ctx)) {
            return false;
        }
    }
    if (rule.fragbits) {
        const std::span<const uint8_t> h = ipv4_header(pkt);
        if (h.empty() || !rule.fragbits->matches(h[6])) {
            return false;
        }
    }
    if (!rule.app_protocols.empty()) {
        if (!app_protocols_match(rule, ctx) ||
            (ctx.proto_detect == PacketContext::ProtoDetect::kNotThisPacket &&
             rule.protocol_detection_only())) {
            return false;
        }
    }
    for (const FlowbitOp& op : rule.flowbits) {
        if (!op.is_check()) {
            continue;
        }
        if (ctx.flow_state == nullptr) {
            return false;
        }
        // `a|b`: isset when any is set, isnotset when any is not set; `a&b`: all of them.
        const bool want = op.cmd == FlowbitOp::Cmd::kIsSet;
        size_t hits = 0;
        for (uint16_t id : op.ids) {
            if (bit_is_set(*ctx.flow_state, id) == want) {
                ++hits;
            }
        }
        if (op.all ? hits != op.ids.size() : hits == 0) {
            return false;
        }
    }
    if (rule.tls_version) {
        uint16_t version = ctx.tls_version;
        if (!rule.tls_version->raw && (version >> 8) == 0x7f) {
            version = 0x0304;  // a TLS 1.3 draft is 1.3 (Suricata)
        }
        if (version == 0 || version != rule.tls_version->version) {
            return false;
        }
    }
    for (const rules::XbitOp& op : rule.xbits) {
        if (op.is_check() &&
            xbits_->is_set(xbit_key(op, pkt), pkt.ts_us) != (op.cmd == FlowbitOp::Cmd::kIsSet)) {
            return false;
        }
    }
    const uint64_t pcre_errors = inspector_.pcre_errors();
    const uint64_t budget = inspector_.budget_exhausted();
    bool matched = true;
    for (const rules::ItemList& list : rule.lists) {
        const size_t slot = list.buffer.slot();
        const SlotBuffer b = slot_buffer(slot, ctx);
        // Payload keywords need a payload; app-layer keywords need their buffer.
        if (!inspectable(b.bytes, list.buffer.is_payload())) {
            matched = false;
            break;
        }
        if (!inspector_.inspect(rule, list, b.bytes, b.base, vars_)) {
            matched = false;
            break;
        }
    }
    stats_.pcre_errors.add(inspector_.pcre_errors() - pcre_errors);
    stats_.inspect_budget.add(inspector_.budget_exhausted() - budget);
    return matched;
}

bool Detector::set_flowbit(flow::FlowDetectState& state, uint16_t id) noexcept {
    if (bit_is_set(state, id)) {
        return true;
    }
    if (!set_bit(state, id)) {
        stats_.flowbits_overflow.add();
        return false;
    }
    if (newly_set_count_ < newly_set_.size()) {
        newly_set_[newly_set_count_++] = id;
    }
    return true;
}

void Detector::add_flowbit_candidates(uint32_t rank, size_t next) noexcept {
    for (size_t i = 0; i < newly_set_count_; ++i) {
        for (uint32_t later : db_->candidate_index().flowbit_rules(newly_set_[i])) {
            if (later <= rank || hit_flag_[later] != 0) {
                continue;
            }
            hit_flag_[later] = 1;
            // Within the capacity reserved for every rule: no reallocation.
            hits_.insert(std::upper_bound(hits_.begin() + static_cast<std::ptrdiff_t>(next),
                                          hits_.end(), later),
                         later);
        }
    }
}

bool Detector::post_match(const rules::Rule& rule, uint32_t rank, PacketContext& ctx,
                          bool& stop) noexcept {
    flow::FlowDetectState* fs = ctx.flow_state;
    if (fs != nullptr) {
        for (const FlowbitOp& op : rule.flowbits) {
            for (uint16_t id : op.ids) {
                switch (op.cmd) {
                    case FlowbitOp::Cmd::kSet:
                        set_flowbit(*fs, id);
                        break;
                    case FlowbitOp::Cmd::kUnset:
                        clear_bit(*fs, id);
                        break;
                    case FlowbitOp::Cmd::kToggle:
                        if (bit_is_set(*fs, id)) {
                            clear_bit(*fs, id);
                        } else {
                            set_flowbit(*fs, id);
                        }
                        break;
                    case FlowbitOp::Cmd::kIsSet:
                    case FlowbitOp::Cmd::kIsNotSet:
                        break;
                }
            }
        }
    }
    // Bits outlive the flow: they are kept by host or host pair, on packet time.
    for (const rules::XbitOp& op : rule.xbits) {
        const decode::DecodedPacket& pkt = *ctx.pkt;
        switch (op.cmd) {
            case FlowbitOp::Cmd::kSet:
                stats_.xbits_evicted.add(xbits_->set(xbit_key(op, pkt), pkt.ts_us, op.expire));
                break;
            case FlowbitOp::Cmd::kUnset:
                xbits_->unset(xbit_key(op, pkt));
                break;
            case FlowbitOp::Cmd::kToggle:
                stats_.xbits_evicted.add(xbits_->toggle(xbit_key(op, pkt), pkt.ts_us, op.expire));
                break;
            case FlowbitOp::Cmd::kIsSet:
            case FlowbitOp::Cmd::kIsNotSet:
                break;
        }
    }
    if (rule.action == rules::Action::kPass) {
        // Suricata: a pass rule ends inspection of the packet and, on a flow, of the flow.
        if (fs != nullptr) {
            fs->pass = true;
        }
        stop = true;
        return false;
    }
    if (rule.noalert) {
        return false;
    }
    if (rule.app_layer_only() && fs != nullptr && ctx.buffers != nullptr) {
        const auto tx = static_cast<uint32_t>(ctx.buffers->transaction_id);
        if (fs->tx_alerted_count > 0 && fs->last_transaction_alerted != tx) {
            fs->tx_alerted_count = 0;
        }
        const auto key = static_cast<uint16_t>(rank & 0xffff);
        for (uint8_t i = 0; i < fs->tx_alerted_count; ++i) {
            if (fs->tx_alerted[i] == key) {
                stats_.tx_duplicates.add();
                return false;
            }
        }
        if (fs->tx_alerted_count == flow::FlowDetectState::kMaxTxAlerts) {
            stats_.tx_overflow.add();
            std::memmove(fs->tx_alerted, fs->tx_alerted + 1,
                         sizeof(fs->tx_alerted) - sizeof(fs->tx_alerted[0]));
            --fs->tx_alerted_count;
        }
        fs->tx_alerted[fs->tx_alerted_count++] = key;
        fs->last_transaction_alerted = tx;
    }
    if (rule.threshold) {
        // An ARP frame has no IP header: by_src and by_dst follow its sender and target.
        const decode::DecodedPacket& pkt = *ctx.pkt;
        const ThresholdRule id{rule.gid, rule.sid, rule.rev};
        const ThresholdTable::Decision decision =
            pkt.is_arp ? thresholds_->allow(*rule.threshold, id, pkt.arp.sender_ip,
                                            pkt.arp.target_ip, pkt.ts_us)
                       : thresholds_->allow(*rule.threshold, id, pkt.src, pkt.dst, pkt.ts_us);
        stats_.threshold_replaced.add(decision.replaced);
        if (!decision.alert) {
            stats_.threshold_suppressed.add();
            return false;
        }
    }
    return true;
}

}  // namespace sensor::detect
