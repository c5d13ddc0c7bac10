#pragma once
// FrameView: the tests' own parser for generated frames, written apart from the generator so
// that a shared mistake cannot hide (checksums are recomputed here, not reused).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "bench/trafficgen/generator.h"
#include "sensor/core/ip_address.h"

namespace sensor::trafficgen::testing {

struct FrameView {
    bool ok = false;
    bool v6 = false;
    core::IpAddress src;
    core::IpAddress dst;
    uint8_t proto = 0;
    uint8_t ttl = 0;
    std::span<const uint8_t> ip;  // IP header through the end of the L4 payload (no padding)
    std::span<const uint8_t> l4;  // L4 header + payload
    uint16_t src_port = 0;
    uint16_t dst_port = 0;
    uint32_t seq = 0;
    uint32_t ack = 0;
    uint8_t flags = 0;
    uint8_t icmp_type = 0;
    uint16_t icmp_id = 0;
    std::span<const uint8_t> payload;

    std::string_view text() const {
        return {reinterpret_cast<const char*>(payload.data()), payload.size()};
    }
};

inline uint16_t be16(std::span<const uint8_t> b, size_t at) {
    return static_cast<uint16_t>(b[at] << 8 | b[at + 1]);
}

inline uint32_t be32(std::span<const uint8_t> b, size_t at) {
    return static_cast<uint32_t>(be16(b, at)) << 16 | be16(b, at + 2);
}

inline FrameView parse_frame(std::span<const uint8_t> f) {
    FrameView v;
    if (f.size() < 14) {
        return v;
    }
    const uint16_t ether_type = be16(f, 12);
    size_t l4_at = 0;
    size_t ip_len = 0;
    if (ether_type == 0x0800) {
        if (f.size() < 34 || (f[14] >> 4) != 4) {
            return v;
        }
        const size_t ihl = static_cast<size_t>(f[14] & 0x0f) * 4;
        ip_len = be16(f, 16);
        if (ihl < 20 || ip_len < ihl || 14 + ip_len > f.size()) {
            return v;
        }
        v.src = core::IpAddress::v4_from(&f[26]);
        v.dst = core::IpAddress::v4_from(&f[30]);
        v.proto = f[23];
        v.ttl = f[22];
        l4_at = 14 + ihl;
    } else if (ether_type == 0x86dd) {
        if (f.size() < 54 || (f[14] >> 4) != 6) {
            return v;
        }
        v.v6 = true;
        ip_len = 40 + static_cast<size_t>(be16(f, 18));
        if (14 + ip_len > f.size()) {
            return v;
        }
        v.src = core::IpAddress::v6_from(&f[22]);
        v.dst = core::IpAddress::v6_from(&f[38]);
        v.proto = f[20];
        v.ttl = f[21];
        l4_at = 54;
    } else {
        return v;
    }
    v.ip = f.subspan(14, ip_len);
    v.l4 = f.subspan(l4_at, 14 + ip_len - l4_at);
    if (v.proto == 6) {
        if (v.l4.size() < 20) {
            return v;
        }
        const size_t off = static_cast<size_t>(v.l4[12] >> 4) * 4;
        if (off < 20 || off > v.l4.size()) {
            return v;
        }
        v.src_port = be16(v.l4, 0);
        v.dst_port = be16(v.l4, 2);
        v.seq = be32(v.l4, 4);
        v.ack = be32(v.l4, 8);
        v.flags = v.l4[13];
        v.payload = v.l4.subspan(off);
    } else if (v.proto == 17) {
        if (v.l4.size() < 8 || be16(v.l4, 4) != v.l4.size()) {
            return v;
        }
        v.src_port = be16(v.l4, 0);
        v.dst_port = be16(v.l4, 2);
        v.payload = v.l4.subspan(8);
    } else if (v.proto == 1) {
        if (v.l4.size() < 8) {
            return v;
        }
        v.icmp_type = v.l4[0];
        v.icmp_id = be16(v.l4, 4);
        v.payload = v.l4.subspan(8);
    } else {
        return v;
    }
    v.ok = true;
    return v;
}

// 32-bit accumulation of 16-bit words, folded once at the end; a correct checksum field makes
// the folded total 0xffff.
inline uint32_t word_sum(std::span<const uint8_t> b) {
    uint32_t sum = 0;
    for (size_t i = 0; i < b.size(); ++i) {
        sum += (i % 2 == 0) ? static_cast<uint32_t>(b[i]) << 8 : b[i];
    }
    return sum;
}

inline bool folds_to_ffff(uint64_t sum) {
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return sum == 0xffff;
}

inline bool ipv4_header_ok(const FrameView& v) {
    const size_t ihl = static_cast<size_t>(v.ip[0] & 0x0f) * 4;
    return folds_to_ffff(word_sum(v.ip.first(ihl)));
}

inline bool l4_checksum_ok(const FrameView& v) {
    uint64_t sum = word_sum(v.l4);
    if (v.proto == 1) {
        return folds_to_ffff(sum);
    }
    if (v.proto == 17 && be16(v.l4, 6) == 0) {
        return !v.v6;  // optional over IPv4, mandatory over IPv6
    }
    const size_t n = v.src.size();
    sum += word_sum(std::span(v.src.bytes.data(), n)) + word_sum(std::span(v.dst.bytes.data(), n));
    sum += v.proto + static_cast<uint64_t>(v.l4.size());
    return folds_to_ffff(sum);
}

inline bool contains(std::string_view hay, std::string_view needle) {
    return hay.find(needle) != std::string_view::npos;
}

// needle must be lower case.
inline bool contains_nocase(std::string_view hay, std::string_view needle) {
    std::string lowered(hay);
    for (char& c : lowered) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c + ('a' - 'A'));
        }
    }
    return lowered.find(needle) != std::string::npos;
}

// The capture behind tests/e2e/sample_expected.json, generated once per test binary.
inline const Capture& sample_capture() {
    static const Capture capture = generate(Options{});
    return capture;
}

}  // namespace sensor::trafficgen::testing
