// LLMNR through the DNS parser: the message walker, the EVE view of queries and responses,
// and the app layer's naming and reversal of DNS-family flows.

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sensor/applayer/app_layer.h"
#include "sensor/applayer/dns_parser.h"
#include "tests/unit/applayer/applayer_test_support.h"

namespace sensor::applayer {
namespace {

using testing::Conversation;

// The multicast query of suricata-verify llmnr/llmnr-udp: id 0xc341, A? hs2011.
const std::vector<uint8_t> kQuery = {
    0xc3, 0x41,                                      // id
    0x00, 0x00,                                      // flags: query, opcode 0
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // QD 1, AN 0, NS 0, AR 0
    6,    'h',  's',  '2',  '0',  '1',  '1',  0,     // QNAME hs2011
    0x00, 0x01, 0x00, 0x01,                          // type A, class IN
};

// Its unicast reply: the question again, then HS2011 A 192.168.10.101, TTL 30.
const std::vector<uint8_t> kResponse = {
    0xc3, 0x41,                                                              // id
    0x80, 0x00,                                                              // flags: QR
    0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,                          // QD 1, AN 1
    6,    'h',  's',  '2',  '0',  '1',  '1',  0,    0x00, 0x01, 0x00, 0x01,  // question
    6,    'H',  'S',  '2',  '0',  '1',  '1',  0,                             // answer name
    0x00, 0x01, 0x00, 0x01,                                                  // type A, class IN
    0x00, 0x00, 0x00, 0x1e,                                                  // TTL 30
    0x00, 0x04, 192,  168,  10,   101,                                       // rdata
};

std::string as_string(const std::vector<uint8_t>& v) { return {v.begin(), v.end()}; }

TEST(DnsMessageReader, WalksEverySectionInWireOrder) {
    DnsMessageReader reader(kResponse);
    ASSERT_EQ(reader.status(), DnsParse::kOk);
    EXPECT_EQ(reader.header().id, 0xc341);
    EXPECT_TRUE(reader.header().is_response());
    DnsEntry e;
    ASSERT_TRUE(reader.next(e));
    EXPECT_EQ(e.section, DnsSection::kQuestion);
    EXPECT_EQ(testing::str(e.name.bytes()), "hs2011");
    ASSERT_TRUE(reader.next(e));
    EXPECT_EQ(e.section, DnsSection::kAnswer);
    EXPECT_EQ(testing::str(e.name.bytes()), "HS2011");
    EXPECT_EQ(e.type, 1);
    EXPECT_EQ(e.ttl, 30u);
    ASSERT_EQ(e.rdata.size(), 4u);
    EXPECT_EQ(e.rdata[3], 101);
    EXPECT_FALSE(reader.next(e));
    EXPECT_EQ(reader.status(), DnsParse::kOk);
}

TEST(DnsMessageReader, RecordPastTheEndIsTruncated) {
    std::vector<uint8_t> m = kResponse;
    m.pop_back();  // rdata one byte short of its length
    DnsMessageReader reader(m);
    DnsEntry e;
    EXPECT_TRUE(reader.next(e));
    EXPECT_FALSE(reader.next(e));
    EXPECT_EQ(reader.status(), DnsParse::kTruncated);
    EXPECT_FALSE(is_dns_message(m));
    EXPECT_FALSE(is_dns_response(m));
    EXPECT_TRUE(is_dns_response(kResponse));
    EXPECT_FALSE(is_dns_response(kQuery));
    EXPECT_TRUE(is_dns_message(kQuery));
}

TEST(DescribeDnsMessage, QueryAndResponse) {
    core::DnsMessageRecord q;
    ASSERT_TRUE(describe_dns_message(kQuery, q));
    EXPECT_FALSE(q.response);
    EXPECT_EQ(q.id, 49985);
    ASSERT_EQ(q.queries.size(), 1u);
    EXPECT_EQ(q.queries[0].rrname, "hs2011");
    EXPECT_EQ(q.queries[0].rrtype, "a");
    EXPECT_TRUE(q.answers.empty());

    core::DnsMessageRecord r;
    ASSERT_TRUE(describe_dns_message(kResponse, r));
    EXPECT_TRUE(r.response);
    ASSERT_EQ(r.answers.size(), 1u);
    EXPECT_EQ(r.answers[0].rrname, "HS2011");
    EXPECT_EQ(r.answers[0].rrtype, "a");
    ASSERT_EQ(r.answers[0].data.size(), 1u);
    EXPECT_EQ(r.answers[0].data[0], "192.168.10.101");
}

TEST(DescribeDnsMessage, NamesAddressesAndTexts) {
    // Answers: PTR (compressed, pointing at the question), AAAA, TXT with two strings.
    std::vector<uint8_t> m = {
        0x00, 0x07, 0x84, 0x00,  // id 7, QR AA
        0x00, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 4, 'h', 'o',  's', 't',  0,
        0x00, 0x0c, 0x00, 0x01,                                            // host PTR IN
        0xc0, 12,   0x00, 0x0c, 0x00, 0x01, 0,    0,    0, 1,              // PTR
        0x00, 0x02, 0xc0, 12,                                              // rdata: -> host
        0xc0, 12,   0x00, 0x1c, 0x00, 0x01, 0,    0,    0, 1,   0x00, 16,  // AAAA
        0xfe, 0x80, 0,    0,    0,    0,    0,    0,    0, 0,   0,    0,   0,    0,
        0,    1,    0xc0, 12,   0x00, 0x10, 0x00, 0x01, 0, 0,   0,    1,   0x00, 6,  // TXT
        2,    'a',  'b',  2,    'c',  'd',
    };
    core::DnsMessageRecord r;
    ASSERT_TRUE(describe_dns_message(m, r));
    ASSERT_EQ(r.answers.size(), 3u);
    EXPECT_EQ(r.answers[0].rrtype, "ptr");
    EXPECT_EQ(r.answers[0].data, std::vector<std::string>{"host"});
    EXPECT_EQ(r.answers[1].rrtype, "aaaa");
    EXPECT_EQ(r.answers[1].data,
              std::vector<std::string>{"fe80:0000:0000:0000:0000:0000:0000:0001"});
    EXPECT_EQ(r.answers[2].rrtype, "txt");
    EXPECT_TRUE(r.answers[2].data_is_list);
    EXPECT_EQ(r.answers[2].data, (std::vector<std::string>{"ab", "cd"}));
    EXPECT_EQ(dns_rrtype_name(65), "https");
    EXPECT_EQ(dns_rrtype_name(4242), "4242");
}

TEST(AppLayerLlmnr, ResponseFirstFlowIsReversedAndNamed) {
    AppLayer app{AppLayerConfig{}};
    // As the flow table made it from the reply: the responder (port 5355) is the client.
    Conversation c(decode::kIpProtoUdp, 5355, 54022);
    const decode::DecodedPacket reply = c.packet(true, as_string(kResponse), 0);
    EXPECT_TRUE(app.reverses_flow(c.flow(), reply));
    // A query first, a flow already counted, or DNS disabled: no reversal.
    EXPECT_FALSE(app.reverses_flow(c.flow(), c.packet(true, as_string(kQuery), 0)));
    c.flow().pkts[0] = 1;
    EXPECT_FALSE(app.reverses_flow(c.flow(), reply));
    c.flow().pkts[0] = 0;
    AppLayerConfig off;
    off.dns_enabled = false;
    EXPECT_FALSE(AppLayer(off).reverses_flow(c.flow(), reply));
    // Not a DNS-family port: left to the flow table.
    Conversation other(decode::kIpProtoUdp, 5000, 6000);
    EXPECT_FALSE(app.reverses_flow(other.flow(), other.packet(true, as_string(kResponse), 0)));

    EXPECT_FALSE(c.send(app, false, as_string(kResponse)).any);
    EXPECT_EQ(app.protocol(c.flow()), "llmnr");
    app.release(c.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

TEST(AppLayerLlmnr, GarbageOnTheLlmnrPortIsNotLlmnr) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoUdp, 40000, 5355);
    c.send(app, true, "\x01\x02garbage");
    EXPECT_EQ(app.protocol(c.flow()), "");
    app.release(c.flow());
}

}  // namespace
}  // namespace sensor::applayer
