#pragma once
// AlertRecord and FlowRecord: what workers hand to outputs. Built off the per-packet path
// (an alert or a flow end), so they may own strings.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <utility>
#include <vector>

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

struct AlertRecord {
    int64_t ts_us = 0;
    uint64_t flow_id = 0;
    uint64_t packet_index = 0;  // frame index in its source (pcap_cnt)
    int linktype = -1;          // libpcap DLT_* of the alerting packet; -1 unknown
    Endpoints endpoints;
    std::string app_proto;  // empty when unknown
    std::string direction;  // "to_server" or "to_client"
    // alert {}
    std::string action;  // "allowed" (passive sensor), "blocked" for drop/reject rules
    uint32_t gid = 1;
    uint32_t signature_id = 0;
    uint32_t rev = 0;
    std::string signature;
    std::string category;  // classtype description
    int severity = 3;      // classtype priority, or rule priority
    std::vector<std::pair<std::string, std::string>> metadata;  // key, value, in rule order
    std::vector<std::string> concepts;                          // Concept category ids
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
    void set_packet(std::span<const uint8_t> link, std::span<const uint8_t> ip,
                    std::span<const uint8_t> l4_payload) {
        packet.assign(link.begin(), link.end());
        packet.insert(packet.end(), ip.begin(), ip.end());
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
};

struct FlowRecord {
    int64_t ts_us = 0;  // when the record was emitted (packet time)
    uint64_t flow_id = 0;
    Endpoints endpoints;
    std::string app_proto;  // Suricata-style lower-case name, "failed" when unknown
    uint64_t pkts_toserver = 0;
    uint64_t pkts_toclient = 0;
    uint64_t bytes_toserver = 0;
    uint64_t bytes_toclient = 0;
    int64_t start_us = 0;
    int64_t end_us = 0;
    std::string state;   // "new", "established", "closed"
    std::string reason;  // "timeout", "forced" (evicted), "shutdown" (end of run)
    bool alerted = false;
    // Classifier details
    std::string ndpi_protocol;  // e.g. "TLS.Google"
    std::string ndpi_category;
    std::string host;  // HTTP host / TLS SNI / DNS query
    std::string ja3;
    std::vector<std::string> ndpi_risks;
};

}  // namespace sensor::core
