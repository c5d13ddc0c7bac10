#include "sensor/app/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <limits>
#include <sstream>
#include <thread>
#include <utility>

#ifndef SENSOR_DEFAULT_DATA_DIR
#define SENSOR_DEFAULT_DATA_DIR "rules/data"
#endif

namespace sensor::app {

namespace {

// Keys whose children are free-form names (rule variables).
bool is_open_map(const std::string& path) {
    return path == "vars.address-groups" || path == "vars.port-groups";
}

std::string join_path(const std::string& parent, const std::string& key) {
    return parent.empty() ? key : parent + "." + key;
}

std::string where(const YAML::Node& node, const std::string& file) {
    const YAML::Mark mark = node.Mark();
    if (file.empty() || mark.line < 0) {
        return file.empty() ? std::string("--set") : file;
    }
    return file + ":" + std::to_string(mark.line + 1);
}

// Copies src onto dst, refusing any key that the defaults (schema) do not have.
core::Result<bool> merge(YAML::Node dst, const YAML::Node& src, const std::string& path,
                         const std::string& file) {
    if (!src.IsMap()) {
        if (dst.IsMap() && !is_open_map(path)) {
            return core::make_error(where(src, file) + ": key '" + path + "' must be a mapping");
        }
        dst = src;
        return true;
    }
    if (!dst.IsMap() && !is_open_map(path)) {
        return core::make_error(where(src, file) + ": key '" + path + "' is not a mapping");
    }
    for (const auto& item : src) {
        const std::string key = item.first.as<std::string>();
        const std::string child_path = join_path(path, key);
        if (is_open_map(path)) {
            if (!item.second.IsScalar() && !item.second.IsSequence()) {
                return core::make_error(where(item.second, file) + ": variable '" + child_path +
                                        "' must be a string");
            }
            dst[key] = item.second;
            continue;
        }
        if (!dst[key]) {
            return core::make_error(where(item.first, file) + ": unknown key '" + child_path + "'");
        }
        auto merged = merge(dst[key], item.second, child_path, file);
        if (!merged) {
            return merged;
        }
    }
    return true;
}

// Walks a dotted path through existing keys. Variables may be created.
core::Result<YAML::Node> find_for_set(const YAML::Node& root, const std::string& dotted) {
    std::vector<std::string> parts;
    std::stringstream ss(dotted);
    std::string part;
    while (std::getline(ss, part, '.')) {
        if (part.empty()) {
            return core::make_error("--set " + dotted + ": empty key component");
        }
        parts.push_back(part);
    }
    if (parts.empty()) {
        return core::make_error("--set: missing key");
    }
    YAML::Node node = root;
    std::string path;
    for (size_t i = 0; i < parts.size(); ++i) {
        bool open = is_open_map(path);
        path = join_path(path, parts[i]);
        if (!node.IsMap() || (!node[parts[i]] && !open)) {
            return core::make_error("--set: unknown key '" + dotted + "'");
        }
        if (open && i + 1 != parts.size()) {
            return core::make_error("--set: unknown key '" + dotted + "'");
        }
        node.reset(node[parts[i]]);
    }
    if (node.IsMap() && !is_open_map(path)) {
        return core::make_error("--set: key '" + dotted + "' is a section; set one of its keys");
    }
    return node;
}

// Rule variables may be written as YAML lists; rules want "[a,b]" text.
std::string variable_text(const YAML::Node& node) {
    if (node.IsSequence()) {
        std::string out = "[";
        for (size_t i = 0; i < node.size(); ++i) {
            if (i > 0) {
                out += ',';
            }
            out += variable_text(node[i]);
        }
        return out + "]";
    }
    return node.as<std::string>();
}

class Reader {
public:
    explicit Reader(const YAML::Node& root) : root_(root) {}

    // The node at a dotted key, or a null node when it is missing. Never adds to the tree:
    // a const node's operator[] only looks up (a non-const one inserts the key), and reset()
    // moves this handle without assigning to the node it held. (A copy of the whole tree per
    // key, which this replaces, was a fifth of a small ASan run of the sensor.)
    YAML::Node at(const std::string& dotted) const {
        YAML::Node node = root_;
        size_t start = 0;
        for (;;) {
            const size_t dot = dotted.find('.', start);
            const std::string part =
                dotted.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
            const YAML::Node parent = node;
            if (!parent.IsMap()) {
                return YAML::Node();
            }
            const YAML::Node child = parent[part];
            if (!child.IsDefined()) {
                return YAML::Node();
            }
            node.reset(child);
            if (dot == std::string::npos) {
                return node;
            }
            start = dot + 1;
        }
    }

    template <class T>
    bool get_uint(const std::string& key, T& out, uint64_t min_value = 0) {
        YAML::Node node = at(key);
        try {
            auto v = node.as<int64_t>();
            if (v < 0 || static_cast<uint64_t>(v) < min_value ||
                static_cast<uint64_t>(v) > std::numeric_limits<T>::max()) {
                fail(key, node, "out of range");
                return false;
            }
            out = static_cast<T>(v);
            return true;
        } catch (const YAML::Exception&) {
            fail(key, node, "expected a non-negative integer");
            return false;
        }
    }
    bool get_bool(const std::string& key, bool& out) {
        YAML::Node node = at(key);
        try {
            out = node.as<bool>();
            return true;
        } catch (const YAML::Exception&) {
            fail(key, node, "expected true or false");
            return false;
        }
    }
    bool get_string(const std::string& key, std::string& out) {
        YAML::Node node = at(key);
        if (node.IsNull()) {
            out.clear();
            return true;
        }
        if (!node.IsScalar()) {
            fail(key, node, "expected a string");
            return false;
        }
        out = node.as<std::string>();
        return true;
    }
    bool get_strings(const std::string& key, std::vector<std::string>& out) {
        YAML::Node node = at(key);
        if (node.IsNull()) {
            return true;
        }
        if (!node.IsSequence()) {
            fail(key, node, "expected a list");
            return false;
        }
        for (const auto& item : node) {
            out.push_back(item.as<std::string>());
        }
        return true;
    }
    const std::string& error() const { return error_; }

private:
    void fail(const std::string& key, const YAML::Node& node, const std::string& what) {
        if (error_.empty()) {
            std::string value = node.IsScalar() ? node.as<std::string>() : std::string("?");
            error_ = "config key '" + key + "': " + what + " (got '" + value + "')";
        }
    }

    YAML::Node root_;
    std::string error_;
};

core::Result<void> key_error(const std::string& key, const std::string& what) {
    return core::make_error("config key '" + key + "': " + what);
}

// A key whose value is one of a few words: the value the word stands for, or an error that lists
// the words ("expected pair or hash (got 'x')").
template <class T>
core::Result<void> pick_word(const std::string& key, const std::string& word,
                             std::initializer_list<std::pair<const char*, T>> choices, T& out) {
    std::string expected;
    size_t i = 0;
    for (const auto& [name, value] : choices) {
        if (word == name) {
            out = value;
            return {};
        }
        expected += (i == 0 ? "" : i + 1 == choices.size() ? " or " : ", ") + std::string(name);
        ++i;
    }
    return key_error(key, "expected " + expected + " (got '" + word + "')");
}

// metrics.* and outputs.*: keys whose values need more than a type check.
core::Result<void> read_outputs(Reader& r, SensorConfig& config) {
    std::string facility;
    std::string format;
    std::string timezone;
    alert::SyslogConfig& syslog = config.syslog;
    bool ok = r.get_string("metrics.listen", config.metrics_listen) &&
              r.get_string("metrics.file", config.metrics_file) &&
              r.get_uint("metrics.file-interval", config.metrics_file_interval_s) &&
              r.get_string("metrics.basic-auth-file", config.metrics_basic_auth_file) &&
              r.get_uint("metrics.recent-alerts", config.recent_alerts) &&
              r.get_bool("metrics.reload-endpoint", config.metrics_reload_endpoint) &&
              r.get_string("metrics.tls.certificate", config.metrics_tls_certificate) &&
              r.get_string("metrics.tls.key", config.metrics_tls_key) &&
              r.get_bool("outputs.syslog.enabled", config.syslog_enabled) &&
              r.get_string("outputs.syslog.target", syslog.target) &&
              r.get_string("outputs.syslog.facility", facility) &&
              r.get_string("outputs.syslog.app-name", syslog.header.app_name) &&
              r.get_string("outputs.syslog.hostname", syslog.header.hostname) &&
              r.get_string("outputs.syslog.format", format) &&
              r.get_string("outputs.syslog.timezone", timezone) &&
              r.get_uint("outputs.syslog.queue-size", syslog.queue_capacity, 1);
    alert::AlertmanagerConfig& am = config.alertmanager;
    uint32_t am_window = 0;
    uint32_t am_resolve = 0;
    uint32_t am_timeout = 0;
    ok = ok && r.get_string("outputs.alertmanager.url", am.url) &&
         r.get_string("outputs.alertmanager.sensor-name", am.sensor_name) &&
         r.get_string("outputs.alertmanager.generator-url", am.generator_url) &&
         r.get_uint("outputs.alertmanager.window", am_window, 1) &&
         r.get_uint("outputs.alertmanager.resolve-timeout", am_resolve, 1) &&
         r.get_uint("outputs.alertmanager.queue-size", am.queue_capacity, 1) &&
         r.get_uint("outputs.alertmanager.batch-size", am.batch_max, 1) &&
         r.get_uint("outputs.alertmanager.timeout-ms", am_timeout, 1);
    am.aggregation_window_s = am_window;
    am.resolve_timeout_s = am_resolve;
    am.timeout_ms = static_cast<int>(am_timeout);
    constexpr size_t kMaxSyslogQueue = 1'000'000;
    if (!ok) {
        return core::make_error(r.error());
    }
    if (am.queue_capacity > kMaxSyslogQueue) {
        return key_error("outputs.alertmanager.queue-size",
                         "out of range 1.." + std::to_string(kMaxSyslogQueue));
    }
    if (am.batch_max > 10'000) {
        return key_error("outputs.alertmanager.batch-size", "out of range 1..10000");
    }
    if (am_timeout > 600'000) {
        return key_error("outputs.alertmanager.timeout-ms", "out of range 1..600000");
    }
    if (syslog.queue_capacity > kMaxSyslogQueue) {
        return key_error("outputs.syslog.queue-size",
                         "out of range 1.." + std::to_string(kMaxSyslogQueue));
    }
    if (config.metrics_tls_certificate.empty() != config.metrics_tls_key.empty()) {
        return key_error(
            config.metrics_tls_key.empty() ? "metrics.tls.key" : "metrics.tls.certificate",
            "metrics.tls.certificate and metrics.tls.key go together");
    }
    if (auto target = alert::parse_syslog_target(syslog.target); !target) {
        return key_error("outputs.syslog.target", target.error().message);
    }
    auto facility_code = alert::parse_syslog_facility(facility);
    if (!facility_code) {
        return key_error("outputs.syslog.facility", facility_code.error().message);
    }
    syslog.header.facility = *facility_code;
    if (!alert::is_header_field(syslog.header.app_name, 48)) {
        return key_error("outputs.syslog.app-name",
                         "1 to 48 printable ASCII characters without spaces (got '" +
                             syslog.header.app_name + "')");
    }
    if (!syslog.header.hostname.empty() && !alert::is_header_field(syslog.header.hostname, 255)) {
        return key_error("outputs.syslog.hostname",
                         "1 to 255 printable ASCII characters without spaces (got '" +
                             syslog.header.hostname + "')");
    }
    if (format == "eve") {
        syslog.format = alert::SyslogFormat::kEve;
    } else if (format == "text") {
        syslog.format = alert::SyslogFormat::kText;
    } else {
        return key_error("outputs.syslog.format", "expected eve or text (got '" + format + "')");
    }
    if (timezone != "utc" && timezone != "local") {
        return key_error("outputs.syslog.timezone",
                         "expected utc or local (got '" + timezone + "')");
    }
    syslog.header.local_time = timezone == "local";
    return {};
}

core::Result<void> read_capture(Reader& r, CaptureConfig& capture) {
    std::string method;
    std::string fanout;
    std::string dispatch;
    std::string read_ahead;
    bool ok = r.get_string("capture.method", method) &&
              r.get_string("capture.bpf-filter", capture.bpf_filter) &&
              r.get_bool("capture.disable-offloading", capture.disable_offloading) &&
              r.get_uint("capture.ring-batches", capture.ring_batches, 2) &&
              r.get_bool("capture.map-files", capture.map_files) &&
              r.get_string("capture.dispatch", dispatch) &&
              r.get_string("capture.read-ahead", read_ahead) &&
              r.get_bool("capture.prefetch", capture.prefetch) &&
              r.get_uint("capture.pcap.buffer-size", capture.pcap_buffer_bytes, 1) &&
              r.get_bool("capture.pcap.immediate", capture.pcap_immediate) &&
              r.get_uint("capture.pcap.block-timeout", capture.pcap_block_timeout_ms, 1) &&
              r.get_uint("capture.af-packet.block-size", capture.block_bytes, 4096) &&
              r.get_uint("capture.af-packet.block-count", capture.block_count, 1) &&
              r.get_uint("capture.af-packet.block-timeout", capture.block_timeout_ms, 1) &&
              r.get_string("capture.af-packet.fanout", fanout) &&
              r.get_uint("capture.af-packet.cluster-id", capture.cluster_id, 0);
    if (!ok) {
        return core::make_error(r.error());
    }
    if (capture.pcap_buffer_bytes > (1u << 31) - 1) {
        return key_error("capture.pcap.buffer-size", "out of range 1..2147483647");
    }
    if (capture.pcap_block_timeout_ms > 10'000) {
        return key_error("capture.pcap.block-timeout", "out of range 1..10000");
    }
    auto parsed = parse_capture_method(method);
    if (!parsed) {
        return key_error("capture.method", "expected pcap or af-packet (got '" + method + "')");
    }
    capture.method = *parsed;
    if (auto picked = pick_word<capture::FanoutMode>(
            "capture.af-packet.fanout", fanout,
            {{"pair", capture::FanoutMode::kAddressPair}, {"hash", capture::FanoutMode::kHash}},
            capture.fanout);
        !picked) {
        return picked;
    }
    if (auto picked = pick_word<bool>("capture.dispatch", dispatch,
                                      {{"pair", false}, {"flow", true}}, capture.dispatch_by_flow);
        !picked) {
        return picked;
    }
    if (auto picked = pick_word<pipeline::ReadAheadMode>("capture.read-ahead", read_ahead,
                                                         {{"auto", pipeline::ReadAheadMode::kAuto},
                                                          {"true", pipeline::ReadAheadMode::kOn},
                                                          {"false", pipeline::ReadAheadMode::kOff}},
                                                         capture.read_ahead);
        !picked) {
        return picked;
    }
    if (capture.cluster_id > 65535) {
        return key_error("capture.af-packet.cluster-id", "out of range 0..65535");
    }
    if (capture.ring_batches > 8192) {
        return key_error("capture.ring-batches",
                         "out of range 2..8192 (each batch reserves 256 KiB per worker)");
    }
    return {};
}

// threading.worker-cpus and threading.capture-cpus: CPU lists ("0-3,8"), each CPU one this
// process may run on; empty: not pinned.
core::Result<void> read_threading(Reader& r, CaptureConfig& capture) {
    const std::vector<int> allowed = core::affinity_cpus();
    for (auto [key, cpus] : {std::pair{"threading.worker-cpus", &capture.worker_cpus},
                             std::pair{"threading.capture-cpus", &capture.capture_cpus}}) {
        std::string text;
        if (!r.get_string(key, text)) {
            return core::make_error(r.error());
        }
        cpus->clear();
        if (text.empty()) {
            continue;
        }
        auto parsed = core::parse_cpu_list(text);
        if (!parsed) {
            return key_error(key, parsed.error().message);
        }
        for (int cpu : *parsed) {
            if (!allowed.empty() && !std::binary_search(allowed.begin(), allowed.end(), cpu)) {
                return key_error(key, "CPU " + std::to_string(cpu) +
                                          " is not one this process may run on (" +
                                          core::format_cpu_list(allowed) + ")");
            }
        }
        *cpus = std::move(*parsed);
    }
    return {};
}

// checksum-validation: true, false, or auto (validate until a sample shows offloading).
core::Result<bool> read_checksum_mode(const Reader& r, decode::DecodeConfig& decode) {
    const YAML::Node node = r.at("checksum-validation");
    const std::string text = node.IsScalar() ? node.as<std::string>() : std::string("?");
    decode.checksum_auto = text == "auto";
    if (decode.checksum_auto) {
        decode.validate_checksums = true;
        return true;
    }
    try {
        decode.validate_checksums = node.as<bool>();
        return true;
    } catch (const YAML::Exception&) {
        return core::make_error(
            "config key 'checksum-validation': expected true, false or auto (got '" + text + "')");
    }
}

}  // namespace

capture::LiveOptions live_options(const CaptureConfig& capture) {
    capture::LiveOptions options;
    options.buffer_bytes = static_cast<int>(capture.pcap_buffer_bytes);
    options.immediate = capture.pcap_immediate;
    if (!capture.pcap_immediate) {
        // libpcap's timeout is then the kernel's block timeout (TPACKET_V3), and read() waits
        // as long for traffic.
        options.timeout_ms = static_cast<int>(capture.pcap_block_timeout_ms);
    }
    return options;
}

std::optional<CaptureMethod> parse_capture_method(const std::string& text) {
    if (text == "pcap") {
        return CaptureMethod::kPcap;
    }
    if (text == "af-packet") {
        return CaptureMethod::kAfPacket;
    }
    return std::nullopt;
}

std::string resolve_hs_cache_dir(const std::string& setting) {
    if (setting != "auto") {
        return setting == "off" ? std::string() : setting;
    }
    std::string dir;
    if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
        dir.append(xdg).append("/sensor/hyperscan");
    } else if (const char* home = std::getenv("HOME"); home != nullptr && *home == '/') {
        dir.append(home).append("/.cache/sensor/hyperscan");
    }
    return dir;
}

const std::string& default_config_yaml() {
    static const std::string text =
        std::string(R"(# sensor configuration: every key with its default.
vars:
  # Rule variables. Unset names keep Suricata's defaults (HOME_NET, EXTERNAL_NET, ...).
  address-groups: {}
  port-groups: {}
default-rule-path: ""
rule-files: []
default-log-dir: logs
capture:                # live capture with -i (docs/live-capture.md)
  method: pcap          # pcap (libpcap, one capture thread) or af-packet (a socket per worker)
  bpf-filter: ""        # libpcap filter for -i (either method) and -r ("not port 22"); -f overrides
  disable-offloading: true  # -i: tso, gso, gro, lro off at start, restored at exit
  ring-batches: 128     # batches of up to 64 frames queued per worker (256 KiB of room each)
  map-files: true       # -r: map classic pcap files and pass packets without copying them
  dispatch: pair        # unit placed on one worker: pair (two IP addresses) or flow (5-tuple)
  read-ahead: auto      # -r: a thread reads and keys packets ahead of placing; auto: 4+ workers
  prefetch: true        # several workers: each asks for the next packet's bytes early
  pcap:
    buffer-size: 33554432   # kernel ring in bytes
    immediate: true         # each packet at once; false: kernel-filled blocks (TPACKET_V3)
    block-timeout: 10       # ms until a partly filled block is handed over (immediate: false)
  af-packet:
    block-size: 4194304     # ring block in bytes, a multiple of the page size
    block-count: 16         # blocks per socket: each worker maps block-size x block-count
    block-timeout: 10       # ms until a partly filled block is handed over
    fanout: pair            # pair (the two IP addresses) or hash (kernel flow hash, defrag)
    cluster-id: 0           # fanout group id, 1..65535; 0: derived from the process id
threading:              # CPU pinning (CPU lists as taskset -c takes them: "1-15", "0,2,4")
  worker-cpus: ""       # worker i runs only on the i-th CPU of the list (round robin); empty: free
  capture-cpus: ""      # every other thread: capture, read-ahead, output, HTTP; empty: free
metrics:
  listen: ""            # ADDR:PORT for /metrics, /alerts, /healthz; empty: off
  file: ""              # write the exposition here at the end of a run (and periodically)
  file-interval: 10     # seconds between periodic writes of the file
  basic-auth-file: ""   # "user:password" lines (or crypt hashes); empty: no auth
  recent-alerts: 1000   # newest alerts kept for GET /alerts (?since=, ?concept=, ?limit=)
  reload-endpoint: false  # POST /-/reload reloads the rules as SIGHUP does (basic auth applies)
  tls:                  # HTTPS on the same listener (plain HTTP is then refused)
    certificate: ""     # PEM certificate, optionally followed by its chain
    key: ""             # PEM private key (unencrypted)
outputs:
  syslog:               # alerts as RFC 5424 messages (docs/syslog.md)
    enabled: false
    target: /dev/log    # /PATH (Unix datagram socket), udp://HOST:PORT or tcp://HOST:PORT
    facility: local5
    app-name: sensor
    hostname: ""        # empty: this machine's host name
    format: eve         # MSG: eve (the alert's EVE JSON object) or text (a fast.log line)
    timezone: utc       # utc or local (TIMESTAMP carries the offset)
    queue-size: 4096    # alerts waiting to be sent; live capture drops (counted) when full
  alertmanager:         # alerts pushed to Alertmanager's v2 API (docs/alertmanager.md)
    url: ""             # http://HOST:PORT[/prefix]; empty: off (--alertmanager URL overrides)
    sensor-name: ""     # the "sensor" label; empty: this machine's host name
    generator-url: ""   # generatorURL of every alert; empty: left out
    window: 60          # seconds (packet time): one alert per (sid, source, destination)
    resolve-timeout: 300  # seconds after an aggregate's last update until it resolves
    queue-size: 1024    # alerts waiting for the sender; a full queue is a counted drop
    batch-size: 64      # alerts per POST
    timeout-ms: 2000    # connect, send and receive, each
rules-data-dir: ")") +
        SENSOR_DEFAULT_DATA_DIR + R"("
checksum-validation: true   # true, false, or auto (off when offloading shows)
packet-alert-max: 15        # alerts per packet at most (1..32); the rest are counted
eve:
  alert:
    verdict: false          # "verdict": {"action": "alert"} in every alert
    packet: false           # "packet" (base64) and "packet_info" (its link type)
    payload: false          # "payload" (base64), "payload_printable", "stream": 0
    metadata: true          # alert.metadata, the app-layer object (http, dhcp) and flow
  ipv6-compress: true       # false: IPv6 addresses in full (Suricata's default form)
defrag:
  memcap: 16777216
  max-datagrams: 4096
  timeout: 60
flow:
  max-flows: 65536
  expire-budget: 64
  timeouts:
    tcp-new: 60
    tcp-established: 600
    tcp-closed: 10
    udp-new: 30
    udp-established: 300
    icmp: 30
    other: 30
stream:
  midstream: false
  reassembly:
    memcap: 33554432
    ordering-memcap: 16777216
    depth: 1048576
ndpi:
  max-packets: 0
app-layer:
  memcap: 67108864
  http:
    enabled: true
    request-body-limit: 102400
    response-body-limit: 102400
    request-body-inspect-window: 4096
    response-body-inspect-window: 16384
    meta-field-limit: 18000
    response-body-decompress-layer-limit: 2
    uri-include-all: false
    max-parsers: 16384
    max-waiting-transactions: 64
    parser-pool: 33554432
  dns:
    enabled: true
  tls:
    enabled: true
    encryption-handling: default  # default: no payload inspection once encrypted; full
detect:
  hyperscan-cache:
    path: auto          # compiled databases kept here; auto: ~/.cache/sensor/hyperscan; off
    max-age: 7          # days an unused database file is kept
  threshold-entries: 65536  # threshold/detection_filter states, shared by all workers
  xbits-entries: 65536      # xbits (host and ip_pair bits), shared by all workers
  builtin:
    enabled: true
    scan-ports: 20
    scan-window: 10
    flood-syns: 200
    flood-window: 1
    table-size: 4096
)";
    return text;
}

core::Result<SensorConfig> load_config(const std::string& config_path,
                                       const std::vector<std::string>& overrides) {
    YAML::Node root = YAML::Load(default_config_yaml());
    if (!config_path.empty()) {
        YAML::Node user;
        try {
            user = YAML::LoadFile(config_path);
        } catch (const YAML::BadFile&) {
            return core::make_error(config_path + ": cannot read config file");
        } catch (const YAML::ParserException& e) {
            return core::make_error(config_path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                    std::to_string(e.mark.column + 1) + ": " + e.msg);
        }
        if (!user.IsNull()) {
            if (!user.IsMap()) {
                return core::make_error(config_path + ": top level must be a mapping");
            }
            auto merged = merge(root, user, "", config_path);
            if (!merged) {
                return tl::unexpected(merged.error());
            }
        }
    }
    for (const auto& item : overrides) {
        auto eq = item.find('=');
        if (eq == std::string::npos || eq == 0) {
            return core::make_error("--set " + item + ": expected KEY=VALUE");
        }
        const std::string key = item.substr(0, eq);
        const std::string value = item.substr(eq + 1);
        // Variables are created on demand; everything else must already exist.
        for (const char* group : {"vars.address-groups.", "vars.port-groups."}) {
            if (key.rfind(group, 0) == 0 && key.size() > std::string(group).size()) {
                std::string name = key.substr(std::string(group).size());
                std::string parent(group, std::string(group).size() - 1);
                YAML::Node vars = root["vars"][parent.substr(5)];
                if (!vars[name]) {
                    vars[name] = "";
                }
            }
        }
        auto node = find_for_set(root, key);
        if (!node) {
            return tl::unexpected(node.error());
        }
        if (key.rfind("vars.", 0) == 0) {
            // Rule variables are rule text ("!$HOME_NET", "[10.0.0.0/8]"), not YAML.
            *node = value;
            continue;
        }
        try {
            YAML::Node parsed = YAML::Load(value);
            if (parsed.IsMap()) {
                return core::make_error("--set " + key + ": value must be a scalar or a list");
            }
            *node = parsed.IsNull() ? YAML::Node(value) : parsed;
        } catch (const YAML::Exception& e) {
            std::string message = "--set ";
            message += key;
            message += ": cannot parse value '";
            message += value;
            message += "': ";
            message += e.msg;
            return core::make_error(std::move(message));
        }
    }

    SensorConfig config;
    Reader r(root);
    for (const auto& group : {std::string("address-groups"), std::string("port-groups")}) {
        YAML::Node vars = root["vars"][group];
        auto& out = group == "address-groups" ? config.address_groups : config.port_groups;
        if (vars.IsNull()) {
            continue;
        }
        for (const auto& item : vars) {
            out[item.first.as<std::string>()] = variable_text(item.second);
        }
    }
    auto& w = config.worker;
    uint32_t defrag_timeout = 0;
    uint32_t scan_window = 0;
    uint32_t flood_window = 0;
    uint32_t decompress_layers = 0;
    std::string tls_encryption;
    bool ok =
        r.get_string("default-rule-path", config.default_rule_path) &&
        r.get_strings("rule-files", config.rule_files) &&
        r.get_string("default-log-dir", config.default_log_dir) &&
        r.get_string("rules-data-dir", config.rules_data_dir) &&
        r.get_uint("packet-alert-max", config.packet_alert_max, 1) &&
        r.get_bool("eve.alert.verdict", config.eve.verdict) &&
        r.get_bool("eve.alert.packet", config.eve.packet) &&
        r.get_bool("eve.alert.payload", config.eve.payload) &&
        r.get_bool("eve.alert.metadata", config.eve.metadata) &&
        r.get_bool("eve.ipv6-compress", config.eve.ipv6_compress) &&
        r.get_uint("defrag.memcap", w.decode.defrag_memcap_bytes, 1) &&
        r.get_uint("defrag.max-datagrams", w.decode.defrag_max_datagrams, 1) &&
        r.get_uint("defrag.timeout", defrag_timeout, 1) &&
        r.get_uint("flow.max-flows", w.flow.max_flows, 1) &&
        r.get_uint("flow.expire-budget", w.flow.expire_budget, 1) &&
        r.get_uint("flow.timeouts.tcp-new", w.flow.timeout_s[0], 1) &&
        r.get_uint("flow.timeouts.tcp-established", w.flow.timeout_s[1], 1) &&
        r.get_uint("flow.timeouts.tcp-closed", w.flow.timeout_s[2], 1) &&
        r.get_uint("flow.timeouts.udp-new", w.flow.timeout_s[3], 1) &&
        r.get_uint("flow.timeouts.udp-established", w.flow.timeout_s[4], 1) &&
        r.get_uint("flow.timeouts.icmp", w.flow.timeout_s[5], 1) &&
        r.get_uint("flow.timeouts.other", w.flow.timeout_s[6], 1) &&
        r.get_bool("stream.midstream", w.stream_midstream) &&
        r.get_uint("stream.reassembly.memcap", w.stream_reassembly_memcap, 0) &&
        r.get_uint("stream.reassembly.ordering-memcap", w.stream_ordering_memcap, 0) &&
        r.get_uint("stream.reassembly.depth", w.stream_depth, 0) &&
        r.get_uint("ndpi.max-packets", w.classify.max_packets, 0) &&
        r.get_uint("app-layer.memcap", w.applayer.memcap_bytes, 0) &&
        r.get_bool("app-layer.http.enabled", w.applayer.http_enabled) &&
        r.get_uint("app-layer.http.request-body-limit", w.applayer.http.request_body_limit) &&
        r.get_uint("app-layer.http.response-body-limit", w.applayer.http.response_body_limit) &&
        r.get_uint("app-layer.http.request-body-inspect-window",
                   w.applayer.http.request_body_inspect_window, 1) &&
        r.get_uint("app-layer.http.response-body-inspect-window",
                   w.applayer.http.response_body_inspect_window, 1) &&
        r.get_uint("app-layer.http.meta-field-limit", w.applayer.http.field_limit, 256) &&
        r.get_uint("app-layer.http.response-body-decompress-layer-limit", decompress_layers) &&
        r.get_bool("app-layer.http.uri-include-all", w.applayer.http.uri_include_all) &&
        r.get_uint("app-layer.http.max-parsers", w.applayer.http.max_parsers, 1) &&
        r.get_uint("app-layer.http.max-waiting-transactions",
                   w.applayer.http.max_waiting_transactions, 1) &&
        r.get_uint("app-layer.http.parser-pool", w.applayer.http.parser_pool_bytes) &&
        r.get_bool("app-layer.dns.enabled", w.applayer.dns_enabled) &&
        r.get_bool("app-layer.tls.enabled", w.applayer.tls_enabled) &&
        r.get_string("app-layer.tls.encryption-handling", tls_encryption) &&
        r.get_string("detect.hyperscan-cache.path", config.hs_cache_dir) &&
        r.get_uint("detect.hyperscan-cache.max-age", config.hs_cache_max_age_days, 1) &&
        r.get_bool("detect.builtin.enabled", w.builtin.enabled) &&
        r.get_uint("detect.builtin.scan-ports", w.builtin.scan_ports, 2) &&
        r.get_uint("detect.builtin.scan-window", scan_window, 1) &&
        r.get_uint("detect.builtin.flood-syns", w.builtin.flood_syns, 2) &&
        r.get_uint("detect.builtin.flood-window", flood_window, 1) &&
        r.get_uint("detect.builtin.table-size", w.builtin.table_size, 1) &&
        r.get_uint("detect.threshold-entries", w.threshold_entries, 4) &&
        r.get_uint("detect.xbits-entries", w.xbit_entries, 4);
    if (!ok) {
        return core::make_error(r.error());
    }
    if (auto checked = read_capture(r, config.capture); !checked) {
        return tl::unexpected(checked.error());
    }
    if (auto checked = read_threading(r, config.capture); !checked) {
        return tl::unexpected(checked.error());
    }
    if (auto checked = read_outputs(r, config); !checked) {
        return tl::unexpected(checked.error());
    }
    if (auto mode = read_checksum_mode(r, w.decode); !mode) {
        return tl::unexpected(mode.error());
    }
    if (config.packet_alert_max > detect::MatchList::kMax) {
        return core::make_error("config key 'packet-alert-max': out of range 1.." +
                                std::to_string(detect::MatchList::kMax) + " (got '" +
                                std::to_string(config.packet_alert_max) + "')");
    }
    // libhtp's pool: one page of it is 64 KiB, and less than a few pages would only fall back.
    // The region is only reserved, but its page table (a byte per page) is allocated, so a
    // mistyped size must not reach it: 64 GiB is far beyond what parsers need (32 MiB served
    // 2,314 transactions with 4.7 MiB in use on the bench capture).
    constexpr size_t kMinParserPool = size_t{1} << 20;
    constexpr size_t kMaxParserPool = size_t{64} << 30;
    if (w.applayer.http.parser_pool_bytes != 0 &&
        (w.applayer.http.parser_pool_bytes < kMinParserPool ||
         w.applayer.http.parser_pool_bytes > kMaxParserPool)) {
        return tl::unexpected(key_error("app-layer.http.parser-pool",
                                        "expected 0 (off) or " + std::to_string(kMinParserPool) +
                                            " to " + std::to_string(kMaxParserPool) + " (got '" +
                                            std::to_string(w.applayer.http.parser_pool_bytes) +
                                            "')")
                                  .error());
    }
    if (tls_encryption != "default" && tls_encryption != "full") {
        return tl::unexpected(key_error("app-layer.tls.encryption-handling",
                                        "expected default or full (got '" + tls_encryption + "')")
                                  .error());
    }
    w.tls_inspect_encrypted = tls_encryption == "full";
    w.decode.defrag_timeout_us = int64_t{defrag_timeout} * 1'000'000;
    w.applayer.http.response_decompress_layer_limit = static_cast<int>(decompress_layers);
    w.builtin.scan_window_us = int64_t{scan_window} * 1'000'000;
    w.builtin.flood_window_us = int64_t{flood_window} * 1'000'000;
    return config;
}

}  // namespace sensor::app
