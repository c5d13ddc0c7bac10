#pragma once
// Types of an offline replay run (see Pipeline::replay): where records go, and what was
// read. A read error stops that file after every readable packet was processed; the
// remaining files still run and the error is reported.

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "capture/pcap_file_reader.h"
#include "sensor/core/records.h"
#include "sensor/pipeline/record_formatter.h"

namespace sensor::pipeline {

// Where a worker's records go (EVE file, counters for the summary, later more outputs).
// Called on the output thread (or, with one worker, the capture thread).
class RecordSink {
public:
    virtual ~RecordSink() = default;
    // True when the sink took the alert (written, or buffered to be written); false when it is
    // lost (the pipeline counts it in PipelineStats::alerts_output_failed, not as written).
    virtual bool alert(const core::AlertRecord& record) = 0;
    virtual void flow(const core::FlowRecord& record) = 0;
    virtual void flush() = 0;
    // How the sink wants records formatted by the workers (several workers, not one working
    // inline): their lines then come with them, to alert_formatted() and flow_formatted().
    // Null: alert() and flow(). Must outlive the pipeline.
    virtual const RecordFormatter* record_formatter() const noexcept { return nullptr; }
    // A record with the line record_formatter() made of it.
    virtual bool alert_formatted(const core::AlertRecord& record, std::string_view /*line*/) {
        return alert(record);
    }
    virtual void flow_formatted(const core::FlowRecord& record, std::string_view /*line*/) {
        flow(record);
    }
};

struct FileResult {
    std::string path;
    capture::SourceStats stats;
    std::string error;  // empty when the file was read to its end
};

struct ReplayResult {
    std::vector<FileResult> files;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    int64_t first_ts_us = 0;
    int64_t last_ts_us = 0;
    double elapsed_s = 0;
    bool read_error = false;
    // CPU seconds of each pipeline thread over the run: the capture thread (the caller; with
    // one worker it processes inline, so worker_cpu_s is empty), each worker thread, and the
    // output thread. capture_helper_cpu_s: the threads that kept mapped files' page tables
    // for the capture thread (several workers only), all files together.
    double capture_cpu_s = 0;
    double capture_helper_cpu_s = 0;
    // Mapped files read on a ReadAhead thread (several workers): that thread's CPU time, its
    // waits for the capture thread to take what it read (the capture thread was the slower),
    // and the capture thread's waits for it (it was), all files together.
    double capture_reader_cpu_s = 0;
    double reader_waited_s = 0;
    double capture_waited_for_reader_s = 0;
    std::vector<double> worker_cpu_s;
    double output_cpu_s = 0;
};

struct ReplayHooks {
    // Called about every 0.5 s of wall time with packets read so far (progress line).
    std::function<void(uint64_t packets, uint64_t bytes, double elapsed_s)> progress;
    // Called once per read error, as soon as it happens.
    std::function<void(const std::string& message)> on_error;
};

}  // namespace sensor::pipeline
