#pragma once
// PcapFileReader: offline packet source over libpcap (pcap and pcapng). Fills FrameBatches
// by copying each packet into the batch's arena. One reader per input file; used by the
// capture thread only.

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sensor/core/frame.h"
#include "sensor/core/result.h"

namespace sensor::capture {

enum class ReadStatus : uint8_t {
    kOk,     // frames were appended; more may follow
    kEnd,    // the file is exhausted
    kError,  // libpcap reported an error; error() says what and where
};

struct SourceStats {
    uint64_t packets = 0;
    uint64_t bytes = 0;  // captured bytes
    int64_t first_ts_us = 0;
    int64_t last_ts_us = 0;
};

class PcapFileReader {
public:
    ~PcapFileReader();
    PcapFileReader(const PcapFileReader&) = delete;
    PcapFileReader& operator=(const PcapFileReader&) = delete;

    // Opens a capture file; the error names the file and gives libpcap's text.
    static core::Result<std::unique_ptr<PcapFileReader>> open(const std::string& path,
                                                              uint32_t source_id);

    // Appends packets to batch until it is full or the file ends. A packet that does not fit
    // the batch stays pending and is delivered by the next call.
    ReadStatus read(core::FrameBatch& batch) noexcept;

    // One packet without copying: frame.data points into libpcap's buffer and stays valid
    // until the next call. For a dispatcher that copies each packet straight into the batch
    // of the worker that owns its flow. Do not mix with read() on the same reader.
    ReadStatus next(core::Frame& frame) noexcept;

    const std::string& path() const noexcept { return path_; }
    int linktype() const noexcept { return linktype_; }
    // "PATH: packet N: cannot read: libpcap text" after kError (N = the unreadable packet).
    const std::string& error() const noexcept { return error_; }
    const SourceStats& stats() const noexcept { return stats_; }

private:
    // stdio buffer of the capture file.
    static constexpr size_t kFileBufferBytes = size_t{256} * 1024;

    PcapFileReader(pcap_t* handle, std::unique_ptr<char[]> file_buffer, std::string path,
                   uint32_t source_id);

    pcap_t* handle_;
    std::unique_ptr<char[]> file_buffer_;  // outlives handle_, which reads through it
    std::string path_;
    uint32_t source_id_;
    int linktype_;
    std::string error_;
    SourceStats stats_;
    const pcap_pkthdr* pending_header_ = nullptr;
    const u_char* pending_data_ = nullptr;
};

// Expands command-line inputs: files are kept in order, a directory contributes its regular
// files sorted by name. Missing paths are an error naming the path.
core::Result<std::vector<std::string>> expand_inputs(const std::vector<std::string>& inputs);

}  // namespace sensor::capture
