#pragma once
// BatchSource: what a thread that reads a live source into batches needs from it (read,
// wake-up, kernel counters). LiveSource and AfPacketSource implement it; the pipeline's
// self-reading workers hold one each. One call per batch, never per packet.

#include <string>

#include "capture/pcap_file_reader.h"
#include "sensor/core/counter.h"
#include "sensor/core/frame.h"

namespace sensor::capture {

// Statistics of a live source. Written only by the thread that owns the source (read() and
// update_stats()); any thread may load them. Kernel figures are cumulative since open.
struct LiveStats {
    core::Counter received;          // frames copied into batches
    core::Counter bytes;             // captured bytes copied into batches
    core::Counter kernel_received;   // frames the kernel queued for the socket, dropped included
    core::Counter kernel_dropped;    // frames lost because the kernel ring was full
    core::Counter iface_dropped;     // frames lost by the interface or driver (libpcap only)
    core::Counter oversize_dropped;  // frames larger than an empty batch's arena
    core::Counter ring_errors;       // AF_PACKET ring entries with impossible offsets, skipped
};

class BatchSource {
public:
    virtual ~BatchSource() = default;
    // Appends the packets that are ready, waiting up to the source's timeout when none is.
    // kOk with zero or more frames, or kError (error() says why). Owner thread.
    virtual ReadStatus read(core::FrameBatch& batch) noexcept = 0;
    // Makes a waiting read() return now (or the next one). Any thread, signal-safe.
    virtual void break_loop() noexcept = 0;
    // Refreshes the kernel counters in stats(): a syscall, about once a second. Owner thread.
    virtual void update_stats() noexcept = 0;
    virtual const LiveStats& stats() const noexcept = 0;
    virtual const std::string& iface() const noexcept = 0;
    virtual const std::string& error() const noexcept = 0;
};

}  // namespace sensor::capture
