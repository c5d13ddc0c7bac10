#pragma once
// The ways of one set of the lock-free, set-associative tables every worker shares
// (ThresholdTable, XbitTable). A way's tag holds a key's fingerprint << 2 and a 2-bit
// generation (fingerprint 0: free); its state word holds what the table keeps for that key,
// with the generation of the key it belongs to in its low 2 bits.
//
// Both words change by compare-and-swap only. A claim bumps the tag's generation, which
// leaves the way "in flight": its state still belongs to the evicted key until the first
// update for the new key (the claimer's, or that of a thread that found the key meanwhile)
// moves it to the new key's generation. An in-flight way is never claimed again,
// so a state is at most one generation behind its tag and a claimer's update cannot meet a
// state of a later key. (Claiming in-flight ways let four claims in a row wrap the generation
// before any state was written, and the fourth key then took the first one's state for its
// own. Completing another thread's claim for it would reopen the same hole: that thread's
// pending compare-and-swap could then land on a later key's state of equal value.)
// What remains: a thread that found its key and is stalled between its tag check and its
// compare-and-swap while four whole claims of that way complete could still update the
// fourth key's state, if that state has the very value it read. And two threads that miss the
// same new key of a full set at once may each claim a way for it (each read the other's way
// before its claim): the key then has two entries, each counting part of what follows, until
// one is evicted.

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

// Whether state belongs to the key tag names; false while a claim of the way is in flight.
inline bool settled(uint64_t tag, uint64_t state) noexcept {
    return ((tag ^ state) & kTagGenerationMask) == 0;
}

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

enum class ClaimResult : uint8_t {
    kHeld,         // the key has the way out names: it had it, or has just claimed it
    kRetry,        // another thread changed the set first: look again
    kAllInFlight,  // every way is being claimed for another key: none for this one now
};

// Finds the way holding fingerprint, or claims one for it: a free way, else the settled way
// whose state has the lowest rank(state) (the first of equals).
template <size_t kWays, class Rank>
ClaimResult find_or_claim(TaggedWay (&ways)[kWays], uint64_t fingerprint, Rank&& rank,
                          WayClaim& out) noexcept {
    uint64_t tags[kWays];
    for (size_t w = 0; w < kWays; ++w) {
        tags[w] = ways[w].tag.load(std::memory_order_acquire);
        if ((tags[w] >> 2) == fingerprint) {
            out = WayClaim{w, tags[w], 0, false};
            return ClaimResult::kHeld;
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
        uint64_t lowest = 0;
        for (size_t w = 0; w < kWays; ++w) {
            const uint64_t state = ways[w].state.load(std::memory_order_acquire);
            if (!settled(tags[w], state)) {
                // Either a claim in flight or a tag changed since it was read; in the latter
                // case the key may have been claimed meanwhile, so look again rather than
                // give it a second way.
                if (ways[w].tag.load(std::memory_order_acquire) != tags[w]) {
                    return ClaimResult::kRetry;
                }
                continue;
            }
            const uint64_t r = rank(state);
            if (victim == kWays || r < lowest) {
                victim = w;
                lowest = r;
            }
        }
        if (victim == kWays) {
            return ClaimResult::kAllInFlight;
        }
    }
    const uint64_t replaced = tags[victim];
    const uint64_t tag = (fingerprint << 2) | ((replaced + 1) & kTagGenerationMask);
    uint64_t expected = replaced;
    if (!ways[victim].tag.compare_exchange_strong(expected, tag, std::memory_order_acq_rel,
                                                  std::memory_order_acquire)) {
        return ClaimResult::kRetry;
    }
    out = WayClaim{victim, tag, replaced, true};
    return ClaimResult::kHeld;
}

// find_or_claim until it settles (kRetry looks again). Counts in `replaced`, and in the
// table's `total`, a way taken from another key, or the key's own entry when every way is
// being claimed for other keys (then false: no way is held, the caller goes on without one).
template <size_t kWays, class Rank>
bool hold_way(TaggedWay (&ways)[kWays], uint64_t fingerprint, Rank&& rank, WayClaim& out,
              uint32_t& replaced, std::atomic<uint64_t>& total) noexcept {
    for (;;) {
        const ClaimResult found = find_or_claim(ways, fingerprint, rank, out);
        if (found == ClaimResult::kRetry) {
            continue;
        }
        const bool held = found == ClaimResult::kHeld;
        if (!held || (out.claimed && (out.replaced_tag >> 2) != 0)) {
            ++replaced;
            total.fetch_add(1, std::memory_order_relaxed);
        }
        return held;
    }
}

}  // namespace sensor::detect
