#include "sensor/alert/eve_writer.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <nlohmann/json.hpp>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "sensor/alert/community_id.h"
#include "sensor/alert/json_text.h"

namespace sensor::alert {

namespace {

// Suricata writes members in a fixed order; ordered_json keeps insertion order.
using Json = nlohmann::ordered_json;

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kProtoSctp = 132;

// A short field value (address, timestamp, protocol number) formatted on the stack: a flow
// record has several, and a std::string and inet_ntop/snprintf for each cost about as much
// as the rest of the record.
struct ShortText {
    std::array<char, 48> data;
    size_t size = 0;

    std::string_view view() const { return {data.data(), size}; }
    void put(char c) { data[size++] = c; }
    void put_decimal(unsigned value) {
        const auto [end, ec] = std::to_chars(data.data() + size, data.data() + data.size(), value);
        static_cast<void>(ec);  // at most 10 digits, and no caller writes more than 40 bytes
        size = static_cast<size_t>(end - data.data());
    }
};

// IANA keywords as Suricata 7 spells them, for the protocols a sensor commonly sees; empty
// for any other.
std::string_view proto_keyword(uint8_t proto) {
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
            return {};
    }
}

// The keyword, or the protocol's decimal number.
ShortText proto_name(uint8_t proto) {
    ShortText out;
    const std::string_view name = proto_keyword(proto);
    if (name.empty()) {
        out.put_decimal(proto);
        return out;
    }
    std::copy(name.begin(), name.end(), out.data.begin());
    out.size = name.size();
    return out;
}

bool has_ports(uint8_t proto) {
    return proto == kProtoTcp || proto == kProtoUdp || proto == kProtoSctp;
}

bool is_icmp(uint8_t proto) { return proto == kProtoIcmp || proto == kProtoIcmp6; }

// The address as inet_ntop writes it (IpAddress::to_string), or for IPv6 without
// ipv6-compress all eight groups of four digits, Suricata's default form.
ShortText ip_text(const core::IpAddress& ip, const EveOptions& options) {
    ShortText out;
    if (!ip.v6) {
        for (size_t i = 0; i < 4; ++i) {
            if (i != 0) {
                out.put('.');
            }
            out.put_decimal(ip.bytes[i]);
        }
        return out;
    }
    if (!options.ipv6_compress) {
        static constexpr char kHex[] = "0123456789abcdef";
        for (size_t i = 0; i < 16; ++i) {
            if (i != 0 && i % 2 == 0) {
                out.put(':');
            }
            out.put(kHex[ip.bytes[i] >> 4]);
            out.put(kHex[ip.bytes[i] & 0x0F]);
        }
        return out;
    }
    static_assert(INET6_ADDRSTRLEN <= std::tuple_size_v<decltype(ShortText::data)>);
    if (inet_ntop(AF_INET6, ip.bytes.data(), out.data.data(), INET6_ADDRSTRLEN) == nullptr) {
        out.put('?');  // as IpAddress::to_string
        return out;
    }
    out.size = std::char_traits<char>::length(out.data.data());
    return out;
}

// eve_timestamp's text.
ShortText timestamp_text(int64_t ts_us) {
    using std::chrono::days;
    using std::chrono::floor;
    using std::chrono::microseconds;
    const std::chrono::sys_time<microseconds> tp{microseconds{ts_us}};
    const std::chrono::sys_days day = floor<days>(tp);
    const std::chrono::year_month_day ymd{day};
    const int64_t us_of_day = (tp - day).count();
    const auto seconds_of_day = static_cast<int>(us_of_day / 1'000'000);
    const int year = static_cast<int>(ymd.year());
    ShortText out;
    if (year < 0 || year > 9999) {  // outside what four digits hold: the slow, general form
        const int n = std::snprintf(
            out.data.data(), out.data.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%06d+0000", year,
            static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
            seconds_of_day / 3600, seconds_of_day / 60 % 60, seconds_of_day % 60,
            static_cast<int>(us_of_day % 1'000'000));
        out.size = std::min(static_cast<size_t>(std::max(n, 0)), out.data.size() - 1);
        return out;
    }
    // Digits written in place: a flow record has three timestamps, and snprintf cost more
    // than the rest of the record.
    static constexpr std::string_view kForm = "0000-00-00T00:00:00.000000+0000";
    std::copy(kForm.begin(), kForm.end(), out.data.begin());
    out.size = kForm.size();
    auto put = [&out](size_t end, int64_t value, size_t digits) {
        for (size_t i = 0; i < digits; ++i) {
            out.data[end - i] = static_cast<char>('0' + value % 10);
            value /= 10;
        }
    };
    put(3, year, 4);
    put(6, static_cast<unsigned>(ymd.month()), 2);
    put(9, static_cast<unsigned>(ymd.day()), 2);
    put(12, seconds_of_day / 3600, 2);
    put(15, seconds_of_day / 60 % 60, 2);
    put(18, seconds_of_day % 60, 2);
    put(25, us_of_day % 1'000'000, 6);
    return out;
}

void add_tuple(JsonText& j, const core::Endpoints& e, const EveOptions& options) {
    const bool ports = has_ports(e.ip_proto);
    j.member("src_ip", ip_text(e.src_ip, options).view());
    if (ports) {
        j.member("src_port", e.src_port);
    }
    j.member("dest_ip", ip_text(e.dest_ip, options).view());
    if (ports) {
        j.member("dest_port", e.dest_port);
    }
    j.member("ip_v", e.src_ip.v6 ? 6 : 4);
    j.member("proto", proto_name(e.ip_proto).view());
    if (is_icmp(e.ip_proto)) {
        j.member("icmp_type", e.icmp_type);
        j.member("icmp_code", e.icmp_code);
    }
}

int64_t floor_seconds(int64_t us) {
    return us >= 0 ? us / 1'000'000 : -((-us + 999'999) / 1'000'000);
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

std::string base64(std::span<const uint8_t> bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    size_t i = 0;
    for (; i + 3 <= bytes.size(); i += 3) {
        const uint32_t v =
            (uint32_t{bytes[i]} << 16) | (uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
        out += kAlphabet[v >> 18];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (i < bytes.size()) {
        const bool two = i + 1 < bytes.size();
        const uint32_t v = (uint32_t{bytes[i]} << 16) | (two ? uint32_t{bytes[i + 1]} << 8 : 0);
        out += kAlphabet[v >> 18];
        out += kAlphabet[(v >> 12) & 63];
        out += two ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

// Suricata's payload_printable: printable ASCII, CR and LF kept, every other byte a dot.
std::string printable(std::span<const uint8_t> bytes) {
    std::string out(bytes.size(), '.');
    for (size_t i = 0; i < bytes.size(); ++i) {
        const uint8_t c = bytes[i];
        if ((c >= 0x20 && c < 0x7f) || c == '\n' || c == '\r') {
            out[i] = static_cast<char>(c);
        }
    }
    return out;
}

// The `dhcp` object Suricata writes in alerts on DHCP transactions (its default, not extended,
// fields): BOOTP op, transaction id, client hardware address, assigned address, and the
// message type and host name options. Nothing when the payload is not BOOTP with the DHCP
// magic cookie (RFC 2131 2, 3).
Json dhcp_json(std::span<const uint8_t> p) {
    constexpr size_t kOptionsAt = 240;  // fixed BOOTP fields + magic cookie
    if (p.size() < kOptionsAt || (p[0] != 1 && p[0] != 2) || p[236] != 0x63 || p[237] != 0x82 ||
        p[238] != 0x53 || p[239] != 0x63) {
        return {};
    }
    Json d;
    d["type"] = p[0] == 1 ? "request" : "reply";
    d["id"] = (uint32_t{p[4]} << 24) | (uint32_t{p[5]} << 16) | (uint32_t{p[6]} << 8) | p[7];
    const size_t hlen = p[2] <= 16 ? p[2] : 16;
    std::string mac;
    for (size_t i = 0; i < hlen; ++i) {
        char hex[4];
        std::snprintf(hex, sizeof(hex), i == 0 ? "%02x" : ":%02x", p[28 + i]);
        mac += hex;
    }
    d["client_mac"] = mac;
    d["assigned_ip"] = core::IpAddress::v4_from(&p[16]).to_string();
    static constexpr const char* kTypes[] = {"",    "discover", "offer",   "request", "decline",
                                             "ack", "nak",      "release", "inform"};
    for (size_t at = kOptionsAt; at < p.size();) {
        const uint8_t code = p[at];
        if (code == 0) {  // pad
            ++at;
            continue;
        }
        if (code == 255 || at + 1 >= p.size()) {  // end
            break;
        }
        const size_t len = p[at + 1];
        if (at + 2 + len > p.size()) {
            break;
        }
        const uint8_t* value = &p[at + 2];
        if (code == 53 && len == 1) {
            d["dhcp_type"] = value[0] < std::size(kTypes) && value[0] != 0
                                 ? std::string(kTypes[value[0]])
                                 : std::string("unknown");
        } else if (code == 12 && len > 0) {
            d["hostname"] = std::string(value, value + len);
        }
        at += 2 + len;
    }
    return d;
}

// Suricata's `llmnr` object (its 9.0 logger): flags only when C, TC or T is set, rrtype in
// lower case, and each record's data under its rrtype's key.
Json llmnr_json(const core::DnsMessageRecord& m) {
    Json j;
    j["type"] = m.response ? "response" : "request";
    j["id"] = m.id;
    if ((m.flags & 0x0700) != 0) {
        Json flags = Json::array();
        static constexpr std::pair<uint16_t, const char*> kBits[] = {
            {0x0400, "c"}, {0x0200, "tc"}, {0x0100, "t"}};
        for (const auto& [bit, name] : kBits) {
            if ((m.flags & bit) != 0) {
                flags.push_back(name);
            }
        }
        j["flags"] = std::move(flags);
    }
    j["opcode"] = (m.flags >> 11) & 0x0F;
    if (!m.queries.empty()) {
        Json queries = Json::array();
        for (const core::DnsRrRecord& q : m.queries) {
            queries.push_back({{"rrname", q.rrname}, {"rrtype", q.rrtype}});
        }
        j["queries"] = std::move(queries);
    }
    auto records = [&j](const char* key, const std::vector<core::DnsRrRecord>& rrs) {
        if (rrs.empty()) {
            return;
        }
        Json list = Json::array();
        for (const core::DnsRrRecord& rr : rrs) {
            Json r;
            r["rrname"] = rr.rrname;
            if (rr.data_is_list) {
                r[rr.rrtype] = rr.data;
            } else if (!rr.data.empty()) {
                r[rr.rrtype] = rr.data.front();
            }
            list.push_back(std::move(r));
        }
        j[key] = std::move(list);
    };
    records("answers", m.answers);
    records("authorities", m.authorities);
    records("additionals", m.additionals);
    return j;
}

// Suricata's `http` object (its basic and extended members, as in alerts); optional members
// only when the transaction has them. Written straight into the line, as HTTP alerts are
// common and workers make alert lines without allocating.
void add_http(JsonText& j, const core::HttpRecord& h) {
    j.key("http");
    j.begin_object();
    auto put = [&j](std::string_view key, const std::string& value) {
        if (!value.empty()) {
            j.member(key, std::string_view(value));
        }
    };
    put("hostname", h.hostname);
    if (h.http_port >= 0) {
        j.member("http_port", h.http_port);
    }
    put("url", h.url);
    put("http_user_agent", h.user_agent);
    put("xff", h.xff);
    put("http_content_type", h.content_type);
    put("http_refer", h.refer);
    put("http_method", h.method);
    put("protocol", h.protocol);
    if (h.status >= 0) {
        j.member("status", h.status);
        put("redirect", h.redirect);
    }
    j.member("length", h.length);
    j.end_object();
}

std::string mac_text(const std::array<uint8_t, 6>& mac) {
    char buf[18];
    std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                  mac[4], mac[5]);
    return buf;
}

// Suricata's `arp` object (members and opcode names of its ARP logger).
Json arp_json(const core::ArpRecord& arp) {
    static constexpr const char* kOpcodes[] = {"unknown", "request", "reply", "request_reverse",
                                               "reply_reverse"};
    Json j;
    j["hw_type"] = "ethernet";
    j["proto_type"] = "ipv4";
    j["opcode"] = arp.opcode < std::size(kOpcodes) ? kOpcodes[arp.opcode] : kOpcodes[0];
    j["src_mac"] = mac_text(arp.src_mac);
    j["src_ip"] = arp.src_ip.to_string();
    j["dest_mac"] = mac_text(arp.dest_mac);
    j["dest_ip"] = arp.dest_ip.to_string();
    return j;
}

// The counters and start time that open the `flow` object of alerts and of flow records.
template <class Record>
void add_flow_counts(JsonText& j, const Record& r) {
    j.member("pkts_toserver", r.pkts_toserver);
    j.member("pkts_toclient", r.pkts_toclient);
    j.member("bytes_toserver", r.bytes_toserver);
    j.member("bytes_toclient", r.bytes_toclient);
    j.member("start", timestamp_text(r.start_us).view());
}

void add_alert_flow(JsonText& j, const core::AlertFlow& f, uint8_t ip_proto,
                    const EveOptions& options) {
    j.key("flow");
    j.begin_object();
    add_flow_counts(j, f);
    j.member("src_ip", ip_text(f.src_ip, options).view());
    j.member("dest_ip", ip_text(f.dest_ip, options).view());
    if (has_ports(ip_proto)) {
        j.member("src_port", f.src_port);
        j.member("dest_port", f.dest_port);
    }
    j.end_object();
}

// A rarely written nested object, built as a document.
void add_document(JsonText& j, std::string_view key, const Json& value) {
    j.key(key);
    j.raw(dump(value));
}

void add_strings(JsonText& j, std::string_view key, std::span<const std::string> values) {
    j.key(key);
    j.begin_array();
    for (const std::string& v : values) {
        j.string(v);
    }
    j.end_array();
}

// Suricata groups a rule's metadata by key: {"key": ["value", ...]}, keys in order of first
// appearance, values in rule order. Written straight from the pairs: a rule has a few of them
// (ET Open: at most 13), and an alert then costs no allocation here. Past kMaxScan pairs (no
// real rule set has such rules) the grouping goes through a document, so a rule with
// thousands of pairs costs linear time rather than quadratic.
void add_metadata(JsonText& j, std::span<const core::MetadataPair> pairs) {
    constexpr size_t kMaxScan = 64;
    if (pairs.size() > kMaxScan) {
        Json metadata = Json::object();
        for (const auto& [key, value] : pairs) {
            Json& values = metadata[key];
            if (values.is_null()) {
                values = Json::array();
            }
            values.push_back(value);
        }
        add_document(j, "metadata", metadata);
        return;
    }
    j.key("metadata");
    j.begin_object();
    for (size_t i = 0; i < pairs.size(); ++i) {
        const std::string_view key = pairs[i].first;
        bool seen = false;
        for (size_t k = 0; k < i && !seen; ++k) {
            seen = pairs[k].first == key;
        }
        if (seen) {
            continue;
        }
        j.key(key);
        j.begin_array();
        for (size_t v = i; v < pairs.size(); ++v) {
            if (pairs[v].first == key) {
                j.string(pairs[v].second);
            }
        }
        j.end_array();
    }
    j.end_object();
}

}  // namespace

std::string eve_timestamp(int64_t ts_us) { return std::string(timestamp_text(ts_us).view()); }

std::string_view linktype_name(int linktype) {
    switch (linktype) {
        case 0:
            return "NULL";
        case 1:
            return "EN10MB";
        case 9:
            return "PPP";
        case 12:
        case 14:
        case 101:
            return "RAW";
        case 50:
            return "PPP_SERIAL";
        case 104:
            return "C_HDLC";
        case 108:
            return "LOOP";
        case 113:
            return "LINUX_SLL";
        case 228:
            return "IPV4";
        case 229:
            return "IPV6";
        case 276:
            return "LINUX_SLL2";
        default:
            return {};
    }
}

void append_alert_json(std::string& out, const core::AlertRecord& alert,
                       const EveOptions& options) {
    JsonText j(out);
    j.begin_object();
    j.member("timestamp", timestamp_text(alert.ts_us).view());
    // An ARP frame has no flow and no IP header: no flow_id, addresses, proto or community_id
    // (its addresses are in the `arp` object).
    const bool ip = !alert.arp;
    if (ip) {
        j.member("flow_id", alert.flow_id);
    }
    if (alert.packet_index != 0) {
        j.member("pcap_cnt", alert.packet_index);
    }
    j.member("event_type", "alert");
    if (alert.vlan_count > 0) {
        j.key("vlan");
        j.begin_array();
        for (size_t i = 0; i < alert.vlan_count && i < core::AlertRecord::kMaxVlans; ++i) {
            j.number(alert.vlan[i]);
        }
        j.end_array();
    }
    if (ip) {
        add_tuple(j, alert.endpoints, options);
        j.member("community_id", community_id_v1_text(alert.endpoints).view());
    }
    if (alert.tx_id >= 0) {
        j.member("tx_id", alert.tx_id);
    }

    j.key("alert");
    j.begin_object();
    j.member("action",
             alert.action.empty() ? std::string_view("allowed") : std::string_view(alert.action));
    j.member("gid", alert.gid);
    j.member("signature_id", alert.signature_id);
    j.member("rev", alert.rev);
    j.member("signature", alert.signature());
    j.member("category", alert.category());
    j.member("severity", alert.severity);
    if (options.metadata && !alert.metadata().empty()) {
        add_metadata(j, alert.metadata());
    }
    if (!alert.concepts().empty()) {
        add_strings(j, "concept", alert.concepts());
    }
    j.end_object();
    if (alert.arp) {
        add_document(j, "arp", arp_json(*alert.arp));
    }

    if (options.metadata && alert.http) {
        add_http(j, *alert.http);
    }
    if (!alert.app_proto.empty()) {
        j.member("app_proto", alert.app_proto);
    }
    if (!alert.direction.empty()) {
        j.member("direction", alert.direction);
    }
    if (options.metadata && alert.app_proto == "dhcp") {
        if (Json dhcp = dhcp_json(alert.payload()); !dhcp.is_null()) {
            add_document(j, "dhcp", dhcp);
        }
    }
    if (options.metadata && alert.llmnr) {
        add_document(j, "llmnr", llmnr_json(*alert.llmnr));
    }
    if (options.metadata && alert.flow) {
        add_alert_flow(j, *alert.flow, alert.endpoints.ip_proto, options);
    }
    if (options.payload) {
        j.member("payload", base64(alert.payload()));
        j.member("payload_printable", printable(alert.payload()));
        j.member("stream", 0);
    }
    if (options.packet && !alert.packet.empty()) {
        j.member("packet", base64(alert.packet));
    }
    if (options.verdict) {
        j.key("verdict");
        j.begin_object();
        j.member("action", "alert");
        j.end_object();
    }
    if (options.packet && alert.linktype >= 0) {
        j.key("packet_info");
        j.begin_object();
        j.member("linktype", alert.linktype);
        if (std::string_view name = linktype_name(alert.linktype); !name.empty()) {
            j.member("linktype_name", name);
        }
        j.end_object();
    }
    j.end_object();
}

void append_flow_json(std::string& out, const core::FlowRecord& flow, const EveOptions& options) {
    JsonText j(out);
    j.begin_object();
    j.member("timestamp", timestamp_text(flow.ts_us).view());
    j.member("flow_id", flow.flow_id);
    j.member("event_type", "flow");
    add_tuple(j, flow.endpoints, options);
    if (!flow.app_proto.empty()) {
        j.member("app_proto", flow.app_proto.view());
    }

    j.key("flow");
    j.begin_object();
    add_flow_counts(j, flow);
    j.member("end", timestamp_text(flow.end_us).view());
    // Whole seconds between the seconds fields of end and start, as Suricata computes it.
    j.member("age", floor_seconds(flow.end_us) - floor_seconds(flow.start_us));
    if (!flow.state.empty()) {
        j.member("state", flow.state.view());
    }
    j.member("reason", flow.reason.empty() ? std::string_view("unknown") : flow.reason.view());
    j.key("alerted");
    j.boolean(flow.alerted);
    j.end_object();

    if (!flow.community_id.empty()) {
        j.member("community_id", flow.community_id.view());
    } else {
        j.member("community_id", community_id_v1_text(flow.endpoints).view());
    }

    const bool ndpi = !flow.ndpi_protocol.empty() || !flow.ndpi_category.empty() ||
                      !flow.host.empty() || !flow.ja3.empty() || flow.ndpi_risk_bits != 0;
    if (ndpi) {
        j.key("ndpi");
        j.begin_object();
        if (!flow.ndpi_protocol.empty()) {
            j.member("protocol", flow.ndpi_protocol.view());
        }
        if (!flow.ndpi_category.empty()) {
            j.member("category", flow.ndpi_category.view());
        }
        if (!flow.host.empty()) {
            j.member("host", flow.host.view());
        }
        if (!flow.ja3.empty()) {
            j.member("ja3", flow.ja3.view());
        }
        if (flow.ndpi_risk_bits != 0) {
            j.key("risks");
            j.begin_array();
            flow.for_each_risk([&j](std::string_view name) { j.string(name); });
            j.end_array();
        }
        j.end_object();
    }
    j.end_object();
}

std::string alert_to_json(const core::AlertRecord& alert, const EveOptions& options) {
    std::string out;
    append_alert_json(out, alert, options);
    return out;
}

std::string flow_to_json(const core::FlowRecord& flow, const EveOptions& options) {
    std::string out;
    append_flow_json(out, flow, options);
    return out;
}

core::Result<std::unique_ptr<EveWriter>> EveWriter::open(const std::string& path,
                                                         const EveOptions& options) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
        return core::make_error(path + ": cannot open for appending: " + std::strerror(errno));
    }
    return std::unique_ptr<EveWriter>(new EveWriter(fd, options));
}

EveWriter::EveWriter(int fd, const EveOptions& options) : fd_(fd), options_(options) {
    buffer_.reserve(kBufferBytes + 4096);
}

EveWriter::~EveWriter() {
    flush();
    ::close(fd_);
}

std::string_view EveWriter::write_alert(const core::AlertRecord& alert) noexcept {
    const size_t start = buffer_.size();
    if (!append_record([&] { append_alert_json(buffer_, alert, options_); })) {
        return {};
    }
    if (buffer_.size() > start) {
        return std::string_view(buffer_).substr(start, buffer_.size() - start - 1);
    }
    return {};  // the line was flushed with the full buffer: its bytes are gone
}

void EveWriter::write_flow(const core::FlowRecord& flow) noexcept {
    append_record([&] { append_flow_json(buffer_, flow, options_); });
}

bool EveWriter::write_line(std::string_view line) noexcept {
    return append_record([&] { buffer_.append(line); });
}

template <class Append>
bool EveWriter::append_record(Append&& append) noexcept {
    const size_t before = buffer_.size();
    try {
        append();
        buffer_ += '\n';
    } catch (...) {  // only allocation can fail here; the record is lost, and counted
        buffer_.resize(before);
        failed_.add();
        return false;
    }
    ++buffered_lines_;
    if (buffer_.size() >= kBufferBytes) {
        flush();
    }
    return true;
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
    // Each buffered line ends with the one '\n' it holds (JSON escapes the others); only a
    // short write needs them counted.
    const auto complete =
        done == buffer_.size()
            ? buffered_lines_
            : static_cast<uint64_t>(std::count(
                  buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(done), '\n'));
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
