#pragma once
// AlertmanagerOutput: pushes alerts to Prometheus Alertmanager (POST /api/v2/alerts).
// submit() runs on the output thread and never waits; a sender thread it owns aggregates and posts.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "sensor/alert/sender_queue.h"
#include "sensor/core/counter.h"
#include "sensor/core/records.h"
#include "sensor/core/result.h"

namespace sensor::alert {

struct AlertmanagerConfig {
    std::string
        url;  // Alertmanager base URL, http://HOST:PORT[/prefix]; /api/v2/alerts is appended
    std::string sensor_name;    // "sensor" label; empty leaves the label out
    std::string generator_url;  // generatorURL of every alert; empty leaves it out
    size_t queue_capacity = 1024;
    int64_t aggregation_window_s = 60;  // packet time, measured from an aggregate's first alert
    int64_t resolve_timeout_s = 300;    // endsAt = last update (wall clock) + this
    int batch_max = 64;                 // alerts per POST
    int retry_initial_ms = 500;
    int retry_max_ms = 30000;
    int timeout_ms = 2000;        // connect, send and receive, each
    int push_interval_ms = 1000;  // how often changed aggregates are pushed
};

// Written by two threads, each counter by one: submitted and dropped_queue_full by the caller of
// submit(); the rest by the sender thread.
struct AlertmanagerStats {
    core::Counter submitted;           // alerts handed to submit()
    core::Counter dropped_queue_full;  // alerts lost because the queue was full
    core::Counter aggregated;          // alerts folded into an aggregate already pending
    core::Counter sent;                // alert objects in POSTs Alertmanager accepted (2xx)
    core::Counter send_failures;       // POSTs that failed (connect, timeout, non-2xx)
    core::Counter retries;             // POSTs repeated after a failure
    core::Counter dropped_at_stop;     // alert objects still unsent when flush_and_stop gave up
};

inline constexpr core::CounterSpec<AlertmanagerStats> kAlertmanagerCounters[] = {
    {&AlertmanagerStats::submitted, "alertmanager_submitted",
     "alerts handed to the Alertmanager output"},
    {&AlertmanagerStats::dropped_queue_full, "alertmanager_dropped_queue_full",
     "alerts dropped because the Alertmanager queue was full"},
    {&AlertmanagerStats::aggregated, "alertmanager_aggregated",
     "alerts folded into an existing Alertmanager alert (same sid, src and dest ip)"},
    {&AlertmanagerStats::sent, "alertmanager_sent", "alert objects accepted by Alertmanager"},
    {&AlertmanagerStats::send_failures, "alertmanager_send_failures",
     "failed posts to Alertmanager"},
    {&AlertmanagerStats::retries, "alertmanager_retries",
     "posts to Alertmanager repeated after a failure"},
    {&AlertmanagerStats::dropped_at_stop, "alertmanager_dropped_at_stop",
     "alert objects not delivered when the output stopped"},
};

// The parsed form of AlertmanagerConfig::url.
struct HttpEndpoint {
    std::string host;  // without brackets for IPv6
    std::string port;
    std::string path;  // request path, e.g. "/api/v2/alerts"
};

// Parses http://HOST[:PORT][/prefix] and appends /api/v2/alerts to the prefix.
core::Result<HttpEndpoint> parse_alertmanager_url(const std::string& url);

// One blocking HTTP/1.1 POST with Connection: close. Returns the status code, or an error that
// says what failed (resolve, connect, timeout, malformed reply).
core::Result<int> http_post(const HttpEndpoint& endpoint, const std::string& body, int timeout_ms);

class AlertmanagerOutput {
public:
    static core::Result<std::unique_ptr<AlertmanagerOutput>> start(
        const AlertmanagerConfig& config);
    ~AlertmanagerOutput();
    AlertmanagerOutput(const AlertmanagerOutput&) = delete;
    AlertmanagerOutput& operator=(const AlertmanagerOutput&) = delete;

    // Single producer: call from one thread only (the output thread). Copies what the push needs
    // into a preallocated slot; a full queue counts a drop and returns at once.
    void submit(const core::AlertRecord& record) noexcept;

    // Pushes what is queued and pending, one attempt per batch (no backoff), then stops the
    // sender thread. Idempotent; the destructor calls it.
    void flush_and_stop();

    const AlertmanagerStats& stats() const noexcept { return stats_; }
    // The most recent send error ("" when none); for the end-of-run log.
    std::string last_error() const { return queue_.last_error(); }

private:
    struct Item {
        int64_t ts_us = 0;
        uint32_t gid = 1;
        uint32_t signature_id = 0;
        uint32_t rev = 0;
        int severity = 3;
        core::Endpoints endpoints;
        std::string signature;
        std::string category;
        std::string app_proto;
        std::string concepts;  // comma-joined
    };
    struct Aggregate {
        Item first;  // the alert that opened the aggregate
        std::string community_id;
        int64_t first_ts_us = 0;
        int64_t last_ts_us = 0;
        uint64_t count = 0;
        int64_t starts_at_ms = 0;  // wall clock
        int64_t updated_at_ms = 0;
        bool dirty = true;
    };
    using Key = std::tuple<uint32_t, core::IpAddress, core::IpAddress>;

    AlertmanagerOutput(AlertmanagerConfig config, HttpEndpoint endpoint);
    void run();
    void drain_queue();
    // Posts every dirty aggregate; false when a post failed (the rest stay dirty).
    bool push_dirty();
    void evict_closed();
    bool post_batch(const std::vector<Aggregate*>& batch);
    std::string render(const Aggregate& aggregate) const;
    // Waits up to ms, waking early on stop. Returns true when stop was requested.

    AlertmanagerConfig config_;
    HttpEndpoint endpoint_;
    AlertmanagerStats stats_;

    SenderQueue<Item> queue_;

    std::map<Key, Aggregate> aggregates_;  // sender thread only
    std::vector<Aggregate> retired_;       // closed windows not yet pushed; sender thread only
    int64_t newest_ts_us_ = 0;
};

}  // namespace sensor::alert
