#pragma once
// Worker: runs every per-packet stage for the flows it owns: decode -> flow -> classify ->
// detect. Owns its decoder, flow table, classifier, Hyperscan scratch and counters; nothing
// here is shared with another worker. Alerts and flow records collect in output() and are
// drained by the caller after each batch.

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rules/taxonomy.h"
#include "sensor/applayer/app_layer.h"
#include "sensor/classify/classifier.h"
#include "sensor/core/app_buffers.h"
#include "sensor/core/concepts.h"
#include "sensor/core/counter.h"
#include "sensor/core/frame.h"
#include "sensor/core/records.h"
#include "sensor/decode/decoder.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/detect/detector.h"
#include "sensor/flow/flow_table.h"
#include "sensor/flow/reassembly.h"
#include "sensor/pipeline/pipeline_stats.h"
#include "sensor/pipeline/record_formatter.h"
#include "sensor/pipeline/rule_exchange.h"
#include "sensor/pipeline/stream_runs.h"

namespace sensor::pipeline {

struct WorkerConfig {
    decode::DecodeConfig decode;
    flow::FlowConfig flow;
    classify::ClassifyConfig classify;
    applayer::AppLayerConfig applayer;
    detect::BuiltinConfig builtin;
    bool stream_midstream = true;  // use the stream window for flows joined mid-session
    // Bytes of TCP payload held per worker until acknowledged or back in order
    // (stream.reassembly.memcap); 0: the app layer parses on arrival, in arrival order.
    size_t stream_reassembly_memcap = flow::ReassemblyConfig{}.memcap_bytes;
    // Bytes of TCP payload held per worker while a segment ahead of a missing one waits for
    // it, so that payload rules see each direction in sequence order
    // (stream.reassembly.ordering-memcap); 0: payload is inspected in arrival order.
    size_t stream_ordering_memcap = size_t{16} << 20;
    // Sequence space of a direction that is reassembled (stream.reassembly.depth, Suricata's
    // default 1 MiB): later segments are inspected in arrival order, neither held nor
    // trimmed. 0: no limit.
    uint32_t stream_depth = uint32_t{1} << 20;
    // Alerts written per packet at most (Suricata's packet-alert-max), the first in rule
    // evaluation order, counted apart for payload rules and for rules on app-layer buffers
    // (which Suricata inspects on a later packet); the rest count in
    // alerts_suppressed_overflow. At most MatchList::kMax.
    uint32_t packet_alert_max = 15;
    // Threshold/detection_filter tracking entries (16 bytes each). A Pipeline keeps one table
    // of this size for all its workers; a Worker made without one keeps its own.
    size_t threshold_entries = detect::Detector::kDefaultThresholdEntries;
    // xbits (16 bytes each), likewise one table for all the workers of a Pipeline.
    size_t xbit_entries = detect::Detector::kDefaultXbitEntries;
    // Suricata's tls encryption-handling: false ("default") stops inspecting a TLS flow's
    // payload once its encrypted phase begins (both ChangeCipherSpecs, then application
    // data); true ("full") inspects it to the end.
    bool tls_inspect_encrypted = false;
    // Ask for the next frame's bytes (its first kPrefetchBytes) while this one is processed.
    // A worker fed by another thread meets each frame cold (that thread's core, or no core,
    // read it last); one worker running inline has them from its own reading. Pipeline sets
    // it from PipelineOptions::prefetch_frames when it runs several workers.
    bool prefetch_frames = false;
    static constexpr size_t kPrefetchBytes = 512;
};

inline constexpr size_t kMaxAppIds = 512;  // classifier protocol ids counted per app

// Upper bounds (ns) of the batch processing latency histogram; the last bucket is +Inf.
inline constexpr std::array<uint64_t, 11> kBatchLatencyBoundsNs = {
    10'000,    25'000,    50'000,    100'000,    250'000,   500'000,
    1'000'000, 2'500'000, 5'000'000, 10'000'000, 50'000'000};

struct WorkerStats {
    core::Counter frames;
    core::Counter packets_analysed;  // decoded IP packets that reached the flow stage
    core::Counter alerts;
    core::Counter alerts_suppressed_overflow;  // more rules matched one packet than fit
    core::Counter flows_ended;
    // Bounded label sets for metrics: indexed, never keyed by strings on the data path.
    std::array<core::Counter, core::kConceptCount> alerts_by_concept;
    std::array<core::Counter, 5> alerts_by_severity;        // [1..4]; [0] = other
    std::array<core::Counter, kMaxAppIds> flows_by_app_id;  // see Worker::app_proto_name
    // Batch processing latency: non-cumulative bucket counts (last = above every bound).
    std::array<core::Counter, kBatchLatencyBoundsNs.size() + 1> batch_latency_buckets;
    core::Counter batch_latency_sum_ns;
    core::Counter batches;
};

// What a worker hands to the output thread. Blocks of it travel worker -> output thread ->
// worker; each keeps the capacity of its vectors, so a warm worker allocates nothing for them.
// The buffers of written alerts (packet copy, HTTP fields) come back the same way for the
// next alerts: at most kSpareAlerts wait in the worker, the rest are freed when it takes a
// block back, so spares never hold more than the alerts in flight held.
struct WorkerOutput {
    static constexpr size_t kSpareAlerts = 64;
    // A packet buffer larger than this (jumbo frames, reassembled datagrams) is not kept.
    static constexpr size_t kSparePacketBytes = 4096;

    std::vector<core::AlertRecord> alerts;
    std::vector<core::FlowRecord> flows;
    // With a RecordFormatter, the worker's line of each record, one after another: flows[i]'s
    // line ends at flow_line_ends[i] and starts where the one before ends (an empty line: not
    // made, the sink formats the record itself); alerts likewise.
    std::string alert_lines;
    std::vector<uint32_t> alert_line_ends;
    std::string flow_lines;
    std::vector<uint32_t> flow_line_ends;
    std::vector<std::vector<uint8_t>> spare_packets;
    std::vector<core::HttpRecord> spare_http;

    // Room for the spares, taken once (by the worker for its own output; an output block's
    // on its first clear()).
    void reserve_spares() {
        spare_packets.reserve(kSpareAlerts);
        spare_http.reserve(kSpareAlerts);
    }
    // The records were written (or dropped): their buffers become spares.
    void clear() noexcept {
        if (spare_packets.capacity() == 0 && !alerts.empty()) {
            try {
                reserve_spares();
            } catch (...) {  // out of memory: no spares, nothing else changes
            }
        }
        for (auto& alert : alerts) {
            // Within capacity: push_back neither allocates nor throws.
            if (spare_packets.size() < spare_packets.capacity() &&
                alert.packet.capacity() <= kSparePacketBytes) {
                spare_packets.push_back(std::move(alert.packet));
            }
            if (alert.http && spare_http.size() < spare_http.capacity()) {
                spare_http.push_back(std::move(*alert.http));
            }
        }
        alerts.clear();
        flows.clear();
        alert_lines.clear();
        alert_line_ends.clear();
        flow_lines.clear();
        flow_line_ends.clear();
    }
    // A buffer for the next alert's packet copy; empty (no capacity) when none is spare.
    std::vector<uint8_t> take_spare_packet() noexcept { return take(spare_packets); }
    // A record whose strings have capacity, for the next HTTP alert; every field is assigned
    // again (HttpSession::describe).
    core::HttpRecord take_spare_http() noexcept { return take(spare_http); }
    // Takes back what the output thread kept in `block` as it wrote the block's records, as
    // much as fits; frees the rest.
    void take_spares_from(WorkerOutput& block) noexcept {
        move_spares(block.spare_packets, spare_packets);
        move_spares(block.spare_http, spare_http);
    }

private:
    template <class T>
    static T take(std::vector<T>& spares) noexcept {
        if (spares.empty()) {
            return T{};
        }
        T spare = std::move(spares.back());
        spares.pop_back();
        return spare;
    }
    template <class T>
    static void move_spares(std::vector<T>& from, std::vector<T>& to) noexcept {
        while (!from.empty() && to.size() < to.capacity()) {
            to.push_back(std::move(from.back()));
            from.pop_back();
        }
        from.clear();
    }
};

// Rule identity for built-in detectors, resolved once through the taxonomy.
struct BuiltinRule {
    uint32_t sid = 0;
    std::string msg;
    std::string classtype;
    std::string category;
    int severity = 3;
    std::vector<std::string> concepts;
};

class Worker {
public:
    // thresholds: threshold state shared with other workers (kept across rule reloads);
    // nullptr: one of config.threshold_entries entries for this worker alone. xbits: likewise
    // (config.xbit_entries). builtin_state: the built-in detectors' state, likewise.
    Worker(const WorkerConfig& config, std::shared_ptr<const detect::SignatureDb> signatures,
           std::vector<BuiltinRule> builtin_rules,
           std::shared_ptr<detect::ThresholdTable> thresholds = nullptr,
           std::shared_ptr<detect::XbitTable> xbits = nullptr,
           std::shared_ptr<detect::BuiltinState> builtin_state = nullptr);
    // Frees the nDPI state of flows still open (a worker dropped without finish()).
    ~Worker();
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;

    void process(const core::FrameBatch& batch);
    // Ends every open flow (end of run, or the capture's time starting over): those idle past
    // their timeout as timed out, the rest as at shutdown. Their records land in output().
    void finish();

    WorkerOutput& output() noexcept { return output_; }
    const WorkerStats& stats() const noexcept { return stats_; }
    const decode::Decoder& decoder() const noexcept { return decoder_; }
    const flow::FlowTable& flows() const noexcept { return flows_; }
    const flow::Reassembler& reassembler() const noexcept { return reassembler_; }
    // Orders TCP payload for payload inspection (segments ahead of a missing one wait).
    const flow::Reassembler& payload_order() const noexcept { return payload_order_; }
    const classify::Classifier& classifier() const noexcept { return classifier_; }
    const applayer::AppLayer& app_layer() const noexcept { return app_layer_; }
    // The current detector: owning thread only (it is replaced on rule reload).
    const detect::Detector& detector() const noexcept { return *detector_; }
    // Detection counters across rule reloads; safe to read from any thread.
    const detect::DetectStats& detect_stats() const noexcept { return detect_totals_; }
    // Follow rule reloads published there (checked between batches). Not owned.
    void follow_rules(const RuleExchange* exchange) noexcept { rule_exchange_ = exchange; }
    uint64_t rules_generation() const noexcept {
        return rules_generation_.load(std::memory_order_relaxed);
    }
    const detect::BuiltinDetectors& builtin() const noexcept { return builtin_; }
    // Records from now on come with their lines made by `formatter` (not owned; null: none).
    void format_records_with(const RecordFormatter* formatter) noexcept { formatter_ = formatter; }
    // EVE app_proto name of an index of WorkerStats::flows_by_app_id ("failed" for 0).
    std::string app_proto_name(size_t app_id) const;

private:
    void switch_rules();
    void analyse(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt);
    // Fills app_buffers_ for pkt: through the reassembly for the flows it holds, else on
    // arrival.
    void update_app_layer(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt);
    // Stream bytes that payload keywords inspect instead of a packet's payload.
    struct StreamView {
        std::span<const uint8_t> bytes;
        std::span<const uint8_t> prefix;  // the bytes before them in the stream
        bool payload_only = false;        // a further run: payload rules only, no buffers
    };
    // Detection of pkt with app_buffers_; end_of_stream: a pseudo packet at the flow's end
    // that inspects transactions only; stream: the ordered bytes its payload rules inspect
    // (nullptr: the packet's payload, after the stream tail when it continues the stream).
    void inspect(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                 bool end_of_stream, const StreamView* stream = nullptr);
    void inspect_at_end(flow::Flow& flow, bool to_server);
    // Payload ordering: true when pkt's payload went through payload_order_, whose output
    // for this packet is in runs_; false: inspect the packet's payload as it came.
    bool order_payload(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt);
    // Inspects the runs of runs_ (pkt's and, after a reset or flush, the other direction's)
    // and moves the stream tails over them.
    void inspect_ordered(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt);
    // Inspects runs of stream bytes with payload rules only, on pkt (its own direction) or
    // on a pseudo packet of that direction.
    void inspect_runs(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                      std::span<const StreamRuns::Run> runs);
    // The part of a TCP segment behind the stream's newest byte that is new, for a segment
    // that is a retransmission or overlaps bytes already inspected (then true).
    bool retransmitted_part(const flow::Flow& flow, bool to_server,
                            const decode::DecodedPacket& pkt, StreamView& fresh) const;
    // The flow's TCP stream is followed (handshake seen, or stream.midstream).
    bool stream_tracked(const flow::Flow& flow) const noexcept;
    // pkt starts past stream_depth bytes of its direction's stream.
    bool past_depth(const flow::Flow& flow, bool to_server,
                    const decode::DecodedPacket& pkt) const noexcept;
    // A retransmission cannot lie further behind than a receive window reaches; a segment
    // further back belongs to something else (a reused port) and is inspected whole.
    static constexpr int32_t kMaxRetransmissionBehind = int32_t{1} << 20;
    // Suricata's pseudo packet for one direction at the flow's end, in end_packet_.
    const decode::DecodedPacket& pseudo_packet(const flow::Flow& flow, bool to_server);
    void follow_tls_encryption(flow::Flow& flow, bool to_server,
                               const decode::DecodedPacket& pkt) noexcept;
    void analyse_arp(const decode::DecodedPacket& pkt);
    void end_flow(flow::Flow& flow, flow::EndReason reason);
    void emit_rule_alert(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                         const rules::Rule& rule);
    void emit_builtin_alert(flow::Flow& flow, bool to_server, const decode::DecodedPacket& pkt,
                            uint32_t sid);
    void count_alert(const core::AlertRecord& alert) noexcept;
    // Counts the alert and hands it to output_, with its line when a formatter is set.
    void push_alert(core::AlertRecord&& alert);
    // Takes a spare packet buffer of output_ for the packet copy.
    core::AlertRecord alert_base(const flow::Flow& flow, bool to_server,
                                 const decode::DecodedPacket& pkt);
    // The classifier's app_proto, else (when it has none or "failed") the protocol the app
    // layer recognised: what alerts and flow records say, as Suricata's app-layer
    // detection names flows before, or without, the classifier.
    std::string_view flow_app_proto(const flow::Flow& flow) const noexcept;

    WorkerConfig config_;
    std::shared_ptr<const detect::SignatureDb> signatures_;
    std::vector<BuiltinRule> builtin_rules_;
    // Alert texts of builtin_rules_, same order, made once: alerts refer to them.
    std::vector<std::shared_ptr<const core::RuleTexts>> builtin_texts_;
    decode::Decoder decoder_;
    flow::FlowTable flows_;
    flow::Reassembler reassembler_;
    flow::Reassembler payload_order_;
    StreamRuns runs_;
    classify::Classifier classifier_;
    applayer::AppLayer app_layer_;
    core::AppBuffers app_buffers_;
    std::shared_ptr<detect::ThresholdTable> thresholds_;  // before detector_: it uses it
    std::shared_ptr<detect::XbitTable> xbits_;            // likewise
    std::unique_ptr<detect::Detector> detector_;
    detect::DetectStats detect_retired_;  // counts of detectors replaced by reloads
    detect::DetectStats detect_totals_;   // retired + current, refreshed after each batch
    void publish_detect_stats() noexcept;
    const RuleExchange* rule_exchange_ = nullptr;
    std::atomic<uint64_t> rules_generation_{1};  // written by this worker, read by metrics
    detect::BuiltinDetectors builtin_;
    decode::DecodedPacket packet_;
    decode::DecodedPacket end_packet_;  // end-of-stream pseudo packets (flow end)
    detect::MatchList matches_;
    int64_t now_us_ = 0;     // newest packet time seen
    uint32_t timeline_ = 0;  // FrameBatch::timeline of the batches seen so far
    WorkerOutput output_;
    const RecordFormatter* formatter_ = nullptr;
    WorkerStats stats_;
};

}  // namespace sensor::pipeline
