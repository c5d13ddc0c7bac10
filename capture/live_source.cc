#include "capture/live_source.h"

#include <linux/if_packet.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "sensor/core/errno_text.h"

namespace sensor::capture {

using core::errno_text;

namespace {

struct PcapCloser {
    void operator()(pcap_t* handle) const noexcept { pcap_close(handle); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;

// libpcap's status text, followed by its error buffer when that adds detail.
std::string status_text(pcap_t* handle, int status) {
    std::string text = pcap_statustostr(status);
    std::string detail = pcap_geterr(handle);
    if (detail.empty() || detail == text) {
        return text;
    }
    if (status == PCAP_ERROR || status == PCAP_WARNING) {
        return detail;  // the status alone says only "generic error" or "generic warning"
    }
    return text + ": " + detail;
}

// Compiles expression for an activated handle and installs it; empty: no filter (an empty
// program would also match everything, but costs a pass per packet).
core::Result<void> install_filter(pcap_t* handle, const std::string& iface,
                                  const std::string& expression) {
    if (expression.empty()) {
        return {};
    }
    bpf_program program{};
    if (pcap_compile(handle, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        return core::make_error(iface + ": bad capture filter '" + expression +
                                "': " + pcap_geterr(handle));
    }
    const int rc = pcap_setfilter(handle, &program);
    pcap_freecode(&program);
    if (rc != 0) {
        return core::make_error(iface + ": cannot install capture filter '" + expression +
                                "': " + pcap_geterr(handle));
    }
    return {};
}

// The ring version libpcap chose for a packet socket; -1 when fd is not one.
int tpacket_version(int fd) noexcept {
    int version = -1;
    socklen_t size = sizeof version;
    if (getsockopt(fd, SOL_PACKET, PACKET_VERSION, &version, &size) != 0) {
        return -1;
    }
    return version;
}

// libpcap reports kernel counters as 32-bit values that wrap; add only what changed.
void add_wrapping(core::Counter& counter, u_int& last, u_int now) noexcept {
    counter.add(static_cast<uint32_t>(now - last));
    last = now;
}

}  // namespace

LiveSource::LiveSource(pcap_t* handle, const LiveOptions& options, uint32_t source_id, int wake_fd)
    : handle_(handle),
      iface_(options.iface),
      source_id_(source_id),
      timeout_ms_(options.timeout_ms),
      linktype_(pcap_datalink(handle)),
      pcap_fd_(pcap_get_selectable_fd(handle)),
      wake_fd_(wake_fd),
      pending_capacity_(static_cast<uint32_t>(pcap_snapshot(handle))) {
    pending_ = std::make_unique<uint8_t[]>(pending_capacity_);
}

LiveSource::~LiveSource() {
    pcap_close(handle_);
    close(wake_fd_);
}

core::Result<std::unique_ptr<LiveSource>> LiveSource::open(const LiveOptions& options,
                                                           uint32_t source_id) {
    const std::string& iface = options.iface;
    if (iface.empty()) {
        return core::make_error("live capture: no interface given");
    }
    if (options.snaplen <= 0 || options.buffer_bytes < 0 || options.timeout_ms <= 0) {
        return core::make_error(iface + ": snaplen and timeout must be positive, buffer size " +
                                "not negative");
    }
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    PcapHandle handle(pcap_create(iface.c_str(), errbuf));
    if (handle == nullptr) {
        return core::make_error(iface + ": cannot open live capture: " + errbuf);
    }
    pcap_t* h = handle.get();
    // These only fail on an activated handle, which this one is not yet.
    pcap_set_snaplen(h, options.snaplen);
    pcap_set_promisc(h, options.promisc ? 1 : 0);
    pcap_set_timeout(h, options.timeout_ms);
    pcap_set_immediate_mode(h, options.immediate ? 1 : 0);
    pcap_set_tstamp_precision(h, PCAP_TSTAMP_PRECISION_MICRO);
    if (options.buffer_bytes > 0) {
        pcap_set_buffer_size(h, options.buffer_bytes);
    }

    std::string warning;
    int status = pcap_activate(h);
    if (status < 0) {
        return core::make_error(iface + ": cannot open live capture: " + status_text(h, status));
    }
    if (status > 0) {
        warning = iface + ": warning: " + status_text(h, status);
    }

    if (auto installed = install_filter(h, iface, options.bpf); !installed) {
        return tl::unexpected(installed.error());
    }

    // Non-blocking: read() does its own poll() so that break_loop() and the timeout apply
    // in both immediate and block (TPACKET_V3) mode.
    if (pcap_setnonblock(h, 1, errbuf) != 0) {
        return core::make_error(iface + ": cannot make capture non-blocking: " + errbuf);
    }
    if (pcap_get_selectable_fd(h) < 0) {
        return core::make_error(iface + ": capture has no selectable descriptor");
    }
    int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd < 0) {
        return core::make_error(iface + ": cannot create wake-up eventfd: " + errno_text(errno));
    }
    auto source =
        std::unique_ptr<LiveSource>(new LiveSource(handle.release(), options, source_id, wake_fd));
    source->warning_ = std::move(warning);
    source->block_mode_ = tpacket_version(source->pcap_fd_) == TPACKET_V3;
    return source;
}

core::Result<void> LiveSource::set_filter(const std::string& expression) {
    return install_filter(handle_, iface_, expression);
}

core::Result<void> check_filter(const std::string& expression, int linktype, int snaplen) {
    PcapHandle dead(pcap_open_dead(linktype, snaplen));
    if (dead == nullptr) {
        return core::make_error("cannot compile capture filter '" + expression +
                                "': out of memory");
    }
    bpf_program program{};
    if (pcap_compile(dead.get(), &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        return core::make_error("bad capture filter '" + expression +
                                "': " + pcap_geterr(dead.get()));
    }
    pcap_freecode(&program);
    return {};
}

void LiveSource::on_packet(u_char* user, const pcap_pkthdr* header, const u_char* data) {
    auto* self = reinterpret_cast<LiveSource*>(user);
    core::FrameBatch& batch = *self->batch_;
    int64_t ts_us = int64_t{header->ts.tv_sec} * 1'000'000 + header->ts.tv_usec;
    uint32_t caplen = header->caplen;
    if (batch.push(std::span<const uint8_t>(data, caplen), header->len, ts_us, self->linktype_,
                   self->stats_.received.load() + 1, self->source_id_)) {
        self->stats_.received.add();
        self->stats_.bytes.add(caplen);
        return;
    }
    if (batch.empty() || caplen > self->pending_capacity_) {
        self->stats_.oversize_dropped.add();
        return;
    }
    std::memcpy(self->pending_.get(), data, caplen);
    self->pending_caplen_ = caplen;
    self->pending_wire_len_ = header->len;
    self->pending_ts_us_ = ts_us;
    self->has_pending_ = true;
    // Stop this dispatch: every further packet would also need a slot we do not have.
    pcap_breakloop(self->handle_);
}

bool LiveSource::push_pending(core::FrameBatch& batch) noexcept {
    if (batch.push(std::span<const uint8_t>(pending_.get(), pending_caplen_), pending_wire_len_,
                   pending_ts_us_, linktype_, stats_.received.load() + 1, source_id_)) {
        stats_.received.add();
        stats_.bytes.add(pending_caplen_);
        has_pending_ = false;
        return true;
    }
    if (batch.empty()) {
        stats_.oversize_dropped.add();
        has_pending_ = false;
        return true;
    }
    return false;
}

bool LiveSource::wait(int timeout_ms) noexcept {
    pollfd fds[2] = {{pcap_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, timeout_ms);
    if (rc < 0) {
        // EINTR: a signal, perhaps the shutdown request; let the caller look.
        return false;
    }
    if ((fds[1].revents & POLLIN) != 0) {
        uint64_t value = 0;
        ssize_t n = ::read(wake_fd_, &value, sizeof value);
        static_cast<void>(n);
        return false;
    }
    // Readable, timed out, or an error condition that the next dispatch reports.
    return true;
}

ReadStatus LiveSource::read(core::FrameBatch& batch) noexcept {
    if (has_pending_ && !push_pending(batch)) {
        return ReadStatus::kOk;
    }
    bool waited = false;
    while (!batch.full() && !has_pending_) {
        batch_ = &batch;
        int room = static_cast<int>(core::FrameBatch::kMaxFrames - batch.size());
        int rc =
            pcap_dispatch(handle_, room, &LiveSource::on_packet, reinterpret_cast<u_char*>(this));
        batch_ = nullptr;
        if (rc == PCAP_ERROR) {
            error_ = iface_ + ": capture failed: " + pcap_geterr(handle_);
            return ReadStatus::kError;
        }
        // PCAP_ERROR_BREAK comes only from on_packet, which keeps the packet pending.
        if (rc != 0 || !batch.empty() || waited) {
            break;
        }
        if (!wait(timeout_ms_)) {
            break;
        }
        waited = true;
    }
    return ReadStatus::kOk;
}

void LiveSource::break_loop() noexcept {
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd_, &one, sizeof one);
    static_cast<void>(n);  // EAGAIN: the counter is already non-zero, a wake-up is pending
}

void LiveSource::update_stats() noexcept {
    pcap_stat ps{};
    if (pcap_stats(handle_, &ps) != 0) {
        return;
    }
    add_wrapping(stats_.kernel_received, last_ps_recv_, ps.ps_recv);
    add_wrapping(stats_.kernel_dropped, last_ps_drop_, ps.ps_drop);
    add_wrapping(stats_.iface_dropped, last_ps_ifdrop_, ps.ps_ifdrop);
}

}  // namespace sensor::capture
