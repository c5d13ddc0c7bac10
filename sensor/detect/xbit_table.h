#pragma once
// XbitTable: the xbits of rules (Suricata's host bits and IP-pair bits) on packet time, one
// table shared by every worker so that a bit set on one flow is seen by the flows of other
// workers. Fixed size, allocated at construction, updated lock-free (see xbit_table.cc).

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "sensor/core/ip_address.h"
#include "sensor/detect/tagged_ways.h"

namespace sensor::detect {

class XbitTable {
public:
    static constexpr size_t kWays = 4;

    // Which bit: a name (its hash, rules::XbitOp::name_hash) on one host, or on a pair of
    // hosts in either order. Host and pair bits of one name are distinct bits. Keys depend on
    // nothing but the name and the addresses, so bits outlive a rule reload.
    struct Key {
        uint64_t set = 0;
        uint64_t fingerprint = 0;  // never 0
    };
    static Key host_key(uint64_t name_hash, const core::IpAddress& host) noexcept;
    static Key pair_key(uint64_t name_hash, const core::IpAddress& a,
                        const core::IpAddress& b) noexcept;

    // capacity: bits, rounded up to a power of two of at least kWays. Allocates once.
    explicit XbitTable(size_t capacity);
    ~XbitTable();
    XbitTable(const XbitTable&) = delete;
    XbitTable& operator=(const XbitTable&) = delete;

    // A bit set at now_us lives to the end of second now + expire_s (Suricata keeps bits to
    // the second: expired when its expiry second is before the packet's). set() leaves a live
    // bit as it is, expiry included; a bit set after it expired starts afresh. Each returns
    // how many live bits it evicted from a full set (0 or 1): another key's, or its own when
    // every way of the set was being claimed by other workers at that moment. Thread-safe:
    // any number of workers may call these at once; no locks, no allocation.
    uint32_t set(const Key& key, int64_t now_us, uint32_t expire_s) noexcept;
    void unset(const Key& key) noexcept;
    uint32_t toggle(const Key& key, int64_t now_us, uint32_t expire_s) noexcept;
    bool is_set(const Key& key, int64_t now_us) const noexcept;

    // Live bits evicted so far, by every caller.
    uint64_t evicted() const noexcept { return evicted_.load(std::memory_order_relaxed); }
    size_t capacity() const noexcept { return sets_count_ * kWays; }

private:
    enum class Op : uint8_t { kSet, kToggle };
    uint32_t update(const Key& key, int64_t now_us, uint32_t expire_s, Op op) noexcept;

    // tag: key fingerprint << 2 | generation; state: expiry second | live flag | generation.
    using Slot = TaggedWay;
    struct alignas(64) Set {
        Slot ways[kWays];
    };

    std::unique_ptr<Set[]> sets_;
    size_t sets_count_ = 0;
    std::atomic<uint64_t> evicted_{0};
};

}  // namespace sensor::detect
