#pragma once
// What the pipeline tests that replay the generated sample share: the shipped rules (rules/sets,
// with the sample network's Modbus addresses) and built-in detections, a sink that keeps every
// record, and the comparable form of its alerts and flows (equal for any number of workers).

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/pipeline.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline::test_support {

// Writes the generated sample capture (trafficgen's default scenarios) into a folder of its own
// for this process (ctest runs a binary's tests as parallel processes) and returns its path.
inline std::string write_sample_capture(const std::string& folder) {
    const auto dir =
        std::filesystem::temp_directory_path() / (folder + "-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string pcap = (dir / "sample.pcap").string();
    auto written = trafficgen::write_pcap(trafficgen::generate(trafficgen::Options{}), pcap);
    EXPECT_TRUE(written) << written.error().message;
    return pcap;
}

// The worker configuration for the small captures these tests build: the defaults, with the
// memory each worker reserves at start for TCP reassembly (48 MiB) and IP defragmentation
// (16 MiB) cut to 4 MiB each, and its flow slots (22.5 MB with their stream tails' 8 MB) from
// 65,536 to 16,384, far above what the captures hold (the bench capture has 6,523 flows in
// all). Under the sanitizers, reserving and freeing those blocks for every worker of every run
// took about a fifth of the PipelineReview tests' time (a twentieth of all the pipeline
// tests'); TSan's cost of freeing a block grows with its size. Tests of a cap set their own.
inline WorkerConfig small_capture_config() {
    WorkerConfig config;
    config.flow.max_flows = 16384;
    config.stream_reassembly_memcap = size_t{4} << 20;
    config.stream_ordering_memcap = size_t{4} << 20;
    config.decode.defrag_memcap_bytes = size_t{4} << 20;
    return config;
}

struct SampleRules {
    std::shared_ptr<const detect::SignatureDb> db;
    std::vector<BuiltinRule> builtin;
};

inline SampleRules load_sample_rules() {
    SampleRules out;
    auto taxonomy = rules::Taxonomy::load(std::string(SENSOR_SOURCE_DIR) + "/rules/data");
    EXPECT_TRUE(taxonomy) << taxonomy.error().message;
    if (!taxonomy) {
        return out;
    }
    rules::LoadOptions load;
    load.address_groups["MODBUS_CLIENT"] = "10.20.0.5";
    load.address_groups["MODBUS_SERVER"] = "10.20.0.10";
    auto set =
        rules::load_rule_files({std::string(SENSOR_SOURCE_DIR) + "/rules/sets"}, load, *taxonomy);
    EXPECT_TRUE(set) << set.error().message;
    if (!set) {
        return out;
    }
    auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
    EXPECT_TRUE(db) << db.error().message;
    if (db) {
        out.db = *db;
    }
    for (auto [sid, classtype] : {std::pair{detect::kPortScanSid, "attempted-recon"},
                                  std::pair{detect::kSynFloodSid, "attempted-dos"}}) {
        BuiltinRule r;
        r.sid = sid;
        r.msg = "builtin";
        r.classtype = classtype;
        r.concepts = taxonomy->concepts_for({}, classtype);
        out.builtin.push_back(r);
    }
    return out;
}

class CollectingSink : public RecordSink {
public:
    bool alert(const core::AlertRecord& r) override {
        alerts.push_back(r);
        return true;
    }
    void flow(const core::FlowRecord& r) override { flows.push_back(r); }
    void flush() override { ++flushes; }
    std::vector<core::AlertRecord> alerts;
    std::vector<core::FlowRecord> flows;
    int flushes = 0;
};

// Per worker, every frame handed to it is accounted for once: enqueued for it = frames it took =
// IP packets analysed + frames without IP (ARP included) + fragments held for reassembly +
// frames the decoder dropped, by reason. (A full flow table evicts a flow, ended as forced: the
// packet is still analysed, so it is no term here.)
inline void expect_worker_accounting(const Pipeline& pipeline, const PipelineStats& stats,
                                     const std::string& what) {
    const std::vector<const Worker*> workers = pipeline.workers();
    ASSERT_EQ(workers.size(), stats.worker_count) << what;
    for (size_t i = 0; i < workers.size(); ++i) {
        const WorkerStats& w = workers[i]->stats();
        const decode::DecodeStats& d = workers[i]->decoder().stats();
        EXPECT_EQ(w.frames.load(), stats.enqueued[i].load()) << what << ", worker " << i;
        EXPECT_EQ(w.frames.load(), w.packets_analysed.load() + d.non_ip.load() +
                                       d.fragments_held.load() + d.dropped_total())
            << what << ", worker " << i;
    }
}

using AlertKey = std::tuple<uint32_t, uint64_t, uint64_t>;  // sid, flow_id, packet
// flow_id, packets and bytes, start, the record's own time, app_proto.
using FlowKey = std::tuple<uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, int64_t, std::string>;

struct ComparableRecords {
    std::vector<AlertKey> alerts;  // sorted
    std::vector<FlowKey> flows;    // sorted
};

inline ComparableRecords comparable(const CollectingSink& sink) {
    ComparableRecords r;
    for (const auto& a : sink.alerts) {
        if (a.signature_id == detect::kSynFloodSid) {
            // The workers count a target's spoofed SYNs together: the alert is the same, but
            // which SYN completes the count depends on how their threads ran.
            r.alerts.emplace_back(a.signature_id, a.endpoints.dest_port, 0);
            continue;
        }
        r.alerts.emplace_back(a.signature_id, a.flow_id, a.packet_index);
    }
    for (const auto& fl : sink.flows) {
        r.flows.emplace_back(fl.flow_id, fl.pkts_toserver, fl.pkts_toclient, fl.bytes_toserver,
                             static_cast<uint64_t>(fl.start_us), fl.ts_us, fl.app_proto.str());
    }
    std::sort(r.alerts.begin(), r.alerts.end());
    std::sort(r.flows.begin(), r.flows.end());
    return r;
}

}  // namespace sensor::pipeline::test_support
