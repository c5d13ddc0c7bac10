// decode_bench: Decoder::decode over every frame of a preloaded capture (link layer to L4,
// tunnels and IP reassembly included), with and without checksum validation.

#include <benchmark/benchmark.h>

#include "bench/common/bench_input.h"
#include "bench/common/bench_main.h"
#include "sensor/decode/decoder.h"

namespace sensor::bench {
namespace {

const CaptureImage& capture() {
    static const CaptureImage image = default_capture();
    return image;
}

void BM_DecodeCapture(benchmark::State& state) {
    const CaptureImage& image = capture();
    decode::DecodeConfig config;
    config.validate_checksums = state.range(0) != 0;
    decode::Decoder decoder(config);
    decode::DecodedPacket packet;
    uint64_t analysed = 0;
    for (auto _ : state) {
        for (const core::Frame& frame : image.frames) {
            analysed += decoder.decode(frame, packet) == decode::Verdict::kPacket ? 1 : 0;
        }
        benchmark::DoNotOptimize(packet);
    }
    const auto passes = static_cast<int64_t>(state.iterations());
    state.SetItemsProcessed(passes * static_cast<int64_t>(image.frames.size()));
    state.SetBytesProcessed(passes * static_cast<int64_t>(image.captured_bytes()));
    state.counters["ip_packets_per_pass"] =
        benchmark::Counter(static_cast<double>(analysed) / static_cast<double>(passes));
}
BENCHMARK(BM_DecodeCapture)->ArgName("checksums")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sensor::bench

int main(int argc, char** argv) {
    return sensor::bench::run_benchmarks(argc, argv, sensor::bench::capture().source);
}
