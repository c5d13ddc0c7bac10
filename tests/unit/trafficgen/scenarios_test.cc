// Attack scenarios happen exactly as specified (so alert counts are predictable), the benign
// mix carries none of their patterns, and tests/e2e/sample_expected.json agrees with both
// the generator and rules/sets/sample.rules.

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "bench/trafficgen/payloads.h"
#include "tests/unit/trafficgen/frame_view.h"

namespace sensor::trafficgen {
namespace {

using testing::contains;
using testing::contains_nocase;
using testing::FrameView;
using testing::parse_frame;
using testing::sample_capture;

const core::IpAddress kPlc = core::IpAddress::v4_from(std::array<uint8_t, 4>{10, 20, 0, 10}.data());
const core::IpAddress kHmi = core::IpAddress::v4_from(std::array<uint8_t, 4>{10, 20, 0, 5}.data());

std::vector<FrameView> frames(const Capture& c) {
    std::vector<FrameView> out;
    for (const Packet& p : c.packets) {
        out.push_back(parse_frame(p.bytes));
    }
    return out;
}

TEST(TrafficgenSplit, UserAgentCrossesTwoSegments) {
    const Capture c = generate(Options{.scenario = Scenario::kSplit});
    std::vector<std::string> requests;
    std::vector<uint32_t> seqs;
    for (const FrameView& v : frames(c)) {
        ASSERT_TRUE(v.ok);
        // No single packet may hold the name: a per-packet matcher must miss it.
        EXPECT_FALSE(contains(v.text(), "NightOwlBot"));
        if (v.dst_port == 80 && !v.payload.empty()) {
            requests.emplace_back(v.text());
            seqs.push_back(v.seq);
        }
    }
    ASSERT_EQ(requests.size(), 2u);
    // The second segment is captured first: the stream must be put back in order.
    EXPECT_EQ(seqs[0] - seqs[1], static_cast<uint32_t>(requests[1].size()));
    std::swap(requests[0], requests[1]);
    const std::string_view name = "NightOwlBot";
    const size_t tail = requests[0].size() - requests[0].rfind("Night");
    ASSERT_LT(tail, name.size());
    EXPECT_GT(tail, 0u);
    EXPECT_TRUE(requests[0].ends_with(name.substr(0, tail)));
    EXPECT_TRUE(requests[1].starts_with(name.substr(tail)));
    EXPECT_TRUE(contains(requests[0] + requests[1], kC2UserAgent));
    EXPECT_TRUE(requests[0].starts_with("POST /gate.php HTTP/1.1\r\n"));
    EXPECT_EQ(c.summary.tally.c2_split_beacons, 1u);
}

TEST(TrafficgenAttacks, SampleHoldsEachScenarioExactlyAsSpecified) {
    const Capture& c = sample_capture();
    int eicar = 0;
    int c2_whole = 0;
    int c2_partial = 0;
    int sqli = 0;
    int fn6 = 0;
    int fn16 = 0;
    std::set<uint16_t> scanned;
    std::set<uint16_t> scan_open;
    int64_t scan_first = 0;
    int64_t scan_last = 0;
    std::set<std::pair<core::IpAddress, uint16_t>> flood_sources;
    int flood_synacks = 0;
    int64_t flood_first = 0;
    int64_t flood_last = 0;
    const auto scanner = core::IpAddress::v4_from(std::array<uint8_t, 4>{198, 51, 100, 66}.data());
    const auto web = core::IpAddress::v4_from(std::array<uint8_t, 4>{10, 1, 0, 80}.data());
    for (const Packet& p : c.packets) {
        const FrameView v = parse_frame(p.bytes);
        ASSERT_TRUE(v.ok);
        const std::string_view t = v.text();
        if (contains(t, kEicar)) {
            ++eicar;
            EXPECT_EQ(v.src_port, 80);
            EXPECT_EQ(v.src.to_string(), "198.51.100.20");
        }
        if (contains(t, "NightOwlBot/3.2")) {
            ++c2_whole;
            EXPECT_EQ(v.src.to_string(), "10.1.7.23");
            EXPECT_EQ(v.dst.to_string(), "203.0.113.66");
        } else if (contains(t, "User-Agent: Mozilla/5.0 (Windows NT 6.1) Night")) {
            ++c2_partial;
        }
        if (contains_nocase(t, "union%20select")) {
            ++sqli;
            EXPECT_EQ(v.src.to_string(), "198.51.100.77");
            EXPECT_EQ(v.dst, web);
            EXPECT_EQ(v.dst_port, 80);
        }
        if (v.proto == 6 && v.dst == kPlc && v.dst_port == 502 && !v.payload.empty()) {
            ASSERT_GE(v.payload.size(), 8u);
            EXPECT_EQ(testing::be16(v.payload, 2), 0);  // Modbus protocol id
            EXPECT_EQ(testing::be16(v.payload, 4), v.payload.size() - 6);
            const uint8_t fn = v.payload[7];
            if (v.src == kHmi) {
                EXPECT_EQ(fn, 3) << "the HMI only reads";
            } else {
                EXPECT_EQ(v.src.to_string(), "10.1.5.77");
                fn6 += fn == 6;
                fn16 += fn == 16;
            }
        }
        if (v.proto == 6 && v.src == scanner && v.flags == 0x02) {
            EXPECT_EQ(v.dst, kPlc);
            scanned.insert(v.dst_port);
            scan_first = scan_first == 0 ? p.ts_us : scan_first;
            scan_last = p.ts_us;
        }
        if (v.proto == 6 && v.src == kPlc && v.dst == scanner && v.flags == 0x12) {
            scan_open.insert(v.src_port);
        }
        if (v.proto == 6 && v.dst == web && v.flags == 0x02 && v.src.bytes[0] == 203) {
            EXPECT_TRUE(flood_sources.insert({v.src, v.src_port}).second);
            flood_first = flood_first == 0 ? p.ts_us : flood_first;
            flood_last = p.ts_us;
        }
        if (v.proto == 6 && v.src == web && v.flags == 0x12 && v.dst.bytes[0] == 203) {
            ++flood_synacks;
        }
    }
    EXPECT_EQ(eicar, 1);
    EXPECT_EQ(c2_whole, 5);
    EXPECT_EQ(c2_partial, 1);
    EXPECT_EQ(sqli, 3);
    EXPECT_EQ(fn6, 2);
    EXPECT_EQ(fn16, 1);
    EXPECT_EQ(scanned.size(), 100u);
    EXPECT_LE(scan_last - scan_first, 3'000'000);
    EXPECT_EQ(scan_open, (std::set<uint16_t>{80, 502}));
    EXPECT_EQ(flood_sources.size(), 2000u);
    EXPECT_LE(flood_last - flood_first, 2'000'000);
    EXPECT_GE(flood_synacks, 100);
    EXPECT_LT(flood_synacks, 1000);

    const Tally& tally = c.summary.tally;
    EXPECT_EQ(tally.eicar_downloads, 1u);
    EXPECT_EQ(tally.c2_beacons, 5u);
    EXPECT_EQ(tally.c2_split_beacons, 1u);
    EXPECT_EQ(tally.sqli_requests, 3u);
    EXPECT_EQ(tally.modbus_write_single, 2u);
    EXPECT_EQ(tally.modbus_write_multiple, 1u);
    EXPECT_EQ(tally.portscan_ports, 100u);
    EXPECT_EQ(tally.synflood_syns, 2000u);
    EXPECT_EQ(tally.synflood_synacks, static_cast<uint64_t>(flood_synacks));

    // Each flow belongs to exactly one session of the tally.
    EXPECT_EQ(tally.benign_http + tally.benign_tls + tally.benign_dns + tally.benign_modbus +
                  tally.benign_ping,
              tally.benign_sessions);
    EXPECT_EQ(c.summary.flows.tcp, tally.benign_http + tally.benign_tls + tally.benign_modbus +
                                       tally.eicar_downloads + tally.c2_beacons +
                                       tally.c2_split_beacons + tally.sqli_requests + 1 +
                                       tally.portscan_ports + tally.synflood_syns);
    EXPECT_EQ(c.summary.flows.udp, tally.benign_dns + tally.benign_dns_upstream);
    EXPECT_EQ(c.summary.flows.icmp, tally.benign_ping);
}

TEST(TrafficgenAttacks, EicarBodyTravelsInOneSegment) {
    const Capture c = generate(Options{.scenario = Scenario::kEicar});
    int with_body = 0;
    for (const FrameView& v : frames(c)) {
        if (v.src_port == 80 && !v.payload.empty()) {
            ++with_body;
            EXPECT_TRUE(v.text().ends_with(kEicar));
        }
    }
    EXPECT_EQ(with_body, 1);
    EXPECT_EQ(kEicar.size(), 68u);
}

TEST(TrafficgenBenign, CarriesNoAttackPattern) {
    for (uint64_t seed : {1, 2}) {
        const Capture c = generate(Options{.seed = seed, .scenario = Scenario::kBenign});
        EXPECT_EQ(c.summary.tally.benign_sessions, kDefaultBenignSessions);
        for (const FrameView& v : frames(c)) {
            ASSERT_TRUE(v.ok);
            const std::string_view t = v.text();
            EXPECT_FALSE(contains_nocase(t, "nightowlbot"));
            EXPECT_FALSE(contains(t, "EICAR-STANDARD-ANTIVIRUS-TEST-FILE"));
            EXPECT_FALSE(contains_nocase(t, "union%20select"));
            if (v.proto == 6 && v.dst_port == 502 && !v.payload.empty()) {
                EXPECT_EQ(v.src, kHmi);
                EXPECT_EQ(v.payload[7], 3);
            }
        }
    }
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(TrafficgenExpected, SampleExpectationsMatchGeneratorAndRules) {
    const std::string root = SENSOR_SOURCE_DIR;
    const auto doc = nlohmann::json::parse(read_text(root + "/tests/e2e/sample_expected.json"));
    const Capture& c = sample_capture();
    EXPECT_EQ(doc.at("generator").at("args"),
              "--scenario all --seed 1 --benign-flows 400 --start 1767600000");
    EXPECT_EQ(doc.at("packets").get<uint64_t>(), c.summary.packets);
    EXPECT_EQ(doc.at("bytes").get<uint64_t>(), c.summary.bytes);
    EXPECT_EQ(doc.at("flows").at("tcp").get<uint64_t>(), c.summary.flows.tcp);
    EXPECT_EQ(doc.at("flows").at("udp").get<uint64_t>(), c.summary.flows.udp);
    EXPECT_EQ(doc.at("flows").at("icmp").get<uint64_t>(), c.summary.flows.icmp);
    EXPECT_EQ(doc.at("flows").at("total").get<uint64_t>(), c.summary.flows.total());

    const Tally& t = c.summary.tally;
    const std::map<uint32_t, uint64_t> want = {
        {1000001, t.eicar_downloads},
        {1000002, t.c2_beacons + t.c2_split_beacons},
        {1000003, t.sqli_requests},
        {1000004, t.modbus_write_single},
        {1000005, t.modbus_write_multiple},
        {9000001, 1},  // one scanner/target pair
        {9000002, 1},  // one flooded ip:port
    };
    std::map<uint32_t, uint64_t> got;
    std::map<uint32_t, std::set<std::string>> concepts;
    for (const auto& alert : doc.at("alerts")) {
        const auto sid = alert.at("sid").get<uint32_t>();
        got[sid] = alert.at("count").get<uint64_t>();
        for (const auto& cat : alert.at("concept")) {
            concepts[sid].insert(cat.get<std::string>());
        }
    }
    EXPECT_EQ(got, want);

    // Built-in detectors take their categories from their classtypes.
    EXPECT_EQ(concepts[9000001], (std::set<std::string>{"threat.04"}));  // attempted-recon
    EXPECT_EQ(concepts[9000002], (std::set<std::string>{"threat.08"}));  // attempted-dos

    // Each expected rule is shipped in rules/sets/sample.rules, and its expected categories
    // follow from the rule: its metadata concepts, else its classtype's mapping.
    const std::map<std::string, std::set<std::string>> classtype_map = {
        {"trojan-activity", {"crime.02", "threat.06"}},
        {"web-application-attack", {"crime.01", "threat.04"}},
        {"attempted-admin", {"crime.01", "threat.04"}},
    };
    std::istringstream rules(read_text(root + "/rules/sets/sample.rules"));
    std::set<uint32_t> shipped;
    for (std::string line; std::getline(rules, line);) {
        if (!line.starts_with("alert ")) {
            continue;
        }
        const size_t sid_at = line.find("sid:");
        ASSERT_NE(sid_at, std::string::npos) << line;
        const auto sid = static_cast<uint32_t>(std::stoul(line.substr(sid_at + 4)));
        EXPECT_GE(sid, 1000001u);
        EXPECT_LE(sid, 1000099u);
        shipped.insert(sid);
        std::set<std::string> from_rule;
        for (size_t at = line.find("concept "); at != std::string::npos;
             at = line.find("concept ", at + 1)) {
            const size_t end = line.find_first_of(",;", at);
            from_rule.insert(line.substr(at + 8, end - at - 8));
        }
        if (from_rule.empty()) {
            const size_t ct = line.find("classtype:") + 10;
            from_rule = classtype_map.at(line.substr(ct, line.find(';', ct) - ct));
        }
        EXPECT_EQ(concepts[sid], from_rule) << "sid " << sid;
    }
    for (const auto& [sid, count] : want) {
        EXPECT_TRUE(sid >= 9000000 || shipped.contains(sid)) << sid;
    }
}

}  // namespace
}  // namespace sensor::trafficgen
