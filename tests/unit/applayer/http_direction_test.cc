// HTTP flows whose direction or host the first packets get wrong: a flow picked up mid-stream
// with the server's response first, and a CONNECT whose authority is no host.

#include <gtest/gtest.h>

#include <string>

#include "sensor/applayer/app_layer.h"
#include "tests/unit/applayer/applayer_test_support.h"

namespace sensor::applayer {
namespace {

using core::BufferKind;
using testing::buf;
using testing::Conversation;

constexpr bool kToServer = true;

// Without a SYN the flow table takes the first sender for the client; when that sender
// answers "HTTP/1.0 200 OK", Suricata reverses the flow and parses a response.
TEST(AppLayerHttpDirection, ResponseFirstMidstreamFlowIsParsedAsAResponse) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 8080, 51297);
    core::AppBuffers out =
        c.send(app, kToServer, "HTTP/1.0 200 OK\r\nServer: Apache\r\nContent-Length: 2\r\n\r\nok");
    EXPECT_EQ(buf(out, BufferKind::kHttpStatCode), "200");
    EXPECT_EQ(buf(out, BufferKind::kHttpHeader), "Server: Apache\r\nContent-Length: 2\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpResponseBody), "ok");
    EXPECT_EQ(app.protocol(c.flow()), "http");
    app.release(c.flow());
}

// After a handshake the direction is known: a "client" that sends a status line is not
// reversed, and HTTP is not recognised from it.
TEST(AppLayerHttpDirection, ResponseFromTheClientAfterAHandshakeIsNotReversed) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 8080, 51297);
    c.flow().tcp_flags[0] = decode::kTcpSyn | decode::kTcpAck;
    c.flow().tcp_flags[1] = decode::kTcpSyn | decode::kTcpAck;
    core::AppBuffers out = c.send(app, kToServer, "HTTP/1.0 200 OK\r\nServer: Apache\r\n\r\n");
    EXPECT_FALSE(out.any);
    EXPECT_EQ(app.protocol(c.flow()), "");
    app.release(c.flow());
}

// libhtp takes CONNECT's request target for an authority and keeps "/" as the host name;
// it is no host, so http.host is absent (and a Host header would stand instead).
TEST(AppLayerHttpDirection, ConnectWithoutAuthorityHasNoHost) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 44123, 80);
    core::AppBuffers out = c.send(app, kToServer, "CONNECT / HTTP/1.1\r\nMp-Country: US\r\n\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpMethod), "CONNECT");
    EXPECT_EQ(out.get(BufferKind::kHttpHost).data(), nullptr);
    EXPECT_EQ(out.get(BufferKind::kHttpHostRaw).data(), nullptr);

    Conversation h(decode::kIpProtoTcp, 44124, 80);
    out = h.send(app, kToServer, "CONNECT / HTTP/1.1\r\nHost: Proxy.Example:3128\r\n\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpHost), "proxy.example");
    EXPECT_EQ(buf(out, BufferKind::kHttpHostRaw), "Proxy.Example:3128");

    Conversation ok(decode::kIpProtoTcp, 44125, 80);
    out = ok.send(app, kToServer, "CONNECT Secure.Example:443 HTTP/1.1\r\n\r\n");
    EXPECT_EQ(buf(out, BufferKind::kHttpHost), "secure.example");
    app.release(c.flow());
    app.release(h.flow());
    app.release(ok.flow());
}

// A header that is there without a value is an empty buffer, not a missing one.
TEST(AppLayerHttpDirection, EmptyUserAgentIsPresentButEmpty) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 51136, 8001);
    core::AppBuffers out = c.send(app, kToServer, "GET / HTTP/1.1\r\nUser-Agent:\r\n\r\n");
    EXPECT_NE(out.get(BufferKind::kHttpUserAgent).data(), nullptr);
    EXPECT_TRUE(out.get(BufferKind::kHttpUserAgent).empty());
    EXPECT_EQ(out.get(BufferKind::kHttpCookie).data(), nullptr);
    app.release(c.flow());
}

}  // namespace
}  // namespace sensor::applayer
