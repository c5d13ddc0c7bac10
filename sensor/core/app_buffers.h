#pragma once
// AppBuffers: the application-layer views of one packet's transaction (HTTP URI, host, DNS
// query, TLS SNI, ...) that sticky-buffer rule keywords match on. Filled per packet by the
// worker's app-layer parsers; spans point into parser-owned memory and stay valid until the
// next packet of the same worker. A span without data (nullptr) means "not present for this
// packet"; one with data and size 0 is present but empty (`User-Agent:` with no value), which
// bsize:0 and negated contents match.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace sensor::core {

enum class BufferKind : uint8_t {
    kHttpUri,        // normalized request URI (http.uri / http_uri)
    kHttpUriRaw,     // raw request URI (http.uri.raw / http_raw_uri)
    kHttpMethod,     // http.method
    kHttpHost,       // http.host (normalized: lower case, no port)
    kHttpHostRaw,    // http.host.raw
    kHttpUserAgent,  // http.user_agent
    kHttpHeader,     // http.header: all request or response headers, "Name: value\r\n"
    kHttpCookie,     // http.cookie
    kHttpStatCode,   // http.stat_code
    // Request line without CRLF ("GET /a HTTP/1.1"), to server.
    kHttpRequestLine,
    // Status line without CRLF ("HTTP/1.1 200 OK"), to client.
    kHttpResponseLine,
    kHttpProtocol,  // http.protocol: "HTTP/1.1" of the request (to server) or response
    kHttpStatMsg,   // http.stat_msg: reason phrase, to client
    // http.header_names: "\r\nName1\r\nName2\r\n\r\n", headers of the packet's direction.
    kHttpHeaderNames,
    // http.start: request or response line, "\r\n", "Name: value\r\n" per header, "\r\n".
    kHttpStart,
    kHttpContentType,  // http.content_type: Content-Type of the packet's direction
    kHttpContentLen,   // http.content_len: Content-Length of the packet's direction
    kHttpReferer,      // http.referer (request)
    kHttpAccept,       // http.accept (request)
    kHttpAcceptEnc,    // http.accept_enc: Accept-Encoding (request)
    kHttpAcceptLang,   // http.accept_lang: Accept-Language (request)
    kHttpConnection,   // http.connection (request)
    kHttpLocation,     // http.location (response)
    kHttpServer,       // http.server (response)
    // http.header.raw: the header block as received (after the request or status line, up
    // to and with the empty line), packet's direction; the first 32 KiB.
    kHttpHeaderRaw,
    // Every HTTP kind lies between kHttpUri and kHttpResponseBody: code that asks "is this
    // an HTTP buffer" compares against that range.
    kHttpRequestBody,   // http.request_body / http_client_body
    kHttpResponseBody,  // http.response_body / file_data
    kDnsQuery,          // dns.query
    // Every TLS kind lies from kTlsSni to the end (code that asks "is this a TLS buffer").
    kTlsSni,     // tls.sni
    kJa3Hash,    // ja3.hash (hex)
    kJa3String,  // ja3.string: "771,4865-4866,0-23-65281,29-23,0"
    kJa3sHash,   // ja3s.hash (hex), to client
    // The server's first certificate, as Suricata formats it, to client.
    kTlsCertSubject,  // tls.cert_subject: "C=US, O=Example, CN=example.com"
    kTlsCertIssuer,   // tls.cert_issuer
    kTlsCertSerial,   // tls.cert_serial: "0A:1B:..."
    // tls.certs: one DER certificate of the server's chain. Suricata inspects each one in
    // turn; the app layer reports each as its own view of the same transaction.
    kTlsCerts,
    kCount,
};

inline constexpr size_t kBufferKindCount = static_cast<size_t>(BufferKind::kCount);

inline constexpr std::array<std::string_view, kBufferKindCount> kBufferKindNames{
    "http.uri",         "http.uri.raw",      "http.method",        "http.host",
    "http.host.raw",    "http.user_agent",   "http.header",        "http.cookie",
    "http.stat_code",   "http.request_line", "http.response_line", "http.protocol",
    "http.stat_msg",    "http.header_names", "http.start",         "http.content_type",
    "http.content_len", "http.referer",      "http.accept",        "http.accept_enc",
    "http.accept_lang", "http.connection",   "http.location",      "http.server",
    "http.header.raw",  "http.request_body", "http.response_body", "dns.query",
    "tls.sni",          "ja3.hash",          "ja3.string",         "ja3s.hash",
    "tls.cert_subject", "tls.cert_issuer",   "tls.cert_serial",    "tls.certs",
};
static_assert(!kBufferKindNames.back().empty(), "a buffer kind has no name");

struct AppBuffers {
    // One bit per BufferKind that was set since the last clear(): get() answers "not present"
    // for the others, so clear() resets one word instead of every span (it runs for most
    // packets, and most packets set no buffer at all).
    static_assert(kBufferKindCount <= 64, "the set mask has one bit per buffer kind");
    uint64_t set_mask = 0;
    std::array<std::span<const uint8_t>, kBufferKindCount> buffers{};  // valid where set_mask says
    // Increments per transaction of the flow (HTTP request/response pair, DNS message):
    // rules on app-layer buffers alert at most once per transaction.
    uint64_t transaction_id = 0;
    bool any = false;

    std::span<const uint8_t> get(BufferKind kind) const noexcept {
        const auto k = static_cast<size_t>(kind);
        return (set_mask >> k & 1) != 0 ? buffers[k] : std::span<const uint8_t>{};
    }
    void set(BufferKind kind, std::span<const uint8_t> bytes) noexcept {
        const auto k = static_cast<size_t>(kind);
        buffers[k] = bytes;
        set_mask |= uint64_t{1} << k;
        any = any || bytes.data() != nullptr;
    }
    // Whether any kind from `first` to `last` (inclusive) holds bytes.
    bool any_between(BufferKind first, BufferKind last) const noexcept {
        for (auto k = static_cast<size_t>(first); k <= static_cast<size_t>(last); ++k) {
            if (!get(static_cast<BufferKind>(k)).empty()) {
                return true;
            }
        }
        return false;
    }
    void clear() noexcept {
        set_mask = 0;
        transaction_id = 0;
        any = false;
    }
};

}  // namespace sensor::core
