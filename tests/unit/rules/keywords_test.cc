// Parser tests for the keywords beyond content basics: relative content modifiers, payload
// and buffer sizes, pcre, sticky buffers (Suricata, Snort 2 and Snort 3 forms), flow,
// flowbits, thresholds, byte_* keywords, actions and app-layer headers.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/rule_set.h"
#include "rules_test_support.h"

namespace sensor::rules {
namespace {

using core::BufferKind;
using test_support::issues_text;
using test_support::parse;

Rule one_rule(std::string_view options, std::string_view header = "alert tcp any any -> any any") {
    RuleSet set = parse(std::string(header) + " (" + std::string(options) + " sid:1;)");
    EXPECT_EQ(set.rules().size(), 1u) << issues_text(set.report());
    return set.rules().empty() ? Rule{} : set.rules()[0];
}

// The keyword a rule is reported unsupported under.
std::string unsupported_keyword(std::string_view options) {
    RuleSet set = parse("alert tcp any any -> any any (" + std::string(options) + " sid:1;)");
    EXPECT_EQ(set.report().unsupported.size(), 1u) << issues_text(set.report());
    return set.report().unsupported.empty() ? "" : set.report().unsupported[0].keyword;
}

BufferId kind(BufferKind k, bool dotprefix = false) {
    return BufferId{static_cast<uint8_t>(k), dotprefix};
}

TEST(Keywords, DistanceAndWithinAreRelative) {
    Rule r = one_rule("content:\"ab\"; content:\"cd\"; distance:-3; within:10;");
    ASSERT_EQ(r.contents.size(), 2u);
    const Content& c = r.contents[1];
    EXPECT_TRUE(c.relative());
    EXPECT_FALSE(c.anchored());
    EXPECT_EQ(c.distance.value, -3);
    EXPECT_EQ(c.within.value, 10);
    EXPECT_FALSE(r.contents[0].relative());
}

TEST(Keywords, StartswithAnchorsAndEndswithFlags) {
    Rule r = one_rule("content:\"GET\"; startswith; content:\".exe\"; endswith;");
    const Content& a = r.contents[0];
    EXPECT_TRUE(a.startswith);
    EXPECT_TRUE(a.has_offset);
    EXPECT_EQ(a.offset.value, 0);
    EXPECT_EQ(a.depth.value, 3);
    EXPECT_TRUE(r.contents[1].endswith);
    EXPECT_FALSE(r.contents[1].anchored());
}

TEST(Keywords, RawbytesIsAcceptedAsNoOp) {
    Rule r = one_rule("content:\"abc\"; rawbytes;");
    EXPECT_EQ(r.contents.size(), 1u);
}

TEST(Keywords, IsdataatDsizeAndLengths) {
    Rule r = one_rule("content:\"x\"; isdataat:!10,relative; dsize:>20;");
    ASSERT_EQ(r.isdataats.size(), 1u);
    EXPECT_TRUE(r.isdataats[0].negated);
    EXPECT_TRUE(r.isdataats[0].relative);
    EXPECT_EQ(r.isdataats[0].position.value, 10);
    ASSERT_TRUE(r.dsize.has_value());
    EXPECT_EQ(r.dsize->op, IntCheck::Op::kGt);
    EXPECT_EQ(r.dsize->lo, 20u);

    Rule b = one_rule("http.uri; bsize:5<>10; urilen:>3,raw;");
    ASSERT_EQ(b.lengths.size(), 2u);
    EXPECT_EQ(b.lengths[0].buffer, kind(BufferKind::kHttpUri));
    EXPECT_EQ(b.lengths[0].check.op, IntCheck::Op::kRange);
    EXPECT_EQ(b.lengths[1].buffer, kind(BufferKind::kHttpUriRaw));
    EXPECT_EQ(b.lengths[1].check.op, IntCheck::Op::kGt);
}

TEST(Keywords, IntCheckForms) {
    auto check = [](std::string_view text) {
        return one_rule("dsize:" + std::string(text) + ";").dsize;
    };
    EXPECT_TRUE(check("10")->matches(10));
    EXPECT_FALSE(check("10")->matches(11));
    EXPECT_TRUE(check("!10")->matches(11));
    EXPECT_TRUE(check("<10")->matches(9));
    EXPECT_FALSE(check("<10")->matches(10));
    EXPECT_TRUE(check("<=10")->matches(10));
    EXPECT_TRUE(check(">=10")->matches(10));
    EXPECT_FALSE(check(">10")->matches(10));
    // Suricata ranges exclude both ends; Snort 3's <=> includes them.
    EXPECT_FALSE(check("10<>20")->matches(10));
    EXPECT_TRUE(check("10<>20")->matches(11));
    EXPECT_FALSE(check("10<>20")->matches(20));
    EXPECT_TRUE(check("10-20")->matches(19));
    EXPECT_TRUE(check("10<=>20")->matches(20));
    EXPECT_TRUE(check("10<=>20")->matches(10));
}

TEST(Keywords, DsizeNotEqualAndAtLeastNeedAPayload) {
    // As Suricata: its signature mask requires a payload for these forms.
    auto dsize = [](std::string_view text) {
        return one_rule("dsize:" + std::string(text) + ";").dsize;
    };
    EXPECT_FALSE(dsize("!9")->matches(0));
    EXPECT_TRUE(dsize("!9")->matches(1));
    EXPECT_FALSE(dsize("!9")->matches(9));
    EXPECT_FALSE(dsize(">=0")->matches(0));
    EXPECT_TRUE(dsize(">=0")->matches(1));
    // Forms that include zero by themselves still do.
    EXPECT_TRUE(dsize("<10")->matches(0));
    EXPECT_TRUE(dsize("<=0")->matches(0));
    EXPECT_TRUE(dsize("0")->matches(0));
    EXPECT_TRUE(dsize("0<=>5")->matches(0));
    // Other integer checks are plain comparisons: icode:!1 matches code 0.
    Rule i = one_rule("icode:!1; itype:>=0;", "alert icmp any any -> any any");
    EXPECT_TRUE(i.icode->matches(0));
    EXPECT_TRUE(i.itype->matches(0));
}

TEST(Keywords, TcpFlagsAndIcmp) {
    Rule r = one_rule("flags:S,12;");
    ASSERT_TRUE(r.tcp_flags.has_value());
    EXPECT_TRUE(r.tcp_flags->matches(0x02));
    EXPECT_TRUE(r.tcp_flags->matches(0x02 | 0x40 | 0x80));  // ECE and CWR ignored
    EXPECT_FALSE(r.tcp_flags->matches(0x12));               // SYN+ACK is not exactly SYN
    EXPECT_TRUE(one_rule("flags:SA+;").tcp_flags->matches(0x1a));
    EXPECT_FALSE(one_rule("flags:SA+;").tcp_flags->matches(0x02));
    EXPECT_TRUE(one_rule("flags:*SF;").tcp_flags->matches(0x01));
    EXPECT_FALSE(one_rule("flags:!R;").tcp_flags->matches(0x04));
    EXPECT_TRUE(one_rule("flags:!R;").tcp_flags->matches(0x10));
    EXPECT_TRUE(one_rule("flags:0;").tcp_flags->matches(0));
    EXPECT_FALSE(one_rule("flags:0;").tcp_flags->matches(0x10));

    Rule i = one_rule("itype:8; icode:<2;", "alert icmp any any -> any any");
    EXPECT_TRUE(i.itype->matches(8));
    EXPECT_TRUE(i.icode->matches(1));
    EXPECT_FALSE(i.icode->matches(2));
}

TEST(Keywords, Flow) {
    Rule r = one_rule("flow:established,to_server;");
    EXPECT_TRUE(r.flow.established);
    EXPECT_TRUE(r.flow.to_server);
    EXPECT_FALSE(r.flow.to_client);
    EXPECT_TRUE(one_rule("flow:from_server;").flow.to_client);
    EXPECT_TRUE(one_rule("flow:from_client,not_established;").flow.to_server);
    EXPECT_TRUE(one_rule("flow:from_client,not_established;").flow.not_established);
    EXPECT_FALSE(one_rule("flow:stateless;").flow.any());
    EXPECT_TRUE(one_rule("flow:to_client,only_stream;").flow.only_stream);
    EXPECT_TRUE(one_rule("flow:no_stream;").flow.no_stream);
    EXPECT_EQ(unsupported_keyword("flow:established,only_frag;"), "flow:only_frag");
}

TEST(Keywords, PcreFlagsBuffersAndCompile) {
    Rule r = one_rule("pcre:\"/^GET\\s+\\/[a-z]{3}/smi\";");
    ASSERT_EQ(r.pcres.size(), 1u);
    const Pcre& p = r.pcres[0];
    EXPECT_EQ(p.pattern, "^GET\\s+\\/[a-z]{3}");
    EXPECT_EQ(p.flags, "smi");
    EXPECT_TRUE(p.regex.valid());
    EXPECT_EQ(p.compile_options, uint32_t{PCRE2_DOTALL | PCRE2_MULTILINE | PCRE2_CASELESS});
    EXPECT_TRUE(p.buffer.is_payload());
    EXPECT_FALSE(p.relative);

    Rule u = one_rule("content:\"a\"; pcre:!\"/x\\;y/UR\";");
    EXPECT_TRUE(u.pcres[0].negated);
    EXPECT_TRUE(u.pcres[0].relative);
    EXPECT_EQ(u.pcres[0].buffer, kind(BufferKind::kHttpUri));
    // Each flag picks its buffer; a flag wins over the sticky buffer.
    EXPECT_EQ(one_rule("pcre:\"/a/H\";").pcres[0].buffer, kind(BufferKind::kHttpHeader));
    EXPECT_EQ(one_rule("pcre:\"/a/I\";").pcres[0].buffer, kind(BufferKind::kHttpUriRaw));
    EXPECT_EQ(one_rule("pcre:\"/a/M\";").pcres[0].buffer, kind(BufferKind::kHttpMethod));
    EXPECT_EQ(one_rule("pcre:\"/a/C\";").pcres[0].buffer, kind(BufferKind::kHttpCookie));
    EXPECT_EQ(one_rule("pcre:\"/a/P\";").pcres[0].buffer, kind(BufferKind::kHttpRequestBody));
    EXPECT_EQ(one_rule("pcre:\"/a/Q\";").pcres[0].buffer, kind(BufferKind::kHttpResponseBody));
    EXPECT_EQ(one_rule("pcre:\"/1/S\";").pcres[0].buffer, kind(BufferKind::kHttpStatCode));
    EXPECT_EQ(one_rule("pcre:\"/a/V\";").pcres[0].buffer, kind(BufferKind::kHttpUserAgent));
    EXPECT_EQ(one_rule("pcre:\"/a/W\";").pcres[0].buffer, kind(BufferKind::kHttpHost));
    EXPECT_EQ(one_rule("pcre:\"/a/Z\";").pcres[0].buffer, kind(BufferKind::kHttpHostRaw));
    EXPECT_EQ(one_rule("file_data; pcre:\"/a/H\";").pcres[0].buffer, kind(BufferKind::kHttpHeader));
    EXPECT_EQ(one_rule("http.cookie; pcre:\"/a/\";").pcres[0].buffer,
              kind(BufferKind::kHttpCookie));
    // x, A, E, G, O and B are accepted.
    EXPECT_EQ(one_rule("pcre:\"/a b/xAEGOB\";").pcres.size(), 1u);
    // Buffers we do not have stay unsupported rather than matched elsewhere.
    EXPECT_EQ(unsupported_keyword("pcre:\"/a/D\";"), "pcre modifier D");
    EXPECT_EQ(unsupported_keyword("pcre:\"/a/Y\";"), "pcre modifier Y");
}

TEST(Keywords, StickyBuffersAndPktDataReset) {
    Rule r = one_rule(
        "http.method; content:\"POST\"; http.uri; content:\"/gate.php\"; content:\"id=\"; "
        "distance:0; pkt_data; content:\"raw\"; dns.query; content:\"evil\"; tls.sni; "
        "content:\"sni\"; ja3.hash; content:\"abcd\"; file_data; content:\"body\";");
    ASSERT_EQ(r.contents.size(), 8u);
    EXPECT_EQ(r.contents[0].buffer, kind(BufferKind::kHttpMethod));
    EXPECT_EQ(r.contents[1].buffer, kind(BufferKind::kHttpUri));
    EXPECT_EQ(r.contents[2].buffer, kind(BufferKind::kHttpUri));
    EXPECT_TRUE(r.contents[3].buffer.is_payload());
    EXPECT_EQ(r.contents[4].buffer, kind(BufferKind::kDnsQuery));
    EXPECT_EQ(r.contents[5].buffer, kind(BufferKind::kTlsSni));
    EXPECT_EQ(r.contents[6].buffer, kind(BufferKind::kJa3Hash));
    EXPECT_EQ(r.contents[7].buffer.kind, BufferId::kFileData);
    // Lists group items per buffer in first-use order, keeping rule order inside.
    ASSERT_EQ(r.lists.size(), 7u);
    EXPECT_EQ(r.lists[1].buffer, kind(BufferKind::kHttpUri));
    EXPECT_EQ(r.lists[1].items.size(), 2u);
    EXPECT_FALSE(r.app_layer_only());

    const std::vector<std::pair<std::string, BufferKind>> names = {
        {"http.uri.raw", BufferKind::kHttpUriRaw},
        {"http.host", BufferKind::kHttpHost},
        {"http.host.raw", BufferKind::kHttpHostRaw},
        {"http.user_agent", BufferKind::kHttpUserAgent},
        {"http.header", BufferKind::kHttpHeader},
        {"http.cookie", BufferKind::kHttpCookie},
        {"http.stat_code", BufferKind::kHttpStatCode},
        {"http.request_body", BufferKind::kHttpRequestBody},
        {"http.response_body", BufferKind::kHttpResponseBody},
        {"dns_query", BufferKind::kDnsQuery},
        {"tls_sni", BufferKind::kTlsSni},
        {"ja3_hash", BufferKind::kJa3Hash},
        {"ja3.string", BufferKind::kJa3String},
        {"ja3_string", BufferKind::kJa3String},
        {"ja3s.hash", BufferKind::kJa3sHash},
        {"tls.cert_subject", BufferKind::kTlsCertSubject},
        {"tls_cert_subject", BufferKind::kTlsCertSubject},
        {"tls.cert_issuer", BufferKind::kTlsCertIssuer},
        {"tls_cert_issuer", BufferKind::kTlsCertIssuer},
        {"tls.cert_serial", BufferKind::kTlsCertSerial},
        {"tls_cert_serial", BufferKind::kTlsCertSerial},
        {"tls.certs", BufferKind::kTlsCerts},
    };
    for (const auto& [name, k] : names) {
        Rule s = one_rule(name + "; content:\"abc\";");
        ASSERT_EQ(s.contents.size(), 1u) << name;
        EXPECT_EQ(s.contents[0].buffer, kind(k)) << name;
        EXPECT_TRUE(s.app_layer_only()) << name;
    }
}

TEST(Keywords, Snort2ModifiersMoveThePrecedingContent) {
    Rule r = one_rule(
        "content:\"GET\"; http_method; content:\"/a\"; http_uri; content:\"b\"; distance:0; "
        "http_uri; content:\"payload\"; uricontent:\"/c\"; content:\"x\"; http_client_body;");
    ASSERT_EQ(r.contents.size(), 6u);
    EXPECT_EQ(r.contents[0].buffer, kind(BufferKind::kHttpMethod));
    EXPECT_EQ(r.contents[1].buffer, kind(BufferKind::kHttpUri));
    EXPECT_EQ(r.contents[2].buffer, kind(BufferKind::kHttpUri));
    EXPECT_TRUE(r.contents[3].buffer.is_payload());
    EXPECT_EQ(r.contents[4].buffer, kind(BufferKind::kHttpUri));
    EXPECT_EQ(r.contents[5].buffer, kind(BufferKind::kHttpRequestBody));
    const std::vector<std::pair<std::string, BufferKind>> names = {
        {"http_raw_uri", BufferKind::kHttpUriRaw},
        {"http_host", BufferKind::kHttpHost},
        {"http_raw_host", BufferKind::kHttpHostRaw},
        {"http_user_agent", BufferKind::kHttpUserAgent},
        {"http_header", BufferKind::kHttpHeader},
        {"http_cookie", BufferKind::kHttpCookie},
        {"http_stat_code", BufferKind::kHttpStatCode},
        {"http_server_body", BufferKind::kHttpResponseBody},
    };
    for (const auto& [name, k] : names) {
        Rule s = one_rule("content:\"abc\"; " + name + ";");
        EXPECT_EQ(s.contents[0].buffer, kind(k)) << name;
    }
}

TEST(Keywords, Snort3DialectMakesHttpKeywordsSticky) {
    // service: (or the short header, or comma content modifiers) marks a Snort 3 rule.
    Rule r = one_rule(
        "flow:to_server,established; http_uri; content:\"/hsx.cgi\"; http_raw_uri; "
        "content:\"../\",fast_pattern,nocase; content:\"%00\",distance 1; service:http;");
    ASSERT_EQ(r.contents.size(), 3u);
    EXPECT_EQ(r.contents[0].buffer, kind(BufferKind::kHttpUri));
    EXPECT_EQ(r.contents[1].buffer, kind(BufferKind::kHttpUriRaw));
    EXPECT_TRUE(r.contents[1].fast_pattern);
    EXPECT_TRUE(r.contents[1].nocase);
    EXPECT_EQ(r.contents[2].buffer, kind(BufferKind::kHttpUriRaw));
    EXPECT_EQ(r.contents[2].distance.value, 1);
    EXPECT_EQ(r.services, std::vector<std::string>{"http"});

    RuleSet bad = parse("alert http (http_client_body; content:\"xy\",within 5,depth 2; sid:1;)");
    ASSERT_EQ(bad.report().errors.size(), 1u) << issues_text(bad.report());
    EXPECT_EQ(bad.report().errors[0].message,
              "test.rules:1:39: 'depth' cannot be combined with 'within' on one content");
    Rule t = one_rule("http_header; content:\"User-Agent\";", "alert http");
    EXPECT_EQ(t.contents[0].buffer, kind(BufferKind::kHttpHeader));
    EXPECT_EQ(t.proto, Protocol::kApp);
    EXPECT_EQ(one_rule("service:ssl,dns;").services, (std::vector<std::string>{"tls", "dns"}));
    Rule chop =
        one_rule("content:\"abcdefgh\",fast_pattern,fast_pattern_offset 2,fast_pattern_length 3;",
                 "alert tcp any any -> any any");
    EXPECT_EQ(chop.contents[0].prefilter_bytes(), "cde");
    EXPECT_EQ(unsupported_keyword("http_header:field user-agent; content:\"x\"; service:http;"),
              "http_header:field user-agent");
}

TEST(Keywords, DotprefixTransformsTheStickyBuffer) {
    Rule r = one_rule("dns.query; dotprefix; content:\".evil.com\"; endswith;");
    ASSERT_EQ(r.contents.size(), 1u);
    EXPECT_EQ(r.contents[0].buffer, kind(BufferKind::kDnsQuery, true));
    EXPECT_NE(r.contents[0].buffer.slot(), kind(BufferKind::kDnsQuery).slot());
    EXPECT_EQ(BufferId::from_slot(r.contents[0].buffer.slot()), r.contents[0].buffer);
    EXPECT_EQ(buffer_name(r.contents[0].buffer), "dns.query (dotprefix)");
}

TEST(Keywords, FlowbitsGetIdsAcrossTheRuleSet) {
    RuleSet set = parse(
        "alert tcp any any -> any any (flowbits:set,ET.a; flowbits:noalert; sid:1;)\n"
        "alert tcp any any -> any any (flowbits:isset,ET.b|ET.a; sid:2;)\n"
        "alert tcp any any -> any any (flowbits:unset,ET.b; flowbits:toggle,c; "
        "flowbits:isnotset,c; sid:3;)\n");
    ASSERT_EQ(set.rules().size(), 3u) << issues_text(set.report());
    EXPECT_EQ(set.flowbit_names(), (std::vector<std::string>{"ET.a", "ET.b", "c"}));
    const Rule& a = set.rules()[0];
    EXPECT_TRUE(a.noalert);
    ASSERT_EQ(a.flowbits.size(), 1u);
    EXPECT_EQ(a.flowbits[0].cmd, FlowbitOp::Cmd::kSet);
    EXPECT_EQ(a.flowbits[0].ids, std::vector<uint16_t>{0});
    const Rule& b = set.rules()[1];
    EXPECT_EQ(b.flowbits[0].cmd, FlowbitOp::Cmd::kIsSet);
    EXPECT_EQ(b.flowbits[0].ids, (std::vector<uint16_t>{1, 0}));
    const Rule& c = set.rules()[2];
    ASSERT_EQ(c.flowbits.size(), 3u);
    EXPECT_EQ(c.flowbits[0].cmd, FlowbitOp::Cmd::kUnset);
    EXPECT_EQ(c.flowbits[1].cmd, FlowbitOp::Cmd::kToggle);
    EXPECT_EQ(c.flowbits[2].cmd, FlowbitOp::Cmd::kIsNotSet);
    EXPECT_TRUE(one_rule("noalert;").noalert);
    EXPECT_EQ(unsupported_keyword("flowbits:set,a,group1;"), "flowbits group");
    // Snort 3 `a&b`: all of them.
    Rule all = one_rule("flowbits:set,x&y; flowbits:isset,x&y;");
    ASSERT_EQ(all.flowbits.size(), 2u);
    EXPECT_TRUE(all.flowbits[0].all);
    EXPECT_EQ(all.flowbits[0].ids.size(), 2u);
    EXPECT_TRUE(all.flowbits[1].all);
    EXPECT_FALSE(b.flowbits[0].all);
}

TEST(Keywords, XbitsCommandsTracksAndExpiry) {
    Rule r = one_rule(
        "xbits:set,ET.a,track ip_src,expire 15; xbits:isset, ET.b , track ip_dst; "
        "xbits:unset,ET.a,expire 30,track ip_pair; xbits:toggle,c,track  ip_src; "
        "xbits:isnotset,ET.CVE-2023-46604.attempt, track ip_dst, expire 300; xbits:noalert;");
    ASSERT_EQ(r.xbits.size(), 5u);
    EXPECT_TRUE(r.noalert);
    EXPECT_TRUE(r.flowbits.empty());
    const XbitOp& a = r.xbits[0];
    EXPECT_EQ(a.cmd, FlowbitOp::Cmd::kSet);
    EXPECT_EQ(a.name, "ET.a");
    EXPECT_EQ(a.track, XbitOp::Track::kIpSrc);
    EXPECT_EQ(a.expire, 15u);
    EXPECT_FALSE(a.is_check());
    const XbitOp& b = r.xbits[1];
    EXPECT_EQ(b.cmd, FlowbitOp::Cmd::kIsSet);
    EXPECT_EQ(b.name, "ET.b");
    EXPECT_EQ(b.track, XbitOp::Track::kIpDst);
    EXPECT_EQ(b.expire, XbitOp::kDefaultExpire);
    EXPECT_TRUE(b.is_check());
    EXPECT_EQ(r.xbits[2].cmd, FlowbitOp::Cmd::kUnset);
    EXPECT_EQ(r.xbits[2].track, XbitOp::Track::kIpPair);
    EXPECT_EQ(r.xbits[2].expire, 30u);
    EXPECT_EQ(r.xbits[3].cmd, FlowbitOp::Cmd::kToggle);
    EXPECT_EQ(r.xbits[4].cmd, FlowbitOp::Cmd::kIsNotSet);
    EXPECT_EQ(r.xbits[4].name, "ET.CVE-2023-46604.attempt");
    EXPECT_EQ(r.xbits[4].expire, 300u);
    // The name alone is the bit's identity, whatever the track and rule set.
    EXPECT_EQ(a.name_hash, r.xbits[2].name_hash);
    EXPECT_NE(a.name_hash, b.name_hash);
    EXPECT_EQ(one_rule("xbits:isset,ET.a,track ip_dst;").xbits[0].name_hash, a.name_hash);
    EXPECT_EQ(one_rule("xbits:set,x,track ip_src,expire 4294967295;").xbits[0].expire, 4294967295u);
    // An ARP frame has no IP header: no host to keep a bit for.
    RuleSet arp = parse("alert arp any any -> any any (xbits:set,a,track ip_src; sid:1;)");
    ASSERT_EQ(arp.report().unsupported.size(), 1u) << issues_text(arp.report());
    EXPECT_EQ(arp.report().unsupported[0].keyword, "xbits (arp rule)");
}

TEST(Keywords, TlsVersionNamedOrHex) {
    const std::pair<std::string_view, uint16_t> named[] = {
        {"1.0", 0x0301}, {"1.1", 0x0302}, {"1.2", 0x0303}, {"1.3", 0x0304}, {"\"1.2\"", 0x0303}};
    for (const auto& [text, version] : named) {
        Rule r = one_rule("tls.version:" + std::string(text) + ";", "alert tls any any -> any any");
        ASSERT_TRUE(r.tls_version.has_value()) << text;
        EXPECT_EQ(r.tls_version->version, version) << text;
        EXPECT_FALSE(r.tls_version->raw) << text;
    }
    Rule hex = one_rule("tls.version: 0x7F1c ;");
    ASSERT_TRUE(hex.tls_version.has_value());
    EXPECT_EQ(hex.tls_version->version, 0x7f1c);
    EXPECT_TRUE(hex.tls_version->raw);
    EXPECT_FALSE(one_rule("content:\"x\";").tls_version.has_value());
}

TEST(Keywords, ThresholdAndDetectionFilter) {
    Rule r = one_rule("threshold: type both, track by_dst, count 5, seconds 120;");
    ASSERT_TRUE(r.threshold.has_value());
    EXPECT_EQ(r.threshold->type, Threshold::Type::kBoth);
    EXPECT_EQ(r.threshold->track, Threshold::Track::kByDst);
    EXPECT_EQ(r.threshold->count, 5u);
    EXPECT_EQ(r.threshold->seconds, 120u);
    Rule d = one_rule("detection_filter:track by_src, count 30, seconds 60;");
    EXPECT_EQ(d.threshold->type, Threshold::Type::kDetectionFilter);
    EXPECT_EQ(d.threshold->count, 30u);
    EXPECT_EQ(one_rule("threshold:type limit,track by_rule,count 1,seconds 1;").threshold->track,
              Threshold::Track::kByRule);
    EXPECT_EQ(one_rule("threshold:type threshold,track by_both,count 1,seconds 1;").threshold->type,
              Threshold::Type::kThreshold);
    EXPECT_EQ(unsupported_keyword("threshold:type limit,track by_flow,count 1,seconds 1;"),
              "threshold:track by_flow");
}

TEST(Keywords, ByteKeywordsAndVariables) {
    Rule r = one_rule(
        "content:\"|00|\"; byte_extract:2,0,len,relative,little,multiplier 2,align 4; "
        "byte_test:4,!&,0x10,len,relative,bitmask 0x0ff0; "
        "byte_jump:2,1,relative,string,hex,align,post_offset -2,from_beginning; "
        "content:\"x\"; distance:len; within:len; isdataat:len,relative;");
    ASSERT_EQ(r.byte_ops.size(), 3u);
    EXPECT_EQ(r.byte_vars, std::vector<std::string>{"len"});
    const ByteOp& e = r.byte_ops[0];
    EXPECT_EQ(e.kind, ByteOp::Kind::kExtract);
    EXPECT_EQ(e.nbytes, 2);
    EXPECT_TRUE(e.relative);
    EXPECT_TRUE(e.little_endian);
    EXPECT_EQ(e.multiplier, 2u);
    EXPECT_EQ(e.align, 4);
    EXPECT_EQ(e.var, 0);
    const ByteOp& t = r.byte_ops[1];
    EXPECT_EQ(t.kind, ByteOp::Kind::kTest);
    EXPECT_EQ(t.cmp, ByteOp::Cmp::kAnd);
    EXPECT_TRUE(t.negate);
    EXPECT_EQ(t.value.value, 0x10);
    EXPECT_EQ(t.offset.var, 0);
    EXPECT_EQ(t.bitmask, 0x0ff0u);
    const ByteOp& j = r.byte_ops[2];
    EXPECT_EQ(j.kind, ByteOp::Kind::kJump);
    EXPECT_EQ(j.base, NumBase::kHex);
    EXPECT_TRUE(j.align4);
    EXPECT_TRUE(j.from_beginning);
    EXPECT_EQ(j.post_offset, -2);
    EXPECT_EQ(r.contents[1].distance.var, 0);
    EXPECT_EQ(r.contents[1].within.var, 0);
    EXPECT_EQ(r.isdataats[0].position.var, 0);
    // Items keep rule order in one payload list.
    ASSERT_EQ(r.lists.size(), 1u);
    EXPECT_EQ(r.lists[0].items.size(), 6u);
    EXPECT_EQ(r.lists[0].items[1].kind, Item::Kind::kByteOp);

    Rule s = one_rule("byte_test:3,<,100,0,string;");
    EXPECT_EQ(s.byte_ops[0].base, NumBase::kDec);  // string defaults to decimal
    EXPECT_EQ(unsupported_keyword("byte_test:4,=,1,0,dce;"), "byte_test dce");
    EXPECT_EQ(unsupported_keyword("byte_jump:4,0,relative,dce;"), "byte_jump dce");
}

TEST(Keywords, ActionsTargetAndAppHeaders) {
    EXPECT_EQ(one_rule("content:\"x\";", "pass tcp any any -> any any").action, Action::kPass);
    EXPECT_EQ(one_rule("content:\"x\";", "drop tcp any any -> any any").action, Action::kDrop);
    EXPECT_EQ(one_rule("content:\"x\";", "reject tcp any any -> any any").action, Action::kReject);
    EXPECT_EQ(one_rule("target:dest_ip;").target, "dest_ip");
    Rule h = one_rule("http.uri; content:\"x\";", "alert http any any -> any any");
    EXPECT_EQ(h.proto, Protocol::kApp);
    EXPECT_EQ(h.app_proto, "http");
    EXPECT_EQ(one_rule("", "alert ssl any any -> any any").app_proto, "tls");
    EXPECT_EQ(one_rule("", "alert http1 any any -> any any").app_proto, "http");
    EXPECT_EQ(one_rule("", "alert modbus any any -> any any").app_proto, "modbus");
}

TEST(Keywords, MoreHttpStickyBuffersAndTheirOlderNames) {
    const std::vector<std::pair<std::string, BufferKind>> names = {
        {"http.request_line", BufferKind::kHttpRequestLine},
        {"http_request_line", BufferKind::kHttpRequestLine},
        {"http.response_line", BufferKind::kHttpResponseLine},
        {"http_response_line", BufferKind::kHttpResponseLine},
        {"http.protocol", BufferKind::kHttpProtocol},
        {"http_protocol", BufferKind::kHttpProtocol},
        {"http.stat_msg", BufferKind::kHttpStatMsg},
        {"http.header_names", BufferKind::kHttpHeaderNames},
        {"http_header_names", BufferKind::kHttpHeaderNames},
        {"http.start", BufferKind::kHttpStart},
        {"http_start", BufferKind::kHttpStart},
        {"http.content_type", BufferKind::kHttpContentType},
        {"http_content_type", BufferKind::kHttpContentType},
        {"http.content_len", BufferKind::kHttpContentLen},
        {"http_content_len", BufferKind::kHttpContentLen},
        {"http.referer", BufferKind::kHttpReferer},
        {"http_referer", BufferKind::kHttpReferer},
        {"http.accept", BufferKind::kHttpAccept},
        {"http_accept", BufferKind::kHttpAccept},
        {"http.accept_enc", BufferKind::kHttpAcceptEnc},
        {"http_accept_enc", BufferKind::kHttpAcceptEnc},
        {"http.accept_lang", BufferKind::kHttpAcceptLang},
        {"http_accept_lang", BufferKind::kHttpAcceptLang},
        {"http.connection", BufferKind::kHttpConnection},
        {"http_connection", BufferKind::kHttpConnection},
        {"http.location", BufferKind::kHttpLocation},
        {"http.server", BufferKind::kHttpServer},
        {"http.header.raw", BufferKind::kHttpHeaderRaw},
    };
    for (const auto& [name, k] : names) {
        // Sticky: the content after the keyword looks in the buffer, the one before does not.
        Rule s = one_rule("content:\"pay\"; " + name + "; content:\"abc\"; bsize:>2;");
        ASSERT_EQ(s.contents.size(), 2u) << name;
        EXPECT_TRUE(s.contents[0].buffer.is_payload()) << name;
        EXPECT_EQ(s.contents[1].buffer, kind(k)) << name;
        ASSERT_EQ(s.lengths.size(), 1u) << name;
        EXPECT_EQ(s.lengths[0].buffer, kind(k)) << name;
        EXPECT_EQ(buffer_name(kind(k)).find("http."), 0u) << name;
    }
    // Suricata's content modifiers of the same family move the preceding content.
    const std::vector<std::pair<std::string, BufferKind>> modifiers = {
        {"http_stat_msg", BufferKind::kHttpStatMsg},
        {"http_raw_header", BufferKind::kHttpHeaderRaw},
    };
    for (const auto& [name, k] : modifiers) {
        Rule s = one_rule("content:\"abc\"; " + name + "; content:\"pay\";");
        ASSERT_EQ(s.contents.size(), 2u) << name;
        EXPECT_EQ(s.contents[0].buffer, kind(k)) << name;
        EXPECT_TRUE(s.contents[1].buffer.is_payload()) << name;
    }
    EXPECT_EQ(buffer_name(kind(BufferKind::kHttpHeaderNames)), "http.header_names");
    EXPECT_EQ(buffer_name(kind(BufferKind::kHttpHeaderRaw)), "http.header.raw");
    // ET's "Content-Length is 0" idiom: byte_test count 0 reads the buffer's whole number.
    Rule cl = one_rule("http.content_len; byte_test:0,=,0,0,string,dec;");
    ASSERT_EQ(cl.byte_ops.size(), 1u);
    EXPECT_EQ(cl.byte_ops[0].buffer, kind(BufferKind::kHttpContentLen));
}

TEST(Keywords, AppLayerProtocol) {
    using Mode = AppProtoCheck::Mode;
    struct Case {
        std::string value;
        std::string name;
        bool negated;
        Mode mode;
    };
    const std::vector<Case> cases = {
        {"http", "http", false, Mode::kDirection},
        {"!tls", "tls", true, Mode::kDirection},
        {"ssl", "tls", false, Mode::kDirection},
        {"HTTP1", "http1", false, Mode::kDirection},
        {"failed", "failed", false, Mode::kDirection},
        {"!failed", "failed", true, Mode::kDirection},
        {"unknown", "unknown", false, Mode::kDirection},
        {"!http,final", "http", true, Mode::kFinal},
        {"http1,to_server", "http1", false, Mode::kToServer},
        {"ssh, to_client", "ssh", false, Mode::kToClient},
        {"dns,either", "dns", false, Mode::kEither},
        {"http2,original", "http2", false, Mode::kOriginal},
        {" ! smb ,direction", "smb", true, Mode::kDirection},
    };
    for (const Case& c : cases) {
        Rule r = one_rule("app-layer-protocol:" + c.value + ";");
        ASSERT_EQ(r.app_protocols.size(), 1u) << c.value;
        EXPECT_EQ(r.app_protocols[0].name, c.name) << c.value;
        EXPECT_EQ(r.app_protocols[0].negated, c.negated) << c.value;
        EXPECT_EQ(r.app_protocols[0].mode, c.mode) << c.value;
    }
    EXPECT_EQ(one_rule("app-layer-protocol:http1,to_server; app-layer-protocol:ssh,to_client;")
                  .app_protocols.size(),
              2u);

    const std::vector<std::pair<std::string, std::string>> errors = {
        {"app-layer-protocol:!unknown;", "app-layer-protocol 'unknown' cannot be negated"},
        {"app-layer-protocol:http,sideways;", "unknown app-layer-protocol mode 'sideways'"},
        {"app-layer-protocol:!;", "app-layer-protocol needs a protocol name"},
        {"app-layer-protocol;", "option 'app-layer-protocol' needs a value"},
    };
    for (const auto& [options, message] : errors) {
        RuleSet set = parse("alert tcp any any -> any any (" + options + " sid:1;)");
        ASSERT_EQ(set.report().errors.size(), 1u) << options << issues_text(set.report());
        EXPECT_NE(set.report().errors[0].message.find(message), std::string::npos)
            << set.report().errors[0].message;
    }
    // Valid Suricata forms we do not evaluate are unsupported, not errors.
    EXPECT_EQ(unsupported_keyword("app-layer-protocol:nosuchproto;"),
              "app-layer-protocol:nosuchproto");
    EXPECT_EQ(unsupported_keyword("app-layer-protocol:tls|http;"), "app-layer-protocol:tls|http");
    EXPECT_EQ(unsupported_keyword("app-layer-protocol:dns,exact;"), "app-layer-protocol:dns,exact");

    // Suricata's PD-only signatures: app-layer-protocol with flow and flowbit sets at most.
    const std::vector<std::pair<std::string, bool>> pd_only = {
        {"app-layer-protocol:!http; flow:to_server;", true},
        {"app-layer-protocol:tls; flowbits:set,x;", true},
        {"app-layer-protocol:tls; flowbits:isset,x;", false},
        {"app-layer-protocol:tls; content:\"x\";", false},
        {"app-layer-protocol:tls; dsize:>1;", false},
        {"flow:to_server;", false},
    };
    for (const auto& [options, want] : pd_only) {
        EXPECT_EQ(one_rule(options).protocol_detection_only(), want) << options;
    }
    EXPECT_FALSE(one_rule("app-layer-protocol:tls;", "alert http any any -> any any")
                     .protocol_detection_only());
}

}  // namespace
}  // namespace sensor::rules
