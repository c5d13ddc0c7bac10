#pragma once
// Classifier: application-protocol detection with libnDPI 4.2. One per worker: it owns one nDPI
// detection module; the per-flow nDPI state hangs off core::AppInfo::classifier_state while
// the flow is pending. Once a verdict is recorded, what nDPI allocated for the flow is freed and
// the flow state itself goes back to a free list for the next new flow: new flows arrive all the
// time, and one malloc/free of 688 bytes each would be the packet path's only heap traffic.

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sensor/core/app_info.h"
#include "sensor/core/counter.h"
#include "sensor/core/result.h"
#include "sensor/decode/decoded_packet.h"

struct ndpi_detection_module_struct;

namespace sensor::classify {

// The defaults reproduce Debian's ndpiReader 4.2, so that our verdicts match its output.
struct ClassifyConfig {
    uint16_t max_tcp_packets = 80;    // ndpiReader -T: give up after this many TCP packets
    uint16_t max_udp_packets = 24;    // ndpiReader -U
    uint16_t max_other_packets = 24;  // ndpiReader has no bound here; we keep the work bounded
    uint16_t max_packets = 0;         // non-zero: one budget for all, replacing the three above
    // nDPI flow states kept for reuse after a verdict (688 bytes each with nDPI 4.2); a flow
    // state freed beyond this goes back to the heap. Bounds what a burst of new flows leaves
    // behind once it is over.
    size_t max_pooled_states = 4096;
    bool guess = true;  // guess by port/IP on give-up (ndpiReader without -d)
    // Optional nDPI list files (ndpiReader -p, -c, -r, -j, -S); empty means not loaded.
    std::string protocols_file;
    std::string categories_file;
    std::string risky_domains_file;
    std::string malicious_ja3_file;
    std::string malicious_sha1_file;
};

struct ClassifyStats {
    core::Counter packets_inspected;  // handed to nDPI
    core::Counter packets_skipped;    // pending flow, but no IP bytes nDPI can take
    core::Counter flows_started;      // nDPI flow state allocated
    core::Counter flows_classified;   // verdict found by DPI
    core::Counter flows_given_up;     // verdict from give-up: packet budget spent or flow ended
    core::Counter flows_guessed;      // give-up verdicts that nDPI guessed (port or IP)
    core::Counter flows_unknown;      // verdict recorded with no protocol at all
    core::Counter alloc_failures;     // nDPI flow state not allocated; flow left unknown
    core::Counter states_reused;      // flows whose nDPI state came from the free list
};

inline constexpr core::CounterSpec<ClassifyStats> kClassifyCounters[] = {
    {&ClassifyStats::packets_inspected, "sensor_classify_packets_inspected_total",
     "Packets handed to nDPI"},
    {&ClassifyStats::packets_skipped, "sensor_classify_packets_skipped_total",
     "Packets of pending flows not handed to nDPI (no IP bytes or over 65535 bytes)"},
    {&ClassifyStats::flows_started, "sensor_classify_flows_started_total",
     "Flows for which nDPI state was allocated"},
    {&ClassifyStats::flows_classified, "sensor_classify_flows_classified_total",
     "Flows whose protocol nDPI found by inspection"},
    {&ClassifyStats::flows_given_up, "sensor_classify_flows_given_up_total",
     "Flows decided by give-up (packet budget spent or flow ended while pending)"},
    {&ClassifyStats::flows_guessed, "sensor_classify_flows_guessed_total",
     "Give-up verdicts guessed by nDPI from ports or addresses"},
    {&ClassifyStats::flows_unknown, "sensor_classify_flows_unknown_total",
     "Flows decided with no protocol"},
    {&ClassifyStats::alloc_failures, "sensor_classify_alloc_failures_total",
     "Flows left unknown because nDPI flow state could not be allocated"},
    {&ClassifyStats::states_reused, "sensor_classify_states_reused_total",
     "Flows whose nDPI flow state was reused from an ended flow instead of allocated"},
};
static_assert(sizeof(ClassifyStats) == std::size(kClassifyCounters) * sizeof(core::Counter),
              "register every counter");

// Flows per nDPI flow risk, indexed by risk number (the bit of AppInfo::risk). A flow counts
// once in each risk it carries, when its verdict is recorded: the same risks as its EVE flow
// record. One writer: the owning worker.
inline constexpr size_t kRiskSlots = 64;  // width of nDPI's risk bitmap
using RiskCounts = std::array<core::Counter, kRiskSlots>;

class Classifier {
public:
    // Builds the nDPI module and loads the list files named in config; errors name the file.
    // Construction is serialised internally (nDPI forbids parallel module initialisation).
    static core::Result<std::unique_ptr<Classifier>> create(const ClassifyConfig& config);
    // Same, but aborts when the module cannot be built or a list file does not load; meant
    // for configurations without list files or already checked by create().
    explicit Classifier(const ClassifyConfig& config);
    ~Classifier();
    Classifier(const Classifier&) = delete;
    Classifier& operator=(const Classifier&) = delete;

    // Feeds pkt.ip (IP header and payload, packet time pkt.ts_us) to nDPI while info is
    // pending. Takes nDPI flow state on a flow's first packet (once per flow: from the free
    // list, else the heap). Records a verdict and gives that state back when detection is
    // complete, or after the packet budget (with give-up and guess, as ndpiReader). Calling
    // thread: the owning worker.
    void update(core::AppInfo& info, const decode::DecodedPacket& pkt) noexcept;
    // The flow ends while pending: give up (with guess), record the verdict, free the state.
    // The flow table must call this (or release()) before it reuses a slot. No-op otherwise.
    void finish(core::AppInfo& info) noexcept;
    // Frees nDPI flow state without a verdict (teardown); safe on any AppInfo.
    static void release(core::AppInfo& info) noexcept;
    // nDPI flow states on the free list now.
    size_t pooled_states() const noexcept { return pooled_states_; }

    // Names are read from the module's protocol tables, fixed after construction.
    // As ndpiReader's "[proto: .../NAME]": "TLS.Google", "DNS", "Unknown".
    std::string protocol_name(const core::AppInfo& info) const;
    // The same written into buffer (cut to fit), for the flow-end path, which must not
    // allocate; the view points into buffer.
    std::string_view protocol_name(const core::AppInfo& info,
                                   std::span<char> buffer) const noexcept;
    // Suricata-style EVE app_proto from the master protocol (else the app protocol):
    // "http", "tls", "dns", "smb", "modbus", ...; "failed" when unknown. The verdict also
    // writes it into info.app_proto (truncated to fit) for stages that must not call us.
    std::string app_proto(const core::AppInfo& info) const;
    // ndpiReader's "[cat: NAME/..]" name; "Unspecified" for category 0.
    std::string category_name(const core::AppInfo& info) const;
    // The same as a view of the module's name table (valid while this classifier lives).
    std::string_view category_view(const core::AppInfo& info) const noexcept;
    // nDPI risk names for each bit of info.risk, lowest bit first.
    std::vector<std::string> risk_names(const core::AppInfo& info) const;
    // Risk numbers libnDPI knows are 1 .. risk_limit() - 1 (NDPI_MAX_RISK is risk_limit()).
    static size_t risk_limit() noexcept;
    // nDPI's name of a risk number ("SQL Injection", ...); empty outside the known range.
    static std::string_view risk_name(size_t risk) noexcept;

    const ClassifyStats& stats() const noexcept { return stats_; }
    const RiskCounts& risk_counts() const noexcept { return risk_counts_; }
    const ClassifyConfig& config() const noexcept { return config_; }

private:
    struct AdoptTag {};
    Classifier(const ClassifyConfig& config, ndpi_detection_module_struct* module, AdoptTag);
    uint16_t budget(uint8_t ip_proto) const noexcept;
    void conclude(core::AppInfo& info, bool give_up) noexcept;
    void* take_state() noexcept;
    void recycle(core::AppInfo& info) noexcept;
    template <size_t N>
    void write_app_proto(const core::AppInfo& info, char (&out)[N]) const noexcept;

    ClassifyConfig config_;
    ndpi_detection_module_struct* module_ = nullptr;
    ClassifyStats stats_;
    RiskCounts risk_counts_;
    // Free list of nDPI flow states: a free state's first bytes hold the next one.
    struct FreeState {
        FreeState* next;
    };
    FreeState* free_states_ = nullptr;
    size_t pooled_states_ = 0;
};

}  // namespace sensor::classify
