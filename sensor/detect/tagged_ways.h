#pragma once
// The ways of one set of the lock-free, set-associative tables every worker shares
// (ThresholdTable, XbitTable). A way's tag holds a key's fingerprint << 2 and a 2-bit
// generation (fingerprint 0: free); its state word holds what the table keeps for that key.
// Both change by compare-and-swap only; a claim bumps the generation, so a state written for
// the way's previous key is recognised as stale.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "sensor/core/mix64.h"

namespace sensor::detect {

struct TaggedWay {
    std::atomic<uint64_t> tag{0};
    std::atomic<uint64_t> state{0};
};

inline constexpr uint64_t kTagGenerationMask = 3;

// Where a key lives: set picks the set, fingerprint (never 0, below 2^62) names the key in it.
struct TagKey {
    uint64_t set = 0;
    uint64_t fingerprint = 0;
};

// Sets for at least capacity entries of `ways` ways each: a power of two, as a key's set
// bits pick one by mask.
inline size_t sets_for(size_t capacity, size_t ways) noexcept {
    size_t n = ways;
    while (n < capacity) {
        n <<= 1;
    }
    return n / ways;
}

// Two independent chains over a key's words: one gives the set, the other the fingerprint.
// The seeds keep one table's keys apart from another's.
inline TagKey tag_key(std::span<const uint64_t> words, uint64_t set_seed,
                      uint64_t fingerprint_seed) noexcept {
    uint64_t h1 = set_seed;
    uint64_t h2 = fingerprint_seed;
    for (const uint64_t w : words) {
        h1 = core::mix64(h1 ^ w);
        h2 = core::mix64((h2 + w) * 0x9e3779b97f4a7c15ULL);
    }
    TagKey k{h1, h2 >> 2};
    if (k.fingerprint == 0) {
        k.fingerprint = 1;
    }
    return k;
}

struct WayClaim {
    size_t way = 0;
    uint64_t tag = 0;           // the way's tag for this key now
    uint64_t replaced_tag = 0;  // the tag a claim replaced (fingerprint 0: the way was free)
    bool claimed = false;       // false: the key already had the way
};

// Finds the way holding fingerprint, or claims one for it: a free way, else the way
// pick_victim(tags) names (tags: each way's tag as read, all in use). False when another
// thread changed that way's tag first: the caller looks again.
template <size_t kWays, class PickVictim>
bool find_or_claim(TaggedWay (&ways)[kWays], uint64_t fingerprint, PickVictim&& pick_victim,
                   WayClaim& out) noexcept {
    uint64_t tags[kWays];
    for (size_t w = 0; w < kWays; ++w) {
        tags[w] = ways[w].tag.load(std::memory_order_acquire);
        if ((tags[w] >> 2) == fingerprint) {
            out = WayClaim{w, tags[w], 0, false};
            return true;
        }
    }
    size_t victim = kWays;
    for (size_t w = 0; w < kWays; ++w) {
        if ((tags[w] >> 2) == 0) {
            victim = w;
            break;
        }
    }
    if (victim == kWays) {
        victim = pick_victim(static_cast<const uint64_t(&)[kWays]>(tags));
    }
    const uint64_t replaced = tags[victim];
    const uint64_t tag = (fingerprint << 2) | ((replaced + 1) & kTagGenerationMask);
    uint64_t expected = replaced;
    if (!ways[victim].tag.compare_exchange_strong(expected, tag, std::memory_order_acq_rel,
                                                  std::memory_order_acquire)) {
        return false;
    }
    out = WayClaim{victim, tag, replaced, true};
    return true;
}

}  // namespace sensor::detect
