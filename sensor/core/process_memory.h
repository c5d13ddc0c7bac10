#pragma once
// Resident set size of this process, from /proc/self/statm: what the memory benchmarks and the
// tests of memory bounds read. Not for the packet path (it opens a file).

#include <unistd.h>

#include <cstdint>
#include <fstream>

namespace sensor::core {

// Bytes resident now; 0 when /proc/self/statm cannot be read.
inline uint64_t resident_bytes() {
    std::ifstream statm("/proc/self/statm");
    uint64_t pages = 0;
    uint64_t resident = 0;
    if (!(statm >> pages >> resident)) {
        return 0;
    }
    return resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

}  // namespace sensor::core
