#pragma once
// SenderQueue<T>: the hand-off between the output thread and the sender thread of a network
// output (Alertmanager, syslog). A bounded single-producer single-consumer ring of
// preallocated T slots, a stop flag with its wake-up, the sender thread itself and the
// sender's last error. The producer never blocks unless it asks to wait for room (replay).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "sensor/core/result.h"

namespace sensor::alert {

template <class T>
class SenderQueue {
public:
    explicit SenderQueue(size_t capacity) : ring_(std::max<size_t>(capacity, 1)) {}
    ~SenderQueue() { stop_and_join(); }
    SenderQueue(const SenderQueue&) = delete;
    SenderQueue& operator=(const SenderQueue&) = delete;

    // Producer: the slot to fill next, or nullptr when the ring is full. With wait_for_room the
    // producer waits for the sender to free a slot instead, and gets nullptr only once a stop
    // was requested.
    T* slot(bool wait_for_room) noexcept {
        const uint64_t tail = tail_.load(std::memory_order_relaxed);
        while (tail - head_.load(std::memory_order_acquire) >= ring_.size()) {
            if (!wait_for_room || stop_.load(std::memory_order_relaxed)) {
                return nullptr;
            }
            std::this_thread::sleep_for(std::chrono::microseconds(100));
        }
        return &ring_[tail % ring_.size()];
    }
    // Producer: makes the slot returned by slot() visible to the sender and wakes it.
    void publish() noexcept {
        tail_.store(tail_.load(std::memory_order_relaxed) + 1, std::memory_order_release);
        wake_.notify_one();
    }

    // Sender: items waiting, the oldest one, and taking n of them off.
    size_t pending() const noexcept {
        return static_cast<size_t>(tail_.load(std::memory_order_acquire) -
                                   head_.load(std::memory_order_relaxed));
    }
    T& front() noexcept { return ring_[head_.load(std::memory_order_relaxed) % ring_.size()]; }
    void pop(size_t n = 1) noexcept {
        head_.store(head_.load(std::memory_order_relaxed) + n, std::memory_order_release);
    }
    bool stopping() const noexcept { return stop_.load(); }
    // Sender: sleeps up to ms or until a stop is requested; returns stopping().
    bool wait_for_stop(int ms) {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        return wake_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_.load(); });
    }
    // Sender: sleeps up to ms or until an item arrives or a stop is requested.
    void wait_for_item(int ms) {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        wake_.wait_for(lock, std::chrono::milliseconds(ms),
                       [this] { return stop_.load() || pending() > 0; });
    }

    // Owner: runs body on the sender thread.
    core::Result<void> start(const std::string& what, std::function<void()> body) {
        try {
            sender_ = std::thread(std::move(body));
        } catch (const std::system_error& e) {
            return core::make_error(what + ": cannot start sender thread: " + e.what());
        }
        return {};
    }
    // Owner: asks the sender to finish and waits for it; idempotent.
    void stop_and_join() {
        {
            std::lock_guard<std::mutex> lock(wake_mutex_);
            stop_.store(true);
        }
        wake_.notify_all();
        if (sender_.joinable()) {
            sender_.join();
        }
    }

    // Any thread: the sender's most recent failure.
    void set_error(std::string message) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        last_error_ = std::move(message);
    }
    std::string last_error() const {
        std::lock_guard<std::mutex> lock(error_mutex_);
        return last_error_;
    }

private:
    std::vector<T> ring_;
    alignas(64) std::atomic<uint64_t> head_{0};  // sender
    alignas(64) std::atomic<uint64_t> tail_{0};  // producer
    std::atomic<bool> stop_{false};
    std::mutex wake_mutex_;
    std::condition_variable wake_;
    mutable std::mutex error_mutex_;
    std::string last_error_;
    std::thread sender_;
};

}  // namespace sensor::alert
