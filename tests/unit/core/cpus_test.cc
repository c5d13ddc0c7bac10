#include "sensor/core/cpus.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace sensor::core {
namespace {

TEST(CpuList, ParsesNumbersAndRangesInTheOrderGiven) {
    EXPECT_EQ(parse_cpu_list("0"), (std::vector<int>{0}));
    EXPECT_EQ(parse_cpu_list("0-3,8,10-11"), (std::vector<int>{0, 1, 2, 3, 8, 10, 11}));
    EXPECT_EQ(parse_cpu_list(" 5 , 1-2 "), (std::vector<int>{5, 1, 2}));
    EXPECT_EQ(parse_cpu_list("7-7"), (std::vector<int>{7}));
}

TEST(CpuList, RefusesWhatIsNotAList) {
    for (const std::string bad : {"", " ", "a", "1-", "-1", "3-1", "1,,2", "1;2", "0x1", "1.5",
                                  "65536", "99999999999", "1-2-3"}) {
        auto parsed = parse_cpu_list(bad);
        EXPECT_FALSE(parsed) << "'" << bad << "'";
    }
    auto backwards = parse_cpu_list("0,3-1");
    ASSERT_FALSE(backwards);
    EXPECT_NE(backwards.error().message.find("'3-1'"), std::string::npos)
        << backwards.error().message;
    auto twice = parse_cpu_list("0-3,2");
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().message, "CPU 2 is listed twice");
}

TEST(CpuList, FormatsRunsInTheOrderGiven) {
    EXPECT_EQ(format_cpu_list(std::vector<int>{0, 1, 2, 3, 8}), "0-3,8");
    EXPECT_EQ(format_cpu_list(std::vector<int>{1, 0}), "1,0");
    EXPECT_EQ(format_cpu_list(std::vector<int>{}), "");
    const std::vector<int> listed = {4, 5, 6, 1, 9, 10};
    EXPECT_EQ(parse_cpu_list(format_cpu_list(listed)), listed);
}

TEST(CpuPin, AThreadRunsWhereItIsPinnedAndTheMaskSaysSo) {
    const std::vector<int> cpus = affinity_cpus();
    ASSERT_FALSE(cpus.empty());
    EXPECT_EQ(usable_cpu_count(), cpus.size());
    std::vector<int> seen;
    std::string error;
    std::thread t([&] {
        auto pinned = pin_this_thread(std::vector<int>{cpus.back()});
        if (!pinned) {
            error = pinned.error().message;
        }
        seen = affinity_cpus();
    });
    t.join();
    EXPECT_EQ(error, "");
    EXPECT_EQ(seen, (std::vector<int>{cpus.back()}));
    EXPECT_EQ(affinity_cpus(), cpus);  // the other thread's mask was its own
}

TEST(CpuPin, ACpuTheMachineLacksIsAnError) {
    std::string error;
    std::vector<int> seen;
    std::thread t([&] {
        auto pinned = pin_this_thread(std::vector<int>{65'535});
        error = pinned ? "" : pinned.error().message;
        seen = affinity_cpus();
    });
    t.join();
    EXPECT_NE(error.find("cannot run on CPUs 65535"), std::string::npos) << error;
    EXPECT_EQ(seen, affinity_cpus());  // unchanged
    auto none = pin_this_thread(std::vector<int>{});
    EXPECT_FALSE(none);
}

}  // namespace
}  // namespace sensor::core
