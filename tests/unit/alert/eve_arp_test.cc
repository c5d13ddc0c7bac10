// EVE alerts on ARP frames: no flow or IP members, Suricata's `arp` object instead.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sensor/alert/eve_writer.h"

namespace sensor::alert {
namespace {

// 2026-01-05T08:00:01.123456Z
constexpr int64_t kTs = 1767600001123456;

core::AlertRecord arp_alert() {
    core::AlertRecord a;
    a.ts_us = kTs;
    a.packet_index = 3;
    a.linktype = 1;
    a.vlan[0] = 1;
    a.vlan[1] = 10;
    a.vlan[2] = 100;
    a.vlan_count = 3;
    a.action = "allowed";
    a.signature_id = 1;
    a.own_rule_texts({.signature = "arp seen", .category = "Misc activity"});
    core::ArpRecord& arp = a.arp.emplace();
    arp.opcode = 1;
    arp.src_mac = {0x18, 0x60, 0x24, 0x8d, 0x97, 0xba};
    const uint8_t sender[4] = {10, 204, 1, 5};
    arp.src_ip = core::IpAddress::v4_from(sender);
    arp.dest_mac = {};
    return a;
}

TEST(EveArp, AlertGolden) {
    EXPECT_EQ(alert_to_json(arp_alert()),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","pcap_cnt":3,)"
              R"("event_type":"alert","vlan":[1,10,100],)"
              R"("alert":{"action":"allowed","gid":1,"signature_id":1,"rev":0,)"
              R"("signature":"arp seen","category":"Misc activity","severity":3},)"
              R"("arp":{"hw_type":"ethernet","proto_type":"ipv4","opcode":"request",)"
              R"("src_mac":"18:60:24:8d:97:ba","src_ip":"10.204.1.5",)"
              R"("dest_mac":"00:00:00:00:00:00","dest_ip":"0.0.0.0"}})");
}

TEST(EveArp, NoIpOrFlowMembers) {
    const auto j = nlohmann::json::parse(alert_to_json(arp_alert()));
    for (const char* key : {"flow_id", "src_ip", "dest_ip", "src_port", "dest_port", "proto",
                            "ip_v", "community_id", "flow", "app_proto", "direction"}) {
        EXPECT_FALSE(j.contains(key)) << key;
    }
    // The same record without `arp` is an IP alert again.
    core::AlertRecord ip = arp_alert();
    ip.arp.reset();
    const auto k = nlohmann::json::parse(alert_to_json(ip));
    EXPECT_TRUE(k.contains("flow_id"));
    EXPECT_TRUE(k.contains("src_ip"));
    EXPECT_FALSE(k.contains("arp"));
}

TEST(EveArp, OpcodeNames) {
    core::AlertRecord a = arp_alert();
    const std::vector<std::pair<uint16_t, std::string>> names = {
        {1, "request"},       {2, "reply"},   {3, "request_reverse"},
        {4, "reply_reverse"}, {0, "unknown"}, {9, "unknown"}};
    for (const auto& [opcode, name] : names) {
        a.arp->opcode = opcode;
        EXPECT_EQ(nlohmann::json::parse(alert_to_json(a))["arp"]["opcode"], name) << opcode;
    }
}

TEST(EveArp, PacketIsTheWholeFrame) {
    core::AlertRecord a = arp_alert();
    const std::vector<uint8_t> link(14, 0xff);
    const std::vector<uint8_t> message = {0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x01};
    a.set_packet(link, message, {});
    EveOptions o;
    o.packet = true;
    o.payload = true;
    const auto j = nlohmann::json::parse(alert_to_json(a, o));
    EXPECT_EQ(j["packet"], "//////////////////8AAQgABgQAAQ==");
    EXPECT_EQ(j["payload"], "");
    EXPECT_EQ(j["packet_info"]["linktype_name"], "EN10MB");
}

}  // namespace
}  // namespace sensor::alert
