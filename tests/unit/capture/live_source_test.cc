// Live sources: errors that need neither traffic nor a network namespace.
#include "capture/live_source.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "capture/afpacket_source.h"

namespace sensor::capture {
namespace {

constexpr const char* kMissingIface = "nosuchif7";

bool contains(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

TEST(LiveSource, MissingInterfaceErrorNamesIt) {
    LiveOptions options;
    options.iface = kMissingIface;
    auto source = LiveSource::open(options, 0);
    ASSERT_FALSE(source);
    EXPECT_TRUE(contains(source.error().message, std::string(kMissingIface) + ": "))
        << source.error().message;
    // libpcap's own text follows ours.
    EXPECT_GT(source.error().message.size(), std::string(kMissingIface).size() +
                                                 std::string(": cannot open live capture: ").size())
        << source.error().message;
}

TEST(LiveSource, EmptyInterfaceIsAnError) {
    auto source = LiveSource::open(LiveOptions{}, 0);
    ASSERT_FALSE(source);
    EXPECT_TRUE(contains(source.error().message, "no interface")) << source.error().message;
}

TEST(LiveSource, BadFilterErrorNamesFilterAndGivesLibpcapText) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "opening an interface needs root";
    }
    LiveOptions options;
    options.iface = "lo";
    options.bpf = "tcp port notaport";
    auto source = LiveSource::open(options, 0);
    ASSERT_FALSE(source);
    const std::string& message = source.error().message;
    EXPECT_TRUE(contains(message, "lo: bad capture filter 'tcp port notaport': ")) << message;
    EXPECT_TRUE(contains(message, "notaport")) << message;
}

TEST(LiveSource, GoodFilterOnLoopbackOpens) {
    if (geteuid() != 0) {
        GTEST_SKIP() << "opening an interface needs root";
    }
    LiveOptions options;
    options.iface = "lo";
    options.bpf = "udp port 9";
    options.buffer_bytes = 1 << 20;
    auto source = LiveSource::open(options, 3);
    ASSERT_TRUE(source) << source.error().message;
    EXPECT_EQ((*source)->iface(), "lo");
    EXPECT_EQ((*source)->linktype(), DLT_EN10MB);
}

TEST(CheckFilter, BadFilterNamesItAndGivesLibpcapText) {
    auto checked = check_filter("host 10.0.0.1 andd port 80", DLT_EN10MB, 65535);
    ASSERT_FALSE(checked);
    const std::string& message = checked.error().message;
    EXPECT_TRUE(contains(message, "bad capture filter 'host 10.0.0.1 andd port 80': ")) << message;
    EXPECT_TRUE(contains(message, "syntax error")) << message;
    EXPECT_TRUE(check_filter("udp and net 10.99.0.0/16", DLT_EN10MB, 65535));
}

// Compiled for the link type given: link-layer primitives need a link layer.
TEST(CheckFilter, DependsOnTheLinkType) {
    const std::string filter = "ether host 02:00:00:00:00:01";
    EXPECT_TRUE(check_filter(filter, DLT_EN10MB, 65535));
    auto raw = check_filter(filter, DLT_RAW, 65535);
    ASSERT_FALSE(raw);
    EXPECT_TRUE(contains(raw.error().message, "bad capture filter '" + filter + "': "))
        << raw.error().message;
}

TEST(AfPacketSource, MissingInterfaceErrorNamesIt) {
    AfPacketOptions options;
    options.iface = kMissingIface;
    auto source = AfPacketSource::open(options, 0);
    ASSERT_FALSE(source);
    EXPECT_EQ(source.error().message, std::string(kMissingIface) + ": no such interface");
}

TEST(AfPacketSource, BadFilterErrorNamesFilterWithoutPrivileges) {
    AfPacketOptions options;
    options.iface = kMissingIface;
    options.bpf = "host 10.0.0.1 andd port 80";
    auto source = AfPacketSource::open(options, 0);
    ASSERT_FALSE(source);
    const std::string& message = source.error().message;
    EXPECT_TRUE(contains(message, std::string(kMissingIface) +
                                      ": bad capture filter 'host 10.0.0.1 andd port 80': "))
        << message;
    // Followed by libpcap's compiler message.
    EXPECT_TRUE(contains(message, "syntax error") || contains(message, "andd")) << message;
}

TEST(AfPacketSource, RingBlockMustBeWholePages) {
    AfPacketOptions options;
    options.iface = "lo";
    options.block_bytes = 5000;
    auto source = AfPacketSource::open(options, 0);
    ASSERT_FALSE(source);
    EXPECT_TRUE(contains(source.error().message, "lo: ring block size 5000"))
        << source.error().message;

    options.block_bytes = 1u << 20;
    options.block_count = 0;
    source = AfPacketSource::open(options, 0);
    ASSERT_FALSE(source);
    EXPECT_TRUE(contains(source.error().message, "lo: ring of 0 blocks")) << source.error().message;

    options.block_count = 8192;  // 8 GiB
    source = AfPacketSource::open(options, 0);
    ASSERT_FALSE(source);
    EXPECT_TRUE(contains(source.error().message, "under 4 GiB")) << source.error().message;
}

}  // namespace
}  // namespace sensor::capture
