#include "sensor/applayer/dns_parser.h"

#include <cstdio>
#include <cstring>
#include <iterator>
#include <string_view>
#include <utility>

namespace sensor::applayer {
namespace {

// Random access (compression pointers jump backwards), so every index is checked before use
// instead of going through core::ByteReader.
constexpr size_t kHeaderBytes = 12;
constexpr uint8_t kPointerMask = 0xC0;

uint16_t read_u16(std::span<const uint8_t> b, size_t at) noexcept {
    return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

uint32_t read_u32(std::span<const uint8_t> b, size_t at) noexcept {
    return (uint32_t{read_u16(b, at)} << 16) | read_u16(b, at + 2);
}

// Decodes the name at msg[pos] into buf (labels joined by '.'); end: just past the name where
// it starts (past its first pointer).
DnsParse read_name(std::span<const uint8_t> msg, size_t pos, std::span<uint8_t> buf, size_t& len,
                   size_t& end) noexcept {
    len = 0;
    end = 0;
    int pointers = 0;
    while (true) {
        if (pos >= msg.size()) {
            return DnsParse::kTruncated;
        }
        const uint8_t label = msg[pos];
        if ((label & kPointerMask) == kPointerMask) {
            if (pos + 1 >= msg.size()) {
                return DnsParse::kTruncated;
            }
            const size_t target = static_cast<size_t>(read_u16(msg, pos) & 0x3FFF);
            // Strictly backwards and bounded, so a crafted message cannot loop.
            if (target >= pos || ++pointers > kDnsMaxPointers) {
                return DnsParse::kBadName;
            }
            if (end == 0) {
                end = pos + 2;
            }
            pos = target;
            continue;
        }
        if ((label & kPointerMask) != 0) {
            return DnsParse::kBadName;  // 0x40/0x80: extended label types, obsolete
        }
        if (label == 0) {
            if (end == 0) {
                end = pos + 1;
            }
            return DnsParse::kOk;
        }
        if (pos + 1 + label > msg.size()) {
            return DnsParse::kTruncated;
        }
        const size_t sep = len == 0 ? 0 : 1;
        if (len + sep + label > buf.size()) {
            return DnsParse::kBadName;
        }
        if (sep != 0) {
            buf[len++] = '.';
        }
        std::memcpy(buf.data() + len, msg.data() + pos + 1, label);
        len += label;
        pos += 1 + size_t{label};
    }
}

DnsHeader read_header(std::span<const uint8_t> msg) noexcept {
    DnsHeader h;
    h.id = read_u16(msg, 0);
    h.flags = read_u16(msg, 2);
    for (size_t i = 0; i < h.counts.size(); ++i) {
        h.counts[i] = read_u16(msg, 4 + 2 * i);
    }
    return h;
}

std::string text(std::span<const uint8_t> bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Suricata's dns_print_addr: dotted quad, or eight groups of four hex digits (no
// compression); empty for any other length.
std::string address_text(std::span<const uint8_t> rd) {
    char buf[40] = {};
    if (rd.size() == 4) {
        std::snprintf(buf, sizeof(buf), "%u.%u.%u.%u", rd[0], rd[1], rd[2], rd[3]);
    } else if (rd.size() == 16) {
        for (size_t i = 0; i < 8; ++i) {
            std::snprintf(buf + i * 5, sizeof(buf) - i * 5,
                          i == 7 ? "%02x%02x" : "%02x%02x:", rd[2 * i], rd[2 * i + 1]);
        }
    }
    return std::string(buf);
}

// The rdata of one record as Suricata's llmnr/mdns loggers write it.
void describe_rdata(std::span<const uint8_t> msg, const DnsEntry& e, core::DnsRrRecord& out) {
    constexpr uint16_t kA = 1, kNs = 2, kCname = 5, kPtr = 12, kMx = 15, kTxt = 16, kAaaa = 28;
    const std::span<const uint8_t> rd = e.rdata;
    DnsName name;
    size_t end = 0;
    switch (e.type) {
        case kA:
        case kAaaa:
            out.data.push_back(address_text(rd));
            return;
        case kNs:
        case kCname:
        case kPtr:
        case kMx: {
            // MX: the exchange after the 2-byte preference.
            const size_t at = e.rdata_at + (e.type == kMx ? 2 : 0);
            if (at <= e.rdata_at + rd.size() &&
                read_dns_name(msg.first(e.rdata_at + rd.size()), at, name, end) == DnsParse::kOk) {
                out.data.push_back(text(name.bytes()));
                return;
            }
            break;
        }
        case kTxt: {
            out.data_is_list = true;
            for (size_t at = 0; at < rd.size();) {
                const size_t n = rd[at];
                if (at + 1 + n > rd.size()) {
                    break;
                }
                out.data.push_back(text(rd.subspan(at + 1, n)));
                at += 1 + n;
            }
            return;
        }
        default:
            break;
    }
    out.data.push_back(text(rd));
}

}  // namespace

DnsParse read_dns_name(std::span<const uint8_t> msg, size_t pos, DnsName& out,
                       size_t& end) noexcept {
    return read_name(msg, pos, out.text, out.len, end);
}

DnsParse parse_dns_question(std::span<const uint8_t> msg, DnsQuestion& out) noexcept {
    out.name_len = 0;
    if (msg.size() < kHeaderBytes) {
        return DnsParse::kTruncated;
    }
    const DnsHeader h = read_header(msg);
    out.id = h.id;
    out.is_response = h.is_response();
    out.opcode = h.opcode();
    out.question_count = h.counts[0];
    if (out.question_count == 0) {
        return DnsParse::kNoQuestion;
    }
    size_t end = 0;
    if (DnsParse r = read_name(msg, kHeaderBytes, out.name, out.name_len, end);
        r != DnsParse::kOk) {
        return r;
    }
    if (end + 4 > msg.size()) {
        return DnsParse::kTruncated;
    }
    out.qtype = read_u16(msg, end);
    out.qclass = read_u16(msg, end + 2);
    return DnsParse::kOk;
}

DnsMessageReader::DnsMessageReader(std::span<const uint8_t> msg) noexcept : msg_(msg) {
    if (msg.size() < kHeaderBytes) {
        status_ = DnsParse::kTruncated;
        return;
    }
    header_ = read_header(msg);
    pos_ = kHeaderBytes;
    left_ = header_.counts[0];
}

bool DnsMessageReader::next(DnsEntry& out) noexcept {
    if (status_ != DnsParse::kOk) {
        return false;
    }
    while (left_ == 0) {
        if (++section_ >= header_.counts.size()) {
            section_ = static_cast<uint8_t>(header_.counts.size());
            return false;
        }
        left_ = header_.counts[section_];
    }
    size_t end = 0;
    if (DnsParse r = read_dns_name(msg_, pos_, out.name, end); r != DnsParse::kOk) {
        status_ = r;
        return false;
    }
    out.section = static_cast<DnsSection>(section_);
    const bool question = out.section == DnsSection::kQuestion;
    const size_t fixed = question ? 4 : 10;  // type, class (+ ttl, rdlength)
    if (end + fixed > msg_.size()) {
        status_ = DnsParse::kTruncated;
        return false;
    }
    out.type = read_u16(msg_, end);
    out.rclass = read_u16(msg_, end + 2);
    out.ttl = 0;
    out.rdata_at = end + fixed;
    out.rdata = {};
    if (!question) {
        out.ttl = read_u32(msg_, end + 4);
        const size_t rdlen = read_u16(msg_, end + 8);
        if (out.rdata_at + rdlen > msg_.size()) {
            status_ = DnsParse::kTruncated;
            return false;
        }
        out.rdata = msg_.subspan(out.rdata_at, rdlen);
    }
    pos_ = out.rdata_at + out.rdata.size();
    --left_;
    return true;
}

bool is_dns_message(std::span<const uint8_t> msg) noexcept {
    DnsMessageReader reader(msg);
    DnsEntry entry;
    while (reader.next(entry)) {
    }
    return reader.status() == DnsParse::kOk;
}

bool is_dns_response(std::span<const uint8_t> msg) noexcept {
    return msg.size() >= kHeaderBytes && (msg[2] & 0x80) != 0 && is_dns_message(msg);
}

std::string dns_rrtype_name(uint16_t type) {
    // Suricata's mnemonics, lower-cased; the gaps have none.
    static constexpr std::string_view kLow[] = {
        "",         "a",     "ns",    "md",     "mf",    "cname",   "soa",        "mb",   "mg",
        "mr",       "null",  "wks",   "ptr",    "hinfo", "minfo",   "mx",         "txt",  "rp",
        "afsdb",    "x25",   "isdn",  "rt",     "nsap",  "nsapptr", "sig",        "key",  "px",
        "gpos",     "aaaa",  "loc",   "nxt",    "",      "",        "srv",        "atma", "naptr",
        "kx",       "cert",  "a6",    "dname",  "",      "opt",     "apl",        "ds",   "sshfp",
        "ipseckey", "rrsig", "nsec",  "dnskey", "dhcid", "nsec3",   "nsec3param", "tlsa", "",
        "",         "hip",   "",      "",       "",      "cds",     "cdnskey",    "",     "",
        "",         "svcb",  "https",
    };
    if (type < std::size(kLow) && !kLow[type].empty()) {
        return std::string(kLow[type]);
    }
    switch (type) {
        case 99:
            return "spf";
        case 249:
            return "tkey";
        case 250:
            return "tsig";
        case 253:
            return "maila";
        case 255:
            return "any";
        case 256:
            return "uri";
        default:
            return std::to_string(type);
    }
}

bool describe_dns_message(std::span<const uint8_t> msg, core::DnsMessageRecord& out) {
    DnsMessageReader reader(msg);
    if (reader.status() != DnsParse::kOk) {
        return false;
    }
    const DnsHeader& h = reader.header();
    out.response = h.is_response();
    out.id = h.id;
    out.flags = h.flags;
    constexpr uint16_t kOpt = 41;
    DnsEntry e;
    while (reader.next(e)) {
        if (e.section == DnsSection::kAdditional && e.type == kOpt && e.rdata.empty()) {
            continue;  // EDNS without options: Suricata leaves it out
        }
        core::DnsRrRecord rr;
        rr.rrname = text(e.name.bytes());
        rr.rrtype = dns_rrtype_name(e.type);
        switch (e.section) {
            case DnsSection::kQuestion:
                out.queries.push_back(std::move(rr));
                continue;
            case DnsSection::kAnswer:
                describe_rdata(msg, e, rr);
                out.answers.push_back(std::move(rr));
                continue;
            case DnsSection::kAuthority:
                describe_rdata(msg, e, rr);
                out.authorities.push_back(std::move(rr));
                continue;
            case DnsSection::kAdditional:
                describe_rdata(msg, e, rr);
                out.additionals.push_back(std::move(rr));
                continue;
        }
    }
    return reader.status() == DnsParse::kOk;
}

}  // namespace sensor::applayer
