#include "sensor/pipeline/replay.h"

#include <algorithm>
#include <chrono>

namespace sensor::pipeline {

namespace {

void drain(Worker& worker, RecordSink& sink) {
    WorkerOutput& out = worker.output();
    for (const auto& a : out.alerts) {
        sink.alert(a);
    }
    for (const auto& f : out.flows) {
        sink.flow(f);
    }
    out.clear();
}

}  // namespace

ReplayResult replay_files(const std::vector<std::string>& files, Worker& worker, RecordSink& sink,
                          const ReplayHooks& hooks) {
    using Clock = std::chrono::steady_clock;
    ReplayResult result;
    const auto start = Clock::now();
    auto last_progress = start;
    core::FrameBatch batch;
    for (size_t i = 0; i < files.size(); ++i) {
        FileResult file_result;
        file_result.path = files[i];
        auto reader = capture::PcapFileReader::open(files[i], static_cast<uint32_t>(i));
        if (!reader) {
            file_result.error = reader.error().message;
            result.read_error = true;
            if (hooks.on_error) {
                hooks.on_error(file_result.error);
            }
            result.files.push_back(std::move(file_result));
            continue;
        }
        capture::ReadStatus status = capture::ReadStatus::kOk;
        do {
            batch.clear();
            status = (*reader)->read(batch);
            if (!batch.empty()) {
                worker.process(batch);
                drain(worker, sink);
            }
            if (hooks.progress) {
                auto now = Clock::now();
                if (now - last_progress > std::chrono::milliseconds(500)) {
                    last_progress = now;
                    hooks.progress(result.packets + (*reader)->stats().packets,
                                   result.bytes + (*reader)->stats().bytes,
                                   std::chrono::duration<double>(now - start).count());
                }
            }
        } while (status == capture::ReadStatus::kOk);
        if (status == capture::ReadStatus::kError) {
            file_result.error = (*reader)->error();
            result.read_error = true;
            sink.flush();  // everything read before the error is on disk before we say so
            if (hooks.on_error) {
                hooks.on_error(file_result.error);
            }
        }
        file_result.stats = (*reader)->stats();
        result.packets += file_result.stats.packets;
        result.bytes += file_result.stats.bytes;
        if (file_result.stats.packets > 0) {
            if (result.first_ts_us == 0 || file_result.stats.first_ts_us < result.first_ts_us) {
                result.first_ts_us = file_result.stats.first_ts_us;
            }
            result.last_ts_us = std::max(result.last_ts_us, file_result.stats.last_ts_us);
        }
        result.files.push_back(std::move(file_result));
    }
    worker.finish();
    drain(worker, sink);
    sink.flush();
    result.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

}  // namespace sensor::pipeline
