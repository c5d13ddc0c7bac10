#pragma once
// AlertRecord and FlowRecord: what workers hand to outputs. A flow record is made for every
// flow, new flows are the steady state of real traffic, so it holds its text inline
// (FixedString) and never allocates. An alert refers to its rule's texts (it does not copy
// them) and its packet copy reuses a buffer an earlier alert left (WorkerOutput).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sensor/core/fixed_string.h"
#include "sensor/core/ip_address.h"

namespace sensor::core {

// The 5-tuple as oriented for output: src is the flow's initiator for flow records and the
// packet's source for alerts (as Suricata does).
struct Endpoints {
    IpAddress src_ip;
    IpAddress dest_ip;
    uint16_t src_port = 0;
    uint16_t dest_port = 0;
    uint8_t ip_proto = 0;
    uint8_t icmp_type = 0;  // for community_id of ICMP flows
    uint8_t icmp_code = 0;
};

// Suricata's `http` object in alerts on HTTP transactions: the transaction's request line,
// request headers and, once parsed, its response status and headers. Strings are copies, each
// cut to kMaxField bytes.
struct HttpRecord {
    static constexpr size_t kMaxField = 1024;
    std::string hostname;      // libhtp's request_hostname (Host header or absolute URI)
    int32_t http_port = -1;    // port written in the Host header or URI; -1 when none
    std::string url;           // raw request URI
    std::string user_agent;    // User-Agent
    std::string xff;           // X-Forwarded-For
    std::string content_type;  // response Content-Type up to its first ';'
    std::string refer;         // Referer
    std::string method;
    std::string protocol;  // request protocol, "HTTP/1.1"
    int32_t status = -1;   // response status; -1 before the response line
    std::string redirect;  // response Location, written with a status only
    uint64_t length = 0;   // response body bytes seen so far

    // Copies at most kMaxField bytes of bytes into field.
    static void assign(std::string& field, std::span<const uint8_t> bytes) {
        const size_t n = bytes.size() < kMaxField ? bytes.size() : kMaxField;
        field.assign(reinterpret_cast<const char*>(bytes.data()), n);
    }
};

// A DNS-format message as Suricata's `llmnr` object shows it in alerts on LLMNR flows.
struct DnsRrRecord {
    std::string rrname;
    std::string rrtype;  // lower-case mnemonic ("a", "ptr"), or the type number as text
    // Resource records only, written under the rrtype's key: A/AAAA the address, CNAME, NS,
    // PTR, MX the name, TXT each string (an array), any other type its raw bytes.
    std::vector<std::string> data;
    bool data_is_list = false;
};
struct DnsMessageRecord {
    bool response = false;
    uint16_t id = 0;
    uint16_t flags = 0;  // header flags word
    std::vector<DnsRrRecord> queries;
    std::vector<DnsRrRecord> answers;
    std::vector<DnsRrRecord> authorities;
    std::vector<DnsRrRecord> additionals;  // without empty OPT records
};

// Suricata's `arp` object (the fields of its ARP logger) in alerts on ARP frames, which have no
// IP header, ports or flow. Hardware and protocol are always Ethernet and IPv4.
struct ArpRecord {
    uint16_t opcode = 0;               // 1 request, 2 reply, 3 reverse request, 4 reverse reply
    std::array<uint8_t, 6> src_mac{};  // sender
    IpAddress src_ip;
    std::array<uint8_t, 6> dest_mac{};  // target
    IpAddress dest_ip;
};

// Suricata's `flow` object in alerts: the counters of the alerting packet's flow so far (this
// packet included), with its initiator as src.
struct AlertFlow {
    uint64_t pkts_toserver = 0;
    uint64_t pkts_toclient = 0;
    uint64_t bytes_toserver = 0;
    uint64_t bytes_toclient = 0;
    int64_t start_us = 0;
    IpAddress src_ip;  // the flow's initiator
    IpAddress dest_ip;
    uint16_t src_port = 0;
    uint16_t dest_port = 0;
};

// A rule's texts as an alert carries them: Suricata's `alert.signature`, `alert.category`,
// `alert.metadata` (key, value, in rule order) and our Concept category ids.
using MetadataPair = std::pair<std::string, std::string>;

struct RuleTextsView {
    std::string_view signature;
    std::string_view category;
    std::span<const MetadataPair> metadata;
    std::span<const std::string> concepts;
};

struct RuleTexts {
    // Default member initializers: designated initializers may name only some members.
    std::string signature{};
    std::string category{};
    std::vector<MetadataPair> metadata{};
    std::vector<std::string> concepts{};

    RuleTextsView view() const noexcept { return {signature, category, metadata, concepts}; }
};

struct AlertRecord {
    static constexpr size_t kMaxVlans = 3;

    int64_t ts_us = 0;
    uint64_t flow_id = 0;
    uint64_t packet_index = 0;  // frame index in its source (pcap_cnt)
    int linktype = -1;          // libpcap DLT_* of the alerting packet; -1 unknown
    Endpoints endpoints;
    std::string app_proto;          // empty when unknown
    std::string direction;          // "to_server" or "to_client"
    uint16_t vlan[kMaxVlans] = {};  // the packet's VLAN ids, outer first
    uint8_t vlan_count = 0;
    // The app-layer transaction the alert is about (0-based, Suricata's tx_id); -1 when the
    // rule matched no app-layer buffer.
    int64_t tx_id = -1;
    std::optional<AlertFlow> flow;   // absent for packets without a flow
    std::optional<HttpRecord> http;  // alerts on HTTP transactions
    // Alerts on ARP frames: endpoints, flow_id and app_proto are then empty, flow absent.
    std::optional<ArpRecord> arp;
    std::optional<DnsMessageRecord> llmnr;  // alerts on LLMNR flows: the alerting message
    // alert {}
    std::string action;  // "allowed" (passive sensor), "blocked" for drop/reject rules
    uint32_t gid = 1;
    uint32_t signature_id = 0;
    uint32_t rev = 0;
    int severity = 3;  // classtype priority, or rule priority

    // The rule's texts. Workers point them into the rule set they match with, which the
    // record keeps alive (a reload may retire it before an output writes the record): an
    // alert then copies no text, whatever its rule's metadata.
    std::string_view signature() const noexcept { return texts_.signature; }
    std::string_view category() const noexcept { return texts_.category; }  // classtype's
    std::span<const MetadataPair> metadata() const noexcept { return texts_.metadata; }
    std::span<const std::string> concepts() const noexcept { return texts_.concepts; }
    // Views into memory that `owner` keeps alive; no copy, no allocation.
    void refer_to_rule_texts(std::shared_ptr<const void> owner,
                             const RuleTextsView& texts) noexcept {
        texts_owner_ = std::move(owner);
        texts_ = texts;
    }
    // Copies the texts into storage of the record's own (records made outside the packet
    // path: tests, start-up reports).
    void own_rule_texts(RuleTexts texts) {
        auto owned = std::make_shared<const RuleTexts>(std::move(texts));
        const RuleTextsView view = owned->view();
        refer_to_rule_texts(std::move(owned), view);
    }
    // A copy of the texts, to change and own again.
    RuleTexts copy_rule_texts() const {
        return {std::string(texts_.signature),
                std::string(texts_.category),
                {texts_.metadata.begin(), texts_.metadata.end()},
                {texts_.concepts.begin(), texts_.concepts.end()}};
    }
    // The alerting packet as Suricata logs it (link-layer bytes, then the IP packet) and where
    // its L4 payload (what dsize measures) lies in it: for the EVE `packet` and `payload`
    // options and app-layer details written from the payload (the `dhcp` object).
    std::vector<uint8_t> packet;
    size_t payload_offset = 0;
    size_t payload_size = 0;

    std::span<const uint8_t> payload() const noexcept {
        return std::span<const uint8_t>(packet).subspan(payload_offset, payload_size);
    }
    // Copies link + ip; payload must lie inside ip (else the payload is recorded empty).
    // Reuses packet's capacity: no allocation when a recycled buffer is large enough.
    void set_packet(std::span<const uint8_t> link, std::span<const uint8_t> ip,
                    std::span<const uint8_t> l4_payload) {
        packet.resize(link.size() + ip.size());
        std::copy(link.begin(), link.end(), packet.begin());
        std::copy(ip.begin(), ip.end(), packet.begin() + static_cast<std::ptrdiff_t>(link.size()));
        const std::less<> before;
        if (!l4_payload.empty() && !before(l4_payload.data(), ip.data()) &&
            !before(ip.data() + ip.size(), l4_payload.data() + l4_payload.size())) {
            payload_offset = link.size() + static_cast<size_t>(l4_payload.data() - ip.data());
            payload_size = l4_payload.size();
        } else {
            payload_offset = 0;
            payload_size = 0;
        }
    }

private:
    std::shared_ptr<const void> texts_owner_;
    RuleTextsView texts_;
};

// Names of nDPI risk numbers: static text, so records carry the function, not strings. Empty
// for an unknown number.
using RiskNameFn = std::string_view (*)(size_t risk) noexcept;

// Visits the name of every risk set in bits (bit n is risk n), lowest first; "unknown_risk" for
// a number without a name. The one place that spells risk names for outputs and reports.
template <typename Visit>
void for_each_risk_name(uint64_t bits, RiskNameFn name_of, Visit&& visit) {
    for (size_t bit = 0; bit < 64; ++bit) {
        if ((bits & (uint64_t{1} << bit)) == 0) {
            continue;
        }
        const std::string_view name = name_of != nullptr ? name_of(bit) : std::string_view();
        visit(name.empty() ? std::string_view("unknown_risk") : name);
    }
}

// Community ID v1 text: "1:" and the base64 of a SHA-1 digest, 30 bytes.
using CommunityId = FixedString<30>;

struct FlowRecord {
    using RiskNameFn = core::RiskNameFn;

    int64_t ts_us = 0;  // when the record was emitted (packet time)
    uint64_t flow_id = 0;
    Endpoints endpoints;
    FixedString<16> app_proto;  // Suricata-style lower-case name, "failed" when unknown
    uint64_t pkts_toserver = 0;
    uint64_t pkts_toclient = 0;
    uint64_t bytes_toserver = 0;
    uint64_t bytes_toclient = 0;
    int64_t start_us = 0;
    int64_t end_us = 0;
    FixedString<16> state;   // "new", "established", "closed"
    FixedString<16> reason;  // "timeout", "forced" (evicted), "shutdown" (end of run)
    bool alerted = false;
    // Classifier details
    FixedString<64> ndpi_protocol;  // e.g. "TLS.Google"
    FixedString<32> ndpi_category;
    FixedString<64> host;  // HTTP host / TLS SNI / DNS query (the classifier keeps 63 bytes)
    FixedString<32> ja3;   // JA3 client hash, 32 hex digits
    uint64_t ndpi_risk_bits = 0;
    RiskNameFn risk_name = nullptr;  // set whenever ndpi_risk_bits is not 0
    // Of the endpoints, filled by the worker that ended the flow; empty: computed by the
    // output that writes it.
    CommunityId community_id;

    // The risk names, lowest number first; "unknown_risk" for a number without a name.
    template <typename Visit>
    void for_each_risk(Visit&& visit) const {
        for_each_risk_name(ndpi_risk_bits, risk_name, std::forward<Visit>(visit));
    }
};

}  // namespace sensor::core
