// Parser tests for the packet-header and stream keywords (ttl, tos, id, ip_proto, seq, ack,
// window, icmp_id, icmp_seq, fragbits, stream_size) and byte_test's count 0 form: what each
// accepted value becomes, the exact message of each rejected one, and the forms reported as
// unsupported.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "rules/rule_set.h"
#include "rules_test_support.h"

namespace sensor::rules {
namespace {

using Field = FieldCheck::Field;
using Op = IntCheck::Op;
using test_support::issues_text;
using test_support::parse;

constexpr std::string_view kHeader = "alert tcp any any -> any any (sid:1; ";

struct Case {
    std::string options;   // after "sid:1; "
    std::string expected;  // the error message, or the unsupported keyword
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.options; }

RuleSet parse_options(const std::string& options) {
    return parse(std::string(kHeader) + options + ")", {}, "bad.rules");
}

class RejectedHeaderKeyword : public ::testing::TestWithParam<Case> {};

TEST_P(RejectedHeaderKeyword, HasExactMessage) {
    const Case& c = GetParam();
    RuleSet set = parse_options(c.options);
    EXPECT_TRUE(set.rules().empty());
    EXPECT_TRUE(set.report().unsupported.empty()) << issues_text(set.report());
    ASSERT_EQ(set.report().errors.size(), 1u) << issues_text(set.report());
    EXPECT_EQ(set.report().errors[0].message, c.expected);
}

// Column 38 is the keyword, and the value starts right after its ':'.
INSTANTIATE_TEST_SUITE_P(
    HeaderKeywords, RejectedHeaderKeyword,
    ::testing::Values(
        Case{"ttl:abc;", "bad.rules:1:42: invalid ttl 'abc'"},
        Case{"ttl:256;", "bad.rules:1:42: invalid ttl '256'"},
        Case{"ttl;", "bad.rules:1:38: option 'ttl' needs a value"},
        Case{"id:65536;", "bad.rules:1:41: invalid id '65536'"},
        Case{"id:\"x\";", "bad.rules:1:41: invalid id '\"x\"'"},
        Case{"seq:4294967296;", "bad.rules:1:42: invalid seq '4294967296'"},
        Case{"ack:-1;", "bad.rules:1:42: invalid ack '-1'"},
        Case{"window:70000;", "bad.rules:1:45: invalid window '70000'"},
        Case{"icmp_id:x;", "bad.rules:1:46: invalid icmp_id 'x'"},
        Case{"icmp_seq:65536;", "bad.rules:1:47: invalid icmp_seq '65536'"},
        Case{"tos:256;", "bad.rules:1:42: invalid tos '256', expected [!]<0-255 or xHH>"},
        Case{"tos:0x10;", "bad.rules:1:42: invalid tos '0x10', expected [!]<0-255 or xHH>"},
        Case{"tos:x100;", "bad.rules:1:42: invalid tos 'x100', expected [!]<0-255 or xHH>"},
        Case{"ip_proto:300;", "bad.rules:1:47: invalid ip_proto '300', expected 0-255 or a name"},
        Case{"ip_proto:nosuch;", "bad.rules:1:47: unknown ip_proto name 'nosuch'"},
        Case{"ip_proto:!;", "bad.rules:1:47: ip_proto needs a protocol number or name"},
        Case{"fragbits:X;", "bad.rules:1:47: invalid fragbits 'X'"},
        Case{"fragbits:MM;", "bad.rules:1:47: invalid fragbits 'MM'"},
        Case{"fragbits:+;", "bad.rules:1:47: invalid fragbits '+'"},
        Case{"fragbits:D; fragbits:R;", "bad.rules:1:50: duplicate option 'fragbits'"},
        Case{"stream_size:server,<;",
             "bad.rules:1:50: invalid stream_size 'server,<', expected "
             "<server|client|both|either>,<operator>,<number>"},
        Case{"stream_size:sender,<,5;",
             "bad.rules:1:50: invalid stream_size side 'sender', expected server, client, both "
             "or either"},
        Case{"stream_size:client,=>,5;", "bad.rules:1:50: invalid stream_size operator '=>'"},
        Case{"stream_size:client,<,-5;", "bad.rules:1:50: invalid stream_size value '-5'"},
        Case{"stream_size:client,<,five;", "bad.rules:1:50: invalid stream_size value 'five'"},
        Case{"byte_test:0,=,0,0;", "bad.rules:1:48: invalid byte_test count '0'"},
        Case{"byte_test:0,=,0,0,dec;", "bad.rules:1:48: invalid byte_test count '0'"}));

class UnsupportedHeaderKeyword : public ::testing::TestWithParam<Case> {};

TEST_P(UnsupportedHeaderKeyword, IsReportedUnderItsForm) {
    const Case& c = GetParam();
    RuleSet set = parse_options(c.options);
    EXPECT_TRUE(set.rules().empty());
    EXPECT_TRUE(set.report().errors.empty()) << issues_text(set.report());
    ASSERT_EQ(set.report().unsupported.size(), 1u) << issues_text(set.report());
    EXPECT_EQ(set.report().unsupported[0].keyword, c.expected);
}

INSTANTIATE_TEST_SUITE_P(
    HeaderKeywords, UnsupportedHeaderKeyword,
    ::testing::Values(
        // Only fragments carry MF, and fragments are inspected reassembled.
        Case{"fragbits:M;", "fragbits:M"}, Case{"fragbits:M+;", "fragbits:M+"},
        Case{"fragbits:+MD;", "fragbits:+MD"},
        // Tunnels the decoder peels: rules see the inner packet only.
        Case{"ip_proto:41;", "ip_proto:41"}, Case{"ip_proto:ipencap;", "ip_proto:ipencap"},
        // Sizes are kept in 16 bits per side.
        Case{"stream_size:client,>,65535;", "stream_size over 65534"},
        // The whole-number form exists for byte_test only.
        Case{"content:\"a\"; byte_jump:0,0,string,dec;", "byte_jump count 0"},
        Case{"content:\"a\"; byte_extract:0,0,n,string,dec;", "byte_extract count 0"}));

Rule one_rule(const std::string& options) {
    RuleSet set = parse(std::string(kHeader) + options + ")");
    EXPECT_EQ(set.rules().size(), 1u) << options << "\n" << issues_text(set.report());
    return set.rules().empty() ? Rule{} : set.rules()[0];
}

struct Accepted {
    std::string options;
    Field field;
    Op op;
    uint64_t lo;
    uint64_t hi;
};

std::ostream& operator<<(std::ostream& os, const Accepted& a) { return os << a.options; }

class AcceptedFieldCheck : public ::testing::TestWithParam<Accepted> {};

TEST_P(AcceptedFieldCheck, BecomesOneFieldCheck) {
    const Accepted& a = GetParam();
    Rule r = one_rule(a.options);
    ASSERT_EQ(r.field_checks.size(), 1u);
    const FieldCheck& c = r.field_checks[0];
    EXPECT_EQ(c.field, a.field);
    EXPECT_EQ(c.check.op, a.op);
    EXPECT_EQ(c.check.lo, a.lo);
    EXPECT_EQ(c.check.hi, a.hi);
}

INSTANTIATE_TEST_SUITE_P(
    HeaderKeywords, AcceptedFieldCheck,
    ::testing::Values(
        Accepted{"ttl:1;", Field::kTtl, Op::kEq, 1, 0},
        Accepted{"ttl:>220;", Field::kTtl, Op::kGt, 220, 0},
        Accepted{"ttl:1-3;", Field::kTtl, Op::kRange, 1, 3},
        Accepted{"ttl:10<=>20;", Field::kTtl, Op::kRangeInclusive, 10, 20},
        Accepted{"id:13170;", Field::kIpId, Op::kEq, 13170, 0},
        Accepted{"id:\"242\";", Field::kIpId, Op::kEq, 242, 0},
        Accepted{"id: 3;", Field::kIpId, Op::kEq, 3, 0},
        Accepted{"seq:1958810375;", Field::kTcpSeq, Op::kEq, 1958810375, 0},
        Accepted{"ack:0;", Field::kTcpAck, Op::kEq, 0, 0},
        Accepted{"window:!0;", Field::kTcpWindow, Op::kNe, 0, 0},
        Accepted{"window: 2048;", Field::kTcpWindow, Op::kEq, 2048, 0},
        Accepted{"icmp_id:666 ;", Field::kIcmpId, Op::kEq, 666, 0},
        Accepted{"icmp_seq:0;", Field::kIcmpSeq, Op::kEq, 0, 0},
        Accepted{"tos:8;", Field::kTos, Op::kEq, 8, 0},
        Accepted{"tos:!x10;", Field::kTos, Op::kNe, 16, 0},
        Accepted{"tos:XfF;", Field::kTos, Op::kEq, 255, 0},
        Accepted{"ip_proto:2;", Field::kIpProto, Op::kEq, 2, 0},
        Accepted{"ip_proto:!6;", Field::kIpProto, Op::kNe, 6, 0},
        Accepted{"ip_proto:>134;", Field::kIpProto, Op::kGt, 134, 0},
        Accepted{"ip_proto:<  17;", Field::kIpProto, Op::kLt, 17, 0},
        Accepted{"ip_proto:IGMP;", Field::kIpProto, Op::kEq, 2, 0},
        Accepted{"ip_proto:ipv6-icmp;", Field::kIpProto, Op::kEq, 58, 0},
        // A tunnel protocol that some inner packet can still pass keeps the rule.
        Accepted{"ip_proto:!41;", Field::kIpProto, Op::kNe, 41, 0},
        Accepted{"stream_size:server,<,5;", Field::kStreamServer, Op::kLt, 5, 0},
        Accepted{"stream_size:client,<=,10000;", Field::kStreamClient, Op::kLe, 10000, 0},
        Accepted{"stream_size: both , != , 3 ;", Field::kStreamBoth, Op::kNe, 3, 0},
        Accepted{"stream_size:either,>=,1;", Field::kStreamEither, Op::kGe, 1, 0},
        Accepted{"stream_size:client,=,1;", Field::kStreamClient, Op::kEq, 1, 0},
        Accepted{"stream_size:server,>,65534;", Field::kStreamServer, Op::kGt, 65534, 0}));

TEST(HeaderKeywords, FieldChecksAccumulateInRuleOrder) {
    Rule r = one_rule("ttl:>1; ttl:<9; window:1024; seq:0;");
    ASSERT_EQ(r.field_checks.size(), 4u);
    EXPECT_EQ(r.field_checks[0].field, Field::kTtl);
    EXPECT_EQ(r.field_checks[1].check.op, Op::kLt);
    EXPECT_EQ(r.field_checks[2].field, Field::kTcpWindow);
    EXPECT_EQ(r.field_checks[3].field, Field::kTcpSeq);
    EXPECT_FALSE(r.fragbits);
}

TEST(HeaderKeywords, FragbitsModesAndBits) {
    using Mode = FragbitsCheck::Mode;
    struct Want {
        std::string value;
        Mode mode;
        uint8_t bits;
    };
    const std::vector<Want> cases = {
        {"D", Mode::kExact, FragbitsCheck::kDontFragment},
        {"!M", Mode::kNot, FragbitsCheck::kMoreFragments},
        {" !M", Mode::kNot, FragbitsCheck::kMoreFragments},
        {"!DMR", Mode::kNot, 0xe0},
        {"*MD", Mode::kAny, 0x60},
        {"R", Mode::kExact, FragbitsCheck::kReserved},
        {"D+", Mode::kPlus, FragbitsCheck::kDontFragment},
    };
    for (const Want& w : cases) {
        Rule r = one_rule("fragbits:" + w.value + ";");
        ASSERT_TRUE(r.fragbits) << w.value;
        EXPECT_EQ(r.fragbits->mode, w.mode) << w.value;
        EXPECT_EQ(r.fragbits->bits, w.bits) << w.value;
    }
}

TEST(HeaderKeywords, FragbitsFollowSuricataModifiers) {
    FragbitsCheck plus{FragbitsCheck::Mode::kPlus, FragbitsCheck::kDontFragment};
    EXPECT_FALSE(plus.matches(0x40));  // `+`: at least one more bit than those named
    EXPECT_TRUE(plus.matches(0x60));
    EXPECT_FALSE(plus.matches(0x20));
    FragbitsCheck exact{FragbitsCheck::Mode::kExact, FragbitsCheck::kDontFragment};
    EXPECT_TRUE(exact.matches(0x40 | 0x1f));  // offset bits are not flags
    EXPECT_FALSE(exact.matches(0xc0));
    FragbitsCheck any{FragbitsCheck::Mode::kAny, 0x60};
    EXPECT_TRUE(any.matches(0x20));
    EXPECT_FALSE(any.matches(0x80));
    FragbitsCheck not_all{FragbitsCheck::Mode::kNot, 0x60};
    EXPECT_TRUE(not_all.matches(0x40));
    EXPECT_FALSE(not_all.matches(0x60));
}

TEST(HeaderKeywords, ByteTestCountZeroReadsTheWholeNumber) {
    Rule r = one_rule("content:\"a\"; byte_test:0,>=,33554431,0,string,dec,relative;");
    ASSERT_EQ(r.byte_ops.size(), 1u);
    const ByteOp& op = r.byte_ops[0];
    EXPECT_EQ(op.nbytes, 0);
    EXPECT_EQ(op.base, NumBase::kDec);
    EXPECT_EQ(op.cmp, ByteOp::Cmp::kGe);
    EXPECT_EQ(op.value.value, 33554431);
    EXPECT_TRUE(op.relative);
    // ET's Content-Length idiom loads as Suricata loads it.
    Rule cl = one_rule("http.content_len; byte_test:0,=,0,0,string,dec;");
    ASSERT_EQ(cl.byte_ops.size(), 1u);
    EXPECT_EQ(cl.byte_ops[0].nbytes, 0);
    EXPECT_EQ(cl.byte_ops[0].buffer.kind, static_cast<uint8_t>(core::BufferKind::kHttpContentLen));
}

TEST(HeaderKeywords, HeaderConditionsAreNotProtocolDetectionOnly) {
    Rule pd = one_rule("app-layer-protocol:tls;");
    EXPECT_TRUE(pd.protocol_detection_only());
    EXPECT_FALSE(one_rule("app-layer-protocol:tls; ttl:5;").protocol_detection_only());
    EXPECT_FALSE(one_rule("app-layer-protocol:tls; fragbits:D;").protocol_detection_only());
}

TEST(HeaderKeywords, ArpRulesRefuseThem) {
    RuleSet set = parse("alert arp any any -> any any (ttl:1; sid:1;)");
    ASSERT_EQ(set.report().unsupported.size(), 1u) << issues_text(set.report());
    EXPECT_EQ(set.report().unsupported[0].keyword, "ttl (arp rule)");
}

}  // namespace
}  // namespace sensor::rules
