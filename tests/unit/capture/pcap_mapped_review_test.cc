// Mapped pcap reading when the file changes under it, and the SIGBUS handler that names such a
// file: a fault in any thread is reported, a fault or a signal that is not about a mapped
// capture file keeps its usual outcome, and the handler's slots are given back.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "capture/pcap_file_reader.h"
#include "tests/unit/temp_dir.h"

namespace sensor::capture {
namespace {

class TempDir : public ::sensor::test_support::TempDir {
public:
    TempDir() : ::sensor::test_support::TempDir("pcap-review") {}
};

void put_u32(std::vector<uint8_t>& out, uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<uint8_t>(v >> (8 * i)));
    }
}

// A little-endian microsecond pcap (DLT_EN10MB) of `count` records of `size` bytes each;
// record i is stamped 1000 + i seconds and filled with the byte 1 + i.
std::vector<uint8_t> pcap_bytes(uint32_t count, uint32_t size) {
    std::vector<uint8_t> out;
    put_u32(out, 0xa1b2c3d4);
    put_u32(out, 2 | 4u << 16);  // version 2.4
    put_u32(out, 0);
    put_u32(out, 0);
    put_u32(out, 65535);
    put_u32(out, DLT_EN10MB);
    for (uint32_t i = 0; i < count; ++i) {
        put_u32(out, 1000 + i);
        put_u32(out, 0);
        put_u32(out, size);
        put_u32(out, size);
        out.insert(out.end(), size, static_cast<uint8_t>(1 + i));
    }
    return out;
}

std::string write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    EXPECT_TRUE(out.good()) << path;
    return path;
}

// ---- a file that shrinks while it is read ---------------------------------------------------

// A mapped file cut inside its last page faults nowhere: the part of the page past the new end
// reads as zeros. Reading must still not end as if the file were whole: 64 records of zeros
// (time 0, no bytes) fill exactly the rest of the mapping here, and the record cut in two comes
// back half zeros. libpcap, reading the cut file, stops at that record with an error; the
// handler's way (exit code 1, the file named) would do too.
TEST(PcapMappedReviewDeathTest, FileCutInsideItsLastPageIsNotReadAsRecordsOfZeros) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    TempDir dir;
    // 24 + 3 x (16 + 1008) = 3096 bytes: one page. Cut at 1540, inside the second record.
    const std::string path = write_file(dir.file("cut.pcap"), pcap_bytes(3, 1008));
    EXPECT_EXIT(
        {
            auto reader = PcapFileReader::open(path, 0, FileAccess::kMapped);
            if (!reader || !(*reader)->mapped()) {
                std::exit(3);
            }
            core::Frame frame;
            if ((*reader)->next(frame) != ReadStatus::kOk) {
                std::exit(4);
            }
            if (truncate(path.c_str(), 1540) != 0) {
                std::exit(5);
            }
            dir.remove_now();
            ReadStatus status = ReadStatus::kOk;
            uint64_t invented = 0;
            uint64_t damaged = 0;
            while ((status = (*reader)->next(frame)) == ReadStatus::kOk) {
                if (frame.ts_us < 1000'000'000 || frame.caplen == 0) {
                    ++invented;  // no such record was ever in the file
                    continue;
                }
                const auto fill = static_cast<uint8_t>(1 + (frame.ts_us / 1'000'000 - 1000));
                for (uint32_t i = 0; i < frame.caplen; ++i) {
                    damaged += frame.data[i] != fill ? 1 : 0;
                }
            }
            std::fprintf(stderr, "%llu invented records, %llu damaged bytes, %s\n",
                         static_cast<unsigned long long>(invented),
                         static_cast<unsigned long long>(damaged),
                         status == ReadStatus::kError ? (*reader)->error().c_str() : "clean end");
            std::exit(status == ReadStatus::kError && invented == 0 ? 1 : 6);
        },
        ::testing::ExitedWithCode(1), "cut.pcap");
}

// A fault in a worker, on a frame handed over in place, is named like one in the reader.
TEST(PcapMappedReviewDeathTest, FaultInAnotherThreadNamesTheFile) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    TempDir dir;
    const std::string path = write_file(dir.file("worker-side.pcap"), pcap_bytes(200, 1000));
    EXPECT_EXIT(
        {
            auto reader = PcapFileReader::open(path, 0, FileAccess::kMapped);
            if (!reader || !(*reader)->mapped()) {
                std::exit(3);
            }
            std::vector<core::Frame> frames;
            core::Frame frame;
            while ((*reader)->next(frame) == ReadStatus::kOk) {
                frames.push_back(frame);
            }
            if (frames.size() != 200 || truncate(path.c_str(), 4096) != 0) {
                std::exit(4);
            }
            dir.remove_now();
            uint64_t sum = 0;
            std::thread worker([&] {
                for (const core::Frame& f : frames) {
                    for (uint32_t i = 0; i < f.caplen; ++i) {
                        sum += f.data[i];
                    }
                }
            });
            worker.join();
            std::exit(sum == 0 ? 5 : 6);  // not reached: the pages past 4 KiB are gone
        },
        ::testing::ExitedWithCode(1), "worker-side.pcap: the file shrank while it was read");
}

// ---- the handler and what is not ours -------------------------------------------------------

// A bus error on a mapping that is no capture file's keeps its usual outcome, unnamed.
TEST(PcapMappedReviewDeathTest, FaultOutsideEveryCaptureFileIsNotBlamedOnOne) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    TempDir dir;
    const std::string capture = write_file(dir.file("capture.pcap"), pcap_bytes(2, 100));
    const std::string other = write_file(dir.file("other.bin"), std::vector<uint8_t>(16384, 7));
    EXPECT_EXIT(
        {
            signal(SIGBUS, SIG_DFL);  // whatever a sanitizer installed: the default action
            auto reader = PcapFileReader::open(capture, 0, FileAccess::kMapped);
            if (!reader || !(*reader)->mapped()) {
                std::exit(3);
            }
            const int fd = ::open(other.c_str(), O_RDONLY);
            void* map = mmap(nullptr, 16384, PROT_READ, MAP_SHARED, fd, 0);
            if (fd < 0 || map == MAP_FAILED || truncate(other.c_str(), 0) != 0) {
                std::exit(4);
            }
            dir.remove_now();
            const volatile uint8_t* bytes = static_cast<const uint8_t*>(map);
            std::exit(bytes[8192] == 7 ? 5 : 6);  // faults: the page is gone
        },
        ::testing::KilledBySignal(SIGBUS), "");
}

// Installing the handler must not swallow a SIGBUS that is sent (kill -BUS, raise) rather than
// caused by a fault: with no handler before ours, its default action ends the process. Ours
// restores the default and returns, which ends a fault (it repeats) but not a sent signal.
TEST(PcapMappedReviewDeathTest, BusSignalSentToTheProcessStillEndsIt) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    TempDir dir;
    const std::string capture = write_file(dir.file("capture.pcap"), pcap_bytes(2, 100));
    EXPECT_EXIT(
        {
            signal(SIGBUS, SIG_DFL);  // whatever a sanitizer installed: the default action
            auto reader = PcapFileReader::open(capture, 0, FileAccess::kMapped);
            if (!reader || !(*reader)->mapped()) {
                std::exit(3);
            }
            dir.remove_now();
            raise(SIGBUS);
            std::exit(0);  // the signal was lost
        },
        ::testing::KilledBySignal(SIGBUS), "");
}

// The handler keeps a slot per live mapping; a reader gives its slot back when it closes, so a
// long run over many files keeps mapping them.
TEST(PcapMappedReview, MappingSlotsAreGivenBackWhenReadersClose) {
    TempDir dir;
    const std::string path = write_file(dir.file("slots.pcap"), pcap_bytes(2, 100));
    std::vector<std::unique_ptr<PcapFileReader>> open_readers;
    for (int i = 0; i < 1000; ++i) {
        auto reader = PcapFileReader::open(path, 0, FileAccess::kMapped);
        ASSERT_TRUE(reader) << reader.error().message;
        const bool mapped = (*reader)->mapped();
        // Mapped or not, the frames are the file's.
        core::Frame frame;
        ASSERT_EQ((*reader)->next(frame), ReadStatus::kOk);
        EXPECT_EQ(frame.caplen, 100u);
        EXPECT_EQ(frame.data[0], 1);
        open_readers.push_back(std::move(*reader));
        if (!mapped) {
            break;
        }
    }
    const size_t slots = open_readers.size() - 1;
    ASSERT_LT(slots, 1000u) << "every reader was mapped: no limit seen";
    ASSERT_GT(slots, 0u);
    EXPECT_FALSE(open_readers.back()->mapped());
    for (int round = 0; round < 3; ++round) {
        open_readers.erase(open_readers.begin());  // a mapped one closes
        auto reader = PcapFileReader::open(path, 0, FileAccess::kMapped);
        ASSERT_TRUE(reader);
        EXPECT_TRUE((*reader)->mapped()) << "round " << round;
        open_readers.push_back(std::move(*reader));
    }
    open_readers.clear();
    for (size_t i = 0; i < slots; ++i) {
        auto reader = PcapFileReader::open(path, 0, FileAccess::kMapped);
        ASSERT_TRUE(reader);
        EXPECT_TRUE((*reader)->mapped()) << "reader " << i;
        open_readers.push_back(std::move(*reader));
    }
}

}  // namespace
}  // namespace sensor::capture
