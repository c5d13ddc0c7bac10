#pragma once
// AppBuffers: the application-layer views of one packet's transaction (HTTP URI, host, DNS
// query, TLS SNI, ...) that sticky-buffer rule keywords match on. Filled per packet by the
// worker's app-layer parsers; spans point into parser-owned memory and stay valid until the
// next packet of the same worker. An empty span means "not present for this packet".

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sensor::core {

enum class BufferKind : uint8_t {
    kHttpUri,           // normalized request URI (http.uri / http_uri)
    kHttpUriRaw,        // raw request URI (http.uri.raw / http_raw_uri)
    kHttpMethod,        // http.method
    kHttpHost,          // http.host (normalized: lower case, no port)
    kHttpHostRaw,       // http.host.raw
    kHttpUserAgent,     // http.user_agent
    kHttpHeader,        // http.header: all request or response headers, "Name: value\r\n"
    kHttpCookie,        // http.cookie
    kHttpStatCode,      // http.stat_code
    kHttpRequestBody,   // http.request_body / http_client_body
    kHttpResponseBody,  // http.response_body / file_data
    kDnsQuery,          // dns.query
    kTlsSni,            // tls.sni
    kJa3Hash,           // ja3.hash (hex)
    kCount,
};

inline constexpr size_t kBufferKindCount = static_cast<size_t>(BufferKind::kCount);

inline constexpr std::array<std::string_view, kBufferKindCount> kBufferKindNames{
    "http.uri",           "http.uri.raw", "http.method", "http.host",      "http.host.raw",
    "http.user_agent",    "http.header",  "http.cookie", "http.stat_code", "http.request_body",
    "http.response_body", "dns.query",    "tls.sni",     "ja3.hash",
};

struct AppBuffers {
    std::array<std::span<const uint8_t>, kBufferKindCount> buffers{};
    // Increments per transaction of the flow (HTTP request/response pair, DNS message):
    // rules on app-layer buffers alert at most once per transaction.
    uint64_t transaction_id = 0;
    bool any = false;

    std::span<const uint8_t> get(BufferKind kind) const noexcept {
        return buffers[static_cast<size_t>(kind)];
    }
    void set(BufferKind kind, std::span<const uint8_t> bytes) noexcept {
        buffers[static_cast<size_t>(kind)] = bytes;
        any = any || !bytes.empty();
    }
    void clear() noexcept {
        buffers = {};
        transaction_id = 0;
        any = false;
    }
};

}  // namespace sensor::core
