#include "sensor/alert/eve_writer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include "sensor/alert/community_id.h"

namespace sensor::alert {
namespace {

core::IpAddress parse_ip(const std::string& text) {
    uint8_t bytes[16] = {};
    if (inet_pton(AF_INET, text.c_str(), bytes) == 1) {
        return core::IpAddress::v4_from(bytes);
    }
    EXPECT_EQ(inet_pton(AF_INET6, text.c_str(), bytes), 1) << text;
    return core::IpAddress::v6_from(bytes);
}

core::Endpoints make_endpoints(const std::string& src, uint16_t sport, const std::string& dst,
                               uint16_t dport, uint8_t proto) {
    core::Endpoints e;
    e.src_ip = parse_ip(src);
    e.dest_ip = parse_ip(dst);
    e.src_port = sport;
    e.dest_port = dport;
    e.ip_proto = proto;
    return e;
}

// 2026-01-05T08:00:01.123456Z
constexpr int64_t kTs = 1767600001123456;

core::AlertRecord tcp_alert() {
    core::AlertRecord a;
    a.ts_us = kTs;
    a.flow_id = 1234567890123456;
    a.packet_index = 42;
    a.endpoints = make_endpoints("128.232.110.120", 34855, "66.35.250.204", 80, 6);
    a.app_proto = "http";
    a.direction = "to_server";
    a.action = "allowed";
    a.gid = 1;
    a.signature_id = 2001999;
    a.rev = 9;
    a.severity = 1;
    a.own_rule_texts({.signature = "ET MALWARE BTGrab.com Spyware Downloading Ads",
                      .category = "A Network Trojan was detected",
                      .metadata = {{"created_at", "2010_07_30"}, {"signature_severity", "Major"}},
                      .concepts = {"crime.02", "threat.06"}});
    return a;
}

// Stands in for nDPI's risk names: two numbers have one, the others none.
std::string_view two_risk_names(size_t risk) noexcept {
    switch (risk) {
        case 3:
            return "Known Proto on Non Std Port";
        case 9:
            return "HTTP Suspicious User-Agent";
        default:
            return {};
    }
}

core::FlowRecord tcp_flow() {
    core::FlowRecord f;
    f.ts_us = kTs;
    f.flow_id = 1234567890123456;
    f.endpoints = make_endpoints("128.232.110.120", 34855, "66.35.250.204", 80, 6);
    f.app_proto = "http";
    f.pkts_toserver = 7;
    f.pkts_toclient = 9;
    f.bytes_toserver = 812;
    f.bytes_toclient = 10532;
    f.start_us = 1767599970000001;  // 07:59:30.000001
    f.end_us = 1767600000500000;    // 08:00:00.500000
    f.state = "closed";
    f.reason = "timeout";
    f.alerted = true;
    f.ndpi_protocol = "HTTP";
    f.ndpi_category = "Web";
    f.host = "www.example.org";
    f.ndpi_risk_bits = (uint64_t{1} << 3) | (uint64_t{1} << 9);
    f.risk_name = &two_risk_names;
    return f;
}

// Community IDs below come from the spec's baseline (TCP and ICMP tuples) or, for the IPv6 UDP
// tuple, from an independent computation of the spec's byte layout with Python's hashlib.
TEST(EveJson, TcpAlertGolden) {
    EXPECT_EQ(alert_to_json(tcp_alert()),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":1234567890123456,)"
              R"("pcap_cnt":42,"event_type":"alert","src_ip":"128.232.110.120","src_port":34855,)"
              R"("dest_ip":"66.35.250.204","dest_port":80,"ip_v":4,"proto":"TCP",)"
              R"("community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg=","alert":{"action":"allowed",)"
              R"("gid":1,"signature_id":2001999,"rev":9,)"
              R"("signature":"ET MALWARE BTGrab.com Spyware Downloading Ads",)"
              R"("category":"A Network Trojan was detected","severity":1,)"
              R"("metadata":{"created_at":["2010_07_30"],"signature_severity":["Major"]},)"
              R"("concept":["crime.02","threat.06"]},"app_proto":"http","direction":"to_server"})");
}

TEST(EveJson, TcpFlowGolden) {
    EXPECT_EQ(
        flow_to_json(tcp_flow()),
        R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":1234567890123456,)"
        R"("event_type":"flow","src_ip":"128.232.110.120","src_port":34855,)"
        R"("dest_ip":"66.35.250.204","dest_port":80,"ip_v":4,"proto":"TCP","app_proto":"http",)"
        R"("flow":{"pkts_toserver":7,"pkts_toclient":9,"bytes_toserver":812,)"
        R"("bytes_toclient":10532,"start":"2026-01-05T07:59:30.000001+0000",)"
        R"("end":"2026-01-05T08:00:00.500000+0000","age":30,"state":"closed",)"
        R"("reason":"timeout","alerted":true},)"
        R"("community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg=",)"
        R"("ndpi":{"protocol":"HTTP","category":"Web","host":"www.example.org",)"
        R"("risks":["Known Proto on Non Std Port","HTTP Suspicious User-Agent"]}})");
}

// A worker fills the record's community_id; the writer then takes it as it is (here a text
// that is no hash of these endpoints, to tell it from one computed here).
TEST(EveJson, FlowRecordsCommunityIdIsWrittenAsGiven) {
    core::FlowRecord f = tcp_flow();
    f.community_id = "1:given-by-the-worker";
    const std::string json = flow_to_json(f);
    EXPECT_NE(json.find(R"("community_id":"1:given-by-the-worker",)"), std::string::npos) << json;
    f.community_id = community_id_v1_text(f.endpoints);
    EXPECT_EQ(flow_to_json(f), flow_to_json(tcp_flow()));
}

TEST(EveJson, Ipv6UdpAlertGolden) {
    core::AlertRecord a;
    a.ts_us = kTs;
    a.flow_id = 77;
    a.packet_index = 3;
    a.endpoints = make_endpoints("2001:db8::53", 53, "2001:db8::1", 53000, 17);
    a.app_proto = "dns";
    a.direction = "to_client";
    a.gid = 1;
    a.signature_id = 1000001;
    a.rev = 2;
    a.severity = 2;
    a.own_rule_texts({.signature = "LOCAL DNS answer",
                      .category = "Potentially Bad Traffic",
                      .concepts = {"unclassified"}});
    EXPECT_EQ(alert_to_json(a),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":77,"pcap_cnt":3,)"
              R"("event_type":"alert","src_ip":"2001:db8::53","src_port":53,)"
              R"("dest_ip":"2001:db8::1","dest_port":53000,"ip_v":6,"proto":"UDP",)"
              R"("community_id":"1:p2WBFbz+SRMmv0mLBp8H+ZCQ/2M=","alert":{"action":"allowed",)"
              R"("gid":1,"signature_id":1000001,"rev":2,"signature":"LOCAL DNS answer",)"
              R"("category":"Potentially Bad Traffic","severity":2,"concept":["unclassified"]},)"
              R"("app_proto":"dns","direction":"to_client"})");
}

TEST(EveJson, Ipv6UdpFlowGolden) {
    core::FlowRecord f;
    f.ts_us = kTs;
    f.flow_id = 77;
    f.endpoints = make_endpoints("2001:db8::1", 53000, "2001:db8::53", 53, 17);
    f.app_proto = "dns";
    f.pkts_toserver = 1;
    f.pkts_toclient = 1;
    f.bytes_toserver = 80;
    f.bytes_toclient = 120;
    f.start_us = kTs - 30'000'000;
    f.end_us = kTs - 29'999'000;
    f.state = "established";
    f.reason = "shutdown";
    f.ndpi_protocol = "DNS";
    f.host = "example.com";
    EXPECT_EQ(flow_to_json(f),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":77,)"
              R"("event_type":"flow","src_ip":"2001:db8::1","src_port":53000,)"
              R"("dest_ip":"2001:db8::53","dest_port":53,"ip_v":6,"proto":"UDP","app_proto":"dns",)"
              R"("flow":{"pkts_toserver":1,"pkts_toclient":1,"bytes_toserver":80,)"
              R"("bytes_toclient":120,"start":"2026-01-05T07:59:31.123456+0000",)"
              R"("end":"2026-01-05T07:59:31.124456+0000","age":0,"state":"established",)"
              R"("reason":"shutdown","alerted":false},)"
              R"("community_id":"1:p2WBFbz+SRMmv0mLBp8H+ZCQ/2M=",)"
              R"("ndpi":{"protocol":"DNS","host":"example.com"}})");
}

core::Endpoints icmp_echo() {
    core::Endpoints e = make_endpoints("192.168.0.89", 0, "192.168.0.1", 0, 1);
    e.icmp_type = 8;
    e.icmp_code = 0;
    return e;
}

TEST(EveJson, IcmpAlertGoldenHasTypeCodeAndNoPorts) {
    core::AlertRecord a;
    a.ts_us = kTs;
    a.flow_id = 5;
    a.endpoints = icmp_echo();
    a.direction = "to_server";
    a.signature_id = 2100384;
    a.rev = 5;
    a.severity = 3;
    a.own_rule_texts({.signature = "GPL ICMP_INFO PING",
                      .category = "Misc activity",
                      .concepts = {"unclassified"}});
    EXPECT_EQ(alert_to_json(a),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":5,)"
              R"("event_type":"alert","src_ip":"192.168.0.89","dest_ip":"192.168.0.1",)"
              R"("ip_v":4,"proto":"ICMP","icmp_type":8,"icmp_code":0,)"
              R"("community_id":"1:X0snYXpgwiv9TZtqg64sgzUn6Dk=","alert":{"action":"allowed",)"
              R"("gid":1,"signature_id":2100384,"rev":5,"signature":"GPL ICMP_INFO PING",)"
              R"("category":"Misc activity","severity":3,"concept":["unclassified"]},)"
              R"("direction":"to_server"})");
}

TEST(EveJson, IcmpFlowGoldenOmitsEmptyNdpi) {
    core::FlowRecord f;
    f.ts_us = kTs;
    f.flow_id = 5;
    f.endpoints = icmp_echo();
    f.pkts_toserver = 4;
    f.pkts_toclient = 4;
    f.bytes_toserver = 392;
    f.bytes_toclient = 392;
    f.start_us = kTs - 3'500'000;
    f.end_us = kTs;
    f.state = "established";
    f.reason = "timeout";
    EXPECT_EQ(flow_to_json(f),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":5,)"
              R"("event_type":"flow","src_ip":"192.168.0.89","dest_ip":"192.168.0.1",)"
              R"("ip_v":4,"proto":"ICMP","icmp_type":8,"icmp_code":0,)"
              R"("flow":{"pkts_toserver":4,"pkts_toclient":4,"bytes_toserver":392,)"
              R"("bytes_toclient":392,"start":"2026-01-05T07:59:57.623456+0000",)"
              R"("end":"2026-01-05T08:00:01.123456+0000","age":4,"state":"established",)"
              R"("reason":"timeout","alerted":false},)"
              R"("community_id":"1:X0snYXpgwiv9TZtqg64sgzUn6Dk="})");
}

TEST(EveJson, OtherProtocolsAreNamedOrNumbered) {
    core::AlertRecord a = tcp_alert();
    a.endpoints.ip_proto = 132;
    EXPECT_NE(alert_to_json(a).find(R"("dest_port":80,"ip_v":4,"proto":"SCTP")"),
              std::string::npos);
    a.endpoints.ip_proto = 58;
    EXPECT_NE(alert_to_json(a).find(R"("proto":"IPv6-ICMP","icmp_type")"), std::string::npos);
    a.endpoints.ip_proto = 47;
    EXPECT_NE(alert_to_json(a).find(R"("dest_ip":"66.35.250.204","ip_v":4,"proto":"GRE",)"),
              std::string::npos);
    a.endpoints.ip_proto = 253;
    EXPECT_NE(alert_to_json(a).find(R"("proto":"253",)"), std::string::npos);
}

TEST(EveJson, VerdictAndPacketInfoOnlyWhenAsked) {
    core::AlertRecord a = tcp_alert();
    a.linktype = 104;
    const std::string plain = alert_to_json(a);
    EXPECT_EQ(plain.find("\"verdict\""), std::string::npos);
    EXPECT_EQ(plain.find("\"packet_info\""), std::string::npos);
    EveOptions o;
    o.verdict = true;
    o.packet = true;
    const std::string json = alert_to_json(a, o);
    EXPECT_NE(json.find(R"("direction":"to_server","verdict":{"action":"alert"},)"
                        R"("packet_info":{"linktype":104,"linktype_name":"C_HDLC"}})"),
              std::string::npos)
        << json;
    EXPECT_EQ(json.find("\"packet\""), std::string::npos);  // no bytes recorded
    // A link type without a libpcap name keeps its number only; an unknown one is left out.
    a.linktype = 147;
    EXPECT_NE(alert_to_json(a, o).find(R"("packet_info":{"linktype":147}})"), std::string::npos);
    a.linktype = -1;
    EXPECT_EQ(alert_to_json(a, o).find("\"packet_info\""), std::string::npos);
    // Flow records have neither.
    EXPECT_EQ(flow_to_json(tcp_flow(), o).find("\"verdict\""), std::string::npos);
}

// The record's payload as the whole packet (no link bytes, no IP header).
void set_payload(core::AlertRecord& a, const std::vector<uint8_t>& bytes) {
    a.set_packet({}, bytes, bytes);
}

TEST(EveJson, PacketIsLinkBytesAndIpPacket) {
    core::AlertRecord a = tcp_alert();
    const std::vector<uint8_t> link = {0x57};                            // PPP, protocol IPv6
    const std::vector<uint8_t> ip = {0x60, 0x00, 0x00, 0x00, 'h', 'i'};  // (abridged)
    a.set_packet(link, ip, std::span<const uint8_t>(ip).subspan(4));
    EXPECT_EQ(a.packet, (std::vector<uint8_t>{0x57, 0x60, 0x00, 0x00, 0x00, 'h', 'i'}));
    EXPECT_EQ(std::vector<uint8_t>(a.payload().begin(), a.payload().end()),
              (std::vector<uint8_t>{'h', 'i'}));
    a.linktype = 9;
    EveOptions o;
    o.packet = true;
    o.payload = true;
    const auto j = nlohmann::json::parse(alert_to_json(a, o));
    EXPECT_EQ(j["packet"], "V2AAAABoaQ==");
    EXPECT_EQ(j["payload"], "aGk=");
    EXPECT_EQ(j["packet_info"]["linktype_name"], "PPP");
    // A payload that is not part of ip is not trusted.
    const std::vector<uint8_t> elsewhere = {'x'};
    a.set_packet(link, ip, elsewhere);
    EXPECT_TRUE(a.payload().empty());
    EXPECT_EQ(a.packet.size(), 7u);
}

// A DHCP request as a client sends it: BOOTP fields, magic cookie, options 53, 12, 255.
std::vector<uint8_t> dhcp_request() {
    std::vector<uint8_t> p(240, 0);
    p[0] = 1;                                            // op: BOOTREQUEST
    p[1] = 1;                                            // htype: Ethernet
    p[2] = 6;                                            // hlen
    p[4] = 0x3d, p[5] = 0x1d, p[6] = 0x00, p[7] = 0x01;  // xid
    p[16] = 192, p[17] = 0, p[18] = 2, p[19] = 9;        // yiaddr
    const uint8_t mac[6] = {0x00, 0x0b, 0x82, 0x01, 0xfc, 0x42};
    std::copy(std::begin(mac), std::end(mac), p.begin() + 28);   // chaddr
    p[236] = 0x63, p[237] = 0x82, p[238] = 0x53, p[239] = 0x63;  // magic cookie
    const uint8_t options[] = {53, 1, 3,                         // DHCP message type: request
                               0,                                // pad
                               12, 3, 'p', 'c', '1',             // host name
                               255};                             // end
    // One byte at a time: gcc 12 at -O2 warns falsely (-Warray-bounds) on inserting the array.
    for (uint8_t b : options) {
        p.push_back(b);
    }
    return p;
}

TEST(EveJson, DhcpObjectFromTheAlertingPacket) {
    core::AlertRecord a = tcp_alert();
    a.endpoints = make_endpoints("0.0.0.0", 68, "255.255.255.255", 67, 17);
    a.app_proto = "dhcp";
    std::vector<uint8_t> dhcp = dhcp_request();
    set_payload(a, dhcp);
    const auto j = nlohmann::json::parse(alert_to_json(a));
    ASSERT_TRUE(j.contains("dhcp")) << j.dump();
    EXPECT_EQ(j["dhcp"]["type"], "request");
    EXPECT_EQ(j["dhcp"]["id"], 0x3d1d0001);
    EXPECT_EQ(j["dhcp"]["client_mac"], "00:0b:82:01:fc:42");
    EXPECT_EQ(j["dhcp"]["assigned_ip"], "192.0.2.9");
    EXPECT_EQ(j["dhcp"]["dhcp_type"], "request");
    EXPECT_EQ(j["dhcp"]["hostname"], "pc1");
    dhcp[0] = 2;  // BOOTREPLY
    set_payload(a, dhcp);
    EXPECT_EQ(nlohmann::json::parse(alert_to_json(a))["dhcp"]["type"], "reply");
    // Not DHCP: no magic cookie, an options list running past the end, or another protocol.
    dhcp[239] = 0;
    set_payload(a, dhcp);
    EXPECT_FALSE(nlohmann::json::parse(alert_to_json(a)).contains("dhcp"));
    dhcp = dhcp_request();
    dhcp.resize(245);
    dhcp[244] = 200;  // host name option length beyond the datagram
    set_payload(a, dhcp);
    const auto cut = nlohmann::json::parse(alert_to_json(a));
    EXPECT_EQ(cut["dhcp"]["dhcp_type"], "request");
    EXPECT_FALSE(cut["dhcp"].contains("hostname"));
    a.app_proto = "dns";
    EXPECT_FALSE(nlohmann::json::parse(alert_to_json(a)).contains("dhcp"));
}

// The members and values Suricata writes for bug-78's alert (suricata-verify), in its order;
// the community_id was computed independently with Python's hashlib.
TEST(EveJson, HttpTransactionAlertGolden) {
    core::AlertRecord a = tcp_alert();
    core::RuleTexts texts = a.copy_rule_texts();
    texts.metadata.clear();
    texts.concepts.clear();
    a.own_rule_texts(std::move(texts));
    a.packet_index = 6;
    a.endpoints = make_endpoints("192.168.2.3", 37010, "208.69.36.231", 80, 6);
    a.tx_id = 0;
    core::HttpRecord& h = a.http.emplace();
    h.hostname = "www.google.com";
    h.url = "/blah/";
    h.user_agent = "Wget/1.11.4";
    h.content_type = "text/html";
    h.method = "GET";
    h.protocol = "HTTP/1.0";
    h.status = 404;
    h.length = 1194;
    core::AlertFlow& f = a.flow.emplace();
    f.pkts_toserver = 4;
    f.pkts_toclient = 2;
    f.bytes_toserver = 379;
    f.bytes_toclient = 1588;
    f.start_us = 1255711456083524;
    f.src_ip = a.endpoints.src_ip;
    f.dest_ip = a.endpoints.dest_ip;
    f.src_port = 37010;
    f.dest_port = 80;
    EXPECT_EQ(alert_to_json(a),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":1234567890123456,)"
              R"("pcap_cnt":6,"event_type":"alert","src_ip":"192.168.2.3","src_port":37010,)"
              R"("dest_ip":"208.69.36.231","dest_port":80,"ip_v":4,"proto":"TCP",)"
              R"("community_id":"1:xwPGz9BM6Rc+oY5cVZ6oT3eIyyU=","tx_id":0,)"
              R"("alert":{"action":"allowed","gid":1,"signature_id":2001999,"rev":9,)"
              R"("signature":"ET MALWARE BTGrab.com Spyware Downloading Ads",)"
              R"("category":"A Network Trojan was detected","severity":1},)"
              R"("http":{"hostname":"www.google.com","url":"/blah/",)"
              R"("http_user_agent":"Wget/1.11.4","http_content_type":"text/html",)"
              R"("http_method":"GET","protocol":"HTTP/1.0","status":404,"length":1194},)"
              R"("app_proto":"http","direction":"to_server",)"
              R"("flow":{"pkts_toserver":4,"pkts_toclient":2,"bytes_toserver":379,)"
              R"("bytes_toclient":1588,"start":"2009-10-16T16:44:16.083524+0000",)"
              R"("src_ip":"192.168.2.3","dest_ip":"208.69.36.231","src_port":37010,)"
              R"("dest_port":80}})");
}

TEST(EveJson, HttpOptionalMembersOnlyWhenPresent) {
    core::AlertRecord a = tcp_alert();
    core::HttpRecord& h = a.http.emplace();
    h.method = "GET";
    h.redirect = "http://example.org/";  // without a status: Suricata writes no redirect
    auto j = nlohmann::json::parse(alert_to_json(a));
    EXPECT_EQ(j["http"], nlohmann::json::parse(R"({"http_method":"GET","length":0})"));
    h.status = 302;
    h.http_port = 8080;
    h.xff = "10.1.1.1";
    h.refer = "http://example.com/";
    j = nlohmann::json::parse(alert_to_json(a));
    EXPECT_EQ(j["http"]["status"], 302);
    EXPECT_EQ(j["http"]["redirect"], "http://example.org/");
    EXPECT_EQ(j["http"]["http_port"], 8080);
    EXPECT_EQ(j["http"]["xff"], "10.1.1.1");
    EXPECT_EQ(j["http"]["http_refer"], "http://example.com/");
    EXPECT_FALSE(j.contains("tx_id"));  // -1: the rule matched no transaction
}

TEST(EveJson, AlertFlowObjectFollowsTheFlowNotThePacket) {
    core::AlertRecord a = tcp_alert();
    // A to_client packet: the alert's tuple is the packet's, the flow's is the initiator's.
    a.endpoints = make_endpoints("66.35.250.204", 80, "128.232.110.120", 34855, 6);
    a.direction = "to_client";
    core::AlertFlow& f = a.flow.emplace();
    f.src_ip = a.endpoints.dest_ip;
    f.dest_ip = a.endpoints.src_ip;
    f.src_port = 34855;
    f.dest_port = 80;
    auto j = nlohmann::json::parse(alert_to_json(a));
    EXPECT_EQ(j["src_ip"], "66.35.250.204");
    EXPECT_EQ(j["flow"]["src_ip"], "128.232.110.120");
    EXPECT_EQ(j["flow"]["src_port"], 34855);
    EXPECT_EQ(j["flow"]["dest_port"], 80);
    // No ports for protocols without them; IPv6 in the form the options ask for.
    a.endpoints = make_endpoints("fe80::1", 0, "fe80::2", 0, 58);
    f.src_ip = a.endpoints.src_ip;
    f.dest_ip = a.endpoints.dest_ip;
    EveOptions full;
    full.ipv6_compress = false;
    j = nlohmann::json::parse(alert_to_json(a, full));
    EXPECT_FALSE(j["flow"].contains("src_port"));
    EXPECT_EQ(j["flow"]["src_ip"], "fe80:0000:0000:0000:0000:0000:0000:0001");
}

TEST(EveJson, VlanIdsOuterFirst) {
    core::AlertRecord a = tcp_alert();
    EXPECT_FALSE(nlohmann::json::parse(alert_to_json(a)).contains("vlan"));
    a.vlan[0] = 1111;
    a.vlan[1] = 7;
    a.vlan_count = 2;
    EXPECT_EQ(nlohmann::json::parse(alert_to_json(a))["vlan"], nlohmann::json::parse("[1111,7]"));
}

// eve-log alert `metadata: no` leaves out rule metadata, app-layer objects and flow.
TEST(EveJson, MetadataOffLeavesOutRuleMetadataAppLayerAndFlow) {
    core::AlertRecord a = tcp_alert();
    a.tx_id = 3;
    a.http.emplace().method = "GET";
    a.flow.emplace();
    EveOptions off;
    off.metadata = false;
    const auto j = nlohmann::json::parse(alert_to_json(a, off));
    for (const char* key : {"http", "flow"}) {
        EXPECT_FALSE(j.contains(key)) << key;
    }
    EXPECT_FALSE(j["alert"].contains("metadata"));
    EXPECT_EQ(j["tx_id"], 3);  // Suricata writes tx_id either way
    EXPECT_EQ(j["app_proto"], "http");
    const auto on = nlohmann::json::parse(alert_to_json(a));
    EXPECT_TRUE(on.contains("http") && on.contains("flow") && on["alert"].contains("metadata"));
}

TEST(EveJson, HttpFieldsAreBounded) {
    core::HttpRecord h;
    const std::string long_uri(5000, 'a');
    core::HttpRecord::assign(
        h.url, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(long_uri.data()),
                                        long_uri.size()));
    EXPECT_EQ(h.url.size(), core::HttpRecord::kMaxField);
    core::HttpRecord::assign(h.url, {});
    EXPECT_TRUE(h.url.empty());
}

TEST(EveJson, PayloadOnlyWhenAsked) {
    core::AlertRecord a = tcp_alert();
    set_payload(a, {'G', 'E', 'T', ' ', '/', '\r', '\n', 0x00, 0xff});
    EXPECT_EQ(alert_to_json(a).find("\"payload\""), std::string::npos);
    EveOptions o;
    o.payload = true;
    const auto j = nlohmann::json::parse(alert_to_json(a, o));
    EXPECT_EQ(j["payload"], "R0VUIC8NCgD/");
    EXPECT_EQ(j["payload_printable"], "GET /\r\n..");
    EXPECT_EQ(j["stream"], 0);
    // Base64 padding for one and two trailing bytes.
    set_payload(a, {'a'});
    EXPECT_EQ(nlohmann::json::parse(alert_to_json(a, o))["payload"], "YQ==");
    set_payload(a, {'a', 'b'});
    EXPECT_EQ(nlohmann::json::parse(alert_to_json(a, o))["payload"], "YWI=");
    set_payload(a, {});
    EXPECT_EQ(nlohmann::json::parse(alert_to_json(a, o))["payload"], "");
}

TEST(EveJson, LinktypeNamesAreLibpcapNames) {
    EXPECT_EQ(linktype_name(1), "EN10MB");
    EXPECT_EQ(linktype_name(9), "PPP");
    EXPECT_EQ(linktype_name(104), "C_HDLC");
    EXPECT_EQ(linktype_name(113), "LINUX_SLL");
    EXPECT_EQ(linktype_name(276), "LINUX_SLL2");
    EXPECT_EQ(linktype_name(101), "RAW");
    EXPECT_EQ(linktype_name(105), "");
}

// Addresses are formatted without inet_ntop or snprintf: every IPv4 digit count in every
// position reads as inet_ntop writes it, and IPv6 groups as "%02x%02x" or inet_ntop do.
TEST(EveJson, AddressTextMatchesInetNtop) {
    static constexpr uint8_t kBytes[] = {0, 1, 9, 10, 42, 99, 100, 199, 200, 255};
    core::FlowRecord f = tcp_flow();
    for (uint8_t a : kBytes) {
        for (uint8_t b : kBytes) {
            for (uint8_t c : kBytes) {
                for (uint8_t d : kBytes) {
                    const uint8_t raw[4] = {a, b, c, d};
                    f.endpoints.src_ip = core::IpAddress::v4_from(raw);
                    const std::string want =
                        R"("src_ip":")" + f.endpoints.src_ip.to_string() + R"(","src_port")";
                    ASSERT_NE(flow_to_json(f).find(want), std::string::npos) << want;
                }
            }
        }
    }
    EveOptions full;
    full.ipv6_compress = false;
    uint8_t raw[16] = {};
    for (int round = 0; round < 300; ++round) {
        for (size_t i = 0; i < 16; ++i) {
            // Runs of zero groups and every nibble value, so inet_ntop compresses some.
            raw[i] = (round + i / 2) % 3 == 0 || (round + i / 4) % 4 == 0
                         ? 0
                         : static_cast<uint8_t>(static_cast<size_t>(round) * 37 + i * 11);
        }
        f.endpoints.src_ip = core::IpAddress::v6_from(raw);
        std::string text_full;
        for (size_t i = 0; i < 16; i += 2) {
            char group[8];
            std::snprintf(group, sizeof(group), i == 0 ? "%02x%02x" : ":%02x%02x", raw[i],
                          raw[i + 1]);
            text_full += group;
        }
        ASSERT_NE(flow_to_json(f, full).find(R"("src_ip":")" + text_full + '"'), std::string::npos)
            << text_full;
        ASSERT_NE(flow_to_json(f).find(R"("src_ip":")" + f.endpoints.src_ip.to_string() + '"'),
                  std::string::npos)
            << f.endpoints.src_ip.to_string();
    }
}

TEST(EveJson, Ipv6InFullUnlessCompressed) {
    core::AlertRecord a = tcp_alert();
    a.endpoints = make_endpoints("fe80::20c:29ff:fef3:cf38", 58307, "::1", 80, 6);
    EXPECT_NE(alert_to_json(a).find(R"("src_ip":"fe80::20c:29ff:fef3:cf38","src_port":58307,)"
                                    R"("dest_ip":"::1","dest_port":80,"ip_v":6,)"),
              std::string::npos);
    EveOptions full;
    full.ipv6_compress = false;
    const std::string json = alert_to_json(a, full);
    EXPECT_NE(json.find(R"("src_ip":"fe80:0000:0000:0000:020c:29ff:fef3:cf38",)"),
              std::string::npos)
        << json;
    EXPECT_NE(json.find(R"("dest_ip":"0000:0000:0000:0000:0000:0000:0000:0001",)"),
              std::string::npos)
        << json;
    // The community id hashes addresses, not their text.
    EXPECT_EQ(nlohmann::json::parse(json)["community_id"],
              nlohmann::json::parse(alert_to_json(a))["community_id"]);
    // IPv4 is not affected, in alerts or flows.
    EXPECT_EQ(flow_to_json(tcp_flow(), full), flow_to_json(tcp_flow()));
}

TEST(EveWriter, WritesWithItsOptions) {
    const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                       ("eve_writer_options_" + std::to_string(::getpid()));
    std::filesystem::remove(path);
    EveOptions o;
    o.verdict = true;
    {
        auto w = EveWriter::open(path.string(), o);
        ASSERT_TRUE(w.has_value()) << w.error().message;
        EXPECT_TRUE((*w)->options().verdict);
        (*w)->write_alert(tcp_alert());
    }
    std::ifstream in(path);
    std::string line;
    ASSERT_TRUE(std::getline(in, line));
    EXPECT_EQ(line, alert_to_json(tcp_alert(), o));
    std::filesystem::remove(path);
}

TEST(EveJson, TimestampFormat) {
    EXPECT_EQ(eve_timestamp(kTs), "2026-01-05T08:00:01.123456+0000");
    EXPECT_EQ(eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
    EXPECT_EQ(eve_timestamp(946684799999999), "1999-12-31T23:59:59.999999+0000");
    EXPECT_EQ(eve_timestamp(951825600000000), "2000-02-29T12:00:00.000000+0000");
    EXPECT_EQ(eve_timestamp(1767600000000007), "2026-01-05T08:00:00.000007+0000");
    EXPECT_EQ(eve_timestamp(-1), "1969-12-31T23:59:59.999999+0000");
    EXPECT_EQ(eve_timestamp(253402300799999999), "9999-12-31T23:59:59.999999+0000");
    EXPECT_EQ(eve_timestamp(253402300800000000), "10000-01-01T00:00:00.000000+0000");
}

TEST(EveJson, EscapesQuotesBackslashesAndControlCharacters) {
    core::AlertRecord a = tcp_alert();
    core::RuleTexts texts = a.copy_rule_texts();
    texts.signature = std::string("say \"hi\"\\ \n\t\x01 end", 17);
    a.own_rule_texts(std::move(texts));
    const std::string json = alert_to_json(a);
    EXPECT_NE(json.find(R"("signature":"say \"hi\"\\ \n\t\u0001 end")"), std::string::npos) << json;
    EXPECT_EQ(json.find('\n'), std::string::npos);
    const auto parsed = nlohmann::json::parse(json);
    EXPECT_EQ(parsed["alert"]["signature"], a.signature());
}

TEST(EveJson, InvalidUtf8IsReplacedNotThrown) {
    core::FlowRecord f = tcp_flow();
    f.host = "bad\xff\xfehost";
    const std::string json = flow_to_json(f);
    const auto parsed = nlohmann::json::parse(json);
    // Each invalid byte becomes one U+FFFD.
    EXPECT_EQ(parsed["ndpi"]["host"], "bad\xEF\xBF\xBD\xEF\xBF\xBDhost");
}

TEST(EveJson, RisksComeInNumberOrderAndUnnamedOnesAreMarked) {
    core::FlowRecord f = tcp_flow();
    f.ndpi_risk_bits = (uint64_t{1} << 40) | (uint64_t{1} << 9) | (uint64_t{1} << 3);
    const auto parsed = nlohmann::json::parse(flow_to_json(f));
    EXPECT_EQ(parsed["ndpi"]["risks"],
              nlohmann::json::array(
                  {"Known Proto on Non Std Port", "HTTP Suspicious User-Agent", "unknown_risk"}));
    f.risk_name = nullptr;
    EXPECT_EQ(nlohmann::json::parse(flow_to_json(f))["ndpi"]["risks"],
              nlohmann::json::array({"unknown_risk", "unknown_risk", "unknown_risk"}));
}

TEST(EveJson, MetadataGroupsValuesByKeyInRuleOrder) {
    core::AlertRecord a = tcp_alert();
    core::RuleTexts texts = a.copy_rule_texts();
    texts.metadata = {{"affected_product", "Windows"},
                      {"attack_target", "Client_Endpoint"},
                      {"affected_product", "Linux"},
                      {"concept", "crime.02"}};
    a.own_rule_texts(std::move(texts));
    const std::string json = alert_to_json(a);
    EXPECT_NE(json.find(R"("metadata":{"affected_product":["Windows","Linux"],)"
                        R"("attack_target":["Client_Endpoint"],"concept":["crime.02"]})"),
              std::string::npos)
        << json;
}

// A rule's few metadata pairs are written straight; past 64 pairs they are grouped through a
// JSON document (linear time). Both give the same text, escaping included.
TEST(EveJson, MetadataOfManyPairsGroupsAsFewPairsDo) {
    // Also checks the text itself against a document's, escapes and all.
    auto metadata_of = [](std::vector<core::MetadataPair> pairs) {
        nlohmann::ordered_json doc = nlohmann::ordered_json::object();
        for (const auto& [key, value] : pairs) {
            doc[key].push_back(value);
        }
        core::AlertRecord a = tcp_alert();
        core::RuleTexts texts = a.copy_rule_texts();
        texts.metadata = std::move(pairs);
        a.own_rule_texts(std::move(texts));
        const std::string line = alert_to_json(a);
        const std::string expected =
            "\"metadata\":" +
            doc.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + ",";
        EXPECT_NE(line.find(expected), std::string::npos) << line << "\n" << expected;
        return nlohmann::ordered_json::parse(line)["alert"]["metadata"];
    };
    const std::vector<core::MetadataPair> few = {
        {"k\"ey", "v\\1\n"}, {"caf\xC3\xA9", "bad \xFF"}, {"k\"ey", "v2"}};
    std::vector<core::MetadataPair> many = few;
    for (int i = 0; i < 70; ++i) {
        many.emplace_back("filler" + std::to_string(i % 7), std::to_string(i));
    }
    const nlohmann::ordered_json small = metadata_of(few);
    const nlohmann::ordered_json large = metadata_of(many);
    // Keys in order of first appearance, values in rule order; invalid UTF-8 replaced.
    EXPECT_EQ(small.dump(),
              "{\"k\\\"ey\":[\"v\\\\1\\n\",\"v2\"],"
              "\"caf\xC3\xA9\":[\"bad \xEF\xBF\xBD\"]}");
    ASSERT_EQ(large.size(), 9u);
    auto key = large.begin();
    EXPECT_EQ((key++).key(), "k\"ey");
    EXPECT_EQ((key++).key(), "caf\xC3\xA9");
    EXPECT_EQ(key.key(), "filler0");
    EXPECT_EQ(large["k\"ey"], small["k\"ey"]);
    EXPECT_EQ(large["caf\xC3\xA9"], small["caf\xC3\xA9"]);
    EXPECT_EQ(large["filler3"], nlohmann::ordered_json::array(
                                    {"3", "10", "17", "24", "31", "38", "45", "52", "59", "66"}));
}

TEST(EveJson, EmptyOptionalFieldsAreOmitted) {
    core::AlertRecord a = tcp_alert();
    core::RuleTexts texts = a.copy_rule_texts();
    texts.metadata.clear();
    a.own_rule_texts(std::move(texts));
    a.app_proto.clear();
    a.direction.clear();
    a.packet_index = 0;
    const std::string json = alert_to_json(a);
    for (const char* key : {"\"metadata\"", "\"app_proto\"", "\"direction\"", "\"pcap_cnt\""}) {
        EXPECT_EQ(json.find(key), std::string::npos) << key;
    }
    core::FlowRecord f = tcp_flow();
    f.ndpi_protocol.clear();
    f.ndpi_category.clear();
    f.host.clear();
    f.ndpi_risk_bits = 0;
    f.ja3 = "e7d705a3286e19ea42f587b344ee6865";
    EXPECT_NE(flow_to_json(f).find(R"("ndpi":{"ja3":"e7d705a3286e19ea42f587b344ee6865"}})"),
              std::string::npos);
}

class TempDir {
public:
    TempDir()
        : path_(std::filesystem::temp_directory_path() /
                ("eve_writer_test_" + std::to_string(::getpid()) + "_" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
        std::filesystem::create_directories(path_);
    }
    ~TempDir() { std::filesystem::remove_all(path_); }
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

std::vector<std::string> read_lines(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

TEST(EveWriter, AppendsOneLinePerRecord) {
    TempDir dir;
    const std::filesystem::path file = dir.path() / "eve.json";
    std::ofstream(file) << "{\"existing\":1}\n";
    {
        auto writer = EveWriter::open(file.string());
        ASSERT_TRUE(writer) << writer.error().message;
        (*writer)->write_alert(tcp_alert());
        (*writer)->write_flow(tcp_flow());
        (*writer)->flush();
        EXPECT_EQ((*writer)->written(), 2u);
        EXPECT_EQ((*writer)->failed(), 0u);
    }
    {
        auto writer = EveWriter::open(file.string());
        ASSERT_TRUE(writer);
        (*writer)->write_alert(tcp_alert());
    }  // destruction flushes
    const std::vector<std::string> lines = read_lines(file);
    ASSERT_EQ(lines.size(), 4u);
    EXPECT_EQ(lines[0], "{\"existing\":1}");
    EXPECT_EQ(lines[1], alert_to_json(tcp_alert()));
    EXPECT_EQ(lines[2], flow_to_json(tcp_flow()));
    EXPECT_EQ(lines[3], alert_to_json(tcp_alert()));
}

// A flow's line made by a worker (append_flow_json with the writer's options) is written as
// the writer would have written the record, and counted the same.
TEST(EveWriter, FlowLineMadeElsewhereIsTheRecordsLine) {
    TempDir dir;
    const std::filesystem::path file = dir.path() / "eve.json";
    {
        auto writer = EveWriter::open(file.string());
        ASSERT_TRUE(writer) << writer.error().message;
        std::string line;
        append_flow_json(line, tcp_flow(), (*writer)->options());
        EXPECT_TRUE((*writer)->write_line(line));
        (*writer)->write_flow(tcp_flow());
        (*writer)->flush();
        EXPECT_EQ((*writer)->written(), 2u);
    }
    const std::vector<std::string> lines = read_lines(file);
    ASSERT_EQ(lines.size(), 2u);
    EXPECT_EQ(lines[0], flow_to_json(tcp_flow()));
    EXPECT_EQ(lines[1], lines[0]);
}

TEST(EveWriter, WritesWhenTheBufferFills) {
    TempDir dir;
    const std::filesystem::path file = dir.path() / "eve.json";
    auto writer = EveWriter::open(file.string());
    ASSERT_TRUE(writer);
    const size_t line_size = alert_to_json(tcp_alert()).size() + 1;
    const size_t count = EveWriter::kBufferBytes / line_size + 2;
    for (size_t i = 0; i < count; ++i) {
        (*writer)->write_alert(tcp_alert());
    }
    EXPECT_GT((*writer)->written(), 0u);
    EXPECT_EQ(std::filesystem::file_size(file) % line_size, 0u);
    (*writer)->flush();
    EXPECT_EQ((*writer)->written(), count);
    EXPECT_EQ(std::filesystem::file_size(file), count * line_size);
}

TEST(EveWriter, ReportsUnwritablePath) {
    const std::string path = "/nonexistent-eve-dir/eve.json";
    auto writer = EveWriter::open(path);
    ASSERT_FALSE(writer);
    EXPECT_EQ(writer.error().message,
              path + ": cannot open for appending: No such file or directory");
    TempDir dir;
    auto directory = EveWriter::open(dir.path().string());
    ASSERT_FALSE(directory);
    EXPECT_EQ(directory.error().message,
              dir.path().string() + ": cannot open for appending: Is a directory");
}

TEST(EveWriter, CountsLinesLostToAFullDisk) {
    if (!std::filesystem::exists("/dev/full")) {
        GTEST_SKIP() << "/dev/full not available";
    }
    auto writer = EveWriter::open("/dev/full");
    ASSERT_TRUE(writer) << writer.error().message;
    (*writer)->write_alert(tcp_alert());
    (*writer)->write_flow(tcp_flow());
    (*writer)->write_alert(tcp_alert());
    (*writer)->flush();
    EXPECT_EQ((*writer)->written(), 0u);
    EXPECT_EQ((*writer)->failed(), 3u);
}

TEST(EveWriter, WriteAlertReturnsTheLineItBuffered) {
    const std::string path =
        (std::filesystem::temp_directory_path() / "eve_writer_line_test.json").string();
    std::filesystem::remove(path);
    auto writer = EveWriter::open(path);
    ASSERT_TRUE(writer) << writer.error().message;
    const core::AlertRecord a = tcp_alert();
    EXPECT_EQ((*writer)->write_alert(a), alert_to_json(a));
    (*writer)->write_flow(tcp_flow());
    EXPECT_EQ((*writer)->write_alert(a), alert_to_json(a));  // after another line, too
    (*writer)->flush();
    EXPECT_EQ((*writer)->written(), 3u);
    std::filesystem::remove(path);
}

}  // namespace
}  // namespace sensor::alert
