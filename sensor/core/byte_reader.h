#pragma once
// ByteReader: bounds-checked, forward-only reading of network bytes. Every read returns
// nullopt/false instead of touching memory past the end; values are read big-endian.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>

namespace sensor::core {

class ByteReader {
public:
    explicit ByteReader(std::span<const uint8_t> bytes) noexcept : rest_(bytes) {}

    size_t remaining() const noexcept { return rest_.size(); }
    std::span<const uint8_t> rest() const noexcept { return rest_; }
    const uint8_t* data() const noexcept { return rest_.data(); }

    std::optional<uint8_t> u8() noexcept {
        if (rest_.empty()) {
            return std::nullopt;
        }
        uint8_t v = rest_[0];
        rest_ = rest_.subspan(1);
        return v;
    }
    std::optional<uint16_t> u16() noexcept {
        if (rest_.size() < 2) {
            return std::nullopt;
        }
        auto v = static_cast<uint16_t>((rest_[0] << 8) | rest_[1]);
        rest_ = rest_.subspan(2);
        return v;
    }
    std::optional<uint32_t> u32() noexcept {
        if (rest_.size() < 4) {
            return std::nullopt;
        }
        uint32_t v = (uint32_t{rest_[0]} << 24) | (uint32_t{rest_[1]} << 16) |
                     (uint32_t{rest_[2]} << 8) | uint32_t{rest_[3]};
        rest_ = rest_.subspan(4);
        return v;
    }
    // Returns the next n bytes and advances, or nullopt when fewer remain.
    std::optional<std::span<const uint8_t>> take(size_t n) noexcept {
        if (rest_.size() < n) {
            return std::nullopt;
        }
        auto v = rest_.first(n);
        rest_ = rest_.subspan(n);
        return v;
    }
    bool skip(size_t n) noexcept {
        if (rest_.size() < n) {
            return false;
        }
        rest_ = rest_.subspan(n);
        return true;
    }
    // Peek without advancing.
    std::optional<uint8_t> peek_u8(size_t at = 0) const noexcept {
        if (rest_.size() <= at) {
            return std::nullopt;
        }
        return rest_[at];
    }

private:
    std::span<const uint8_t> rest_;
};

}  // namespace sensor::core
