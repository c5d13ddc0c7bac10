#include "sensor/pipeline/pair_scheduler.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <map>

#include "sensor/core/process_memory.h"

namespace sensor::pipeline {
namespace {

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kIdle = 700 * kSecond;

TEST(PairScheduler, NewPairsGoToTheLeastBackloggedWorkerAndStayThere) {
    PairScheduler s(4, 1024, kIdle);
    std::array<uint64_t, 4> backlog = {5, 3, 0, 7};
    auto load = [&](size_t w) { return backlog[w]; };
    EXPECT_EQ(s.pick(100, 0, load), 2u);
    backlog = {0, 9, 9, 9};
    // Placed: the pair stays on worker 2 whatever the backlog says now.
    EXPECT_EQ(s.pick(100, 10 * kSecond, load), 2u);
    EXPECT_EQ(s.pick(200, 10 * kSecond, load), 0u);
    EXPECT_EQ(s.placed_least_loaded(), 2u);
}

TEST(PairScheduler, TiesStartFromTheHashWorker) {
    PairScheduler s(4, 1024, kIdle);
    auto idle = [](size_t) { return uint64_t{0}; };
    for (uint64_t h = 0; h < 16; ++h) {
        EXPECT_EQ(s.pick(h * 7919, 0, idle), (h * 7919) % 4) << h;
    }
}

TEST(PairScheduler, AnIdlePairMayMoveOnlyAfterTheIdleLimit) {
    PairScheduler s(2, 1024, kIdle);
    std::array<uint64_t, 2> backlog = {0, 5};
    auto load = [&](size_t w) { return backlog[w]; };
    ASSERT_EQ(s.pick(42, 0, load), 0u);
    backlog = {5, 0};
    EXPECT_EQ(s.pick(42, kIdle, load), 0u);          // exactly at the limit: still placed
    EXPECT_EQ(s.pick(42, 2 * kIdle, load), 0u);      // the last packet refreshed it
    EXPECT_EQ(s.pick(42, 3 * kIdle + 1, load), 1u);  // idle longer than the limit: moves
}

// The table comes zeroed from the system: only the pages pairs land on become resident.
TEST(PairScheduler, TablePagesBecomeResidentAsPairsLandOnThem) {
    const uint64_t before = core::resident_bytes();
    ASSERT_GT(before, 0u);
    PairScheduler s(4, size_t{1} << 22, kIdle);  // 4,194,304 slots of 32 bytes: 128 MiB
    ASSERT_EQ(s.capacity(), size_t{1} << 22);
    auto idle = [](size_t) { return uint64_t{0}; };
    for (uint64_t pair = 0; pair < 1000; ++pair) {
        EXPECT_EQ(s.pick(pair, 0, idle), pair % 4);
    }
    // Other tests of the same process may have freed memory since `before`: then none grew.
    const uint64_t after = core::resident_bytes();
    const uint64_t grown = after > before ? after - before : 0;
    EXPECT_LT(grown, uint64_t{16} << 20) << grown << " bytes";
}

TEST(PairScheduler, AFullTableFallsBackToTheHashAndNeverMovesSuchAPair) {
    // 16 slots (the probe length): the 17th live pair finds no slot.
    PairScheduler s(4, 16, kIdle);
    std::array<uint64_t, 4> backlog = {0, 0, 0, 0};
    auto load = [&](size_t w) { return backlog[w]; };
    for (uint64_t h = 0; h < 16; ++h) {
        backlog = {1, 1, 1, 1};
        backlog[(h + 1) % 4] = 0;  // steer away from the hash worker
        s.pick(h * 16, 0, load);
    }
    EXPECT_EQ(s.overflows(), 0u);
    const uint64_t late = 16 * 16 + 3;  // hash worker 3
    backlog = {0, 9, 9, 9};
    EXPECT_EQ(s.pick(late, kSecond, load), 3u);  // no slot: by hash
    EXPECT_EQ(s.overflows(), 1u);
    // Slots free up (the first pairs go idle after kIdle), but until the idle limit has
    // passed since the overflow (kIdle + 1 s), new pairs, and the overflowed one when it gets
    // a slot, are placed by hash: the overflowed pair may still have flows on worker 3.
    EXPECT_EQ(s.pick(late, kIdle + kSecond / 2, load), 3u);
    EXPECT_EQ(s.placed_by_hash(), 1u);
    EXPECT_EQ(s.pick(late, kIdle + 3 * kSecond, load), 3u);  // now placed: stays
    // Long after, a new pair is placed by load again.
    EXPECT_EQ(s.pick(77 * 4 + 1, 5 * kIdle, load), 0u);
}

TEST(PairScheduler, SpreadsHeavyPairsThatAFixedHashWouldStack) {
    // Eight pairs whose hashes all map to worker 0: a fixed hash stacks them, the scheduler
    // (seeing worker 0's backlog grow) spreads them.
    PairScheduler s(4, 1024, kIdle);
    std::array<uint64_t, 4> backlog = {0, 0, 0, 0};
    std::map<size_t, int> per_worker;
    for (uint64_t i = 0; i < 8; ++i) {
        const size_t w = s.pick(i * 4, 0, [&](size_t k) { return backlog[k]; });
        backlog[w] += 10;
        ++per_worker[w];
    }
    EXPECT_EQ(per_worker.size(), 4u);
    for (const auto& [w, n] : per_worker) {
        EXPECT_EQ(n, 2) << w;
    }
}

}  // namespace
}  // namespace sensor::pipeline
