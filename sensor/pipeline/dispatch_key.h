#pragma once
// DispatchKey: what the capture thread needs to pick a frame's worker. Reads only headers: the
// link layer, each IP header, and the tunnel headers the decoder peels (IP-in-IP, IPv6-in-IP,
// GRE with PPTP's enhanced GRE, VXLAN), so flows inside one tunnel spread over workers by their
// inner addresses. Pure and stateless: no reassembly, no counters; capture thread only.

#include <cstdint>

#include "sensor/core/frame.h"
#include "sensor/core/ip_address.h"

namespace sensor::pipeline {

struct DispatchKey {
    enum class Kind : uint8_t {
        kNone,      // no IP layer could be read (non-IP, malformed): any worker will do
        kPair,      // place by pair
        kFragment,  // an IP layer on the way is a fragment: keep its datagram together
    };
    Kind kind = Kind::kNone;
    // Symmetric hash of the innermost address pair read (the same in both directions). For a
    // fragment other than the first, the fragmented layer's own pair: what it carries is out of
    // sight.
    uint64_t pair = 0;
    // kFragment: identity of the outermost fragmented datagram (addresses, id, protocol), and
    // whether this is its first fragment (the one whose headers show what it carries).
    uint64_t datagram = 0;
    bool first_fragment = false;
    // Symmetric hash of the innermost layer's flow (pair, protocol and ports) when its TCP, UDP
    // or SCTP ports are in sight (an unfragmented packet or a first fragment); 0 otherwise.
    uint64_t flow = 0;
    uint8_t tunnel_depth = 0;  // tunnel layers peeled to reach pair
};

// with_flow false: key.flow stays 0 (placing by pair needs no flow, and the capture thread,
// which keys every packet, saves its work).
DispatchKey dispatch_key(const core::Frame& frame, bool with_flow = true) noexcept;
// The same, always by walking every layer (dispatch_key() takes a shortcut for plain Ethernet,
// IPv4, TCP or UDP frames); tests compare the two.
DispatchKey dispatch_key_walked(const core::Frame& frame, bool with_flow = true) noexcept;

// Symmetric in (a, b): both directions of a conversation get the same value.
uint64_t address_pair_hash(const core::IpAddress& a, const core::IpAddress& b) noexcept;

}  // namespace sensor::pipeline
