// Live sources on real traffic: each test makes a fresh network namespace holding a veth
// pair (cap <-> peer), enters it on the test thread, sends frames into peer with a raw
// packet socket and captures them on cap. Nothing leaves the namespace. Needs root and
// iproute2; skipped otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <pwd.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "capture/afpacket_source.h"
#include "capture/interface_offloads.h"
#include "capture/live_source.h"
#include "capture/privileges.h"

namespace sensor::capture {
namespace {

using Bytes = std::vector<uint8_t>;
using Clock = std::chrono::steady_clock;

constexpr uint8_t kMagic[4] = {'L', 'I', 'V', 'E'};
constexpr uint32_t kNet = 0x0a630000;    // 10.99.0.0/16: captured by the tests' filter
constexpr uint32_t kOther = 0x0a620000;  // 10.98.0.0/16: must be filtered out
constexpr const char* kFilter = "udp and net 10.99.0.0/16";

bool run(const std::string& command) {
    return std::system((command + " >/dev/null 2>&1").c_str()) == 0;
}

void put16(Bytes& b, size_t at, uint16_t v) {
    b[at] = static_cast<uint8_t>(v >> 8);
    b[at + 1] = static_cast<uint8_t>(v);
}
void put32(Bytes& b, size_t at, uint32_t v) {
    put16(b, at, static_cast<uint16_t>(v >> 16));
    put16(b, at + 2, static_cast<uint16_t>(v));
}

struct Endpoint {
    uint32_t ip;
    uint16_t port;
};

// Ethernet [+ 802.1Q] + IPv4 + UDP; the payload starts with kMagic and the frame id.
Bytes udp_frame(Endpoint src, Endpoint dst, uint32_t id, size_t payload_bytes,
                std::optional<uint16_t> vlan = std::nullopt) {
    size_t l2 = vlan ? 18 : 14;
    Bytes f(l2 + 20 + 8 + payload_bytes, 0);
    const uint8_t dst_mac[6] = {0x02, 0, 0, 0, 0, 0x02};
    const uint8_t src_mac[6] = {0x02, 0, 0, 0, 0, 0x01};
    std::memcpy(&f[0], dst_mac, 6);  // destination MAC (not cap's: delivered as other-host)
    std::memcpy(&f[6], src_mac, 6);  // source MAC
    if (vlan) {
        put16(f, 12, ETH_P_8021Q);  // TPID
        put16(f, 14, *vlan);        // TCI: priority 0, VLAN id
    }
    put16(f, l2 - 2, ETH_P_IP);  // ethertype
    size_t ip = l2;
    f[ip] = 0x45;                                                     // version 4, IHL 5
    put16(f, ip + 2, static_cast<uint16_t>(20 + 8 + payload_bytes));  // total length
    put16(f, ip + 4, static_cast<uint16_t>(id));                      // identification
    f[ip + 8] = 64;                                                   // TTL
    f[ip + 9] = 17;                                                   // protocol UDP
    put32(f, ip + 12, src.ip);                                        // source address
    put32(f, ip + 16, dst.ip);                                        // destination address
    uint32_t sum = 0;
    for (size_t i = 0; i < 20; i += 2) {
        sum += uint32_t{f[ip + i]} << 8 | f[ip + i + 1];
    }
    while (sum > 0xffff) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    put16(f, ip + 10, static_cast<uint16_t>(~sum));  // header checksum
    size_t udp = ip + 20;
    put16(f, udp, src.port);                                      // source port
    put16(f, udp + 2, dst.port);                                  // destination port
    put16(f, udp + 4, static_cast<uint16_t>(8 + payload_bytes));  // length; checksum 0
    std::memcpy(&f[udp + 8], kMagic, 4);                          // payload: magic
    put32(f, udp + 12, id);                                       // payload: frame id
    return f;
}

std::optional<uint32_t> frame_id(std::span<const uint8_t> f) {
    size_t l2 = f.size() >= 14 && f[12] == 0x81 && f[13] == 0x00 ? 18 : 14;
    size_t at = l2 + 20 + 8;
    if (f.size() < at + 8 || std::memcmp(&f[at], kMagic, 4) != 0) {
        return std::nullopt;
    }
    return uint32_t{f[at + 4]} << 24 | uint32_t{f[at + 5]} << 16 | uint32_t{f[at + 6]} << 8 |
           f[at + 7];
}

int64_t now_us() {
    return std::chrono::duration_cast<std::chrono::microseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

class RawSender {
public:
    explicit RawSender(const char* iface) {
        fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
        ifindex_ = static_cast<int>(if_nametoindex(iface));
    }
    ~RawSender() {
        if (fd_ >= 0) {
            close(fd_);
        }
    }
    RawSender(const RawSender&) = delete;
    RawSender& operator=(const RawSender&) = delete;
    bool ok() const { return fd_ >= 0 && ifindex_ > 0; }
    bool send(const Bytes& frame) const {
        sockaddr_ll addr{};
        addr.sll_family = AF_PACKET;
        addr.sll_ifindex = ifindex_;
        addr.sll_halen = 6;
        std::memcpy(addr.sll_addr, frame.data(), 6);
        ssize_t n = sendto(fd_, frame.data(), frame.size(), 0,
                           reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
        return n == static_cast<ssize_t>(frame.size());
    }
    // A pause every few frames keeps the burst inside the receive backlog.
    bool send_all(const std::vector<Bytes>& frames) const {
        for (size_t i = 0; i < frames.size(); ++i) {
            if (!send(frames[i])) {
                return false;
            }
            if (i % 32 == 31) {
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        }
        return true;
    }

private:
    int fd_ = -1;
    int ifindex_ = 0;
};

// What one source delivered, by frame id.
struct Capture {
    std::map<uint32_t, Bytes> frames;
    std::vector<uint64_t> indices;
    size_t duplicates = 0;
    size_t unknown = 0;  // frames without our magic (should be none: the filter is ours)
    int64_t min_ts = INT64_MAX;
    int64_t max_ts = 0;
    bool failed = false;
    std::string error;
};

template <class Source>
void drain(Source& source, core::FrameBatch& batch, Capture& out, uint32_t source_id) {
    batch.clear();
    if (source.read(batch) != ReadStatus::kOk) {
        out.failed = true;
        out.error = source.error();
        return;
    }
    for (const core::Frame& frame : batch) {
        EXPECT_EQ(frame.linktype, DLT_EN10MB);
        EXPECT_EQ(frame.source, source_id);
        EXPECT_EQ(frame.wire_len, frame.caplen);
        out.indices.push_back(frame.index);
        out.min_ts = std::min(out.min_ts, frame.ts_us);
        out.max_ts = std::max(out.max_ts, frame.ts_us);
        auto id = frame_id(frame.bytes());
        if (!id) {
            ++out.unknown;
        } else if (!out.frames.emplace(*id, Bytes(frame.bytes().begin(), frame.bytes().end()))
                        .second) {
            ++out.duplicates;
        }
    }
}

class NetnsTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (geteuid() != 0) {
            GTEST_SKIP() << "needs root for network namespaces";
        }
        static int serial = 0;
        name_ = "sensor-live-" + std::to_string(getpid()) + "-" + std::to_string(serial++);
        if (!run("ip netns add " + name_)) {
            GTEST_SKIP() << "ip netns add failed (no iproute2 or not permitted here)";
        }
        created_ = true;
        home_fd_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        int ns_fd = open(("/run/netns/" + name_).c_str(), O_RDONLY | O_CLOEXEC);
        ASSERT_GE(home_fd_, 0);
        ASSERT_GE(ns_fd, 0);
        int rc = setns(ns_fd, CLONE_NEWNET);
        close(ns_fd);
        ASSERT_EQ(rc, 0) << "setns: " << std::strerror(errno);
        entered_ = true;
        // No IPv6: otherwise the interfaces send router and neighbour solicitations.
        std::ofstream("/proc/sys/net/ipv6/conf/default/disable_ipv6") << "1";
        std::ofstream("/proc/sys/net/ipv6/conf/all/disable_ipv6") << "1";
        ASSERT_TRUE(ip("link add cap type veth peer name peer"));
        ASSERT_TRUE(ip("link set cap up") && ip("link set peer up"));
    }

    void TearDown() override { leave(); }

    bool ip(const std::string& args) const { return run("ip -n " + name_ + " " + args); }
    ~NetnsTest() override { leave(); }

    // Back to the namespace the test started in, then delete ours (and the veth pair).
    void leave() {
        if (entered_) {
            EXPECT_EQ(setns(home_fd_, CLONE_NEWNET), 0);
            entered_ = false;
        }
        if (home_fd_ >= 0) {
            close(home_fd_);
            home_fd_ = -1;
        }
        if (created_) {
            EXPECT_TRUE(run("ip netns del " + name_));
            created_ = false;
        }
    }

    static LiveOptions live_options() {
        LiveOptions o;
        o.iface = "cap";
        o.bpf = kFilter;
        o.timeout_ms = 20;
        return o;
    }
    static AfPacketOptions afpacket_options() {
        AfPacketOptions o;
        o.iface = "cap";
        o.bpf = kFilter;
        o.block_bytes = 1u << 16;
        o.block_count = 8;
        o.block_timeout_ms = 5;
        o.timeout_ms = 20;
        return o;
    }

private:
    std::string name_;
    bool created_ = false;
    bool entered_ = false;
    int home_fd_ = -1;
};

TEST_F(NetnsTest, EveryFrameOnceAcrossFanoutAndWholeOnLibpcap) {
    auto live = LiveSource::open(live_options(), 1);
    ASSERT_TRUE(live) << live.error().message;
    AfPacketOptions af = afpacket_options();
    af.fanout_group = 42;
    auto member0 = AfPacketSource::open(af, 10);
    ASSERT_TRUE(member0) << member0.error().message;
    auto member1 = AfPacketSource::open(af, 11);
    ASSERT_TRUE(member1) << member1.error().message;

    // 64 UDP flows, 3 frames client->server and 2 back; flow 0 rides VLAN 100. Then frames
    // from 10.98/16 that the filter must keep out.
    constexpr uint32_t kFlows = 64;
    std::vector<Bytes> frames;
    std::map<uint32_t, uint32_t> flow_of;  // frame id -> flow
    std::map<uint32_t, Bytes> sent;
    uint32_t id = 1;
    for (uint32_t flow = 0; flow < kFlows; ++flow) {
        Endpoint client{kNet | (0x0100 + flow), static_cast<uint16_t>(40000 + flow)};
        Endpoint server{kNet | 0x0001, 53};
        std::optional<uint16_t> vlan;
        if (flow == 0) {
            vlan = 100;
        }
        for (int k = 0; k < 5; ++k) {
            bool to_server = k != 1 && k != 3;
            size_t payload = 16 + (id * 37) % 1200;
            Bytes f = to_server ? udp_frame(client, server, id, payload, vlan)
                                : udp_frame(server, client, id, payload, vlan);
            flow_of[id] = flow;
            sent[id] = f;
            frames.push_back(std::move(f));
            ++id;
        }
    }
    for (uint32_t k = 0; k < 20; ++k) {
        frames.push_back(udp_frame({kOther | 1, 1000},
                                   {kOther | 2, static_cast<uint16_t>(2000 + k)}, 100000 + k, 32));
    }

    RawSender sender("peer");
    ASSERT_TRUE(sender.ok());
    int64_t t0 = now_us();
    ASSERT_TRUE(sender.send_all(frames));

    core::FrameBatch batch;
    Capture got_live;
    Capture got0;
    Capture got1;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline && (got_live.frames.size() < sent.size() ||
                                       got0.frames.size() + got1.frames.size() < sent.size())) {
        drain(**live, batch, got_live, 1);
        drain(**member0, batch, got0, 10);
        drain(**member1, batch, got1, 11);
        ASSERT_FALSE(got_live.failed || got0.failed || got1.failed)
            << got_live.error << got0.error << got1.error;
    }
    // One more round, to catch anything delivered twice.
    drain(**live, batch, got_live, 1);
    drain(**member0, batch, got0, 10);
    drain(**member1, batch, got1, 11);
    int64_t t1 = now_us();

    // libpcap: every frame, byte for byte (the VLAN tag put back), nothing else.
    EXPECT_EQ(got_live.frames, sent);
    EXPECT_EQ(got_live.duplicates, 0u);
    EXPECT_EQ(got_live.unknown, 0u);

    // Fanout: each frame on exactly one member, byte for byte.
    std::map<uint32_t, Bytes> both = got0.frames;
    for (const auto& [fid, bytes] : got1.frames) {
        EXPECT_TRUE(both.emplace(fid, bytes).second) << "frame " << fid << " on both members";
    }
    EXPECT_EQ(both, sent);
    EXPECT_EQ(got0.duplicates + got1.duplicates + got0.unknown + got1.unknown, 0u);
    // Both directions of a flow on one member, and the flows spread over both members.
    std::map<uint32_t, std::set<int>> members_of_flow;
    for (const auto& [fid, bytes] : got0.frames) {
        members_of_flow[flow_of[fid]].insert(0);
    }
    for (const auto& [fid, bytes] : got1.frames) {
        members_of_flow[flow_of[fid]].insert(1);
    }
    size_t flows_on_0 = 0;
    for (const auto& [flow, members] : members_of_flow) {
        EXPECT_EQ(members.size(), 1u) << "flow " << flow << " split across members";
        flows_on_0 += members.count(0);
    }
    EXPECT_GT(flows_on_0, 0u);
    EXPECT_LT(flows_on_0, size_t{kFlows});

    // Frame index counts 1, 2, ... per source; time stamps are capture times.
    for (const Capture* c : {&got_live, &got0, &got1}) {
        for (size_t i = 0; i < c->indices.size(); ++i) {
            EXPECT_EQ(c->indices[i], i + 1);
        }
        if (!c->frames.empty()) {
            EXPECT_GE(c->min_ts, t0 - 1'000'000);
            EXPECT_LE(c->max_ts, t1 + 1'000'000);
        }
    }

    // Stats: delivered = what the kernel accepted through the filter, no drops.
    (*live)->update_stats();
    (*member0)->update_stats();
    (*member1)->update_stats();
    const LiveStats& ls = (*live)->stats();
    EXPECT_EQ(ls.received.load(), sent.size());
    EXPECT_EQ(ls.kernel_received.load(), sent.size());
    EXPECT_EQ(ls.kernel_dropped.load(), 0u);
    EXPECT_EQ(ls.oversize_dropped.load(), 0u);
    uint64_t sent_bytes = 0;
    for (const auto& [fid, bytes] : sent) {
        sent_bytes += bytes.size();
    }
    EXPECT_EQ(ls.bytes.load(), sent_bytes);
    const LiveStats& s0 = (*member0)->stats();
    const LiveStats& s1 = (*member1)->stats();
    EXPECT_EQ(s0.received.load(), got0.frames.size());
    EXPECT_EQ(s1.received.load(), got1.frames.size());
    EXPECT_EQ(s0.kernel_received.load(), s0.received.load());
    EXPECT_EQ(s1.kernel_received.load(), s1.received.load());
    EXPECT_EQ(s0.kernel_dropped.load() + s1.kernel_dropped.load(), 0u);
    EXPECT_EQ(s0.bytes.load() + s1.bytes.load(), sent_bytes);
    EXPECT_EQ(s0.ring_errors.load() + s1.ring_errors.load(), 0u);
    // Counters accumulate: a second query adds nothing when nothing arrived.
    (*member0)->update_stats();
    EXPECT_EQ((*member0)->stats().kernel_received.load(), s0.received.load());
}

// FanoutMode::kAddressPair: every flow between two hosts on one member, whatever the ports
// and direction, and the host pairs spread over the members.
TEST_F(NetnsTest, AddressPairFanoutKeepsEveryFlowOfAHostPairOnOneMember) {
    AfPacketOptions af = afpacket_options();
    af.fanout_group = 43;
    af.fanout_mode = FanoutMode::kAddressPair;
    std::vector<std::unique_ptr<AfPacketSource>> members;
    for (uint32_t m = 0; m < 3; ++m) {
        auto opened = AfPacketSource::open(af, 20 + m);
        ASSERT_TRUE(opened) << opened.error().message;
        members.push_back(std::move(*opened));
    }

    // 32 host pairs, 4 flows each (different ports), both directions.
    constexpr uint32_t kPairs = 32;
    std::vector<Bytes> frames;
    std::map<uint32_t, uint32_t> pair_of;  // frame id -> host pair
    uint32_t id = 1;
    for (uint32_t pair = 0; pair < kPairs; ++pair) {
        for (uint16_t flow = 0; flow < 4; ++flow) {
            Endpoint client{kNet | (0x0200 + pair), static_cast<uint16_t>(30000 + 17 * flow)};
            Endpoint server{kNet | (0x0300 + pair * 7), static_cast<uint16_t>(80 + flow)};
            for (int k = 0; k < 2; ++k) {
                frames.push_back(k == 0 ? udp_frame(client, server, id, 40)
                                        : udp_frame(server, client, id, 40));
                pair_of[id++] = pair;
            }
        }
    }
    RawSender sender("peer");
    ASSERT_TRUE(sender.ok());
    ASSERT_TRUE(sender.send_all(frames));

    core::FrameBatch batch;
    std::vector<Capture> got(members.size());
    auto total = [&got] {
        size_t n = 0;
        for (const Capture& c : got) {
            n += c.frames.size();
        }
        return n;
    };
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline && total() < frames.size()) {
        for (size_t m = 0; m < members.size(); ++m) {
            drain(*members[m], batch, got[m], static_cast<uint32_t>(20 + m));
            ASSERT_FALSE(got[m].failed) << got[m].error;
        }
    }
    for (size_t m = 0; m < members.size(); ++m) {
        drain(*members[m], batch, got[m], static_cast<uint32_t>(20 + m));
    }
    EXPECT_EQ(total(), frames.size());
    std::map<uint32_t, std::set<size_t>> members_of_pair;
    std::set<size_t> used;
    for (size_t m = 0; m < members.size(); ++m) {
        EXPECT_EQ(got[m].duplicates + got[m].unknown, 0u);
        for (const auto& [fid, bytes] : got[m].frames) {
            members_of_pair[pair_of[fid]].insert(m);
            used.insert(m);
        }
    }
    for (const auto& [pair, on] : members_of_pair) {
        EXPECT_EQ(on.size(), 1u) << "host pair " << pair << " split across members";
    }
    EXPECT_GE(used.size(), 2u) << "every host pair on one member: the hash does not spread";
}

// Without immediate mode libpcap fills TPACKET_V3 blocks, handed over when full or after
// timeout_ms; a light trickle still arrives, in order.
TEST_F(NetnsTest, LibpcapBlockModeDeliversEveryFrame) {
    LiveOptions lo = live_options();
    lo.immediate = false;
    lo.timeout_ms = 10;
    auto live = LiveSource::open(lo, 1);
    ASSERT_TRUE(live) << live.error().message;
    EXPECT_TRUE((*live)->block_mode()) << "the socket is not TPACKET_V3";
    std::vector<Bytes> frames;
    for (uint32_t i = 1; i <= 50; ++i) {
        frames.push_back(udp_frame({kNet | 11, 1100}, {kNet | 12, 1200}, i, 200));
    }
    RawSender sender("peer");
    ASSERT_TRUE(sender.ok() && sender.send_all(frames));
    core::FrameBatch batch;
    std::vector<uint32_t> order;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline && order.size() < frames.size()) {
        batch.clear();
        ASSERT_EQ((*live)->read(batch), ReadStatus::kOk) << (*live)->error();
        for (const core::Frame& f : batch) {
            order.push_back(frame_id(f.bytes()).value_or(0));
        }
    }
    std::vector<uint32_t> want(frames.size());
    for (uint32_t i = 0; i < want.size(); ++i) {
        want[i] = i + 1;
    }
    EXPECT_EQ(order, want);
    (*live)->update_stats();
    EXPECT_EQ((*live)->stats().kernel_received.load(), frames.size());
    EXPECT_EQ((*live)->stats().kernel_dropped.load(), 0u);
}

// A filter installed after open() (as the sensor installs -f or capture.bpf-filter) keeps
// other traffic out; a bad one is refused with libpcap's text and the filter before it stays.
TEST_F(NetnsTest, FilterSetAfterOpenKeepsOtherTrafficOut) {
    LiveOptions lo = live_options();
    lo.bpf.clear();
    auto live = LiveSource::open(lo, 1);
    ASSERT_TRUE(live) << live.error().message;
    EXPECT_FALSE((*live)->block_mode()) << "immediate mode, the default, is TPACKET_V2";
    ASSERT_TRUE((*live)->set_filter(kFilter));
    auto bad = (*live)->set_filter("udp and nett 10.99.0.0/16");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("cap: bad capture filter 'udp and nett 10.99.0.0/16': "),
              std::string::npos)
        << bad.error().message;

    // Odd ids from the filter's network, even ids from the other; the last one is wanted, so
    // an unfiltered frame would arrive before it.
    std::vector<Bytes> frames;
    std::vector<uint32_t> want;
    for (uint32_t i = 1; i <= 21; ++i) {
        const uint32_t net = i % 2 == 1 ? kNet : kOther;
        frames.push_back(udp_frame({net | 21, 2100}, {net | 22, 2200}, i, 100));
        if (net == kNet) {
            want.push_back(i);
        }
    }
    RawSender sender("peer");
    ASSERT_TRUE(sender.ok() && sender.send_all(frames));
    core::FrameBatch batch;
    std::vector<uint32_t> order;
    auto deadline = Clock::now() + std::chrono::seconds(10);
    while (Clock::now() < deadline && (order.empty() || order.back() != 21)) {
        batch.clear();
        ASSERT_EQ((*live)->read(batch), ReadStatus::kOk) << (*live)->error();
        for (const core::Frame& f : batch) {
            order.push_back(frame_id(f.bytes()).value_or(0));
        }
    }
    EXPECT_EQ(order, want);
}

// A batch whose arena holds two of these frames: the third waits for the next read().
// A frame larger than an empty batch's arena is counted and skipped.
TEST_F(NetnsTest, FramesThatDoNotFitWaitForTheNextBatch) {
    auto live = LiveSource::open(live_options(), 1);
    ASSERT_TRUE(live) << live.error().message;
    auto af = AfPacketSource::open(afpacket_options(), 2);
    ASSERT_TRUE(af) << af.error().message;

    std::vector<Bytes> frames;
    for (uint32_t i = 1; i <= 12; ++i) {
        frames.push_back(udp_frame({kNet | 5, 5000}, {kNet | 6, 6000}, i, 1400));
    }
    frames.push_back(udp_frame({kNet | 5, 5000}, {kNet | 6, 6000}, 13, 3000));  // too big
    frames.push_back(udp_frame({kNet | 5, 5000}, {kNet | 6, 6000}, 14, 100));
    RawSender sender("peer");
    ASSERT_TRUE(sender.ok());
    ASSERT_TRUE(ip("link set dev cap mtu 4000") && ip("link set dev peer mtu 4000"));
    ASSERT_TRUE(sender.send_all(frames));

    auto collect = [](auto& source, uint32_t source_id) {
        core::FrameBatch batch(2 * 1448 + 8);
        Capture out;
        std::vector<uint32_t> order;
        size_t largest_batch = 0;
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < deadline && order.size() < 13) {
            batch.clear();
            EXPECT_EQ(source.read(batch), ReadStatus::kOk) << source.error();
            largest_batch = std::max(largest_batch, batch.size());
            for (const core::Frame& f : batch) {
                auto fid = frame_id(f.bytes());
                EXPECT_TRUE(fid.has_value());
                order.push_back(fid.value_or(0));
                EXPECT_EQ(f.source, source_id);
            }
        }
        EXPECT_EQ(largest_batch, 2u);
        return order;
    };
    std::vector<uint32_t> want = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14};
    EXPECT_EQ(collect(**live, 1), want);
    EXPECT_EQ(collect(**af, 2), want);
    EXPECT_EQ((*live)->stats().oversize_dropped.load(), 1u);
    EXPECT_EQ((*af)->stats().oversize_dropped.load(), 1u);
    EXPECT_EQ((*live)->stats().received.load(), 13u);
    EXPECT_EQ((*af)->stats().received.load(), 13u);
    // Everything the kernel queued is accounted for: delivered or counted as oversize.
    (*live)->update_stats();
    (*af)->update_stats();
    for (const LiveStats* st : {&(*live)->stats(), &(*af)->stats()}) {
        EXPECT_EQ(st->kernel_received.load(),
                  st->received.load() + st->kernel_dropped.load() + st->oversize_dropped.load());
        EXPECT_EQ(st->kernel_dropped.load(), 0u);
    }
}

TEST_F(NetnsTest, SnaplenTruncatesButKeepsWireLength) {
    LiveOptions lo = live_options();
    lo.snaplen = 96;
    auto live = LiveSource::open(lo, 1);
    ASSERT_TRUE(live) << live.error().message;
    AfPacketOptions ao = afpacket_options();
    ao.snaplen = 96;
    auto af = AfPacketSource::open(ao, 2);
    ASSERT_TRUE(af) << af.error().message;

    Bytes frame = udp_frame({kNet | 7, 7000}, {kNet | 8, 8000}, 1, 500);
    RawSender sender("peer");
    ASSERT_TRUE(sender.ok() && sender.send(frame));
    auto first = [](auto& source) {
        core::FrameBatch batch;
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while (batch.empty() && Clock::now() < deadline) {
            EXPECT_EQ(source.read(batch), ReadStatus::kOk);
        }
        return batch.empty() ? core::Frame{} : batch[0];
    };
    for (const core::Frame& f : {first(**live), first(**af)}) {
        EXPECT_EQ(f.caplen, 96u);
        EXPECT_EQ(f.wire_len, frame.size());
    }
}

// read() with nothing to read returns an empty batch after its timeout.
TEST_F(NetnsTest, ReadReturnsEmptyBatchAfterTimeout) {
    auto check = [](auto& source) {
        core::FrameBatch batch;
        auto start = Clock::now();
        EXPECT_EQ(source.read(batch), ReadStatus::kOk);
        auto waited = Clock::now() - start;
        EXPECT_TRUE(batch.empty());
        EXPECT_GE(waited, std::chrono::milliseconds(150));
        EXPECT_LT(waited, std::chrono::seconds(5));
    };
    LiveOptions lo = live_options();
    lo.timeout_ms = 200;
    auto live = LiveSource::open(lo, 1);
    ASSERT_TRUE(live) << live.error().message;
    AfPacketOptions ao = afpacket_options();
    ao.timeout_ms = 200;
    auto af = AfPacketSource::open(ao, 2);
    ASSERT_TRUE(af) << af.error().message;
    check(**live);
    check(**af);
}

// With a one-minute timeout, break_loop() from another thread ends the wait at once, and
// one made while no read() waits is not lost.
TEST_F(NetnsTest, BreakLoopEndsAWait) {
    auto check = [](auto& source) {
        core::FrameBatch batch;
        ReadStatus status = ReadStatus::kError;
        std::thread reader([&] { status = source.read(batch); });
        auto start = Clock::now();
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        source.break_loop();
        reader.join();
        EXPECT_EQ(status, ReadStatus::kOk);
        EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
        EXPECT_TRUE(batch.empty());

        source.break_loop();
        start = Clock::now();
        EXPECT_EQ(source.read(batch), ReadStatus::kOk);
        EXPECT_LT(Clock::now() - start, std::chrono::seconds(10));
    };
    LiveOptions lo = live_options();
    lo.timeout_ms = 60'000;
    auto live = LiveSource::open(lo, 1);
    ASSERT_TRUE(live) << live.error().message;
    AfPacketOptions ao = afpacket_options();
    ao.timeout_ms = 60'000;
    auto af = AfPacketSource::open(ao, 2);
    ASSERT_TRUE(af) << af.error().message;
    check(**live);
    check(**af);
}

// TPACKET_V3 frames are taken as Ethernet: other link types are refused by name.
TEST_F(NetnsTest, AfPacketRefusesNonEthernetInterface) {
    if (!ip("tuntap add dev tun0 mode tun")) {
        GTEST_SKIP() << "cannot create a tun device";
    }
    AfPacketOptions options = afpacket_options();
    options.iface = "tun0";
    auto source = AfPacketSource::open(options, 0);
    ASSERT_FALSE(source);
    EXPECT_EQ(source.error().message.rfind("tun0: link type ", 0), 0u) << source.error().message;
}

// The capture keeps working after the process switches to nobody; it can no longer open
// packet sockets. Runs in a child process, which inherits this thread's namespace.
TEST_F(NetnsTest, CaptureSurvivesDroppingPrivileges) {
    if (getpwnam("nobody") == nullptr) {
        GTEST_SKIP() << "no user nobody";
    }
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        auto live = LiveSource::open(live_options(), 1);
        auto af = AfPacketSource::open(afpacket_options(), 2);
        RawSender sender("peer");
        if (!live || !af || !sender.ok()) {
            _exit(10);
        }
        if (!drop_privileges("nobody", "")) {
            _exit(11);
        }
        if (socket(AF_PACKET, SOCK_RAW, 0) >= 0) {
            _exit(12);
        }
        std::vector<Bytes> frames;
        for (uint32_t i = 1; i <= 5; ++i) {
            frames.push_back(udp_frame({kNet | 9, 9000}, {kNet | 10, 10000}, i, 64));
        }
        if (!sender.send_all(frames)) {
            _exit(13);
        }
        core::FrameBatch batch;
        size_t live_n = 0;
        size_t af_n = 0;
        auto deadline = Clock::now() + std::chrono::seconds(10);
        while (Clock::now() < deadline && (live_n < 5 || af_n < 5)) {
            batch.clear();
            (*live)->read(batch);
            live_n += batch.size();
            batch.clear();
            (*af)->read(batch);
            af_n += batch.size();
        }
        (*live)->update_stats();
        (*af)->update_stats();
        if (live_n != 5 || af_n != 5 || (*af)->stats().kernel_received.load() != 5 ||
            (*live)->stats().kernel_received.load() != 5) {
            _exit(14);
        }
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0) << "10 open, 11 drop, 12 socket allowed, 13 send, 14 read";
}

// libpcap in immediate mode sizes its ring slots for the largest frame the interface can
// hand over: with segmentation offloads on (a veth's default) that is the snaplen, with
// them off the MTU. Frames sent while nobody reads show how many slots 1 MiB gives.
TEST_F(NetnsTest, OffloadsOffGiveLibpcapMtuSizedRingSlots) {
    auto before = read_offloads("cap");
    ASSERT_TRUE(before) << before.error().message;
    ASSERT_TRUE(before->any()) << "a new veth has tso and gso on";

    constexpr uint32_t kFrames = 400;
    auto frames_held = [&]() -> size_t {
        LiveOptions o = live_options();
        o.buffer_bytes = 1 << 20;
        auto live = LiveSource::open(o, 1);
        EXPECT_TRUE(live) << live.error().message;
        if (!live) {
            return 0;
        }
        std::vector<Bytes> frames;
        for (uint32_t id = 0; id < kFrames; ++id) {
            frames.push_back(udp_frame({kNet | 1, 1000}, {kNet | 2, 2000}, id, 200));
        }
        RawSender sender("peer");
        EXPECT_TRUE(sender.ok() && sender.send_all(frames));
        core::FrameBatch batch;
        Capture got;
        for (int empty = 0; empty < 3 && !got.failed;) {
            size_t had = got.frames.size();
            drain(**live, batch, got, 1);
            empty = got.frames.size() == had ? empty + 1 : 0;
        }
        EXPECT_FALSE(got.failed) << got.error;
        return got.frames.size();
    };

    const size_t held_with_offloads = frames_held();
    auto turned_off = write_offloads("cap", OffloadState{});
    ASSERT_TRUE(turned_off) << turned_off.error().message;
    auto off = read_offloads("cap");
    ASSERT_TRUE(off) << off.error().message;
    EXPECT_FALSE(off->any()) << off->names();
    const size_t held_without = frames_held();
    // 64 KiB slots: 16 in 1 MiB. MTU-sized ones: over 500.
    EXPECT_LT(held_with_offloads, 64u);
    EXPECT_EQ(held_without, kFrames);

    auto restored = write_offloads("cap", *before);
    ASSERT_TRUE(restored) << restored.error().message;
    auto after = read_offloads("cap");
    ASSERT_TRUE(after) << after.error().message;
    EXPECT_EQ(*after, *before) << after->names() << " vs " << before->names();
}

TEST(InterfaceOffloads, ErrorsNameTheInterface) {
    auto missing = read_offloads("nosuchdev0");
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("nosuchdev0: cannot read offload tso: No such device"),
              std::string::npos)
        << missing.error().message;
    auto not_written = write_offloads("nosuchdev0", OffloadState{});
    ASSERT_FALSE(not_written);
    EXPECT_NE(not_written.error().message.find("nosuchdev0: "), std::string::npos);
    auto too_long = read_offloads("an-interface-name-too-long");
    ASSERT_FALSE(too_long);
    EXPECT_NE(too_long.error().message.find("not an interface name"), std::string::npos);
}

TEST(InterfaceOffloads, NamesAndEthtoolCommandListThoseOn) {
    OffloadState s;
    EXPECT_EQ(s.names(), "");
    EXPECT_FALSE(s.any());
    s.tso = true;
    s.gro = true;
    EXPECT_TRUE(s.any());
    EXPECT_EQ(s.names(), "tso, gro");
    EXPECT_EQ(s.ethtool_command("eth1", true), "ethtool -K eth1 tso on gro on");
    EXPECT_EQ(s.ethtool_command("eth1", false), "ethtool -K eth1 tso off gro off");
}

}  // namespace
}  // namespace sensor::capture
