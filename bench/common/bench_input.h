#pragma once
// Inputs shared by the benchmarks: a capture preloaded into memory, the payload bytes the
// matcher scans, rule sets loaded and compiled, and process memory readings. Built once per
// benchmark process on the main thread, read-only afterwards.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "rules/rule_set.h"
#include "sensor/core/frame.h"
#include "sensor/core/result.h"

namespace sensor::bench {

// Every packet of a capture, copied into one buffer; frames point into it.
struct CaptureImage {
    std::string source;  // path, or "trafficgen" for the generated fallback
    int linktype = 0;
    std::vector<uint8_t> bytes;
    std::vector<core::Frame> frames;
    uint64_t captured_bytes() const noexcept { return bytes.size(); }
};

// Reads the whole capture with libpcap; the error names the file.
core::Result<CaptureImage> load_capture(const std::string& path);

// A deterministic capture built in memory by bench/trafficgen (benign mix and attacks), for
// when no capture file is at hand.
CaptureImage generated_capture(uint32_t benign_sessions);

// The capture the micro-benchmarks use: $SENSOR_BENCH_PCAP, else
// ../shared/corpora/bench/bench-mixed-dev.pcap beside the checkout, else generated_capture().
CaptureImage default_capture();
// The file default_capture() reads, or an empty string when there is none to read.
std::string default_capture_path();

// A capture cut into FrameBatches of kMaxFrames frames, each arena sized to what its frames
// need, each batch carrying the capture clock as the dispatcher sets it (the newest packet
// time handed over so far): what a worker is fed.
struct CaptureBatches {
    std::vector<std::unique_ptr<core::FrameBatch>> batches;
    uint64_t frames = 0;
    uint64_t bytes = 0;
    std::string source;
};
CaptureBatches cut_into_batches(const CaptureImage& image);

// TCP and UDP payloads of a capture (as the sensor's decoder finds them, reassembled IP
// fragments included), copied end to end into one buffer.
struct PayloadCorpus {
    std::vector<uint8_t> bytes;
    std::vector<size_t> offsets;  // payload i = bytes[offsets[i], offsets[i + 1])
    uint64_t packets_decoded = 0;
    size_t count() const noexcept { return offsets.empty() ? 0 : offsets.size() - 1; }
    const uint8_t* data(size_t i) const noexcept { return bytes.data() + offsets[i]; }
    size_t size(size_t i) const noexcept { return offsets[i + 1] - offsets[i]; }
};

PayloadCorpus extract_payloads(const CaptureImage& capture);

// Loads rule files or directories with the taxonomy of data_dir (rules/data).
core::Result<std::shared_ptr<const rules::RuleSet>> load_rules(
    const std::vector<std::string>& paths, const std::string& data_dir);

// $SENSOR_BENCH_RULES (one path), else ET Open 2024 from ../shared/corpora, else the rules
// the project ships (rules/sets). data_dir: the repository's rules/data.
std::vector<std::string> default_rule_paths();
std::string default_rules_data_dir();

// Bytes the C heap holds in allocated blocks (glibc mallinfo2), after returning free pages.
uint64_t heap_in_use_bytes();

}  // namespace sensor::bench
