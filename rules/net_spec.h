#pragma once
// AddressSpec and PortSpec: a rule header's address and port fields compiled to sorted
// interval sets. Built once at load time; matches() is read-only and safe from many threads.

#include <algorithm>
#include <compare>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "sensor/core/ip_address.h"

namespace sensor::rules {

// An IPv6 address as a 128-bit number (big-endian halves), so CIDR blocks become ranges.
struct U128 {
    uint64_t hi = 0;
    uint64_t lo = 0;

    auto operator<=>(const U128&) const = default;
};

template <class T>
struct IntervalTraits {
    static constexpr T min() noexcept { return std::numeric_limits<T>::min(); }
    static constexpr T max() noexcept { return std::numeric_limits<T>::max(); }
    static constexpr T next(T v) noexcept { return static_cast<T>(v + 1); }
    static constexpr T prev(T v) noexcept { return static_cast<T>(v - 1); }
};

template <>
struct IntervalTraits<U128> {
    static constexpr U128 min() noexcept { return {0, 0}; }
    static constexpr U128 max() noexcept { return {~uint64_t{0}, ~uint64_t{0}}; }
    static constexpr U128 next(U128 v) noexcept {
        return v.lo == ~uint64_t{0} ? U128{v.hi + 1, 0} : U128{v.hi, v.lo + 1};
    }
    static constexpr U128 prev(U128 v) noexcept {
        return v.lo == 0 ? U128{v.hi - 1, ~uint64_t{0}} : U128{v.hi, v.lo - 1};
    }
};

// A set of values kept as sorted, disjoint, non-adjacent closed ranges. The set algebra
// runs at load time only; contains() is a binary search.
template <class T>
class IntervalSet {
public:
    using Traits = IntervalTraits<T>;
    struct Range {
        T lo;
        T hi;
    };

    static IntervalSet full() {
        IntervalSet s;
        s.ranges_.push_back({Traits::min(), Traits::max()});
        return s;
    }
    static IntervalSet single(T lo, T hi) {
        IntervalSet s;
        s.ranges_.push_back({lo, hi});
        return s;
    }

    bool empty() const noexcept { return ranges_.empty(); }
    bool is_full() const noexcept {
        return ranges_.size() == 1 && ranges_[0].lo == Traits::min() &&
               ranges_[0].hi == Traits::max();
    }
    const std::vector<Range>& ranges() const noexcept { return ranges_; }

    bool contains(T v) const noexcept {
        // First range whose lo is greater than v; the one before it is the only candidate.
        auto it = std::upper_bound(ranges_.begin(), ranges_.end(), v,
                                   [](const T& value, const Range& r) { return value < r.lo; });
        if (it == ranges_.begin()) {
            return false;
        }
        --it;
        return !(it->hi < v);
    }

    IntervalSet unite(const IntervalSet& other) const {
        IntervalSet s;
        s.ranges_ = ranges_;
        s.ranges_.insert(s.ranges_.end(), other.ranges_.begin(), other.ranges_.end());
        s.normalize();
        return s;
    }
    IntervalSet complement() const {
        IntervalSet s;
        T cursor = Traits::min();
        bool open = true;  // false once a range reached the maximum value
        for (const Range& r : ranges_) {
            if (cursor < r.lo) {
                s.ranges_.push_back({cursor, Traits::prev(r.lo)});
            }
            if (r.hi == Traits::max()) {
                open = false;
                break;
            }
            cursor = Traits::next(r.hi);
        }
        if (open) {
            s.ranges_.push_back({cursor, Traits::max()});
        }
        return s;
    }
    IntervalSet subtract(const IntervalSet& other) const {
        return complement().unite(other).complement();
    }

private:
    void normalize() {
        std::sort(ranges_.begin(), ranges_.end(),
                  [](const Range& a, const Range& b) { return a.lo < b.lo; });
        std::vector<Range> merged;
        for (const Range& r : ranges_) {
            if (!merged.empty()) {
                Range& last = merged.back();
                bool touches = last.hi == Traits::max() || !(Traits::next(last.hi) < r.lo);
                if (touches) {
                    if (last.hi < r.hi) {
                        last.hi = r.hi;
                    }
                    continue;
                }
            }
            merged.push_back(r);
        }
        ranges_ = std::move(merged);
    }

    std::vector<Range> ranges_;
};

// Both address families of one header field. `!x` complements within each family, so
// `!$HOME_NET` (IPv4 only) also matches every IPv6 address.
struct AddressSet {
    IntervalSet<uint32_t> v4;
    IntervalSet<U128> v6;

    static AddressSet any() { return {IntervalSet<uint32_t>::full(), IntervalSet<U128>::full()}; }
    bool empty() const noexcept { return v4.empty() && v6.empty(); }
    AddressSet unite(const AddressSet& o) const { return {v4.unite(o.v4), v6.unite(o.v6)}; }
    AddressSet subtract(const AddressSet& o) const {
        return {v4.subtract(o.v4), v6.subtract(o.v6)};
    }
};

struct AddressSpec {
    std::string text;  // as written in the rule, for reports
    AddressSet set = AddressSet::any();
    bool any = true;  // matches every address: the check can be skipped

    bool matches(const core::IpAddress& ip) const noexcept;
};

struct PortSpec {
    std::string text;
    IntervalSet<uint16_t> set = IntervalSet<uint16_t>::full();
    bool any = true;

    bool matches(uint16_t port) const noexcept { return any || set.contains(port); }
};

U128 to_u128(const core::IpAddress& ip) noexcept;

}  // namespace sensor::rules
