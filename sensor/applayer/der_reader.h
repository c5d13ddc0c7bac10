#pragma once
// A bounds-checked reader of DER (ASN.1 distinguished encoding) and the few X.509 fields the
// tls.cert_* rule buffers need: subject, issuer and serial, formatted as Suricata shows them.
// Pure functions over caller-owned bytes; no OpenSSL.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace sensor::applayer {

namespace der {
inline constexpr uint8_t kInteger = 0x02;
inline constexpr uint8_t kOid = 0x06;
inline constexpr uint8_t kSequence = 0x30;
inline constexpr uint8_t kSet = 0x31;
inline constexpr uint8_t kExplicit0 = 0xA0;  // [0] EXPLICIT, constructed
}  // namespace der

struct DerElement {
    uint8_t tag = 0;                   // identifier octet (low tag numbers only)
    std::span<const uint8_t> value;    // the contents
    std::span<const uint8_t> encoded;  // identifier, length and contents
};

// Walks the elements of one level. Rejects what DER forbids or we do not need: high tag
// numbers, indefinite lengths, lengths over 4 octets or past the input.
class DerReader {
public:
    explicit DerReader(std::span<const uint8_t> bytes) noexcept : rest_(bytes) {}

    // The next element; nullopt at the end or when malformed (failed() tells which).
    std::optional<DerElement> next() noexcept;
    // next(), which must carry tag; a different tag counts as malformed.
    std::optional<DerElement> expect(uint8_t tag) noexcept;
    bool at_end() const noexcept { return rest_.empty(); }
    bool failed() const noexcept { return failed_; }

private:
    std::span<const uint8_t> rest_;
    bool failed_ = false;
};

// Views into one DER certificate.
struct CertificateView {
    std::span<const uint8_t> der;      // the whole certificate
    std::span<const uint8_t> serial;   // serialNumber contents as encoded (sign byte kept)
    std::span<const uint8_t> issuer;   // issuer Name: contents of the RDNSequence
    std::span<const uint8_t> subject;  // subject Name: contents of the RDNSequence
};

// Reads the outer structure and the TBSCertificate fields up to the subject. False when
// any of them is malformed.
bool parse_certificate(std::span<const uint8_t> der, CertificateView& out) noexcept;

// Suricata's distinguished name text (its x509 parser's): "C=US, O=Let's Encrypt, CN=R3".
// RDNs joined by ", ", the attributes of a multi-valued RDN by " + "; known attribute types
// by their short names, others as "OID(2.5.4.97)"; string values as they are, other values
// as upper-case hex. A string value that is not UTF-8 makes the whole text
// "<X509Error: Invalid X.509 name>", as in Suricata. False (out empty) when the DER is
// malformed. out is cleared first.
bool format_distinguished_name(std::span<const uint8_t> rdn_sequence, std::string& out);

// Suricata's serial text: each byte as two upper-case hex digits, joined by ':'.
void format_serial(std::span<const uint8_t> serial, std::string& out);

// Dotted text of an OBJECT IDENTIFIER's contents ("2.5.4.3"); false when malformed.
bool format_oid(std::span<const uint8_t> oid, std::string& out);

}  // namespace sensor::applayer
