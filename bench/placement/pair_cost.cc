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
//
// Then a replay model puts those times back in capture order (--copies copies one after
// another, as in the 10x file) and places every frame as the capture thread does: the real
// PairScheduler (least backlog when a pair or flow is first seen), batches of up to 64 frames,
// rings of --ring-batches batches per worker, the replay's fill time and clock ticks, and
// --capture-ns of capture-stage time per frame. The capture thread waits when a worker's
// ring is full, as a lossless replay does. Its speedup counts what the loads' ceilings above
// leave out: a pair's or flow's work arriving in a burst that fills its worker's ring while
// the others run dry, and the capture thread's own rate. It still knows nothing of memory:
// each frame costs its worker what it cost one worker alone. --save-times keeps the frame
// times, and --load-times models with saved ones (another machine's, or the same times under
// other settings) instead of timing.

#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <deque>
#include <fstream>
#include <limits>
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
#include "sensor/pipeline/pair_scheduler.h"
#include "sensor/pipeline/pipeline.h"
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
    // Each frame's median time, one number of ns per line: written, or read instead of
    // timing (another machine's times, or the same times for several model settings).
    std::string save_times;
    std::string load_times;
    // The replay model.
    int copies = 10;
    size_t ring_batches = 128;  // capture.ring-batches
    // The capture stage per frame: the slower of its two threads here, placing (56 ns) and
    // reading and keying (69 ns; docs/performance.md, section 2c).
    double capture_ns = 70;
    std::string backlog = "batches";
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

// Each frame's median time over `passes` passes of a fresh worker.
std::vector<uint64_t> median_frame_times(const CaptureImage& capture,
                                         const std::shared_ptr<const detect::SignatureDb>& db,
                                         int passes) {
    std::vector<std::vector<uint64_t>> timed;
    for (int i = 0; i < passes; ++i) {
        std::fprintf(stderr, "pair_cost: pass %d of %d over %zu frames\n", i + 1, passes,
                     capture.frames.size());
        timed.push_back(time_frames(capture, db));
    }
    std::vector<uint64_t> medians(capture.frames.size());
    std::vector<uint64_t> samples(timed.size());
    for (size_t f = 0; f < medians.size(); ++f) {
        for (size_t p = 0; p < timed.size(); ++p) {
            samples[p] = timed[p][f];
        }
        const auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
        std::nth_element(samples.begin(), middle, samples.end());
        medians[f] = *middle;
    }
    return medians;
}

bool save_frame_times(const std::string& path, const std::vector<uint64_t>& frame_ns) {
    std::ofstream out(path);
    for (uint64_t ns : frame_ns) {
        out << ns << '\n';
    }
    out.flush();
    if (!out) {
        std::fprintf(stderr, "pair_cost: cannot write %s\n", path.c_str());
        return false;
    }
    return true;
}

// Times saved by --save-times for the same capture: one per frame, in frame order.
core::Result<std::vector<uint64_t>> load_frame_times(const std::string& path, size_t frames) {
    std::ifstream in(path);
    if (!in) {
        return core::make_error(path + ": cannot open");
    }
    std::vector<uint64_t> frame_ns;
    frame_ns.reserve(frames);
    std::string line;
    while (std::getline(in, line)) {
        uint64_t ns = 0;
        const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), ns);
        if (ec != std::errc{} || end != line.data() + line.size()) {
            std::string message = path;
            message += ":" + std::to_string(frame_ns.size() + 1);
            message += ": not a number of nanoseconds: '" + line + "'";
            return core::make_error(std::move(message));
        }
        frame_ns.push_back(ns);
    }
    if (frame_ns.size() != frames) {
        return core::make_error(path + ": " + std::to_string(frame_ns.size()) +
                                " frame times for a capture of " + std::to_string(frames) +
                                " frames");
    }
    return frame_ns;
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

// One frame as the replay model sees it.
struct ModelFrame {
    int64_t ts_us = 0;
    uint64_t pair = 0;    // DispatchKey::pair
    uint64_t flow = 0;    // DispatchKey::flow (0: none)
    bool placed = false;  // false: no IP layer; worker 0 takes it, as in the dispatcher
    double ns = 0;        // its median worker time
};

// How the model's scheduler compares workers: as the dispatcher does (batches in use), or by
// the exact queued work (a reference: no dispatcher knows what a frame will cost).
enum class ModelBacklog { kBatches, kExact };

struct ModelSetup {
    size_t workers = 15;
    ModelBacklog backlog = ModelBacklog::kBatches;
    bool by_flow = false;
    size_t ring_batches = 128;
    double capture_ns = 70;
    int copies = 10;
    int64_t idle_limit_us = 0;
};

struct ModelResult {
    double elapsed_ns = 0;
    double total_ns = 0;    // every worker's work
    double busiest_ns = 0;  // the busiest worker's
    double capture_waited_ns = 0;
};

// A worker as the capture thread fills it, with when each batch it was handed will be done.
struct ModelLane {
    std::deque<double> done_at;  // batches handed over and not yet processed, oldest first
    double free_at = 0;          // when the worker has processed everything handed over
    double work_ns = 0;
    bool filling = false;  // holds a batch being filled (taken from its ring)
    size_t frames = 0;     // in that batch
    double batch_ns = 0;
    int64_t first_ts_us = 0;
    uint64_t sent = 0;
    uint64_t in_use_read = 0;  // Pipeline::backlog()'s view
    uint64_t sent_when_read = 0;

    size_t queued(double now) {
        while (!done_at.empty() && done_at.front() <= now) {
            done_at.pop_front();
        }
        return done_at.size();
    }
    void hand_over(double now) {
        free_at = std::max(now, free_at) + batch_ns;
        done_at.push_back(free_at);
        work_ns += batch_ns;
        ++sent;
        filling = false;
        frames = 0;
        batch_ns = 0;
    }
};

ModelResult replay_model(const std::vector<ModelFrame>& frames, const ModelSetup& setup) {
    ModelResult r;
    if (frames.empty() || setup.workers == 0) {
        return r;
    }
    std::vector<ModelLane> lanes(setup.workers);
    pipeline::PairScheduler scheduler(setup.workers, pipeline::PipelineOptions{}.scheduler_pairs,
                                      setup.idle_limit_us);
    int64_t first_us = frames.front().ts_us;
    int64_t last_us = first_us;
    for (const ModelFrame& f : frames) {
        first_us = std::min(first_us, f.ts_us);
        last_us = std::max(last_us, f.ts_us);
    }
    const int64_t shift_us = last_us - first_us + 1'000'000;  // bench/replay_bench.py's copies
    double now = 0;                                           // the capture thread's time
    int64_t clock_us = std::numeric_limits<int64_t>::min();
    int64_t next_tick_us = std::numeric_limits<int64_t>::min();
    uint64_t dispatched = 0;
    uint64_t read_at = 0;
    bool read_once = false;
    auto backlog = [&](size_t w) noexcept -> uint64_t {
        if (!read_once || dispatched - read_at >= pipeline::Pipeline::kBacklogRefreshFrames) {
            for (ModelLane& l : lanes) {
                l.in_use_read =
                    std::min<uint64_t>(l.queued(now) + (l.filling ? 1 : 0), setup.ring_batches);
                l.sent_when_read = l.sent;
            }
            read_at = dispatched;
            read_once = true;
        }
        const ModelLane& l = lanes[w];
        if (setup.backlog == ModelBacklog::kExact) {
            return static_cast<uint64_t>(std::max(l.free_at - now, 0.0) + l.batch_ns);
        }
        const uint64_t in_use =
            std::min<uint64_t>(l.in_use_read + (l.sent - l.sent_when_read), setup.ring_batches);
        return pipeline::Pipeline::backlog_measure(in_use, l.frames);
    };
    for (int copy = 0; copy < setup.copies; ++copy) {
        for (const ModelFrame& f : frames) {
            const int64_t ts_us = f.ts_us + copy * shift_us;
            now += setup.capture_ns;
            ++dispatched;
            clock_us = std::max(clock_us, ts_us);
            size_t w = 0;
            if (f.placed && setup.workers > 1) {
                const uint64_t unit = setup.by_flow && f.flow != 0 ? f.flow : f.pair;
                w = scheduler.pick(unit, clock_us, ts_us, backlog);
            }
            ModelLane& lane = lanes[w];
            if (!lane.filling) {
                while (lane.queued(now) + 1 > setup.ring_batches) {  // a lossless replay waits
                    r.capture_waited_ns += lane.done_at.front() - now;
                    now = lane.done_at.front();
                }
                lane.filling = true;
                lane.first_ts_us = ts_us;
            }
            ++lane.frames;
            lane.batch_ns += f.ns;
            if (lane.frames == core::FrameBatch::kMaxFrames) {
                lane.hand_over(now);
            }
            if (clock_us >= next_tick_us) {
                // hand_clock(): frames that waited the fill time go (clock-only batches, which
                // cost a worker next to nothing, are left out).
                next_tick_us = clock_us + pipeline::Pipeline::kClockTickUs;
                for (ModelLane& l : lanes) {
                    if (l.frames > 0 &&
                        clock_us - l.first_ts_us >= pipeline::Pipeline::kReplayFillUs) {
                        l.hand_over(now);
                    }
                }
            }
        }
    }
    for (ModelLane& l : lanes) {
        if (l.frames > 0) {
            l.hand_over(now);
        }
        r.elapsed_ns = std::max(r.elapsed_ns, l.free_at);
        r.total_ns += l.work_ns;
        r.busiest_ns = std::max(r.busiest_ns, l.work_ns);
    }
    r.elapsed_ns = std::max(r.elapsed_ns, now);
    return r;
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
    std::vector<uint64_t> frame_ns;
    if (!opt.load_times.empty()) {
        auto loaded = load_frame_times(opt.load_times, frames.size());
        if (!loaded) {
            std::fprintf(stderr, "pair_cost: %s\n", loaded.error().message.c_str());
            return 2;
        }
        frame_ns = std::move(*loaded);
    } else {
        frame_ns = median_frame_times(*capture, *db, opt.passes);
    }
    if (!opt.save_times.empty() && !save_frame_times(opt.save_times, frame_ns)) {
        return 1;
    }

    // Each frame's time, charged to its pair and to its flow.
    std::unordered_map<uint64_t, std::pair<double, uint64_t>> by_pair;  // ns, frames
    std::unordered_map<uint64_t, double> by_flow;                       // ns
    double total = 0;
    double unplaced = 0;
    std::vector<ModelFrame> model_frames(frames.size());
    decode::DecodeConfig decode_config;
    decode_config.validate_checksums = false;
    decode::Decoder decoder(decode_config);
    decode::DecodedPacket decoded;
    for (size_t i = 0; i < frames.size(); ++i) {
        const auto cost = static_cast<double>(frame_ns[i]);
        const pipeline::DispatchKey key = pipeline::dispatch_key(frames[i]);
        const decode::Verdict verdict = decoder.decode(frames[i], decoded);
        model_frames[i] = ModelFrame{frames[i].ts_us, key.pair, key.flow,
                                     key.kind != pipeline::DispatchKey::Kind::kNone, cost};
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
    const std::string timed_how =
        opt.load_times.empty()
            ? "median of " + std::to_string(opt.passes) + " passes, one frame per batch"
            : "from " + opt.load_times;
    std::printf("  worker time (%s): %.3f s placed by pair, %.3f s without an IP layer\n",
                timed_how.c_str(), total / 1e9, unplaced / 1e9);
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
    std::printf(
        "  replay model: %d copies one after another, rings of %zu batches, capture stage "
        "%.0f ns per frame, backlog by %s:\n",
        opt.copies, opt.ring_batches, opt.capture_ns, opt.backlog.c_str());
    std::printf(
        "    workers   placing   speedup   busiest worker's share   capture thread waited\n");
    nlohmann::json model = nlohmann::json::object();
    ModelSetup setup;
    setup.ring_batches = opt.ring_batches;
    setup.capture_ns = opt.capture_ns;
    setup.copies = opt.copies;
    setup.backlog = opt.backlog == "exact" ? ModelBacklog::kExact : ModelBacklog::kBatches;
    setup.idle_limit_us = pipeline::Pipeline::placement_idle_limit_us(pipeline::WorkerConfig{});
    for (size_t n : opt.workers) {
        for (const bool place_flows : {false, true}) {
            setup.workers = n;
            setup.by_flow = place_flows;
            const ModelResult m = replay_model(model_frames, setup);
            const double gain = m.elapsed_ns > 0 ? m.total_ns / m.elapsed_ns : 0;
            const double share = m.total_ns > 0 ? m.busiest_ns / m.total_ns : 0;
            const char* placing = place_flows ? "flow" : "pair";
            std::printf("    %7zu   %7s   %6.2fx   %21.1f%%   %12.3f s of %.3f s\n", n, placing,
                        gain, 100 * share, m.capture_waited_ns / 1e9, m.elapsed_ns / 1e9);
            model[std::to_string(n)][placing] = {{"speedup", gain},
                                                 {"busiest_share", share},
                                                 {"elapsed_s", m.elapsed_ns / 1e9},
                                                 {"capture_waited_s", m.capture_waited_ns / 1e9}};
        }
    }
    if (!opt.json_path.empty()) {
        nlohmann::json j;
        j["pcap"] = capture->source;
        j["frames"] = frames.size();
        j["pairs"] = by_pair.size();
        j["signatures"] = (*db)->size();
        j["passes"] = opt.load_times.empty() ? opt.passes : 0;
        j["times_from"] = opt.load_times;
        j["placed_time_s"] = total / 1e9;
        j["unplaced_time_s"] = unplaced / 1e9;
        j["heaviest_pairs"] = top;
        j["speedup"] = placements;
        j["flows"] = flows_by_cost.size();
        j["speedup_by_flow"] = flow_placements;
        j["replay_model"] = {{"copies", opt.copies},
                             {"ring_batches", opt.ring_batches},
                             {"capture_ns", opt.capture_ns},
                             {"backlog", opt.backlog},
                             {"workers", model}};
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
    app.add_option("--save-times", opt.save_times,
                   "write each frame's median time here (ns, one per line)");
    app.add_option("--load-times", opt.load_times,
                   "take each frame's time from such a file instead of timing (same capture)");
    app.add_option("--copies", opt.copies, "replay model: copies of the capture, one after another")
        ->check(CLI::Range(1, 1000));
    app.add_option("--ring-batches", opt.ring_batches, "replay model: batches per worker ring")
        ->check(CLI::Range(2, 8192));
    app.add_option("--capture-ns", opt.capture_ns,
                   "replay model: the capture thread's time per frame, in ns")
        ->check(CLI::Range(0.0, 1e6));
    app.add_option("--backlog", opt.backlog,
                   "replay model: how the scheduler compares workers: batches (as the "
                   "dispatcher does) or exact (their queued work itself, a reference)")
        ->check(CLI::IsMember({"batches", "exact"}));
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
