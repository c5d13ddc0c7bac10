#pragma once
// Internet checksum (RFC 1071) for the decoder and the reassembler. Pure functions;
// callable from any thread.

#include <cstdint>
#include <span>

#include "sensor/core/ip_address.h"

namespace sensor::decode {

// Adds bytes to a running ones'-complement sum. Chained calls must pass even-length spans
// except for the last one (an odd tail is padded with a zero byte, as the RFC says).
uint32_t checksum_add(std::span<const uint8_t> bytes, uint32_t sum = 0) noexcept;

// Sum of the TCP/UDP/ICMPv6 pseudo-header for either IP version.
uint32_t pseudo_header_sum(const core::IpAddress& src, const core::IpAddress& dst, uint8_t proto,
                           uint32_t length) noexcept;

// Folds and inverts: the value to store in a checksum field, or 0 when verifying a span that
// already holds a correct checksum.
uint16_t checksum_finish(uint32_t sum) noexcept;

}  // namespace sensor::decode
