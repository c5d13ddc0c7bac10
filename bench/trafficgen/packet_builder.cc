#include "bench/trafficgen/packet_builder.h"

#include <algorithm>

namespace sensor::trafficgen {
namespace {

constexpr uint16_t kEtherTypeIpv4 = 0x0800;
constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

void put16(std::vector<uint8_t>& out, uint16_t v) {
    out.push_back(static_cast<uint8_t>(v >> 8));
    out.push_back(static_cast<uint8_t>(v));
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
    put16(out, static_cast<uint16_t>(v >> 16));
    put16(out, static_cast<uint16_t>(v));
}

void set16(std::vector<uint8_t>& out, size_t at, uint16_t v) {
    out[at] = static_cast<uint8_t>(v >> 8);
    out[at + 1] = static_cast<uint8_t>(v);
}

uint64_t sum_words(std::span<const uint8_t> data) {
    uint64_t sum = 0;
    size_t i = 0;
    for (; i + 1 < data.size(); i += 2) {
        sum += static_cast<uint64_t>(data[i]) << 8 | data[i + 1];
    }
    if (i < data.size()) {
        sum += static_cast<uint64_t>(data[i]) << 8;
    }
    return sum;
}

uint64_t pseudo_header_sum(const FrameSpec& spec, uint8_t proto, size_t l4_len) {
    const size_t n = spec.src_ip.size();
    uint64_t sum = sum_words(std::span(spec.src_ip.bytes.data(), n)) +
                   sum_words(std::span(spec.dst_ip.bytes.data(), n));
    return sum + proto + l4_len;
}

// Writes Ethernet and IP headers for an L4 segment of l4_len bytes; returns the offset
// where the L4 header starts.
size_t put_headers(std::vector<uint8_t>& out, const FrameSpec& spec, uint8_t proto, size_t l4_len) {
    out.insert(out.end(), spec.dst_mac.bytes.begin(), spec.dst_mac.bytes.end());
    out.insert(out.end(), spec.src_mac.bytes.begin(), spec.src_mac.bytes.end());
    if (spec.src_ip.v6) {
        put16(out, kEtherTypeIpv6);
        put32(out, 6u << 28 | static_cast<uint32_t>(spec.tos) << 20 | (spec.flow_label & 0xfffff));
        put16(out, static_cast<uint16_t>(l4_len));
        out.push_back(proto);
        out.push_back(spec.ttl);
        out.insert(out.end(), spec.src_ip.bytes.begin(), spec.src_ip.bytes.end());
        out.insert(out.end(), spec.dst_ip.bytes.begin(), spec.dst_ip.bytes.end());
        return out.size();
    }
    put16(out, kEtherTypeIpv4);
    const size_t ip_at = out.size();
    out.push_back(0x45);
    out.push_back(spec.tos);
    put16(out, static_cast<uint16_t>(20 + l4_len));
    put16(out, spec.ip_id);
    put16(out, spec.dont_fragment ? 0x4000 : 0);
    out.push_back(spec.ttl);
    out.push_back(proto);
    put16(out, 0);
    out.insert(out.end(), spec.src_ip.bytes.begin(), spec.src_ip.bytes.begin() + 4);
    out.insert(out.end(), spec.dst_ip.bytes.begin(), spec.dst_ip.bytes.begin() + 4);
    set16(out, ip_at + 10, internet_checksum(std::span(out).subspan(ip_at, 20)));
    return out.size();
}

void pad_to_minimum(std::vector<uint8_t>& out) {
    if (out.size() < kMinFrameLen) {
        out.resize(kMinFrameLen, 0);
    }
}

}  // namespace

uint16_t internet_checksum(std::span<const uint8_t> data, uint64_t initial) {
    uint64_t sum = initial + sum_words(data);
    while (sum >> 16 != 0) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(~sum & 0xffff);
}

std::vector<uint8_t> make_tcp_frame(const FrameSpec& spec, const TcpHeader& tcp,
                                    std::span<const uint8_t> payload) {
    const size_t header_len = 20 + tcp.options.size();
    const size_t l4_len = header_len + payload.size();
    std::vector<uint8_t> out;
    out.reserve(std::max(kEthernetHeaderLen + 40 + l4_len, kMinFrameLen));
    const size_t l4_at = put_headers(out, spec, kProtoTcp, l4_len);
    put16(out, tcp.src_port);
    put16(out, tcp.dst_port);
    put32(out, tcp.seq);
    put32(out, tcp.ack);
    out.push_back(static_cast<uint8_t>(header_len / 4 << 4));
    out.push_back(tcp.flags);
    put16(out, tcp.window);
    put16(out, 0);  // checksum
    put16(out, 0);  // urgent pointer
    out.insert(out.end(), tcp.options.begin(), tcp.options.end());
    out.insert(out.end(), payload.begin(), payload.end());
    const uint64_t pseudo = pseudo_header_sum(spec, kProtoTcp, l4_len);
    set16(out, l4_at + 16, internet_checksum(std::span(out).subspan(l4_at), pseudo));
    pad_to_minimum(out);
    return out;
}

std::vector<uint8_t> make_udp_frame(const FrameSpec& spec, uint16_t src_port, uint16_t dst_port,
                                    std::span<const uint8_t> payload) {
    const size_t l4_len = 8 + payload.size();
    std::vector<uint8_t> out;
    out.reserve(std::max(kEthernetHeaderLen + 40 + l4_len, kMinFrameLen));
    const size_t l4_at = put_headers(out, spec, kProtoUdp, l4_len);
    put16(out, src_port);
    put16(out, dst_port);
    put16(out, static_cast<uint16_t>(l4_len));
    put16(out, 0);
    out.insert(out.end(), payload.begin(), payload.end());
    const uint64_t pseudo = pseudo_header_sum(spec, kProtoUdp, l4_len);
    uint16_t sum = internet_checksum(std::span(out).subspan(l4_at), pseudo);
    // A computed zero is sent as all ones: zero means "no checksum" (RFC 768).
    set16(out, l4_at + 6, sum == 0 ? 0xffff : sum);
    pad_to_minimum(out);
    return out;
}

std::vector<uint8_t> make_icmp_echo_frame(const FrameSpec& spec, bool reply, uint16_t id,
                                          uint16_t seq, std::span<const uint8_t> data) {
    const size_t l4_len = 8 + data.size();
    std::vector<uint8_t> out;
    out.reserve(std::max(kEthernetHeaderLen + 20 + l4_len, kMinFrameLen));
    const size_t l4_at = put_headers(out, spec, kProtoIcmp, l4_len);
    out.push_back(reply ? 0 : 8);
    out.push_back(0);
    put16(out, 0);
    put16(out, id);
    put16(out, seq);
    out.insert(out.end(), data.begin(), data.end());
    set16(out, l4_at + 2, internet_checksum(std::span(out).subspan(l4_at)));
    pad_to_minimum(out);
    return out;
}

}  // namespace sensor::trafficgen
