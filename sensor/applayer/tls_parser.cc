#include "sensor/applayer/tls_parser.h"

#include <algorithm>
#include <boost/uuid/detail/md5.hpp>
#include <charconv>
#include <cstring>

#include "sensor/core/byte_reader.h"

namespace sensor::applayer {
namespace {

constexpr uint8_t kContentHandshake = 0x16;
constexpr uint8_t kContentChangeCipherSpec = 0x14;
constexpr uint8_t kContentAlert = 0x15;
constexpr uint8_t kContentApplicationData = 0x17;
constexpr uint8_t kHandshakeClientHello = 0x01;
constexpr uint8_t kHandshakeServerHello = 0x02;
constexpr uint8_t kHandshakeCertificate = 0x0B;
constexpr uint8_t kHandshakeServerHelloDone = 0x0E;
constexpr uint16_t kExtSupportedVersions = 43;
constexpr size_t kRecordHeaderBytes = 5;
constexpr size_t kHandshakeHeaderBytes = 4;
constexpr uint16_t kExtServerName = 0;
constexpr uint16_t kExtSupportedGroups = 10;
constexpr uint16_t kExtEcPointFormats = 11;
constexpr uint8_t kServerNameHost = 0;

uint32_t read_u24(std::span<const uint8_t> b) noexcept {
    return (uint32_t{b[0]} << 16) | (uint32_t{b[1]} << 8) | uint32_t{b[2]};
}

uint16_t read_u16(std::span<const uint8_t> b) noexcept {
    return static_cast<uint16_t>((b[0] << 8) | b[1]);
}

// RFC 8701: 0x0a0a, 0x1a1a, ..., 0xfafa.
bool is_grease(uint16_t v) noexcept { return (v & 0x0F0F) == 0x0A0A && (v >> 8) == (v & 0xFF); }

// A length-prefixed vector: u8 or u16 length, then that many bytes.
std::optional<std::span<const uint8_t>> take_vector8(core::ByteReader& r) noexcept {
    auto len = r.u8();
    return len ? r.take(*len) : std::nullopt;
}
std::optional<std::span<const uint8_t>> take_vector16(core::ByteReader& r) noexcept {
    auto len = r.u16();
    return len ? r.take(*len) : std::nullopt;
}

std::span<const uint8_t> first_host_name(std::span<const uint8_t> ext) noexcept {
    core::ByteReader r(ext);
    auto list = take_vector16(r);
    if (!list) {
        return {};
    }
    core::ByteReader names(*list);
    while (names.remaining() > 0) {
        auto type = names.u8();
        auto name = take_vector16(names);
        if (!type || !name) {
            return {};
        }
        if (*type == kServerNameHost) {
            return *name;
        }
    }
    return {};
}

void append_u16(std::string& out, uint16_t v) {
    char buf[8];
    auto res = std::to_chars(buf, buf + sizeof(buf), v);
    out.append(buf, res.ptr);
}

// Appends the 16-bit values of list (not GREASE) joined by '-'.
void append_u16_list(std::string& out, std::span<const uint8_t> list) {
    bool first = true;
    for (size_t i = 0; i + 1 < list.size(); i += 2) {
        const uint16_t v = read_u16(list.subspan(i, 2));
        if (is_grease(v)) {
            continue;
        }
        if (!first) {
            out.push_back('-');
        }
        append_u16(out, v);
        first = false;
    }
}

// Appends the extension types of an extension block (not GREASE) joined by '-', as JA3 and
// JA3S list them. The block was validated by the hello's parser; a bad tail ends the list.
void append_extension_types(std::string& out, std::span<const uint8_t> extensions) {
    bool first = true;
    core::ByteReader e(extensions);
    while (e.remaining() > 0) {
        auto ext_type = e.u16();
        auto ext_data = take_vector16(e);
        if (!ext_type || !ext_data) {
            break;
        }
        if (is_grease(*ext_type)) {
            continue;
        }
        if (!first) {
            out.push_back('-');
        }
        append_u16(out, *ext_type);
        first = false;
    }
}

// The start that a ClientHello and a ServerHello share: the handshake header, then
// legacy_version and the 32-byte random. On kOk, rest holds the body after the random.
TlsParse open_hello(std::span<const uint8_t> msg, uint8_t hello_type, uint16_t& version,
                    std::span<const uint8_t>& rest) noexcept {
    core::ByteReader r(msg);
    auto type = r.u8();
    auto len_bytes = r.take(3);
    if (!type || !len_bytes) {
        return TlsParse::kMalformed;
    }
    if (*type != hello_type) {
        return TlsParse::kNotClientHello;
    }
    auto body = r.take(read_u24(*len_bytes));
    constexpr size_t kVersionAndRandom = 2 + 32;
    if (!body || body->size() < kVersionAndRandom) {
        return TlsParse::kMalformed;
    }
    version = read_u16(body->first(2));
    rest = body->subspan(kVersionAndRandom);
    return TlsParse::kOk;
}

}  // namespace

TlsParse parse_client_hello(std::span<const uint8_t> msg, ClientHello& out) noexcept {
    out = ClientHello{};
    std::span<const uint8_t> rest;
    if (TlsParse opened = open_hello(msg, kHandshakeClientHello, out.version, rest);
        opened != TlsParse::kOk) {
        return opened;
    }
    core::ByteReader h(rest);
    auto session_id = take_vector8(h);
    auto ciphers = take_vector16(h);
    auto compression = take_vector8(h);
    if (!session_id || !ciphers || !compression || ciphers->size() % 2 != 0) {
        return TlsParse::kMalformed;
    }
    out.cipher_suites = *ciphers;
    if (h.remaining() == 0) {
        return TlsParse::kOk;  // no extensions (SSLv3-style hello)
    }
    auto extensions = take_vector16(h);
    if (!extensions) {
        return TlsParse::kMalformed;
    }
    out.extensions = *extensions;
    core::ByteReader e(*extensions);
    while (e.remaining() > 0) {
        auto ext_type = e.u16();
        auto ext_data = take_vector16(e);
        if (!ext_type || !ext_data) {
            return TlsParse::kMalformed;
        }
        core::ByteReader d(*ext_data);
        switch (*ext_type) {
            case kExtServerName:
                if (out.sni.empty()) {
                    out.sni = first_host_name(*ext_data);
                }
                break;
            case kExtSupportedGroups:
                if (auto groups = take_vector16(d)) {
                    out.supported_groups = *groups;
                }
                break;
            case kExtEcPointFormats:
                if (auto formats = take_vector8(d)) {
                    out.ec_point_formats = *formats;
                }
                break;
            case kExtSupportedVersions:
                if (auto versions = take_vector8(d)) {
                    // GREASE values (RFC 8701) and noise come first in some lists.
                    for (size_t i = 0; i + 1 < versions->size(); i += 2) {
                        const uint16_t v = read_u16(versions->subspan(i, 2));
                        if (tls_version_known(v)) {
                            out.preferred_version = v;
                            break;
                        }
                    }
                }
                break;
            default:
                break;
        }
    }
    return TlsParse::kOk;
}

bool looks_like_client_hello(std::span<const uint8_t> segment) noexcept {
    return segment.size() > kRecordHeaderBytes && segment[0] == kContentHandshake &&
           segment[1] == 0x03 && segment[kRecordHeaderBytes] == kHandshakeClientHello;
}

std::span<const uint8_t> whole_client_hello(std::span<const uint8_t> segment) noexcept {
    if (!looks_like_client_hello(segment) ||
        segment.size() < kRecordHeaderBytes + kHandshakeHeaderBytes) {
        return {};
    }
    const size_t record_len = read_u16(segment.subspan(3, 2));
    const size_t msg_len =
        kHandshakeHeaderBytes + read_u24(segment.subspan(kRecordHeaderBytes + 1, 3));
    if (msg_len > record_len || kRecordHeaderBytes + msg_len > segment.size()) {
        return {};
    }
    return segment.subspan(kRecordHeaderBytes, msg_len);
}

void ja3_text(const ClientHello& hello, std::string& out) {
    out.clear();
    append_u16(out, hello.version);
    out.push_back(',');
    append_u16_list(out, hello.cipher_suites);
    out.push_back(',');
    append_extension_types(out, hello.extensions);
    out.push_back(',');
    append_u16_list(out, hello.supported_groups);
    out.push_back(',');
    for (size_t i = 0; i < hello.ec_point_formats.size(); ++i) {
        if (i != 0) {
            out.push_back('-');
        }
        append_u16(out, hello.ec_point_formats[i]);
    }
}

void md5_hex(std::span<const uint8_t> bytes, std::array<char, 33>& out) noexcept {
    boost::uuids::detail::md5 md5;
    if (!bytes.empty()) {
        md5.process_bytes(bytes.data(), bytes.size());  // Boost passes the pointer to memcpy
    }
    boost::uuids::detail::md5::digest_type digest;
    md5.get_digest(digest);
    // Boost 1.71 to 1.85 return the digest as four words whose big-endian bytes are the MD5
    // output (its own name-based UUIDs depend on that order); the RFC 1321 vectors in the
    // unit tests pin it.
    static constexpr char kHex[] = "0123456789abcdef";
    size_t pos = 0;
    for (unsigned int word : digest) {
        for (int shift = 24; shift >= 0; shift -= 8) {
            const auto byte = static_cast<uint8_t>(word >> shift);
            out[pos++] = kHex[byte >> 4];
            out[pos++] = kHex[byte & 0x0F];
        }
    }
    out[32] = '\0';
}

TlsHelloAssembler::State TlsHelloAssembler::feed(std::span<const uint8_t> bytes) {
    while (!bytes.empty() && state_ == State::kNeedMore) {
        if (record_left_ == 0) {
            const size_t take = std::min(kRecordHeaderBytes - header_have_, bytes.size());
            std::memcpy(header_.data() + header_have_, bytes.data(), take);
            header_have_ += take;
            bytes = bytes.subspan(take);
            if (header_have_ < kRecordHeaderBytes) {
                break;
            }
            header_have_ = 0;
            if (header_[0] != kContentHandshake || header_[1] != 0x03) {
                state_ = State::kNotHandshake;
                break;
            }
            record_left_ = read_u16(std::span<const uint8_t>(header_).subspan(3, 2));
            continue;
        }
        if (msg_total_ == 0) {
            // The handshake header alone decides the size, so the buffer is allocated once.
            const size_t take =
                std::min({record_left_, bytes.size(), kHandshakeHeaderBytes - hs_header_have_});
            std::memcpy(hs_header_.data() + hs_header_have_, bytes.data(), take);
            hs_header_have_ += take;
            bytes = bytes.subspan(take);
            record_left_ -= take;
            if (hs_header_have_ < kHandshakeHeaderBytes) {
                continue;
            }
            if (hs_header_[0] != kHandshakeClientHello) {
                state_ = State::kNotHandshake;
                break;
            }
            msg_total_ =
                kHandshakeHeaderBytes + read_u24(std::span<const uint8_t>(hs_header_).subspan(1));
            if (msg_total_ > kTlsMaxHelloBytes) {
                state_ = State::kTooLarge;
                break;
            }
            msg_.reserve(msg_total_);
            msg_.assign(hs_header_.begin(), hs_header_.end());
        } else {
            const size_t take = std::min({record_left_, bytes.size(), msg_total_ - msg_.size()});
            msg_.insert(msg_.end(), bytes.begin(),
                        bytes.begin() + static_cast<std::ptrdiff_t>(take));
            bytes = bytes.subspan(take);
            record_left_ -= take;
        }
        if (msg_.size() == msg_total_) {
            state_ = State::kComplete;
        }
    }
    return state_;
}

bool tls_version_known(uint16_t version) noexcept {
    return (version >= 0x0300 && version <= 0x0304) || version == 0x7f01 ||
           (version >= 0x7f10 && version <= 0x7f1c) || (version >= 0xfb14 && version <= 0xfb17) ||
           version == 0xfb1a;
}

uint16_t hello_version(const ClientHello& hello) noexcept {
    return hello.preferred_version != 0 ? hello.preferred_version : hello.version;
}

uint16_t hello_version(const ServerHello& hello) noexcept {
    return hello.selected_version > 0x0303 ? hello.selected_version : hello.version;
}

TlsParse parse_server_hello(std::span<const uint8_t> msg, ServerHello& out) noexcept {
    out = ServerHello{};
    std::span<const uint8_t> rest;
    if (TlsParse opened = open_hello(msg, kHandshakeServerHello, out.version, rest);
        opened != TlsParse::kOk) {
        return opened;
    }
    core::ByteReader h(rest);
    auto session_id = take_vector8(h);
    auto cipher = h.u16();
    auto compression = h.u8();
    if (!session_id || !cipher || !compression) {
        return TlsParse::kMalformed;
    }
    out.cipher_suite = *cipher;
    if (h.remaining() == 0) {
        return TlsParse::kOk;
    }
    auto extensions = take_vector16(h);
    if (!extensions) {
        return TlsParse::kMalformed;
    }
    out.extensions = *extensions;
    core::ByteReader e(*extensions);
    while (e.remaining() > 0) {
        auto ext_type = e.u16();
        auto ext_data = take_vector16(e);
        if (!ext_type || !ext_data) {
            return TlsParse::kMalformed;
        }
        if (*ext_type == kExtSupportedVersions && ext_data->size() == 2) {
            out.selected_version = read_u16(*ext_data);
        }
    }
    return TlsParse::kOk;
}

void ja3s_text(const ServerHello& hello, std::string& out) {
    out.clear();
    append_u16(out, hello.version);
    out.push_back(',');
    append_u16(out, hello.cipher_suite);
    out.push_back(',');
    append_extension_types(out, hello.extensions);
}

size_t split_certificates(std::span<const uint8_t> msg,
                          std::span<std::span<const uint8_t>> out) noexcept {
    // The declared lengths may run past msg when the chain was truncated: only whole
    // certificates inside msg count.
    if (msg.size() < kHandshakeHeaderBytes + 3 || msg[0] != kHandshakeCertificate) {
        return 0;
    }
    std::span<const uint8_t> list = msg.subspan(kHandshakeHeaderBytes);
    const size_t list_len = read_u24(list);
    list = list.subspan(3);
    if (list_len < list.size()) {
        list = list.first(list_len);
    }
    size_t n = 0;
    while (n < out.size() && list.size() >= 3) {
        const size_t len = read_u24(list);
        if (len == 0 || len > list.size() - 3) {
            break;
        }
        out[n++] = list.subspan(3, len);
        list = list.subspan(3 + len);
    }
    return n;
}

TlsServerAssembler::State TlsServerAssembler::feed(std::span<const uint8_t> bytes,
                                                   MemoryBudget& budget) {
    while (!bytes.empty() && state_ == State::kNeedMore) {
        if (record_left_ == 0) {
            const size_t take = std::min(kRecordHeaderBytes - header_have_, bytes.size());
            std::memcpy(header_.data() + header_have_, bytes.data(), take);
            header_have_ += take;
            bytes = bytes.subspan(take);
            if (header_have_ < kRecordHeaderBytes) {
                break;
            }
            header_have_ = 0;
            if (header_[1] != 0x03) {
                state_ = State::kNotTls;
                break;
            }
            switch (header_[0]) {
                case kContentHandshake:
                case kContentAlert:
                    // Servers may warn (unrecognized_name) before their hello: alerts are
                    // skipped, a fatal one ends the connection anyway.
                    record_left_ = read_u16(std::span<const uint8_t>(header_).subspan(3, 2));
                    skip_record_ = header_[0] == kContentAlert;
                    break;
                case kContentChangeCipherSpec:
                case kContentApplicationData:
                    state_ = State::kFinished;
                    break;
                default:
                    state_ = State::kNotTls;
                    break;
            }
            continue;
        }
        if (skip_record_) {
            const size_t take = std::min(record_left_, bytes.size());
            bytes = bytes.subspan(take);
            record_left_ -= take;
            continue;
        }
        if (hs_header_have_ < kHandshakeHeaderBytes) {
            const size_t take =
                std::min({record_left_, bytes.size(), kHandshakeHeaderBytes - hs_header_have_});
            std::memcpy(hs_header_.data() + hs_header_have_, bytes.data(), take);
            hs_header_have_ += take;
            bytes = bytes.subspan(take);
            record_left_ -= take;
            if (hs_header_have_ < kHandshakeHeaderBytes) {
                continue;
            }
            msg_left_ = read_u24(std::span<const uint8_t>(hs_header_).subspan(1));
            const size_t total = kHandshakeHeaderBytes + msg_left_;
            msg_ = nullptr;
            if (hs_header_[0] == kHandshakeServerHello && hello_.empty() &&
                total <= kTlsMaxHelloBytes) {
                msg_ = &hello_;
                msg_keep_ = total;
            } else if (hs_header_[0] == kHandshakeCertificate && cert_.empty()) {
                msg_ = &cert_;
                msg_keep_ = std::min(total, kTlsMaxCertificateBytes);
            }
            if (msg_ != nullptr && !begin_message(budget)) {
                state_ = State::kOverBudget;
                break;
            }
            if (msg_left_ == 0) {
                end_message();
            }
            continue;
        }
        const size_t take = std::min({record_left_, bytes.size(), msg_left_});
        if (msg_ != nullptr) {
            const size_t keep = std::min(take, msg_keep_ - msg_->size());
            msg_->insert(msg_->end(), bytes.begin(),
                         bytes.begin() + static_cast<std::ptrdiff_t>(keep));
            truncated_ += take - keep;
        }
        bytes = bytes.subspan(take);
        record_left_ -= take;
        msg_left_ -= take;
        if (msg_left_ == 0) {
            end_message();
        }
    }
    return state_;
}

bool TlsServerAssembler::begin_message(MemoryBudget& budget) {
    const size_t have = msg_->capacity();
    if (msg_keep_ > have) {
        if (!budget.charge(msg_keep_ - have)) {
            return false;
        }
        msg_->reserve(msg_keep_);
        charged_ += msg_keep_ - have;
    }
    msg_->assign(hs_header_.begin(), hs_header_.end());
    return true;
}

void TlsServerAssembler::end_message() noexcept {
    if (msg_ == &hello_) {
        hello_ready_ = true;
    } else if (msg_ == &cert_) {
        cert_ready_ = true;
    }
    // The server's flight ends with ServerHelloDone; past the Certificate nothing is needed.
    if (hs_header_[0] == kHandshakeServerHelloDone || msg_ == &cert_) {
        state_ = State::kFinished;
    }
    msg_ = nullptr;
    hs_header_have_ = 0;
}

std::span<const uint8_t> TlsServerAssembler::take_server_hello() noexcept {
    if (!hello_ready_) {
        return {};
    }
    hello_ready_ = false;
    return {hello_.data(), hello_.size()};
}

std::span<const uint8_t> TlsServerAssembler::take_certificate() noexcept {
    if (!cert_ready_) {
        return {};
    }
    cert_ready_ = false;
    return {cert_.data(), cert_.size()};
}

void TlsServerAssembler::refund_all(MemoryBudget& budget) noexcept {
    budget.refund(charged_);
    charged_ = 0;
}

TlsRecordScan scan_tls_records(std::span<const uint8_t> segment) noexcept {
    constexpr uint8_t kChangeCipherSpec = 20;
    constexpr uint8_t kApplicationData = 23;
    constexpr uint8_t kLastContentType = 24;                     // heartbeat
    constexpr size_t kMaxRecordBody = (size_t{1} << 14) + 2048;  // TLSCiphertext limit
    TlsRecordScan out;
    size_t at = 0;
    while (segment.size() - at >= 5) {
        const uint8_t type = segment[at];
        const size_t length = (size_t{segment[at + 3]} << 8) | segment[at + 4];
        if (type < kChangeCipherSpec || type > kLastContentType || segment[at + 1] != 3 ||
            segment[at + 2] > 4 || length > kMaxRecordBody) {
            break;
        }
        out.change_cipher_spec |= type == kChangeCipherSpec;
        out.application_data |= type == kApplicationData;
        if (length > segment.size() - at - 5) {
            break;  // the record goes on in a later segment
        }
        at += 5 + length;
    }
    return out;
}

}  // namespace sensor::applayer
