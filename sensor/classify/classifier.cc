#include "sensor/classify/classifier.h"

#include <ndpi_api.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <new>
#include <utility>

#include "sensor/core/check.h"
#include "sensor/core/records.h"

namespace sensor::classify {
namespace {

// ndpi_detection_process_packet() takes the length as unsigned short.
constexpr size_t kMaxNdpiPacket = 0xFFFF;
// ndpiReader 4.2 keeps the HTTP URL in a char[256] and checks that copy.
constexpr size_t kUrlCopy = 256;

// nDPI ids whose Suricata app_proto name is not simply the lower-cased nDPI name.
struct SuricataName {
    uint16_t id;
    const char* name;
};
constexpr SuricataName kSuricataNames[] = {
    {NDPI_PROTOCOL_FTP_CONTROL, "ftp"},  {NDPI_PROTOCOL_FTP_DATA, "ftp-data"},
    {NDPI_PROTOCOL_MAIL_POP, "pop3"},    {NDPI_PROTOCOL_MAIL_SMTP, "smtp"},
    {NDPI_PROTOCOL_MAIL_IMAP, "imap"},   {NDPI_PROTOCOL_MAIL_POPS, "tls"},
    {NDPI_PROTOCOL_MAIL_SMTPS, "tls"},   {NDPI_PROTOCOL_MAIL_IMAPS, "tls"},
    {NDPI_PROTOCOL_HTTP, "http"},        {NDPI_PROTOCOL_HTTP_CONNECT, "http"},
    {NDPI_PROTOCOL_HTTP_PROXY, "http"},  {NDPI_PROTOCOL_TLS, "tls"},
    {NDPI_PROTOCOL_SMBV1, "smb"},        {NDPI_PROTOCOL_SMBV23, "smb"},
    {NDPI_PROTOCOL_POSTGRES, "pgsql"},   {NDPI_PROTOCOL_VNC, "rfb"},
    {NDPI_PROTOCOL_KERBEROS, "krb5"},    {NDPI_PROTOCOL_DCERPC, "dcerpc"},
    {NDPI_PROTOCOL_ETHERNET_IP, "enip"},
};

// Protocols whose dissector fills protos.tls_quic (protos is a union: other ids use other
// members, so reading ja3_client for them would read garbage).
bool uses_tls_state(uint16_t id) noexcept {
    switch (id) {
        case NDPI_PROTOCOL_TLS:
        case NDPI_PROTOCOL_DTLS:
        case NDPI_PROTOCOL_QUIC:
        case NDPI_PROTOCOL_MAIL_POPS:
        case NDPI_PROTOCOL_MAIL_SMTPS:
        case NDPI_PROTOCOL_MAIL_IMAPS:
            return true;
        default:
            return false;
    }
}

// Copies a NUL-terminated C string into a fixed buffer, truncating; always terminates.
template <size_t N>
void copy_cstr(char (&dst)[N], const char* src, size_t src_cap) noexcept {
    size_t n = 0;
    while (n + 1 < N && n < src_cap && src[n] != '\0') {
        dst[n] = src[n];
        ++n;
    }
    dst[n] = '\0';
}

ndpi_protocol to_ndpi(const core::AppInfo& info) noexcept {
    ndpi_protocol p{};
    p.master_protocol = info.master_protocol;
    p.app_protocol = info.app_protocol;
    p.category = static_cast<ndpi_protocol_category_t>(info.category);
    return p;
}

void store(core::AppInfo& info, const ndpi_protocol& p) noexcept {
    info.master_protocol = p.master_protocol;
    info.app_protocol = p.app_protocol;
    info.category = static_cast<uint16_t>(p.category);
}

core::Result<void> check_readable(const std::string& path, const char* what) {
    std::ifstream in(path);
    if (!in) {
        return core::make_error(path + ": cannot open " + what + ": " + std::strerror(errno));
    }
    return {};
}

// Loads one optional list file; nDPI returns < 0 on failure.
template <class Loader>
core::Result<void> load_list(ndpi_detection_module_struct* module, const std::string& path,
                             const char* what, Loader loader) {
    if (path.empty()) {
        return {};
    }
    if (auto ok = check_readable(path, what); !ok) {
        return ok;
    }
    if (loader(module, path.c_str()) < 0) {
        return core::make_error(path + ": ndpi could not load " + what);
    }
    return {};
}

// nDPI: "you can call this function multiple times ... but all these calls MUST NOT run in
// parallel". Guards ndpi_init_detection_module/ndpi_exit_detection_module (control plane).
std::mutex& module_lifecycle_mutex() {
    static std::mutex m;
    return m;
}

core::Result<ndpi_detection_module_struct*> build_module(const ClassifyConfig& config) {
    std::lock_guard<std::mutex> lock(module_lifecycle_mutex());
    ndpi_detection_module_struct* module = ndpi_init_detection_module(ndpi_no_prefs);
    if (module == nullptr) {
        return core::make_error("classify: ndpi_init_detection_module failed");
    }
    NDPI_PROTOCOL_BITMASK all;
    std::memset(&all, 0xFF, sizeof(all));  // every protocol, as ndpiReader does
    ndpi_set_protocol_detection_bitmask2(module, &all);

    struct List {
        const std::string* path;
        const char* what;
        int (*loader)(ndpi_detection_module_struct*, const char*);
    };
    const List lists[] = {
        {&config.protocols_file, "protocols file", ndpi_load_protocols_file},
        {&config.categories_file, "categories file", ndpi_load_categories_file},
        {&config.risky_domains_file, "risky domains file", ndpi_load_risk_domain_file},
        {&config.malicious_ja3_file, "malicious ja3 file", ndpi_load_malicious_ja3_file},
        {&config.malicious_sha1_file, "malicious sha1 file", ndpi_load_malicious_sha1_file},
    };
    for (const List& l : lists) {
        if (auto ok = load_list(module, *l.path, l.what, l.loader); !ok) {
            ndpi_exit_detection_module(module);
            return tl::unexpected<core::Error>(std::move(ok.error()));
        }
    }
    ndpi_finalize_initialization(module);
    return module;
}

}  // namespace

core::Result<std::unique_ptr<Classifier>> Classifier::create(const ClassifyConfig& config) {
    auto module = build_module(config);
    if (!module) {
        return tl::unexpected<core::Error>(std::move(module.error()));
    }
    return std::unique_ptr<Classifier>(new Classifier(config, *module, AdoptTag{}));
}

Classifier::Classifier(const ClassifyConfig& config) : config_(config) {
    auto module = build_module(config);
    if (!module) {
        std::fprintf(stderr, "sensor: %s\n", module.error().message.c_str());
    }
    SENSOR_CHECK(module.has_value(), "cannot build the ndpi detection module");
    module_ = *module;
}

Classifier::Classifier(const ClassifyConfig& config, ndpi_detection_module_struct* module, AdoptTag)
    : config_(config), module_(module) {}

Classifier::~Classifier() {
    while (free_states_ != nullptr) {
        FreeState* next = free_states_->next;
        ndpi_free(free_states_);  // its flow data went at recycle(); ndpi_flow_malloc'd
        free_states_ = next;
    }
    std::lock_guard<std::mutex> lock(module_lifecycle_mutex());
    ndpi_exit_detection_module(module_);
}

uint16_t Classifier::budget(uint8_t ip_proto) const noexcept {
    if (config_.max_packets != 0) {
        return config_.max_packets;
    }
    switch (ip_proto) {
        case decode::kIpProtoTcp:
            return config_.max_tcp_packets;
        case decode::kIpProtoUdp:
            return config_.max_udp_packets;
        default:
            return config_.max_other_packets;
    }
}

void Classifier::update(core::AppInfo& info, const decode::DecodedPacket& pkt) noexcept {
    if (info.state != core::ClassifyState::kPending) {
        return;
    }
    if (pkt.ip.empty() || pkt.ip.size() > kMaxNdpiPacket) {
        stats_.packets_skipped.add();
        return;
    }
    auto* flow = static_cast<ndpi_flow_struct*>(info.classifier_state);
    if (flow == nullptr) {
        flow = static_cast<ndpi_flow_struct*>(take_state());
        if (flow == nullptr) {
            // No retry on later packets: a failing allocator would be hit once per packet.
            stats_.alloc_failures.add();
            stats_.flows_unknown.add();
            info.state = core::ClassifyState::kGaveUp;
            write_app_proto(info, info.app_proto);
            return;
        }
        std::memset(flow, 0, SIZEOF_FLOW_STRUCT);
        info.classifier_state = flow;
        stats_.flows_started.add();
    }
    if (info.packets_inspected < UINT16_MAX) {
        ++info.packets_inspected;
    }
    stats_.packets_inspected.add();

    // ndpiReader counts the current packet before comparing: budget + 1 packets get inspected.
    // A saturated per-flow count ends the flow too, so even a 65535 budget stays bounded.
    const bool enough =
        info.packets_inspected > budget(pkt.ip_proto) || info.packets_inspected == UINT16_MAX;
    const uint64_t ts_ms = pkt.ts_us > 0 ? static_cast<uint64_t>(pkt.ts_us) / 1000 : 0;
    const ndpi_protocol proto = ndpi_detection_process_packet(
        module_, flow, pkt.ip.data(), static_cast<unsigned short>(pkt.ip.size()), ts_ms);
    store(info, proto);
    if (!enough && proto.app_protocol == NDPI_PROTOCOL_UNKNOWN) {
        return;
    }
    if (!enough && ndpi_extra_dissection_possible(module_, flow) != 0) {
        return;  // known, but metadata (certificate, JA3, ...) may still come
    }
    conclude(info, proto.app_protocol == NDPI_PROTOCOL_UNKNOWN);
}

void Classifier::finish(core::AppInfo& info) noexcept {
    if (info.state != core::ClassifyState::kPending) {
        return;
    }
    if (info.classifier_state == nullptr) {
        // Never saw a packet nDPI could take.
        info.state = core::ClassifyState::kGaveUp;
        stats_.flows_given_up.add();
        stats_.flows_unknown.add();
        write_app_proto(info, info.app_proto);
        return;
    }
    // As ndpiReader at the end of a capture: give up on every undecided flow, even one whose
    // protocol is known and that only waited for extra dissection (give-up keeps it).
    conclude(info, true);
}

void Classifier::conclude(core::AppInfo& info, bool give_up) noexcept {
    auto* flow = static_cast<ndpi_flow_struct*>(info.classifier_state);
    const bool detected = info.app_protocol != NDPI_PROTOCOL_UNKNOWN;
    if (give_up) {
        uint8_t guessed = 0;
        const ndpi_protocol proto =
            ndpi_detection_giveup(module_, flow, config_.guess ? 1 : 0, &guessed);
        store(info, proto);
        if (guessed != 0) {
            stats_.flows_guessed.add();
        }
    }
    if (detected) {
        info.state = core::ClassifyState::kClassified;
        stats_.flows_classified.add();
    } else {
        info.state = core::ClassifyState::kGaveUp;
        stats_.flows_given_up.add();
    }
    if (info.master_protocol == NDPI_PROTOCOL_UNKNOWN &&
        info.app_protocol == NDPI_PROTOCOL_UNKNOWN) {
        stats_.flows_unknown.add();
    }

    copy_cstr(info.host, flow->host_server_name, sizeof(flow->host_server_name));
    if (uses_tls_state(info.master_protocol) || uses_tls_state(info.app_protocol)) {
        copy_cstr(info.ja3, flow->protos.tls_quic.ja3_client,
                  sizeof(flow->protos.tls_quic.ja3_client));
    } else {
        info.ja3[0] = '\0';
    }
    info.risk = flow->risk;
    if (flow->http.url != nullptr && flow->http.url[0] != '\0') {
        // ndpiReader adds the URL risk (SQL injection, XSS, ...) itself when it prints a
        // flow, from its own copy of the URL; kUrlCopy mirrors that copy's size.
        char url[kUrlCopy];
        copy_cstr(url, flow->http.url, kUrlCopy);
        const ndpi_risk_enum r = ndpi_validate_url(url);
        if (r > NDPI_NO_RISK && r < NDPI_MAX_RISK) {
            info.risk |= uint64_t{1} << static_cast<unsigned>(r);
        }
    }
    for (size_t bit = 1; bit < kRiskSlots; ++bit) {
        if ((info.risk & (uint64_t{1} << bit)) != 0) {
            risk_counts_[bit].add();
        }
    }
    write_app_proto(info, info.app_proto);
    recycle(info);
}

void* Classifier::take_state() noexcept {
    if (free_states_ != nullptr) {
        FreeState* state = free_states_;
        free_states_ = state->next;
        --pooled_states_;
        stats_.states_reused.add();
        return state;
    }
    return ndpi_flow_malloc(SIZEOF_FLOW_STRUCT);
}

void Classifier::recycle(core::AppInfo& info) noexcept {
    auto* flow = static_cast<ndpi_flow_struct*>(info.classifier_state);
    info.classifier_state = nullptr;
    if (flow == nullptr) {
        return;
    }
    if (pooled_states_ >= config_.max_pooled_states) {
        ndpi_free_flow(flow);
        return;
    }
    ndpi_free_flow_data(flow);  // what the dissectors allocated (URL, certificate names, ...)
    static_assert(sizeof(FreeState) <= SIZEOF_FLOW_STRUCT);
    auto* state = new (flow) FreeState{free_states_};
    free_states_ = state;
    ++pooled_states_;
}

void Classifier::release(core::AppInfo& info) noexcept {
    if (info.classifier_state != nullptr) {
        ndpi_free_flow(static_cast<ndpi_flow_struct*>(info.classifier_state));
        info.classifier_state = nullptr;
    }
}

std::string Classifier::protocol_name(const core::AppInfo& info) const {
    char buf[128];
    return std::string(protocol_name(info, buf));
}

std::string_view Classifier::protocol_name(const core::AppInfo& info,
                                           std::span<char> buffer) const noexcept {
    if (buffer.empty()) {
        return {};
    }
    const char* name = ndpi_protocol2name(module_, to_ndpi(info), buffer.data(),
                                          static_cast<u_int>(buffer.size()));
    if (name == nullptr) {
        return "Unknown";
    }
    return {name, strnlen(name, buffer.size())};
}

std::string Classifier::app_proto(const core::AppInfo& info) const {
    char buf[sizeof(info.app_proto)] = {};
    write_app_proto(info, buf);
    return buf;
}

template <size_t N>
void Classifier::write_app_proto(const core::AppInfo& info, char (&out)[N]) const noexcept {
    const uint16_t id =
        info.master_protocol != NDPI_PROTOCOL_UNKNOWN ? info.master_protocol : info.app_protocol;
    const char* name = nullptr;
    bool lower = false;
    if (id != NDPI_PROTOCOL_UNKNOWN) {
        for (const SuricataName& s : kSuricataNames) {
            if (s.id == id) {
                name = s.name;
                break;
            }
        }
        if (name == nullptr) {
            name = ndpi_get_proto_name(module_, id);
            lower = true;
        }
    }
    if (name == nullptr || std::strcmp(name, "Unknown") == 0) {
        name = "failed";
    }
    copy_cstr(out, name, N);
    if (lower) {
        for (char* c = out; *c != '\0'; ++c) {
            *c = static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
        }
    }
}

std::string Classifier::category_name(const core::AppInfo& info) const {
    return std::string(category_view(info));
}

std::string_view Classifier::category_view(const core::AppInfo& info) const noexcept {
    const char* name =
        ndpi_category_get_name(module_, static_cast<ndpi_protocol_category_t>(info.category));
    return name != nullptr ? std::string_view(name) : std::string_view("Unspecified");
}

std::vector<std::string> Classifier::risk_names(const core::AppInfo& info) const {
    std::vector<std::string> out;
    // Bit 0 is nDPI's "no risk".
    core::for_each_risk_name(info.risk & ~uint64_t{1}, &risk_name,
                             [&out](std::string_view name) { out.emplace_back(name); });
    return out;
}

size_t Classifier::risk_limit() noexcept { return static_cast<size_t>(NDPI_MAX_RISK); }

std::string_view Classifier::risk_name(size_t risk) noexcept {
    // Known risks map to string literals; ndpi_risk2str formats others into a static buffer,
    // which is why it is never called with them (scrapes and workers run concurrently).
    if (risk == 0 || risk >= risk_limit() || risk >= kRiskSlots) {
        return {};
    }
    const char* name = ndpi_risk2str(static_cast<ndpi_risk_enum>(risk));
    return name != nullptr ? std::string_view(name) : std::string_view();
}

}  // namespace sensor::classify
