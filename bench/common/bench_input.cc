#include "bench/common/bench_input.h"

#include <malloc.h>
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <utility>

#include "bench/trafficgen/generator.h"
#include "rules/taxonomy.h"
#include "sensor/decode/decoder.h"

#ifndef SENSOR_SOURCE_DIR
#define SENSOR_SOURCE_DIR "."
#endif

namespace sensor::bench {
namespace {

bool readable(const std::string& path) {
    std::error_code ec;
    return !path.empty() && std::filesystem::exists(path, ec);
}

std::string env_or_empty(const char* name) {
    const char* v = std::getenv(name);
    return v != nullptr ? std::string(v) : std::string();
}

std::string corpora_path(const char* relative) {
    return (std::filesystem::path(SENSOR_SOURCE_DIR) / ".." / "shared" / "corpora" / relative)
        .lexically_normal()
        .string();
}

// Frames are recorded as offsets while the buffer grows, then pointed at once it is final.
struct PendingFrame {
    size_t offset;
    core::Frame frame;
};

void finish_frames(CaptureImage& image, std::vector<PendingFrame>& pending) {
    image.frames.reserve(pending.size());
    for (auto& p : pending) {
        p.frame.data = image.bytes.data() + p.offset;
        image.frames.push_back(p.frame);
    }
}

}  // namespace

core::Result<CaptureImage> load_capture(const std::string& path) {
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle = pcap_open_offline(path.c_str(), errbuf);
    if (handle == nullptr) {
        return core::make_error(path + ": cannot open capture: " + errbuf);
    }
    CaptureImage image;
    image.source = path;
    image.linktype = pcap_datalink(handle);
    std::vector<PendingFrame> pending;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int rc = 0;
    uint64_t index = 0;
    while ((rc = pcap_next_ex(handle, &header, &data)) == 1) {
        PendingFrame p{image.bytes.size(), {}};
        p.frame.caplen = header->caplen;
        p.frame.wire_len = header->len;
        p.frame.ts_us = int64_t{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec;
        p.frame.linktype = image.linktype;
        p.frame.index = ++index;
        image.bytes.insert(image.bytes.end(), data, data + header->caplen);
        pending.push_back(p);
    }
    if (rc == PCAP_ERROR) {
        std::string msg = path + ": packet " + std::to_string(index + 1) +
                          ": cannot read: " + pcap_geterr(handle);
        pcap_close(handle);
        return core::make_error(msg);
    }
    pcap_close(handle);
    finish_frames(image, pending);
    return image;
}

CaptureImage generated_capture(uint32_t benign_sessions) {
    trafficgen::Options options;
    options.benign_flows = benign_sessions;
    trafficgen::Capture capture = trafficgen::generate(options);
    CaptureImage image;
    image.source = "trafficgen";
    image.linktype = DLT_EN10MB;
    std::vector<PendingFrame> pending;
    uint64_t index = 0;
    for (const auto& packet : capture.packets) {
        PendingFrame p{image.bytes.size(), {}};
        p.frame.caplen = static_cast<uint32_t>(packet.bytes.size());
        p.frame.wire_len = p.frame.caplen;
        p.frame.ts_us = packet.ts_us;
        p.frame.linktype = image.linktype;
        p.frame.index = ++index;
        image.bytes.insert(image.bytes.end(), packet.bytes.begin(), packet.bytes.end());
        pending.push_back(p);
    }
    finish_frames(image, pending);
    return image;
}

std::string default_capture_path() {
    std::string path = env_or_empty("SENSOR_BENCH_PCAP");
    if (path.empty()) {
        path = corpora_path("bench/bench-mixed-dev.pcap");
    }
    return readable(path) ? path : std::string();
}

CaptureBatches cut_into_batches(const CaptureImage& image) {
    CaptureBatches out;
    out.source = image.source;
    const auto& frames = image.frames;
    for (size_t first = 0; first < frames.size(); first += core::FrameBatch::kMaxFrames) {
        const size_t last = std::min(frames.size(), first + core::FrameBatch::kMaxFrames);
        size_t arena = 0;
        for (size_t i = first; i < last; ++i) {
            arena += (size_t{frames[i].caplen} + 7) & ~size_t{7};
        }
        auto batch = std::make_unique<core::FrameBatch>(arena);
        for (size_t i = first; i < last; ++i) {
            if (!batch->push(frames[i])) {
                std::fprintf(stderr, "bench: frame %zu does not fit its batch\n", i);
                std::exit(2);
            }
            ++out.frames;
            out.bytes += frames[i].caplen;
        }
        out.batches.push_back(std::move(batch));
    }
    int64_t clock = 0;
    for (auto& batch : out.batches) {
        for (const core::Frame& f : *batch) {
            clock = std::max(clock, f.ts_us);
        }
        batch->set_clock(clock);
    }
    return out;
}

CaptureImage default_capture() {
    const std::string path = default_capture_path();
    if (!path.empty()) {
        auto image = load_capture(path);
        if (image) {
            return std::move(*image);
        }
        std::fprintf(stderr, "bench: %s; using a generated capture\n",
                     image.error().message.c_str());
    }
    return generated_capture(trafficgen::kDefaultBenignSessions);
}

PayloadCorpus extract_payloads(const CaptureImage& capture) {
    decode::DecodeConfig config;
    config.validate_checksums = false;
    decode::Decoder decoder(config);
    decode::DecodedPacket packet;
    PayloadCorpus corpus;
    corpus.offsets.push_back(0);
    for (const core::Frame& frame : capture.frames) {
        if (decoder.decode(frame, packet) != decode::Verdict::kPacket) {
            continue;
        }
        ++corpus.packets_decoded;
        if ((packet.ip_proto != decode::kIpProtoTcp && packet.ip_proto != decode::kIpProtoUdp) ||
            packet.payload.empty()) {
            continue;
        }
        corpus.bytes.insert(corpus.bytes.end(), packet.payload.begin(), packet.payload.end());
        corpus.offsets.push_back(corpus.bytes.size());
    }
    return corpus;
}

core::Result<std::shared_ptr<const rules::RuleSet>> load_rules(
    const std::vector<std::string>& paths, const std::string& data_dir) {
    auto taxonomy = rules::Taxonomy::load(data_dir);
    if (!taxonomy) {
        return tl::unexpected<core::Error>(std::move(taxonomy.error()));
    }
    auto set = rules::load_rule_files(paths, rules::LoadOptions{}, *taxonomy);
    if (!set) {
        return tl::unexpected<core::Error>(std::move(set.error()));
    }
    return std::make_shared<const rules::RuleSet>(std::move(*set));
}

std::vector<std::string> default_rule_paths() {
    std::string path = env_or_empty("SENSOR_BENCH_RULES");
    if (path.empty()) {
        path = corpora_path("rulesets/et-open-2024-04-21_suricata-5.0-enhanced");
    }
    if (!readable(path)) {
        path = std::string(SENSOR_SOURCE_DIR) + "/rules/sets";
    }
    return {path};
}

std::string default_rules_data_dir() { return std::string(SENSOR_SOURCE_DIR) + "/rules/data"; }

uint64_t heap_in_use_bytes() {
    malloc_trim(0);
    struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

}  // namespace sensor::bench
