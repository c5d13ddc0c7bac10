// Config keys of the capture section and the default worker count: what sensor.yaml and
// --set turn into, down to the LiveSource they open.
#include "sensor/app/config.h"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

namespace sensor::app {
namespace {

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

SensorConfig load_with(const std::vector<std::string>& overrides) {
    auto config = load_config("", overrides);
    EXPECT_TRUE(config) << config.error().message;
    return config ? *config : SensorConfig{};
}

std::string load_error(const std::vector<std::string>& overrides) {
    auto config = load_config("", overrides);
    EXPECT_FALSE(config);
    return config ? std::string() : config.error().message;
}

TEST(CaptureConfig, BpfFilterIsReadAndEmptyByDefault) {
    EXPECT_EQ(load_with({}).capture.bpf_filter, "");
    EXPECT_EQ(load_with({"capture.bpf-filter=not port 22"}).capture.bpf_filter, "not port 22");
    const std::string message = load_error({"capture.bpf-filter=[tcp, udp]"});
    EXPECT_TRUE(contains(message, "config key 'capture.bpf-filter': expected a string")) << message;
}

TEST(CaptureConfig, PcapModeDefaultsToImmediate) {
    const SensorConfig config = load_with({});
    EXPECT_TRUE(config.capture.pcap_immediate);
    const capture::LiveOptions options = live_options(config.capture);
    EXPECT_TRUE(options.immediate);
    EXPECT_EQ(options.timeout_ms, capture::LiveOptions{}.timeout_ms);
    EXPECT_EQ(options.buffer_bytes, 32 << 20);
}

TEST(CaptureConfig, PcapBlockModeAndTimeoutReachLiveOptions) {
    const SensorConfig config =
        load_with({"capture.pcap.immediate=false", "capture.pcap.block-timeout=25",
                   "capture.pcap.buffer-size=8388608"});
    const capture::LiveOptions options = live_options(config.capture);
    EXPECT_FALSE(options.immediate);
    EXPECT_EQ(options.timeout_ms, 25);
    EXPECT_EQ(options.buffer_bytes, 8 << 20);
    // The block timeout is for block mode only: immediate mode keeps read()'s own wait.
    const SensorConfig immediate = load_with({"capture.pcap.block-timeout=25"});
    EXPECT_EQ(live_options(immediate.capture).timeout_ms, capture::LiveOptions{}.timeout_ms);
}

TEST(CaptureConfig, BadPcapModeValuesNameTheirKey) {
    for (const char* bad :
         {"capture.pcap.block-timeout=0", "capture.pcap.block-timeout=10001",
          "capture.pcap.block-timeout=soon", "capture.pcap.immediate=sometimes"}) {
        const std::string key = std::string(bad).substr(0, std::string(bad).find('='));
        const std::string message = load_error({bad});
        EXPECT_TRUE(contains(message, "config key '" + key + "'")) << bad << ": " << message;
    }
}

// The option reaches libpcap: the capture socket reports the ring version it was given.
TEST(CaptureConfig, PcapImmediateFalseOpensTheCaptureInBlockMode) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "opening an interface needs root";
    }
    for (const bool immediate : {true, false}) {
        capture::LiveOptions options = live_options(
            load_with({std::string("capture.pcap.immediate=") + (immediate ? "true" : "false"),
                       "capture.pcap.buffer-size=1048576"})
                .capture);
        options.iface = "lo";
        auto source = capture::LiveSource::open(options, 0);
        ASSERT_TRUE(source) << source.error().message;
        EXPECT_EQ((*source)->block_mode(), !immediate) << "immediate: " << immediate;
    }
}

TEST(WorkerCount, DefaultLeavesOneCpuAndIsAtLeastOne) {
    EXPECT_EQ(default_worker_count(0), 1u);
    EXPECT_EQ(default_worker_count(1), 1u);
    EXPECT_EQ(default_worker_count(2), 1u);
    EXPECT_EQ(default_worker_count(3), 2u);
    EXPECT_EQ(default_worker_count(16), 15u);
}

// usable_cpu_count() on a thread restricted to the first `take` CPUs of the process's mask
// (sched_setaffinity(0) changes the calling thread only).
size_t cpus_with_mask_of(int take) {
    size_t counted = 0;
    std::thread thread([&] {
        cpu_set_t all;
        CPU_ZERO(&all);
        ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
        cpu_set_t some;
        CPU_ZERO(&some);
        int taken = 0;
        for (int cpu = 0; cpu < CPU_SETSIZE && taken < take; ++cpu) {
            if (CPU_ISSET(cpu, &all)) {
                CPU_SET(cpu, &some);
                ++taken;
            }
        }
        ASSERT_EQ(taken, take);
        ASSERT_EQ(sched_setaffinity(0, sizeof some, &some), 0);
        counted = usable_cpu_count();
    });
    thread.join();
    return counted;
}

TEST(WorkerCount, UsableCpusFollowTheAffinityMask) {
    cpu_set_t all;
    CPU_ZERO(&all);
    ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
    const int available = CPU_COUNT(&all);
    EXPECT_EQ(usable_cpu_count(), static_cast<size_t>(available));
    // As under `taskset -c 0`: one CPU, whatever the machine has.
    EXPECT_EQ(cpus_with_mask_of(1), 1u);
    if (available < 2) {
        GTEST_SKIP() << "one CPU in this process's mask: cannot compare wider masks";
    }
    EXPECT_EQ(cpus_with_mask_of(2), 2u);
    EXPECT_EQ(default_worker_count(cpus_with_mask_of(1)), 1u);
    EXPECT_EQ(default_worker_count(cpus_with_mask_of(available)),
              static_cast<size_t>(available - 1));
}

}  // namespace
}  // namespace sensor::app
