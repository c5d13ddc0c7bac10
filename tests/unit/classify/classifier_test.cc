#include "sensor/classify/classifier.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <ndpi_api.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "sensor/core/frame.h"
#include "sensor/decode/decoder.h"

namespace sensor::classify {
namespace {

const std::string kCorpus = std::string(SENSOR_SOURCE_DIR) + "/../shared/corpora/ndpi";

// ---------------------------------------------------------------------------------------
// Hand-built packets.

// IPv4 + UDP header followed by `payload`; checksums zero (nDPI does not check them).
std::vector<uint8_t> ipv4_udp(uint16_t sport, uint16_t dport, const std::vector<uint8_t>& payload) {
    const size_t total = 20 + 8 + payload.size();
    std::vector<uint8_t> p = {
        0x45,
        0x00,  // version 4, ihl 5; tos
        static_cast<uint8_t>(total >> 8),
        static_cast<uint8_t>(total),  // total length
        0x12,
        0x34,
        0x00,
        0x00,  // id; no fragmentation
        0x40,
        0x11,
        0x00,
        0x00,  // ttl 64; udp; checksum
        10,
        0,
        0,
        1,  // source 10.0.0.1
        10,
        0,
        0,
        2,  // destination 10.0.0.2
        static_cast<uint8_t>(sport >> 8),
        static_cast<uint8_t>(sport),  // udp source port
        static_cast<uint8_t>(dport >> 8),
        static_cast<uint8_t>(dport),  // udp destination port
        static_cast<uint8_t>((total - 20) >> 8),
        static_cast<uint8_t>(total - 20),  // udp length
        0x00,
        0x00,  // checksum
    };
    p.insert(p.end(), payload.begin(), payload.end());
    return p;
}

// A DNS query for www.example.com, type A, class IN.
std::vector<uint8_t> dns_query() {
    std::vector<uint8_t> q = {
        0xab, 0xcd,                          // id
        0x01, 0x00,                          // flags: standard query, recursion desired
        0x00, 0x01,                          // one question
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // no answer, authority, additional records
        3,    'w',  'w',  'w',  7,    'e',  'x', 'a', 'm',
        'p',  'l',  'e',  3,    'c',  'o',  'm', 0,  // qname
        0x00, 0x01,                                  // type A
        0x00, 0x01,                                  // class IN
    };
    return q;
}

decode::DecodedPacket packet_over(const std::vector<uint8_t>& ip, uint16_t sport, uint16_t dport,
                                  int64_t ts_us) {
    decode::DecodedPacket pkt;
    pkt.ip_proto = decode::kIpProtoUdp;
    pkt.src_port = sport;
    pkt.dst_port = dport;
    pkt.ip = std::span<const uint8_t>(ip.data(), ip.size());
    pkt.payload = pkt.ip.subspan(28);
    pkt.ts_us = ts_us;
    return pkt;
}

TEST(Classifier, FinishWithoutPacketsRecordsUnknown) {
    Classifier c(ClassifyConfig{});
    core::AppInfo info;
    c.finish(info);
    EXPECT_EQ(info.state, core::ClassifyState::kGaveUp);
    EXPECT_EQ(c.protocol_name(info), "Unknown");
    EXPECT_EQ(c.app_proto(info), "failed");
    EXPECT_STREQ(info.app_proto, "failed");
    EXPECT_EQ(c.stats().flows_unknown.load(), 1u);
    EXPECT_EQ(c.stats().flows_started.load(), 0u);
}

TEST(Classifier, DnsQueryIsClassifiedWithHostName) {
    Classifier c(ClassifyConfig{});
    core::AppInfo info;
    const std::vector<uint8_t> ip = ipv4_udp(40000, 53, dns_query());
    c.update(info, packet_over(ip, 40000, 53, 1'000'000));
    c.finish(info);  // no-op when the query alone was enough
    EXPECT_NE(info.state, core::ClassifyState::kPending);
    EXPECT_EQ(info.classifier_state, nullptr);
    EXPECT_TRUE(info.master_protocol == NDPI_PROTOCOL_DNS ||
                info.app_protocol == NDPI_PROTOCOL_DNS);
    EXPECT_EQ(c.app_proto(info), "dns");
    EXPECT_STREQ(info.app_proto, "dns");
    EXPECT_STREQ(info.host, "www.example.com");
    EXPECT_EQ(c.stats().packets_inspected.load(), 1u);
}

TEST(Classifier, UpdateAfterVerdictIsIgnored) {
    Classifier c(ClassifyConfig{});
    core::AppInfo info;
    const std::vector<uint8_t> ip = ipv4_udp(40000, 53, dns_query());
    c.update(info, packet_over(ip, 40000, 53, 1'000'000));
    c.finish(info);
    const uint64_t inspected = c.stats().packets_inspected.load();
    const uint16_t per_flow = info.packets_inspected;
    c.update(info, packet_over(ip, 40000, 53, 2'000'000));
    EXPECT_EQ(c.stats().packets_inspected.load(), inspected);
    EXPECT_EQ(info.packets_inspected, per_flow);
    EXPECT_EQ(info.classifier_state, nullptr);
}

TEST(Classifier, GivesUpAfterUdpBudgetLikeNdpiReader) {
    ClassifyConfig config;
    config.max_udp_packets = 3;
    Classifier c(config);
    core::AppInfo info;
    // Bytes no dissector claims, between ports no protocol owns.
    std::vector<uint8_t> junk(40);
    for (size_t i = 0; i < junk.size(); ++i) {
        junk[i] = static_cast<uint8_t>(0x9d + 37 * i);
    }
    const std::vector<uint8_t> ip = ipv4_udp(47001, 47002, junk);
    for (int i = 0; i < 3; ++i) {
        c.update(info, packet_over(ip, 47001, 47002, 1'000'000 + i));
        ASSERT_EQ(info.state, core::ClassifyState::kPending) << "packet " << i;
        ASSERT_NE(info.classifier_state, nullptr);
    }
    // ndpiReader gives up once the flow has more packets than the budget: on the 4th.
    c.update(info, packet_over(ip, 47001, 47002, 1'000'010));
    EXPECT_EQ(info.state, core::ClassifyState::kGaveUp);
    EXPECT_EQ(info.classifier_state, nullptr);
    EXPECT_EQ(info.packets_inspected, 4);
    EXPECT_EQ(c.stats().flows_given_up.load(), 1u);
    EXPECT_EQ(c.stats().packets_inspected.load(), 4u);
}

TEST(Classifier, SingleBudgetReplacesPerProtocolBudgets) {
    ClassifyConfig config;
    config.max_packets = 2;
    Classifier c(config);
    core::AppInfo info;
    std::vector<uint8_t> junk(40, 0x5a);
    const std::vector<uint8_t> ip = ipv4_udp(47001, 47002, junk);
    for (int i = 0; i < 3; ++i) {
        c.update(info, packet_over(ip, 47001, 47002, 1'000'000 + i));
    }
    EXPECT_EQ(info.state, core::ClassifyState::kGaveUp);
    EXPECT_EQ(info.packets_inspected, 3);
}

TEST(Classifier, ReleaseFreesPendingState) {
    Classifier c(ClassifyConfig{});
    core::AppInfo info;
    std::vector<uint8_t> junk(40, 0x5a);
    const std::vector<uint8_t> ip = ipv4_udp(47001, 47002, junk);
    c.update(info, packet_over(ip, 47001, 47002, 1));
    ASSERT_NE(info.classifier_state, nullptr);
    Classifier::release(info);  // LeakSanitizer fails the run if this does not free
    EXPECT_EQ(info.classifier_state, nullptr);
}

TEST(Classifier, EmptyIpIsSkippedAndCounted) {
    Classifier c(ClassifyConfig{});
    core::AppInfo info;
    decode::DecodedPacket pkt;
    c.update(info, pkt);
    EXPECT_EQ(c.stats().packets_skipped.load(), 1u);
    EXPECT_EQ(info.state, core::ClassifyState::kPending);
    EXPECT_EQ(info.classifier_state, nullptr);
}

TEST(Classifier, AppProtoFollowsMasterThenApp) {
    Classifier c(ClassifyConfig{});
    struct Case {
        uint16_t master;
        uint16_t app;
        const char* want;
    };
    const Case cases[] = {
        {NDPI_PROTOCOL_TLS, 126, "tls"},        // TLS.Google
        {0, NDPI_PROTOCOL_TLS, "tls"},          // TLS
        {NDPI_PROTOCOL_DNS, 142, "dns"},        // DNS.WhatsApp
        {0, NDPI_PROTOCOL_HTTP, "http"},        // HTTP
        {0, NDPI_PROTOCOL_SMBV23, "smb"},       // SMBv23
        {0, NDPI_PROTOCOL_SMBV1, "smb"},        // SMBv1
        {0, NDPI_PROTOCOL_FTP_CONTROL, "ftp"},  // FTP_CONTROL
        {0, NDPI_PROTOCOL_MODBUS, "modbus"},    // lower-cased nDPI name
        {0, NDPI_PROTOCOL_DNP3, "dnp3"},        // lower-cased nDPI name
        {0, NDPI_PROTOCOL_S7COMM, "s7comm"},    // lower-cased nDPI name
        {NDPI_PROTOCOL_QUIC, 124, "quic"},      // QUIC.YouTube
        {0, 0, "failed"},
    };
    for (const Case& k : cases) {
        core::AppInfo info;
        info.master_protocol = k.master;
        info.app_protocol = k.app;
        EXPECT_EQ(c.app_proto(info), k.want) << k.master << "." << k.app;
    }
}

TEST(Classifier, NamesAsNdpiReaderPrintsThem) {
    Classifier c(ClassifyConfig{});
    core::AppInfo info;
    info.master_protocol = NDPI_PROTOCOL_TLS;
    info.app_protocol = 126;
    info.category = 5;
    EXPECT_EQ(c.protocol_name(info), "TLS.Google");
    EXPECT_EQ(c.category_name(info), "Web");
    info.risk = (uint64_t{1} << NDPI_URL_POSSIBLE_SQL_INJECTION) |
                (uint64_t{1} << NDPI_HTTP_NUMERIC_IP_HOST);
    EXPECT_EQ(c.risk_names(info),
              (std::vector<std::string>{"SQL Injection", "HTTP Numeric IP Address"}));
}

TEST(Classifier, CreateNamesTheListFileThatFails) {
    ClassifyConfig config;
    config.protocols_file = kCorpus + "/example-4.2/no-such-protos.txt";
    auto c = Classifier::create(config);
    ASSERT_FALSE(c.has_value());
    EXPECT_NE(c.error().message.find("no-such-protos.txt: cannot open protocols file"),
              std::string::npos)
        << c.error().message;
}

TEST(Classifier, CreateLoadsNdpiReaderListFiles) {
    if (!std::ifstream(kCorpus + "/example-4.2/protos.txt").good()) {
        GTEST_SKIP() << "no ../shared/corpora/ndpi beside the checkout";
    }
    ClassifyConfig config;
    config.protocols_file = kCorpus + "/example-4.2/protos.txt";
    config.categories_file = kCorpus + "/example-4.2/categories.txt";
    config.risky_domains_file = kCorpus + "/example-4.2/risky_domains.txt";
    config.malicious_ja3_file = kCorpus + "/example-4.2/ja3_fingerprints.csv";
    config.malicious_sha1_file = kCorpus + "/example-4.2/sha1_fingerprints.csv";
    auto c = Classifier::create(config);
    ASSERT_TRUE(c.has_value()) << c.error().message;
}

// ---------------------------------------------------------------------------------------
// Real captures against ndpiReader 4.2's expected output.

// Direction-free flow identity: l4 name, lower endpoint, higher endpoint ("ip:port").
using FlowId = std::tuple<std::string, std::string, std::string>;

FlowId make_id(const std::string& l4, std::string a, std::string b) {
    if (b < a) {
        std::swap(a, b);
    }
    return {l4, a, b};
}

struct Expected {
    std::map<FlowId, std::vector<std::string>> names;  // several when VLANs differ
    size_t flows = 0;
    uint64_t dpi_packets = 0;  // "DPI Packets (TCP|UDP):" lines summed
};

// Reads ndpiReader's -v 2 flow lines:
//   \t<N>\t<L4> <a>:<p> <-> <b>:<p> [proto: <ids>/<Name>]...   (IPv6 as [addr]:port)
Expected read_expected(const std::string& pcap) {
    Expected e;
    std::ifstream in(kCorpus + "/result-debian-ndpiReader-4.2-2/" + pcap + ".out");
    EXPECT_TRUE(in.good()) << pcap;
    const std::regex flow_re(
        R"(^\t\d+\t([A-Z0-9]+) (\S+) <?-> (\S+) .*?\[proto: [0-9.]+/([^\]]+)\])");
    const std::regex dpi_re(R"(^DPI Packets \((TCP|UDP)\):\t(\d+)\t)");
    // ndpiReader may compress a single zero group of an IPv6 address ("b00c::25de") where
    // inet_ntop does not ("b00c:0:25de"): re-print each address our way.
    const auto canonical = [](const std::string& ep) {
        const bool v6 = !ep.empty() && ep[0] == '[';
        const size_t colon = v6 ? ep.find("]:") : ep.rfind(':');
        const std::string host = v6 ? ep.substr(1, colon - 1) : ep.substr(0, colon);
        const std::string port = ep.substr(v6 ? colon + 2 : colon + 1);
        uint8_t bytes[16] = {};
        if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), bytes) != 1) {
            ADD_FAILURE() << "bad endpoint " << ep;
            return ep;
        }
        const core::IpAddress a =
            v6 ? core::IpAddress::v6_from(bytes) : core::IpAddress::v4_from(bytes);
        return a.to_string() + ":" + port;
    };
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, flow_re)) {
            e.names[make_id(m[1], canonical(m[2]), canonical(m[3]))].push_back(m[4]);
            ++e.flows;
        } else if (std::regex_search(line, m, dpi_re)) {
            e.dpi_packets += std::stoull(m[2]);
        }
    }
    return e;
}

struct Observed {
    core::AppInfo info;
    FlowId id;
};

struct CaptureRun {
    std::map<std::tuple<uint16_t, FlowId>, Observed> flows;  // keyed by VLAN too, as ndpiReader
    uint64_t l4_packets_inspected = 0;                       // TCP and UDP flows only
};

class NdpiCorpus : public ::testing::Test {
protected:
    void SetUp() override {
        if (!std::ifstream(kCorpus + "/README.md").good()) {
            GTEST_SKIP() << "no ../shared/corpora/ndpi beside the checkout";
        }
    }

    Classifier classifier_{ClassifyConfig{}};

    CaptureRun run(const std::string& pcap) { return run_with(classifier_, pcap); }

    CaptureRun run_with(Classifier& classifier, const std::string& pcap) {
        CaptureRun r;
        char err[PCAP_ERRBUF_SIZE] = {};
        pcap_t* handle = pcap_open_offline((kCorpus + "/pcap/" + pcap).c_str(), err);
        EXPECT_NE(handle, nullptr) << err;
        if (handle == nullptr) {
            return r;
        }
        decode::DecodeConfig dc;
        dc.validate_checksums = false;  // ndpiReader does not check them
        decode::Decoder decoder(dc);
        decode::DecodedPacket pkt;
        pcap_pkthdr* hdr = nullptr;
        const u_char* data = nullptr;
        uint64_t index = 0;
        while (pcap_next_ex(handle, &hdr, &data) == 1) {
            core::Frame frame;
            frame.data = data;
            frame.caplen = hdr->caplen;
            frame.wire_len = hdr->len;
            frame.ts_us = int64_t{hdr->ts.tv_sec} * 1'000'000 + hdr->ts.tv_usec;
            frame.linktype = pcap_datalink(handle);
            frame.index = ++index;
            if (decoder.decode(frame, pkt) != decode::Verdict::kPacket) {
                continue;
            }
            const std::string l4 = pkt.ip_proto == decode::kIpProtoTcp   ? "TCP"
                                   : pkt.ip_proto == decode::kIpProtoUdp ? "UDP"
                                                                         : "OTHER";
            const FlowId id = make_id(l4, pkt.src.to_string() + ":" + std::to_string(pkt.src_port),
                                      pkt.dst.to_string() + ":" + std::to_string(pkt.dst_port));
            const uint16_t vlan = pkt.vlan_count > 0 ? pkt.vlan_ids[0] : 0;
            Observed& o = r.flows[{vlan, id}];
            o.id = id;
            const uint16_t before = o.info.packets_inspected;
            classifier.update(o.info, pkt);
            if (l4 != "OTHER") {
                r.l4_packets_inspected += o.info.packets_inspected - before;
            }
        }
        pcap_close(handle);
        for (auto& [key, o] : r.flows) {
            classifier.finish(o.info);
        }
        return r;
    }

    // Every ndpiReader flow must be found with the same protocol name.
    void expect_agreement(const std::string& pcap) {
        Expected want = read_expected(pcap);
        ASSERT_GT(want.flows, 0u) << pcap;
        CaptureRun got = run(pcap);
        size_t matched = 0;
        for (auto& [key, o] : got.flows) {
            EXPECT_NE(o.info.state, core::ClassifyState::kPending);
            EXPECT_EQ(o.info.classifier_state, nullptr);
            auto it = want.names.find(o.id);
            if (it == want.names.end()) {
                continue;  // a flow ndpiReader does not list (non TCP/UDP)
            }
            const std::string name = classifier_.protocol_name(o.info);
            auto pos = std::find(it->second.begin(), it->second.end(), name);
            EXPECT_NE(pos, it->second.end())
                << pcap << " " << std::get<0>(o.id) << " " << std::get<1>(o.id) << " <-> "
                << std::get<2>(o.id) << ": got " << name << ", ndpiReader says "
                << it->second.front();
            if (pos != it->second.end()) {
                it->second.erase(pos);
                ++matched;
            }
        }
        EXPECT_EQ(matched, want.flows) << pcap;
        EXPECT_EQ(got.l4_packets_inspected, want.dpi_packets) << pcap << ": DPI packets";
    }

    const Observed* first_with(const CaptureRun& r, const std::string& name) {
        for (const auto& [key, o] : r.flows) {
            if (classifier_.protocol_name(o.info) == name) {
                return &o;
            }
        }
        return nullptr;
    }
};

TEST_F(NdpiCorpus, DnsAgrees) { expect_agreement("dns.pcap"); }
TEST_F(NdpiCorpus, HttpAgrees) { expect_agreement("http.pcapng"); }
TEST_F(NdpiCorpus, HttpIpv6Agrees) { expect_agreement("http_ipv6.pcap"); }
TEST_F(NdpiCorpus, TlsChromeAgrees) { expect_agreement("443-chrome.pcap"); }
TEST_F(NdpiCorpus, TlsInIpv6TunnelAgrees) { expect_agreement("4in6tunnel.pcap"); }
TEST_F(NdpiCorpus, QuicAgrees) { expect_agreement("quic.pcap"); }
TEST_F(NdpiCorpus, SmbAgrees) { expect_agreement("smbv1.pcap"); }
TEST_F(NdpiCorpus, ModbusAgrees) { expect_agreement("modbus.pcap"); }
TEST_F(NdpiCorpus, Dnp3Agrees) { expect_agreement("dnp3.pcap"); }
TEST_F(NdpiCorpus, Iec104Agrees) { expect_agreement("IEC104.pcap"); }
TEST_F(NdpiCorpus, S7commAgrees) { expect_agreement("s7comm.pcap"); }
TEST_F(NdpiCorpus, BacnetStaysUnknownIn42) { expect_agreement("bacnet.pcap"); }
TEST_F(NdpiCorpus, SyslogWithVlansAgrees) { expect_agreement("syslog.pcap"); }

// Metadata that ndpiReader prints for these flows.
TEST_F(NdpiCorpus, DnsCarriesQueryNameAndCategory) {
    CaptureRun r = run("dns.pcap");
    const Observed* o = first_with(r, "DNS.Google");
    ASSERT_NE(o, nullptr);
    EXPECT_STREQ(o->info.host, "www.l.google.com");
    EXPECT_EQ(classifier_.category_name(o->info), "Web");
    EXPECT_STREQ(o->info.app_proto, "dns");
}

TEST_F(NdpiCorpus, TlsCarriesSniAndJa3) {
    CaptureRun r = run("4in6tunnel.pcap");
    const Observed* o = first_with(r, "TLS.Microsoft");
    ASSERT_NE(o, nullptr);
    EXPECT_STREQ(o->info.host, "www.bing.com");
    EXPECT_EQ(std::string(o->info.ja3).size(), 32u);
    EXPECT_STREQ(o->info.app_proto, "tls");
    EXPECT_EQ(o->info.state, core::ClassifyState::kClassified);
}

TEST_F(NdpiCorpus, SqlInjectionUrlRiskAsNdpiReader) {
    CaptureRun r = run("WebattackSQLinj.pcap");
    size_t with_sqli = 0;
    for (const auto& [key, o] : r.flows) {
        const auto risks = classifier_.risk_names(o.info);
        if (std::find(risks.begin(), risks.end(), "SQL Injection") != risks.end()) {
            ++with_sqli;
        }
    }
    // ndpiReader lists "SQL Injection" on 7 of the 9 flows of this capture.
    std::ifstream in(kCorpus + "/result-debian-ndpiReader-4.2-2/WebattackSQLinj.pcap.out");
    size_t want = 0;
    std::string line;
    while (std::getline(in, line)) {
        want += line.find("** SQL Injection **") != std::string::npos ? 1 : 0;
    }
    EXPECT_GT(want, 0u);
    EXPECT_EQ(with_sqli, want);
}

TEST_F(NdpiCorpus, GuessedTlsByPortIsGivenUp) {
    CaptureRun r = run("443-chrome.pcap");  // one packet, detected by port only
    ASSERT_EQ(r.flows.size(), 1u);
    const core::AppInfo& info = r.flows.begin()->second.info;
    EXPECT_EQ(classifier_.protocol_name(info), "TLS");
    EXPECT_EQ(info.state, core::ClassifyState::kGaveUp);
    EXPECT_EQ(classifier_.stats().flows_guessed.load(), 1u);
}

// ndpiReader's "[Risk: ** A **** B **]" names, counted over the flows of a capture.
std::map<std::string, uint64_t> expected_risks(const std::string& pcap) {
    std::map<std::string, uint64_t> out;
    std::ifstream in(kCorpus + "/result-debian-ndpiReader-4.2-2/" + pcap + ".out");
    EXPECT_TRUE(in.good()) << pcap;
    const std::regex flow_re(R"(^\t\d+\t[A-Z0-9]+ )");
    const std::regex risk_re(R"(\*\* (.+?) \*\*)");
    std::string line;
    while (std::getline(in, line)) {
        const size_t at = line.find("[Risk: ");
        if (!std::regex_search(line, flow_re) || at == std::string::npos) {
            continue;
        }
        const std::string risks = line.substr(at, line.find(']', at) - at);
        for (auto it = std::sregex_iterator(risks.begin(), risks.end(), risk_re);
             it != std::sregex_iterator(); ++it) {
            ++out[(*it)[1].str()];
        }
    }
    return out;
}

std::map<std::string, uint64_t> counted_risks(const Classifier& c) {
    std::map<std::string, uint64_t> out;
    for (size_t r = 0; r < kRiskSlots; ++r) {
        if (const uint64_t n = c.risk_counts()[r].load(); n > 0) {
            out[std::string(Classifier::risk_name(r))] += n;
        }
    }
    return out;
}

// Captures whose flows ndpiReader 4.2 lists with risks.
const char* const kRiskCaptures[] = {"WebattackSQLinj.pcap",
                                     "http_ipv6.pcap",
                                     "smbv1.pcap",
                                     "quic.pcap",
                                     "syslog.pcap",
                                     "imap.pcap",
                                     "emotet.pcap",
                                     "bittorrent.pcap",
                                     "telegram.pcap",
                                     "hart_ip.pcap",
                                     "skype-conference-call.pcap"};

TEST_F(NdpiCorpus, RiskCountsAgreeWithNdpiReaderPerFlow) {
    // ndpiReader's results were made with the example list files (malicious JA3, ...).
    ClassifyConfig config;
    config.protocols_file = kCorpus + "/example-4.2/protos.txt";
    config.categories_file = kCorpus + "/example-4.2/categories.txt";
    config.risky_domains_file = kCorpus + "/example-4.2/risky_domains.txt";
    config.malicious_ja3_file = kCorpus + "/example-4.2/ja3_fingerprints.csv";
    config.malicious_sha1_file = kCorpus + "/example-4.2/sha1_fingerprints.csv";
    auto classifier = Classifier::create(config);
    ASSERT_TRUE(classifier.has_value()) << classifier.error().message;
    std::map<std::string, uint64_t> want;
    for (const char* pcap : kRiskCaptures) {
        for (const auto& [name, n] : expected_risks(pcap)) {
            want[name] += n;
        }
        run_with(**classifier, pcap);
    }
    EXPECT_GE(want.size(), 10u);  // distinct risks, each counted once per flow
    EXPECT_EQ(counted_risks(**classifier), want);
}

TEST_F(NdpiCorpus, RiskCountsFollowTheFlowVerdicts) {
    CaptureRun r = run("WebattackSQLinj.pcap");
    std::array<uint64_t, kRiskSlots> flows_with{};
    for (auto& [key, o] : r.flows) {
        for (size_t bit = 0; bit < kRiskSlots; ++bit) {
            flows_with[bit] += (o.info.risk >> bit) & 1u;
        }
        // A concluded flow counts no more, however often it is finished.
        classifier_.finish(o.info);
    }
    uint64_t total = 0;
    for (size_t bit = 0; bit < kRiskSlots; ++bit) {
        EXPECT_EQ(classifier_.risk_counts()[bit].load(), flows_with[bit]) << bit;
        total += flows_with[bit];
    }
    EXPECT_GT(total, 0u);
    EXPECT_EQ(classifier_.risk_counts()[0].load(), 0u);  // bit 0 is "no risk"
}

TEST(Classifier, RiskNamesComeFromNdpiAndAreBounded) {
    EXPECT_EQ(Classifier::risk_limit(), static_cast<size_t>(NDPI_MAX_RISK));
    EXPECT_LE(Classifier::risk_limit(), kRiskSlots);
    EXPECT_EQ(Classifier::risk_name(NDPI_URL_POSSIBLE_SQL_INJECTION), "SQL Injection");
    EXPECT_EQ(Classifier::risk_name(0), "");
    EXPECT_EQ(Classifier::risk_name(Classifier::risk_limit()), "");
    std::set<std::string_view> names;
    for (size_t r = 1; r < Classifier::risk_limit(); ++r) {
        EXPECT_FALSE(Classifier::risk_name(r).empty()) << r;
        EXPECT_TRUE(names.insert(Classifier::risk_name(r)).second) << Classifier::risk_name(r);
    }
}

}  // namespace
}  // namespace sensor::classify
