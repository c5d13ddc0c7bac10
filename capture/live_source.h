#pragma once
// LiveSource: live capture from one interface through libpcap. One source per capture
// thread: only that thread calls read() and update_stats(); any thread may call break_loop()
// and read stats().

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <string>

#include "capture/batch_source.h"
#include "capture/pcap_file_reader.h"
#include "sensor/core/counter.h"
#include "sensor/core/frame.h"
#include "sensor/core/result.h"

namespace sensor::capture {

struct LiveOptions {
    std::string iface;
    int snaplen = 65535;
    // Kernel ring in bytes; 0 keeps libpcap's default (2 MiB). In immediate mode libpcap
    // gives every packet a slot of the largest possible frame: about 64 KiB when the
    // interface has segmentation or receive offloads on, so 32 MiB holds some 500 packets
    // (the sensor turns them off first: capture/interface_offloads.h).
    int buffer_bytes = 32 << 20;
    // Deliver each packet as it arrives (libpcap then uses TPACKET_V2) instead of in
    // kernel-filled blocks, which add up to timeout_ms of latency.
    bool immediate = true;
    bool promisc = true;
    std::string bpf;  // libpcap filter expression; empty captures everything
    // Longest time read() waits for traffic before it returns an empty batch.
    int timeout_ms = 100;
};

class LiveSource final : public BatchSource {
public:
    ~LiveSource() override;
    LiveSource(const LiveSource&) = delete;
    LiveSource& operator=(const LiveSource&) = delete;

    // Creates, configures and activates the capture and installs the filter. Errors name
    // the interface (and the filter) and carry libpcap's text. Needs CAP_NET_RAW.
    static core::Result<std::unique_ptr<LiveSource>> open(const LiveOptions& options,
                                                          uint32_t source_id);

    // Compiles expression for this interface's link type and installs it in place of the
    // current filter; an empty expression changes nothing. The error is "IFACE: bad capture
    // filter 'EXPR': <libpcap's compiler message>" (or "cannot install ..."), and the capture
    // keeps its previous filter. Owner thread.
    core::Result<void> set_filter(const std::string& expression);

    // Appends the packets that are ready, waiting up to timeout_ms when none is. Returns kOk
    // with zero or more frames (the caller checks for shutdown between calls), or kError
    // (error() says why) when the interface failed or went away. Never returns kEnd.
    ReadStatus read(core::FrameBatch& batch) noexcept override;

    // Makes a read() that is waiting return now; a call made while no read() waits makes the
    // next wait return at once. Safe from any thread and from a signal handler.
    void break_loop() noexcept override;

    // Copies libpcap's kernel counters into stats(). Owner thread; a syscall, so call it
    // about once a second and once before close rather than per batch.
    void update_stats() noexcept override;

    const LiveStats& stats() const noexcept override { return stats_; }
    const std::string& iface() const noexcept override { return iface_; }
    int linktype() const noexcept { return linktype_; }
    // Whether libpcap hands packets over in kernel-filled blocks (TPACKET_V3: immediate off),
    // as the socket itself reports; false in immediate mode (TPACKET_V2) or when the
    // descriptor is not a packet socket.
    bool block_mode() const noexcept { return block_mode_; }
    // Activation warning ("IFACE: warning: ..."), empty when there was none.
    const std::string& warning() const noexcept { return warning_; }
    const std::string& error() const noexcept override { return error_; }

private:
    LiveSource(pcap_t* handle, const LiveOptions& options, uint32_t source_id, int wake_fd);
    static void on_packet(u_char* user, const pcap_pkthdr* header, const u_char* data);
    bool push_pending(core::FrameBatch& batch) noexcept;
    bool wait(int timeout_ms) noexcept;

    pcap_t* handle_;
    std::string iface_;
    uint32_t source_id_;
    int timeout_ms_;
    int linktype_;
    int pcap_fd_;
    int wake_fd_;  // eventfd written by break_loop()
    bool block_mode_ = false;
    std::string warning_;
    std::string error_;
    LiveStats stats_;
    u_int last_ps_recv_ = 0;
    u_int last_ps_drop_ = 0;
    u_int last_ps_ifdrop_ = 0;

    // The packet that did not fit the batch during a dispatch: libpcap reuses its buffer
    // after the callback, so the bytes are kept here until the next read().
    core::FrameBatch* batch_ = nullptr;
    std::unique_ptr<uint8_t[]> pending_;
    uint32_t pending_caplen_ = 0;
    uint32_t pending_wire_len_ = 0;
    int64_t pending_ts_us_ = 0;
    bool has_pending_ = false;
    uint32_t pending_capacity_;
};

// Compiles expression as libpcap would for a link of type linktype (DLT_*), without opening
// anything: the check AfPacketSource applies (for Ethernet) before it creates its socket. The
// error is "bad capture filter 'EXPR': <libpcap's compiler message>".
core::Result<void> check_filter(const std::string& expression, int linktype, int snaplen);

}  // namespace sensor::capture
