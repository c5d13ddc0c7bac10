#include "sensor/core/cpus.h"

#include <sched.h>

#include <cerrno>
#include <thread>

namespace sensor::core {

size_t usable_cpu_count() {
    // The mask may be wider than cpu_set_t (over 1024 CPUs): grow it until the kernel's fits.
    for (int cpus = CPU_SETSIZE; cpus <= (1 << 16); cpus *= 2) {
        cpu_set_t* set = CPU_ALLOC(cpus);
        if (set == nullptr) {
            break;
        }
        const size_t bytes = CPU_ALLOC_SIZE(cpus);
        CPU_ZERO_S(bytes, set);
        const int rc = sched_getaffinity(0, bytes, set);
        const int count = rc == 0 ? CPU_COUNT_S(bytes, set) : 0;
        const int err = errno;
        CPU_FREE(set);
        if (rc == 0 && count > 0) {
            return static_cast<size_t>(count);
        }
        if (rc != 0 && err == EINVAL) {
            continue;  // the kernel's mask is larger
        }
        break;
    }
    const unsigned online = std::thread::hardware_concurrency();
    return online > 0 ? online : 1;
}

}  // namespace sensor::core
