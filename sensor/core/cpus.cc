#include "sensor/core/cpus.h"

#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <system_error>
#include <thread>

namespace sensor::core {
namespace {

constexpr int kMaxCpus = 1 << 16;

// The calling thread's mask in a set wide enough for the kernel's (it may be wider than
// cpu_set_t, over 1024 CPUs); empty where it cannot be read.
std::vector<int> read_affinity() {
    for (int cpus = CPU_SETSIZE; cpus <= kMaxCpus; cpus *= 2) {
        cpu_set_t* set = CPU_ALLOC(cpus);
        if (set == nullptr) {
            break;
        }
        const size_t bytes = CPU_ALLOC_SIZE(cpus);
        CPU_ZERO_S(bytes, set);
        const int rc = sched_getaffinity(0, bytes, set);
        const int err = errno;
        std::vector<int> found;
        if (rc == 0) {
            for (int cpu = 0; cpu < cpus; ++cpu) {
                if (CPU_ISSET_S(static_cast<size_t>(cpu), bytes, set)) {
                    found.push_back(cpu);
                }
            }
        }
        CPU_FREE(set);
        if (rc == 0) {
            return found;
        }
        if (err != EINVAL) {
            break;  // EINVAL: the kernel's mask is larger
        }
    }
    return {};
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && s.front() == ' ') {
        s.remove_prefix(1);
    }
    while (!s.empty() && s.back() == ' ') {
        s.remove_suffix(1);
    }
    return s;
}

bool parse_cpu(std::string_view s, int& cpu) {
    s = trim(s);
    const char* end = s.data() + s.size();
    const auto [ptr, ec] = std::from_chars(s.data(), end, cpu);
    return !s.empty() && ec == std::errc() && ptr == end && cpu >= 0 && cpu < kMaxCpus;
}

}  // namespace

size_t usable_cpu_count() {
    const std::vector<int> cpus = read_affinity();
    if (!cpus.empty()) {
        return cpus.size();
    }
    const unsigned online = std::thread::hardware_concurrency();
    return online > 0 ? online : 1;
}

std::vector<int> affinity_cpus() { return read_affinity(); }

Result<std::vector<int>> parse_cpu_list(std::string_view text) {
    std::vector<int> cpus;
    if (trim(text).empty()) {
        return make_error("an empty CPU list");
    }
    while (true) {
        const size_t comma = text.find(',');
        const std::string_view part = trim(text.substr(0, comma));
        const size_t dash = part.find('-');
        int first = 0;
        int last = 0;
        const bool ok = dash == std::string_view::npos
                            ? parse_cpu(part, first) && parse_cpu(part, last)
                            : parse_cpu(part.substr(0, dash), first) &&
                                  parse_cpu(part.substr(dash + 1), last) && first <= last;
        if (!ok) {
            return make_error("'" + std::string(part) +
                              "' is not a CPU number or range (as in 0-3,8; CPUs below " +
                              std::to_string(kMaxCpus) + ")");
        }
        for (int cpu = first; cpu <= last; ++cpu) {
            if (std::find(cpus.begin(), cpus.end(), cpu) != cpus.end()) {
                return make_error("CPU " + std::to_string(cpu) + " is listed twice");
            }
            cpus.push_back(cpu);
        }
        if (comma == std::string_view::npos) {
            break;
        }
        text.remove_prefix(comma + 1);
    }
    return cpus;
}

std::string format_cpu_list(std::span<const int> cpus) {
    std::string out;
    for (size_t i = 0; i < cpus.size();) {
        size_t j = i;
        while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) {
            ++j;
        }
        if (!out.empty()) {
            out += ',';
        }
        out += std::to_string(cpus[i]);
        if (j > i) {
            out += '-' + std::to_string(cpus[j]);
        }
        i = j + 1;
    }
    return out;
}

Result<bool> pin_thread(pthread_t thread, std::span<const int> cpus) {
    if (cpus.empty()) {
        return make_error("no CPU to run on");
    }
    const int highest = *std::max_element(cpus.begin(), cpus.end());
    const int width = std::max(CPU_SETSIZE, highest + 1);
    cpu_set_t* set = CPU_ALLOC(width);
    if (set == nullptr) {
        return make_error("no memory for a CPU set");
    }
    const size_t bytes = CPU_ALLOC_SIZE(width);
    CPU_ZERO_S(bytes, set);
    for (int cpu : cpus) {
        CPU_SET_S(static_cast<size_t>(cpu), bytes, set);
    }
    const int rc = pthread_setaffinity_np(thread, bytes, set);
    CPU_FREE(set);
    if (rc != 0) {
        return make_error("cannot run on CPUs " + format_cpu_list(cpus) + ": " +
                          std::generic_category().message(rc));
    }
    return true;
}

}  // namespace sensor::core
