#include "sensor/detect/builtin_detectors.h"

#include <gtest/gtest.h>

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
