#pragma once
// MemoryBudget: the app layer's per-worker memory cap. Single-threaded (owned by one
// AppLayer); sessions charge what they hold and refund it when they are freed.

#include <cstddef>

namespace sensor::applayer {

struct MemoryBudget {
    size_t cap = 0;
    size_t used = 0;

    bool charge(size_t n) noexcept {
        if (n > cap || used > cap - n) {
            return false;
        }
        used += n;
        return true;
    }
    void refund(size_t n) noexcept { used = n > used ? 0 : used - n; }
};

}  // namespace sensor::applayer
