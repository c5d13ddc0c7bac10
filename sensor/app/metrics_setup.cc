#include "sensor/app/metrics_setup.h"

#include <hs.h>
#include <ndpi_api.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string_view>
#include <utility>

#include "sensor/applayer/htp_heap.h"
#include "sensor/core/concepts.h"
#include "sensor/core/sha256.h"
#include "sensor/decode/drop_reason.h"

namespace sensor::app {

using metrics::FamilySpec;
using metrics::MetricKind;
using metrics::SampleWriter;

// What providers read besides the counters: names resolved once at start, sizes that do not
// change, and the rule set information and load status (the only parts that change, under
// rules_mutex_).
class MetricsState {
public:
    MetricsSources sources;
    std::vector<std::string> app_proto;      // [app id] EVE app_proto name
    std::vector<std::string> ndpi_protocol;  // [app id] nDPI protocol name
    uint64_t detect_database_bytes = 0;
    uint64_t detect_scratch_bytes = 0;  // one worker's Hyperscan scratch
    double start_time_s = 0;

    RuleSetInfo rules() const {
        std::lock_guard lock(rules_mutex_);
        return sources.rules;
    }
    RuleLoadStatus rule_load() const {
        std::lock_guard lock(rules_mutex_);
        return sources.rule_load;
    }
    void record_reload(RuleReload r) {
        std::lock_guard lock(rules_mutex_);
        RuleLoadStatus& status = sources.rule_load;
        status.last_ts = r.ts;
        status.last_ok = r.ok;
        status.last_duration_s = r.duration_s;
        ++(r.ok ? status.reloads_ok : status.reloads_failed);
        if (r.rules) {
            sources.rules = std::move(*r.rules);
        }
    }

private:
    mutable std::mutex rules_mutex_;  // guards sources.rules and sources.rule_load
};

namespace {

double as_double(uint64_t v) { return static_cast<double>(v); }

template <class Fn>
uint64_t sum_workers(const MetricsState& s, Fn&& fn) {
    uint64_t n = 0;
    for (const pipeline::Worker* w : s.sources.workers) {
        n += fn(*w);
    }
    return n;
}

// Hyperscan sizes of the shared databases and of one worker's scratch (every worker clones
// the same prototype, so one allocation measures them all).
void measure_hyperscan(const pipeline::Worker& worker, MetricsState& s) {
    const rules::CompiledRules& compiled = worker.detector().db().compiled();
    s.detect_database_bytes = compiled.database_bytes();
    hs_scratch_t* scratch = nullptr;
    bool ok = true;
    for (const hs_database_t* db : compiled.databases()) {
        ok = ok && hs_alloc_scratch(db, &scratch) == HS_SUCCESS;
    }
    if (scratch != nullptr) {
        size_t scratch_bytes = 0;
        if (ok && hs_scratch_size(scratch, &scratch_bytes) == HS_SUCCESS) {
            s.detect_scratch_bytes = scratch_bytes;
        }
        hs_free_scratch(scratch);
    }
}

// Registers a module's CounterSpec table: one family per entry, summed over workers. The
// tables carry no type: an entry named *_total is a counter, any other a gauge (a level such
// as parsers alive or bytes held, set by its owner).
template <class Stats, size_t N, class Get>
core::Result<void> add_table(metrics::Registry& r, const std::shared_ptr<MetricsState>& st,
                             const core::CounterSpec<Stats> (&table)[N], Get get_stats) {
    for (const auto& spec : table) {
        auto field = spec.field;
        const MetricKind kind =
            spec.name.ends_with("_total") ? MetricKind::kCounter : MetricKind::kGauge;
        auto ok = r.add(FamilySpec{std::string(spec.name), std::string(spec.help), kind, {}},
                        [st, field, get_stats](SampleWriter& w) {
                            w.add(as_double(sum_workers(*st, [&](const pipeline::Worker& wk) {
                                return (get_stats(wk).*field).load();
                            })));
                        });
        if (!ok) {
            return ok;
        }
    }
    return {};
}

class Builder {
public:
    Builder(metrics::Registry& r, std::shared_ptr<MetricsState> st) : r_(r), st_(std::move(st)) {}

    void add(std::string name, std::string help, MetricKind kind, std::vector<std::string> labels,
             metrics::Provider provider) {
        if (!error_) {
            auto ok = r_.add(FamilySpec{std::move(name), std::move(help), kind, std::move(labels)},
                             std::move(provider));
            if (!ok) {
                error_ = ok.error();
            }
        }
    }
    // A counter without labels: the sum over workers of one value per worker.
    template <class Fn>
    void worker_counter(const std::string& name, const std::string& help, Fn fn) {
        add(name, help, MetricKind::kCounter, {},
            [st = st_, fn](SampleWriter& w) { w.add(as_double(sum_workers(*st, fn))); });
    }
    template <class Stats, size_t N, class Get>
    void table(const core::CounterSpec<Stats> (&t)[N], Get get) {
        if (!error_) {
            if (auto ok = add_table(r_, st_, t, get); !ok) {
                error_ = ok.error();
            }
        }
    }
    const std::shared_ptr<MetricsState>& state() const { return st_; }
    std::optional<core::Error> error() const { return error_; }

private:
    metrics::Registry& r_;
    std::shared_ptr<MetricsState> st_;
    std::optional<core::Error> error_;
};

// Per-source values, one sample per distinct source name: sources that share a name (the same
// file replayed twice) are merged, summed or, for timestamps, the newest kept.
template <class Value, class Merge>
void per_source(const pipeline::PipelineStats* p, SampleWriter& w, Value value, Merge merge) {
    std::vector<std::pair<std::string_view, double>> merged;
    for (size_t i = 0; p != nullptr && i < p->source_count && i < pipeline::kMaxSources; ++i) {
        const std::string_view name = p->source_names[i];
        const double v = value(p->sources[i]);
        auto it = std::find_if(merged.begin(), merged.end(),
                               [name](const auto& e) { return e.first == name; });
        if (it == merged.end()) {
            merged.emplace_back(name, v);
        } else {
            it->second = merge(it->second, v);
        }
    }
    for (const auto& [name, v] : merged) {
        w.add({name}, v);
    }
}

void add_capture(Builder& b) {
    const pipeline::PipelineStats* p = b.state()->sources.pipeline;
    struct Field {
        const char* name;
        const char* help;
        core::Counter pipeline::SourceCounters::*field;
    };
    for (const Field& f : {
             Field{"sensor_capture_packets_total", "Frames read from the capture source",
                   &pipeline::SourceCounters::packets},
             Field{"sensor_capture_bytes_total", "Captured bytes read from the capture source",
                   &pipeline::SourceCounters::bytes},
             Field{"sensor_capture_filtered_total",
                   "Frames read from a capture file and rejected by the capture filter",
                   &pipeline::SourceCounters::filtered},
             Field{"sensor_capture_kernel_dropped_total",
                   "Frames the kernel or capture ring dropped before the sensor read them",
                   &pipeline::SourceCounters::kernel_drops},
             Field{"sensor_capture_interface_dropped_total", "Frames the network interface dropped",
                   &pipeline::SourceCounters::interface_drops},
         }) {
        auto field = f.field;
        b.add(f.name, f.help, MetricKind::kCounter, {"source"}, [p, field](SampleWriter& w) {
            per_source(
                p, w,
                [field](const pipeline::SourceCounters& c) { return as_double((c.*field).load()); },
                [](double a, double v) { return a + v; });
        });
    }
    b.add("sensor_capture_last_packet_timestamp_seconds",
          "Capture time (packet time, unix seconds) of the newest frame read from the source",
          MetricKind::kGauge, {"source"}, [p](SampleWriter& w) {
              per_source(
                  p, w,
                  [](const pipeline::SourceCounters& c) {
                      return as_double(c.last_packet_ts_us.load()) / 1e6;
                  },
                  [](double a, double v) { return std::max(a, v); });
          });
}

void add_pipeline(Builder& b) {
    const pipeline::PipelineStats* p = b.state()->sources.pipeline;
    auto per_worker =
        [p](std::array<core::Counter, pipeline::kMaxWorkers> pipeline::PipelineStats::*field) {
            return [p, field](SampleWriter& w) {
                for (size_t i = 0; p != nullptr && i < p->worker_count && i < pipeline::kMaxWorkers;
                     ++i) {
                    w.add({std::to_string(i)}, as_double((p->*field)[i].load()));
                }
            };
        };
    b.add("sensor_pipeline_enqueued_total", "Frames handed to the worker's ring",
          MetricKind::kCounter, {"worker"}, per_worker(&pipeline::PipelineStats::enqueued));
    b.add("sensor_pipeline_ring_dropped_total",
          "Frames dropped because the worker's ring was full (live capture only)",
          MetricKind::kCounter, {"worker"}, per_worker(&pipeline::PipelineStats::ring_full_drops));
    b.add("sensor_pipeline_ring_depth", "Batches waiting in the worker's ring", MetricKind::kGauge,
          {"worker"}, per_worker(&pipeline::PipelineStats::ring_depth));
    b.add("sensor_pipeline_ring_capacity",
          "Batches each worker's ring holds (capture.ring-batches; 0: no rings, as with one "
          "worker or af-packet)",
          MetricKind::kGauge, {},
          [p](SampleWriter& w) { w.add(as_double(p != nullptr ? p->ring_capacity : 0)); });
    b.add("sensor_pipeline_fragments_waiting",
          "IP fragments the dispatcher holds until their datagram's first fragment shows its "
          "flow (capture.dispatch: flow)",
          MetricKind::kGauge, {}, [p](SampleWriter& w) {
              w.add(as_double(p != nullptr ? p->fragments_waiting.load() : 0));
          });
    b.add("sensor_pipeline_workers", "Worker threads", MetricKind::kGauge, {},
          [st = b.state()](SampleWriter& w) { w.add(as_double(st->sources.workers.size())); });
}

void add_worker(Builder& b) {
    b.worker_counter("sensor_worker_frames_total", "Frames processed by the workers",
                     [](const pipeline::Worker& w) { return w.stats().frames.load(); });
    b.worker_counter("sensor_worker_packets_analysed_total",
                     "Decoded IP packets that reached flow tracking and detection",
                     [](const pipeline::Worker& w) { return w.stats().packets_analysed.load(); });
    b.add("sensor_worker_busy_seconds_total",
          "Wall time each worker spent processing batches (a rate near 1: the worker is "
          "saturated; rates that stay apart: work placed unevenly)",
          MetricKind::kCounter, {"worker"}, [st = b.state()](SampleWriter& w) {
              for (size_t i = 0; i < st->sources.workers.size(); ++i) {
                  const uint64_t ns = st->sources.workers[i]->stats().batch_latency_sum_ns.load();
                  w.add({std::to_string(i)}, static_cast<double>(ns) / 1e9);
              }
          });
    b.add("sensor_worker_batch_duration_seconds",
          "Wall time a worker spent processing one batch of frames", MetricKind::kHistogram, {},
          [st = b.state()](SampleWriter& w) {
              std::array<double, pipeline::kBatchLatencyBoundsNs.size()> bounds{};
              for (size_t i = 0; i < bounds.size(); ++i) {
                  bounds[i] = static_cast<double>(pipeline::kBatchLatencyBoundsNs[i]) / 1e9;
              }
              std::array<uint64_t, pipeline::kBatchLatencyBoundsNs.size() + 1> counts{};
              uint64_t sum_ns = 0;
              for (const pipeline::Worker* wk : st->sources.workers) {
                  const auto& s = wk->stats();
                  for (size_t i = 0; i < counts.size(); ++i) {
                      counts[i] += s.batch_latency_buckets[i].load();
                  }
                  sum_ns += s.batch_latency_sum_ns.load();
              }
              w.add_histogram({}, bounds, counts, static_cast<double>(sum_ns) / 1e9);
          });
}

void add_decode(Builder& b) {
    b.table(decode::kDecodeCounters, [](const pipeline::Worker& w) -> const decode::DecodeStats& {
        return w.decoder().stats();
    });
    b.add(std::string(decode::kDecodeDroppedMetric),
          "Frames dropped by the decoder, by reason (malformed or unsupported)",
          MetricKind::kCounter, {"reason"}, [st = b.state()](SampleWriter& w) {
              for (size_t i = 0; i < decode::kDropReasonCount; ++i) {
                  uint64_t n = sum_workers(*st, [i](const pipeline::Worker& wk) {
                      return wk.decoder().stats().dropped[i].load();
                  });
                  w.add({decode::kDropReasonNames[i]}, as_double(n));
              }
          });
}

// Stream tails (sensor/flow/stream_tail.h), per direction. Invariant: appended + retransmitted
// = every TCP payload byte the workers saw.
void add_stream(Builder& b) {
    struct S {
        const char* name;
        const char* help;
        std::array<core::Counter, 2> flow::StreamStats::*field;
    };
    for (const S& s : {
             S{"sensor_stream_appended_bytes_total",
               "TCP payload bytes appended in sequence order to the direction's stream tail "
               "(also the first bytes after a gap or of a flow joined mid-stream)",
               &flow::StreamStats::appended_bytes},
             S{"sensor_stream_gap_bytes_total",
               "TCP sequence space skipped because a segment arrived ahead of the next expected "
               "byte (lost, uncaptured or reordered segments); the tail restarts after a gap",
               &flow::StreamStats::gap_bytes},
             S{"sensor_stream_retransmitted_bytes_total",
               "TCP payload bytes at sequence numbers already passed (retransmissions, overlaps, "
               "late out-of-order segments); not appended to the stream tail",
               &flow::StreamStats::retransmitted_bytes},
         }) {
        auto field = s.field;
        b.add(s.name, s.help, MetricKind::kCounter, {"direction"},
              [st = b.state(), field](SampleWriter& w) {
                  static constexpr std::array<std::string_view, 2> kDirections = {"to_server",
                                                                                  "to_client"};
                  for (size_t d = 0; d < kDirections.size(); ++d) {
                      w.add({kDirections[d]},
                            as_double(sum_workers(*st, [field, d](const pipeline::Worker& wk) {
                                return (wk.flows().stream_stats().*field)[d].load();
                            })));
                  }
              });
    }
    // The app layer's TCP reassembly (sensor/flow/reassembly.h).
    b.table(flow::kReassemblyCounters,
            [](const pipeline::Worker& w) -> const flow::ReassemblyStats& {
                return w.reassembler().stats();
            });
    // Payload ordering for payload rules (the worker's second reassembler).
    b.table(flow::kOrderingCounters, [](const pipeline::Worker& w) -> const flow::ReassemblyStats& {
        return w.payload_order().stats();
    });
}

void add_flow(Builder& b) {
    // FlowStats has no CounterSpec table of its own; its metric names live here.
    b.worker_counter("sensor_flow_created_total", "Flows inserted into the flow table",
                     [](const pipeline::Worker& w) { return w.flows().stats().created.load(); });
    b.add("sensor_flow_ended_total",
          "Flows ended, by reason: timeout (idle), forced (evicted, table full), shutdown",
          MetricKind::kCounter, {"reason"}, [st = b.state()](SampleWriter& w) {
              struct R {
                  const char* name;
                  core::Counter flow::FlowStats::*field;
              };
              for (const R& r : {R{"timeout", &flow::FlowStats::ended_timeout},
                                 R{"forced", &flow::FlowStats::ended_forced},
                                 R{"shutdown", &flow::FlowStats::ended_shutdown}}) {
                  auto field = r.field;
                  w.add({r.name}, as_double(sum_workers(*st, [field](const pipeline::Worker& wk) {
                            return (wk.flows().stats().*field).load();
                        })));
              }
          });
    b.add("sensor_flow_active", "Flows in the flow tables now", MetricKind::kGauge, {},
          [st = b.state()](SampleWriter& w) {
              w.add(as_double(sum_workers(*st, [](const pipeline::Worker& wk) {
                  return wk.flows().stats().active.load();
              })));
          });
    b.add("sensor_flow_capacity", "Flow table slots (the cap on concurrent flows)",
          MetricKind::kGauge, {}, [st = b.state()](SampleWriter& w) {
              w.add(as_double(sum_workers(
                  *st, [](const pipeline::Worker& wk) { return wk.flows().capacity(); })));
          });
    b.add("sensor_flow_app_proto_total",
          "Flows ended, by application protocol (EVE app_proto and nDPI protocol name)",
          MetricKind::kCounter, {"app_proto", "ndpi_protocol"}, [st = b.state()](SampleWriter& w) {
              for (size_t id = 0; id < pipeline::kMaxAppIds; ++id) {
                  uint64_t n = sum_workers(*st, [id](const pipeline::Worker& wk) {
                      return wk.stats().flows_by_app_id[id].load();
                  });
                  if (n > 0) {
                      w.add({st->app_proto[id], st->ndpi_protocol[id]}, as_double(n));
                  }
              }
          });
    b.worker_counter("sensor_flow_records_total", "Flow records emitted (EVE flow events)",
                     [](const pipeline::Worker& w) { return w.stats().flows_ended.load(); });
    add_stream(b);
}

void add_applayer(Builder& b) {
    b.table(applayer::kAppLayerCounters,
            [](const pipeline::Worker& w) -> const applayer::AppLayerStats& {
                return w.app_layer().stats();
            });
    // libhtp's pool is one per process, not per worker.
    b.add("sensor_http_parser_pool_bytes",
          "Bytes of libhtp's allocation pool in use by size classes (never returned; at most "
          "app-layer.http.parser-pool)",
          MetricKind::kGauge, {},
          [](SampleWriter& w) { w.add(as_double(applayer::htp_heap_stats().carved_bytes)); });
    b.add("sensor_http_parser_pool_fallbacks_total",
          "libhtp allocations made with malloc because its pool was full or the request was "
          "larger than 64 KiB",
          MetricKind::kCounter, {},
          [](SampleWriter& w) { w.add(as_double(applayer::htp_heap_stats().fallbacks)); });
}

void add_classify_detect(Builder& b) {
    b.table(classify::kClassifyCounters,
            [](const pipeline::Worker& w) -> const classify::ClassifyStats& {
                return w.classifier().stats();
            });
    // One series per risk libnDPI knows (about 40), zero or not: a bounded, fixed label set.
    b.add("sensor_classify_flow_risks_total",
          "Flows by nDPI flow risk, counted once per flow when its verdict is recorded (the "
          "risks of its EVE flow record)",
          MetricKind::kCounter, {"risk"}, [st = b.state()](SampleWriter& w) {
              const size_t limit =
                  std::min(classify::Classifier::risk_limit(), classify::kRiskSlots);
              for (size_t r = 1; r < limit; ++r) {
                  w.add({classify::Classifier::risk_name(r)},
                        as_double(sum_workers(*st, [r](const pipeline::Worker& wk) {
                            return wk.classifier().risk_counts()[r].load();
                        })));
              }
          });
    b.table(detect::kDetectCounters, [](const pipeline::Worker& w) -> const detect::DetectStats& {
        return w.detect_stats();
    });
    b.add("sensor_detect_builtin_alerts_total", "Alerts raised by built-in detectors",
          MetricKind::kCounter, {"detector"}, [st = b.state()](SampleWriter& w) {
              w.add({"port_scan"}, as_double(sum_workers(*st, [](const pipeline::Worker& wk) {
                        return wk.builtin().stats().scan_alerts.load();
                    })));
              w.add({"syn_flood"}, as_double(sum_workers(*st, [](const pipeline::Worker& wk) {
                        return wk.builtin().stats().flood_alerts.load();
                    })));
          });
    b.worker_counter(
        "sensor_detect_builtin_entries_replaced_total",
        "Built-in detector entries given up for another key (full tables)",
        [](const pipeline::Worker& w) { return w.builtin().stats().entries_replaced.load(); });
}

void add_alerts(Builder& b) {
    b.worker_counter("sensor_alert_generated_total", "Alerts generated by the workers",
                     [](const pipeline::Worker& w) { return w.stats().alerts.load(); });
    // Written alerts (after the output stage's de-duplication) when the pipeline's counters
    // are available, so the series match eve.json; the workers' own counts otherwise.
    const pipeline::PipelineStats* written = b.state()->sources.pipeline;
    b.add("sensor_alert_concept_total",
          "Alerts by Concept category (an alert counts once in each of its categories)",
          MetricKind::kCounter, {"concept"}, [st = b.state(), written](SampleWriter& w) {
              for (size_t i = 0; i < core::kConceptCount; ++i) {
                  uint64_t n = written != nullptr
                                   ? written->alerts_by_concept[i].load()
                                   : sum_workers(*st, [i](const pipeline::Worker& wk) {
                                         return wk.stats().alerts_by_concept[i].load();
                                     });
                  w.add({core::kConceptIds[i]}, as_double(n));
              }
          });
    b.add(
        "sensor_alert_severity_total",
        "Alerts by severity (rule priority 1 = highest; other = outside 1..4)",
        MetricKind::kCounter, {"severity"}, [st = b.state(), written](SampleWriter& w) {
            static constexpr std::array<std::string_view, 5> kNames = {"other", "1", "2", "3", "4"};
            for (size_t i = 0; i < kNames.size(); ++i) {
                uint64_t n = written != nullptr
                                 ? written->alerts_by_severity[i].load()
                                 : sum_workers(*st, [i](const pipeline::Worker& wk) {
                                       return wk.stats().alerts_by_severity[i].load();
                                   });
                w.add({kNames[i]}, as_double(n));
            }
        });
    const pipeline::PipelineStats* p = b.state()->sources.pipeline;
    b.add("sensor_alert_written_total",
          "Alerts written to the outputs (after duplicate built-in detections were removed)",
          MetricKind::kCounter, {}, [p](SampleWriter& w) {
              if (p != nullptr) {
                  w.add(as_double(p->alerts_written.load()));
              }
          });
    b.add(
        "sensor_alert_queue_dropped_total",
        "Alerts dropped because the output queue was full (never in replay)", MetricKind::kCounter,
        {}, [p](SampleWriter& w) {
            if (p != nullptr) {
                w.add(as_double(pipeline::sum_per_worker(p->alerts_queue_drops, p->worker_count)));
            }
        });
    b.add("sensor_alert_output_failed_total",
          "Alerts the EVE output could not take (lost; not counted as written)",
          MetricKind::kCounter, {}, [p](SampleWriter& w) {
              if (p != nullptr) {
                  w.add(as_double(p->alerts_output_failed.load()));
              }
          });
    b.add("sensor_flow_queue_dropped_total",
          "Flow records dropped because the output queue was full (never in replay)",
          MetricKind::kCounter, {}, [p](SampleWriter& w) {
              if (p != nullptr) {
                  w.add(as_double(pipeline::sum_per_worker(p->flows_queue_drops, p->worker_count)));
              }
          });
    // Syslog: written = messages the socket accepted; failed = lost to a send error, a full
    // queue or the stop deadline (each counter has one writer: the sender or the output thread).
    const alert::SyslogStats* syslog = b.state()->sources.syslog;
    b.add("sensor_output_written_total", "Records written by each output", MetricKind::kCounter,
          {"output"}, [p, syslog](SampleWriter& w) {
              if (p != nullptr) {
                  w.add({"eve"}, as_double(p->eve_written.load()));
              }
              if (syslog != nullptr) {
                  w.add({"syslog"}, as_double(syslog->sent.load()));
              }
          });
    b.add("sensor_output_failed_total", "Records an output failed to write (lost)",
          MetricKind::kCounter, {"output"}, [p, syslog](SampleWriter& w) {
              if (p != nullptr) {
                  w.add({"eve"}, as_double(p->eve_failed.load()));
              }
              if (syslog != nullptr) {
                  w.add({"syslog"},
                        as_double(syslog->send_failures.load() + syslog->dropped_queue_full.load() +
                                  syslog->dropped_at_stop.load()));
              }
          });
}

void add_rules(Builder& b) {
    auto st = b.state();
    b.add("sensor_rules_info", "The rule set in use: sha256 over its files", MetricKind::kInfo,
          {"ruleset_sha256"}, [st](SampleWriter& w) { w.add({st->rules().sha256}, 1); });
    struct G {
        const char* name;
        const char* help;
        uint64_t RuleSetInfo::*field;
    };
    for (const G& g : {G{"sensor_rules_loaded", "Rules loaded and active", &RuleSetInfo::loaded},
                       G{"sensor_rules_unsupported",
                         "Rules skipped because they use a keyword the sensor does not support",
                         &RuleSetInfo::unsupported},
                       G{"sensor_rules_failed", "Rules rejected with an error (see the log)",
                         &RuleSetInfo::failed}}) {
        auto field = g.field;
        b.add(g.name, g.help, MetricKind::kGauge, {},
              [st, field](SampleWriter& w) { w.add(as_double(st->rules().*field)); });
    }
    b.add("sensor_rules_files", "Rule files in the rule set", MetricKind::kGauge, {},
          [st](SampleWriter& w) { w.add(as_double(st->rules().files.size())); });
    b.add("sensor_rules_last_reload_timestamp_seconds",
          "Wall-clock time (unix seconds) the last rule load or reload attempt ended, ok or not",
          MetricKind::kGauge, {},
          [st](SampleWriter& w) { w.add(static_cast<double>(st->rule_load().last_ts)); });
    b.add("sensor_rules_last_reload_success",
          "1 when the last rule load or reload attempt succeeded, 0 when it was refused",
          MetricKind::kGauge, {},
          [st](SampleWriter& w) { w.add(st->rule_load().last_ok ? 1 : 0); });
    b.add("sensor_rules_last_reload_duration_seconds",
          "Wall time of the last rule load or reload attempt (parse, compile and switch)",
          MetricKind::kGauge, {},
          [st](SampleWriter& w) { w.add(st->rule_load().last_duration_s); });
    b.add("sensor_rules_reloads_total", "Rule reloads (SIGHUP) by result", MetricKind::kCounter,
          {"result"}, [st](SampleWriter& w) {
              const RuleLoadStatus status = st->rule_load();
              w.add({"ok"}, as_double(status.reloads_ok));
              w.add({"failed"}, as_double(status.reloads_failed));
          });
}

void add_memory(Builder& b) {
    auto st = b.state();
    b.add("sensor_memory_used_bytes", "Memory in use per component (see docs/metrics.md)",
          MetricKind::kGauge, {"component"}, [st](SampleWriter& w) {
              const auto slot = static_cast<uint64_t>(flow::FlowTable::slot_bytes());
              w.add({"flow_table"}, as_double(sum_workers(*st, [slot](const pipeline::Worker& wk) {
                        return wk.flows().stats().active.load() * slot;
                    })));
              const auto tail = static_cast<uint64_t>(flow::FlowTable::tail_bytes());
              w.add({"stream"}, as_double(sum_workers(*st, [tail](const pipeline::Worker& wk) {
                        return wk.flows().stream_stats().tails_in_use.load() * tail;
                    })));
              const uint64_t per_worker = st->detect_scratch_bytes + detect::Detector::kMaxPrefix +
                                          detect::Detector::kMaxPayload;
              w.add({"detect"},
                    as_double(st->detect_database_bytes + per_worker * st->sources.workers.size()));
              w.add({"applayer"}, as_double(sum_workers(*st, [](const pipeline::Worker& wk) {
                        return wk.app_layer().stats().memory_bytes.load();
                    })));
          });
    b.add("sensor_memory_limit_bytes",
          "Configured cap on memory per component (components without a cap are absent)",
          MetricKind::kGauge, {"component"}, [st](SampleWriter& w) {
              const auto slot = static_cast<uint64_t>(flow::FlowTable::slot_bytes());
              w.add({"flow_table"}, as_double(sum_workers(*st, [slot](const pipeline::Worker& wk) {
                        return wk.flows().capacity() * slot;
                    })));
              const auto tail = static_cast<uint64_t>(flow::FlowTable::tail_bytes());
              w.add({"stream"}, as_double(sum_workers(*st, [tail](const pipeline::Worker& wk) {
                        return wk.flows().tail_capacity() * tail;
                    })));
              w.add({"defrag"}, as_double(st->sources.worker_config.decode.defrag_memcap_bytes *
                                          st->sources.workers.size()));
              w.add({"applayer"}, as_double(st->sources.worker_config.applayer.memcap_bytes *
                                            st->sources.workers.size()));
          });
}

void add_build(Builder& b, metrics::Registry& registry) {
    auto st = b.state();
    const char* ndpi = ndpi_revision();
    std::string ndpi_version = ndpi != nullptr ? ndpi : "unknown";
    std::string hs = hs_version();
    hs = hs.substr(0, hs.find(' '));  // "5.4.0 2023-01-01": the date adds nothing
    b.add("sensor_build_info", "Sensor version and the versions of its engines", MetricKind::kInfo,
          {"version", "ndpi_version", "hyperscan_version"},
          [st, ndpi_version, hs](SampleWriter& w) {
              w.add({st->sources.version, ndpi_version, hs}, 1);
          });
    b.add("sensor_start_time_seconds", "Wall-clock time (unix seconds) the sensor started",
          MetricKind::kGauge, {}, [st](SampleWriter& w) { w.add(st->start_time_s); });
    b.add("sensor_metrics_sample_errors_total",
          "Samples left out of a scrape because of a provider bug (should stay 0)",
          MetricKind::kCounter, {},
          [&registry](SampleWriter& w) { w.add(as_double(registry.sample_errors())); });
}

}  // namespace

core::Result<RuleSetInfo> make_rule_set_info(const std::vector<std::string>& rule_paths,
                                             const rules::LoadReport& report) {
    RuleSetInfo info;
    for (const std::string& path : rule_paths) {
        std::error_code ec;
        if (!std::filesystem::is_directory(path, ec)) {
            info.files.push_back(path);
            continue;
        }
        std::vector<std::string> found;
        std::filesystem::directory_iterator it(path, ec);
        if (ec) {
            return core::make_error(path + ": cannot read rules directory: " + ec.message());
        }
        for (const auto& entry : it) {
            if (entry.path().extension() == ".rules" && entry.is_regular_file(ec)) {
                found.push_back(entry.path().string());
            }
        }
        std::sort(found.begin(), found.end());
        info.files.insert(info.files.end(), found.begin(), found.end());
    }
    auto digest = core::sha256_files(info.files);
    if (!digest) {
        return tl::unexpected(digest.error());
    }
    info.sha256 = std::move(*digest);
    info.loaded = report.loaded;
    info.unsupported = report.unsupported.size();
    info.failed = report.errors.size();
    return info;
}

core::Result<std::shared_ptr<MetricsState>> register_sensor_metrics(metrics::Registry& registry,
                                                                    MetricsSources sources) {
    auto st = std::make_shared<MetricsState>();
    st->sources = std::move(sources);
    st->app_proto.resize(pipeline::kMaxAppIds, "failed");
    st->ndpi_protocol.resize(pipeline::kMaxAppIds, "Unknown");
    if (!st->sources.workers.empty()) {
        const pipeline::Worker& first = *st->sources.workers.front();
        for (size_t id = 1; id < pipeline::kMaxAppIds; ++id) {
            st->app_proto[id] = first.app_proto_name(id);
            core::AppInfo info;
            info.master_protocol = static_cast<uint16_t>(id);
            st->ndpi_protocol[id] = first.classifier().protocol_name(info);
        }
        measure_hyperscan(first, *st);
    }
    st->start_time_s =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();

    Builder b(registry, st);
    add_capture(b);
    add_pipeline(b);
    add_worker(b);
    add_decode(b);
    add_flow(b);
    add_applayer(b);
    add_classify_detect(b);
    add_alerts(b);
    add_rules(b);
    add_memory(b);
    add_build(b, registry);
    if (auto e = b.error()) {
        return tl::unexpected(*e);
    }
    return st;
}

core::Result<std::unique_ptr<MetricsService>> MetricsService::start(const MetricsOptions& options,
                                                                    MetricsSources sources) {
    std::unique_ptr<MetricsService> svc(new MetricsService());
    svc->registry_ = std::make_shared<metrics::Registry>();
    auto state = register_sensor_metrics(*svc->registry_, std::move(sources));
    if (!state) {
        return tl::unexpected(state.error());
    }
    svc->state_ = *state;

    if (!options.file.empty()) {
        // Fail at start, not at the end of a long replay, when the file cannot be written.
        if (auto ok = metrics::write_file_atomically(options.file, svc->registry_->render()); !ok) {
            return tl::unexpected(ok.error());
        }
        std::shared_ptr<const metrics::Registry> reg = svc->registry_;
        svc->file_writer_ = std::make_unique<metrics::PeriodicFileWriter>(
            options.file, std::chrono::seconds(std::max(options.file_interval_s, 0)),
            [reg] { return reg->render(); }, nullptr);
    }

    if (!options.listen.empty()) {
        auto http = metrics::HttpServer::start(metrics::HttpOptions{
            options.listen, options.basic_auth_file, 4, options.tls_certificate, options.tls_key});
        if (!http) {
            return tl::unexpected(http.error());
        }
        svc->http_ = std::move(*http);
        svc->http_->handle_metrics("/metrics", svc->registry_);
        // Liveness stays open without credentials, as probes rarely carry them.
        svc->http_->handle(
            "/healthz",
            [](const metrics::HttpRequest&) {
                return metrics::HttpResponse{200, "text/plain; charset=utf-8", "ok\n"};
            },
            false);
    }
    return svc;
}

MetricsService::~MetricsService() {
    http_.reset();
    file_writer_.reset();
}

core::Result<void> MetricsService::write_file() {
    if (!file_writer_) {
        return {};
    }
    file_writer_->stop();
    return file_writer_->write_now();
}

void MetricsService::record_reload(RuleReload reload) { state_->record_reload(std::move(reload)); }

void MetricsService::set_alerts_handler(metrics::HttpHandler handler) {
    if (http_) {
        http_->handle("/alerts", std::move(handler), true);
    }
}

void MetricsService::set_reload_handler(metrics::HttpHandler handler) {
    if (http_) {
        http_->handle_post("/-/reload", std::move(handler), true);
    }
}

uint16_t MetricsService::port() const noexcept { return http_ ? http_->port() : 0; }

std::string MetricsService::listen_address() const { return http_ ? http_->address() : ""; }

}  // namespace sensor::app
