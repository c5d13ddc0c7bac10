#include "sensor/pipeline/worker.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "sensor/alert/community_id.h"
#include "sensor/applayer/tls_parser.h"
#include "sensor/flow/stream_tail.h"

namespace sensor::pipeline {

namespace {

// Asks for a frame's first WorkerConfig::kPrefetchBytes, every cache line of them. While the
// frame before it is processed (about 2 us on the bench capture with ET Open) they arrive from
// wherever they are: the capture stage's core, which read the headers, or memory. Past those
// bytes the payload is read in order, which the hardware prefetches itself.
void prefetch_frame(const core::Frame& frame) noexcept {
    constexpr size_t kLine = 64;
    const size_t bytes = std::min<size_t>(frame.caplen, WorkerConfig::kPrefetchBytes);
    if (bytes == 0) {
        return;
    }
    for (size_t at = 0; at < bytes; at += kLine) {
        __builtin_prefetch(frame.data + at, 0, 3);
    }
    __builtin_prefetch(frame.data + bytes - 1, 0, 3);  // the last line, where data is unaligned
}

const char* flow_state_name(const flow::Flow& flow) {
    if (flow.key.ip_proto == decode::kIpProtoTcp) {
        switch (flow.tcp_state) {
            case flow::TcpState::kEstablished:
            case flow::TcpState::kClosing:
                return "established";
            case flow::TcpState::kClosed:
                return "closed";
            default:
                return "new";
        }
    }
    return (flow.pkts[0] > 0 && flow.pkts[1] > 0) ? "established" : "new";
}

const char* end_reason_name(flow::EndReason reason) {
    switch (reason) {
        case flow::EndReason::kTimeout:
            return "timeout";
        case flow::EndReason::kForced:
            return "forced";
        case flow::EndReason::kShutdown:
            return "shutdown";
    }
    return "timeout";
}

// Suricata gives an alert a transaction (tx_id, the app-layer object) when its rule inspected
// app-layer buffers.
bool inspects_app_layer(const rules::Rule& rule) noexcept {
    return std::any_of(rule.lists.begin(), rule.lists.end(),
                       [](const rules::ItemList& l) { return !l.buffer.is_payload(); });
}

// The texts stay in the rule set, which the record keeps alive through `signatures`: no copy.
void set_rule_fields(core::AlertRecord& a, const rules::Rule& rule,
                     const std::shared_ptr<const detect::SignatureDb>& signatures) {
    a.gid = rule.gid;
    a.signature_id = rule.sid;
    a.rev = rule.rev;
    a.severity = rule.priority;
    a.refer_to_rule_texts(signatures,
                          {rule.msg, rule.class_description, rule.metadata, rule.concepts});
}

std::vector<std::shared_ptr<const core::RuleTexts>> builtin_rule_texts(
    const std::vector<BuiltinRule>& rules) {
    std::vector<std::shared_ptr<const core::RuleTexts>> texts;
    texts.reserve(rules.size());
    for (const auto& r : rules) {
        texts.push_back(std::make_shared<const core::RuleTexts>(
            core::RuleTexts{r.msg, r.category, {{"detector", "builtin"}}, r.concepts}));
    }
    return texts;
}

// Suricata's `llmnr` object describes the alert's transaction: the one message (query or
// response) this packet carries. TCP messages follow their 2-byte length.
void describe_llmnr(const decode::DecodedPacket& pkt, core::AlertRecord& a) {
    std::span<const uint8_t> msg = pkt.payload;
    if (pkt.ip_proto == decode::kIpProtoTcp) {
        const size_t len = msg.size() >= 2 ? static_cast<size_t>((msg[0] << 8) | msg[1]) : 0;
        if (msg.size() < 2 || len > msg.size() - 2) {
            return;
        }
        msg = msg.subspan(2, len);
    }
    core::DnsMessageRecord m;
    if (applayer::describe_dns_message(msg, m)) {
        a.llmnr = std::move(m);
    }
}

// Hands the reassembly's in-order bytes to the app layer.
class AppStreamSink final : public flow::StreamSink {
public:
    AppStreamSink(applayer::AppLayer& app, flow::Flow& flow, int64_t ts_us) noexcept
        : app_(app), flow_(flow), ts_us_(ts_us) {}
    void data(bool to_server, std::span<const uint8_t> bytes, uint32_t seq) noexcept override {
        app_.deliver(flow_, to_server, bytes, seq, ts_us_);
    }
    void end(bool to_server, bool reset) noexcept override {
        app_.end_stream(flow_, to_server, reset, ts_us_);
    }

private:
    applayer::AppLayer& app_;
    flow::Flow& flow_;
    int64_t ts_us_;
};

}  // namespace

Worker::Worker(const WorkerConfig& config, std::shared_ptr<const detect::SignatureDb> signatures,
               std::vector<BuiltinRule> builtin_rules,
               std::shared_ptr<detect::ThresholdTable> thresholds,
               std::shared_ptr<detect::XbitTable> xbits,
               std::shared_ptr<detect::BuiltinState> builtin_state)
    : config_(config),
      signatures_(std::move(signatures)),
      builtin_rules_(std::move(builtin_rules)),
      builtin_texts_(builtin_rule_texts(builtin_rules_)),
      decoder_(config.decode),
      flows_(config.flow),
      reassembler_(flow::ReassemblyConfig{config.stream_reassembly_memcap, config.flow.max_flows}),
      payload_order_(flow::ReassemblyConfig{.memcap_bytes = config.stream_ordering_memcap,
                                            .max_flows = config.flow.max_flows,
                                            .wait_for_ack = false}),
      classifier_(config.classify),
      app_layer_(config.applayer),
      thresholds_(thresholds != nullptr
                      ? std::move(thresholds)
                      : std::make_shared<detect::ThresholdTable>(config.threshold_entries)),
      xbits_(xbits != nullptr ? std::move(xbits)
                              : std::make_shared<detect::XbitTable>(config.xbit_entries)),
      detector_(std::make_unique<detect::Detector>(signatures_, thresholds_, xbits_)),
      builtin_(config.builtin, std::move(builtin_state)) {
    output_.reserve_spares();
}

void Worker::switch_rules() {
    uint64_t generation = rule_exchange_->generation();
    // The new database needs its own scratch: allocated here, between batches, never while a
    // packet is in flight. Rule indices change, so pending matches are not carried over;
    // threshold state is kept by rule identity, so a rule that stays keeps counting, and
    // xbits by name.
    signatures_ = rule_exchange_->current();
    for (const auto& spec : detect::kDetectCounters) {
        (detect_retired_.*spec.field).add((detector_->stats().*spec.field).load());
    }
    detector_ = std::make_unique<detect::Detector>(signatures_, thresholds_, xbits_);
    publish_detect_stats();
    rules_generation_.store(generation, std::memory_order_relaxed);
}

void Worker::process(const core::FrameBatch& batch) {
    if (rule_exchange_ != nullptr && rule_exchange_->generation() != rules_generation()) {
        switch_rules();
    }
    const auto started = std::chrono::steady_clock::now();
    auto on_end = [this](flow::Flow& f, flow::EndReason r) { end_flow(f, r); };
    if (batch.timeline() != timeline_) {
        // The capture's time starts over (a file that begins before the last one ended): the
        // old flows end at the old time, and the clock follows the new packets.
        finish();
        timeline_ = batch.timeline();
        now_us_ = 0;
    }
    const size_t count = batch.size();
    for (size_t i = 0; i < count; ++i) {
        const core::Frame& frame = batch[i];
        if (config_.prefetch_frames && i + 1 < count) {
            // The next frame's bytes, and the descriptor after it (written on the placing
            // thread's core), whose address the next round reads to ask for its bytes.
            prefetch_frame(batch[i + 1]);
            if (i + 2 < count) {
                __builtin_prefetch(&batch[i + 2], 0, 3);
            }
        }
        stats_.frames.add();
        const decode::Verdict verdict = decoder_.decode(frame, packet_);
        if (verdict == decode::Verdict::kArp) {
            now_us_ = std::max(now_us_, packet_.ts_us);
            analyse_arp(packet_);  // counted by the decoder as non-ip; no flow
            continue;
        }
        if (verdict != decode::Verdict::kPacket) {
            continue;  // counted by the decoder (non-ip, fragment held, or dropped{reason})
        }
        stats_.packets_analysed.add();
        now_us_ = std::max(now_us_, packet_.ts_us);
        bool to_server = true;
        flow::Flow& flow = flows_.find_or_insert(packet_, to_server, on_end);
        if (app_layer_.reverses_flow(flow, packet_)) {
            flows_.reverse(flow);  // a DNS-family response opened it: its destination asked
            to_server = false;
        }
        flows_.update(flow, packet_, to_server, frame.wire_len);
        analyse(flow, to_server, packet_);
    }
    now_us_ = std::max(now_us_, batch.clock());
    flows_.expire(now_us_, on_end);
    auto elapsed = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::steady_clock::now() - started)
                                             .count());
    size_t bucket = 0;
    while (bucket < kBatchLatencyBoundsNs.size() && elapsed > kBatchLatencyBoundsNs[bucket]) {
        ++bucket;
    }
    stats_.batch_latency_buckets[bucket].add();
    stats_.batch_latency_sum_ns.add(elapsed);
    stats_.batches.add();
    publish_detect_stats();
}

void Worker::publish_detect_stats() noexcept {
    for (const auto& spec : detect::kDetectCounters) {
        (detect_totals_.*spec.field)
            .set((detect_retired_.*spec.field).load() + (detector_->stats().*spec.field).load());
    }
}

void Worker::analyse(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt) {
    core::AppInfo& app = flow.app;
    if (app.state == core::ClassifyState::kPending) {
        // The verdict also fills app.app_proto, the name app-layer rules compare against.
        classifier_.update(app, pkt);
    }

    // HTTP/DNS/TLS buffers for sticky-buffer rules (valid until the next update).
    update_app_layer(flow, to_server, pkt);
    if (!config_.tls_inspect_encrypted) {
        follow_tls_encryption(flow, to_server, pkt);
    }
    if (order_payload(flow, to_server, pkt)) {
        inspect_ordered(flow, to_server, pkt);
    } else {
        StreamView fresh;
        inspect(flow, to_server, pkt, false,
                retransmitted_part(flow, to_server, pkt, fresh) ? &fresh : nullptr);
        flows_.advance_stream(flow, to_server, pkt);
    }
    if (uint32_t sid = builtin_.observe(pkt); sid != 0) {
        emit_builtin_alert(flow, to_server, pkt, sid);
    }
}

// TCP payload reaches payload rules in sequence order, once per byte, as Suricata inspects the
// reassembled stream. In-order segments (nearly all) are inspected as they come, after the
// stream tail; a segment ahead of a missing one waits in payload_order_ and is inspected with
// the packet that fills the hole (or once the hole is given up), and the entry is released as
// soon as nothing waits any more.
bool Worker::order_payload(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt) {
    if (pkt.ip_proto != decode::kIpProtoTcp || !payload_order_.enabled()) {
        return false;
    }
    const uint32_t slot = flows_.slot_of(flow);
    const bool encrypted =
        (flow.detect.payload_flags & flow::FlowDetectState::kNoPayloadInspection) != 0;
    if (!payload_order_.holds(slot)) {
        if (pkt.payload.empty() || encrypted || payload_order_.refused(slot) ||
            !stream_tracked(flow) || past_depth(flow, to_server, pkt)) {
            return false;
        }
        const flow::StreamState& s = flow.stream[to_server ? 0 : 1];
        const uint32_t data_seq = pkt.tcp_seq + ((pkt.tcp_flags & decode::kTcpSyn) != 0 ? 1u : 0u);
        const auto ahead = static_cast<int32_t>(data_seq - s.next_seq);
        if (!s.seq_known || ahead <= 0 ||
            ahead >= static_cast<int32_t>(flow::kReassemblyWindowBytes)) {
            return false;  // in order, old, or too far ahead to be waited for
        }
        if (!payload_order_.open(slot, flow, to_server, pkt)) {
            return false;  // pool full (counted): this flow is inspected in arrival order
        }
    } else if (encrypted) {
        payload_order_.release(slot);  // ciphertext from here on: no payload rule looks
        return false;
    }
    runs_.begin(pkt.payload);
    const uint64_t overlap = payload_order_.stats().overlap_bytes.load();
    payload_order_.on_packet(slot, flow, to_server, pkt, runs_);
    flows_.count_retransmitted(to_server, payload_order_.stats().overlap_bytes.load() - overlap);
    if (payload_order_.idle(slot)) {
        payload_order_.release(slot);
    }
    return true;
}

void Worker::inspect_ordered(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt) {
    const std::span<const StreamRuns::Run> own = runs_.runs(to_server);
    StreamView view;
    if (!own.empty()) {
        // Runs before a hole that was given up: payload rules only, the packet's headers and
        // buffers are inspected once, with its last run.
        inspect_runs(flow, to_server, pkt, own.first(own.size() - 1));
        view.bytes = own.back().bytes;
        view.prefix = flows_.stream_prefix(flow, to_server, own.back().seq);
    }
    inspect(flow, to_server, pkt, false, &view);
    if (!own.empty()) {
        flows_.advance_stream(flow, to_server, own.back().seq, own.back().bytes);
    }
    // A reset (or a full pool) also hands over what the other direction held.
    if (const std::span<const StreamRuns::Run> peer = runs_.runs(!to_server); !peer.empty()) {
        inspect_runs(flow, !to_server, pseudo_packet(flow, !to_server), peer);
    }
}

void Worker::inspect_runs(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                          std::span<const StreamRuns::Run> runs) {
    for (const StreamRuns::Run& run : runs) {
        StreamView view{run.bytes, flows_.stream_prefix(flow, to_server, run.seq), true};
        inspect(flow, to_server, pkt, false, &view);
        flows_.advance_stream(flow, to_server, run.seq, run.bytes);
    }
}

// A segment (partly) behind the stream's newest byte: payload rules see only what is new, as
// the rest was inspected with the segment that brought it first (the copy that came first
// wins). Segments further behind than a retransmission can be are inspected whole.
bool Worker::retransmitted_part(const flow::Flow& flow, bool to_server,
                                const decode::DecodedPacket& pkt, StreamView& fresh) const {
    if (pkt.ip_proto != decode::kIpProtoTcp || pkt.payload.empty() || !payload_order_.enabled() ||
        !stream_tracked(flow) || past_depth(flow, to_server, pkt)) {
        return false;
    }
    const flow::StreamState& s = flow.stream[to_server ? 0 : 1];
    const uint32_t data_seq = pkt.tcp_seq + ((pkt.tcp_flags & decode::kTcpSyn) != 0 ? 1u : 0u);
    const auto behind = static_cast<int32_t>(s.next_seq - data_seq);
    if (!s.seq_known || behind <= 0 || behind > kMaxRetransmissionBehind) {
        return false;
    }
    const auto old = static_cast<size_t>(behind);
    if (old < pkt.payload.size()) {
        fresh.bytes = pkt.payload.subspan(old);
        fresh.prefix = flows_.stream_prefix(flow, to_server, s.next_seq);
    }
    return true;
}

bool Worker::stream_tracked(const flow::Flow& flow) const noexcept {
    return config_.stream_midstream || (flow.tcp_flags[0] & decode::kTcpSyn) != 0;
}

// The direction's initial sequence number is the one detection follows for stream_size.
bool Worker::past_depth(const flow::Flow& flow, bool to_server,
                        const decode::DecodedPacket& pkt) const noexcept {
    const size_t side = to_server ? 0 : 1;
    if (config_.stream_depth == 0 || (flow.detect.stream_known & (1u << side)) == 0) {
        return false;
    }
    const uint32_t offset = pkt.tcp_seq - flow.detect.stream_isn[side];
    return offset < 0x80000000u && offset > config_.stream_depth;
}

const decode::DecodedPacket& Worker::pseudo_packet(const flow::Flow& flow, bool to_server) {
    decode::DecodedPacket& p = end_packet_;
    p = decode::DecodedPacket{};
    p.src = to_server ? flow.client_ip() : flow.server_ip();
    p.dst = to_server ? flow.server_ip() : flow.client_ip();
    p.src_port = to_server ? flow.client_port : flow.server_port;
    p.dst_port = to_server ? flow.server_port : flow.client_port;
    p.ip_proto = flow.key.ip_proto;
    p.tcp_flags = decode::kTcpAck;
    p.ts_us = flow.last_us;
    return p;
}

void Worker::update_app_layer(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt) {
    // Past the session's end (a FIN or RST seen) a packet fails flow:established, so the HTTP
    // progress it inspects is inspected again later, at the latest on the end-of-stream
    // packet, which Suricata counts as established.
    const bool consume =
        pkt.ip_proto != decode::kIpProtoTcp ||
        (flow.tcp_state != flow::TcpState::kClosing && flow.tcp_state != flow::TcpState::kClosed);
    if (pkt.ip_proto == decode::kIpProtoTcp && reassembler_.enabled()) {
        const uint32_t slot = flows_.slot_of(flow);
        if (reassembler_.holds(slot) ||
            (!reassembler_.refused(slot) && app_layer_.wants_stream(flow, to_server, pkt) &&
             reassembler_.open(slot, flow, to_server, pkt))) {
            // Suricata's IDS timing: the bytes this packet acknowledges are parsed now, its own
            // once the other side acknowledges them, and this packet inspects what its own
            // direction's bytes advanced since its previous packet.
            AppStreamSink sink(app_layer_, flow, pkt.ts_us);
            reassembler_.on_packet(slot, flow, to_server, pkt, sink);
            app_layer_.report(flow, to_server, app_buffers_, consume);
            if (reassembler_.holds(slot) && !app_layer_.keeps_stream(flow)) {
                reassembler_.drop(slot);  // parsed no further: nothing to hold for it
            }
            return;
        }
    }
    app_layer_.update(flow, to_server, pkt, app_buffers_, consume);
}

void Worker::inspect_at_end(flow::Flow& flow, bool to_server) {
    if (!app_layer_.has_unreported(flow, to_server)) {
        return;
    }
    // Suricata's end-of-stream pseudo packet: the flow's endpoints in that direction, no
    // payload, no capture position.
    const decode::DecodedPacket& p = pseudo_packet(flow, to_server);
    app_layer_.report(flow, to_server, app_buffers_);
    inspect(flow, to_server, p, true);
}

void Worker::inspect(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                     bool end_of_stream, const StreamView* stream) {
    if (end_of_stream && !app_buffers_.any) {
        return;
    }
    const core::AppInfo& app = flow.app;
    std::span<const uint8_t> prefix;
    if (stream != nullptr) {
        prefix = stream->prefix;
    } else if (!end_of_stream && stream_tracked(flow)) {
        prefix = flows_.stream_prefix(flow, to_server, pkt);
    }
    const bool payload_only = stream != nullptr && stream->payload_only;
    detect::PacketContext ctx;
    ctx.pkt = &pkt;
    // Flows parsed on arrival keep the classifier's name (packets with app-layer buffers imply
    // their protocol anyway, detect::buffers_imply): naming them after our parser from the
    // request on would fire buffer-less `alert http` rules earlier than Suricata, which learns
    // the protocol only once the server has acknowledged the request.
    ctx.app_proto = std::string_view(app.app_proto);
    // UDP has no such wait: Suricata names the flow from its first datagram, so the app
    // layer's name stands in while the classifier has none (an LLMNR reply nDPI misses).
    if ((ctx.app_proto.empty() || ctx.app_proto == "failed") &&
        pkt.ip_proto == decode::kIpProtoUdp && !app_layer_.protocol(flow).empty()) {
        ctx.app_proto = app_layer_.protocol(flow);
    }
    // A TCP flow whose bytes wait for acknowledgements is named, as by Suricata, only from the
    // acknowledged bytes its parser has seen; unknown until then, whatever the classifier says.
    if (pkt.ip_proto == decode::kIpProtoTcp) {
        const uint32_t slot = flows_.slot_of(flow);
        if (reassembler_.holds(slot) || reassembler_.refused(slot)) {
            ctx.app_proto = app_layer_.protocol(flow);
        }
    }
    ctx.stream_prefix = prefix;
    if (stream != nullptr) {
        ctx.payload_from_stream = true;
        ctx.stream_payload = stream->bytes;
        ctx.payload_only = payload_only;
    }
    ctx.to_server = to_server;
    // kEstablished is also where a flow picked up mid-stream lands once data flows; a FIN or
    // RST leaves it, as in Suricata. Suricata's end-of-stream packets count as established.
    ctx.established = end_of_stream || flow::detect_established(flow);
    ctx.flow_state = &flow.detect;
    ctx.buffers = app_buffers_.any && !payload_only ? &app_buffers_ : nullptr;
    ctx.tls_version = flow.app.tls_version[to_server ? 0 : 1];
    // The list is in rule evaluation order (Suricata's signature order), so the first
    // packet_alert_max are the ones Suricata would keep. Rules on app-layer buffers have a
    // budget of their own: Suricata inspects a transaction on a later packet than the one
    // that completes it here (once the other side has acknowledged the data, or on the
    // end-of-stream pseudo packet), so their alerts never share a packet's queue with the
    // payload rules that fire on this one.
    size_t packet_budget = config_.packet_alert_max;
    size_t transaction_budget = config_.packet_alert_max;
    auto emit_matches = [&] {
        uint64_t over = matches_.overflow;
        for (size_t i = 0; i < matches_.count; ++i) {
            const rules::Rule& rule = signatures_->rule(matches_.rule_index[i]);
            size_t& budget = inspects_app_layer(rule) ? transaction_budget : packet_budget;
            if (budget == 0) {
                ++over;
                continue;
            }
            --budget;
            emit_rule_alert(flow, to_server, pkt, rule);
        }
        if (over > 0) {
            stats_.alerts_suppressed_overflow.add(over);
        }
    };
    // The end-of-stream packet carries transactions only: rules on the packet itself saw
    // the flow's real packets.
    ctx.extra_transaction = end_of_stream;
    detector_->match(ctx, matches_);
    emit_matches();
    if (payload_only) {
        return;
    }
    // Pipelined HTTP requests completed by one packet: each further transaction is inspected
    // too, by the rules on app-layer buffers only (the packet itself was inspected above).
    while (app_layer_.next(app_buffers_)) {
        ctx.buffers = app_buffers_.any ? &app_buffers_ : nullptr;
        ctx.extra_transaction = true;
        detector_->match(ctx, matches_);
        emit_matches();
    }
}

// Suricata (encryption-handling "default") stops inspecting a TLS flow's payload at its first
// application data record after both sides' ChangeCipherSpec: what follows is ciphertext, on
// which payload rules can only misfire, and skipping it spares the scans of most TLS bytes.
// Records are read from the segments that start on a record boundary, which is where
// ChangeCipherSpec and the first application data of a flight sit.
void Worker::follow_tls_encryption(flow::Flow& flow, bool to_server,
                                   const decode::DecodedPacket& pkt) noexcept {
    using State = flow::FlowDetectState;
    uint8_t& flags = flow.detect.payload_flags;
    if ((flags & State::kNoPayloadInspection) != 0 || pkt.payload.empty() ||
        pkt.ip_proto != decode::kIpProtoTcp) {
        return;
    }
    if (std::string_view(flow.app.app_proto) != "tls" && app_layer_.protocol(flow) != "tls") {
        return;
    }
    const applayer::TlsRecordScan scan = applayer::scan_tls_records(pkt.payload);
    if (scan.change_cipher_spec) {
        flags |= to_server ? State::kClientChangeCipherSpec : State::kServerChangeCipherSpec;
    }
    constexpr uint8_t kBoth = State::kClientChangeCipherSpec | State::kServerChangeCipherSpec;
    if (scan.application_data && (flags & kBoth) == kBoth) {
        flags |= State::kNoPayloadInspection;
    }
}

// ARP frames have no flow: only arp rules can match (flow keywords and flowbits are refused
// on them), built-in detectors look at IP traffic only.
void Worker::analyse_arp(const decode::DecodedPacket& pkt) {
    detect::PacketContext ctx;
    ctx.pkt = &pkt;
    ctx.flow_known = false;
    detector_->match(ctx, matches_);
    const size_t kept = std::min<size_t>(matches_.count, config_.packet_alert_max);
    for (size_t i = 0; i < kept; ++i) {
        const rules::Rule& rule = signatures_->rule(matches_.rule_index[i]);
        core::AlertRecord a;
        a.ts_us = pkt.ts_us;
        a.packet_index = pkt.frame_index;
        a.linktype = pkt.linktype;
        a.vlan_count = std::min(pkt.vlan_count, static_cast<uint8_t>(core::AlertRecord::kMaxVlans));
        std::copy_n(pkt.vlan_ids, a.vlan_count, a.vlan);
        a.action = "allowed";
        set_rule_fields(a, rule, signatures_);
        core::ArpRecord& arp = a.arp.emplace();
        arp.opcode = pkt.arp.opcode;
        arp.src_mac = pkt.arp.sender_mac;
        arp.src_ip = pkt.arp.sender_ip;
        arp.dest_mac = pkt.arp.target_mac;
        arp.dest_ip = pkt.arp.target_ip;
        // EVE writes these only in the `arp` object; the Alertmanager and syslog outputs,
        // which know no `arp` object, name the sender and target by them.
        a.endpoints.src_ip = pkt.arp.sender_ip;
        a.endpoints.dest_ip = pkt.arp.target_ip;
        a.packet = output_.take_spare_packet();
        a.set_packet(pkt.link, pkt.arp_bytes, {});
        push_alert(std::move(a));
    }
    if (const uint64_t over = matches_.overflow + (matches_.count - kept); over > 0) {
        stats_.alerts_suppressed_overflow.add(over);
    }
}

core::AlertRecord Worker::alert_base(const flow::Flow& flow, bool to_server,
                                     const decode::DecodedPacket& pkt) {
    core::AlertRecord a;
    a.ts_us = pkt.ts_us;
    a.flow_id = flow.id();
    a.packet_index = pkt.frame_index;
    a.linktype = pkt.linktype;
    a.endpoints.src_ip = pkt.src;
    a.endpoints.dest_ip = pkt.dst;
    a.endpoints.src_port = pkt.src_port;
    a.endpoints.dest_port = pkt.dst_port;
    a.endpoints.ip_proto = pkt.ip_proto;
    a.endpoints.icmp_type = pkt.icmp_type;
    a.endpoints.icmp_code = pkt.icmp_code;
    a.app_proto = flow_app_proto(flow);
    a.direction = to_server ? "to_server" : "to_client";
    a.vlan_count = std::min(pkt.vlan_count, static_cast<uint8_t>(core::AlertRecord::kMaxVlans));
    std::copy_n(pkt.vlan_ids, a.vlan_count, a.vlan);
    core::AlertFlow& f = a.flow.emplace();
    f.pkts_toserver = flow.pkts[0];
    f.pkts_toclient = flow.pkts[1];
    f.bytes_toserver = flow.bytes[0];
    f.bytes_toclient = flow.bytes[1];
    f.start_us = flow.start_us;
    f.src_ip = flow.client_ip();
    f.dest_ip = flow.server_ip();
    f.src_port = flow.client_port;
    f.dest_port = flow.server_port;
    a.action = "allowed";  // a passive sensor never blocks
    a.packet = output_.take_spare_packet();
    a.set_packet(pkt.link, pkt.ip, pkt.payload);
    if (a.app_proto == "llmnr") {
        describe_llmnr(pkt, a);
    }
    return a;
}

void Worker::emit_rule_alert(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                             const rules::Rule& rule) {
    core::AlertRecord a = alert_base(flow, to_server, pkt);
    set_rule_fields(a, rule, signatures_);
    if (app_buffers_.any && app_buffers_.transaction_id > 0 && inspects_app_layer(rule)) {
        a.tx_id = static_cast<int64_t>(app_buffers_.transaction_id - 1);
        core::HttpRecord http = output_.take_spare_http();
        if (app_layer_.describe_http(flow, app_buffers_.transaction_id, http)) {
            a.http = std::move(http);
        }
    }
    push_alert(std::move(a));
    flow.alerted = true;
}

void Worker::emit_builtin_alert(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                                uint32_t sid) {
    auto it = std::find_if(builtin_rules_.begin(), builtin_rules_.end(),
                           [sid](const BuiltinRule& r) { return r.sid == sid; });
    if (it == builtin_rules_.end()) {
        return;
    }
    core::AlertRecord a = alert_base(flow, to_server, pkt);
    a.gid = 1;
    a.signature_id = it->sid;
    a.rev = 1;
    a.severity = it->severity;
    const auto& texts = builtin_texts_[static_cast<size_t>(it - builtin_rules_.begin())];
    a.refer_to_rule_texts(texts, texts->view());
    push_alert(std::move(a));
    flow.alerted = true;
}

namespace {

// Appends a record's line to lines (append(lines) writes it) and where it ends to ends; out of
// memory, the line is left empty and the sink formats the record itself.
template <class Append>
void make_line(std::string& lines, std::vector<uint32_t>& ends, Append&& append) {
    const size_t before = lines.size();
    try {
        append(lines);
    } catch (...) {
        lines.resize(before);
    }
    if (lines.size() > UINT32_MAX) {
        lines.resize(before);  // cannot be said in a line end: not made
    }
    ends.push_back(static_cast<uint32_t>(lines.size()));
}

}  // namespace

void Worker::push_alert(core::AlertRecord&& alert) {
    count_alert(alert);
    output_.alerts.push_back(std::move(alert));
    if (formatter_ != nullptr) {
        const core::AlertRecord& a = output_.alerts.back();
        make_line(output_.alert_lines, output_.alert_line_ends,
                  [&](std::string& out) { formatter_->append_alert(out, a); });
    }
}

void Worker::count_alert(const core::AlertRecord& alert) noexcept {
    stats_.alerts.add();
    count_alert_labels(stats_.alerts_by_concept, stats_.alerts_by_severity, alert);
}

std::string_view Worker::flow_app_proto(const flow::Flow& flow) const noexcept {
    const std::string_view named(flow.app.app_proto);
    if (!named.empty() && named != "failed") {
        return named;
    }
    const std::string_view parsed = app_layer_.protocol(flow);
    return parsed.empty() ? named : parsed;
}

std::string Worker::app_proto_name(size_t app_id) const {
    if (app_id == 0) {
        return "failed";
    }
    core::AppInfo info;
    info.master_protocol = static_cast<uint16_t>(app_id);
    return classifier_.app_proto(info);
}

void Worker::end_flow(flow::Flow& flow, flow::EndReason reason) {
    // What the flow still holds is parsed now, and what that advanced is inspected on an
    // end-of-stream packet per direction, as Suricata does when a flow ends.
    const uint32_t slot = flows_.slot_of(flow);
    if (payload_order_.holds(slot)) {
        // Segments still waiting for a missing one: inspected now, holes skipped.
        runs_.begin({});
        payload_order_.flush(slot, runs_);
        inspect_runs(flow, true, pseudo_packet(flow, true), runs_.runs(true));
        inspect_runs(flow, false, pseudo_packet(flow, false), runs_.runs(false));
    }
    payload_order_.release(slot);
    if (reassembler_.holds(slot)) {
        AppStreamSink sink(app_layer_, flow, flow.last_us);
        reassembler_.flush(slot, sink);
    }
    reassembler_.release(slot);
    if (flow.key.ip_proto == decode::kIpProtoTcp) {
        inspect_at_end(flow, true);
        inspect_at_end(flow, false);
    }
    core::AppInfo& app = flow.app;
    if (app.state == core::ClassifyState::kPending) {
        classifier_.finish(app);  // gives up with a guess and fills app.app_proto
    }
    const std::string_view app_proto = flow_app_proto(flow);  // before the app layer forgets
    app_layer_.release(flow);
    core::FlowRecord r;
    // A flow that timed out ended when its timeout passed, whenever expiry found it: that time
    // depends on the flow alone, where the worker's clock at expiry depends on how packets
    // were batched, so on the number of workers and on timing.
    r.ts_us = reason == flow::EndReason::kTimeout
                  ? flow.last_us + flows_.timeout_us(flow.timeout_class)
                  : now_us_;
    r.flow_id = flow.id();
    r.endpoints.src_ip = flow.client_ip();
    r.endpoints.dest_ip = flow.server_ip();
    r.endpoints.src_port = flow.client_port;
    r.endpoints.dest_port = flow.server_port;
    r.endpoints.ip_proto = flow.key.ip_proto;
    r.endpoints.icmp_type = flow.icmp_type;
    r.endpoints.icmp_code = flow.icmp_code;
    r.app_proto = app_proto.empty() ? std::string_view("failed") : app_proto;
    r.pkts_toserver = flow.pkts[0];
    r.pkts_toclient = flow.pkts[1];
    r.bytes_toserver = flow.bytes[0];
    r.bytes_toclient = flow.bytes[1];
    r.start_us = flow.start_us;
    r.end_us = flow.last_us;
    r.state = flow_state_name(flow);
    r.reason = end_reason_name(reason);
    r.alerted = flow.alerted;
    char protocol_name[decltype(r.ndpi_protocol)::capacity()];
    r.ndpi_protocol = classifier_.protocol_name(app, protocol_name);
    r.ndpi_category = classifier_.category_view(app);
    r.host = std::string_view(app.host, strnlen(app.host, sizeof(app.host)));
    r.ja3 = std::string_view(app.ja3, strnlen(app.ja3, sizeof(app.ja3)));
    r.ndpi_risk_bits = app.risk & ~uint64_t{1};  // bit 0 is nDPI's "no risk"
    r.risk_name = &classify::Classifier::risk_name;
    r.community_id = alert::community_id_v1_text(r.endpoints);
    output_.flows.push_back(r);
    if (formatter_ != nullptr) {
        make_line(output_.flow_lines, output_.flow_line_ends,
                  [&](std::string& out) { formatter_->append_flow(out, r); });
    }
    stats_.flows_ended.add();
    size_t app_id = app.master_protocol != 0 ? app.master_protocol : app.app_protocol;
    stats_.flows_by_app_id[app_id < kMaxAppIds ? app_id : 0].add();
}

Worker::~Worker() {
    flows_.end_all([](flow::Flow& f, flow::EndReason) { classify::Classifier::release(f.app); });
}

void Worker::finish() {
    auto on_end = [this](flow::Flow& f, flow::EndReason r) { end_flow(f, r); };
    // Flows already idle past their timeout end as timed out, however many the per-batch
    // expire budget left: how many it left depends on where batches ended, which differs with
    // the number of workers.
    while (flows_.expire(now_us_, on_end) > 0) {
    }
    flows_.end_all(on_end);
}

}  // namespace sensor::pipeline
