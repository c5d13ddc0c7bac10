#pragma once
// FlowTable: one per worker, never shared. All flow slots are preallocated at construction
// (the configured cap); lookups, inserts and expiry never allocate. Timeouts run on packet
// time, so a replay gives the same flows every time. When the table is full the flow
// nearest to its timeout is evicted (reason "forced") and counted.

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "sensor/core/app_info.h"
#include "sensor/core/counter.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/flow/flow_key.h"

namespace sensor::flow {

inline constexpr uint32_t kNoFlow = UINT32_MAX;
inline constexpr size_t kStreamTailBytes = 64;

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

// Last bytes of the in-order TCP payload of one direction: lets detection see a pattern that
// crosses a segment boundary without buffering whole streams.
struct StreamTail {
    uint32_t next_seq = 0;
    uint8_t len = 0;
    bool seq_known = false;
    std::array<uint8_t, kStreamTailBytes> data{};
};

// Per-flow state owned by detection (flowbits, pass verdicts, per-rule bookkeeping). Kept
// small and fixed-size: flows are preallocated and counted against the 512-byte budget.
struct FlowDetectState {
    static constexpr size_t kMaxFlowbits = 8;
    uint16_t flowbits[kMaxFlowbits] = {};  // ids of set flowbits (rule-set wide numbering)
    uint8_t flowbit_count = 0;
    bool pass = false;  // a pass rule matched: no more alerts on this flow
    uint64_t last_transaction_alerted = 0;
    // Rules (evaluation rank, low 16 bits) that alerted on app-layer buffers in transaction
    // last_transaction_alerted: such rules alert at most once per transaction.
    static constexpr size_t kMaxTxAlerts = 3;
    uint16_t tx_alerted[kMaxTxAlerts] = {};
    uint8_t tx_alerted_count = 0;
};

struct Flow {
    FlowKey key;
    uint64_t id = 0;  // deterministic: hash of key and start time, 51 bits like Suricata
    // Initiator ("client") endpoint, as seen in the first packet (SYN/ACK-first flows flip).
    core::IpAddress client_ip;
    core::IpAddress server_ip;
    uint16_t client_port = 0;
    uint16_t server_port = 0;
    int64_t start_us = 0;
    int64_t last_us = 0;
    uint64_t pkts[2] = {0, 0};  // [0] to server, [1] to client
    uint64_t bytes[2] = {0, 0};
    TcpState tcp_state = TcpState::kNone;
    uint8_t tcp_flags[2] = {0, 0};
    uint8_t icmp_type = 0;  // of the first packet, for community_id and records
    uint8_t icmp_code = 0;
    bool alerted = false;
    TimeoutClass timeout_class = TimeoutClass::kOther;
    core::AppInfo app;
    FlowDetectState detect;
    void* app_state = nullptr;  // app-layer parser state (HTTP/DNS/TLS); owned by the worker's
                                // app-layer module, released before the slot is reused
    StreamTail tail[2];
    // Table links (indices into the slot array).
    uint32_t bucket_next = kNoFlow;
    uint32_t lru_prev = kNoFlow;
    uint32_t lru_next = kNoFlow;
};

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

    // Ends flows idle past their timeout at packet time now, at most config.expire_budget.
    template <class OnEnd>
    size_t expire(int64_t now_us, OnEnd&& on_end);

    // Ends every flow (end of run or shutdown).
    template <class OnEnd>
    void end_all(OnEnd&& on_end);

    size_t active() const noexcept { return active_; }
    size_t capacity() const noexcept { return slots_.size(); }
    const FlowStats& stats() const noexcept { return stats_; }
    static size_t slot_bytes() noexcept { return sizeof(Flow); }

private:
    struct LruList {
        uint32_t head = kNoFlow;
        uint32_t tail = kNoFlow;
    };

    uint32_t lookup(const FlowKey& key, uint64_t hash) const noexcept;
    uint32_t allocate_slot(const FlowKey& key, uint64_t hash) noexcept;
    uint32_t pick_victim() const noexcept;
    void release(uint32_t index) noexcept;
    void lru_unlink(uint32_t index) noexcept;
    void lru_push_back(uint32_t index) noexcept;
    void bucket_unlink(uint32_t index) noexcept;
    int64_t timeout_us(TimeoutClass c) const noexcept {
        return int64_t{config_.timeout_s[static_cast<size_t>(c)]} * 1'000'000;
    }
    void init_flow(Flow& flow, const FlowKey& key, const decode::DecodedPacket& pkt,
                   uint64_t hash) noexcept;

    FlowConfig config_;
    std::vector<Flow> slots_;
    std::vector<uint32_t> buckets_;
    std::vector<uint64_t> slot_hash_;
    uint32_t free_head_ = kNoFlow;
    std::array<LruList, static_cast<size_t>(TimeoutClass::kCount)> lru_;
    size_t active_ = 0;
    FlowStats stats_;
};

// ---- template implementations ----

template <class OnEnd>
Flow& FlowTable::find_or_insert(const decode::DecodedPacket& pkt, bool& to_server, OnEnd&& on_end) {
    bool src_is_lo = false;
    FlowKey key = make_flow_key(pkt, src_is_lo);
    uint64_t hash = hash_flow_key(key);
    uint32_t index = lookup(key, hash);
    if (index != kNoFlow &&
        pkt.ts_us - slots_[index].last_us >= timeout_us(slots_[index].timeout_class)) {
        // Idle past its timeout but not expired yet (expiry runs per batch): end it now, so
        // the flows we report do not depend on when expiry happened to run.
        on_end(slots_[index], EndReason::kTimeout);
        stats_.ended_timeout.add();
        release(index);
        index = kNoFlow;
    }
    if (index == kNoFlow) {
        if (free_head_ == kNoFlow) {
            uint32_t victim = pick_victim();
            on_end(slots_[victim], EndReason::kForced);
            stats_.ended_forced.add();
            release(victim);
        }
        index = allocate_slot(key, hash);
        init_flow(slots_[index], key, pkt, hash);
    }
    Flow& flow = slots_[index];
    // A flow whose two endpoints are identical counts every packet as to_server.
    to_server = pkt.src == flow.client_ip && pkt.src_port == flow.client_port;
    return flow;
}

template <class OnEnd>
size_t FlowTable::expire(int64_t now_us, OnEnd&& on_end) {
    size_t ended = 0;
    for (size_t c = 0; c < lru_.size() && ended < config_.expire_budget; ++c) {
        int64_t timeout = timeout_us(static_cast<TimeoutClass>(c));
        while (ended < config_.expire_budget && lru_[c].head != kNoFlow) {
            uint32_t index = lru_[c].head;
            if (slots_[index].last_us + timeout > now_us) {
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
