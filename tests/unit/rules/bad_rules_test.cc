// Table-driven rejection tests: every line of bad_rules.txt is one rule and the exact
// message the loader must give for it.

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "rules/rule_set.h"
#include "rules_test_support.h"

namespace sensor::rules {
namespace {

struct BadRule {
    int file_line = 0;
    std::string rule;
    std::string expected;
};

std::vector<BadRule> load_bad_rules() {
    std::vector<BadRule> out;
    std::ifstream in(std::string(SENSOR_SOURCE_DIR) + "/tests/unit/rules/bad_rules.txt");
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty() || line[0] == '#') {
            continue;
        }
        size_t split = line.rfind(" # ");
        if (split == std::string::npos) {
            out.push_back({n, line, "<bad_rules.txt line has no ' # '>"});
            continue;
        }
        out.push_back({n, line.substr(0, split), line.substr(split + 3)});
    }
    return out;
}

class BadRuleTest : public ::testing::TestWithParam<BadRule> {};

TEST_P(BadRuleTest, IsRejectedWithExactMessage) {
    const BadRule& c = GetParam();
    auto set = parse_rules_text(c.rule, "bad.rules", {}, test_support::taxonomy());
    ASSERT_TRUE(set.has_value());
    EXPECT_EQ(set->report().rules_seen, 1u);
    EXPECT_TRUE(set->rules().empty());
    EXPECT_TRUE(set->report().unsupported.empty()) << test_support::issues_text(set->report());
    ASSERT_EQ(set->report().errors.size(), 1u) << test_support::issues_text(set->report());
    EXPECT_EQ(set->report().errors[0].message, c.expected)
        << "bad_rules.txt:" << c.file_line << ": " << c.rule;
    EXPECT_EQ(set->report().errors[0].line, 1);
    EXPECT_EQ(set->report().errors[0].file, "bad.rules");
}

TEST(BadRuleTable, HasCases) { EXPECT_GE(load_bad_rules().size(), 50u); }

INSTANTIATE_TEST_SUITE_P(BadRules, BadRuleTest, ::testing::ValuesIn(load_bad_rules()),
                         [](const ::testing::TestParamInfo<BadRule>& param_info) {
                             return "line" + std::to_string(param_info.param.file_line);
                         });

}  // namespace
}  // namespace sensor::rules
