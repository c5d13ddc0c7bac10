#pragma once
// CandidateIndex: the rules without a prefilter pattern, filed under one cheap necessary
// condition each (a flowbit they test with isset, a narrow source or destination address
// set, a destination or source port set), so a packet evaluates only the few whose
// condition it meets. Rules with none stay in per-protocol lists. Built with the
// SignatureDb on the control thread; immutable and shared.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "rules/net_spec.h"
#include "rules/rule.h"
#include "sensor/core/ip_address.h"

namespace sensor::detect {

// A partition of T's whole range into intervals, each with the ranks whose value sets
// cover it.
template <class T>
class IntervalIndex {
public:
    using Traits = rules::IntervalTraits<T>;
    struct Entry {
        T lo;
        T hi;  // inclusive
        uint32_t rank;
    };

    void build(const std::vector<Entry>& entries) {
        starts_.clear();
        offsets_.clear();
        ranks_.clear();
        if (entries.empty()) {
            return;
        }
        // Boundaries of the elementary intervals: the minimum, every lo and every hi + 1.
        std::vector<T> bounds;
        bounds.reserve(entries.size() * 2 + 1);
        bounds.push_back(Traits::min());
        for (const Entry& e : entries) {
            bounds.push_back(e.lo);
            if (e.hi != Traits::max()) {
                bounds.push_back(Traits::next(e.hi));
            }
        }
        std::sort(bounds.begin(), bounds.end());
        bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
        std::vector<std::vector<uint32_t>> lists(bounds.size());
        for (const Entry& e : entries) {
            auto first = std::lower_bound(bounds.begin(), bounds.end(), e.lo);
            auto last = std::upper_bound(bounds.begin(), bounds.end(), e.hi);
            for (auto it = first; it != last; ++it) {
                lists[static_cast<size_t>(it - bounds.begin())].push_back(e.rank);
            }
        }
        starts_ = std::move(bounds);
        offsets_.reserve(starts_.size() + 1);
        for (std::vector<uint32_t>& l : lists) {
            offsets_.push_back(static_cast<uint32_t>(ranks_.size()));
            std::sort(l.begin(), l.end());
            l.erase(std::unique(l.begin(), l.end()), l.end());
            ranks_.insert(ranks_.end(), l.begin(), l.end());
        }
        offsets_.push_back(static_cast<uint32_t>(ranks_.size()));
        build_radix();
    }

    // Ranks, ascending, whose set contains v.
    std::span<const uint32_t> lookup(const T& v) const noexcept {
        if (starts_.empty()) {
            return {};
        }
        const size_t i = interval_of(v);
        return std::span<const uint32_t>(ranks_).subspan(offsets_[i],
                                                         offsets_[i + 1] - offsets_[i]);
    }
    bool empty() const noexcept { return ranks_.empty(); }

private:
    // Values of at most 32 bits are looked up through a table of 2^16 slices of the range:
    // each slice names the interval holding its first value, so a lookup searches only the
    // intervals starting inside one slice (none, for 16-bit values) instead of all of them.
    // The binary search over thousands of address intervals was a tenth of the matching
    // loop's own time.
    static constexpr bool kRadix = sizeof(T) <= 4;
    static constexpr size_t kSlices = size_t{1} << 16;
    static constexpr unsigned kShift = kRadix ? sizeof(T) * 8 - 16 : 0;
    static constexpr size_t kRadixMinIntervals = 16;  // below this, the search is as fast

    size_t interval_of(const T& v) const noexcept {
        // starts_[0] is the minimum, so the interval holding v always exists.
        if constexpr (kRadix) {
            if (!radix_.empty()) {
                const size_t slice = static_cast<size_t>(v) >> kShift;
                const size_t first = radix_[slice];
                if constexpr (kShift == 0) {
                    return first;
                } else {
                    const size_t last =
                        slice + 1 < kSlices ? size_t{radix_[slice + 1]} + 1 : starts_.size();
                    const auto begin = starts_.begin() + static_cast<std::ptrdiff_t>(first) + 1;
                    const auto end = starts_.begin() + static_cast<std::ptrdiff_t>(last);
                    return static_cast<size_t>(std::upper_bound(begin, end, v) - starts_.begin()) -
                           1;
                }
            }
        }
        auto it = std::upper_bound(starts_.begin(), starts_.end(), v);
        return static_cast<size_t>(it - starts_.begin()) - 1;
    }

    void build_radix() {
        radix_.clear();
        if constexpr (kRadix) {
            if (starts_.size() < kRadixMinIntervals) {
                return;
            }
            radix_.resize(kSlices);
            size_t i = 0;
            for (size_t slice = 0; slice < kSlices; ++slice) {
                const auto first_value = static_cast<T>(slice << kShift);
                while (i + 1 < starts_.size() && starts_[i + 1] <= first_value) {
                    ++i;
                }
                radix_[slice] = static_cast<uint32_t>(i);
            }
        }
    }

    std::vector<T> starts_;          // interval i starts at starts_[i]
    std::vector<uint32_t> offsets_;  // its ranks: ranks_[offsets_[i], offsets_[i + 1])
    std::vector<uint32_t> ranks_;
    std::vector<uint32_t> radix_;  // kSlices entries, or none (see interval_of)
};

class CandidateIndex {
public:
    enum class Key : uint8_t { kFlowbit, kSrcAddress, kDstAddress, kDstPort, kSrcPort, kNone };

    // Chooses the key of one rule without a prefilter pattern.
    static Key key_for(const rules::Rule& rule) noexcept;

    // rules: (rank, rule) pairs of the rules to index (key_for != kNone).
    void build(const std::vector<std::pair<uint32_t, const rules::Rule*>>& rules,
               size_t flowbit_count);

    // Calls add(rank) for every indexed rule whose key the packet meets; a rank may come
    // more than once.
    template <class Add>
    void collect(const core::IpAddress& src, const core::IpAddress& dst, uint16_t src_port,
                 uint16_t dst_port, std::span<const uint16_t> flowbits, Add&& add) const noexcept {
        auto each = [&](std::span<const uint32_t> ranks) {
            for (uint32_t rank : ranks) {
                add(rank);
            }
        };
        for (uint16_t id : flowbits) {
            if (id < by_flowbit_.size()) {
                each(by_flowbit_[id]);
            }
        }
        each(src.v6 ? src_v6_.lookup(rules::to_u128(src)) : src_v4_.lookup(v4(src)));
        each(dst.v6 ? dst_v6_.lookup(rules::to_u128(dst)) : dst_v4_.lookup(v4(dst)));
        each(dst_port_.lookup(dst_port));
        each(src_port_.lookup(src_port));
    }

    size_t indexed() const noexcept { return indexed_; }
    // Ranks, ascending, filed under this flowbit.
    std::span<const uint32_t> flowbit_rules(uint16_t id) const noexcept {
        return id < by_flowbit_.size() ? std::span<const uint32_t>(by_flowbit_[id])
                                       : std::span<const uint32_t>();
    }

private:
    static uint32_t v4(const core::IpAddress& a) noexcept {
        return (uint32_t{a.bytes[0]} << 24) | (uint32_t{a.bytes[1]} << 16) |
               (uint32_t{a.bytes[2]} << 8) | uint32_t{a.bytes[3]};
    }

    std::vector<std::vector<uint32_t>> by_flowbit_;
    IntervalIndex<uint32_t> src_v4_;
    IntervalIndex<uint32_t> dst_v4_;
    IntervalIndex<rules::U128> src_v6_;
    IntervalIndex<rules::U128> dst_v6_;
    IntervalIndex<uint16_t> dst_port_;
    IntervalIndex<uint16_t> src_port_;
    size_t indexed_ = 0;
};

}  // namespace sensor::detect
