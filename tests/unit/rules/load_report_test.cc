// new_errors(): which rule errors a reload would add to those the running rules already have.

#include <gtest/gtest.h>

#include <string>

#include "rules/rule_set.h"
#include "rules_test_support.h"

namespace sensor::rules {
namespace {

constexpr const char* kGood = R"(alert tcp any any -> any 80 (msg:"a"; content:"abc"; sid:1;))";
constexpr const char* kBad = R"(alert tcp any any -> any 80 (msg:"b"; content:"x"; sid:2; rev:x;))";
constexpr const char* kOtherBad = R"(alert tcp any any -> any 80 (msg:"c"; sid:3; depth:z;))";

LoadReport report_of(const std::string& text) { return test_support::parse(text).report(); }

TEST(NewErrors, NoneWhenBothAreClean) {
    auto running = report_of(std::string(kGood) + "\n");
    EXPECT_TRUE(new_errors(running, running).empty());
}

TEST(NewErrors, AnErrorTheRunningSetAlreadyHadIsNotNewEvenOnAnotherLine) {
    auto running = report_of(std::string(kGood) + "\n" + kBad + "\n");
    ASSERT_EQ(running.errors.size(), 1u);
    // Two rules added above the broken one: its line moves from 2 to 4.
    auto candidate = report_of(std::string("# comment\n\n") + kGood + "\n" + kBad + "\n");
    ASSERT_EQ(candidate.errors.size(), 1u);
    EXPECT_NE(candidate.errors[0].line, running.errors[0].line);
    EXPECT_TRUE(new_errors(running, candidate).empty());
}

TEST(NewErrors, ADifferentErrorIsNew) {
    auto running = report_of(std::string(kGood) + "\n" + kBad + "\n");
    auto candidate = report_of(std::string(kGood) + "\n" + kBad + "\n" + kOtherBad + "\n");
    auto added = new_errors(running, candidate);
    ASSERT_EQ(added.size(), 1u);
    EXPECT_EQ(added[0].line, 3);
    EXPECT_NE(added[0].message.find("depth"), std::string::npos) << added[0].message;
}

TEST(NewErrors, ASecondCopyOfAKnownErrorIsNew) {
    auto running = report_of(std::string(kBad) + "\n");
    auto candidate = report_of(std::string(kBad) + "\n" + kBad + "\n");
    ASSERT_EQ(candidate.errors.size(), 2u);
    auto added = new_errors(running, candidate);
    ASSERT_EQ(added.size(), 1u);
    EXPECT_EQ(added[0].line, 2);
}

TEST(NewErrors, TheSameMessageInAnotherFileIsNew) {
    auto running = test_support::parse(std::string(kBad) + "\n").report();
    LoadReport candidate = running;
    ASSERT_EQ(candidate.errors.size(), 1u);
    candidate.errors[0].file = "other.rules";
    EXPECT_EQ(new_errors(running, candidate).size(), 1u);
}

}  // namespace
}  // namespace sensor::rules
