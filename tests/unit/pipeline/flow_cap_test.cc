#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline {
namespace {

// Ethernet + IPv4 + UDP with 8 payload bytes; the caller patches addresses and ports.
std::vector<uint8_t> udp_frame() {
    std::vector<uint8_t> f(14 + 20 + 8 + 8, 0);
    f[12] = 0x08;  // ethertype IPv4
    uint8_t* ip = f.data() + 14;
    ip[0] = 0x45;  // version 4, IHL 5
    ip[3] = 36;    // total length
    ip[8] = 64;    // TTL
    ip[9] = 17;    // UDP
    uint8_t* udp = ip + 20;
    udp[5] = 16;  // UDP length
    return f;
}

// A flood of distinct flows through a worker whose table holds far fewer: memory stays at
// the preallocated cap, every flow beyond it evicts one (counted), and every flow still gets
// exactly one record.
TEST(FlowCap, TwoMillionDistinctFlowsStayWithinTheTableCap) {
    constexpr uint32_t kFlows = 2'000'000;
    constexpr uint32_t kCap = 10'000;
    WorkerConfig config;
    config.decode.validate_checksums = false;  // the frames carry no checksums
    config.flow.max_flows = kCap;
    auto empty_rules = std::make_shared<const rules::RuleSet>();
    auto db = detect::SignatureDb::build(empty_rules);
    ASSERT_TRUE(db) << db.error().message;
    Worker worker(config, *db, {});

    core::FrameBatch batch;
    std::vector<uint8_t> frame = udp_frame();
    uint64_t records = 0;
    for (uint32_t i = 0; i < kFlows; ++i) {
        uint8_t* ip = frame.data() + 14;
        ip[12] = 10;  // source 10.x.y.z varies with i
        ip[13] = static_cast<uint8_t>(i >> 16);
        ip[14] = static_cast<uint8_t>(i >> 8);
        ip[15] = static_cast<uint8_t>(i);
        ip[16] = 192;  // destination 192.0.2.1:53
        ip[17] = 0;
        ip[18] = 2;
        ip[19] = 1;
        ip[20] = 0x30;  // source port 12345
        ip[21] = 0x39;
        ip[23] = 53;
        if (!batch.push(frame, static_cast<uint32_t>(frame.size()), 1'000'000, 1, i + 1, 0)) {
            FAIL() << "batch refused a small frame";
        }
        if (batch.full()) {
            worker.process(batch);
            records += worker.output().flows.size();
            worker.output().clear();
            batch.clear();
            ASSERT_LE(worker.flows().active(), kCap);
        }
    }
    worker.process(batch);
    records += worker.output().flows.size();
    worker.output().clear();
    EXPECT_EQ(worker.flows().capacity(), kCap);
    EXPECT_EQ(worker.flows().active(), kCap);
    const auto& fs = worker.flows().stats();
    EXPECT_EQ(fs.created.load(), kFlows);
    EXPECT_EQ(fs.ended_forced.load(), kFlows - kCap);
    worker.finish();
    records += worker.output().flows.size();
    EXPECT_EQ(records, kFlows);
    EXPECT_EQ(fs.ended_shutdown.load(), kCap);
    EXPECT_EQ(worker.decoder().stats().decoded.load(), kFlows);
}

}  // namespace
}  // namespace sensor::pipeline
