#include "bench/trafficgen/tcp_session.h"

#include <algorithm>
#include <array>
#include <vector>

namespace sensor::trafficgen {
namespace {

constexpr uint32_t kInitialCwnd = 10;  // segments (RFC 6928)

struct SynOptions {
    std::array<uint8_t, 12> bytes{};
    size_t len = 0;
    std::span<const uint8_t> view() const { return std::span(bytes.data(), len); }
};

bool offers_window_scale(Stack s) { return s == Stack::kWindows || s == Stack::kLinux; }

// SYN and SYN/ACK options as each stack writes them (no timestamps, so later segments carry
// no options). A SYN/ACK only offers what the SYN offered.
SynOptions syn_options(Stack s, size_t mss, bool full) {
    SynOptions o;
    const auto m = static_cast<uint16_t>(mss);
    if (full && s == Stack::kWindows) {
        o.bytes = {2, 4, static_cast<uint8_t>(m >> 8), static_cast<uint8_t>(m), 1, 3, 3, 8, 1, 1,
                   4, 2};
        o.len = 12;
    } else if (full && s == Stack::kLinux) {
        o.bytes = {2, 4, static_cast<uint8_t>(m >> 8), static_cast<uint8_t>(m), 1, 1, 4, 2, 1, 3,
                   3, 7};
        o.len = 12;
    } else {
        o.bytes = {2, 4, static_cast<uint8_t>(m >> 8), static_cast<uint8_t>(m)};
        o.len = 4;
    }
    return o;
}

uint16_t syn_window(Stack s, bool is_server) {
    switch (s) {
        case Stack::kWindows:
            return 64240;
        case Stack::kLinux:
            return is_server ? 65160 : 64240;
        case Stack::kEmbedded:
            return 8192;
        case Stack::kScanner:
            return 1024;
    }
    return 8192;
}

uint16_t established_window(Stack s, bool scaled) {
    switch (s) {
        case Stack::kWindows:
            return scaled ? 1026 : 64240;  // x256 when scaled
        case Stack::kLinux:
            return scaled ? 502 : 64240;  // x128 when scaled
        case Stack::kEmbedded:
            return 8192;
        case Stack::kScanner:
            return 1024;
    }
    return 8192;
}

int64_t delayed_ack_us(Stack s) { return s == Stack::kWindows ? 100'000 : 40'000; }

int64_t wire_time_us(size_t payload_len, uint32_t link_mbps) {
    const auto bits = static_cast<int64_t>((payload_len + 66) * 8);
    return std::max<int64_t>(1, bits / static_cast<int64_t>(link_mbps));
}

}  // namespace

TcpSession::TcpSession(Network& net, Rng& rng, const TcpPeer& client, const TcpPeer& server,
                       int64_t start_us)
    : net_(net),
      rng_(rng),
      flow_label_(static_cast<uint32_t>(rng.next() & 0xfffff)),
      mss_(client.ip.v6 ? 1440 : 1460),
      now_(start_us) {
    state_[0].peer = client;
    state_[1].peer = server;
    for (Direction& d : state_) {
        d.stack = net_.host(d.peer.ip).stack;
        d.snd_nxt = static_cast<uint32_t>(rng_.next());
        d.last_tx_us = start_us - 1;
        d.last_rx_us = start_us - 1;
    }
    const bool scaled =
        offers_window_scale(state_[0].stack) && offers_window_scale(state_[1].stack);
    state_[0].window = established_window(state_[0].stack, scaled);
    state_[1].window = established_window(state_[1].stack, scaled);
}

int64_t TcpSession::start_time(Side from, int64_t think_us, int64_t not_before_us) const {
    const Direction& d = state_[index(from)];
    return std::max({d.last_rx_us + d.peer.turn_us + think_us, d.last_tx_us + 1, not_before_us});
}

void TcpSession::emit(Side from, int64_t ts_us, uint8_t flags, std::span<const uint8_t> payload,
                      std::span<const uint8_t> options) {
    Direction& d = state_[index(from)];
    Direction& r = state_[index(other(from))];
    FrameSpec spec = net_.spec(d.peer.ip, r.peer.ip, kProtoTcp);
    spec.flow_label = flow_label_;
    TcpHeader h;
    h.src_port = d.peer.port;
    h.dst_port = r.peer.port;
    h.seq = d.snd_nxt;
    h.ack = (flags & kAck) != 0 ? d.rcv_nxt : 0;
    h.flags = flags;
    if ((flags & kRst) != 0) {
        h.window = 0;
    } else if ((flags & kSyn) != 0) {
        h.window = syn_window(d.stack, from == Side::kServer);
    } else {
        h.window = d.window;
    }
    h.options = options;
    net_.emit(ts_us, make_tcp_frame(spec, h, payload));

    d.snd_nxt += static_cast<uint32_t>(payload.size());
    if ((flags & (kSyn | kFin)) != 0) {
        ++d.snd_nxt;
    }
    if ((flags & kRst) == 0) {
        r.rcv_nxt = d.snd_nxt;
    }
    d.last_tx_us = std::max(d.last_tx_us, ts_us);
    r.last_rx_us = std::max(r.last_rx_us, ts_us);
    now_ = std::max(now_, ts_us);
}

void TcpSession::ack(Side from, int64_t ts_us) {
    emit(from, std::max(ts_us, state_[index(from)].last_tx_us + 1), kAck, {});
}

void TcpSession::connect() {
    Direction& c = state_[0];
    Direction& s = state_[1];
    const int64_t syn_at = std::max(now_, c.last_tx_us + 1);
    const SynOptions client_opts = syn_options(c.stack, mss_, true);
    emit(Side::kClient, syn_at, kSyn, {}, client_opts.view());
    const bool full = offers_window_scale(c.stack);
    const SynOptions server_opts = syn_options(s.stack, mss_, full);
    emit(Side::kServer, syn_at + s.peer.turn_us, kSyn | kAck, {}, server_opts.view());
    ack(Side::kClient, syn_at + s.peer.turn_us + c.peer.turn_us);
}

void TcpSession::send(Side from, std::span<const uint8_t> data, const SendOptions& opts) {
    if (data.empty()) {
        return;
    }
    const Side to = other(from);
    Direction& d = state_[index(from)];
    const Direction& r = state_[index(to)];

    // Piece boundaries: the explicit cuts, then MSS-sized segments inside each piece.
    std::vector<size_t> bounds{0};
    for (size_t cut : opts.cuts) {
        if (cut > bounds.back() && cut < data.size()) {
            bounds.push_back(cut);
        }
    }
    bounds.push_back(data.size());

    // Where the second segment starts and how long it is (for swap_first_two).
    size_t second_len = 0;
    bool second_at_cut = false;
    if (bounds[1] > mss_) {
        second_len = std::min(mss_, bounds[1] - mss_);
    } else if (bounds.size() > 2) {
        second_len = std::min(mss_, bounds[2] - bounds[1]);
        second_at_cut = true;
    }
    const bool swap = opts.swap_first_two && second_len > 0;
    int64_t first_stamp = 0;
    size_t segment = 0;

    int64_t t = start_time(from, opts.think_us, opts.not_before_us);
    uint32_t cwnd = kInitialCwnd;
    uint32_t in_flight = 0;
    int64_t flight_first_ack_us = 0;
    int pending_acks = 0;
    bool first = true;
    for (size_t p = 0; p + 1 < bounds.size(); ++p) {
        for (size_t off = bounds[p]; off < bounds[p + 1]; off += mss_) {
            const size_t len = std::min(mss_, bounds[p + 1] - off);
            if (!first) {
                t += wire_time_us(len, d.peer.link_mbps);
                if (off == bounds[p]) {
                    t += opts.cut_gap_us;
                }
            }
            if (in_flight == cwnd) {
                // Slow start: the next flight leaves when the first ACK reaches the sender.
                t = std::max(t, flight_first_ack_us + d.peer.turn_us);
                cwnd *= 2;
                in_flight = 0;
            }
            first = false;
            const bool piece_end = off + len == bounds[p + 1];
            int64_t stamp = t;
            if (swap && segment == 0) {
                first_stamp = t;
                stamp = t + std::max<int64_t>(1, wire_time_us(second_len, d.peer.link_mbps) +
                                                     (second_at_cut ? opts.cut_gap_us : 0));
            } else if (swap && segment == 1) {
                stamp = first_stamp;
            }
            ++segment;
            emit(from, stamp, piece_end ? kAck | kPsh : kAck, data.subspan(off, len));
            ++in_flight;
            ++pending_acks;
            const bool last = piece_end && p + 2 == bounds.size();
            const bool pause_follows =
                piece_end && !last && opts.cut_gap_us > delayed_ack_us(r.stack);
            int64_t ack_at = -1;
            if (pending_acks == 2) {
                ack_at = t + r.peer.turn_us;
            } else if (pause_follows || (last && !opts.reply_follows)) {
                ack_at = t + r.peer.turn_us + delayed_ack_us(r.stack);
            }
            if (ack_at >= 0) {
                ack(to, ack_at);
                pending_acks = 0;
                if (in_flight <= 2) {
                    flight_first_ack_us = ack_at;
                }
            } else if (in_flight == 1) {
                flight_first_ack_us = t + r.peer.turn_us;
            }
        }
    }
}

void TcpSession::close(Side initiator, int64_t think_us) {
    const Side peer = other(initiator);
    const int64_t t = start_time(initiator, think_us, 0);
    emit(initiator, t, kFin | kAck, {});
    const int64_t t2 =
        std::max(t + state_[index(peer)].peer.turn_us, state_[index(peer)].last_tx_us + 1);
    emit(peer, t2, kFin | kAck, {});
    ack(initiator, t2 + state_[index(initiator)].peer.turn_us);
}

void TcpSession::reset(Side from, int64_t think_us) {
    emit(from, start_time(from, think_us, 0), kRst | kAck, {});
}

}  // namespace sensor::trafficgen
