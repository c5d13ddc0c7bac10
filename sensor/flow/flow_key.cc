#include "sensor/flow/flow_key.h"

#include "sensor/core/mix64.h"

namespace sensor::flow {

namespace {

bool endpoint_less(const core::IpAddress& a, uint16_t a_port, const core::IpAddress& b,
                   uint16_t b_port) noexcept {
    int c = std::memcmp(a.bytes.data(), b.bytes.data(), a.bytes.size());
    if (c != 0) {
        return c < 0;
    }
    return a_port < b_port;
}

// Folds one word in: a multiply spreads its bits upward, the shift brings them back down.
// Cheap per word; core::mix64 then mixes the whole state once.
uint64_t fold(uint64_t h, uint64_t v) noexcept {
    h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
    return h ^ (h >> 29);
}

uint64_t load64(const uint8_t* p) noexcept {
    uint64_t v = 0;
    std::memcpy(&v, p, sizeof(v));
    return v;
}

}  // namespace

FlowKey make_flow_key(const decode::DecodedPacket& pkt, bool& src_is_lo) noexcept {
    FlowKey key;
    key.ip_proto = pkt.ip_proto;
    key.v6 = pkt.src.v6;
    key.vlan = pkt.vlan_count > 0 ? pkt.vlan_ids[0] : 0;
    src_is_lo = !endpoint_less(pkt.dst, pkt.dst_port, pkt.src, pkt.src_port);
    const auto& lo = src_is_lo ? pkt.src : pkt.dst;
    const auto& hi = src_is_lo ? pkt.dst : pkt.src;
    key.addr_lo = lo.bytes;
    key.addr_hi = hi.bytes;
    key.port_lo = src_is_lo ? pkt.src_port : pkt.dst_port;
    key.port_hi = src_is_lo ? pkt.dst_port : pkt.src_port;
    return key;
}

uint64_t hash_flow_key(const FlowKey& key) noexcept {
    uint64_t h = 0x243f6a8885a308d3ULL;
    h = fold(h, load64(key.addr_lo.data()));
    h = fold(h, load64(key.addr_lo.data() + 8));
    h = fold(h, load64(key.addr_hi.data()));
    h = fold(h, load64(key.addr_hi.data() + 8));
    h = fold(h, (uint64_t{key.port_lo} << 32) | (uint64_t{key.port_hi} << 16) | key.vlan);
    h = fold(h, (uint64_t{key.ip_proto} << 1) | (key.v6 ? 1u : 0u));
    return core::mix64(h);
}

}  // namespace sensor::flow
