#pragma once
// FlowTable: one per worker, never shared. Memory for every flow slot (the configured cap) is
// reserved at construction and a slot is written when first handed out, so resident memory
// follows the peak number of concurrent flows; lookups, inserts and expiry never allocate. Timeouts
// run on packet time, so a replay gives the same flows every time. When the table is full the flow
// nearest to its timeout is evicted (reason "forced") and counted.

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

#include "sensor/core/app_info.h"
#include "sensor/core/counter.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/flow/flow_key.h"
#include "sensor/flow/stream_tail.h"

namespace sensor::flow {

inline constexpr uint32_t kNoFlow = UINT32_MAX;

enum class TcpState : uint8_t { kNone, kSynSent, kSynReceived, kEstablished, kClosing, kClosed };

enum class EndReason : uint8_t { kTimeout, kForced, kShutdown };

// Timeout classes: each has one timeout, so each LRU list is also in expiry order.
enum class TimeoutClass : uint8_t {
    kTcpNew,
    kTcpEstablished,
    kTcpClosed,
    kUdpNew,
    kUdpEstablished,
    kIcmp,
    kOther,
    kCount,
};

struct FlowConfig {
    uint32_t max_flows = 65536;
    // Seconds of packet-time inactivity before a flow ends, per class (Suricata-like).
    std::array<uint32_t, static_cast<size_t>(TimeoutClass::kCount)> timeout_s = {60,  600, 10, 30,
                                                                                 300, 30,  30};
    uint32_t expire_budget = 64;  // flows ended per expire() call at most
};

// Per-flow state owned by detection (flowbits, pass verdicts, per-rule bookkeeping). Kept
// small and fixed-size: slots are reserved up front and counted against the 512-byte budget.
struct FlowDetectState {
    static constexpr size_t kMaxFlowbits = 8;
    uint16_t flowbits[kMaxFlowbits] = {};  // ids of set flowbits (rule-set wide numbering)
    uint8_t flowbit_count = 0;
    bool pass = false;  // a pass rule matched: no more alerts on this flow
    // stream_size, per side ([0] client, [1] server): the sequence space the side has used
    // since its initial sequence number (stream_isn), saturating at 65535. Detection keeps it
    // from the packets it inspects, this one included (the stream tails move after it).
    uint16_t stream_size[2] = {0, 0};
    uint8_t stream_known = 0;  // bit 0: the client's stream_isn is known; bit 1: the server's
    // TLS ChangeCipherSpec seen from each side, and kNoPayloadInspection once the flow's
    // encrypted phase began (Suricata's FLOW_NOPAYLOAD_INSPECTION under tls
    // encryption-handling "default"): its payload is no longer inspected.
    static constexpr uint8_t kClientChangeCipherSpec = 1;
    static constexpr uint8_t kServerChangeCipherSpec = 2;
    static constexpr uint8_t kNoPayloadInspection = 4;
    uint8_t payload_flags = 0;
    // The app-layer transaction of tx_alerted, by its low 32 bits (a flow's transactions are
    // counted one by one, so two that far apart never meet in these three slots).
    uint32_t last_transaction_alerted = 0;
    // Rules (evaluation rank, low 16 bits) that alerted on app-layer buffers in transaction
    // last_transaction_alerted: such rules alert at most once per transaction.
    static constexpr size_t kMaxTxAlerts = 3;
    uint16_t tx_alerted[kMaxTxAlerts] = {};
    uint8_t tx_alerted_count = 0;
    uint32_t stream_isn[2] = {0, 0};
};

// One flow slot. Fields are ordered by size so that the slot has no padding; what can be
// derived (endpoint addresses, flow id) is computed, and stream bytes live in the table's
// tail pool. Hot fields for lookup (key, links) come first.
struct Flow {
    FlowKey key;
    // Initiator ("client") port, as seen in the first packet (SYN/ACK-first flows flip).
    uint16_t client_port = 0;
    uint16_t server_port = 0;
    // Table links (indices into the slot array).
    uint32_t bucket_next = kNoFlow;
    uint32_t lru_prev = kNoFlow;
    uint32_t lru_next = kNoFlow;
    int64_t start_us = 0;
    int64_t last_us = 0;
    uint64_t pkts[2] = {0, 0};  // [0] to server, [1] to client
    uint64_t bytes[2] = {0, 0};
    StreamState stream[2];  // [0] to server, [1] to client
    TcpState tcp_state = TcpState::kNone;
    uint8_t tcp_flags[2] = {0, 0};
    uint8_t icmp_type = 0;  // of the first packet, for community_id and records
    uint8_t icmp_code = 0;
    bool alerted = false;
    TimeoutClass timeout_class = TimeoutClass::kOther;
    bool client_is_lo = true;  // the client is the key's "lo" endpoint
    core::AppInfo app;
    FlowDetectState detect;
    // How far the capture's clock was ahead of last_us when the flow's last packet was read, in
    // whole milliseconds (saturating): 0 in a capture in time order. A flow's idle time
    // is judged by the capture clock (last_clock_us()), so that packets late in the file by
    // more than a timeout still make one flow when they come together.
    uint32_t last_lag_ms = 0;
    void* app_state = nullptr;  // app-layer parser state (HTTP/DNS/TLS); owned by the worker's
                                // app-layer module, released before the slot is reused

    // Deterministic id: hash of the key and the start time, 51 bits like Suricata (exact in
    // JSON doubles too).
    uint64_t id() const noexcept;
    // The capture clock when the flow's last packet was read (at least last_us).
    int64_t last_clock_us() const noexcept { return last_us + int64_t{last_lag_ms} * 1000; }
    // A packet stamped ts_us, read at capture clock clock_us (0: not known, its own time).
    void note_packet(int64_t ts_us, int64_t clock_us) noexcept {
        const int64_t last_clock = std::max({last_clock_us(), clock_us, ts_us});
        last_us = std::max(last_us, ts_us);
        const int64_t lag_ms = (last_clock - last_us) / 1000;
        last_lag_ms = static_cast<uint32_t>(std::min<int64_t>(lag_ms, UINT32_MAX));
    }
    // Initiator and responder addresses, from the key.
    core::IpAddress client_ip() const noexcept {
        return endpoint_ip(client_is_lo ? key.addr_lo : key.addr_hi);
    }
    core::IpAddress server_ip() const noexcept {
        return endpoint_ip(client_is_lo ? key.addr_hi : key.addr_lo);
    }

private:
    core::IpAddress endpoint_ip(const std::array<uint8_t, 16>& addr) const noexcept {
        core::IpAddress a;
        a.bytes = addr;
        a.v6 = key.v6;
        return a;
    }
};

// The per-flow memory target is 512 bytes beyond nDPI's state while classifying; the slot is
// most of it (plus 8 bytes of bucket array and 64 per direction that carried TCP payload).
// 344 = 336 + 8 for the initial sequence numbers stream_size needs.
inline constexpr size_t kMaxFlowSlotBytes = 344;
static_assert(sizeof(Flow) <= kMaxFlowSlotBytes, "flow slot over its memory budget");
// FlowTable constructs slots as they are first used and never destroys them.
static_assert(std::is_trivially_destructible_v<Flow>);

// Suricata's flow:established for the packet FlowTable::update() has just seen. TCP: the
// session is in the ESTABLISHED state after that packet, so the handshake's last ACK (and a
// flow picked up mid-stream) is established, while a FIN or RST, and every packet after one,
// is not. Other protocols: packets have been seen in both directions. Flow records still
// name a closing TCP flow "established", as Suricata's flow state does.
inline bool detect_established(const Flow& flow) noexcept {
    if (flow.key.ip_proto == decode::kIpProtoTcp) {
        return flow.tcp_state == TcpState::kEstablished;
    }
    return flow.pkts[0] > 0 && flow.pkts[1] > 0;
}

struct FlowStats {
    core::Counter created;
    core::Counter ended_timeout;
    core::Counter ended_forced;  // evicted because the table was full
    core::Counter ended_shutdown;
    core::Counter active;  // gauge, written by the owner
};

class FlowTable {
public:
    explicit FlowTable(const FlowConfig& config);

    // Finds the packet's flow or creates it. to_server tells the packet's direction.
    // When the table is full the flow closest to expiry is ended first through on_end.
    template <class OnEnd>
    Flow& find_or_insert(const decode::DecodedPacket& pkt, bool& to_server, OnEnd&& on_end);

    // Updates counters, TCP state and timeout class for a packet of this flow.
    void update(Flow& flow, const decode::DecodedPacket& pkt, bool to_server,
                uint32_t wire_len) noexcept;

    // Swaps the flow's client and server, with everything kept per direction (counters, TCP
    // flags, stream state): for a protocol that recognises the first packet as a reply. A
    // flow whose two endpoints are identical is left as it is.
    void reverse(Flow& flow) noexcept;

    // The timeout of a flow's class: idle this long after its last packet, it has ended.
    int64_t timeout_us(TimeoutClass c) const noexcept {
        return int64_t{config_.timeout_s[static_cast<size_t>(c)]} * 1'000'000;
    }
    // Ends flows idle past their timeout at packet time now, at most config.expire_budget.
    template <class OnEnd>
    size_t expire(int64_t now_us, OnEnd&& on_end);

    // Ends every flow (end of run or shutdown).
    template <class OnEnd>
    void end_all(OnEnd&& on_end);

    // Stream tails (see stream_tail.h). The bytes that precede pkt's payload in its
    // direction's stream, or empty when pkt is not the next in-order segment (first segment,
    // gap, retransmission, non-TCP). Valid until the next advance_stream() of that direction.
    std::span<const uint8_t> stream_prefix(const Flow& flow, bool to_server,
                                           const decode::DecodedPacket& pkt) const noexcept;
    // Records pkt's payload as the direction's newest in-order bytes (taking a tail from the
    // pool on the direction's first payload byte) and counts what it did in stream_stats().
    void advance_stream(Flow& flow, bool to_server, const decode::DecodedPacket& pkt) noexcept;
    // The same for bytes that a reordering stage hands over in sequence order (seq: the
    // sequence number of bytes[0]) instead of a packet's payload, and the prefix that
    // precedes them (empty unless seq continues the direction's stream).
    void advance_stream(Flow& flow, bool to_server, uint32_t seq,
                        std::span<const uint8_t> bytes) noexcept;
    std::span<const uint8_t> stream_prefix(const Flow& flow, bool to_server,
                                           uint32_t seq) const noexcept;
    // Payload bytes that a reordering stage dropped as already seen (overlaps): counted as
    // retransmitted, so that appended + retransmitted stays every TCP payload byte.
    void count_retransmitted(bool to_server, uint64_t bytes) noexcept {
        stream_stats_.retransmitted_bytes[to_server ? 0 : 1].add(bytes);
    }

    size_t active() const noexcept { return active_; }
    size_t capacity() const noexcept { return capacity_; }
    // The flow's slot index (< capacity()), for state kept beside the table per slot.
    uint32_t slot_of(const Flow& flow) const noexcept {
        return static_cast<uint32_t>(&flow - slots_.get());
    }
    const FlowStats& stats() const noexcept { return stats_; }
    const StreamStats& stream_stats() const noexcept { return stream_stats_; }
    static size_t slot_bytes() noexcept { return sizeof(Flow); }
    static size_t tail_bytes() noexcept { return StreamTailPool::entry_bytes(); }
    size_t tail_capacity() const noexcept { return tails_.capacity(); }  // two per slot
    // Bytes held now: slots of active flows and stream tails in use. Any thread.
    uint64_t memory_used_bytes() const noexcept {
        return stats_.active.load() * slot_bytes() +
               stream_stats_.tails_in_use.load() * tail_bytes();
    }
    // The cap: every slot and a tail for both directions of every slot (reserved; resident
    // only once used). Any thread.
    uint64_t memory_limit_bytes() const noexcept {
        return capacity_ * slot_bytes() + tails_.capacity() * tail_bytes();
    }

private:
    struct LruList {
        uint32_t head = kNoFlow;
        uint32_t tail = kNoFlow;
    };

    uint32_t lookup(const FlowKey& key, uint64_t hash) const noexcept;
    void release_tails(Flow& flow) noexcept;
    void advance_window_of(Flow& flow, bool to_server, uint32_t seq, bool syn,
                           std::span<const uint8_t> payload) noexcept;
    uint32_t allocate_slot(const FlowKey& key, uint64_t hash) noexcept;
    uint32_t pick_victim() const noexcept;
    void release(uint32_t index) noexcept;
    void lru_unlink(uint32_t index) noexcept;
    void lru_push_back(uint32_t index) noexcept;
    void bucket_unlink(uint32_t index) noexcept;
    // Whether pkt comes after its flow's timeout: by the packet's own time, or by the capture
    // clock it was read at against the clock of the flow's last packet. expire() ends flows by
    // that clock alone, so a flow a batch's expiry ended is one this finds idle too: which
    // flow a packet joins does not depend on where batches end.
    bool idle_past_timeout(const Flow& flow, const decode::DecodedPacket& pkt) const noexcept {
        const int64_t timeout = timeout_us(flow.timeout_class);
        return pkt.ts_us - flow.last_us >= timeout ||
               std::max(pkt.ts_us, pkt.clock_us) - flow.last_clock_us() >= timeout;
    }
    void init_flow(Flow& flow, const FlowKey& key, const decode::DecodedPacket& pkt,
                   bool src_is_lo) noexcept;

    // Frees the slot storage; the slots need no destruction (Flow is trivially destructible).
    struct SlotStorageFree {
        size_t capacity = 0;
        void operator()(Flow* slots) const noexcept {
            std::allocator<Flow>{}.deallocate(slots, capacity);
        }
    };

    FlowConfig config_;
    size_t capacity_ = 0;
    // Storage for capacity_ slots, reserved at construction; a slot is constructed when it is
    // first handed out, so the pages written follow the peak number of concurrent flows, not
    // the configured cap (and a table sized for a million flows starts at once).
    std::unique_ptr<Flow[], SlotStorageFree> slots_;
    uint32_t never_used_ = 0;  // slots at and above this index were never handed out
    std::vector<uint32_t> buckets_;
    uint32_t free_head_ = kNoFlow;  // released slots, linked through bucket_next
    std::array<LruList, static_cast<size_t>(TimeoutClass::kCount)> lru_;
    size_t active_ = 0;
    FlowStats stats_;
    StreamTailPool tails_;
    StreamStats stream_stats_;
};

// ---- template implementations ----

template <class OnEnd>
Flow& FlowTable::find_or_insert(const decode::DecodedPacket& pkt, bool& to_server, OnEnd&& on_end) {
    bool src_is_lo = false;
    FlowKey key = make_flow_key(pkt, src_is_lo);
    uint64_t hash = hash_flow_key(key);
    uint32_t index = lookup(key, hash);
    if (index != kNoFlow && idle_past_timeout(slots_[index], pkt)) {
        // Idle past its timeout but not expired yet (expiry runs per batch): end it now, so
        // the flows we report do not depend on when expiry happened to run.
        on_end(slots_[index], EndReason::kTimeout);
        stats_.ended_timeout.add();
        release(index);
        index = kNoFlow;
    }
    if (index == kNoFlow) {
        if (free_head_ == kNoFlow && never_used_ == capacity_) {
            uint32_t victim = pick_victim();
            on_end(slots_[victim], EndReason::kForced);
            stats_.ended_forced.add();
            release(victim);
        }
        index = allocate_slot(key, hash);
        init_flow(slots_[index], key, pkt, src_is_lo);
    }
    Flow& flow = slots_[index];
    // A flow whose two endpoints are identical counts every packet as to_server.
    to_server = src_is_lo == flow.client_is_lo ||
                (key.addr_lo == key.addr_hi && key.port_lo == key.port_hi);
    return flow;
}

template <class OnEnd>
size_t FlowTable::expire(int64_t now_us, OnEnd&& on_end) {
    size_t ended = 0;
    for (size_t c = 0; c < lru_.size() && ended < config_.expire_budget; ++c) {
        int64_t timeout = timeout_us(static_cast<TimeoutClass>(c));
        while (ended < config_.expire_budget && lru_[c].head != kNoFlow) {
            uint32_t index = lru_[c].head;
            if (slots_[index].last_clock_us() + timeout > now_us) {
                break;
            }
            on_end(slots_[index], EndReason::kTimeout);
            stats_.ended_timeout.add();
            release(index);
            ++ended;
        }
    }
    return ended;
}

template <class OnEnd>
void FlowTable::end_all(OnEnd&& on_end) {
    for (size_t c = 0; c < lru_.size(); ++c) {
        while (lru_[c].head != kNoFlow) {
            uint32_t index = lru_[c].head;
            on_end(slots_[index], EndReason::kShutdown);
            stats_.ended_shutdown.add();
            release(index);
        }
    }
}

}  // namespace sensor::flow
