#pragma once
// Writes a bench program's --json results; false (after saying so on stderr) when the file
// cannot be written, so that the program exits non-zero instead of leaving a stale file.

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace sensor::bench {

inline bool write_json_file(const char* tool, const std::string& path, const nlohmann::json& j) {
    std::ofstream out(path);
    out << j.dump(2) << "\n";
    if (!out) {
        std::fprintf(stderr, "%s: %s: cannot write\n", tool, path.c_str());
        return false;
    }
    return true;
}

}  // namespace sensor::bench
