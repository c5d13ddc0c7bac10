#pragma once
// Counter: a single-writer statistic. Written only by its owning thread, read by others
// (metrics, end-of-run summary) without locks.

#include <atomic>
#include <cstdint>
#include <string_view>

namespace sensor::core {

class Counter {
public:
    Counter() = default;
    Counter(const Counter& other) noexcept : v_(other.load()) {}
    Counter& operator=(const Counter& other) noexcept {
        v_.store(other.load(), std::memory_order_relaxed);
        return *this;
    }
    // load+store rather than fetch_add: only one thread writes, so no lock prefix is needed.
    void add(uint64_t n = 1) noexcept {
        v_.store(v_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    void set(uint64_t n) noexcept { v_.store(n, std::memory_order_relaxed); }
    uint64_t load() const noexcept { return v_.load(std::memory_order_relaxed); }

private:
    std::atomic<uint64_t> v_{0};
};

template <class S>
struct CounterSpec {
    Counter S::*field;
    std::string_view name;
    std::string_view help;
};

}  // namespace sensor::core
