#include "bench/trafficgen/payloads.h"

#include <array>
#include <cstdio>
#include <ctime>

namespace sensor::trafficgen {
namespace {

void put8(Bytes& out, uint64_t v) { out.push_back(static_cast<uint8_t>(v)); }

void put16(Bytes& out, uint64_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

void put32(Bytes& out, uint64_t v) {
    put16(out, v >> 16);
    put16(out, v);
}

void append(Bytes& out, std::span<const uint8_t> b) { out.insert(out.end(), b.begin(), b.end()); }

void append(Bytes& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }

// Length-prefixed block: writes a placeholder of `width` bytes, returns its offset.
size_t open_block(Bytes& out, int width) {
    const size_t at = out.size();
    out.insert(out.end(), static_cast<size_t>(width), 0);
    return at;
}

void close_block(Bytes& out, size_t at, int width) {
    size_t len = out.size() - at - static_cast<size_t>(width);
    for (int i = width - 1; i >= 0; --i) {
        out[at + static_cast<size_t>(i)] = static_cast<uint8_t>(len);
        len >>= 8;
    }
}

void put_dns_name(Bytes& out, std::string_view name) {
    while (!name.empty()) {
        const size_t dot = name.find('.');
        const std::string_view label = name.substr(0, dot);
        put8(out, label.size());
        append(out, label);
        name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
    }
    put8(out, 0);
}

void put_edns_opt(Bytes& out) {
    put8(out, 0);      // root name
    put16(out, 41);    // OPT
    put16(out, 1232);  // UDP payload size
    put32(out, 0);     // extended rcode, version, flags
    put16(out, 0);     // no options
}

Bytes modbus_frame(uint16_t tid, uint8_t unit, const Bytes& pdu) {
    Bytes out;
    put16(out, tid);
    put16(out, 0);
    put16(out, pdu.size() + 1);
    put8(out, unit);
    append(out, pdu);
    return out;
}

constexpr std::array<std::string_view, 48> kWords = {
    "network",  "update",   "meeting",  "report",  "quarter", "customer", "service",   "schedule",
    "project",  "office",   "policy",   "travel",  "budget",  "review",   "team",      "product",
    "release",  "notes",    "support",  "weather", "market",  "training", "printer",   "calendar",
    "holiday",  "delivery", "invoice",  "order",   "summary", "planning", "results",   "growth",
    "partner",  "contract", "storage",  "backup",  "portal",  "manual",   "event",     "workshop",
    "feedback", "design",   "analysis", "archive", "request", "status",   "inventory", "payroll"};

std::string words(Rng& rng, size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) {
        if (i != 0) {
            s += ' ';
        }
        s += rng.pick(std::span<const std::string_view>(kWords));
    }
    return s;
}

}  // namespace

Bytes to_bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

std::string http_date(int64_t ts_us) {
    static constexpr std::array<const char*, 7> kDays = {"Sun", "Mon", "Tue", "Wed",
                                                         "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> kMonths = {
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto secs = static_cast<std::time_t>(ts_us / 1'000'000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    std::snprintf(buf, sizeof(buf), "%s, %02d %s %04d %02d:%02d:%02d GMT",
                  kDays[static_cast<size_t>(tm.tm_wday)], tm.tm_mday,
                  kMonths[static_cast<size_t>(tm.tm_mon)], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

std::string format_request(const HttpRequest& req) {
    std::string s = req.method + " " + req.uri + " HTTP/1.1\r\n";
    s += "Host: " + req.host + "\r\n";
    s += "User-Agent: " + req.user_agent + "\r\n";
    s += "Accept: " + req.accept + "\r\n";
    s += "Accept-Language: en-US,en;q=0.9\r\n";
    s += "Accept-Encoding: gzip, deflate\r\n";
    s += req.extra_headers;
    if (!req.body.empty()) {
        s += "Content-Length: " + std::to_string(req.body.size()) + "\r\n";
    }
    s += "Connection: keep-alive\r\n\r\n";
    s += req.body;
    return s;
}

std::string format_response_head(int status, std::string_view reason, std::string_view server,
                                 std::string_view content_type, size_t body_len, int64_t ts_us,
                                 std::string_view extra_headers) {
    std::string s = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
    s += "Server: " + std::string(server) + "\r\n";
    s += "Date: " + http_date(ts_us) + "\r\n";
    s += "Content-Type: " + std::string(content_type) + "\r\n";
    s += "Content-Length: " + std::to_string(body_len) + "\r\n";
    s += std::string(extra_headers);
    s += "Connection: keep-alive\r\n\r\n";
    return s;
}

Bytes text_body(Rng& rng, std::string_view content_type, size_t len) {
    std::string s;
    if (content_type.starts_with("text/html")) {
        s = "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>" +
            words(rng, 3) + "</title></head>\n<body>\n";
        while (s.size() < len) {
            s += "<p>" + words(rng, 8 + rng.between(0, 40)) + ".</p>\n";
        }
    } else if (content_type.starts_with("application/json")) {
        s = "{\"status\":\"ok\",\"items\":[";
        while (s.size() < len) {
            s += "{\"id\":" + std::to_string(rng.between(1, 99999)) + ",\"name\":\"" +
                 words(rng, 2) + "\"},";
        }
    } else if (content_type.starts_with("text/css")) {
        while (s.size() < len) {
            s += "." + words(rng, 1) + "-" + words(rng, 1) +
                 " { margin: " + std::to_string(rng.between(0, 24)) + "px; color: #" +
                 std::to_string(rng.between(100000, 999999)) + "; }\n";
        }
    } else {
        while (s.size() < len) {
            s += "function " + words(rng, 1) + "_" + std::to_string(rng.between(1, 999)) +
                 "(a, b) { return a + b * " + std::to_string(rng.between(1, 99)) + "; }\n";
        }
    }
    s.resize(len);
    return to_bytes(s);
}

Bytes binary_body(Rng& rng, size_t len) {
    static constexpr std::array<uint8_t, 8> kPng = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    Bytes out(len);
    rng.fill(out);
    for (size_t i = 0; i < kPng.size() && i < len; ++i) {
        out[i] = kPng[i];
    }
    return out;
}

Bytes dns_query(uint16_t id, std::string_view name, uint16_t qtype, bool edns) {
    Bytes out;
    put16(out, id);
    put16(out, 0x0100);  // standard query, recursion desired
    put16(out, 1);
    put16(out, 0);
    put16(out, 0);
    put16(out, edns ? 1 : 0);
    put_dns_name(out, name);
    put16(out, qtype);
    put16(out, 1);
    if (edns) {
        put_edns_opt(out);
    }
    return out;
}

Bytes dns_response(uint16_t id, std::string_view name, uint16_t qtype,
                   std::span<const DnsAnswer> answers, bool edns) {
    Bytes out;
    put16(out, id);
    put16(out, 0x8180);  // response, RD, RA, no error
    put16(out, 1);
    put16(out, answers.size());
    put16(out, 0);
    put16(out, edns ? 1 : 0);
    put_dns_name(out, name);
    put16(out, qtype);
    put16(out, 1);
    for (const DnsAnswer& a : answers) {
        put16(out, 0xc00c);  // pointer to the question name
        put16(out, a.type);
        put16(out, 1);
        put32(out, a.ttl);
        put16(out, a.rdata.size());
        append(out, a.rdata);
    }
    if (edns) {
        put_edns_opt(out);
    }
    return out;
}

Bytes tls_client_hello(Rng& rng, std::string_view sni, std::span<const uint8_t> session_id) {
    static constexpr std::array<uint16_t, 15> kCiphers = {0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f,
                                                          0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013,
                                                          0xc014, 0x009c, 0x009d, 0x002f, 0x0035};
    static constexpr std::array<uint16_t, 8> kSigAlgs = {0x0403, 0x0804, 0x0401, 0x0503,
                                                         0x0805, 0x0501, 0x0806, 0x0601};
    Bytes out;
    put8(out, 22);  // handshake record
    put16(out, 0x0301);
    const size_t record = open_block(out, 2);
    put8(out, 1);  // ClientHello
    const size_t hello = open_block(out, 3);
    put16(out, 0x0303);
    std::array<uint8_t, 32> random{};
    rng.fill(random);
    append(out, random);
    put8(out, session_id.size());
    append(out, session_id);
    put16(out, kCiphers.size() * 2);
    for (uint16_t c : kCiphers) {
        put16(out, c);
    }
    put8(out, 1);  // compression methods: null
    put8(out, 0);
    const size_t exts = open_block(out, 2);

    put16(out, 0x0000);  // server_name
    size_t ext = open_block(out, 2);
    put16(out, sni.size() + 3);
    put8(out, 0);  // host_name
    put16(out, sni.size());
    append(out, sni);
    close_block(out, ext, 2);

    put16(out, 0x0017);  // extended_master_secret
    put16(out, 0);
    put16(out, 0xff01);  // renegotiation_info
    put16(out, 1);
    put8(out, 0);
    put16(out, 0x000a);  // supported_groups: x25519, secp256r1, secp384r1
    put16(out, 8);
    put16(out, 6);
    put16(out, 0x001d);
    put16(out, 0x0017);
    put16(out, 0x0018);
    put16(out, 0x000b);  // ec_point_formats: uncompressed
    put16(out, 2);
    put8(out, 1);
    put8(out, 0);
    put16(out, 0x0023);  // session_ticket
    put16(out, 0);

    put16(out, 0x0010);  // ALPN: h2, http/1.1
    ext = open_block(out, 2);
    const size_t list = open_block(out, 2);
    put8(out, 2);
    append(out, std::string_view("h2"));
    put8(out, 8);
    append(out, std::string_view("http/1.1"));
    close_block(out, list, 2);
    close_block(out, ext, 2);

    put16(out, 0x0005);  // status_request: OCSP
    put16(out, 5);
    put8(out, 1);
    put16(out, 0);
    put16(out, 0);
    put16(out, 0x000d);  // signature_algorithms
    put16(out, kSigAlgs.size() * 2 + 2);
    put16(out, kSigAlgs.size() * 2);
    for (uint16_t a : kSigAlgs) {
        put16(out, a);
    }
    put16(out, 0x0012);  // signed_certificate_timestamp
    put16(out, 0);

    put16(out, 0x0033);  // key_share: one x25519 share
    put16(out, 38);
    put16(out, 36);
    put16(out, 0x001d);
    put16(out, 32);
    std::array<uint8_t, 32> key{};
    rng.fill(key);
    append(out, key);

    put16(out, 0x002d);  // psk_key_exchange_modes: psk_dhe_ke
    put16(out, 2);
    put8(out, 1);
    put8(out, 1);
    put16(out, 0x002b);  // supported_versions: TLS 1.3, TLS 1.2
    put16(out, 5);
    put8(out, 4);
    put16(out, 0x0304);
    put16(out, 0x0303);

    close_block(out, exts, 2);
    close_block(out, hello, 3);
    close_block(out, record, 2);
    return out;
}

Bytes tls_server_hello(Rng& rng, bool tls13, std::span<const uint8_t> session_id) {
    Bytes out;
    put8(out, 22);
    put16(out, 0x0303);
    const size_t record = open_block(out, 2);
    put8(out, 2);  // ServerHello
    const size_t hello = open_block(out, 3);
    put16(out, 0x0303);
    std::array<uint8_t, 32> random{};
    rng.fill(random);
    append(out, random);
    put8(out, session_id.size());
    append(out, session_id);
    put16(out, tls13 ? 0x1301 : 0xc02f);
    put8(out, 0);
    const size_t exts = open_block(out, 2);
    if (tls13) {
        put16(out, 0x002b);  // supported_versions: TLS 1.3
        put16(out, 2);
        put16(out, 0x0304);
        put16(out, 0x0033);  // key_share
        put16(out, 36);
        put16(out, 0x001d);
        put16(out, 32);
        std::array<uint8_t, 32> key{};
        rng.fill(key);
        append(out, key);
    } else {
        put16(out, 0xff01);
        put16(out, 1);
        put8(out, 0);
        put16(out, 0x0017);
        put16(out, 0);
        put16(out, 0x000b);
        put16(out, 2);
        put8(out, 1);
        put8(out, 0);
        put16(out, 0x0010);  // ALPN selected: http/1.1
        put16(out, 11);
        put16(out, 9);
        put8(out, 8);
        append(out, std::string_view("http/1.1"));
    }
    close_block(out, exts, 2);
    close_block(out, hello, 3);
    close_block(out, record, 2);
    return out;
}

Bytes tls_change_cipher_spec() { return Bytes{20, 0x03, 0x03, 0x00, 0x01, 0x01}; }

Bytes tls_encrypted_record(Rng& rng, uint8_t content_type, size_t len) {
    Bytes out;
    put8(out, content_type);
    put16(out, 0x0303);
    put16(out, len);
    const size_t body = out.size();
    out.resize(body + len);
    rng.fill(std::span(out).subspan(body));
    return out;
}

Bytes modbus_read_holding(uint16_t tid, uint8_t unit, uint16_t addr, uint16_t count) {
    Bytes pdu;
    put8(pdu, 3);
    put16(pdu, addr);
    put16(pdu, count);
    return modbus_frame(tid, unit, pdu);
}

Bytes modbus_read_holding_reply(uint16_t tid, uint8_t unit, std::span<const uint16_t> values) {
    Bytes pdu;
    put8(pdu, 3);
    put8(pdu, values.size() * 2);
    for (uint16_t v : values) {
        put16(pdu, v);
    }
    return modbus_frame(tid, unit, pdu);
}

Bytes modbus_write_single(uint16_t tid, uint8_t unit, uint16_t addr, uint16_t value) {
    Bytes pdu;
    put8(pdu, 6);
    put16(pdu, addr);
    put16(pdu, value);
    return modbus_frame(tid, unit, pdu);
}

Bytes modbus_write_multiple(uint16_t tid, uint8_t unit, uint16_t addr,
                            std::span<const uint16_t> values) {
    Bytes pdu;
    put8(pdu, 16);
    put16(pdu, addr);
    put16(pdu, values.size());
    put8(pdu, values.size() * 2);
    for (uint16_t v : values) {
        put16(pdu, v);
    }
    return modbus_frame(tid, unit, pdu);
}

Bytes modbus_write_multiple_reply(uint16_t tid, uint8_t unit, uint16_t addr, uint16_t count) {
    Bytes pdu;
    put8(pdu, 16);
    put16(pdu, addr);
    put16(pdu, count);
    return modbus_frame(tid, unit, pdu);
}

}  // namespace sensor::trafficgen
