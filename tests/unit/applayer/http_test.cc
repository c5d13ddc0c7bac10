// HTTP/1.x through AppLayer with hand-built segments: which packet exposes which buffer,
// transactions, Suricata's URI normalization, bodies and their limits, caps and release.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "sensor/applayer/app_layer.h"
#include "tests/unit/applayer/applayer_test_support.h"

namespace sensor::applayer {
namespace {

using core::BufferKind;
using testing::buf;
using testing::Conversation;

constexpr bool kToServer = true;
constexpr bool kToClient = false;

Conversation http_conversation(uint16_t client_port = 40000, uint16_t server_port = 80) {
    return Conversation(decode::kIpProtoTcp, client_port, server_port);
}

TEST(AppLayerHttp, RequestSplitOverTwoSegmentsExposesHeadersOnTheCompletingPacket) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    core::AppBuffers first = c.send(app, kToServer, "GET /ind");
    EXPECT_FALSE(first.any);  // request line incomplete

    core::AppBuffers second =
        c.send(app, kToServer, "ex.html?q=1 HTTP/1.1\r\nHost: www.ExAmple.COM:8080\r\nUser-Ag");
    // The request line is complete: Suricata inspects http.uri from here on.
    EXPECT_EQ(buf(second, BufferKind::kHttpUri), "/index.html?q=1");
    EXPECT_EQ(buf(second, BufferKind::kHttpMethod), "GET");
    EXPECT_EQ(buf(second, BufferKind::kHttpHost), "");
    EXPECT_EQ(buf(second, BufferKind::kHttpUserAgent), "");
    EXPECT_EQ(second.transaction_id, 1u);

    core::AppBuffers third =
        c.send(app, kToServer, "ent: test-agent/1.0\r\nCookie: a=b\r\nAccept: */*\r\n\r\n");
    EXPECT_EQ(third.transaction_id, 1u);
    EXPECT_EQ(buf(third, BufferKind::kHttpUri), "/index.html?q=1");
    EXPECT_EQ(buf(third, BufferKind::kHttpUriRaw), "/index.html?q=1");
    EXPECT_EQ(buf(third, BufferKind::kHttpHost), "www.example.com");
    EXPECT_EQ(buf(third, BufferKind::kHttpHostRaw), "www.ExAmple.COM:8080");
    EXPECT_EQ(buf(third, BufferKind::kHttpUserAgent), "test-agent/1.0");
    EXPECT_EQ(buf(third, BufferKind::kHttpCookie), "a=b");
    EXPECT_EQ(buf(third, BufferKind::kHttpHeader),
              "Host: www.ExAmple.COM:8080\r\nUser-Agent: test-agent/1.0\r\nAccept: */*\r\n");
    EXPECT_EQ(app.stats().http_transactions.load(), 1u);
    EXPECT_EQ(app.stats().http_parsers_created.load(), 1u);
    EXPECT_FALSE(app.next(third));
    app.release(c.flow());
}

TEST(AppLayerHttp, PipelinedRequestsAreTwoTransactions) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    core::AppBuffers out = c.send(app, kToServer,
                                  "GET /first HTTP/1.1\r\nHost: a.example\r\n\r\n"
                                  "GET /second HTTP/1.1\r\nHost: b.example\r\n\r\n");
    EXPECT_EQ(out.transaction_id, 1u);
    EXPECT_EQ(buf(out, BufferKind::kHttpUri), "/first");
    EXPECT_EQ(buf(out, BufferKind::kHttpHost), "a.example");
    ASSERT_TRUE(app.next(out));
    EXPECT_EQ(out.transaction_id, 2u);
    EXPECT_EQ(buf(out, BufferKind::kHttpUri), "/second");
    EXPECT_EQ(buf(out, BufferKind::kHttpHost), "b.example");
    EXPECT_FALSE(app.next(out));
    EXPECT_EQ(app.stats().http_transactions.load(), 2u);

    out = c.send(app, kToClient,
                 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
                 "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(out.transaction_id, 1u);
    EXPECT_EQ(buf(out, BufferKind::kHttpStatCode), "200");
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody), "ok");
    EXPECT_EQ(buf(out, BufferKind::kHttpUri), "/first");  // the whole transaction so far
    ASSERT_TRUE(app.next(out));
    EXPECT_EQ(out.transaction_id, 2u);
    EXPECT_EQ(buf(out, BufferKind::kHttpStatCode), "404");
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody), "");
    EXPECT_FALSE(app.next(out));

    // A third request after both responses: transaction 3, the finished ones are freed.
    out = c.send(app, kToServer, "GET /third HTTP/1.1\r\nHost: c.example\r\n\r\n");
    EXPECT_EQ(out.transaction_id, 3u);
    EXPECT_EQ(buf(out, BufferKind::kHttpUri), "/third");
    app.release(c.flow());
}

// Expected values are those of Suricata's own unit tests (app-layer-htp.c,
// HTPParserDecodingTest02..08, personality IDS) and suricata-verify's uricontent tests.
TEST(AppLayerHttp, UriIsNormalizedAsSuricataDoes) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"/abc%2fdef", "/abc/def"},
        {"/abc/def?ghi%2fjkl", "/abc/def?ghi/jkl"},
        {"/abc/def?ghi%252fjkl", "/abc/def?ghi%2fjkl"},
        {"/abc/def?a=http://www.abc.com/", "/abc/def?a=http://www.abc.com/"},
        {"/index?id=\\\"<script>alert(document.cookie)</script>",
         "/index?id=\\\"<script>alert(document.cookie)</script>"},
        {"/put.php?ip=1.2.3.4&port=+6000", "/put.php?ip=1.2.3.4&port=+6000"},
        {"http://suricata-ids.org/blah/", "/blah/"},
        {"/%2e%2e/images.gif", "/images.gif"},
        {"/./././images.gif", "/images.gif"},
        {"/a/b/../c/./d", "/a/c/d"},
        {"/Mixed/CASE.html", "/Mixed/CASE.html"},
        {"/a\\b", "/a/b"},
        {"/a//b", "/a/b"},
        {"/q?x=%41%42&y=%2", "/q?x=AB&y=%2"},
    };
    AppLayer app{AppLayerConfig{}};
    uint16_t port = 41000;
    for (const auto& [raw, normalized] : cases) {
        Conversation c = http_conversation(port++);
        core::AppBuffers out =
            c.send(app, kToServer, "GET " + raw + " HTTP/1.1\r\nHost: www.domain.ltd\r\n\r\n");
        EXPECT_EQ(buf(out, BufferKind::kHttpUri), normalized) << raw;
        EXPECT_EQ(buf(out, BufferKind::kHttpUriRaw), raw);
        app.release(c.flow());
    }
}

TEST(AppLayerHttp, UriIncludeAllKeepsSchemeAndHost) {
    AppLayerConfig config;
    config.http.uri_include_all = true;
    AppLayer app(config);
    Conversation c = http_conversation();
    core::AppBuffers out =
        c.send(app, kToServer,
               "GET http://suricata-ids.org/blah/ HTTP/1.1\r\nHost: suricata-ids.org\r\n\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpUri), "http://suricata-ids.org/blah/");
    app.release(c.flow());
}

TEST(AppLayerHttp, ResponseStatusHeadersAndSetCookie) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    c.send(app, kToServer, "GET / HTTP/1.1\r\nHost: h\r\nCookie: client=1\r\n\r\n");
    core::AppBuffers out = c.send(app, kToClient,
                                  "HTTP/1.1 302 Found\r\nLocation: /x\r\nSet-Cookie: s=2\r\n"
                                  "Content-Length: 0\r\n\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpStatCode), "302");
    EXPECT_EQ(buf(out, BufferKind::kHttpCookie), "s=2");  // the packet's direction
    EXPECT_EQ(buf(out, BufferKind::kHttpHeader), "Location: /x\r\nContent-Length: 0\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpHost), "h");
    app.release(c.flow());
}

TEST(AppLayerHttp, BodiesStopAtTheirLimits) {
    AppLayerConfig config;
    config.http.request_body_limit = 8;
    config.http.response_body_limit = 10;
    AppLayer app(config);
    Conversation c = http_conversation();
    core::AppBuffers out = c.send(app, kToServer,
                                  "POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 20\r\n\r\n"
                                  "0123456789abcdefghij");
    EXPECT_EQ(buf(out, BufferKind::kHttpMethod), "POST");
    EXPECT_EQ(buf(out, BufferKind::kHttpRequestBody), "01234567");
    EXPECT_EQ(app.stats().http_body_bytes_truncated.load(), 12u);

    out = c.send(app, kToClient,
                 "HTTP/1.1 200 OK\r\nContent-Length: 30\r\n\r\nABCDEFGHIJKLMNOPQRSTUVWXYZ0123");
    EXPECT_EQ(buf(out, BufferKind::kHttpStatCode), "200");
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody), "ABCDEFGHIJ");
    EXPECT_EQ(app.stats().http_body_bytes_truncated.load(), 12u + 20u);
    app.release(c.flow());
}

TEST(AppLayerHttp, BodyIsOfferedAtTheInspectWindowAndAtItsEnd) {
    AppLayerConfig config;
    config.http.response_body_inspect_window = 1000;
    AppLayer app(config);
    Conversation c = http_conversation();
    c.send(app, kToServer, "GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
    core::AppBuffers out = c.send(
        app, kToClient, "HTTP/1.1 200 OK\r\nContent-Length: 2500\r\n\r\n" + std::string(600, 'a'));
    EXPECT_EQ(buf(out, BufferKind::kHttpStatCode), "200");
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody), "");  // 600 bytes: under the window

    out = c.send(app, kToClient, std::string(600, 'b'));
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody),
              std::string(600, 'a') + std::string(600, 'b'));  // the whole body so far

    out = c.send(app, kToClient, std::string(100, 'c'));
    EXPECT_FALSE(out.any);  // 100 new bytes: wait

    out = c.send(app, kToClient, std::string(1200, 'd'));  // the end of the body
    EXPECT_EQ(out.get(BufferKind::kHttpResponseBody).size(), 2500u);
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody).substr(2400), std::string(100, 'd'));
    app.release(c.flow());
}

TEST(AppLayerHttp, ServerCloseEndsABodyWithoutLength) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    c.send(app, kToServer, "GET / HTTP/1.0\r\n\r\n");
    core::AppBuffers out = c.send(app, kToClient, "HTTP/1.0 200 OK\r\n\r\nuntil close");
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody), "");
    out = c.send(app, kToClient, "", decode::kTcpFin | decode::kTcpAck);
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody), "until close");
    app.release(c.flow());
}

TEST(AppLayerHttp, RetransmittedSegmentIsIgnored) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    const std::string request = "GET /once HTTP/1.1\r\nHost: h\r\n\r\n";
    decode::DecodedPacket original =
        c.packet(kToServer, request, decode::kTcpAck | decode::kTcpPsh);
    core::AppBuffers out;
    app.update(c.flow(), kToServer, original, out);
    EXPECT_EQ(buf(out, BufferKind::kHttpUri), "/once");
    app.update(c.flow(), kToServer, original, out);  // same sequence number again
    EXPECT_FALSE(out.any);
    EXPECT_EQ(app.stats().http_transactions.load(), 1u);
    EXPECT_EQ(app.stats().http_parse_errors.load(), 0u);
    app.release(c.flow());
}

TEST(AppLayerHttp, SequenceGapStopsTheFlow) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    c.send(app, kToServer, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n");
    c.skip(kToServer, 100);
    core::AppBuffers out = c.send(app, kToServer, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_FALSE(out.any);
    EXPECT_EQ(app.stats().stream_gaps.load(), 1u);
    out = c.send(app, kToServer, "GET /c HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_FALSE(out.any);
    EXPECT_EQ(app.stats().http_parsers_active.load(), 0u);  // freed on the next packet
    app.release(c.flow());
}

TEST(AppLayerHttp, ReleaseFreesTheParserAndItsMemory) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    c.send(app, kToServer,
           "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n" + std::string(3000, 'x'));
    EXPECT_NE(c.flow().app_state, nullptr);
    EXPECT_EQ(app.stats().http_parsers_active.load(), 1u);
    EXPECT_GT(app.memory_bytes(), kHttpSessionEstimate);
    app.release(c.flow());
    EXPECT_EQ(c.flow().app_state, nullptr);
    EXPECT_EQ(app.stats().http_parsers_active.load(), 0u);
    EXPECT_EQ(app.memory_bytes(), 0u);
    EXPECT_EQ(app.stats().memory_bytes.load(), 0u);
}

// An ended flow's session (object and buffers) parses the next HTTP flow: nothing of the
// first flow shows through, its kept buffers are charged again while in use, and a buffer
// that grew past the kept size is not kept.
TEST(AppLayerHttp, AnEndedFlowsSessionParsesTheNextFlow) {
    AppLayer app{AppLayerConfig{}};
    Conversation a = http_conversation(40001);
    a.send(
        app, kToServer,
        "POST /first HTTP/1.1\r\nHost: a.example\r\nX-First: 1\r\nContent-Length: 20000\r\n\r\n" +
            std::string(20000, 'x'));
    EXPECT_GT(app.memory_bytes(), kHttpSessionEstimate + 20000);
    app.release(a.flow());
    EXPECT_EQ(app.memory_bytes(), 0u) << "a waiting session is not charged";
    EXPECT_EQ(app.stats().http_sessions_reused.load(), 0u);

    const std::string request = "GET /second HTTP/1.1\r\nHost: b.example\r\n\r\n";
    const std::string response = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody";
    AppLayer fresh{AppLayerConfig{}};  // the same flow on a session of its own
    Conversation f = http_conversation(40002);
    f.send(fresh, kToServer, request);

    Conversation b = http_conversation(40002);
    core::AppBuffers out = b.send(app, kToServer, request);
    EXPECT_EQ(app.stats().http_sessions_reused.load(), 1u);
    EXPECT_EQ(app.stats().http_parsers_created.load(), 2u);
    EXPECT_EQ(app.stats().http_parsers_active.load(), 1u);
    EXPECT_EQ(out.transaction_id, 1u);
    EXPECT_EQ(buf(out, BufferKind::kHttpMethod), "GET");
    EXPECT_EQ(buf(out, BufferKind::kHttpUri), "/second");
    EXPECT_EQ(buf(out, BufferKind::kHttpHost), "b.example");
    EXPECT_EQ(buf(out, BufferKind::kHttpHeader), "Host: b.example\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpRequestBody), "");
    EXPECT_FALSE(app.next(out));
    // Charged again: at least what a fresh session holds, and no more than the kept buffers
    // besides (the first flow's 20,000-byte body buffer was freed, not kept).
    EXPECT_GE(app.memory_bytes(), fresh.memory_bytes());
    EXPECT_LE(app.memory_bytes(), fresh.memory_bytes() + 4 * HttpSession::kKeptBufferBytes);

    out = b.send(app, kToClient, response);
    EXPECT_EQ(out.transaction_id, 1u);
    EXPECT_EQ(buf(out, BufferKind::kHttpStatCode), "200");
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody), "body");
    EXPECT_EQ(app.stats().http_transactions.load(), 2u);
    app.release(b.flow());
    fresh.release(f.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
    EXPECT_EQ(app.stats().http_parsers_active.load(), 0u);
}

TEST(AppLayerHttp, StateOfFlowsNeverReleasedIsFreedWithTheAppLayer) {
    Conversation c = http_conversation();
    {
        AppLayer app{AppLayerConfig{}};
        c.send(app, kToServer, "GET / HTTP/1.1\r\nHost: h\r\n\r\n");
        EXPECT_NE(c.flow().app_state, nullptr);
    }  // LeakSanitizer fails the test if the parser outlives the AppLayer
}

TEST(AppLayerHttp, ParserCapRefusesNewFlows) {
    AppLayerConfig config;
    config.http.max_parsers = 1;
    AppLayer app(config);
    Conversation a = http_conversation(40001);
    Conversation b = http_conversation(40002);
    EXPECT_TRUE(a.send(app, kToServer, "GET /a HTTP/1.1\r\nHost: h\r\n\r\n").any);
    EXPECT_FALSE(b.send(app, kToServer, "GET /b HTTP/1.1\r\nHost: h\r\n\r\n").any);
    EXPECT_EQ(app.stats().http_parsers_refused.load(), 1u);
    EXPECT_FALSE(b.send(app, kToServer, "GET /b2 HTTP/1.1\r\nHost: h\r\n\r\n").any);
    EXPECT_EQ(app.stats().http_parsers_refused.load(), 1u);  // decided once per flow
    app.release(a.flow());
    app.release(b.flow());
}

TEST(AppLayerHttp, MemcapRefusesNewFlowsAndTruncatesBodies) {
    AppLayerConfig config;
    config.memcap_bytes = 100;  // less than one parser
    AppLayer app(config);
    Conversation a = http_conversation();
    EXPECT_FALSE(a.send(app, kToServer, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").any);
    EXPECT_EQ(app.stats().http_parsers_refused.load(), 1u);
    app.release(a.flow());

    AppLayerConfig room;
    room.memcap_bytes = kHttpSessionEstimate + 1024;  // a parser but no body buffer
    AppLayer app2(room);
    Conversation b = http_conversation();
    core::AppBuffers out = b.send(app2, kToServer,
                                  "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n"
                                  "0123456789");
    EXPECT_EQ(buf(out, BufferKind::kHttpMethod), "POST");
    EXPECT_EQ(buf(out, BufferKind::kHttpRequestBody), "");
    EXPECT_EQ(app2.stats().http_body_bytes_truncated.load(), 10u);
    EXPECT_LE(app2.memory_bytes(), room.memcap_bytes);
    app2.release(b.flow());
}

TEST(AppLayerHttp, NonHttpFlowIsIgnoredOnceClassified) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation(40000, 8081);
    EXPECT_FALSE(c.send(app, kToServer, "HELLO there\r\n").any);
    EXPECT_EQ(c.flow().app_state, nullptr);  // classification pending: keep looking
    c.flow().app.state = core::ClassifyState::kGaveUp;
    std::snprintf(c.flow().app.app_proto, sizeof(c.flow().app.app_proto), "failed");
    EXPECT_FALSE(c.send(app, kToServer, "MORE text\r\n").any);
    EXPECT_NE(c.flow().app_state, nullptr);  // decided: not parsed
    EXPECT_FALSE(c.send(app, kToServer, "GET / HTTP/1.1\r\nHost: h\r\n\r\n").any);
    EXPECT_EQ(app.stats().http_parsers_created.load(), 0u);
    app.release(c.flow());
    EXPECT_EQ(c.flow().app_state, nullptr);
}

TEST(AppLayerHttp, ClassifierVerdictSelectsHttpOnAnyPort) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation(40000, 9999);
    c.flow().app.state = core::ClassifyState::kClassified;
    std::snprintf(c.flow().app.app_proto, sizeof(c.flow().app.app_proto), "http");
    core::AppBuffers out = c.send(app, kToServer, "get /lower HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpMethod), "get");
    EXPECT_EQ(buf(out, BufferKind::kHttpUri), "/lower");
    app.release(c.flow());
}

TEST(AppLayerHttp, MalformedChunkedBodyCountsAParseError) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    core::AppBuffers out = c.send(app, kToServer,
                                  "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                                  "ZZ\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpMethod), "POST");  // what came before the error
    EXPECT_EQ(app.stats().http_parse_errors.load(), 1u);
    EXPECT_FALSE(c.send(app, kToServer, "GET /next HTTP/1.1\r\n\r\n").any);
    EXPECT_EQ(app.stats().http_parsers_active.load(), 0u);
    app.release(c.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

TEST(AppLayerHttp, LineHeaderNamesStartAndSingleHeaderBuffersPerDirection) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    // The header block arrives in two segments: the raw view joins them.
    c.send(app, kToServer,
           "POST /up?a=1 HTTP/1.0\r\nHost: h\r\nReferer: http://r.example/\r\n"
           "Accept: text/*\r\nAccept-Encoding: gzip\r\n");
    core::AppBuffers req = c.send(app, kToServer,
                                  "Accept-Language: fr\r\nConnection: close\r\n"
                                  "Content-Type: application/x-www-form-urlencoded\r\n"
                                  "Content-Length: 3\r\nCookie: c=1\r\n\r\n");
    const std::vector<std::pair<BufferKind, std::string>> want_req = {
        {BufferKind::kHttpRequestLine, "POST /up?a=1 HTTP/1.0"},
        {BufferKind::kHttpProtocol, "HTTP/1.0"},
        {BufferKind::kHttpHeaderNames,
         "\r\nHost\r\nReferer\r\nAccept\r\nAccept-Encoding\r\nAccept-Language\r\n"
         "Connection\r\nContent-Type\r\nContent-Length\r\nCookie\r\n\r\n"},
        {BufferKind::kHttpStart,
         "POST /up?a=1 HTTP/1.0\r\nHost: h\r\nReferer: http://r.example/\r\nAccept: text/*\r\n"
         "Accept-Encoding: gzip\r\nAccept-Language: fr\r\nConnection: close\r\n"
         "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"
         "Cookie: c=1\r\n\r\n"},
        {BufferKind::kHttpHeaderRaw,
         "Host: h\r\nReferer: http://r.example/\r\nAccept: text/*\r\nAccept-Encoding: gzip\r\n"
         "Accept-Language: fr\r\nConnection: close\r\n"
         "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 3\r\n"
         "Cookie: c=1\r\n\r\n"},
        {BufferKind::kHttpContentType, "application/x-www-form-urlencoded"},
        {BufferKind::kHttpContentLen, "3"},
        {BufferKind::kHttpReferer, "http://r.example/"},
        {BufferKind::kHttpAccept, "text/*"},
        {BufferKind::kHttpAcceptEnc, "gzip"},
        {BufferKind::kHttpAcceptLang, "fr"},
        {BufferKind::kHttpConnection, "close"},
        // Response views are empty until the response comes.
        {BufferKind::kHttpResponseLine, ""},
        {BufferKind::kHttpStatMsg, ""},
        {BufferKind::kHttpServer, ""},
        {BufferKind::kHttpLocation, ""},
    };
    for (const auto& [kind, text] : want_req) {
        EXPECT_EQ(buf(req, kind), text) << core::kBufferKindNames[static_cast<size_t>(kind)];
    }
    c.send(app, kToServer, "a=b");

    core::AppBuffers res = c.send(app, kToClient,
                                  "HTTP/1.1 301 Moved Permanently\r\nServer: nginx\r\n"
                                  "Location: /next\r\nContent-Type: text/html\r\n"
                                  "Content-Length: 0\r\n\r\n");
    const std::vector<std::pair<BufferKind, std::string>> want_res = {
        {BufferKind::kHttpResponseLine, "HTTP/1.1 301 Moved Permanently"},
        {BufferKind::kHttpStatMsg, "Moved Permanently"},
        {BufferKind::kHttpProtocol, "HTTP/1.1"},  // the response's, on a response packet
        {BufferKind::kHttpHeaderNames,
         "\r\nServer\r\nLocation\r\nContent-Type\r\nContent-Length\r\n\r\n"},
        {BufferKind::kHttpStart,
         "HTTP/1.1 301 Moved Permanently\r\nServer: nginx\r\nLocation: /next\r\n"
         "Content-Type: text/html\r\nContent-Length: 0\r\n\r\n"},
        {BufferKind::kHttpHeaderRaw,
         "Server: nginx\r\nLocation: /next\r\nContent-Type: text/html\r\n"
         "Content-Length: 0\r\n\r\n"},
        {BufferKind::kHttpContentType, "text/html"},
        {BufferKind::kHttpContentLen, "0"},
        {BufferKind::kHttpServer, "nginx"},
        {BufferKind::kHttpLocation, "/next"},
        // The transaction's request views stay visible, as http.uri does.
        {BufferKind::kHttpRequestLine, "POST /up?a=1 HTTP/1.0"},
        {BufferKind::kHttpReferer, "http://r.example/"},
    };
    for (const auto& [kind, text] : want_res) {
        EXPECT_EQ(buf(res, kind), text) << core::kBufferKindNames[static_cast<size_t>(kind)];
    }
    app.release(c.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

// Single-header buffers take the header libhtp's own lookup finds: the name in any case;
// names that share a first letter or a prefix with ours are other headers.
TEST(AppLayerHttp, SingleHeaderBuffersFollowLibhtpNameMatching) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    using namespace std::string_literals;
    core::AppBuffers req = c.send(app, kToServer,
                                  "GET / HTTP/1.1\r\nHOST: h.example\r\nAccept-Charset: utf-8\r\n"
                                  "Connection-Token: t\r\nCONNECTION: keep-alive\r\n"
                                  "aCCEPT: text/html\r\nContent-Typo: x\r\nUser-Agents: no\r\n"
                                  "Content-Type: text/plain\r\nCookie: k=v\r\n\r\n"s);
    EXPECT_EQ(buf(req, BufferKind::kHttpHostRaw), "h.example");
    EXPECT_EQ(buf(req, BufferKind::kHttpAccept), "text/html");
    EXPECT_EQ(buf(req, BufferKind::kHttpConnection), "keep-alive");
    EXPECT_EQ(buf(req, BufferKind::kHttpContentType), "text/plain");
    EXPECT_EQ(buf(req, BufferKind::kHttpCookie), "k=v");
    EXPECT_EQ(buf(req, BufferKind::kHttpUserAgent), "");
    EXPECT_EQ(buf(req, BufferKind::kHttpAcceptEnc), "");

    core::AppBuffers res =
        c.send(app, kToClient,
               "HTTP/1.1 302 Found\r\nServers: no\r\nsErVeR: s1\r\nLOCATION: /l\r\n"
               "Set-Cookie2: old\r\nSet-Cookie: new\r\nContent-Length: 0\r\n\r\n"s);
    EXPECT_EQ(buf(res, BufferKind::kHttpServer), "s1");
    EXPECT_EQ(buf(res, BufferKind::kHttpLocation), "/l");
    EXPECT_EQ(buf(res, BufferKind::kHttpCookie), "new");
    EXPECT_EQ(buf(res, BufferKind::kHttpContentLen), "0");
    app.release(c.flow());
}

TEST(AppLayerHttp, RequestWithoutHeadersHasALineButNoHeaderNames) {
    AppLayer app{AppLayerConfig{}};
    Conversation c = http_conversation();
    core::AppBuffers out = c.send(app, kToServer, "GET /a HTTP/1.1\r\n\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpRequestLine), "GET /a HTTP/1.1");
    EXPECT_EQ(buf(out, BufferKind::kHttpHeaderNames), "");
    EXPECT_EQ(buf(out, BufferKind::kHttpStart), "GET /a HTTP/1.1\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpHeaderRaw), "\r\n");
    app.release(c.flow());
}

}  // namespace
}  // namespace sensor::applayer
