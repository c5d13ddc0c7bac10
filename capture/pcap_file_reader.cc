#include "capture/pcap_file_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <span>
#include <system_error>

namespace sensor::capture {

PcapFileReader::PcapFileReader(pcap_t* handle, std::unique_ptr<char[]> file_buffer,
                               std::string path, uint32_t source_id)
    : handle_(handle),
      file_buffer_(std::move(file_buffer)),
      path_(std::move(path)),
      source_id_(source_id),
      linktype_(pcap_datalink(handle)) {}

PcapFileReader::~PcapFileReader() {
    if (handle_ != nullptr) {
        pcap_close(handle_);
    }
}

core::Result<std::unique_ptr<PcapFileReader>> PcapFileReader::open(const std::string& path,
                                                                   uint32_t source_id) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    // The file is opened here, as pcap_open_offline would, only to give its stream a larger
    // buffer: stdio's default (the file system's 4 KiB block) costs one read() per 4 KiB.
    FILE* file = std::fopen(path.c_str(), "rb");
    if (file == nullptr) {
        return core::make_error(path + ": cannot open capture: " + path + ": " +
                                std::strerror(errno));
    }
    auto file_buffer = std::make_unique<char[]>(kFileBufferBytes);
    std::setvbuf(file, file_buffer.get(), _IOFBF, kFileBufferBytes);
    // Microsecond precision is what EVE timestamps carry; libpcap scales nanosecond files.
    pcap_t* handle =
        pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (handle == nullptr) {
        std::fclose(file);  // libpcap closes the file only once it has taken it
        return core::make_error(path + ": cannot open capture: " + errbuf);
    }
    return std::unique_ptr<PcapFileReader>(
        new PcapFileReader(handle, std::move(file_buffer), path, source_id));
}

ReadStatus PcapFileReader::read(core::FrameBatch& batch) noexcept {
    while (!batch.full()) {
        const pcap_pkthdr* header = pending_header_;
        const u_char* data = pending_data_;
        if (header == nullptr) {
            pcap_pkthdr* next_header = nullptr;
            const u_char* next_data = nullptr;
            int rc = pcap_next_ex(handle_, &next_header, &next_data);
            if (rc == PCAP_ERROR_BREAK) {
                return ReadStatus::kEnd;
            }
            if (rc != 1) {
                // Name the packet that could not be read; the ones before it were delivered.
                error_ = path_ + ": packet " + std::to_string(stats_.packets + 1) +
                         ": cannot read: " + pcap_geterr(handle_);
                return ReadStatus::kError;
            }
            header = next_header;
            data = next_data;
            ++stats_.packets;
            stats_.bytes += header->caplen;
        }
        int64_t ts_us = int64_t{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec;
        if (!batch.push(std::span<const uint8_t>(data, header->caplen), header->len, ts_us,
                        linktype_, stats_.packets, source_id_)) {
            // No room: deliver it first on the next call (libpcap keeps the buffer until then).
            pending_header_ = header;
            pending_data_ = data;
            return ReadStatus::kOk;
        }
        pending_header_ = nullptr;
        pending_data_ = nullptr;
        if (stats_.packets == 1) {
            stats_.first_ts_us = ts_us;
        }
        stats_.last_ts_us = std::max(stats_.last_ts_us, ts_us);
    }
    return ReadStatus::kOk;
}

ReadStatus PcapFileReader::next(core::Frame& frame) noexcept {
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int rc = pcap_next_ex(handle_, &header, &data);
    if (rc == PCAP_ERROR_BREAK) {
        return ReadStatus::kEnd;
    }
    if (rc != 1) {
        error_ = path_ + ": packet " + std::to_string(stats_.packets + 1) +
                 ": cannot read: " + pcap_geterr(handle_);
        return ReadStatus::kError;
    }
    ++stats_.packets;
    stats_.bytes += header->caplen;
    frame.data = data;
    frame.caplen = header->caplen;
    frame.wire_len = header->len;
    frame.ts_us = int64_t{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec;
    frame.linktype = linktype_;
    frame.index = stats_.packets;
    frame.source = source_id_;
    if (stats_.packets == 1) {
        stats_.first_ts_us = frame.ts_us;
    }
    stats_.last_ts_us = std::max(stats_.last_ts_us, frame.ts_us);
    return ReadStatus::kOk;
}

core::Result<std::vector<std::string>> expand_inputs(const std::vector<std::string>& inputs) {
    std::vector<std::string> files;
    for (const auto& input : inputs) {
        std::error_code ec;
        auto status = std::filesystem::status(input, ec);
        if (ec || !std::filesystem::exists(status)) {
            return core::make_error(input + ": no such file or directory");
        }
        if (std::filesystem::is_directory(status)) {
            std::vector<std::string> found;
            for (const auto& entry : std::filesystem::directory_iterator(input, ec)) {
                if (entry.is_regular_file()) {
                    found.push_back(entry.path().string());
                }
            }
            if (ec) {
                return core::make_error(input + ": cannot list directory: " + ec.message());
            }
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else {
            files.push_back(input);
        }
    }
    return files;
}

}  // namespace sensor::capture
