// pair_cost: how far a capture's work can spread over N workers when every packet of an
// address pair goes to one worker (as the dispatcher places them: both directions of all
// the pair's flows, and its fragments, together).
//
// One pipeline::Worker processes the capture one frame per batch, timing each frame; this is
// repeated --passes times with a fresh worker and each frame's median time is kept. Each
// frame's time is charged to its dispatch pair (DispatchKey::pair; frames with no IP layer,
// which any worker may take, are left out of the placement). Then, for each N of --workers:
//   * bound:  N / max(1, N x the largest pair's share): no pair-affine placement does better;
//   * LPT:    what an offline placement achieves, heaviest pair first onto the least loaded
//             worker (it knows every pair's cost in advance, which the dispatcher does not);
//   * hash:   a fixed hash of the pair (pair % N), the placement without a scheduler.
// Each is a speedup over one worker if the workers' loads were the only limit (no capture
// thread, no memory contention): the ceiling the scheduler works under.
//
// The same figures follow for placement by flow (the symmetric 5-tuple of the decoded
// packet, as the flow table keys it; a fragment held for reassembly is charged to its
// pair): how much a dispatcher that placed flows, not address pairs, could gain.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/common/bench_input.h"
#include "bench/common/guarded_main.h"
#include "bench/common/json_file.h"
#include "sensor/decode/decoder.h"
#include "sensor/detect/signature_db.h"
#include "sensor/flow/flow_key.h"
#include "sensor/pipeline/dispatch_key.h"
#include "sensor/pipeline/worker.h"

namespace sensor::bench {
namespace {

struct Options {
    std::string pcap;
    std::vector<std::string> rules;
    std::string data_dir;
    std::vector<size_t> workers = {2, 4, 8, 15};
    int passes = 3;
    size_t top = 10;
    std::string json_path;
};

// Nanoseconds each frame took in one pass of a fresh worker, one frame per batch.
std::vector<uint64_t> time_frames(const CaptureImage& capture,
                                  const std::shared_ptr<const detect::SignatureDb>& db) {
    using Clock = std::chrono::steady_clock;
    pipeline::WorkerConfig config;
    config.decode.validate_checksums = false;  // as `sensor -k none`
    pipeline::Worker worker(config, db, {});
    std::vector<uint64_t> ns(capture.frames.size());
    size_t arena = 0;
    for (const core::Frame& f : capture.frames) {
        arena = std::max<size_t>(arena, f.caplen);
    }
    core::FrameBatch batch((arena + 7) & ~size_t{7});
    int64_t clock = 0;
    for (size_t i = 0; i < capture.frames.size(); ++i) {
        const core::Frame& f = capture.frames[i];
        batch.clear();
        if (!batch.push(f)) {
            std::fprintf(stderr, "pair_cost: frame %zu does not fit its batch\n", i + 1);
            std::exit(2);
        }
        clock = std::max(clock, f.ts_us);
        batch.set_clock(clock);
        const auto start = Clock::now();
        worker.process(batch);
        ns[i] = static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
        worker.output().clear();
    }
    worker.finish();
    return ns;
}

struct Placement {
    double bound = 0;
    double lpt = 0;
    double hash = 0;
};

// Speedup over one worker when the busiest worker sets the time.
double speedup(const std::vector<double>& loads, double total) {
    const double busiest = *std::max_element(loads.begin(), loads.end());
    return busiest > 0 ? total / busiest : 0;
}

Placement place(const std::vector<std::pair<uint64_t, double>>& pairs_by_cost, double total,
                size_t n) {
    Placement p;
    const double largest = pairs_by_cost.empty() ? 0 : pairs_by_cost.front().second / total;
    p.bound = static_cast<double>(n) / std::max(1.0, static_cast<double>(n) * largest);
    std::vector<double> lpt(n, 0);
    std::vector<double> hash(n, 0);
    for (const auto& [pair, cost] : pairs_by_cost) {
        *std::min_element(lpt.begin(), lpt.end()) += cost;
        hash[pair % n] += cost;
    }
    p.lpt = speedup(lpt, total);
    p.hash = speedup(hash, total);
    return p;
}

int run(const Options& opt) {
    core::Result<CaptureImage> capture =
        opt.pcap.empty() ? core::Result<CaptureImage>(default_capture()) : load_capture(opt.pcap);
    if (!capture) {
        std::fprintf(stderr, "pair_cost: %s\n", capture.error().message.c_str());
        return 2;
    }
    auto rules = load_rules(opt.rules, opt.data_dir);
    if (!rules) {
        std::fprintf(stderr, "pair_cost: %s\n", rules.error().message.c_str());
        return 2;
    }
    auto db = detect::SignatureDb::build(*rules);
    if (!db) {
        std::fprintf(stderr, "pair_cost: %s\n", db.error().message.c_str());
        return 2;
    }
    const auto& frames = capture->frames;
    std::vector<std::vector<uint64_t>> passes;
    for (int i = 0; i < opt.passes; ++i) {
        std::fprintf(stderr, "pair_cost: pass %d of %d over %zu frames\n", i + 1, opt.passes,
                     frames.size());
        passes.push_back(time_frames(*capture, *db));
    }

    // Each frame's median over the passes, charged to its pair and to its flow.
    std::unordered_map<uint64_t, std::pair<double, uint64_t>> by_pair;  // ns, frames
    std::unordered_map<uint64_t, double> by_flow;                       // ns
    double total = 0;
    double unplaced = 0;
    std::vector<uint64_t> samples(passes.size());
    decode::DecodeConfig decode_config;
    decode_config.validate_checksums = false;
    decode::Decoder decoder(decode_config);
    decode::DecodedPacket decoded;
    for (size_t i = 0; i < frames.size(); ++i) {
        for (size_t p = 0; p < passes.size(); ++p) {
            samples[p] = passes[p][i];
        }
        const auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
        std::nth_element(samples.begin(), middle, samples.end());
        const auto cost = static_cast<double>(samples[samples.size() / 2]);
        const pipeline::DispatchKey key = pipeline::dispatch_key(frames[i]);
        const decode::Verdict verdict = decoder.decode(frames[i], decoded);
        if (key.kind == pipeline::DispatchKey::Kind::kNone) {
            unplaced += cost;
            continue;
        }
        auto& entry = by_pair[key.pair];
        entry.first += cost;
        ++entry.second;
        total += cost;
        if (verdict == decode::Verdict::kPacket) {
            bool src_is_lo = false;
            by_flow[flow::hash_flow_key(flow::make_flow_key(decoded, src_is_lo))] += cost;
        } else {
            by_flow[key.pair] += cost;  // a fragment held for reassembly, or no flow
        }
    }
    std::vector<std::pair<uint64_t, double>> flows_by_cost(by_flow.begin(), by_flow.end());
    std::sort(flows_by_cost.begin(), flows_by_cost.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    std::vector<std::pair<uint64_t, double>> pairs_by_cost;
    pairs_by_cost.reserve(by_pair.size());
    for (const auto& [pair, entry] : by_pair) {
        pairs_by_cost.emplace_back(pair, entry.first);
    }
    std::sort(pairs_by_cost.begin(), pairs_by_cost.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });

    const auto placed_frames =
        static_cast<double>(std::count_if(frames.begin(), frames.end(), [](const core::Frame& f) {
            return pipeline::dispatch_key(f).kind != pipeline::DispatchKey::Kind::kNone;
        }));
    std::printf("pair_cost: %s, %zu frames, %zu address pairs, rules: %zu signatures\n",
                capture->source.c_str(), frames.size(), by_pair.size(), (*db)->size());
    std::printf(
        "  worker time (median of %d passes, one frame per batch): %.3f s placed by "
        "pair, %.3f s without an IP layer\n",
        opt.passes, total / 1e9, unplaced / 1e9);
    std::printf("  heaviest pairs: share of the time / share of the frames\n");
    nlohmann::json top = nlohmann::json::array();
    for (size_t i = 0; i < std::min(opt.top, pairs_by_cost.size()); ++i) {
        const auto& [pair, cost] = pairs_by_cost[i];
        const double frame_share = static_cast<double>(by_pair[pair].second) / placed_frames;
        std::printf("    %2zu. %5.1f%% / %5.1f%%\n", i + 1, 100 * cost / total, 100 * frame_share);
        top.push_back({{"time_share", cost / total}, {"frame_share", frame_share}});
    }
    std::printf("  speedup over one worker if the busiest worker set the time:\n");
    std::printf("    workers   bound (largest pair)   offline LPT   fixed hash\n");
    nlohmann::json placements = nlohmann::json::object();
    for (size_t n : opt.workers) {
        const Placement p = place(pairs_by_cost, total, n);
        std::printf("    %7zu   %20.2fx   %10.2fx   %9.2fx\n", n, p.bound, p.lpt, p.hash);
        placements[std::to_string(n)] = {{"bound", p.bound}, {"lpt", p.lpt}, {"hash", p.hash}};
    }
    std::printf("  by flow instead (%zu flows): heaviest %.1f%%, %.1f%%, %.1f%% of the time\n",
                flows_by_cost.size(),
                flows_by_cost.empty() ? 0.0 : 100 * flows_by_cost[0].second / total,
                flows_by_cost.size() < 2 ? 0.0 : 100 * flows_by_cost[1].second / total,
                flows_by_cost.size() < 3 ? 0.0 : 100 * flows_by_cost[2].second / total);
    std::printf("    workers   bound (largest flow)   offline LPT   fixed hash\n");
    nlohmann::json flow_placements = nlohmann::json::object();
    for (size_t n : opt.workers) {
        const Placement p = place(flows_by_cost, total, n);
        std::printf("    %7zu   %20.2fx   %10.2fx   %9.2fx\n", n, p.bound, p.lpt, p.hash);
        flow_placements[std::to_string(n)] = {{"bound", p.bound}, {"lpt", p.lpt}, {"hash", p.hash}};
    }
    if (!opt.json_path.empty()) {
        nlohmann::json j;
        j["pcap"] = capture->source;
        j["frames"] = frames.size();
        j["pairs"] = by_pair.size();
        j["signatures"] = (*db)->size();
        j["passes"] = opt.passes;
        j["placed_time_s"] = total / 1e9;
        j["unplaced_time_s"] = unplaced / 1e9;
        j["heaviest_pairs"] = top;
        j["speedup"] = placements;
        j["flows"] = flows_by_cost.size();
        j["speedup_by_flow"] = flow_placements;
        if (!write_json_file("pair_cost", opt.json_path, j)) {
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
    CLI::App app{"pair_cost: how far address-pair placement can spread a capture's work"};
    app.add_option("-r,--pcap", opt.pcap,
                   "capture (default: $SENSOR_BENCH_PCAP, else the bench capture)");
    app.add_option("-S,--rules", opt.rules, "rule file or directory (default: ET Open 2024)");
    app.add_option("--data-dir", opt.data_dir, "rules data folder (taxonomy)");
    app.add_option("--workers", opt.workers, "worker counts to place for")->delimiter(',');
    app.add_option("--passes", opt.passes, "passes; each frame's median time is used")
        ->check(CLI::Range(1, 99));
    app.add_option("--top", opt.top, "heaviest pairs to list");
    app.add_option("--json", opt.json_path, "write the figures as JSON here");
    CLI11_PARSE(app, argc, argv);
    if (opt.rules.empty()) {
        opt.rules = sensor::bench::default_rule_paths();
    }
    if (opt.data_dir.empty()) {
        opt.data_dir = sensor::bench::default_rules_data_dir();
    }
    return sensor::bench::run(opt);
}

}  // namespace

int main(int argc, char** argv) {
    return sensor::bench::guarded_main("pair_cost", run_main, argc, argv);
}
