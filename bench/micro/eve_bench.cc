// eve_bench: what the output thread spends per EVE record. One worker with the default rule
// set processes the default capture once (not timed); each iteration then formats every alert
// and flow record it produced, as EveWriter does (eve.json's default options: metadata on,
// packet and payload off), into one reused buffer. Counters report records and bytes per pass.

#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/bench_input.h"
#include "bench/common/bench_main.h"
#include "sensor/alert/eve_writer.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::bench {
namespace {

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "eve_bench: %s\n", what.c_str());
    std::exit(2);
}

struct Records {
    std::string source;
    std::shared_ptr<const detect::SignatureDb> db;  // what the alerts' rule texts point into
    std::vector<core::AlertRecord> alerts;
    std::vector<core::FlowRecord> flows;
};

const Records& records() {
    static const Records r = [] {
        Records out;
        const CaptureBatches in = cut_into_batches(default_capture());
        out.source = in.source;
        auto rules = load_rules(default_rule_paths(), default_rules_data_dir());
        if (!rules) {
            fail(rules.error().message);
        }
        auto built = detect::SignatureDb::build(*rules);
        if (!built) {
            fail(built.error().message);
        }
        out.db = *built;
        pipeline::WorkerConfig config;
        config.decode.validate_checksums = false;  // as `sensor -k none`
        pipeline::Worker worker(config, out.db, {});
        auto take = [&] {
            for (auto& a : worker.output().alerts) {
                out.alerts.push_back(std::move(a));
            }
            out.flows.insert(out.flows.end(), worker.output().flows.begin(),
                             worker.output().flows.end());
            worker.output().clear();
        };
        for (const auto& batch : in.batches) {
            worker.process(*batch);
            take();
        }
        worker.finish();
        take();
        return out;
    }();
    return r;
}

template <class Record, class Append>
void format_all(benchmark::State& state, const std::vector<Record>& all, Append append) {
    if (all.empty()) {
        state.SkipWithError("the capture gave no such records");
        return;
    }
    const alert::EveOptions options;
    std::string line;
    line.reserve(1 << 16);
    uint64_t bytes = 0;
    for (auto _ : state) {
        for (const Record& r : all) {
            line.clear();
            append(line, r, options);
            bytes += line.size();
            benchmark::DoNotOptimize(line.data());
        }
    }
    const auto passes = static_cast<int64_t>(state.iterations());
    state.SetItemsProcessed(passes * static_cast<int64_t>(all.size()));
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
    state.counters["records_per_pass"] = static_cast<double>(all.size());
}

void BM_EveAlerts(benchmark::State& state) {
    format_all(state, records().alerts, alert::append_alert_json);
}
BENCHMARK(BM_EveAlerts)->Unit(benchmark::kMillisecond);

void BM_EveFlows(benchmark::State& state) {
    format_all(state, records().flows, alert::append_flow_json);
}
BENCHMARK(BM_EveFlows)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sensor::bench

int main(int argc, char** argv) {
    return sensor::bench::run_benchmarks(argc, argv, sensor::bench::records().source);
}
