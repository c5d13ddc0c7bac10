#include "sensor/pipeline/pipeline.h"

#include <algorithm>
#include <boost/lockfree/spsc_queue.hpp>
#include <chrono>
#include <cstring>

#include "capture/pcap_file_reader.h"
#include "sensor/detect/builtin_detectors.h"

namespace sensor::pipeline {

namespace {

// Waits without burning a core that another pipeline thread may need (this machine class
// can have fewer cores than threads): spin briefly, then yield, then sleep.
class Backoff {
public:
    void pause() {
        if (++rounds_ < 64) {
            return;
        }
        if (rounds_ < 256) {
            std::this_thread::yield();
            return;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    void reset() { rounds_ = 0; }

private:
    uint32_t rounds_ = 0;
};

// Symmetric in (a, b): both directions of a conversation get the same value.
uint64_t address_pair_hash(const core::IpAddress& a, const core::IpAddress& b) noexcept {
    uint64_t x[2] = {0, 0};
    uint64_t y[2] = {0, 0};
    std::memcpy(x, a.bytes.data(), 16);
    std::memcpy(y, b.bytes.data(), 16);
    uint64_t h = (x[0] ^ y[0]) * 0x9e3779b97f4a7c15ULL + ((x[1] ^ y[1]) + (x[0] + y[0]));
    h += (x[1] + y[1]) * 0xc2b2ae3d27d4eb4fULL;
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 29;
    return h;
}

}  // namespace

struct Pipeline::Lane {
    Lane(size_t batches, size_t arena_bytes)
        : filled(batches + 1), empty(batches + 1), outputs(batches + 1), free_outputs(batches + 1) {
        for (size_t i = 0; i < batches; ++i) {
            pool.push_back(std::make_unique<core::FrameBatch>(arena_bytes));
            empty.push(pool.back().get());
            output_pool.push_back(std::make_unique<WorkerOutput>());
            free_outputs.push(output_pool.back().get());
        }
    }

    size_t index = 0;
    std::unique_ptr<Worker> worker;
    std::vector<std::unique_ptr<core::FrameBatch>> pool;
    std::vector<std::unique_ptr<WorkerOutput>> output_pool;
    boost::lockfree::spsc_queue<core::FrameBatch*> filled;  // dispatcher -> worker
    boost::lockfree::spsc_queue<core::FrameBatch*> empty;   // worker -> dispatcher
    boost::lockfree::spsc_queue<WorkerOutput*> outputs;     // worker -> output thread
    boost::lockfree::spsc_queue<WorkerOutput*> free_outputs;
    core::FrameBatch* current = nullptr;  // being filled by the dispatcher
    std::atomic<bool> input_closed{false};
    std::atomic<bool> finished{false};
    std::thread thread;
};

Pipeline::Pipeline(const PipelineOptions& options, const WorkerConfig& worker_config,
                   const std::shared_ptr<const detect::SignatureDb>& signatures,
                   const std::vector<BuiltinRule>& builtin_rules, RecordSink& sink,
                   PipelineStats& stats)
    : options_(options), sink_(sink), stats_(stats), rules_(signatures), dispatch_decoder_([] {
          decode::DecodeConfig c;  // only parses to the outer IP header: no reassembly memory
          c.defrag_memcap_bytes = 4096;
          c.defrag_max_datagrams = 1;
          return c;
      }()) {
    options_.workers = std::clamp<size_t>(options_.workers, 1, kMaxWorkers);
    options_.batches_per_worker = std::max<size_t>(options_.batches_per_worker, 2);
    WorkerConfig config = worker_config;
    // SYN-flood sources are spoofed and spread over workers: each worker reports its share
    // of the threshold and the output thread keeps one alert per target.
    const auto n = static_cast<uint32_t>(options_.workers);
    config.builtin.flood_syns = std::max<uint32_t>(2, (config.builtin.flood_syns + n - 1) / n);
    stats_.worker_count = options_.workers;
    for (size_t i = 0; i < options_.workers; ++i) {
        size_t batches = options_.workers == 1 ? 1 : options_.batches_per_worker;
        auto lane = std::make_unique<Lane>(batches, options_.batch_arena_bytes);
        lane->index = i;
        lane->worker = std::make_unique<Worker>(config, signatures, builtin_rules);
        lane->worker->follow_rules(&rules_);
        lanes_.push_back(std::move(lane));
    }
    if (options_.workers > 1) {
        // A pair may move to another worker only when nothing of it can be left in its old
        // one: every flow and fragment timeout has passed, with a minute to spare.
        int64_t idle_limit_us = worker_config.decode.defrag_timeout_us;
        for (uint32_t t : worker_config.flow.timeout_s) {
            idle_limit_us = std::max(idle_limit_us, int64_t{t} * 1'000'000);
        }
        idle_limit_us += 60'000'000;
        scheduler_ = std::make_unique<PairScheduler>(options_.workers, options_.scheduler_pairs,
                                                     idle_limit_us);
        for (auto& lane : lanes_) {
            Lane* l = lane.get();
            l->thread = std::thread([this, l] { worker_loop(*l); });
        }
        output_thread_ = std::thread([this] { output_loop(); });
    }
}

Pipeline::~Pipeline() {
    for (auto& lane : lanes_) {
        lane->input_closed.store(true, std::memory_order_release);
    }
    for (auto& lane : lanes_) {
        if (lane->thread.joinable()) {
            lane->thread.join();
        }
    }
    workers_done_.store(true, std::memory_order_release);
    if (output_thread_.joinable()) {
        output_thread_.join();
    }
}

std::vector<const Worker*> Pipeline::workers() const {
    std::vector<const Worker*> out;
    for (const auto& lane : lanes_) {
        out.push_back(lane->worker.get());
    }
    return out;
}

void Pipeline::dispatch(const core::Frame& frame, bool lossless) {
    clock_us_ = std::max(clock_us_, frame.ts_us);
    size_t target = 0;
    if (lanes_.size() > 1 &&
        dispatch_decoder_.outer_addresses(frame, dispatch_packet_) == decode::Verdict::kPacket) {
        const uint64_t pair = address_pair_hash(dispatch_packet_.src, dispatch_packet_.dst);
        // Backlog: batches the worker has not handed back yet (queued, being filled or being
        // processed), then frames in the batch being filled.
        target = scheduler_->pick(pair, clock_us_, [this](size_t w) noexcept {
            const Lane& l = *lanes_[w];
            const uint64_t free_batches = l.empty.read_available();
            const uint64_t in_use = l.pool.size() - std::min<uint64_t>(free_batches, l.pool.size());
            return (in_use << 20) + (l.current != nullptr ? l.current->size() : 0);
        });
    }
    Lane& lane = *lanes_[target];
    Backoff backoff;
    for (int attempt = 0; attempt < 2; ++attempt) {
        while (lane.current == nullptr) {
            if (!lane.empty.pop(lane.current)) {
                if (!lossless) {
                    stats_.ring_full_drops[lane.index].add();  // live: never wait
                    return;
                }
                backoff.pause();  // replay is lossless: wait for the worker to free a batch
            }
        }
        if (lane.current->push(frame)) {
            break;
        }
        flush_lane(lane);  // no room left in this batch's arena
    }
    if (lane.current != nullptr && lane.current->full()) {
        flush_lane(lane);
    }
}

void Pipeline::flush_lane(Lane& lane) {
    if (lane.current == nullptr || lane.current->empty()) {
        return;
    }
    lane.current->set_clock(clock_us_);
    stats_.enqueued[lane.index].add(lane.current->size());
    if (scheduler_ != nullptr) {
        stats_.pairs_least_loaded.set(scheduler_->placed_least_loaded());
        stats_.pairs_by_hash.set(scheduler_->placed_by_hash());
        stats_.pair_table_overflows.set(scheduler_->overflows());
    }
    if (lanes_.size() == 1) {
        // Inline: process on this thread and reuse the same batch.
        lane.worker->process(*lane.current);
        write_output(lane.worker->output());
        lane.current->clear();
        return;
    }
    Backoff backoff;
    while (!lane.filled.push(lane.current)) {
        backoff.pause();
    }
    stats_.ring_depth[lane.index].set(lane.filled.read_available());
    lane.current = nullptr;
}

void Pipeline::pace(int64_t ts_us) {
    using Clock = std::chrono::steady_clock;
    if (!pace_started_) {
        pace_started_ = true;
        pace_first_ts_us_ = ts_us;
        pace_wall_start_ = Clock::now();
        return;
    }
    auto offset = std::chrono::microseconds(static_cast<int64_t>(
        static_cast<double>(std::max<int64_t>(0, ts_us - pace_first_ts_us_)) / options_.speed));
    auto due = pace_wall_start_ + offset;
    if (Clock::now() >= due) {
        return;
    }
    flush_all();  // let workers see what was read while we wait
    while (!stop_requested_.load(std::memory_order_relaxed)) {
        auto now = Clock::now();
        if (now >= due) {
            break;
        }
        std::this_thread::sleep_for(
            std::min<Clock::duration>(due - now, std::chrono::milliseconds(100)));
    }
}

void Pipeline::flush_all() {
    for (auto& lane : lanes_) {
        flush_lane(*lane);
    }
}

void Pipeline::worker_loop(Lane& lane) {
    Backoff backoff;
    auto publish = [&] {
        WorkerOutput& out = lane.worker->output();
        if (out.alerts.empty() && out.flows.empty()) {
            return;
        }
        WorkerOutput* block = nullptr;
        Backoff wait;
        while (!lane.free_outputs.pop(block)) {
            wait.pause();  // lossless: the output thread is behind
        }
        std::swap(block->alerts, out.alerts);
        std::swap(block->flows, out.flows);
        lane.outputs.push(block);  // cannot fail: as many slots as blocks
    };
    for (;;) {
        core::FrameBatch* batch = nullptr;
        if (lane.filled.pop(batch)) {
            lane.worker->process(*batch);
            batch->clear();
            lane.empty.push(batch);
            publish();
            backoff.reset();
            continue;
        }
        if (lane.input_closed.load(std::memory_order_acquire)) {
            if (lane.filled.read_available() > 0) {
                continue;
            }
            lane.worker->finish();
            publish();
            lane.finished.store(true, std::memory_order_release);
            return;
        }
        backoff.pause();
    }
}

void Pipeline::output_loop() {
    Backoff backoff;
    for (;;) {
        bool progress = false;
        bool all_finished = true;
        for (auto& lane : lanes_) {
            bool finished = lane->finished.load(std::memory_order_acquire);
            WorkerOutput* block = nullptr;
            while (lane->outputs.pop(block)) {
                write_output(*block);
                lane->free_outputs.push(block);
                progress = true;
            }
            all_finished = all_finished && finished;
        }
        if (all_finished && !progress) {
            return;
        }
        if (progress) {
            backoff.reset();
        } else {
            backoff.pause();
        }
    }
}

void Pipeline::write_output(WorkerOutput& out) {
    constexpr int64_t kDuplicateWindowUs = 60'000'000;
    for (const auto& a : out.alerts) {
        if (lanes_.size() > 1 && a.signature_id == detect::kSynFloodSid) {
            std::string key =
                a.endpoints.dest_ip.to_string() + ":" + std::to_string(a.endpoints.dest_port);
            auto it = std::find_if(recent_builtin_.begin(), recent_builtin_.end(),
                                   [&](const auto& e) { return e.first == key; });
            if (it != recent_builtin_.end() && a.ts_us - it->second < kDuplicateWindowUs) {
                stats_.alerts_duplicate_removed.add();
                continue;
            }
            if (it != recent_builtin_.end()) {
                it->second = a.ts_us;
            } else {
                if (recent_builtin_.size() >= 4096) {
                    recent_builtin_.erase(recent_builtin_.begin());
                }
                recent_builtin_.emplace_back(std::move(key), a.ts_us);
            }
        }
        count_written_alert(stats_, a);
        sink_.alert(a);
    }
    for (const auto& f : out.flows) {
        sink_.flow(f);
    }
    out.clear();
}

ReplayResult Pipeline::replay(const std::vector<std::string>& files, const ReplayHooks& hooks) {
    using Clock = std::chrono::steady_clock;
    ReplayResult result;
    const auto start = Clock::now();
    auto last_progress = start;
    for (size_t i = 0; i < files.size(); ++i) {
        FileResult file_result;
        file_result.path = files[i];
        SourceCounters* counters = i < kMaxSources ? &stats_.sources[i] : nullptr;
        auto reader = capture::PcapFileReader::open(files[i], static_cast<uint32_t>(i));
        if (!reader) {
            file_result.error = reader.error().message;
            result.read_error = true;
            if (hooks.on_error) {
                hooks.on_error(file_result.error);
            }
            result.files.push_back(std::move(file_result));
            continue;
        }
        capture::ReadStatus status = capture::ReadStatus::kOk;
        core::Frame frame;
        uint64_t n = 0;
        while (!stop_requested_.load(std::memory_order_relaxed)) {
            status = (*reader)->next(frame);
            if (status != capture::ReadStatus::kOk) {
                break;
            }
            if (options_.speed > 0) {
                pace(frame.ts_us);
            }
            dispatch(frame);
            if (counters != nullptr) {
                counters->packets.add();
                counters->bytes.add(frame.caplen);
                counters->last_packet_ts_us.set(static_cast<uint64_t>(clock_us_));
            }
            if (hooks.progress && (++n & 0x3ff) == 0) {
                auto now = Clock::now();
                if (now - last_progress > std::chrono::milliseconds(500)) {
                    last_progress = now;
                    hooks.progress(result.packets + (*reader)->stats().packets,
                                   result.bytes + (*reader)->stats().bytes,
                                   std::chrono::duration<double>(now - start).count());
                }
            }
        }
        if (status == capture::ReadStatus::kError) {
            // Process everything read so far before saying so.
            flush_all();
            file_result.error = (*reader)->error();
            result.read_error = true;
            if (hooks.on_error) {
                hooks.on_error(file_result.error);
            }
        }
        file_result.stats = (*reader)->stats();
        result.packets += file_result.stats.packets;
        result.bytes += file_result.stats.bytes;
        if (file_result.stats.packets > 0) {
            if (result.first_ts_us == 0 || file_result.stats.first_ts_us < result.first_ts_us) {
                result.first_ts_us = file_result.stats.first_ts_us;
            }
            result.last_ts_us = std::max(result.last_ts_us, file_result.stats.last_ts_us);
        }
        result.files.push_back(std::move(file_result));
        if (stop_requested_.load(std::memory_order_relaxed)) {
            break;
        }
    }
    finish_run();
    result.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

void Pipeline::finish_run() {
    flush_all();
    if (lanes_.size() == 1) {
        lanes_[0]->worker->finish();
        write_output(lanes_[0]->worker->output());
    } else {
        for (auto& lane : lanes_) {
            lane->input_closed.store(true, std::memory_order_release);
        }
        for (auto& lane : lanes_) {
            lane->thread.join();
        }
        output_thread_.join();
    }
    sink_.flush();
}

ReplayResult Pipeline::run_live(capture::LiveSource& source, const ReplayHooks& hooks) {
    using Clock = std::chrono::steady_clock;
    ReplayResult result;
    const auto start = Clock::now();
    auto last_stats = start;
    auto last_progress = start;
    SourceCounters& counters = stats_.sources[0];
    core::FrameBatch batch;
    FileResult file_result;
    file_result.path = source.iface();
    while (!stop_requested_.load(std::memory_order_relaxed)) {
        batch.clear();
        capture::ReadStatus status = source.read(batch);
        for (const core::Frame& frame : batch) {
            dispatch(frame, /*lossless=*/false);
            counters.packets.add();
            counters.bytes.add(frame.caplen);
            if (result.packets == 0) {
                result.first_ts_us = frame.ts_us;
            }
            ++result.packets;
            result.bytes += frame.caplen;
            result.last_ts_us = std::max(result.last_ts_us, frame.ts_us);
        }
        counters.last_packet_ts_us.set(static_cast<uint64_t>(clock_us_));
        if (batch.empty()) {
            flush_all();  // quiet link: hand over what is waiting instead of holding it
        }
        auto now = Clock::now();
        if (now - last_stats > std::chrono::seconds(1)) {
            last_stats = now;
            source.update_stats();
            counters.kernel_drops.set(source.stats().kernel_dropped.load());
            counters.interface_drops.set(source.stats().iface_dropped.load());
        }
        if (hooks.progress && now - last_progress > std::chrono::milliseconds(500)) {
            last_progress = now;
            hooks.progress(result.packets, result.bytes,
                           std::chrono::duration<double>(now - start).count());
        }
        if (status == capture::ReadStatus::kError) {
            file_result.error = source.error();
            result.read_error = true;
            if (hooks.on_error) {
                hooks.on_error(file_result.error);
            }
            break;
        }
    }
    source.update_stats();
    counters.kernel_drops.set(source.stats().kernel_dropped.load());
    counters.interface_drops.set(source.stats().iface_dropped.load());
    file_result.stats.packets = result.packets;
    file_result.stats.bytes = result.bytes;
    result.files.push_back(file_result);
    finish_run();
    result.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    return result;
}

}  // namespace sensor::pipeline
