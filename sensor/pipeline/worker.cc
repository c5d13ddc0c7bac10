#include "sensor/pipeline/worker.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "sensor/flow/stream_tail.h"

namespace sensor::pipeline {

namespace {

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

}  // namespace

Worker::Worker(const WorkerConfig& config, std::shared_ptr<const detect::SignatureDb> signatures,
               std::vector<BuiltinRule> builtin_rules)
    : config_(config),
      signatures_(std::move(signatures)),
      builtin_rules_(std::move(builtin_rules)),
      decoder_(config.decode),
      flows_(config.flow),
      classifier_(config.classify),
      app_layer_(config.applayer),
      detector_(std::make_unique<detect::Detector>(signatures_)),
      builtin_(config.builtin) {}

void Worker::switch_rules() {
    uint64_t generation = rule_exchange_->generation();
    // The new database needs its own scratch: allocated here, between batches, never while a
    // packet is in flight. Rule indices change, so pending matches are not carried over.
    signatures_ = rule_exchange_->current();
    for (const auto& spec : detect::kDetectCounters) {
        (detect_retired_.*spec.field).add((detector_->stats().*spec.field).load());
    }
    detector_ = std::make_unique<detect::Detector>(signatures_);
    publish_detect_stats();
    rules_generation_.store(generation, std::memory_order_relaxed);
}

void Worker::process(const core::FrameBatch& batch) {
    if (rule_exchange_ != nullptr && rule_exchange_->generation() != rules_generation()) {
        switch_rules();
    }
    const auto started = std::chrono::steady_clock::now();
    auto on_end = [this](flow::Flow& f, flow::EndReason r) { end_flow(f, r); };
    for (const core::Frame& frame : batch) {
        stats_.frames.add();
        if (decoder_.decode(frame, packet_) != decode::Verdict::kPacket) {
            continue;  // counted by the decoder (non-ip, fragment held, or dropped{reason})
        }
        stats_.packets_analysed.add();
        now_us_ = std::max(now_us_, packet_.ts_us);
        bool to_server = true;
        flow::Flow& flow = flows_.find_or_insert(packet_, to_server, on_end);
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
    app_layer_.update(flow, to_server, pkt, app_buffers_);

    std::span<const uint8_t> prefix;
    bool saw_handshake = (flow.tcp_flags[0] & decode::kTcpSyn) != 0;
    if (config_.stream_midstream || saw_handshake) {
        prefix = flows_.stream_prefix(flow, to_server, pkt);
    }
    detect::PacketContext ctx;
    ctx.pkt = &pkt;
    ctx.app_proto = std::string_view(app.app_proto);
    ctx.stream_prefix = prefix;
    ctx.to_server = to_server;
    if (pkt.ip_proto == decode::kIpProtoTcp) {
        // kEstablished is also where a flow picked up mid-stream lands once data flows.
        ctx.established = flow.tcp_state == flow::TcpState::kEstablished ||
                          flow.tcp_state == flow::TcpState::kClosing;
    } else {
        ctx.established = flow.pkts[0] > 0 && flow.pkts[1] > 0;
    }
    ctx.flow_state = &flow.detect;
    ctx.buffers = app_buffers_.any ? &app_buffers_ : nullptr;
    // Pipelined HTTP requests completed by one packet: only the first transaction's buffers
    // are inspected with this packet (AppLayer::next() is not drained yet).
    detector_->match(ctx, matches_);
    // The list is in rule evaluation order (Suricata's signature order), so the first
    // packet_alert_max are the ones Suricata would keep.
    const size_t kept = std::min<size_t>(matches_.count, config_.packet_alert_max);
    for (size_t i = 0; i < kept; ++i) {
        emit_rule_alert(flow, to_server, pkt, signatures_->rule(matches_.rule_index[i]));
    }
    if (const uint64_t over = matches_.overflow + (matches_.count - kept); over > 0) {
        stats_.alerts_suppressed_overflow.add(over);
    }
    if (uint32_t sid = builtin_.observe(pkt); sid != 0) {
        emit_builtin_alert(flow, to_server, pkt, sid);
    }
    flows_.advance_stream(flow, to_server, pkt);
}

core::AlertRecord Worker::alert_base(const flow::Flow& flow, bool to_server,
                                     const decode::DecodedPacket& pkt) const {
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
    a.app_proto = flow.app.app_proto;
    a.direction = to_server ? "to_server" : "to_client";
    a.action = "allowed";  // a passive sensor never blocks
    a.set_packet(pkt.link, pkt.ip, pkt.payload);
    return a;
}

void Worker::emit_rule_alert(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                             const rules::Rule& rule) {
    core::AlertRecord a = alert_base(flow, to_server, pkt);
    a.gid = rule.gid;
    a.signature_id = rule.sid;
    a.rev = rule.rev;
    a.signature = rule.msg;
    a.category = rule.class_description;
    a.severity = rule.priority;
    a.metadata = rule.metadata;
    a.concepts = rule.concepts;
    count_alert(a);
    output_.alerts.push_back(std::move(a));
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
    a.signature = it->msg;
    a.category = it->category;
    a.severity = it->severity;
    a.metadata.emplace_back("detector", "builtin");
    a.concepts = it->concepts;
    count_alert(a);
    output_.alerts.push_back(std::move(a));
    flow.alerted = true;
}

void Worker::count_alert(const core::AlertRecord& alert) noexcept {
    stats_.alerts.add();
    count_alert_labels(stats_.alerts_by_concept, stats_.alerts_by_severity, alert);
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
    app_layer_.release(flow);
    core::AppInfo& app = flow.app;
    if (app.state == core::ClassifyState::kPending) {
        classifier_.finish(app);  // gives up with a guess and fills app.app_proto
    }
    core::FlowRecord r;
    r.ts_us = now_us_;
    r.flow_id = flow.id();
    r.endpoints.src_ip = flow.client_ip();
    r.endpoints.dest_ip = flow.server_ip();
    r.endpoints.src_port = flow.client_port;
    r.endpoints.dest_port = flow.server_port;
    r.endpoints.ip_proto = flow.key.ip_proto;
    r.endpoints.icmp_type = flow.icmp_type;
    r.endpoints.icmp_code = flow.icmp_code;
    r.app_proto = app.app_proto[0] != '\0' ? app.app_proto : "failed";
    r.pkts_toserver = flow.pkts[0];
    r.pkts_toclient = flow.pkts[1];
    r.bytes_toserver = flow.bytes[0];
    r.bytes_toclient = flow.bytes[1];
    r.start_us = flow.start_us;
    r.end_us = flow.last_us;
    r.state = flow_state_name(flow);
    r.reason = end_reason_name(reason);
    r.alerted = flow.alerted;
    r.ndpi_protocol = classifier_.protocol_name(app);
    r.ndpi_category = classifier_.category_name(app);
    r.host = app.host;
    r.ja3 = app.ja3;
    r.ndpi_risks = classifier_.risk_names(app);
    output_.flows.push_back(std::move(r));
    stats_.flows_ended.add();
    size_t app_id = app.master_protocol != 0 ? app.master_protocol : app.app_protocol;
    stats_.flows_by_app_id[app_id < kMaxAppIds ? app_id : 0].add();
}

void Worker::finish() {
    flows_.end_all([this](flow::Flow& f, flow::EndReason r) { end_flow(f, r); });
}

}  // namespace sensor::pipeline
