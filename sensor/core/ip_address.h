#pragma once
// IpAddress: an IPv4 or IPv6 address as plain bytes; IPv4 uses the first 4 bytes.

#include <array>
#include <compare>
#include <cstdint>
#include <string>

namespace sensor::core {

struct IpAddress {
    std::array<uint8_t, 16> bytes{};
    bool v6 = false;

    static IpAddress v4_from(const uint8_t* p) noexcept {
        IpAddress a;
        a.bytes[0] = p[0];
        a.bytes[1] = p[1];
        a.bytes[2] = p[2];
        a.bytes[3] = p[3];
        return a;
    }
    static IpAddress v6_from(const uint8_t* p) noexcept {
        IpAddress a;
        a.v6 = true;
        for (size_t i = 0; i < 16; ++i) {
            a.bytes[i] = p[i];
        }
        return a;
    }
    size_t size() const noexcept { return v6 ? 16 : 4; }
    // Text form as Suricata writes it (inet_ntop).
    std::string to_string() const;

    auto operator<=>(const IpAddress&) const = default;
};

}  // namespace sensor::core
