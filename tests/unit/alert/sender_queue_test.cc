#include "sensor/alert/sender_queue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <vector>

namespace sensor::alert {
namespace {

TEST(SenderQueue, FullRingRefusesWithoutWaitingAndFreesSlotsOnPop) {
    SenderQueue<int> q(2);
    for (int v : {1, 2}) {
        int* slot = q.slot(false);
        ASSERT_NE(slot, nullptr);
        *slot = v;
        q.publish();
    }
    EXPECT_EQ(q.slot(false), nullptr);  // full: a live producer drops instead of waiting
    EXPECT_EQ(q.pending(), 2u);
    EXPECT_EQ(q.front(), 1);
    q.pop();
    EXPECT_EQ(q.front(), 2);
    ASSERT_NE(q.slot(false), nullptr);
    q.pop();
    EXPECT_EQ(q.pending(), 0u);
}

TEST(SenderQueue, SenderThreadReceivesEveryItemInOrderWhenTheProducerWaits) {
    SenderQueue<std::string> q(4);
    std::vector<std::string> got;
    std::atomic<bool> done{false};
    ASSERT_TRUE(q.start("test", [&] {
                     while (!done.load() || q.pending() > 0) {
                         if (q.pending() == 0) {
                             q.wait_for_item(10);
                             continue;
                         }
                         got.push_back(q.front());
                         q.pop();
                     }
                 }).has_value());
    for (int i = 0; i < 100; ++i) {
        std::string* slot = q.slot(true);  // replay: wait for room, never drop
        ASSERT_NE(slot, nullptr);
        *slot = std::to_string(i);
        q.publish();
    }
    done.store(true);
    q.stop_and_join();
    ASSERT_EQ(got.size(), 100u);
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(got[static_cast<size_t>(i)], std::to_string(i));
    }
}

TEST(SenderQueue, StopEndsAWaitingProducerAndTheSendersSleep) {
    SenderQueue<int> q(1);
    ASSERT_NE(q.slot(false), nullptr);
    q.publish();
    q.stop_and_join();  // no sender thread: idempotent, just sets the flag
    EXPECT_TRUE(q.stopping());
    EXPECT_EQ(q.slot(true), nullptr);     // full and stopping: gives up instead of waiting
    EXPECT_TRUE(q.wait_for_stop(10000));  // returns at once
    q.set_error("boom");
    EXPECT_EQ(q.last_error(), "boom");
}

}  // namespace
}  // namespace sensor::alert
