#include "sensor/applayer/dns_parser.h"

#include <cstring>

namespace sensor::applayer {
namespace {

// Random access (compression pointers jump backwards), so every index is checked before use
// instead of going through core::ByteReader.
constexpr size_t kHeaderBytes = 12;
constexpr uint8_t kPointerMask = 0xC0;

uint16_t read_u16(std::span<const uint8_t> b, size_t at) noexcept {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

}  // namespace

DnsParse parse_dns_question(std::span<const uint8_t> msg, DnsQuestion& out) noexcept {
    out.name_len = 0;
    if (msg.size() < kHeaderBytes) {
        return DnsParse::kTruncated;
    }
    out.id = read_u16(msg, 0);
    const uint16_t flags = read_u16(msg, 2);
    out.is_response = (flags & 0x8000) != 0;
    out.opcode = static_cast<uint8_t>((flags >> 11) & 0x0F);
    out.question_count = read_u16(msg, 4);
    if (out.question_count == 0) {
        return DnsParse::kNoQuestion;
    }

    size_t pos = kHeaderBytes;
    size_t end_of_name = 0;  // where the question continues after the name (first pointer)
    int pointers = 0;
    while (true) {
        if (pos >= msg.size()) {
            return DnsParse::kTruncated;
        }
        const uint8_t len = msg[pos];
        if ((len & kPointerMask) == kPointerMask) {
            if (pos + 1 >= msg.size()) {
                return DnsParse::kTruncated;
            }
            const size_t target = static_cast<size_t>(read_u16(msg, pos) & 0x3FFF);
            // Strictly backwards and bounded, so a crafted message cannot loop.
            if (target >= pos || ++pointers > kDnsMaxPointers) {
                return DnsParse::kBadName;
            }
            if (end_of_name == 0) {
                end_of_name = pos + 2;
            }
            pos = target;
            continue;
        }
        if ((len & kPointerMask) != 0) {
            return DnsParse::kBadName;  // 0x40/0x80: extended label types, obsolete
        }
        if (len == 0) {
            if (end_of_name == 0) {
                end_of_name = pos + 1;
            }
            break;
        }
        if (pos + 1 + len > msg.size()) {
            return DnsParse::kTruncated;
        }
        const size_t sep = out.name_len == 0 ? 0 : 1;
        if (out.name_len + sep + len > out.name.size()) {
            return DnsParse::kBadName;
        }
        if (sep != 0) {
            out.name[out.name_len++] = '.';
        }
        std::memcpy(out.name.data() + out.name_len, msg.data() + pos + 1, len);
        out.name_len += len;
        pos += 1 + size_t{len};
    }

    if (end_of_name + 4 > msg.size()) {
        return DnsParse::kTruncated;
    }
    out.qtype = read_u16(msg, end_of_name);
    out.qclass = read_u16(msg, end_of_name + 2);
    return DnsParse::kOk;
}

}  // namespace sensor::applayer
