#include "sensor/app/reloader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

namespace sensor::app {
namespace {

using namespace std::chrono_literals;

// A latch the test opens; reloads wait on it.
class Gate {
public:
    void open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

// Counts reloads started, ended and running at once, and waits for a number of them.
class Probe {
public:
    void begin() {
        std::lock_guard lock(mutex_);
        ++started_;
        ++running_;
        max_running_ = std::max(max_running_, running_);
        cv_.notify_all();
    }
    void end(bool committed) {
        std::lock_guard lock(mutex_);
        --running_;
        ++ended_;
        committed_ += committed ? 1 : 0;
        cv_.notify_all();
    }
    bool wait_started(int n) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, 10s, [&] { return started_ >= n; });
    }
    bool wait_ended(int n) {
        std::unique_lock lock(mutex_);
        return cv_.wait_for(lock, 10s, [&] { return ended_ >= n; });
    }
    int started() {
        std::lock_guard lock(mutex_);
        return started_;
    }
    int ended() {
        std::lock_guard lock(mutex_);
        return ended_;
    }
    int committed() {
        std::lock_guard lock(mutex_);
        return committed_;
    }
    int max_running() {
        std::lock_guard lock(mutex_);
        return max_running_;
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    int started_ = 0, ended_ = 0, running_ = 0, max_running_ = 0, committed_ = 0;
};

TEST(Reloader, RunsARequestedReloadAndCommitsIt) {
    Probe probe;
    std::atomic<int> effects{0};
    Reloader reloader([&](Reloader& r) {
        probe.begin();
        probe.end(r.commit([&] { ++effects; }));
    });
    EXPECT_EQ(probe.started(), 0);  // nothing runs unasked
    EXPECT_EQ(reloader.request(), Reloader::Request::kStarts);
    ASSERT_TRUE(probe.wait_ended(1));
    EXPECT_EQ(probe.committed(), 1);
    EXPECT_EQ(effects.load(), 1);
    EXPECT_EQ(reloader.finish(), 0u);
}

TEST(Reloader, MergesRequestsDuringAReloadIntoOneMoreNeverTwoAtOnce) {
    Probe probe;
    Gate first_may_end;
    Reloader reloader([&](Reloader& r) {
        const bool first = probe.started() == 0;
        probe.begin();
        if (first) {
            first_may_end.wait();
        }
        probe.end(r.commit({}));
    });
    EXPECT_EQ(reloader.request(), Reloader::Request::kStarts);
    ASSERT_TRUE(probe.wait_started(1));
    // A burst of SIGHUPs while the first reload runs: one more reload, after it.
    EXPECT_EQ(reloader.request(), Reloader::Request::kFollows);
    EXPECT_EQ(reloader.request(), Reloader::Request::kMerged);
    EXPECT_EQ(reloader.request(), Reloader::Request::kMerged);
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(probe.started(), 1);  // the second waits for the first
    first_may_end.open();
    ASSERT_TRUE(probe.wait_ended(2));
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(probe.started(), 2);  // not lost, not run twice
    EXPECT_EQ(probe.committed(), 2);
    EXPECT_EQ(probe.max_running(), 1);
    // Idle again: the next request starts at once.
    EXPECT_EQ(reloader.request(), Reloader::Request::kStarts);
    ASSERT_TRUE(probe.wait_ended(3));
}

// A waiter (POST /-/reload) is answered by a reload that started after its request: one
// made while a reload runs waits for the next reload, not the one already reading the files.
TEST(Reloader, WaitEndsWithAReloadThatStartedAfterTheRequest) {
    Probe probe;
    Gate first_may_end;
    Gate second_may_end;
    Reloader reloader([&](Reloader& r) {
        const bool first = probe.started() == 0;
        probe.begin();
        (first ? first_may_end : second_may_end).wait();
        probe.end(r.commit({}));
    });
    uint64_t first = 0;
    uint64_t second = 0;
    uint64_t third = 0;
    ASSERT_EQ(reloader.request(&first), Reloader::Request::kStarts);
    ASSERT_TRUE(probe.wait_started(1));
    EXPECT_EQ(reloader.request(&second), Reloader::Request::kFollows);
    EXPECT_EQ(reloader.request(&third), Reloader::Request::kMerged);
    EXPECT_LT(first, second);
    EXPECT_LT(second, third);
    EXPECT_FALSE(reloader.wait(first, 50ms)) << "the reload is still running";
    first_may_end.open();
    EXPECT_TRUE(reloader.wait(first, 10s));
    EXPECT_FALSE(reloader.wait(second, 50ms)) << "the first reload started before request 2";
    EXPECT_FALSE(reloader.wait(third, 0ms));
    second_may_end.open();
    EXPECT_TRUE(reloader.wait(second, 10s));
    EXPECT_TRUE(reloader.wait(third, 10s));
    EXPECT_EQ(probe.started(), 2);
    EXPECT_EQ(reloader.finish(), 0u);
}

// A stop answers waiters at once: the reload they wait for can no longer commit.
TEST(Reloader, WaitEndsAtAStopWithoutTheReload) {
    Probe probe;
    Gate compile_done;
    Reloader reloader([&](Reloader& r) {
        probe.begin();
        compile_done.wait();
        probe.end(r.commit({}));
    });
    uint64_t ticket = 0;
    ASSERT_EQ(reloader.request(&ticket), Reloader::Request::kStarts);
    ASSERT_TRUE(probe.wait_started(1));
    auto waiter = std::async(std::launch::async, [&] { return reloader.wait(ticket, 60s); });
    EXPECT_EQ(waiter.wait_for(50ms), std::future_status::timeout);
    reloader.stop();
    ASSERT_EQ(waiter.wait_for(5s), std::future_status::ready);
    EXPECT_FALSE(waiter.get());
    compile_done.open();
    ASSERT_TRUE(probe.wait_ended(1));
    EXPECT_FALSE(reloader.wait(ticket, 0ms)) << "the reload ended uncommitted";
}

// A reload that committed before the stop took effect: its waiter hears so, not that the
// stop came first.
TEST(Reloader, WaitAnswersAReloadThatCommittedBeforeTheStop) {
    Gate recorded;
    std::atomic<bool> committed{false};
    Reloader reloader([&](Reloader& r) {
        committed = r.commit({});
        recorded.wait();  // bookkeeping after the commit
    });
    uint64_t ticket = 0;
    ASSERT_EQ(reloader.request(&ticket), Reloader::Request::kStarts);
    while (!committed) {
        std::this_thread::sleep_for(1ms);
    }
    auto waiter = std::async(std::launch::async, [&] { return reloader.wait(ticket, 60s); });
    reloader.stop();
    EXPECT_EQ(waiter.wait_for(100ms), std::future_status::timeout)
        << "the committed reload is still running: the waiter waits for it";
    recorded.open();
    ASSERT_EQ(waiter.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(waiter.get());
    EXPECT_EQ(reloader.finish(), 0u);
}

TEST(Reloader, StopDropsTheReloadInProgressAndTheOneWaiting) {
    Probe probe;
    Gate compile_done;
    std::atomic<int> effects{0};
    Reloader reloader([&](Reloader& r) {
        probe.begin();
        compile_done.wait();
        probe.end(r.commit([&] { ++effects; }));
    });
    reloader.request();
    ASSERT_TRUE(probe.wait_started(1));
    EXPECT_EQ(reloader.request(), Reloader::Request::kFollows);
    reloader.stop();
    EXPECT_TRUE(reloader.stopping());
    EXPECT_EQ(reloader.request(), Reloader::Request::kStopped);
    // finish() does not wait for a reload that has not committed (a compile in progress).
    auto finished = std::async(std::launch::async, [&] { return reloader.finish(); });
    ASSERT_EQ(finished.wait_for(5s), std::future_status::ready);
    EXPECT_EQ(finished.get(), 2u);  // the one running and the one waiting
    compile_done.open();
    ASSERT_TRUE(probe.wait_ended(1));
    EXPECT_EQ(probe.committed(), 0);
    EXPECT_EQ(effects.load(), 0);  // nothing published after the stop
    std::this_thread::sleep_for(50ms);
    EXPECT_EQ(probe.started(), 1);  // the waiting one never ran
}

TEST(Reloader, FinishWaitsForACommittedReloadToEnd) {
    Gate recorded;
    std::atomic<bool> committed{false};
    std::atomic<bool> ended{false};
    Reloader reloader([&](Reloader& r) {
        committed = r.commit({});
        recorded.wait();  // counters and metrics are written after the commit
        ended = true;
    });
    reloader.request();
    while (!committed) {
        std::this_thread::sleep_for(1ms);
    }
    auto finished = std::async(std::launch::async, [&] { return reloader.finish(); });
    EXPECT_EQ(finished.wait_for(100ms), std::future_status::timeout);
    recorded.open();
    ASSERT_EQ(finished.wait_for(5s), std::future_status::ready);
    EXPECT_TRUE(ended);
    EXPECT_EQ(finished.get(), 0u);  // it completed: nothing cut short
}

TEST(Reloader, DestructorJoinsAReloadStillRunning) {
    Probe probe;
    Gate compile_done;
    std::future<void> opener;
    {
        Reloader reloader([&](Reloader& r) {
            probe.begin();
            compile_done.wait();
            probe.end(r.commit({}));
        });
        reloader.request();
        ASSERT_TRUE(probe.wait_started(1));
        opener = std::async(std::launch::async, [&] {
            std::this_thread::sleep_for(50ms);
            compile_done.open();
        });
    }
    // The destructor returned only after the reload did, and it could not commit.
    EXPECT_EQ(probe.ended(), 1);
    EXPECT_EQ(probe.committed(), 0);
    opener.get();
}

}  // namespace
}  // namespace sensor::app
