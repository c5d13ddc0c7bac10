#include "sensor/detect/detector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <string_view>
#include <vector>

#include "detect_test_support.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/signature_db.h"

// Counts every global operator new, so a test can prove match() does not allocate. Every
// form is replaced so that each new pairs with the matching delete.
namespace {
std::atomic<uint64_t> g_allocations{0};

void* counted_alloc(size_t size, size_t align) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    size = size == 0 ? 1 : size;
    void* p = align <= alignof(std::max_align_t)
                  ? std::malloc(size)
                  : std::aligned_alloc(align, (size + align - 1) / align * align);
    return p;
}
}  // namespace

void* operator new(size_t size) {
    if (void* p = counted_alloc(size, 0)) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](size_t size) { return operator new(size); }
void* operator new(size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size, 0); }
void* operator new[](size_t size, const std::nothrow_t&) noexcept { return counted_alloc(size, 0); }
void* operator new(size_t size, std::align_val_t align) {
    if (void* p = counted_alloc(size, static_cast<size_t>(align))) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new[](size_t size, std::align_val_t align) { return operator new(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }

namespace sensor::detect {
namespace {

using decode::DecodedPacket;
using test_support::bytes;
using test_support::packet;
using test_support::Side;

class DetectorTest : public test_support::DetectFixture {};

TEST_F(DetectorTest, ContentFiresOnlyWhenPresent) {
    load("alert tcp any any -> any any (content:\"evil.exe\"; sid:1;)");
    EXPECT_EQ(fired(packet("GET /evil.exe HTTP/1.1")), Sids{1});
    EXPECT_EQ(fired(packet("GET /good.exe HTTP/1.1")), Sids{});
    EXPECT_EQ(fired(packet("GET /EVIL.EXE HTTP/1.1")), Sids{});  // case-sensitive
    EXPECT_EQ(fired(packet("")), Sids{});
}

TEST_F(DetectorTest, NocaseMatchesAnyCase) {
    load(
        "alert tcp any any -> any any (content:\"Evil.Exe\"; nocase; sid:1;)\n"
        "alert tcp any any -> any any (content:\"abc\"; nocase; sid:2;)\n");  // short: no prefilter
    EXPECT_EQ(fired(packet("get /eViL.eXe")), Sids{1});
    EXPECT_EQ(fired(packet("xxABCxx")), Sids{2});
    EXPECT_EQ(fired(packet("xxABDxx")), Sids{});
}

TEST_F(DetectorTest, EveryContentMustMatch) {
    load("alert tcp any any -> any any (content:\"USER \"; content:\"root\"; sid:1;)");
    EXPECT_EQ(fired(packet("USER root\r\n")), Sids{1});
    EXPECT_EQ(fired(packet("USER admin\r\n")), Sids{});
    EXPECT_EQ(fired(packet("root only")), Sids{});
}

TEST_F(DetectorTest, OffsetAndDepthCountFromPayloadStart) {
    load(
        "alert tcp any any -> any any (content:\"GET \"; depth:4; sid:1;)\n"
        "alert tcp any any -> any any (content:\"admin\"; offset:5; depth:10; sid:2;)\n");
    EXPECT_EQ(fired(packet("GET /")), Sids{1});
    EXPECT_EQ(fired(packet("xGET /")), Sids{});  // ends past depth 4
    EXPECT_EQ(fired(packet("01234admin")), Sids{2});
    EXPECT_EQ(fired(packet("0123admin")), Sids{});             // starts before offset 5
    EXPECT_EQ(fired(packet("0123456789admin")), Sids{2});      // ends exactly at 5 + 10
    EXPECT_EQ(fired(packet("01234567890admin")), Sids{});      // ends one byte too late
    EXPECT_EQ(fired(packet("012345678901234admin")), Sids{});  // starts at the window end
    EXPECT_EQ(fired(packet("0123")), Sids{});                  // payload shorter than offset
}

TEST_F(DetectorTest, NegatedContent) {
    load(
        "alert tcp any any -> any any (content:\"login\"; content:!\"secure\"; sid:1;)\n"
        "alert tcp any any -> any any (content:!\"HTTP\"; depth:4; sid:2;)\n");
    EXPECT_EQ(fired(packet("HTTP login plain")), Sids{1});
    EXPECT_EQ(fired(packet("HTTP login secure")), Sids{});
    // A rule with only negated contents fires when they are all absent.
    EXPECT_EQ(fired(packet("SSH- login secure")), Sids{2});
    EXPECT_EQ(fired(packet("xHTTP login plain")), (Sids{1, 2}));  // HTTP outside depth 4
}

TEST_F(DetectorTest, RuleWithoutContentMatchesOnHeader) {
    load("alert udp any any -> any 53 (sid:1;)");
    EXPECT_EQ(fired(packet("anything", decode::kIpProtoUdp, "10.0.0.1", 5000, "10.0.0.2", 53)),
              Sids{1});
    EXPECT_EQ(fired(packet("", decode::kIpProtoUdp, "10.0.0.1", 5000, "10.0.0.2", 53)), Sids{1});
    EXPECT_EQ(fired(packet("anything", decode::kIpProtoUdp, "10.0.0.1", 5000, "10.0.0.2", 54)),
              Sids{});
    EXPECT_EQ(fired(packet("anything", decode::kIpProtoTcp, "10.0.0.1", 5000, "10.0.0.2", 53)),
              Sids{});
}

TEST_F(DetectorTest, ProtocolSelection) {
    load(
        "alert ip any any -> any any (content:\"MARK\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"MARK\"; sid:2;)\n"
        "alert udp any any -> any any (content:\"MARK\"; sid:3;)\n"
        "alert icmp any any -> any any (content:\"MARK\"; sid:4;)\n"
        "alert http any any -> any any (content:\"MARK\"; sid:5;)\n"
        "alert dns any any -> any any (content:\"MARK\"; sid:6;)\n");
    EXPECT_EQ(fired(packet("MARK", decode::kIpProtoTcp)), (Sids{1, 2}));
    EXPECT_EQ(fired(packet("MARK", decode::kIpProtoTcp), "http"), (Sids{1, 2, 5}));
    EXPECT_EQ(fired(packet("MARK", decode::kIpProtoUdp), "dns"), (Sids{1, 3, 6}));
    EXPECT_EQ(fired(packet("MARK", decode::kIpProtoUdp), "http"), (Sids{1, 3, 5}));
    EXPECT_EQ(fired(packet("MARK", decode::kIpProtoIcmp, "10.0.0.1", 0, "10.0.0.2", 0), "http"),
              (Sids{1, 4}));  // app-layer rules need TCP or UDP
    EXPECT_EQ(fired(packet("MARK", decode::kIpProtoIcmpv6, "2001:db8::1", 0, "2001:db8::2", 0)),
              (Sids{1, 4}));
    EXPECT_EQ(fired(packet("MARK", 47 /* GRE */)), Sids{1});
}

TEST_F(DetectorTest, AddressAndPortNegation) {
    load(
        "alert tcp any any -> [10.0.0.0/8,!10.1.0.0/16] any (content:\"PING\"; sid:1;)\n"
        "alert tcp any any -> any !80 (content:\"PING\"; sid:2;)\n"
        "alert tcp !$HOME_NET any -> any any (content:\"PING\"; sid:3;)\n");
    EXPECT_EQ(fired(packet("PING", decode::kIpProtoTcp, "192.168.0.1", 1000, "10.2.0.1", 80)),
              Sids{1});
    EXPECT_EQ(fired(packet("PING", decode::kIpProtoTcp, "192.168.0.1", 1000, "10.1.0.1", 80)),
              Sids{});
    EXPECT_EQ(fired(packet("PING", decode::kIpProtoTcp, "192.168.0.1", 1000, "10.1.0.1", 8080)),
              Sids{2});
    EXPECT_EQ(fired(packet("PING", decode::kIpProtoTcp, "8.8.8.8", 1000, "1.1.1.1", 80)), Sids{3});
    EXPECT_EQ(fired(packet("PING", decode::kIpProtoTcp, "2001:db8::1", 1000, "2001:db8::2", 80)),
              Sids{3});
}

TEST_F(DetectorTest, DirectionAndBidirectional) {
    load(
        "alert tcp 10.0.0.1 any -> 10.0.0.2 80 (content:\"DATA\"; sid:1;)\n"
        "alert tcp 10.0.0.1 any <> 10.0.0.2 80 (content:\"DATA\"; sid:2;)\n");
    EXPECT_EQ(fired(packet("DATA", decode::kIpProtoTcp, "10.0.0.1", 5555, "10.0.0.2", 80)),
              (Sids{1, 2}));
    EXPECT_EQ(fired(packet("DATA", decode::kIpProtoTcp, "10.0.0.2", 80, "10.0.0.1", 5555)),
              Sids{2});
    // Reversed addresses with the port on the wrong side match neither direction.
    EXPECT_EQ(fired(packet("DATA", decode::kIpProtoTcp, "10.0.0.2", 5555, "10.0.0.1", 80)), Sids{});
}

TEST_F(DetectorTest, PatternSplitAcrossPrefixFiresOnceAndNotAgain) {
    load(
        "alert tcp any any -> any any (content:\"ATTACKER\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"XYZ\"; sid:2;)\n");  // short: always candidate
    // Segment 1 ends with "ATTA", segment 2 starts with "CKER".
    EXPECT_EQ(fired(packet("hello ATTA")), Sids{});
    EXPECT_EQ(fired(packet("CKER said hi"), {}, "hello ATTA"), Sids{1});
    // Segment 3: the pattern now sits wholly in the prefix (segment 2's tail): no new alert.
    EXPECT_EQ(fired(packet("nothing new"), {}, "ATTACKER said hi"), Sids{});
    // The short pattern follows the same rule.
    EXPECT_EQ(fired(packet("Z later"), {}, "xxXY"), Sids{2});
    EXPECT_EQ(fired(packet("later"), {}, "xxXYZ"), Sids{});
}

TEST_F(DetectorTest, AnchoredContentNeverSeesThePrefix) {
    load(
        "alert tcp any any -> any any (content:\"MAGIC\"; depth:5; sid:1;)\n"
        "alert tcp any any -> any any (content:\"MAGIC\"; sid:2;)\n");
    EXPECT_EQ(fired(packet("GIC and more"), {}, "MA"), Sids{2});
    EXPECT_EQ(fired(packet("MAGIC and more"), {}, "MAGIC"), (Sids{1, 2}));
}

TEST_F(DetectorTest, LongPrefixKeepsOnlyItsTail) {
    load("alert tcp any any -> any any (content:\"SPLITWORD\"; sid:1;)");
    std::string prefix(200, 'x');
    prefix += "SPLIT";
    EXPECT_EQ(fired(packet("WORD"), {}, prefix), Sids{1});
    std::string far = "SPLIT" + std::string(200, 'x');
    EXPECT_EQ(fired(packet("SPLITWORD"), {}, far), Sids{1});
}

TEST_F(DetectorTest, EachRuleFiresAtMostOncePerPacketInIndexOrder) {
    load(
        "alert tcp any any -> any any (content:\"beta\"; sid:20;)\n"
        "alert tcp any any -> any any (content:\"alpha\"; sid:10;)\n"
        "alert tcp any any -> any any (content:\"xy\"; sid:30;)\n");
    EXPECT_EQ(fired(packet("alpha alpha beta alpha beta xy xy xy")), (Sids{20, 10, 30}));
    EXPECT_EQ(out_.count, 3u);
    EXPECT_EQ(detector_->stats().matches.load(), 3u);
}

TEST_F(DetectorTest, OverflowBeyondMatchListCapacityIsCounted) {
    std::string text;
    for (int sid = 1; sid <= 40; ++sid) {
        text +=
            "alert tcp any any -> any any (content:\"COMMON\"; sid:" + std::to_string(sid) + ";)\n";
    }
    load(text);
    std::vector<uint32_t> sids = fired(packet("a COMMON payload"));
    ASSERT_EQ(sids.size(), MatchList::kMax);
    EXPECT_EQ(sids.front(), 1u);
    EXPECT_EQ(sids.back(), MatchList::kMax);
    EXPECT_EQ(out_.overflow, 40 - MatchList::kMax);
    EXPECT_EQ(detector_->stats().overflow.load(), 40 - MatchList::kMax);
    EXPECT_EQ(detector_->stats().matches.load(), 40u);
}

TEST_F(DetectorTest, StatsCountScansCandidatesAndMatches) {
    load(
        "alert tcp any any -> any any (content:\"needle\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"needle\"; content:\"thread\"; sid:2;)\n"
        "alert udp any any -> any any (sid:3;)\n");
    fired(packet("a needle here"));
    fired(packet("nothing"));
    fired(packet("x", decode::kIpProtoUdp));
    const DetectStats& s = detector_->stats();
    // The UDP packet scans nothing: no UDP rule has a payload pattern.
    EXPECT_EQ(s.scans.load(), 2u);
    EXPECT_EQ(s.prefilter_hits.load(), 2u);  // rules 1 and 2 on the first packet
    EXPECT_EQ(s.candidates.load(), 3u);      // ... plus the UDP header rule once
    EXPECT_EQ(s.matches.load(), 2u);
    EXPECT_EQ(s.scan_errors.load(), 0u);
}

TEST_F(DetectorTest, MatchDoesNotAllocate) {
    load(
        "alert tcp any any -> any any (content:\"needle\"; nocase; sid:1;)\n"
        "alert tcp any any -> !$HOME_NET any (content:\"ab\"; sid:2;)\n"
        "alert ip any any -> any any (sid:3;)\n"
        "alert tcp any any -> any any (flow:established,to_server; content:\"NEEDLE\"; "
        "content:\"ab\"; distance:1; within:4; isdataat:!20,relative; pcre:\"/ne+dle/iR\"; "
        "byte_test:1,=,0x61,-9,relative; sid:4;)\n"
        "alert http any any -> any any (http.uri; content:\"/gate\"; pcre:\"/\\?id=\\d+/\"; "
        "flowbits:set,seen; threshold:type limit,track by_src,count 1000,seconds 60; sid:5;)\n"
        "alert dns any any -> any any (flowbits:isset,seen; dns.query; dotprefix; "
        "content:\".evil.com\"; endswith; sid:6;)\n"
        "alert tcp any any -> any any (content:\"xx\"; byte_extract:1,0,sp,relative; "
        "byte_test:1,=,sp,6,relative; sid:7;)\n"
        "alert tcp any any -> any any (content:\"ab\"; byte_jump:1,-2,relative,bitmask 0x03; "
        "content:\"needle\"; distance:1; sid:8;)\n");
    std::string payload = "xx NEEDLE ab needle";
    DecodedPacket p = packet(payload);
    core::AppBuffers app = test_support::buffers({{core::BufferKind::kHttpUri, "/gate.php?id=42"},
                                                  {core::BufferKind::kDnsQuery, "www.evil.com"}});
    flow::FlowDetectState state;
    Side side{"http", "prefix bytes", true, true, &app, &state};
    // Warm up: every rule fires once; the app-layer rules then repeat in one transaction.
    EXPECT_EQ(fired(p, side), (Sids{5, 6, 1, 2, 3, 4, 7, 8}));
    PacketContext ctx;
    ctx.pkt = &p;
    ctx.app_proto = "http";
    ctx.stream_prefix = bytes("prefix bytes");
    ctx.established = true;
    ctx.flow_state = &state;
    ctx.buffers = &app;
    uint64_t before = g_allocations.load();
    for (int i = 0; i < 100; ++i) {
        detector_->match(ctx, out_);
    }
    EXPECT_EQ(g_allocations.load(), before);
    EXPECT_EQ(out_.count, 6u);
    EXPECT_EQ(detector_->stats().tx_duplicates.load(), 200u);
}

TEST_F(DetectorTest, FormerInterfaceNeverMatchesFlowConditions) {
    load(
        "alert tcp any any -> any any (content:\"needle\"; sid:1;)\n"
        "alert tcp any any -> any any (flow:to_server; content:\"needle\"; sid:2;)\n"
        "alert tcp any any -> any any (flowbits:isnotset,x; content:\"needle\"; sid:3;)\n"
        "alert tcp any any -> any any (flow:stateless; content:\"needle\"; sid:4;)\n");
    detector_->match(packet("a needle"), "", {}, out_);
    ASSERT_EQ(out_.count, 2u);
    EXPECT_EQ(db_->rule(out_.rule_index[0]).sid, 1u);
    EXPECT_EQ(db_->rule(out_.rule_index[1]).sid, 4u);
}

TEST_F(DetectorTest, SharedDbServesManyDetectors) {
    load("alert tcp any any -> any any (content:\"shared\"; sid:1;)");
    Detector second(db_);
    MatchList other;
    second.match(packet("a shared db"), {}, {}, other);
    EXPECT_EQ(other.count, 1u);
    EXPECT_EQ(fired(packet("also shared")), Sids{1});
    EXPECT_EQ(second.stats().matches.load(), 1u);
    EXPECT_EQ(detector_->stats().matches.load(), 1u);
}

TEST(SignatureDb, RejectsMissingRuleSet) {
    auto db = SignatureDb::build(nullptr);
    ASSERT_FALSE(db.has_value());
    EXPECT_EQ(db.error().message, "signature db: no rule set given");
}

TEST(SignatureDb, AlwaysCandidatesAreBucketedByProtocol) {
    rules::Taxonomy taxonomy;
    auto set = rules::parse_rules_text(
        "alert tcp any any -> any any (sid:1;)\n"
        "alert udp any any -> any any (sid:2;)\n"
        "alert icmp any any -> any any (sid:3;)\n"
        "alert ip any any -> any any (sid:4;)\n"
        "alert dns any any -> any any (sid:5;)\n"
        "alert tcp any any -> any any (content:\"prefiltered\"; sid:6;)\n",
        "t.rules", {}, taxonomy);
    ASSERT_TRUE(set.has_value());
    auto db = SignatureDb::build(std::make_shared<const rules::RuleSet>(std::move(*set)));
    ASSERT_TRUE(db.has_value());
    auto list = [&](ProtoBucket b) {
        auto s = (*db)->always_candidates(b);
        return std::vector<uint32_t>(s.begin(), s.end());
    };
    EXPECT_EQ(list(ProtoBucket::kTcp), (std::vector<uint32_t>{0, 3, 4}));
    EXPECT_EQ(list(ProtoBucket::kUdp), (std::vector<uint32_t>{1, 3, 4}));
    EXPECT_EQ(list(ProtoBucket::kIcmp), (std::vector<uint32_t>{2, 3}));
    EXPECT_EQ(list(ProtoBucket::kOther), (std::vector<uint32_t>{3}));
    EXPECT_EQ((*db)->size(), 6u);
    EXPECT_EQ((*db)->rule(5).sid, 6u);
}

}  // namespace
}  // namespace sensor::detect
