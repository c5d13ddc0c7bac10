#include "sensor/alert/eve_writer.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

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
    a.signature = "ET MALWARE BTGrab.com Spyware Downloading Ads";
    a.category = "A Network Trojan was detected";
    a.severity = 1;
    a.metadata = {{"created_at", "2010_07_30"}, {"signature_severity", "Major"}};
    a.concepts = {"crime.02", "threat.06"};
    return a;
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
    f.ndpi_risks = {"Known Proto on Non Std Port", "HTTP Suspicious User-Agent"};
    return f;
}

// Community IDs below come from the spec's baseline (TCP and ICMP tuples) or, for the IPv6 UDP
// tuple, from an independent computation of the spec's byte layout with Python's hashlib.
TEST(EveJson, TcpAlertGolden) {
    EXPECT_EQ(alert_to_json(tcp_alert()),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":1234567890123456,)"
              R"("pcap_cnt":42,"event_type":"alert","src_ip":"128.232.110.120","src_port":34855,)"
              R"("dest_ip":"66.35.250.204","dest_port":80,"proto":"TCP",)"
              R"("community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg=","alert":{"action":"allowed",)"
              R"("gid":1,"signature_id":2001999,"rev":9,)"
              R"("signature":"ET MALWARE BTGrab.com Spyware Downloading Ads",)"
              R"("category":"A Network Trojan was detected","severity":1,)"
              R"("metadata":{"created_at":["2010_07_30"],"signature_severity":["Major"]},)"
              R"("concept":["crime.02","threat.06"]},"app_proto":"http","direction":"to_server"})");
}

TEST(EveJson, TcpFlowGolden) {
    EXPECT_EQ(flow_to_json(tcp_flow()),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":1234567890123456,)"
              R"("event_type":"flow","src_ip":"128.232.110.120","src_port":34855,)"
              R"("dest_ip":"66.35.250.204","dest_port":80,"proto":"TCP","app_proto":"http",)"
              R"("flow":{"pkts_toserver":7,"pkts_toclient":9,"bytes_toserver":812,)"
              R"("bytes_toclient":10532,"start":"2026-01-05T07:59:30.000001+0000",)"
              R"("end":"2026-01-05T08:00:00.500000+0000","age":30,"state":"closed",)"
              R"("reason":"timeout","alerted":true},)"
              R"("community_id":"1:LQU9qZlK+B5F3KDmev6m5PMibrg=",)"
              R"("ndpi":{"protocol":"HTTP","category":"Web","host":"www.example.org",)"
              R"("risks":["Known Proto on Non Std Port","HTTP Suspicious User-Agent"]}})");
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
    a.signature = "LOCAL DNS answer";
    a.category = "Potentially Bad Traffic";
    a.severity = 2;
    a.concepts = {"unclassified"};
    EXPECT_EQ(alert_to_json(a),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":77,"pcap_cnt":3,)"
              R"("event_type":"alert","src_ip":"2001:db8::53","src_port":53,)"
              R"("dest_ip":"2001:db8::1","dest_port":53000,"proto":"UDP",)"
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
              R"("dest_ip":"2001:db8::53","dest_port":53,"proto":"UDP","app_proto":"dns",)"
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
    a.signature = "GPL ICMP_INFO PING";
    a.category = "Misc activity";
    a.severity = 3;
    a.concepts = {"unclassified"};
    EXPECT_EQ(alert_to_json(a),
              R"({"timestamp":"2026-01-05T08:00:01.123456+0000","flow_id":5,)"
              R"("event_type":"alert","src_ip":"192.168.0.89","dest_ip":"192.168.0.1",)"
              R"("proto":"ICMP","icmp_type":8,"icmp_code":0,)"
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
              R"("proto":"ICMP","icmp_type":8,"icmp_code":0,)"
              R"("flow":{"pkts_toserver":4,"pkts_toclient":4,"bytes_toserver":392,)"
              R"("bytes_toclient":392,"start":"2026-01-05T07:59:57.623456+0000",)"
              R"("end":"2026-01-05T08:00:01.123456+0000","age":4,"state":"established",)"
              R"("reason":"timeout","alerted":false},)"
              R"("community_id":"1:X0snYXpgwiv9TZtqg64sgzUn6Dk="})");
}

TEST(EveJson, OtherProtocolsAreNamedOrNumbered) {
    core::AlertRecord a = tcp_alert();
    a.endpoints.ip_proto = 132;
    EXPECT_NE(alert_to_json(a).find(R"("dest_port":80,"proto":"SCTP")"), std::string::npos);
    a.endpoints.ip_proto = 58;
    EXPECT_NE(alert_to_json(a).find(R"("proto":"IPv6-ICMP","icmp_type")"), std::string::npos);
    a.endpoints.ip_proto = 47;
    EXPECT_NE(alert_to_json(a).find(R"("dest_ip":"66.35.250.204","proto":"GRE",)"),
              std::string::npos);
    a.endpoints.ip_proto = 253;
    EXPECT_NE(alert_to_json(a).find(R"("proto":"253",)"), std::string::npos);
}

TEST(EveJson, TimestampFormat) {
    EXPECT_EQ(eve_timestamp(kTs), "2026-01-05T08:00:01.123456+0000");
    EXPECT_EQ(eve_timestamp(0), "1970-01-01T00:00:00.000000+0000");
    EXPECT_EQ(eve_timestamp(946684799999999), "1999-12-31T23:59:59.999999+0000");
    EXPECT_EQ(eve_timestamp(951825600000000), "2000-02-29T12:00:00.000000+0000");
    EXPECT_EQ(eve_timestamp(1767600000000007), "2026-01-05T08:00:00.000007+0000");
}

TEST(EveJson, EscapesQuotesBackslashesAndControlCharacters) {
    core::AlertRecord a = tcp_alert();
    a.signature = std::string("say \"hi\"\\ \n\t\x01 end", 17);
    const std::string json = alert_to_json(a);
    EXPECT_NE(json.find(R"("signature":"say \"hi\"\\ \n\t\u0001 end")"), std::string::npos) << json;
    EXPECT_EQ(json.find('\n'), std::string::npos);
    const auto parsed = nlohmann::json::parse(json);
    EXPECT_EQ(parsed["alert"]["signature"], a.signature);
}

TEST(EveJson, InvalidUtf8IsReplacedNotThrown) {
    core::FlowRecord f = tcp_flow();
    f.host = "bad\xff\xfehost";
    const std::string json = flow_to_json(f);
    const auto parsed = nlohmann::json::parse(json);
    // Each invalid byte becomes one U+FFFD.
    EXPECT_EQ(parsed["ndpi"]["host"], "bad\xEF\xBF\xBD\xEF\xBF\xBDhost");
}

TEST(EveJson, MetadataGroupsValuesByKeyInRuleOrder) {
    core::AlertRecord a = tcp_alert();
    a.metadata = {{"affected_product", "Windows"},
                  {"attack_target", "Client_Endpoint"},
                  {"affected_product", "Linux"},
                  {"concept", "crime.02"}};
    const std::string json = alert_to_json(a);
    EXPECT_NE(json.find(R"("metadata":{"affected_product":["Windows","Linux"],)"
                        R"("attack_target":["Client_Endpoint"],"concept":["crime.02"]})"),
              std::string::npos)
        << json;
}

TEST(EveJson, EmptyOptionalFieldsAreOmitted) {
    core::AlertRecord a = tcp_alert();
    a.metadata.clear();
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
    f.ndpi_risks.clear();
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

}  // namespace
}  // namespace sensor::alert
