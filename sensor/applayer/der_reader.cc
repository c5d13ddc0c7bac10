#include "sensor/applayer/der_reader.h"

#include <array>
#include <charconv>
#include <string_view>

namespace sensor::applayer {
namespace {

constexpr uint8_t kHighTagNumber = 0x1F;
constexpr uint8_t kLongLength = 0x80;
constexpr size_t kMaxLengthOctets = 4;

constexpr std::string_view kInvalidName = "<X509Error: Invalid X.509 name>";

// Attribute types with a name in Suricata's x509 parser: its abbreviations first, then its
// OID registry's short names.
struct AttributeName {
    std::string_view oid;
    std::string_view name;
};
constexpr std::array<AttributeName, 34> kAttributeNames{{
    {"2.5.4.3", "CN"},
    {"2.5.4.6", "C"},
    {"2.5.4.7", "L"},
    {"2.5.4.8", "ST"},
    {"2.5.4.10", "O"},
    {"2.5.4.11", "OU"},
    {"0.9.2342.19200300.100.1.25", "DC"},
    {"1.2.840.113549.1.9.1", "Email"},
    {"2.5.4.0", "objectClass"},
    {"2.5.4.1", "aliasedEntryName"},
    {"2.5.4.2", "knowledgeInformation"},
    {"2.5.4.4", "surname"},
    {"2.5.4.5", "serialNumber"},
    {"2.5.4.9", "streetAddress"},
    {"2.5.4.12", "title"},
    {"2.5.4.13", "description"},
    {"2.5.4.14", "searchGuide"},
    {"2.5.4.15", "businessCategory"},
    {"2.5.4.16", "postalAddress"},
    {"2.5.4.17", "postalCode"},
    {"2.5.4.41", "name"},
    {"2.5.4.42", "givenName"},
    {"2.5.4.43", "initials"},
    {"2.5.4.44", "generationQualifier"},
    {"2.5.4.45", "uniqueIdentifier"},
    {"2.5.4.46", "dnQualifier"},
    {"1.2.840.113549.1.9.2", "unstructuredName"},
    {"1.2.840.113549.1.9.3", "contentType"},
    {"1.2.840.113549.1.9.4", "id-messageDigest"},
    {"1.2.840.113549.1.9.5", "signing-time"},
    {"1.2.840.113549.1.9.20", "friendlyName"},
    {"1.3.6.1.4.1.311.60.2.1.1", "msJurisdictionLocality"},
    {"1.3.6.1.4.1.311.60.2.1.2", "msJurisdictionStateOrProvince"},
    {"1.3.6.1.4.1.311.60.2.1.3", "msJurisdictionCountry"},
}};

// The universal string types whose contents Suricata's parser shows as text.
bool is_string_tag(uint8_t tag) noexcept {
    switch (tag) {
        case 0x07:  // ObjectDescriptor
        case 0x0C:  // UTF8String
        case 0x12:  // NumericString
        case 0x13:  // PrintableString
        case 0x14:  // T61String
        case 0x15:  // VideotexString
        case 0x16:  // IA5String
        case 0x19:  // GraphicString
        case 0x1A:  // VisibleString
        case 0x1B:  // GeneralString
        case 0x1E:  // BMPString
            return true;
        default:
            return false;
    }
}

// Well-formed UTF-8 as Rust's from_utf8 requires: no overlong forms, no surrogates, nothing
// past U+10FFFF.
bool is_utf8(std::span<const uint8_t> s) noexcept {
    size_t i = 0;
    while (i < s.size()) {
        const uint8_t c = s[i];
        if (c < 0x80) {
            ++i;
            continue;
        }
        size_t extra = 0;
        uint8_t lo = 0x80;
        uint8_t hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            extra = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            extra = 2;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            extra = 3;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return false;
        }
        if (s.size() - i <= extra) {
            return false;
        }
        if (s[i + 1] < lo || s[i + 1] > hi) {
            return false;
        }
        for (size_t k = 2; k <= extra; ++k) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) {
                return false;
            }
        }
        i += extra + 1;
    }
    return true;
}

void append_hex_upper(std::span<const uint8_t> bytes, std::string& out) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (uint8_t b : bytes) {
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 0x0F]);
    }
}

// "CN=value" of one AttributeTypeAndValue; false when malformed, utf8_ok false when a string
// value is not UTF-8.
bool append_attribute(std::span<const uint8_t> atv, std::string& out, std::string& oid_text,
                      bool& utf8_ok) {
    DerReader r(atv);
    auto type = r.expect(der::kOid);
    auto value = r.next();
    if (!type || !value || !r.at_end() || !format_oid(type->value, oid_text)) {
        return false;
    }
    bool named = false;
    for (const AttributeName& a : kAttributeNames) {
        if (a.oid == oid_text) {
            out.append(a.name);
            named = true;
            break;
        }
    }
    if (!named) {
        out.append("OID(").append(oid_text).append(")");
    }
    out.push_back('=');
    if (is_string_tag(value->tag)) {
        if (!is_utf8(value->value)) {
            utf8_ok = false;
        }
        out.append(reinterpret_cast<const char*>(value->value.data()), value->value.size());
    } else {
        append_hex_upper(value->value, out);
    }
    return true;
}

}  // namespace

std::optional<DerElement> DerReader::next() noexcept {
    if (rest_.empty() || failed_) {
        return std::nullopt;
    }
    auto fail = [this]() -> std::optional<DerElement> {
        failed_ = true;
        rest_ = {};
        return std::nullopt;
    };
    if (rest_.size() < 2 || (rest_[0] & kHighTagNumber) == kHighTagNumber) {
        return fail();
    }
    size_t header = 2;
    size_t length = rest_[1];
    if ((length & kLongLength) != 0) {
        const size_t octets = length & 0x7F;
        if (octets == 0 || octets > kMaxLengthOctets || rest_.size() - 2 < octets) {
            return fail();  // 0: indefinite length, not DER
        }
        length = 0;
        for (size_t i = 0; i < octets; ++i) {
            length = (length << 8) | rest_[2 + i];
        }
        header += octets;
    }
    if (length > rest_.size() - header) {
        return fail();
    }
    DerElement e;
    e.tag = rest_[0];
    e.value = rest_.subspan(header, length);
    e.encoded = rest_.first(header + length);
    rest_ = rest_.subspan(header + length);
    return e;
}

std::optional<DerElement> DerReader::expect(uint8_t tag) noexcept {
    auto e = next();
    if (e && e->tag != tag) {
        failed_ = true;
        rest_ = {};
        return std::nullopt;
    }
    return e;
}

bool parse_certificate(std::span<const uint8_t> der, CertificateView& out) noexcept {
    out = CertificateView{};
    DerReader outer(der);
    auto cert = outer.expect(der::kSequence);
    if (!cert) {
        return false;
    }
    DerReader c(cert->value);
    auto tbs = c.expect(der::kSequence);
    if (!tbs) {
        return false;
    }
    DerReader t(tbs->value);
    auto first = t.next();
    if (first && first->tag == der::kExplicit0) {
        first = t.next();  // version present: the serial follows
    }
    if (!first || first->tag != der::kInteger) {
        return false;
    }
    auto signature = t.expect(der::kSequence);
    auto issuer = t.expect(der::kSequence);
    auto validity = t.expect(der::kSequence);
    auto subject = t.expect(der::kSequence);
    if (!signature || !issuer || !validity || !subject) {
        return false;
    }
    out.der = cert->encoded;
    out.serial = first->value;
    out.issuer = issuer->value;
    out.subject = subject->value;
    return true;
}

bool format_distinguished_name(std::span<const uint8_t> rdn_sequence, std::string& out) {
    out.clear();
    std::string oid_text;
    bool utf8_ok = true;
    DerReader rdns(rdn_sequence);
    bool first_rdn = true;
    while (!rdns.at_end()) {
        auto rdn = rdns.expect(der::kSet);
        if (!rdn) {
            out.clear();
            return false;
        }
        if (!first_rdn) {
            out.append(", ");
        }
        first_rdn = false;
        DerReader atvs(rdn->value);
        bool first_atv = true;
        while (!atvs.at_end()) {
            auto atv = atvs.expect(der::kSequence);
            if (!atv) {
                out.clear();
                return false;
            }
            if (!first_atv) {
                out.append(" + ");
            }
            first_atv = false;
            if (!append_attribute(atv->value, out, oid_text, utf8_ok)) {
                out.clear();
                return false;
            }
        }
    }
    if (!utf8_ok) {
        out.assign(kInvalidName);
    }
    return true;
}

void format_serial(std::span<const uint8_t> serial, std::string& out) {
    out.clear();
    for (size_t i = 0; i < serial.size(); ++i) {
        if (i != 0) {
            out.push_back(':');
        }
        append_hex_upper(serial.subspan(i, 1), out);
    }
}

bool format_oid(std::span<const uint8_t> oid, std::string& out) {
    out.clear();
    if (oid.empty() || (oid.back() & 0x80) != 0) {
        return false;  // empty, or the last arc does not end
    }
    uint64_t arc = 0;
    size_t arc_bytes = 0;
    bool first = true;
    char buf[24];
    for (uint8_t b : oid) {
        if (arc_bytes == 0 && b == 0x80) {
            return false;  // a leading zero septet is not minimal
        }
        if (++arc_bytes > 9) {
            return false;  // past 63 bits
        }
        arc = (arc << 7) | (b & 0x7Fu);
        if ((b & 0x80) != 0) {
            continue;
        }
        if (first) {
            // The first arc packs two: 40 * X + Y, X at most 2.
            const uint64_t x = arc < 40 ? 0 : (arc < 80 ? 1 : 2);
            auto r = std::to_chars(buf, buf + sizeof(buf), x);
            out.append(buf, r.ptr);
            out.push_back('.');
            r = std::to_chars(buf, buf + sizeof(buf), arc - 40 * x);
            out.append(buf, r.ptr);
            first = false;
        } else {
            out.push_back('.');
            auto r = std::to_chars(buf, buf + sizeof(buf), arc);
            out.append(buf, r.ptr);
        }
        arc = 0;
        arc_bytes = 0;
    }
    return true;
}

}  // namespace sensor::applayer
