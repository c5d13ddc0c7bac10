#pragma once
// Segmentation and receive offloads of a capture interface, read and changed through the
// kernel's ethtool ioctls (what `ethtool -k` / `ethtool -K` do).
//
// With any of them on, the kernel hands a packet socket frames that never crossed the wire:
// GRO and LRO merge received segments into one frame of up to 64 KiB, TSO and GSO let the
// host's own outgoing segments reach the socket before they are cut. libpcap in immediate
// mode (TPACKET_V2) then sizes every ring slot for the snaplen instead of the MTU, so a
// 32 MiB ring holds 512 packets instead of about 20,000 (docs/live-capture.md). The sensor
// turns them off at start (capture.disable-offloading, as Suricata does) and restores them
// at exit.

#include <string>

#include "sensor/core/result.h"

namespace sensor::capture {

struct OffloadState {
    bool tso = false;  // TCP segmentation offload
    bool gso = false;  // generic segmentation offload
    bool gro = false;  // generic receive offload
    bool lro = false;  // large receive offload

    bool any() const noexcept { return tso || gso || gro || lro; }
    // The names of those that are on, as ethtool spells them: "tso, gso"; empty when none.
    std::string names() const;
    // The ethtool command that sets those that are on to `on` or off: "ethtool -K eth1 tso on
    // gso on".
    std::string ethtool_command(const std::string& iface, bool on) const;
    bool operator==(const OffloadState&) const = default;
};

// Reads the four offloads of iface. Errors name the interface and the kernel's reason (no
// such device, not permitted in this namespace, ...).
core::Result<OffloadState> read_offloads(const std::string& iface);

// Sets each offload to its value in `wanted`, changing only those that differ, then reads
// them back. Needs CAP_NET_ADMIN. The error names the interface, the offload that could not
// be changed and why ("cap: cannot turn tso off: Operation not permitted"); offloads changed
// before the failure stay changed and the error says which.
core::Result<void> write_offloads(const std::string& iface, const OffloadState& wanted);

}  // namespace sensor::capture
