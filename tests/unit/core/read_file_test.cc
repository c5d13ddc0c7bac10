#include "sensor/core/read_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace sensor::core {
namespace {

class ReadFile : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("read_file_test_" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    std::string write(const std::string& name, const std::string& bytes) {
        const std::string path = (dir_ / name).string();
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    }
    std::filesystem::path dir_;
};

TEST_F(ReadFile, ReturnsEveryByte) {
    std::string bytes(300'000, '\0');
    for (size_t i = 0; i < bytes.size(); ++i) {
        bytes[i] = static_cast<char>(i * 7 % 251);  // NULs included
    }
    auto text = read_file(write("big.bin", bytes));
    ASSERT_TRUE(text) << text.error().message;
    EXPECT_EQ(*text, bytes);
    auto empty = read_file(write("empty", ""));
    ASSERT_TRUE(empty) << empty.error().message;
    EXPECT_TRUE(empty->empty());
}

TEST_F(ReadFile, FilesWithoutASizeAreReadToTheEnd) {
    // /proc files report a size of 0 and still have bytes.
    auto status = read_file("/proc/self/status");
    ASSERT_TRUE(status) << status.error().message;
    EXPECT_NE(status->find("Name:"), std::string::npos);
    EXPECT_EQ(status->back(), '\n');
}

TEST_F(ReadFile, ErrorsNameTheFile) {
    const std::string missing = (dir_ / "missing.rules").string();
    auto gone = read_file(missing);
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().message, missing + ": cannot open: No such file or directory");
    auto dir = read_file(dir_.string());
    ASSERT_FALSE(dir);
    EXPECT_NE(dir.error().message.find(dir_.string() + ": cannot read"), std::string::npos);
}

}  // namespace
}  // namespace sensor::core
