#pragma once
// TempDir: a fresh directory under the system's temporary folder for one test, removed with
// everything in it when the test's TempDir goes.

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace sensor::test_support {

class TempDir {
public:
    explicit TempDir(const std::string& prefix = "sensor-test") {
        std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX"));
        const char* made = mkdtemp(pattern.data());
        path_ = made == nullptr ? std::filesystem::path() : std::filesystem::path(made);
    }
    ~TempDir() { remove_now(); }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    std::string file(const std::string& name) const { return (path_ / name).string(); }
    const std::filesystem::path& path() const { return path_; }
    // For a death test's child, which ends without running destructors.
    void remove_now() const {
        std::error_code ignored;
        if (!path_.empty()) {
            std::filesystem::remove_all(path_, ignored);
        }
    }

private:
    std::filesystem::path path_;
};

}  // namespace sensor::test_support
