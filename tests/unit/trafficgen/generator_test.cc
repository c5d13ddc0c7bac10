#include "bench/trafficgen/generator.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/trafficgen/frame_view.h"

namespace sensor::trafficgen {
namespace {

using testing::sample_capture;

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/trafficgen_test_XXXXXX";
        const char* d = mkdtemp(tmpl);
        path_ = d == nullptr ? std::string() : std::string(d);
    }
    ~TempDir() {
        for (const std::string& f : files_) {
            std::remove(f.c_str());
        }
        rmdir(path_.c_str());
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) {
        files_.push_back(path_ + "/" + name);
        return files_.back();
    }
    bool ok() const { return !path_.empty(); }

private:
    std::string path_;
    std::vector<std::string> files_;
};

std::vector<char> read_all(const std::string& path) {
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    std::vector<char> bytes(static_cast<size_t>(std::max<std::streamoff>(0, in.tellg())));
    in.seekg(0);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return bytes;
}

TEST(TrafficgenDeterminism, SameArgumentsGiveIdenticalFiles) {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    Options options;
    options.seed = 7;
    options.benign_flows = 120;
    const std::string a = dir.file("a.pcap");
    const std::string b = dir.file("b.pcap");
    ASSERT_TRUE(write_pcap(generate(options), a));
    ASSERT_TRUE(write_pcap(generate(options), b));
    const std::vector<char> bytes_a = read_all(a);
    const std::vector<char> bytes_b = read_all(b);
    ASSERT_GT(bytes_a.size(), 24u);
    EXPECT_TRUE(bytes_a == bytes_b);

    options.seed = 8;
    const std::string c = dir.file("c.pcap");
    ASSERT_TRUE(write_pcap(generate(options), c));
    EXPECT_FALSE(bytes_a == read_all(c));
}

TEST(TrafficgenDeterminism, StartTimeShiftsTimestampsOnly) {
    Options options;
    options.scenario = Scenario::kC2;
    const Capture base = generate(options);
    options.start_seconds += 3600;
    const Capture later = generate(options);
    ASSERT_EQ(base.packets.size(), later.packets.size());
    ASSERT_FALSE(base.packets.empty());
    const int64_t first_beacon = (kDefaultStartSeconds + kC2FirstAtS) * 1'000'000;
    EXPECT_GE(base.packets[0].ts_us, first_beacon);
    EXPECT_LT(base.packets[0].ts_us, first_beacon + 50'000);
    for (size_t i = 0; i < base.packets.size(); ++i) {
        EXPECT_EQ(later.packets[i].ts_us - base.packets[i].ts_us, int64_t{3600} * 1'000'000);
    }
}

TEST(TrafficgenPcap, FileReadsBackThroughLibpcap) {
    TempDir dir;
    ASSERT_TRUE(dir.ok());
    Options options;
    options.benign_flows = 60;
    const Capture capture = generate(options);
    const std::string path = dir.file("sample.pcap");
    ASSERT_TRUE(write_pcap(capture, path));

    char err[PCAP_ERRBUF_SIZE] = {};
    pcap_t* p = pcap_open_offline(path.c_str(), err);
    ASSERT_NE(p, nullptr) << err;
    EXPECT_EQ(pcap_datalink(p), DLT_EN10MB);
    EXPECT_EQ(pcap_snapshot(p), 65535);
    uint64_t packets = 0;
    uint64_t bytes = 0;
    int64_t last_ts = 0;
    bool ordered = true;
    pcap_pkthdr* hdr = nullptr;
    const u_char* data = nullptr;
    while (pcap_next_ex(p, &hdr, &data) == 1) {
        const int64_t ts = int64_t{hdr->ts.tv_sec} * 1'000'000 + hdr->ts.tv_usec;
        ordered = ordered && ts >= last_ts;
        last_ts = ts;
        EXPECT_EQ(hdr->caplen, hdr->len);
        EXPECT_GE(hdr->caplen, 60u);
        ++packets;
        bytes += hdr->caplen;
    }
    pcap_close(p);
    EXPECT_TRUE(ordered);
    EXPECT_EQ(packets, capture.summary.packets);
    EXPECT_EQ(bytes, capture.summary.bytes);
}

TEST(TrafficgenPcap, UnwritablePathIsAnErrorNamingThePath) {
    const auto result =
        write_pcap(generate(Options{.scenario = Scenario::kEicar}), "/nonexistent-dir/x.pcap");
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message.find("/nonexistent-dir/x.pcap"), std::string::npos);
}

TEST(TrafficgenOptions, ScenarioNamesRoundTrip) {
    for (const char* name : {"all", "benign", "eicar", "c2", "sqli", "modbus-write", "portscan",
                             "synflood", "split"}) {
        const auto s = parse_scenario(name);
        ASSERT_TRUE(s) << name;
        EXPECT_EQ(scenario_name(*s), name);
    }
    const auto bad = parse_scenario("ddos");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "--scenario: unknown scenario 'ddos'");
}

TEST(TrafficgenSample, SizeAndSpanAreAsDocumented) {
    const Capture& c = sample_capture();
    EXPECT_GE(c.summary.packets, 10'000u);
    EXPECT_LE(c.summary.packets, 30'000u);
    EXPECT_EQ(c.summary.tally.benign_sessions, kDefaultBenignSessions);
    const int64_t start = kDefaultStartSeconds * 1'000'000;
    EXPECT_GE(c.packets.front().ts_us, start);
    EXPECT_LT(c.packets.back().ts_us - start, int64_t{620} * 1'000'000);
    EXPECT_GT(c.packets.back().ts_us - start, int64_t{540} * 1'000'000);
}

}  // namespace
}  // namespace sensor::trafficgen
