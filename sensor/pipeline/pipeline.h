#pragma once
// Pipeline: capture -> dispatch -> N workers -> one output thread. The capture thread (the
// caller of replay()) reads packets and copies each one straight into a preallocated batch
// of the worker that owns its flow: placed by its innermost IP address pair (tunnels peeled,
// DispatchKey), symmetric so both directions meet, with the fragments of each datagram kept
// together (FragmentSteering). Full batches travel to
// workers over Boost.Lockfree SPSC rings and come back empty over a second ring; worker
// output (alerts, flow records) travels to the output thread the same way. Replay is
// lossless: the reader waits when a ring is full. With one worker everything runs inline
// on the calling thread.
//
// Live capture with one source per worker (run_sources, AF_PACKET fanout) skips the capture
// thread and the dispatch rings: each worker thread reads its own source into its own batch
// and runs the same per-batch code (worker_loop) as a ring-fed worker.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "capture/batch_source.h"
#include "capture/live_source.h"
#include "capture/pcap_file_reader.h"
#include "sensor/decode/decoder.h"
#include "sensor/detect/threshold_table.h"
#include "sensor/detect/xbit_table.h"
#include "sensor/pipeline/dispatch_key.h"
#include "sensor/pipeline/fragment_hold.h"
#include "sensor/pipeline/fragment_steering.h"
#include "sensor/pipeline/pair_scheduler.h"
#include "sensor/pipeline/pipeline_stats.h"
#include "sensor/pipeline/read_ahead.h"
#include "sensor/pipeline/replay.h"
#include "sensor/pipeline/rule_exchange.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline {

struct PipelineOptions {
    size_t workers = 1;
    // Preallocated FrameBatches per worker (ring depth). Deep enough to ride out a burst of
    // one heavy conversation on one worker while the others keep the reader busy: with 16,
    // two workers on two cores waited on each other for a fifth of the run
    // (docs/performance.md, section 2a).
    size_t batches_per_worker = 128;
    size_t batch_arena_bytes = core::FrameBatch::kDefaultArenaBytes;
    double speed = 0;  // replay pacing: 0 = as fast as possible, 1 = capture timing, 2 = 2x
    // Address pairs the scheduler keeps placed (PairScheduler); more are placed by hash.
    size_t scheduler_pairs = 262144;
    // Fragmented datagrams whose worker the dispatcher remembers (FragmentSteering).
    size_t fragment_steering_entries = 16384;
    // What the dispatcher places on one worker: false, an address pair (all its flows and
    // fragments); true, a flow (its 5-tuple; other packets, ICMP for one, by their pair). With
    // flows, a heavy pair spreads over workers; per-pair and per-host state does not follow
    // (docs/performance.md, "Placing flows instead of pairs").
    bool dispatch_by_flow = false;
    // Placing by flow: later fragments that arrive before their datagram's first fragment wait
    // for it in the capture thread (FragmentHold): at most this many frames of at most
    // fragment_hold_bytes each, for as long as reassembly would wait.
    size_t fragment_hold_frames = 64;
    size_t fragment_hold_bytes = 16384;
    // Workers read their own sources (run_sources) instead of dispatch rings; replay() and
    // run_live() are then unavailable.
    bool workers_read_sources = false;
    // replay(): read classic pcap files through a mapping and hand their packets to workers
    // in place (capture::FileAccess::kMapped); false: libpcap reads them and they are copied.
    bool map_files = true;
    // replay(), mapped files, several workers, no pacing: a second thread reads and keys the
    // packets ahead of the capture thread, which places them (ReadAhead). kAuto: with
    // kReadAheadWorkers workers or more, where one capture thread doing all of it is what
    // limits the replay.
    ReadAheadMode read_ahead = ReadAheadMode::kAuto;
    static constexpr size_t kReadAheadWorkers = 4;
    // Several workers: each asks for the next frame's bytes while it processes one
    // (WorkerConfig::prefetch_frames).
    bool prefetch_frames = true;
    // CPU pinning (threading.worker-cpus and threading.capture-cpus). Worker i runs only on
    // worker_cpus[i % size]. Every other thread of the run (the thread that builds and drives
    // the pipeline, the capture stage's second thread, the output thread, a mapped file's
    // helper, and whatever that thread starts while the pipeline lives) runs only on
    // capture_cpus. With one worker, which runs on the capture thread, that thread takes
    // worker_cpus[0]. Empty: not pinned. The driving thread's own mask comes back when the
    // pipeline is destroyed.
    std::vector<int> worker_cpus;
    std::vector<int> capture_cpus;
    // replay(): libpcap filter applied to every file (capture::PcapFileReader::set_filter).
    std::string bpf_filter;
    // Tests: called on a worker's thread after each batch it processed and handed back, with
    // the worker's index (a slow or stalled worker). Not called for an inline worker.
    std::function<void(size_t worker)> after_batch;
};

class Pipeline {
public:
    Pipeline(const PipelineOptions& options, const WorkerConfig& worker_config,
             const std::shared_ptr<const detect::SignatureDb>& signatures,
             const std::vector<BuiltinRule>& builtin_rules, RecordSink& sink, PipelineStats& stats);
    ~Pipeline();
    Pipeline(const Pipeline&) = delete;
    Pipeline& operator=(const Pipeline&) = delete;

    // Reads every file in order and processes it to the end (flows flushed, outputs drained).
    // Lossless: the reader waits for full rings, and workers for the output.
    ReplayResult replay(const std::vector<std::string>& files, const ReplayHooks& hooks);

    // Captures from a live interface until request_stop(). Never waits on a full ring: the
    // frame is dropped and counted (ring_full_drops), so the kernel ring keeps draining. Nor
    // does a worker wait on the output while the capture runs: when the output thread is
    // behind, the worker drops that batch's records and counts them (alerts_queue_drops,
    // flows_queue_drops). Kernel drops are copied into PipelineStats about once a second.
    ReplayResult run_live(capture::BatchSource& source, const ReplayHooks& hooks);

    // Live capture where worker i reads sources[i] on its own thread (one AF_PACKET fanout
    // member each), until request_stop() or a source fails (which stops every worker).
    // Needs workers_read_sources and one source per worker; the sources must outlive the
    // call. Source i counts in PipelineStats::sources[i] and enqueued[i]; there are no
    // ring drops. Outputs are dropped as in run_live(). The calling thread only reports
    // progress and waits.
    ReplayResult run_sources(const std::vector<capture::BatchSource*>& sources,
                             const ReplayHooks& hooks);

    // Asks replay(), run_live() or run_sources() to stop reading at the next packet (signal
    // handling); what was read is still processed and flushed.
    void request_stop() noexcept { stop_requested_.store(true, std::memory_order_relaxed); }

    // Hands a rule set compiled off the packet path to every worker (control thread).
    void publish_rules(std::shared_ptr<const detect::SignatureDb> db) {
        rules_.publish(std::move(db));
    }
    uint64_t rules_generation() const noexcept { return rules_.generation(); }
    std::shared_ptr<const detect::SignatureDb> current_rules() const { return rules_.current(); }

    std::vector<const Worker*> workers() const;
    // Threshold state shared by every worker.
    const detect::ThresholdTable& thresholds() const noexcept { return *thresholds_; }
    // Xbits shared by every worker.
    const detect::XbitTable& xbits() const noexcept { return *xbits_; }
    // Fragment placement with several ring-fed workers; nullptr otherwise. Capture thread, or
    // after the run.
    const FragmentSteering* fragment_steering() const noexcept { return steering_.get(); }
    size_t worker_count() const noexcept { return lanes_.size(); }
    // What CPU pinning could not do (the kernel refused a CPU list), one message each; the
    // threads concerned run unpinned. Pinned CPUs are in PipelineStats::worker_cpu.
    const std::vector<std::string>& pin_errors() const noexcept { return pin_errors_; }

    // How long a pair (or flow) must have been idle, in packet time, before the scheduler may
    // move it: every flow and fragment timeout of worker_config, with a minute to spare.
    static int64_t placement_idle_limit_us(const WorkerConfig& worker_config) noexcept;
    // A worker's backlog as the scheduler compares them: batches it has not handed back, then
    // frames in the batch being filled. Public, as the timing below, for bench/placement's
    // replay model.
    static constexpr uint64_t backlog_measure(uint64_t batches_in_use,
                                              size_t frames_filling) noexcept {
        return (batches_in_use << 20) + frames_filling;
    }
    // The dispatcher's timing.
    // backlog() reads the workers' rings at most once every kBacklogRefreshFrames frames.
    static constexpr uint64_t kBacklogRefreshFrames = 256;
    // Each worker's last batch carries the capture clock at most this far behind (hand_clock).
    static constexpr int64_t kClockTickUs = 1'000'000;
    // Replay: how long (capture time) a worker's frames may wait in the batch being filled.
    // Shorter than every flow timeout, so a quiet worker still ends its flows about when one
    // worker alone would; long enough that a sparse capture (the bench capture: 39 packets a
    // second) fills batches instead of handing over one or two frames a second to each worker.
    static constexpr int64_t kReplayFillUs = 10'000'000;

private:
    struct Lane;
    // CPU pinning: the driving thread (from the constructor on), and a worker's thread as it
    // starts.
    void pin_driver();
    void pin_worker(Lane& lane);
    // Creates the lanes and their workers, several at once.
    void build_lanes(const WorkerConfig& worker_config,
                     const std::shared_ptr<const detect::SignatureDb>& signatures,
                     const std::vector<BuiltinRule>& builtin_rules);
    struct RingInput;
    struct SourceInput;
    // in_place: the frame's bytes outlive its batch (a mapped file), so they are not copied.
    // keyed: the frame's DispatchKey, when a ReadAhead thread made it; null: made here.
    void dispatch(core::Frame frame, bool lossless = true, bool in_place = false,
                  const DispatchKey* keyed = nullptr);
    // Whether replay() reads mapped files on a ReadAhead thread (PipelineOptions::read_ahead).
    bool reads_ahead() const noexcept;
    // The worker of a frame; kHeld when the frame waits in hold_ for its datagram's first
    // fragment. Releases the frames held for a first fragment's datagram to its worker.
    static constexpr size_t kHeld = SIZE_MAX;
    // How far behind worker w is: batches it has not handed back yet (queued, being filled or
    // being processed), then frames in the batch being filled. The batches a worker handed back
    // are read from its ring at most once every kBacklogRefreshFrames frames dispatched (a
    // cache line the worker's core writes), and counted from the batches sent since.
    uint64_t backlog(size_t w) noexcept;
    size_t place(const DispatchKey& key, const core::Frame& frame, bool lossless);
    // Puts frame into the batch of lanes_[target], flushing that batch when full.
    void enqueue(size_t target, const core::Frame& frame, bool lossless, bool in_place);
    // Held fragments whose first fragment is late (all: the end of the input or of a
    // timeline) go by their address pair, and their datagrams' later fragments follow.
    void release_held(bool all, bool lossless);
    void finish_run();
    // After the worker and output threads ended: their CPU time and the caller's since
    // start_cpu_s.
    void record_thread_cpu(ReplayResult& result, double start_cpu_s) const;
    void pace(int64_t ts_us);
    // Hands the batch being filled to its worker, with the capture clock; an empty one only
    // when even_empty (a batch that carries just the clock).
    void flush_lane(Lane& lane, bool even_empty = false);
    void flush_all();
    // Ring-fed workers learn the capture's time from the batches they get. Each worker whose
    // last batch carried a clock lag_us or more behind gets one now (empty if nothing waits for
    // it): a worker whose pairs went quiet expires their flows when one worker alone would,
    // and frames of a worker with little traffic wait for it no longer than a tick of capture
    // time. lossless: wait for a free batch, else skip a worker that has none. fill_us: a
    // worker with frames waiting gets them (and the clock) only once the first of them is that
    // much behind the clock, so that a sparse capture's batches fill (replay).
    void hand_clock(int64_t lag_us, bool lossless, int64_t fill_us = 0);
    // Hands the lane's batch over even if empty, first taking a free one if it has none
    // (lossless: waiting for one; else giving up when there is none).
    void hand_over(Lane& lane, bool lossless);
    // Replay: waits until the worker frees a batch, timing the wait (dispatch_wait_ns).
    void wait_for_batch(Lane& lane);
    // A file begins at first_us, before the time already read: every worker gets the old
    // clock, then a batch of a new timeline (FrameBatch::timeline), which ends its flows; the
    // capture clock and the placements start over. Flows then do not depend on the number of
    // workers, which they would if old flows met new packets' times at batch ends.
    void start_timeline(int64_t first_us);
    // The one loop of every worker thread: Input hands over batches (ring or own source).
    template <class Input>
    void worker_loop(Lane& lane, Input& input);
    // Hands the worker's records to the output thread. Waits for a free output block unless
    // live capture runs (drop_full_output_) and this is not the worker's last output (at_end),
    // where it drops and counts them instead.
    void publish(Lane& lane, bool at_end);
    int64_t advance_live_clock(int64_t ts_us) noexcept;
    void stop_sources() noexcept;
    void output_loop();
    void write_output(WorkerOutput& out);

    // Packets of a mapped file travel to workers in place (no copy), so its pages must stay
    // mapped until every worker has processed the batches that point into them. Marks say
    // how far: for each lane, the number of batches that hold every frame handed over so far.
    void progress_marks(std::vector<uint64_t>& marks) const;
    bool lanes_past(const std::vector<uint64_t>& marks) const noexcept;
    // Every kReleaseStepBytes of a mapped file (offset: past the last frame dispatched): sets
    // a new mark, and returns the offset of the last mark the workers have passed, before
    // which the mapping may go (0: none yet).
    uint64_t release_mapped(uint64_t offset);
    // A mapped file read to its end waits here until the workers are past it.
    void retire(std::unique_ptr<capture::PcapFileReader> reader);
    void drop_finished_files();
    // Small enough that a mapped file adds a few MiB to the resident set, large enough that the
    // check is rare (about every 12,000 packets of the bench capture).
    static constexpr uint64_t kReleaseStepBytes = uint64_t{4} << 20;

    PipelineOptions options_;
    RecordSink& sink_;
    PipelineStats& stats_;
    RuleExchange rules_;
    std::shared_ptr<detect::ThresholdTable> thresholds_;
    std::shared_ptr<detect::XbitTable> xbits_;
    std::shared_ptr<detect::BuiltinState> builtin_state_;
    std::vector<std::unique_ptr<Lane>> lanes_;
    // CPU pinning: the driving thread's mask before the pipeline pinned it (empty: not
    // pinned), and what could not be pinned.
    std::vector<int> driver_cpus_;
    std::vector<std::string> pin_errors_;
    std::unique_ptr<PairScheduler> scheduler_;    // with several workers
    std::unique_ptr<FragmentSteering> steering_;  // with several workers
    std::unique_ptr<FragmentHold> hold_;          // with several workers, placing by flow
    struct MappedMark {
        bool set = false;
        uint64_t offset = 0;
        std::vector<uint64_t> marks;
    };
    struct RetiredFile {
        std::unique_ptr<capture::PcapFileReader> reader;
        std::vector<uint64_t> marks;
    };
    MappedMark mapped_mark_;
    uint64_t next_release_offset_ = 0;
    std::vector<RetiredFile> retired_files_;
    int64_t clock_us_ = 0;
    uint64_t frames_dispatched_ = 0;
    uint64_t backlogs_read_at_ = 0;  // frames_dispatched_ when backlog() last read the rings
    bool backlogs_read_ = false;
    int64_t next_clock_tick_us_ = 0;  // capture time of the next hand_clock() from dispatch()
    uint32_t timeline_ = 0;           // see start_timeline()
    bool pace_started_ = false;
    int64_t pace_first_ts_us_ = 0;
    std::chrono::steady_clock::time_point pace_wall_start_;
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> workers_done_{false};
    // While run_live() or run_sources() captures: workers drop records the output cannot take.
    std::atomic<bool> drop_full_output_{false};
    // run_sources: the sources, and the newest packet time any worker has read (workers
    // expire flows by it, as ring-fed workers do by the dispatcher's clock).
    std::vector<capture::BatchSource*> sources_;
    std::atomic<int64_t> live_clock_us_{0};
    std::thread output_thread_;
    double output_cpu_s_ = 0;  // written by the output thread as it ends, read after join
};

}  // namespace sensor::pipeline
