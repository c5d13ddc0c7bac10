#pragma once
// DNS message header and first question, for the app layer's dns.query buffer. Pure and
// bounds-checked: the name is written into the caller's DnsQuestion, nothing is allocated.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

namespace sensor::applayer {

// Longest name we keep as text: 255 octets on the wire give at most 253 characters.
inline constexpr size_t kDnsMaxNameText = 255;

struct DnsQuestion {
    uint16_t id = 0;
    bool is_response = false;  // QR bit
    uint8_t opcode = 0;
    uint16_t question_count = 0;
    uint16_t qtype = 0;
    uint16_t qclass = 0;
    std::array<uint8_t, kDnsMaxNameText> name{};  // labels joined by '.', no trailing dot
    size_t name_len = 0;                          // 0 for the root name

    std::span<const uint8_t> name_bytes() const noexcept { return {name.data(), name_len}; }
};

enum class DnsParse : uint8_t {
    kOk,
    kTruncated,   // message shorter than its header or question
    kBadName,     // label type, length or compression pointer out of bounds or looping
    kNoQuestion,  // QDCOUNT is zero
};

// Parses the 12-byte header and the first question of a DNS message (a UDP payload, or one
// TCP message without its 2-byte length prefix). Compression pointers are followed when they
// point before themselves, at most kDnsMaxPointers of them (a backward pointer can still
// make a cycle).
DnsParse parse_dns_question(std::span<const uint8_t> msg, DnsQuestion& out) noexcept;

inline constexpr int kDnsMaxPointers = 16;

}  // namespace sensor::applayer
