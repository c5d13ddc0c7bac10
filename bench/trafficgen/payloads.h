#pragma once
// Application payloads: HTTP/1.1, DNS, TLS 1.2/1.3 handshakes and records, Modbus/TCP.
// Pure builders over bytes; randomness comes from the caller's Rng.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trafficgen/rng.h"

namespace sensor::trafficgen {

using Bytes = std::vector<uint8_t>;

// The 68-byte EICAR anti-virus test file.
inline constexpr std::string_view kEicar =
    "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
// User-Agent of the simulated NightOwl implant; the C2 rule keys on "NightOwlBot/3.2".
inline constexpr std::string_view kC2UserAgent = "Mozilla/5.0 (Windows NT 6.1) NightOwlBot/3.2";
inline constexpr std::string_view kSqliUri =
    "/products.php?id=1%20UNION%20SELECT%20username,password%20FROM%20users--";

Bytes to_bytes(std::string_view s);

// "Mon, 05 Jan 2026 08:00:00 GMT" for a packet time.
std::string http_date(int64_t ts_us);

struct HttpRequest {
    std::string method = "GET";
    std::string uri;
    std::string host;
    std::string user_agent;
    std::string accept = "*/*";
    std::string extra_headers;  // complete "Name: value\r\n" lines
    std::string body;
};
std::string format_request(const HttpRequest& req);

// Status line and headers of a response whose body has body_len bytes.
std::string format_response_head(int status, std::string_view reason, std::string_view server,
                                 std::string_view content_type, size_t body_len, int64_t ts_us,
                                 std::string_view extra_headers = {});

// Bodies: HTML/CSS/JS/JSON-like text built from harmless words, or binary image data.
Bytes text_body(Rng& rng, std::string_view content_type, size_t len);
Bytes binary_body(Rng& rng, size_t len);

// DNS (RFC 1035). qtype 1 = A, 28 = AAAA.
struct DnsAnswer {
    uint16_t type = 1;
    uint32_t ttl = 300;
    std::vector<uint8_t> rdata;  // 4 bytes for A, 16 for AAAA
};
Bytes dns_query(uint16_t id, std::string_view name, uint16_t qtype, bool edns);
Bytes dns_response(uint16_t id, std::string_view name, uint16_t qtype,
                   std::span<const DnsAnswer> answers, bool edns);

// TLS. The ClientHello offers TLS 1.3 and 1.2 with SNI and ALPN; the ServerHello picks one.
Bytes tls_client_hello(Rng& rng, std::string_view sni, std::span<const uint8_t> session_id);
Bytes tls_server_hello(Rng& rng, bool tls13, std::span<const uint8_t> session_id);
Bytes tls_change_cipher_spec();
// An encrypted record (content type 22 handshake, 23 application data, 21 alert).
Bytes tls_encrypted_record(Rng& rng, uint8_t content_type, size_t len);

// Modbus/TCP: MBAP header (transaction, protocol 0, length, unit) + PDU.
Bytes modbus_read_holding(uint16_t tid, uint8_t unit, uint16_t addr, uint16_t count);
Bytes modbus_read_holding_reply(uint16_t tid, uint8_t unit, std::span<const uint16_t> values);
Bytes modbus_write_single(uint16_t tid, uint8_t unit, uint16_t addr, uint16_t value);
Bytes modbus_write_multiple(uint16_t tid, uint8_t unit, uint16_t addr,
                            std::span<const uint16_t> values);
Bytes modbus_write_multiple_reply(uint16_t tid, uint8_t unit, uint16_t addr, uint16_t count);

}  // namespace sensor::trafficgen
