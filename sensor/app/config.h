#pragma once
// SensorConfig: everything the program reads from sensor.yaml and --set overrides, checked
// at start. Loading never half-succeeds: any unknown key or bad value refuses the whole
// config with a message naming the file, line and key.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "capture/afpacket_source.h"
#include "capture/live_source.h"
#include "sensor/alert/alertmanager.h"
#include "sensor/alert/eve_writer.h"
#include "sensor/alert/syslog_output.h"
#include "sensor/core/cpus.h"
#include "sensor/core/result.h"
#include "sensor/pipeline/read_ahead.h"
#include "sensor/pipeline/worker.h"

namespace sensor::app {

enum class CaptureMethod : uint8_t {
    kPcap,      // libpcap on the capture thread, dispatched to workers over rings
    kAfPacket,  // one AF_PACKET fanout socket per worker, read by the worker itself
};

// capture.*: how -i captures (the command line's --capture-method overrides method).
struct CaptureConfig {
    CaptureMethod method = CaptureMethod::kPcap;
    // libpcap filter expression for -i (either method) and -r (-f overrides it); empty: every
    // packet.
    std::string bpf_filter;
    // -i: turn the interface's segmentation and receive offloads (tso, gso, gro, lro) off at
    // start and back on at exit, so that frames are what crossed the wire and libpcap's ring
    // slots are MTU-sized (capture/interface_offloads.h).
    bool disable_offloading = true;
    uint32_t pcap_buffer_bytes = 32u << 20;
    // Method pcap: each packet as it arrives (TPACKET_V2), or, when false, in kernel-filled
    // blocks (TPACKET_V3) handed over when full or after pcap_block_timeout_ms.
    bool pcap_immediate = true;
    uint32_t pcap_block_timeout_ms = 10;
    uint32_t block_bytes = 4u << 20;
    uint32_t block_count = 16;
    uint32_t block_timeout_ms = 10;
    capture::FanoutMode fanout = capture::FanoutMode::kAddressPair;
    uint32_t cluster_id = 0;  // fanout group; 0: derived from the process id
    // Batches (up to 64 frames each) queued per worker between the reading thread and the
    // worker: replay and -i with method pcap.
    uint32_t ring_batches = 128;
    // Capture files (-r) are read through a mapping, without copying packets, when they are
    // classic pcap; false: always through libpcap's stdio reading (a file that may shrink
    // while it is read must not be mapped).
    bool map_files = true;
    // What one worker gets (replay and -i with method pcap): false, every packet of an
    // address pair; true, every packet of a flow (5-tuple), so that a heavy pair spreads.
    bool dispatch_by_flow = false;
    // -r with several workers, mapped files: whether a second thread reads and keys packets
    // ahead of the capture thread (auto: with 4 workers or more).
    pipeline::ReadAheadMode read_ahead = pipeline::ReadAheadMode::kAuto;
    // Several workers fed by a capture thread: each asks for the next frame's bytes while it
    // processes one (pipeline::PipelineOptions::prefetch_frames).
    bool prefetch = true;
    // threading.*: worker i runs only on worker_cpus[i % size]; the capture stage, the output
    // and every other thread only on capture_cpus (pipeline::PipelineOptions). Empty: not
    // pinned. Each CPU is one the sensor may run on (its affinity mask at start).
    std::vector<int> worker_cpus;
    std::vector<int> capture_cpus;
};

// "pcap" or "af-packet"; nullopt for anything else.
std::optional<CaptureMethod> parse_capture_method(const std::string& text);

// LiveSource options for -i with method pcap from capture.* (buffer size, immediate or block
// mode and its timeout); the interface, filter and snap length are left to the caller.
capture::LiveOptions live_options(const CaptureConfig& capture);

using core::usable_cpu_count;  // CPUs in the affinity mask (sensor/core/cpus.h)

// Worker threads when --workers is not given: one of the CPUs is left to the capture, output
// and control threads; at least 1.
constexpr size_t default_worker_count(size_t cpus) { return cpus > 1 ? cpus - 1 : 1; }

struct SensorConfig {
    std::map<std::string, std::string> address_groups;  // overrides of the rule defaults
    std::map<std::string, std::string> port_groups;
    std::string default_rule_path;
    std::vector<std::string> rule_files;  // relative to default_rule_path unless absolute
    std::string default_log_dir;
    CaptureConfig capture;
    std::string rules_data_dir;  // classification.config and concept-map.tsv
    pipeline::WorkerConfig worker;
    // Prometheus endpoint and replay exposition file (command-line flags override these).
    std::string metrics_listen;
    std::string metrics_file;
    uint32_t metrics_file_interval_s = 10;
    std::string metrics_basic_auth_file;
    // TLS on the metrics listener: PEM certificate (chain) and private key; both or neither.
    std::string metrics_tls_certificate;
    std::string metrics_tls_key;
    uint32_t recent_alerts = 1000;  // alerts kept for GET /alerts
    // POST /-/reload on the metrics listener: a rule reload, answered with its result.
    bool metrics_reload_endpoint = false;
    // Alerts written per packet at most (Suricata's packet-alert-max): the first ones in rule
    // evaluation order (action, flowbits, xbits, priority, file order); the rest are counted.
    uint32_t packet_alert_max = 15;
    alert::EveOptions eve;  // optional EVE members (eve.* keys)
    // outputs.syslog: alerts as RFC 5424 messages (target checked here, opened at start).
    bool syslog_enabled = false;
    alert::SyslogConfig syslog;
    // outputs.alertmanager: off while url is empty (--alertmanager URL overrides the url);
    // sensor_name empty: this machine's host name.
    alert::AlertmanagerConfig alertmanager;
    // Compiled Hyperscan databases on disk: a directory, "auto" (the user's cache
    // directory) or "off"; files unused for max-age days are removed.
    std::string hs_cache_dir = "auto";
    uint32_t hs_cache_max_age_days = 7;
};

// The directory detect.hyperscan-cache.path names: "auto" is $XDG_CACHE_HOME/sensor/hyperscan
// or ~/.cache/sensor/hyperscan; empty for "off", "" or an "auto" without either variable.
std::string resolve_hs_cache_dir(const std::string& setting);

// config_path may be empty (built-in defaults only). overrides are "KEY=VALUE" strings.
core::Result<SensorConfig> load_config(const std::string& config_path,
                                       const std::vector<std::string>& overrides);

// The built-in defaults as YAML text: the reference for every key (docs and -T print it).
const std::string& default_config_yaml();

}  // namespace sensor::app
