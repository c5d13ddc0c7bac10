// Detector semantics that follow Suricata where a buffer is present but empty, or absent.

#include <gtest/gtest.h>

#include <span>
#include <vector>

#include "detect_test_support.h"

namespace sensor::detect {
namespace {

using core::BufferKind;
using test_support::buffers;
using test_support::packet;
using test_support::Side;

class DetectSemantics : public test_support::DetectFixture {};

// A `User-Agent:` header without a value is an empty buffer, not a missing one: bsize:0 and
// a negated content match it, a positive content does not, and without the header none do.
TEST_F(DetectSemantics, EmptyAppLayerBufferIsInspectedAbsentOneIsNot) {
    load(
        "alert http any any -> any any (http.user_agent; bsize:0; sid:1;)\n"
        "alert http any any -> any any (http.user_agent; content:!\"u\"; sid:2;)\n"
        "alert http any any -> any any (http.user_agent; content:\"u\"; sid:3;)\n");
    auto p = packet("User-Agent:\r\n");
    core::AppBuffers empty_ua = buffers({{BufferKind::kHttpMethod, "GET"}});
    const char value[] = "";
    empty_ua.set(BufferKind::kHttpUserAgent,
                 std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(value), 0));
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &empty_ua}), (Sids{1, 2}));

    core::AppBuffers no_ua = buffers({{BufferKind::kHttpMethod, "GET"}}, 2);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &no_ua}), Sids{});

    core::AppBuffers ua = buffers({{BufferKind::kHttpUserAgent, "curl"}}, 3);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &ua}), Sids{3});
}

// The payload keeps its rule: an empty payload is never inspected.
TEST_F(DetectSemantics, EmptyPayloadIsNotInspected) {
    load("alert tcp any any -> any any (content:!\"x\"; sid:1;)\n");
    EXPECT_EQ(fired(packet("")), Sids{});
    EXPECT_EQ(fired(packet("abc")), Sids{1});
}

// One packet carrying two pipelined requests: the rule mixing payload and http.uri keywords
// matches the second transaction, inspected in a further pass that leaves payload-only rules
// alone (they fired with the first).
TEST_F(DetectSemantics, ExtraTransactionPassEvaluatesOnlyAppLayerRules) {
    load(
        "alert tcp any any -> any any (pcre:\"/^GET/\"; http.uri; content:\"/two/\"; sid:1;)\n"
        "alert tcp any any -> any any (content:\"GET\"; sid:2;)\n"
        "alert http any any -> any any (http.uri; content:\"/\"; sid:3;)\n");
    auto p = packet("GET /one/ HTTP/1.1\r\n\r\nGET /two/ HTTP/1.1\r\n\r\n");
    flow::FlowDetectState state;
    core::AppBuffers one = buffers({{BufferKind::kHttpUri, "/one/"}}, 1);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &one, &state}), (Sids{2, 3}));
    core::AppBuffers two = buffers({{BufferKind::kHttpUri, "/two/"}}, 2);
    PacketContext ctx;
    ctx.pkt = &p;
    ctx.app_proto = "http";
    ctx.established = true;
    ctx.buffers = &two;
    ctx.flow_state = &state;
    ctx.extra_transaction = true;
    detector_->match(ctx, out_);
    Sids sids;
    for (size_t i = 0; i < out_.count; ++i) {
        sids.push_back(db_->rule(out_.rule_index[i]).sid);
    }
    EXPECT_EQ(sids, (Sids{1, 3}));
}

}  // namespace
}  // namespace sensor::detect
