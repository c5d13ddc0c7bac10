#include "capture/afpacket_source.h"

#include <arpa/inet.h>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <limits>
#include <span>
#include <utility>
#include <vector>

#include "sensor/core/errno_text.h"

namespace sensor::capture {

using core::errno_text;

namespace {

constexpr uint32_t kFrameBytes = 2048;  // TPACKET_V3 packs packets; this only satisfies checks
constexpr size_t kMacBytes = 12;        // destination + source MAC, before the VLAN tag
constexpr size_t kVlanTagBytes = 4;
constexpr u_int kKernelMaxInsns = 4096;  // classic BPF program limit of SO_ATTACH_FILTER

class Fd {
public:
    explicit Fd(int fd) noexcept : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) {
            close(fd_);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const noexcept { return fd_; }
    int release() noexcept { return std::exchange(fd_, -1); }

private:
    int fd_;
};

// Compiles the expression for Ethernet with libpcap and converts it to the kernel's classic
// BPF. An empty expression compiles to "accept snaplen bytes", which truncates in the kernel.
core::Result<std::vector<sock_filter>> compile_filter(const std::string& iface,
                                                      const std::string& expression, int snaplen) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, snaplen);
    if (dead == nullptr) {
        return core::make_error(iface + ": cannot compile capture filter: out of memory");
    }
    bpf_program program{};
    if (pcap_compile(dead, &program, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
        std::string message =
            iface + ": bad capture filter '" + expression + "': " + pcap_geterr(dead);
        pcap_close(dead);
        return core::make_error(std::move(message));
    }
    if (program.bf_len > kKernelMaxInsns) {
        pcap_freecode(&program);
        pcap_close(dead);
        return core::make_error(iface + ": capture filter '" + expression + "' is longer than " +
                                std::to_string(kKernelMaxInsns) +
                                " instructions, the kernel's limit");
    }
    std::vector<sock_filter> code(program.bf_len);
    for (size_t i = 0; i < code.size(); ++i) {
        const bpf_insn& insn = program.bf_insns[i];
        code[i] = sock_filter{insn.code, insn.jt, insn.jf, insn.k};
    }
    pcap_freecode(&program);
    pcap_close(dead);
    return code;
}

bool attach_filter(int fd, std::vector<sock_filter>& code) {
    sock_fprog prog{};
    prog.len = static_cast<unsigned short>(code.size());
    prog.filter = code.data();
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) == 0;
}

// Fanout program of FanoutMode::kAddressPair. The kernel runs it on each packet with the
// data at the network header (receive path) or the MAC header (transmit path), so every
// load is relative to the network header (SKF_NET_OFF), and the ethertype comes from the
// socket buffer (VLAN tags are already stripped). Returns a symmetric hash of the source
// and destination addresses (xor, then a multiplicative mix); the kernel takes it modulo
// the number of members. Frames that are not IP, or too short, go to member 0.
std::vector<sock_filter> address_pair_fanout_program() {
    auto stmt = [](uint16_t code, uint32_t k) { return sock_filter{code, 0, 0, k}; };
    auto net = [](uint32_t offset) {
        return static_cast<uint32_t>(SKF_NET_OFF) + offset;  // two's complement on purpose
    };
    constexpr uint16_t kLoadWord = BPF_LD | BPF_W | BPF_ABS;
    constexpr uint16_t kXorX = BPF_ALU | BPF_XOR | BPF_X;
    constexpr uint16_t kTax = BPF_MISC | BPF_TAX;

    std::vector<sock_filter> v4 = {stmt(kLoadWord, net(12)), stmt(kTax, 0),
                                   stmt(kLoadWord, net(16)), stmt(kXorX, 0)};
    std::vector<sock_filter> v6 = {stmt(kLoadWord, net(8)), stmt(kTax, 0)};
    for (uint32_t offset = 12; offset < 40; offset += 4) {  // 2 x 16 address bytes
        v6.push_back(stmt(kLoadWord, net(offset)));
        v6.push_back(stmt(kXorX, 0));
        v6.push_back(stmt(kTax, 0));
    }
    const std::vector<sock_filter> mix = {stmt(BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u),
                                          stmt(kTax, 0), stmt(BPF_ALU | BPF_RSH | BPF_K, 16),
                                          stmt(kXorX, 0), stmt(BPF_RET | BPF_A, 0)};

    std::vector<sock_filter> prog;
    prog.push_back(
        stmt(BPF_LD | BPF_H | BPF_ABS, static_cast<uint32_t>(SKF_AD_OFF + SKF_AD_PROTOCOL)));
    prog.push_back(
        sock_filter{BPF_JMP | BPF_JEQ | BPF_K, 0, static_cast<uint8_t>(v4.size() + 1), ETH_P_IP});
    prog.insert(prog.end(), v4.begin(), v4.end());
    prog.push_back(stmt(BPF_JMP | BPF_JA, static_cast<uint32_t>(1 + v6.size())));
    prog.push_back(sock_filter{BPF_JMP | BPF_JEQ | BPF_K, 0,
                               static_cast<uint8_t>(v6.size() + mix.size()), ETH_P_IPV6});
    prog.insert(prog.end(), v6.begin(), v6.end());
    prog.insert(prog.end(), mix.begin(), mix.end());
    prog.push_back(stmt(BPF_RET | BPF_K, 0));
    return prog;
}

std::atomic_ref<uint32_t> block_status(uint8_t* block) noexcept {
    return std::atomic_ref<uint32_t>(
        reinterpret_cast<tpacket_block_desc*>(block)->hdr.bh1.block_status);
}

}  // namespace

AfPacketSource::AfPacketSource(const AfPacketOptions& options, uint32_t source_id, int fd,
                               int wake_fd, Ring ring)
    : iface_(options.iface),
      source_id_(source_id),
      fd_(fd),
      wake_fd_(wake_fd),
      ring_(ring),
      block_bytes_(options.block_bytes),
      block_count_(options.block_count),
      timeout_ms_(options.timeout_ms),
      snaplen_(static_cast<uint32_t>(options.snaplen)),
      vlan_scratch_(std::make_unique<uint8_t[]>(snaplen_ + kVlanTagBytes)) {}

AfPacketSource::~AfPacketSource() {
    munmap(ring_.base, ring_.bytes);
    close(fd_);
    close(wake_fd_);
}

core::Result<std::unique_ptr<AfPacketSource>> AfPacketSource::open(const AfPacketOptions& options,
                                                                   uint32_t source_id) {
    const std::string& iface = options.iface;
    if (iface.empty()) {
        return core::make_error("af_packet capture: no interface given");
    }
    const auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
    if (options.block_bytes < page || options.block_bytes % page != 0) {
        return core::make_error(iface + ": ring block size " + std::to_string(options.block_bytes) +
                                " is not a multiple of the page size " + std::to_string(page));
    }
    if (options.block_count == 0 ||
        options.block_bytes > std::numeric_limits<uint32_t>::max() / options.block_count) {
        return core::make_error(iface + ": ring of " + std::to_string(options.block_count) +
                                " blocks of " + std::to_string(options.block_bytes) +
                                " bytes: need 1 block or more and under 4 GiB in all");
    }
    if (options.snaplen <= 0 || options.timeout_ms <= 0) {
        return core::make_error(iface + ": snaplen and timeout must be positive");
    }
    // Compiled first: a bad expression is reported even without the rights to capture.
    auto filter = compile_filter(iface, options.bpf, options.snaplen);
    if (!filter) {
        return tl::unexpected(filter.error());
    }

    unsigned ifindex = if_nametoindex(iface.c_str());
    if (ifindex == 0) {
        return core::make_error(iface + ": no such interface");
    }
    // Protocol 0: the socket receives nothing until bind(), after the ring is in place.
    Fd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) {
        return core::make_error(iface + ": cannot open packet socket: " + errno_text(errno) +
                                " (needs CAP_NET_RAW)");
    }
    ifreq ifr{};
    std::strncpy(ifr.ifr_name, iface.c_str(), IFNAMSIZ - 1);
    if (ioctl(fd.get(), SIOCGIFHWADDR, &ifr) != 0) {
        return core::make_error(iface + ": cannot read link type: " + errno_text(errno));
    }
    if (ifr.ifr_hwaddr.sa_family != ARPHRD_ETHER && ifr.ifr_hwaddr.sa_family != ARPHRD_LOOPBACK) {
        return core::make_error(iface + ": link type " + std::to_string(ifr.ifr_hwaddr.sa_family) +
                                " is not Ethernet; capture it with libpcap instead");
    }
    int version = TPACKET_V3;
    if (setsockopt(fd.get(), SOL_PACKET, PACKET_VERSION, &version, sizeof version) != 0) {
        return core::make_error(iface + ": kernel lacks TPACKET_V3: " + errno_text(errno));
    }
    // Drop everything until the fanout group is joined: in between, this socket would get
    // a copy of every packet rather than its share.
    std::vector<sock_filter> drop_all{sock_filter{BPF_RET | BPF_K, 0, 0, 0}};
    if (!attach_filter(fd.get(), drop_all)) {
        return core::make_error(iface + ": cannot attach filter: " + errno_text(errno));
    }

    tpacket_req3 req{};
    req.tp_block_size = options.block_bytes;
    req.tp_block_nr = options.block_count;
    req.tp_frame_size = kFrameBytes;
    req.tp_frame_nr = options.block_bytes / kFrameBytes * options.block_count;
    req.tp_retire_blk_tov = options.block_timeout_ms;
    if (setsockopt(fd.get(), SOL_PACKET, PACKET_RX_RING, &req, sizeof req) != 0) {
        return core::make_error(
            iface + ": cannot create a ring of " + std::to_string(options.block_count) + " x " +
            std::to_string(options.block_bytes) + " bytes: " + errno_text(errno));
    }
    Ring ring;
    ring.bytes = size_t{options.block_bytes} * options.block_count;
    void* map = mmap(nullptr, ring.bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
    if (map == MAP_FAILED) {
        return core::make_error(iface + ": cannot map the capture ring: " + errno_text(errno));
    }
    ring.base = static_cast<uint8_t*>(map);
    auto unmap_on_error = [&ring](core::Error error) {
        munmap(ring.base, ring.bytes);
        return tl::unexpected(std::move(error));
    };

    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_ALL);
    addr.sll_ifindex = static_cast<int>(ifindex);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        return unmap_on_error({iface + ": cannot bind packet socket: " + errno_text(errno)});
    }
    if (options.promisc) {
        packet_mreq mreq{};
        mreq.mr_ifindex = static_cast<int>(ifindex);
        mreq.mr_type = PACKET_MR_PROMISC;
        if (setsockopt(fd.get(), SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq) != 0) {
            return unmap_on_error(
                {iface + ": cannot enable promiscuous mode: " + errno_text(errno)});
        }
    }
    if (options.fanout_group) {
        const bool by_pair = options.fanout_mode == FanoutMode::kAddressPair;
        int mode =
            by_pair ? PACKET_FANOUT_CBPF
                    : PACKET_FANOUT_HASH | (options.fanout_defrag ? PACKET_FANOUT_FLAG_DEFRAG : 0);
        int arg = *options.fanout_group | (mode << 16);
        if (setsockopt(fd.get(), SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) != 0) {
            return unmap_on_error(
                {iface + ": cannot join fanout group " + std::to_string(*options.fanout_group) +
                 ": " + errno_text(errno) + " (a group joins one interface, with one mode)"});
        }
        if (by_pair) {
            // The group shares one program; every member installs the same one.
            std::vector<sock_filter> hash = address_pair_fanout_program();
            sock_fprog prog{};
            prog.len = static_cast<unsigned short>(hash.size());
            prog.filter = hash.data();
            if (setsockopt(fd.get(), SOL_PACKET, PACKET_FANOUT_DATA, &prog, sizeof prog) != 0) {
                return unmap_on_error({iface + ": cannot install the fanout program of group " +
                                       std::to_string(*options.fanout_group) + ": " +
                                       errno_text(errno)});
            }
        }
    }
    if (!attach_filter(fd.get(), *filter)) {
        return unmap_on_error(
            {iface + ": cannot attach capture filter '" + options.bpf + "': " + errno_text(errno)});
    }
    Fd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (wake.get() < 0) {
        return unmap_on_error({iface + ": cannot create wake-up eventfd: " + errno_text(errno)});
    }
    return std::unique_ptr<AfPacketSource>(
        new AfPacketSource(options, source_id, fd.release(), wake.release(), ring));
}

AfPacketSource::WaitResult AfPacketSource::wait() noexcept {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    int rc = poll(fds, 2, timeout_ms_);
    if (rc < 0) {
        if (errno == EINTR) {
            return WaitResult::kStop;  // perhaps the shutdown signal; let the caller look
        }
        error_ = iface_ + ": poll failed: " + errno_text(errno);
        return WaitResult::kError;
    }
    if ((fds[1].revents & POLLIN) != 0) {
        uint64_t value = 0;
        ssize_t n = ::read(wake_fd_, &value, sizeof value);
        static_cast<void>(n);
        return WaitResult::kStop;
    }
    short revents = fds[0].revents;
    if ((revents & (POLLNVAL | POLLHUP)) != 0) {
        error_ = iface_ + ": packet socket hung up";
        return WaitResult::kError;
    }
    if ((revents & POLLERR) != 0) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
            err = errno;
        }
        if (err == ENETDOWN) {
            // Down or gone: the kernel unbinds the socket (ifindex -1) when it is gone.
            sockaddr_ll addr{};
            socklen_t addr_len = sizeof addr;
            if (getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &addr_len) == 0 &&
                addr.sll_ifindex == -1) {
                error_ = iface_ + ": interface disappeared";
                return WaitResult::kError;
            }
            return WaitResult::kStop;  // down: keep waiting for it to come back up
        }
        if (err != 0) {
            error_ = iface_ + ": packet socket error: " + errno_text(err);
            return WaitResult::kError;
        }
    }
    return WaitResult::kReady;
}

// Copies the packet at offset_ of the current block into batch. False when it does not fit
// (the position stays, so the next read() delivers it first).
bool AfPacketSource::next_packet(core::FrameBatch& batch) noexcept {
    tpacket3_hdr hdr;
    if (offset_ > block_bytes_ || block_bytes_ - offset_ < sizeof hdr) {
        packets_left_ = 0;  // a header outside the block: nothing more here can be trusted
        stats_.ring_errors.add();
        return true;
    }
    std::memcpy(&hdr, block_ + offset_, sizeof hdr);
    uint32_t room = block_bytes_ - offset_;
    if (hdr.tp_mac > room || hdr.tp_snaplen > room - hdr.tp_mac) {
        packets_left_ = 0;
        stats_.ring_errors.add();
        return true;
    }
    const uint8_t* data = block_ + offset_ + hdr.tp_mac;
    uint32_t caplen = std::min(hdr.tp_snaplen, snaplen_);
    uint32_t wire_len = hdr.tp_len;
    // The kernel strips the outer VLAN tag into the header; put it back where it was.
    if ((hdr.tp_status & TP_STATUS_VLAN_VALID) != 0 && caplen >= kMacBytes) {
        uint16_t tpid =
            (hdr.tp_status & TP_STATUS_VLAN_TPID_VALID) != 0 ? hdr.hv1.tp_vlan_tpid : ETH_P_8021Q;
        auto tci = static_cast<uint16_t>(hdr.hv1.tp_vlan_tci);
        uint8_t* out = vlan_scratch_.get();
        std::memcpy(out, data, kMacBytes);
        out[12] = static_cast<uint8_t>(tpid >> 8);
        out[13] = static_cast<uint8_t>(tpid & 0xff);
        out[14] = static_cast<uint8_t>(tci >> 8);
        out[15] = static_cast<uint8_t>(tci & 0xff);
        std::memcpy(out + kMacBytes + kVlanTagBytes, data + kMacBytes, caplen - kMacBytes);
        data = out;
        caplen += kVlanTagBytes;
        wire_len += kVlanTagBytes;
    }
    int64_t ts_us = int64_t{hdr.tp_sec} * 1'000'000 + hdr.tp_nsec / 1000;
    if (!batch.push(std::span<const uint8_t>(data, caplen), wire_len, ts_us, DLT_EN10MB,
                    stats_.received.load() + 1, source_id_)) {
        if (!batch.empty()) {
            return false;
        }
        stats_.oversize_dropped.add();
    } else {
        stats_.received.add();
        stats_.bytes.add(caplen);
    }
    offset_ += hdr.tp_next_offset;
    --packets_left_;
    return true;
}

ReadStatus AfPacketSource::read(core::FrameBatch& batch) noexcept {
    bool waited = false;
    while (!batch.full()) {
        if (block_ == nullptr) {
            uint8_t* block = ring_.base + size_t{block_index_} * block_bytes_;
            if ((block_status(block).load(std::memory_order_acquire) & TP_STATUS_USER) == 0) {
                if (!batch.empty() || waited) {
                    break;
                }
                WaitResult result = wait();
                if (result == WaitResult::kError) {
                    return ReadStatus::kError;
                }
                if (result == WaitResult::kStop) {
                    break;
                }
                waited = true;
                continue;
            }
            tpacket_hdr_v1 desc;
            std::memcpy(&desc, block + offsetof(tpacket_block_desc, hdr), sizeof desc);
            block_ = block;
            packets_left_ = desc.num_pkts;
            offset_ = desc.offset_to_first_pkt;
        }
        while (packets_left_ > 0 && !batch.full()) {
            if (!next_packet(batch)) {
                return ReadStatus::kOk;
            }
        }
        if (packets_left_ == 0) {
            block_status(block_).store(TP_STATUS_KERNEL, std::memory_order_release);
            block_ = nullptr;
            block_index_ = (block_index_ + 1) % block_count_;
        }
    }
    return ReadStatus::kOk;
}

void AfPacketSource::break_loop() noexcept {
    uint64_t one = 1;
    ssize_t n = ::write(wake_fd_, &one, sizeof one);
    static_cast<void>(n);  // EAGAIN: the counter is already non-zero, a wake-up is pending
}

void AfPacketSource::update_stats() noexcept {
    tpacket_stats_v3 st{};
    socklen_t len = sizeof st;
    if (getsockopt(fd_, SOL_PACKET, PACKET_STATISTICS, &st, &len) != 0) {
        return;
    }
    // The kernel counts dropped packets in tp_packets as well.
    stats_.kernel_received.add(st.tp_packets);
    stats_.kernel_dropped.add(st.tp_drops);
}

}  // namespace sensor::capture
