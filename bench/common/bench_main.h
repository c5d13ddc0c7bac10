#pragma once
// Shared main() body of the Google Benchmark binaries: records which input and build the
// figures come from, then runs the registered benchmarks.

#include <benchmark/benchmark.h>

#include <string>

namespace sensor::bench {

inline int run_benchmarks(int argc, char** argv, const std::string& input) {
#ifdef NDEBUG
    benchmark::AddCustomContext("sensor_build", "release");
#else
    // Assertions on: such figures say nothing about the sensor's speed.
    benchmark::AddCustomContext("sensor_build", "not-optimised (use a Release build)");
#endif
    benchmark::AddCustomContext("sensor_input", input);
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) {
        return 1;
    }
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}

}  // namespace sensor::bench
