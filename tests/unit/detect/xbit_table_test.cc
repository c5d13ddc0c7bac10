// XbitTable: host and pair bits on packet time (Suricata's expiry to the second), set keeping
// a live bit's expiry, unset and toggle, a full set evicting the bit that expires first and
// counting it, and workers sharing one table.

#include "sensor/detect/xbit_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "detect_test_support.h"

namespace sensor::detect {
namespace {

using test_support::ip;

constexpr int64_t kSecond = 1'000'000;
constexpr int64_t kT0 = 1'700'000'000 * kSecond;  // a whole second
constexpr uint64_t kName = 0x1234'5678'9abc'def0ULL;
constexpr uint64_t kOther = 0x0fed'cba9'8765'4321ULL;

TEST(XbitTable, SetBitLivesToTheEndOfItsExpirySecond) {
    XbitTable table(64);
    const auto key = XbitTable::host_key(kName, ip("10.0.0.1"));
    EXPECT_FALSE(table.is_set(key, kT0));
    table.set(key, kT0 + kSecond / 2, 10);  // second T0 + 10 is the last one
    EXPECT_TRUE(table.is_set(key, kT0 + kSecond / 2));
    EXPECT_TRUE(table.is_set(key, kT0 + 10 * kSecond + kSecond - 1));
    EXPECT_FALSE(table.is_set(key, kT0 + 11 * kSecond));
}

TEST(XbitTable, SetKeepsTheExpiryOfALiveBitAndRestartsAnExpiredOne) {
    XbitTable table(64);
    const auto key = XbitTable::host_key(kName, ip("10.0.0.1"));
    table.set(key, kT0, 10);
    table.set(key, kT0 + 5 * kSecond, 10);  // live: the expiry stays at T0 + 10
    EXPECT_TRUE(table.is_set(key, kT0 + 10 * kSecond));
    EXPECT_FALSE(table.is_set(key, kT0 + 11 * kSecond));
    table.set(key, kT0 + 20 * kSecond, 3);  // expired: a new bit
    EXPECT_TRUE(table.is_set(key, kT0 + 23 * kSecond));
    EXPECT_FALSE(table.is_set(key, kT0 + 24 * kSecond));
}

TEST(XbitTable, UnsetAndToggle) {
    XbitTable table(64);
    const auto key = XbitTable::host_key(kName, ip("10.0.0.1"));
    table.unset(key);  // nothing to clear
    EXPECT_FALSE(table.is_set(key, kT0));
    table.set(key, kT0, 30);
    table.unset(key);
    EXPECT_FALSE(table.is_set(key, kT0));
    table.toggle(key, kT0, 30);
    EXPECT_TRUE(table.is_set(key, kT0 + 30 * kSecond));
    table.toggle(key, kT0 + kSecond, 30);
    EXPECT_FALSE(table.is_set(key, kT0 + kSecond));
    // An expired bit toggles on again, with a new expiry.
    table.toggle(key, kT0, 2);
    table.toggle(key, kT0 + 5 * kSecond, 2);
    EXPECT_TRUE(table.is_set(key, kT0 + 7 * kSecond));
}

TEST(XbitTable, KeysSeparateNamesHostsPairsAndFamilies) {
    XbitTable table(1024);
    const core::IpAddress a = ip("10.0.0.1");
    const core::IpAddress b = ip("10.0.0.2");
    table.set(XbitTable::host_key(kName, a), kT0, 30);
    table.set(XbitTable::pair_key(kName, a, b), kT0, 30);
    EXPECT_TRUE(table.is_set(XbitTable::host_key(kName, a), kT0));
    EXPECT_FALSE(table.is_set(XbitTable::host_key(kName, b), kT0));
    EXPECT_FALSE(table.is_set(XbitTable::host_key(kOther, a), kT0));
    // A pair is the same pair in either order, and not the bit of either host.
    EXPECT_TRUE(table.is_set(XbitTable::pair_key(kName, b, a), kT0));
    EXPECT_FALSE(table.is_set(XbitTable::pair_key(kName, a, ip("10.0.0.3")), kT0));
    table.unset(XbitTable::host_key(kName, a));
    EXPECT_TRUE(table.is_set(XbitTable::pair_key(kName, a, b), kT0));
    // ::ffff:10.0.0.2 is an IPv6 address, not 10.0.0.2.
    table.set(XbitTable::host_key(kName, b), kT0, 30);
    EXPECT_FALSE(table.is_set(XbitTable::host_key(kName, ip("::ffff:10.0.0.2")), kT0));
}

TEST(XbitTable, CapacityRoundsUpToAPowerOfTwo) {
    EXPECT_EQ(XbitTable(1).capacity(), XbitTable::kWays);
    EXPECT_EQ(XbitTable(1000).capacity(), 1024u);
}

// A one-set table: every key lands in the same four ways.
TEST(XbitTable, FullSetEvictsTheBitThatExpiresFirstAndCountsIt) {
    XbitTable table(XbitTable::kWays);
    auto host = [](int i) {
        return XbitTable::host_key(kName, ip(("10.1.0." + std::to_string(i)).c_str()));
    };
    // Expiries T0+10, T0+40, T0+20, T0+30.
    const uint32_t expire[] = {10, 40, 20, 30};
    for (int i = 0; i < 4; ++i) {
        EXPECT_EQ(table.set(host(i), kT0, expire[i]), 0u);
    }
    EXPECT_EQ(table.evicted(), 0u);
    EXPECT_EQ(table.set(host(4), kT0, 60), 1u);
    EXPECT_EQ(table.evicted(), 1u);
    EXPECT_FALSE(table.is_set(host(0), kT0));  // the one expiring first
    for (int i = 1; i <= 4; ++i) {
        EXPECT_TRUE(table.is_set(host(i), kT0)) << i;
    }
    // A bit that is no longer live gives its slot up without counting: unset, then expired.
    table.unset(host(2));
    EXPECT_EQ(table.set(host(5), kT0, 60), 0u);
    EXPECT_TRUE(table.is_set(host(3), kT0));
    EXPECT_EQ(table.set(host(6), kT0 + 35 * kSecond, 60), 0u);  // host 3 expired at T0+30
    EXPECT_EQ(table.evicted(), 1u);
    EXPECT_TRUE(table.is_set(host(1), kT0 + 35 * kSecond));
    EXPECT_TRUE(table.is_set(host(4), kT0 + 35 * kSecond));
    EXPECT_TRUE(table.is_set(host(5), kT0 + 35 * kSecond));
    EXPECT_TRUE(table.is_set(host(6), kT0 + 35 * kSecond));
}

TEST(XbitTable, ThreadsSeeEachOthersBits) {
    XbitTable table(65536);  // room for every key: no set overflows
    constexpr int kThreads = 4;
    constexpr int kHosts = 500;
    auto host = [](int t, int i) {
        const std::string text = "10." + std::to_string(t) + "." + std::to_string(i / 250) + "." +
                                 std::to_string(i % 250 + 1);
        return XbitTable::host_key(kName, ip(text.c_str()));
    };
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            ready.fetch_add(1);
            while (ready.load() < kThreads) {
            }
            for (int i = 0; i < kHosts; ++i) {
                table.set(host(t, i), kT0, 60);
                table.toggle(host((t + 1) % kThreads, i), kT0, 60);  // another thread's bit
            }
        });
    }
    for (std::thread& th : threads) {
        th.join();
    }
    // Each bit was set once and toggled once, in either order (set then toggle: unset;
    // toggle then set: set), so either state is right; what must hold is that no bit was lost
    // to another key and that the bits still answer to their own keys.
    EXPECT_EQ(table.evicted(), 0u);
    // After the race: every bit set again reads set, every bit unset reads unset.
    for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kHosts; ++i) {
            if (i % 2 == 0) {
                table.set(host(t, i), kT0, 60);
            } else {
                table.unset(host(t, i));
            }
        }
    }
    for (int t = 0; t < kThreads; ++t) {
        for (int i = 0; i < kHosts; ++i) {
            EXPECT_EQ(table.is_set(host(t, i), kT0), i % 2 == 0) << t << " " << i;
        }
    }
}

TEST(XbitTable, ConcurrentEvictionsAreAllCounted) {
    XbitTable table(8);  // two sets: every thread keeps evicting
    constexpr int kThreads = 4;
    std::atomic<uint64_t> reported{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        std::vector<XbitTable::Key> keys;
        for (int i = 0; i < 50; ++i) {
            const std::string text = "10.2." + std::to_string(t) + "." + std::to_string(i);
            keys.push_back(XbitTable::host_key(kName, ip(text.c_str())));
        }
        threads.emplace_back([&, keys] {
            uint64_t mine = 0;
            for (uint32_t k = 0; k < 4000; ++k) {
                const XbitTable::Key& key = keys[k % keys.size()];
                mine += k % 3 == 0 ? table.toggle(key, kT0, 60) : table.set(key, kT0, 60);
            }
            reported.fetch_add(mine);
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_GT(table.evicted(), 0u);
    EXPECT_EQ(reported.load(), table.evicted());
}

}  // namespace
}  // namespace sensor::detect
