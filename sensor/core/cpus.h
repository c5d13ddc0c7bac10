#pragma once

#include <cstddef>

namespace sensor::core {

// CPUs the calling thread may run on: the CPUs in its affinity mask (taskset, cgroup cpusets,
// systemd's CPUAffinity=), else std::thread::hardware_concurrency(), else 1. A CPU quota
// (cgroup cpu.max, docker --cpus) does not shrink the mask and is not counted.
size_t usable_cpu_count();

}  // namespace sensor::core
