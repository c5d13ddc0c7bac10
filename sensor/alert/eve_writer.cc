#include "sensor/alert/eve_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string_view>
#include <utility>

#include "sensor/alert/community_id.h"

namespace sensor::alert {

namespace {

// Suricata writes members in a fixed order; ordered_json keeps insertion order.
using Json = nlohmann::ordered_json;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kProtoSctp = 132;

// IANA keywords as Suricata 7 spells them, for the protocols a sensor commonly sees; any other
// protocol is written as its decimal number.
std::string proto_name(uint8_t proto) {
    switch (proto) {
        case kProtoIcmp:
            return "ICMP";
        case 2:
            return "IGMP";
        case 4:
            return "IP-in-IP";
        case kProtoTcp:
            return "TCP";
        case kProtoUdp:
            return "UDP";
        case 41:
            return "IPv6";
        case 46:
            return "RSVP";
        case 47:
            return "GRE";
        case 50:
            return "ESP";
        case 51:
            return "AH";
        case kProtoIcmp6:
            return "IPv6-ICMP";
        case 88:
            return "EIGRP";
        case 89:
            return "OSPF";
        case 103:
            return "PIM";
        case 112:
            return "VRRP";
        case 115:
            return "L2TP";
        case kProtoSctp:
            return "SCTP";
        case 136:
            return "UDPLite";
        default:
            return std::to_string(proto);
    }
}

bool has_ports(uint8_t proto) {
    return proto == kProtoTcp || proto == kProtoUdp || proto == kProtoSctp;
}

bool is_icmp(uint8_t proto) { return proto == kProtoIcmp || proto == kProtoIcmp6; }

void add_tuple(Json& j, const core::Endpoints& e) {
    const bool ports = has_ports(e.ip_proto);
    j["src_ip"] = e.src_ip.to_string();
    if (ports) {
        j["src_port"] = e.src_port;
    }
    j["dest_ip"] = e.dest_ip.to_string();
    if (ports) {
        j["dest_port"] = e.dest_port;
    }
    j["proto"] = proto_name(e.ip_proto);
    if (is_icmp(e.ip_proto)) {
        j["icmp_type"] = e.icmp_type;
        j["icmp_code"] = e.icmp_code;
    }
}

int64_t floor_seconds(int64_t us) {
    return us >= 0 ? us / 1'000'000 : -((-us + 999'999) / 1'000'000);
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace

std::string eve_timestamp(int64_t ts_us) {
    using std::chrono::days;
    using std::chrono::floor;
    using std::chrono::microseconds;
    const std::chrono::sys_time<microseconds> tp{microseconds{ts_us}};
    const std::chrono::sys_days day = floor<days>(tp);
    const std::chrono::year_month_day ymd{day};
    const int64_t us_of_day = (tp - day).count();
    const auto seconds_of_day = static_cast<int>(us_of_day / 1'000'000);
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d.%06d+0000",
                  static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                  static_cast<unsigned>(ymd.day()), seconds_of_day / 3600, seconds_of_day / 60 % 60,
                  seconds_of_day % 60, static_cast<int>(us_of_day % 1'000'000));
    return buf;
}

std::string alert_to_json(const core::AlertRecord& alert) {
    Json j;
    j["timestamp"] = eve_timestamp(alert.ts_us);
    j["flow_id"] = alert.flow_id;
    if (alert.packet_index != 0) {
        j["pcap_cnt"] = alert.packet_index;
    }
    j["event_type"] = "alert";
    add_tuple(j, alert.endpoints);
    j["community_id"] = community_id_v1(alert.endpoints);

    Json a;
    a["action"] = alert.action.empty() ? std::string("allowed") : alert.action;
    a["gid"] = alert.gid;
    a["signature_id"] = alert.signature_id;
    a["rev"] = alert.rev;
    a["signature"] = alert.signature;
    a["category"] = alert.category;
    a["severity"] = alert.severity;
    if (!alert.metadata.empty()) {
        // Suricata groups a rule's metadata by key: {"key": ["value", ...]}, keys in order of
        // first appearance, values in rule order.
        Json metadata = Json::object();
        for (const auto& [key, value] : alert.metadata) {
            Json& values = metadata[key];
            if (values.is_null()) {
                values = Json::array();
            }
            values.push_back(value);
        }
        a["metadata"] = std::move(metadata);
    }
    if (!alert.concepts.empty()) {
        a["concept"] = alert.concepts;
    }
    j["alert"] = std::move(a);

    if (!alert.app_proto.empty()) {
        j["app_proto"] = alert.app_proto;
    }
    if (!alert.direction.empty()) {
        j["direction"] = alert.direction;
    }
    return dump(j);
}

std::string flow_to_json(const core::FlowRecord& flow) {
    Json j;
    j["timestamp"] = eve_timestamp(flow.ts_us);
    j["flow_id"] = flow.flow_id;
    j["event_type"] = "flow";
    add_tuple(j, flow.endpoints);
    if (!flow.app_proto.empty()) {
        j["app_proto"] = flow.app_proto;
    }

    Json f;
    f["pkts_toserver"] = flow.pkts_toserver;
    f["pkts_toclient"] = flow.pkts_toclient;
    f["bytes_toserver"] = flow.bytes_toserver;
    f["bytes_toclient"] = flow.bytes_toclient;
    f["start"] = eve_timestamp(flow.start_us);
    f["end"] = eve_timestamp(flow.end_us);
    // Whole seconds between the seconds fields of end and start, as Suricata computes it.
    f["age"] = floor_seconds(flow.end_us) - floor_seconds(flow.start_us);
    if (!flow.state.empty()) {
        f["state"] = flow.state;
    }
    f["reason"] = flow.reason.empty() ? std::string("unknown") : flow.reason;
    f["alerted"] = flow.alerted;
    j["flow"] = std::move(f);

    j["community_id"] = community_id_v1(flow.endpoints);

    Json ndpi = Json::object();
    if (!flow.ndpi_protocol.empty()) {
        ndpi["protocol"] = flow.ndpi_protocol;
    }
    if (!flow.ndpi_category.empty()) {
        ndpi["category"] = flow.ndpi_category;
    }
    if (!flow.host.empty()) {
        ndpi["host"] = flow.host;
    }
    if (!flow.ja3.empty()) {
        ndpi["ja3"] = flow.ja3;
    }
    if (!flow.ndpi_risks.empty()) {
        ndpi["risks"] = flow.ndpi_risks;
    }
    if (!ndpi.empty()) {
        j["ndpi"] = std::move(ndpi);
    }
    return dump(j);
}

core::Result<std::unique_ptr<EveWriter>> EveWriter::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return core::make_error(path + ": cannot open for appending: " + std::strerror(errno));
    }
    return std::unique_ptr<EveWriter>(new EveWriter(fd));
}

EveWriter::EveWriter(int fd) : fd_(fd) { buffer_.reserve(kBufferBytes + 4096); }

EveWriter::~EveWriter() {
    flush();
    ::close(fd_);
}

void EveWriter::write_alert(const core::AlertRecord& alert) noexcept {
    try {
        append_line(alert_to_json(alert));
    } catch (...) {  // only allocation can fail here; the record is lost, and counted
        failed_.add();
    }
}

void EveWriter::write_flow(const core::FlowRecord& flow) noexcept {
    try {
        append_line(flow_to_json(flow));
    } catch (...) {
        failed_.add();
    }
}

void EveWriter::append_line(const std::string& line) {
    buffer_.reserve(buffer_.size() + line.size() + 1);
    buffer_ += line;
    buffer_ += '\n';
    ++buffered_lines_;
    if (buffer_.size() >= kBufferBytes) {
        flush();
    }
}

void EveWriter::flush() noexcept {
    if (buffered_lines_ == 0) {
        return;
    }
    size_t done = 0;
    while (done < buffer_.size()) {
        const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;  // disk full, I/O error: the rest of the buffer is lost and counted
        }
        done += static_cast<size_t>(n);
    }
    const auto complete = static_cast<uint64_t>(
        std::count(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(done), '\n'));
    written_.add(complete);
    failed_.add(buffered_lines_ - complete);
    if (done > 0 && buffer_[done - 1] != '\n') {
        // A torn line stays in the file; end it so that the next record starts on its own line.
        const ssize_t ignored = ::write(fd_, "\n", 1);
        static_cast<void>(ignored);
    }
    buffer_.clear();
    buffered_lines_ = 0;
}

}  // namespace sensor::alert
