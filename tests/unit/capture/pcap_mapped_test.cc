// Mapped pcap reading against libpcap: every corpus capture and a set of crafted files
// (both byte orders, nanosecond times, cut and damaged records) are read both ways and must
// give the same frames, end, error text and counters.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "capture/pcap_file_reader.h"
#include "tests/unit/corpus_captures.h"
#include "tests/unit/temp_dir.h"

namespace sensor::capture {
namespace {

constexpr uint32_t kMagicMicro = 0xa1b2c3d4;
constexpr uint32_t kMagicNano = 0xa1b23c4d;
constexpr uint32_t kSource = 3;

class TempDir : public ::sensor::test_support::TempDir {
public:
    TempDir() : ::sensor::test_support::TempDir("pcap-mapped") {}
};

const char* status_name(ReadStatus s) {
    switch (s) {
        case ReadStatus::kOk:
            return "ok";
        case ReadStatus::kEnd:
            return "end";
        case ReadStatus::kError:
            return "error";
    }
    return "?";
}

std::string frame_difference(const core::Frame& a, const core::Frame& b) {
    auto differ = [](const char* field, auto x, auto y) {
        return std::string(field) + " " + std::to_string(x) + " != " + std::to_string(y);
    };
    if (a.caplen != b.caplen) {
        return differ("caplen", a.caplen, b.caplen);
    }
    if (a.wire_len != b.wire_len) {
        return differ("wire_len", a.wire_len, b.wire_len);
    }
    if (a.ts_us != b.ts_us) {
        return differ("ts_us", a.ts_us, b.ts_us);
    }
    if (a.linktype != b.linktype) {
        return differ("linktype", a.linktype, b.linktype);
    }
    if (a.index != b.index) {
        return differ("index", a.index, b.index);
    }
    if (a.source != b.source) {
        return differ("source", a.source, b.source);
    }
    for (uint32_t i = 0; i < a.caplen; ++i) {
        if (a.data[i] != b.data[i]) {
            return "byte " + std::to_string(i) + ": " + std::to_string(a.data[i]) +
                   " != " + std::to_string(b.data[i]);
        }
    }
    return {};
}

std::string stats_difference(const SourceStats& a, const SourceStats& b) {
    if (a.packets != b.packets || a.bytes != b.bytes || a.first_ts_us != b.first_ts_us ||
        a.last_ts_us != b.last_ts_us) {
        auto text = [](const SourceStats& s) {
            return "{" + std::to_string(s.packets) + " " + std::to_string(s.bytes) + " " +
                   std::to_string(s.first_ts_us) + " " + std::to_string(s.last_ts_us) + "}";
        };
        return "stats " + text(a) + " != " + text(b);
    }
    return {};
}

// What reading a file both ways gave; difference is empty when they agree.
struct Comparison {
    std::string difference;
    bool mapped = false;
    uint64_t frames = 0;
    ReadStatus status = ReadStatus::kOk;
    std::string error;
    // The frames (data cleared: the mapping ends with the readers) and their bytes, when asked.
    std::vector<core::Frame> kept;
    std::vector<std::vector<uint8_t>> kept_bytes;
};

// Reads path with kMapped and kLibpcap through next(), in step.
Comparison compare_next(const std::string& path, bool keep = false) {
    Comparison c;
    auto mapped = PcapFileReader::open(path, kSource, FileAccess::kMapped);
    auto plain = PcapFileReader::open(path, kSource, FileAccess::kLibpcap);
    if (!mapped || !plain) {
        c.status = ReadStatus::kError;
        if (static_cast<bool>(mapped) != static_cast<bool>(plain)) {
            c.difference = "only one way opened the file";
        } else if (mapped.error().message != plain.error().message) {
            c.difference =
                "open errors: " + mapped.error().message + " != " + plain.error().message;
        }
        c.error = plain ? std::string() : plain.error().message;
        return c;
    }
    PcapFileReader& m = **mapped;
    PcapFileReader& p = **plain;
    c.mapped = m.mapped();
    if (p.mapped()) {
        c.difference = "the kLibpcap reader is mapped";
        return c;
    }
    if (m.linktype() != p.linktype()) {
        c.difference =
            "linktype " + std::to_string(m.linktype()) + " != " + std::to_string(p.linktype());
        return c;
    }
    for (;;) {
        core::Frame a;
        core::Frame b;
        const ReadStatus sa = m.next(a);
        const ReadStatus sb = p.next(b);
        c.status = sb;
        if (sa != sb) {
            c.difference = "frame " + std::to_string(c.frames + 1) + ": status " + status_name(sa) +
                           " != " + status_name(sb) + " (" + m.error() + " | " + p.error() + ")";
            return c;
        }
        if (sa != ReadStatus::kOk) {
            break;
        }
        ++c.frames;
        if (std::string d = frame_difference(a, b); !d.empty()) {
            c.difference = "frame " + std::to_string(c.frames) + ": " + d;
            return c;
        }
        if (keep) {
            c.kept_bytes.emplace_back(a.data, a.data + a.caplen);
            a.data = nullptr;
            c.kept.push_back(a);
        }
    }
    c.error = p.error();
    if (m.error() != p.error()) {
        c.difference = "error: " + m.error() + " != " + p.error();
        return c;
    }
    c.difference = stats_difference(m.stats(), p.stats());
    if (c.difference.empty() && c.mapped && c.status == ReadStatus::kEnd &&
        m.offset() != std::filesystem::file_size(path)) {
        c.difference = "mapped offset at the end " + std::to_string(m.offset()) + " != file size " +
                       std::to_string(std::filesystem::file_size(path));
    }
    return c;
}

// Reads path with read() (batches, given access) against next() of kLibpcap.
std::string compare_batches(const std::string& path, FileAccess access) {
    auto batched = PcapFileReader::open(path, kSource, access);
    auto plain = PcapFileReader::open(path, kSource, FileAccess::kLibpcap);
    if (!batched || !plain) {
        return batched || plain ? "only one way opened the file" : "";
    }
    PcapFileReader& r = **batched;
    PcapFileReader& p = **plain;
    core::FrameBatch batch;
    uint64_t frames = 0;
    ReadStatus status = ReadStatus::kOk;
    while (status == ReadStatus::kOk) {
        batch.clear();
        status = r.read(batch);
        for (const core::Frame& a : batch) {
            core::Frame b;
            if (p.next(b) != ReadStatus::kOk) {
                return "frame " + std::to_string(frames + 1) + ": only in the batch";
            }
            ++frames;
            if (std::string d = frame_difference(a, b); !d.empty()) {
                return "frame " + std::to_string(frames) + ": " + d;
            }
        }
    }
    core::Frame b;
    const ReadStatus reference = p.next(b);
    if (status != reference) {
        return "after frame " + std::to_string(frames) + ": status " + status_name(status) +
               " != " + status_name(reference);
    }
    if (r.error() != p.error()) {
        return "error: " + r.error() + " != " + p.error();
    }
    return stats_difference(r.stats(), p.stats());
}

// A classic pcap file in either byte order, built field by field.
class PcapImage {
public:
    PcapImage(bool big_endian, uint32_t magic, uint32_t linktype, uint32_t snaplen = 65535,
              uint16_t major = 2, uint16_t minor = 4)
        : big_endian_(big_endian) {
        put32(magic);
        put16(major);
        put16(minor);
        put32(0);  // thiszone
        put32(0);  // sigfigs
        put32(snaplen);
        put32(linktype);
    }

    // A record claiming caplen and len; body_bytes of it are present (caplen when negative).
    PcapImage& record(int32_t sec, int32_t frac, uint32_t caplen, uint32_t len,
                      int64_t body_bytes = -1) {
        put32(static_cast<uint32_t>(sec));
        put32(static_cast<uint32_t>(frac));
        put32(caplen);
        put32(len);
        const auto body = static_cast<size_t>(body_bytes < 0 ? caplen : body_bytes);
        ++records_;
        for (size_t i = 0; i < body; ++i) {
            bytes_.push_back(static_cast<uint8_t>(size_t{records_} * 37 + i * 7));
        }
        return *this;
    }
    // Bytes that are no whole record (a cut header).
    PcapImage& tail(size_t count) {
        bytes_.insert(bytes_.end(), count, 0x5a);
        return *this;
    }
    void write(const std::string& path) const {
        std::ofstream out(path, std::ios::binary);
        out.write(reinterpret_cast<const char*>(bytes_.data()),
                  static_cast<std::streamsize>(bytes_.size()));
    }

private:
    void put16(uint16_t v) {
        const uint8_t lo = static_cast<uint8_t>(v);
        const uint8_t hi = static_cast<uint8_t>(v >> 8);
        bytes_.push_back(big_endian_ ? hi : lo);
        bytes_.push_back(big_endian_ ? lo : hi);
    }
    void put32(uint32_t v) {
        for (int i = 0; i < 4; ++i) {
            const int shift = big_endian_ ? 24 - 8 * i : 8 * i;
            bytes_.push_back(static_cast<uint8_t>(v >> shift));
        }
    }

    bool big_endian_;
    uint32_t records_ = 0;
    std::vector<uint8_t> bytes_;
};

// Writes image, compares both ways (next() and batches) and returns the comparison.
Comparison check_crafted(const TempDir& dir, const std::string& name, const PcapImage& image,
                         bool expect_mapped) {
    const std::string path = dir.file(name);
    image.write(path);
    Comparison c = compare_next(path, /*keep=*/true);
    EXPECT_EQ(c.difference, "") << name;
    EXPECT_EQ(c.mapped, expect_mapped) << name;
    EXPECT_EQ(compare_batches(path, FileAccess::kMapped), "") << name << " (batches)";
    return c;
}

// ---- crafted files -------------------------------------------------------------------------

TEST(PcapMapped, NanosecondTimesAreScaledLikeLibpcapInBothByteOrders) {
    TempDir dir;
    for (bool big : {false, true}) {
        PcapImage image(big, kMagicNano, DLT_EN10MB);
        image.record(1'700'000'000, 999'999'999, 60, 60)
            .record(1'700'000'001, 0, 61, 70)
            .record(1'700'000'001, 999, 62, 62)
            .record(1'700'000'001, 1000, 63, 63)
            .record(1'700'000'002, 123'456'789, 64, 64);
        const Comparison c = check_crafted(dir, big ? "nano-be.pcap" : "nano-le.pcap", image,
                                           /*expect_mapped=*/true);
        EXPECT_EQ(c.status, ReadStatus::kEnd);
        ASSERT_EQ(c.kept.size(), 5u);
        EXPECT_EQ(c.kept[0].ts_us, 1'700'000'000LL * 1'000'000 + 999'999);
        EXPECT_EQ(c.kept[2].ts_us, 1'700'000'001LL * 1'000'000);
        EXPECT_EQ(c.kept[3].ts_us, 1'700'000'001LL * 1'000'000 + 1);
        EXPECT_EQ(c.kept[1].wire_len, 70u);
    }
}

TEST(PcapMapped, MicrosecondFilesInBothByteOrdersAreMapped) {
    TempDir dir;
    for (bool big : {false, true}) {
        PcapImage image(big, kMagicMicro, DLT_EN10MB);
        for (int i = 0; i < 20; ++i) {
            image.record(1'600'000'000 + i, i * 50'000, static_cast<uint32_t>(40 + i * 13),
                         static_cast<uint32_t>(1500));
        }
        const Comparison c = check_crafted(dir, big ? "micro-be.pcap" : "micro-le.pcap", image,
                                           /*expect_mapped=*/true);
        EXPECT_EQ(c.frames, 20u);
        EXPECT_EQ(c.status, ReadStatus::kEnd);
    }
}

TEST(PcapMapped, NegativeSecondsAreReadLikeLibpcap) {
    TempDir dir;
    for (bool big : {false, true}) {
        for (uint32_t magic : {kMagicMicro, kMagicNano}) {
            PcapImage image(big, magic, DLT_EN10MB);
            image.record(-1, 0, 60, 60)
                .record(INT32_MIN, 999'999, 60, 60)
                .record(-86'400, 5, 60, 60)
                .record(INT32_MAX, 1, 60, 60);
            const std::string name = std::string("negative-") + (big ? "be" : "le") +
                                     (magic == kMagicNano ? "-nano" : "-micro") + ".pcap";
            const Comparison c = check_crafted(dir, name, image, /*expect_mapped=*/true);
            ASSERT_EQ(c.kept.size(), 4u) << name;
            // libpcap 1.10 sign-extends fields in the host's order only; in a byte-swapped
            // file they come out unsigned, and equality with libpcap above covers that.
            if (big == (std::endian::native == std::endian::big)) {
                EXPECT_LT(c.kept[0].ts_us, 0) << name;
                EXPECT_LT(c.kept[1].ts_us, c.kept[0].ts_us) << name;
            }
        }
    }
}

// Fractions outside 0..999999999 with their top bit set: libpcap's own arithmetic decides.
TEST(PcapMapped, NegativeFractionsMatchLibpcap) {
    TempDir dir;
    for (bool big : {false, true}) {
        for (uint32_t magic : {kMagicMicro, kMagicNano}) {
            PcapImage image(big, magic, DLT_EN10MB);
            image.record(100, -1, 60, 60).record(100, -5000, 60, 60).record(100, INT32_MIN, 60, 60);
            const std::string name = std::string("negative-frac-") + (big ? "be" : "le") +
                                     (magic == kMagicNano ? "-nano" : "-micro") + ".pcap";
            check_crafted(dir, name, image, /*expect_mapped=*/true);
        }
    }
}

TEST(PcapMapped, RecordLongerThanSnaplenIsCutAndTheNextRecordFollows) {
    TempDir dir;
    for (bool big : {false, true}) {
        PcapImage image(big, kMagicMicro, DLT_EN10MB, /*snaplen=*/64);
        image.record(10, 0, 60, 60).record(11, 0, 100, 120).record(12, 0, 64, 64);
        const Comparison c = check_crafted(dir, big ? "cut-be.pcap" : "cut-le.pcap", image,
                                           /*expect_mapped=*/true);
        EXPECT_EQ(c.status, ReadStatus::kEnd);
        ASSERT_EQ(c.kept.size(), 3u);
        EXPECT_EQ(c.kept[1].caplen, 64u);
        EXPECT_EQ(c.kept[1].wire_len, 120u);
        EXPECT_EQ(c.kept[2].ts_us, 12'000'000);
        EXPECT_EQ(c.kept_bytes[2][0], static_cast<uint8_t>(3 * 37));  // third record's body
    }
}

TEST(PcapMapped, SnaplenZeroOrHugeInTheHeaderIsLibpcapsMaximum) {
    TempDir dir;
    for (uint32_t snaplen : {0u, 0xffffffffu, 262145u}) {
        PcapImage image(false, kMagicMicro, DLT_EN10MB, snaplen);
        image.record(1, 0, 70'000, 70'000).record(2, 0, 262'144, 262'144).record(3, 0, 10, 10);
        const Comparison c = check_crafted(dir, "snaplen-" + std::to_string(snaplen) + ".pcap",
                                           image, /*expect_mapped=*/true);
        EXPECT_EQ(c.frames, 3u);
        EXPECT_EQ(c.status, ReadStatus::kEnd);
    }
}

TEST(PcapMapped, CaplenAboveTheMaximumIsLibpcapsError) {
    TempDir dir;
    for (bool big : {false, true}) {
        PcapImage image(big, kMagicMicro, DLT_EN10MB);
        image.record(1, 0, 60, 60).record(2, 0, 262'145, 262'145, 100);
        const Comparison c = check_crafted(dir, big ? "huge-be.pcap" : "huge-le.pcap", image,
                                           /*expect_mapped=*/true);
        EXPECT_EQ(c.frames, 1u);
        EXPECT_EQ(c.status, ReadStatus::kError);
        EXPECT_NE(c.error.find(": packet 2: cannot read: invalid packet capture length 262145, "
                               "bigger than snaplen of 65535"),
                  std::string::npos)
            << c.error;
    }
}

// libpcap 1.10 replaces a header snaplen of 0 or past INT_MAX by its maximum (262144) but
// keeps one in between: a record longer than the maximum yet within that snaplen is refused
// "bigger than maximum of 262144".
TEST(PcapMapped, CaplenAboveTheMaximumWithinTheSnaplenIsLibpcapsError) {
    TempDir dir;
    const struct {
        uint32_t snaplen;
        uint32_t caplen;
        const char* expected;
    } cases[] = {
        {1'000'000, 300'000, "length 300000, bigger than maximum of 262144"},
        {0xffffffff, 300'000, "length 300000, bigger than snaplen of 262144"},
        {0x80000000, 0x90000000, "length 2415919104, bigger than snaplen of 262144"},
    };
    for (const auto& k : cases) {
        PcapImage image(false, kMagicMicro, DLT_EN10MB, k.snaplen);
        image.record(1, 0, 60, 60).record(2, 0, k.caplen, k.caplen, 100);
        const Comparison c = check_crafted(dir, "over-max-" + std::to_string(k.snaplen) + ".pcap",
                                           image, /*expect_mapped=*/true);
        EXPECT_EQ(c.frames, 1u);
        EXPECT_EQ(c.status, ReadStatus::kError);
        EXPECT_NE(c.error.find(std::string("invalid packet capture ") + k.expected),
                  std::string::npos)
            << c.error;
    }
}

TEST(PcapMapped, TruncatedRecordHeaderIsLibpcapsError) {
    TempDir dir;
    for (bool big : {false, true}) {
        PcapImage image(big, kMagicMicro, DLT_EN10MB);
        image.record(1, 0, 60, 60).tail(5);
        const Comparison c = check_crafted(dir, big ? "cut-header-be.pcap" : "cut-header-le.pcap",
                                           image, /*expect_mapped=*/true);
        EXPECT_EQ(c.frames, 1u);
        EXPECT_EQ(c.status, ReadStatus::kError);
        EXPECT_NE(c.error.find(": packet 2: cannot read: truncated dump file; tried to read 16 "
                               "header bytes, only got 5"),
                  std::string::npos)
            << c.error;
    }
}

TEST(PcapMapped, TruncatedBodyIsLibpcapsError) {
    TempDir dir;
    for (bool big : {false, true}) {
        PcapImage image(big, kMagicMicro, DLT_EN10MB);
        image.record(1, 0, 60, 60).record(2, 0, 100, 100, 40);
        const Comparison c = check_crafted(dir, big ? "cut-body-be.pcap" : "cut-body-le.pcap",
                                           image, /*expect_mapped=*/true);
        EXPECT_EQ(c.frames, 1u);
        EXPECT_EQ(c.status, ReadStatus::kError);
        EXPECT_NE(
            c.error.find("truncated dump file; tried to read 100 captured bytes, only got 40"),
            std::string::npos)
            << c.error;
    }
}

// A record longer than the snaplen is read in two steps by libpcap (the kept part, then the
// rest), each with its own message when the file ends inside it.
TEST(PcapMapped, TruncatedBodyOfARecordLongerThanSnaplenIsLibpcapsError) {
    TempDir dir;
    const struct {
        int64_t body;
        const char* expected;
    } cases[] = {
        {30, "tried to read 64 captured bytes, only got 30"},
        {64, "tried to read 5000 captured bytes, only got 64"},
        {4999, "tried to read 5000 captured bytes, only got 4999"},
    };
    for (const auto& k : cases) {
        PcapImage image(false, kMagicMicro, DLT_EN10MB, /*snaplen=*/64);
        image.record(1, 0, 60, 60).record(2, 0, 5000, 5000, k.body);
        const Comparison c = check_crafted(dir, "cut-long-" + std::to_string(k.body) + ".pcap",
                                           image, /*expect_mapped=*/true);
        EXPECT_EQ(c.frames, 1u);
        EXPECT_EQ(c.status, ReadStatus::kError);
        EXPECT_NE(c.error.find(k.expected), std::string::npos) << c.error;
    }
}

TEST(PcapMapped, FileWithoutPacketsEndsAtOnce) {
    TempDir dir;
    for (bool big : {false, true}) {
        const Comparison c = check_crafted(dir, big ? "empty-be.pcap" : "empty-le.pcap",
                                           PcapImage(big, kMagicNano, DLT_EN10MB),
                                           /*expect_mapped=*/true);
        EXPECT_EQ(c.frames, 0u);
        EXPECT_EQ(c.status, ReadStatus::kEnd);
    }
}

TEST(PcapMapped, Version23IsReadByLibpcap) {
    TempDir dir;
    PcapImage image(false, kMagicMicro, DLT_EN10MB, 65535, 2, 3);
    image.record(1, 0, 60, 60).record(2, 0, 50, 80);
    const Comparison c = check_crafted(dir, "v23.pcap", image, /*expect_mapped=*/false);
    EXPECT_EQ(c.frames, 2u);
}

TEST(PcapMapped, LinktypeOutsideTheMappableSetIsReadByLibpcap) {
    TempDir dir;
    for (uint32_t linktype : {147u, 189u /* Linux USB */, 239u /* NFLOG */}) {
        PcapImage image(true, kMagicMicro, linktype);
        image.record(1, 0, 80, 80).record(2, 0, 80, 80);
        const Comparison c = check_crafted(dir, "lt" + std::to_string(linktype) + ".pcap", image,
                                           /*expect_mapped=*/false);
        EXPECT_EQ(c.frames, 2u);
    }
}

TEST(PcapMapped, MappableLinktypesAreMappedInBothByteOrdersButSwappedCookedOnes) {
    TempDir dir;
    // Link types as files store them (LINKTYPE_*: 101 is raw IP, libpcap's DLT 12), and
    // Ethernet with the FCS-length bits of the link type field set.
    for (uint32_t linktype :
         {0u, 1u, 9u, 12u, 14u, 50u, 101u, 104u, 108u, 113u, 228u, 229u, 276u, 0x14000001u}) {
        for (bool big : {false, true}) {
            PcapImage image(big, kMagicMicro, linktype);
            image.record(1, 0, 40, 40).record(2, 0, 80, 80).record(3, 0, 200, 300);
            // Byte-swapped Linux cooked captures stay with libpcap, which rewrites their CAN
            // identifiers (ByteSwappedCookedCanFramesAreLibpcaps).
            const bool cooked = linktype == 113u || linktype == 276u;
            const Comparison c = check_crafted(
                dir, "lt" + std::to_string(linktype) + (big ? "-be" : "-le") + ".pcap", image,
                /*expect_mapped=*/!(big && cooked));
            EXPECT_EQ(c.frames, 3u) << linktype;
        }
    }
}

// The patched-libpcap format (magic 0xa1b2cd34) has longer record headers.
TEST(PcapMapped, PatchedLibpcapFormatIsReadByLibpcap) {
    TempDir dir;
    for (bool big : {false, true}) {
        PcapImage image(big, 0xa1b2cd34, DLT_EN10MB);
        image.record(1, 0, 40, 40).tail(8).record(2, 0, 50, 50).tail(8);
        const Comparison c = check_crafted(dir, big ? "patched-be.pcap" : "patched-le.pcap", image,
                                           /*expect_mapped=*/false);
        EXPECT_EQ(c.frames, 2u);
    }
}

// In a byte-swapped Linux cooked capture of CAN, libpcap rewrites the CAN identifier into
// host order; the mapped reader must hand over the same bytes.
TEST(PcapMapped, ByteSwappedCookedCanFramesAreLibpcaps) {
    TempDir dir;
    for (uint32_t linktype : {113u, 276u}) {
        PcapImage image(true, kMagicMicro, linktype);
        image.record(1, 0, 32, 32).record(2, 0, 32, 32);
        const std::string path = dir.file("can" + std::to_string(linktype) + ".pcap");
        image.write(path);
        // Protocol CAN (0x000c) at the place each header version keeps it.
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        for (std::streamoff record : {24, 24 + 16 + 32}) {
            const std::streamoff protocol = record + 16 + (linktype == 113 ? 14 : 0);
            f.seekp(protocol);
            f.put('\x00').put('\x0c');
        }
        f.close();
        const Comparison c = compare_next(path);
        EXPECT_EQ(c.difference, "") << linktype;
        EXPECT_EQ(c.frames, 2u);
    }
}

// ---- release_before() ----------------------------------------------------------------------

// The next frame of a mapped reader and of a libpcap reader of the same file: the status both
// gave, and what differs (their statuses, or the frames), empty when nothing does.
struct BothRead {
    ReadStatus status = ReadStatus::kError;
    std::string difference;
};

BothRead read_both(PcapFileReader& mapped, PcapFileReader& plain, core::Frame& a, core::Frame& b) {
    const ReadStatus sa = mapped.next(a);
    const ReadStatus sb = plain.next(b);
    if (sa != sb) {
        return {sa, std::string("status ") + status_name(sa) + " != " + status_name(sb)};
    }
    return {sa, sa == ReadStatus::kOk ? frame_difference(a, b) : std::string()};
}

TEST(PcapMapped, ReadingGoesOnAfterReleasingWhatWasRead) {
    TempDir dir;
    const std::string path = dir.file("large.pcap");
    constexpr uint32_t kFrames = 6000;
    constexpr uint32_t kSize = 997;  // not a divisor of the page size
    {
        PcapImage image(false, kMagicMicro, DLT_EN10MB);
        for (uint32_t i = 0; i < kFrames; ++i) {
            image.record(static_cast<int32_t>(1'000 + i), 7, kSize, kSize + 3);
        }
        image.write(path);
    }
    auto mapped = PcapFileReader::open(path, kSource, FileAccess::kMapped);
    auto plain = PcapFileReader::open(path, kSource, FileAccess::kLibpcap);
    ASSERT_TRUE(mapped && plain);
    PcapFileReader& m = **mapped;
    PcapFileReader& p = **plain;
    ASSERT_TRUE(m.mapped());
    // Frames are kept without copies between releases, and checked against copies of
    // libpcap's frames just before their pages are released.
    std::vector<core::Frame> kept;
    std::vector<std::vector<uint8_t>> reference;
    uint64_t frames = 0;
    uint64_t releases = 0;
    for (;;) {
        core::Frame a;
        core::Frame b;
        const BothRead both = read_both(m, p, a, b);
        ASSERT_EQ(both.difference, "") << "frame " << frames + 1;
        if (both.status != ReadStatus::kOk) {
            break;
        }
        ++frames;
        ASSERT_EQ(m.offset(), 24 + frames * (16 + kSize));
        kept.push_back(a);
        reference.emplace_back(b.data, b.data + b.caplen);
        if (frames % 1000 == 0 || frames == 1) {
            for (size_t i = 0; i < kept.size(); ++i) {
                ASSERT_EQ(std::memcmp(kept[i].data, reference[i].data(), kSize), 0)
                    << "kept frame " << kept[i].index;
            }
            kept.clear();
            reference.clear();
            m.release_before(m.offset());
            m.release_before(m.offset() / 2);  // going back releases nothing more
            ++releases;
        }
    }
    EXPECT_EQ(frames, kFrames);
    EXPECT_EQ(releases, 1 + kFrames / 1000);
    EXPECT_EQ(m.error(), p.error());
    EXPECT_EQ(stats_difference(m.stats(), p.stats()), "");
    EXPECT_EQ(m.offset(), std::filesystem::file_size(path));
    m.release_before(UINT64_MAX);  // past the end: clamped to the mapping
    core::Frame after;
    EXPECT_EQ(m.next(after), ReadStatus::kEnd);
}

// A mapped file cut short while it is read faults where its pages are gone: the process ends
// with code 1 and names the file, rather than with a bare bus error.
TEST(PcapMappedDeathTest, FileThatShrinksWhileMappedEndsTheProcessNamingIt) {
    TempDir dir;
    const std::string path = dir.file("shrinking.pcap");
    {
        PcapImage image(false, kMagicMicro, DLT_EN10MB);
        for (uint32_t i = 0; i < 200; ++i) {
            image.record(static_cast<int32_t>(1'000 + i), 0, 1000, 1000);  // 50 pages
        }
        image.write(path);
    }
    EXPECT_EXIT(
        {
            auto reader = PcapFileReader::open(path, kSource, FileAccess::kMapped);
            if (!reader || !(*reader)->mapped()) {
                std::exit(3);
            }
            core::Frame frame;
            (*reader)->next(frame);
            if (truncate(path.c_str(), 4096) != 0) {
                std::exit(4);
            }
            uint64_t sum = 0;
            while ((*reader)->next(frame) == ReadStatus::kOk) {
                for (uint32_t i = 0; i < frame.caplen; ++i) {
                    sum += frame.data[i];
                }
            }
            std::exit(sum == 0 ? 5 : 6);  // not reached: the pages past 4 KiB are gone
        },
        ::testing::ExitedWithCode(1), "shrinking.pcap: the file shrank while it was read");
}

TEST(PcapMapped, ReleasingBeforeReadingAnythingStillReadsEveryFrame) {
    TempDir dir;
    const std::string path = dir.file("released.pcap");
    PcapImage image(true, kMagicNano, DLT_EN10MB);
    for (int i = 0; i < 2000; ++i) {
        image.record(i, i * 1000 + 1, 1200, 1200);
    }
    image.write(path);
    auto mapped = PcapFileReader::open(path, kSource, FileAccess::kMapped);
    ASSERT_TRUE(mapped);
    ASSERT_TRUE((*mapped)->mapped());
    // Releasing what is still to come costs only a fault back in from the page cache.
    (*mapped)->release_before(std::filesystem::file_size(path));
    core::Frame frame;
    uint64_t frames = 0;
    while ((*mapped)->next(frame) == ReadStatus::kOk) {
        ++frames;
        ASSERT_EQ(frame.data[0], static_cast<uint8_t>(frames * 37));
    }
    EXPECT_EQ(frames, 2000u);
}

// ---- keep_mapping_in_background() ----------------------------------------------------------

// Resident KiB of this process's mapping that holds address (/proc/self/smaps), or -1.
long resident_kib_of_mapping(const void* address) {
    std::ifstream smaps("/proc/self/smaps");
    const auto at = reinterpret_cast<uintptr_t>(address);
    std::string line;
    bool inside = false;
    while (std::getline(smaps, line)) {
        unsigned long long from = 0;
        unsigned long long to = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx ", &from, &to) == 2 &&
            line.find('-') < line.find(' ')) {
            inside = at >= from && at < to;
            continue;
        }
        long kib = 0;
        if (inside && std::sscanf(line.c_str(), "Rss: %ld kB", &kib) == 1) {
            return kib;
        }
    }
    return -1;
}

// Polls until resident KiB of the mapping satisfies done, for up to five seconds.
template <class Done>
long wait_for_resident(const void* address, Done done) {
    long kib = resident_kib_of_mapping(address);
    for (int i = 0; i < 500 && !done(kib); ++i) {
        usleep(10'000);
        kib = resident_kib_of_mapping(address);
    }
    return kib;
}

void write_large_capture(const std::string& path, uint32_t frames, uint32_t size) {
    PcapImage image(false, kMagicMicro, DLT_EN10MB);
    for (uint32_t i = 0; i < frames; ++i) {
        image.record(static_cast<int32_t>(1'000 + i), 7, size, size);
    }
    image.write(path);
}

TEST(PcapMappedBackground, ReadsTheSameAsLibpcapWhileReleasing) {
    TempDir dir;
    const std::string path = dir.file("large.pcap");
    constexpr uint32_t kFrames = 12000;
    constexpr uint32_t kSize = 1499;  // 18 MiB: several of the helper's steps and windows
    write_large_capture(path, kFrames, kSize);
    auto mapped = PcapFileReader::open(path, kSource, FileAccess::kMapped);
    auto plain = PcapFileReader::open(path, kSource, FileAccess::kLibpcap);
    ASSERT_TRUE(mapped && plain);
    PcapFileReader& m = **mapped;
    PcapFileReader& p = **plain;
    ASSERT_TRUE(m.mapped());
    m.keep_mapping_in_background();
    ASSERT_TRUE(m.mapping_in_background());
    m.keep_mapping_in_background();  // a second call changes nothing
    uint64_t frames = 0;
    uint64_t held_from = 0;  // frames before this offset were released
    for (;;) {
        core::Frame a;
        core::Frame b;
        const BothRead both = read_both(m, p, a, b);
        ASSERT_EQ(both.difference, "") << "frame " << frames + 1;
        if (both.status != ReadStatus::kOk) {
            break;
        }
        ++frames;
        ASSERT_EQ(std::memcmp(a.data, b.data, kSize), 0) << "frame " << frames;
        if (frames % 700 == 0) {
            // As the pipeline does: release what every worker has finished, a step behind.
            m.release_before(held_from);
            held_from = m.offset();
        }
        if (frames == kFrames * 3 / 4) {
            // The reader carries on alone, mapping ahead itself.
            EXPECT_GT(m.stop_keeping_mapping(), 0.0);
            EXPECT_FALSE(m.mapping_in_background());
            EXPECT_EQ(m.stop_keeping_mapping(), 0.0);
        }
    }
    EXPECT_EQ(frames, kFrames);
    EXPECT_EQ(stats_difference(m.stats(), p.stats()), "");
    EXPECT_EQ(m.error(), p.error());
}

// Whether this kernel maps file pages on request (MADV_POPULATE_READ, Linux 5.14): without
// it the reader's requests only start readahead, and pages are mapped as they are touched.
bool kernel_populates(const std::string& path) {
#ifdef MADV_POPULATE_READ
    const int fd = ::open(path.c_str(), O_RDONLY);
    if (fd < 0) {
        return false;
    }
    const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* map = mmap(nullptr, page, PROT_READ, MAP_PRIVATE, fd, 0);
    ::close(fd);
    if (map == MAP_FAILED) {
        return false;
    }
    const bool ok = madvise(map, page, MADV_POPULATE_READ) == 0;
    munmap(map, page);
    return ok;
#else
    (void)path;
    return false;
#endif
}

// The helper maps ahead of a reader that has not moved, and drops what is released, on its
// own: the mapping's resident size shows both without the reader doing anything more. The
// bounds leave room for pages mapped in larger pieces (huge pages, fault-around) and for
// a loaded machine.
TEST(PcapMappedBackground, MapsAheadAndDropsReleasedPages) {
    TempDir dir;
    const std::string path = dir.file("ahead.pcap");
    write_large_capture(path, 16000, 1999);  // 32 MiB
    if (!kernel_populates(path)) {
        GTEST_SKIP() << "this kernel or C library cannot populate mappings (MADV_POPULATE_READ)";
    }
    // The file's pages in the page cache, so that mapping them is only page-table work.
    {
        std::ifstream in(path, std::ios::binary);
        std::vector<char> buffer(1 << 20);
        while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()))) {
        }
    }
    auto synchronous = PcapFileReader::open(path, kSource, FileAccess::kMapped);
    auto background = PcapFileReader::open(path, kSource, FileAccess::kMapped);
    ASSERT_TRUE(synchronous && background);
    core::Frame first;
    ASSERT_EQ((*synchronous)->next(first), ReadStatus::kOk);
    // Without the helper the reader maps 4 MiB ahead itself, once it reads.
    const long synchronous_kib = resident_kib_of_mapping(first.data);
    EXPECT_GT(synchronous_kib, 0);
    EXPECT_LE(synchronous_kib, 4096 + 2048);

    (*background)->keep_mapping_in_background();
    core::Frame frame;
    ASSERT_EQ((*background)->next(frame), ReadStatus::kOk);
    const void* address = frame.data;
    const long ahead_kib = wait_for_resident(address, [](long kib) { return kib >= 8000; });
    EXPECT_GE(ahead_kib, 8000) << "the helper keeps 8 MiB mapped ahead of the reader";
    EXPECT_LE(ahead_kib, 8192 + 4096) << "and not much more while the reader stays";

    // Reading on: the helper follows; what is released leaves the mapping.
    uint64_t frames = 1;
    while ((*background)->offset() < (uint64_t{20} << 20)) {
        ASSERT_EQ((*background)->next(frame), ReadStatus::kOk);
        ++frames;
    }
    const long followed_kib = wait_for_resident(address, [](long kib) { return kib >= 26000; });
    EXPECT_GE(followed_kib, 26000) << "mapped up to 8 MiB past the reader at 20 MiB";
    (*background)->release_before(uint64_t{10} << 20);
    const long released_kib = wait_for_resident(address, [](long kib) { return kib <= 20000; });
    EXPECT_LE(released_kib, 20000) << "the first 10 MiB released are no longer resident";
    // A release asked for just before the helper is stopped is done before it ends.
    (*background)->release_before((*background)->offset());
    EXPECT_GT((*background)->stop_keeping_mapping(), 0.0);
    EXPECT_LE(resident_kib_of_mapping(address), 12000) << "20 MiB released as the helper ended";
    while ((*background)->next(frame) == ReadStatus::kOk) {
        ++frames;
    }
    EXPECT_EQ(frames, 16000u);
}

TEST(PcapMapped, LibpcapAccessIsNeverMapped) {
    TempDir dir;
    const std::string path = dir.file("plain.pcap");
    PcapImage image(false, kMagicMicro, DLT_EN10MB);
    image.record(1, 0, 60, 60);
    image.write(path);
    auto plain = PcapFileReader::open(path, kSource, FileAccess::kLibpcap);
    ASSERT_TRUE(plain);
    EXPECT_FALSE((*plain)->mapped());
    (*plain)->release_before(1000);  // no mapping: nothing to do
    core::Frame frame;
    EXPECT_EQ((*plain)->next(frame), ReadStatus::kOk);
    auto mapped = PcapFileReader::open(path, kSource);  // kMapped by default
    ASSERT_TRUE(mapped);
    EXPECT_TRUE((*mapped)->mapped());
}

// A pipe is no regular file: libpcap reads it.
TEST(PcapMapped, PipeIsReadByLibpcap) {
    TempDir dir;
    const std::string path = dir.file("fifo.pcap");
    ASSERT_EQ(mkfifo(path.c_str(), 0600), 0);
    std::vector<uint8_t> bytes;
    {
        PcapImage image(false, kMagicMicro, DLT_EN10MB);
        image.record(1, 0, 60, 60).record(2, 0, 61, 61);
        image.write(dir.file("source.pcap"));
    }
    // The writer blocks until the reader opens the fifo, so it runs beside the open below.
    const std::string command =
        "timeout 20 cat '" + dir.file("source.pcap") + "' > '" + path + "' &";
    ASSERT_EQ(std::system(command.c_str()), 0);
    auto reader = PcapFileReader::open(path, kSource, FileAccess::kMapped);
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_FALSE((*reader)->mapped());
    core::Frame frame;
    EXPECT_EQ((*reader)->next(frame), ReadStatus::kOk);
    EXPECT_EQ((*reader)->next(frame), ReadStatus::kOk);
    EXPECT_EQ(frame.caplen, 61u);
    EXPECT_EQ((*reader)->next(frame), ReadStatus::kEnd);
}

// ---- the corpus ----------------------------------------------------------------------------

using ::sensor::test_support::corpus_captures;

// The first 24 bytes of a file, when it has them.
struct FileHead {
    uint32_t magic_le = 0;
    uint16_t major = 0;
    uint16_t minor = 0;
    uint32_t linktype = 0;
    bool swapped = false;
};

FileHead read_head(const std::filesystem::path& path) {
    FileHead h;
    uint8_t b[24] = {};
    std::ifstream in(path, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(b), sizeof b)) {
        return h;
    }
    h.magic_le = uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
    h.swapped = h.magic_le == 0xd4c3b2a1 || h.magic_le == 0x4d3cb2a1;
    auto u16 = [&](int at) {
        return static_cast<uint16_t>(h.swapped ? b[at] << 8 | b[at + 1] : b[at + 1] << 8 | b[at]);
    };
    auto u32 = [&](int at) {
        return h.swapped ? uint32_t{b[at]} << 24 | uint32_t{b[at + 1]} << 16 |
                               uint32_t{b[at + 2]} << 8 | b[at + 3]
                         : uint32_t{b[at + 3]} << 24 | uint32_t{b[at + 2]} << 16 |
                               uint32_t{b[at + 1]} << 8 | b[at];
    };
    h.major = u16(4);
    h.minor = u16(6);
    h.linktype = u32(20);
    return h;
}

TEST(PcapMapped, EveryCorpusCaptureReadsTheSameBothWays) {
    const auto files = corpus_captures();
    if (files.empty()) {
        GTEST_SKIP() << "corpus not present: ../shared/corpora";
    }
    size_t mapped = 0;
    size_t errors = 0;
    uint64_t frames = 0;
    for (const auto& file : files) {
        const Comparison c = compare_next(file.string());
        EXPECT_EQ(c.difference, "") << file.string();
        const FileHead head = read_head(file);
        if (head.magic_le == 0x0a0d0d0a) {
            EXPECT_FALSE(c.mapped) << "pcapng mapped: " << file.string();
        }
        const bool classic =
            head.magic_le == kMagicMicro || head.magic_le == kMagicNano || head.swapped;
        if (classic && head.major == 2 && head.minor == 4 &&
            (head.linktype & 0x03ffffff) == DLT_EN10MB && c.status != ReadStatus::kError) {
            EXPECT_TRUE(c.mapped) << "ethernet 2.4 capture not mapped: " << file.string();
        }
        mapped += c.mapped ? 1 : 0;
        errors += c.status == ReadStatus::kError ? 1 : 0;
        frames += c.frames;
    }
    std::printf("[ corpus   ] %zu captures, %zu mapped, %zu ending in an error, %llu frames\n",
                files.size(), mapped, errors, static_cast<unsigned long long>(frames));
    EXPECT_GT(mapped, 0u);
}

TEST(PcapMapped, CorpusCapturesReadInBatchesLikeOneByOne) {
    const auto files = corpus_captures();
    if (files.empty()) {
        GTEST_SKIP() << "corpus not present: ../shared/corpora";
    }
    size_t mapped_checked = 0;
    size_t plain_checked = 0;
    for (const auto& file : files) {
        auto reader = PcapFileReader::open(file.string(), kSource);
        if (!reader) {
            continue;
        }
        const bool mapped = (*reader)->mapped();
        if ((mapped && mapped_checked < 4) || (!mapped && plain_checked < 2)) {
            EXPECT_EQ(compare_batches(file.string(), FileAccess::kMapped), "") << file.string();
            EXPECT_EQ(compare_batches(file.string(), FileAccess::kLibpcap), "") << file.string();
            (mapped ? mapped_checked : plain_checked) += 1;
        }
    }
    EXPECT_EQ(mapped_checked, 4u);
}

}  // namespace
}  // namespace sensor::capture
