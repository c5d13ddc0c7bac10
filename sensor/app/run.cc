#include "sensor/app/run.h"

#include <malloc.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "capture/afpacket_source.h"
#include "capture/interface_offloads.h"
#include "capture/live_source.h"
#include "capture/pcap_file_reader.h"
#include "capture/privileges.h"
#include "rules/hs_cache.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/alert/alertmanager.h"
#include "sensor/alert/eve_writer.h"
#include "sensor/alert/recent_alerts.h"
#include "sensor/alert/syslog_output.h"
#include "sensor/app/config.h"
#include "sensor/app/metrics_setup.h"
#include "sensor/app/reload_endpoint.h"
#include "sensor/app/reloader.h"
#include "sensor/applayer/htp_heap.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/detect/detector.h"
#include "sensor/pipeline/pipeline.h"
#include "sensor/pipeline/replay.h"

#ifndef SENSOR_VERSION
#define SENSOR_VERSION "0.0.0"
#endif

namespace sensor::app {

namespace {

struct Options {
    std::vector<std::string> pcaps;
    std::vector<std::string> rule_paths;
    std::string config_path;
    std::string log_dir;
    std::string checksum_mode;
    std::vector<std::string> overrides;
    bool test_only = false;
    bool dump_config = false;
    int workers = 0;  // 0: default_worker_count(usable_cpu_count())
    double pcap_speed = 0;
    std::string metrics_listen;
    std::string metrics_file;
    int metrics_file_interval = -1;  // -1: from the config
    std::string metrics_auth_file;
    double metrics_linger_s = 0;
    std::string alertmanager_url;
    std::string iface;
    std::string bpf;
    int snaplen = 65535;
    std::string capture_method;  // empty: capture.method from the config
    std::string user;
    std::string group;
};

// Sums of the per-worker counters, for the summary and stats.json.
struct Totals {
    uint64_t decoded = 0, non_ip = 0, fragments_held = 0, fragments_reassembled = 0,
             fragments_expired = 0, checksum_ipv4 = 0, checksum_tcp = 0, checksum_udp = 0,
             checksum_icmp = 0, dropped_total = 0, l4_malformed = 0;
    std::map<std::string, uint64_t> dropped;
    uint64_t flows_created = 0, ended_timeout = 0, ended_forced = 0, ended_shutdown = 0;
    uint64_t frames = 0, packets_analysed = 0, alerts = 0, overflow = 0;
    std::vector<double> busy_s;  // per worker: time spent processing batches
    // Per worker: frames = packets_analysed + non_ip + fragments_held + decode_dropped.
    struct WorkerTerms {
        uint64_t frames = 0, packets_analysed = 0, non_ip = 0, fragments_held = 0,
                 decode_dropped = 0, alerts = 0;
    };
    std::vector<WorkerTerms> per_worker;
    // Stream tails, [0] to server, [1] to client; flows per nDPI risk name (non-zero only).
    std::array<uint64_t, 2> stream_appended{}, stream_gap{}, stream_retransmitted{};
    // Payload ordering (flow::kOrderingCounters): held bytes, out-of-order segments, holes
    // given up, flows that found the pool full.
    uint64_t ordering_held = 0, ordering_out_of_order = 0, ordering_gaps = 0,
             ordering_pool_full = 0;
    std::map<std::string, uint64_t> flow_risks;

    explicit Totals(const std::vector<const pipeline::Worker*>& workers) {
        for (const auto* w : workers) {
            const auto& d = w->decoder().stats();
            decoded += d.decoded.load();
            non_ip += d.non_ip.load();
            fragments_held += d.fragments_held.load();
            fragments_reassembled += d.fragments_reassembled.load();
            fragments_expired += d.fragments_expired.load();
            checksum_ipv4 += d.checksum_bad_ipv4.load();
            checksum_tcp += d.checksum_bad_tcp.load();
            checksum_udp += d.checksum_bad_udp.load();
            checksum_icmp += d.checksum_bad_icmp.load();
            l4_malformed += d.l4_malformed.load();
            dropped_total += d.dropped_total();
            for (size_t i = 0; i < decode::kDropReasonCount; ++i) {
                if (uint64_t n = d.dropped[i].load(); n > 0) {
                    dropped[std::string(decode::kDropReasonNames[i])] += n;
                }
            }
            const auto& f = w->flows().stats();
            flows_created += f.created.load();
            ended_timeout += f.ended_timeout.load();
            ended_forced += f.ended_forced.load();
            ended_shutdown += f.ended_shutdown.load();
            frames += w->stats().frames.load();
            packets_analysed += w->stats().packets_analysed.load();
            alerts += w->stats().alerts.load();
            overflow += w->stats().alerts_suppressed_overflow.load();
            busy_s.push_back(static_cast<double>(w->stats().batch_latency_sum_ns.load()) / 1e9);
            per_worker.push_back({w->stats().frames.load(), w->stats().packets_analysed.load(),
                                  d.non_ip.load(), d.fragments_held.load(), d.dropped_total(),
                                  w->stats().alerts.load()});
            const auto& s = w->flows().stream_stats();
            for (size_t dir = 0; dir < 2; ++dir) {
                stream_appended[dir] += s.appended_bytes[dir].load();
                stream_gap[dir] += s.gap_bytes[dir].load();
                stream_retransmitted[dir] += s.retransmitted_bytes[dir].load();
            }
            const auto& o = w->payload_order().stats();
            ordering_held += o.held_bytes.load();
            ordering_out_of_order += o.out_of_order_segments.load();
            ordering_gaps += o.gaps.load();
            ordering_pool_full += o.pool_full.load();
            const auto& risks = w->classifier().risk_counts();
            for (size_t r = 0; r < risks.size(); ++r) {
                if (uint64_t n = risks[r].load(); n > 0) {
                    flow_risks[std::string(classify::Classifier::risk_name(r))] += n;
                }
            }
        }
    }
};

// A record's EVE line, made by the worker that made the record.
class EveRecordFormatter final : public pipeline::RecordFormatter {
public:
    explicit EveRecordFormatter(const alert::EveOptions& options) : options_(options) {}
    void append_alert(std::string& out, const core::AlertRecord& record) const override {
        alert::append_alert_json(out, record, options_);
    }
    void append_flow(std::string& out, const core::FlowRecord& record) const override {
        alert::append_flow_json(out, record, options_);
    }

private:
    alert::EveOptions options_;
};

// Hashes text by its view, for lookups by std::string_view in maps keyed by std::string.
struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view text) const noexcept {
        return std::hash<std::string_view>{}(text);
    }
};

// Counts what reaches the outputs for the end-of-run summary, then forwards to EVE.
class SummarySink : public pipeline::RecordSink {
public:
    SummarySink(std::unique_ptr<alert::EveWriter> eve, std::string path,
                std::shared_ptr<spdlog::logger> logger, alert::RecentAlerts& recent)
        : eve_(std::move(eve)),
          path_(std::move(path)),
          logger_(std::move(logger)),
          recent_(recent),
          formatter_(eve_->options()) {}
    // Taken when eve.json took the alert. A line that fails is counted by the writer, and the
    // newest line is the last to reach the file: when the count grows here, it includes ours.
    bool alert(const core::AlertRecord& r) override {
        reopen_if_asked();
        const uint64_t failed_before = eve_->failed();
        const std::string_view line = eve_->write_alert(r);
        return took_alert(r, line, eve_->failed() == failed_before);
    }
    // The options of a reopened eve.json are the old one's: the workers' lines stay right.
    const pipeline::RecordFormatter* record_formatter() const noexcept override {
        return &formatter_;
    }
    bool alert_formatted(const core::AlertRecord& r, std::string_view line) override {
        reopen_if_asked();
        return took_alert(r, line, eve_->write_line(line));
    }
    void flow(const core::FlowRecord& r) override {
        reopen_if_asked();
        count_flow(r);
        eve_->write_flow(r);
        publish_counts();
    }
    void flow_formatted(const core::FlowRecord& r, std::string_view line) override {
        reopen_if_asked();
        count_flow(r);
        eve_->write_line(line);
        publish_counts();
    }
    void flush() override {
        reopen_if_asked();
        eve_->flush();
        publish_counts();
    }
    // Set before the pipeline starts: eve.json's written and failed records then reach
    // sensor_output_{written,failed}_total{output="eve"} (scrapes read them on another thread).
    void set_stats(pipeline::PipelineStats* stats) noexcept { stats_ = stats; }
    // Any thread (SIGHUP): the output thread reopens eve.json before its next record, so
    // logrotate can move the file away without losing a line.
    void request_reopen() noexcept { reopen_.store(true, std::memory_order_release); }
    // Set before the pipeline starts; alerts then also go to Alertmanager (aggregated).
    void set_alertmanager(alert::AlertmanagerOutput* output) noexcept { alertmanager_ = output; }
    // Set before the pipeline starts; alerts then also go to syslog (RFC 5424).
    void set_syslog(alert::SyslogOutput* output) noexcept { syslog_ = output; }
    uint64_t written() const { return retired_written_ + eve_->written(); }
    uint64_t failed() const { return retired_failed_ + eve_->failed(); }
    void publish_counts() noexcept {
        if (stats_ != nullptr) {
            stats_->eve_written.set(written());
            stats_->eve_failed.set(failed());
        }
    }

    uint64_t alerts_ = 0;
    uint64_t flows_ = 0;
    std::map<std::string, uint64_t> by_concept_;
    std::map<uint32_t, uint64_t> by_sid_;
    // Hashed, looked up by view: one lookup per flow record on the output thread (a sorted
    // map's string compares were half of that thread's work once workers made the lines).
    std::unordered_map<std::string, uint64_t, TextHash, std::equal_to<>> by_app_;

private:
    // The counts, /alerts and the other outputs, for an alert eve.json took (taken) or not;
    // line: its EVE line, empty when not at hand.
    bool took_alert(const core::AlertRecord& r, std::string_view line, bool taken) {
        ++alerts_;
        for (const auto& c : r.concepts()) {
            ++by_concept_[c];
        }
        ++by_sid_[r.signature_id];
        // /alerts serves the default EVE form: the line written is it when the EVE options
        // are the defaults, so the record is not serialized twice.
        if (!line.empty() && eve_->options() == alert::EveOptions{}) {
            recent_.add(r, line);
        } else {
            recent_.add(r);
        }
        if (alertmanager_ != nullptr) {
            alertmanager_->submit(r);  // never blocks: a full queue is a counted drop
        }
        if (syslog_ != nullptr) {
            syslog_->submit(r);  // live: never blocks; replay: waits for room, like replay does
        }
        publish_counts();
        return taken;
    }
    void count_flow(const core::FlowRecord& r) {
        ++flows_;
        // Looked up by view: a name is made once per protocol, not once per flow.
        const std::string_view app(r.app_proto.view());
        if (auto it = by_app_.find(app); it != by_app_.end()) {
            ++it->second;
        } else {
            by_app_.emplace(std::string(app), 1);
        }
    }
    void reopen_if_asked() {
        if (!reopen_.exchange(false, std::memory_order_acq_rel)) {
            return;
        }
        eve_->flush();
        auto reopened = alert::EveWriter::open(path_, eve_->options());
        if (!reopened) {
            logger_->error("reopen failed, still writing to the old file: {}",
                           reopened.error().message);
            return;
        }
        retired_written_ += eve_->written();
        retired_failed_ += eve_->failed();
        eve_ = std::move(*reopened);
        logger_->info("reopened {}", path_);
    }

    std::unique_ptr<alert::EveWriter> eve_;
    std::string path_;
    std::shared_ptr<spdlog::logger> logger_;
    alert::RecentAlerts& recent_;
    EveRecordFormatter formatter_;
    alert::AlertmanagerOutput* alertmanager_ = nullptr;
    alert::SyslogOutput* syslog_ = nullptr;
    pipeline::PipelineStats* stats_ = nullptr;
    std::atomic<bool> reopen_{false};
    uint64_t retired_written_ = 0;
    uint64_t retired_failed_ = 0;
};

// Blocks the signals the program handles itself in the calling thread; threads started
// afterwards inherit the mask, so only SignalWatcher's sigwait ever receives them.
sigset_t block_handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    return set;
}

// Handles SIGINT, SIGTERM and SIGHUP on a thread of its own (sigtimedwait), so the rest of
// the program never runs in signal context. The signals must already be blocked
// (block_handled_signals) before any other thread starts. It runs from the start of the
// program: start-up (rule parsing and a compile of many seconds) has a handler of its own,
// replaced by the run's once the pipeline exists (handle_with).
class SignalWatcher {
public:
    SignalWatcher(sigset_t set, std::function<void(int)> on_signal)
        : set_(set), on_signal_(std::move(on_signal)) {
        thread_ = std::thread([this] {
            while (!done_.load()) {
                timespec timeout{0, 100'000'000};
                int sig = sigtimedwait(&set_, nullptr, &timeout);
                if (sig > 0 && !done_.load()) {
                    // Under the lock: once handle_with() returns, the handler it replaced
                    // is not running and never runs again.
                    std::lock_guard lock(mutex_);
                    on_signal_(sig);
                }
            }
        });
    }
    ~SignalWatcher() {
        done_.store(true);
        // Wakes the wait at once rather than at its next timeout (every exit would wait for
        // it); this SIGHUP is taken by the loop and dropped.
        pthread_kill(thread_.native_handle(), SIGHUP);
        thread_.join();
    }
    SignalWatcher(const SignalWatcher&) = delete;
    SignalWatcher& operator=(const SignalWatcher&) = delete;

    // Signals from now on go to on_signal (after any call of the previous handler ends).
    // What it captures must outlive this watcher, or handle_with() must replace it before
    // that goes.
    void handle_with(std::function<void(int)> on_signal) {
        std::lock_guard lock(mutex_);
        on_signal_ = std::move(on_signal);
    }

private:
    sigset_t set_{};
    std::mutex mutex_;  // guards on_signal_ and is held while it runs
    std::function<void(int)> on_signal_;
    std::atomic<bool> done_{false};
    std::thread thread_;
};

// What arrived before the run's signal handler took over. SIGINT/SIGTERM cancel the rule
// compile; the run then either stops at once (the compile was cut short) or, when start-up
// got past the compile, stops the pipeline as soon as it exists. A SIGHUP is replayed once the
// run can reload.
struct StartupSignals {
    std::atomic<bool> cancel_compile{false};
    std::atomic<int> stop_signal{0};
    std::atomic<bool> hangup{false};

    void operator()(int sig) {
        if (sig == SIGHUP) {
            hangup.store(true);
            std::fprintf(stderr,
                         "sensor: received SIGHUP during start-up: reloading once running\n");
            return;
        }
        int expected = 0;
        stop_signal.compare_exchange_strong(expected, sig);
        cancel_compile.store(true);
        std::fprintf(stderr, "sensor: received %s during start-up: stopping\n", signal_name(sig));
    }
    static const char* signal_name(int sig) { return sig == SIGINT ? "SIGINT" : "SIGTERM"; }
};

std::string with_commas(uint64_t n) {
    const std::string digits = std::to_string(n);
    std::string out;
    out.reserve(digits.size() + digits.size() / 3);
    for (size_t i = 0; i < digits.size(); ++i) {
        if (i > 0 && (digits.size() - i) % 3 == 0) {
            out.push_back(',');
        }
        out.push_back(digits[i]);
    }
    return out;
}

template <class Counts>  // a map of name to count, with any comparator
std::string top_counts(const Counts& counts, size_t limit) {
    std::vector<std::pair<std::string, uint64_t>> v(counts.begin(), counts.end());
    std::sort(v.begin(), v.end());  // equal counts by name, whatever the container's order
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.second > b.second; });
    std::string out;
    for (size_t i = 0; i < v.size() && i < limit; ++i) {
        out += (i ? ", " : "") + v[i].first + " " + with_commas(v[i].second);
    }
    if (v.size() > limit) {
        out += ", ... (" + std::to_string(v.size() - limit) + " more)";
    }
    return out.empty() ? "none" : out;
}

std::shared_ptr<spdlog::logger> make_logger(const std::string& log_file) {
    std::vector<spdlog::sink_ptr> sinks;
    auto console = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    console->set_pattern("sensor: %l: %v");
    console->set_level(spdlog::level::warn);
    sinks.push_back(console);
    if (!log_file.empty()) {
        auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(log_file);
        file->set_pattern("%Y-%m-%dT%H:%M:%S.%f%z %l %v");
        sinks.push_back(file);
    }
    auto logger = std::make_shared<spdlog::logger>("sensor", sinks.begin(), sinks.end());
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::info);
    return logger;
}

// The capture interface's offloads that the sensor turned off at start: set back on when
// this goes out of scope, on every way out of run() once the capture was set up. Until the
// log exists, a failure to restore them goes to stderr.
class OffloadRestorer {
public:
    OffloadRestorer() = default;
    OffloadRestorer(const OffloadRestorer&) = delete;
    OffloadRestorer& operator=(const OffloadRestorer&) = delete;
    ~OffloadRestorer() { restore(); }

    void arm(const std::string& iface, const capture::OffloadState& were_on) {
        iface_ = iface;
        were_on_ = were_on;
        armed_ = true;
    }
    void set_logger(std::shared_ptr<spdlog::logger> logger) { logger_ = std::move(logger); }

    void restore() noexcept {
        if (!armed_) {
            return;
        }
        armed_ = false;
        try {
            auto restored = capture::write_offloads(iface_, were_on_);
            std::string text =
                restored ? iface_ + ": offloads " + were_on_.names() + " turned back on"
                         : restored.error().message +
                               "; to turn them back on: " + were_on_.ethtool_command(iface_, true);
            if (logger_) {
                logger_->log(restored ? spdlog::level::info : spdlog::level::warn, "{}", text);
            } else if (!restored) {
                // A start that failed before the log existed: only a failure is news.
                std::fprintf(stderr, "sensor: warning: %s\n", text.c_str());
            }
        } catch (const std::exception&) {
            // Out of memory on the way out: the offloads stay off, nothing else to do.
        }
    }

private:
    std::string iface_;
    capture::OffloadState were_on_;
    bool armed_ = false;
    std::shared_ptr<spdlog::logger> logger_;
};

// A line for sensor.log decided before the log exists.
struct StartupNote {
    std::string text;  // empty: nothing to say
    bool warning = false;
};

// Applies capture.disable-offloading to the capture interface before its sockets are made
// (libpcap sizes its ring slots when it activates). Returns what to log once the log exists;
// arms restorer when it turned something off.
StartupNote prepare_offloads(const std::string& iface, bool disable, OffloadRestorer& restorer) {
    auto before = capture::read_offloads(iface);
    if (!before) {
        // "any", or a device without ethtool support: nothing the sensor can change.
        return {"offloads not checked: " + before.error().message, false};
    }
    if (!before->any()) {
        return {iface + ": no segmentation or receive offload on", false};
    }
    const std::string consequence =
        ": the sensor sees frames merged by the kernel (up to 64 KiB) instead of the packets on "
        "the wire, and libpcap in immediate mode (method pcap) sizes each ring slot for the "
        "snaplen, so capture.pcap.buffer-size holds some 500 packets";
    if (!disable) {
        return {iface + ": offloads " + before->names() +
                    " are on (capture.disable-offloading: false)" + consequence +
                    "; to turn them off: " + before->ethtool_command(iface, false),
                true};
    }
    if (auto turned_off = capture::write_offloads(iface, capture::OffloadState{}); !turned_off) {
        // Whatever was changed before the failure still goes back at exit.
        restorer.arm(iface, *before);
        return {turned_off.error().message + consequence +
                    "; to turn them off: " + before->ethtool_command(iface, false),
                true};
    }
    restorer.arm(iface, *before);
    return {iface + ": offloads " + before->names() +
                " turned off (capture.disable-offloading), back on at exit",
            false};
}

std::vector<pipeline::BuiltinRule> builtin_rules(const rules::Taxonomy& taxonomy) {
    std::vector<pipeline::BuiltinRule> out;
    struct Spec {
        uint32_t sid;
        const char* msg;
        const char* classtype;
    };
    for (const Spec& s : {Spec{detect::kPortScanSid, "SENSOR TCP port scan", "attempted-recon"},
                          Spec{detect::kSynFloodSid, "SENSOR TCP SYN flood", "attempted-dos"}}) {
        pipeline::BuiltinRule r;
        r.sid = s.sid;
        r.msg = s.msg;
        r.classtype = s.classtype;
        if (const auto* c = taxonomy.find_class(s.classtype)) {
            r.category = c->description;
            r.severity = c->priority;
        }
        r.concepts = taxonomy.concepts_for({}, s.classtype);
        out.push_back(std::move(r));
    }
    return out;
}

double seconds(uint64_t ns) noexcept { return static_cast<double>(ns) / 1e9; }

nlohmann::json stats_json(const pipeline::ReplayResult& replay, const Totals& t,
                          const pipeline::PipelineStats& ps, const SummarySink& sink,
                          const nlohmann::json& reloads, bool live) {
    nlohmann::json j;
    j["capture"]["packets"] = replay.packets;
    j["capture"]["bytes"] = replay.bytes;
    uint64_t kernel_dropped = 0;
    uint64_t interface_dropped = 0;
    uint64_t filtered = 0;
    for (size_t i = 0; i < replay.files.size(); ++i) {
        const auto& f = replay.files[i];
        nlohmann::json fj = {
            {"path", f.path}, {"packets", f.stats.packets}, {"bytes", f.stats.bytes}};
        if (!live) {
            // Files: packets counts what the capture filter passed; filtered what it rejected.
            fj["filtered"] = f.stats.filtered;
            filtered += f.stats.filtered;
        }
        if (live && i < ps.source_count) {
            // Live: files are the capture sockets (one per worker with af-packet).
            fj["kernel_dropped"] = ps.sources[i].kernel_drops.load();
            fj["interface_dropped"] = ps.sources[i].interface_drops.load();
            kernel_dropped += ps.sources[i].kernel_drops.load();
            interface_dropped += ps.sources[i].interface_drops.load();
        }
        if (!f.error.empty()) {
            fj["error"] = f.error;
        }
        j["capture"]["files"].push_back(fj);
    }
    if (live) {
        j["capture"]["kernel_dropped"] = kernel_dropped;
        j["capture"]["interface_dropped"] = interface_dropped;
    } else {
        j["capture"]["filtered"] = filtered;
    }
    uint64_t enqueued = 0;
    uint64_t ring_full = 0;
    nlohmann::json per_worker = nlohmann::json::array();
    for (size_t i = 0; i < ps.worker_count; ++i) {
        enqueued += ps.enqueued[i].load();
        ring_full += ps.ring_full_drops[i].load();
        nlohmann::json wj = {{"enqueued", ps.enqueued[i].load()},
                             {"ring_full_drops", ps.ring_full_drops[i].load()},
                             {"alerts_queue_dropped", ps.alerts_queue_drops[i].load()},
                             {"flows_queue_dropped", ps.flows_queue_drops[i].load()},
                             // Replay: how long the capture thread waited for this worker to
                             // free a batch, and the worker for a free output block.
                             {"capture_waited_s", seconds(ps.dispatch_wait_ns[i].load())},
                             {"output_waited_s", seconds(ps.output_wait_ns[i].load())}};
        // threading.worker-cpus: the CPU this worker was pinned to (null: not pinned).
        wj["cpu"] = ps.worker_cpu[i] >= 0 ? nlohmann::json(ps.worker_cpu[i]) : nlohmann::json();
        if (i < t.per_worker.size()) {
            const Totals::WorkerTerms& w = t.per_worker[i];
            wj["frames"] = w.frames;
            wj["packets_analysed"] = w.packets_analysed;
            wj["non_ip"] = w.non_ip;
            wj["fragments_held"] = w.fragments_held;
            wj["decode_dropped"] = w.decode_dropped;
            wj["alerts"] = w.alerts;
        }
        per_worker.push_back(wj);
    }
    j["dispatch"] = {{"workers", ps.worker_count},
                     {"enqueued", enqueued},
                     {"ring_full_drops", ring_full},
                     {"pairs_least_loaded", ps.pairs_least_loaded.load()},
                     {"pairs_by_hash", ps.pairs_by_hash.load()},
                     {"pair_table_overflows", ps.pair_table_overflows.load()},
                     {"fragment_steering_evictions", ps.fragment_steering_evictions.load()},
                     {"fragments_placed_without_flow", ps.fragments_placed_without_flow.load()},
                     {"fragments_waited", ps.fragments_waited.load()}};
    j["output"] = {{"busy_s", seconds(ps.output_busy_ns.load())}};
    j["decode"]["decoded"] = t.decoded;
    j["decode"]["non_ip"] = t.non_ip;
    j["decode"]["fragments_held"] = t.fragments_held;
    j["decode"]["fragments_reassembled"] = t.fragments_reassembled;
    j["decode"]["fragments_expired"] = t.fragments_expired;
    j["decode"]["l4_malformed"] = t.l4_malformed;
    j["decode"]["checksum_bad"] = {{"ipv4", t.checksum_ipv4},
                                   {"tcp", t.checksum_tcp},
                                   {"udp", t.checksum_udp},
                                   {"icmp", t.checksum_icmp}};
    j["decode"]["dropped"] = t.dropped;
    j["decode"]["dropped_total"] = t.dropped_total;
    j["flow"] = {
        {"created", t.flows_created},
        {"ended_timeout", t.ended_timeout},
        {"ended_forced", t.ended_forced},
        {"ended_shutdown", t.ended_shutdown},
        {"records", sink.flows_},
        {"queue_dropped", pipeline::sum_per_worker(ps.flows_queue_drops, ps.worker_count)}};
    j["flow"]["by_app_proto"] = sink.by_app_;
    j["flow"]["ndpi_risks"] = t.flow_risks;
    auto per_direction = [](const std::array<uint64_t, 2>& v) {
        return nlohmann::json{{"to_server", v[0]}, {"to_client", v[1]}};
    };
    j["stream"] = {{"appended_bytes", per_direction(t.stream_appended)},
                   {"gap_bytes", per_direction(t.stream_gap)},
                   {"retransmitted_bytes", per_direction(t.stream_retransmitted)},
                   {"ordering",
                    {{"held_bytes", t.ordering_held},
                     {"out_of_order_segments", t.ordering_out_of_order},
                     {"gaps", t.ordering_gaps},
                     {"pool_full", t.ordering_pool_full}}}};
    j["worker"] = {{"frames", t.frames},
                   {"packets_analysed", t.packets_analysed},
                   {"alerts", t.alerts},
                   {"alerts_suppressed_overflow", t.overflow},
                   {"busy_s", t.busy_s}};
    j["alerts"]["total"] = sink.alerts_;
    j["alerts"]["written"] = ps.alerts_written.load();
    j["alerts"]["queue_dropped"] = pipeline::sum_per_worker(ps.alerts_queue_drops, ps.worker_count);
    j["alerts"]["output_failed"] = ps.alerts_output_failed.load();
    j["alerts"]["by_concept"] = sink.by_concept_;
    nlohmann::json by_sid = nlohmann::json::object();
    for (const auto& [sid, n] : sink.by_sid_) {
        by_sid[std::to_string(sid)] = n;
    }
    j["alerts"]["by_sid"] = by_sid;
    j["eve"] = {{"written", sink.written()}, {"failed", sink.failed()}};
    j["rules"]["reloads"] = reloads;
    j["dispatch"]["per_worker"] = per_worker;
    // Read ahead (-r, several workers): which of the two capture stages waited for the other.
    j["dispatch"]["read_ahead"] = {{"reader_waited_s", replay.reader_waited_s},
                                   {"capture_waited_s", replay.capture_waited_for_reader_s}};
    j["elapsed_s"] = replay.elapsed_s;
    // Thread CPU: wall-clock busy_s is stretched when threads outnumber cores; this is not.
    j["cpu_s"] = {{"capture", replay.capture_cpu_s},
                  {"capture_helper", replay.capture_helper_cpu_s},
                  {"capture_reader", replay.capture_reader_cpu_s},
                  {"workers", replay.worker_cpu_s},
                  {"output", replay.output_cpu_s}};
    return j;
}

void print_summary(std::FILE* out, const pipeline::ReplayResult& replay, const Totals& t,
                   const SummarySink& sink, size_t workers, const std::string& log_dir,
                   const std::string& input) {
    double capture_s = static_cast<double>(replay.last_ts_us - replay.first_ts_us) / 1e6;
    double pps = replay.elapsed_s > 0 ? static_cast<double>(replay.packets) / replay.elapsed_s : 0;
    std::fprintf(out, "sensor: run summary\n");
    uint64_t filtered = 0;
    for (const auto& f : replay.files) {
        filtered += f.stats.filtered;
    }
    std::fprintf(out, "  input     %s, %s packets, %s bytes, %.1f s of capture time%s\n",
                 input.c_str(), with_commas(replay.packets).c_str(),
                 with_commas(replay.bytes).c_str(), capture_s,
                 filtered > 0 ? (" (" + with_commas(filtered) + " filtered out)").c_str() : "");
    std::fprintf(out, "  decoded   %s (non-ip %s, fragments held %s, reassembled %s)\n",
                 with_commas(t.decoded).c_str(), with_commas(t.non_ip).c_str(),
                 with_commas(t.fragments_held).c_str(),
                 with_commas(t.fragments_reassembled).c_str());
    std::fprintf(out, "  dropped   %s: %s\n", with_commas(t.dropped_total).c_str(),
                 top_counts(t.dropped, 8).c_str());
    std::fprintf(out, "  flows     %s: %s\n", with_commas(sink.flows_).c_str(),
                 top_counts(sink.by_app_, 12).c_str());
    std::fprintf(out, "  evicted   %s flows (table full)\n", with_commas(t.ended_forced).c_str());
    std::fprintf(out, "  alerts    %s: %s\n", with_commas(sink.alerts_).c_str(),
                 top_counts(sink.by_concept_, 25).c_str());
    std::fprintf(out, "  elapsed   %.3f s, %s packets/s, %zu worker(s)\n", replay.elapsed_s,
                 with_commas(static_cast<uint64_t>(pps)).c_str(), workers);
    std::fprintf(out, "  logs      %s (eve.json, stats.json, sensor.log)\n", log_dir.c_str());
}

int parse_args(int argc, char** argv, Options& opt, bool& exit_now) {
    CLI::App cli{"sensor: network telemetry and intrusion detection for critical infrastructure"};
    cli.footer(
        "Exit codes: 0 success; 1 a capture could not be read completely (corrupt or "
        "truncated file) or output failed; 2 bad usage, configuration or rules (nothing was "
        "processed); 130/143 SIGINT/SIGTERM during start-up (rule parsing or compile).");
    cli.set_version_flag("--version", std::string("sensor ") + SENSOR_VERSION);
    cli.add_option("-r", opt.pcaps, "Replay a pcap/pcapng file, or every file in a directory")
        ->type_name("PATH");
    cli.add_option("-S", opt.rule_paths, "Rule file, or directory of *.rules (repeatable)")
        ->type_name("FILE");
    cli.add_option("-c", opt.config_path, "YAML configuration file")->type_name("FILE");
    cli.add_option("-l", opt.log_dir, "Log directory (eve.json, stats.json, sensor.log)")
        ->type_name("DIR");
    cli.add_option("-k", opt.checksum_mode, "Checksum validation: all (default) or none")
        ->check(CLI::IsMember({"all", "none"}));
    cli.add_option("--set", opt.overrides, "Override a config key: KEY=VALUE (repeatable)")
        ->type_name("KEY=VALUE");
    cli.add_flag("-T", opt.test_only, "Check configuration and rules, print the load report");
    cli.add_flag("--dump-config", opt.dump_config,
                 "Print every config key with its default (YAML, usable with -c) and exit");
    cli.add_option("-i", opt.iface, "Capture live from a network interface")->type_name("IFACE");
    cli.add_option("-f", opt.bpf, "BPF capture filter for -i and -r; overrides capture.bpf-filter")
        ->type_name("FILTER");
    cli.add_option("--snaplen", opt.snaplen, "Bytes captured per packet (live capture)")
        ->check(CLI::Range(64, 262144));
    cli.add_option("--capture-method", opt.capture_method,
                   "Live capture: pcap (libpcap, one capture thread) or af-packet (one fanout "
                   "socket per worker); default: capture.method")
        ->check(CLI::IsMember({"pcap", "af-packet"}));
    cli.add_option("--user", opt.user, "Drop privileges to this user once capture is open");
    cli.add_option("--group", opt.group, "Drop privileges to this group (with --user)");
    cli.add_option("--pcap-speed", opt.pcap_speed,
                   "Replay at the capture's own timing times this factor (default: as fast as "
                   "possible)")
        ->check(CLI::PositiveNumber);
    cli.add_option("--metrics-listen", opt.metrics_listen,
                   "Serve /metrics, /alerts and /healthz on ADDR:PORT (default bind 127.0.0.1)")
        ->type_name("ADDR:PORT");
    cli.add_option("--metrics-file", opt.metrics_file,
                   "Write the Prometheus exposition to PATH at the end (and periodically)")
        ->type_name("PATH");
    cli.add_option("--metrics-file-interval", opt.metrics_file_interval,
                   "Seconds between periodic writes of --metrics-file (0: end only)")
        ->check(CLI::Range(0, 86400));
    cli.add_option("--metrics-basic-auth-file", opt.metrics_auth_file,
                   "Require HTTP basic auth with the credentials in FILE")
        ->type_name("FILE");
    cli.add_option("--metrics-linger", opt.metrics_linger_s,
                   "After a replay, keep serving metrics this many seconds (SIGINT ends it)")
        ->check(CLI::NonNegativeNumber);
    cli.add_option("--alertmanager", opt.alertmanager_url,
                   "Push alerts (aggregated) to Alertmanager's v2 API at http://HOST:PORT[/path]")
        ->type_name("URL");
    cli.add_option("--workers", opt.workers,
                   "Worker threads (default: CPUs in the affinity mask - 1, at least 1, or "
                   "one per CPU of threading.worker-cpus); 1 runs inline")
        ->check(CLI::Range(0, static_cast<int>(pipeline::kMaxWorkers)));
    try {
        cli.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        exit_now = true;
        return cli.exit(e);
    } catch (const CLI::CallForVersion& e) {
        exit_now = true;
        return cli.exit(e);
    } catch (const CLI::ParseError& e) {
        exit_now = true;
        std::fprintf(stderr, "sensor: error: %s\nrun 'sensor --help' for usage\n", e.what());
        return kExitUsage;
    }
    return kExitOk;
}

// One line on how the databases were obtained, for -T and the log.
std::string describe_compile(const rules::CompiledRules& compiled, const std::string& cache_dir,
                             double seconds) {
    const rules::CacheReport& r = compiled.cache_report();
    // Which destination ports have payload databases of their own (rules::kMaxPortGroups).
    std::string groups;
    if (!compiled.group_ports().empty()) {
        groups = "; payload port groups:";
        for (uint16_t port : compiled.group_ports()) {
            groups += " " + std::to_string(port);
        }
    }
    char text[512];
    if (cache_dir.empty()) {
        std::snprintf(text, sizeof text, "hyperscan: %zu database(s) compiled in %.2f s (no cache)",
                      r.databases, seconds);
        return text + groups;
    }
    std::snprintf(text, sizeof text,
                  "hyperscan: %zu database(s) in %.2f s: %zu from the cache in %s, %zu compiled",
                  r.databases, seconds, r.loaded, cache_dir.c_str(), r.compiled);
    std::string out = text;
    if (r.store_failures > 0) {
        out += "; " + std::to_string(r.store_failures) +
               " could not be stored (last: " + r.store_error + ")";
    }
    return out + groups;
}

}  // namespace

int run(int argc, char** argv) {
    Options opt;
    bool exit_now = false;
    int rc = parse_args(argc, argv, opt, exit_now);
    if (exit_now) {
        return rc;
    }
    if (opt.dump_config) {
        std::fputs(default_config_yaml().c_str(), stdout);
        return kExitOk;
    }
    const sigset_t handled_signals = block_handled_signals();
    const auto program_start = std::chrono::steady_clock::now();
    StartupSignals startup_signals;
    SignalWatcher signals(handled_signals, [&startup_signals](int sig) { startup_signals(sig); });
    // A stop asked for during start-up ends the program before anything runs: 128 + the
    // signal's number, as a shell reports an interrupted command.
    auto stopped_in_startup = [&startup_signals](const char* during) {
        const int sig = startup_signals.stop_signal.load();
        if (sig != 0) {
            std::fprintf(stderr, "sensor: stopped by %s during %s\n",
                         StartupSignals::signal_name(sig), during);
        }
        return sig != 0 ? 128 + sig : 0;
    };
    auto error = [](const std::string& msg) {
        std::fprintf(stderr, "sensor: error: %s\n", msg.c_str());
    };

    auto config = load_config(opt.config_path, opt.overrides);
    if (!config) {
        error(config.error().message);
        return kExitUsage;
    }
    if (opt.checksum_mode == "none") {
        config->worker.decode.validate_checksums = false;
    } else if (opt.checksum_mode == "all") {
        config->worker.decode.validate_checksums = true;
        config->worker.decode.checksum_auto = false;
    }
    config->worker.packet_alert_max = config->packet_alert_max;

    auto taxonomy = rules::Taxonomy::load(config->rules_data_dir);
    if (!taxonomy) {
        error(taxonomy.error().message);
        return kExitUsage;
    }

    std::vector<std::string> rule_paths = opt.rule_paths;
    if (rule_paths.empty()) {
        for (const auto& f : config->rule_files) {
            std::filesystem::path p(f);
            if (p.is_relative() && !config->default_rule_path.empty()) {
                p = std::filesystem::path(config->default_rule_path) / p;
            }
            rule_paths.push_back(p.string());
        }
    }
    rules::LoadOptions load_options;
    load_options.address_groups = config->address_groups;
    load_options.port_groups = config->port_groups;
    const auto load_start = std::chrono::steady_clock::now();
    auto rule_set = rules::load_rule_files(rule_paths, load_options, *taxonomy);
    if (const int stop_rc = stopped_in_startup("rule parsing"); stop_rc != 0) {
        return stop_rc;
    }
    if (!rule_set) {
        error(rule_set.error().message);
        return kExitUsage;
    }
    const double load_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - load_start).count();
    auto shared_rules = std::make_shared<const rules::RuleSet>(std::move(*rule_set));
    // A copy: the rule set itself is released once a reload replaces it, while the report is
    // what later reloads compare their errors against.
    rules::LoadReport report = shared_rules->report();
    if (opt.test_only) {
        // Before the compile, which takes seconds on a large rule set.
        std::printf("%s", rules::format_load_report(report).c_str());
        std::fflush(stdout);
    }

    // The Hyperscan cache: a directory configured on purpose must work; the automatic one
    // is only a speed-up, so the sensor runs without it when it cannot be used.
    std::optional<rules::HsCache> hs_cache;
    std::string hs_cache_note;
    if (const std::string dir = resolve_hs_cache_dir(config->hs_cache_dir); !dir.empty()) {
        auto opened = rules::HsCache::open(dir);
        if (opened) {
            hs_cache = std::move(*opened);
            hs_cache->prune(std::chrono::hours(24) * config->hs_cache_max_age_days);
        } else if (config->hs_cache_dir == "auto") {
            hs_cache_note = opened.error().message + "; compiling without a cache";
        } else {
            error("detect.hyperscan-cache.path: " + opened.error().message);
            return kExitUsage;
        }
    }
    rules::CompileOptions compile_options;
    compile_options.cache = hs_cache ? &*hs_cache : nullptr;
    compile_options.cancel = &startup_signals.cancel_compile;
    const auto compile_start = std::chrono::steady_clock::now();
    auto signatures = detect::SignatureDb::build(shared_rules, compile_options);
    if (const int stop_rc = stopped_in_startup("the rule compile"); stop_rc != 0) {
        return stop_rc;
    }
    if (!signatures) {
        error(signatures.error().message);
        return kExitUsage;
    }
    const double compile_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - compile_start).count();
    const std::string compile_summary =
        describe_compile((*signatures)->compiled(), hs_cache ? hs_cache->dir() : "", compile_s);

    if (opt.test_only) {
        std::printf("%s\n", compile_summary.c_str());
        if (!report.errors.empty()) {
            std::printf("configuration is NOT usable: %zu rule error(s)\n", report.errors.size());
            return kExitUsage;
        }
        std::printf("configuration OK\n");
        return kExitOk;
    }

    if (opt.pcaps.empty() == opt.iface.empty()) {
        error(opt.pcaps.empty()
                  ? "no input: give -r PATH (pcap/pcapng file or directory) or -i IFACE"
                  : "give either -r or -i, not both");
        return kExitUsage;
    }
    // -f overrides capture.bpf-filter; a filter error names whichever was used.
    const std::string bpf = opt.bpf.empty() ? config->capture.bpf_filter : opt.bpf;
    const std::string bpf_origin = opt.bpf.empty() ? "config key 'capture.bpf-filter'" : "-f";
    std::vector<std::string> files;
    if (!opt.pcaps.empty()) {
        auto expanded = capture::expand_inputs(opt.pcaps);
        if (!expanded) {
            error(expanded.error().message);
            return kExitUsage;
        }
        files = std::move(*expanded);
    }
    // Each file compiles the filter for its own link type: checked here for every file, so
    // that a filter one of them cannot take is refused (exit 2) before anything runs. A file
    // that cannot be opened at all is left to the replay, which reports it as a read error.
    for (size_t i = 0; i < files.size() && !bpf.empty(); ++i) {
        auto reader = capture::PcapFileReader::open(files[i], 0, capture::FileAccess::kLibpcap);
        if (reader) {
            if (auto checked = (*reader)->set_filter(bpf); !checked) {
                error(bpf_origin + ": " + checked.error().message);
                return kExitUsage;
            }
        }
    }
    if (!opt.capture_method.empty()) {
        config->capture.method = *parse_capture_method(opt.capture_method);  // checked by CLI11
    }
    const bool af_packet = !opt.iface.empty() && config->capture.method == CaptureMethod::kAfPacket;
    // Without --workers: one worker per CPU of threading.worker-cpus where it is set (as
    // Suricata's worker-cpu-set), else the CPUs there are less one.
    const size_t default_workers = !config->capture.worker_cpus.empty()
                                       ? config->capture.worker_cpus.size()
                                       : default_worker_count(usable_cpu_count());
    const size_t workers =
        std::clamp<size_t>(opt.workers > 0 ? static_cast<size_t>(opt.workers) : default_workers, 1,
                           pipeline::kMaxWorkers);
    std::unique_ptr<capture::LiveSource> live;
    std::vector<std::unique_ptr<capture::AfPacketSource>> af_sources;
    // Turns the offloads back on at every return from here on.
    OffloadRestorer offload_restorer;
    StartupNote offload_note;
    if (!opt.iface.empty()) {
        offload_note =
            prepare_offloads(opt.iface, config->capture.disable_offloading, offload_restorer);
    }
    if (af_packet) {
        // One socket per worker, all in one fanout group, opened before any worker starts so
        // that the group's split does not change while traffic flows.
        capture::AfPacketOptions af;
        af.iface = opt.iface;
        af.bpf = bpf;
        af.snaplen = opt.snaplen;
        af.block_bytes = config->capture.block_bytes;
        af.block_count = config->capture.block_count;
        af.block_timeout_ms = config->capture.block_timeout_ms;
        af.fanout_mode = config->capture.fanout;
        if (workers > 1) {
            af.fanout_group = static_cast<uint16_t>(config->capture.cluster_id != 0
                                                        ? config->capture.cluster_id
                                                        : static_cast<uint32_t>(getpid()) & 0xffff);
        }
        // Every socket compiles the filter for Ethernet; checked once first, so that a bad
        // filter is refused as such (exit 2) rather than as a capture that failed to open.
        if (!bpf.empty()) {
            if (auto checked = capture::check_filter(bpf, DLT_EN10MB, opt.snaplen); !checked) {
                error(bpf_origin + ": " + checked.error().message);
                return kExitUsage;
            }
        }
        af_sources.reserve(workers);
        for (size_t i = 0; i < workers; ++i) {
            auto opened = capture::AfPacketSource::open(af, static_cast<uint32_t>(i));
            if (!opened) {
                error("capture method af-packet: " + opened.error().message +
                      " (--capture-method pcap reads any link type)");
                return kExitRuntime;
            }
            af_sources.push_back(std::move(*opened));
        }
    } else if (!opt.iface.empty()) {
        capture::LiveOptions pcap_options = live_options(config->capture);
        pcap_options.iface = opt.iface;
        pcap_options.snaplen = opt.snaplen;
        auto opened = capture::LiveSource::open(pcap_options, 0);
        if (!opened) {
            error(opened.error().message);
            return kExitRuntime;
        }
        // Installed once open: the filter is compiled for the interface's link type, and a
        // bad one is refused as such (exit 2), not as an interface that cannot be opened.
        if (auto filtered = (*opened)->set_filter(bpf); !filtered) {
            error(bpf_origin + ": " + filtered.error().message);
            return kExitUsage;
        }
        live = std::move(*opened);
    }
    const bool live_capture = live != nullptr || af_packet;
    if (!opt.user.empty()) {
        // After every capture handle is open: nothing later needs root.
        auto dropped = capture::drop_privileges(opt.user, opt.group);
        if (!dropped) {
            error(dropped.error().message);
            return kExitRuntime;
        }
    } else if (!opt.group.empty()) {
        error("--group needs --user");
        return kExitUsage;
    }

    std::string log_dir = opt.log_dir.empty() ? config->default_log_dir : opt.log_dir;
    std::error_code ec;
    std::filesystem::create_directories(log_dir, ec);
    if (ec) {
        error(log_dir + ": cannot create log directory: " + ec.message());
        return kExitUsage;
    }
    auto logger = make_logger((std::filesystem::path(log_dir) / "sensor.log").string());
    offload_restorer.set_logger(logger);
    logger->info("sensor {} starting: {}, {} rule(s) loaded", SENSOR_VERSION,
                 live_capture ? "live on " + opt.iface + (af_packet ? " (af-packet)" : " (pcap)")
                              : std::to_string(files.size()) + " input file(s)",
                 report.loaded);
    logger->info("{}", compile_summary);
    if (!bpf.empty()) {
        logger->info("capture filter ({}): {}", bpf_origin, bpf);
    }
    if (!offload_note.text.empty()) {
        logger->log(offload_note.warning ? spdlog::level::warn : spdlog::level::info, "{}",
                    offload_note.text);
    }
    if (live) {
        logger->info("libpcap delivers {}",
                     live->block_mode()
                         ? "in kernel-filled blocks (TPACKET_V3), " +
                               std::to_string(config->capture.pcap_block_timeout_ms) +
                               " ms block timeout"
                         : std::string("each packet as it arrives (immediate mode)"));
    }
    if (!hs_cache_note.empty()) {
        logger->warn("{}", hs_cache_note);
    }
    for (const auto& issue : report.errors) {
        logger->warn("rule skipped: {}", issue.message);
    }
    for (const auto& issue : report.unsupported) {
        logger->info("rule skipped (unsupported): {}", issue.message);
    }
    if (!report.errors.empty() || !report.unsupported.empty()) {
        logger->warn("{} rule(s) skipped: {} with errors, {} with unsupported keywords (see {})",
                     report.errors.size() + report.unsupported.size(), report.errors.size(),
                     report.unsupported.size(), log_dir + "/sensor.log");
    }

    const std::string eve_path = (std::filesystem::path(log_dir) / "eve.json").string();
    auto eve = alert::EveWriter::open(eve_path, config->eve);
    if (!eve) {
        error(eve.error().message);
        return kExitUsage;
    }

    alert::RecentAlerts recent_alerts(config->recent_alerts);
    SummarySink sink(std::move(*eve), eve_path, logger, recent_alerts);
    std::unique_ptr<alert::AlertmanagerOutput> alertmanager;
    alert::AlertmanagerConfig am_config = config->alertmanager;
    if (!opt.alertmanager_url.empty()) {
        am_config.url = opt.alertmanager_url;
    }
    if (!am_config.url.empty()) {
        if (am_config.sensor_name.empty()) {
            char host[256] = {};
            am_config.sensor_name = gethostname(host, sizeof(host) - 1) == 0 ? host : "sensor";
        }
        auto started = alert::AlertmanagerOutput::start(am_config);
        if (!started) {
            error(started.error().message);
            return kExitUsage;
        }
        alertmanager = std::move(*started);
        sink.set_alertmanager(alertmanager.get());
    }
    std::unique_ptr<alert::SyslogOutput> syslog;
    if (config->syslog_enabled) {
        alert::SyslogConfig syslog_config = config->syslog;
        syslog_config.wait_when_full = !live_capture;  // replay is lossless end to end
        auto started = alert::SyslogOutput::start(syslog_config);
        if (!started) {
            error("config key 'outputs.syslog.target': " + started.error().message);
            return kExitUsage;
        }
        syslog = std::move(*started);
        sink.set_syslog(syslog.get());
        logger->info("syslog output to {} (facility {}, app-name {})", syslog_config.target,
                     syslog_config.header.facility, syslog_config.header.app_name);
    }
    pipeline::PipelineStats pipeline_stats;
    if (af_packet) {
        // One source per socket, all named after the interface: metrics sum them.
        pipeline_stats.source_count = af_sources.size();
        for (size_t i = 0; i < af_sources.size(); ++i) {
            pipeline_stats.source_names[i] = opt.iface;
        }
    } else if (live) {
        pipeline_stats.source_names[0] = opt.iface;
        pipeline_stats.source_count = 1;
    } else {
        pipeline_stats.source_count = std::min(files.size(), pipeline::kMaxSources);
        for (size_t i = 0; i < pipeline_stats.source_count; ++i) {
            pipeline_stats.source_names[i] = std::filesystem::path(files[i]).filename().string();
        }
    }
    pipeline::PipelineOptions pipeline_options;
    pipeline_options.workers = workers;
    pipeline_options.speed = opt.pcap_speed;
    pipeline_options.workers_read_sources = af_packet;
    pipeline_options.batches_per_worker = config->capture.ring_batches;
    pipeline_options.map_files = config->capture.map_files;
    pipeline_options.dispatch_by_flow = config->capture.dispatch_by_flow;
    pipeline_options.read_ahead = config->capture.read_ahead;
    pipeline_options.prefetch_frames = config->capture.prefetch;
    pipeline_options.worker_cpus = config->capture.worker_cpus;
    pipeline_options.capture_cpus = config->capture.capture_cpus;
    pipeline_options.bpf_filter = bpf;
    pipeline_stats.ring_capacity = workers > 1 && !af_packet ? config->capture.ring_batches : 0;
    // libhtp's pool: the workers' HTTP engines would install it silently; done here first so
    // that a failure is logged (libhtp then keeps malloc).
    if (auto pool = applayer::install_htp_heap(config->worker.applayer.http.parser_pool_bytes);
        !pool) {
        logger->warn("{}", pool.error().message);
    }
    sink.set_stats(&pipeline_stats);
    pipeline::Pipeline pipeline(pipeline_options, config->worker, *signatures,
                                builtin_rules(*taxonomy), sink, pipeline_stats);
    logger->info("{} worker(s)", pipeline.worker_count());
    if (!config->capture.worker_cpus.empty() || !config->capture.capture_cpus.empty()) {
        auto listed = [](const std::vector<int>& cpus) {
            if (cpus.empty()) {
                return std::string("any CPU");
            }
            return (cpus.size() == 1 ? "CPU " : "CPUs ") + core::format_cpu_list(cpus);
        };
        logger->info("threads pinned: workers on {} (worker i on the i-th), other threads on {}",
                     listed(config->capture.worker_cpus), listed(config->capture.capture_cpus));
    }
    size_t pin_errors_logged = 0;
    auto log_pin_errors = [&] {
        for (; pin_errors_logged < pipeline.pin_errors().size(); ++pin_errors_logged) {
            logger->warn("CPU pinning: {} (runs unpinned)",
                         pipeline.pin_errors()[pin_errors_logged]);
        }
    };
    log_pin_errors();
    // From here the pipeline holds the only references to the initial rules, so that the first
    // reload frees them once every worker has switched (otherwise the sensor would keep two
    // rule sets and databases for the rest of its run).
    signatures->reset();
    shared_rules.reset();
    malloc_trim(0);  // the compiler's temporaries: hand their pages back before traffic starts

    MetricsOptions metrics_options;
    metrics_options.listen =
        opt.metrics_listen.empty() ? config->metrics_listen : opt.metrics_listen;
    metrics_options.file = opt.metrics_file.empty() ? config->metrics_file : opt.metrics_file;
    metrics_options.file_interval_s = opt.metrics_file_interval >= 0
                                          ? opt.metrics_file_interval
                                          : static_cast<int>(config->metrics_file_interval_s);
    metrics_options.basic_auth_file =
        opt.metrics_auth_file.empty() ? config->metrics_basic_auth_file : opt.metrics_auth_file;
    metrics_options.tls_certificate = config->metrics_tls_certificate;
    metrics_options.tls_key = config->metrics_tls_key;
    if (!metrics_options.tls_certificate.empty() && metrics_options.listen.empty()) {
        error(
            "config key 'metrics.tls.certificate': set, but there is no metrics listener "
            "(metrics.listen or --metrics-listen)");
        return kExitUsage;
    }
    std::unique_ptr<MetricsService> metrics;
    if (!metrics_options.listen.empty() || !metrics_options.file.empty()) {
        auto info = make_rule_set_info(rule_paths, report);
        if (!info) {
            error(info.error().message);
            return kExitUsage;
        }
        MetricsSources sources{pipeline.workers(), &pipeline_stats, *info, SENSOR_VERSION,
                               config->worker};
        sources.rule_load.last_ts = std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
        sources.rule_load.last_duration_s = load_s + compile_s;
        sources.syslog = syslog ? &syslog->stats() : nullptr;
        auto started = MetricsService::start(metrics_options, std::move(sources));
        if (!started) {
            error(started.error().message);
            return kExitUsage;
        }
        metrics = std::move(*started);
        metrics->set_alerts_handler([&recent_alerts](const metrics::HttpRequest& request) {
            metrics::HttpResponse response;
            alert::AlertsQuery q;
            std::string bad;
            if (!alert::parse_alerts_query(request.query, q, bad)) {
                response.status = 400;
                response.body = bad + "\n";
                return response;
            }
            response.content_type = "application/json";
            response.body = recent_alerts.query(q.since_us, q.concept_id, q.limit);
            return response;
        });
        if (!metrics_options.listen.empty()) {
            logger->info("metrics listening on {}{}", metrics->listen_address(),
                         metrics_options.tls_certificate.empty() ? "" : " (https)");
        }
    }
    std::mutex linger_mutex;  // guards stop_linger
    std::condition_variable linger_cv;
    bool stop_linger = false;

    // SIGHUP: reload rules on the reloader's thread, off the packet path and off the signal
    // thread (a stop is never queued behind a compile); on any error keep the running rules.
    // A reload the stop overtakes is abandoned: nothing it computed takes effect.
    std::mutex reload_mutex;  // guards reload_stats (reload thread writes, main reads at exit)
    nlohmann::json reload_stats = {{"ok", 0}, {"failed", 0}, {"abandoned", 0}};
    // Set with the stop: a reload's compile starts no further database, so the process ends
    // about one database's compile after the stop instead of after the whole rule set's.
    std::atomic<bool> cancel_reload_compile{false};
    rules::CompileOptions reload_compile_options = compile_options;
    reload_compile_options.cancel = &cancel_reload_compile;
    auto reload_rules = [&](Reloader& reloader) {
        const auto started = std::chrono::steady_clock::now();
        std::string failure;
        size_t loaded = 0;
        size_t kept_errors = 0;  // errors the running rules already had, skipped again
        std::shared_ptr<const detect::SignatureDb> db;
        rules::LoadReport reloaded_report;
        std::string compile_text;
        nlohmann::json hyperscan;
        auto reloaded = rules::load_rule_files(rule_paths, load_options, *taxonomy);
        if (!reloaded) {
            failure = reloaded.error().message;
        } else if (auto added = rules::new_errors(report, reloaded->report()); !added.empty()) {
            failure = std::to_string(added.size()) +
                      " new rule error(s), first: " + added.front().message;
        } else if (!reloader.stopping()) {  // stopping: commit() below refuses, skip the compile
            loaded = reloaded->report().loaded;
            kept_errors = reloaded->report().errors.size();
            reloaded_report = reloaded->report();
            logger->info("rule reload: {} rule(s) parsed, compiling", loaded);
            const auto compile_started = std::chrono::steady_clock::now();
            auto built = detect::SignatureDb::build(
                std::make_shared<const rules::RuleSet>(std::move(*reloaded)),
                reload_compile_options);
            if (!built) {
                failure = built.error().message;
            } else {
                db = std::move(*built);
                const rules::CacheReport& cache = db->compiled().cache_report();
                compile_text =
                    describe_compile(db->compiled(), hs_cache ? hs_cache->dir() : "",
                                     std::chrono::duration<double>(
                                         std::chrono::steady_clock::now() - compile_started)
                                         .count());
                hyperscan = {{"databases", cache.databases},
                             {"from_cache", cache.loaded},
                             {"compiled", cache.compiled}};
            }
        }
        if (failure.empty() && db == nullptr) {
            failure = "the sensor is stopping";  // commit() refuses it: stop() came first
        }
        const bool ok = failure.empty();
        std::weak_ptr<const detect::SignatureDb> previous = pipeline.current_rules();
        if (!reloader.commit([&] {
                if (ok) {
                    pipeline.publish_rules(std::move(db));
                }
            })) {
            logger->warn("rule reload abandoned: the sensor stopped before it finished{}",
                         ok ? "" : " (it had failed: " + failure + ")");
            return;
        }
        bool old_rules_released = false;
        if (ok) {
            // The old rules are freed by the last worker to switch (between two batches).
            // Compiling and freeing leave free pages spread over several malloc arenas; once
            // the old rules are gone (or after 2 s, for idle workers, or at a stop) hand those
            // pages back, so that each reload does not raise the resident set for good.
            for (int waited_ms = 0; !previous.expired() && waited_ms < 2000 && !reloader.stopping();
                 waited_ms += 10) {
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            old_rules_released = previous.expired();
            malloc_trim(0);
            report = std::move(reloaded_report);
        }
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count();
        if (metrics) {
            RuleReload attempt;
            attempt.ok = ok;
            attempt.ts = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
            attempt.duration_s = ms / 1e3;
            if (ok) {
                if (auto info = make_rule_set_info(rule_paths, report)) {
                    attempt.rules = std::move(*info);
                } else {
                    logger->warn("metrics keep the previous rule set information: {}",
                                 info.error().message);
                }
            }
            metrics->record_reload(std::move(attempt));
        }
        std::lock_guard<std::mutex> lock(reload_mutex);
        if (ok) {
            reload_stats["ok"] = reload_stats["ok"].get<uint64_t>() + 1;
            reload_stats["last"] = {
                {"result", "ok"}, {"loaded", loaded}, {"ms", ms}, {"hyperscan", hyperscan}};
            logger->info("rules reloaded: {} rule(s) loaded in {:.1f} ms (generation {}){}; {}",
                         loaded, ms, pipeline.rules_generation(),
                         old_rules_released ? "" : "; some worker still holds the old rules",
                         compile_text);
            if (kept_errors > 0) {
                logger->warn(
                    "the reloaded rules still skip {} rule(s) with errors the running "
                    "rules had too (listed at start-up)",
                    kept_errors);
            }
        } else {
            reload_stats["failed"] = reload_stats["failed"].get<uint64_t>() + 1;
            reload_stats["last"] = {{"result", "failed"}, {"error", failure}, {"ms", ms}};
            logger->error("rule reload failed, keeping the running rules: {}", failure);
        }
    };
    // Declared after everything reload_rules uses, so that it is joined before they go.
    Reloader reloader(reload_rules);
    auto on_signal = [&](int sig) {
        if (sig == SIGHUP) {
            sink.request_reopen();
            switch (reloader.request()) {
                case Reloader::Request::kStarts:
                    logger->info("received SIGHUP: reopening eve.json and reloading rules");
                    break;
                case Reloader::Request::kFollows:
                    logger->info(
                        "received SIGHUP: reopening eve.json; the rules are reloaded again once "
                        "the reload in progress ends");
                    break;
                case Reloader::Request::kMerged:
                    logger->info(
                        "received SIGHUP: reopening eve.json; a rule reload is already waiting "
                        "and covers this one");
                    break;
                case Reloader::Request::kStopped:
                    logger->info(
                        "received SIGHUP: reopening eve.json; no rule reload, the run is over "
                        "or stopping");
                    break;
            }
            return;
        }
        logger->warn("received {}: stopping after the packets already read",
                     sig == SIGINT ? "SIGINT" : "SIGTERM");
        cancel_reload_compile.store(true, std::memory_order_relaxed);
        reloader.stop();  // at once: a compile in progress must not hold up the drain
        {
            std::lock_guard<std::mutex> lock(linger_mutex);
            stop_linger = true;
        }
        linger_cv.notify_all();
        pipeline.request_stop();
        if (live) {
            live->break_loop();
        }
        for (const auto& source : af_sources) {
            source->break_loop();
        }
    };
    // The run's handler uses what is declared above: it is replaced before those go (the
    // guard is declared after them, so destroyed before them). The program is ending then:
    // all a signal could still stop is a reload compile, which the guard cancels itself (the
    // reloader joins it right after).
    signals.handle_with(on_signal);
    struct ReleaseRunHandler {
        SignalWatcher& watcher;
        std::atomic<bool>& cancel_reload_compile;
        ~ReleaseRunHandler() {
            cancel_reload_compile.store(true, std::memory_order_relaxed);
            watcher.handle_with([](int) {});
        }
    } release_run_handler{signals, cancel_reload_compile};
    // POST /-/reload (metrics.reload-endpoint): the rules only (eve.json stays open).
    // Declared after what it uses: destroyed first, it closes the endpoint (503 from then on)
    // and waits for the requests inside it.
    ReloadEndpoint reload_endpoint(
        reloader,
        [&] {
            std::lock_guard<std::mutex> lock(reload_mutex);
            return reload_stats["last"];
        },
        [&] { logger->info("rule reload requested over HTTP (POST /-/reload)"); });
    if (config->metrics_reload_endpoint && metrics_options.listen.empty()) {
        logger->warn(
            "metrics.reload-endpoint is set but there is no metrics listener: "
            "POST /-/reload is not served");
    }
    if (config->metrics_reload_endpoint && metrics && !metrics_options.listen.empty()) {
        if (metrics_options.basic_auth_file.empty()) {
            logger->warn(
                "POST /-/reload on {} takes no credentials: anyone who reaches the "
                "listener can start rule reloads (set metrics.basic-auth-file)",
                metrics->listen_address());
        }
        metrics->set_reload_handler(reload_endpoint.handler());
    }
    // What start-up was asked to do past the compile (which is not cancelled then): stop at
    // once, as a stop during the run does; a SIGHUP reloads.
    if (const int sig = startup_signals.stop_signal.load(); sig != 0) {
        on_signal(sig);
    } else if (startup_signals.hangup.load()) {
        on_signal(SIGHUP);
    }
    pipeline::ReplayHooks hooks;
    bool tty = isatty(STDERR_FILENO) != 0;
    if (tty) {
        hooks.progress = [](uint64_t packets, uint64_t bytes, double elapsed) {
            std::fprintf(stderr, "\r  %s packets, %.1f MB, %.0f packets/s   ",
                         with_commas(packets).c_str(), static_cast<double>(bytes) / 1e6,
                         elapsed > 0 ? static_cast<double>(packets) / elapsed : 0.0);
        };
    }
    hooks.on_error = [&](const std::string& msg) {
        if (tty) {
            std::fprintf(stderr, "\n");
        }
        logger->error("capture read failed: {}", msg);
    };
    // Start-up: config, rule parsing and Hyperscan compilation, pipeline and outputs.
    const double startup_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - program_start).count();
    pipeline::ReplayResult result;
    if (af_packet) {
        std::vector<capture::BatchSource*> sources;
        sources.reserve(af_sources.size());
        for (const auto& source : af_sources) {
            sources.push_back(source.get());
        }
        result = pipeline.run_sources(sources, hooks);
    } else if (live) {
        result = pipeline.run_live(*live, hooks);
    } else {
        result = pipeline.replay(files, hooks);
    }
    log_pin_errors();  // af-packet workers are pinned as run_sources starts them
    if (tty && result.elapsed_s >= 0.5) {
        std::fprintf(stderr, "\r%70s\r", "");
    }
    // The pipeline has stopped: no rules are published into it any more. A compile still
    // running is not waited for (it is joined at exit and its result dropped) and starts no
    // further database, so that exit is not held up by it.
    cancel_reload_compile.store(true, std::memory_order_relaxed);
    if (const size_t abandoned = reloader.finish(); abandoned > 0) {
        logger->warn(
            "{} rule reload(s) cut short by the end of the run: the outputs are written now, "
            "without waiting for the compile",
            abandoned);
        std::lock_guard<std::mutex> lock(reload_mutex);
        reload_stats["abandoned"] = abandoned;
    }
    Totals totals(pipeline.workers());
    nlohmann::json am_stats;
    if (alertmanager) {
        alertmanager->flush_and_stop();
        const auto& st = alertmanager->stats();
        am_stats = {{"submitted", st.submitted.load()},
                    {"aggregated", st.aggregated.load()},
                    {"sent", st.sent.load()},
                    {"send_failures", st.send_failures.load()},
                    {"retries", st.retries.load()},
                    {"dropped_queue_full", st.dropped_queue_full.load()},
                    {"dropped_at_stop", st.dropped_at_stop.load()}};
        if (st.send_failures.load() > 0) {
            logger->warn(
                "alertmanager: {} send failures, {} dropped (queue full), {} dropped at stop; "
                "last error: {}",
                st.send_failures.load(), st.dropped_queue_full.load(), st.dropped_at_stop.load(),
                alertmanager->last_error());
        }
    }

    nlohmann::json syslog_stats;
    if (syslog) {
        syslog->flush_and_stop();
        const auto& st = syslog->stats();
        syslog_stats = {{"submitted", st.submitted.load()},
                        {"sent", st.sent.load()},
                        {"send_failures", st.send_failures.load()},
                        {"dropped_queue_full", st.dropped_queue_full.load()},
                        {"dropped_at_stop", st.dropped_at_stop.load()},
                        {"reconnects", st.reconnects.load()}};
        const uint64_t lost =
            st.send_failures.load() + st.dropped_queue_full.load() + st.dropped_at_stop.load();
        if (lost > 0) {
            logger->warn(
                "syslog: {} of {} alert(s) not sent ({} send failures, {} dropped (queue full), "
                "{} dropped at stop); last error: {}",
                lost, st.submitted.load(), st.send_failures.load(), st.dropped_queue_full.load(),
                st.dropped_at_stop.load(), syslog->last_error());
        }
    }

    {
        std::ofstream stats(std::filesystem::path(log_dir) / "stats.json");
        std::lock_guard<std::mutex> lock(reload_mutex);
        nlohmann::json j =
            stats_json(result, totals, pipeline_stats, sink, reload_stats, live_capture);
        if (!am_stats.is_null()) {
            j["alertmanager"] = am_stats;
        }
        if (!syslog_stats.is_null()) {
            j["syslog"] = syslog_stats;
        }
        j["startup_s"] = startup_s;
        stats << j.dump(2) << "\n";
        if (!stats) {
            logger->error("{}/stats.json: write failed", log_dir);
        }
    }
    if (live_capture) {
        uint64_t kernel_dropped = 0;
        for (size_t i = 0; i < pipeline_stats.source_count; ++i) {
            kernel_dropped += pipeline_stats.sources[i].kernel_drops.load();
        }
        if (kernel_dropped > 0) {
            logger->warn("the kernel dropped {} frame(s) on {}: workers too slow or ring too small",
                         kernel_dropped, opt.iface);
        }
    }
    // Live: the interface and method; af-packet reads one socket per worker.
    const std::string input =
        af_packet ? opt.iface + " (af-packet, " + std::to_string(af_sources.size()) + " socket(s))"
        : live    ? opt.iface + " (pcap)"
                  : std::to_string(result.files.size()) + " file(s)";
    print_summary(stdout, result, totals, sink, pipeline.worker_count(), log_dir, input);
    std::fflush(stdout);
    if (metrics) {
        if (auto written = metrics->write_file(); !written) {
            logger->error("{}", written.error().message);
        }
    }
    logger->info("run complete: {} packets, {} alerts, {} flows in {:.3f} s", result.packets,
                 sink.alerts_, sink.flows_, result.elapsed_s);
    if (metrics) {
        if (opt.metrics_linger_s > 0 && !metrics_options.listen.empty()) {
            logger->info("serving metrics for {} more second(s)", opt.metrics_linger_s);
            std::unique_lock<std::mutex> lock(linger_mutex);
            linger_cv.wait_for(lock, std::chrono::duration<double>(opt.metrics_linger_s),
                               [&] { return stop_linger; });
        }
    }
    if (sink.failed() > 0) {
        logger->error("{} EVE record(s) could not be written", sink.failed());
        return kExitRuntime;
    }
    return result.read_error ? kExitRuntime : kExitOk;
}

}  // namespace sensor::app
