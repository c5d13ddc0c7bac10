#include "sensor/decode/checksum.h"

#include <bit>
#include <cstring>

namespace sensor::decode {
namespace {

uint32_t fold(uint64_t sum) noexcept {
    while ((sum >> 16) != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint32_t>(sum);
}

}  // namespace

uint32_t checksum_add(std::span<const uint8_t> bytes, uint32_t sum) noexcept {
    // RFC 1071 sums are byte-order independent: add native-order words, fold, and swap the
    // result once on little-endian machines. Four bytes at a time fold like two 16-bit words.
    const uint8_t* p = bytes.data();
    const size_t n = bytes.size();
    uint64_t acc = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint32_t a = 0;
        uint32_t b = 0;
        std::memcpy(&a, p + i, 4);
        std::memcpy(&b, p + i + 4, 4);
        acc += a;
        acc += b;
    }
    for (; i + 2 <= n; i += 2) {
        uint16_t w = 0;
        std::memcpy(&w, p + i, 2);
        acc += w;
    }
    if (i < n) {
        const uint8_t tail[2] = {p[i], 0};
        uint16_t w = 0;
        std::memcpy(&w, tail, 2);
        acc += w;
    }
    uint32_t folded = fold(acc);
    if constexpr (std::endian::native == std::endian::little) {
        folded = ((folded & 0xff) << 8) | (folded >> 8);
    }
    return fold(uint64_t{folded} + sum);
}

uint32_t pseudo_header_sum(const core::IpAddress& src, const core::IpAddress& dst, uint8_t proto,
                           uint32_t length) noexcept {
    const size_t n = src.size();
    uint32_t sum = checksum_add(std::span<const uint8_t>(src.bytes.data(), n));
    sum = checksum_add(std::span<const uint8_t>(dst.bytes.data(), n), sum);
    uint64_t acc = sum;
    acc += proto;
    acc += length >> 16;
    acc += length & 0xffff;
    return fold(acc);
}

uint16_t checksum_finish(uint32_t sum) noexcept {
    return static_cast<uint16_t>(~fold(sum) & 0xffff);
}

}  // namespace sensor::decode
