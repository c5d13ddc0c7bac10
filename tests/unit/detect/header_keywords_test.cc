// Detector tests for the packet-header keywords (ttl, tos, id, fragbits, ip_proto, seq, ack,
// window, icmp_id, icmp_seq), stream_size over a flow's packets, and byte_test's count 0
// (whole-number) form. Header fields come from real header bytes, laid out as the decoder
// leaves them: ip spans the IP header and what follows, payload is its tail.

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "detect_test_support.h"

namespace sensor::detect {
namespace {

using core::BufferKind;
using decode::DecodedPacket;
using test_support::buffers;
using test_support::packet;
using test_support::Side;

// An IPv4 or IPv6 datagram with its transport header: the bytes stay alive with the packet.
struct Datagram {
    std::vector<uint8_t> bytes;
    DecodedPacket pkt;

    Datagram() = default;
    Datagram(const Datagram&) = delete;
    Datagram& operator=(const Datagram&) = delete;
};

struct V4Header {
    uint8_t tos = 0;
    uint16_t id = 0;
    uint8_t flags = 0;  // third header byte: reserved 0x80, DF 0x40, MF 0x20
    uint8_t ttl = 64;
    uint8_t proto = decode::kIpProtoTcp;
};

// IPv4 header, then `l4` (the transport header), then the payload; fields the decoder copies
// into DecodedPacket (ttl, protocol, addresses) are set from the same values.
void build_v4(Datagram& d, const V4Header& h, std::initializer_list<uint8_t> l4,
              std::string_view payload) {
    const size_t total = 20 + l4.size() + payload.size();
    d.bytes = {
        0x45,                              // version 4, IHL 5
        h.tos,                             // type of service
        static_cast<uint8_t>(total >> 8),  // total length
        static_cast<uint8_t>(total),
        static_cast<uint8_t>(h.id >> 8),  // identification
        static_cast<uint8_t>(h.id),
        h.flags,  // flags and fragment offset
        0x00,
        h.ttl,    // time to live
        h.proto,  // protocol
        0x00,     // checksum (not checked here)
        0x00,
        192,
        168,
        1,
        10,  // source
        203,
        0,
        113,
        5,  // destination
    };
    d.bytes.insert(d.bytes.end(), l4);
    d.bytes.insert(d.bytes.end(), payload.begin(), payload.end());
    d.pkt = packet("", h.proto, "192.168.1.10", 40000, "203.0.113.5", 80);
    d.pkt.ttl = h.ttl;
    d.pkt.ip = std::span<const uint8_t>(d.bytes);
    d.pkt.payload = d.pkt.ip.last(payload.size());
}

// An ICMP (or ICMPv6, proto 58 over an IPv6 header) message: type, code, checksum,
// identifier, sequence number, body.
void build_icmp(Datagram& d, bool v6, uint8_t type, uint16_t id, uint16_t seq,
                std::string_view body) {
    const std::initializer_list<uint8_t> icmp = {
        type,
        0,  // code
        0,  // checksum
        0,
        static_cast<uint8_t>(id >> 8),  // identifier
        static_cast<uint8_t>(id),
        static_cast<uint8_t>(seq >> 8),  // sequence number
        static_cast<uint8_t>(seq),
    };
    if (!v6) {
        build_v4(d, V4Header{.proto = decode::kIpProtoIcmp}, icmp, body);
    } else {
        const size_t len = icmp.size() + body.size();
        d.bytes = {0x60,
                   0,
                   0,
                   0,  // version 6, traffic class, flow label
                   static_cast<uint8_t>(len >> 8),
                   static_cast<uint8_t>(len),  // payload length
                   decode::kIpProtoIcmpv6,     // next header
                   64};                        // hop limit
        d.bytes.resize(40, 0);                 // source and destination (::)
        d.bytes[23] = 1;                       // source ::1
        d.bytes[39] = 2;                       // destination ::2
        d.bytes.insert(d.bytes.end(), icmp);
        d.bytes.insert(d.bytes.end(), body.begin(), body.end());
        d.pkt = packet("", decode::kIpProtoIcmpv6, "::1", 0, "::2", 0);
        d.pkt.ip = std::span<const uint8_t>(d.bytes);
        d.pkt.payload = d.pkt.ip.last(body.size());
    }
    d.pkt.src_port = d.pkt.dst_port = 0;
    d.pkt.icmp_type = type;
}

// 20 bytes of TCP header; the decoder reads seq, ack, flags and window into the packet.
constexpr std::initializer_list<uint8_t> kTcpHeader = {
    0x9c, 0x40, 0x00, 0x50,  // ports 40000 -> 80
    0,    0,    0,    0,     // sequence number
    0,    0,    0,    0,     // acknowledgement number
    0x50, 0x18,              // data offset 5, PSH ACK
    0x04, 0x00,              // window
    0,    0,    0,    0,     // checksum, urgent pointer
};

class DetectHeaderKeywords : public test_support::DetectFixture {};

TEST_F(DetectHeaderKeywords, TtlTosAndIdReadTheIpHeader) {
    load(
        "alert ip any any -> any any (ttl:1; sid:1;)\n"
        "alert ip any any -> any any (ttl:>220; sid:2;)\n"
        "alert ip any any -> any any (tos:x10; sid:3;)\n"
        "alert ip any any -> any any (tos:!0; sid:4;)\n"
        "alert ip any any -> any any (id:13170; sid:5;)\n"
        "alert ip any any -> any any (id:!13170; sid:6;)\n");
    Datagram a;
    build_v4(a, V4Header{.tos = 0x10, .id = 13170, .ttl = 1}, kTcpHeader, "x");
    EXPECT_EQ(fired(a.pkt), (Sids{1, 3, 4, 5}));
    Datagram b;
    build_v4(b, V4Header{.tos = 0, .id = 13171, .ttl = 221}, kTcpHeader, "x");
    EXPECT_EQ(fired(b.pkt), (Sids{2, 6}));
    // IPv6 has a hop limit but neither an IPv4 type of service nor an identification field:
    // id and tos tests, negated or not, never match it.
    Datagram v6;
    build_icmp(v6, true, 128, 1, 1, "");
    v6.pkt.ttl = 1;
    EXPECT_EQ(fired(v6.pkt), Sids{1});
}

TEST_F(DetectHeaderKeywords, FragbitsTestTheIpv4Flags) {
    load(
        "alert ip any any -> any any (fragbits:D; sid:1;)\n"
        "alert ip any any -> any any (fragbits:!M; sid:2;)\n"
        "alert ip any any -> any any (fragbits:!DMR; sid:3;)\n"
        "alert ip any any -> any any (fragbits:*RD; sid:4;)\n"
        "alert ip any any -> any any (fragbits:D+; sid:5;)\n");
    Datagram df;
    build_v4(df, V4Header{.flags = 0x40}, kTcpHeader, "x");
    EXPECT_EQ(fired(df.pkt), (Sids{1, 2, 3, 4}));
    Datagram none;
    build_v4(none, V4Header{.flags = 0x00}, kTcpHeader, "x");
    EXPECT_EQ(fired(none.pkt), (Sids{2, 3}));
    // Reserved bit and DF: D is no longer exact, D+ has its extra bit.
    Datagram evil;
    build_v4(evil, V4Header{.flags = 0xc0}, kTcpHeader, "x");
    EXPECT_EQ(fired(evil.pkt), (Sids{2, 3, 4, 5}));
    Datagram v6;
    build_icmp(v6, true, 128, 1, 1, "");
    EXPECT_EQ(fired(v6.pkt), Sids{});
}

TEST_F(DetectHeaderKeywords, IpProtoComparesTheTransportProtocol) {
    load(
        "alert ip any any -> any any (ip_proto:2; sid:1;)\n"
        "alert ip any any -> any any (ip_proto:!6; sid:2;)\n"
        "alert ip any any -> any any (ip_proto:>134; sid:3;)\n"
        "alert ip any any -> any any (ip_proto:igmp; content:\"|11|\"; depth:1; sid:4;)\n");
    Datagram igmp;
    build_v4(igmp, V4Header{.proto = 2}, {}, "\x11\x64\xee\x9b");
    EXPECT_EQ(fired(igmp.pkt), (Sids{1, 2, 4}));
    Datagram tcp;
    build_v4(tcp, V4Header{.proto = decode::kIpProtoTcp}, kTcpHeader, "\x11");
    EXPECT_EQ(fired(tcp.pkt), Sids{});
    Datagram high;
    build_v4(high, V4Header{.proto = 253}, {}, "x");
    EXPECT_EQ(fired(high.pkt), (Sids{2, 3}));
}

TEST_F(DetectHeaderKeywords, SeqAckAndWindowNeedTcp) {
    load(
        "alert tcp any any -> any any (flow:stateless; flags:S; seq:1958810375; sid:1;)\n"
        "alert tcp any any -> any any (flow:stateless; ack:0; flags:S; ttl:>220; sid:2;)\n"
        "alert tcp any any -> any any (window:1024; sid:3;)\n"
        "alert tcp any any -> any any (window:!1024; sid:4;)\n"
        "alert ip any any -> any any (ack:0; sid:5;)\n");
    Datagram syn;
    build_v4(syn, V4Header{.ttl = 250}, kTcpHeader, "");
    syn.pkt.tcp_flags = decode::kTcpSyn;
    syn.pkt.tcp_seq = 1958810375;
    syn.pkt.tcp_ack = 0;
    syn.pkt.tcp_window = 1024;
    EXPECT_EQ(fired(syn.pkt), (Sids{1, 2, 3, 5}));
    syn.pkt.tcp_seq = 1958810376;
    syn.pkt.tcp_ack = 7;
    syn.pkt.tcp_window = 2048;
    EXPECT_EQ(fired(syn.pkt), Sids{4});
    // A TCP header too short to read: the packet is described at the IP layer only.
    syn.pkt.l4_malformed = true;
    syn.pkt.tcp_seq = 1958810375;
    syn.pkt.tcp_ack = 0;
    syn.pkt.tcp_flags = 0;
    syn.pkt.tcp_window = 0;
    EXPECT_EQ(fired(syn.pkt), Sids{});
    // UDP has none of these fields, even when their values would be zero.
    Datagram udp;
    build_v4(udp, V4Header{.proto = decode::kIpProtoUdp}, {0, 53, 0, 53, 0, 9, 0, 0}, "x");
    EXPECT_EQ(fired(udp.pkt), Sids{});
}

TEST_F(DetectHeaderKeywords, IcmpIdAndSeqOnMessagesThatCarryThem) {
    load(
        "alert icmp any any -> any any (icmp_id:666; itype:0; sid:1;)\n"
        "alert icmp any any -> any any (icmp_id:456; icmp_seq:0; sid:2;)\n"
        "alert icmp any any -> any any (icmp_seq:9; sid:3;)\n"
        "alert icmp any any -> any any (icmp_id:!1; sid:4;)\n");
    Datagram reply;
    build_icmp(reply, false, 0, 666, 9, "skillz");
    EXPECT_EQ(fired(reply.pkt), (Sids{1, 3, 4}));
    Datagram tfn;
    build_icmp(tfn, false, 0, 456, 0, std::string_view("12\0", 3));
    EXPECT_EQ(fired(tfn.pkt), (Sids{2, 4}));
    // Timestamp requests carry an identifier too; destination unreachable does not (its
    // bytes 4-7 are unused), so even a negated test fails there.
    Datagram ts;
    build_icmp(ts, false, 13, 666, 9, "");
    EXPECT_EQ(fired(ts.pkt), (Sids{3, 4}));
    Datagram unreach;
    build_icmp(unreach, false, 3, 666, 9, "");
    EXPECT_EQ(fired(unreach.pkt), Sids{});
    // ICMPv6 echo request.
    Datagram v6;
    build_icmp(v6, true, 128, 456, 0, "");
    EXPECT_EQ(fired(v6.pkt), (Sids{2, 4}));
    // Without the header bytes in front of the payload (a malformed message) nothing is read.
    reply.pkt.l4_malformed = true;
    EXPECT_EQ(fired(reply.pkt), Sids{});
}

// One TCP segment of a flow, as the decoder describes it.
DecodedPacket segment(std::string_view payload, uint8_t flags, uint32_t seq, uint32_t ack,
                      bool to_server) {
    DecodedPacket p =
        to_server ? packet(payload, decode::kIpProtoTcp, "10.0.0.1", 40000, "10.0.0.2", 443)
                  : packet(payload, decode::kIpProtoTcp, "10.0.0.2", 443, "10.0.0.1", 40000);
    p.tcp_flags = flags;
    p.tcp_seq = seq;
    p.tcp_ack = ack;
    return p;
}

class DetectStreamSize : public test_support::DetectFixture {
protected:
    Sids send(std::string_view payload, uint8_t flags, uint32_t seq, uint32_t ack, bool to_server) {
        DecodedPacket p = segment(payload, flags, seq, ack, to_server);
        return fired(p, Side{"", "", to_server, true, nullptr, &state_});
    }

    flow::FlowDetectState state_;
};

TEST_F(DetectStreamSize, CountsSequenceSpaceSinceTheHandshake) {
    load(
        "alert tcp any any -> any any (stream_size:client,=,1; sid:1;)\n"
        "alert tcp any any -> any any (stream_size:server,=,0; sid:2;)\n"
        "alert tcp any any -> any any (stream_size:server,<,15; dsize:12; sid:3;)\n"
        "alert tcp any any -> any any (stream_size:client,>,10; sid:4;)\n"
        "alert tcp any any -> any any (stream_size:both,>=,11; sid:5;)\n"
        "alert tcp any any -> any any (stream_size:either,=,13; sid:6;)\n");
    constexpr uint8_t kSyn = decode::kTcpSyn;
    constexpr uint8_t kAck = decode::kTcpAck;
    // The SYN takes one sequence number; the server has sent nothing yet.
    EXPECT_EQ(send("", kSyn, 1000, 0, true), (Sids{1, 2}));
    EXPECT_EQ(send("", kSyn | kAck, 5000, 1001, false), Sids{1});
    EXPECT_EQ(send("", kAck, 1001, 5001, true), Sids{1});
    // The packet's own bytes count: 1 + 10.
    EXPECT_EQ(send("0123456789", kAck, 1001, 5001, true), Sids{4});
    // Server: 1 + 12 = 13 < 15; client 11, server 13: both >= 11, either = 13.
    EXPECT_EQ(send("hello world!", kAck, 5001, 1011, false), (Sids{3, 4, 5, 6}));
    // A retransmission, and a segment from before the ISN, add nothing.
    EXPECT_EQ(send("0123456789", kAck, 1001, 5013, true), (Sids{4, 5, 6}));
    EXPECT_EQ(send("stale", kAck, 900, 5013, true), (Sids{4, 5, 6}));
    // A RST does not move the size, whatever its sequence number.
    EXPECT_EQ(send("", decode::kTcpRst, 1200, 0, true), (Sids{4, 5, 6}));
}

TEST_F(DetectStreamSize, MidstreamPickupStartsOneBeforeTheFirstSegment) {
    load(
        "alert tcp any any -> any any (stream_size:client,=,6; sid:1;)\n"
        "alert tcp any any -> any any (stream_size:server,=,1; sid:2;)\n"
        "alert tcp any any -> any any (stream_size:server,=,4; sid:3;)\n");
    constexpr uint8_t kAck = decode::kTcpAck;
    // Suricata's pick-up: client ISN = seq - 1, server ISN = ack - 1.
    EXPECT_EQ(send("hello", kAck, 7000, 9000, true), (Sids{1, 2}));
    EXPECT_EQ(send("abc", kAck, 9000, 7005, false), (Sids{1, 3}));
}

TEST_F(DetectStreamSize, SaturatesAndNeedsFlowState) {
    load(
        "alert tcp any any -> any any (stream_size:client,>,65534; sid:1;)\n"
        "alert tcp any any -> any any (stream_size:client,<,100; sid:2;)\n");
    EXPECT_EQ(send("", decode::kTcpSyn, 100, 0, true), Sids{2});
    // Far into the stream (a gap, say): the size stops at 65535 instead of wrapping.
    EXPECT_EQ(send("x", decode::kTcpAck, 100 + 200000, 1, true), Sids{1});
    EXPECT_EQ(state_.stream_size[0], 65535);
    // A packet without flow state (no TCP session) matches neither.
    DecodedPacket p = segment("x", decode::kTcpAck, 101, 1, true);
    EXPECT_EQ(fired(p), Sids{});
    // Nor does UDP on a flow.
    DecodedPacket udp = packet("x", decode::kIpProtoUdp);
    EXPECT_EQ(fired(udp, Side{"", "", true, true, nullptr, &state_}), Sids{});
}

TEST_F(DetectStreamSize, EtRuleShapeMatchesTheFirstServerReply) {
    // ET INFO IDrive Backup Connection: the server's first 12-byte reply.
    load(
        "alert tcp-pkt any any -> any any (msg:\"IDrive\"; flow:established,to_client; "
        "stream_size:server,<,15; dsize:12; content:\"@IDEVSD|3a 20|\"; startswith; "
        "fast_pattern; content:\"|0a|\"; endswith; sid:2046716;)\n");
    constexpr uint8_t kAck = decode::kTcpAck;
    send("", decode::kTcpSyn, 1, 0, true);
    send("", decode::kTcpSyn | kAck, 500, 2, false);
    send("hi", kAck, 2, 501, true);
    EXPECT_EQ(send("@IDEVSD: ok\n", kAck, 501, 4, false), Sids{2046716});
    // The same bytes later in the stream: the server has sent 13 + 12 bytes by then.
    EXPECT_EQ(send("@IDEVSD: ok\n", kAck, 513, 4, false), Sids{});
}

TEST_F(DetectHeaderKeywords, ByteTestCountZeroReadsTheWholeNumber) {
    load(
        "alert tcp any any -> any any (http.content_len; byte_test:0,=,0,0,string,dec; sid:1;)\n"
        "alert tcp any any -> any any (http.content_len; byte_test:0,>,450,0,string,dec; "
        "sid:2;)\n"
        "alert tcp any any -> any any (content:\"Array(\"; byte_test:0,>=,33554431,0,string,dec,"
        "relative; sid:3;)\n");
    auto with_length = [&](std::string_view length) {
        core::AppBuffers b = buffers({{BufferKind::kHttpContentLen, length}});
        DecodedPacket p = packet("POST / HTTP/1.1");
        return fired(p, Side{"http", "", true, true, &b});
    };
    EXPECT_EQ(with_length("0"), Sids{1});
    // A one-byte read would see "4" or "0"; the whole number is 4500, or 10.
    EXPECT_EQ(with_length("4500"), Sids{2});
    EXPECT_EQ(with_length("10"), Sids{});
    EXPECT_EQ(with_length("451"), Sids{2});
    EXPECT_EQ(with_length("450"), Sids{});
    // No digits at the offset, or a number past 64 bits: no match.
    EXPECT_EQ(with_length("none"), Sids{});
    EXPECT_EQ(with_length("99999999999999999999999"), Sids{});
    // Relative: the digits after the content, up to the first non-digit.
    EXPECT_EQ(fired(packet("x = Array(33554432).toString();")), Sids{3});
    EXPECT_EQ(fired(packet("x = Array(3355443).toString();")), Sids{});
    EXPECT_EQ(fired(packet("x = Array(")), Sids{});
}

}  // namespace
}  // namespace sensor::detect
