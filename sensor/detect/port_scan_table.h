#pragma once
// PortScanTable: the distinct destination ports each scanner tried on each target in the
// current window, one table shared by every worker, so that a scan counts the same however
// its connections are spread over the workers. Fixed size, allocated at construction,
// updated lock-free (see port_scan_table.cc).
//
// It counts exactly or under, never over: each entry keeps the ports themselves (up to
// kPortSlots per window), so a client that connects again and again to one port counts one
// port. When an entry is lost (evicted from a full set by other pairs), its count starts over:
// a scan may then be counted late, but repeated connections are never taken for new ports.
// (Keeping each port as an entry of its own would let a flood of other keys evict them, and
// every reconnection of a busy client would then count as a new port.)

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "sensor/core/ip_address.h"
#include "sensor/detect/tagged_ways.h"

namespace sensor::detect {

class PortScanTable {
public:
    static constexpr size_t kWays = 4;
    // Ports kept per scanner and target and window: counts stop here.
    static constexpr size_t kPortSlots = 32;

    // capacity: scanner-target entries, rounded up to a power of two of at least kWays.
    // Allocates once (576 bytes per 4 entries).
    explicit PortScanTable(size_t capacity);
    ~PortScanTable();
    PortScanTable(const PortScanTable&) = delete;
    PortScanTable& operator=(const PortScanTable&) = delete;

    struct Observation {
        // The entry's count of distinct ports in the window, this SYN's port included, when
        // the port is new in the window; 0 when it was seen already in it (or could not be
        // kept: every slot taken, or the entry lost meanwhile).
        uint32_t new_port_count = 0;
        // Entries this SYN evicted from a full set (another pair's), or its own when every
        // way was being claimed by other workers at that moment.
        uint32_t replaced = 0;
    };

    // A connection attempt from src to dst's port at now_us; a window opens at the first
    // port of a pair and lasts window_us. Thread-safe: any number of workers may call it at
    // once; no locks, no allocation.
    Observation observe(const core::IpAddress& src, const core::IpAddress& dst, uint16_t port,
                        int64_t now_us, int64_t window_us) noexcept;

    uint64_t replaced() const noexcept { return replaced_.load(std::memory_order_relaxed); }
    size_t capacity() const noexcept { return sets_count_ * kWays; }

private:
    struct alignas(64) Set {
        TaggedWay ways[kWays];
        // Per way: (window mark << 16) | port; a slot whose mark is not its entry's current
        // one is free.
        std::atomic<uint32_t> ports[kWays][kPortSlots];
    };

    std::unique_ptr<Set[]> sets_;
    size_t sets_count_ = 0;
    std::atomic<uint64_t> replaced_{0};
};

}  // namespace sensor::detect
