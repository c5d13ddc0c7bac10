// Placing by flow, a datagram's later fragments that arrive before its first one wait in the
// capture thread (FragmentHold) until the first fragment shows which flow, and so which worker,
// the datagram belongs to. Without the wait the datagram went by its address pair and was
// analysed on another worker than the rest of its flow, which then split in two.

#include "sensor/pipeline/fragment_hold.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pipeline_test_support.h"
#include "sensor/pipeline/pipeline.h"
#include "tunnel_frames.h"

namespace sensor::pipeline {
namespace {

using namespace test_support;

constexpr int64_t kStartUs = trafficgen::kDefaultStartSeconds * 1'000'000;

core::Frame frame_of(const std::vector<uint8_t>& bytes, int64_t ts_us, uint64_t index) {
    core::Frame f;
    f.data = bytes.data();
    f.caplen = static_cast<uint32_t>(bytes.size());
    f.wire_len = f.caplen;
    f.ts_us = ts_us;
    f.linktype = 1;
    f.index = index;
    return f;
}

TEST(FragmentHold, ReleasesADatagramsFramesInArrivalOrderAsCopies) {
    FragmentHold hold(4, 64, 1'000'000);
    std::vector<uint8_t> a(10, 'a');
    std::vector<uint8_t> b(20, 'b');
    std::vector<uint8_t> c(30, 'c');
    ASSERT_TRUE(hold.hold(7, 70, frame_of(a, 100, 1)));
    ASSERT_TRUE(hold.hold(8, 80, frame_of(b, 200, 2)));
    ASSERT_TRUE(hold.hold(7, 70, frame_of(c, 300, 3)));
    a.assign(a.size(), 'x');  // the caller's buffer is gone: the hold kept a copy
    EXPECT_EQ(hold.held(), 3u);
    std::vector<uint64_t> order;
    hold.release(7, [&](const core::Frame& f) {
        order.push_back(f.index);
        EXPECT_EQ(f.data[0], f.index == 1 ? 'a' : 'c');
        EXPECT_EQ(f.caplen, f.index == 1 ? 10u : 30u);
    });
    EXPECT_EQ(order, (std::vector<uint64_t>{1, 3}));
    EXPECT_EQ(hold.held(), 1u);
    hold.release(7, [&](const core::Frame&) { ADD_FAILURE() << "released twice"; });
}

TEST(FragmentHold, BoundedInFramesAndFrameLength) {
    FragmentHold hold(2, 64, 1'000'000);
    std::vector<uint8_t> small(64, 's');
    std::vector<uint8_t> big(65, 'b');
    EXPECT_FALSE(hold.hold(1, 1, frame_of(big, 0, 1)));
    EXPECT_TRUE(hold.hold(1, 1, frame_of(small, 0, 2)));
    EXPECT_TRUE(hold.hold(2, 2, frame_of(small, 0, 3)));
    EXPECT_FALSE(hold.hold(3, 3, frame_of(small, 0, 4)));  // full
    hold.release(1, [](const core::Frame&) {});
    EXPECT_TRUE(hold.hold(3, 3, frame_of(small, 0, 5)));  // a freed slot is used again
    EXPECT_EQ(hold.held(), 2u);
}

// A datagram whose first frame waited too long goes on whole: its later frames too.
TEST(FragmentHold, ExpiryReleasesTheWholeDatagram) {
    FragmentHold hold(4, 64, 1'000'000);
    std::vector<uint8_t> bytes(20, 'f');
    hold.hold(1, 11, frame_of(bytes, 0, 1));
    hold.hold(2, 22, frame_of(bytes, 100'000, 2));
    hold.hold(1, 11, frame_of(bytes, 900'000, 3));
    std::vector<uint64_t> expired;
    hold.release_expired(1'000'001, [&](uint64_t datagram, uint64_t, const core::Frame& f) {
        EXPECT_EQ(datagram, 1u);
        expired.push_back(f.index);
    });
    EXPECT_EQ(expired, (std::vector<uint64_t>{1, 3}));
    EXPECT_EQ(hold.held(), 1u);
    EXPECT_EQ(hold.next_expiry_us(), 1'100'000);
}

TEST(FragmentHold, FramesWaitAtMostTheHoldTime) {
    FragmentHold hold(4, 64, 1'000'000);
    std::vector<uint8_t> bytes(20, 'f');
    hold.hold(1, 11, frame_of(bytes, 0, 1));
    hold.hold(2, 22, frame_of(bytes, 500'000, 2));
    EXPECT_EQ(hold.next_expiry_us(), 1'000'000);
    std::vector<uint64_t> expired;
    auto collect = [&](uint64_t datagram, uint64_t pair, const core::Frame& f) {
        EXPECT_EQ(pair, datagram * 11);
        expired.push_back(f.index);
    };
    hold.release_expired(1'000'000, collect);  // not longer than the hold time yet
    EXPECT_TRUE(expired.empty());
    hold.release_expired(1'000'001, collect);
    EXPECT_EQ(expired, (std::vector<uint64_t>{1}));
    EXPECT_EQ(hold.next_expiry_us(), 1'500'000);
    hold.release_all(collect);
    EXPECT_EQ(expired, (std::vector<uint64_t>{1, 2}));
    EXPECT_EQ(hold.held(), 0u);
}

constexpr uint16_t kFlows = 16;

// One pair of hosts, 16 UDP flows: each opens with a small request, then sends a large one
// whose fragments arrive last piece first, and gets a reply. Placed by flow, the 16 flows
// spread over the workers while every later fragment shows only the pair.
// gap_us: packet time from one flow to the next (longer than the reassembly timeout: a
// fragment left waiting past its datagram's other pieces can no longer complete it).
std::string reversed_fragments_capture(int64_t gap_us = 0) {
    static std::map<int64_t, std::string> paths;
    if (auto it = paths.find(gap_us); it != paths.end()) {
        return it->second;
    }
    const std::string path = [gap_us] {
        const core::IpAddress client = ip4(10, 91, 0, 1);
        const core::IpAddress server = ip4(10, 91, 0, 2);
        trafficgen::Capture capture;
        int64_t at = kStartUs;
        auto add = [&](Bytes frame) {
            capture.packets.push_back({at, std::move(frame)});
            at += 1'000;
        };
        for (uint16_t i = 0; i < kFlows; ++i) {
            const auto port = static_cast<uint16_t>(30000 + i);
            add(ethernet(udp_packet(client, server, port, 7000, text("hello"))));
            std::string big = "FRAGMENTED-PROBE " + std::to_string(i);
            big.resize(1400, '.');
            // The UDP datagram (the IP packet without its 20-byte header), in fragments.
            const Bytes udp = udp_packet(client, server, port, 7000, text(big));
            std::vector<Bytes> pieces =
                ipv4_fragments(client, server, 17, Bytes(udp.begin() + 20, udp.end()),
                               static_cast<uint16_t>(500 + i), 512);
            for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
                add(std::move(*it));
            }
            add(ethernet(udp_packet(server, client, 7000, port, text("ok"))));
            at += gap_us;
        }
        return write_capture("reversed-fragments-" + std::to_string(gap_us) + ".pcap", capture);
    }();
    paths.emplace(gap_us, path);
    return path;
}

struct HoldRun {
    ComparableRecords records;
    uint64_t reassembled = 0;
    uint64_t held = 0;
    uint64_t without_flow = 0;
    size_t workers_with_frames = 0;
};

HoldRun run(size_t workers, bool by_flow, size_t hold_frames,
            const std::string& capture = reversed_fragments_capture()) {
    static const auto db = rules_from_text(
        "alert udp any any -> any 7000 (msg:\"fragmented probe\"; content:\"FRAGMENTED-PROBE\"; "
        "sid:9100002; rev:1;)\n");
    CollectingSink sink;
    PipelineStats stats;
    PipelineOptions options;
    options.workers = workers;
    options.batches_per_worker = 4;
    options.scheduler_pairs = 1;  // placement by hash after the first unit: reproducible
    options.dispatch_by_flow = by_flow;
    options.fragment_hold_frames = hold_frames;
    HoldRun r;
    {
        Pipeline pipeline(options, test_support::small_capture_config(), db, {}, sink, stats);
        const ReplayResult replay = pipeline.replay({capture}, ReplayHooks{});
        EXPECT_FALSE(replay.read_error);
        for (const Worker* w : pipeline.workers()) {
            r.reassembled += w->decoder().stats().fragments_reassembled.load();
            r.workers_with_frames += w->stats().frames.load() > 0 ? 1 : 0;
        }
        expect_worker_accounting(pipeline, stats, std::to_string(workers) + " workers");
        uint64_t enqueued = 0;
        for (size_t i = 0; i < workers; ++i) {
            enqueued += stats.enqueued[i].load();
        }
        EXPECT_EQ(enqueued, replay.packets);  // nothing left waiting in the hold
        EXPECT_EQ(stats.fragments_waiting.load(), 0u);
    }
    r.held = stats.fragments_waited.load();
    r.without_flow = stats.fragments_placed_without_flow.load();
    r.records = comparable(sink);
    return r;
}

TEST(FragmentHold, LaterFragmentsFirstJoinTheirFlowsWorkerPlacedByFlow) {
    const HoldRun one = run(1, false, 64);
    ASSERT_EQ(one.records.alerts.size(), kFlows);
    ASSERT_EQ(one.records.flows.size(), kFlows);
    ASSERT_EQ(one.reassembled, kFlows);
    for (size_t workers : {2u, 4u}) {
        const HoldRun many = run(workers, true, 64);
        EXPECT_GE(many.workers_with_frames, 2u) << workers << " workers";
        EXPECT_EQ(many.records.alerts, one.records.alerts) << workers << " workers";
        EXPECT_EQ(many.records.flows, one.records.flows) << workers << " workers";
        EXPECT_EQ(many.reassembled, kFlows) << workers << " workers";
        EXPECT_EQ(many.held, kFlows * 2u) << workers << " workers";  // two later pieces each
        EXPECT_EQ(many.without_flow, 0u) << workers << " workers";
    }
    // The counterfactual: nothing may wait, so each datagram goes by its pair, the first
    // fragment after the later ones. The datagrams reassemble on the pair's worker, apart
    // from the flows placed elsewhere: those flows split in two.
    const HoldRun no_hold = run(4, true, 0);
    EXPECT_EQ(no_hold.held, 0u);
    EXPECT_EQ(no_hold.without_flow, kFlows);
    EXPECT_GT(no_hold.records.flows.size(), kFlows);
}

// Room for one frame: each datagram's last piece waits, the middle one finds no room and goes
// by its pair, and the waiting piece goes with it at once. Left behind (as before this was
// fixed), it waited until its wait expired, a minute of packet time later here (the flows are
// 61 s apart), and was then counted as placed without its flow a second time.
TEST(FragmentHold, AFragmentThatCannotWaitTakesItsDatagramsWaitingOnesAlong) {
    const std::string capture = reversed_fragments_capture(61'000'000);
    const HoldRun one = run(1, false, 64, capture);
    ASSERT_EQ(one.reassembled, kFlows);
    const HoldRun tight = run(4, true, 1, capture);
    EXPECT_EQ(tight.held, kFlows);          // the last piece of each
    EXPECT_EQ(tight.without_flow, kFlows);  // the middle piece of each
    EXPECT_EQ(tight.reassembled, kFlows);
    EXPECT_EQ(tight.records.alerts.size(), kFlows);
}

// A later fragment whose first one never comes waits until the end of the input and is then
// placed by its pair: processed (and counted) like any other frame.
TEST(FragmentHold, AnOrphanFragmentIsPlacedByItsPairAtTheEnd) {
    const core::IpAddress client = ip4(10, 92, 0, 1);
    const core::IpAddress server = ip4(10, 92, 0, 2);
    std::string big = "orphan";
    big.resize(1400, '.');
    const Bytes udp = udp_packet(client, server, 30000, 7000, text(big));
    const std::vector<Bytes> pieces =
        ipv4_fragments(client, server, 17, Bytes(udp.begin() + 20, udp.end()), 77, 512);
    trafficgen::Capture capture;
    capture.packets.push_back({kStartUs, pieces.back()});  // the last piece alone
    for (uint16_t i = 0; i < 8; ++i) {
        capture.packets.push_back(
            {kStartUs + 1'000 * (i + 1),
             ethernet(udp_packet(client, server, static_cast<uint16_t>(31000 + i), 7000,
                                 text("filler")))});
    }
    const HoldRun r = run(4, true, 64, write_capture("orphan-fragment.pcap", capture));
    EXPECT_EQ(r.held, 1u);
    EXPECT_EQ(r.without_flow, 1u);
    EXPECT_EQ(r.reassembled, 0u);
    EXPECT_EQ(r.records.flows.size(), 8u);
}

}  // namespace
}  // namespace sensor::pipeline
