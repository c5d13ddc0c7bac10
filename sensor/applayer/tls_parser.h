#pragma once
// TLS handshake parsing: the ClientHello (tls.sni, ja3.hash) and the server's ServerHello
// (ja3s.hash) and Certificate (tls.cert_*, tls.certs). The assemblers rebuild messages from
// records split over segments (bounded, one per flow that needs it); the parse functions are
// pure and read the messages in place.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "sensor/applayer/memory_budget.h"

namespace sensor::applayer {

// Largest ClientHello handshake message (4-byte header included) we reassemble. Real hellos
// are well under 2 KiB, or about 4 KiB with post-quantum key shares.
inline constexpr size_t kTlsMaxHelloBytes = 16384;

struct ClientHello {
    uint16_t version = 0;                       // legacy_version of the hello body
    std::span<const uint8_t> cipher_suites;     // 2 bytes each
    std::span<const uint8_t> extensions;        // the extension block: (type, length, data)*
    std::span<const uint8_t> sni;               // first host_name of server_name; empty if none
    std::span<const uint8_t> supported_groups;  // extension 10: 2 bytes each
    std::span<const uint8_t> ec_point_formats;  // extension 11: 1 byte each
    // The first known version (tls_version_known) listed in supported_versions (extension 43,
    // TLS 1.3); 0 when absent.
    uint16_t preferred_version = 0;
};

enum class TlsParse : uint8_t {
    kOk,
    kNotClientHello,  // another handshake type
    kMalformed,       // a length runs past its container
};

// msg: one whole handshake message (type, 3-byte length, body). Spans in out point into msg.
TlsParse parse_client_hello(std::span<const uint8_t> msg, ClientHello& out) noexcept;

// True when the segment starts like a TLS handshake record carrying a ClientHello.
bool looks_like_client_hello(std::span<const uint8_t> segment) noexcept;

// The ClientHello message when the segment's first record holds all of it (the common case:
// no copy needed); empty otherwise.
std::span<const uint8_t> whole_client_hello(std::span<const uint8_t> segment) noexcept;

// The JA3 string: "version,ciphers,extensions,groups,point_formats", decimal values joined by
// '-', GREASE values (RFC 8701) left out. out is cleared first; it allocates only when its
// capacity is too small.
void ja3_text(const ClientHello& hello, std::string& out);

// Lower-case hex MD5 of bytes, NUL-terminated.
void md5_hex(std::span<const uint8_t> bytes, std::array<char, 33>& out) noexcept;

// What the TLS records that start in one segment are: walked from the segment's first byte
// while each header is a plausible record header (content type 20..24, version 3.x, length
// at most 2^14 + 2048). A segment that starts inside a record yields nothing.
struct TlsRecordScan {
    bool change_cipher_spec = false;  // a ChangeCipherSpec record (type 20)
    bool application_data = false;    // an application data record (type 23)
};
TlsRecordScan scan_tls_records(std::span<const uint8_t> segment) noexcept;

// Collects the client's handshake records until one ClientHello message is complete.
class TlsHelloAssembler {
public:
    enum class State : uint8_t {
        kNeedMore,
        kComplete,      // message() holds the whole handshake message
        kNotHandshake,  // a record that is not a handshake, or a handshake that is no hello
        kTooLarge,      // the message would exceed kTlsMaxHelloBytes
    };

    // Feeds the next in-order bytes of the client's stream. Allocates the message buffer once,
    // sized from the handshake header. Bytes after the complete message are ignored.
    State feed(std::span<const uint8_t> bytes);
    State state() const noexcept { return state_; }
    std::span<const uint8_t> message() const noexcept { return {msg_.data(), msg_.size()}; }
    size_t capacity_bytes() const noexcept { return msg_.capacity(); }

private:
    std::array<uint8_t, 5> header_{};
    size_t header_have_ = 0;
    size_t record_left_ = 0;
    std::array<uint8_t, 4> hs_header_{};
    size_t hs_header_have_ = 0;
    size_t msg_total_ = 0;  // 0 until the 4-byte handshake header is in
    std::vector<uint8_t> msg_;
    State state_ = State::kNeedMore;
};

// The most of the server's Certificate message kept per flow; the rest of a longer chain is
// skipped and counted as truncated (the server's own certificate comes first).
inline constexpr size_t kTlsMaxCertificateBytes = 65536;
// Certificates of one chain exposed to tls.certs.
inline constexpr size_t kTlsMaxChainCertificates = 16;

struct ServerHello {
    uint16_t version = 0;  // legacy_version of the hello body
    uint16_t cipher_suite = 0;
    std::span<const uint8_t> extensions;  // the extension block; empty if none
    uint16_t selected_version = 0;        // supported_versions (TLS 1.3); 0 when absent
};

// SSL 3.0 to TLS 1.3 and the TLS 1.3 drafts (0x7f01, 0x7f10-0x7f1c, Facebook's 0xfb14-0xfb17
// and 0xfb1a): the versions Suricata takes from a supported_versions list.
bool tls_version_known(uint16_t version) noexcept;

// The version Suricata's tls.version sees for the side that sent the hello: the ClientHello's
// preferred_version, else its legacy_version; the ServerHello's selected_version when above
// TLS 1.2, else its legacy_version.
uint16_t hello_version(const ClientHello& hello) noexcept;
uint16_t hello_version(const ServerHello& hello) noexcept;

// msg: one whole handshake message. kNotClientHello stands for "another handshake type".
TlsParse parse_server_hello(std::span<const uint8_t> msg, ServerHello& out) noexcept;

// The JA3S string: "version,cipher,extensions", decimal, extensions joined by '-', GREASE
// left out (as Suricata builds it). out is cleared first.
void ja3s_text(const ServerHello& hello, std::string& out);

// The certificates (DER) of a TLS 1.0-1.2 Certificate message, at most out.size(). msg may be
// cut short (truncated chain): the certificates wholly inside it are returned. Returns how
// many were stored; 0 for another message type or a malformed list.
size_t split_certificates(std::span<const uint8_t> msg,
                          std::span<std::span<const uint8_t>> out) noexcept;

// Follows the server's handshake records and keeps its ServerHello and Certificate
// messages. Stops at the end of the server's handshake flight, at a ChangeCipherSpec (TLS 1.3
// or a resumed session: what follows is encrypted), or at a record that is not TLS. Alert
// records are skipped.
class TlsServerAssembler {
public:
    enum class State : uint8_t {
        kNeedMore,
        kFinished,    // nothing more to read from this side
        kNotTls,      // a record header that is not TLS
        kOverBudget,  // the memory budget refused a message buffer
    };

    // Feeds the next in-order bytes of the server's stream. Message buffers are allocated
    // when a ServerHello or Certificate starts, sized from its header (the certificate buffer
    // at most kTlsMaxCertificateBytes) and charged to budget; refund_all() gives it back.
    State feed(std::span<const uint8_t> bytes, MemoryBudget& budget);
    State state() const noexcept { return state_; }

    // Each complete message once: empty until it is complete, and after it was taken.
    std::span<const uint8_t> take_server_hello() noexcept;
    std::span<const uint8_t> take_certificate() noexcept;
    // The Certificate message, as kept, while the assembler lives.
    std::span<const uint8_t> certificate() const noexcept { return {cert_.data(), cert_.size()}; }

    // Certificate bytes past kTlsMaxCertificateBytes that were skipped.
    size_t truncated_bytes() const noexcept { return truncated_; }
    size_t charged_bytes() const noexcept { return charged_; }
    void refund_all(MemoryBudget& budget) noexcept;

private:
    bool begin_message(MemoryBudget& budget);
    void end_message() noexcept;

    std::array<uint8_t, 5> header_{};
    size_t header_have_ = 0;
    size_t record_left_ = 0;
    bool skip_record_ = false;  // the current record is an alert
    std::array<uint8_t, 4> hs_header_{};
    size_t hs_header_have_ = 0;
    size_t msg_left_ = 0;                  // body bytes of the current message still to come
    std::vector<uint8_t>* msg_ = nullptr;  // where the current message goes; null: skipped
    size_t msg_keep_ = 0;                  // bytes of it to keep
    std::vector<uint8_t> hello_;
    std::vector<uint8_t> cert_;
    bool hello_ready_ = false;
    bool cert_ready_ = false;
    size_t truncated_ = 0;
    size_t charged_ = 0;
    State state_ = State::kNeedMore;
};

}  // namespace sensor::applayer
