#pragma once
// PipelineStats: counters of the stages around the workers (capture sources, dispatch
// rings, outputs). Each counter has one writer (the capture thread, the dispatcher or the
// output thread); the metrics endpoint and the end-of-run summary read them.

#include <array>
#include <cstddef>
#include <string>

#include "sensor/core/counter.h"

namespace sensor::pipeline {

inline constexpr size_t kMaxSources = 64;
inline constexpr size_t kMaxWorkers = 64;

struct SourceCounters {
    core::Counter packets;            // frames read from the source
    core::Counter bytes;              // captured bytes
    core::Counter kernel_drops;       // live: dropped by the kernel / ring (ps_drop, tp_drops)
    core::Counter interface_drops;    // live: dropped by the interface (ps_ifdrop)
    core::Counter last_packet_ts_us;  // gauge: packet time of the newest frame
};

struct PipelineStats {
    // Sources in the order given on the command line; names set before the run starts.
    std::array<SourceCounters, kMaxSources> sources;
    std::array<std::string, kMaxSources> source_names;
    size_t source_count = 0;

    // Dispatch: frames handed to worker rings, and frames dropped because a ring was full
    // (live capture only; replay waits instead). enqueued + ring_full = packets read.
    std::array<core::Counter, kMaxWorkers> enqueued;
    std::array<core::Counter, kMaxWorkers> ring_full_drops;
    std::array<core::Counter, kMaxWorkers> ring_depth;  // gauge: batches waiting per worker
    size_t worker_count = 0;

    // Outputs
    core::Counter eve_written;
    core::Counter eve_failed;
    core::Counter alerts_queue_drops;  // alert queue full (never in replay)
};

}  // namespace sensor::pipeline
