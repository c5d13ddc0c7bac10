#pragma once
// Writes the exposition to a file for replays (--metrics-file): atomically (a reader sees
// the old or the new file, never half of one), every interval on its own thread, and once
// more at the end of the run from the control thread.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "sensor/core/result.h"

namespace sensor::metrics {

// Writes content to path + ".tmp", then renames it over path.
core::Result<void> write_file_atomically(const std::string& path, std::string_view content);

class PeriodicFileWriter {
public:
    using Render = std::function<std::string()>;
    using OnError = std::function<void(const core::Error&)>;

    // interval <= 0: no thread, only write_now(). on_error runs on the writer thread; a
    // failure does not stop later attempts.
    PeriodicFileWriter(std::string path, std::chrono::milliseconds interval, Render render,
                       OnError on_error);
    ~PeriodicFileWriter();
    PeriodicFileWriter(const PeriodicFileWriter&) = delete;
    PeriodicFileWriter& operator=(const PeriodicFileWriter&) = delete;

    // Renders and writes now; serialised with the periodic writes.
    core::Result<void> write_now();
    // Stops the periodic thread (idempotent); write_now() still works afterwards.
    void stop();

    const std::string& path() const noexcept { return path_; }
    uint64_t writes() const;

private:
    void loop();

    std::string path_;
    std::chrono::milliseconds interval_;
    Render render_;
    OnError on_error_;
    mutable std::mutex mutex_;  // guards stopping_, writes_ and file writes
    std::condition_variable wake_;
    bool stopping_ = false;
    uint64_t writes_ = 0;
    std::thread thread_;
};

}  // namespace sensor::metrics
