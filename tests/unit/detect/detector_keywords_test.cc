// Detector tests per keyword family, on hand-built packets and contexts: flow, relative
// contents, sizes, pcre, sticky buffers and transactions, byte keywords, flowbits across
// packets, thresholds, actions and app-layer headers.

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "detect_test_support.h"

namespace sensor::detect {
namespace {

using core::BufferKind;
using decode::DecodedPacket;
using test_support::buffers;
using test_support::packet;
using test_support::Side;

class DetectKeywords : public test_support::DetectFixture {};

TEST_F(DetectKeywords, FlowDirectionAndState) {
    load(
        "alert tcp any any -> any any (flow:to_server; content:\"data\"; sid:1;)\n"
        "alert tcp any any -> any any (flow:from_server; content:\"data\"; sid:2;)\n"
        "alert tcp any any -> any any (flow:established; content:\"data\"; sid:3;)\n"
        "alert tcp any any -> any any (flow:not_established; content:\"data\"; sid:4;)\n"
        "alert tcp any any -> any any (flow:stateless; content:\"data\"; sid:5;)\n"
        "alert ip any any -> any any (flow:only_stream; content:\"data\"; sid:6;)\n");
    DecodedPacket p = packet("some data");
    EXPECT_EQ(fired(p, Side{"", "", true, true}), (Sids{1, 3, 5, 6}));
    EXPECT_EQ(fired(p, Side{"", "", false, true}), (Sids{2, 3, 5, 6}));
    EXPECT_EQ(fired(p, Side{"", "", true, false}), (Sids{1, 4, 5, 6}));
    // only_stream: TCP only.
    DecodedPacket udp = packet("some data", decode::kIpProtoUdp);
    EXPECT_EQ(fired(udp, Side{"", "", true, false}), Sids{});
}

TEST_F(DetectKeywords, SctpRulesMatchSctpPacketsOnly) {
    load(
        "alert sctp any 7 -> any 7 (sid:1;)\n"
        "alert udp any any -> any 7 (sid:2;)\n");
    EXPECT_EQ(fired(packet("", decode::kIpProtoSctp, "10.0.0.1", 7, "10.0.0.2", 7)), Sids{1});
    EXPECT_EQ(fired(packet("", decode::kIpProtoSctp, "10.0.0.1", 8, "10.0.0.2", 7)), Sids{});
    EXPECT_EQ(fired(packet("x", decode::kIpProtoUdp, "10.0.0.1", 7, "10.0.0.2", 7)), Sids{2});
}

TEST_F(DetectKeywords, DistanceAndWithinChainFromThePreviousMatch) {
    load(
        "alert tcp any any -> any any (content:\"USER\"; content:\"root\"; distance:1; "
        "within:5; sid:1;)\n"
        "alert tcp any any -> any any (content:\"abcd\"; content:\"bc\"; distance:-3; within:2; "
        "sid:2;)\n");
    EXPECT_EQ(fired(packet("USER root")), Sids{1});
    EXPECT_EQ(fired(packet("USERroot")), Sids{});     // distance 1: one byte between
    EXPECT_EQ(fired(packet("USER   root")), Sids{});  // ends past within 5
    EXPECT_EQ(fired(packet("USER  root")), Sids{1});  // ends exactly at within 5
    // Negative distance looks back into the previous match.
    EXPECT_EQ(fired(packet("xxabcdxx")), Sids{2});
    EXPECT_EQ(fired(packet("xxabedxx")), Sids{});
}

TEST_F(DetectKeywords, FailedChainRetriesTheEarlierContent) {
    load(
        "alert tcp any any -> any any (content:\"key=\"; content:\"42\"; within:2; sid:1;)\n"
        "alert tcp any any -> any any (content:\"A\"; content:!\"B\"; within:2; sid:2;)\n");
    // The first key= is followed by 17; the second by 42: the chain must try both.
    EXPECT_EQ(fired(packet("key=17&key=42")), Sids{1});
    EXPECT_EQ(fired(packet("key=17&key=43")), Sids{});
    // Negated relative content: an A with no B right after it exists in the second case.
    EXPECT_EQ(fired(packet("AB AB")), Sids{});
    EXPECT_EQ(fired(packet("AB A.")), Sids{2});
}

TEST_F(DetectKeywords, StartswithAndEndswith) {
    load(
        "alert tcp any any -> any any (content:\"GET\"; startswith; sid:1;)\n"
        "alert tcp any any -> any any (content:\".exe\"; endswith; sid:2;)\n"
        "alert tcp any any -> any any (content:\"ab\"; content:\"cd\"; distance:0; endswith; "
        "sid:3;)\n");
    EXPECT_EQ(fired(packet("GET /")), Sids{1});
    EXPECT_EQ(fired(packet(" GET /")), Sids{});
    EXPECT_EQ(fired(packet("get a.exe")), Sids{2});
    EXPECT_EQ(fired(packet("get a.exe ")), Sids{});
    EXPECT_EQ(fired(packet("ab..cd")), Sids{3});
    EXPECT_EQ(fired(packet("ab..cd.")), Sids{});
}

TEST_F(DetectKeywords, IsdataatRelative) {
    load(
        "alert tcp any any -> any any (content:\"LEN\"; isdataat:4,relative; sid:1;)\n"
        "alert tcp any any -> any any (content:\"END\"; isdataat:!1,relative; sid:2;)\n");
    EXPECT_EQ(fired(packet("LEN1234")), Sids{1});  // 4 bytes after the match
    EXPECT_EQ(fired(packet("LEN123")), Sids{});
    EXPECT_EQ(fired(packet("xEND")), Sids{2});  // nothing after END
    EXPECT_EQ(fired(packet("xEND.")), Sids{});
}

TEST_F(DetectKeywords, IsdataatAbsoluteAndDsizeRanges) {
    load(
        "alert tcp any any -> any any (content:\"abs\"; isdataat:9; sid:3;)\n"
        "alert tcp any any -> any any (dsize:<4; sid:4;)\n"
        "alert tcp any any -> any any (dsize:10<>12; sid:5;)\n");
    EXPECT_EQ(fired(packet("abs4567890")), Sids{3});  // byte 9 exists
    EXPECT_EQ(fired(packet("abs456789")), Sids{});
    EXPECT_EQ(fired(packet("abc")), Sids{4});
    EXPECT_EQ(fired(packet("01234567890")), Sids{5});  // 11: strictly between 10 and 12
    EXPECT_EQ(fired(packet("012345678901")), Sids{});
    EXPECT_EQ(fired(packet("")), Sids{4});  // dsize 0 < 4; no payload keywords needed
}

TEST_F(DetectKeywords, TcpFlagsAndIcmpTypes) {
    load(
        "alert tcp any any -> any any (flags:S,12; sid:1;)\n"
        "alert icmp any any -> any any (itype:8; icode:0; sid:2;)\n"
        "alert ip any any -> any any (itype:>10; sid:3;)\n");
    DecodedPacket syn = packet("");
    syn.tcp_flags = decode::kTcpSyn;
    EXPECT_EQ(fired(syn), Sids{1});
    syn.tcp_flags = decode::kTcpSyn | decode::kTcpAck;
    EXPECT_EQ(fired(syn), Sids{});
    DecodedPacket echo = packet("ping", decode::kIpProtoIcmp, "10.0.0.1", 0, "10.0.0.2", 0);
    echo.icmp_type = 8;
    EXPECT_EQ(fired(echo), Sids{2});
    echo.icmp_type = 13;
    EXPECT_EQ(fired(echo), Sids{3});
    // itype never matches a TCP packet.
    DecodedPacket tcp = packet("x");
    tcp.icmp_type = 13;
    EXPECT_EQ(fired(tcp), Sids{});
}

TEST_F(DetectKeywords, PcreRelativeNegatedAndAnchored) {
    load(
        "alert tcp any any -> any any (pcre:\"/^GET \\/[a-z]+\\.php/\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"id=\"; pcre:\"/^\\d{3}&/R\"; sid:2;)\n"
        "alert tcp any any -> any any (content:\"User\"; pcre:!\"/admin/i\"; sid:3;)\n"
        "alert tcp any any -> any any (pcre:\"/evil(?=\\.exe)/smi\"; sid:4;)\n");
    EXPECT_EQ(fired(packet("GET /index.php HTTP/1.1")), Sids{1});
    EXPECT_EQ(fired(packet(" GET /index.php")), Sids{});
    // R anchors ^ where the previous match ended; the second id= is the one that fits.
    EXPECT_EQ(fired(packet("id=12&id=123&")), Sids{2});
    EXPECT_EQ(fired(packet("id=12&id=1234")), Sids{});
    EXPECT_EQ(fired(packet("User guest")), Sids{3});
    EXPECT_EQ(fired(packet("User ADMIN")), Sids{});
    EXPECT_EQ(fired(packet("get EVIL.EXE")), Sids{4});
    EXPECT_EQ(fired(packet("get EVIL.dll")), Sids{});
}

TEST_F(DetectKeywords, PcreAnchorsAtThePayloadNotThePrefix) {
    load("alert tcp any any -> any any (pcre:\"/^POST/\"; sid:1;)\n");
    EXPECT_EQ(fired(packet("POST /"), {}, "previous segment "), Sids{1});
    EXPECT_EQ(fired(packet("x POST /"), {}, "POST"), Sids{});
}

TEST_F(DetectKeywords, StickyBuffersMatchOnlyTheirBuffer) {
    load(
        "alert http any any -> any any (http.uri; content:\"/gate.php\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"/gate.php\"; sid:2;)\n"
        "alert http any any -> any any (http.method; content:\"POST\"; http.uri; "
        "content:\"/up\"; startswith; http.user_agent; content:\"curl\"; nocase; sid:3;)\n"
        "alert http any any -> any any (content:\"POST\"; http_method; pcre:\"/^\\/up/U\"; "
        "sid:4;)\n");
    core::AppBuffers req =
        buffers({{BufferKind::kHttpUri, "/gate.php?x=1"}, {BufferKind::kHttpMethod, "GET"}});
    DecodedPacket p = packet("GET /gate.php?x=1 HTTP/1.1\r\n");
    EXPECT_EQ(fired(p, Side{"http", "", true, true, &req}), (Sids{1, 2}));
    // Without the parser's buffers only the payload rule can see the URI.
    EXPECT_EQ(fired(p, Side{"http", "", true, true, nullptr}), Sids{2});
    core::AppBuffers up = buffers({{BufferKind::kHttpUri, "/upload"},
                                   {BufferKind::kHttpMethod, "POST"},
                                   {BufferKind::kHttpUserAgent, "CURL/8.0"}});
    EXPECT_EQ(fired(packet("body"), Side{"http", "", true, true, &up}), (Sids{3, 4}));
    core::AppBuffers no_ua =
        buffers({{BufferKind::kHttpUri, "/upload"}, {BufferKind::kHttpMethod, "POST"}});
    EXPECT_EQ(fired(packet("body"), Side{"http", "", true, true, &no_ua}), Sids{4});
}

TEST_F(DetectKeywords, FileDataFollowsThePacketDirection) {
    load("alert http any any -> any any (file_data; content:\"MZ\"; startswith; sid:1;)\n");
    core::AppBuffers bodies = buffers(
        {{BufferKind::kHttpRequestBody, "name=x"}, {BufferKind::kHttpResponseBody, "MZ\x90"}});
    flow::FlowDetectState state;
    EXPECT_EQ(fired(packet("..."), Side{"http", "", true, true, &bodies, &state}), Sids{});
    EXPECT_EQ(fired(packet("..."), Side{"http", "", false, true, &bodies, &state}), Sids{1});
}

TEST_F(DetectKeywords, DotprefixAndBufferSizes) {
    load(
        "alert dns any any -> any any (dns.query; dotprefix; content:\".evil.com\"; endswith; "
        "sid:1;)\n"
        "alert dns any any -> any any (dns.query; bsize:>20; sid:2;)\n"
        "alert http any any -> any any (urilen:<5; sid:3;)\n"
        "alert http any any -> any any (http.host; content:\"example.org\"; bsize:11; sid:4;)\n");
    auto q = [&](std::string_view name) {
        core::AppBuffers b = buffers({{BufferKind::kDnsQuery, name}});
        return fired(packet("q", decode::kIpProtoUdp), Side{"dns", "", true, false, &b});
    };
    EXPECT_EQ(q("evil.com"), Sids{1});
    EXPECT_EQ(q("www.evil.com"), Sids{1});
    EXPECT_EQ(q("notevil.com"), Sids{});
    EXPECT_EQ(q("a-very-long-name.example.net"), Sids{2});
    core::AppBuffers h =
        buffers({{BufferKind::kHttpUri, "/a"}, {BufferKind::kHttpHost, "example.org"}});
    EXPECT_EQ(fired(packet("x"), Side{"http", "", true, true, &h}), (Sids{3, 4}));
    core::AppBuffers h2 =
        buffers({{BufferKind::kHttpUri, "/abcde"}, {BufferKind::kHttpHost, "example.org.uk"}});
    EXPECT_EQ(fired(packet("x"), Side{"http", "", true, true, &h2}), Sids{});
}

TEST_F(DetectKeywords, AppLayerRulesAlertOncePerTransaction) {
    load(
        "alert http any any -> any any (http.uri; content:\"/admin\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"admin\"; sid:2;)\n");
    flow::FlowDetectState state;
    core::AppBuffers tx1 = buffers({{BufferKind::kHttpUri, "/admin"}}, 7);
    EXPECT_EQ(fired(packet("GET /admin"), Side{"http", "", true, true, &tx1, &state}),
              (Sids{1, 2}));
    // A later packet of the same transaction: the payload rule fires again, the uri rule not.
    EXPECT_EQ(fired(packet("admin=1"), Side{"http", "", true, true, &tx1, &state}), Sids{2});
    core::AppBuffers tx2 = buffers({{BufferKind::kHttpUri, "/admin"}}, 8);
    EXPECT_EQ(fired(packet("GET /x"), Side{"http", "", true, true, &tx2, &state}), Sids{1});
    EXPECT_EQ(detector_->stats().tx_duplicates.load(), 1u);
}

TEST_F(DetectKeywords, ByteTestJumpAndExtract) {
    load(
        // A 2-byte big-endian length, then that many bytes, then "END".
        "alert tcp any any -> any any (content:\"LV\"; byte_jump:2,0,relative; content:\"END\"; "
        "within:3; sid:1;)\n"
        "alert tcp any any -> any any (content:\"N=\"; byte_test:3,>,250,0,relative,string,dec; "
        "sid:2;)\n"
        "alert tcp any any -> any any (content:\"X\"; byte_extract:1,0,n,relative; "
        "content:\"Z\"; distance:n; within:1; sid:3;)\n"
        "alert tcp any any -> any any (dsize:2; byte_test:2,&,0x0100,0,little; sid:4;)\n");
    EXPECT_EQ(fired(packet(std::string("LV\x00\x03"
                                       "abcEND",
                                       10))),
              Sids{1});
    EXPECT_EQ(fired(packet(std::string("LV\x00\x02"
                                       "abcEND",
                                       10))),
              Sids{});
    EXPECT_EQ(fired(packet("N=300")), Sids{2});
    EXPECT_EQ(fired(packet("N=200")), Sids{});
    EXPECT_EQ(fired(packet("N=x00")), Sids{});  // not a number
    EXPECT_EQ(fired(packet(std::string("X\x02..Z", 5))), Sids{3});
    EXPECT_EQ(fired(packet(std::string("X\x01..Z", 5))), Sids{});
    EXPECT_EQ(fired(packet(std::string("\x00\x01", 2))), Sids{4});  // 0x0100 little endian
    EXPECT_EQ(fired(packet(std::string("\x01\x00", 2))), Sids{});
}

TEST_F(DetectKeywords, FlowbitsCarryStateAcrossPackets) {
    load(
        "alert tcp any any -> any any (content:\"LOGIN\"; flowbits:set,logged_in; "
        "flowbits:noalert; sid:1;)\n"
        "alert tcp any any -> any any (content:\"GETFILE\"; flowbits:isset,logged_in; sid:2;)\n"
        "alert tcp any any -> any any (content:\"GETFILE\"; flowbits:isnotset,logged_in; "
        "sid:3;)\n"
        "alert tcp any any -> any any (content:\"LOGOUT\"; flowbits:unset,logged_in; "
        "flowbits:noalert; sid:4;)\n");
    flow::FlowDetectState state;
    Side side{"", "", true, true, nullptr, &state};
    EXPECT_EQ(fired(packet("GETFILE a"), side), Sids{3});
    EXPECT_EQ(fired(packet("LOGIN bob"), side), Sids{});  // noalert: state only
    EXPECT_EQ(state.flowbit_count, 1);
    EXPECT_EQ(fired(packet("GETFILE a"), side), Sids{2});
    EXPECT_EQ(fired(packet("LOGOUT"), side), Sids{});
    EXPECT_EQ(fired(packet("GETFILE a"), side), Sids{3});
    // Another flow has its own bits.
    flow::FlowDetectState other;
    EXPECT_EQ(fired(packet("LOGIN x"), Side{"", "", true, true, nullptr, &other}), Sids{});
    EXPECT_EQ(fired(packet("GETFILE a"), side), Sids{3});
    // Without flow state a flowbits check cannot match.
    EXPECT_EQ(fired(packet("GETFILE a")), Sids{});
}

TEST_F(DetectKeywords, SetterRunsBeforeReaderInOnePacketAndGroupsAndToggle) {
    load(
        // The reader comes first in the file; Suricata's order still runs the setter first.
        "alert tcp any any -> any any (content:\"both\"; flowbits:isset,a|b; sid:1;)\n"
        "alert tcp any any -> any any (content:\"both\"; flowbits:set,b; sid:2;)\n"
        "alert tcp any any -> any any (content:\"flip\"; flowbits:toggle,t; sid:3;)\n"
        "alert tcp any any -> any any (content:\"check\"; flowbits:isset,t; sid:4;)\n");
    flow::FlowDetectState state;
    Side side{"", "", true, true, nullptr, &state};
    EXPECT_EQ(fired(packet("both"), side), (Sids{2, 1}));
    EXPECT_EQ(fired(packet("flip check"), side), (Sids{3, 4}));
    EXPECT_EQ(fired(packet("flip check"), side), Sids{3});  // toggled off again
}

TEST_F(DetectKeywords, FlowbitsAllOfGroup) {
    load(
        "alert tcp any any -> any any (content:\"one\"; flowbits:set,a; flowbits:noalert; "
        "sid:1;)\n"
        "alert tcp any any -> any any (content:\"two\"; flowbits:set,b&c; flowbits:noalert; "
        "sid:2;)\n"
        "alert tcp any any -> any any (content:\"go\"; flowbits:isset,a&b; sid:3;)\n"
        "alert tcp any any -> any any (content:\"go\"; flowbits:isnotset,a&c; sid:4;)\n");
    flow::FlowDetectState state;
    Side side{"", "", true, true, nullptr, &state};
    EXPECT_EQ(fired(packet("go"), side), Sids{4});
    EXPECT_EQ(fired(packet("one go"), side), Sids{});  // a set, b not; c still unset
    EXPECT_EQ(fired(packet("two go"), side), Sids{3});
    EXPECT_EQ(state.flowbit_count, 3);
}

TEST_F(DetectKeywords, FlowbitOverflowIsCounted) {
    std::string text;
    for (int i = 0; i < 10; ++i) {
        text += "alert tcp any any -> any any (content:\"set\"; flowbits:set,bit" +
                std::to_string(i) + "; flowbits:noalert; sid:" + std::to_string(i + 1) + ";)\n";
    }
    load(text);
    flow::FlowDetectState state;
    fired(packet("set"), Side{"", "", true, true, nullptr, &state});
    EXPECT_EQ(state.flowbit_count, flow::FlowDetectState::kMaxFlowbits);
    EXPECT_EQ(detector_->stats().flowbits_overflow.load(),
              10 - flow::FlowDetectState::kMaxFlowbits);
}

TEST_F(DetectKeywords, ThresholdLimitOnPacketTime) {
    load(
        "alert tcp any any -> any any (content:\"scan\"; threshold:type limit, track by_src, "
        "count 2, seconds 60; sid:1;)\n");
    auto at = [&](int64_t seconds, const char* src) {
        DecodedPacket p = packet("scan", decode::kIpProtoTcp, src);
        p.ts_us = seconds * 1'000'000;
        return fired(p).size();
    };
    EXPECT_EQ(at(0, "10.0.0.1"), 1u);
    EXPECT_EQ(at(1, "10.0.0.1"), 1u);
    EXPECT_EQ(at(2, "10.0.0.1"), 0u);   // third in the window
    EXPECT_EQ(at(3, "10.0.0.2"), 1u);   // another source has its own count
    EXPECT_EQ(at(61, "10.0.0.1"), 1u);  // a new window
    EXPECT_EQ(detector_->stats().threshold_suppressed.load(), 1u);
}

TEST_F(DetectKeywords, DetectionFilterAlertsPastTheCount) {
    load(
        "alert tcp any any -> any any (content:\"login failed\"; detection_filter:track by_dst, "
        "count 2, seconds 10; sid:1;)\n");
    std::vector<size_t> got;
    for (int i = 0; i < 4; ++i) {
        DecodedPacket p = packet("login failed");
        p.ts_us = i * 1'000'000;
        got.push_back(fired(p).size());
    }
    EXPECT_EQ(got, (std::vector<size_t>{0, 0, 1, 1}));
}

TEST_F(DetectKeywords, PassSilencesTheFlowAndOtherActionsAlert) {
    load(
        "alert tcp any any -> any any (content:\"update\"; sid:1;)\n"
        "pass tcp any any -> any any (content:\"trusted\"; sid:2;)\n"
        "drop tcp any any -> any any (content:\"exploit\"; sid:3;)\n"
        "reject tcp any any -> any any (content:\"exploit\"; sid:4;)\n");
    flow::FlowDetectState state;
    Side side{"", "", true, true, nullptr, &state};
    EXPECT_EQ(fired(packet("exploit update"), side), (Sids{3, 4, 1}));
    EXPECT_EQ(db_->rule(out_.rule_index[0]).action, rules::Action::kDrop);
    EXPECT_EQ(db_->rule(out_.rule_index[1]).action, rules::Action::kReject);
    EXPECT_EQ(fired(packet("trusted update"), side), Sids{});
    EXPECT_TRUE(state.pass);
    EXPECT_EQ(fired(packet("exploit update"), side), Sids{});
    EXPECT_EQ(detector_->stats().passed_packets.load(), 1u);
    // Another flow is not passed.
    flow::FlowDetectState other;
    EXPECT_EQ(fired(packet("update"), Side{"", "", true, true, nullptr, &other}), Sids{1});
}

TEST_F(DetectKeywords, AppProtocolHeadersAndServices) {
    load(
        "alert http any any -> any any (content:\"x\"; sid:1;)\n"
        "alert tls any any -> any any (content:\"x\"; sid:2;)\n"
        "alert dns any any -> any any (content:\"x\"; sid:3;)\n"
        "alert tcp any any -> any 8080 (content:\"x\"; service:http; sid:4;)\n");
    DecodedPacket p = packet("x");  // to port 80
    EXPECT_EQ(fired(p, Side{"http", ""}), (Sids{1, 4}));
    EXPECT_EQ(fired(p, Side{"tls", ""}), Sids{2});
    EXPECT_EQ(fired(p, Side{"", ""}), Sids{});
    // HTTP buffers show an HTTP flow before the classifier has named it.
    core::AppBuffers b = buffers({{BufferKind::kHttpHost, "a.example"}});
    EXPECT_EQ(fired(p, Side{"", "", true, true, &b}), Sids{1});
    core::AppBuffers s = buffers({{BufferKind::kTlsSni, "a.example"}});
    EXPECT_EQ(fired(p, Side{"", "", true, true, &s}), Sids{2});
    // The service rule also matches its header port without a known service.
    DecodedPacket alt =
        packet("x", decode::kIpProtoTcp, "192.168.1.10", 40000, "203.0.113.5", 8080);
    EXPECT_EQ(fired(alt, Side{"", ""}), Sids{4});
}

TEST_F(DetectKeywords, NewHttpBuffersGoThroughThePrefilterAndTheirOwnSlot) {
    load(
        "alert http any any -> any any (http.request_line; content:\"GET /index.html "
        "HTTP/1.0\"; sid:1;)\n"
        "alert http any any -> any any (http.request_line; bsize:10<>100; sid:2;)\n"
        "alert http any any -> any any (http_response_line; content:\"200 OK\"; sid:3;)\n"
        "alert http any any -> any any (http.header_names; content:\"|0d 0a|Host|0d 0a|\"; "
        "content:\"|0d 0a 0d 0a|\"; endswith; sid:4;)\n"
        "alert http any any -> any any (http.content_type; content:\"text/html\"; startswith; "
        "sid:5;)\n"
        "alert http any any -> any any (http.referer; content:\"evil\"; sid:6;)\n"
        "alert http any any -> any any (content:\"Moved\"; http_stat_msg; sid:7;)\n"
        "alert http any any -> any any (http.server; content:\"nginx\"; http.location; "
        "content:\"/next\"; sid:8;)\n");
    core::AppBuffers req = buffers({{BufferKind::kHttpRequestLine, "GET /index.html HTTP/1.0"},
                                    {BufferKind::kHttpHeaderNames, "\r\nHost\r\nAccept\r\n\r\n"},
                                    {BufferKind::kHttpReferer, "http://evil.example/"}});
    flow::FlowDetectState state;
    EXPECT_EQ(fired(packet("GET"), Side{"http", "", true, true, &req, &state}), (Sids{1, 2, 4, 6}));
    // The same bytes in the payload or in another buffer do not fire a buffer rule.
    core::AppBuffers other = buffers({{BufferKind::kHttpUri, "GET /index.html HTTP/1.0 evil"}});
    EXPECT_EQ(fired(packet("GET /index.html HTTP/1.0 evil text/html"),
                    Side{"http", "", true, true, &other}),
              Sids{});
    core::AppBuffers res = buffers({{BufferKind::kHttpResponseLine, "HTTP/1.1 200 OK"},
                                    {BufferKind::kHttpContentType, "text/html; charset=utf-8"},
                                    {BufferKind::kHttpStatMsg, "OK"}});
    EXPECT_EQ(fired(packet("x"), Side{"http", "", false, true, &res}), (Sids{3, 5}));
    core::AppBuffers moved = buffers({{BufferKind::kHttpStatMsg, "Moved Permanently"},
                                      {BufferKind::kHttpServer, "nginx/1.25"},
                                      {BufferKind::kHttpLocation, "/next/page"}});
    EXPECT_EQ(fired(packet("x"), Side{"http", "", false, true, &moved}), (Sids{7, 8}));
    // bsize bounds are exclusive: a 10-byte request line is out.
    core::AppBuffers short_line = buffers({{BufferKind::kHttpRequestLine, "GET / HTTP"}});
    EXPECT_EQ(fired(packet("x"), Side{"http", "", true, true, &short_line}), Sids{});
}

TEST_F(DetectKeywords, AppLayerProtocolFollowsTheFlowProtocol) {
    load(
        "alert tcp any any -> any any (app-layer-protocol:http; sid:1;)\n"
        "alert tcp any any -> any any (app-layer-protocol:!http; sid:2;)\n"
        "alert tcp any any -> any any (app-layer-protocol:failed; sid:3;)\n"
        "alert tcp any any -> any any (app-layer-protocol:unknown; sid:4;)\n"
        "alert tcp any any -> any any (app-layer-protocol:http1,to_server; "
        "app-layer-protocol:!tls,final; content:\"x\"; sid:5;)\n"
        "alert tcp any any -> any any (app-layer-protocol:!tls; app-layer-protocol:!http; "
        "sid:6;)\n");
    DecodedPacket p = packet("x");
    EXPECT_EQ(fired(p, Side{"http", ""}), (Sids{1, 5}));
    // "http" covers HTTP/2 as well, "http1" does not.
    EXPECT_EQ(fired(p, Side{"http2", ""}), Sids{1});
    EXPECT_EQ(fired(p, Side{"ssh", ""}), (Sids{2, 6}));
    EXPECT_EQ(fired(p, Side{"tls", ""}), Sids{2});
    // Detection gave up: "failed" matches, and so do negations of real protocols.
    EXPECT_EQ(fired(p, Side{"failed", ""}), (Sids{2, 3, 6}));
    // Not known yet: only "unknown"; a negation never matches the unknown state.
    EXPECT_EQ(fired(p, Side{"", ""}), Sids{4});
    // HTTP buffers name the protocol before the classifier does.
    core::AppBuffers b = buffers({{BufferKind::kHttpMethod, "GET"}});
    EXPECT_EQ(fired(p, Side{"", "", true, true, &b}), (Sids{1, 5}));
    EXPECT_EQ(fired(p, Side{"failed", "", true, true, &b}), (Sids{1, 5}));
}

TEST_F(DetectKeywords, AppLayerProtocolPerDirectionAndProtocolDetectionOnlyRules) {
    load(
        "alert tcp any any -> any any (msg:\"HTTP client to SSH server\"; flow:to_client; "
        "app-layer-protocol:http1,to_server; app-layer-protocol:ssh,to_client; sid:1;)\n"
        "alert tcp any any -> any any (app-layer-protocol:ssh; content:\"SSH\"; sid:2;)\n"
        "alert tcp any any -> any any (app-layer-protocol:http,either; "
        "app-layer-protocol:!ssh,final; sid:3;)\n"
        "alert tcp any any -> any any (app-layer-protocol:!ssh,either; sid:4;)\n");
    ASSERT_TRUE(db_->rule(0).protocol_detection_only());
    ASSERT_FALSE(db_->rule(1).protocol_detection_only());
    using Pd = PacketContext::ProtoDetect;
    DecodedPacket p = packet("SSH-2.0-OpenSSH\r\n");
    auto run = [&](std::string_view flow, std::string_view ts, std::string_view tc, bool to_server,
                   Pd pd) {
        PacketContext ctx;
        ctx.pkt = &p;
        ctx.app_proto = flow;
        ctx.app_proto_to_server = ts;
        ctx.app_proto_to_client = tc;
        ctx.to_server = to_server;
        ctx.established = true;
        ctx.proto_detect = pd;
        detector_->match(ctx, out_);
        Sids sids;
        for (size_t i = 0; i < out_.count; ++i) {
            sids.push_back(db_->rule(out_.rule_index[i]).sid);
        }
        return sids;
    };
    // The SSH server's banner concludes detection to the client: the PD-only rule fires.
    EXPECT_EQ(run("ssh", "http", "ssh", false, Pd::kThisPacket), (Sids{1, 2}));
    // Later packets of that direction: only the rule that also inspects content.
    EXPECT_EQ(run("ssh", "http", "ssh", false, Pd::kNotThisPacket), Sids{2});
    // A caller that does not follow detection: the PD-only rule matches on any packet.
    EXPECT_EQ(run("ssh", "http", "ssh", false, Pd::kUntracked), (Sids{1, 2}));
    // To the server the packet's direction speaks HTTP.
    EXPECT_EQ(run("ssh", "http", "ssh", true, Pd::kThisPacket), Sids{});
    // Without names per direction both directions read the flow's protocol.
    EXPECT_EQ(run("ssh", "", "", false, Pd::kThisPacket), Sids{2});
    EXPECT_EQ(run("http", "", "", true, Pd::kThisPacket), (Sids{3, 4}));
    // Negated "either": neither direction may speak it.
    EXPECT_EQ(run("http", "http", "ssh", true, Pd::kThisPacket), Sids{3});
}

}  // namespace
}  // namespace sensor::detect
