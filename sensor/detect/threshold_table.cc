#include "sensor/detect/threshold_table.h"

#include <algorithm>

namespace sensor::detect {

namespace {

uint64_t mix(uint64_t h, uint64_t v) noexcept {
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

uint64_t hash_address(uint64_t h, const core::IpAddress& a) noexcept {
    for (size_t i = 0; i < a.size(); ++i) {
        h = mix(h, a.bytes[i]);
    }
    return mix(h, a.v6 ? 1 : 0);
}

}  // namespace

ThresholdTable::ThresholdTable(size_t capacity) {
    size_t n = kWays;
    while (n < capacity) {
        n <<= 1;
    }
    entries_.assign(n, Entry{});
    set_mask_ = n / kWays - 1;
}

bool ThresholdTable::allow(const rules::Threshold& t, uint32_t rank, const core::IpAddress& src,
                           const core::IpAddress& dst, int64_t now_us) noexcept {
    using Type = rules::Threshold::Type;
    using Track = rules::Threshold::Track;
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
    const auto track = static_cast<uint8_t>(t.track);
    uint64_t h = mix(0, rank);
    h = mix(h, track);
    h = hash_address(h, a);
    h = hash_address(h, b);
    Entry* set = &entries_[(h & set_mask_) * kWays];
    Entry* found = nullptr;
    Entry* victim = &set[0];
    for (size_t w = 0; w < kWays; ++w) {
        Entry& e = set[w];
        if (e.used && e.rank == rank && e.track == track && e.a == a && e.b == b) {
            found = &e;
            break;
        }
        if (!e.used) {
            if (victim->used) {
                victim = &e;
            }
        } else if (victim->used && e.window_start_us < victim->window_start_us) {
            victim = &e;
        }
    }
    const int64_t window_us = int64_t{t.seconds} * 1'000'000;

    if (found == nullptr) {
        // A first match. Threshold type with count 1 alerts every time and needs no entry.
        if (t.type == Type::kThreshold && t.count == 1) {
            return true;
        }
        if (victim->used) {
            ++replaced_;
        }
        *victim = Entry{a, b, now_us, rank, 1, track, true};
        switch (t.type) {
            case Type::kLimit:
                return true;
            case Type::kThreshold:
            case Type::kDetectionFilter:
                return false;
            case Type::kBoth:
                return t.count == 1;
        }
        return false;
    }

    Entry& e = *found;
    const bool in_window = now_us < e.window_start_us + window_us;
    if (!in_window) {
        e.window_start_us = now_us;
        e.count = 1;
        return t.type == Type::kLimit || (t.type == Type::kBoth && t.count == 1);
    }
    if (e.count < UINT32_MAX) {
        ++e.count;
    }
    switch (t.type) {
        case Type::kLimit:
            return e.count <= t.count;
        case Type::kThreshold:
            if (e.count >= t.count) {
                e.count = 0;
                return true;
            }
            return false;
        case Type::kBoth:
            return e.count == t.count;
        case Type::kDetectionFilter:
            return e.count > t.count;
    }
    return false;
}

}  // namespace sensor::detect
