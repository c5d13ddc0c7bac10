// PortScanTable counts each port once per scanner, target and window, exactly or under, and
// shared by threads: each count value is seen by one SYN only.

#include "sensor/detect/port_scan_table.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

namespace sensor::detect {
namespace {

core::IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    const uint8_t bytes[4] = {a, b, c, d};
    return core::IpAddress::v4_from(bytes);
}

constexpr int64_t kWindowUs = 10'000'000;

TEST(PortScanTable, CountsEachPortOncePerWindow) {
    PortScanTable table(64);
    const auto src = v4(198, 51, 100, 1);
    const auto dst = v4(10, 0, 0, 1);
    EXPECT_EQ(table.observe(src, dst, 22, 1'000, kWindowUs).new_port_count, 1u);
    EXPECT_EQ(table.observe(src, dst, 22, 2'000, kWindowUs).new_port_count, 0u);  // again
    EXPECT_EQ(table.observe(src, dst, 0, 3'000, kWindowUs).new_port_count, 2u);   // port 0
    EXPECT_EQ(table.observe(src, dst, 80, 4'000, kWindowUs).new_port_count, 3u);
    // Other directions and pairs count apart.
    EXPECT_EQ(table.observe(dst, src, 22, 5'000, kWindowUs).new_port_count, 1u);
    EXPECT_EQ(table.observe(src, v4(10, 0, 0, 2), 22, 6'000, kWindowUs).new_port_count, 1u);
    // A new window starts over: its first port counts one, whatever came before.
    EXPECT_EQ(table.observe(src, dst, 22, 1'000 + kWindowUs, kWindowUs).new_port_count, 1u);
    EXPECT_EQ(table.observe(src, dst, 80, 2'000 + kWindowUs, kWindowUs).new_port_count, 2u);
}

TEST(PortScanTable, CountsStopAtThePortSlots) {
    PortScanTable table(64);
    const auto src = v4(198, 51, 100, 1);
    const auto dst = v4(10, 0, 0, 1);
    uint32_t last = 0;
    for (uint16_t port = 1; port <= 100; ++port) {
        const uint32_t n = table.observe(src, dst, port, port, kWindowUs).new_port_count;
        if (port <= PortScanTable::kPortSlots) {
            EXPECT_EQ(n, port);
        } else {
            EXPECT_EQ(n, 0u) << port;
        }
        last = std::max(last, n);
    }
    EXPECT_EQ(last, PortScanTable::kPortSlots);
}

// Many other pairs churn a small table between one client's connections to one port: its
// entry is evicted again and again, and it must never count more than the one port.
TEST(PortScanTable, EvictionNeverCountsARepeatedPortAgainAsAnother) {
    PortScanTable table(8);  // two sets of four
    const auto client = v4(192, 0, 2, 10);
    const auto server = v4(10, 0, 0, 80);
    int64_t now = 1'000'000;
    for (int round = 0; round < 200; ++round) {
        const uint32_t n = table.observe(client, server, 443, now, kWindowUs).new_port_count;
        EXPECT_LE(n, 1u) << round;
        for (uint8_t i = 0; i < 16; ++i) {  // spoofed sources, each a new pair
            table.observe(v4(203, 0, static_cast<uint8_t>(round), i), server, 80, now, kWindowUs);
        }
        now += 10'000;
    }
    EXPECT_GT(table.replaced(), 0u);
}

// Four threads add the same 32 ports (each port by every thread) to one pair: every count
// value from 1 to 32 is returned exactly once.
TEST(PortScanTable, ThreadsSharingAPairSeeEachCountOnce) {
    for (int trial = 0; trial < 20; ++trial) {
        PortScanTable table(64);
        const auto src = v4(198, 51, 100, 7);
        const auto dst = v4(10, 0, 0, 7);
        std::vector<std::vector<uint32_t>> seen(4);
        std::vector<std::thread> threads;
        std::atomic<int> ready{0};
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                ready.fetch_add(1);
                while (ready.load() < 4) {
                }
                for (uint16_t i = 0; i < PortScanTable::kPortSlots; ++i) {
                    // Each thread in its own order, so that threads meet on the same ports.
                    const auto port =
                        static_cast<uint16_t>(1000 + (i * (2 * t + 1)) % PortScanTable::kPortSlots);
                    const uint32_t n =
                        table.observe(src, dst, port, 1'000 + i, kWindowUs).new_port_count;
                    if (n != 0) {
                        seen[static_cast<size_t>(t)].push_back(n);
                    }
                }
            });
        }
        for (auto& th : threads) {
            th.join();
        }
        std::multiset<uint32_t> all;
        for (const auto& s : seen) {
            all.insert(s.begin(), s.end());
        }
        ASSERT_EQ(all.size(), PortScanTable::kPortSlots) << "trial " << trial;
        uint32_t expect = 1;
        for (uint32_t n : all) {
            EXPECT_EQ(n, expect++) << "trial " << trial;
        }
    }
}

// Threads add one port while windows of 1 ms roll over under them: a thread still in an old
// window must not take a slot holding the new window's port (it would erase it, and the port
// would count twice). Before the state was read again ahead of the slot swap, a run like this
// counted 2 for one port dozens of times.
TEST(PortScanTable, ThreadsAcrossRollingWindowsNeverCountOnePortTwice) {
    PortScanTable table(64);
    const auto src = v4(198, 51, 100, 9);
    const auto dst = v4(10, 0, 0, 9);
    std::atomic<int64_t> clock{1'000'000};
    std::atomic<uint64_t> over{0};
    std::atomic<uint64_t> counted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 200'000; ++i) {
                const int64_t now = clock.fetch_add(7);
                const uint32_t n = table.observe(src, dst, 443, now, 1'000).new_port_count;
                over.fetch_add(n > 1 ? 1 : 0);
                counted.fetch_add(n != 0 ? 1 : 0);
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    EXPECT_EQ(over.load(), 0u);
    EXPECT_GT(counted.load(), 100u);  // windows did roll over: the port counted in each
}

}  // namespace
}  // namespace sensor::detect
