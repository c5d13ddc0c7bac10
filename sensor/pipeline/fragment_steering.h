#pragma once
// FragmentSteering: which worker each IP datagram in pieces goes to, so that all its fragments
// meet on one worker even though the dispatcher places frames by inner addresses that only the
// first fragment shows. The first fragment of a datagram to arrive decides; the others follow
// it for as long as a fragment can wait for reassembly. Bounded: a fixed open-addressing table;
// with no free slot the oldest nearby entry is evicted and counted (its datagram's later
// fragments may then reach another worker and fail to reassemble). Capture thread only.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace sensor::pipeline {

class FragmentSteering {
public:
    static constexpr size_t kNone = SIZE_MAX;

    // capacity: slots (rounded up to a power of two); lifetime_us: packet time after which an
    // entry is dead (the workers' reassembly timeout).
    FragmentSteering(size_t capacity, int64_t lifetime_us);

    // The worker chosen for this datagram by an earlier fragment, or kNone.
    size_t find(uint64_t datagram, int64_t now_us) noexcept;
    void remember(uint64_t datagram, size_t worker, int64_t now_us) noexcept;
    // Forgets every datagram (the capture's time started over).
    void clear() noexcept { std::fill(slots_.begin(), slots_.end(), Slot{}); }

    uint64_t evictions() const noexcept { return evictions_; }
    size_t capacity() const noexcept { return slots_.size(); }

private:
    static constexpr size_t kProbe = 8;
    struct Slot {
        uint64_t datagram = 0;
        int64_t last_us = 0;
        uint32_t worker = 0;
        bool used = false;
    };
    bool live(const Slot& s, int64_t now_us) const noexcept {
        return s.used && now_us - s.last_us <= lifetime_us_;
    }

    std::vector<Slot> slots_;
    size_t mask_;
    int64_t lifetime_us_;
    uint64_t evictions_ = 0;
};

}  // namespace sensor::pipeline
