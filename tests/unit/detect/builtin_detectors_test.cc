#include "sensor/detect/builtin_detectors.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sensor::detect {
namespace {

decode::DecodedPacket syn(uint8_t src_last, uint8_t dst_last, uint16_t dport, int64_t ts_us) {
    decode::DecodedPacket p;
    const uint8_t src[4] = {198, 51, 100, src_last};
    const uint8_t dst[4] = {10, 20, 0, dst_last};
    p.src = core::IpAddress::v4_from(src);
    p.dst = core::IpAddress::v4_from(dst);
    p.src_port = 40000;
    p.dst_port = dport;
    p.ip_proto = decode::kIpProtoTcp;
    p.tcp_flags = decode::kTcpSyn;
    p.ts_us = ts_us;
    return p;
}

// n workers' detectors, all with the one shared state.
std::vector<std::unique_ptr<BuiltinDetectors>> workers_sharing(const BuiltinConfig& config,
                                                               size_t n) {
    auto shared = std::make_shared<BuiltinState>(config.table_size);
    std::vector<std::unique_ptr<BuiltinDetectors>> workers;
    for (size_t i = 0; i < n; ++i) {
        workers.push_back(std::make_unique<BuiltinDetectors>(config, shared));
    }
    return workers;
}

// Four threads, each a worker with the shared state, send the SYNs syn_of(thread, i) for i
// below per_thread at once; returns how many of them raised `sid`.
template <class SynOf>
int alerts_from_four_threads(const BuiltinConfig& config, int per_thread, SynOf syn_of,
                             uint32_t sid) {
    auto shared = std::make_shared<BuiltinState>(config.table_size);
    std::atomic<int> fired{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            BuiltinDetectors d(config, shared);
            for (int i = 0; i < per_thread; ++i) {
                if (d.observe(syn_of(t, i)) == sid) {
                    fired.fetch_add(1);
                }
            }
        });
    }
    for (auto& th : threads) {
        th.join();
    }
    return fired.load();
}

TEST(BuiltinDetectors, PortScanFiresOnceAtThresholdOfDistinctPorts) {
    BuiltinConfig config;
    config.scan_ports = 20;
    config.flood_syns = 1000;
    BuiltinDetectors d(config);
    int fired = 0;
    for (uint16_t port = 1; port <= 100; ++port) {
        uint32_t sid = d.observe(syn(66, 10, port, port * 10'000));
        if (sid == kPortScanSid) {
            ++fired;
            EXPECT_EQ(port, 20);
        }
    }
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(d.stats().scan_alerts.load(), 1u);
}

TEST(BuiltinDetectors, RepeatedSynsToOnePortAreNotAScan) {
    BuiltinDetectors d(BuiltinConfig{});
    for (int i = 0; i < 100; ++i) {
        EXPECT_EQ(d.observe(syn(66, 10, 80, i * 100'000)), 0u);
    }
}

TEST(BuiltinDetectors, SlowScanOutsideWindowDoesNotFire) {
    BuiltinConfig config;
    config.scan_ports = 20;
    config.scan_window_us = 10'000'000;
    BuiltinDetectors d(config);
    for (uint16_t port = 1; port <= 60; ++port) {
        // One port every 1 s: at most 11 ports in any 10 s window.
        EXPECT_EQ(d.observe(syn(66, 10, port, int64_t{port} * 1'000'000)), 0u);
    }
}

TEST(BuiltinDetectors, SynFloodFiresOncePerTarget) {
    BuiltinConfig config;
    config.flood_syns = 200;
    config.flood_window_us = 1'000'000;
    BuiltinDetectors d(config);
    int fired = 0;
    for (int i = 0; i < 2000; ++i) {
        // Spoofed sources: each source sends one SYN, so no scan either.
        if (d.observe(syn(static_cast<uint8_t>(i % 250), 80, 80, i * 1'000)) == kSynFloodSid) {
            ++fired;
        }
    }
    EXPECT_EQ(fired, 1);
}

// Workers share the SYN-flood state: a flood whose spoofed SYNs are spread over fifteen
// workers alerts once, at the SYN that completes the whole count.
TEST(BuiltinDetectors, SynFloodSpreadOverWorkersAlertsOnceAtTheWholeCount) {
    BuiltinConfig config;
    config.flood_syns = 200;
    config.flood_window_us = 1'000'000;
    const auto workers = workers_sharing(config, 15);
    int fired = 0;
    int alert_syn = 0;
    for (int i = 1; i <= 1000; ++i) {
        BuiltinDetectors& w = *workers[static_cast<size_t>(i) % workers.size()];
        if (w.observe(syn(static_cast<uint8_t>(i % 250), 80, 80, i * 500)) == kSynFloodSid) {
            ++fired;
            alert_syn = i;
        }
    }
    EXPECT_EQ(fired, 1);
    EXPECT_EQ(alert_syn, 200);
}

// A busy server: 190 SYNs a second, below the flood count, its clients placed unevenly (most
// on one worker, as address pairs or flows can land). No flood, whatever the spread: giving
// each of 15 workers a share of the count (14 SYNs) raised one here.
TEST(BuiltinDetectors, BusyServerIsNotAFloodHoweverItsClientsSpread) {
    BuiltinConfig config;
    config.flood_syns = 200;
    config.flood_window_us = 1'000'000;
    const auto workers = workers_sharing(config, 15);
    int fired = 0;
    for (int second = 0; second < 10; ++second) {
        for (int i = 0; i < 190; ++i) {
            const size_t worker = i % 4 == 0 ? static_cast<size_t>(i) % workers.size() : 3;
            const int64_t ts = second * 1'000'000 + i * 5'000;
            fired +=
                workers[worker]->observe(syn(static_cast<uint8_t>(i), 80, 443, ts)) != 0 ? 1 : 0;
        }
    }
    EXPECT_EQ(fired, 0);
}

// Four threads send one target 2,000 SYNs each at once, within one window: one alert.
TEST(BuiltinDetectors, ConcurrentWorkersRaiseOneFloodAlert) {
    BuiltinConfig config;
    config.flood_syns = 500;
    config.flood_window_us = 1'000'000;
    const auto spoofed = [](int t, int i) {
        return syn(static_cast<uint8_t>((t * 2000 + i) % 250), 80, 80, 1'000'000 + i * 100);
    };
    EXPECT_EQ(alerts_from_four_threads(config, 2000, spoofed, kSynFloodSid), 1);
}

// A flood that goes on alerts again once a minute, not on every window.
TEST(BuiltinDetectors, OngoingFloodAlertsOncePerIdleTime) {
    BuiltinConfig config;
    config.flood_syns = 200;
    config.flood_window_us = 1'000'000;
    config.idle_us = 60'000'000;
    BuiltinDetectors d(config);
    std::vector<int64_t> alerts;
    for (int64_t ts = 0; ts < 130'000'000; ts += 3'333) {  // 300 SYNs a second for 130 s
        if (d.observe(syn(static_cast<uint8_t>(ts % 250), 80, 80, ts)) == kSynFloodSid) {
            alerts.push_back(ts);
        }
    }
    ASSERT_EQ(alerts.size(), 3u);
    EXPECT_LT(alerts[0], 1'000'000);
    EXPECT_GE(alerts[1], 60'000'000);
    EXPECT_LT(alerts[1], 62'000'000);
    EXPECT_GE(alerts[2], 120'000'000);
}

// Workers share the port-scan state: a scan whose connections are spread over several
// workers (placement by flow) counts its ports once, and alerts once, at the threshold.
TEST(BuiltinDetectors, PortScanSpreadOverWorkersCountsOnceInSharedState) {
    BuiltinConfig config;
    config.scan_ports = 20;
    config.flood_syns = 1000;
    // shared: nullptr gives each worker state of its own.
    auto run = [&](const std::shared_ptr<BuiltinState>& shared, uint16_t& alert_port) {
        std::vector<std::unique_ptr<BuiltinDetectors>> workers;
        for (int i = 0; i < 4; ++i) {
            workers.push_back(std::make_unique<BuiltinDetectors>(config, shared));
        }
        int fired = 0;
        for (uint16_t port = 1; port <= 100; ++port) {
            // Every port twice, on two different workers (a retransmitted SYN).
            for (int copy = 0; copy < 2; ++copy) {
                BuiltinDetectors& w = *workers[(port + copy) % workers.size()];
                if (w.observe(syn(66, 10, port, port * 10'000 + copy)) == kPortScanSid) {
                    ++fired;
                    alert_port = port;
                }
            }
        }
        return fired;
    };
    uint16_t alert_port = 0;
    EXPECT_EQ(run(std::make_shared<BuiltinState>(config.table_size), alert_port), 1);
    EXPECT_EQ(alert_port, 20);
    // The counterfactual: each worker sees 50 of the ports and alerts by itself.
    EXPECT_EQ(run(nullptr, alert_port), 4);
}

// Four threads hammer one scanner-target pair with distinct ports at once: exactly one alert.
TEST(BuiltinDetectors, ConcurrentWorkersRaiseOneScanAlert) {
    BuiltinConfig config;
    config.scan_ports = 50;
    config.flood_syns = 1'000'000;
    const auto distinct_ports = [](int t, int i) {
        return syn(66, 10, static_cast<uint16_t>(1 + t * 400 + i), 1'000'000 + i);
    };
    EXPECT_EQ(alerts_from_four_threads(config, 400, distinct_ports, kPortScanSid), 1);
}

TEST(BuiltinDetectors, ScanAlertsAtMostOncePerIdleTime) {
    BuiltinConfig config;
    config.scan_ports = 20;
    config.scan_window_us = 10'000'000;
    config.idle_us = 60'000'000;
    BuiltinDetectors d(config);
    auto scan = [&](int64_t start_us, uint16_t first_port) {
        int fired = 0;
        for (uint16_t i = 0; i < 30; ++i) {
            fired += d.observe(syn(66, 10, static_cast<uint16_t>(first_port + i),
                                   start_us + i * 1'000)) == kPortScanSid
                         ? 1
                         : 0;
        }
        return fired;
    };
    EXPECT_EQ(scan(0, 1), 1);
    EXPECT_EQ(scan(20'000'000, 100), 0);  // a second scan 20 s later: within the minute
    EXPECT_EQ(scan(70'000'000, 200), 1);  // more than a minute after the alert
}

// A busy client reconnects to one server port while a scanner sweeps that server's ports: the
// scanner is a scan, the client is not. (With each port an entry of its own in one shared
// table, the sweep evicted the client's port, and each reconnection counted as a new one.)
TEST(BuiltinDetectors, ReconnectsAreNotAScanWhileAnotherSourceScans) {
    BuiltinConfig config;
    config.scan_ports = 5;
    config.flood_syns = 1'000'000;
    config.table_size = 8;
    BuiltinDetectors d(config);
    int scanner_alerts = 0;
    for (int round = 0; round < 200; ++round) {
        const int64_t now = 1'000'000 + round * 1'000;
        EXPECT_EQ(d.observe(syn(10, 10, 443, now)), 0u) << "client, round " << round;
        for (uint16_t k = 0; k < 16; ++k) {
            const auto port = static_cast<uint16_t>(1000 + round * 16 + k);
            scanner_alerts += d.observe(syn(66, 10, port, now)) == kPortScanSid ? 1 : 0;
        }
    }
    EXPECT_EQ(scanner_alerts, 1);
    EXPECT_EQ(d.stats().scan_alerts.load(), 1u);
}

TEST(BuiltinDetectors, SynAckAndNonTcpAreIgnored) {
    BuiltinConfig config;
    config.flood_syns = 2;
    BuiltinDetectors d(config);
    auto p = syn(1, 2, 80, 0);
    p.tcp_flags = decode::kTcpSyn | decode::kTcpAck;
    EXPECT_EQ(d.observe(p), 0u);
    EXPECT_EQ(d.observe(p), 0u);
    p.tcp_flags = decode::kTcpSyn;
    p.ip_proto = decode::kIpProtoUdp;
    EXPECT_EQ(d.observe(p), 0u);
    EXPECT_EQ(d.observe(p), 0u);
}

}  // namespace
}  // namespace sensor::detect
