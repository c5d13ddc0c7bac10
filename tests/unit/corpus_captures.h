#pragma once
// corpus_captures(): every capture file (.pcap, .pcapng, .cap, any case) under
// ../shared/corpora, sorted; empty when the corpora are not beside the repository.

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace sensor::test_support {

inline std::vector<std::filesystem::path> corpus_captures() {
    const std::filesystem::path root =
        std::filesystem::path(SENSOR_SOURCE_DIR) / "../shared/corpora";
    std::vector<std::filesystem::path> files;
    std::error_code ec;
    if (!std::filesystem::is_directory(root, ec)) {
        return files;
    }
    for (auto it = std::filesystem::recursive_directory_iterator(root, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        std::string ext = it->path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(),
                       [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
        if ((ext == ".pcap" || ext == ".pcapng" || ext == ".cap") && it->is_regular_file()) {
            files.push_back(it->path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

}  // namespace sensor::test_support
