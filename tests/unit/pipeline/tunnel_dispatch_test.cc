// Flows inside tunnels spread over workers by their inner addresses: many conversations in one
// GRE tunnel (and a VXLAN one) land on more than one worker, and one or two workers give the
// same alerts and flow records, outer-fragmented datagrams included (in order or not).

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline_test_support.h"
#include "sensor/pipeline/pipeline.h"
#include "tunnel_frames.h"

namespace sensor::pipeline {
namespace {

using namespace test_support;

constexpr int64_t kStartUs = trafficgen::kDefaultStartSeconds * 1'000'000;
constexpr uint32_t kGreFlows = 48;
constexpr uint32_t kVxlanFlows = 8;
constexpr uint32_t kFragmentedEvery = 8;  // every 8th GRE request is fragmented outside

const core::IpAddress kRouterA = ip4(192, 0, 2, 1);
const core::IpAddress kRouterB = ip4(192, 0, 2, 2);
const core::IpAddress kVtepA = ip4(192, 0, 2, 11);
const core::IpAddress kVtepB = ip4(192, 0, 2, 12);

core::IpAddress client(uint32_t i) {
    return ip4(10, 50, static_cast<uint8_t>(i / 200), static_cast<uint8_t>(i % 200 + 1));
}
core::IpAddress server(uint32_t i) {
    return ip4(10, 60, static_cast<uint8_t>(i / 200), static_cast<uint8_t>(i % 200 + 1));
}

struct TunnelCapture {
    std::string path;
    uint64_t requests = 0;  // packets carrying the probe
    uint64_t flows = 0;     // inner conversations
};

const TunnelCapture& tunnel_capture() {
    static const TunnelCapture c = [] {
        TunnelCapture out;
        trafficgen::Capture capture;
        int64_t at = kStartUs;
        auto add = [&](Bytes frame) {
            capture.packets.push_back({at, std::move(frame)});
            at += 1'000;
        };
        for (uint32_t i = 0; i < kGreFlows; ++i) {
            const auto port = static_cast<uint16_t>(40000 + i);
            const bool fragmented = i % kFragmentedEvery == 0;
            std::string payload = "TUNNEL-PROBE " + std::to_string(i);
            payload.resize(fragmented ? 1300 : payload.size(), '.');
            const Bytes request = udp_packet(client(i), server(i), port, 7000, text(payload));
            if (fragmented) {
                for (Bytes& piece : gre_fragments(kRouterA, kRouterB, request,
                                                  static_cast<uint16_t>(100 + i), 512)) {
                    add(std::move(piece));
                }
            } else {
                add(gre_frame(kRouterA, kRouterB, request));
            }
            add(gre_frame(kRouterB, kRouterA,
                          udp_packet(server(i), client(i), 7000, port, text("ok"))));
            ++out.requests;
            ++out.flows;
            at += 100'000;
        }
        for (uint32_t i = 0; i < kVxlanFlows; ++i) {
            const uint32_t k = 300 + i;
            const auto port = static_cast<uint16_t>(41000 + i);
            add(vxlan_frame(kVtepA, kVtepB,
                            ethernet(udp_packet(client(k), server(k), port, 7000,
                                                text("TUNNEL-PROBE vxlan")))));
            add(vxlan_frame(kVtepB, kVtepA,
                            ethernet(udp_packet(server(k), client(k), 7000, port, text("ok")))));
            ++out.requests;
            ++out.flows;
            at += 100'000;
        }
        // A one-packet conversation whose outer fragments arrive last piece first: they still
        // meet on one worker and reassemble.
        std::string big = "TUNNEL-PROBE reversed";
        big.resize(1300, '.');
        std::vector<Bytes> pieces =
            gre_fragments(kRouterA, kRouterB,
                          udp_packet(client(500), server(500), 42000, 7000, text(big)), 999, 512);
        for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
            add(std::move(*it));
        }
        ++out.requests;
        ++out.flows;
        out.path = write_capture("tunnels.pcap", capture);
        return out;
    }();
    return c;
}

struct RunResult {
    ComparableRecords records;
    std::vector<uint64_t> flows_per_worker;
    uint64_t reassembled = 0;
};

// scheduler_pairs 1: after the first pair the scheduler places by the pair's hash, so the split
// does not depend on which worker thread the machine ran when (under TSan, load-based placement
// once gave one worker 5 flows).
RunResult run(size_t workers) {
    static const auto db = rules_from_text(
        "alert udp any any -> any any (msg:\"tunnel probe\"; content:\"TUNNEL-PROBE\"; "
        "sid:9100001; rev:1;)\n");
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = workers;
    options.batches_per_worker = 4;
    options.scheduler_pairs = 1;
    RunResult r;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), db, {}, sink, stats);
        const ReplayResult replay = pipeline.replay({tunnel_capture().path}, ReplayHooks{});
        EXPECT_FALSE(replay.read_error);
        for (const Worker* w : pipeline.workers()) {
            r.flows_per_worker.push_back(w->flows().stats().created.load());
            r.reassembled += w->decoder().stats().fragments_reassembled.load();
        }
    }
    r.records = comparable(sink);
    return r;
}

TEST(TunnelDispatch, InnerFlowsSpreadOverWorkersWithTheSameResults) {
    const TunnelCapture& c = tunnel_capture();
    const RunResult one = run(1);
    ASSERT_EQ(one.records.alerts.size(), c.requests);
    ASSERT_EQ(one.records.flows.size(), c.flows);
    const uint64_t fragmented = kGreFlows / kFragmentedEvery + 1;
    EXPECT_EQ(one.reassembled, fragmented);

    const RunResult two = run(2);
    EXPECT_EQ(two.records.alerts, one.records.alerts);
    EXPECT_EQ(two.records.flows, one.records.flows);
    EXPECT_EQ(two.reassembled, fragmented);  // no datagram split between workers
    ASSERT_EQ(two.flows_per_worker.size(), 2u);
    // By outer addresses one worker would get the whole GRE tunnel and the other at most the
    // VXLAN one: by inner pairs, each gets GRE flows too, so more than the VXLAN tunnel holds.
    EXPECT_GT(two.flows_per_worker[0], kVxlanFlows);
    EXPECT_GT(two.flows_per_worker[1], kVxlanFlows);
    EXPECT_EQ(two.flows_per_worker[0] + two.flows_per_worker[1], c.flows);
}

}  // namespace
}  // namespace sensor::pipeline
