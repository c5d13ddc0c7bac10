#include "rules/net_spec.h"

namespace sensor::rules {

U128 to_u128(const core::IpAddress& ip) noexcept {
    U128 v;
    for (size_t i = 0; i < 8; ++i) {
        v.hi = (v.hi << 8) | ip.bytes[i];
        v.lo = (v.lo << 8) | ip.bytes[i + 8];
    }
    return v;
}

bool AddressSpec::matches(const core::IpAddress& ip) const noexcept {
    if (any) {
        return true;
    }
    if (ip.v6) {
        return set.v6.contains(to_u128(ip));
    }
    uint32_t v = (uint32_t{ip.bytes[0]} << 24) | (uint32_t{ip.bytes[1]} << 16) |
                 (uint32_t{ip.bytes[2]} << 8) | uint32_t{ip.bytes[3]};
    return set.v4.contains(v);
}

}  // namespace sensor::rules
