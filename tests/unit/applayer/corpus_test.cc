// Real captures through the real Decoder, FlowTable and AppLayer. Expected values come from
// other tools: ndpiReader 4.2's output (../shared/corpora/ndpi/result-debian-ndpiReader-4.2-2)
// and the checks of suricata-verify tests (their test.yaml).

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "sensor/applayer/app_layer.h"
#include "tests/unit/applayer/applayer_test_support.h"

namespace sensor::applayer {
namespace {

using core::BufferKind;
using testing::buf;
using testing::kNdpiCorpus;
using testing::kVerifyCorpus;
using testing::run_pcap;
using testing::Seen;

using PortPair = std::pair<uint16_t, uint16_t>;  // client, server

// One flow line of ndpiReader's output, with the bracketed fields we compare.
struct NdpiFlow {
    PortPair ports;
    std::map<std::string, std::string> fields;  // "JA3C" -> "...", "URL" -> "..."
};

std::vector<NdpiFlow> ndpi_tcp_flows(const std::string& pcap) {
    std::vector<NdpiFlow> flows;
    std::ifstream in(kNdpiCorpus + "/result-debian-ndpiReader-4.2-2/" + pcap + ".out");
    const std::regex line_re(R"(^\s*\d+\s+TCP \S+:(\d+) <-> \S+:(\d+) )");
    const std::regex field_re(
        R"(\[(JA3C|JA3S|Issuer|Subject|Hostname/SNI|URL|StatusCode|User-Agent): ([^\]]*)\])");
    std::string line;
    while (std::getline(in, line)) {
        std::smatch m;
        if (!std::regex_search(line, m, line_re)) {
            continue;
        }
        NdpiFlow f;
        f.ports = {static_cast<uint16_t>(std::stoi(m[1])), static_cast<uint16_t>(std::stoi(m[2]))};
        for (auto it = std::sregex_iterator(line.begin(), line.end(), field_re);
             it != std::sregex_iterator(); ++it) {
            f.fields[(*it)[1]] = (*it)[2];
        }
        flows.push_back(std::move(f));
    }
    return flows;
}

struct FlowView {
    std::string sni;
    std::string ja3;
    std::string host;
    std::string uri_raw;
    std::string user_agent;
    std::string stat_code;
};

// The first transaction's views of every flow, by (client port, server port).
std::map<PortPair, FlowView> first_transactions(const std::string& path, AppLayer& app) {
    std::map<PortPair, FlowView> views;
    std::string error = run_pcap(path, app, [&](const Seen& s) {
        if (s.transaction_id != 1) {
            return;
        }
        FlowView& v = views[{s.client_port, s.server_port}];
        auto keep = [&](std::string& field, BufferKind kind) {
            if (field.empty()) {
                field = buf(s.buffers, kind);
            }
        };
        keep(v.sni, BufferKind::kTlsSni);
        keep(v.ja3, BufferKind::kJa3Hash);
        keep(v.host, BufferKind::kHttpHost);
        keep(v.uri_raw, BufferKind::kHttpUriRaw);
        keep(v.user_agent, BufferKind::kHttpUserAgent);
        keep(v.stat_code, BufferKind::kHttpStatCode);
    });
    EXPECT_EQ(error, "");
    return views;
}

const FlowView* find(const std::map<PortPair, FlowView>& views, PortPair ports) {
    if (auto it = views.find(ports); it != views.end()) {
        return &it->second;
    }
    if (auto it = views.find({ports.second, ports.first}); it != views.end()) {
        return &it->second;
    }
    return nullptr;
}

TEST(AppLayerCorpus, Ja3AndSniAgreeWithNdpiReader) {
    size_t compared = 0;
    for (const std::string pcap :
         {"4in6tunnel.pcap", "emotet.pcap", "facebook.pcap", "http_ipv6.pcap"}) {
        AppLayer app{AppLayerConfig{}};
        const auto views = first_transactions(kNdpiCorpus + "/pcap/" + pcap, app);
        for (const NdpiFlow& f : ndpi_tcp_flows(pcap)) {
            auto ja3 = f.fields.find("JA3C");
            if (ja3 == f.fields.end()) {
                continue;
            }
            const FlowView* v = find(views, f.ports);
            ASSERT_NE(v, nullptr) << pcap << " flow " << f.ports.first << "->" << f.ports.second;
            EXPECT_EQ(v->ja3, ja3->second) << pcap << " port " << f.ports.first;
            auto sni = f.fields.find("Hostname/SNI");
            EXPECT_EQ(v->sni, sni == f.fields.end() ? "" : sni->second) << pcap;
            ++compared;
        }
        EXPECT_EQ(app.memory_bytes(), 0u) << pcap;
    }
    EXPECT_GE(compared, 10u);
}

// The server side of TLS: JA3S, and the first certificate's issuer and subject, which
// ndpiReader prints in the same "C=US, O=..., CN=..." form for the usual attributes.
TEST(AppLayerCorpus, Ja3sAndCertificateNamesAgreeWithNdpiReader) {
    size_t ja3s_compared = 0;
    size_t names_compared = 0;
    for (const std::string pcap : {"emotet.pcap", "facebook.pcap", "http_ipv6.pcap"}) {
        AppLayer app{AppLayerConfig{}};
        struct ServerView {
            std::string ja3s;
            std::string issuer;
            std::string subject;
        };
        std::map<PortPair, ServerView> views;
        const std::string error = run_pcap(kNdpiCorpus + "/pcap/" + pcap, app, [&](const Seen& s) {
            ServerView& v = views[{s.client_port, s.server_port}];
            if (v.ja3s.empty()) {
                v.ja3s = buf(s.buffers, BufferKind::kJa3sHash);
            }
            if (v.subject.empty()) {
                v.issuer = buf(s.buffers, BufferKind::kTlsCertIssuer);
                v.subject = buf(s.buffers, BufferKind::kTlsCertSubject);
            }
        });
        EXPECT_EQ(error, "");
        for (const NdpiFlow& f : ndpi_tcp_flows(pcap)) {
            auto it = views.find(f.ports);
            if (it == views.end()) {
                it = views.find({f.ports.second, f.ports.first});
            }
            auto ja3s = f.fields.find("JA3S");
            if (ja3s != f.fields.end()) {
                ASSERT_NE(it, views.end()) << pcap << " port " << f.ports.first;
                EXPECT_EQ(it->second.ja3s, ja3s->second) << pcap << " port " << f.ports.first;
                ++ja3s_compared;
            }
            auto issuer = f.fields.find("Issuer");
            auto subject = f.fields.find("Subject");
            if (issuer != f.fields.end() && subject != f.fields.end()) {
                ASSERT_NE(it, views.end()) << pcap << " port " << f.ports.first;
                EXPECT_EQ(it->second.issuer, issuer->second) << pcap << " port " << f.ports.first;
                EXPECT_EQ(it->second.subject, subject->second) << pcap << " port " << f.ports.first;
                ++names_compared;
            }
        }
        EXPECT_EQ(app.memory_bytes(), 0u) << pcap;
    }
    EXPECT_GE(ja3s_compared, 5u);
    EXPECT_GE(names_compared, 3u);
}

TEST(AppLayerCorpus, HttpAgreesWithNdpiReader) {
    size_t compared = 0;
    for (const std::string pcap : {"WebattackSQLinj.pcap", "http.pcapng", "emotet.pcap"}) {
        AppLayer app{AppLayerConfig{}};
        const auto views = first_transactions(kNdpiCorpus + "/pcap/" + pcap, app);
        for (const NdpiFlow& f : ndpi_tcp_flows(pcap)) {
            auto url = f.fields.find("URL");
            if (url == f.fields.end()) {
                continue;
            }
            const FlowView* v = find(views, f.ports);
            ASSERT_NE(v, nullptr) << pcap << " flow " << f.ports.first;
            // ndpiReader prints host + URI, cut to 255 characters.
            const std::string ours = v->host + v->uri_raw;
            EXPECT_EQ(ours.substr(0, url->second.size()), url->second) << pcap;
            if (url->second.size() < 255) {
                EXPECT_EQ(ours, url->second) << pcap;
            }
            EXPECT_EQ(v->host, f.fields.at("Hostname/SNI")) << pcap;
            if (f.fields.count("StatusCode") != 0) {
                EXPECT_EQ(v->stat_code, f.fields.at("StatusCode")) << pcap;
            }
            if (f.fields.count("User-Agent") != 0) {
                EXPECT_EQ(v->user_agent, f.fields.at("User-Agent")) << pcap;
            }
            ++compared;
        }
        EXPECT_EQ(app.stats().http_parse_errors.load(), 0u) << pcap;
    }
    EXPECT_GE(compared, 11u);
}

TEST(AppLayerCorpus, WebattackSqlInjectionTransactions) {
    // Nine connections, one GET each (the pcap holds nine request lines and nine responses).
    AppLayer app{AppLayerConfig{}};
    std::set<std::pair<PortPair, uint64_t>> transactions;
    std::set<std::string> uris;
    std::string error =
        run_pcap(kNdpiCorpus + "/pcap/WebattackSQLinj.pcap", app, [&](const Seen& s) {
            if (!s.buffers.get(BufferKind::kHttpMethod).empty()) {
                transactions.insert({{s.client_port, s.server_port}, s.transaction_id});
                uris.insert(buf(s.buffers, BufferKind::kHttpUri));
            }
        });
    ASSERT_EQ(error, "");
    EXPECT_EQ(transactions.size(), 9u);
    EXPECT_EQ(app.stats().http_transactions.load(), 9u);
    EXPECT_EQ(app.stats().http_parsers_created.load(), 9u);
    // The query is URL-decoded in http.uri, '+' kept (Suricata's query-plusspace-decode: no).
    EXPECT_EQ(uris.count("/dv/vulnerabilities/sqli/?id=1'+and+1=1#&Submit=Submit"), 1u);
    EXPECT_EQ(app.stats().http_parsers_active.load(), 0u);
    EXPECT_EQ(app.memory_bytes(), 0u);
}

// suricata-verify bug-78-http-uri: the eve http record Suricata must produce.
TEST(AppLayerCorpus, SuricataVerifyBug78) {
    AppLayer app{AppLayerConfig{}};
    std::map<std::string, std::string> got;
    size_t response_body = 0;
    std::string error =
        run_pcap(kVerifyCorpus + "/bug-78-uricontent/input.pcap", app, [&](const Seen& s) {
            for (BufferKind k :
                 {BufferKind::kHttpHost, BufferKind::kHttpUri, BufferKind::kHttpMethod,
                  BufferKind::kHttpUserAgent, BufferKind::kHttpStatCode}) {
                if (!s.buffers.get(k).empty()) {
                    got[std::string(core::kBufferKindNames[static_cast<size_t>(k)])] =
                        buf(s.buffers, k);
                }
            }
            response_body =
                std::max(response_body, s.buffers.get(BufferKind::kHttpResponseBody).size());
        });
    ASSERT_EQ(error, "");
    EXPECT_EQ(got["http.host"], "www.google.com");
    EXPECT_EQ(got["http.uri"], "/blah/");
    EXPECT_EQ(got["http.method"], "GET");
    EXPECT_EQ(got["http.user_agent"], "Wget/1.11.4");
    EXPECT_EQ(got["http.stat_code"], "404");
    EXPECT_EQ(response_body, 1194u);  // eve http.length
}

// suricata-verify uricontent-05 and -07: traversal and self references normalized away,
// host lower-cased (their rules match "images.gif" and "www.example.com").
TEST(AppLayerCorpus, SuricataVerifyUriNormalization) {
    for (const std::string test : {"detect-uricontent-05", "detect-uricontent-07"}) {
        AppLayer app{AppLayerConfig{}};
        std::string uri;
        std::string host;
        std::string error = run_pcap(kVerifyCorpus + "/uricontent/" + test + "/input.pcap", app,
                                     [&](const Seen& s) {
                                         if (uri.empty()) {
                                             uri = buf(s.buffers, BufferKind::kHttpUri);
                                         }
                                         if (host.empty()) {
                                             host = buf(s.buffers, BufferKind::kHttpHost);
                                         }
                                     });
        ASSERT_EQ(error, "");
        EXPECT_EQ(uri, "/images.gif") << test;
        EXPECT_EQ(host, "www.example.com") << test;
    }
}

TEST(AppLayerCorpus, SuricataVerifyBodies) {
    struct Case {
        std::string pcap;
        BufferKind kind;
        std::string needle;
        size_t hits;
    };
    const std::vector<Case> cases = {
        // The gzip-compressed request body is inspected decompressed.
        {"http-post-data-decompression/input.pcap", BufferKind::kHttpRequestBody, "name", 1},
        {"http-post-data-decompression/input.pcap", BufferKind::kHttpResponseBody, "name", 0},
        {"http-encoding-identity/test.pcap", BufferKind::kHttpResponseBody,
         "identity content-encoding works", 1},
        {"http-async/input.pcap", BufferKind::kHttpResponseBody, "World", 1},
        {"http-async/input.pcap", BufferKind::kHttpResponseBody, "People", 1},
    };
    for (const Case& c : cases) {
        AppLayer app{AppLayerConfig{}};
        size_t hits = 0;
        std::string error = run_pcap(kVerifyCorpus + "/" + c.pcap, app, [&](const Seen& s) {
            std::string body = buf(s.buffers, c.kind);
            std::transform(body.begin(), body.end(), body.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            std::string needle = c.needle;
            std::transform(needle.begin(), needle.end(), needle.begin(),
                           [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
            hits += body.find(needle) != std::string::npos ? 1 : 0;
        });
        ASSERT_EQ(error, "") << c.pcap;
        EXPECT_EQ(hits, c.hits) << c.pcap << " " << c.needle;
    }
}

TEST(AppLayerCorpus, SuricataVerifyDnsQueries) {
    // dns-detect-query-02: "google.com" in packet 1, "google.net" in packet 3.
    AppLayer app{AppLayerConfig{}};
    std::map<uint64_t, std::string> queries;
    std::string error = run_pcap(
        kVerifyCorpus + "/dns/dns-query/dns-detect-query-02/input.pcap", app, [&](const Seen& s) {
            if (!s.buffers.get(BufferKind::kDnsQuery).empty()) {
                queries[s.frame_index] = buf(s.buffers, BufferKind::kDnsQuery);
            }
        });
    ASSERT_EQ(error, "");
    ASSERT_EQ(queries.size(), 2u);
    EXPECT_NE(queries[1].find("google.com"), std::string::npos) << queries[1];
    EXPECT_NE(queries[3].find("google.net"), std::string::npos) << queries[3];
}

TEST(AppLayerCorpus, SuricataVerifyFragmentedClientHello) {
    // tls-client-hello-frag-01: a ClientHello cut by a 300-byte MTU; tls.sni www.google.com.
    AppLayer app{AppLayerConfig{}};
    std::vector<std::string> snis;
    std::string error = run_pcap(kVerifyCorpus + "/tls/tls-client-hello-frag-01/dump_mtu300.pcap",
                                 app, [&](const Seen& s) {
                                     if (!s.buffers.get(BufferKind::kTlsSni).empty()) {
                                         snis.push_back(buf(s.buffers, BufferKind::kTlsSni));
                                     }
                                 });
    ASSERT_EQ(error, "");
    ASSERT_EQ(snis.size(), 1u);
    EXPECT_EQ(snis[0], "www.google.com");
    EXPECT_EQ(app.stats().tls_hellos_reassembled.load(), 1u);
}

}  // namespace
}  // namespace sensor::applayer
