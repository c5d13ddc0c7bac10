#pragma once
// Reassembler: one per worker, never shared. Holds the TCP payload of the flows the app layer
// parses as a stream, hands each direction's bytes over in sequence order and, in Suricata's
// IDS timing, only once the other side has acknowledged them. Bytes live in a fixed pool of
// blocks sized at construction (stream.reassembly.memcap); nothing is allocated per packet.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <span>
#include <vector>

#include "sensor/core/counter.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/flow/flow_table.h"

namespace sensor::flow {

struct ReassemblyConfig {
    // Bytes of the pool per worker: held payload blocks and the per-flow stream entries.
    // 0 turns holding off: every flow is parsed on arrival, in arrival order.
    size_t memcap_bytes = size_t{32} << 20;
    uint32_t max_flows = 65536;  // flow slots of the worker's FlowTable
    // Suricata's IDS timing, for the app layer: a direction's bytes wait for the other side's
    // acknowledgement once that side is seen acknowledging. false: bytes go as soon as they
    // are in order and only segments ahead of a missing one wait (payload inspection, which
    // keeps the packets' own timing); a hole is given up once the receiver acknowledges past
    // it, after kReassemblyHoleSegments further segments, or when the flow ends.
    bool wait_for_ack = true;
};

// A direction holds at most kReassemblyWindowBytes past its first undelivered byte; more is
// delivered before it is acknowledged (oldest first), so a capture that misses the ACKs still
// gets parsed.
inline constexpr size_t kReassemblyBlockBytes = 2048;
inline constexpr size_t kReassemblyMaxBlocks = 32;
inline constexpr size_t kReassemblyWindowBytes = kReassemblyBlockBytes * kReassemblyMaxBlocks;
// Separate pieces held per direction (so at most kReassemblyMaxRanges - 1 holes).
inline constexpr size_t kReassemblyMaxRanges = 8;
// A direction whose peer was never seen acknowledging delivers in order as bytes come; a
// hole in it is waited for during this many further segments of that direction, then skipped.
inline constexpr uint32_t kReassemblyHoleSegments = 16;

// Receives what the reassembler hands over, in sequence order per direction.
class StreamSink {
public:
    // In-order bytes of one direction; seq is the sequence number of bytes[0]. A seq past
    // the end of the previous call means a gap was skipped.
    virtual void data(bool to_server, std::span<const uint8_t> bytes, uint32_t seq) noexcept = 0;
    // The direction's stream ended: its FIN reached, or reset for a RST (after everything
    // held in both directions was delivered).
    virtual void end(bool to_server, bool reset) noexcept = 0;

protected:
    ~StreamSink() = default;
};

struct ReassemblyStats {
    core::Counter held_bytes;       // payload copied into the pool
    core::Counter direct_bytes;     // delivered straight from the packet, never copied
    core::Counter delivered_bytes;  // every byte handed over (held or direct)
    core::Counter out_of_order_segments;
    core::Counter gaps;  // holes skipped: acknowledged but never seen, or waited for long enough
    core::Counter gap_bytes;       // sequence space skipped with them
    core::Counter forced_bytes;    // delivered unacknowledged: the direction's window was full
    core::Counter overlap_bytes;   // bytes already held or delivered that came again
    core::Counter pool_full;       // flows handed to on-arrival parsing: the pool had no room
    core::Counter streams_in_use;  // gauge: flows held
    core::Counter blocks_in_use;   // gauge
};

inline constexpr core::CounterSpec<ReassemblyStats> kReassemblyCounters[] = {
    {&ReassemblyStats::held_bytes, "sensor_stream_reassembly_held_bytes_total",
     "TCP payload bytes copied into the reassembly pool to wait for an acknowledgement or for "
     "missing segments"},
    {&ReassemblyStats::direct_bytes, "sensor_stream_reassembly_direct_bytes_total",
     "TCP payload bytes handed to the app layer straight from their packet (in order, nothing "
     "to wait for)"},
    {&ReassemblyStats::delivered_bytes, "sensor_stream_reassembly_delivered_bytes_total",
     "TCP stream bytes handed to the app layer in sequence order"},
    {&ReassemblyStats::out_of_order_segments, "sensor_stream_reassembly_out_of_order_total",
     "TCP segments that arrived ahead of a missing one and were held until it came"},
    {&ReassemblyStats::gaps, "sensor_stream_reassembly_gaps_total",
     "Holes in a TCP stream skipped: acknowledged by the receiver but never captured, or "
     "waited for too long"},
    {&ReassemblyStats::gap_bytes, "sensor_stream_reassembly_gap_bytes_total",
     "Sequence space skipped over holes that never filled"},
    {&ReassemblyStats::forced_bytes, "sensor_stream_reassembly_forced_bytes_total",
     "TCP stream bytes delivered before the other side acknowledged them, because the "
     "direction's reassembly window was full"},
    {&ReassemblyStats::overlap_bytes, "sensor_stream_reassembly_overlap_bytes_total",
     "Retransmitted or overlapping TCP payload bytes; the copy that came first is kept"},
    {&ReassemblyStats::pool_full, "sensor_stream_reassembly_pool_full_total",
     "Flows parsed on arrival from then on because the reassembly pool (stream.reassembly."
     "memcap) had no room"},
    {&ReassemblyStats::streams_in_use, "sensor_stream_reassembly_streams",
     "Flows whose TCP stream the reassembly holds now"},
    {&ReassemblyStats::blocks_in_use, "sensor_stream_reassembly_blocks",
     "Reassembly pool blocks holding payload now"},
};
static_assert(sizeof(ReassemblyStats) == std::size(kReassemblyCounters) * sizeof(core::Counter),
              "register every ReassemblyStats counter in kReassemblyCounters");

// The same counters of the second reassembler, which orders TCP payload for payload rules
// (wait_for_ack false: only segments ahead of a missing one are held).
inline constexpr core::CounterSpec<ReassemblyStats> kOrderingCounters[] = {
    {&ReassemblyStats::held_bytes, "sensor_stream_ordering_held_bytes_total",
     "TCP payload bytes held because they arrived ahead of a missing segment, inspected by "
     "payload rules once it came (or was given up)"},
    {&ReassemblyStats::out_of_order_segments, "sensor_stream_ordering_out_of_order_total",
     "TCP segments that arrived ahead of a missing one and waited for it before payload "
     "inspection"},
    {&ReassemblyStats::gaps, "sensor_stream_ordering_gaps_total",
     "Holes in a TCP stream given up by payload ordering (acknowledged by the receiver but "
     "never captured, waited for during 16 segments, or the flow ended); the bytes after them "
     "are inspected without those before"},
    {&ReassemblyStats::gap_bytes, "sensor_stream_ordering_gap_bytes_total",
     "Sequence space of the holes payload ordering gave up"},
    {&ReassemblyStats::forced_bytes, "sensor_stream_ordering_forced_bytes_total",
     "TCP payload bytes inspected before a hole filled because the direction's ordering "
     "window (64 KiB) was full"},
    {&ReassemblyStats::overlap_bytes, "sensor_stream_ordering_overlap_bytes_total",
     "Bytes of held flows that came again (retransmissions, overlaps); the copy that came "
     "first is inspected"},
    {&ReassemblyStats::pool_full, "sensor_stream_ordering_pool_full_total",
     "Flows inspected in arrival order from then on because the ordering pool "
     "(stream.reassembly.ordering-memcap) had no room"},
    {&ReassemblyStats::streams_in_use, "sensor_stream_ordering_streams",
     "Flows with segments waiting for a missing one now"},
    {&ReassemblyStats::blocks_in_use, "sensor_stream_ordering_blocks",
     "Ordering pool blocks holding payload now"},
};

class Reassembler {
public:
    explicit Reassembler(const ReassemblyConfig& config);

    bool enabled() const noexcept { return entry_capacity_ > 0; }
    // The flow in that slot (FlowTable::slot_of) is held: its TCP packets go to on_packet().
    bool holds(uint32_t slot) const noexcept;
    // The flow was refused a stream entry (pool full): it stays on on-arrival parsing.
    bool refused(uint32_t slot) const noexcept;
    // The flow is held but no byte waits in either direction (its entry can be released).
    bool idle(uint32_t slot) const noexcept;
    // Starts holding the flow, from pkt (to_server: its direction) on; call before on_packet()
    // for it. Each direction starts at the flow table's sequence tracking (flow.stream) when
    // known. False, counted and remembered (refused()) when the pool has no free entry.
    bool open(uint32_t slot, const Flow& flow, bool to_server,
              const decode::DecodedPacket& pkt) noexcept;
    // One TCP packet of a held flow, after FlowTable::update(): hands over the other
    // direction's bytes its ACK covers, then takes its payload: held until acknowledged when
    // the other side has been seen acknowledging, otherwise handed over once in order. A RST
    // hands over everything held and ends the stream. When the pool runs out the flow is
    // flushed and released (refused() from then on).
    void on_packet(uint32_t slot, const Flow& flow, bool to_server,
                   const decode::DecodedPacket& pkt, StreamSink& sink) noexcept;
    // Hands over everything held, holes skipped, to_server first (end of the flow).
    void flush(uint32_t slot, StreamSink& sink) noexcept;
    // Frees the slot's entry and its blocks (held bytes are dropped) and forgets refused().
    void release(uint32_t slot) noexcept;
    // Drops what the slot holds but keeps its refused() mark (the app layer no longer wants
    // the bytes; the flow is not opened again).
    void drop(uint32_t slot) noexcept;

    const ReassemblyStats& stats() const noexcept { return stats_; }
    size_t entry_capacity() const noexcept { return entry_capacity_; }
    size_t block_capacity() const noexcept { return block_capacity_; }
    uint64_t memory_used_bytes() const noexcept {
        return stats_.streams_in_use.load() * sizeof(Entry) +
               stats_.blocks_in_use.load() * kReassemblyBlockBytes;
    }

private:
    static constexpr uint32_t kNone = UINT32_MAX;
    static constexpr uint32_t kRefused = UINT32_MAX - 1;

    // Trivial types without initialisers: the pool's pages are first written when an entry is
    // first taken (reset()).
    struct Range {
        uint32_t begin;  // offsets from the direction's base_seq
        uint32_t end;
    };
    // One direction's held bytes: byte base_seq + i lies at position head + i of the blocks
    // (kNone where nothing was written yet). ranges are sorted and neither overlap nor touch.
    struct Direction {
        uint32_t base_seq;  // the first byte not yet handed over
        uint32_t fin_seq;   // the sequence number the FIN takes (end of the data)
        uint32_t head;      // position of base_seq in blocks[0], < kReassemblyBlockBytes
        uint16_t hole_wait;
        uint8_t range_count;
        bool base_known;
        bool fin;
        bool ended;
        std::array<Range, kReassemblyMaxRanges> ranges;
        std::array<uint32_t, kReassemblyMaxBlocks> blocks;
    };
    struct Entry {
        std::array<Direction, 2> dir;  // [0] to server, [1] to client
        uint32_t next_free;
    };
    struct Block {
        uint8_t bytes[kReassemblyBlockBytes];  // no initialiser: untouched until first used
    };

    enum class Take : uint8_t { kOk, kNoRoom };

    Take take(Direction& d, bool to_server, uint32_t seq, std::span<const uint8_t> payload,
              bool hold, StreamSink& sink) noexcept;
    // Hands over the in-order front, up to limit bytes past base_seq.
    void deliver(Direction& d, bool to_server, uint32_t limit, StreamSink& sink) noexcept;
    void acknowledge(Direction& d, bool to_server, uint32_t ack, StreamSink& sink) noexcept;
    void skip_front_hole(Direction& d) noexcept;
    void flush_direction(Direction& d, bool to_server, StreamSink& sink) noexcept;
    void maybe_end(Direction& d, bool to_server, StreamSink& sink) noexcept;
    void advance(Direction& d, uint32_t n) noexcept;
    // Copies the bytes of [begin, begin + payload.size()) not held yet and merges the range.
    void store(Direction& d, uint32_t begin, std::span<const uint8_t> payload) noexcept;
    void write(Direction& d, uint32_t offset, std::span<const uint8_t> bytes) noexcept;
    bool reserve_blocks(Direction& d, uint32_t begin, uint32_t end) noexcept;
    static size_t ranges_after_insert(const Direction& d, uint32_t begin, uint32_t end) noexcept;
    static uint32_t room(const Direction& d) noexcept {
        return static_cast<uint32_t>(kReassemblyWindowBytes) - d.head;
    }
    void free_blocks(Direction& d) noexcept;
    uint32_t acquire_block() noexcept;
    void release_block(uint32_t index) noexcept;
    static void reset(Direction& d) noexcept;
    void free_entry(uint32_t slot, uint32_t mark) noexcept;

    struct FreeDeleter {
        void operator()(uint32_t* p) const noexcept { std::free(p); }
    };
    // Per flow slot: entry index, kNone or kRefused, stored complemented so that the zeroed
    // memory calloc returns reads as kNone.
    uint32_t entry_of(uint32_t slot) const noexcept { return ~slot_entry_[slot]; }
    void set_entry(uint32_t slot, uint32_t value) noexcept { slot_entry_[slot] = ~value; }
    std::unique_ptr<uint32_t[], FreeDeleter> slot_entry_;
    size_t slots_ = 0;
    std::unique_ptr<Entry[]> entries_;
    size_t entry_capacity_ = 0;
    bool wait_for_ack_ = true;
    uint32_t entries_never_used_ = 0;
    uint32_t free_entry_ = kNone;
    std::unique_ptr<Block[]> blocks_;
    size_t block_capacity_ = 0;
    uint32_t blocks_never_used_ = 0;
    uint32_t free_block_ = kNone;  // released blocks, linked through their first 4 bytes
    ReassemblyStats stats_;
};

}  // namespace sensor::flow
