#include "sensor/metrics/file_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace sensor::metrics {
namespace {

std::string slurp(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

class FileWriterTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("metrics_file_" + std::to_string(getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::filesystem::path dir_;
};

TEST_F(FileWriterTest, ReplacesTheFileWholeAndLeavesNoTemporary) {
    const auto path = (dir_ / "metrics.prom").string();
    ASSERT_TRUE(write_file_atomically(path, "first\n"));
    EXPECT_EQ(slurp(path), "first\n");
    ASSERT_TRUE(write_file_atomically(path, "second\n"));
    EXPECT_EQ(slurp(path), "second\n");
    EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
    auto bad = write_file_atomically((dir_ / "no" / "dir" / "m.prom").string(), "x");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("m.prom.tmp: cannot create"), std::string::npos)
        << bad.error().message;
}

TEST_F(FileWriterTest, WritesPeriodicallyAndOnDemand) {
    const auto path = (dir_ / "metrics.prom").string();
    std::atomic<int> renders{0};
    PeriodicFileWriter writer(
        path, std::chrono::milliseconds(20),
        [&renders] { return "render " + std::to_string(++renders) + "\n"; }, nullptr);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (writer.writes() < 3 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_GE(writer.writes(), 3u);
    writer.stop();
    const uint64_t after_stop = writer.writes();
    std::this_thread::sleep_for(std::chrono::milliseconds(60));
    EXPECT_EQ(writer.writes(), after_stop);  // the thread is gone
    ASSERT_TRUE(writer.write_now());
    EXPECT_EQ(slurp(path), "render " + std::to_string(renders.load()) + "\n");
}

TEST_F(FileWriterTest, ReportsPeriodicFailures) {
    std::atomic<int> errors{0};
    PeriodicFileWriter writer((dir_ / "missing" / "m.prom").string(), std::chrono::milliseconds(10),
                              [] { return std::string("x"); },
                              [&errors](const core::Error&) { ++errors; });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (errors.load() < 2 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    EXPECT_GE(errors.load(), 2);  // keeps trying after a failure
    EXPECT_EQ(writer.writes(), 0u);
}

TEST_F(FileWriterTest, NoThreadWithoutInterval) {
    std::atomic<int> renders{0};
    PeriodicFileWriter writer((dir_ / "m.prom").string(), std::chrono::milliseconds(0),
                              [&renders] { return std::to_string(++renders); }, nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    EXPECT_EQ(renders.load(), 0);
    ASSERT_TRUE(writer.write_now());
    EXPECT_EQ(renders.load(), 1);
}

}  // namespace
}  // namespace sensor::metrics
