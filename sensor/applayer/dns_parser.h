#pragma once
// DNS wire format (also LLMNR and mDNS): header, names, questions and resource records. Pure
// and bounds-checked; the parsing functions write into caller-owned structs and never
// allocate. describe_dns_message() builds the EVE view of a message and allocates.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "sensor/core/records.h"

namespace sensor::applayer {

// Longest name we keep as text: 255 octets on the wire give at most 253 characters.
inline constexpr size_t kDnsMaxNameText = 255;
inline constexpr int kDnsMaxPointers = 16;

// Well-known ports of the protocols that share the DNS message format: DNS, mDNS, LLMNR.
inline constexpr std::array<uint16_t, 3> kDnsFamilyPorts = {53, 5353, 5355};

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
    kTruncated,   // message shorter than its header, a name or a record
    kBadName,     // label type, length or compression pointer out of bounds or looping
    kNoQuestion,  // QDCOUNT is zero (parse_dns_question only)
};

// Parses the 12-byte header and the first question of a DNS message (a UDP payload, or one
// TCP message without its 2-byte length prefix). Compression pointers are followed when they
// point before themselves, at most kDnsMaxPointers of them (a backward pointer can still
// make a cycle).
DnsParse parse_dns_question(std::span<const uint8_t> msg, DnsQuestion& out) noexcept;

struct DnsHeader {
    uint16_t id = 0;
    uint16_t flags = 0;
    // QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT, indexed by DnsSection.
    std::array<uint16_t, 4> counts{};

    bool is_response() const noexcept { return (flags & 0x8000) != 0; }
    uint8_t opcode() const noexcept { return static_cast<uint8_t>((flags >> 11) & 0x0F); }
};

struct DnsName {
    std::array<uint8_t, kDnsMaxNameText> text{};  // labels joined by '.', no trailing dot
    size_t len = 0;

    std::span<const uint8_t> bytes() const noexcept { return {text.data(), len}; }
};

// Reads the name that starts at msg[pos] (same rules as parse_dns_question). end is set to
// the offset just past the name where it starts, that is past its first pointer.
DnsParse read_dns_name(std::span<const uint8_t> msg, size_t pos, DnsName& out,
                       size_t& end) noexcept;

enum class DnsSection : uint8_t { kQuestion, kAnswer, kAuthority, kAdditional };

// A question (ttl 0, no rdata) or a resource record.
struct DnsEntry {
    DnsSection section = DnsSection::kQuestion;
    DnsName name;
    uint16_t type = 0;
    uint16_t rclass = 0;
    uint32_t ttl = 0;
    size_t rdata_at = 0;  // offset of rdata in the message: names inside it may point back
    std::span<const uint8_t> rdata;
};

// Walks a whole message in wire order: questions, answers, authorities, additionals.
class DnsMessageReader {
public:
    explicit DnsMessageReader(std::span<const uint8_t> msg) noexcept;

    // kOk while the header and every entry so far parsed.
    DnsParse status() const noexcept { return status_; }
    const DnsHeader& header() const noexcept { return header_; }
    std::span<const uint8_t> message() const noexcept { return msg_; }
    // The next entry; false after the last one the header counts, or on error (status()).
    bool next(DnsEntry& out) noexcept;

private:
    std::span<const uint8_t> msg_;
    DnsHeader header_;
    DnsParse status_ = DnsParse::kOk;
    size_t pos_ = 0;
    uint8_t section_ = 0;
    uint16_t left_ = 0;  // entries left in section_
};

// Suricata's probe of the DNS family over UDP: the whole payload parses as a DNS message
// (is_dns_response: one whose QR bit says response).
bool is_dns_message(std::span<const uint8_t> msg) noexcept;
bool is_dns_response(std::span<const uint8_t> msg) noexcept;

// Lower-case mnemonic of an RR type ("a", "ptr"), or its number as text when unnamed.
std::string dns_rrtype_name(uint16_t type);

// The EVE view of a DNS-format message (Suricata's llmnr/mdns objects). msg is one message
// (for TCP without its length prefix). False when it does not parse; out is then partial.
bool describe_dns_message(std::span<const uint8_t> msg, core::DnsMessageRecord& out);

}  // namespace sensor::applayer
