#include "sensor/pipeline/pipeline.h"

#include <algorithm>
#include <boost/lockfree/spsc_queue.hpp>
#include <chrono>
#include <exception>
#include <limits>
#include <thread>

#include "capture/pcap_file_reader.h"
#include "sensor/core/cpus.h"
#include "sensor/core/thread_cpu.h"
#include "sensor/detect/builtin_detectors.h"
#include "sensor/pipeline/backoff.h"
#include "sensor/pipeline/read_ahead.h"

namespace sensor::pipeline {

namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::min();

}  // namespace

struct Pipeline::Lane {
    Lane(size_t batches, size_t output_blocks, size_t arena_bytes)
        : filled(batches + 1),
          empty(batches + 1),
          outputs(output_blocks + 1),
          free_outputs(output_blocks + 1) {
        for (size_t i = 0; i < batches; ++i) {
            pool.push_back(std::make_unique<core::FrameBatch>(arena_bytes));
            empty.push(pool.back().get());
        }
        for (size_t i = 0; i < output_blocks; ++i) {
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
    uint64_t batches_sent = 0;            // handed to the worker (dispatcher's count)
    // Pipeline::backlog(): batches in use when the dispatcher last read the ring, and
    // batches_sent then.
    uint64_t in_use_read = 0;
    uint64_t sent_when_read = 0;
    std::atomic<uint64_t> batches_done{0};  // processed by the worker (its own count)
    int64_t clock_sent_us = kNever;         // capture clock of the last batch handed over
    std::atomic<bool> input_closed{false};
    std::atomic<bool> finished{false};
    std::thread thread;
    // run_sources: what this lane's source delivered (written by its worker thread, read
    // after join) and whether it failed (read by the waiting thread).
    FileResult capture;
    std::atomic<bool> failed{false};
    // run_sources: set once the driving thread has pinned the worker; a worker that reads its
    // own source waits for it, so that no batch is read on a CPU it was not given.
    std::atomic<bool> pinned{false};
    double cpu_s = 0;  // CPU time of the worker thread; written by it, read after join
};

// Batches a dispatcher filled, from the lane's ring; each goes back empty after processing.
struct Pipeline::RingInput {
    Lane& lane;

    core::FrameBatch* next() noexcept {
        core::FrameBatch* batch = nullptr;
        return lane.filled.pop(batch) ? batch : nullptr;
    }
    void release(core::FrameBatch& batch) noexcept {
        batch.clear();
        // Before the batch goes back: its frames may point into a mapped file (release_mapped).
        lane.batches_done.store(lane.batches_done.load(std::memory_order_relaxed) + 1,
                                std::memory_order_release);
        lane.empty.push(&batch);  // cannot fail: as many slots as batches
    }
    // The dispatcher pushes before it closes, so an empty ring after the close stays empty.
    bool closed() const noexcept {
        return lane.input_closed.load(std::memory_order_acquire) &&
               lane.filled.read_available() == 0;
    }
    void idle(Backoff& backoff) noexcept { backoff.pause(); }
};

// Batches read by the worker itself from its own source into the lane's one batch.
struct Pipeline::SourceInput {
    using Clock = std::chrono::steady_clock;
    Pipeline& pipeline;
    Lane& lane;
    capture::BatchSource& source;
    SourceCounters& counters;
    Clock::time_point last_stats = Clock::now();
    int64_t clock_given_us = 0;  // batch clock last handed to the worker
    bool done = false;

    core::FrameBatch* next() noexcept {
        if (done || pipeline.stop_requested_.load(std::memory_order_relaxed)) {
            done = true;
            return nullptr;
        }
        core::FrameBatch& batch = *lane.pool.front();
        batch.clear();
        const capture::ReadStatus status = source.read(batch);
        int64_t newest = 0;
        uint64_t bytes = 0;
        for (const core::Frame& frame : batch) {
            newest = std::max(newest, frame.ts_us);
            bytes += frame.caplen;
        }
        FileResult& c = lane.capture;
        if (!batch.empty()) {
            if (c.stats.packets == 0) {
                c.stats.first_ts_us = batch.begin()->ts_us;
            }
            c.stats.last_ts_us = std::max(c.stats.last_ts_us, newest);
            c.stats.packets += batch.size();
            c.stats.bytes += bytes;
            counters.packets.add(batch.size());
            counters.bytes.add(bytes);
            counters.last_packet_ts_us.set(static_cast<uint64_t>(std::max<int64_t>(0, newest)));
            pipeline.stats_.enqueued[lane.index].add(batch.size());
        }
        const int64_t clock = pipeline.advance_live_clock(newest);
        const auto now = Clock::now();
        const bool stats_due = now - last_stats > std::chrono::seconds(1);
        if (stats_due) {
            last_stats = now;
            source.update_stats();
            counters.kernel_drops.set(source.stats().kernel_dropped.load());
            counters.interface_drops.set(source.stats().iface_dropped.load());
        }
        if (status == capture::ReadStatus::kError) {
            c.error = source.error();
            done = true;
            lane.failed.store(true, std::memory_order_release);
            pipeline.request_stop();
            pipeline.stop_sources();
        }
        // A batch carries its own newest time: a worker behind on its ring must not expire
        // flows by the time of packets it has not read yet. A quiet source (read() found
        // nothing, so nothing of it waits) takes the other workers' time about once a
        // second, so that its flows expire as they would behind a dispatcher.
        if (!batch.empty()) {
            clock_given_us = std::max(clock_given_us, newest);
        } else if (stats_due && clock > clock_given_us) {
            clock_given_us = clock;
        } else {
            return nullptr;
        }
        batch.set_clock(clock_given_us);
        return &batch;
    }
    void release(core::FrameBatch& batch) noexcept { batch.clear(); }
    bool closed() const noexcept { return done; }
    void idle(Backoff& /*backoff*/) noexcept {}  // read() already waited for traffic
};

Pipeline::Pipeline(const PipelineOptions& options, const WorkerConfig& worker_config,
                   const std::shared_ptr<const detect::SignatureDb>& signatures,
                   const std::vector<BuiltinRule>& builtin_rules, RecordSink& sink,
                   PipelineStats& stats)
    : options_(options),
      sink_(sink),
      stats_(stats),
      rules_(signatures),
      thresholds_(std::make_shared<detect::ThresholdTable>(worker_config.threshold_entries)),
      xbits_(std::make_shared<detect::XbitTable>(worker_config.xbit_entries)),
      builtin_state_(std::make_shared<detect::BuiltinState>(worker_config.builtin.table_size)) {
    options_.workers = std::clamp<size_t>(options_.workers, 1, kMaxWorkers);
    options_.batches_per_worker = std::max<size_t>(options_.batches_per_worker, 2);
    stats_.worker_count = options_.workers;
    WorkerConfig lane_config = worker_config;
    lane_config.prefetch_frames = options_.prefetch_frames && options_.workers > 1;
    build_lanes(lane_config, signatures, builtin_rules);
    if (options_.workers > 1 && !options_.workers_read_sources) {
        scheduler_ = std::make_unique<PairScheduler>(options_.workers, options_.scheduler_pairs,
                                                     placement_idle_limit_us(worker_config));
        steering_ = std::make_unique<FragmentSteering>(options_.fragment_steering_entries,
                                                       worker_config.decode.defrag_timeout_us);
        if (options_.dispatch_by_flow) {
            hold_ = std::make_unique<FragmentHold>(options_.fragment_hold_frames,
                                                   options_.fragment_hold_bytes,
                                                   worker_config.decode.defrag_timeout_us);
        }
        pin_driver();
        for (auto& lane : lanes_) {
            Lane* l = lane.get();
            l->thread = std::thread([this, l] {
                RingInput input{*l};
                worker_loop(*l, input);
            });
            pin_worker(*l);
        }
        output_thread_ = std::thread([this] { output_loop(); });
    } else {
        pin_driver();
    }
}

void Pipeline::pin_driver() {
    // One worker runs on the driving thread itself.
    const bool pinned_as_worker =
        options_.workers == 1 && !options_.workers_read_sources && !options_.worker_cpus.empty();
    const std::vector<int> mine =
        pinned_as_worker ? std::vector<int>{options_.worker_cpus.front()} : options_.capture_cpus;
    if (mine.empty()) {
        return;
    }
    std::vector<int> before = core::affinity_cpus();
    if (auto pinned = core::pin_this_thread(mine); !pinned) {
        pin_errors_.push_back("capture thread: " + pinned.error().message);
        return;
    }
    driver_cpus_ = std::move(before);
    if (pinned_as_worker) {
        stats_.worker_cpu[0] = mine.front();
    }
}

void Pipeline::pin_worker(Lane& lane) {
    // Threads start with their creator's mask: without worker CPUs of their own, workers get
    // back what the driving thread had before it was pinned.
    std::vector<int> cpus;
    if (!options_.worker_cpus.empty()) {
        cpus.push_back(options_.worker_cpus[lane.index % options_.worker_cpus.size()]);
    } else if (!driver_cpus_.empty()) {
        cpus = driver_cpus_;
    } else {
        return;
    }
    if (auto pinned = core::pin_thread(lane.thread.native_handle(), cpus); !pinned) {
        pin_errors_.push_back("worker " + std::to_string(lane.index) + ": " +
                              pinned.error().message);
        if (!driver_cpus_.empty() && cpus != driver_cpus_) {
            // Unpinned, as said: not left on the capture CPUs it started with.
            (void)core::pin_thread(lane.thread.native_handle(), driver_cpus_);
        }
        return;
    }
    if (!options_.worker_cpus.empty()) {
        stats_.worker_cpu[lane.index] = cpus.front();
    }
}

void Pipeline::build_lanes(const WorkerConfig& worker_config,
                           const std::shared_ptr<const detect::SignatureDb>& signatures,
                           const std::vector<BuiltinRule>& builtin_rules) {
    const size_t n = options_.workers;
    lanes_.resize(n);
    auto build = [&](size_t i) {
        const bool inline_lane = n == 1 && !options_.workers_read_sources;
        // A self-reading worker reads into one batch of its own; its output still queues.
        const size_t batches =
            options_.workers_read_sources ? 1 : (inline_lane ? 1 : options_.batches_per_worker);
        const size_t output_blocks = inline_lane ? 1 : options_.batches_per_worker;
        auto lane = std::make_unique<Lane>(batches, output_blocks, options_.batch_arena_bytes);
        lane->index = i;
        lane->worker = std::make_unique<Worker>(worker_config, signatures, builtin_rules,
                                                thresholds_, xbits_, builtin_state_);
        lanes_[i] = std::move(lane);
    };
    // Workers are built side by side, on up to one thread per core: a worker's flow table is
    // written as it is built (tens of MiB each), and one thread faulting in every worker's
    // pages made start-up grow by about 40 ms per worker (1.05 s instead of 0.47 s with 15
    // workers on the 16-core machine). nDPI's set-up runs one at a time (classifier.cc).
    const size_t builders = std::min<size_t>(n, std::max(1u, std::thread::hardware_concurrency()));
    std::atomic<size_t> next{0};
    std::vector<std::exception_ptr> failures(builders);
    auto builder = [&](size_t b) {
        try {
            for (size_t i = next.fetch_add(1); i < n; i = next.fetch_add(1)) {
                build(i);
            }
        } catch (...) {
            failures[b] = std::current_exception();
            next.store(n);  // the others stop at their next worker
        }
    };
    std::vector<std::thread> threads;
    threads.reserve(builders - 1);
    for (size_t b = 1; b < builders; ++b) {
        threads.emplace_back(builder, b);
    }
    builder(0);
    for (auto& t : threads) {
        t.join();
    }
    for (const auto& failure : failures) {
        if (failure) {
            std::rethrow_exception(failure);
        }
    }
    // One worker working inline has nobody to share the formatting with.
    const bool inline_lane = n == 1 && !options_.workers_read_sources;
    for (auto& lane : lanes_) {
        lane->worker->follow_rules(&rules_);
        if (!inline_lane) {
            lane->worker->format_records_with(sink_.record_formatter());
        }
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
    if (!driver_cpus_.empty()) {
        (void)core::pin_this_thread(driver_cpus_);  // as it was; nothing to report it to
    }
}

std::vector<const Worker*> Pipeline::workers() const {
    std::vector<const Worker*> out;
    for (const auto& lane : lanes_) {
        out.push_back(lane->worker.get());
    }
    return out;
}

void Pipeline::dispatch(core::Frame frame, bool lossless, bool in_place, const DispatchKey* keyed) {
    ++frames_dispatched_;
    clock_us_ = std::max(clock_us_, frame.ts_us);
    frame.clock_us = clock_us_;  // goes with the frame, held or batched: see Frame::clock_us
    size_t target = 0;
    if (lanes_.size() > 1) {
        if (hold_ != nullptr && clock_us_ > hold_->next_expiry_us()) {
            release_held(/*all=*/false, lossless);
        }
        const DispatchKey key =
            keyed != nullptr ? *keyed : dispatch_key(frame, options_.dispatch_by_flow);
        if (key.kind != DispatchKey::Kind::kNone) {
            target = place(key, frame, lossless);
        }
    }
    if (target != kHeld) {
        enqueue(target, frame, lossless, in_place);
    }
    if (lanes_.size() > 1 && clock_us_ >= next_clock_tick_us_) {
        // A replay as fast as it reads lets a worker's frames fill their batch for a while:
        // in a sparse capture a tick would otherwise hand over batches of a frame or two.
        const bool replaying = lossless && options_.speed <= 0;
        hand_clock(kClockTickUs, lossless, replaying ? kReplayFillUs : 0);
    }
}

void Pipeline::enqueue(size_t target, const core::Frame& frame, bool lossless, bool in_place) {
    Lane& lane = *lanes_[target];
    for (int attempt = 0; attempt < 2; ++attempt) {
        if (lane.current == nullptr) {
            if (!lane.empty.pop(lane.current)) {
                if (!lossless) {
                    stats_.ring_full_drops[lane.index].add();  // live: never wait
                    return;
                }
                wait_for_batch(lane);  // replay is lossless: wait for the worker to free one
            }
            lane.current->prefetch_for_filling();
        }
        if (in_place ? lane.current->push_in_place(frame) : lane.current->push(frame)) {
            break;
        }
        if (lane.current->empty() && !in_place) {
            // Longer than a whole batch (a frame over 256 KiB from a file, or a small
            // batch_arena_bytes): cut it to the arena, as a snaplen would, rather than lose it.
            core::Frame cut = frame;
            cut.caplen = static_cast<uint32_t>(lane.current->arena_bytes());
            lane.current->push(cut);
            break;
        }
        flush_lane(lane);  // no room left in this batch's arena
    }
    if (lane.current != nullptr && lane.current->full()) {
        flush_lane(lane);
    }
}

void Pipeline::release_held(bool all, bool lossless) {
    auto place_by_pair = [&](uint64_t datagram, uint64_t pair, const core::Frame& frame) {
        // Its first fragment is late or lost: the datagram goes by its pair, and its later
        // fragments follow (steering), as when a later fragment came first and could not wait.
        size_t target = steering_->find(datagram, clock_us_);
        if (target == FragmentSteering::kNone) {
            target = scheduler_->pick(pair, clock_us_, frame.ts_us,
                                      [this](size_t w) noexcept { return backlog(w); });
            steering_->remember(datagram, target, clock_us_);
        }
        stats_.fragments_placed_without_flow.add();
        enqueue(target, frame, lossless, /*in_place=*/false);
    };
    if (all) {
        hold_->release_all(place_by_pair);
    } else {
        hold_->release_expired(clock_us_, place_by_pair);
    }
    stats_.fragments_waiting.set(hold_->held());
}

void Pipeline::hand_clock(int64_t lag_us, bool lossless, int64_t fill_us) {
    next_clock_tick_us_ = clock_us_ + kClockTickUs;
    for (auto& l : lanes_) {
        Lane& lane = *l;
        // A lane not handed a batch yet has no flows, but may have frames waiting.
        const bool waiting = lane.current != nullptr && !lane.current->empty();
        if (lane.clock_sent_us == kNever ? !waiting : clock_us_ - lane.clock_sent_us < lag_us) {
            continue;
        }
        if (waiting && clock_us_ - (*lane.current)[0].ts_us < fill_us) {
            continue;  // its frames go on filling the batch, which brings the clock later
        }
        hand_over(lane, lossless);
    }
}

void Pipeline::hand_over(Lane& lane, bool lossless) {
    if (lane.current == nullptr && !lane.empty.pop(lane.current)) {
        if (!lossless) {
            return;  // live never waits: this worker's batches are all queued, with clocks
        }
        wait_for_batch(lane);
    }
    flush_lane(lane, /*even_empty=*/true);
}

void Pipeline::wait_for_batch(Lane& lane) {
    const auto start = std::chrono::steady_clock::now();
    Backoff backoff;
    while (!lane.empty.pop(lane.current)) {
        backoff.pause();
    }
    stats_.dispatch_wait_ns[lane.index].add(elapsed_ns(start));
}

void Pipeline::start_timeline(int64_t first_us) {
    // Frames read at the old time go with it (hand_clock skips a lane whose last batch already
    // carried the current time, frames waiting or not), then every worker gets that time, so
    // the old flows end at the same time on every worker.
    if (hold_ != nullptr) {
        release_held(/*all=*/true, /*lossless=*/true);
    }
    flush_all();
    hand_clock(1, /*lossless=*/true);
    ++timeline_;
    clock_us_ = first_us;  // what the new timeline's batches carry, from the first on
    next_clock_tick_us_ = first_us;
    for (auto& lane : lanes_) {
        hand_over(*lane, /*lossless=*/true);
    }
    if (scheduler_ != nullptr) {
        scheduler_->clear();
    }
    if (steering_ != nullptr) {
        steering_->clear();
    }
}

bool Pipeline::reads_ahead() const noexcept {
    switch (options_.read_ahead) {
        case ReadAheadMode::kOn:
            return lanes_.size() > 1;
        case ReadAheadMode::kOff:
            return false;
        case ReadAheadMode::kAuto:
            break;
    }
    return lanes_.size() >= PipelineOptions::kReadAheadWorkers;
}

int64_t Pipeline::placement_idle_limit_us(const WorkerConfig& worker_config) noexcept {
    // A pair may move to another worker only when nothing of it can be left in its old one.
    int64_t idle_limit_us = worker_config.decode.defrag_timeout_us;
    for (uint32_t t : worker_config.flow.timeout_s) {
        idle_limit_us = std::max(idle_limit_us, int64_t{t} * 1'000'000);
    }
    return idle_limit_us + 60'000'000;
}

uint64_t Pipeline::backlog(size_t w) noexcept {
    // With 15 workers a new flow read 15 rings' indices, each a cache line a worker's core had
    // written since: placing by flow, about 0.7 such reads per packet on the bench capture.
    if (!backlogs_read_ || frames_dispatched_ - backlogs_read_at_ >= kBacklogRefreshFrames) {
        for (auto& lane : lanes_) {
            const uint64_t free_batches = lane->empty.read_available();
            lane->in_use_read =
                lane->pool.size() - std::min<uint64_t>(free_batches, lane->pool.size());
            lane->sent_when_read = lane->batches_sent;
        }
        backlogs_read_at_ = frames_dispatched_;
        backlogs_read_ = true;
    }
    const Lane& l = *lanes_[w];
    // Each batch sent since was taken from the free ones (a worker may have handed some back
    // meanwhile: the estimate errs high, for every worker alike).
    const uint64_t in_use =
        std::min<uint64_t>(l.in_use_read + (l.batches_sent - l.sent_when_read), l.pool.size());
    return backlog_measure(in_use, l.current != nullptr ? l.current->size() : 0);
}

size_t Pipeline::place(const DispatchKey& key, const core::Frame& frame, bool lossless) {
    const int64_t packet_us = frame.ts_us;
    const uint64_t unit = options_.dispatch_by_flow && key.flow != 0 ? key.flow : key.pair;
    if (key.kind != DispatchKey::Kind::kFragment) {
        return scheduler_->pick(unit, clock_us_, packet_us,
                                [this](size_t w) noexcept { return backlog(w); });
    }
    // Whichever fragment of a datagram comes first decides for all of them: the first fragment
    // by the inner pair (or flow) it shows (where the rest of that flow goes), a later one by
    // its own layer's pair. Unfragmented packets of the flow go by the same inner pair or
    // flow, so in-order fragments join their flow.
    // Fragments of the datagram still held (placed meanwhile by one that could not wait) go
    // first, in the order they came, so that none is left behind to wait in vain.
    auto release_datagram = [&](size_t target) {
        if (hold_ != nullptr && hold_->held() > 0) {
            hold_->release(key.datagram, [&](const core::Frame& held) {
                enqueue(target, held, lossless, /*in_place=*/false);
            });
            stats_.fragments_waiting.set(hold_->held());
        }
    };
    const size_t known = steering_->find(key.datagram, clock_us_);
    if (known != FragmentSteering::kNone) {
        release_datagram(known);
        return known;
    }
    if (!key.first_fragment && hold_ != nullptr) {
        // Placing by flow, a later fragment came first: its ports are out of sight. It waits
        // for the first fragment, unless it cannot (then it goes by its pair, with whatever
        // of its datagram waits, and may land apart from its flow's other packets).
        if (hold_->hold(key.datagram, key.pair, frame)) {
            stats_.fragments_waited.add();
            stats_.fragments_waiting.set(hold_->held());
            return kHeld;
        }
        stats_.fragments_placed_without_flow.add();
    }
    const size_t target = scheduler_->pick(unit, clock_us_, packet_us,
                                           [this](size_t w) noexcept { return backlog(w); });
    steering_->remember(key.datagram, target, clock_us_);
    release_datagram(target);
    return target;
}

void Pipeline::flush_lane(Lane& lane, bool even_empty) {
    if (lane.current == nullptr || (lane.current->empty() && !even_empty)) {
        return;
    }
    lane.current->set_clock(clock_us_);
    lane.current->set_timeline(timeline_);
    lane.clock_sent_us = clock_us_;
    stats_.enqueued[lane.index].add(lane.current->size());
    if (scheduler_ != nullptr) {
        stats_.pairs_least_loaded.set(scheduler_->placed_least_loaded());
        stats_.pairs_by_hash.set(scheduler_->placed_by_hash());
        stats_.pair_table_overflows.set(scheduler_->overflows());
    }
    if (steering_ != nullptr) {
        stats_.fragment_steering_evictions.set(steering_->evictions());
    }
    if (lanes_.size() == 1) {
        // Inline: process on this thread and reuse the same batch.
        lane.worker->process(*lane.current);
        write_output(lane.worker->output());
        lane.current->clear();
        lane.batches_done.store(++lane.batches_sent, std::memory_order_relaxed);
        return;
    }
    Backoff backoff;
    while (!lane.filled.push(lane.current)) {
        backoff.pause();
    }
    ++lane.batches_sent;
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
        if (lanes_.size() > 1) {
            // Also for a lane with nothing to flush: its gauge was last set as a batch was
            // queued, and a quiet link queues none.
            stats_.ring_depth[lane->index].set(lane->filled.read_available());
        }
    }
}

void Pipeline::publish(Lane& lane, bool at_end) {
    WorkerOutput& out = lane.worker->output();
    if (out.alerts.empty() && out.flows.empty()) {
        return;
    }
    WorkerOutput* block = nullptr;
    if (!lane.free_outputs.pop(block)) {
        // The output thread is behind. Live, a worker that waited here would stop taking
        // batches, and the capture would drop frames instead: drop the records, counted.
        const auto start = std::chrono::steady_clock::now();
        Backoff wait;
        while (!lane.free_outputs.pop(block)) {
            if (!at_end && drop_full_output_.load(std::memory_order_relaxed)) {
                stats_.alerts_queue_drops[lane.index].add(out.alerts.size());
                stats_.flows_queue_drops[lane.index].add(out.flows.size());
                out.clear();
                return;
            }
            wait.pause();  // lossless
        }
        stats_.output_wait_ns[lane.index].add(elapsed_ns(start));
    }
    // The output thread left the packet buffers of the block's last alerts in it.
    out.take_spares_from(*block);
    std::swap(block->alerts, out.alerts);
    std::swap(block->flows, out.flows);
    std::swap(block->alert_lines, out.alert_lines);
    std::swap(block->alert_line_ends, out.alert_line_ends);
    std::swap(block->flow_lines, out.flow_lines);
    std::swap(block->flow_line_ends, out.flow_line_ends);
    lane.outputs.push(block);  // cannot fail: as many slots as blocks
}

template <class Input>
void Pipeline::worker_loop(Lane& lane, Input& input) {
    Backoff backoff;
    for (;;) {
        if (core::FrameBatch* batch = input.next()) {
            lane.worker->process(*batch);
            input.release(*batch);
            publish(lane, /*at_end=*/false);
            if (options_.after_batch) {
                options_.after_batch(lane.index);
            }
            backoff.reset();
            continue;
        }
        if (input.closed()) {
            lane.worker->finish();
            publish(lane, /*at_end=*/true);
            lane.cpu_s = core::thread_cpu_seconds();
            lane.finished.store(true, std::memory_order_release);
            return;
        }
        input.idle(backoff);
    }
}

int64_t Pipeline::advance_live_clock(int64_t ts_us) noexcept {
    int64_t current = live_clock_us_.load(std::memory_order_relaxed);
    while (ts_us > current &&
           !live_clock_us_.compare_exchange_weak(current, ts_us, std::memory_order_relaxed)) {
    }
    return std::max(current, ts_us);
}

void Pipeline::stop_sources() noexcept {
    for (capture::BatchSource* source : sources_) {
        source->break_loop();
    }
}

void Pipeline::output_loop() {
    // Up to 1 ms: alerts wait at most that long, and a worker fills its output blocks (one
    // per batch of its ring) only after as many batches.
    Backoff backoff(std::chrono::milliseconds(1));
    for (;;) {
        bool progress = false;
        bool all_finished = true;
        for (auto& lane : lanes_) {
            bool finished = lane->finished.load(std::memory_order_acquire);
            WorkerOutput* block = nullptr;
            while (lane->outputs.pop(block)) {
                const auto start = std::chrono::steady_clock::now();
                write_output(*block);
                lane->free_outputs.push(block);
                stats_.output_busy_ns.add(elapsed_ns(start));
                progress = true;
            }
            all_finished = all_finished && finished;
        }
        if (all_finished && !progress) {
            output_cpu_s_ = core::thread_cpu_seconds();
            return;
        }
        if (progress) {
            backoff.reset();
        } else {
            backoff.pause();
        }
    }
}

namespace {

// Calls take(i, line) for each of `count` records: line is the worker's line of record i, empty
// where it made none (no formatter, or out of memory), and the sink then formats the record.
template <class Take>
void for_each_line(size_t count, std::string_view text, const std::vector<uint32_t>& ends,
                   Take&& take) {
    const bool lines = ends.size() == count;
    size_t start = 0;
    for (size_t i = 0; i < count; ++i) {
        const size_t end = lines ? ends[i] : start;
        if (end > start && end <= text.size()) {
            take(i, text.substr(start, end - start));
            start = end;
        } else {
            take(i, std::string_view());
        }
    }
}

}  // namespace

void Pipeline::write_output(WorkerOutput& out) {
    for_each_line(out.alerts.size(), out.alert_lines, out.alert_line_ends,
                  [&](size_t i, std::string_view line) {
                      const core::AlertRecord& a = out.alerts[i];
                      if (line.empty() ? sink_.alert(a) : sink_.alert_formatted(a, line)) {
                          count_written_alert(stats_, a);
                      } else {
                          stats_.alerts_output_failed.add();
                      }
                  });
    for_each_line(out.flows.size(), out.flow_lines, out.flow_line_ends,
                  [&](size_t i, std::string_view line) {
                      if (line.empty()) {
                          sink_.flow(out.flows[i]);
                      } else {
                          sink_.flow_formatted(out.flows[i], line);
                      }
                  });
    out.clear();
}

ReplayResult Pipeline::replay(const std::vector<std::string>& files, const ReplayHooks& hooks) {
    using Clock = std::chrono::steady_clock;
    ReplayResult result;
    const auto start = Clock::now();
    const double start_cpu_s = core::thread_cpu_seconds();
    auto last_progress = start;
    bool dispatched_any = false;
    for (size_t i = 0; i < files.size(); ++i) {
        FileResult file_result;
        file_result.path = files[i];
        SourceCounters* counters = i < kMaxSources ? &stats_.sources[i] : nullptr;
        const bool filtering = !options_.bpf_filter.empty();  // else nothing to count per packet
        auto reader = capture::PcapFileReader::open(
            files[i], static_cast<uint32_t>(i),
            options_.map_files ? capture::FileAccess::kMapped : capture::FileAccess::kLibpcap,
            options_.bpf_filter);
        if (!reader) {
            file_result.error = reader.error().message;
            result.read_error = true;
            if (hooks.on_error) {
                hooks.on_error(file_result.error);
            }
            result.files.push_back(std::move(file_result));
            continue;
        }
        drop_finished_files();
        capture::ReadStatus status = capture::ReadStatus::kOk;
        uint64_t file_packets = 0;
        uint64_t file_bytes = 0;
        bool first_of_file = true;
        const bool in_place = (*reader)->mapped();
        if (in_place && lanes_.size() > 1) {
            // The dispatcher is what limits many workers: the mapping's upkeep goes to a
            // thread of its own. One worker runs on this thread and keeps it here: the whole
            // replay then runs on one thread, as the peers it is compared with do.
            (*reader)->keep_mapping_in_background();
        }
        next_release_offset_ = kReleaseStepBytes;
        // However this file's turn ends (its end, a stop, a read error, or an exception out of
        // a hook), a mapped file waits for the workers: the destructor joins them before
        // retired_files_ goes.
        struct RetireMapped {
            Pipeline& pipeline;
            std::unique_ptr<capture::PcapFileReader>& reader;
            ~RetireMapped() {
                if (reader != nullptr && reader->mapped()) {
                    pipeline.retire(std::move(reader));
                }
            }
        } retire_mapped{*this, *reader};
        // Declared after retire_mapped: its reading thread ends before the file retires.
        std::unique_ptr<ReadAhead> read_ahead;
        if (in_place && options_.speed <= 0 && reads_ahead()) {
            read_ahead = ReadAhead::start(**reader, options_.dispatch_by_flow, stop_requested_);
        }
        // What happens to each packet read, whichever thread read and keyed it (key: null
        // when not keyed yet). end_offset: a mapped file's offset past the packet.
        auto take = [&](const core::Frame& frame, const DispatchKey* key, uint64_t end_offset) {
            if (first_of_file && dispatched_any && frame.ts_us < clock_us_) {
                start_timeline(frame.ts_us);
            }
            first_of_file = false;
            dispatched_any = true;
            if (options_.speed > 0) {
                pace(frame.ts_us);
            }
            dispatch(frame, /*lossless=*/true, in_place, key);
            ++file_packets;
            file_bytes += frame.caplen;
            if (in_place && end_offset >= next_release_offset_) {
                // 0: the workers are past nothing new yet. The reading thread owns the reader
                // while it runs, so it does the releasing then.
                if (const uint64_t release_to = release_mapped(end_offset); release_to != 0) {
                    if (read_ahead != nullptr) {
                        read_ahead->release_before(release_to);
                    } else {
                        (*reader)->release_before(release_to);
                    }
                }
            }
            if (counters != nullptr) {
                counters->packets.add();
                counters->bytes.add(frame.caplen);
                counters->last_packet_ts_us.set(static_cast<uint64_t>(clock_us_));
            }
            if (hooks.progress && (file_packets & 0x3ff) == 0) {
                auto now = Clock::now();
                if (now - last_progress > std::chrono::milliseconds(500)) {
                    last_progress = now;
                    hooks.progress(result.packets + file_packets, result.bytes + file_bytes,
                                   std::chrono::duration<double>(now - start).count());
                }
            }
        };
        if (read_ahead != nullptr) {
            for (bool last = false; !last;) {
                ReadAhead::Chunk& chunk = read_ahead->next();
                for (size_t k = 0; k < chunk.count; ++k) {
                    const KeyedFrame& keyed = chunk.frames[k];
                    take(keyed.frame, &keyed.key, keyed.end_offset);
                }
                if (counters != nullptr && filtering) {
                    counters->filtered.set(chunk.filtered);
                }
                last = chunk.last;
                status = chunk.status;
                read_ahead->recycle(chunk);
            }
            read_ahead->join();  // the reader is this thread's again
            result.capture_reader_cpu_s += read_ahead->reader_cpu_s();
            result.reader_waited_s += read_ahead->reader_waited_s();
            result.capture_waited_for_reader_s += read_ahead->capture_waited_s();
        } else {
            core::Frame frame;
            while (!stop_requested_.load(std::memory_order_relaxed)) {
                status = (*reader)->next(frame);
                if (status != capture::ReadStatus::kOk) {
                    break;
                }
                take(frame, nullptr, in_place ? (*reader)->offset() : 0);
                if (counters != nullptr && filtering) {
                    counters->filtered.set((*reader)->stats().filtered);
                }
            }
        }
        // Nothing more to map ahead; what the workers still use stays mapped until retired.
        result.capture_helper_cpu_s += (*reader)->stop_keeping_mapping();
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
        if (counters != nullptr) {
            counters->filtered.set(file_result.stats.filtered);  // those after the last packet
        }
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
    retired_files_.clear();  // every worker has ended
    result.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    record_thread_cpu(result, start_cpu_s);
    return result;
}

void Pipeline::progress_marks(std::vector<uint64_t>& marks) const {
    marks.clear();
    for (const auto& lane : lanes_) {
        const bool waiting = lane->current != nullptr && !lane->current->empty();
        marks.push_back(lane->batches_sent + (waiting ? 1 : 0));
    }
}

bool Pipeline::lanes_past(const std::vector<uint64_t>& marks) const noexcept {
    for (size_t i = 0; i < lanes_.size(); ++i) {
        if (lanes_[i]->batches_done.load(std::memory_order_acquire) < marks[i]) {
            return false;
        }
    }
    return true;
}

uint64_t Pipeline::release_mapped(uint64_t offset) {
    next_release_offset_ = offset + kReleaseStepBytes;
    uint64_t release_to = 0;
    if (mapped_mark_.set && lanes_past(mapped_mark_.marks)) {
        release_to = mapped_mark_.offset;
        mapped_mark_.set = false;
    }
    if (!mapped_mark_.set) {
        mapped_mark_.set = true;
        mapped_mark_.offset = offset;
        progress_marks(mapped_mark_.marks);  // reuses the vector: no allocation after the first
    }
    drop_finished_files();
    return release_to;
}

void Pipeline::retire(std::unique_ptr<capture::PcapFileReader> reader) {
    mapped_mark_.set = false;
    RetiredFile retired{std::move(reader), {}};
    progress_marks(retired.marks);
    retired_files_.push_back(std::move(retired));
    drop_finished_files();
}

void Pipeline::drop_finished_files() {
    // Files retire in order and workers finish batches in order, so the oldest goes first.
    auto done = retired_files_.begin();
    while (done != retired_files_.end() && lanes_past(done->marks)) {
        ++done;
    }
    retired_files_.erase(retired_files_.begin(), done);
}

void Pipeline::record_thread_cpu(ReplayResult& result, double start_cpu_s) const {
    result.capture_cpu_s = core::thread_cpu_seconds() - start_cpu_s;
    if (lanes_.size() == 1 && !options_.workers_read_sources) {
        return;  // inline: the worker ran on this thread
    }
    for (const auto& lane : lanes_) {
        result.worker_cpu_s.push_back(lane->cpu_s);
    }
    result.output_cpu_s = output_cpu_s_;
}

void Pipeline::finish_run() {
    if (hold_ != nullptr) {
        release_held(/*all=*/true, /*lossless=*/true);
    }
    flush_all();
    if (lanes_.size() == 1) {
        lanes_[0]->worker->finish();
        write_output(lanes_[0]->worker->output());
    } else {
        // Every worker expires by the last packet time before it ends its flows, as one worker
        // alone would: a flow that timed out ends as a timeout, not at shutdown.
        hand_clock(1, /*lossless=*/true);
        for (auto& lane : lanes_) {
            lane->input_closed.store(true, std::memory_order_release);
        }
        for (auto& lane : lanes_) {
            lane->thread.join();
            stats_.ring_depth[lane->index].set(lane->filled.read_available());  // drained: 0
        }
        output_thread_.join();
    }
    sink_.flush();
}

ReplayResult Pipeline::run_live(capture::BatchSource& source, const ReplayHooks& hooks) {
    using Clock = std::chrono::steady_clock;
    ReplayResult result;
    const auto start = Clock::now();
    const double start_cpu_s = core::thread_cpu_seconds();
    auto last_stats = start;
    auto last_progress = start;
    SourceCounters& counters = stats_.sources[0];
    core::FrameBatch batch;
    FileResult file_result;
    file_result.path = source.iface();
    drop_full_output_.store(true, std::memory_order_relaxed);
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
    // The capture stopped: the batches still queued lose nothing by waiting for the output.
    drop_full_output_.store(false, std::memory_order_relaxed);
    finish_run();
    result.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    record_thread_cpu(result, start_cpu_s);
    return result;
}

ReplayResult Pipeline::run_sources(const std::vector<capture::BatchSource*>& sources,
                                   const ReplayHooks& hooks) {
    using Clock = std::chrono::steady_clock;
    ReplayResult result;
    const auto start = Clock::now();
    const double start_cpu_s = core::thread_cpu_seconds();
    if (!options_.workers_read_sources || sources.size() != lanes_.size()) {
        result.read_error = true;
        if (hooks.on_error) {
            hooks.on_error("pipeline: " + std::to_string(sources.size()) + " source(s) for " +
                           std::to_string(lanes_.size()) +
                           " worker(s) that read their own (one each needed)");
        }
        return result;
    }
    sources_ = sources;
    drop_full_output_.store(true, std::memory_order_relaxed);
    for (size_t i = 0; i < lanes_.size(); ++i) {
        Lane* lane = lanes_[i].get();
        capture::BatchSource* source = sources[i];
        lane->capture.path = source->iface();
        lane->thread = std::thread([this, lane, source] {
            lane->pinned.wait(false, std::memory_order_acquire);
            SourceInput input{*this, *lane, *source, stats_.sources[lane->index]};
            worker_loop(*lane, input);
        });
        pin_worker(*lane);
        lane->pinned.store(true, std::memory_order_release);
        lane->pinned.notify_one();
    }
    output_thread_ = std::thread([this] { output_loop(); });

    std::vector<bool> reported(lanes_.size(), false);
    auto report_failures = [&] {
        for (size_t i = 0; i < lanes_.size(); ++i) {
            if (!reported[i] && lanes_[i]->failed.load(std::memory_order_acquire)) {
                reported[i] = true;
                if (hooks.on_error) {
                    // Written before failed was set, and not touched after.
                    hooks.on_error(lanes_[i]->capture.error);
                }
            }
        }
    };
    auto last_progress = start;
    for (;;) {
        const bool all_finished = std::all_of(lanes_.begin(), lanes_.end(), [](const auto& l) {
            return l->finished.load(std::memory_order_acquire);
        });
        report_failures();
        if (all_finished) {
            break;
        }
        const auto now = Clock::now();
        if (hooks.progress && now - last_progress > std::chrono::milliseconds(500)) {
            last_progress = now;
            uint64_t packets = 0;
            uint64_t bytes = 0;
            for (size_t i = 0; i < lanes_.size(); ++i) {
                packets += stats_.sources[i].packets.load();
                bytes += stats_.sources[i].bytes.load();
            }
            hooks.progress(packets, bytes, std::chrono::duration<double>(now - start).count());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (auto& lane : lanes_) {
        lane->thread.join();
    }
    output_thread_.join();
    sink_.flush();

    for (size_t i = 0; i < lanes_.size(); ++i) {
        Lane& lane = *lanes_[i];
        // The worker threads are joined: this thread may query their sources now.
        sources[i]->update_stats();
        stats_.sources[i].kernel_drops.set(sources[i]->stats().kernel_dropped.load());
        stats_.sources[i].interface_drops.set(sources[i]->stats().iface_dropped.load());
        const capture::SourceStats& st = lane.capture.stats;
        if (st.packets > 0) {
            if (result.packets == 0 || st.first_ts_us < result.first_ts_us) {
                result.first_ts_us = st.first_ts_us;
            }
            result.last_ts_us = std::max(result.last_ts_us, st.last_ts_us);
        }
        result.packets += st.packets;
        result.bytes += st.bytes;
        result.read_error = result.read_error || !lane.capture.error.empty();
        result.files.push_back(lane.capture);
    }
    sources_.clear();
    result.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    record_thread_cpu(result, start_cpu_s);
    return result;
}

}  // namespace sensor::pipeline
