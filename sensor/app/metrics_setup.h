#pragma once
// MetricsService: the sensor's whole metric set, bound to the workers' and pipeline's plain
// counters and summed over workers at scrape time, served on --metrics-listen and written to
// --metrics-file. Created and destroyed by the control thread; the sources must outlive it.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rules/rule_set.h"
#include "sensor/alert/syslog_output.h"
#include "sensor/core/result.h"
#include "sensor/metrics/file_writer.h"
#include "sensor/metrics/http_server.h"
#include "sensor/metrics/registry.h"
#include "sensor/pipeline/pipeline_stats.h"
#include "sensor/pipeline/worker.h"

namespace sensor::app {

struct MetricsOptions {
    std::string listen;           // ADDR:PORT, :PORT or PORT (binds 127.0.0.1); empty: no listener
    std::string file;             // empty: no file
    int file_interval_s = 10;     // periodic rewrite of file while running; <= 0: end only
    std::string basic_auth_file;  // empty: no authentication (see metrics::BasicAuth)
    std::string tls_certificate{};  // PEM; with tls_key: HTTPS only on the listener
    std::string tls_key{};
};

// The rule set in use, for sensor_rules_*. Replaced by a successful reload (record_reload());
// a failed one leaves it as it is.
struct RuleSetInfo {
    std::string sha256;  // core::sha256_files over the loaded files, in load order
    std::vector<std::string> files;
    uint64_t loaded = 0;
    uint64_t unsupported = 0;
    uint64_t failed = 0;
};

// The last rule load or reload attempt, ok or failed, and the reloads so far.
struct RuleLoadStatus {
    int64_t last_ts = 0;         // unix seconds (wall clock) when the last attempt ended
    bool last_ok = true;         // false: refused, the previous rules stay in use
    double last_duration_s = 0;  // parse, Hyperscan compile and switch
    uint64_t reloads_ok = 0;     // reloads (SIGHUP) by result; the start-up load is not one
    uint64_t reloads_failed = 0;
};

// One reload attempt, for MetricsService::record_reload().
struct RuleReload {
    bool ok = false;
    int64_t ts = 0;  // unix seconds (wall clock) when it ended
    double duration_s = 0;
    std::optional<RuleSetInfo> rules;  // ok: the rule set now in use; absent: unchanged
};

// The rule set as loaded from rule_paths (files, or directories whose *.rules files are read
// sorted by name, not recursive, as rules::load_rule_files does): files in load order, their
// sha256 and the report's counts. Errors name an unreadable file.
core::Result<RuleSetInfo> make_rule_set_info(const std::vector<std::string>& rule_paths,
                                             const rules::LoadReport& report);

struct MetricsSources {
    std::vector<const pipeline::Worker*> workers;
    const pipeline::PipelineStats* pipeline = nullptr;  // null: no capture/ring/output series
    RuleSetInfo rules;
    std::string version;
    pipeline::WorkerConfig worker_config;        // memory caps (defrag)
    const alert::SyslogStats* syslog = nullptr;  // null: no syslog output series
    RuleLoadStatus rule_load{};  // the start-up load: last_ts, last_ok and last_duration_s
};

// Adds every sensor metric family to registry, reading from sources at scrape time. Fails
// only on a naming-rule violation or a duplicate name (a bug, caught by the unit test).
class MetricsState;
core::Result<std::shared_ptr<MetricsState>> register_sensor_metrics(metrics::Registry& registry,
                                                                    MetricsSources sources);

class MetricsService {
public:
    // Registers the metric set, binds the listener (when options.listen is set; /metrics,
    // /healthz, /alerts) and starts the periodic file writer (when options.file is set).
    static core::Result<std::unique_ptr<MetricsService>> start(const MetricsOptions& options,
                                                               MetricsSources sources);
    ~MetricsService();  // stops the listener and the writer thread; no final file write
    MetricsService(const MetricsService&) = delete;
    MetricsService& operator=(const MetricsService&) = delete;

    // Writes the exposition to options.file now (call it once more at the end of a run, after
    // the workers finished). Ok and no-op when no file is configured.
    core::Result<void> write_file();
    // Records a reload attempt (any thread): its result, time and duration, the count by
    // result, and with reload.rules the rule set now in use; all in one step for scrapes.
    void record_reload(RuleReload reload);
    // Serves GET /alerts (basic auth applies); 404 until set. No-op without a listener.
    void set_alerts_handler(metrics::HttpHandler handler);
    // Serves POST /-/reload (basic auth applies); 404 until set. No-op without a listener.
    void set_reload_handler(metrics::HttpHandler handler);

    uint16_t port() const noexcept;      // 0 without a listener
    std::string listen_address() const;  // "127.0.0.1:9100"; empty without a listener
    const metrics::Registry& registry() const noexcept { return *registry_; }
    std::string render() const { return registry_->render(); }

private:
    MetricsService() = default;

    std::shared_ptr<metrics::Registry> registry_;
    std::shared_ptr<MetricsState> state_;
    std::unique_ptr<metrics::PeriodicFileWriter> file_writer_;
    std::unique_ptr<metrics::HttpServer> http_;  // declared last: stopped first
};

}  // namespace sensor::app
