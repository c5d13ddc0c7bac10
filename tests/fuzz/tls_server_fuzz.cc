// Fuzz target for the TLS server side (sensor/applayer): TlsServerAssembler, ServerHello and
// Certificate parsing, the DER reader and the DN and serial text. Input layout:
//   byte 0   segment size for the assembler (1-256; 0 feeds everything at once)
//   byte 1   memory budget for the assembler in KiB (0: 1 MiB)
//   rest     the server's stream (TLS records)
// The same bytes also go to parse_certificate directly, as a DER certificate.
// Traps when the assembler charges more than its budget or keeps more than its caps.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "sensor/applayer/der_reader.h"
#include "sensor/applayer/tls_parser.h"

namespace {

namespace app = sensor::applayer;

void require(bool ok) {
    if (!ok) {
        __builtin_trap();
    }
}

void format_certificate(std::span<const uint8_t> der, std::string& text) {
    app::CertificateView cert;
    if (!app::parse_certificate(der, cert)) {
        return;
    }
    require(cert.der.size() <= der.size());
    app::format_distinguished_name(cert.subject, text);
    app::format_distinguished_name(cert.issuer, text);
    app::format_serial(cert.serial, text);
    require(text.size() == (cert.serial.empty() ? 0 : cert.serial.size() * 3 - 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2) {
        return 0;
    }
    const size_t segment = data[0] == 0 ? size : data[0];
    const size_t cap = data[1] == 0 ? size_t{1} << 20 : size_t{data[1]} << 10;
    std::span<const uint8_t> stream(data + 2, size - 2);
    std::string text;
    format_certificate(stream, text);

    app::MemoryBudget budget{cap, 0};
    app::TlsServerAssembler assembler;
    for (size_t off = 0; off < stream.size(); off += segment) {
        const size_t n = std::min(segment, stream.size() - off);
        assembler.feed(stream.subspan(off, n), budget);
        require(budget.used <= budget.cap);
        require(budget.used == assembler.charged_bytes());
        if (std::span<const uint8_t> msg = assembler.take_server_hello(); !msg.empty()) {
            require(msg.size() <= app::kTlsMaxHelloBytes);
            app::ServerHello hello;
            if (app::parse_server_hello(msg, hello) == app::TlsParse::kOk) {
                app::ja3s_text(hello, text);
            }
        }
        if (std::span<const uint8_t> msg = assembler.take_certificate(); !msg.empty()) {
            require(msg.size() <= app::kTlsMaxCertificateBytes);
            std::array<std::span<const uint8_t>, app::kTlsMaxChainCertificates> certs{};
            const size_t n_certs = app::split_certificates(msg, certs);
            for (size_t i = 0; i < n_certs; ++i) {
                require(certs[i].data() >= msg.data() &&
                        certs[i].data() + certs[i].size() <= msg.data() + msg.size());
                format_certificate(certs[i], text);
            }
        }
    }
    assembler.refund_all(budget);
    require(budget.used == 0);
    return 0;
}
