// TLS server side: the DER reader and Suricata's DN and serial text, ServerHello and JA3S,
// the certificate chain, the server assembler's bounds, and the tls.cert_* / tls.certs /
// ja3s.hash views through AppLayer and the detector. The certificates below were made for
// these tests with `openssl req -x509` (EC P-256 keys; leaf signed by the CA):
//   CA:   subject C=US, O=Example Trust, CN=Example Root CA, serial 0x1001
//   leaf: subject C=US, ST=WA, O=Example Org + OU=Web, CN=www.example.test, serial 0xc0ffee42

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/applayer/app_layer.h"
#include "sensor/applayer/der_reader.h"
#include "sensor/applayer/tls_parser.h"
#include "sensor/detect/detector.h"
#include "sensor/detect/signature_db.h"
#include "tests/unit/applayer/applayer_test_support.h"

namespace sensor::applayer {
namespace {

using core::BufferKind;
using testing::buf;
using testing::Conversation;
using testing::str;

using Bytes = std::vector<uint8_t>;

// 390 bytes
const Bytes kLeafDer = {
    0x30, 0x82, 0x01, 0x82, 0x30, 0x82, 0x01, 0x28, 0x02, 0x05, 0x00, 0xc0, 0xff, 0xee, 0x42, 0x30,
    0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x30, 0x3f, 0x31, 0x0b, 0x30,
    0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, 0x55, 0x53, 0x31, 0x16, 0x30, 0x14, 0x06, 0x03,
    0x55, 0x04, 0x0a, 0x0c, 0x0d, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x20, 0x54, 0x72, 0x75,
    0x73, 0x74, 0x31, 0x18, 0x30, 0x16, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0f, 0x45, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x20, 0x52, 0x6f, 0x6f, 0x74, 0x20, 0x43, 0x41, 0x30, 0x1e, 0x17, 0x0d,
    0x32, 0x36, 0x31, 0x31, 0x32, 0x37, 0x30, 0x39, 0x32, 0x36, 0x32, 0x37, 0x5a, 0x17, 0x0d, 0x33,
    0x36, 0x31, 0x31, 0x32, 0x34, 0x30, 0x39, 0x32, 0x36, 0x32, 0x37, 0x5a, 0x30, 0x57, 0x31, 0x0b,
    0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, 0x55, 0x53, 0x31, 0x0b, 0x30, 0x09, 0x06,
    0x03, 0x55, 0x04, 0x08, 0x0c, 0x02, 0x57, 0x41, 0x31, 0x20, 0x30, 0x0a, 0x06, 0x03, 0x55, 0x04,
    0x0b, 0x0c, 0x03, 0x57, 0x65, 0x62, 0x30, 0x12, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x0b, 0x45,
    0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x20, 0x4f, 0x72, 0x67, 0x31, 0x19, 0x30, 0x17, 0x06, 0x03,
    0x55, 0x04, 0x03, 0x0c, 0x10, 0x77, 0x77, 0x77, 0x2e, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65,
    0x2e, 0x74, 0x65, 0x73, 0x74, 0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d,
    0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04,
    0x68, 0x60, 0x64, 0x2b, 0x60, 0xab, 0x55, 0xe0, 0x2f, 0xd7, 0xb4, 0x36, 0xf3, 0x7c, 0x7b, 0xfe,
    0x6f, 0x3f, 0xd2, 0xdd, 0xb5, 0xb3, 0x98, 0x63, 0x2e, 0x96, 0x10, 0x67, 0x3b, 0xd6, 0x2b, 0x0c,
    0x0b, 0x34, 0x4f, 0xf1, 0xac, 0x0a, 0xd5, 0x22, 0x29, 0x77, 0x79, 0x33, 0xc0, 0x15, 0xed, 0xbc,
    0xd5, 0xc7, 0x84, 0xea, 0x70, 0xb5, 0xb8, 0x3e, 0x74, 0x84, 0x00, 0x12, 0x6b, 0xba, 0xb7, 0xb6,
    0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x03, 0x48, 0x00, 0x30,
    0x45, 0x02, 0x20, 0x12, 0x77, 0x12, 0x3c, 0x3f, 0x46, 0x98, 0x90, 0xbd, 0x90, 0x75, 0x89, 0x41,
    0xca, 0xe4, 0x77, 0x01, 0x4b, 0xa6, 0x77, 0x28, 0xf8, 0x01, 0xb9, 0x1d, 0x17, 0xfd, 0x2b, 0xb8,
    0x9a, 0x71, 0x30, 0x02, 0x21, 0x00, 0x88, 0x8e, 0x62, 0xae, 0x9f, 0x0a, 0x10, 0x2f, 0x30, 0xc0,
    0x98, 0x20, 0xf0, 0xa3, 0xf3, 0x50, 0x8f, 0x33, 0xc6, 0x1a, 0x23, 0x84, 0xac, 0x95, 0x18, 0xa2,
    0xcc, 0x12, 0x24, 0x74, 0x0f, 0x82,
};
// 454 bytes
const Bytes kCaDer = {
    0x30, 0x82, 0x01, 0xc2, 0x30, 0x82, 0x01, 0x67, 0xa0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x02, 0x10,
    0x01, 0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x30, 0x3f, 0x31,
    0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, 0x55, 0x53, 0x31, 0x16, 0x30, 0x14,
    0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x0d, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x20, 0x54,
    0x72, 0x75, 0x73, 0x74, 0x31, 0x18, 0x30, 0x16, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0f, 0x45,
    0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x20, 0x52, 0x6f, 0x6f, 0x74, 0x20, 0x43, 0x41, 0x30, 0x1e,
    0x17, 0x0d, 0x32, 0x36, 0x31, 0x31, 0x32, 0x37, 0x30, 0x39, 0x32, 0x36, 0x32, 0x37, 0x5a, 0x17,
    0x0d, 0x33, 0x36, 0x31, 0x31, 0x32, 0x34, 0x30, 0x39, 0x32, 0x36, 0x32, 0x37, 0x5a, 0x30, 0x3f,
    0x31, 0x0b, 0x30, 0x09, 0x06, 0x03, 0x55, 0x04, 0x06, 0x13, 0x02, 0x55, 0x53, 0x31, 0x16, 0x30,
    0x14, 0x06, 0x03, 0x55, 0x04, 0x0a, 0x0c, 0x0d, 0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x20,
    0x54, 0x72, 0x75, 0x73, 0x74, 0x31, 0x18, 0x30, 0x16, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c, 0x0f,
    0x45, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x20, 0x52, 0x6f, 0x6f, 0x74, 0x20, 0x43, 0x41, 0x30,
    0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86,
    0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0x9c, 0xf5, 0x75, 0x72, 0x41, 0xf3,
    0x7a, 0x5b, 0x0a, 0xfb, 0xae, 0x24, 0x4f, 0x12, 0x4c, 0xbc, 0x97, 0xe6, 0xec, 0x9e, 0x6d, 0x66,
    0xac, 0xd4, 0xbc, 0xaa, 0x5d, 0x3e, 0xb2, 0xfa, 0x99, 0x1e, 0xa1, 0x24, 0x68, 0x53, 0xfe, 0xdd,
    0xd9, 0xe5, 0xfb, 0x68, 0x67, 0xe7, 0xad, 0x52, 0xd3, 0x2e, 0x7d, 0xba, 0x22, 0x02, 0xf9, 0x88,
    0x37, 0x83, 0x40, 0x29, 0xc7, 0x10, 0x1b, 0x89, 0xf0, 0x56, 0xa3, 0x53, 0x30, 0x51, 0x30, 0x1d,
    0x06, 0x03, 0x55, 0x1d, 0x0e, 0x04, 0x16, 0x04, 0x14, 0xd1, 0x8c, 0x81, 0x15, 0x13, 0x91, 0xdf,
    0xfc, 0x99, 0x57, 0x87, 0xc6, 0xe0, 0x44, 0x0a, 0x05, 0x5a, 0x82, 0x77, 0x51, 0x30, 0x1f, 0x06,
    0x03, 0x55, 0x1d, 0x23, 0x04, 0x18, 0x30, 0x16, 0x80, 0x14, 0xd1, 0x8c, 0x81, 0x15, 0x13, 0x91,
    0xdf, 0xfc, 0x99, 0x57, 0x87, 0xc6, 0xe0, 0x44, 0x0a, 0x05, 0x5a, 0x82, 0x77, 0x51, 0x30, 0x0f,
    0x06, 0x03, 0x55, 0x1d, 0x13, 0x01, 0x01, 0xff, 0x04, 0x05, 0x30, 0x03, 0x01, 0x01, 0xff, 0x30,
    0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02, 0x03, 0x49, 0x00, 0x30, 0x46,
    0x02, 0x21, 0x00, 0xef, 0xec, 0xd8, 0x80, 0xf3, 0xf4, 0xf6, 0x92, 0xba, 0x82, 0x0e, 0xef, 0x1b,
    0xb0, 0x64, 0xb5, 0x83, 0xaa, 0x11, 0xad, 0x78, 0xf6, 0xd5, 0x26, 0x32, 0x17, 0xa6, 0x1a, 0xff,
    0x63, 0x92, 0x3c, 0x02, 0x21, 0x00, 0xcd, 0xe6, 0xa7, 0x3a, 0x54, 0x02, 0x9b, 0x95, 0x29, 0x86,
    0x20, 0x90, 0x44, 0xb6, 0xb0, 0xd4, 0x13, 0x6a, 0x33, 0x60, 0x41, 0xde, 0xa7, 0x11, 0x95, 0x4c,
    0xb8, 0xd3, 0x1c, 0x60, 0x5e, 0xc4,
};

void put16(Bytes& b, size_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}
void put24(Bytes& b, size_t v) {
    b.push_back(static_cast<uint8_t>(v >> 16));
    put16(b, v & 0xFFFF);
}
void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

Bytes handshake(uint8_t type, const Bytes& body) {
    Bytes m = {type};
    put24(m, body.size());
    append(m, body);
    return m;
}

Bytes record(const Bytes& fragment, uint8_t type = 0x16) {
    Bytes r = {type, 0x03, 0x03};
    put16(r, fragment.size());
    append(r, fragment);
    return r;
}

// ServerHello TLS 1.2, cipher 0xc02f, extensions renegotiation_info, GREASE,
// ec_point_formats, session_ticket: JA3S "771,49199,65281-11-35".
Bytes server_hello(const Bytes& extra_extensions = {}) {
    Bytes body = {0x03, 0x03};
    body.insert(body.end(), 32, 0x33);  // random
    body.push_back(0);                  // no session id
    append(body, {0xc0, 0x2f, 0x00});   // cipher, compression null
    Bytes exts = {0xff, 0x01, 0x00, 0x01, 0x00, 0x0a, 0x0a, 0x00, 0x00, 0x00,
                  0x0b, 0x00, 0x02, 0x01, 0x00, 0x00, 0x23, 0x00, 0x00};
    append(exts, extra_extensions);
    put16(body, exts.size());
    append(body, exts);
    return handshake(0x02, body);
}

Bytes certificate_message(const std::vector<Bytes>& chain) {
    Bytes list;
    for (const Bytes& c : chain) {
        put24(list, c.size());
        append(list, c);
    }
    Bytes body;
    put24(body, list.size());
    append(body, list);
    return handshake(0x0b, body);
}

std::string as_string(const Bytes& b) { return {b.begin(), b.end()}; }
std::span<const uint8_t> span(const Bytes& b) { return {b.data(), b.size()}; }

// A Name with one RDN holding one attribute of the given type and value.
Bytes name_of(const Bytes& oid, uint8_t value_tag, const Bytes& value) {
    Bytes atv = {0x06, static_cast<uint8_t>(oid.size())};
    append(atv, oid);
    atv.push_back(value_tag);
    atv.push_back(static_cast<uint8_t>(value.size()));
    append(atv, value);
    Bytes seq = {0x30, static_cast<uint8_t>(atv.size())};
    append(seq, atv);
    Bytes set = {0x31, static_cast<uint8_t>(seq.size())};
    append(set, seq);
    return set;  // contents of the RDNSequence
}

TEST(DerReader, ReadsShortAndLongLengths) {
    Bytes long_form = {0x04, 0x81, 0x80};
    long_form.insert(long_form.end(), 0x80, 0xAB);
    long_form.push_back(0x05);  // NULL
    long_form.push_back(0x00);
    DerReader r(span(long_form));
    auto e = r.next();
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->tag, 0x04);
    EXPECT_EQ(e->value.size(), 0x80u);
    EXPECT_EQ(e->encoded.size(), 0x83u);
    auto null = r.next();
    ASSERT_TRUE(null.has_value());
    EXPECT_EQ(null->tag, 0x05);
    EXPECT_TRUE(null->value.empty());
    EXPECT_TRUE(r.at_end());
    EXPECT_FALSE(r.next().has_value());
    EXPECT_FALSE(r.failed());
}

TEST(DerReader, RejectsTruncatedAndNonDerInput) {
    const std::vector<Bytes> bad = {
        {0x30},                          // no length
        {0x30, 0x05, 0x01},              // contents past the end
        {0x30, 0x82, 0x01},              // length octets past the end
        {0x30, 0x80, 0x00, 0x00},        // indefinite length
        {0x1F, 0x81, 0x01, 0x00},        // high tag number
        {0x04, 0x85, 1, 0, 0, 0, 0, 0},  // five length octets
    };
    for (const Bytes& b : bad) {
        DerReader r(span(b));
        EXPECT_FALSE(r.next().has_value());
        EXPECT_TRUE(r.failed());
    }
    Bytes int_not_seq = {0x02, 0x01, 0x05};
    DerReader r(span(int_not_seq));
    EXPECT_FALSE(r.expect(der::kSequence).has_value());
    EXPECT_TRUE(r.failed());
}

TEST(DerReader, FormatsOids) {
    std::string out;
    EXPECT_TRUE(format_oid(span({0x55, 0x04, 0x03}), out));
    EXPECT_EQ(out, "2.5.4.3");
    EXPECT_TRUE(format_oid(span({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01}), out));
    EXPECT_EQ(out, "1.2.840.113549.1.9.1");
    EXPECT_TRUE(
        format_oid(span({0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19}), out));
    EXPECT_EQ(out, "0.9.2342.19200300.100.1.25");
    EXPECT_FALSE(format_oid(span({0x55, 0x84}), out));        // last arc unfinished
    EXPECT_FALSE(format_oid(span({0x55, 0x80, 0x01}), out));  // not minimal
    EXPECT_FALSE(format_oid({}, out));
}

TEST(DerReader, CertificateFieldsAsSuricataShowsThem) {
    CertificateView leaf;
    ASSERT_TRUE(parse_certificate(span(kLeafDer), leaf));
    EXPECT_EQ(leaf.der.size(), kLeafDer.size());
    std::string text;
    ASSERT_TRUE(format_distinguished_name(leaf.subject, text));
    // The multi-valued RDN keeps its DER (sorted) order: OU before O.
    EXPECT_EQ(text, "C=US, ST=WA, OU=Web + O=Example Org, CN=www.example.test");
    ASSERT_TRUE(format_distinguished_name(leaf.issuer, text));
    EXPECT_EQ(text, "C=US, O=Example Trust, CN=Example Root CA");
    format_serial(leaf.serial, text);
    EXPECT_EQ(text, "00:C0:FF:EE:42");  // the sign byte is part of the encoding

    CertificateView ca;
    ASSERT_TRUE(parse_certificate(span(kCaDer), ca));
    ASSERT_TRUE(format_distinguished_name(ca.subject, text));
    EXPECT_EQ(text, "C=US, O=Example Trust, CN=Example Root CA");
    format_serial(ca.serial, text);
    EXPECT_EQ(text, "10:01");
}

TEST(DerReader, TruncatedOrGarbageCertificatesAreRejected) {
    CertificateView view;
    for (size_t cut : {size_t{0}, size_t{1}, size_t{4}, size_t{40}, kLeafDer.size() - 1}) {
        Bytes part(kLeafDer.begin(), kLeafDer.begin() + static_cast<std::ptrdiff_t>(cut));
        EXPECT_FALSE(parse_certificate(span(part), view)) << cut;
    }
    Bytes garbage(300, 0x30);
    EXPECT_FALSE(parse_certificate(span(garbage), view));
    Bytes flipped = kLeafDer;
    flipped[8] = 0x04;  // the serial is no INTEGER
    EXPECT_FALSE(parse_certificate(span(flipped), view));
}

TEST(DerReader, NameValuesOfOtherTypesAndUnknownAttributes) {
    std::string text;
    // organizationIdentifier (2.5.4.97) is not named by Suricata's parser.
    ASSERT_TRUE(format_distinguished_name(
        span(name_of({0x55, 0x04, 0x61}, 0x0c, {'V', 'A', 'T', 'D', 'E'})), text));
    EXPECT_EQ(text, "OID(2.5.4.97)=VATDE");
    // A value that is no string type shows as upper-case hex of its contents.
    ASSERT_TRUE(
        format_distinguished_name(span(name_of({0x55, 0x04, 0x03}, 0x04, {0xde, 0xad})), text));
    EXPECT_EQ(text, "CN=DEAD");
    // emailAddress uses Suricata's abbreviation.
    ASSERT_TRUE(format_distinguished_name(
        span(
            name_of({0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01}, 0x16, {'a', '@', 'b'})),
        text));
    EXPECT_EQ(text, "Email=a@b");
    // A string value that is not UTF-8 spoils the whole name, as in Suricata.
    ASSERT_TRUE(
        format_distinguished_name(span(name_of({0x55, 0x04, 0x03}, 0x0c, {0xc3, 0x28})), text));
    EXPECT_EQ(text, "<X509Error: Invalid X.509 name>");
    Bytes broken = name_of({0x55, 0x04, 0x03}, 0x0c, {'x'});
    broken.pop_back();
    EXPECT_FALSE(format_distinguished_name(span(broken), text));
    EXPECT_TRUE(text.empty());
}

TEST(TlsServer, ServerHelloGivesJa3sWithoutGrease) {
    ServerHello hello;
    const Bytes msg = server_hello({0x00, 0x2b, 0x00, 0x02, 0x03, 0x04});
    ASSERT_EQ(parse_server_hello(span(msg), hello), TlsParse::kOk);
    EXPECT_EQ(hello.version, 0x0303);
    EXPECT_EQ(hello.cipher_suite, 0xc02f);
    EXPECT_EQ(hello.selected_version, 0x0304);
    std::string text;
    ja3s_text(hello, text);
    EXPECT_EQ(text, "771,49199,65281-11-35-43");

    const Bytes plain = server_hello();
    ASSERT_EQ(parse_server_hello(span(plain), hello), TlsParse::kOk);
    ja3s_text(hello, text);
    EXPECT_EQ(text, "771,49199,65281-11-35");
    std::array<char, 33> hash{};
    md5_hex({reinterpret_cast<const uint8_t*>(text.data()), text.size()}, hash);
    EXPECT_STREQ(hash.data(), "ccc514751b175866924439bdbb5bba34");

    Bytes cut = server_hello();
    cut.resize(cut.size() - 3);
    EXPECT_EQ(parse_server_hello(span(cut), hello), TlsParse::kMalformed);
    EXPECT_EQ(parse_server_hello(span(certificate_message({kLeafDer})), hello),
              TlsParse::kNotClientHello);
}

TEST(TlsServer, SplitsTheChainAndKeepsWholeCertificatesOfATruncatedOne) {
    const Bytes msg = certificate_message({kLeafDer, kCaDer});
    std::array<std::span<const uint8_t>, kTlsMaxChainCertificates> certs{};
    ASSERT_EQ(split_certificates(span(msg), certs), 2u);
    EXPECT_EQ(certs[0].size(), kLeafDer.size());
    EXPECT_EQ(certs[1].size(), kCaDer.size());
    EXPECT_TRUE(std::equal(certs[1].begin(), certs[1].end(), kCaDer.begin()));
    Bytes truncated(msg.begin(), msg.end() - 10);
    EXPECT_EQ(split_certificates(span(truncated), certs), 1u);
    std::array<std::span<const uint8_t>, 1> one{};
    EXPECT_EQ(split_certificates(span(msg), one), 1u);
    EXPECT_EQ(split_certificates(span(server_hello()), certs), 0u);
}

TEST(TlsServer, AssemblerFollowsRecordsSplitAnywhere) {
    // ServerHello and Certificate in one record, ServerHelloDone in another, fed byte by byte.
    Bytes flight = server_hello();
    append(flight, certificate_message({kLeafDer, kCaDer}));
    Bytes stream = record(flight);
    append(stream, record(handshake(0x0e, {})));
    TlsServerAssembler a;
    MemoryBudget budget{size_t{1} << 20, 0};
    size_t fed = 0;
    while (fed < stream.size() && a.state() == TlsServerAssembler::State::kNeedMore) {
        a.feed(span(stream).subspan(fed++, 1), budget);
    }
    // Finished at the Certificate's last byte: nothing after it is needed.
    EXPECT_EQ(fed, stream.size() - 9);
    EXPECT_EQ(a.state(), TlsServerAssembler::State::kFinished);
    EXPECT_EQ(a.take_server_hello().size(), server_hello().size());
    std::array<std::span<const uint8_t>, 4> certs{};
    EXPECT_EQ(split_certificates(a.take_certificate(), certs), 2u);
    EXPECT_EQ(budget.used, a.charged_bytes());
    EXPECT_GT(budget.used, 0u);
    a.refund_all(budget);
    EXPECT_EQ(budget.used, 0u);
}

TEST(TlsServer, AssemblerGivesEachMessageOnce) {
    Bytes stream = record(server_hello());
    append(stream, record(certificate_message({kLeafDer})));
    TlsServerAssembler a;
    MemoryBudget budget{size_t{1} << 20, 0};
    EXPECT_EQ(a.feed(span(stream).first(20), budget), TlsServerAssembler::State::kNeedMore);
    EXPECT_TRUE(a.take_server_hello().empty());
    EXPECT_EQ(a.feed(span(stream).subspan(20), budget), TlsServerAssembler::State::kFinished);
    const Bytes hello = server_hello();
    std::span<const uint8_t> got = a.take_server_hello();
    EXPECT_TRUE(std::equal(got.begin(), got.end(), hello.begin(), hello.end()));
    EXPECT_TRUE(a.take_server_hello().empty());
    const Bytes cert = certificate_message({kLeafDer});
    got = a.take_certificate();
    EXPECT_TRUE(std::equal(got.begin(), got.end(), cert.begin(), cert.end()));
    EXPECT_TRUE(a.take_certificate().empty());
    a.refund_all(budget);
}

TEST(TlsServer, AssemblerBoundsTheChainAndTheBudget) {
    // A chain past the cap: the first kTlsMaxCertificateBytes are kept, the rest counted.
    std::vector<Bytes> chain(200, kCaDer);
    chain.front() = kLeafDer;
    const Bytes msg = certificate_message(chain);
    ASSERT_GT(msg.size(), kTlsMaxCertificateBytes);
    Bytes stream;
    for (size_t off = 0; off < msg.size(); off += 16000) {
        const size_t n = std::min<size_t>(16000, msg.size() - off);
        append(stream, record(Bytes(msg.begin() + static_cast<std::ptrdiff_t>(off),
                                    msg.begin() + static_cast<std::ptrdiff_t>(off + n))));
    }
    TlsServerAssembler a;
    MemoryBudget budget{size_t{1} << 20, 0};
    EXPECT_EQ(a.feed(span(stream), budget), TlsServerAssembler::State::kFinished);
    EXPECT_EQ(a.truncated_bytes(), msg.size() - kTlsMaxCertificateBytes);
    EXPECT_EQ(a.take_certificate().size(), kTlsMaxCertificateBytes);
    EXPECT_EQ(budget.used, kTlsMaxCertificateBytes);
    std::array<std::span<const uint8_t>, kTlsMaxChainCertificates> certs{};
    EXPECT_EQ(split_certificates(a.certificate(), certs), kTlsMaxChainCertificates);
    a.refund_all(budget);

    // The budget refuses the buffer: nothing allocated, nothing charged.
    TlsServerAssembler poor;
    MemoryBudget small{100, 0};
    EXPECT_EQ(poor.feed(span(record(certificate_message({kLeafDer}))), small),
              TlsServerAssembler::State::kOverBudget);
    EXPECT_EQ(small.used, 0u);
    EXPECT_EQ(poor.charged_bytes(), 0u);
}

TEST(TlsServer, AssemblerStopsAtEncryptedOrForeignRecords) {
    MemoryBudget budget{size_t{1} << 20, 0};
    // TLS 1.3: ServerHello, then ChangeCipherSpec; the rest is encrypted.
    Bytes tls13 = record(server_hello({0x00, 0x2b, 0x00, 0x02, 0x03, 0x04}));
    append(tls13, record({0x01}, 0x14));
    append(tls13, record({0xde, 0xad}, 0x17));
    TlsServerAssembler a;
    EXPECT_EQ(a.feed(span(tls13), budget), TlsServerAssembler::State::kFinished);
    EXPECT_FALSE(a.take_server_hello().empty());
    EXPECT_TRUE(a.take_certificate().empty());
    a.refund_all(budget);

    // A warning alert (unrecognized_name) before the ServerHello is skipped.
    Bytes warned = record({0x01, 0x70}, 0x15);
    append(warned, record(server_hello()));
    append(warned, record(certificate_message({kLeafDer})));
    TlsServerAssembler w;
    EXPECT_EQ(w.feed(span(warned), budget), TlsServerAssembler::State::kFinished);
    EXPECT_FALSE(w.take_server_hello().empty());
    EXPECT_FALSE(w.take_certificate().empty());
    w.refund_all(budget);

    TlsServerAssembler http;
    const std::string reply = "HTTP/1.1 200 OK\r\n";
    EXPECT_EQ(http.feed({reinterpret_cast<const uint8_t*>(reply.data()), reply.size()}, budget),
              TlsServerAssembler::State::kNotTls);
    EXPECT_EQ(budget.used, 0u);
}

// A ClientHello (TLS 1.2, SNI) as one record.
Bytes client_hello_record(const std::string& sni, const Bytes& extra_extensions = {}) {
    Bytes body = {0x03, 0x03};
    body.insert(body.end(), 32, 0x11);
    body.push_back(0);
    append(body, {0x00, 0x02, 0xc0, 0x2f, 0x01, 0x00});
    Bytes names;
    put16(names, sni.size() + 3);
    names.push_back(0);
    put16(names, sni.size());
    names.insert(names.end(), sni.begin(), sni.end());
    Bytes exts = {0x00, 0x00};
    put16(exts, names.size());
    append(exts, names);
    append(exts, extra_extensions);
    put16(body, exts.size());
    append(body, exts);
    return record(handshake(0x01, body));
}

// supported_versions of a TLS 1.3 client: GREASE, an unknown value, 1.3, 1.2.
const Bytes kClientSupportedVersions = {0x00, 0x2b, 0x00, 0x09, 0x08, 0x7a, 0x7a,
                                        0x05, 0x05, 0x03, 0x04, 0x03, 0x03};
// supported_versions of a TLS 1.3 server: 1.3 chosen.
const Bytes kServerSupportedVersion = {0x00, 0x2b, 0x00, 0x02, 0x03, 0x04};

TEST(TlsServer, HelloVersionsAsSuricataReadsThem) {
    const Bytes hello13 = client_hello_record("a.example", kClientSupportedVersions);
    ClientHello client;
    ASSERT_EQ(parse_client_hello(std::span(hello13).subspan(5), client), TlsParse::kOk);
    EXPECT_EQ(client.version, 0x0303);
    EXPECT_EQ(client.preferred_version, 0x0304);  // GREASE and 0x0505 skipped
    EXPECT_EQ(hello_version(client), 0x0304);
    const Bytes hello12 = client_hello_record("a.example");
    ASSERT_EQ(parse_client_hello(std::span(hello12).subspan(5), client), TlsParse::kOk);
    EXPECT_EQ(client.preferred_version, 0);
    EXPECT_EQ(hello_version(client), 0x0303);

    ServerHello server;
    const Bytes server13 = server_hello(kServerSupportedVersion);
    ASSERT_EQ(parse_server_hello(span(server13), server), TlsParse::kOk);
    EXPECT_EQ(hello_version(server), 0x0304);
    const Bytes server12 = server_hello();
    ASSERT_EQ(parse_server_hello(span(server12), server), TlsParse::kOk);
    EXPECT_EQ(hello_version(server), 0x0303);
    // A selected version of 1.2 or below leaves the legacy version.
    const Bytes odd = server_hello({0x00, 0x2b, 0x00, 0x02, 0x03, 0x01});
    ASSERT_EQ(parse_server_hello(span(odd), server), TlsParse::kOk);
    EXPECT_EQ(hello_version(server), 0x0303);

    for (uint16_t v : {0x0300, 0x0301, 0x0304, 0x7f01, 0x7f10, 0x7f1c, 0xfb14, 0xfb17, 0xfb1a}) {
        EXPECT_TRUE(tls_version_known(static_cast<uint16_t>(v))) << v;
    }
    for (uint16_t v : {0x0200, 0x0305, 0x7f02, 0x7f1d, 0xfb18, 0x0a0a}) {
        EXPECT_FALSE(tls_version_known(static_cast<uint16_t>(v))) << v;
    }
}

TEST(AppLayerTlsServer, FlowKeepsEachSidesVersion) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 443);
    EXPECT_EQ(c.flow().app.tls_version[0], 0);
    c.send(app, true, as_string(client_hello_record("v.example", kClientSupportedVersions)));
    EXPECT_EQ(c.flow().app.tls_version[0], 0x0304);
    EXPECT_EQ(c.flow().app.tls_version[1], 0);
    Bytes flight = record(server_hello(kServerSupportedVersion));
    append(flight, record({0x01}, 0x14));  // ChangeCipherSpec: the rest is encrypted
    c.send(app, false, as_string(flight));
    EXPECT_EQ(c.flow().app.tls_version[1], 0x0304);
    // The versions outlive the parser's state.
    c.send(app, true, as_string(record({1, 2, 3}, 0x17)));
    EXPECT_EQ(app.memory_bytes(), 0u);
    EXPECT_EQ(c.flow().app.tls_version[0], 0x0304);
    EXPECT_EQ(c.flow().app.tls_version[1], 0x0304);
    app.release(c.flow());
}

// The server's flight of a TLS 1.2 handshake, with the chain leaf, CA.
Bytes server_flight() {
    Bytes flight = record(server_hello());
    append(flight, record(certificate_message({kLeafDer, kCaDer})));
    append(flight, record(handshake(0x0e, {})));
    return flight;
}

TEST(AppLayerTlsServer, CertificateViewsAndEachCertificateOfTheChain) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 443);
    core::AppBuffers hello = c.send(app, true, as_string(client_hello_record("www.example.test")));
    EXPECT_EQ(buf(hello, BufferKind::kTlsSni), "www.example.test");
    EXPECT_EQ(buf(hello, BufferKind::kJa3String), "771,49199,0,,");
    EXPECT_EQ(app.memory_bytes(), 0u);  // nothing held until the server speaks
    EXPECT_EQ(app.protocol(c.flow()), "tls");

    const std::string flight = as_string(server_flight());
    // The ServerHello and half of the certificate record: JA3S first.
    core::AppBuffers out = c.send(app, false, flight.substr(0, 200));
    EXPECT_EQ(buf(out, BufferKind::kJa3sHash), "ccc514751b175866924439bdbb5bba34");
    EXPECT_TRUE(out.get(BufferKind::kTlsCertSubject).empty());
    EXPECT_EQ(out.transaction_id, 1u);
    EXPECT_GT(app.memory_bytes(), 0u);

    out = c.send(app, false, flight.substr(200));
    EXPECT_EQ(buf(out, BufferKind::kTlsCertSubject),
              "C=US, ST=WA, OU=Web + O=Example Org, CN=www.example.test");
    EXPECT_EQ(buf(out, BufferKind::kTlsCertIssuer), "C=US, O=Example Trust, CN=Example Root CA");
    EXPECT_EQ(buf(out, BufferKind::kTlsCertSerial), "00:C0:FF:EE:42");
    EXPECT_EQ(buf(out, BufferKind::kJa3sHash), "ccc514751b175866924439bdbb5bba34");
    EXPECT_EQ(buf(out, BufferKind::kTlsCerts), as_string(kLeafDer));
    // The CA certificate comes as a further view of the same transaction.
    core::AppBuffers more;
    ASSERT_TRUE(app.next(more));
    EXPECT_EQ(buf(more, BufferKind::kTlsCerts), as_string(kCaDer));
    EXPECT_EQ(buf(more, BufferKind::kTlsCertSubject),
              "C=US, ST=WA, OU=Web + O=Example Org, CN=www.example.test");
    EXPECT_EQ(more.transaction_id, 1u);
    EXPECT_FALSE(app.next(more));

    // Both sides done: the state goes with the flow's next packet.
    EXPECT_FALSE(c.send(app, true, as_string(record({1, 2, 3}, 0x17))).any);
    EXPECT_EQ(app.memory_bytes(), 0u);
    app.release(c.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

TEST(AppLayerTlsServer, ReleaseFreesAHalfReadChain) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 443);
    c.send(app, true, as_string(client_hello_record("a.example")));
    const std::string flight = as_string(server_flight());
    c.send(app, false, flight.substr(0, 300));
    EXPECT_GT(app.memory_bytes(), 0u);
    app.release(c.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

TEST(AppLayerTlsServer, MemoryCapRefusesTheChain) {
    const std::string hello = as_string(client_hello_record("a.example"));
    const Bytes flight = server_flight();
    const size_t hello_record_bytes = server_hello().size() + 5;
    // What the flow holds once its ServerHello is read, measured on a roomy app layer.
    size_t after_hello = 0;
    {
        AppLayer roomy{AppLayerConfig{}};
        Conversation c(decode::kIpProtoTcp, 40000, 443);
        c.send(roomy, true, hello);
        c.send(roomy, false, as_string(flight).substr(0, hello_record_bytes));
        after_hello = roomy.memory_bytes();
        roomy.release(c.flow());
    }
    ASSERT_GT(after_hello, 0u);
    AppLayerConfig config;
    config.memcap_bytes = after_hello + 64;  // the certificate buffer does not fit
    AppLayer app{config};
    Conversation c(decode::kIpProtoTcp, 40000, 443);
    c.send(app, true, hello);
    core::AppBuffers out = c.send(app, false, as_string(flight));
    EXPECT_EQ(buf(out, BufferKind::kJa3sHash), "ccc514751b175866924439bdbb5bba34");
    EXPECT_TRUE(out.get(BufferKind::kTlsCerts).empty());
    EXPECT_EQ(app.stats().memcap_refused.load(), 1u);
    EXPECT_LE(app.memory_bytes(), config.memcap_bytes);
    app.release(c.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

// The worker's order: update(), match, then next() and match again for each further view.
class TlsServerDetection : public ::testing::Test {
public:
    void load(const std::string& text) {
        auto set = rules::parse_rules_text(text, "tls.rules", {}, taxonomy_);
        ASSERT_TRUE(set.has_value());
        ASSERT_TRUE(set->report().errors.empty()) << set->report().errors[0].message;
        ASSERT_TRUE(set->report().unsupported.empty()) << set->report().unsupported[0].message;
        auto db =
            detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(std::move(*set)));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        db_ = *db;
        detector_ = std::make_unique<detect::Detector>(db_);
    }

    std::vector<uint32_t> send(Conversation& c, bool to_server, const std::string& bytes) {
        decode::DecodedPacket pkt = c.packet(to_server, bytes, decode::kTcpAck | decode::kTcpPsh);
        pkt.src_port = to_server ? 40000 : 443;
        pkt.dst_port = to_server ? 443 : 40000;
        core::AppBuffers out;
        app_.update(c.flow(), to_server, pkt, out);
        c.skip(to_server, static_cast<uint32_t>(bytes.size()));
        detect::PacketContext ctx;
        ctx.pkt = &pkt;
        ctx.app_proto = "tls";
        ctx.to_server = to_server;
        ctx.established = true;
        ctx.flow_state = &c.flow().detect;
        ctx.buffers = out.any ? &out : nullptr;
        ctx.tls_version = c.flow().app.tls_version[to_server ? 0 : 1];  // as the worker does
        std::vector<uint32_t> sids;
        auto collect = [&] {
            detector_->match(ctx, matches_);
            for (size_t i = 0; i < matches_.count; ++i) {
                sids.push_back(db_->rule(matches_.rule_index[i]).sid);
            }
        };
        collect();
        while (app_.next(out)) {
            ctx.buffers = out.any ? &out : nullptr;
            ctx.extra_transaction = true;
            collect();
        }
        return sids;
    }

    void release(Conversation& c) { app_.release(c.flow()); }

    rules::Taxonomy taxonomy_;
    std::shared_ptr<const detect::SignatureDb> db_;
    std::unique_ptr<detect::Detector> detector_;
    detect::MatchList matches_;
    AppLayer app_{AppLayerConfig{}};
};

// The alerts of one TLS 1.2 handshake (client hello, server flight), sorted.
std::vector<uint32_t> handshake_alerts(TlsServerDetection& t) {
    Conversation c(decode::kIpProtoTcp, 40000, 443);
    std::vector<uint32_t> sids = t.send(c, true, as_string(client_hello_record("x.example")));
    EXPECT_TRUE(sids.empty());
    sids = t.send(c, false, as_string(server_flight()));
    t.release(c);
    std::sort(sids.begin(), sids.end());
    return sids;
}

TEST_F(TlsServerDetection, CertificateFieldRulesFireOnTheServerFlight) {
    load(
        "alert tls any any -> any any (flow:established,to_client; tls.cert_subject; "
        "content:\"CN=www.example.test\"; endswith; sid:1;)\n"
        "alert tls any any -> any any (tls_cert_issuer; content:\"O=Example Trust\"; sid:2;)\n"
        "alert tls any any -> any any (tls.cert_serial; content:\"00:C0:FF:EE:42\"; bsize:14; "
        "sid:3;)\n"
        "alert tls any any -> any any (tls.cert_subject; content:\"CN=other\"; sid:4;)\n"
        "alert tls any any -> any any (flow:to_server; tls.cert_subject; content:\"CN=\"; "
        "sid:5;)\n");
    // Each alerts once although the chain's second certificate is a further view.
    EXPECT_EQ(handshake_alerts(*this), (std::vector<uint32_t>{1, 2, 3}));
}

TEST_F(TlsServerDetection, CertsInspectsEachCertificateOnItsOwn) {
    load(
        "alert tls any any -> any any (ja3s.hash; content:\"ccc514751b175866924439bdbb5bba34\"; "
        "sid:1;)\n"
        // Only the CA certificate (the second of the chain) names its CA twice, as subject
        // and issuer, without the leaf's name.
        "alert tls any any -> any any (tls.certs; content:\"Example Root CA\"; "
        "content:\"Example Root CA\"; distance:0; content:!\"www.example.test\"; sid:2;)\n"
        // Matches both certificates: one alert per transaction.
        "alert tls any any -> any any (tls.certs; content:\"|30 82|\"; startswith; sid:3;)\n"
        // The leaf's name followed by the CA's name twice exists only across the two
        // certificates (the leaf's issuer comes before its subject): no match.
        "alert tls any any -> any any (tls.certs; content:\"www.example.test\"; "
        "content:\"Example Root CA\"; distance:0; content:\"Example Root CA\"; distance:0; "
        "sid:4;)\n");
    EXPECT_EQ(handshake_alerts(*this), (std::vector<uint32_t>{1, 2, 3}));
}

TEST_F(TlsServerDetection, TlsVersionReadsThePacketsOwnSide) {
    load(
        "alert tls any any -> any any (flow:to_client; tls.version:1.2; sid:1;)\n"
        "alert tls any any -> any any (flow:to_client; tls.version:1.3; sid:2;)\n"
        "alert tls any any -> any any (flow:to_server; tls.version:1.3; sid:3;)\n"
        "alert tls any any -> any any (tls.version:0x0304; sid:4;)\n"
        "alert tcp any any -> any any (tls.version:\"1.2\"; content:\"|16 03 03|\"; sid:5;)\n");
    // TLS 1.2 on both sides.
    Conversation one(decode::kIpProtoTcp, 40000, 443);
    EXPECT_EQ(send(one, true, as_string(client_hello_record("x.example"))),
              std::vector<uint32_t>{5});
    std::vector<uint32_t> sids = send(one, false, as_string(server_flight()));
    std::sort(sids.begin(), sids.end());
    EXPECT_EQ(sids, (std::vector<uint32_t>{1, 5}));
    release(one);

    // A TLS 1.3 client, then a server that picks 1.3 (its records still say 0x0303).
    Conversation two(decode::kIpProtoTcp, 40001, 443);
    sids = send(two, true, as_string(client_hello_record("y.example", kClientSupportedVersions)));
    std::sort(sids.begin(), sids.end());
    EXPECT_EQ(sids, (std::vector<uint32_t>{3, 4}));
    sids = send(two, false, as_string(record(server_hello(kServerSupportedVersion))));
    std::sort(sids.begin(), sids.end());
    EXPECT_EQ(sids, (std::vector<uint32_t>{2, 4}));
    release(two);

    // A TLS 1.3 draft counts as 1.3, except for a hex value.
    Conversation draft(decode::kIpProtoTcp, 40003, 443);
    send(draft, true, as_string(client_hello_record("z.example")));
    sids =
        send(draft, false, as_string(record(server_hello({0x00, 0x2b, 0x00, 0x02, 0x7f, 0x1c}))));
    EXPECT_EQ(sids, std::vector<uint32_t>{2});
    release(draft);

    // Before any hello the version is unknown: nothing matches.
    Conversation three(decode::kIpProtoTcp, 40002, 443);
    EXPECT_TRUE(send(three, false, "\x16\x03\x03 not a hello").empty());
    release(three);
}

}  // namespace
}  // namespace sensor::applayer
