#pragma once
// Backoff: how pipeline threads wait for each other without locks, and time the waits.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

namespace sensor::pipeline {

// Waits without burning a core that another pipeline thread may need (this machine class
// can have fewer cores than threads): spin briefly, then yield, then sleep, each sleep twice
// the last up to `max_sleep`. A thread that found nothing for a while wakes rarely: an idle
// output thread polling every 50 us took a fifth of a core, and on a two-core machine that
// time is taken from the workers.
// Nanoseconds since start: how long a wait took.
inline uint64_t elapsed_ns(std::chrono::steady_clock::time_point start) noexcept {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now() - start)
                                     .count());
}

class Backoff {
public:
    static constexpr std::chrono::microseconds kFirstSleep{50};

    explicit Backoff(std::chrono::microseconds max_sleep = std::chrono::microseconds(200))
        : max_sleep_(max_sleep) {}

    void pause() {
        if (++rounds_ < 64) {
            return;
        }
        if (rounds_ < 256) {
            std::this_thread::yield();
            return;
        }
        std::this_thread::sleep_for(sleep_);
        sleep_ = std::min(sleep_ * 2, max_sleep_);
    }
    void reset() {
        rounds_ = 0;
        sleep_ = kFirstSleep;
    }

private:
    std::chrono::microseconds max_sleep_;
    std::chrono::microseconds sleep_ = kFirstSleep;
    uint32_t rounds_ = 0;
};

}  // namespace sensor::pipeline
