#include "capture/pcap_file_reader.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/unit/temp_dir.h"

namespace sensor::capture {
namespace {

class TempDir : public ::sensor::test_support::TempDir {
public:
    TempDir() : ::sensor::test_support::TempDir("capture-test") {}
};

// Writes count Ethernet frames of the given size; byte 0 of each holds its index.
void write_pcap(const std::string& path, int count, size_t size) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t* dumper = pcap_dump_open(dead, path.c_str());
    ASSERT_NE(dumper, nullptr);
    std::vector<u_char> frame(size, 0xab);
    for (int i = 0; i < count; ++i) {
        pcap_pkthdr h{};
        h.ts.tv_sec = 1'700'000'000 + i;
        h.ts.tv_usec = 250;
        h.caplen = static_cast<bpf_u_int32>(size);
        h.len = static_cast<bpf_u_int32>(size + 4);
        frame[0] = static_cast<u_char>(i);
        pcap_dump(reinterpret_cast<u_char*>(dumper), &h, frame.data());
    }
    pcap_dump_close(dumper);
    pcap_close(dead);
}

TEST(PcapFileReader, ReadsEveryPacketInBatchesWithIndexAndTime) {
    TempDir dir;
    write_pcap(dir.file("a.pcap"), 150, 100);
    auto reader = PcapFileReader::open(dir.file("a.pcap"), 7);
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ((*reader)->linktype(), DLT_EN10MB);
    core::FrameBatch batch;
    std::vector<uint64_t> indices;
    ReadStatus status = ReadStatus::kOk;
    while (status == ReadStatus::kOk) {
        batch.clear();
        status = (*reader)->read(batch);
        for (const auto& f : batch) {
            indices.push_back(f.index);
            EXPECT_EQ(f.caplen, 100u);
            EXPECT_EQ(f.wire_len, 104u);
            EXPECT_EQ(f.source, 7u);
            EXPECT_EQ(f.data[0], static_cast<uint8_t>(f.index - 1));
            EXPECT_EQ(f.ts_us,
                      (1'700'000'000LL + static_cast<int64_t>(f.index) - 1) * 1'000'000 + 250);
        }
    }
    EXPECT_EQ(status, ReadStatus::kEnd);
    ASSERT_EQ(indices.size(), 150u);
    for (size_t i = 0; i < indices.size(); ++i) {
        EXPECT_EQ(indices[i], i + 1);
    }
    EXPECT_EQ((*reader)->stats().packets, 150u);
    EXPECT_EQ((*reader)->stats().bytes, 15000u);
}

TEST(PcapFileReader, PacketThatDoesNotFitWaitsForTheNextBatch) {
    TempDir dir;
    write_pcap(dir.file("big.pcap"), 5, 3000);
    auto reader = PcapFileReader::open(dir.file("big.pcap"), 0);
    ASSERT_TRUE(reader);
    core::FrameBatch batch(7000);  // room for two 3000-byte frames
    size_t total = 0;
    ReadStatus status = ReadStatus::kOk;
    std::vector<size_t> sizes;
    while (status == ReadStatus::kOk) {
        batch.clear();
        status = (*reader)->read(batch);
        sizes.push_back(batch.size());
        for (const auto& f : batch) {
            EXPECT_EQ(f.data[0], static_cast<uint8_t>(total));
            ++total;
        }
    }
    EXPECT_EQ(total, 5u);
    EXPECT_EQ(sizes.front(), 2u);
}

TEST(PcapFileReader, MissingFileIsAnErrorNamingIt) {
    auto reader = PcapFileReader::open("/nonexistent/x.pcap", 0);
    ASSERT_FALSE(reader);
    EXPECT_NE(reader.error().message.find("/nonexistent/x.pcap"), std::string::npos);
}

TEST(PcapFileReader, FileThatIsNoCaptureIsAnErrorNamingIt) {
    TempDir dir;
    std::ofstream(dir.file("text.pcap")) << "not a capture file\n";
    auto reader = PcapFileReader::open(dir.file("text.pcap"), 0);
    ASSERT_FALSE(reader);
    EXPECT_NE(reader.error().message.find("text.pcap: cannot open capture: unknown file format"),
              std::string::npos)
        << reader.error().message;
}

// The reader gives the file a larger stdio buffer than libpcap would: a capture several
// times that size still arrives whole and in order, packet by packet.
TEST(PcapFileReader, CaptureLargerThanTheFileBufferIsReadWhole) {
    TempDir dir;
    write_pcap(dir.file("large.pcap"), 400, 3001);  // 1.2 MB
    auto reader = PcapFileReader::open(dir.file("large.pcap"), 0);
    ASSERT_TRUE(reader) << reader.error().message;
    core::Frame frame;
    uint64_t count = 0;
    while ((*reader)->next(frame) == ReadStatus::kOk) {
        ASSERT_EQ(frame.caplen, 3001u);
        EXPECT_EQ(frame.data[0], static_cast<uint8_t>(count));
        EXPECT_EQ(frame.data[3000], 0xab);
        ++count;
        EXPECT_EQ(frame.index, count);
    }
    EXPECT_EQ(count, 400u);
    EXPECT_EQ((*reader)->stats().bytes, 400u * 3001u);
}

TEST(PcapFileReader, CorruptCaptureDeliversReadablePacketsThenNamesTheError) {
    const std::string path = std::string(SENSOR_SOURCE_DIR) +
                             "/../shared/corpora/suricata-verify/tests/bug-6875-01/fuzz.pcap";
    if (!std::filesystem::exists(path)) {
        GTEST_SKIP() << "corpus not present: " << path;
    }
    auto reader = PcapFileReader::open(path, 0);
    ASSERT_TRUE(reader) << reader.error().message;
    core::FrameBatch batch;
    size_t frames = 0;
    ReadStatus status = ReadStatus::kOk;
    while (status == ReadStatus::kOk) {
        batch.clear();
        status = (*reader)->read(batch);
        frames += batch.size();
    }
    EXPECT_EQ(status, ReadStatus::kError);
    EXPECT_EQ(frames, 1u);  // the second packet header is corrupt
    EXPECT_NE((*reader)->error().find("fuzz.pcap: packet 2: cannot read: "), std::string::npos)
        << (*reader)->error();
}

TEST(ExpandInputs, DirectoriesExpandSortedFilesKeepOrder) {
    TempDir dir;
    std::filesystem::create_directory(dir.path() / "d");
    for (const char* name : {"c.pcap", "a.pcap", "b.pcapng"}) {
        std::ofstream(dir.path() / "d" / name) << "x";
    }
    std::ofstream(dir.path() / "z.pcap") << "x";
    auto files = expand_inputs({dir.file("z.pcap"), dir.file("d")});
    ASSERT_TRUE(files);
    ASSERT_EQ(files->size(), 4u);
    EXPECT_EQ((*files)[0], dir.file("z.pcap"));
    EXPECT_EQ(std::filesystem::path((*files)[1]).filename(), "a.pcap");
    EXPECT_EQ(std::filesystem::path((*files)[3]).filename(), "c.pcap");
    auto missing = expand_inputs({dir.file("nope")});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("no such file"), std::string::npos);
}

}  // namespace
}  // namespace sensor::capture
