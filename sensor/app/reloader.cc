#include "sensor/app/reloader.h"

#include <utility>

namespace sensor::app {

Reloader::Reloader(std::function<void(Reloader&)> reload)
    : reload_(std::move(reload)), thread_([this] { loop(); }) {}

Reloader::~Reloader() {
    stop();
    thread_.join();
}

Reloader::Request Reloader::request(uint64_t* ticket) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        return Request::kStopped;
    }
    ++requested_;
    if (ticket != nullptr) {
        *ticket = requested_;
    }
    if (pending_) {
        return Request::kMerged;
    }
    pending_ = true;
    cv_.notify_all();
    return running_ ? Request::kFollows : Request::kStarts;
}

void Reloader::stop() {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        return;
    }
    stopping_ = true;
    abandoned_ = (pending_ ? 1 : 0) + (running_ && !committed_ ? 1 : 0);
    pending_ = false;
    cv_.notify_all();
}

bool Reloader::stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
}

bool Reloader::commit(const std::function<void()>& effect) {
    std::lock_guard lock(mutex_);
    if (stopping_) {
        return false;
    }
    committed_ = true;
    if (effect) {
        effect();
    }
    return true;
}

bool Reloader::wait(uint64_t ticket, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    // A stop ends the wait, unless the reload covering the ticket has committed already: its
    // rules took effect, and it ends shortly (finish() waits for it too).
    cv_.wait_for(lock, timeout, [&] {
        return completed_ >= ticket ||
               (stopping_ && !(running_ && committed_ && covering_ >= ticket));
    });
    return completed_ >= ticket;
}

size_t Reloader::finish() {
    stop();
    std::unique_lock lock(mutex_);
    cv_.wait(lock, [this] { return !(running_ && committed_); });
    return abandoned_;
}

void Reloader::loop() {
    std::unique_lock lock(mutex_);
    for (;;) {
        cv_.wait(lock, [this] { return pending_ || stopping_; });
        if (stopping_) {
            return;
        }
        pending_ = false;
        running_ = true;
        committed_ = false;
        covering_ = requested_;  // it reads the files after every request made so far
        lock.unlock();
        reload_(*this);
        lock.lock();
        running_ = false;
        if (committed_) {
            completed_ = covering_;
        }
        committed_ = false;
        cv_.notify_all();
    }
}

}  // namespace sensor::app
