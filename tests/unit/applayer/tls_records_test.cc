// scan_tls_records: which record types start in a segment, read from its first byte while the
// headers stay plausible. The worker uses it to find where a TLS flow turns to ciphertext.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "sensor/applayer/tls_parser.h"

namespace sensor::applayer {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes record(uint8_t type, size_t body, uint8_t minor = 3) {
    Bytes r{type, 3, minor, static_cast<uint8_t>(body >> 8), static_cast<uint8_t>(body & 0xff)};
    r.resize(5 + body, 0xAB);
    return r;
}

// The first n bytes of a record that goes on past the segment.
Bytes cut(const Bytes& whole, size_t n) {
    return Bytes(whole.begin(), whole.begin() + static_cast<std::ptrdiff_t>(n));
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const Bytes& p : parts) {
        out.insert(out.end(), p.begin(), p.end());
    }
    return out;
}

struct Case {
    const char* name;
    Bytes segment;
    bool ccs;
    bool app_data;
};

TEST(TlsRecords, RecordTypesAtRecordBoundaries) {
    const std::vector<Case> cases = {
        {"empty", {}, false, false},
        {"handshake only", record(22, 60), false, false},
        {"change cipher spec", record(20, 1), true, false},
        {"hello, ccs, then encrypted (TLS 1.3 server flight)",
         cat({record(22, 90), record(20, 1), record(23, 200)}), true, true},
        {"application data alone", record(23, 100), false, true},
        {"record running on into the next segment counts", cut(record(23, 5000), 1400), false,
         true},
        {"ccs after a record that runs on is not seen",
         cat({cut(record(22, 3000), 100), record(20, 1)}), false, false},
        {"segment starting inside a record", Bytes(600, 0x41), false, false},
        {"unknown content type stops the walk", cat({record(25, 4), record(20, 1)}), false, false},
        {"SSL 2-style version stops the walk", record(20, 1, 5), false, false},
        {"oversized length stops the walk", Bytes{23, 3, 3, 0x50, 0x01, 0, 0, 0}, false, false},
        {"alert and heartbeat are records too", cat({record(21, 2), record(24, 3), record(20, 1)}),
         true, false},
        {"header cut short", Bytes{20, 3, 3, 0}, false, false},
    };
    for (const Case& c : cases) {
        const TlsRecordScan scan = scan_tls_records(c.segment);
        EXPECT_EQ(scan.change_cipher_spec, c.ccs) << c.name;
        EXPECT_EQ(scan.application_data, c.app_data) << c.name;
    }
}

}  // namespace
}  // namespace sensor::applayer
