#include "rules/compiled_rules.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <span>
#include <string>
#include <vector>

#include "rules_test_support.h"

namespace sensor::rules {
namespace {

using test_support::parse;

const size_t kTcpToServer = payload_variant(PayloadProto::kTcp, false);

Rule rule_with(const std::string& options) {
    RuleSet set = parse("alert tcp any any -> any any (" + options + " sid:1;)");
    EXPECT_EQ(set.rules().size(), 1u) << test_support::issues_text(set.report());
    return set.rules().empty() ? Rule{} : set.rules()[0];
}

TEST(FastPattern, LongestPositiveContentByDefault) {
    EXPECT_EQ(choose_fast_pattern(rule_with("content:\"abcd\"; content:\"abcdefgh\";")), 1);
    // Negated contents cannot select candidates, however long.
    EXPECT_EQ(choose_fast_pattern(rule_with("content:!\"abcdefghijk\"; content:\"abcde\";")), 1);
    // Ties go to the first.
    EXPECT_EQ(choose_fast_pattern(rule_with("content:\"wxyz\"; content:\"abcd\";")), 0);
}

TEST(FastPattern, ExplicitFastPatternWins) {
    EXPECT_EQ(
        choose_fast_pattern(rule_with("content:\"abcd\"; fast_pattern; content:\"abcdefgh\";")), 0);
    // A fast_pattern content too short for the prefilter yields to the longest one.
    EXPECT_EQ(choose_fast_pattern(rule_with("content:\"ab\"; fast_pattern; content:\"abcdef\";")),
              1);
    // On a negated content the hint is ignored.
    EXPECT_EQ(
        choose_fast_pattern(rule_with("content:!\"abcdefgh\"; fast_pattern; content:\"abcd\";")),
        1);
}

TEST(FastPattern, ShortOrMissingContentMeansNoPattern) {
    EXPECT_EQ(choose_fast_pattern(rule_with("content:\"abc\";")), -1);
    EXPECT_EQ(choose_fast_pattern(rule_with("content:!\"abcdef\";")), -1);
    EXPECT_EQ(choose_fast_pattern(rule_with("")), -1);
}

std::string anchored(const std::string& options, int expect_index = 0) {
    std::string expression;
    unsigned flags = 0;
    const int index = choose_anchored_pattern(rule_with(options), expression, flags);
    EXPECT_EQ(index, expect_index) << options;
    if (flags == HS_FLAG_CASELESS) {
        expression += " (nocase)";
    }
    return index < 0 ? "" : expression;
}

TEST(AnchoredPattern, ShortContentNearThePayloadStartBecomesAnAnchoredExpression) {
    EXPECT_EQ(anchored("content:\"|18 03|\"; depth:2;"), "\\A\\x18\\x03");
    EXPECT_EQ(anchored("content:\"|01|\"; offset:5; depth:3;"), "\\A(?s:.{5,7})\\x01");
    EXPECT_EQ(anchored("content:\"ab\"; startswith; nocase;"), "\\A\\x61\\x62 (nocase)");
    // The longest qualifying content wins.
    EXPECT_EQ(anchored("content:\"a\"; depth:4; content:\"bcd\"; offset:10; depth:3;", 1),
              "\\A(?s:.{10,10})\\x62\\x63\\x64");
}

TEST(AnchoredPattern, UnboundedRelativeNegatedOrVariablePositionsDoNotQualify) {
    anchored("content:\"ab\";", -1);                                       // anywhere
    anchored("content:\"ab\"; offset:3;", -1);                             // no upper bound
    anchored("content:\"ab\"; offset:40; depth:30;", -1);                  // past the window
    anchored("content:!\"ab\"; depth:2;", -1);                             // negated
    anchored("content:\"x\"; content:\"ab\"; distance:0; within:2;", -1);  // relative
    anchored("byte_extract:1,0,n; content:\"ab\"; depth:n;", -1);          // variable depth
    anchored("http.uri; content:\"ab\"; depth:2;", -1);  // app-layer buffers take any length
}

TEST(CompiledRules, AnchoredShortContentIsPrefilteredNotAlwaysEvaluated) {
    RuleSet set = parse(
        "alert tcp any any -> any any (content:\"|18 03|\"; depth:2; sid:1;)\n"
        "alert tcp any any -> any any (content:\"ab\"; sid:2;)\n"
        "alert tcp any any -> any any (content:\"abcd\"; content:\"|01|\"; depth:1; sid:3;)\n");
    ASSERT_EQ(set.rules().size(), 3u);
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    const CompiledRules& c = **compiled;
    EXPECT_EQ(c.anchored_prefilter(0), 0);
    EXPECT_EQ(c.anchored_prefilter(1), -1);
    EXPECT_EQ(c.anchored_prefilter(2), -1);  // has a fast pattern
    EXPECT_EQ(c.fast_pattern(2), 0);
    EXPECT_EQ(std::vector<uint32_t>(c.prefiltered().begin(), c.prefiltered().end()),
              (std::vector<uint32_t>{0, 2}));
    EXPECT_EQ(std::vector<uint32_t>(c.always_candidates().begin(), c.always_candidates().end()),
              (std::vector<uint32_t>{1}));
    EXPECT_NE(c.payload_pcre_database(kTcpToServer), nullptr);
    EXPECT_EQ(c.payload_pcre_database(payload_variant(PayloadProto::kUdp, false)), nullptr);
}

// A stop during a reload sets the cancel flag: the compile starts no further database and
// fails, so the process does not wait for the whole rule set.
TEST(CompiledRules, ACancelledCompileFailsAndACompileNotCancelledDoesNot) {
    RuleSet set = parse(
        "alert tcp any any -> any any (content:\"cancel-me\"; sid:1;)\n"
        "alert udp any any -> any any (content:\"and-me\"; sid:2;)\n");
    std::atomic<bool> cancel{true};
    CompileOptions options;
    options.threads = 1;
    options.cancel = &cancel;
    auto cancelled = CompiledRules::compile(set, options);
    ASSERT_FALSE(cancelled.has_value());
    EXPECT_EQ(cancelled.error().message, "compile cancelled");
    cancel = false;
    auto compiled = CompiledRules::compile(set, options);
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    EXPECT_NE((*compiled)->payload_database(kTcpToServer), nullptr);
}

TEST(CompiledRules, SplitsPrefilteredAndAlwaysCandidates) {
    RuleSet set = parse(
        "alert tcp any any -> any any (content:\"|00 01 02 ff|\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"ab\"; sid:2;)\n"
        "alert tcp any any -> any any (content:\"Hello\"; nocase; sid:3;)\n"
        "alert tcp any any -> any any (sid:4;)\n");
    ASSERT_EQ(set.rules().size(), 4u);
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    const CompiledRules& c = **compiled;
    ASSERT_NE(c.payload_database(kTcpToServer), nullptr);
    EXPECT_EQ(std::vector<uint32_t>(c.prefiltered().begin(), c.prefiltered().end()),
              (std::vector<uint32_t>{0, 2}));
    EXPECT_EQ(std::vector<uint32_t>(c.always_candidates().begin(), c.always_candidates().end()),
              (std::vector<uint32_t>{1, 3}));
    EXPECT_EQ(c.fast_pattern(0), 0);
    EXPECT_EQ(c.fast_pattern(1), -1);
    EXPECT_TRUE(c.usable(1));
    EXPECT_TRUE(c.issues().empty());
}

struct ScanHits {
    std::vector<unsigned> ids;
};

int record(unsigned int id, unsigned long long, unsigned long long, unsigned int, void* ctx) {
    static_cast<ScanHits*>(ctx)->ids.push_back(id);
    return 0;
}

TEST(CompiledRules, DatabaseMatchesAnyByteAndHonoursNocase) {
    RuleSet set = parse(
        "alert tcp any any -> any any (content:\"|00 2e 2a 5c|x\"; sid:1;)\n"  // NUL . * \ x
        "alert tcp any any -> any any (content:\"Hello\"; nocase; sid:2;)\n"
        "alert tcp any any -> any any (content:\"World\"; sid:3;)\n");
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    const hs_database_t* db = (*compiled)->payload_database(kTcpToServer);
    ASSERT_NE(db, nullptr);
    hs_scratch_t* scratch = nullptr;
    ASSERT_EQ(hs_alloc_scratch(db, &scratch), HS_SUCCESS);
    auto scan = [&](const std::string& data) {
        ScanHits hits;
        EXPECT_EQ(
            hs_scan(db, data.data(), static_cast<unsigned>(data.size()), 0, scratch, record, &hits),
            HS_SUCCESS);
        return hits.ids;
    };
    EXPECT_EQ(scan(std::string("..\0.*\\x..", 9)), (std::vector<unsigned>{0}));
    EXPECT_TRUE(scan("..a.*\\x..").empty());  // '.' and '*' are literal, not regex
    EXPECT_EQ(scan("hELLO"), (std::vector<unsigned>{1}));
    EXPECT_TRUE(scan("world").empty());  // case-sensitive without nocase
    EXPECT_EQ(scan("World"), (std::vector<unsigned>{2}));
    hs_free_scratch(scratch);
}

TEST(FastPattern, AppLayerBuffersTakeShortPatternsAndChopIsHonoured) {
    // A 3-byte http.method content is worth a prefilter pattern; in the payload it is not.
    EXPECT_EQ(choose_fast_pattern(rule_with("http.method; content:\"GET\";")), 0);
    EXPECT_EQ(choose_fast_pattern(rule_with("content:\"abc\"; http.uri; content:\"xy\";")), 1);
    // fast_pattern:offset,length measures the chopped bytes.
    EXPECT_EQ(
        choose_fast_pattern(rule_with("content:\"abcdefgh\"; fast_pattern:0,2; content:\"wxyz\";")),
        1);
}

std::vector<uint32_t> ranks(std::span<const uint32_t> s) { return {s.begin(), s.end()}; }

TEST(CompiledRules, EvaluationOrderFollowsActionFlowbitsAndPriority) {
    RuleSet set = parse(
        "alert tcp any any -> any any (flowbits:isset,x; priority:1; sid:1;)\n"
        "alert tcp any any -> any any (priority:2; sid:2;)\n"
        "alert tcp any any -> any any (flowbits:set,x; priority:3; sid:3;)\n"
        "drop tcp any any -> any any (priority:3; sid:4;)\n"
        "pass tcp any any -> any any (priority:3; sid:5;)\n"
        "alert tcp any any -> any any (priority:1; sid:6;)\n"
        "alert tcp any any -> any any (flowbits:isset,x; flowbits:set,y; sid:7;)\n");
    ASSERT_EQ(set.rules().size(), 7u) << test_support::issues_text(set.report());
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value());
    // pass, drop, then alerts: flowbit setters, setter+reader, readers, then by priority.
    EXPECT_EQ(ranks((*compiled)->order()), (std::vector<uint32_t>{4, 3, 2, 6, 0, 5, 1}));
    for (uint32_t rank = 0; rank < 7; ++rank) {
        EXPECT_EQ((*compiled)->rank((*compiled)->order()[rank]), rank);
    }
}

TEST(CompiledRules, XbitsReadersRankBeforeTheRestAsInSuricata) {
    RuleSet set = parse(
        "alert tcp any any -> any any (priority:1; sid:1;)\n"
        "alert tcp any any -> any any (xbits:set,a,track ip_src; priority:1; sid:2;)\n"
        "alert tcp any any -> any any (xbits:isset,p,track ip_pair; priority:3; sid:3;)\n"
        "alert tcp any any -> any any (xbits:isnotset,a,track ip_dst; priority:3; sid:4;)\n"
        "alert tcp any any -> any any (flowbits:set,f; priority:3; sid:5;)\n"
        "alert tcp any any -> any any (xbits:isset,a,track ip_src; xbits:set,b,track ip_src; "
        "priority:2; sid:6;)\n");
    ASSERT_EQ(set.rules().size(), 6u) << test_support::issues_text(set.report());
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value());
    // Flowbit setters first; then host-bit readers, pair-bit readers, the rest; priority last.
    EXPECT_EQ(ranks((*compiled)->order()), (std::vector<uint32_t>{4, 5, 3, 2, 0, 1}));
}

TEST(CompiledRules, EachBufferGetsItsOwnDatabaseAndCandidates) {
    RuleSet set = parse(
        "alert tcp any any -> any any (content:\"payload!\"; sid:1;)\n"
        "alert http any any -> any any (http.uri; content:\"/gate.php\"; sid:2;)\n"
        "alert dns any any -> any any (dns.query; dotprefix; content:\".evil.com\"; sid:3;)\n"
        "alert http any any -> any any (http.host; bsize:>100; sid:4;)\n"
        "alert tcp any any -> any any (pcre:\"/ab+c[0-9]{3}/i\"; sid:5;)\n"
        "alert tcp any any -> any any (pcre:\"/x*/\"; sid:6;)\n"
        "alert tcp any any -> any any (pcre:!\"/neg/\"; sid:7;)\n");
    ASSERT_EQ(set.rules().size(), 7u) << test_support::issues_text(set.report());
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    const CompiledRules& c = **compiled;
    const BufferId uri{static_cast<uint8_t>(core::BufferKind::kHttpUri), false};
    const BufferId dns_dot{static_cast<uint8_t>(core::BufferKind::kDnsQuery), true};
    const BufferId host{static_cast<uint8_t>(core::BufferKind::kHttpHost), false};
    EXPECT_NE(c.payload_database(kTcpToServer), nullptr);
    EXPECT_EQ(c.database(BufferId{}.slot()), nullptr);  // the payload has variants instead
    EXPECT_NE(c.database(uri.slot()), nullptr);
    EXPECT_NE(c.database(dns_dot.slot()), nullptr);
    EXPECT_EQ(c.database(host.slot()), nullptr);
    // sid 5: its pcre is a prefilter pattern; sid 6 matches the empty string and sid 7 is
    // negated, so neither can select candidates.
    EXPECT_EQ(c.pcre_prefilter(4), 0);
    EXPECT_EQ(c.pcre_prefilter(5), -1);
    EXPECT_EQ(c.pcre_prefilter(6), -1);
    EXPECT_EQ(ranks(c.prefiltered()), (std::vector<uint32_t>{0, 1, 2, 4}));
    EXPECT_EQ(ranks(c.slot_candidates(host.slot())), std::vector<uint32_t>{3});
    EXPECT_EQ(ranks(c.always_candidates()), (std::vector<uint32_t>{5, 6}));
    EXPECT_NE(c.payload_pcre_database(kTcpToServer), nullptr);
    EXPECT_GT(c.database_bytes(), 0u);

    // The uri database holds the uri pattern, with the rule's rank as id.
    hs_scratch_t* scratch = nullptr;
    ASSERT_EQ(hs_alloc_scratch(c.database(uri.slot()), &scratch), HS_SUCCESS);
    ScanHits hits;
    std::string data = "/x/gate.php?id=1";
    ASSERT_EQ(hs_scan(c.database(uri.slot()), data.data(), static_cast<unsigned>(data.size()), 0,
                      scratch, record, &hits),
              HS_SUCCESS);
    EXPECT_EQ(hits.ids, std::vector<unsigned>{1});
    hs_free_scratch(scratch);
}

TEST(CompiledRules, NewerHttpBuffersGetTheirOwnPrefilterAndCandidates) {
    const std::vector<std::pair<std::string, core::BufferKind>> buffers = {
        {"http.request_line", core::BufferKind::kHttpRequestLine},
        {"http.response_line", core::BufferKind::kHttpResponseLine},
        {"http.header_names", core::BufferKind::kHttpHeaderNames},
        {"http.start", core::BufferKind::kHttpStart},
        {"http.content_type", core::BufferKind::kHttpContentType},
        {"http.referer", core::BufferKind::kHttpReferer},
        {"http.server", core::BufferKind::kHttpServer},
        {"http.header.raw", core::BufferKind::kHttpHeaderRaw},
    };
    for (const auto& [name, kind] : buffers) {
        RuleSet set = parse("alert http any any -> any any (" + name +
                            "; content:\"needle\"; sid:1;)\n"
                            "alert http any any -> any any (" +
                            name + "; bsize:>3; sid:2;)\n");
        ASSERT_EQ(set.rules().size(), 2u) << name << test_support::issues_text(set.report());
        auto compiled = CompiledRules::compile(set);
        ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
        const CompiledRules& c = **compiled;
        const BufferId id{static_cast<uint8_t>(kind), false};
        ASSERT_NE(c.database(id.slot()), nullptr) << name;
        const BufferId uri{static_cast<uint8_t>(core::BufferKind::kHttpUri), false};
        EXPECT_EQ(c.database(uri.slot()), nullptr) << name;
        EXPECT_EQ(ranks(c.prefiltered()), std::vector<uint32_t>{0}) << name;
        EXPECT_EQ(ranks(c.slot_candidates(id.slot())), std::vector<uint32_t>{1}) << name;

        hs_scratch_t* scratch = nullptr;
        ASSERT_EQ(hs_alloc_scratch(c.database(id.slot()), &scratch), HS_SUCCESS);
        ScanHits hits;
        std::string data = "hay needle hay";
        ASSERT_EQ(hs_scan(c.database(id.slot()), data.data(), static_cast<unsigned>(data.size()), 0,
                          scratch, record, &hits),
                  HS_SUCCESS);
        EXPECT_EQ(hits.ids, std::vector<unsigned>{0}) << name;
        hs_free_scratch(scratch);
    }
}

TEST(CompiledRules, EmptyRuleSetHasNoDatabase) {
    RuleSet set = parse("alert tcp any any -> any any (sid:1;)\n");
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value());
    EXPECT_TRUE((*compiled)->databases().empty());
    EXPECT_EQ((*compiled)->always_candidates().size(), 1u);
}

// Ids one database reports over `data`, sorted, each once.
std::vector<unsigned> scan_ids(const hs_database_t* db, const std::string& data) {
    if (db == nullptr) {
        return {};
    }
    hs_scratch_t* scratch = nullptr;
    EXPECT_EQ(hs_alloc_scratch(db, &scratch), HS_SUCCESS);
    ScanHits hits;
    EXPECT_EQ(
        hs_scan(db, data.data(), static_cast<unsigned>(data.size()), 0, scratch, record, &hits),
        HS_SUCCESS);
    hs_free_scratch(scratch);
    // A prefilter pcre reports each end offset: keep each id once.
    std::sort(hits.ids.begin(), hits.ids.end());
    hits.ids.erase(std::unique(hits.ids.begin(), hits.ids.end()), hits.ids.end());
    return hits.ids;
}

TEST(CompiledRules, PayloadPatternsGoToTheVariantsTheirRuleCanMatch) {
    RuleSet set = parse(
        "alert tcp any any -> any any (flow:to_server; content:\"AAAA\"; sid:1;)\n"
        "alert tcp any any -> any any (flow:established,to_client; content:\"AAAA\"; sid:2;)\n"
        "alert tcp any any -> any any (content:\"AAAA\"; sid:3;)\n"
        "alert udp any any -> any any (content:\"AAAA\"; sid:4;)\n"
        "alert ip any any -> any any (content:\"AAAA\"; sid:5;)\n"
        "alert icmp any any -> any any (content:\"AAAA\"; sid:6;)\n"
        "alert http any any -> any any (flow:from_server; content:\"AAAA\"; sid:7;)\n"
        "alert udp any any -> any any (pcre:\"/AAAA[0-9]+/\"; sid:8;)\n");
    ASSERT_EQ(set.rules().size(), 8u) << test_support::issues_text(set.report());
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    const CompiledRules& c = **compiled;
    // All rules alert, have no flowbits and one priority: rank = file order.
    auto ids = [&](PayloadProto p, bool to_client) {
        return scan_ids(c.payload_database(payload_variant(p, to_client)), "xxAAAAxx");
    };
    using V = std::vector<unsigned>;
    EXPECT_EQ(ids(PayloadProto::kTcp, false), (V{0, 2, 4}));
    EXPECT_EQ(ids(PayloadProto::kTcp, true), (V{1, 2, 4, 6}));
    EXPECT_EQ(ids(PayloadProto::kUdp, false), (V{3, 4}));
    EXPECT_EQ(ids(PayloadProto::kUdp, true), (V{3, 4, 6}));
    EXPECT_EQ(ids(PayloadProto::kOther, false), (V{4, 5}));
    EXPECT_EQ(ids(PayloadProto::kOther, true), (V{4, 5}));
    auto pcre_ids = [&](PayloadProto p, bool to_client) {
        return scan_ids(c.payload_pcre_database(payload_variant(p, to_client)), "AAAA12");
    };
    EXPECT_EQ(pcre_ids(PayloadProto::kUdp, false), V{7});
    EXPECT_EQ(pcre_ids(PayloadProto::kUdp, true), V{7});
    EXPECT_TRUE(pcre_ids(PayloadProto::kTcp, false).empty());
    EXPECT_EQ(ranks(c.prefiltered()), (std::vector<uint32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
    // No unsplit database unless asked for.
    EXPECT_EQ(c.payload_union_database(), nullptr);

    CompileOptions with_union;
    with_union.union_payload = true;
    with_union.threads = 1;
    auto all = CompiledRules::compile(set, with_union);
    ASSERT_TRUE(all.has_value()) << all.error().message;
    EXPECT_EQ(scan_ids((*all)->payload_union_database(), "AAAA"), (V{0, 1, 2, 3, 4, 5, 6}));
    EXPECT_EQ(scan_ids((*all)->payload_union_pcre_database(), "AAAA1"), V{7});
    EXPECT_EQ(ranks((*all)->prefiltered()), ranks(c.prefiltered()));
}

// Port groups (kMaxPortGroups): ports that kMinRulesPerPortGroup payload rules name get
// databases of their own; a packet to any other port scans the rules that can match it.
TEST(CompiledRules, PayloadDatabasesAreSplitByDestinationPort) {
    std::string text =
        "alert tcp any any -> any any (content:\"ANYX\"; sid:1;)\n"
        "alert tcp any any -> any 3306 (content:\"SQLX\"; sid:2;)\n"
        "alert tcp any 445 <> any 1024: (content:\"BIDI\"; sid:3;)\n"
        "alert tcp any any -> any !445 (content:\"NOTS\"; sid:4;)\n"
        "alert tcp any any -> any 9999 (service:http; content:\"SRVC\"; sid:5;)\n"
        "alert tcp any any -> any 1024: (content:\"WIDE\"; sid:6;)\n"
        "alert icmp any any -> any any (content:\"ICMP\"; sid:7;)\n";
    // Enough rules naming 445 and [80,8080] for groups of their own (one pattern each: only
    // the first of each set is scanned for below).
    for (size_t i = 0; i < kMinRulesPerPortGroup; ++i) {
        text += "alert tcp any any -> any 445 (content:\"SMB" + std::to_string(i) +
                "X\"; sid:" + std::to_string(100 + i) + ";)\n";
        text += "alert tcp any any -> any [80,8080] (content:\"WEB" + std::to_string(i) +
                "X\"; sid:" + std::to_string(1000 + i) + ";)\n";
    }
    RuleSet set = parse(text);
    ASSERT_EQ(set.rules().size(), 7 + 2 * kMinRulesPerPortGroup)
        << test_support::issues_text(set.report());
    CompileOptions one_thread;
    one_thread.threads = 1;
    auto compiled = CompiledRules::compile(set, one_thread);
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    const CompiledRules& c = **compiled;

    // 445, 80 and 8080 are named by enough rules; 3306 by one: it makes the shared last
    // group. A service rule's ports name nothing (it goes into every group); every other port
    // is group 0.
    ASSERT_EQ(c.group_ports().size(), 4u);
    const size_t smb = c.port_group(445);
    const size_t web = c.port_group(80);
    EXPECT_NE(smb, 0u);
    EXPECT_NE(web, 0u);
    EXPECT_NE(smb, web);
    EXPECT_NE(c.port_group(8080), 0u);
    EXPECT_NE(c.port_group(8080), web);
    const size_t rest = c.port_group(3306);
    EXPECT_NE(rest, 0u);
    EXPECT_EQ(c.port_group(9999), 0u);
    EXPECT_EQ(c.port_group(50000), 0u);
    EXPECT_EQ(c.port_group(443), 0u);

    // Rank = file order, then the generated rules alternate 445 and web.
    const std::string payload = "ANYX SQLX BIDI NOTS SRVC WIDE ICMP SMB0X WEB0X";
    auto ids = [&](size_t group) {
        return scan_ids(c.payload_database(kTcpToServer, group), payload);
    };
    using V = std::vector<unsigned>;
    const unsigned kSmb0 = 7;
    const unsigned kWeb0 = 8;
    EXPECT_EQ(ids(smb), (V{0, 2, 4, kSmb0}));     // any, <> by 445, service
    EXPECT_EQ(ids(web), (V{0, 3, 4, kWeb0}));     // any, !445, service
    EXPECT_EQ(ids(rest), (V{0, 1, 2, 3, 4, 5}));  // 3306 and 9999: also 1024:
    EXPECT_EQ(ids(0), (V{0, 2, 3, 4, 5}));        // a client's port
    // A protocol without ports has one database for every group.
    EXPECT_EQ(c.payload_database(payload_variant(PayloadProto::kOther, false), smb),
              c.payload_database(payload_variant(PayloadProto::kOther, false), 0));
    EXPECT_EQ(
        scan_ids(c.payload_database(payload_variant(PayloadProto::kOther, false), smb), payload),
        V{6});
    // Every rule with a pattern is still prefiltered exactly once in the candidate list.
    EXPECT_EQ(c.prefiltered().size(), set.rules().size());
}

// Without enough rules naming one port there are no port groups: one database per variant.
TEST(CompiledRules, FewPortRulesMakeNoSingleGroups) {
    RuleSet set = parse(
        "alert tcp any any -> any 445 (content:\"SMBX\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"ANYX\"; sid:2;)\n");
    ASSERT_EQ(set.rules().size(), 2u) << test_support::issues_text(set.report());
    auto compiled = CompiledRules::compile(set);
    ASSERT_TRUE(compiled.has_value()) << compiled.error().message;
    const CompiledRules& c = **compiled;
    // 445 is named, by too few rules for a group of its own: it makes the shared last group.
    ASSERT_EQ(std::vector<uint16_t>(c.group_ports().begin(), c.group_ports().end()),
              (std::vector<uint16_t>{445}));
    EXPECT_EQ(scan_ids(c.payload_database(kTcpToServer, c.port_group(445)), "SMBX ANYX"),
              (std::vector<unsigned>{0, 1}));
    EXPECT_EQ(scan_ids(c.payload_database(kTcpToServer, 0), "SMBX ANYX"),
              (std::vector<unsigned>{1}));
}

TEST(PayloadVariant, FromIpProtocol) {
    EXPECT_EQ(payload_proto(6), PayloadProto::kTcp);
    EXPECT_EQ(payload_proto(17), PayloadProto::kUdp);
    EXPECT_EQ(payload_proto(1), PayloadProto::kOther);
    EXPECT_EQ(payload_proto(58), PayloadProto::kOther);
    EXPECT_EQ(payload_variant(PayloadProto::kOther, true), kPayloadVariants - 1);
}

}  // namespace
}  // namespace sensor::rules
