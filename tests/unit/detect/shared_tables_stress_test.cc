// The tables every worker shares (ThresholdTable, XbitTable): the claim protocol of their
// tagged ways step by step, then several threads hammering the same keys or the same set at
// once, where every total must come out exact.

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "sensor/core/ip_address.h"
#include "sensor/detect/tagged_ways.h"
#include "sensor/detect/threshold_table.h"
#include "sensor/detect/xbit_table.h"

namespace sensor::detect {
namespace {

using rules::Threshold;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSecond;

core::IpAddress host(uint32_t n) {
    const uint8_t b[4] = {static_cast<uint8_t>(n >> 24), static_cast<uint8_t>(n >> 16),
                          static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n)};
    return core::IpAddress::v4_from(b);
}

// A distinct address for each thread and index.
core::IpAddress host(int thread, uint32_t i) {
    return host((static_cast<uint32_t>(thread + 1) << 24) | i);
}

// Runs body(thread index) on `threads` threads released together.
template <class Body>
void hammer(int threads, Body body) {
    std::atomic<int> ready{0};
    std::vector<std::thread> pool;
    pool.reserve(static_cast<size_t>(threads));
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < threads) {
            }
            body(t);
        });
    }
    for (std::thread& th : pool) {
        th.join();
    }
}

// Waits until every one of `threads` threads has arrived at this phase.
void arrive(std::atomic<int>& arrived, int threads) {
    arrived.fetch_add(1);
    while (arrived.load() < threads) {
    }
}

Threshold make(Threshold::Type type, uint32_t count, uint32_t seconds) {
    Threshold t;
    t.type = type;
    t.track = Threshold::Track::kBySrc;
    t.count = count;
    t.seconds = seconds;
    return t;
}

// --- The claim protocol of tagged_ways.h, one step at a time ---

// A test state word: rank r in the high bits, generation in the low 2.
uint64_t state_word(uint64_t rank, uint64_t gen) { return (rank << 2) | gen; }
uint64_t tag_word(uint64_t fingerprint, uint64_t gen) { return (fingerprint << 2) | gen; }

struct Ways {
    TaggedWay ways[4];
    // Way w holds key fingerprint w + 1 in generation 1, settled, of rank ranks[w].
    explicit Ways(const uint64_t (&ranks)[4]) {
        for (size_t w = 0; w < 4; ++w) {
            ways[w].tag.store(tag_word(w + 1, 1));
            ways[w].state.store(state_word(ranks[w], 1));
        }
    }
};

auto rank_of = [](uint64_t state) noexcept { return state >> 2; };

TEST(TaggedWays, AFullSetGivesUpTheSettledWayOfLowestRank) {
    Ways set({5, 3, 7, 3});
    WayClaim claim;
    ASSERT_EQ(find_or_claim(set.ways, 9, rank_of, claim), ClaimResult::kHeld);
    EXPECT_TRUE(claim.claimed);
    EXPECT_EQ(claim.way, 1u);  // the first of equals
    EXPECT_EQ(claim.replaced_tag, tag_word(2, 1));
    EXPECT_EQ(claim.tag, tag_word(9, 2));
    EXPECT_EQ(set.ways[1].tag.load(), tag_word(9, 2));
    // Until its state moves on, the way is in flight.
    EXPECT_FALSE(settled(set.ways[1].tag.load(), set.ways[1].state.load()));
    // The key now finds its way.
    ASSERT_EQ(find_or_claim(set.ways, 9, rank_of, claim), ClaimResult::kHeld);
    EXPECT_FALSE(claim.claimed);
    EXPECT_EQ(claim.way, 1u);
}

TEST(TaggedWays, AWayInFlightIsNeverClaimedAgain) {
    // Way 1 was just claimed (generation 2) and still holds its evicted key's state, of the
    // lowest rank. Claiming it again would let the generation run ahead of the state.
    Ways set({5, 3, 7, 4});
    set.ways[1].tag.store(tag_word(9, 2));
    WayClaim claim;
    ASSERT_EQ(find_or_claim(set.ways, 10, rank_of, claim), ClaimResult::kHeld);
    EXPECT_EQ(claim.way, 3u);
    EXPECT_EQ(set.ways[1].tag.load(), tag_word(9, 2));
}

TEST(TaggedWays, NoWayForANewKeyWhileEveryWayIsInFlight) {
    Ways set({5, 3, 7, 4});
    for (size_t w = 0; w < 4; ++w) {
        set.ways[w].tag.store(tag_word(20 + w, 2));
    }
    WayClaim claim;
    EXPECT_EQ(find_or_claim(set.ways, 9, rank_of, claim), ClaimResult::kAllInFlight);
    for (size_t w = 0; w < 4; ++w) {
        EXPECT_EQ(set.ways[w].tag.load(), tag_word(20 + w, 2));  // untouched
    }
    // A key being claimed still finds its way.
    ASSERT_EQ(find_or_claim(set.ways, 22, rank_of, claim), ClaimResult::kHeld);
    EXPECT_EQ(claim.way, 2u);
}

TEST(TaggedWays, ATagThatChangedDuringTheScanMeansLookAgain) {
    // While this thread ranks way 0, another claims way 1 for the same key and writes its
    // state. Way 1 then reads as in flight against the tag read first; skipping it would
    // give the key a second way.
    Ways set({5, 3, 7, 4});
    bool once = false;
    auto racing_rank = [&](uint64_t state) noexcept {
        if (!once) {
            once = true;
            set.ways[1].tag.store(tag_word(9, 2));
            set.ways[1].state.store(state_word(50, 2));
        }
        return state >> 2;
    };
    WayClaim claim;
    EXPECT_EQ(find_or_claim(set.ways, 9, racing_rank, claim), ClaimResult::kRetry);
    for (size_t w : {0u, 2u, 3u}) {
        EXPECT_EQ(set.ways[w].tag.load(), tag_word(w + 1, 1)) << w;
    }
    ASSERT_EQ(find_or_claim(set.ways, 9, rank_of, claim), ClaimResult::kHeld);
    EXPECT_FALSE(claim.claimed);
    EXPECT_EQ(claim.way, 1u);
}

// --- Threshold table under threads ---

// Every key is new, so every match opens its own window and, with limit 1, alerts. A key
// that took over a way whose generation had wrapped around would read the evicted key's open
// window as its own and be suppressed. That race needs four claims of one way in a row
// before a state is written: each round catches it with some chance, so there are several,
// one with more threads than ways (then all four ways can be in flight at once).
TEST(SharedTablesStress, NewThresholdKeysInAFullSetStartTheirOwnWindow) {
    const Threshold t = make(Threshold::Type::kLimit, 1, 3600);
    constexpr uint32_t kKeysPerRound = 48000;
    for (const int threads : {4, 4, 8}) {
        ThresholdTable table(ThresholdTable::kWays);  // one set
        const uint32_t keys = kKeysPerRound / static_cast<uint32_t>(threads);
        std::atomic<uint64_t> suppressed{0};
        std::atomic<uint64_t> reported{0};
        hammer(threads, [&](int th) {
            uint64_t mine = 0;
            uint64_t replaced = 0;
            for (uint32_t i = 0; i < keys; ++i) {
                const auto d = table.allow(t, ThresholdRule{1, 1, 1}, host(th, i), host(1), kT0);
                mine += d.alert ? 0 : 1;
                replaced += d.replaced;
            }
            suppressed.fetch_add(mine);
            reported.fetch_add(replaced);
        });
        EXPECT_EQ(suppressed.load(), 0u) << threads << " threads";
        // Each key claimed a way and all but the first four evicted another key, or (more
        // threads than ways) found every way in flight and lost its own entry at once.
        EXPECT_EQ(table.replaced(), kKeysPerRound - ThresholdTable::kWays);
        EXPECT_EQ(reported.load(), table.replaced());
    }
}

// Expected alerts for n matches of one key in one window.
uint64_t alerts_in_one_window(const Threshold& t, uint64_t n) {
    switch (t.type) {
        case Threshold::Type::kLimit:
            return std::min<uint64_t>(n, t.count);
        case Threshold::Type::kThreshold:
            return n / t.count;
        case Threshold::Type::kBoth:
            return n >= t.count ? 1 : 0;
        case Threshold::Type::kDetectionFilter:
            return n > t.count ? n - t.count : 0;
    }
    return 0;
}

const Threshold kTypes[] = {
    make(Threshold::Type::kLimit, 100, 3600),
    make(Threshold::Type::kThreshold, 7, 3600),
    make(Threshold::Type::kBoth, 50, 3600),
    make(Threshold::Type::kDetectionFilter, 300, 3600),
};

// Each worker has its own packet clock: here thread th lags the first match, which opened the
// window, by th * 1.5 s and more, so every match of every thread comes late. They still all
// fall in that one window: a late match counts there and must neither restart nor corrupt
// it.
TEST(SharedTablesStress, SkewedClocksCountEveryMatchInOneWindow) {
    constexpr int kThreads = 4;
    constexpr uint32_t kPerThread = 3000;
    for (const Threshold& t : kTypes) {
        ThresholdTable table(1024);
        const ThresholdRule rule{1, 1, 1};
        std::atomic<uint64_t> alerts{table.allow(t, rule, host(1), host(2), kT0).alert ? 1u : 0u};
        hammer(kThreads, [&](int th) {
            uint64_t mine = 0;
            for (uint32_t k = 0; k < kPerThread; ++k) {
                const int64_t now =
                    kT0 - int64_t{kPerThread} * 100 - th * (kSecond * 3 / 2) + int64_t{k} * 100;
                mine += table.allow(t, rule, host(1), host(th, k), now).alert ? 1 : 0;
            }
            alerts.fetch_add(mine);
        });
        EXPECT_EQ(alerts.load(), alerts_in_one_window(t, uint64_t{kThreads} * kPerThread + 1))
            << static_cast<int>(t.type);
    }
}

// All threads match in one window, wait for each other, then all match at once in the next
// (seconds 10 later): the new window must be opened once, and start from zero.
TEST(SharedTablesStress, ThreadsRollingAWindowOverAtOnceOpenOne) {
    constexpr int kThreads = 4;
    constexpr uint32_t kPerThread = 2000;
    for (Threshold t : kTypes) {
        t.seconds = 10;
        ThresholdTable table(1024);
        std::atomic<uint64_t> alerts{0};
        std::atomic<int> arrived{0};
        hammer(kThreads, [&](int th) {
            uint64_t mine = 0;
            for (const int64_t window_start : {kT0, kT0 + 10 * kSecond}) {
                for (uint32_t k = 0; k < kPerThread; ++k) {
                    mine += table
                                .allow(t, ThresholdRule{1, 1, 1}, host(1), host(th, k),
                                       window_start + int64_t{k} * 100)
                                .alert;
                }
                if (window_start == kT0) {
                    arrive(arrived, kThreads);
                }
            }
            alerts.fetch_add(mine);
        });
        EXPECT_EQ(alerts.load(), 2 * alerts_in_one_window(t, uint64_t{kThreads} * kPerThread))
            << static_cast<int>(t.type);
    }
}

// One thread keeps matching a key with an hour-long window while two others fill the rest of
// its set with new keys of one-second windows. The long window ends last, so it is never the
// one given up (two churning threads leave at most two ways in flight, so a settled way of
// a short window is always there to take): its limit holds exactly, and every other key's
// arrival evicted exactly one entry.
TEST(SharedTablesStress, AKeyBeingUpdatedSurvivesChurnInItsSet) {
    ThresholdTable table(ThresholdTable::kWays);  // one set
    const Threshold hot = make(Threshold::Type::kLimit, 50, 3600);
    const Threshold cold = make(Threshold::Type::kLimit, 1, 1);
    const ThresholdRule hot_rule{1, 1, 1};
    const ThresholdRule cold_rule{1, 2, 1};
    ASSERT_TRUE(table.allow(hot, hot_rule, host(1), host(2), kT0).alert);
    constexpr uint32_t kHotMatches = 20000;
    constexpr uint32_t kColdKeys = 10000;
    std::atomic<uint64_t> hot_alerts{1};
    std::atomic<uint64_t> cold_suppressed{0};
    hammer(3, [&](int th) {
        uint64_t mine = 0;
        if (th == 0) {
            for (uint32_t k = 0; k < kHotMatches; ++k) {
                mine += table.allow(hot, hot_rule, host(1), host(2), kT0 + k).alert ? 1 : 0;
            }
            hot_alerts.fetch_add(mine);
            return;
        }
        for (uint32_t i = 0; i < kColdKeys; ++i) {
            mine += table.allow(cold, cold_rule, host(th, i), host(2), kT0 + i).alert ? 0 : 1;
        }
        cold_suppressed.fetch_add(mine);
    });
    EXPECT_EQ(hot_alerts.load(), hot.count);
    EXPECT_EQ(cold_suppressed.load(), 0u);
    EXPECT_EQ(table.replaced(), uint64_t{2} * kColdKeys - (ThresholdTable::kWays - 1));
}

// --- Xbit table under threads ---

// Every key is set once, never unset, with an hour to live: a bit that no longer reads set
// was evicted while live, and each such eviction must be counted once (by the caller that
// took its slot over, whatever another thread did to the bit in between).
TEST(SharedTablesStress, EveryLiveBitLostToAFullSetIsCounted) {
    constexpr uint32_t kKeysPerRound = 48000;
    for (const int threads : {4, 8}) {
        XbitTable table(XbitTable::kWays);  // one set
        const uint32_t keys = kKeysPerRound / static_cast<uint32_t>(threads);
        auto key = [](int th, uint32_t i) { return XbitTable::host_key(7, host(th, i)); };
        std::atomic<uint64_t> reported{0};
        hammer(threads, [&](int th) {
            uint64_t mine = 0;
            for (uint32_t i = 0; i < keys; ++i) {
                mine += table.set(key(th, i), kT0, 3600);
            }
            reported.fetch_add(mine);
        });
        uint64_t kept = 0;
        for (int th = 0; th < threads; ++th) {
            for (uint32_t i = 0; i < keys; ++i) {
                kept += table.is_set(key(th, i), kT0) ? 1 : 0;
            }
        }
        EXPECT_EQ(kept, XbitTable::kWays) << threads << " threads";
        EXPECT_EQ(table.evicted(), kKeysPerRound - kept) << threads << " threads";
        EXPECT_EQ(reported.load(), table.evicted());
    }
}

// Toggles of one bit from several threads at once: none may be lost, so the bit ends set
// exactly when the number of toggles is odd.
TEST(SharedTablesStress, ConcurrentTogglesAreNeverLost) {
    XbitTable table(1024);
    constexpr int kThreads = 4;
    constexpr uint32_t kToggles = 5001;  // per thread and bit: odd
    constexpr uint32_t kBits = 8;
    auto key = [](uint32_t b) { return XbitTable::host_key(7, host(b + 1)); };
    hammer(kThreads, [&](int th) {
        for (uint32_t k = 0; k < kToggles; ++k) {
            for (uint32_t b = 0; b < kBits; ++b) {
                // Bits of odd index get one toggle less from thread 0.
                if (th == 0 && b % 2 == 1 && k == 0) {
                    continue;
                }
                table.toggle(key(b), kT0, 3600);
            }
        }
    });
    for (uint32_t b = 0; b < kBits; ++b) {
        // Even bits: 4 * 5001 toggles (even); odd bits: one less (odd).
        EXPECT_EQ(table.is_set(key(b), kT0), b % 2 == 1) << b;
    }
    EXPECT_EQ(table.evicted(), 0u);
}

}  // namespace
}  // namespace sensor::detect
