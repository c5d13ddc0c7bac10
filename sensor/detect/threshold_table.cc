#include "sensor/detect/threshold_table.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

// Why lock-free rather than a lock per set: a worker holding a spin lock can be preempted (this
// machine class runs more threads than cores), and every other worker matching a key of that
// set would then spin for a scheduler quantum. Here each entry is two 64-bit words, and every
// change is one compare-and-swap, so a stalled worker never holds up another.
//
// - tag: the key's 62-bit fingerprint and a 2-bit generation. A key is claimed by a CAS of its
//   tag; claiming an occupied slot (set full) evicts the key there and bumps the generation.
//   Keys are compared by fingerprint only: two live keys of one set would have to share 62 hash
//   bits to be confused.
// - state: the end of the key's window (ms, 42 bits: until year 2109), the count in the window
//   (20 bits) and the generation of the key it belongs to. A state whose generation differs
//   from its slot's tag is the evicted key's: the next match starts the new key's first window
//   (tagged_ways.h explains why that can never be mistaken). Since the generation travels in
//   the word that is swapped, an update computed from an evicted key's state can never land
//   on the new key's.
// - A full set gives up the key whose window ends first: an expired window before any live
//   one, whatever the rules' window lengths.
// Two workers that miss the same new key while its set is full and its ways change under them
// may still each evict a different slot for it; the second copy is never found again and ages
// out. Only then can one match be counted apart.

namespace sensor::detect {

namespace {

using Type = rules::Threshold::Type;
using Track = rules::Threshold::Track;

constexpr uint64_t kGenMask = 3;
constexpr unsigned kCountShift = 2;
constexpr unsigned kEndShift = 22;
constexpr uint64_t kCountMask = (uint64_t{1} << 20) - 1;
// The count that stands for "more than kMaxCount": a count field that stopped at kMaxCount
// would read as exactly kMaxCount again and again.
constexpr uint64_t kCountSaturated = uint64_t{ThresholdTable::kMaxCount} + 1;
static_assert(kCountSaturated <= kCountMask);
constexpr int64_t kMaxEndMs = (int64_t{1} << 42) - 1;

TagKey hash_key(const rules::Threshold& t, const ThresholdRule& rule, const core::IpAddress& a,
                const core::IpAddress& b) noexcept {
    uint64_t words[7] = {
        (uint64_t{rule.gid} << 32) | rule.sid,
        (uint64_t{rule.rev} << 32) | (uint64_t{static_cast<uint8_t>(t.type)} << 24) |
            (uint64_t{static_cast<uint8_t>(t.track)} << 16) | (uint64_t{a.v6} << 1) |
            uint64_t{b.v6},
        (uint64_t{t.count} << 32) | t.seconds,
    };
    std::memcpy(&words[3], a.bytes.data(), 16);
    std::memcpy(&words[5], b.bytes.data(), 16);
    return tag_key(words, 0x243f6a8885a308d3ULL, 0x13198a2e03707344ULL);
}

uint64_t pack(int64_t end_ms, uint64_t count, uint64_t gen) noexcept {
    return (static_cast<uint64_t>(end_ms) << kEndShift) | (count << kCountShift) | gen;
}
int64_t end_of(uint64_t state) noexcept { return static_cast<int64_t>(state >> kEndShift); }
uint64_t count_of(uint64_t state) noexcept { return (state >> kCountShift) & kCountMask; }

// The first match of a window.
bool first_alert(const rules::Threshold& t) noexcept {
    switch (t.type) {
        case Type::kLimit:
            return true;
        case Type::kThreshold:
        case Type::kBoth:
            return t.count <= 1;
        case Type::kDetectionFilter:
            return false;
    }
    return false;
}

// The end of a window that opens at now_ms.
int64_t window_end(const rules::Threshold& t, int64_t now_ms) noexcept {
    return std::min(now_ms + int64_t{t.seconds} * 1000, kMaxEndMs);
}

// A further match of the key whose state is `state`; next receives the new state.
bool update(const rules::Threshold& t, uint64_t state, int64_t now_us, int64_t now_ms,
            uint64_t& next) noexcept {
    const uint64_t gen = state & kGenMask;
    const int64_t end_ms = end_of(state);
    // A match older than the window start (another worker ran ahead) counts in this window.
    if (now_us >= end_ms * 1000) {
        next = pack(window_end(t, now_ms), 1, gen);
        return first_alert(t);
    }
    uint64_t count = std::min(count_of(state) + 1, kCountSaturated);
    const bool reachable = t.count <= ThresholdTable::kMaxCount;
    bool alert = false;
    switch (t.type) {
        case Type::kLimit:
            alert = count <= t.count;
            break;
        case Type::kThreshold:
            if (reachable && count >= t.count) {
                alert = true;
                count = 0;
            }
            break;
        case Type::kBoth:
            alert = reachable && count == t.count;
            break;
        case Type::kDetectionFilter:
            alert = count > t.count;
            break;
    }
    next = pack(end_ms, count, gen);
    return alert;
}

}  // namespace

ThresholdTable::ThresholdTable(size_t capacity)
    : sets_(std::make_unique<Set[]>(sets_for(capacity, kWays))),
      sets_count_(sets_for(capacity, kWays)) {}

ThresholdTable::~ThresholdTable() = default;

ThresholdTable::Decision ThresholdTable::allow(const rules::Threshold& t, const ThresholdRule& rule,
                                               const core::IpAddress& src,
                                               const core::IpAddress& dst,
                                               int64_t now_us) noexcept {
    core::IpAddress a;
    core::IpAddress b;
    switch (t.track) {
        case Track::kBySrc:
            a = src;
            break;
        case Track::kByDst:
            a = dst;
            break;
        case Track::kByRule:
            break;
        case Track::kByBoth:
            // The pair in either direction is one pair.
            a = std::min(src, dst);
            b = std::max(src, dst);
            break;
    }
    return allow_key(t, rule, a, b, now_us);
}

ThresholdTable::Decision ThresholdTable::allow_key(const rules::Threshold& t,
                                                   const ThresholdRule& rule,
                                                   const core::IpAddress& a,
                                                   const core::IpAddress& b,
                                                   int64_t now_us) noexcept {
    Decision d;
    if (t.type == Type::kThreshold && t.count <= 1) {
        d.alert = true;  // every match alerts: no state needed
        return d;
    }
    const TagKey key = hash_key(t, rule, a, b);
    Set& set = sets_[key.set & (sets_count_ - 1)];
    const int64_t now_ms = now_us <= 0 ? 0 : std::min(now_us / 1000, kMaxEndMs);

    // A full set gives up the key whose window ends first.
    auto window_end_rank = [](uint64_t state) noexcept { return state >> kEndShift; };
    for (;;) {
        WayClaim claim;
        if (!hold_way(set.ways, key.fingerprint, window_end_rank, claim, d.replaced, replaced_)) {
            // Other workers are claiming every way of the set: this match's entry cannot be
            // kept. It counts as a first match whose entry was evicted at once.
            d.alert = first_alert(t);
            return d;
        }
        const uint64_t tag = claim.tag;
        Slot& slot = set.ways[claim.way];
        uint64_t state = slot.state.load(std::memory_order_acquire);
        for (;;) {
            // A state written for a newer key of this slot is only read after its tag changed:
            // checking the tag here keeps this match from restarting that key's window.
            if (slot.tag.load(std::memory_order_acquire) != tag) {
                break;  // evicted meanwhile: look the key up again
            }
            uint64_t next = 0;
            bool alert = false;
            if (!settled(tag, state)) {
                alert = first_alert(t);
                next = pack(window_end(t, now_ms), 1, tag & kGenMask);
            } else {
                alert = update(t, state, now_us, now_ms, next);
            }
            if (slot.state.compare_exchange_weak(state, next, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
                d.alert = alert;
                return d;
            }
        }
    }
}

bool ThresholdTable::window_open(const rules::Threshold& t, const ThresholdRule& rule,
                                 const core::IpAddress& a, const core::IpAddress& b,
                                 int64_t now_us) const noexcept {
    const TagKey key = hash_key(t, rule, a, b);
    const Set& set = sets_[key.set & (sets_count_ - 1)];
    for (const Slot& way : set.ways) {
        const uint64_t tag = way.tag.load(std::memory_order_acquire);
        if ((tag >> 2) != key.fingerprint) {
            continue;
        }
        const uint64_t state = way.state.load(std::memory_order_acquire);
        return settled(tag, state) && now_us < end_of(state) * 1000;
    }
    return false;
}

}  // namespace sensor::detect
