// detect_bench: signature matching over a payload corpus. BM_HsScanPayloads is the raw
// Hyperscan block scan of every TCP/UDP payload with the rule set's payload prefilter (the
// matcher half of sensor-limit); BM_DetectorMatch runs detect::Detector::match on the same
// packets: prefilter, candidate evaluation and bookkeeping, without flow tracking.

#include <benchmark/benchmark.h>
#include <hs.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/bench_input.h"
#include "bench/common/bench_main.h"
#include "sensor/decode/decoder.h"
#include "sensor/detect/detector.h"
#include "sensor/detect/signature_db.h"

namespace sensor::bench {
namespace {

struct Inputs {
    CaptureImage capture;
    PayloadCorpus payloads;
    std::shared_ptr<const detect::SignatureDb> db;
    std::shared_ptr<const rules::CompiledRules> all_patterns;  // with the unsplit payload db
    std::string description;
};

const Inputs& inputs() {
    static const Inputs in = [] {
        Inputs i;
        i.capture = default_capture();
        i.payloads = extract_payloads(i.capture);
        const auto paths = default_rule_paths();
        auto rules = load_rules(paths, default_rules_data_dir());
        if (!rules) {
            std::fprintf(stderr, "detect_bench: %s\n", rules.error().message.c_str());
            std::exit(2);
        }
        auto db = detect::SignatureDb::build(*rules);
        if (!db) {
            std::fprintf(stderr, "detect_bench: %s\n", db.error().message.c_str());
            std::exit(2);
        }
        i.db = *db;
        // The raw-scan benchmark scans all payload fast patterns in one database, as the
        // limit does; the detector's own databases are split by protocol and direction.
        rules::CompileOptions compile_options;
        compile_options.union_payload = true;
        auto all = rules::CompiledRules::compile(**rules, compile_options);
        if (!all) {
            std::fprintf(stderr, "detect_bench: %s\n", all.error().message.c_str());
            std::exit(2);
        }
        i.all_patterns = *all;
        i.description = i.capture.source + " with " + paths.front() + " (" +
                        std::to_string((*rules)->size()) + " rules loaded)";
        return i;
    }();
    return in;
}

int on_match(unsigned int, unsigned long long, unsigned long long, unsigned int, void* ctx) {
    ++*static_cast<uint64_t*>(ctx);
    return 0;
}

void BM_HsScanPayloads(benchmark::State& state) {
    const Inputs& in = inputs();
    const hs_database_t* db = in.all_patterns->payload_union_database();
    if (db == nullptr) {
        state.SkipWithError("the rule set has no payload prefilter patterns");
        return;
    }
    hs_scratch_t* scratch = nullptr;
    if (hs_alloc_scratch(db, &scratch) != HS_SUCCESS) {
        state.SkipWithError("hs_alloc_scratch failed");
        return;
    }
    const PayloadCorpus& corpus = in.payloads;
    uint64_t matches = 0;
    for (auto _ : state) {
        for (size_t i = 0; i < corpus.count(); ++i) {
            hs_scan(db, reinterpret_cast<const char*>(corpus.data(i)),
                    static_cast<unsigned int>(corpus.size(i)), 0, scratch, on_match, &matches);
        }
    }
    hs_free_scratch(scratch);
    const auto passes = static_cast<int64_t>(state.iterations());
    state.SetItemsProcessed(passes * static_cast<int64_t>(corpus.count()));
    state.SetBytesProcessed(passes * static_cast<int64_t>(corpus.bytes.size()));
    state.counters["matches_per_pass"] = static_cast<double>(matches) / static_cast<double>(passes);
}
BENCHMARK(BM_HsScanPayloads)->Unit(benchmark::kMillisecond);

// Decoded packets whose views point into the capture image (reassembled datagrams, which
// live in the decoder's buffer, are left out).
std::vector<decode::DecodedPacket> decoded_packets(const CaptureImage& image) {
    decode::DecodeConfig config;
    config.validate_checksums = false;
    decode::Decoder decoder(config);
    decode::DecodedPacket p;
    std::vector<decode::DecodedPacket> out;
    for (const core::Frame& frame : image.frames) {
        if (decoder.decode(frame, p) == decode::Verdict::kPacket && !p.reassembled) {
            out.push_back(p);
        }
    }
    return out;
}

void BM_DetectorMatch(benchmark::State& state) {
    const Inputs& in = inputs();
    const auto packets = decoded_packets(in.capture);
    detect::Detector detector(in.db);
    detect::MatchList matches;
    flow::FlowDetectState flow_state;
    uint64_t fired = 0;
    uint64_t bytes = 0;
    for (const auto& p : packets) {
        bytes += p.payload.size();
    }
    for (auto _ : state) {
        for (const auto& p : packets) {
            flow_state = {};
            detect::PacketContext ctx;
            ctx.pkt = &p;
            ctx.established = true;
            ctx.flow_state = &flow_state;
            detector.match(ctx, matches);
            fired += matches.count;
        }
    }
    const auto passes = static_cast<int64_t>(state.iterations());
    state.SetItemsProcessed(passes * static_cast<int64_t>(packets.size()));
    state.SetBytesProcessed(passes * static_cast<int64_t>(bytes));
    const auto& s = detector.stats();
    const double total = static_cast<double>(passes);
    state.counters["candidates_per_pass"] = static_cast<double>(s.candidates.load()) / total;
    state.counters["fired_per_pass"] = static_cast<double>(fired) / total;
}
BENCHMARK(BM_DetectorMatch)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sensor::bench

int main(int argc, char** argv) {
    return sensor::bench::run_benchmarks(argc, argv, sensor::bench::inputs().description);
}
