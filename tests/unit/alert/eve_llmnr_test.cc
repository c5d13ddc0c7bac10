// The `llmnr` object of alerts on LLMNR flows, in the form of Suricata 9's LLMNR logger.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "sensor/alert/eve_writer.h"

namespace sensor::alert {
namespace {

core::AlertRecord llmnr_alert() {
    core::AlertRecord a;
    a.ts_us = 1403668572275825;
    a.endpoints.ip_proto = 17;
    a.endpoints.src_port = 5355;
    a.endpoints.dest_port = 54022;
    a.app_proto = "llmnr";
    a.direction = "to_client";
    a.action = "allowed";
    a.signature_id = 3;
    core::DnsMessageRecord& m = a.llmnr.emplace();
    m.response = true;
    m.id = 49985;
    m.flags = 0x8000;
    m.queries.push_back({"hs2011", "a", {}, false});
    m.answers.push_back({"HS2011", "a", {"192.168.10.101"}, false});
    return a;
}

TEST(EveLlmnr, ResponseObject) {
    const auto j = nlohmann::json::parse(alert_to_json(llmnr_alert()));
    ASSERT_TRUE(j.contains("llmnr")) << j.dump();
    const auto& l = j["llmnr"];
    EXPECT_EQ(l["type"], "response");
    EXPECT_EQ(l["id"], 49985);
    EXPECT_EQ(l["opcode"], 0);
    EXPECT_FALSE(l.contains("flags"));  // none of C, TC, T
    EXPECT_EQ(l["queries"], nlohmann::json::parse(R"([{"rrname":"hs2011","rrtype":"a"}])"));
    EXPECT_EQ(l["answers"], nlohmann::json::parse(R"([{"rrname":"HS2011","a":"192.168.10.101"}])"));
    EXPECT_FALSE(l.contains("authorities"));
    EXPECT_FALSE(l.contains("additionals"));
}

TEST(EveLlmnr, FlagsOpcodeListsAndRequests) {
    core::AlertRecord a = llmnr_alert();
    core::DnsMessageRecord& m = *a.llmnr;
    m.response = false;
    m.flags = 0x2000 | 0x0400 | 0x0100;  // opcode 4, C, T
    m.answers.clear();
    m.additionals.push_back({"host", "txt", {"ab", "cd"}, true});
    const auto j = nlohmann::json::parse(alert_to_json(a));
    const auto& l = j["llmnr"];
    EXPECT_EQ(l["type"], "request");
    EXPECT_EQ(l["opcode"], 4);
    EXPECT_EQ(l["flags"], nlohmann::json::parse(R"(["c","t"])"));
    EXPECT_FALSE(l.contains("answers"));
    EXPECT_EQ(l["additionals"], nlohmann::json::parse(R"([{"rrname":"host","txt":["ab","cd"]}])"));
}

TEST(EveLlmnr, OnlyWithMetadataAndADescribedMessage) {
    EveOptions no_metadata;
    no_metadata.metadata = false;
    EXPECT_FALSE(
        nlohmann::json::parse(alert_to_json(llmnr_alert(), no_metadata)).contains("llmnr"));
    core::AlertRecord a = llmnr_alert();
    a.llmnr.reset();
    EXPECT_FALSE(nlohmann::json::parse(alert_to_json(a)).contains("llmnr"));
}

}  // namespace
}  // namespace sensor::alert
