// TLS: ClientHello parsing, JA3 and MD5, record/segment reassembly, and tls.sni / ja3.hash
// through AppLayer. JA3 of real traffic is checked against ndpiReader in corpus_test.cc.

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "sensor/applayer/app_layer.h"
#include "sensor/applayer/tls_parser.h"
#include "tests/unit/applayer/applayer_test_support.h"

namespace sensor::applayer {
namespace {

using core::BufferKind;
using testing::buf;
using testing::Conversation;
using testing::str;

using Bytes = std::vector<uint8_t>;

void put16(Bytes& b, size_t v) {
    b.push_back(static_cast<uint8_t>(v >> 8));
    b.push_back(static_cast<uint8_t>(v));
}
void put24(Bytes& b, size_t v) {
    b.push_back(static_cast<uint8_t>(v >> 16));
    put16(b, v & 0xFFFF);
}
void append(Bytes& b, const Bytes& more) { b.insert(b.end(), more.begin(), more.end()); }

Bytes extension(uint16_t type, const Bytes& data) {
    Bytes e;
    put16(e, type);
    put16(e, data.size());
    append(e, data);
    return e;
}

// A TLS 1.2-style ClientHello handshake message with GREASE values (as Chrome sends them)
// in the cipher list, the extension list and the supported groups.
Bytes hello_message(const std::string& sni) {
    Bytes body = {0x03, 0x03};                           // legacy_version TLS 1.2 (771)
    body.insert(body.end(), 32, 0x11);                   // random
    body.push_back(32);                                  // session id length
    body.insert(body.end(), 32, 0x22);                   // session id
    put16(body, 6);                                      // cipher suites length
    append(body, {0x0a, 0x0a, 0x13, 0x01, 0xc0, 0x2b});  // GREASE, 4865, 49195
    append(body, {0x01, 0x00});                          // one compression method: null
    Bytes name_list;
    put16(name_list, sni.size() + 3);  // server_name_list length
    name_list.push_back(0);            // host_name
    put16(name_list, sni.size());
    name_list.insert(name_list.end(), sni.begin(), sni.end());
    Bytes exts;
    append(exts, extension(0x0a0a, {}));         // GREASE
    append(exts, extension(0x0000, name_list));  // server_name
    append(exts, extension(0x000a, {0x00, 0x06, 0x1a, 0x1a, 0x00, 0x1d, 0x00, 0x17}));
    append(exts, extension(0x000b, {0x01, 0x00}));                  // ec_point_formats
    append(exts, extension(0x0010, {0x00, 0x03, 0x02, 'h', '2'}));  // ALPN
    put16(body, exts.size());
    append(body, exts);
    Bytes msg = {0x01};  // client_hello
    put24(msg, body.size());
    append(msg, body);
    return msg;
}

Bytes record(const Bytes& fragment, uint8_t type = 0x16) {
    Bytes r = {type, 0x03, 0x01};
    put16(r, fragment.size());
    append(r, fragment);
    return r;
}

std::string as_string(const Bytes& b) { return {b.begin(), b.end()}; }

TEST(TlsParser, Md5MatchesRfc1321Vectors) {
    std::array<char, 33> hex{};
    md5_hex({}, hex);
    EXPECT_STREQ(hex.data(), "d41d8cd98f00b204e9800998ecf8427e");
    const std::string abc = "abc";
    md5_hex({reinterpret_cast<const uint8_t*>(abc.data()), abc.size()}, hex);
    EXPECT_STREQ(hex.data(), "900150983cd24fb0d6963f7d28e17f72");
    const std::string digest = "message digest";
    md5_hex({reinterpret_cast<const uint8_t*>(digest.data()), digest.size()}, hex);
    EXPECT_STREQ(hex.data(), "f96b697d7cb7938d525a2f31aaf161d0");
}

TEST(TlsParser, ClientHelloGivesSniAndJa3WithoutGrease) {
    const Bytes msg = hello_message("example.org");
    ClientHello hello;
    ASSERT_EQ(parse_client_hello(msg, hello), TlsParse::kOk);
    EXPECT_EQ(hello.version, 0x0303);
    EXPECT_EQ(str(hello.sni), "example.org");
    std::string ja3;
    ja3_text(hello, ja3);
    EXPECT_EQ(ja3, "771,4865-49195,0-10-11-16,29-23,0");
}

TEST(TlsParser, HelloWithoutExtensions) {
    Bytes body = {0x03, 0x00};
    body.insert(body.end(), 32, 0);
    body.push_back(0);  // no session id
    put16(body, 4);
    append(body, {0x00, 0x2f, 0x00, 0x35});
    append(body, {0x01, 0x00});
    Bytes msg = {0x01};
    put24(msg, body.size());
    append(msg, body);
    ClientHello hello;
    ASSERT_EQ(parse_client_hello(msg, hello), TlsParse::kOk);
    EXPECT_TRUE(hello.sni.empty());
    std::string ja3;
    ja3_text(hello, ja3);
    EXPECT_EQ(ja3, "768,47-53,,,");
}

TEST(TlsParser, RejectsMalformedHellos) {
    ClientHello hello;
    Bytes msg = hello_message("example.org");
    Bytes server_hello = msg;
    server_hello[0] = 0x02;
    EXPECT_EQ(parse_client_hello(server_hello, hello), TlsParse::kNotClientHello);
    Bytes short_msg(msg.begin(), msg.end() - 1);  // body shorter than its length
    EXPECT_EQ(parse_client_hello(short_msg, hello), TlsParse::kMalformed);
    // An extension whose length runs past the block.
    Bytes bad = msg;
    bad[bad.size() - 6] = 0x40;  // ALPN extension length (low byte) 5 -> 64
    EXPECT_EQ(parse_client_hello(bad, hello), TlsParse::kMalformed);
    for (size_t cut = 0; cut < msg.size(); ++cut) {  // every prefix fails cleanly
        Bytes prefix(msg.begin(), msg.begin() + static_cast<std::ptrdiff_t>(cut));
        EXPECT_NE(parse_client_hello(prefix, hello), TlsParse::kOk) << cut;
    }
}

TEST(TlsParser, WholeHelloInOneSegment) {
    const Bytes msg = hello_message("a.example");
    const Bytes seg = record(msg);
    EXPECT_TRUE(looks_like_client_hello(seg));
    EXPECT_EQ(whole_client_hello(seg).size(), msg.size());
    const Bytes partial(seg.begin(), seg.end() - 1);
    EXPECT_TRUE(whole_client_hello(partial).empty());
    EXPECT_FALSE(looks_like_client_hello(record(msg, 0x17)));
}

TEST(TlsParser, AssemblerJoinsRecordsAndSegments) {
    const Bytes msg = hello_message("split.example");
    // The handshake message fragmented over three records, the records then cut into
    // single bytes: the worst case of both layers.
    Bytes stream;
    const size_t a = 3;  // inside the 4-byte handshake header
    const size_t b = msg.size() / 2;
    append(stream, record(Bytes(msg.begin(), msg.begin() + a)));
    append(stream, record(Bytes(msg.begin() + a, msg.begin() + b)));
    append(stream, record(Bytes(msg.begin() + b, msg.end())));
    TlsHelloAssembler assembler;
    for (size_t i = 0; i < stream.size(); ++i) {
        const auto state = assembler.feed({stream.data() + i, 1});
        if (i + 1 < stream.size()) {
            ASSERT_EQ(state, TlsHelloAssembler::State::kNeedMore) << i;
        } else {
            ASSERT_EQ(state, TlsHelloAssembler::State::kComplete);
        }
    }
    EXPECT_EQ(Bytes(assembler.message().begin(), assembler.message().end()), msg);
    EXPECT_EQ(assembler.capacity_bytes(), msg.size());  // one allocation of the exact size
}

TEST(TlsParser, AssemblerRejectsOtherRecordsAndHugeHellos) {
    TlsHelloAssembler app_data;
    EXPECT_EQ(app_data.feed(record({1, 2, 3}, 0x17)), TlsHelloAssembler::State::kNotHandshake);
    TlsHelloAssembler finished;
    EXPECT_EQ(finished.feed(record({0x14, 0, 0, 0})), TlsHelloAssembler::State::kNotHandshake);
    TlsHelloAssembler huge;
    Bytes header = {0x01};
    put24(header, kTlsMaxHelloBytes);  // 4 + this exceeds the cap
    EXPECT_EQ(huge.feed(record(header)), TlsHelloAssembler::State::kTooLarge);
    EXPECT_EQ(huge.capacity_bytes(), 0u);
}

TEST(AppLayerTls, SniAndJa3FromOneSegmentWithoutState) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 443);
    core::AppBuffers out = c.send(app, true, as_string(record(hello_message("example.org"))));
    EXPECT_EQ(buf(out, BufferKind::kTlsSni), "example.org");
    EXPECT_EQ(buf(out, BufferKind::kJa3Hash), "53962ec19dcdb5203d1ae1d50be37d3d");
    EXPECT_EQ(out.transaction_id, 1u);
    EXPECT_EQ(app.stats().tls_client_hellos.load(), 1u);
    EXPECT_EQ(app.memory_bytes(), 0u);  // decided in one packet: nothing kept
    EXPECT_FALSE(c.send(app, true, as_string(record({1, 2, 3}, 0x17))).any);
    app.release(c.flow());
}

TEST(AppLayerTls, HelloSpanningSegmentsIsReassembled) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 8443);
    const std::string seg = as_string(record(hello_message("two.segments.example")));
    EXPECT_FALSE(c.send(app, true, seg.substr(0, 40)).any);
    EXPECT_GT(app.memory_bytes(), 0u);
    EXPECT_FALSE(c.send(app, false, "server bytes").any);  // the other direction waits
    core::AppBuffers out = c.send(app, true, seg.substr(40));
    EXPECT_EQ(buf(out, BufferKind::kTlsSni), "two.segments.example");
    EXPECT_EQ(out.get(BufferKind::kJa3Hash).size(), 32u);
    EXPECT_EQ(app.stats().tls_hellos_reassembled.load(), 1u);
    EXPECT_EQ(app.memory_bytes(), 0u);  // freed once the hello is read
    app.release(c.flow());
}

TEST(AppLayerTls, ClassifiedTlsWithoutHelloIsCounted) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 443);
    c.flow().app.state = core::ClassifyState::kClassified;
    std::snprintf(c.flow().app.app_proto, sizeof(c.flow().app.app_proto), "tls");
    EXPECT_FALSE(c.send(app, true, as_string(record({9, 9, 9}, 0x17))).any);
    EXPECT_EQ(app.stats().tls_without_hello.load(), 1u);
    app.release(c.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

}  // namespace
}  // namespace sensor::applayer
