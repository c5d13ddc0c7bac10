#include "sensor/detect/port_scan_table.h"

#include <algorithm>
#include <cstring>

// Each entry is a tagged way (tagged_ways.h: the scanner-target fingerprint and a generation)
// with a state word, plus kPortSlots port slots.
// - state: the end of the window (ms, 42 bits), the window's epoch (14 bits, never 0), the
//   count of ports in it (6 bits) and the generation of the key it belongs to (2 bits).
// - a port slot: the mark of the window it was taken in (epoch and generation, 16 bits) and
//   the port. A slot is taken by one compare-and-swap from whatever free value it held; a
//   taker always takes the first free slot of what it read, and reads every slot again after
//   a failed swap, so two workers adding the same port in one window cannot both take a slot
//   (the one that loses the swap then finds the port). A new window (a new epoch) frees every
//   slot at once. Before its swap a taker reads the state again: a slot that looked free to a
//   thread still in an older window may hold the new window's port, and taking it would erase
//   that port (found by a stress run: one port counted twice).
// - the count: a worker that took a slot adds one to the count of the same window by a
//   compare-and-swap; if the window or the entry changed meanwhile it gives up (the port goes
//   uncounted: under, never over). Only one SYN sees each count value, so exactly one sees
//   the threshold.
// A slot left by an evicted key, or by a window 16,383 windows back, reads as taken only if
// its mark matches by chance: its port then reads as seen, which again can only under-count.

namespace sensor::detect {

namespace {

constexpr unsigned kCountShift = 2;
constexpr unsigned kEpochShift = 8;
constexpr unsigned kEndShift = 22;
constexpr uint64_t kCountMask = 63;
constexpr uint64_t kEpochMask = (uint64_t{1} << 14) - 1;
constexpr int64_t kMaxEndMs = (int64_t{1} << 42) - 1;
static_assert(PortScanTable::kPortSlots <= kCountMask);

uint64_t pack(int64_t end_ms, uint64_t epoch, uint64_t count, uint64_t gen) noexcept {
    return (static_cast<uint64_t>(end_ms) << kEndShift) | (epoch << kEpochShift) |
           (count << kCountShift) | gen;
}
int64_t end_of(uint64_t state) noexcept { return static_cast<int64_t>(state >> kEndShift); }
uint64_t epoch_of(uint64_t state) noexcept { return (state >> kEpochShift) & kEpochMask; }
uint64_t count_of(uint64_t state) noexcept { return (state >> kCountShift) & kCountMask; }
// Epochs run 1..16383, so that a zeroed slot never carries a window's mark.
uint64_t next_epoch(uint64_t epoch) noexcept { return epoch % kEpochMask + 1; }
// The mark of a window in its slots: epoch and generation.
uint32_t mark_of(uint64_t state) noexcept {
    return static_cast<uint32_t>((epoch_of(state) << 2) | (state & kTagGenerationMask));
}

TagKey scan_key(const core::IpAddress& src, const core::IpAddress& dst) noexcept {
    uint64_t words[5] = {(uint64_t{src.v6} << 1) | uint64_t{dst.v6}};
    std::memcpy(&words[1], src.bytes.data(), 16);
    std::memcpy(&words[3], dst.bytes.data(), 16);
    return tag_key(words, 0xa4093822299f31d0ULL, 0x082efa98ec4e6c89ULL);
}

}  // namespace

PortScanTable::PortScanTable(size_t capacity)
    : sets_(std::make_unique<Set[]>(sets_for(capacity, kWays))),
      sets_count_(sets_for(capacity, kWays)) {}

PortScanTable::~PortScanTable() = default;

PortScanTable::Observation PortScanTable::observe(const core::IpAddress& src,
                                                  const core::IpAddress& dst, uint16_t port,
                                                  int64_t now_us, int64_t window_us) noexcept {
    Observation out;
    const TagKey key = scan_key(src, dst);
    Set& set = sets_[key.set & (sets_count_ - 1)];
    const int64_t now_ms = now_us <= 0 ? 0 : std::min(now_us / 1000, kMaxEndMs);
    const int64_t window_ms = std::max<int64_t>(window_us / 1000, 1);

    // A full set gives up the pair whose window ends first.
    auto window_end_rank = [](uint64_t state) noexcept { return state >> kEndShift; };
    for (;;) {
        WayClaim claim;
        if (!hold_way(set.ways, key.fingerprint, window_end_rank, claim, out.replaced, replaced_)) {
            return out;  // every way is being claimed for other pairs: this port uncounted
        }
        TaggedWay& way = set.ways[claim.way];
        std::atomic<uint32_t>* slots = set.ports[claim.way];
        const uint64_t tag = claim.tag;
        const uint64_t gen = tag & kTagGenerationMask;
        uint64_t state = way.state.load(std::memory_order_acquire);
        for (;;) {
            if (way.tag.load(std::memory_order_acquire) != tag) {
                break;  // evicted meanwhile: look the pair up again
            }
            if (!settled(tag, state) || now_us >= end_of(state) * 1000) {
                // The pair's first port, or the first after its window: a new window, every
                // slot free. A new key's first epoch comes from the clock, so that slots an
                // evicted key left in this way rarely carry its mark.
                const uint64_t epoch = settled(tag, state)
                                           ? next_epoch(epoch_of(state))
                                           : static_cast<uint64_t>(now_ms) % kEpochMask + 1;
                const uint64_t next = pack(std::min(now_ms + window_ms, kMaxEndMs), epoch, 0, gen);
                if (!way.state.compare_exchange_weak(state, next, std::memory_order_acq_rel,
                                                     std::memory_order_acquire)) {
                    continue;
                }
                state = next;
            }
            const uint32_t mark = mark_of(state);
            const uint32_t wanted = (mark << 16) | port;
            size_t free_slot = kPortSlots;
            uint32_t free_value = 0;
            bool seen = false;
            for (size_t i = 0; i < kPortSlots && !seen; ++i) {
                const uint32_t v = slots[i].load(std::memory_order_acquire);
                if ((v >> 16) == mark) {
                    seen = v == wanted;
                } else if (free_slot == kPortSlots) {
                    free_slot = i;
                    free_value = v;
                }
            }
            if (seen || free_slot == kPortSlots) {
                return out;  // seen in this window, or every slot taken (the count is full)
            }
            // A slot that looked free may hold a newer window's port (this thread's window
            // rolled over meanwhile): taking it would erase that port, which would then count
            // again. Having read such a slot, this read of the state sees its window (the slot
            // was written after the window's state), so a changed mark here means: start over.
            const uint64_t fresh = way.state.load(std::memory_order_acquire);
            const bool window_moved = way.tag.load(std::memory_order_acquire) != tag ||
                                      !settled(tag, fresh) || mark_of(fresh) != mark;
            state = fresh;  // the same window with a higher count leaves the slots read valid
            if (window_moved) {
                continue;
            }
            if (!slots[free_slot].compare_exchange_strong(
                    free_value, wanted, std::memory_order_acq_rel, std::memory_order_acquire)) {
                state = way.state.load(std::memory_order_acquire);
                continue;  // another port (or this one) took it: read the slots again
            }
            // Count the port in the window it was taken for.
            for (;;) {
                if (way.tag.load(std::memory_order_acquire) != tag || !settled(tag, state) ||
                    mark_of(state) != mark) {
                    return out;  // the window or the entry changed: uncounted (under)
                }
                if (count_of(state) >= PortScanTable::kPortSlots) {
                    return out;  // cannot happen with one slot per count; never carry over
                }
                const uint64_t next = state + (uint64_t{1} << kCountShift);
                if (way.state.compare_exchange_weak(state, next, std::memory_order_acq_rel,
                                                    std::memory_order_acquire)) {
                    out.new_port_count = static_cast<uint32_t>(count_of(next));
                    return out;
                }
            }
        }
    }
}

}  // namespace sensor::detect
