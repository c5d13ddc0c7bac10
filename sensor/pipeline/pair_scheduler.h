#pragma once
// PairScheduler: which worker an address pair (both directions of all its flows, and its IP
// fragments) goes to. A pair seen for the first time goes to the worker with the least backlog
// (the idea of Suricata's autofp "active-packets" scheduler): heavy conversations then spread
// over the workers instead of piling up where a fixed hash puts them. Once placed, a pair stays
// on its worker until it has been idle longer than any flow or fragment can live, so no worker
// ever sees half a flow. Bounded: a fixed open-addressing table; when no slot is free for a new
// pair it goes where the fixed hash says, and new pairs keep being placed by hash until the
// idle limit has passed since the last such overflow, so a pair routed by hash is never moved
// while it may still be alive. Idle means idle by the capture clock and by the time stamped on
// the packet being placed: after one packet stamped far ahead (a clock glitch) every pair looks
// idle to the capture clock, yet the next packet of a pair can be a second after its last and
// join a flow its worker still holds. Owned and called by the capture thread only.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <memory>
#include <utility>

namespace sensor::pipeline {

class PairScheduler {
public:
    // capacity: table slots (rounded up to a power of two); idle_limit_us: packet time after
    // which an idle pair may move (longer than every flow and fragment timeout).
    PairScheduler(size_t workers, size_t capacity, int64_t idle_limit_us);

    // The worker of this pair at capture time now_us (the newest packet time read) for a packet
    // stamped packet_us. backlog(i) says how far behind worker i is (any measure that grows
    // with queued work).
    template <class Backlog>
    size_t pick(uint64_t pair_hash, int64_t now_us, int64_t packet_us, Backlog&& backlog) noexcept {
        const size_t start = static_cast<size_t>(pair_hash) & mask_;
        Slot* reusable = nullptr;
        for (size_t i = 0; i < kProbe; ++i) {
            Slot& s = slots_[(start + i) & mask_];
            const bool idle = !s.used || (now_us - s.last_us > idle_limit_us_ &&
                                          packet_us - s.last_packet_us > idle_limit_us_);
            if (s.used && s.hash == pair_hash) {
                if (!idle) {
                    s.last_us = std::max(s.last_us, now_us);
                    s.last_packet_us = std::max(s.last_packet_us, packet_us);
                    return s.worker;
                }
                reusable = &s;  // idle long enough: it may move
                break;
            }
            if (idle && reusable == nullptr) {
                reusable = &s;
            }
        }
        const size_t by_hash = static_cast<size_t>(pair_hash % workers_);
        if (reusable == nullptr) {
            ++overflows_;
            hash_mode_until_us_ = now_us + idle_limit_us_;
            return by_hash;
        }
        size_t chosen = by_hash;
        if (now_us >= hash_mode_until_us_) {
            // Least backlog; ties go to the first from the hash's worker on, which keeps an
            // idle sensor's placement spread like the hash.
            uint64_t best = std::numeric_limits<uint64_t>::max();
            for (size_t k = 0; k < workers_; ++k) {
                const size_t w = (by_hash + k) % workers_;
                const uint64_t b = backlog(w);
                if (b < best) {
                    best = b;
                    chosen = w;
                }
            }
            ++placed_least_loaded_;
        } else {
            ++placed_by_hash_;
        }
        reusable->used = true;
        reusable->hash = pair_hash;
        reusable->last_us = now_us;
        reusable->last_packet_us = packet_us;
        reusable->worker = static_cast<uint32_t>(chosen);
        return chosen;
    }

    // A packet stamped with the capture time itself (the newest so far).
    template <class Backlog>
    size_t pick(uint64_t pair_hash, int64_t now_us, Backlog&& backlog) noexcept {
        return pick(pair_hash, now_us, now_us, std::forward<Backlog>(backlog));
    }

    // Forgets every placement (the capture's time started over and every flow has ended).
    void clear() noexcept {
        std::fill_n(slots_.get(), mask_ + 1, Slot{});
        hash_mode_until_us_ = std::numeric_limits<int64_t>::min();
    }

    uint64_t placed_least_loaded() const noexcept { return placed_least_loaded_; }
    uint64_t placed_by_hash() const noexcept { return placed_by_hash_; }
    uint64_t overflows() const noexcept { return overflows_; }
    size_t capacity() const noexcept { return mask_ + 1; }

private:
    static constexpr size_t kProbe = 16;
    struct Slot {
        uint64_t hash = 0;
        int64_t last_us = 0;         // capture time of its last packet
        int64_t last_packet_us = 0;  // newest time stamped on its packets
        uint32_t worker = 0;
        bool used = false;
    };

    struct SlotsFree {
        void operator()(Slot* slots) const noexcept { std::free(slots); }
    };

    size_t workers_;
    size_t mask_;
    int64_t idle_limit_us_;
    int64_t hash_mode_until_us_ = std::numeric_limits<int64_t>::min();
    // From calloc: an all-zero Slot is an unused one, and the system hands the table's pages
    // out zeroed when they are first written, so only the pages pairs land on become resident
    // (the default 262,144 slots are 8 MiB).
    std::unique_ptr<Slot[], SlotsFree> slots_;
    uint64_t placed_least_loaded_ = 0;
    uint64_t placed_by_hash_ = 0;
    uint64_t overflows_ = 0;
};

}  // namespace sensor::pipeline
