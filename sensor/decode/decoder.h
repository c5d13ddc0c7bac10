#pragma once
// Decoder: link layer to L4 for one worker. Parsing is pure (bounds-checked reads over the
// frame's bytes); the only state is IP fragment reassembly, bounded by DecodeConfig.
// Every frame ends in exactly one bucket: decoded (ip or non-ip or fragment held) or
// dropped{reason}; ARP frames are non-IP frames that are analysed (Verdict::kArp). One Decoder per
// worker; not thread-safe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <string_view>

#include "sensor/core/counter.h"
#include "sensor/core/frame.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/decode/drop_reason.h"

namespace sensor::decode {

// Checksums, as Suricata treats them: a bad IPv4, UDP, ICMP or ICMPv6 checksum is counted and
// the packet still analysed; a TCP segment with a bad checksum is counted and dropped (Suricata
// keeps it out of the stream engine). SCTP's CRC32c is not checked.
struct DecodeConfig {
    bool validate_checksums = true;
    // With validate_checksums: look at the first kChecksumSampleFrames frames; when more than one
    // in kChecksumInvalidRatio of them had a bad TCP or UDP checksum (offloading on the capturing
    // host), stop validating for the rest of the run (Suricata's `checksum-checks: auto`).
    bool checksum_auto = false;
    size_t defrag_memcap_bytes = 16u << 20;  // all datagrams under reassembly together
    size_t defrag_max_datagrams = 4096;
    int64_t defrag_timeout_us = 60'000'000;  // packet time
};

inline constexpr uint64_t kChecksumSampleFrames = 1000;
inline constexpr uint64_t kChecksumInvalidRatio = 10;

enum class Verdict : uint8_t {
    kPacket,  // out holds an IP packet (possibly reassembled)
    kNonIp,   // valid frame that carries no IP (LLDP, ...): counted, not analysed
    // out holds an Ethernet/IPv4 ARP message (out.is_arp, out.arp), found at the link layer of
    // the frame (not inside a tunnel): analysed without a flow, counted as non-IP.
    kArp,
    kFragmentHeld,  // an IP fragment stored for reassembly; nothing to analyse yet
    kDropped,       // malformed or unsupported: counted under last_drop_reason()
};

struct DecodeStats {
    core::Counter decoded;  // frames that reached kPacket/kNonIp/kArp/kFragmentHeld
    core::Counter non_ip;   // kNonIp and kArp
    core::Counter fragments_held;
    core::Counter fragments_reassembled;  // datagrams completed
    core::Counter fragments_expired;      // datagrams given up (timeout or memcap eviction)
    core::Counter checksum_bad_ipv4;      // counted; the packet is still analysed
    core::Counter checksum_bad_tcp;       // counted and dropped (bad_tcp_checksum)
    core::Counter checksum_bad_udp;
    core::Counter checksum_bad_icmp;
    core::Counter checksum_bad_icmpv6;
    core::Counter fragment_overlaps;  // fragments that overlapped bytes already held
    core::Counter l4_malformed;       // kPacket at the IP layer only (DecodedPacket::l4_malformed)
    core::Counter checksum_auto_off;  // 1 once checksum_auto switched validation off
    std::array<core::Counter, kDropReasonCount> dropped;  // label reason = kDropReasonNames

    uint64_t dropped_total() const noexcept {
        uint64_t n = 0;
        for (const auto& c : dropped) {
            n += c.load();
        }
        return n;
    }
};

// Metric names and help for the scalar counters; dropped[] is exported as
// kDecodeDroppedMetric{reason="<kDropReasonNames[i]>"}.
inline constexpr std::string_view kDecodeDroppedMetric = "sensor_decode_dropped_total";
inline constexpr core::CounterSpec<DecodeStats> kDecodeCounters[] = {
    {&DecodeStats::decoded, "sensor_decode_decoded_total",
     "Frames decoded: IP packets, non-IP frames and fragments held"},
    {&DecodeStats::non_ip, "sensor_decode_non_ip_total", "Valid frames that carry no IP"},
    {&DecodeStats::fragments_held, "sensor_decode_fragments_held_total",
     "IP fragments stored for reassembly"},
    {&DecodeStats::fragments_reassembled, "sensor_decode_fragments_reassembled_total",
     "IP datagrams rebuilt from fragments"},
    {&DecodeStats::fragments_expired, "sensor_decode_fragments_expired_total",
     "Incomplete IP datagrams given up on timeout or memory cap"},
    {&DecodeStats::checksum_bad_ipv4, "sensor_decode_checksum_bad_ipv4_total",
     "IPv4 headers with a bad checksum"},
    {&DecodeStats::checksum_bad_tcp, "sensor_decode_checksum_bad_tcp_total",
     "TCP segments with a bad checksum"},
    {&DecodeStats::checksum_bad_udp, "sensor_decode_checksum_bad_udp_total",
     "UDP datagrams with a bad checksum"},
    {&DecodeStats::checksum_bad_icmp, "sensor_decode_checksum_bad_icmp_total",
     "ICMP messages with a bad checksum"},
    {&DecodeStats::checksum_bad_icmpv6, "sensor_decode_checksum_bad_icmpv6_total",
     "ICMPv6 messages with a bad checksum"},
    {&DecodeStats::fragment_overlaps, "sensor_decode_fragment_overlaps_total",
     "IP fragments overlapping bytes already held (first copy kept)"},
    {&DecodeStats::l4_malformed, "sensor_decode_l4_malformed_total",
     "IP packets whose TCP, UDP, ICMP, SCTP or GRE header was truncated or malformed: "
     "analysed at the IP layer only (counted as decoded, not dropped)"},
    {&DecodeStats::checksum_auto_off, "sensor_decode_checksum_auto_off_total",
     "Workers that switched checksum validation off (checksum-validation: auto) because more "
     "than 1 in 10 of their first 1000 frames had a bad TCP or UDP checksum"},
};
static_assert(sizeof(DecodeStats) ==
                  (std::size(kDecodeCounters) + kDropReasonCount) * sizeof(core::Counter),
              "register every DecodeStats counter in kDecodeCounters");

class Decoder {
public:
    explicit Decoder(const DecodeConfig& config);
    ~Decoder();
    Decoder(const Decoder&) = delete;
    Decoder& operator=(const Decoder&) = delete;

    Verdict decode(const core::Frame& frame, DecodedPacket& out) noexcept;

    // Link layer up to the first (outer) IP header only: fills out.src and out.dst and
    // returns kPacket, or kNonIp (ARP included)/kDropped. Touches no counters and no reassembly
    // state, so a dispatcher can hash frames (fragments included) onto workers with the same
    // parsing.
    Verdict outer_addresses(const core::Frame& frame, DecodedPacket& out) noexcept;

    DropReason last_drop_reason() const noexcept { return last_drop_; }
    const DecodeStats& stats() const noexcept { return stats_; }

private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    DecodeConfig config_;
    DecodeStats stats_;
    DropReason last_drop_{};
};

}  // namespace sensor::decode
