#pragma once
// FlowKey: the symmetric identity of a flow. Both directions of a conversation produce the
// same key (endpoints are ordered), so both land in one flow slot and on one worker.

#include <array>
#include <cstdint>
#include <cstring>

#include "sensor/decode/decoded_packet.h"

namespace sensor::flow {

struct FlowKey {
    std::array<uint8_t, 16> addr_lo{};
    std::array<uint8_t, 16> addr_hi{};
    uint16_t port_lo = 0;
    uint16_t port_hi = 0;
    uint16_t vlan = 0;  // outer VLAN id: the same addresses on two VLANs are two flows
    uint8_t ip_proto = 0;
    bool v6 = false;

    bool operator==(const FlowKey&) const = default;
};

// Builds the key and reports whether the packet's source is the "lo" endpoint.
FlowKey make_flow_key(const decode::DecodedPacket& pkt, bool& src_is_lo) noexcept;

// 64-bit hash of the key; identical for both directions by construction of the key.
uint64_t hash_flow_key(const FlowKey& key) noexcept;

}  // namespace sensor::flow
