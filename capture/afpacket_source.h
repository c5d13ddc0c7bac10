#pragma once
// AfPacketSource: live capture from an Ethernet interface through an AF_PACKET socket with
// a TPACKET_V3 ring, optionally one member of a PACKET_FANOUT group so that N sources (one
// per worker) share an interface flow by flow. Owned and read by one thread; any thread may
// call break_loop() and read stats().

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "capture/batch_source.h"
#include "capture/live_source.h"
#include "capture/pcap_file_reader.h"
#include "sensor/core/frame.h"
#include "sensor/core/result.h"

namespace sensor::capture {

// How a fanout group splits traffic among its members.
enum class FanoutMode : uint8_t {
    // The kernel's symmetric flow hash (PACKET_FANOUT_HASH): addresses, protocol and ports.
    kHash,
    // A symmetric hash of the IP source and destination only (PACKET_FANOUT_CBPF): every
    // flow between two hosts, and every fragment, reaches the same member, as the replay
    // dispatcher places them. Non-IP frames go to the first member.
    kAddressPair,
};

struct AfPacketOptions {
    std::string iface;
    // The ring is block_bytes * block_count of kernel memory per source (64 MiB by default).
    // A block is handed over whole; it must be a multiple of the page size, and a packet
    // longer than a block (less its header) is truncated.
    uint32_t block_bytes = 4u << 20;
    uint32_t block_count = 16;
    // A partly filled block is handed over after this long (latency when traffic is light).
    uint32_t block_timeout_ms = 10;
    // Longest time read() waits for a block before it returns an empty batch.
    int timeout_ms = 100;
    int snaplen = 65535;
    bool promisc = true;
    std::string bpf;  // libpcap filter expression, compiled for Ethernet; empty = everything
    // Sources with the same group id on the same interface (and network namespace) split its
    // traffic by a symmetric hash: both directions of a flow reach the same member.
    std::optional<uint16_t> fanout_group;
    FanoutMode fanout_mode = FanoutMode::kHash;
    // kHash only: reassemble IPv4 fragments before hashing, so that a datagram's fragments
    // stay on one member; the member then receives the reassembled datagram, not the fragments.
    bool fanout_defrag = true;
};

class AfPacketSource final : public BatchSource {
public:
    ~AfPacketSource() override;
    AfPacketSource(const AfPacketSource&) = delete;
    AfPacketSource& operator=(const AfPacketSource&) = delete;

    // Opens the socket, maps the ring, installs the filter and joins the fanout group.
    // Errors name the interface (and the filter or group). Needs CAP_NET_RAW.
    static core::Result<std::unique_ptr<AfPacketSource>> open(const AfPacketOptions& options,
                                                              uint32_t source_id);

    // Appends packets from the ring, waiting up to timeout_ms when no block is ready; blocks
    // go back to the kernel as soon as they are copied. Returns kOk with zero or more frames,
    // or kError (error() says why) when the socket failed or the interface went away.
    ReadStatus read(core::FrameBatch& batch) noexcept override;

    // Makes a waiting read() return now (or the next one, if none waits). Any thread, and
    // safe from a signal handler.
    void break_loop() noexcept override;

    // Adds the kernel's PACKET_STATISTICS (which reset on every query) to stats(). Owner
    // thread; a syscall, so about once a second and once before close.
    void update_stats() noexcept override;

    const LiveStats& stats() const noexcept override { return stats_; }
    const std::string& iface() const noexcept override { return iface_; }
    int linktype() const noexcept { return DLT_EN10MB; }
    const std::string& error() const noexcept override { return error_; }

private:
    struct Ring {
        uint8_t* base = nullptr;
        size_t bytes = 0;
    };
    AfPacketSource(const AfPacketOptions& options, uint32_t source_id, int fd, int wake_fd,
                   Ring ring);
    enum class WaitResult : uint8_t { kReady, kStop, kError };
    WaitResult wait() noexcept;
    bool next_packet(core::FrameBatch& batch) noexcept;

    std::string iface_;
    uint32_t source_id_;
    int fd_;
    int wake_fd_;  // eventfd written by break_loop()
    Ring ring_;
    uint32_t block_bytes_;
    uint32_t block_count_;
    int timeout_ms_;
    uint32_t snaplen_;
    std::string error_;
    LiveStats stats_;

    // Position in the ring: the block being copied (nullptr between blocks).
    uint32_t block_index_ = 0;
    uint8_t* block_ = nullptr;
    uint32_t packets_left_ = 0;
    uint32_t offset_ = 0;
    std::unique_ptr<uint8_t[]> vlan_scratch_;  // a frame with its VLAN tag put back
};

}  // namespace sensor::capture
