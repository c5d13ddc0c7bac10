#include "sensor/flow/reassembly.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "sensor/core/check.h"

namespace sensor::flow {
namespace {

constexpr auto kBlock = static_cast<uint32_t>(kReassemblyBlockBytes);

// A stream entry and four blocks: the share of the cap one held flow is expected to use.
constexpr size_t kBytesPerStream = 4 * kReassemblyBlockBytes;

uint32_t size32(std::span<const uint8_t> bytes) noexcept {
    return static_cast<uint32_t>(bytes.size());
}

}  // namespace

Reassembler::Reassembler(const ReassemblyConfig& config) : wait_for_ack_(config.wait_for_ack) {
    if (config.memcap_bytes == 0 || config.max_flows == 0) {
        return;
    }
    const size_t cap = std::min<size_t>(kRefused - 1, config.max_flows);
    const size_t entries =
        std::clamp<size_t>(config.memcap_bytes / (sizeof(Entry) + kBytesPerStream), 1, cap);
    const size_t entry_bytes = entries * sizeof(Entry);
    if (config.memcap_bytes <= entry_bytes + kReassemblyBlockBytes) {
        return;  // too small to hold anything: off
    }
    entry_capacity_ = entries;
    block_capacity_ =
        std::min<size_t>(kRefused - 1, (config.memcap_bytes - entry_bytes) / kReassemblyBlockBytes);
    entries_ = std::make_unique_for_overwrite<Entry[]>(entry_capacity_);
    blocks_ = std::make_unique_for_overwrite<Block[]>(block_capacity_);
    // calloc: zero pages stay untouched until a flow of that page is held (zero reads as
    // kNone through entry_of), so an idle reassembler costs no resident memory per slot.
    slot_entry_.reset(static_cast<uint32_t*>(std::calloc(config.max_flows, sizeof(uint32_t))));
    SENSOR_CHECK(slot_entry_ != nullptr, "reassembly: cannot reserve the per-slot index");
    slots_ = config.max_flows;
}

bool Reassembler::holds(uint32_t slot) const noexcept {
    return slot < slots_ && entry_of(slot) < kRefused;
}

bool Reassembler::refused(uint32_t slot) const noexcept {
    return slot < slots_ && entry_of(slot) == kRefused;
}

bool Reassembler::idle(uint32_t slot) const noexcept {
    if (!holds(slot)) {
        return false;
    }
    const Entry& e = entries_[entry_of(slot)];
    return e.dir[0].range_count == 0 && e.dir[1].range_count == 0;
}

void Reassembler::reset(Direction& d) noexcept {
    d.base_seq = 0;
    d.fin_seq = 0;
    d.head = 0;
    d.hole_wait = 0;
    d.range_count = 0;
    d.base_known = false;
    d.fin = false;
    d.ended = false;
    d.blocks.fill(kNone);
}

bool Reassembler::open(uint32_t slot, const Flow& flow, bool to_server,
                       const decode::DecodedPacket& pkt) noexcept {
    if (!enabled() || slot >= slots_ || entry_of(slot) == kRefused) {
        return false;
    }
    if (holds(slot)) {
        return true;
    }
    uint32_t index = kNone;
    if (free_entry_ != kNone) {
        index = free_entry_;
        free_entry_ = entries_[index].next_free;
    } else if (entries_never_used_ < entry_capacity_) {
        index = entries_never_used_++;
    } else {
        stats_.pool_full.add();
        set_entry(slot, kRefused);
        return false;
    }
    Entry& e = entries_[index];
    e.next_free = kNone;
    for (size_t i = 0; i < 2; ++i) {
        reset(e.dir[i]);
        // The flow table followed the sequence numbers so far (SYN, earlier payload).
        if (flow.stream[i].seq_known) {
            e.dir[i].base_seq = flow.stream[i].next_seq;
            e.dir[i].base_known = true;
        }
    }
    Direction& own = e.dir[to_server ? 0 : 1];
    const uint32_t data_seq = pkt.tcp_seq + ((pkt.tcp_flags & decode::kTcpSyn) != 0 ? 1u : 0u);
    if (!own.base_known || static_cast<int32_t>(data_seq - own.base_seq) >=
                               static_cast<int32_t>(kReassemblyWindowBytes)) {
        own.base_seq = data_seq;  // nothing known, or the bytes before are long gone
        own.base_known = true;
    }
    Direction& peer = e.dir[to_server ? 1 : 0];
    if (!peer.base_known && (pkt.tcp_flags & decode::kTcpAck) != 0) {
        peer.base_seq = pkt.tcp_ack;  // what the peer sends next
        peer.base_known = true;
    }
    set_entry(slot, index);
    stats_.streams_in_use.add();
    return true;
}

void Reassembler::on_packet(uint32_t slot, const Flow& flow, bool to_server,
                            const decode::DecodedPacket& pkt, StreamSink& sink) noexcept {
    if (!holds(slot)) {
        return;
    }
    Entry& e = entries_[entry_of(slot)];
    const size_t own_index = to_server ? 0 : 1;
    Direction& own = e.dir[own_index];
    Direction& peer = e.dir[1 - own_index];
    const uint8_t flags = pkt.tcp_flags;
    const bool syn = (flags & decode::kTcpSyn) != 0;
    // A SYN/ACK hands nothing over (Suricata's SYN_SENT state): data sent with the SYN (TCP
    // Fast Open) goes with the server's next packet.
    if ((flags & decode::kTcpAck) != 0 && !syn) {
        if (wait_for_ack_) {
            acknowledge(peer, !to_server, pkt.tcp_ack, sink);
        } else if (peer.range_count > 0) {
            // Bytes wait behind a hole the receiver has acknowledged: the capture lost it, so
            // waiting longer is pointless; what follows the hole goes now.
            acknowledge(peer, !to_server, pkt.tcp_ack, sink);
            deliver(peer, !to_server, UINT32_MAX, sink);
        }
    }
    const uint32_t data_seq = pkt.tcp_seq + (syn ? 1u : 0u);
    if (syn && !own.base_known) {
        own.base_seq = data_seq;
        own.base_known = true;
    }
    // Suricata's IDS mode: bytes wait for the other side's ACK once that side is seen
    // acknowledging, and data on a SYN waits for the answer. Otherwise (a one-sided capture,
    // a flow picked up mid-stream) they go once in order, with the direction's next packet.
    const bool hold =
        wait_for_ack_ && (syn || (flow.tcp_flags[1 - own_index] & decode::kTcpAck) != 0);
    if (!pkt.payload.empty() &&
        take(own, to_server, data_seq, pkt.payload, hold, sink) == Take::kNoRoom) {
        // Out of blocks: everything held goes now, then this packet's bytes, and the flow
        // is parsed on arrival from here on.
        stats_.pool_full.add();
        flush_direction(own, to_server, sink);
        flush_direction(peer, !to_server, sink);
        const auto behind = static_cast<int32_t>(own.base_seq - data_seq);
        if (behind < static_cast<int32_t>(pkt.payload.size())) {
            const uint32_t skip = behind > 0 ? static_cast<uint32_t>(behind) : 0;
            const auto fresh = pkt.payload.subspan(skip);
            sink.data(to_server, fresh, data_seq + skip);
            stats_.direct_bytes.add(fresh.size());
            stats_.delivered_bytes.add(fresh.size());
        }
        if ((flags & (decode::kTcpRst | decode::kTcpFin)) != 0) {
            sink.end(to_server, (flags & decode::kTcpRst) != 0);
        }
        free_entry(slot, kRefused);
        return;
    }
    if ((flags & decode::kTcpFin) != 0 && !own.fin) {
        own.fin = true;
        own.fin_seq = data_seq + size32(pkt.payload);
    }
    maybe_end(own, to_server, sink);
    maybe_end(peer, !to_server, sink);
    if ((flags & decode::kTcpRst) != 0) {
        // Suricata hands over the resetting side's bytes at once; the other side's would wait
        // for the end of the flow, which comes next for a reset connection anyway.
        flush_direction(own, to_server, sink);
        flush_direction(peer, !to_server, sink);
        if (!own.ended) {
            own.ended = true;
            sink.end(to_server, true);
        }
    }
}

void Reassembler::flush(uint32_t slot, StreamSink& sink) noexcept {
    if (!holds(slot)) {
        return;
    }
    Entry& e = entries_[entry_of(slot)];
    flush_direction(e.dir[0], true, sink);
    flush_direction(e.dir[1], false, sink);
}

void Reassembler::release(uint32_t slot) noexcept {
    if (slot >= slots_) {
        return;
    }
    free_entry(slot, kNone);
}

void Reassembler::drop(uint32_t slot) noexcept {
    if (slot >= slots_) {
        return;
    }
    free_entry(slot, kRefused);
}

void Reassembler::free_entry(uint32_t slot, uint32_t mark) noexcept {
    const uint32_t index = entry_of(slot);
    if (index < kRefused) {
        Entry& e = entries_[index];
        free_blocks(e.dir[0]);
        free_blocks(e.dir[1]);
        e.next_free = free_entry_;
        free_entry_ = index;
        stats_.streams_in_use.set(stats_.streams_in_use.load() - 1);
    }
    set_entry(slot, mark);
}

Reassembler::Take Reassembler::take(Direction& d, bool to_server, uint32_t seq,
                                    std::span<const uint8_t> payload, bool hold,
                                    StreamSink& sink) noexcept {
    if (!d.base_known) {
        d.base_seq = seq;
        d.base_known = true;
    }
    bool counted = false;
    for (;;) {
        const auto off = static_cast<int32_t>(seq - d.base_seq);
        if (off < 0) {
            const auto behind = static_cast<uint32_t>(-static_cast<int64_t>(off));
            if (behind >= payload.size()) {
                stats_.overlap_bytes.add(payload.size());  // old data only
                return Take::kOk;
            }
            stats_.overlap_bytes.add(behind);
            payload = payload.subspan(behind);
            seq += behind;
            continue;
        }
        if (off > kMaxStreamGap) {
            // Further ahead than any TCP window reaches: another connection on the same
            // ports, or garbage. What was held cannot precede it: start over from it.
            stats_.gaps.add();
            free_blocks(d);
            d.base_seq = seq;
            continue;
        }
        const auto begin = static_cast<uint32_t>(off);
        const uint32_t len = size32(payload);
        if (!hold && begin == 0 && d.range_count == 0) {
            // In order, nothing held before it, nothing to wait for: straight from the packet.
            sink.data(to_server, payload, seq);
            stats_.direct_bytes.add(len);
            stats_.delivered_bytes.add(len);
            advance(d, len);
            d.hole_wait = 0;
            return Take::kOk;
        }
        const uint32_t front = d.range_count > 0 && d.ranges[0].begin == 0 ? d.ranges[0].end : 0;
        if (!counted && begin > front) {
            stats_.out_of_order_segments.add();
            counted = true;
        }
        if (begin + len > room(d) ||
            ranges_after_insert(d, begin, begin + len) > kReassemblyMaxRanges) {
            // No room in the window (or too many pieces): what can go goes first.
            if (front > 0) {
                stats_.forced_bytes.add(front);
                deliver(d, to_server, front, sink);
            } else if (d.range_count > 0) {
                skip_front_hole(d);
            } else if (begin > 0) {
                stats_.gaps.add();
                stats_.gap_bytes.add(begin);
                advance(d, begin);
            } else {
                // Nothing held and the segment alone is larger than the window.
                sink.data(to_server, payload, seq);
                stats_.direct_bytes.add(len);
                stats_.delivered_bytes.add(len);
                stats_.forced_bytes.add(len);
                advance(d, len);
                return Take::kOk;
            }
            continue;
        }
        if (!reserve_blocks(d, begin, begin + len)) {
            return Take::kNoRoom;
        }
        store(d, begin, payload);
        break;
    }
    if (!hold) {
        deliver(d, to_server, UINT32_MAX, sink);
        if (d.range_count == 0) {
            d.hole_wait = 0;
        } else if (++d.hole_wait > kReassemblyHoleSegments) {
            // Nobody acknowledges here to tell a loss from a late segment: stop waiting.
            skip_front_hole(d);
            deliver(d, to_server, UINT32_MAX, sink);
        }
    }
    return Take::kOk;
}

size_t Reassembler::ranges_after_insert(const Direction& d, uint32_t begin, uint32_t end) noexcept {
    size_t touched = 0;
    for (size_t i = 0; i < d.range_count; ++i) {
        if (d.ranges[i].end >= begin && d.ranges[i].begin <= end) {
            ++touched;
        }
    }
    return d.range_count + 1 - touched;
}

void Reassembler::store(Direction& d, uint32_t begin, std::span<const uint8_t> payload) noexcept {
    const uint32_t end = begin + size32(payload);
    // The copy that came first wins: only the holes of [begin, end) are written.
    uint32_t cur = begin;
    uint64_t copied = 0;
    for (size_t i = 0; i < d.range_count && cur < end; ++i) {
        const Range r = d.ranges[i];
        if (r.end <= cur) {
            continue;
        }
        if (r.begin >= end) {
            break;
        }
        if (r.begin > cur) {
            write(d, cur, payload.subspan(cur - begin, r.begin - cur));
            copied += r.begin - cur;
        }
        cur = std::max(cur, r.end);
    }
    if (cur < end) {
        write(d, cur, payload.subspan(cur - begin, end - cur));
        copied += end - cur;
    }
    stats_.held_bytes.add(copied);
    stats_.overlap_bytes.add(payload.size() - copied);

    std::array<Range, kReassemblyMaxRanges> merged_list{};
    size_t n = 0;
    Range merged{begin, end};
    bool placed = false;
    for (size_t i = 0; i < d.range_count; ++i) {
        const Range r = d.ranges[i];
        if (r.end < merged.begin) {
            merged_list[n++] = r;
        } else if (r.begin > merged.end) {
            if (!placed) {
                merged_list[n++] = merged;
                placed = true;
            }
            merged_list[n++] = r;
        } else {
            merged.begin = std::min(merged.begin, r.begin);
            merged.end = std::max(merged.end, r.end);
        }
    }
    if (!placed) {
        merged_list[n++] = merged;
    }
    d.ranges = merged_list;
    d.range_count = static_cast<uint8_t>(n);
}

void Reassembler::write(Direction& d, uint32_t offset, std::span<const uint8_t> bytes) noexcept {
    uint32_t done = 0;
    const uint32_t len = size32(bytes);
    while (done < len) {
        const uint32_t pos = d.head + offset + done;
        const uint32_t in_block = pos % kBlock;
        const uint32_t chunk = std::min(len - done, kBlock - in_block);
        std::memcpy(blocks_[d.blocks[pos / kBlock]].bytes + in_block, bytes.data() + done, chunk);
        done += chunk;
    }
}

bool Reassembler::reserve_blocks(Direction& d, uint32_t begin, uint32_t end) noexcept {
    for (uint32_t b = (d.head + begin) / kBlock; b <= (d.head + end - 1) / kBlock; ++b) {
        if (d.blocks[b] == kNone) {
            const uint32_t index = acquire_block();
            if (index == kNone) {
                return false;
            }
            d.blocks[b] = index;
        }
    }
    return true;
}

void Reassembler::deliver(Direction& d, bool to_server, uint32_t limit, StreamSink& sink) noexcept {
    while (limit > 0 && d.range_count > 0 && d.ranges[0].begin == 0) {
        const uint32_t n = std::min(d.ranges[0].end, limit);
        uint32_t done = 0;
        while (done < n) {
            const uint32_t pos = d.head + done;
            const uint32_t in_block = pos % kBlock;
            const uint32_t chunk = std::min(n - done, kBlock - in_block);
            sink.data(
                to_server,
                std::span<const uint8_t>(blocks_[d.blocks[pos / kBlock]].bytes + in_block, chunk),
                d.base_seq + done);
            done += chunk;
        }
        stats_.delivered_bytes.add(n);
        limit -= n;
        advance(d, n);
    }
}

void Reassembler::acknowledge(Direction& d, bool to_server, uint32_t ack,
                              StreamSink& sink) noexcept {
    if (!d.base_known) {
        d.base_seq = ack;  // the peer says where this direction's bytes start
        d.base_known = true;
        return;
    }
    const auto acked = static_cast<int32_t>(ack - d.base_seq);
    if (acked <= 0 || acked > kMaxStreamGap) {
        return;  // nothing new, or no acknowledgement of this stream at all
    }
    auto limit = static_cast<uint32_t>(acked);
    if (d.fin) {
        // The FIN takes a sequence number of its own but carries no byte.
        const auto to_fin = static_cast<int32_t>(d.fin_seq - d.base_seq);
        if (to_fin >= 0 && limit > static_cast<uint32_t>(to_fin)) {
            limit = static_cast<uint32_t>(to_fin);
        }
    }
    while (limit > 0) {
        const uint32_t before = d.base_seq;
        deliver(d, to_server, limit, sink);
        limit -= d.base_seq - before;
        if (limit == 0) {
            break;
        }
        // The receiver has bytes the capture never showed: a hole that cannot fill.
        const uint32_t hole = d.range_count > 0 ? std::min(d.ranges[0].begin, limit) : limit;
        stats_.gaps.add();
        stats_.gap_bytes.add(hole);
        advance(d, hole);
        d.hole_wait = 0;
        limit -= hole;
    }
    maybe_end(d, to_server, sink);
}

void Reassembler::skip_front_hole(Direction& d) noexcept {
    if (d.range_count == 0 || d.ranges[0].begin == 0) {
        return;
    }
    stats_.gaps.add();
    stats_.gap_bytes.add(d.ranges[0].begin);
    advance(d, d.ranges[0].begin);
    d.hole_wait = 0;
}

void Reassembler::flush_direction(Direction& d, bool to_server, StreamSink& sink) noexcept {
    while (d.range_count > 0) {
        skip_front_hole(d);
        deliver(d, to_server, UINT32_MAX, sink);
    }
    maybe_end(d, to_server, sink);
}

void Reassembler::maybe_end(Direction& d, bool to_server, StreamSink& sink) noexcept {
    if (d.fin && !d.ended && d.range_count == 0 && d.base_seq == d.fin_seq) {
        d.ended = true;
        sink.end(to_server, false);
    }
}

void Reassembler::advance(Direction& d, uint32_t n) noexcept {
    d.base_seq += n;
    size_t kept = 0;
    for (size_t i = 0; i < d.range_count; ++i) {
        Range r = d.ranges[i];
        r.begin = r.begin > n ? r.begin - n : 0;
        r.end = r.end > n ? r.end - n : 0;
        if (r.end > r.begin) {
            d.ranges[kept++] = r;
        }
    }
    d.range_count = static_cast<uint8_t>(kept);
    if (kept == 0) {
        free_blocks(d);  // nothing held: the ring starts over
        return;
    }
    const uint64_t pos = uint64_t{d.head} + n;
    const auto gone = static_cast<size_t>(std::min<uint64_t>(pos / kBlock, kReassemblyMaxBlocks));
    for (size_t i = 0; i < gone; ++i) {
        if (d.blocks[i] != kNone) {
            release_block(d.blocks[i]);
        }
    }
    std::move(d.blocks.begin() + static_cast<std::ptrdiff_t>(gone), d.blocks.end(),
              d.blocks.begin());
    std::fill(d.blocks.end() - static_cast<std::ptrdiff_t>(gone), d.blocks.end(), kNone);
    d.head = static_cast<uint32_t>(pos % kBlock);
}

void Reassembler::free_blocks(Direction& d) noexcept {
    for (uint32_t& b : d.blocks) {
        if (b != kNone) {
            release_block(b);
            b = kNone;
        }
    }
    d.range_count = 0;
    d.head = 0;
}

uint32_t Reassembler::acquire_block() noexcept {
    uint32_t index = kNone;
    if (free_block_ != kNone) {
        index = free_block_;
        std::memcpy(&free_block_, blocks_[index].bytes, sizeof(free_block_));
    } else if (blocks_never_used_ < block_capacity_) {
        index = blocks_never_used_++;
    } else {
        return kNone;
    }
    stats_.blocks_in_use.add();
    return index;
}

void Reassembler::release_block(uint32_t index) noexcept {
    std::memcpy(blocks_[index].bytes, &free_block_, sizeof(free_block_));
    free_block_ = index;
    stats_.blocks_in_use.set(stats_.blocks_in_use.load() - 1);
}

}  // namespace sensor::flow
