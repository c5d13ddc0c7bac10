// flow_memory_bench: memory of N concurrent flows (default 1,000,000) in one worker. Creates
// every flow with one packet (all of them still being classified, so each holds nDPI flow
// state), then sends each flow enough packets for the classifier to reach its verdict and
// free that state. Reports RSS and C-heap use at each step, bytes per flow, sizeof(Flow) and
// nDPI's per-flow struct size. Half of the flows are UDP, half TCP (synthetic frames).
// --tcp-only --pending-rounds 3 --budget 3 measures the worst case while classifying: every
// flow TCP with payload in both directions (both stream tails taken) and nDPI state held.
// nDPI's own memory is counted through its allocator hooks: its flow struct and whatever its
// dissectors allocate per flow (TCP reassembly buffers, ...), so that "beyond nDPI" is ours.

#include <malloc.h>
#include <ndpi_api.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/common/bench_input.h"
#include "bench/common/guarded_main.h"
#include "bench/common/json_file.h"
#include "bench/trafficgen/packet_builder.h"
#include "sensor/core/process_memory.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::bench {
namespace {

constexpr int64_t kStartUs = 1'700'000'000'000'000;

// Bytes nDPI holds in live allocations, as the C heap counts them (usable size plus the
// chunk's size word). Single-threaded bench: a plain counter.
int64_t g_ndpi_bytes = 0;

int64_t chunk_bytes(void* p) {
    return static_cast<int64_t>(malloc_usable_size(p) + sizeof(size_t));
}

void* ndpi_counting_malloc(size_t size) {
    void* p = std::malloc(size);
    if (p != nullptr) {
        g_ndpi_bytes += chunk_bytes(p);
    }
    return p;
}

void ndpi_counting_free(void* p) {
    if (p != nullptr) {
        g_ndpi_bytes -= chunk_bytes(p);
        std::free(p);
    }
}
constexpr uint16_t kServerPort = 9999;  // no protocol the app layer parses

struct Options {
    uint32_t flows = 1'000'000;
    uint16_t budget = 2;          // classify.max_packets: packets before a flow's verdict is forced
    uint16_t pending_rounds = 1;  // packets per flow before the "pending" reading (<= budget)
    bool tcp_only = false;
    std::string json_path;
};

struct Reading {
    std::string step;
    uint64_t rss = 0;
    uint64_t heap = 0;
    uint64_t pending = 0;  // flows whose nDPI state is allocated
    uint64_t tails = 0;    // stream tails in use
    int64_t ndpi = 0;      // bytes nDPI holds (module and flows)
    double seconds = 0;
};

uint64_t pending_flows(const pipeline::Worker& worker) {
    const auto& s = worker.classifier().stats();
    return s.flows_started.load() - s.flows_classified.load() - s.flows_given_up.load();
}

// Packet `n` of flow i: even n client -> server, odd n the answer. Even flows UDP, odd TCP
// (a SYN, then ACKs with one payload byte, so every packet reaches the classifier).
std::vector<uint8_t> frame(uint32_t i, uint32_t n, bool tcp_only) {
    trafficgen::FrameSpec spec;
    core::IpAddress client;
    client.bytes = {10, static_cast<uint8_t>(i >> 16), static_cast<uint8_t>(i >> 8),
                    static_cast<uint8_t>(i)};
    core::IpAddress server;
    server.bytes = {192, 0, 2, 1};
    const bool to_server = n % 2 == 0;
    spec.src_ip = to_server ? client : server;
    spec.dst_ip = to_server ? server : client;
    const uint16_t client_port = static_cast<uint16_t>(20000 + i % 40000);
    const uint16_t sport = to_server ? client_port : kServerPort;
    const uint16_t dport = to_server ? kServerPort : client_port;
    static const uint8_t kPayload[8] = {0x5a, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
    if (i % 2 == 0 && !tcp_only) {
        return trafficgen::make_udp_frame(spec, sport, dport, kPayload);
    }
    trafficgen::TcpHeader tcp;
    tcp.src_port = sport;
    tcp.dst_port = dport;
    tcp.window = 65535;
    if (n == 0) {
        tcp.flags = trafficgen::kSyn;
        tcp.seq = 1000;
        return trafficgen::make_tcp_frame(spec, tcp, {});
    }
    tcp.flags = trafficgen::kAck | trafficgen::kPsh;
    tcp.seq = to_server ? 1001 + n : 5000 + n;
    tcp.ack = to_server ? 5000 + n : 1001 + n;
    return trafficgen::make_tcp_frame(spec, tcp, std::span<const uint8_t>(kPayload, 1));
}

// Sends packet number n of every flow, in batches as the dispatcher would.
void send_round(pipeline::Worker& worker, uint32_t flows, uint32_t n, bool tcp_only) {
    core::FrameBatch batch;
    const int64_t ts = kStartUs + int64_t{n} * 1'000;
    uint64_t index = uint64_t{n} * flows;
    auto flush = [&] {
        batch.set_clock(ts);
        worker.process(batch);
        worker.output().clear();
        batch.clear();
    };
    for (uint32_t i = 0; i < flows; ++i) {
        std::vector<uint8_t> f = frame(i, n, tcp_only);
        if (batch.full()) {
            flush();
        }
        if (!batch.push(f, static_cast<uint32_t>(f.size()), ts, 1, ++index, 0)) {
            std::fprintf(stderr, "flow_memory_bench: batch refused a small frame\n");
            std::exit(2);
        }
    }
    flush();
}

int run(const Options& opt) {
    // Before any nDPI module exists, so that every nDPI block is counted from its birth.
    set_ndpi_malloc(ndpi_counting_malloc);
    set_ndpi_free(ndpi_counting_free);
    using Clock = std::chrono::steady_clock;
    std::vector<Reading> readings;
    auto read = [&](const std::string& step, const pipeline::Worker* worker, double seconds) {
        // Heap first: it hands free pages back to the kernel (malloc_trim) before RSS is read.
        const uint64_t heap = heap_in_use_bytes();
        readings.push_back(
            {step, core::resident_bytes(), heap, worker != nullptr ? pending_flows(*worker) : 0,
             worker != nullptr ? worker->flows().stream_stats().tails_in_use.load() : 0,
             g_ndpi_bytes, seconds});
    };
    auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>());
    if (!db) {
        std::fprintf(stderr, "flow_memory_bench: %s\n", db.error().message.c_str());
        return 2;
    }
    read("start", nullptr, 0);

    pipeline::WorkerConfig config;
    config.decode.validate_checksums = false;
    config.flow.max_flows = opt.flows;
    config.classify.max_packets = opt.budget;
    auto t0 = Clock::now();
    pipeline::Worker worker(config, *db, {});
    read("worker constructed (flow table reserved)", &worker,
         std::chrono::duration<double>(Clock::now() - t0).count());

    t0 = Clock::now();
    for (uint32_t n = 0; n < opt.pending_rounds; ++n) {
        send_round(worker, opt.flows, n, opt.tcp_only);
    }
    read("every flow created, classification pending", &worker,
         std::chrono::duration<double>(Clock::now() - t0).count());
    const uint64_t active = worker.flows().active();

    t0 = Clock::now();
    for (uint32_t n = opt.pending_rounds; n <= opt.budget; ++n) {
        send_round(worker, opt.flows, n, opt.tcp_only);
    }
    read("every flow classified or given up", &worker,
         std::chrono::duration<double>(Clock::now() - t0).count());
    const uint64_t active_after = worker.flows().active();

    const double n = static_cast<double>(opt.flows);
    const double ndpi_struct = static_cast<double>(ndpi_detection_get_sizeof_ndpi_flow_struct());
    const Reading& r0 = readings[0];
    const Reading& rw = readings[1];
    const Reading& ra = readings[2];
    const Reading& rb = readings[3];
    auto per_flow = [n](uint64_t hi, uint64_t lo) {
        return (static_cast<double>(hi) - static_cast<double>(lo)) / n;
    };
    const double rss_per_flow_pending = per_flow(ra.rss, r0.rss);
    // nDPI's per-flow memory while classifying: its bytes with every flow pending, less the
    // module's (held since the worker was built).
    const double ndpi_per_flow = static_cast<double>(ra.ndpi - rw.ndpi) / n;
    const double rss_per_flow_classified = per_flow(rb.rss, r0.rss);

    nlohmann::json j;
    j["flows"] = opt.flows;
    j["active_after_create"] = active;
    j["active_after_classify"] = active_after;
    j["classify_max_packets"] = opt.budget;
    j["pending_rounds"] = opt.pending_rounds;
    j["tcp_only"] = opt.tcp_only;
    j["sizeof_flow"] = sizeof(flow::Flow);
    j["flow_table_slot_bytes"] = flow::FlowTable::slot_bytes();
    j["stream_tail_bytes"] = flow::FlowTable::tail_bytes();
    j["ndpi_flow_struct_bytes"] = ndpi_detection_get_sizeof_ndpi_flow_struct();
    j["ndpi_sizeof_flow_struct_macro"] = SIZEOF_FLOW_STRUCT;
    for (const auto& r : readings) {
        j["steps"].push_back({{"step", r.step},
                              {"rss_bytes", r.rss},
                              {"heap_in_use_bytes", r.heap},
                              {"flows_with_ndpi_state", r.pending},
                              {"stream_tails_in_use", r.tails},
                              {"ndpi_bytes", r.ndpi},
                              {"seconds", r.seconds}});
    }
    j["per_flow"] = {
        {"worker_start_bytes", per_flow(rw.rss, r0.rss)},
        {"rss_while_classifying_bytes", rss_per_flow_pending},
        {"heap_while_classifying_bytes", per_flow(ra.heap, rw.heap)},
        {"rss_while_classifying_beyond_ndpi_bytes", rss_per_flow_pending - ndpi_struct},
        {"ndpi_while_classifying_bytes", ndpi_per_flow},
        {"rss_while_classifying_beyond_ndpi_state_bytes", rss_per_flow_pending - ndpi_per_flow},
        {"rss_after_classification_bytes", rss_per_flow_classified},
        {"heap_after_classification_bytes", per_flow(rb.heap, rw.heap)},
    };
    j["targets"] = {
        {"beyond_ndpi_max_bytes", 512},
        {"beyond_ndpi_ok", rss_per_flow_pending - ndpi_per_flow <= 512},
        {"peak_rss_max_bytes", uint64_t{2} << 30},
        {"peak_rss_ok", std::max(ra.rss, rb.rss) <= (uint64_t{2} << 30)},
    };

    std::printf(
        "flow_memory_bench: %u flows (%s), classify.max_packets=%u, %u packet(s) per flow "
        "before the pending reading\n",
        opt.flows, opt.tcp_only ? "all TCP" : "half UDP, half TCP", opt.budget, opt.pending_rounds);
    std::printf(
        "  sizeof(flow::Flow) %zu bytes, stream tail %zu bytes per direction with payload, nDPI "
        "flow struct %u bytes\n",
        sizeof(flow::Flow), flow::FlowTable::tail_bytes(),
        ndpi_detection_get_sizeof_ndpi_flow_struct());
    for (const auto& r : readings) {
        std::printf(
            "  %-46s rss %8.1f MiB  heap %8.1f MiB  nDPI states %8llu  tails %8llu  (%.2f s)\n",
            r.step.c_str(), static_cast<double>(r.rss) / 1048576.0,
            static_cast<double>(r.heap) / 1048576.0, static_cast<unsigned long long>(r.pending),
            static_cast<unsigned long long>(r.tails), r.seconds);
    }
    std::printf(
        "  per flow: worker at start %.0f B; while classifying %.0f B RSS (%.0f B beyond nDPI's "
        "%.0f B flow struct); after the verdict %.0f B RSS, %.0f B heap\n",
        per_flow(rw.rss, r0.rss), rss_per_flow_pending, rss_per_flow_pending - ndpi_struct,
        ndpi_struct, rss_per_flow_classified, per_flow(rb.heap, rw.heap));
    std::printf(
        "  nDPI's own per-flow memory while classifying (struct and its allocations, from its "
        "allocator hooks): %.0f B; beyond it: %.0f B per flow (target <= 512 B)\n",
        ndpi_per_flow, rss_per_flow_pending - ndpi_per_flow);
    std::printf("  active flows %llu after creation, %llu after classification\n",
                static_cast<unsigned long long>(active),
                static_cast<unsigned long long>(active_after));
    if (!opt.json_path.empty()) {
        if (!write_json_file("flow_memory_bench", opt.json_path, j)) {
            return 1;
        }
    }
    return 0;
}

}  // namespace
}  // namespace sensor::bench

namespace {

int run_main(int argc, char** argv) {
    sensor::bench::Options opt;
    CLI::App cli{"flow_memory_bench: memory of concurrent flows in one worker"};
    cli.add_option("--flows", opt.flows, "Concurrent flows (flow.max-flows is set to this)")
        ->check(CLI::Range(1u, 16'000'000u));
    cli.add_option("--budget", opt.budget, "classify.max_packets for the run")
        ->check(CLI::Range(1, 1000));
    cli.add_option("--pending-rounds", opt.pending_rounds,
                   "Packets per flow before the pending reading (at most --budget, so that every "
                   "flow still holds its nDPI state)")
        ->check(CLI::Range(1, 1000));
    cli.add_flag("--tcp-only", opt.tcp_only, "Every flow TCP (default: half UDP, half TCP)");
    cli.add_option("--json", opt.json_path, "Also write the results as JSON to this file");
    CLI11_PARSE(cli, argc, argv);
    if (opt.pending_rounds > opt.budget) {
        std::fprintf(stderr, "flow_memory_bench: --pending-rounds must not exceed --budget\n");
        return 2;
    }
    return sensor::bench::run(opt);
}

}  // namespace

int main(int argc, char** argv) {
    return sensor::bench::guarded_main("flow_memory_bench", run_main, argc, argv);
}
