#include "sensor/flow/flow_table.h"

#include <bit>
#include <utility>

namespace sensor::flow {

namespace {

constexpr uint64_t kFlowIdMask = (uint64_t{1} << 51) - 1;  // exact in JSON doubles too

bool is_tcp_closed(TcpState s) noexcept { return s == TcpState::kClosed; }

TimeoutClass classify_timeout(const Flow& flow) noexcept {
    switch (flow.key.ip_proto) {
        case decode::kIpProtoTcp:
            if (is_tcp_closed(flow.tcp_state)) {
                return TimeoutClass::kTcpClosed;
            }
            if (flow.tcp_state == TcpState::kEstablished || flow.tcp_state == TcpState::kClosing) {
                return TimeoutClass::kTcpEstablished;
            }
            return TimeoutClass::kTcpNew;
        case decode::kIpProtoUdp:
            return (flow.pkts[0] > 0 && flow.pkts[1] > 0) ? TimeoutClass::kUdpEstablished
                                                          : TimeoutClass::kUdpNew;
        case decode::kIpProtoIcmp:
        case decode::kIpProtoIcmpv6:
            return TimeoutClass::kIcmp;
        default:
            return TimeoutClass::kOther;
    }
}

}  // namespace

uint64_t Flow::id() const noexcept {
    const uint64_t mixed =
        hash_flow_key(key) ^ (static_cast<uint64_t>(start_us) * 0x9e3779b97f4a7c15ULL);
    return mixed & kFlowIdMask;
}

FlowTable::FlowTable(const FlowConfig& config)
    : config_(config),
      capacity_(config.max_flows == 0 ? 1 : config.max_flows),
      slots_(std::allocator<Flow>{}.allocate(capacity_), SlotStorageFree{capacity_}),
      buckets_(std::bit_ceil(capacity_ * 2), kNoFlow),
      tails_(capacity_ * 2) {}

uint32_t FlowTable::lookup(const FlowKey& key, uint64_t hash) const noexcept {
    uint32_t index = buckets_[hash & (buckets_.size() - 1)];
    while (index != kNoFlow) {
        if (slots_[index].key == key) {
            return index;
        }
        index = slots_[index].bucket_next;
    }
    return kNoFlow;
}

uint32_t FlowTable::allocate_slot(const FlowKey& key, uint64_t hash) noexcept {
    uint32_t index = free_head_;
    if (index != kNoFlow) {
        free_head_ = slots_[index].bucket_next;
    } else {
        index = never_used_++;
        std::construct_at(&slots_[index]);
    }
    size_t bucket = hash & (buckets_.size() - 1);
    slots_[index].key = key;
    slots_[index].bucket_next = buckets_[bucket];
    buckets_[bucket] = index;
    ++active_;
    stats_.created.add();
    stats_.active.set(active_);
    return index;
}

void FlowTable::init_flow(Flow& flow, const FlowKey& key, const decode::DecodedPacket& pkt,
                          bool src_is_lo) noexcept {
    uint32_t bucket_next = flow.bucket_next;
    flow = Flow{};
    flow.key = key;
    flow.bucket_next = bucket_next;
    flow.start_us = pkt.ts_us;
    flow.last_us = pkt.ts_us;
    flow.note_packet(pkt.ts_us, pkt.clock_us);
    // A SYN/ACK seen first means we joined after the SYN: its destination is the client.
    bool reply_first = pkt.ip_proto == decode::kIpProtoTcp &&
                       (pkt.tcp_flags & (decode::kTcpSyn | decode::kTcpAck)) ==
                           (decode::kTcpSyn | decode::kTcpAck);
    flow.client_is_lo = reply_first ? !src_is_lo : src_is_lo;
    flow.client_port = reply_first ? pkt.dst_port : pkt.src_port;
    flow.server_port = reply_first ? pkt.src_port : pkt.dst_port;
    flow.icmp_type = pkt.icmp_type;
    flow.icmp_code = pkt.icmp_code;
    flow.timeout_class = classify_timeout(flow);
    uint32_t index = static_cast<uint32_t>(&flow - slots_.get());
    lru_push_back(index);
}

void FlowTable::reverse(Flow& flow) noexcept {
    if (flow.key.addr_lo == flow.key.addr_hi && flow.key.port_lo == flow.key.port_hi) {
        return;  // find_or_insert counts every packet of such a flow as to_server
    }
    flow.client_is_lo = !flow.client_is_lo;
    std::swap(flow.client_port, flow.server_port);
    std::swap(flow.pkts[0], flow.pkts[1]);
    std::swap(flow.bytes[0], flow.bytes[1]);
    std::swap(flow.tcp_flags[0], flow.tcp_flags[1]);
    std::swap(flow.stream[0], flow.stream[1]);
}

void FlowTable::update(Flow& flow, const decode::DecodedPacket& pkt, bool to_server,
                       uint32_t wire_len) noexcept {
    size_t dir = to_server ? 0 : 1;
    ++flow.pkts[dir];
    flow.bytes[dir] += wire_len;
    flow.note_packet(pkt.ts_us, pkt.clock_us);
    if (pkt.ip_proto == decode::kIpProtoTcp) {
        uint8_t f = pkt.tcp_flags;
        flow.tcp_flags[dir] |= f;
        if ((f & decode::kTcpRst) != 0) {
            flow.tcp_state = TcpState::kClosed;
        } else {
            switch (flow.tcp_state) {
                case TcpState::kNone:
                    if ((f & decode::kTcpSyn) != 0) {
                        flow.tcp_state = (f & decode::kTcpAck) != 0 ? TcpState::kSynReceived
                                                                    : TcpState::kSynSent;
                    } else if (!pkt.payload.empty() || (f & decode::kTcpAck) != 0) {
                        // Joined mid-stream: treat as established once data flows.
                        flow.tcp_state = TcpState::kEstablished;
                    }
                    break;
                case TcpState::kSynSent:
                    if ((f & (decode::kTcpSyn | decode::kTcpAck)) ==
                            (decode::kTcpSyn | decode::kTcpAck) &&
                        !to_server) {
                        flow.tcp_state = TcpState::kSynReceived;
                    }
                    break;
                case TcpState::kSynReceived:
                    if (to_server && (f & decode::kTcpAck) != 0 && (f & decode::kTcpSyn) == 0) {
                        flow.tcp_state = TcpState::kEstablished;
                    }
                    break;
                case TcpState::kEstablished:
                    if ((f & decode::kTcpFin) != 0) {
                        flow.tcp_state = TcpState::kClosing;
                    }
                    break;
                case TcpState::kClosing:
                case TcpState::kClosed:
                    break;
            }
            // Closed once both sides sent FIN (also when the second FIN is the one that moved
            // the flow to closing).
            if (flow.tcp_state == TcpState::kClosing &&
                (flow.tcp_flags[0] & decode::kTcpFin) != 0 &&
                (flow.tcp_flags[1] & decode::kTcpFin) != 0) {
                flow.tcp_state = TcpState::kClosed;
            }
        }
    }
    uint32_t index = static_cast<uint32_t>(&flow - slots_.get());
    lru_unlink(index);
    flow.timeout_class = classify_timeout(flow);
    lru_push_back(index);
}

uint32_t FlowTable::pick_victim() const noexcept {
    // The flow closest to its own timeout: the cheapest loss, as it would end soonest anyway.
    uint32_t victim = kNoFlow;
    int64_t best_deadline = 0;
    for (size_t c = 0; c < lru_.size(); ++c) {
        uint32_t head = lru_[c].head;
        if (head == kNoFlow) {
            continue;
        }
        int64_t deadline = slots_[head].last_clock_us() + timeout_us(static_cast<TimeoutClass>(c));
        if (victim == kNoFlow || deadline < best_deadline) {
            victim = head;
            best_deadline = deadline;
        }
    }
    return victim;
}

void FlowTable::release(uint32_t index) noexcept {
    release_tails(slots_[index]);
    lru_unlink(index);
    bucket_unlink(index);
    slots_[index].bucket_next = free_head_;
    free_head_ = index;
    --active_;
    stats_.active.set(active_);
}

void FlowTable::bucket_unlink(uint32_t index) noexcept {
    // The hash is recomputed rather than stored: 8 bytes per slot saved for one hash per flow.
    size_t bucket = hash_flow_key(slots_[index].key) & (buckets_.size() - 1);
    uint32_t* link = &buckets_[bucket];
    while (*link != kNoFlow) {
        if (*link == index) {
            *link = slots_[index].bucket_next;
            return;
        }
        link = &slots_[*link].bucket_next;
    }
}

void FlowTable::lru_unlink(uint32_t index) noexcept {
    Flow& flow = slots_[index];
    LruList& list = lru_[static_cast<size_t>(flow.timeout_class)];
    if (flow.lru_prev != kNoFlow) {
        slots_[flow.lru_prev].lru_next = flow.lru_next;
    } else if (list.head == index) {
        list.head = flow.lru_next;
    }
    if (flow.lru_next != kNoFlow) {
        slots_[flow.lru_next].lru_prev = flow.lru_prev;
    } else if (list.tail == index) {
        list.tail = flow.lru_prev;
    }
    flow.lru_prev = kNoFlow;
    flow.lru_next = kNoFlow;
}

void FlowTable::lru_push_back(uint32_t index) noexcept {
    Flow& flow = slots_[index];
    LruList& list = lru_[static_cast<size_t>(flow.timeout_class)];
    flow.lru_prev = list.tail;
    flow.lru_next = kNoFlow;
    if (list.tail != kNoFlow) {
        slots_[list.tail].lru_next = index;
    } else {
        list.head = index;
    }
    list.tail = index;
}

void FlowTable::release_tails(Flow& flow) noexcept {
    for (StreamState& s : flow.stream) {
        if (s.tail != kNoTail) {
            tails_.release(s.tail);
            s.tail = kNoTail;
        }
    }
    stream_stats_.tails_in_use.set(tails_.in_use());
}

std::span<const uint8_t> FlowTable::stream_prefix(const Flow& flow, bool to_server,
                                                  const decode::DecodedPacket& pkt) const noexcept {
    if (pkt.ip_proto != decode::kIpProtoTcp || pkt.payload.empty()) {
        return {};
    }
    return stream_prefix(flow, to_server, pkt.tcp_seq);
}

std::span<const uint8_t> FlowTable::stream_prefix(const Flow& flow, bool to_server,
                                                  uint32_t seq) const noexcept {
    const StreamState& s = flow.stream[to_server ? 0 : 1];
    if (!s.seq_known || s.next_seq != seq || s.tail == kNoTail) {
        return {};
    }
    return tails_.bytes(s.tail).first(s.len);
}

void FlowTable::advance_stream(Flow& flow, bool to_server,
                               const decode::DecodedPacket& pkt) noexcept {
    if (pkt.ip_proto != decode::kIpProtoTcp) {
        return;
    }
    advance_window_of(flow, to_server, pkt.tcp_seq, (pkt.tcp_flags & decode::kTcpSyn) != 0,
                      pkt.payload);
}

void FlowTable::advance_stream(Flow& flow, bool to_server, uint32_t seq,
                               std::span<const uint8_t> bytes) noexcept {
    advance_window_of(flow, to_server, seq, false, bytes);
}

void FlowTable::advance_window_of(Flow& flow, bool to_server, uint32_t seq, bool syn,
                                  std::span<const uint8_t> payload) noexcept {
    const size_t dir = to_server ? 0 : 1;
    StreamState& s = flow.stream[dir];
    if (s.tail == kNoTail && !payload.empty()) {
        // The pool holds two tails per slot, so this only fails if that invariant breaks; the
        // direction then keeps its sequence state without bytes (no prefix, still counted).
        s.tail = tails_.acquire();
        stream_stats_.tails_in_use.set(tails_.in_use());
    }
    std::span<uint8_t> tail;
    if (s.tail != kNoTail) {
        tail = tails_.bytes(s.tail);
    }
    const StreamAdvance a = advance_window(s, tail, seq, syn, payload);
    if (a.appended > 0) {
        stream_stats_.appended_bytes[dir].add(a.appended);
    }
    if (a.gap > 0) {
        stream_stats_.gap_bytes[dir].add(a.gap);
    }
    if (a.retransmitted > 0) {
        stream_stats_.retransmitted_bytes[dir].add(a.retransmitted);
    }
}

}  // namespace sensor::flow
