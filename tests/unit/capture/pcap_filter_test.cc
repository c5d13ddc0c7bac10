// Capture filters on capture files: both read paths (mapped and libpcap, one by one and in
// batches) hand out exactly the packets libpcap itself delivers with the same filter set on
// its own offline handle (pcap_setfilter), count the rest, and keep file positions.

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "capture/pcap_file_reader.h"
#include "tests/unit/temp_dir.h"

#if defined(__SANITIZE_ADDRESS__)
#define SENSOR_FILTER_TEST_MALLOC_HOOK 1
// From the sanitizer runtime's allocator interface; gcc ships no header that declares it.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             size_t),
                                                         void (*free_hook)(const volatile void*));
#endif

namespace sensor::capture {
namespace {

constexpr uint32_t kSource = 5;

class TempDir : public ::sensor::test_support::TempDir {
public:
    TempDir() : ::sensor::test_support::TempDir("pcap-filter") {}
};

std::filesystem::path corpus(const char* relative) {
    return std::filesystem::path(SENSOR_SOURCE_DIR) / "../shared/corpora" / relative;
}

// One packet as delivered: its 1-based position in the file, time, lengths and bytes.
struct Delivered {
    uint64_t position = 0;
    int64_t ts_us = 0;
    uint32_t caplen = 0;
    uint32_t wire_len = 0;
    std::vector<uint8_t> bytes;
    bool operator==(const Delivered&) const = default;
};

struct Expected {
    std::vector<Delivered> passed;
    uint64_t total = 0;  // records in the file
};

int64_t ts_of(const pcap_pkthdr& h) { return int64_t{h.ts.tv_sec} * 1'000'000 + h.ts.tv_usec; }

// The reference, by libpcap alone: two handles on the file, one filtering inside libpcap
// (pcap_setfilter), one unfiltered to find each passed packet's position in the file.
Expected libpcap_reference(const std::string& path, const std::string& expression) {
    Expected e;
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* filtered = pcap_open_offline(path.c_str(), errbuf);
    pcap_t* all = pcap_open_offline(path.c_str(), errbuf);
    EXPECT_NE(filtered, nullptr) << errbuf;
    EXPECT_NE(all, nullptr) << errbuf;
    if (filtered == nullptr || all == nullptr) {
        return e;
    }
    bpf_program program{};
    EXPECT_EQ(pcap_compile(filtered, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN), 0)
        << pcap_geterr(filtered);
    EXPECT_EQ(pcap_setfilter(filtered, &program), 0) << pcap_geterr(filtered);
    pcap_freecode(&program);
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    pcap_pkthdr* ah = nullptr;
    const u_char* adata = nullptr;
    while (pcap_next_ex(filtered, &h, &data) == 1) {
        Delivered d{0, ts_of(*h), h->caplen, h->len, std::vector<uint8_t>(data, data + h->caplen)};
        // The same packet in the unfiltered file: the first one on from the last that matches.
        while (pcap_next_ex(all, &ah, &adata) == 1) {
            ++e.total;
            if (ah->caplen == h->caplen && ah->len == h->len && ts_of(*ah) == d.ts_us &&
                std::memcmp(adata, data, h->caplen) == 0) {
                d.position = e.total;
                break;
            }
        }
        EXPECT_NE(d.position, 0u) << path << ": a passed packet not found in the file";
        e.passed.push_back(std::move(d));
    }
    while (pcap_next_ex(all, &ah, &adata) == 1) {
        ++e.total;
    }
    pcap_close(filtered);
    pcap_close(all);
    return e;
}

Delivered delivered(const core::Frame& f) {
    return {f.index, f.ts_us, f.caplen, f.wire_len,
            std::vector<uint8_t>(f.data, f.data + f.caplen)};
}

// What the reader hands out through next() (batched: through read()).
struct Read {
    std::vector<Delivered> frames;
    SourceStats stats;
    bool mapped = false;
    ReadStatus end = ReadStatus::kOk;
    std::string error;
};

Read read_filtered(const std::string& path, FileAccess access, const std::string& expression,
                   bool batched) {
    Read r;
    auto reader = PcapFileReader::open(path, kSource, access, expression);
    EXPECT_TRUE(reader) << reader.error().message;
    if (!reader) {
        return r;
    }
    r.mapped = (*reader)->mapped();
    if (batched) {
        core::FrameBatch batch;
        do {
            batch.clear();
            r.end = (*reader)->read(batch);
            for (const core::Frame& f : batch) {
                EXPECT_EQ(f.source, kSource);
                r.frames.push_back(delivered(f));
            }
        } while (r.end == ReadStatus::kOk);
    } else {
        core::Frame f;
        while ((r.end = (*reader)->next(f)) == ReadStatus::kOk) {
            r.frames.push_back(delivered(f));
        }
    }
    r.stats = (*reader)->stats();
    r.error = (*reader)->error();
    return r;
}

// Every way of reading gives libpcap's packets, and packets + filtered = the file's records.
void expect_like_libpcap(const std::string& path, const std::string& expression) {
    const Expected e = libpcap_reference(path, expression);
    ASSERT_GT(e.total, 0u) << path;
    for (FileAccess access : {FileAccess::kMapped, FileAccess::kLibpcap}) {
        for (bool batched : {false, true}) {
            const Read r = read_filtered(path, access, expression, batched);
            std::string where = path;
            where += " '" + expression + "' ";
            where += access == FileAccess::kMapped ? "mapped" : "libpcap";
            where += batched ? " read()" : " next()";
            EXPECT_EQ(r.mapped, access == FileAccess::kMapped) << where;
            EXPECT_EQ(r.end, ReadStatus::kEnd) << where << ": " << r.error;
            EXPECT_EQ(r.frames.size(), e.passed.size()) << where;
            EXPECT_TRUE(r.frames == e.passed) << where << ": frames differ";
            EXPECT_EQ(r.stats.packets, e.passed.size()) << where;
            EXPECT_EQ(r.stats.filtered, e.total - e.passed.size()) << where;
            uint64_t bytes = 0;
            for (const Delivered& d : e.passed) {
                bytes += d.caplen;
            }
            EXPECT_EQ(r.stats.bytes, bytes) << where;
            if (!e.passed.empty()) {
                EXPECT_EQ(r.stats.first_ts_us, e.passed.front().ts_us) << where;
            }
        }
    }
}

TEST(PcapFilter, CorpusCapturesFilterLikeLibpcapOnBothPaths) {
    const struct {
        const char* file;
        const char* expression;
        size_t want_passed;  // counted apart (a pcap parser over the file), so the case bites
        size_t want_total;
    } cases[] = {
        // Ethernet, IPv6 and IPv4, TCP and UDP.
        {"ndpi/pcap/http_ipv6.pcap", "udp", 65, 193},
        {"ndpi/pcap/http_ipv6.pcap", "tcp port 80 or tcp port 443", 128, 193},
        {"ndpi/pcap/ieee_c37118.pcap", "udp", 361, 778},
        // GOOSE frames are not IP: "not ip and not ip6" passes them alone.
        {"ics/iec61850-mms/iti__Sample_File_MMS_and_GOOSE.pcap", "tcp", 163, 301},
        {"ics/iec61850-mms/iti__Sample_File_MMS_and_GOOSE.pcap", "not ip and not ip6", 48, 301},
    };
    for (const auto& c : cases) {
        const std::filesystem::path path = corpus(c.file);
        if (!std::filesystem::exists(path)) {
            GTEST_SKIP() << "corpus not present: " << path.string();
        }
        const Expected e = libpcap_reference(path.string(), c.expression);
        EXPECT_EQ(e.total, c.want_total) << c.file;
        EXPECT_EQ(e.passed.size(), c.want_passed) << c.file << " '" << c.expression << "'";
        // Both sides of the filter are exercised.
        EXPECT_GT(e.passed.size(), 0u) << c.file << " '" << c.expression << "'";
        EXPECT_LT(e.passed.size(), e.total) << c.file << " '" << c.expression << "'";
        expect_like_libpcap(path.string(), c.expression);
    }
}

// Writes frames of Ethernet + IPv4 with the given IP protocols (6 TCP, 17 UDP), one byte of
// payload each holding its 1-based position.
void write_ipv4(const std::string& path, const std::vector<uint8_t>& protocols,
                uint32_t snaplen = 65535) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, static_cast<int>(snaplen));
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr);
    for (size_t i = 0; i < protocols.size(); ++i) {
        uint8_t frame[64] = {};
        frame[12] = 0x08;  // ethertype IPv4
        frame[14] = 0x45;  // version 4, IHL 5
        frame[17] = 50;    // total length
        frame[22] = 64;    // TTL
        frame[23] = protocols[i];
        frame[63] = static_cast<uint8_t>(i + 1);
        pcap_pkthdr h{};
        h.ts.tv_sec = 1'700'000'000 + static_cast<time_t>(i);
        h.caplen = sizeof frame;
        h.len = sizeof frame;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &h, frame);
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

TEST(PcapFilter, CraftedFileKeepsPositionsAndCountsRejected) {
    TempDir dir;
    const std::string path = dir.file("mixed.pcap");
    write_ipv4(path, {6, 17, 17, 6, 6, 17, 1});
    for (FileAccess access : {FileAccess::kMapped, FileAccess::kLibpcap}) {
        for (bool batched : {false, true}) {
            const Read r = read_filtered(path, access, "udp", batched);
            ASSERT_EQ(r.frames.size(), 3u);
            EXPECT_EQ(r.frames[0].position, 2u);
            EXPECT_EQ(r.frames[1].position, 3u);
            EXPECT_EQ(r.frames[2].position, 6u);
            for (const Delivered& d : r.frames) {
                EXPECT_EQ(d.bytes[23], 17);
                EXPECT_EQ(d.bytes[63], d.position);
            }
            EXPECT_EQ(r.stats.packets, 3u);
            EXPECT_EQ(r.stats.filtered, 4u);
            EXPECT_EQ(r.stats.bytes, 3u * 64);
            EXPECT_EQ(r.stats.first_ts_us, 1'700'000'001LL * 1'000'000);
            EXPECT_EQ(r.stats.last_ts_us, 1'700'000'005LL * 1'000'000);
        }
    }
    expect_like_libpcap(path, "udp");
    expect_like_libpcap(path, "tcp");
}

TEST(PcapFilter, WithoutFilterEveryPacketIsHandedOut) {
    TempDir dir;
    const std::string path = dir.file("mixed.pcap");
    write_ipv4(path, {6, 17, 1});
    for (FileAccess access : {FileAccess::kMapped, FileAccess::kLibpcap}) {
        const Read r = read_filtered(path, access, "", false);
        EXPECT_EQ(r.frames.size(), 3u);
        EXPECT_EQ(r.stats.filtered, 0u);
    }
    // An empty expression removes a filter that was set.
    auto reader = PcapFileReader::open(path, kSource, FileAccess::kMapped, "udp");
    ASSERT_TRUE(reader) << reader.error().message;
    ASSERT_TRUE((*reader)->set_filter(""));
    core::Frame f;
    uint64_t n = 0;
    while ((*reader)->next(f) == ReadStatus::kOk) {
        ++n;
    }
    EXPECT_EQ(n, 3u);
    EXPECT_EQ((*reader)->stats().filtered, 0u);
}

TEST(PcapFilter, RejectingEveryPacketEndsTheFile) {
    TempDir dir;
    const std::string path = dir.file("tcp.pcap");
    write_ipv4(path, {6, 6, 6});
    for (FileAccess access : {FileAccess::kMapped, FileAccess::kLibpcap}) {
        for (bool batched : {false, true}) {
            const Read r = read_filtered(path, access, "udp", batched);
            EXPECT_EQ(r.end, ReadStatus::kEnd);
            EXPECT_TRUE(r.frames.empty());
            EXPECT_EQ(r.stats.packets, 0u);
            EXPECT_EQ(r.stats.filtered, 3u);
            EXPECT_EQ(r.stats.first_ts_us, 0);
        }
    }
}

TEST(PcapFilter, BadExpressionNamesFileAndFilterAndKeepsThePreviousOne) {
    TempDir dir;
    const std::string path = dir.file("mixed.pcap");
    write_ipv4(path, {6, 17, 6});
    for (FileAccess access : {FileAccess::kMapped, FileAccess::kLibpcap}) {
        auto refused = PcapFileReader::open(path, kSource, access, "tcp port notaport");
        ASSERT_FALSE(refused);
        const std::string& message = refused.error().message;
        EXPECT_EQ(message.rfind(path + ": bad capture filter 'tcp port notaport': ", 0), 0u)
            << message;
        EXPECT_NE(message.find("notaport"), message.rfind("notaport")) << message;
        EXPECT_NE(message.find("(link type EN10MB)"), std::string::npos) << message;

        auto reader = PcapFileReader::open(path, kSource, access, "udp");
        ASSERT_TRUE(reader) << reader.error().message;
        EXPECT_FALSE((*reader)->set_filter("udp and"));
        core::Frame f;
        std::vector<uint64_t> positions;
        while ((*reader)->next(f) == ReadStatus::kOk) {
            positions.push_back(f.index);
        }
        EXPECT_EQ(positions, std::vector<uint64_t>{2});
    }
}

TEST(PcapFilter, FilterTheLinkTypeCannotTakeIsRefusedForThatFile) {
    TempDir dir;
    const std::string path = dir.file("raw.pcap");
    pcap_t* dead = pcap_open_dead(DLT_RAW, 65535);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr);
    pcap_dump_close(dumper);
    pcap_close(dead);
    // Raw IP has no link-layer addresses: "ether host" compiles for Ethernet, not here.
    ASSERT_EQ(
        PcapFileReader::open(dir.file("raw.pcap"), kSource, FileAccess::kMapped, "udp").has_value(),
        true);
    auto refused =
        PcapFileReader::open(path, kSource, FileAccess::kMapped, "ether host 00:11:22:33:44:55");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().message.rfind(
                  path + ": bad capture filter 'ether host 00:11:22:33:44:55': ", 0),
              0u)
        << refused.error().message;
    EXPECT_NE(refused.error().message.find("(link type RAW)"), std::string::npos)
        << refused.error().message;
}

TEST(PcapFilter, ReadErrorNamesThePositionInTheFileCountingFilteredPackets) {
    TempDir dir;
    const std::string path = dir.file("cut.pcap");
    write_ipv4(path, {6, 6, 17, 6, 6});
    std::filesystem::resize_file(path, std::filesystem::file_size(path) - 10);
    for (FileAccess access : {FileAccess::kMapped, FileAccess::kLibpcap}) {
        for (bool batched : {false, true}) {
            const Read r = read_filtered(path, access, "udp", batched);
            EXPECT_EQ(r.end, ReadStatus::kError);
            ASSERT_EQ(r.frames.size(), 1u);
            EXPECT_EQ(r.frames[0].position, 3u);
            EXPECT_EQ(r.stats.filtered, 3u);
            EXPECT_EQ(r.error.rfind(path + ": packet 5: cannot read: ", 0), 0u) << r.error;
        }
    }
}

#ifdef SENSOR_FILTER_TEST_MALLOC_HOOK
thread_local bool t_counting = false;
std::atomic<uint64_t> g_mallocs{0};
void on_malloc(const volatile void* /*ptr*/, size_t /*size*/) {
    if (t_counting) {
        g_mallocs.fetch_add(1, std::memory_order_relaxed);
    }
}
void on_free(const volatile void* /*ptr*/) {}
#endif

TEST(PcapFilter, FilteringAllocatesNothingPerPacket) {
#ifndef SENSOR_FILTER_TEST_MALLOC_HOOK
    GTEST_SKIP() << "counts malloc through the sanitizer's hooks (ASan builds)";
#else
    static const bool installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    ASSERT_TRUE(installed);
    TempDir dir;
    const std::string path = dir.file("many.pcap");
    std::vector<uint8_t> protocols;
    for (int i = 0; i < 2000; ++i) {
        protocols.push_back(i % 3 == 0 ? 17 : 6);
    }
    write_ipv4(path, protocols);
    for (FileAccess access : {FileAccess::kMapped, FileAccess::kLibpcap}) {
        auto reader = PcapFileReader::open(path, kSource, access, "udp");
        ASSERT_TRUE(reader) << reader.error().message;
        core::Frame f;
        ASSERT_EQ((*reader)->next(f), ReadStatus::kOk);  // warm: libpcap's buffers exist
        g_mallocs.store(0);
        t_counting = true;
        ReadStatus status = ReadStatus::kOk;
        while ((status = (*reader)->next(f)) == ReadStatus::kOk) {
        }
        t_counting = false;
        EXPECT_EQ(status, ReadStatus::kEnd);
        EXPECT_EQ((*reader)->stats().packets, 667u);
        EXPECT_EQ((*reader)->stats().filtered, 1333u);
        EXPECT_EQ(g_mallocs.load(), 0u) << (access == FileAccess::kMapped ? "mapped" : "libpcap");
    }
#endif
}

}  // namespace
}  // namespace sensor::capture
