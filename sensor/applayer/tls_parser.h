#pragma once
// TLS ClientHello parsing for tls.sni and ja3.hash. TlsHelloAssembler rebuilds the handshake
// message from records split over segments (bounded, one per flow that needs it); the parse
// functions are pure and read the message in place.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

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

}  // namespace sensor::applayer
