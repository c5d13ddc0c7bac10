#pragma once
// PcapFileReader: offline packet source over libpcap (pcap and pcapng). Fills FrameBatches
// by copying each packet into the batch's arena, or hands out one packet at a time. One
// reader per input file; used by the capture thread only.
//
// A classic pcap file (a regular file, format 2.4, of a link type libpcap hands over as
// stored) is read through a read-only mapping once libpcap has opened and checked it: its
// records are then taken in place, without libpcap's two copies per packet (stdio buffer,
// then libpcap's buffer), which were half of the capture thread's instructions
// (docs/performance.md, "One reader's own cost"). Everything else, pcapng included, is read
// by libpcap. Both ways give the same packets, times, lengths and errors (tested on every
// corpus capture and fuzzed against each other).
//
// A capture filter (set_filter) is compiled for the file's own link type and snapshot length
// and tested on each record, read either way, with pcap_offline_filter; what it rejects is
// counted (SourceStats::filtered) and never handed out.

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

// How a file is read: kMapped maps it when it qualifies (see above) and uses libpcap
// otherwise; kLibpcap always uses libpcap (the reference the mapped reading is tested
// against, and the way to read a file that may shrink while it is read: a mapping read past
// a new end of file faults, and the process then exits with code 1 and a message naming the
// file).
enum class FileAccess : uint8_t { kMapped, kLibpcap };

struct SourceStats {
    uint64_t packets = 0;   // handed out: passed by the capture filter, if any
    uint64_t bytes = 0;     // captured bytes of those packets
    uint64_t filtered = 0;  // read from the file and rejected by the capture filter
    int64_t first_ts_us = 0;
    int64_t last_ts_us = 0;
};

class PcapFileReader {
public:
    ~PcapFileReader();
    PcapFileReader(const PcapFileReader&) = delete;
    PcapFileReader& operator=(const PcapFileReader&) = delete;

    // Opens a capture file; the error names the file and gives libpcap's text.
    // A non-empty filter is set as by set_filter(), whose error is then open()'s.
    static core::Result<std::unique_ptr<PcapFileReader>> open(
        const std::string& path, uint32_t source_id, FileAccess access = FileAccess::kMapped,
        const std::string& filter = {});

    // Compiles a libpcap filter expression for this file's link type and snapshot length;
    // from the next packet on, read() and next() hand out only the packets it passes. An empty
    // expression removes the filter. The error names the file, the expression and the link
    // type, with libpcap's text; the previous filter then stays. Capture thread, before or
    // between reads.
    core::Result<void> set_filter(const std::string& expression);

    // Appends packets to batch until it is full or the file ends. A packet that does not fit
    // the batch stays pending and is delivered by the next call.
    ReadStatus read(core::FrameBatch& batch) noexcept;

    // One packet without copying, for a dispatcher that places each packet with the worker
    // that owns its flow. Read by libpcap, frame.data points into libpcap's buffer and stays
    // valid until the next call. Mapped, it points into the file and stays valid until
    // release_before() passes it or the reader is destroyed: the packet can travel to a
    // worker without a copy. Do not mix with read() on the same reader.
    ReadStatus next(core::Frame& frame) noexcept;

    // Whether packets come from a mapping of the file (see next()).
    bool mapped() const noexcept { return map_ != nullptr; }
    // Mapped: the file offset just past the last packet returned.
    uint64_t offset() const noexcept { return map_pos_; }
    // Mapped: no packet before offset is used any more. Its pages leave this process's
    // resident set (they stay in the page cache), so a long file does not pile up in it.
    void release_before(uint64_t offset) noexcept;
    // Mapped: from now on a thread of the reader's own maps the stretch of the file ahead of
    // the reader and drops the pages release_before() gives up, work that otherwise takes a
    // quarter of a dispatching capture thread's time (docs/performance.md, section 2c). The
    // reading thread goes on calling next() and release_before() as before; pages the helper
    // has not mapped yet simply fault in. Nothing happens without a mapping or while a helper
    // runs already.
    void keep_mapping_in_background();
    bool mapping_in_background() const noexcept { return keeper_ != nullptr; }
    // Ends the helper thread, if there is one, and returns the CPU seconds it used (0
    // without). Reading may go on: the reader then maps ahead itself again.
    double stop_keeping_mapping() noexcept;

    const std::string& path() const noexcept { return path_; }
    int linktype() const noexcept { return linktype_; }
    // "PATH: packet N: cannot read: libpcap text" after kError (N = the unreadable packet's
    // position in the file, filtered packets included, as Frame::index).
    const std::string& error() const noexcept { return error_; }
    const SourceStats& stats() const noexcept { return stats_; }

private:
    // stdio buffer of the capture file.
    static constexpr size_t kFileBufferBytes = size_t{256} * 1024;

    PcapFileReader(pcap_t* handle, std::unique_ptr<char[]> file_buffer, std::string path,
                   uint32_t source_id);
    // Maps the file when it qualifies; stays with libpcap otherwise.
    void try_map(FILE* file) noexcept;
    // The next record the filter passes (each one without a filter): from libpcap, or from the
    // mapping (in mapped_header_). 1, or libpcap's PCAP_ERROR_BREAK at the end, or PCAP_ERROR
    // with read_error_text() set.
    int fetch(const pcap_pkthdr*& header, const u_char*& data) noexcept;
    int fetch_libpcap(const pcap_pkthdr*& header, const u_char*& data) noexcept;
    int fetch_mapped(const pcap_pkthdr*& header, const u_char*& data) noexcept;
    void map_ahead() noexcept;
    void prefetch_ahead() noexcept;
    struct MapKeeper;
    static void keep_mapping(MapKeeper& keeper, uint8_t* map, uint64_t populated,
                             uint64_t released) noexcept;
    // Whether the file is now shorter than when mapped; sets mapped_error_ if so.
    bool file_shrank() noexcept;
    static constexpr uint64_t kMapAheadBytes = uint64_t{4} << 20;
    // With a helper thread: how far ahead of the reader it keeps the file mapped, and how far
    // the reader moves between two requests to it.
    static constexpr uint64_t kKeptAheadBytes = uint64_t{8} << 20;
    static constexpr uint64_t kKeeperStepBytes = uint64_t{1} << 20;
    // How far ahead of the record being read its cache lines are requested (prefetch_ahead).
    static constexpr uint64_t kPrefetchBytes = 2048;
    std::string read_error_text();
    // 1-based position in the file of the last record fetched, filtered ones included.
    uint64_t position() const noexcept { return stats_.packets + stats_.filtered; }

    pcap_t* handle_;
    std::unique_ptr<char[]> file_buffer_;  // outlives handle_, which reads through it
    std::string path_;
    uint32_t source_id_;
    int linktype_;
    std::string error_;
    SourceStats stats_;
    const pcap_pkthdr* pending_header_ = nullptr;
    const u_char* pending_data_ = nullptr;
    bpf_program filter_{};  // compiled against handle_; valid while filtering_
    bool filtering_ = false;

    // Mapped reading: the file's bytes, where the next record starts, what is released.
    const uint8_t* map_ = nullptr;
    uint64_t map_size_ = 0;
    uint64_t map_reserved_ = 0;  // the mapping and a page of zeros after it
    uint64_t map_pos_ = 0;
    uint64_t map_released_ = 0;
    uint64_t map_populated_ = 0;    // mapped ahead up to here (map_ahead)
    uint64_t map_ahead_next_ = 0;   // map ahead again when reading reaches here
    uint64_t map_prefetched_ = 0;   // cache lines requested up to here (prefetch_ahead)
    bool map_swapped_ = false;      // written in the other byte order
    bool map_nanoseconds_ = false;  // times in nanoseconds: scaled to microseconds, as libpcap
    uint32_t map_snaplen_ = 0;      // libpcap's snapshot length for the file
    pcap_pkthdr mapped_header_{};
    void* map_slot_ = nullptr;  // where the SIGBUS handler finds this mapping
    std::string mapped_error_;
    std::unique_ptr<MapKeeper> keeper_;  // keep_mapping_in_background()
};

// Expands command-line inputs: files are kept in order, a directory contributes its regular
// files sorted by name. Missing paths are an error naming the path.
core::Result<std::vector<std::string>> expand_inputs(const std::vector<std::string>& inputs);

}  // namespace sensor::capture
