#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "rules/rule_set.h"
#include "rules_test_support.h"

namespace sensor::rules {
namespace {

using test_support::issues_text;
using test_support::parse;

core::IpAddress ip4(const char* text) {
    uint8_t buf[4] = {};
    EXPECT_EQ(inet_pton(AF_INET, text, buf), 1);
    return core::IpAddress::v4_from(buf);
}

// Parses text that must hold exactly one valid rule.
Rule one_rule(std::string_view text, const LoadOptions& options = {}) {
    RuleSet set = parse(text, options);
    EXPECT_EQ(set.rules().size(), 1u) << issues_text(set.report());
    if (set.rules().empty()) {
        return Rule{};
    }
    return set.rules()[0];
}

TEST(RuleParser, Actions) {
    EXPECT_EQ(one_rule("alert ip any any -> any any (sid:1;)").action, Action::kAlert);
    EXPECT_EQ(one_rule("pass ip any any -> any any (sid:1;)").action, Action::kPass);
    EXPECT_EQ(one_rule("drop ip any any -> any any (sid:1;)").action, Action::kDrop);
    EXPECT_EQ(one_rule("reject ip any any -> any any (sid:1;)").action, Action::kReject);
    EXPECT_EQ(action_name(Action::kReject), "reject");
}

TEST(RuleParser, TransportProtocols) {
    struct Case {
        const char* text;
        Protocol proto;
        const char* name;
    };
    for (const Case& c :
         {Case{"ip", Protocol::kIp, "ip"}, Case{"tcp", Protocol::kTcp, "tcp"},
          Case{"udp", Protocol::kUdp, "udp"}, Case{"icmp", Protocol::kIcmp, "icmp"},
          Case{"TCP", Protocol::kTcp, "tcp"}, Case{"tcp-pkt", Protocol::kTcp, "tcp"}}) {
        Rule r = one_rule(std::string("alert ") + c.text + " any any -> any any (sid:1;)");
        EXPECT_EQ(r.proto, c.proto) << c.text;
        EXPECT_EQ(r.proto_name, c.name) << c.text;
        EXPECT_TRUE(r.app_proto.empty()) << c.text;
    }
}

TEST(RuleParser, AppLayerProtocolKeepsItsName) {
    Rule http = one_rule("alert http any any -> any any (sid:1;)");
    EXPECT_EQ(http.proto, Protocol::kApp);
    EXPECT_EQ(http.app_proto, "http");
    EXPECT_EQ(http.proto_name, "http");
    Rule modbus = one_rule("alert modbus any any -> any 502 (sid:1;)");
    EXPECT_EQ(modbus.app_proto, "modbus");
    Rule ssl = one_rule("alert ssl any any -> any any (sid:1;)");  // Snort's name
    EXPECT_EQ(ssl.app_proto, "tls");
}

TEST(RuleParser, SnortShortHeaderMeansAnyAny) {
    Rule r = one_rule("alert http (msg:\"short\"; sid:7;)");
    EXPECT_EQ(r.app_proto, "http");
    EXPECT_TRUE(r.src.any);
    EXPECT_TRUE(r.dst.any);
    EXPECT_TRUE(r.src_port.any);
    EXPECT_TRUE(r.dst_port.any);
    EXPECT_EQ(r.msg, "short");
}

TEST(RuleParser, HeaderAddressesPortsAndDirection) {
    Rule r = one_rule(
        "alert tcp [10.0.0.0/8, !10.1.0.0/16] [1024:, !8080] <> $EXTERNAL_NET $HTTP_PORTS "
        "(sid:1;)");
    EXPECT_TRUE(r.bidirectional);
    EXPECT_EQ(r.src.text, "[10.0.0.0/8,!10.1.0.0/16]");
    EXPECT_TRUE(r.src.matches(ip4("10.2.0.1")));
    EXPECT_FALSE(r.src.matches(ip4("10.1.0.1")));
    EXPECT_TRUE(r.src_port.matches(40000));
    EXPECT_FALSE(r.src_port.matches(8080));
    EXPECT_FALSE(r.src_port.matches(80));
    EXPECT_TRUE(r.dst.matches(ip4("8.8.8.8")));
    EXPECT_FALSE(r.dst.matches(ip4("192.168.0.1")));
    EXPECT_TRUE(r.dst_port.matches(80));
    EXPECT_FALSE(r.dst_port.matches(81));
    EXPECT_FALSE(one_rule("alert tcp any any -> any any (sid:1;)").bidirectional);
}

TEST(RuleParser, LoadOptionsReplaceDefaultGroups) {
    LoadOptions options;
    options.address_groups["HOME_NET"] = "[198.51.100.0/24]";
    options.port_groups["HTTP_PORTS"] = "[80,8080]";
    Rule r = one_rule("alert tcp $EXTERNAL_NET any -> $HOME_NET $HTTP_PORTS (sid:1;)", options);
    EXPECT_TRUE(r.dst.matches(ip4("198.51.100.9")));
    EXPECT_FALSE(r.dst.matches(ip4("192.168.0.1")));
    EXPECT_TRUE(r.src.matches(ip4("192.168.0.1")));
    EXPECT_TRUE(r.dst_port.matches(8080));
}

TEST(RuleParser, VariableProblemsAreRuleErrors) {
    LoadOptions options;
    options.address_groups["A"] = "[10.0.0.0/8,$B]";
    options.address_groups["B"] = "!$A";
    options.address_groups["HOME_NET"] = "[10.0.0.0/8,nonsense]";
    RuleSet set = parse(
        "alert ip $A any -> any any (sid:1;)\n"
        "alert ip $NOT_DEFINED any -> any any (sid:2;)\n"
        "alert ip $HOME_NET any -> any any (sid:3;)\n"
        "alert ip any any -> any any (sid:4;)\n",
        options);
    ASSERT_EQ(set.report().errors.size(), 3u);
    EXPECT_EQ(set.report().errors[0].message, "test.rules:1:10: variable cycle $A -> $B -> $A");
    EXPECT_EQ(set.report().errors[1].message,
              "test.rules:2:10: undefined address variable $NOT_DEFINED");
    EXPECT_EQ(set.report().errors[2].message,
              "test.rules:3:10: invalid address 'nonsense' in $HOME_NET");
    ASSERT_EQ(set.rules().size(), 1u);
    EXPECT_EQ(set.rules()[0].sid, 4u);
}

TEST(RuleParser, GeneralOptions) {
    Rule r = one_rule(
        "alert tcp any any -> any any (msg:\"say \\\"hi\\\"\\; now (really)\"; gid:3; sid:42; "
        "rev:7; classtype:trojan-activity; reference:url,example.com/a; reference: cve , "
        "2024-1; metadata:created_at 2024_01_01, policy max-detect-ips drop;)");
    EXPECT_EQ(r.msg, "say \"hi\"; now (really)");
    EXPECT_EQ(r.gid, 3u);
    EXPECT_EQ(r.sid, 42u);
    EXPECT_EQ(r.rev, 7u);
    EXPECT_EQ(r.classtype, "trojan-activity");
    EXPECT_EQ(r.class_description, "A Network Trojan was detected");
    EXPECT_EQ(r.priority, 1);
    using Pairs = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(r.references, (Pairs{{"url", "example.com/a"}, {"cve", "2024-1"}}));
    EXPECT_EQ(r.metadata, (Pairs{{"created_at", "2024_01_01"}, {"policy", "max-detect-ips drop"}}));
    EXPECT_EQ(r.concepts, (std::vector<std::string>{"crime.02", "threat.06"}));
    EXPECT_EQ(r.file, "test.rules");
    EXPECT_EQ(r.line, 1);
}

TEST(RuleParser, PriorityDefaults) {
    EXPECT_EQ(one_rule("alert ip any any -> any any (sid:1;)").priority, 3);
    EXPECT_EQ(one_rule("alert ip any any -> any any (classtype:attempted-recon; sid:1;)").priority,
              2);
    // The rule's own priority wins whichever comes first.
    EXPECT_EQ(
        one_rule("alert ip any any -> any any (priority:4; classtype:trojan-activity; sid:1;)")
            .priority,
        4);
    EXPECT_EQ(
        one_rule("alert ip any any -> any any (classtype:trojan-activity; priority:5; sid:1;)")
            .priority,
        5);
}

TEST(RuleParser, ConceptsFromMetadataWinOverClasstype) {
    Rule r = one_rule(
        "alert ip any any -> any any (classtype:trojan-activity; metadata:concept crime.10, "
        "former_category X, concept threat.02; sid:1;)");
    EXPECT_EQ(r.concepts, (std::vector<std::string>{"crime.10", "threat.02"}));
    ASSERT_EQ(r.metadata.size(), 3u);
    EXPECT_EQ(r.metadata[0], (std::pair<std::string, std::string>{"concept", "crime.10"}));
    EXPECT_EQ(r.metadata[1].first, "former_category");
}

TEST(RuleParser, UnclassifiedRulesAreCounted) {
    RuleSet set = parse(
        "alert ip any any -> any any (classtype:misc-activity; sid:1;)\n"  // not in the map
        "alert ip any any -> any any (sid:2;)\n"
        "alert ip any any -> any any (classtype:policy-violation; sid:3;)\n");
    ASSERT_EQ(set.rules().size(), 3u);
    EXPECT_EQ(set.rules()[0].concepts, (std::vector<std::string>{"unclassified"}));
    EXPECT_EQ(set.rules()[2].concepts, (std::vector<std::string>{"crime.03"}));
    EXPECT_EQ(set.report().unclassified, 2u);
}

TEST(RuleParser, ContentBytesAndModifiers) {
    Rule r = one_rule(
        "alert tcp any any -> any any (content:\"GET |20 2f|a\\;b\\\"c\\\\\"; nocase; "
        "offset:2; depth:20; content:!\"|00|x\"; content:\"zz\"; fast_pattern; sid:1;)");
    ASSERT_EQ(r.contents.size(), 3u);
    const Content& a = r.contents[0];
    EXPECT_EQ(a.bytes, "GET  /a;b\"c\\");
    EXPECT_TRUE(a.nocase);
    EXPECT_FALSE(a.negated);
    EXPECT_TRUE(a.has_offset);
    EXPECT_EQ(a.offset.value, 2);
    EXPECT_TRUE(a.has_depth);
    EXPECT_EQ(a.depth.value, 20);
    EXPECT_TRUE(a.buffer.is_payload());
    EXPECT_TRUE(a.anchored());
    EXPECT_FALSE(a.fast_pattern);
    const Content& b = r.contents[1];
    EXPECT_EQ(b.bytes, std::string("\0x", 2));
    EXPECT_TRUE(b.negated);
    EXPECT_FALSE(b.nocase);
    EXPECT_FALSE(b.anchored());
    EXPECT_TRUE(r.contents[2].fast_pattern);
}

TEST(RuleParser, FastPatternVariantsAreAccepted) {
    Rule only =
        one_rule("alert tcp any any -> any any (content:\"abcd\"; fast_pattern:only; sid:1;)");
    EXPECT_TRUE(only.contents[0].fast_pattern);
    EXPECT_TRUE(only.contents[0].fast_pattern_only);
    EXPECT_EQ(only.contents[0].prefilter_bytes(), "abcd");
    Rule chop =
        one_rule("alert tcp any any -> any any (content:\"abcd\"; fast_pattern:1,2; sid:1;)");
    EXPECT_TRUE(chop.contents[0].fast_pattern);
    EXPECT_FALSE(chop.contents[0].fast_pattern_only);
    EXPECT_EQ(chop.contents[0].prefilter_bytes(), "bc");
}

TEST(RuleParser, LastOptionMayOmitSemicolonAndSpacingIsFree) {
    Rule r = one_rule("alert   ip  any any  ->  any any  ( msg : \"x\" ;  sid : 9 )");
    EXPECT_EQ(r.sid, 9u);
    EXPECT_EQ(r.msg, "x");
}

TEST(RuleParser, CommentsBlankLinesAndContinuations) {
    RuleSet set = parse(
        "# a comment\n"
        "\n"
        "   # indented comment\n"
        "alert tcp any any -> any any (msg:\"split\"; \\\n"
        "    content:\"abc\"; \\\n"
        "    sid:1;)\n"
        "#alert tcp any any -> any any (sid:2;)\n"
        "alert udp any any -> any any (sid:3;)\r\n");
    ASSERT_EQ(set.rules().size(), 2u) << issues_text(set.report());
    EXPECT_EQ(set.report().rules_seen, 2u);
    EXPECT_EQ(set.report().loaded, 2u);
    EXPECT_EQ(set.rules()[0].line, 4);
    EXPECT_EQ(set.rules()[0].contents.size(), 1u);
    EXPECT_EQ(set.rules()[1].line, 8);
    EXPECT_EQ(set.rules()[1].sid, 3u);
}

TEST(RuleParser, UnsupportedKeywordsSkipTheRuleAndAreCounted) {
    RuleSet set = parse(
        "alert tcp any any -> any any (msg:\"a\"; sameip; tag:\"x\\;y\"z\"; "
        "sameip; sid:1;)\n"
        "alert tcp any any -> any any (msg:\"b\"; sid:2;)\n"
        "alert tcp any any -> any any (msg:\"c\"; content:\"x\"; http_raw_cookie; sid:3;)\n");
    const LoadReport& rep = set.report();
    EXPECT_EQ(rep.rules_seen, 3u);
    EXPECT_EQ(rep.loaded, 1u);
    EXPECT_TRUE(rep.errors.empty()) << issues_text(rep);
    ASSERT_EQ(rep.unsupported.size(), 2u);
    EXPECT_EQ(rep.unsupported[0].keyword, "sameip");
    EXPECT_EQ(rep.unsupported[0].file, "test.rules");
    EXPECT_EQ(rep.unsupported[0].line, 1);
    EXPECT_EQ(rep.unsupported[0].message, "test.rules:1:40: unsupported keywords 'sameip', 'tag'");
    EXPECT_EQ(rep.unsupported[1].keyword, "http_raw_cookie");
    EXPECT_EQ(rep.unsupported[1].message, "test.rules:3:53: unsupported keyword 'http_raw_cookie'");
    ASSERT_EQ(set.rules().size(), 1u);
    EXPECT_EQ(set.rules()[0].sid, 2u);
}

TEST(RuleParser, UnsupportedProtocolIsReportedNotGuessed) {
    RuleSet set = parse("alert ipv6 any any -> any any (sid:1;)\n");
    ASSERT_EQ(set.report().unsupported.size(), 1u);
    EXPECT_EQ(set.report().unsupported[0].keyword, "protocol ipv6");
    EXPECT_EQ(set.report().unsupported[0].message,
              "test.rules:1:7: unsupported keyword 'protocol ipv6'");
}

TEST(RuleParser, SctpIsARuleProtocol) {
    RuleSet set = parse("alert sctp any 7 -> any 7 (sid:1;)\n");
    ASSERT_EQ(set.rules().size(), 1u) << test_support::issues_text(set.report());
    EXPECT_EQ(set.rules()[0].proto, Protocol::kSctp);
    EXPECT_EQ(set.rules()[0].proto_name, "sctp");
}

TEST(RuleParser, ProtocolsSuricataKnowsAreUnsupportedNotErrors) {
    struct Case {
        const char* rule;
        const char* keyword;
        const char* message;
    };
    const Case cases[] = {
        {"alert ether any any -> any any (sid:1;)", "protocol ether",
         "test.rules:1:7: unsupported keyword 'protocol ether'"},
        {"drop PKTHDR any any -> any any (sid:1;)", "protocol pkthdr",
         "test.rules:1:6: unsupported keyword 'protocol pkthdr'"},
        {"alert doh2 any any -> any any (sid:1;)", "protocol doh2",
         "test.rules:1:7: unsupported keyword 'protocol doh2'"},
        {"alert icmpv6 any any -> any any (sid:1;)", "protocol icmpv6",
         "test.rules:1:7: unsupported keyword 'protocol icmpv6'"},
    };
    for (const Case& c : cases) {
        RuleSet set = parse(std::string(c.rule) + "\n");
        EXPECT_TRUE(set.report().errors.empty()) << c.rule << ": " << issues_text(set.report());
        ASSERT_EQ(set.report().unsupported.size(), 1u) << c.rule;
        EXPECT_EQ(set.report().unsupported[0].keyword, c.keyword);
        EXPECT_EQ(set.report().unsupported[0].message, c.message);
        EXPECT_TRUE(set.rules().empty()) << c.rule;
    }
    // A name Suricata does not know either stays an error.
    RuleSet bad = parse("alert arpx any any -> any any (sid:1;)\n");
    ASSERT_EQ(bad.report().errors.size(), 1u);
    EXPECT_EQ(bad.report().errors[0].message, "test.rules:1:7: unknown protocol 'arpx'");
}

TEST(RuleParser, ArpIsARuleProtocolWithMetaOptionsOnly) {
    RuleSet set = parse(
        "alert arp any any -> any any (sid:1;)\n"
        "alert ARP any any <> any any (msg:\"arp storm\"; classtype:attempted-recon; rev:2; "
        "gid:3; priority:1; reference:url,example.com; metadata:site ot; "
        "threshold:type limit, track by_src, count 1, seconds 60; sid:2;)\n"
        "alert arp any any -> any any (detection_filter:track by_rule, count 5, seconds 1; "
        "sid:3;)\n");
    EXPECT_TRUE(set.report().errors.empty()) << issues_text(set.report());
    EXPECT_TRUE(set.report().unsupported.empty()) << issues_text(set.report());
    ASSERT_EQ(set.rules().size(), 3u);
    EXPECT_EQ(set.rules()[0].proto, Protocol::kArp);
    EXPECT_EQ(set.rules()[0].proto_name, "arp");
    const Rule& meta = set.rules()[1];
    EXPECT_EQ(meta.proto, Protocol::kArp);
    EXPECT_EQ(meta.msg, "arp storm");
    EXPECT_EQ(meta.gid, 3u);
    EXPECT_EQ(meta.priority, 1);
    ASSERT_TRUE(meta.threshold.has_value());
    EXPECT_EQ(meta.threshold->track, Threshold::Track::kBySrc);
    ASSERT_TRUE(set.rules()[2].threshold.has_value());
    EXPECT_EQ(set.rules()[2].threshold->type, Threshold::Type::kDetectionFilter);
}

TEST(RuleParser, ArpRuleWithPacketOptionsIsUnsupportedWithPosition) {
    struct Case {
        const char* rule;
        const char* keyword;
        const char* message;
    };
    const Case cases[] = {
        {"alert arp any any -> any any (content:\"a\"; sid:1;)", "content (arp rule)",
         "test.rules:1:31: unsupported keyword 'content (arp rule)'"},
        {"alert arp any any -> any any (sid:1; flow:established;)", "flow (arp rule)",
         "test.rules:1:38: unsupported keyword 'flow (arp rule)'"},
        {"alert arp any any -> any any (sid:1; ttl:3; dsize:0;)", "ttl (arp rule)",
         "test.rules:1:38: unsupported keywords 'ttl (arp rule)', 'dsize (arp rule)'"},
        {"alert arp any any -> any any (sid:1; arp.opcode:1;)", "arp.opcode (arp rule)",
         "test.rules:1:38: unsupported keyword 'arp.opcode (arp rule)'"},
        {"alert arp 10.0.0.1 any -> any any (sid:1;)", "arp with addresses or ports",
         "test.rules:1:11: unsupported keyword 'arp with addresses or ports'"},
        {"alert arp any any -> any 502 (sid:1;)", "arp with addresses or ports",
         "test.rules:1:11: unsupported keyword 'arp with addresses or ports'"},
    };
    for (const Case& c : cases) {
        RuleSet set = parse(std::string(c.rule) + "\n");
        EXPECT_TRUE(set.report().errors.empty()) << c.rule << ": " << issues_text(set.report());
        ASSERT_EQ(set.report().unsupported.size(), 1u) << c.rule;
        EXPECT_EQ(set.report().unsupported[0].keyword, c.keyword);
        EXPECT_EQ(set.report().unsupported[0].message, c.message);
        EXPECT_TRUE(set.rules().empty()) << c.rule;
    }
    // The same options stay fine on an ip rule.
    RuleSet ip = parse("alert ip any any -> any any (content:\"a\"; dsize:>0; sid:1;)\n");
    EXPECT_EQ(ip.rules().size(), 1u) << issues_text(ip.report());
}

TEST(RuleParser, LlmnrAndMdnsAreAppLayerProtocols) {
    RuleSet set = parse(
        "alert llmnr any any -> any any (flow:to_server; sid:1;)\n"
        "alert MDNS any any -> any any (sid:2;)\n");
    EXPECT_TRUE(set.report().errors.empty()) << issues_text(set.report());
    EXPECT_TRUE(set.report().unsupported.empty()) << issues_text(set.report());
    ASSERT_EQ(set.rules().size(), 2u);
    EXPECT_EQ(set.rules()[0].proto, Protocol::kApp);
    EXPECT_EQ(set.rules()[0].app_proto, "llmnr");
    EXPECT_EQ(set.rules()[1].app_proto, "mdns");
}

TEST(RuleParser, UnsupportedWinsOverValueErrorsButNotOverSyntaxErrors) {
    // flowint might define the name that offset then uses: the value is not ours to judge.
    RuleSet set = parse(
        "alert tcp any any -> any any (content:\"a\"; flowint:var,=,1; "
        "content:\"b\"; offset:var; sid:1;)\n"
        "alert tcp any any -> any any (flow:established; msg:\"x; sid:2;)\n"
        "alert tcp any any -> any any (flow:established; msg:\"x\";)\n");
    ASSERT_EQ(set.report().unsupported.size(), 1u) << issues_text(set.report());
    EXPECT_EQ(set.report().unsupported[0].keyword, "flowint");
    ASSERT_EQ(set.report().errors.size(), 2u);
    EXPECT_EQ(set.report().errors[0].message,
              "test.rules:2:53: unterminated quoted string in option 'msg'");
    EXPECT_EQ(set.report().errors[1].message, "test.rules:3: rule has no sid");
}

TEST(RuleParser, DuplicateSidIsAnErrorForTheLaterRule) {
    RuleSet set = parse(
        "alert ip any any -> any any (msg:\"first\"; sid:5;)\n"
        "alert ip any any -> any any (msg:\"second\"; sid:5;)\n"
        "alert ip any any -> any any (msg:\"other gid\"; gid:2; sid:5;)\n");
    ASSERT_EQ(set.rules().size(), 2u);
    EXPECT_EQ(set.rules()[0].msg, "first");
    EXPECT_EQ(set.rules()[1].msg, "other gid");
    ASSERT_EQ(set.report().errors.size(), 1u);
    EXPECT_EQ(set.report().errors[0].message,
              "test.rules:2: duplicate sid 5 for gid 1, first defined at test.rules:1");
    EXPECT_EQ(set.report().errors[0].keyword, "sid");
}

TEST(RuleParser, ErrorsDoNotStopTheFile) {
    RuleSet set = parse(
        "alert ip any any -> any any (sid:1;)\n"
        "garbage here\n"
        "alert ip any any -> any any (sid:2;)\n");
    EXPECT_EQ(set.rules().size(), 2u);
    ASSERT_EQ(set.report().errors.size(), 1u);
    EXPECT_EQ(set.report().errors[0].message, "test.rules:2:1: unknown action 'garbage'");
    EXPECT_EQ(set.report().errors[0].line, 2);
}

TEST(RuleParser, FormatLoadReport) {
    RuleSet set = parse(
        "alert ip any any -> any any (sid:1; sameip;)\n"
        "alert ip any any -> any any (sid:2; sameip;)\n"
        "alert ip any any -> any any (sid:3; tag:session;)\n"
        "alert ip any any -> any any (sid:4;)\n"
        "alert ip any any -> any any (sid:4;)\n");
    std::string text = format_load_report(set.report());
    EXPECT_NE(text.find("rule files: 1\n"), std::string::npos) << text;
    EXPECT_NE(text.find("rules: 5 seen, 1 loaded, 3 unsupported, 1 errors, 1 unclassified\n"),
              std::string::npos)
        << text;
    size_t flow = text.find("  sameip: 2\n");
    size_t pcre = text.find("  tag: 1\n");
    EXPECT_NE(flow, std::string::npos) << text;
    EXPECT_NE(pcre, std::string::npos) << text;
    EXPECT_LT(flow, pcre) << "most frequent keyword first\n" << text;
    EXPECT_NE(
        text.find("  test.rules:5: duplicate sid 4 for gid 1, first defined at test.rules:4\n"),
        std::string::npos)
        << text;
}

class TempDir {
public:
    TempDir() {
        char tmpl[] = "/tmp/rules_test_XXXXXX";
        const char* made = mkdtemp(tmpl);
        EXPECT_NE(made, nullptr);
        path_ = made == nullptr ? std::filesystem::path() : std::filesystem::path(made);
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    const std::filesystem::path& path() const { return path_; }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path_ / name, std::ios::binary) << text;
    }

private:
    std::filesystem::path path_;
};

TEST(LoadRuleFiles, DirectoriesLoadSortedRulesFilesAndFilesDirectly) {
    TempDir dir;
    dir.write("b.rules", "alert ip any any -> any any (sid:2;)\n");
    dir.write("a.rules",
              "alert ip any any -> any any (sid:1;)\nalert ip any any -> any any (sid:2;)\n");
    dir.write("notes.txt", "alert ip any any -> any any (sid:3;)\n");
    dir.write("extra.conf", "alert ip any any -> any any (sid:4;)\n");
    auto set = load_rule_files({dir.path().string(), (dir.path() / "extra.conf").string()}, {},
                               test_support::taxonomy());
    ASSERT_TRUE(set.has_value()) << set.error().message;
    EXPECT_EQ(set->report().files, 3u);
    ASSERT_EQ(set->rules().size(), 3u) << issues_text(set->report());
    EXPECT_EQ(set->rules()[0].sid, 1u);
    EXPECT_EQ(set->rules()[1].sid, 2u);
    EXPECT_EQ(set->rules()[2].sid, 4u);
    EXPECT_EQ(set->rules()[2].file, (dir.path() / "extra.conf").string());
    // b.rules comes after a.rules, so its sid 2 is the duplicate.
    ASSERT_EQ(set->report().errors.size(), 1u);
    EXPECT_EQ(set->report().errors[0].file, (dir.path() / "b.rules").string());
}

TEST(LoadRuleFiles, UnreadablePathIsAnError) {
    TempDir dir;
    std::string missing = (dir.path() / "missing.rules").string();
    auto set = load_rule_files({missing}, {}, test_support::taxonomy());
    ASSERT_FALSE(set.has_value());
    EXPECT_EQ(set.error().message.rfind(missing + ": ", 0), 0u) << set.error().message;
}

}  // namespace
}  // namespace sensor::rules
