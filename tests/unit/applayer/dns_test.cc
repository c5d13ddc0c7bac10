// DNS: the question parser on hand-built messages, and dns.query through AppLayer.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sensor/applayer/app_layer.h"
#include "sensor/applayer/dns_parser.h"
#include "tests/unit/applayer/applayer_test_support.h"

namespace sensor::applayer {
namespace {

using core::BufferKind;
using testing::buf;
using testing::Conversation;
using testing::str;

// Header: id, flags, one question, no other records; then the given question bytes.
std::vector<uint8_t> message(uint16_t id, bool response, const std::vector<uint8_t>& question) {
    std::vector<uint8_t> m = {
        static_cast<uint8_t>(id >> 8),
        static_cast<uint8_t>(id),  // id
        static_cast<uint8_t>(response ? 0x81 : 0x01),
        0x00,  // QR, RD; rcode 0
        0x00,
        0x01,  // QDCOUNT 1
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,  // AN, NS, AR: 0
    };
    m.insert(m.end(), question.begin(), question.end());
    return m;
}

// QNAME www.example.com, type A, class IN.
const std::vector<uint8_t> kWwwExample = {
    3,    'w',  'w', 'w', 7,   'e', 'x', 'a',  'm',  'p',
    'l',  'e',  3,   'c', 'o', 'm', 0,   0x00, 0x01,  // type A
    0x00, 0x01,                                       // class IN
};

std::string as_string(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

TEST(DnsParser, ParsesTheFirstQuestion) {
    DnsQuestion q;
    ASSERT_EQ(parse_dns_question(message(0xabcd, false, kWwwExample), q), DnsParse::kOk);
    EXPECT_EQ(q.id, 0xabcd);
    EXPECT_FALSE(q.is_response);
    EXPECT_EQ(q.question_count, 1);
    EXPECT_EQ(q.qtype, 1);
    EXPECT_EQ(q.qclass, 1);
    EXPECT_EQ(str(q.name_bytes()), "www.example.com");
}

TEST(DnsParser, RootNameIsEmpty) {
    DnsQuestion q;
    ASSERT_EQ(parse_dns_question(message(1, false, {0, 0x00, 0x02, 0x00, 0x01}), q), DnsParse::kOk);
    EXPECT_EQ(q.name_len, 0u);
    EXPECT_EQ(q.qtype, 2);
}

TEST(DnsParser, FollowsABackwardPointer) {
    // The only bytes before the first question are the header's, so make its record counts
    // spell a name: ANCOUNT 0x0161 and NSCOUNT 0 read as the labels "a" and the root, at
    // offset 6. The question "foo" then points there: "foo.a".
    std::vector<uint8_t> m = message(7, false, {3, 'f', 'o', 'o', 0xC0, 6, 0x00, 0x10, 0x00, 0x01});
    m[6] = 0x01;
    m[7] = 'a';
    DnsQuestion q;
    ASSERT_EQ(parse_dns_question(m, q), DnsParse::kOk);
    EXPECT_EQ(str(q.name_bytes()), "foo.a");
    EXPECT_EQ(q.qtype, 0x10);  // read after the pointer, not after the target name

    // A pointer to itself (or forwards) is rejected.
    EXPECT_EQ(parse_dns_question(message(7, false, {0xC0, 12, 0x00, 0x01, 0x00, 0x01}), q),
              DnsParse::kBadName);
}

TEST(DnsParser, RejectsBadInput) {
    DnsQuestion q;
    EXPECT_EQ(parse_dns_question(std::vector<uint8_t>(11, 0), q), DnsParse::kTruncated);
    std::vector<uint8_t> no_question = message(1, false, {});
    no_question[5] = 0;
    EXPECT_EQ(parse_dns_question(no_question, q), DnsParse::kNoQuestion);
    EXPECT_EQ(parse_dns_question(message(1, false, {5, 'a', 'b'}), q), DnsParse::kTruncated);
    EXPECT_EQ(parse_dns_question(message(1, false, {0x40, 'a', 0, 0, 1, 0, 1}), q),
              DnsParse::kBadName);
    std::vector<uint8_t> missing_type = kWwwExample;
    missing_type.resize(kWwwExample.size() - 3);
    EXPECT_EQ(parse_dns_question(message(1, false, missing_type), q), DnsParse::kTruncated);
    // 5 labels of 63 bytes: over 255 characters of text.
    std::vector<uint8_t> long_name;
    for (int i = 0; i < 5; ++i) {
        long_name.push_back(63);
        long_name.insert(long_name.end(), 63, 'a');
    }
    long_name.insert(long_name.end(), {0, 0, 1, 0, 1});
    EXPECT_EQ(parse_dns_question(message(1, false, long_name), q), DnsParse::kBadName);
}

TEST(DnsParser, PointerLoopIsBounded) {
    // "a" then a pointer back to "a": each jump goes backwards from the pointer, yet the
    // parse would cycle forever without the bound on jumps.
    std::vector<uint8_t> m = message(1, false, {1, 'a', 0xC0, 12, 0, 1, 0, 1});
    DnsQuestion q;
    EXPECT_EQ(parse_dns_question(m, q), DnsParse::kBadName);
}

TEST(AppLayerDns, QueryExposesDnsQueryAndResponsesDoNot) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoUdp, 40000, 53);
    core::AppBuffers out = c.send(app, true, as_string(message(0x1111, false, kWwwExample)));
    EXPECT_EQ(buf(out, BufferKind::kDnsQuery), "www.example.com");
    EXPECT_EQ(out.transaction_id, 1u);
    out = c.send(app, false, as_string(message(0x1111, true, kWwwExample)));
    EXPECT_FALSE(out.any);
    out = c.send(app, true, as_string(message(0x1111, false, kWwwExample)));  // retransmit
    EXPECT_EQ(out.transaction_id, 1u);
    out = c.send(app, true, as_string(message(0x2222, false, kWwwExample)));
    EXPECT_EQ(out.transaction_id, 2u);
    EXPECT_EQ(app.stats().dns_queries.load(), 3u);
    EXPECT_EQ(app.stats().dns_responses.load(), 1u);
    out = c.send(app, true, "\x01\x02garbage");
    EXPECT_FALSE(out.any);
    EXPECT_EQ(app.stats().dns_parse_errors.load(), 1u);
    app.release(c.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

TEST(AppLayerDns, TcpMessageWithLengthPrefix) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 53);
    const std::vector<uint8_t> m = message(9, false, kWwwExample);
    std::string framed = {static_cast<char>(m.size() >> 8), static_cast<char>(m.size())};
    framed += as_string(m);
    core::AppBuffers out = c.send(app, true, framed);
    EXPECT_EQ(buf(out, BufferKind::kDnsQuery), "www.example.com");
    // A message split over two segments is counted, not parsed.
    out = c.send(app, true, framed.substr(0, 10));
    EXPECT_FALSE(out.any);
    EXPECT_EQ(app.stats().dns_parse_errors.load(), 1u);
    app.release(c.flow());
}

TEST(AppLayerDns, DisabledDnsIsIgnored) {
    AppLayerConfig config;
    config.dns_enabled = false;
    AppLayer app(config);
    Conversation c(decode::kIpProtoUdp, 40000, 53);
    EXPECT_FALSE(c.send(app, true, as_string(message(1, false, kWwwExample))).any);
    EXPECT_EQ(app.stats().dns_queries.load(), 0u);
    app.release(c.flow());
}

}  // namespace
}  // namespace sensor::applayer
