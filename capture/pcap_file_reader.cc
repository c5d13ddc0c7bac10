#include "capture/pcap_file_reader.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <span>
#include <system_error>
#include <thread>

#include "sensor/core/thread_cpu.h"

namespace sensor::capture {

namespace {

constexpr size_t kFileHeaderBytes = 24;
constexpr size_t kRecordHeaderBytes = 16;
constexpr uint32_t kMagicMicroseconds = 0xa1b2c3d4;
constexpr uint32_t kMagicNanoseconds = 0xa1b23c4d;
// libpcap's largest packet for every link type below (MAXIMUM_SNAPLEN); a record claiming
// more is an error there, and so here.
constexpr uint32_t kMaxCaplen = 262144;

// Link types (DLT_* as pcap_datalink gives them) whose records libpcap hands over exactly as
// stored: it rewrites pseudo-headers of a few others (Linux USB, NFLOG) in byte-swapped files.
// These are the ones the decoder reads; any other link type is read by libpcap.
constexpr int kMappableLinktypes[] = {0, 1, 9, 12, 14, 50, 101, 104, 108, 113, 228, 229, 276};
// In byte-swapped files libpcap also puts the CAN identifier of Linux cooked captures into the
// host's order, so those stay with libpcap.
constexpr int kDltLinuxSll = 113;
constexpr int kDltLinuxSll2 = 276;

uint32_t load_u32(const uint8_t* p, bool swapped) noexcept {
    uint32_t v = 0;
    std::memcpy(&v, p, sizeof v);
    return swapped ? __builtin_bswap32(v) : v;
}

// A mapped file that shrinks while it is read faults (SIGBUS) where its pages are gone, in the
// capture thread or in a worker. The handler names the file and how to avoid it, instead of a
// bare "Bus error". Live mappings are kept here, readable from the signal handler.
struct MappedRange {
    std::atomic<uintptr_t> base{0};  // 0: free slot
    std::atomic<uint64_t> size{0};
    std::atomic<const char*> path{nullptr};
};
constexpr size_t kMaxMappedFiles = 64;  // at once; more files are read by libpcap
MappedRange g_mapped[kMaxMappedFiles];
struct sigaction g_previous_sigbus {};

void write_text(const char* text) noexcept {
    size_t left = std::strlen(text);
    while (left > 0) {
        const ssize_t n = write(STDERR_FILENO, text, left);
        if (n <= 0) {
            return;
        }
        text += n;
        left -= static_cast<size_t>(n);
    }
}

void on_sigbus(int sig, siginfo_t* info, void* context) {
    // si_code > 0: the kernel raised it for a fault; kill() and raise() give 0 or less.
    const bool fault = info->si_code > 0;
    const auto address = reinterpret_cast<uintptr_t>(info->si_addr);
    const std::span<const MappedRange> ranges =
        fault ? std::span<const MappedRange>(g_mapped) : std::span<const MappedRange>();
    for (const MappedRange& range : ranges) {
        const uintptr_t base = range.base.load(std::memory_order_acquire);
        if (base > 1 && address - base < range.size.load(std::memory_order_relaxed)) {
            write_text("sensor: ");
            write_text(range.path.load(std::memory_order_relaxed));
            write_text(
                ": the file shrank while it was read through a mapping; outputs stop "
                "here (capture.map-files: false reads files that may change)\n");
            _exit(1);
        }
    }
    // Not one of ours: what was there before, else the default action on return.
    if ((g_previous_sigbus.sa_flags & SA_SIGINFO) != 0 &&
        g_previous_sigbus.sa_sigaction != nullptr) {
        g_previous_sigbus.sa_sigaction(sig, info, context);
        return;
    }
    if (g_previous_sigbus.sa_handler != SIG_DFL && g_previous_sigbus.sa_handler != SIG_IGN &&
        g_previous_sigbus.sa_handler != nullptr) {
        g_previous_sigbus.sa_handler(sig);
        return;
    }
    if (!fault && g_previous_sigbus.sa_handler == SIG_IGN) {
        return;
    }
    // A fault repeats on return, now with the default action; a sent signal is sent again
    // (blocked in this handler, it arrives as the handler returns).
    signal(SIGBUS, SIG_DFL);
    if (!fault) {
        raise(SIGBUS);
    }
}

// A slot for a new mapping, the handler installed once; nullptr when all are taken.
MappedRange* register_mapping(const uint8_t* base, uint64_t size, const char* path) noexcept {
    static std::once_flag installed;
    std::call_once(installed, [] {
        struct sigaction action {};
        action.sa_sigaction = on_sigbus;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        sigaction(SIGBUS, &action, &g_previous_sigbus);
    });
    for (MappedRange& range : g_mapped) {
        uintptr_t expected = 0;
        // Claim with a placeholder, then fill in, then publish the real base.
        if (range.base.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) {
            range.size.store(size, std::memory_order_relaxed);
            range.path.store(path, std::memory_order_relaxed);
            range.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
            return &range;
        }
    }
    return nullptr;
}

std::string truncated_text(uint64_t wanted, uint64_t got, const char* what) {
    return "truncated dump file; tried to read " + std::to_string(wanted) + " " + what +
           ", only got " + std::to_string(got);
}

// Maps [from, to) of a mapping in one call rather than a page fault per page.
void populate(uint8_t* map, uint64_t from, uint64_t to) noexcept {
    static const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    from = from / page * page;  // madvise takes whole pages from a page boundary on
    if (to <= from) {
        return;
    }
#ifdef MADV_POPULATE_READ
    // A page past a new end of the file fails the call (EFAULT) instead of raising SIGBUS.
    madvise(map + from, to - from, MADV_POPULATE_READ);
#else
    madvise(map + from, to - from, MADV_WILLNEED);
#endif
}

}  // namespace

// The helper thread's orders: map up to populate_to, drop pages before release_to. The reader
// raises them and bumps requests; the helper sleeps on requests when it has done both.
struct PcapFileReader::MapKeeper {
    std::atomic<uint64_t> populate_to{0};
    std::atomic<uint64_t> release_to{0};
    std::atomic<uint32_t> requests{0};
    std::atomic<bool> stop{false};
    std::thread thread;
    double cpu_s = 0;  // the helper's CPU time, written as it ends (read after join)

    void request() noexcept {
        requests.fetch_add(1, std::memory_order_release);
        requests.notify_one();
    }
};

PcapFileReader::PcapFileReader(pcap_t* handle, std::unique_ptr<char[]> file_buffer,
                               std::string path, uint32_t source_id)
    : handle_(handle),
      file_buffer_(std::move(file_buffer)),
      path_(std::move(path)),
      source_id_(source_id),
      linktype_(pcap_datalink(handle)) {}

PcapFileReader::~PcapFileReader() {
    stop_keeping_mapping();  // before the mapping it works on goes
    if (filtering_) {
        pcap_freecode(&filter_);
    }
    if (map_ != nullptr) {
        static_cast<MappedRange*>(map_slot_)->base.store(0, std::memory_order_release);
        munmap(const_cast<uint8_t*>(map_), map_reserved_);
    }
    if (handle_ != nullptr) {
        pcap_close(handle_);
    }
}

void PcapFileReader::try_map(FILE* file) noexcept {
    const int linktype = pcap_datalink(handle_);
    if (pcap_major_version(handle_) != 2 || pcap_minor_version(handle_) != 4 ||
        std::find(std::begin(kMappableLinktypes), std::end(kMappableLinktypes), linktype) ==
            std::end(kMappableLinktypes)) {
        return;  // older record layouts, pcapng, or pseudo-headers libpcap rewrites
    }
    const bool swapped = pcap_is_swapped(handle_) == 1;
    if (swapped && (linktype == kDltLinuxSll || linktype == kDltLinuxSll2)) {
        return;
    }
    struct stat st {};
    const int fd = fileno(file);
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<uint64_t>(st.st_size) < kFileHeaderBytes) {
        return;  // a pipe or a device: libpcap reads it
    }
    const auto size = static_cast<uint64_t>(st.st_size);
    // One readable page of zeros after the file: a parser reading a little past a frame
    // that ends the file finds what it would in a batch's arena, not a fault.
    const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t reserved = (size + page - 1) / page * page + page;
    void* area = mmap(nullptr, reserved, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) {
        return;
    }
    void* map = mmap(area, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    if (map == MAP_FAILED) {
        munmap(area, reserved);
        return;
    }
    const auto* bytes = static_cast<const uint8_t*>(map);
    const uint32_t magic = load_u32(bytes, swapped);
    if (magic != kMagicMicroseconds && magic != kMagicNanoseconds) {
        munmap(area, reserved);  // the patched-libpcap format, whose records are longer
        return;
    }
    map_slot_ = register_mapping(bytes, size, path_.c_str());
    if (map_slot_ == nullptr) {
        munmap(area, reserved);
        return;
    }
    map_ = bytes;
    map_size_ = size;
    map_reserved_ = reserved;
    map_pos_ = kFileHeaderBytes;
    map_swapped_ = swapped;
    map_nanoseconds_ = magic == kMagicNanoseconds;
    map_snaplen_ = static_cast<uint32_t>(pcap_snapshot(handle_));
}

int PcapFileReader::fetch_mapped(const pcap_pkthdr*& header, const u_char*& data) noexcept {
    // The checks and messages are libpcap's own for a 2.4 file, in its order, so that a
    // damaged file ends at the same packet with the same words either way.
    const uint64_t left = map_size_ - map_pos_;
    if (left < kRecordHeaderBytes) {
        if (left == 0) {
            return PCAP_ERROR_BREAK;
        }
        if (file_shrank()) {
            return PCAP_ERROR;
        }
        mapped_error_ = truncated_text(kRecordHeaderBytes, left, "header bytes");
        return PCAP_ERROR;
    }
    if (map_pos_ >= map_ahead_next_) {
        map_ahead();
    }
    prefetch_ahead();
    const uint8_t* record = map_ + map_pos_;
    // A file cut inside its last page reads as zeros past its new end (no fault there): a
    // header of zeros is where to look. Two compares per record otherwise.
    uint64_t head[2];
    std::memcpy(head, record, sizeof head);
    if ((head[0] | head[1]) == 0 && file_shrank()) {
        return PCAP_ERROR;
    }
    pcap_pkthdr& h = mapped_header_;
    // Seconds and fractions are signed 32-bit fields, but libpcap's byte swap yields them
    // unsigned: a negative time reads as negative only in the host's byte order.
    const uint32_t seconds = load_u32(record, map_swapped_);
    const uint32_t fraction = load_u32(record + 4, map_swapped_);
    if (map_swapped_) {
        h.ts.tv_sec = seconds;
        h.ts.tv_usec = map_nanoseconds_ ? fraction / 1000 : fraction;
    } else {
        h.ts.tv_sec = static_cast<int32_t>(seconds);
        h.ts.tv_usec = static_cast<int32_t>(fraction);
        if (map_nanoseconds_) {
            h.ts.tv_usec /= 1000;
        }
    }
    h.caplen = load_u32(record + 8, map_swapped_);
    h.len = load_u32(record + 12, map_swapped_);
    const uint64_t body_left = left - kRecordHeaderBytes;
    if (h.caplen > kMaxCaplen) {
        // A header may give a snaplen above the maximum; libpcap keeps it and says which.
        mapped_error_ =
            "invalid packet capture length " + std::to_string(h.caplen) +
            (h.caplen > map_snaplen_ ? ", bigger than snaplen of " + std::to_string(map_snaplen_)
                                     : ", bigger than maximum of " + std::to_string(kMaxCaplen));
        return PCAP_ERROR;
    }
    uint64_t stored = h.caplen;
    if (h.caplen > map_snaplen_) {
        // libpcap keeps the first snaplen bytes and skips the rest of the record.
        if (body_left < map_snaplen_) {
            mapped_error_ = truncated_text(map_snaplen_, body_left, "captured bytes");
            return PCAP_ERROR;
        }
        if (body_left < stored) {
            mapped_error_ = truncated_text(h.caplen, body_left, "captured bytes");
            return PCAP_ERROR;
        }
        h.caplen = map_snaplen_;
    } else if (body_left < stored) {
        mapped_error_ = truncated_text(h.caplen, body_left, "captured bytes");
        return PCAP_ERROR;
    }
    header = &h;
    data = record + kRecordHeaderBytes;
    map_pos_ += kRecordHeaderBytes + stored;
    return 1;
}

bool PcapFileReader::file_shrank() noexcept {
    struct stat st {};
    FILE* file = pcap_file(handle_);
    if (file == nullptr || fstat(fileno(file), &st) != 0 ||
        static_cast<uint64_t>(st.st_size) >= map_size_) {
        return false;
    }
    mapped_error_ = "the file shrank while it was read (" + std::to_string(map_size_) +
                    " bytes when opened, " + std::to_string(st.st_size) + " now)";
    return true;
}

int PcapFileReader::fetch(const pcap_pkthdr*& header, const u_char*& data) noexcept {
    for (;;) {
        const int rc = map_ != nullptr ? fetch_mapped(header, data) : fetch_libpcap(header, data);
        // The mapped record's header is mapped_header_, filled as libpcap fills its own.
        if (rc != 1 || !filtering_ || pcap_offline_filter(&filter_, header, data) != 0) {
            return rc;
        }
        ++stats_.filtered;
    }
}

int PcapFileReader::fetch_libpcap(const pcap_pkthdr*& header, const u_char*& data) noexcept {
    pcap_pkthdr* next_header = nullptr;
    const u_char* next_data = nullptr;
    const int rc = pcap_next_ex(handle_, &next_header, &next_data);
    header = next_header;
    data = next_data;
    return rc;
}

std::string PcapFileReader::read_error_text() {
    return map_ != nullptr ? mapped_error_ : std::string(pcap_geterr(handle_));
}

void PcapFileReader::map_ahead() noexcept {
    if (keeper_ != nullptr) {
        map_populated_ = std::min(map_size_, map_pos_ + kKeptAheadBytes);
        map_ahead_next_ = map_populated_ == map_size_ ? UINT64_MAX : map_pos_ + kKeeperStepBytes;
        keeper_->populate_to.store(map_populated_, std::memory_order_relaxed);
        keeper_->request();
        return;
    }
    // Page faults one 4 KiB page (or a fault-around window) at a time cost the capture thread
    // more than mapping the next stretch of the file in one call (capture-thread CPU with two
    // workers on the bench capture x10: 0.41 and 0.30 s without, 0.28 s in three runs with).
    const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t from = std::max(map_populated_, map_pos_ / page * page);
    const uint64_t to = std::min(map_size_, from + kMapAheadBytes);
    populate(const_cast<uint8_t*>(map_), from, to);
    map_populated_ = to;
    map_ahead_next_ = to > kMapAheadBytes / 2 ? to - kMapAheadBytes / 2 : 0;
    if (to == map_size_) {
        map_ahead_next_ = UINT64_MAX;
    }
}

void PcapFileReader::prefetch_ahead() noexcept {
    // Each record's header is a cache miss otherwise: the file is read once, far larger than
    // the caches, and records a few hundred bytes apart defeat the hardware's prefetching.
    // That one load held three quarters of fetch_mapped's samples; requesting the lines ahead
    // took those samples from 679 to 400 with two workers (docs/performance.md, section 2c).
    // Every line is requested, not only those holding headers: where the next headers are is
    // not known without reading them, and the workers read every line of the packets anyway.
    constexpr uint64_t kLine = 64;
    const uint64_t until = std::min(map_populated_, map_pos_ + kPrefetchBytes);
    uint64_t at = std::max(map_prefetched_, map_pos_ / kLine * kLine);
    for (; at < until; at += kLine) {
        __builtin_prefetch(map_ + at, 0, 1);
    }
    map_prefetched_ = std::max(map_prefetched_, at);
}

void PcapFileReader::release_before(uint64_t offset) noexcept {
    if (map_ == nullptr) {
        return;
    }
    const auto page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
    const uint64_t end = std::min(offset, map_size_) / page * page;
    if (end <= map_released_) {
        return;
    }
    const uint64_t from = map_released_;
    map_released_ = end;
    if (keeper_ != nullptr) {
        keeper_->release_to.store(end, std::memory_order_relaxed);
        keeper_->request();
        return;
    }
    // Read-only file pages: dropping them from this mapping loses nothing.
    madvise(const_cast<uint8_t*>(map_) + from, end - from, MADV_DONTNEED);
}

void PcapFileReader::keep_mapping_in_background() {
    if (map_ == nullptr || keeper_ != nullptr) {
        return;
    }
    keeper_ = std::make_unique<MapKeeper>();
    keeper_->release_to.store(map_released_, std::memory_order_relaxed);
    auto* map = const_cast<uint8_t*>(map_);
    try {
        keeper_->thread = std::thread(keep_mapping, std::ref(*keeper_), map,
                                      std::max(map_populated_, map_released_), map_released_);
    } catch (const std::system_error&) {
        keeper_.reset();  // no thread to be had: the reader keeps its mapping itself
        return;
    }
    map_ahead();  // the first stretch, and the next request a step from here
}

double PcapFileReader::stop_keeping_mapping() noexcept {
    if (keeper_ == nullptr) {
        return 0;
    }
    keeper_->stop.store(true, std::memory_order_release);
    keeper_->request();
    keeper_->thread.join();
    const double cpu_s = keeper_->cpu_s;
    keeper_.reset();
    // The next read maps ahead from its own position, as without a helper (what the helper
    // mapped already costs little to ask for again). A release asked for was done before the
    // helper ended.
    map_populated_ = map_pos_;
    map_ahead_next_ = map_pos_;
    return cpu_s;
}

void PcapFileReader::keep_mapping(MapKeeper& keeper, uint8_t* map, uint64_t populated,
                                  uint64_t released) noexcept {
    for (;;) {
        const uint32_t seen = keeper.requests.load(std::memory_order_acquire);
        const bool stop = keeper.stop.load(std::memory_order_acquire);
        const uint64_t release_to = keeper.release_to.load(std::memory_order_relaxed);
        if (released < release_to) {
            madvise(map + released, release_to - released, MADV_DONTNEED);
            released = release_to;
            populated = std::max(populated, released);  // behind the reader: not worth mapping
        }
        if (stop) {
            keeper.cpu_s = core::thread_cpu_seconds();
            return;
        }
        const uint64_t populate_to = keeper.populate_to.load(std::memory_order_relaxed);
        if (populated < populate_to) {
            // In steps, so that a release asked for meanwhile waits one step at most.
            const uint64_t to = std::min(populate_to, populated + kKeeperStepBytes);
            populate(map, populated, to);
            populated = to;
            continue;
        }
        keeper.requests.wait(seen, std::memory_order_acquire);
    }
}

core::Result<void> PcapFileReader::set_filter(const std::string& expression) {
    if (expression.empty()) {
        if (filtering_) {
            pcap_freecode(&filter_);
            filtering_ = false;
        }
        return {};
    }
    // Compiled against the file's own handle: its link type and snapshot length.
    bpf_program program{};
    if (pcap_compile(handle_, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        const char* name = pcap_datalink_val_to_name(linktype_);
        return core::make_error(path_ + ": bad capture filter '" + expression +
                                "': " + pcap_geterr(handle_) + " (link type " +
                                (name != nullptr ? name : std::to_string(linktype_)) + ")");
    }
    if (filtering_) {
        pcap_freecode(&filter_);
    }
    filter_ = program;
    filtering_ = true;
    return {};
}

core::Result<std::unique_ptr<PcapFileReader>> PcapFileReader::open(const std::string& path,
                                                                   uint32_t source_id,
                                                                   FileAccess access,
                                                                   const std::string& filter) {
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
    std::unique_ptr<PcapFileReader> reader(
        new PcapFileReader(handle, std::move(file_buffer), path, source_id));
    if (!filter.empty()) {
        if (auto set = reader->set_filter(filter); !set) {
            return core::make_error(set.error().message);
        }
    }
    if (access == FileAccess::kMapped) {
        reader->try_map(file);
    }
    return reader;
}

ReadStatus PcapFileReader::read(core::FrameBatch& batch) noexcept {
    while (!batch.full()) {
        const pcap_pkthdr* header = pending_header_;
        const u_char* data = pending_data_;
        if (header == nullptr) {
            const int rc = fetch(header, data);
            if (rc == PCAP_ERROR_BREAK) {
                return ReadStatus::kEnd;
            }
            if (rc != 1) {
                // Name the packet that could not be read; the ones before it were delivered.
                error_ = path_ + ": packet " + std::to_string(position() + 1) +
                         ": cannot read: " + read_error_text();
                return ReadStatus::kError;
            }
            ++stats_.packets;
            stats_.bytes += header->caplen;
        }
        int64_t ts_us = int64_t{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec;
        if (!batch.push(std::span<const uint8_t>(data, header->caplen), header->len, ts_us,
                        linktype_, position(), source_id_)) {
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
    const pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    const int rc = fetch(header, data);
    if (rc == PCAP_ERROR_BREAK) {
        return ReadStatus::kEnd;
    }
    if (rc != 1) {
        error_ = path_ + ": packet " + std::to_string(position() + 1) +
                 ": cannot read: " + read_error_text();
        return ReadStatus::kError;
    }
    ++stats_.packets;
    stats_.bytes += header->caplen;
    frame.data = data;
    frame.caplen = header->caplen;
    frame.wire_len = header->len;
    frame.ts_us = int64_t{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec;
    frame.linktype = linktype_;
    frame.index = position();
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
