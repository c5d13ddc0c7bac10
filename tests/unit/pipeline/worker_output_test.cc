// WorkerOutput's spares: what the output thread leaves in a block when it writes the block's
// alerts comes back to the worker, within bounds.

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "sensor/pipeline/worker.h"

namespace sensor::pipeline {
namespace {

core::AlertRecord alert_with_packet(size_t bytes, bool http) {
    core::AlertRecord a;
    const std::vector<uint8_t> link(14, 0xee);
    const std::vector<uint8_t> ip(bytes - link.size(), 0x45);
    a.set_packet(link, ip, {});
    if (http) {
        core::HttpRecord& h = a.http.emplace();
        h.url = "/a/path/longer/than/the/inline/size/of/a/string";
        h.user_agent = "Mozilla/5.0 (X11; Linux x86_64)";
    }
    return a;
}

TEST(WorkerOutput, WrittenAlertsBuffersReturnToTheWorker) {
    WorkerOutput worker;
    worker.reserve_spares();
    WorkerOutput block;  // an output block: the output thread writes it, then clears it
    block.alerts.push_back(alert_with_packet(600, true));
    block.alerts.push_back(alert_with_packet(1514, false));
    block.clear();
    EXPECT_TRUE(block.alerts.empty());
    EXPECT_EQ(block.spare_packets.size(), 2u);
    EXPECT_EQ(block.spare_http.size(), 1u);

    worker.take_spares_from(block);
    EXPECT_TRUE(block.spare_packets.empty());
    EXPECT_TRUE(block.spare_http.empty());
    ASSERT_EQ(worker.spare_packets.size(), 2u);
    ASSERT_EQ(worker.spare_http.size(), 1u);

    // The next alerts' copies fit in what came back: set_packet reuses the capacity.
    std::vector<uint8_t> buffer = worker.take_spare_packet();
    EXPECT_GE(buffer.capacity(), 600u);
    const uint8_t* storage = buffer.data();
    core::AlertRecord next;
    next.packet = std::move(buffer);
    const std::vector<uint8_t> link(14, 1);
    const std::vector<uint8_t> ip(500, 2);
    next.set_packet(link, ip, std::span<const uint8_t>(ip).subspan(20));
    EXPECT_EQ(next.packet.data(), storage) << "no new buffer";
    EXPECT_EQ(next.packet.size(), 514u);
    EXPECT_EQ(next.payload().size(), 480u);
    EXPECT_EQ(next.payload_offset, 34u);

    core::HttpRecord http = worker.take_spare_http();
    EXPECT_GE(http.url.capacity(), 46u);
    EXPECT_TRUE(worker.take_spare_http().url.empty()) << "none left";
}

TEST(WorkerOutput, SparesAreBounded) {
    WorkerOutput block;
    for (size_t i = 0; i < WorkerOutput::kSpareAlerts + 10; ++i) {
        block.alerts.push_back(alert_with_packet(200, false));
    }
    block.alerts.push_back(alert_with_packet(WorkerOutput::kSparePacketBytes + 100, false));
    block.clear();
    EXPECT_EQ(block.spare_packets.size(), WorkerOutput::kSpareAlerts)
        << "at most kSpareAlerts; the packet above kSparePacketBytes is freed";

    WorkerOutput worker;
    worker.reserve_spares();
    for (size_t i = 0; i < WorkerOutput::kSpareAlerts - 4; ++i) {
        worker.spare_packets.emplace_back(100);
    }
    worker.take_spares_from(block);
    EXPECT_EQ(worker.spare_packets.size(), WorkerOutput::kSpareAlerts);
    EXPECT_TRUE(block.spare_packets.empty()) << "what did not fit is freed, not kept in the block";
}

TEST(WorkerOutput, LargePacketsAreNotKept) {
    WorkerOutput block;
    block.alerts.push_back(alert_with_packet(9000, false));  // a jumbo frame
    block.clear();
    EXPECT_TRUE(block.spare_packets.empty());
}

}  // namespace
}  // namespace sensor::pipeline
