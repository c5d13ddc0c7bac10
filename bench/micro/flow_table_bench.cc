// flow_table_bench: FlowTable::find_or_insert + update with 1,000,000 flows: filling an
// empty table, finding flows that are already tracked (random order, so most lookups miss
// the CPU caches as they would with real traffic), and churn in a full table (every packet
// is a new flow that evicts the oldest).

#include <benchmark/benchmark.h>

#include <algorithm>
#include <memory>
#include <random>
#include <vector>

#include "bench/common/bench_main.h"
#include "sensor/flow/flow_table.h"

namespace sensor::flow {
namespace {

constexpr uint32_t kFlows = 1'000'000;
constexpr uint32_t kWireLen = 128;

// Packet i of a set: UDP 10.a.b.c:(1024 + i % 50000) -> 192.0.2.x:53, distinct for every i;
// set_id keeps two sets apart.
decode::DecodedPacket packet(uint32_t i, uint8_t set_id) {
    decode::DecodedPacket p;
    p.src.bytes[0] = 10;
    p.src.bytes[1] = static_cast<uint8_t>(i >> 16);
    p.src.bytes[2] = static_cast<uint8_t>(i >> 8);
    p.src.bytes[3] = static_cast<uint8_t>(i);
    p.dst.bytes[0] = 192;
    p.dst.bytes[1] = 0;
    p.dst.bytes[2] = 2;
    p.dst.bytes[3] = set_id;
    p.ip_proto = decode::kIpProtoUdp;
    p.src_port = static_cast<uint16_t>(1024 + i % 50'000);
    p.dst_port = 53;
    p.ts_us = 1'700'000'000'000'000;
    return p;
}

std::vector<decode::DecodedPacket> packets(uint8_t set_id, bool shuffled) {
    std::vector<decode::DecodedPacket> out;
    out.reserve(kFlows);
    for (uint32_t i = 0; i < kFlows; ++i) {
        out.push_back(packet(i, set_id));
    }
    if (shuffled) {
        std::shuffle(out.begin(), out.end(), std::mt19937_64(42));
    }
    return out;
}

FlowConfig table_config() {
    FlowConfig c;
    c.max_flows = kFlows;
    return c;
}

// Feeds every packet once; returns the number of flows ended (evictions).
uint64_t feed(FlowTable& table, const std::vector<decode::DecodedPacket>& pkts) {
    uint64_t ended = 0;
    auto on_end = [&ended](Flow&, EndReason) { ++ended; };
    for (const auto& p : pkts) {
        bool to_server = true;
        Flow& f = table.find_or_insert(p, to_server, on_end);
        table.update(f, p, to_server, kWireLen);
    }
    return ended;
}

void set_counts(benchmark::State& state) {
    const auto n = static_cast<int64_t>(state.iterations()) * kFlows;
    state.SetItemsProcessed(n);
    state.SetBytesProcessed(n * kWireLen);  // nominal frame size: the table reads no bytes
}

void BM_FlowInsert1M(benchmark::State& state) {
    const auto pkts = packets(1, false);
    for (auto _ : state) {
        state.PauseTiming();
        auto table = std::make_unique<FlowTable>(table_config());
        state.ResumeTiming();
        feed(*table, pkts);
        benchmark::DoNotOptimize(table->active());
        state.PauseTiming();
        table.reset();
        state.ResumeTiming();
    }
    set_counts(state);
}
BENCHMARK(BM_FlowInsert1M)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_FlowLookupHit1M(benchmark::State& state) {
    FlowTable table(table_config());
    feed(table, packets(1, false));
    const auto pkts = packets(1, true);
    uint64_t ended = 0;
    for (auto _ : state) {
        ended += feed(table, pkts);
    }
    set_counts(state);
    state.counters["active_flows"] = static_cast<double>(table.active());
    state.counters["ended"] = static_cast<double>(ended);  // must stay 0: every packet hits
}
BENCHMARK(BM_FlowLookupHit1M)->Unit(benchmark::kMillisecond)->Iterations(5);

void BM_FlowChurnFull1M(benchmark::State& state) {
    FlowTable table(table_config());
    feed(table, packets(1, false));
    const std::vector<decode::DecodedPacket> sets[2] = {packets(2, false), packets(1, false)};
    uint64_t ended = 0;
    size_t round = 0;
    for (auto _ : state) {
        ended += feed(table, sets[round++ % 2]);  // each packet evicts one flow
    }
    set_counts(state);
    state.counters["evicted_per_packet"] =
        static_cast<double>(ended) / static_cast<double>(state.iterations() * kFlows);
}
BENCHMARK(BM_FlowChurnFull1M)->Unit(benchmark::kMillisecond)->Iterations(4);

}  // namespace
}  // namespace sensor::flow

int main(int argc, char** argv) {
    return sensor::bench::run_benchmarks(argc, argv, "synthetic UDP flows, 1,000,000 slots");
}
