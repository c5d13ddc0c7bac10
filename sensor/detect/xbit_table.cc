#include "sensor/detect/xbit_table.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

// Laid out as ThresholdTable, for the same reason (a worker preempted while holding a lock
// would stall every worker that checks a bit of that set): each bit is two 64-bit words, and
// every change is one compare-and-swap.
//
// - tag: the key's 62-bit fingerprint and a 2-bit generation. A key is claimed by a CAS of its
//   tag; claiming an occupied slot bumps the generation. A slot keeps its key after unset or
//   expiry (so the key finds it again) until another key needs the slot.
// - state: the bit's expiry second (61 bits), a live flag and the generation of the key it
//   belongs to. A state whose generation differs from its slot's tag is a leftover of an
//   evicted key and reads as "not set" (tagged_ways.h explains why that can never be
//   mistaken): an update computed for an evicted key can never land on the new key's state.
// - An eviction is counted by the one compare-and-swap that moves a slot's state from the
//   evicted key's to the new key's: the evicted bit's last state is known exactly there,
//   whatever another worker did to it between the choice of the slot and the claim.
// Two workers that set the same new key while its set is full and its slots change under them
// may still each claim a slot for it; is_set() reads every copy and unset() clears every
// copy, so the bit reads the same either way; the spare copy ages out like any bit.

namespace sensor::detect {

namespace {

constexpr uint64_t kGenMask = 3;
constexpr uint64_t kLive = 4;
constexpr unsigned kExpiryShift = 3;
constexpr int64_t kMaxSecond = (int64_t{1} << 60) - 1;
constexpr uint64_t kHostBit = 1;
constexpr uint64_t kPairBit = 2;

XbitTable::Key hash_key(uint64_t name_hash, uint64_t kind, const core::IpAddress& a,
                        const core::IpAddress& b) noexcept {
    uint64_t words[6] = {
        name_hash,
        (kind << 2) | (uint64_t{a.v6} << 1) | uint64_t{b.v6},
    };
    std::memcpy(&words[2], a.bytes.data(), 16);
    std::memcpy(&words[4], b.bytes.data(), 16);
    const TagKey t = tag_key(words, 0x452821e638d01377ULL, 0xbe5466cf34e90c6cULL);
    XbitTable::Key k;
    k.set = t.set;
    k.fingerprint = t.fingerprint;
    return k;
}

int64_t second_of(int64_t now_us) noexcept {
    return now_us <= 0 ? 0 : std::min<int64_t>(now_us / 1'000'000, kMaxSecond);
}

int64_t expiry_of(uint64_t state) noexcept { return static_cast<int64_t>(state >> kExpiryShift); }

// Whether state holds a bit that is set and not expired at second now_s (whichever key's).
bool bit_live(uint64_t state, int64_t now_s) noexcept {
    return (state & kLive) != 0 && expiry_of(state) >= now_s;
}

// Whether state holds a live bit of the key whose tag is tag, at second now_s.
bool is_live(uint64_t state, uint64_t tag, int64_t now_s) noexcept {
    return settled(tag, state) && bit_live(state, now_s);
}

}  // namespace

XbitTable::Key XbitTable::host_key(uint64_t name_hash, const core::IpAddress& host) noexcept {
    return hash_key(name_hash, kHostBit, host, core::IpAddress{});
}

XbitTable::Key XbitTable::pair_key(uint64_t name_hash, const core::IpAddress& a,
                                   const core::IpAddress& b) noexcept {
    return hash_key(name_hash, kPairBit, std::min(a, b), std::max(a, b));
}

XbitTable::XbitTable(size_t capacity)
    : sets_(std::make_unique<Set[]>(sets_for(capacity, kWays))),
      sets_count_(sets_for(capacity, kWays)) {}

XbitTable::~XbitTable() = default;

uint32_t XbitTable::set(const Key& key, int64_t now_us, uint32_t expire_s) noexcept {
    return update(key, now_us, expire_s, Op::kSet);
}

uint32_t XbitTable::toggle(const Key& key, int64_t now_us, uint32_t expire_s) noexcept {
    return update(key, now_us, expire_s, Op::kToggle);
}

bool XbitTable::is_set(const Key& key, int64_t now_us) const noexcept {
    const Set& set = sets_[key.set & (sets_count_ - 1)];
    const int64_t now_s = second_of(now_us);
    for (const Slot& slot : set.ways) {
        const uint64_t tag = slot.tag.load(std::memory_order_acquire);
        if ((tag >> 2) == key.fingerprint &&
            is_live(slot.state.load(std::memory_order_acquire), tag, now_s)) {
            return true;
        }
    }
    return false;
}

void XbitTable::unset(const Key& key) noexcept {
    Set& set = sets_[key.set & (sets_count_ - 1)];
    for (Slot& slot : set.ways) {
        const uint64_t tag = slot.tag.load(std::memory_order_acquire);
        if ((tag >> 2) != key.fingerprint) {
            continue;
        }
        uint64_t state = slot.state.load(std::memory_order_acquire);
        while ((state & kLive) != 0 && (state & kGenMask) == (tag & kGenMask) &&
               slot.tag.load(std::memory_order_acquire) == tag) {
            if (slot.state.compare_exchange_weak(state, tag & kGenMask, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
                break;
            }
        }
    }
}

uint32_t XbitTable::update(const Key& key, int64_t now_us, uint32_t expire_s, Op op) noexcept {
    Set& set = sets_[key.set & (sets_count_ - 1)];
    const int64_t now_s = second_of(now_us);
    const int64_t expiry = std::min<int64_t>(now_s + int64_t{expire_s}, kMaxSecond);
    uint32_t evicted = 0;
    // The evicted key's last state, when a compare-and-swap replaced it.
    auto count_eviction = [&](uint64_t old_state) noexcept {
        if (bit_live(old_state, now_s)) {
            ++evicted;
            evicted_.fetch_add(1, std::memory_order_relaxed);
        }
    };
    // A full set gives up a way without a live bit, else the live bit that expires first.
    auto expiry_rank = [now_s](uint64_t state) noexcept {
        return bit_live(state, now_s) ? static_cast<uint64_t>(expiry_of(state)) + 1 : 0;
    };
    for (;;) {
        WayClaim claim;
        const ClaimResult found = find_or_claim(set.ways, key.fingerprint, expiry_rank, claim);
        if (found == ClaimResult::kRetry) {
            continue;
        }
        if (found == ClaimResult::kAllInFlight) {
            // Other workers are claiming every way of the set: the bit cannot be kept. A set
            // or toggle would have left it live, so it counts as a live bit evicted at once.
            ++evicted;
            evicted_.fetch_add(1, std::memory_order_relaxed);
            return evicted;
        }
        const uint64_t tag = claim.tag;
        Slot& slot = set.ways[claim.way];
        uint64_t state = slot.state.load(std::memory_order_acquire);
        for (;;) {
            // Checking the tag keeps an update for this key off the state of a key that
            // replaced it meanwhile.
            if (slot.tag.load(std::memory_order_acquire) != tag) {
                break;  // evicted meanwhile: look the key up again
            }
            const bool live = is_live(state, tag, now_s);
            if (live && op == Op::kSet) {
                return evicted;  // a live bit keeps its expiry (Suricata)
            }
            const uint64_t gen = tag & kGenMask;
            const uint64_t next =
                live ? gen : (static_cast<uint64_t>(expiry) << kExpiryShift) | kLive | gen;
            const uint64_t previous = state;
            if (slot.state.compare_exchange_weak(state, next, std::memory_order_acq_rel,
                                                 std::memory_order_acquire)) {
                if (!settled(tag, previous)) {
                    count_eviction(previous);
                }
                return evicted;
            }
        }
    }
}

}  // namespace sensor::detect
