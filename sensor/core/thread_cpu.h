#pragma once
// CPU time of the calling thread. Unlike wall time it is not stretched when the thread shares
// a core with others (capture, workers and output on fewer cores than threads), so it says
// what each stage really costs.

#include <ctime>

namespace sensor::core {

inline double thread_cpu_seconds() noexcept {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace sensor::core
