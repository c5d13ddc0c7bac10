#include "sensor/metrics/file_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

namespace sensor::metrics {

core::Result<void> write_file_atomically(const std::string& path, std::string_view content) {
    const std::string tmp = path + ".tmp";
    std::FILE* f = std::fopen(tmp.c_str(), "wb");
    if (f == nullptr) {
        return core::make_error(tmp + ": cannot create: " + std::strerror(errno));
    }
    const bool wrote = std::fwrite(content.data(), 1, content.size(), f) == content.size();
    const int write_errno = errno;
    if (std::fclose(f) != 0 || !wrote) {
        std::remove(tmp.c_str());
        return core::make_error(tmp +
                                ": write failed: " + std::strerror(wrote ? errno : write_errno));
    }
    if (std::rename(tmp.c_str(), path.c_str()) != 0) {
        const int rename_errno = errno;
        std::remove(tmp.c_str());
        return core::make_error(path + ": cannot replace: " + std::strerror(rename_errno));
    }
    return {};
}

PeriodicFileWriter::PeriodicFileWriter(std::string path, std::chrono::milliseconds interval,
                                       Render render, OnError on_error)
    : path_(std::move(path)),
      interval_(interval),
      render_(std::move(render)),
      on_error_(std::move(on_error)) {
    if (interval_.count() > 0) {
        thread_ = std::thread([this] { loop(); });
    }
}

PeriodicFileWriter::~PeriodicFileWriter() { stop(); }

void PeriodicFileWriter::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
}

core::Result<void> PeriodicFileWriter::write_now() {
    std::string text = render_();
    std::lock_guard lock(mutex_);
    auto ok = write_file_atomically(path_, text);
    if (ok) {
        ++writes_;
    }
    return ok;
}

uint64_t PeriodicFileWriter::writes() const {
    std::lock_guard lock(mutex_);
    return writes_;
}

void PeriodicFileWriter::loop() {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
        lock.unlock();
        auto ok = write_now();
        if (!ok && on_error_) {
            on_error_(ok.error());
        }
        lock.lock();
    }
}

}  // namespace sensor::metrics
