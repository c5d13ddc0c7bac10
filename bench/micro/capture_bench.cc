// capture_bench: what the dispatching capture thread does per packet before it places it:
// read the next record of a mapped capture file (PcapFileReader::next) and find its address
// pair (dispatch_key), releasing the file behind the reader as the pipeline does. With the
// helper thread (keeper:1) the mapping's page-table work runs beside the reader, as with
// several workers; without it (keeper:0) the reader does it, as with one. walk:1 keys every
// frame by walking its layers (dispatch_key_walked), walk:0 as the pipeline does, with the
// shortcut for plain Ethernet/IPv4/TCP-or-UDP frames.
//
// The file is read from the page cache: it is read once before timing. A file smaller than
// the last-level cache stays in it after the first pass, so use a large one to see memory
// waits (SENSOR_BENCH_PCAP=out/bench/bench-mixed-dev-x10.pcap, made by replay_bench.py --x10).

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "bench/common/bench_input.h"
#include "bench/common/bench_main.h"
#include "capture/pcap_file_reader.h"
#include "sensor/pipeline/dispatch_key.h"

namespace sensor::bench {
namespace {

const std::string& capture_path() {
    static const std::string path = [] {
        std::string p = default_capture_path();
        if (p.empty()) {
            std::fprintf(stderr, "capture_bench: no capture file (set SENSOR_BENCH_PCAP)\n");
            std::exit(2);
        }
        std::ifstream in(p, std::ios::binary);  // into the page cache before any timing
        std::vector<char> buffer(size_t{1} << 20);
        while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()))) {
        }
        return p;
    }();
    return path;
}

void BM_MappedReadAndKey(benchmark::State& state) {
    const bool keeper = state.range(0) != 0;
    const bool walk = state.range(1) != 0;
    constexpr uint64_t kReleaseStep = uint64_t{4} << 20;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto reader = capture::PcapFileReader::open(capture_path(), 0);
        if (!reader || !(*reader)->mapped()) {
            state.SkipWithError("the capture cannot be mapped (not a classic pcap file?)");
            return;
        }
        state.ResumeTiming();
        capture::PcapFileReader& r = **reader;
        if (keeper) {
            r.keep_mapping_in_background();
        }
        core::Frame frame;
        uint64_t next_release = 2 * kReleaseStep;
        while (r.next(frame) == capture::ReadStatus::kOk) {
            pipeline::DispatchKey key =
                walk ? pipeline::dispatch_key_walked(frame) : pipeline::dispatch_key(frame);
            benchmark::DoNotOptimize(key);
            if (r.offset() >= next_release) {
                r.release_before(r.offset() - kReleaseStep);  // a step behind, as the pipeline
                next_release += kReleaseStep;
            }
        }
        packets += r.stats().packets;
        bytes += r.stats().bytes;
        state.PauseTiming();
        reader->reset();  // stops the helper and unmaps: not timed
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<int64_t>(packets));
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
}
BENCHMARK(BM_MappedReadAndKey)
    ->ArgNames({"keeper", "walk"})
    ->Args({0, 0})
    ->Args({1, 0})
    ->Args({1, 1})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace sensor::bench

int main(int argc, char** argv) {
    return sensor::bench::run_benchmarks(argc, argv, sensor::bench::capture_path());
}
