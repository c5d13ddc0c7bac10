#pragma once
// Community ID v1 flow hash (github.com/corelight/community-id-spec), as EVE's "community_id".
// Pure function of the endpoints; callable from any thread.

#include <cstdint>
#include <string>

#include "sensor/core/records.h"

namespace sensor::alert {

// "1:" + base64(SHA1(seed . saddr . daddr . proto . 0 . sport . dport)), with the endpoints
// ordered so both directions of a flow hash the same. TCP, UDP and SCTP use the ports; ICMP
// and ICMPv6 use icmp_type/icmp_code mapped to port equivalents (one-way types keep their
// direction); other protocols hash the addresses and protocol only.
std::string community_id_v1(const core::Endpoints& endpoints, uint16_t seed = 0);
// The same text in inline storage (30 bytes), for the packet path: no allocation. Workers fill
// core::FlowRecord::community_id with it, so that the one output thread does not hash every
// flow of every worker.
core::CommunityId community_id_v1_text(const core::Endpoints& endpoints,
                                       uint16_t seed = 0) noexcept;

}  // namespace sensor::alert
