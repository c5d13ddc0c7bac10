// App-layer buffer prefilter scans: a buffer whose bytes are those of its slot's previous scan
// is answered from that scan, and file_data shares one scan with the HTTP body it names.

#include <gtest/gtest.h>

#include <string>

#include "detect_test_support.h"

namespace sensor::detect {
namespace {

using core::BufferKind;
using test_support::buffers;
using test_support::packet;
using test_support::Side;

class BufferScan : public test_support::DetectFixture {
protected:
    uint64_t scans() const { return detector_->stats().buffer_scans.load(); }
    uint64_t reused() const { return detector_->stats().buffers_reused.load(); }
    uint64_t prefilter_hits() const { return detector_->stats().prefilter_hits.load(); }
};

// The same URI and User-Agent again (another transaction, as when a request's buffers come
// back with its response) reuse both scans and fire the same rule; other bytes of the same
// length are scanned, and the first bytes after them are scanned again.
TEST_F(BufferScan, RepeatedBytesReuseTheScanAndMatchAsBefore) {
    load(
        "alert http any any -> any any (http.uri; content:\"/admin\"; sid:1;)\n"
        "alert http any any -> any any (http.user_agent; content:\"curl\"; sid:2;)\n");
    auto p = packet("x");
    const core::AppBuffers first =
        buffers({{BufferKind::kHttpUri, "/admin/x"}, {BufferKind::kHttpUserAgent, "Mozilla"}}, 1);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &first}), Sids{1});
    EXPECT_EQ(scans(), 2u);
    EXPECT_EQ(reused(), 0u);
    EXPECT_EQ(prefilter_hits(), 1u);

    // Equal bytes at other addresses: the memo compares contents, not pointers.
    const std::string uri = "/admin/x";
    const std::string agent = "Mozilla";
    const core::AppBuffers again =
        buffers({{BufferKind::kHttpUri, uri}, {BufferKind::kHttpUserAgent, agent}}, 2);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &again}), Sids{1});
    EXPECT_EQ(scans(), 4u);
    EXPECT_EQ(reused(), 2u);
    EXPECT_EQ(prefilter_hits(), 2u);

    const core::AppBuffers other =
        buffers({{BufferKind::kHttpUri, "/other/x"}, {BufferKind::kHttpUserAgent, "curl/8."}}, 3);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &other}), Sids{2});
    EXPECT_EQ(reused(), 2u);

    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &first}), Sids{1});
    EXPECT_EQ(reused(), 2u);
    EXPECT_EQ(scans(), 8u);
}

// A buffer longer than the memo holds is scanned every time.
TEST_F(BufferScan, LongBufferIsAlwaysScanned) {
    load("alert http any any -> any any (http.header; content:\"X-Tag: 7\"; sid:1;)\n");
    auto p = packet("x");
    const std::string header = std::string(Detector::kMemoBytes, 'a') + "\r\nX-Tag: 7\r\n";
    const core::AppBuffers b = buffers({{BufferKind::kHttpHeader, header}}, 1);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &b}), Sids{1});
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &b}), Sids{1});
    EXPECT_EQ(scans(), 2u);
    EXPECT_EQ(reused(), 0u);
}

// file_data is the body of the packet's direction: one joint scan finds the patterns of both
// slots. A response body reported on a packet to the server is not file_data there and is
// scanned with its own database.
TEST_F(BufferScan, FileDataSharesOneScanWithTheBodyOfItsDirection) {
    load(
        "alert http any any -> any any (flow:to_client; http.response_body; "
        "content:\"secret-token\"; sid:10;)\n"
        "alert http any any -> any any (flow:to_client; file_data; content:\"MZ-payload\"; "
        "sid:11;)\n"
        "alert http any any -> any any (flow:to_server; http.request_body; "
        "content:\"password=\"; sid:12;)\n"
        "alert http any any -> any any (flow:to_server; file_data; content:\"upload-part\"; "
        "sid:13;)\n"
        "alert http any any -> any any (http.response_body; content:\"other-side\"; sid:14;)\n");
    ASSERT_NE(db_->compiled().body_database(true), nullptr);
    ASSERT_NE(db_->compiled().body_database(false), nullptr);
    auto p = packet("x");

    const core::AppBuffers response =
        buffers({{BufferKind::kHttpResponseBody, "xx secret-token yy MZ-payload"}}, 1);
    EXPECT_EQ(fired(p, Side{"http", {}, false, true, &response}), (Sids{10, 11}));
    EXPECT_EQ(scans(), 1u);

    const core::AppBuffers request =
        buffers({{BufferKind::kHttpRequestBody, "password=1&upload-part"}}, 2);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &request}), (Sids{12, 13}));
    EXPECT_EQ(scans(), 2u);

    const core::AppBuffers both = buffers({{BufferKind::kHttpRequestBody, "upload-part"},
                                           {BufferKind::kHttpResponseBody, "other-side"}},
                                          3);
    EXPECT_EQ(fired(p, Side{"http", {}, true, true, &both}), (Sids{13, 14}));
    EXPECT_EQ(scans(), 4u);
}

// Without patterns on the body itself there is no joint database: file_data keeps its own.
TEST_F(BufferScan, FileDataAloneKeepsItsOwnDatabase) {
    load("alert http any any -> any any (file_data; content:\"MZ-payload\"; sid:1;)\n");
    EXPECT_EQ(db_->compiled().body_database(true), nullptr);
    EXPECT_EQ(db_->compiled().body_database(false), nullptr);
    auto p = packet("x");
    const core::AppBuffers response =
        buffers({{BufferKind::kHttpResponseBody, "..MZ-payload.."}}, 1);
    EXPECT_EQ(fired(p, Side{"http", {}, false, true, &response}), Sids{1});
    EXPECT_EQ(scans(), 1u);
}

}  // namespace
}  // namespace sensor::detect
