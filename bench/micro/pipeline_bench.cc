// pipeline_bench: a preloaded capture, already cut into FrameBatches, through one
// pipeline::Worker (decode, flow, classify, app layer, detect, flow records), with no rules
// and with the default rule set. Each iteration is one full pass through a fresh worker, so
// every pass sees the same flows; worker construction (nDPI module, scratch, flow table) is
// not timed.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/bench_input.h"
#include "bench/common/bench_main.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::bench {
namespace {

const CaptureBatches& batches() {
    static const CaptureBatches b = cut_into_batches(default_capture());
    return b;
}

std::shared_ptr<const detect::SignatureDb> signatures(bool with_rules) {
    static std::shared_ptr<const detect::SignatureDb> dbs[2];
    auto& db = dbs[with_rules ? 1 : 0];
    if (db == nullptr) {
        auto rules = with_rules ? load_rules(default_rule_paths(), default_rules_data_dir())
                                : std::make_shared<const rules::RuleSet>();
        if (!rules) {
            std::fprintf(stderr, "pipeline_bench: %s\n", rules.error().message.c_str());
            std::exit(2);
        }
        auto built = detect::SignatureDb::build(*rules);
        if (!built) {
            std::fprintf(stderr, "pipeline_bench: %s\n", built.error().message.c_str());
            std::exit(2);
        }
        db = *built;
    }
    return db;
}

void BM_WorkerReplay(benchmark::State& state) {
    const CaptureBatches& in = batches();
    const bool with_rules = state.range(0) != 0;
    auto db = signatures(with_rules);
    pipeline::WorkerConfig config;
    config.decode.validate_checksums = false;  // as `sensor -k none`
    uint64_t alerts = 0;
    uint64_t flows = 0;
    for (auto _ : state) {
        state.PauseTiming();
        auto worker =
            std::make_unique<pipeline::Worker>(config, db, std::vector<pipeline::BuiltinRule>{});
        state.ResumeTiming();
        for (const auto& batch : in.batches) {
            worker->process(*batch);
            alerts += worker->output().alerts.size();
            flows += worker->output().flows.size();
            worker->output().clear();
        }
        worker->finish();
        flows += worker->output().flows.size();
        worker->output().clear();
        state.PauseTiming();
        worker.reset();
        state.ResumeTiming();
    }
    const auto passes = static_cast<int64_t>(state.iterations());
    state.SetItemsProcessed(passes * static_cast<int64_t>(in.frames));
    state.SetBytesProcessed(passes * static_cast<int64_t>(in.bytes));
    state.counters["rules"] = static_cast<double>(db->size());
    state.counters["alerts_per_pass"] = static_cast<double>(alerts) / static_cast<double>(passes);
    state.counters["flows_per_pass"] = static_cast<double>(flows) / static_cast<double>(passes);
}
BENCHMARK(BM_WorkerReplay)
    ->ArgName("rules")
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->Iterations(3);

}  // namespace
}  // namespace sensor::bench

int main(int argc, char** argv) {
    const std::string input = sensor::bench::batches().source +
                              "; rules=1: " + sensor::bench::default_rule_paths().front();
    return sensor::bench::run_benchmarks(argc, argv, input);
}
