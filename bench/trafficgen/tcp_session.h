#pragma once
// TcpSession: one TCP connection played out at the capture point: handshake, data cut at
// the MSS (or at chosen points) with delayed ACKs, FIN/ACK teardown or RST. Times are the
// tap's view: a packet sent towards a peer draws its answer after that peer's turn-around
// time (network round trip beyond the tap plus stack latency). One per connection.

#include <cstddef>
#include <cstdint>
#include <span>

#include "bench/trafficgen/network.h"
#include "bench/trafficgen/rng.h"
#include "sensor/core/ip_address.h"

namespace sensor::trafficgen {

enum class Side : uint8_t { kClient = 0, kServer = 1 };

struct TcpPeer {
    core::IpAddress ip;
    uint16_t port = 0;
    int64_t turn_us = 300;      // tap -> peer -> tap, including the peer's stack
    uint32_t link_mbps = 1000;  // paces back-to-back segments the peer sends
};

struct SendOptions {
    int64_t think_us = 0;               // sender's delay after the last packet it received
    int64_t not_before_us = 0;          // absolute earliest start (timers, polls)
    std::span<const size_t> cuts = {};  // segment boundaries inside data (else MSS-sized)
    int64_t cut_gap_us = 0;             // extra pause before each segment that starts at a cut
    bool reply_follows = false;         // the receiver answers with data, carrying the final ACK
    // The first two segments reach the capture point in swapped order (reordered in the
    // network): each is stamped with the other's time. The receiver's ACK of both follows.
    bool swap_first_two = false;
};

class TcpSession {
public:
    // The client's port must already be claimed with Network::ephemeral_port().
    TcpSession(Network& net, Rng& rng, const TcpPeer& client, const TcpPeer& server,
               int64_t start_us);

    void connect();
    void send(Side from, std::span<const uint8_t> data, const SendOptions& opts = {});
    void close(Side initiator, int64_t think_us = 0);
    void reset(Side from, int64_t think_us = 0);

    // Time of the last packet either side sent.
    int64_t now() const { return now_; }
    uint32_t next_seq(Side side) const { return state_[index(side)].snd_nxt; }

private:
    struct Direction {
        TcpPeer peer;
        Stack stack = Stack::kLinux;
        uint32_t snd_nxt = 0;
        uint32_t rcv_nxt = 0;
        uint16_t window = 0;
        int64_t last_tx_us = 0;  // last packet this side sent
        int64_t last_rx_us = 0;  // last packet sent towards this side
    };

    static size_t index(Side s) { return static_cast<size_t>(s); }
    static Side other(Side s) { return s == Side::kClient ? Side::kServer : Side::kClient; }
    int64_t start_time(Side from, int64_t think_us, int64_t not_before_us) const;
    void emit(Side from, int64_t ts_us, uint8_t flags, std::span<const uint8_t> payload,
              std::span<const uint8_t> options = {});
    void ack(Side from, int64_t ts_us);

    Network& net_;
    Rng& rng_;
    Direction state_[2];
    uint32_t flow_label_;
    size_t mss_;
    int64_t now_;
};

}  // namespace sensor::trafficgen
