#pragma once

#include <pthread.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sensor/core/result.h"

namespace sensor::core {

// CPUs the calling thread may run on: the CPUs in its affinity mask (taskset, cgroup cpusets,
// systemd's CPUAffinity=), else std::thread::hardware_concurrency(), else 1. A CPU quota
// (cgroup cpu.max, docker --cpus) does not shrink the mask and is not counted.
size_t usable_cpu_count();

// The CPU numbers in the calling thread's affinity mask, ascending; empty where the mask
// cannot be read.
std::vector<int> affinity_cpus();

// A CPU list as taskset -c and /sys write them: "0-3,8,10-11", in any order, spaces around
// the parts allowed. A number listed twice, a range that runs backwards, a CPU beyond 65535
// and anything else are errors that quote the part.
Result<std::vector<int>> parse_cpu_list(std::string_view text);

// The list in that form, in the order given, ascending runs joined: {0, 1, 2, 3, 8} ->
// "0-3,8", {1, 0} -> "1,0".
std::string format_cpu_list(std::span<const int> cpus);

// Lets a thread run only on these CPUs (pthread_setaffinity_np); the error says why not.
Result<bool> pin_thread(pthread_t thread, std::span<const int> cpus);
inline Result<bool> pin_this_thread(std::span<const int> cpus) {
    return pin_thread(pthread_self(), cpus);
}

}  // namespace sensor::core
