// Fuzz target for capture/pcap_file_reader: the input is a capture file, read once mapped
// and once by libpcap (packet by packet, then in batches against packet by packet, then both
// through a capture filter chosen by the input's last byte). Aborts, naming the difference,
// when the two ways disagree on any frame, the end, the error text or the counters.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>

#include "capture/pcap_file_reader.h"
#include "sensor/core/frame.h"

namespace {

using sensor::capture::FileAccess;
using sensor::capture::PcapFileReader;
using sensor::capture::ReadStatus;
using sensor::capture::SourceStats;
using sensor::core::Frame;

constexpr uint32_t kSource = 5;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "pcap_reader_fuzz: mapped and libpcap reading differ: %s\n", what.c_str());
    std::abort();
}

void same_frame(const Frame& a, const Frame& b, uint64_t n) {
    const std::string at = "frame " + std::to_string(n) + ": ";
    if (a.caplen != b.caplen || a.wire_len != b.wire_len || a.ts_us != b.ts_us ||
        a.linktype != b.linktype || a.index != b.index || a.source != b.source) {
        fail(at + "caplen " + std::to_string(a.caplen) + "/" + std::to_string(b.caplen) +
             " wire_len " + std::to_string(a.wire_len) + "/" + std::to_string(b.wire_len) +
             " ts_us " + std::to_string(a.ts_us) + "/" + std::to_string(b.ts_us) + " linktype " +
             std::to_string(a.linktype) + "/" + std::to_string(b.linktype) + " index " +
             std::to_string(a.index) + "/" + std::to_string(b.index));
    }
    for (uint32_t i = 0; i < a.caplen; ++i) {
        if (a.data[i] != b.data[i]) {
            fail(at + "byte " + std::to_string(i) + ": " + std::to_string(a.data[i]) +
                 " != " + std::to_string(b.data[i]));
        }
    }
}

void same_end(const PcapFileReader& a, const PcapFileReader& b) {
    if (a.error() != b.error()) {
        fail("error '" + a.error() + "' != '" + b.error() + "'");
    }
    const SourceStats& x = a.stats();
    const SourceStats& y = b.stats();
    if (x.packets != y.packets || x.bytes != y.bytes || x.first_ts_us != y.first_ts_us ||
        x.last_ts_us != y.last_ts_us || x.filtered != y.filtered) {
        fail("stats packets " + std::to_string(x.packets) + "/" + std::to_string(y.packets) +
             " filtered " + std::to_string(x.filtered) + "/" + std::to_string(y.filtered) +
             " bytes " + std::to_string(x.bytes) + "/" + std::to_string(y.bytes) + " first " +
             std::to_string(x.first_ts_us) + "/" + std::to_string(y.first_ts_us) + " last " +
             std::to_string(x.last_ts_us) + "/" + std::to_string(y.last_ts_us));
    }
}

// Both open, or both fail with the same words; true when both opened.
bool open_both(const std::string& path, FileAccess access, std::unique_ptr<PcapFileReader>& first,
               std::unique_ptr<PcapFileReader>& plain, const std::string& filter = {}) {
    auto a = PcapFileReader::open(path, kSource, access, filter);
    auto b = PcapFileReader::open(path, kSource, FileAccess::kLibpcap, filter);
    if (static_cast<bool>(a) != static_cast<bool>(b)) {
        fail("only one way opened the file");
    }
    if (!a) {
        if (a.error().message != b.error().message) {
            fail("open error '" + a.error().message + "' != '" + b.error().message + "'");
        }
        return false;
    }
    if ((*b)->mapped() || (*a)->linktype() != (*b)->linktype()) {
        fail("libpcap reader mapped, or link types differ");
    }
    first = std::move(*a);
    plain = std::move(*b);
    return true;
}

// Filters that compile for the common link types (and fail alike for others); what they
// pass depends on the packets' headers, so both readers run the filter on every record.
constexpr const char* kFilters[] = {"tcp",          "udp port 53", "ip6 or arp",
                                    "vlan and tcp", "len > 100",   "ip[9] = 17 or icmp"};

void compare_next(const std::string& path, size_t size, const std::string& filter = {}) {
    std::unique_ptr<PcapFileReader> m;
    std::unique_ptr<PcapFileReader> p;
    if (!open_both(path, FileAccess::kMapped, m, p, filter)) {
        return;
    }
    uint64_t frames = 0;
    for (;;) {
        Frame a;
        Frame b;
        const ReadStatus sa = m->next(a);
        const ReadStatus sb = p->next(b);
        if (sa != sb) {
            fail("frame " + std::to_string(frames + 1) + ": status " +
                 std::to_string(static_cast<int>(sa)) +
                 " != " + std::to_string(static_cast<int>(sb)) + " ('" + m->error() + "' | '" +
                 p->error() + "')");
        }
        if (sa != ReadStatus::kOk) {
            if (sa == ReadStatus::kEnd && m->mapped() && m->offset() != size) {
                // Filtered or not, mapped reading walks every record to the file's end.
                fail("mapped reading ended at " + std::to_string(m->offset()) + " of " +
                     std::to_string(size) + " bytes");
            }
            break;
        }
        same_frame(a, b, ++frames);
    }
    same_end(*m, *p);
}

void compare_batches(const std::string& path) {
    std::unique_ptr<PcapFileReader> r;
    std::unique_ptr<PcapFileReader> p;
    if (!open_both(path, FileAccess::kMapped, r, p)) {
        return;
    }
    // A small arena, so that packets of one input overflow it and wait for the next batch.
    sensor::core::FrameBatch batch(4096);
    uint64_t frames = 0;
    ReadStatus status = ReadStatus::kOk;
    while (status == ReadStatus::kOk) {
        batch.clear();
        status = r->read(batch);
        if (status == ReadStatus::kOk && batch.empty()) {
            // A packet larger than the arena is never delivered: the caller's arena is too small.
            return;
        }
        for (const Frame& a : batch) {
            Frame b;
            if (p->next(b) != ReadStatus::kOk) {
                fail("batches: frame " + std::to_string(frames + 1) + " only in a batch");
            }
            same_frame(a, b, ++frames);
        }
    }
    Frame b;
    if (p->next(b) != status) {
        fail("batches: end after frame " + std::to_string(frames) + " differs");
    }
    same_end(*r, *p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A memory file is a regular file to fstat and mmap, as a capture on disk is.
    const int fd = memfd_create("pcap_reader_fuzz", 0);
    if (fd < 0) {
        std::perror("memfd_create");
        std::abort();
    }
    size_t written = 0;
    while (written < size) {
        const ssize_t n = write(fd, data + written, size - written);
        if (n <= 0) {
            std::perror("write");
            std::abort();
        }
        written += static_cast<size_t>(n);
    }
    const std::string path = "/proc/self/fd/" + std::to_string(fd);
    compare_next(path, size);
    compare_batches(path);
    if (size > 0) {
        compare_next(path, size, kFilters[data[size - 1] % std::size(kFilters)]);
    }
    close(fd);
    return 0;
}
