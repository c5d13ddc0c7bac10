#include "sensor/core/frame.h"

#include <gtest/gtest.h>

#include <vector>

namespace sensor::core {
namespace {

std::vector<uint8_t> bytes_of(size_t n, uint8_t fill) { return std::vector<uint8_t>(n, fill); }

TEST(FrameBatch, RefusesAFrameThatDoesNotFitBesideOthers) {
    FrameBatch batch(1024);
    const auto small = bytes_of(600, 1);
    ASSERT_TRUE(batch.push(small, 600, 1, 1, 1, 0));
    const auto big = bytes_of(600, 2);
    EXPECT_FALSE(batch.push(big, 600, 2, 1, 2, 0));  // the caller flushes and retries
    EXPECT_EQ(batch.size(), 1u);
    batch.clear();
    ASSERT_TRUE(batch.push(big, 600, 2, 1, 2, 0));
    EXPECT_EQ(batch[0].caplen, 600u);
    EXPECT_EQ(batch[0].data[599], 2);
}

TEST(FrameBatch, RefusesAFrameLongerThanTheWholeArena) {
    // Even an empty batch: the caller decides (the live sources count it as oversize, the
    // dispatcher cuts it to the arena).
    FrameBatch batch(1024);
    const auto huge = bytes_of(3000, 7);
    EXPECT_FALSE(batch.push(huge, 3000, 5, 1, 42, 3));
    EXPECT_TRUE(batch.empty());
    EXPECT_EQ(batch.arena_bytes(), 1024u);
}

TEST(FrameBatch, DefaultArenaHoldsAFrameOfTheLargestSnaplen) {
    FrameBatch batch;
    const auto max_snaplen = bytes_of(262144, 3);
    ASSERT_TRUE(batch.push(max_snaplen, 262144, 1, 1, 1, 0));
    EXPECT_EQ(batch[0].caplen, 262144u);
}

TEST(FrameBatch, StopsAtItsFrameLimit) {
    FrameBatch batch;
    const auto tiny = bytes_of(60, 0);
    for (size_t i = 0; i < FrameBatch::kMaxFrames; ++i) {
        ASSERT_TRUE(batch.push(tiny, 60, 1, 1, i + 1, 0));
    }
    EXPECT_TRUE(batch.full());
    EXPECT_FALSE(batch.push(tiny, 60, 1, 1, 99, 0));
}

}  // namespace
}  // namespace sensor::core
