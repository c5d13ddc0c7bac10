#pragma once
// Frame builders for the dispatch and shared-state tests: IP packets wrapped in GRE, VXLAN,
// IP-in-IP and IPv6-in-IPv6, outer IPv4 fragments, and the rule-set and capture-writing glue the
// pipeline tests around them share. Built on bench/trafficgen's packet builder.

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/trafficgen/generator.h"
#include "bench/trafficgen/packet_builder.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/core/ip_address.h"
#include "sensor/detect/signature_db.h"

namespace sensor::pipeline::test_support {

using Bytes = std::vector<uint8_t>;

inline core::IpAddress ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    core::IpAddress x;
    x.bytes = {a, b, c, d};
    return x;
}

inline core::IpAddress ip6(uint16_t last) {
    core::IpAddress x;
    x.v6 = true;
    x.bytes = {0x20, 0x01, 0x0d, 0xb8};  // 2001:db8::<last>
    x.bytes[14] = static_cast<uint8_t>(last >> 8);
    x.bytes[15] = static_cast<uint8_t>(last);
    return x;
}

inline trafficgen::FrameSpec spec(const core::IpAddress& src, const core::IpAddress& dst) {
    trafficgen::FrameSpec s;
    s.src_mac.bytes = {0x02, 0, 0, 0, 0, 1};
    s.dst_mac.bytes = {0x02, 0, 0, 0, 0, 2};
    s.src_ip = src;
    s.dst_ip = dst;
    return s;
}

inline std::span<const uint8_t> text(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// The IP packet of an Ethernet frame from the packet builder, without link header or padding.
inline Bytes ip_packet(const Bytes& frame) {
    const size_t start = trafficgen::kEthernetHeaderLen;
    const bool v6 = (frame[start] >> 4) == 6;
    const size_t length = v6 ? 40 + ((size_t{frame[start + 4]} << 8) | frame[start + 5])
                             : (size_t{frame[start + 2]} << 8) | frame[start + 3];
    return Bytes(frame.begin() + static_cast<std::ptrdiff_t>(start),
                 frame.begin() + static_cast<std::ptrdiff_t>(start + length));
}

inline Bytes udp_packet(const core::IpAddress& src, const core::IpAddress& dst, uint16_t sport,
                        uint16_t dport, std::span<const uint8_t> payload) {
    return ip_packet(trafficgen::make_udp_frame(spec(src, dst), sport, dport, payload));
}

inline void put16(Bytes& b, size_t at, uint32_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}

// IPv4 header (20 bytes, checksum filled in) for a payload of payload_len bytes.
// fragment: the flags and offset field (0x2000 = more fragments; offset in 8-byte units).
inline Bytes ipv4_header(const core::IpAddress& src, const core::IpAddress& dst, uint8_t proto,
                         size_t payload_len, uint16_t id = 1, uint16_t fragment = 0) {
    Bytes h(20, 0);
    h[0] = 0x45;
    put16(h, 2, static_cast<uint32_t>(20 + payload_len));
    put16(h, 4, id);
    put16(h, 6, fragment);
    h[8] = 64;
    h[9] = proto;
    std::copy_n(src.bytes.begin(), 4, h.begin() + 12);
    std::copy_n(dst.bytes.begin(), 4, h.begin() + 16);
    put16(h, 10, trafficgen::internet_checksum(h));
    return h;
}

inline Bytes ethernet(const Bytes& ip, uint16_t ethertype = 0x0800) {
    Bytes f = {0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1};
    f.push_back(static_cast<uint8_t>(ethertype >> 8));
    f.push_back(static_cast<uint8_t>(ethertype));
    f.insert(f.end(), ip.begin(), ip.end());
    while (f.size() < trafficgen::kMinFrameLen) {
        f.push_back(0);
    }
    return f;
}

inline Bytes concat(Bytes a, const Bytes& b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
}

// GRE (RFC 2784, no options) carrying `inner` of the given ethertype.
inline Bytes gre_payload(const Bytes& inner, uint16_t proto = 0x0800) {
    Bytes g = {0, 0, static_cast<uint8_t>(proto >> 8), static_cast<uint8_t>(proto)};
    return concat(g, inner);
}

inline Bytes gre_frame(const core::IpAddress& outer_src, const core::IpAddress& outer_dst,
                       const Bytes& inner, uint16_t proto = 0x0800, uint16_t id = 1) {
    const Bytes gre = gre_payload(inner, proto);
    return ethernet(concat(ipv4_header(outer_src, outer_dst, 47, gre.size(), id), gre));
}

// An IPv4 payload of protocol proto split into fragments (Ethernet frames) of at most
// `chunk` payload bytes (a multiple of 8), in order.
inline std::vector<Bytes> ipv4_fragments(const core::IpAddress& src, const core::IpAddress& dst,
                                         uint8_t proto, const Bytes& payload, uint16_t id,
                                         size_t chunk) {
    std::vector<Bytes> out;
    for (size_t at = 0; at < payload.size(); at += chunk) {
        const size_t n = std::min(chunk, payload.size() - at);
        const bool more = at + n < payload.size();
        const auto field = static_cast<uint16_t>((more ? 0x2000 : 0) | (at / 8));
        Bytes piece(payload.begin() + static_cast<std::ptrdiff_t>(at),
                    payload.begin() + static_cast<std::ptrdiff_t>(at + n));
        out.push_back(ethernet(concat(ipv4_header(src, dst, proto, n, id, field), piece)));
    }
    return out;
}

// The GRE packet split into IPv4 fragments of at most `chunk` payload bytes (a multiple of 8).
inline std::vector<Bytes> gre_fragments(const core::IpAddress& outer_src,
                                        const core::IpAddress& outer_dst, const Bytes& inner,
                                        uint16_t id, size_t chunk) {
    return ipv4_fragments(outer_src, outer_dst, 47, gre_payload(inner), id, chunk);
}

inline Bytes vxlan_frame(const core::IpAddress& outer_src, const core::IpAddress& outer_dst,
                         const Bytes& inner_frame) {
    Bytes v = {0x08, 0, 0, 0, 0, 0, 42, 0};  // flags (VNI valid), VNI 42
    v = concat(v, inner_frame);
    return trafficgen::make_udp_frame(spec(outer_src, outer_dst), 49152, 4789, v);
}

inline Bytes ipip_frame(const core::IpAddress& outer_src, const core::IpAddress& outer_dst,
                        const Bytes& inner) {
    return ethernet(concat(ipv4_header(outer_src, outer_dst, 4, inner.size()), inner));
}

inline Bytes ipv6_in_ipv6_frame(const core::IpAddress& outer_src, const core::IpAddress& outer_dst,
                                const Bytes& inner) {
    Bytes h(40, 0);
    h[0] = 0x60;
    put16(h, 4, static_cast<uint32_t>(inner.size()));
    h[6] = 41;
    h[7] = 64;
    std::copy(outer_src.bytes.begin(), outer_src.bytes.end(), h.begin() + 8);
    std::copy(outer_dst.bytes.begin(), outer_dst.bytes.end(), h.begin() + 24);
    return ethernet(concat(h, inner), 0x86dd);
}

inline std::shared_ptr<const detect::SignatureDb> rules_from_text(std::string_view rules_text) {
    rules::Taxonomy taxonomy;
    auto set = rules::parse_rules_text(rules_text, "test.rules", {}, taxonomy);
    EXPECT_TRUE(set.has_value()) << set.error().message;
    if (!set) {
        return nullptr;
    }
    EXPECT_TRUE(set->report().errors.empty());
    EXPECT_TRUE(set->report().unsupported.empty());
    auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(std::move(*set)));
    EXPECT_TRUE(db.has_value()) << db.error().message;
    return db ? *db : nullptr;
}

// Writes the frames as a pcap in a directory of this process; returns its path.
inline std::string write_capture(const std::string& name, const trafficgen::Capture& capture) {
    auto dir =
        std::filesystem::temp_directory_path() / ("pipeline-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    std::string path = (dir / name).string();
    auto written = trafficgen::write_pcap(capture, path);
    EXPECT_TRUE(written) << written.error().message;
    return path;
}

}  // namespace sensor::pipeline::test_support
