// Inspector: one rule's keyword list over one buffer, with the stream-prefix base, the step
// budget, and the number reader shared by byte_test, byte_jump and byte_extract.

#include "sensor/detect/inspection.h"

#include <gtest/gtest.h>

#include <string>

#include "detect_test_support.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"

namespace sensor::detect {
namespace {

using test_support::bytes;

rules::Rule parse_one(const std::string& options) {
    rules::Taxonomy taxonomy;
    auto set = rules::parse_rules_text("alert tcp any any -> any any (" + options + " sid:1;)",
                                       "inspect.rules", {}, taxonomy);
    EXPECT_TRUE(set.has_value());
    EXPECT_EQ(set->rules().size(), 1u);
    return set->rules().empty() ? rules::Rule{} : set->rules()[0];
}

class InspectorTest : public ::testing::Test {
protected:
    bool inspect(const std::string& options, std::string_view buffer, size_t base = 0) {
        rule_ = parse_one(options);
        if (rule_.lists.size() != 1) {
            ADD_FAILURE() << "expected one list";
            return false;
        }
        vars_.fill(0);
        return inspector_.inspect(rule_, rule_.lists[0], bytes(buffer), base, vars_);
    }

    rules::Rule rule_;
    Inspector inspector_;
    Inspector::Vars vars_{};
};

TEST_F(InspectorTest, BaseSeparatesPrefixFromPacket) {
    // Anchored keywords count from the base; unanchored contents also see the prefix.
    EXPECT_TRUE(inspect("content:\"GET\"; depth:3;", "xxxxGET /", 4));
    EXPECT_FALSE(inspect("content:\"GET\"; depth:3;", "GET /xxxx", 4));
    EXPECT_TRUE(inspect("content:\"xxGE\";", "xxxxGET /", 4));   // crosses the boundary
    EXPECT_FALSE(inspect("content:\"xxxx\";", "xxxxGET /", 4));  // wholly in the prefix
    // A later occurrence past the base counts even when the first one is in the prefix.
    EXPECT_TRUE(inspect("content:\"ab\";", "ab..ab", 3));
    // isdataat counts from the base too: the packet here is "x".
    EXPECT_TRUE(inspect("isdataat:0;", "pre!x", 4));
    EXPECT_FALSE(inspect("isdataat:1;", "pre!x", 4));
}

TEST_F(InspectorTest, NegativeDistanceClampsAtTheBufferStart) {
    EXPECT_TRUE(inspect("content:\"cd\"; content:\"ab\"; distance:-10; within:12;", "abcd"));
    EXPECT_FALSE(inspect("content:\"cd\"; content:\"ab\"; distance:-1;", "abcd"));
}

TEST_F(InspectorTest, ByteJumpFromEndAndFromBeginning) {
    // from_end: jump back from the end by the value read (as a negative post_offset).
    EXPECT_TRUE(inspect("byte_jump:1,0,from_end,post_offset -3; content:\"END\"; within:3;",
                        std::string("\x00"
                                    "..END",
                                    6)));
    EXPECT_TRUE(inspect("byte_jump:1,0,from_beginning; content:\"Z\"; within:1;", std::string("\x03"
                                                                                              "..Z",
                                                                                              4)));
    // A jump past the end fails; exactly to the end is allowed.
    EXPECT_FALSE(inspect("byte_jump:1,0;", std::string("\x05"
                                                       "..",
                                                       3)));
    EXPECT_TRUE(inspect("byte_jump:1,0; isdataat:!1,relative;", std::string("\x02"
                                                                            "..",
                                                                            3)));
}

TEST_F(InspectorTest, StepBudgetStopsPathologicalBacktracking) {
    // Each "a" retries the next: 2000 a's and a chain of three within-contents that never
    // completes would take millions of steps without the budget.
    std::string data(2000, 'a');
    EXPECT_FALSE(
        inspect("content:\"a\"; content:\"a\"; within:1; content:\"a\"; within:1; content:\"b\"; "
                "within:1;",
                data));
    EXPECT_EQ(inspector_.budget_exhausted(), 1u);
}

rules::ByteOp op(uint8_t nbytes, rules::NumBase base, bool little = false, uint64_t mask = 0) {
    rules::ByteOp o;
    o.nbytes = nbytes;
    o.base = base;
    o.little_endian = little;
    o.bitmask = mask;
    return o;
}

TEST(ReadNumber, BinaryAndText) {
    uint64_t v = 0;
    int64_t used = 0;
    const std::string bin("\x01\x02\x03\x04", 4);
    ASSERT_TRUE(read_number(bytes(bin), 0, op(4, rules::NumBase::kBinary), v, used));
    EXPECT_EQ(v, 0x01020304u);
    EXPECT_EQ(used, 4);
    ASSERT_TRUE(read_number(bytes(bin), 1, op(2, rules::NumBase::kBinary, true), v, used));
    EXPECT_EQ(v, 0x0302u);
    // The bitmask keeps its bits and shifts them down.
    ASSERT_TRUE(read_number(bytes(bin), 0, op(2, rules::NumBase::kBinary, false, 0x0ff0), v, used));
    EXPECT_EQ(v, 0x10u);
    EXPECT_FALSE(read_number(bytes(bin), 3, op(2, rules::NumBase::kBinary), v, used));
    EXPECT_FALSE(read_number(bytes(bin), -1, op(1, rules::NumBase::kBinary), v, used));

    ASSERT_TRUE(read_number(bytes("123x"), 0, op(4, rules::NumBase::kDec), v, used));
    EXPECT_EQ(v, 123u);
    EXPECT_EQ(used, 3);  // text numbers stop at the first non-digit
    ASSERT_TRUE(read_number(bytes("fF"), 0, op(2, rules::NumBase::kHex), v, used));
    EXPECT_EQ(v, 255u);
    ASSERT_TRUE(read_number(bytes("17"), 0, op(2, rules::NumBase::kOct), v, used));
    EXPECT_EQ(v, 15u);
    EXPECT_FALSE(read_number(bytes("8"), 0, op(1, rules::NumBase::kOct), v, used));
    EXPECT_FALSE(read_number(bytes("x1"), 0, op(2, rules::NumBase::kDec), v, used));
    EXPECT_FALSE(
        read_number(bytes("99999999999999999999999"), 0, op(23, rules::NumBase::kDec), v, used));
}

}  // namespace
}  // namespace sensor::detect
