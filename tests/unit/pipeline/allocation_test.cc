// Steady state allocates nothing: a warm Worker that processes batches of flows it already
// tracks (classified; quiet, or with a rule alerting on every batch) must not call operator
// new, nDPI's allocator, Hyperscan's allocator or, in sanitizer builds, malloc at all (libhtp
// included: it allocates from its pool, sensor/applayer/htp_heap.h). This file replaces the global
// operator new/delete of the pipeline_test binary with counting versions that forward to
// malloc/free.

#include <gtest/gtest.h>
#include <hs.h>
#include <ndpi_api.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <vector>

#include "bench/trafficgen/packet_builder.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/alert/eve_writer.h"
#include "sensor/applayer/htp_heap.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#include <sanitizer/common_interface_defs.h>
#define SENSOR_ALLOCATION_MALLOC_HOOK 1
// From the sanitizer runtime's allocator interface; gcc ships no header that declares it.
extern "C" int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void*,
                                                                             size_t),
                                                         void (*free_hook)(const volatile void*));
#endif

namespace {

// Allocations seen on threads that enabled counting, per allocator.
struct AllocationCounts {
    std::atomic<uint64_t> cxx_new{0};
    std::atomic<uint64_t> ndpi{0};
    std::atomic<uint64_t> hyperscan{0};
    std::atomic<uint64_t> any_malloc{0};  // every malloc; sanitizer builds only
};

AllocationCounts g_counts;
std::atomic<int> g_stacks_left{0};  // stack traces still to print for unexpected allocations
thread_local bool t_counting = false;
thread_local bool t_reporting = false;

void count_allocation(std::atomic<uint64_t>& counter, const char* allocator, size_t size) {
    if (!t_counting || t_reporting) {
        return;
    }
    counter.fetch_add(1, std::memory_order_relaxed);
    if (g_stacks_left.fetch_sub(1, std::memory_order_relaxed) > 0) {
        t_reporting = true;  // what the report itself allocates is not counted
        std::fprintf(stderr, "allocation in steady state: %s, %zu bytes\n", allocator, size);
#ifdef SENSOR_ALLOCATION_MALLOC_HOOK
        __sanitizer_print_stack_trace();
#endif
        t_reporting = false;
    }
}

void* counted_new(size_t size, const char* allocator) {
    count_allocation(g_counts.cxx_new, allocator, size);
    void* p = std::malloc(size == 0 ? 1 : size);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

void* counted_aligned_new(size_t size, std::align_val_t align) {
    count_allocation(g_counts.cxx_new, "operator new (aligned)", size);
    const auto a = static_cast<size_t>(align);
    void* p = std::aligned_alloc(a, (size + a - 1) / a * a);
    if (p == nullptr) {
        throw std::bad_alloc();
    }
    return p;
}

void* ndpi_counting_malloc(size_t size) {
    count_allocation(g_counts.ndpi, "ndpi_malloc", size);
    return std::malloc(size);
}

void ndpi_counting_free(void* p) { std::free(p); }

void* hs_counting_alloc(size_t size) {
    count_allocation(g_counts.hyperscan, "hyperscan alloc", size);
    return std::malloc(size);
}

void hs_counting_free(void* p) { std::free(p); }

#ifdef SENSOR_ALLOCATION_MALLOC_HOOK
void on_sanitizer_malloc(const volatile void*, size_t size) {
    count_allocation(g_counts.any_malloc, "malloc", size);
}
void on_sanitizer_free(const volatile void*) {}
#endif

// Installed before main(): before any nDPI module or Hyperscan database exists. Memory taken
// earlier through malloc is still freed correctly: every hook forwards to malloc/free.
struct InstallHooks {
    InstallHooks() {
        set_ndpi_malloc(ndpi_counting_malloc);
        set_ndpi_free(ndpi_counting_free);
        if (hs_set_allocator(hs_counting_alloc, hs_counting_free) != HS_SUCCESS) {
            std::fprintf(stderr, "allocation_test: hs_set_allocator failed\n");
            std::abort();
        }
#ifdef SENSOR_ALLOCATION_MALLOC_HOOK
        __sanitizer_install_malloc_and_free_hooks(on_sanitizer_malloc, on_sanitizer_free);
#endif
    }
};
const InstallHooks g_install_hooks;

struct Snapshot {
    uint64_t cxx_new, ndpi, hyperscan, any_malloc;
};

Snapshot snapshot() {
    return {g_counts.cxx_new.load(), g_counts.ndpi.load(), g_counts.hyperscan.load(),
            g_counts.any_malloc.load()};
}

// Counts this thread's allocations while alive; stack_traces: how many to print.
class CountingScope {
public:
    explicit CountingScope(int stack_traces) : before_(snapshot()) {
        g_stacks_left.store(stack_traces);
        t_counting = true;
    }
    ~CountingScope() { t_counting = false; }
    CountingScope(const CountingScope&) = delete;
    CountingScope& operator=(const CountingScope&) = delete;

    Snapshot delta() const {
        Snapshot now = snapshot();
        return {now.cxx_new - before_.cxx_new, now.ndpi - before_.ndpi,
                now.hyperscan - before_.hyperscan, now.any_malloc - before_.any_malloc};
    }

private:
    Snapshot before_;
};

}  // namespace

// Replaceable global allocation functions ([new.delete]); every form is defined because the
// sanitizer runtimes define their own for any form left out.
void* operator new(size_t size) { return counted_new(size, "operator new"); }
void* operator new[](size_t size) { return counted_new(size, "operator new[]"); }
void* operator new(size_t size, const std::nothrow_t&) noexcept {
    try {
        return counted_new(size, "operator new (nothrow)");
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](size_t size, const std::nothrow_t&) noexcept {
    try {
        return counted_new(size, "operator new[] (nothrow)");
    } catch (...) {
        return nullptr;
    }
}
void* operator new(size_t size, std::align_val_t align) { return counted_aligned_new(size, align); }
void* operator new[](size_t size, std::align_val_t align) {
    return counted_aligned_new(size, align);
}
void* operator new(size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
    try {
        return counted_aligned_new(size, align);
    } catch (...) {
        return nullptr;
    }
}
void* operator new[](size_t size, std::align_val_t align, const std::nothrow_t&) noexcept {
    try {
        return counted_aligned_new(size, align);
    } catch (...) {
        return nullptr;
    }
}
// These operators replace the global ones with malloc and free, so the pairs match; gcc
// does not see that where it inlines one into a new-expression at -O1 (the TSan build).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace sensor::pipeline {
namespace {

using trafficgen::FrameSpec;
using trafficgen::TcpHeader;

constexpr int64_t kStartUs = 1'767'600'000'000'000;
constexpr int64_t kRoundUs = 10'000;  // packet time between rounds, far below any timeout
constexpr int kWarmRounds = 20;
constexpr int kCountedRounds = 50;

core::IpAddress ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    core::IpAddress x;
    x.bytes[0] = a;
    x.bytes[1] = b;
    x.bytes[2] = c;
    x.bytes[3] = d;
    return x;
}

FrameSpec spec(const core::IpAddress& src, const core::IpAddress& dst) {
    FrameSpec s;
    s.src_ip = src;
    s.dst_ip = dst;
    return s;
}

// A TCP connection seen at the tap: handshake, then data in both directions with sequence
// numbers that keep advancing, so every round is new in-order data of the same flow.
class TcpConversation {
public:
    TcpConversation(core::IpAddress client, uint16_t client_port, core::IpAddress server,
                    uint16_t server_port)
        : client_(client), server_(server), cport_(client_port), sport_(server_port) {}

    std::vector<std::vector<uint8_t>> handshake() {
        std::vector<std::vector<uint8_t>> out;
        out.push_back(segment(true, trafficgen::kSyn, {}));
        ++seq_[0];
        out.push_back(segment(false, trafficgen::kSyn | trafficgen::kAck, {}));
        ++seq_[1];
        out.push_back(segment(true, trafficgen::kAck, {}));
        return out;
    }
    std::vector<uint8_t> data(bool from_client, const std::string& text) {
        auto bytes = std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size());
        auto f = segment(from_client, trafficgen::kAck | trafficgen::kPsh, bytes);
        seq_[from_client ? 0 : 1] += static_cast<uint32_t>(text.size());
        return f;
    }
    std::vector<uint8_t> fin(bool from_client) {
        auto f = segment(from_client, trafficgen::kFin | trafficgen::kAck, {});
        ++seq_[from_client ? 0 : 1];
        return f;
    }
    std::vector<uint8_t> ack(bool from_client) const {
        return segment(from_client, trafficgen::kAck, {});
    }

private:
    std::vector<uint8_t> segment(bool from_client, uint8_t flags,
                                 std::span<const uint8_t> payload) const {
        TcpHeader h;
        h.src_port = from_client ? cport_ : sport_;
        h.dst_port = from_client ? sport_ : cport_;
        h.seq = seq_[from_client ? 0 : 1];
        h.ack = (flags & trafficgen::kAck) != 0 ? seq_[from_client ? 1 : 0] : 0;
        h.flags = flags;
        h.window = 64240;
        return trafficgen::make_tcp_frame(
            from_client ? spec(client_, server_) : spec(server_, client_), h, payload);
    }

    core::IpAddress client_, server_;
    uint16_t cport_, sport_;
    uint32_t seq_[2] = {1'000'000, 7'000'000};
};

// DNS query (or its answer) for www.example.com, type A, with message id `id`.
std::vector<uint8_t> dns_message(uint16_t id, bool response) {
    std::vector<uint8_t> m = {static_cast<uint8_t>(id >> 8),
                              static_cast<uint8_t>(id),
                              static_cast<uint8_t>(response ? 0x81 : 0x01),  // QR, RD
                              static_cast<uint8_t>(response ? 0x80 : 0x00),  // RA
                              0,
                              1,  // QDCOUNT
                              0,
                              static_cast<uint8_t>(response ? 1 : 0),  // ANCOUNT
                              0,
                              0,
                              0,
                              0};  // NS, AR
    for (const char* label : {"www", "example", "com"}) {
        m.push_back(static_cast<uint8_t>(std::strlen(label)));
        m.insert(m.end(), label, label + std::strlen(label));
    }
    m.insert(m.end(), {0, 0, 1, 0, 1});  // root, QTYPE A, QCLASS IN
    if (response) {
        // Name pointer to offset 12, A, IN, TTL 300, 4 bytes, 93.184.216.34.
        m.insert(m.end(), {0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 93, 184, 216, 34});
    }
    return m;
}

// Rules that the traffic below never matches, so that every packet goes through the
// prefilter scans (payload contents, pcre prefilter, app-layer buffers) without alerting.
constexpr const char* kQuietRules =
    "alert tcp any any -> any any (msg:\"content\"; content:\"zq-never-present-qz\"; sid:1;)\n"
    "alert udp any any -> any any (msg:\"udp content\"; content:\"|de ad be ef 00 11|\"; "
    "sid:2;)\n"
    "alert tcp any any -> any any (msg:\"pcre\"; pcre:\"/qx[0-9]{6}xq/\"; sid:3;)\n"
    "alert dns any any -> any any (msg:\"dns\"; dns.query; content:\"never.invalid\"; sid:4;)\n"
    "alert http any any -> any any (msg:\"uri\"; http.uri; content:\"/never-here\"; sid:5;)\n"
    "alert icmp any any -> any any (msg:\"icmp\"; content:\"never-in-icmp\"; sid:6;)\n";

class WarmWorker : public ::testing::Test {
protected:
    void SetUp() override { use_rules(kQuietRules, rules::Taxonomy{}, 6); }

    // A worker for these rules, all of which must load.
    void use_rules(const std::string& text, const rules::Taxonomy& taxonomy, size_t rule_count,
                   WorkerConfig config = checked_config()) {
        auto set = rules::parse_rules_text(text, "test.rules", {}, taxonomy);
        ASSERT_TRUE(set.has_value()) << set.error().message;
        ASSERT_EQ(set->report().loaded, rule_count) << rules::format_load_report(set->report());
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        worker_ = std::make_unique<Worker>(config, *db, std::vector<BuiltinRule>{});
    }

    static WorkerConfig checked_config() {
        WorkerConfig config;
        config.decode.validate_checksums = true;
        // Small budget: unknown flows get their verdict (and free nDPI state) during warm-up.
        config.classify.max_packets = 8;
        return config;
    }

    // One batch per round, filled before any counting starts.
    void add_round(const std::vector<std::vector<uint8_t>>& frames) {
        auto batch = std::make_unique<core::FrameBatch>();
        const int64_t ts = kStartUs + static_cast<int64_t>(batches_.size()) * round_us_;
        for (const auto& f : frames) {
            ASSERT_TRUE(batch->push(f, static_cast<uint32_t>(f.size()), ts, 1, ++index_, 0));
        }
        batch->set_clock(ts);
        per_round_ = frames.size();
        batches_.push_back(std::move(batch));
    }

    void process(size_t round) {
        worker_->process(*batches_[round]);
        worker_->output().clear();  // keeps its capacity: clearing does not free
    }

    uint64_t pending_flows() const {
        const auto& s = worker_->classifier().stats();
        return s.flows_started.load() - s.flows_classified.load() - s.flows_given_up.load();
    }

    // Warm-up rounds, then the counted ones; checks that the counted rounds did real work on
    // flows already tracked and already classified.
    void expect_no_allocation_in_steady_state() {
        ASSERT_EQ(batches_.size(), size_t{kWarmRounds + kCountedRounds});
        for (size_t r = 0; r < kWarmRounds; ++r) {
            process(r);
        }
        ASSERT_EQ(pending_flows(), 0u) << "every flow must have its verdict before counting";
        ASSERT_EQ(worker_->stats().alerts.load(), 0u);
        const uint64_t flows_before = worker_->flows().stats().created.load();
        const uint64_t analysed_before = worker_->stats().packets_analysed.load();
        const uint64_t scans_before = worker_->detector().stats().scans.load();
        const uint64_t pool_fallbacks_before = applayer::htp_heap_stats().fallbacks;

        Snapshot d{};
        {
            CountingScope scope(/*stack_traces=*/3);
            for (size_t r = kWarmRounds; r < batches_.size(); ++r) {
                process(r);
            }
            d = scope.delta();
        }
        EXPECT_EQ(d.cxx_new, 0u) << "operator new calls";
        EXPECT_EQ(d.ndpi, 0u) << "nDPI allocations";
        EXPECT_EQ(d.hyperscan, 0u) << "Hyperscan allocations";
        EXPECT_EQ(d.any_malloc, 0u) << "malloc calls (sanitizer builds)";
        EXPECT_EQ(applayer::htp_heap_stats().fallbacks, pool_fallbacks_before)
            << "libhtp requests its pool passed to malloc";

        EXPECT_EQ(worker_->flows().stats().created.load(), flows_before) << "no new flows";
        EXPECT_EQ(worker_->stats().packets_analysed.load() - analysed_before,
                  per_round_ * kCountedRounds);
        EXPECT_GT(worker_->detector().stats().scans.load(), scans_before);
        EXPECT_EQ(worker_->stats().alerts.load(), 0u);
        EXPECT_EQ(pending_flows(), 0u);
    }

    std::unique_ptr<Worker> worker_;
    std::vector<std::unique_ptr<core::FrameBatch>> batches_;
    uint64_t index_ = 0;
    size_t per_round_ = 0;
    int64_t round_us_ = kRoundUs;
};

TEST(AllocationCounter, SeesEveryAllocator) {
    Snapshot d{};
    {
        CountingScope scope(/*stack_traces=*/0);
        auto* boxed = new int(7);
        delete boxed;
        void* n = ndpi_malloc(64);
        ndpi_free(n);
        hs_database_t* db = nullptr;
        hs_compile_error_t* err = nullptr;
        ASSERT_EQ(hs_compile("abc", 0, HS_MODE_BLOCK, nullptr, &db, &err), HS_SUCCESS);
        hs_free_database(db);
        d = scope.delta();
    }
    EXPECT_GE(d.cxx_new, 1u);
    EXPECT_EQ(d.ndpi, 1u);
    EXPECT_GE(d.hyperscan, 1u);
#ifdef SENSOR_ALLOCATION_MALLOC_HOOK
    EXPECT_GE(d.any_malloc, 3u);
#endif
}

// UDP (DNS query and answer), TCP with an unparsed protocol, and ICMP echo: classified by
// nDPI or given up during warm-up, then steady.
TEST_F(WarmWorker, SeenFlowsAllocateNothing) {
    const auto client = ip(10, 1, 0, 7);
    const auto resolver = ip(10, 1, 0, 53);
    const auto server = ip(198, 51, 100, 10);
    TcpConversation tcp(client, 40100, server, 7777);
    auto handshake = tcp.handshake();
    for (int r = 0; r < kWarmRounds + kCountedRounds; ++r) {
        std::vector<std::vector<uint8_t>> frames;
        if (r == 0) {
            frames = handshake;
        }
        const auto id = static_cast<uint16_t>(0x1000 + r);
        auto query = dns_message(id, false);
        auto answer = dns_message(id, true);
        frames.push_back(trafficgen::make_udp_frame(spec(client, resolver), 40053, 53, query));
        frames.push_back(trafficgen::make_udp_frame(spec(resolver, client), 53, 40053, answer));
        frames.push_back(tcp.data(true, "STAT " + std::to_string(r) + "\r\n"));
        frames.push_back(tcp.data(false, "OK " + std::to_string(r * 7) + " items\r\n"));
        const std::string ping = "ping payload 0123456789";
        auto ping_bytes = std::span(reinterpret_cast<const uint8_t*>(ping.data()), ping.size());
        frames.push_back(trafficgen::make_icmp_echo_frame(spec(client, server), false, 9,
                                                          static_cast<uint16_t>(r), ping_bytes));
        frames.push_back(trafficgen::make_icmp_echo_frame(spec(server, client), true, 9,
                                                          static_cast<uint16_t>(r), ping_bytes));
        ASSERT_NO_FATAL_FAILURE(add_round(frames));
    }
    expect_no_allocation_in_steady_state();
}

// HTTP/1.1 keep-alive: each round is a new request and response on a connection whose
// parser already exists. libhtp creates each transaction (htp_tx_create, its URI and header
// tables: about 37 calls per request/response pair) from its pool, which the warm-up filled.
TEST_F(WarmWorker, SeenHttpFlowAllocatesNothing) {
    TcpConversation tcp(ip(10, 1, 0, 8), 40200, ip(10, 1, 0, 80), 80);
    auto handshake = tcp.handshake();
    for (int r = 0; r < kWarmRounds + kCountedRounds; ++r) {
        std::vector<std::vector<uint8_t>> frames;
        if (r == 0) {
            frames = handshake;
        }
        frames.push_back(tcp.data(true, "GET /page/" + std::to_string(r) +
                                            " HTTP/1.1\r\nHost: intranet.example.com\r\n"
                                            "User-Agent: probe/1.0\r\n\r\n"));
        frames.push_back(tcp.data(false,
                                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                  "Content-Length: 5\r\n\r\nhello"));
        ASSERT_NO_FATAL_FAILURE(add_round(frames));
    }
    const uint64_t transactions_before = worker_->app_layer().stats().http_transactions.load();
    expect_no_allocation_in_steady_state();
    EXPECT_EQ(worker_->app_layer().stats().http_transactions.load() - transactions_before,
              uint64_t{kWarmRounds + kCountedRounds})
        << "every round parsed one transaction";
    ASSERT_NE(applayer::installed_htp_heap(), nullptr) << "the Worker installed libhtp's pool";
    EXPECT_GT(applayer::htp_heap_stats().carved_bytes, 0u);
}

// New flows are the steady state of real traffic: every round opens a DNS exchange and a short
// TCP connection on new client ports and ends the previous round's flows (timeouts of one
// second, rounds 1.5 s apart), so each counted round creates flows, runs nDPI on them to a
// verdict, ends them and emits their flow records. After warm-up the nDPI flow state comes
// from the classifier's free list, the HTTP session (and libhtp's connection parser, from its
// pool) from the app layer's, the flow slot from the table and the flow record holds its
// text inline: nothing of ours allocates. nDPI's own dissectors still do (a 2 KiB buffer for
// TCP payload while TLS is possible, copies of names): every malloc left must be nDPI's.
TEST_F(WarmWorker, NewFlowsAllocateNothingOutsideNdpi) {
    WorkerConfig config = checked_config();
    config.flow.timeout_s.fill(1);
    ASSERT_NO_FATAL_FAILURE(use_rules(kQuietRules, rules::Taxonomy{}, 6, config));
    round_us_ = 1'500'000;
    const auto client = ip(10, 2, 0, 7);
    const auto resolver = ip(10, 2, 0, 53);
    const auto server = ip(198, 51, 100, 20);
    for (int r = 0; r < kWarmRounds + kCountedRounds; ++r) {
        std::vector<std::vector<uint8_t>> frames;
        const auto id = static_cast<uint16_t>(0x2000 + r);
        const auto dns_port = static_cast<uint16_t>(41000 + r);
        frames.push_back(trafficgen::make_udp_frame(spec(client, resolver), dns_port, 53,
                                                    dns_message(id, false)));
        frames.push_back(trafficgen::make_udp_frame(spec(resolver, client), 53, dns_port,
                                                    dns_message(id, true)));
        TcpConversation tcp(client, static_cast<uint16_t>(42000 + r), server, 7777);
        for (auto& f : tcp.handshake()) {
            frames.push_back(std::move(f));
        }
        frames.push_back(tcp.data(true, "STAT " + std::to_string(r) + "\r\n"));
        frames.push_back(tcp.data(false, "OK " + std::to_string(r * 7) + " items\r\n"));
        frames.push_back(tcp.fin(true));
        frames.push_back(tcp.fin(false));
        frames.push_back(tcp.ack(true));
        // An HTTP connection: one request and answer, parsed by libhtp.
        TcpConversation http(client, static_cast<uint16_t>(43000 + r), server, 80);
        for (auto& f : http.handshake()) {
            frames.push_back(std::move(f));
        }
        frames.push_back(http.data(true, "GET /status/" + std::to_string(r) +
                                             " HTTP/1.1\r\nHost: plc.example.com\r\n\r\n"));
        frames.push_back(http.data(false,
                                   "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                   "Content-Length: 2\r\n\r\nok"));
        frames.push_back(http.fin(true));
        frames.push_back(http.fin(false));
        frames.push_back(http.ack(true));
        ASSERT_NO_FATAL_FAILURE(add_round(frames));
    }
    for (size_t r = 0; r < kWarmRounds; ++r) {
        process(r);
    }
    const auto& flows = worker_->flows().stats();
    const auto& classify = worker_->classifier().stats();
    const uint64_t created_before = flows.created.load();
    const uint64_t ended_before = worker_->stats().flows_ended.load();
    const uint64_t reused_before = classify.states_reused.load();
    const uint64_t started_before = classify.flows_started.load();
    const auto& app = worker_->app_layer().stats();
    const uint64_t http_sessions_before = app.http_parsers_created.load();
    const uint64_t http_reused_before = app.http_sessions_reused.load();
    const uint64_t http_transactions_before = app.http_transactions.load();
    uint64_t records = 0;
    Snapshot d{};
    {
        CountingScope scope(/*stack_traces=*/3);
        for (size_t r = kWarmRounds; r < batches_.size(); ++r) {
            worker_->process(*batches_[r]);
            records += worker_->output().flows.size();
            worker_->output().clear();
        }
        d = scope.delta();
    }
    EXPECT_EQ(d.cxx_new, 0u) << "operator new calls";
    EXPECT_EQ(d.hyperscan, 0u) << "Hyperscan allocations";
#ifdef SENSOR_ALLOCATION_MALLOC_HOOK
    EXPECT_EQ(d.any_malloc, d.ndpi) << "malloc calls other than nDPI's own";
#endif
    const uint64_t created = flows.created.load() - created_before;
    std::printf("new flows: %llu, nDPI allocations: %llu (%.2f per flow)\n",
                static_cast<unsigned long long>(created), static_cast<unsigned long long>(d.ndpi),
                created > 0 ? static_cast<double>(d.ndpi) / static_cast<double>(created) : 0.0);

    // The counted rounds did the work of new flows: three flows per round created, classified
    // with nDPI state from the free list, ended with a record each; the HTTP one parsed by a
    // session an ended flow left.
    EXPECT_EQ(created, uint64_t{3} * kCountedRounds);
    EXPECT_EQ(app.http_parsers_created.load() - http_sessions_before, uint64_t{kCountedRounds});
    EXPECT_EQ(app.http_sessions_reused.load() - http_reused_before, uint64_t{kCountedRounds})
        << "every new HTTP flow's session came from the pool";
    EXPECT_EQ(app.http_transactions.load() - http_transactions_before, uint64_t{kCountedRounds});
    EXPECT_EQ(worker_->stats().flows_ended.load() - ended_before, created);
    EXPECT_EQ(records, created);
    EXPECT_EQ(classify.flows_started.load() - started_before, created);
    EXPECT_EQ(classify.states_reused.load() - reused_before, created)
        << "every new flow's nDPI state came from the free list";
    EXPECT_EQ(worker_->stats().alerts.load(), 0u);
}

// Alerts in steady state: a rule keeps alerting on a known flow (a scan, a chatty rule).
// The EVE lines of records, as the sensor's EVE output has workers make them.
class EveLines final : public RecordFormatter {
public:
    void append_alert(std::string& out, const core::AlertRecord& record) const override {
        alert::append_alert_json(out, record);
    }
    void append_flow(std::string& out, const core::FlowRecord& record) const override {
        alert::append_flow_json(out, record);
    }
};

class WarmAlertingWorker : public WarmWorker {
protected:
    // A worker with kQuietRules and `rule`, classified through the real classification.config
    // and Concept map (the alert gets its classtype's description and categories, as ET
    // Open's rules do).
    // The worker makes each alert's EVE line too (as with several workers): that must not
    // allocate either once the lines' buffer has grown.
    void use_rules_with(const std::string& rule) {
        auto taxonomy = rules::Taxonomy::load(std::string(SENSOR_SOURCE_DIR) + "/rules/data");
        ASSERT_TRUE(taxonomy.has_value()) << taxonomy.error().message;
        use_rules(std::string(kQuietRules) + rule, *taxonomy, 7);
        worker_->format_records_with(&eve_lines_);
    }
    EveLines eve_lines_;

    // Runs the warm-up rounds, then counts the allocations of the others; `check` sees each
    // alert of the counted rounds with its round. Expects one alert per counted round and no
    // allocation of any kind.
    template <class Check>
    void expect_alerts_allocate_nothing(uint64_t warm_alerts, Check&& check) {
        for (size_t r = 0; r < kWarmRounds; ++r) {
            process(r);
        }
        ASSERT_EQ(pending_flows(), 0u);
        ASSERT_EQ(worker_->stats().alerts.load(), warm_alerts);
        uint64_t records = 0;
        bool as_expected = true;
        bool lines_as_expected = true;
        Snapshot d{};
        {
            CountingScope scope(/*stack_traces=*/3);
            for (size_t r = kWarmRounds; r < batches_.size(); ++r) {
                worker_->process(*batches_[r]);
                const WorkerOutput& out = worker_->output();
                for (const auto& a : out.alerts) {
                    ++records;
                    as_expected = as_expected && check(a, r);
                }
                lines_as_expected =
                    lines_as_expected && out.alert_line_ends.size() == out.alerts.size() &&
                    (out.alerts.empty() || out.alert_lines.starts_with("{\"timestamp\":"));
                worker_->output().clear();
            }
            d = scope.delta();
        }
        std::printf("alerts: %llu, operator new: %llu, malloc: %llu\n",
                    static_cast<unsigned long long>(records),
                    static_cast<unsigned long long>(d.cxx_new),
                    static_cast<unsigned long long>(d.any_malloc));
        EXPECT_EQ(records, uint64_t{kCountedRounds});
        EXPECT_TRUE(as_expected) << "each alert describes its own packet and rule";
        EXPECT_TRUE(lines_as_expected) << "each alert comes with its EVE line";
        EXPECT_EQ(d.cxx_new, 0u) << "operator new calls";
        EXPECT_EQ(d.ndpi, 0u) << "nDPI allocations";
        EXPECT_EQ(d.hyperscan, 0u) << "Hyperscan allocations";
        EXPECT_EQ(d.any_malloc, 0u) << "malloc calls (sanitizer builds)";
    }
};

// A rule in ET Open's form (a long msg, a classtype, metadata of several pairs, a Concept
// category) matches one packet of a known flow every round. The alert record refers to the
// rule's texts instead of copying them and keeps its packet in a buffer an earlier alert
// left, so an alert on a seen flow allocates nothing of ours.
TEST_F(WarmAlertingWorker, AlertsOnSeenFlowAllocateNothing) {
    ASSERT_NO_FATAL_FAILURE(use_rules_with(
        "alert tcp any any -> any 7777 (msg:\"ET SCAN Suspicious inbound probe of an industrial "
        "gateway\"; flow:established,to_server; content:\"PROBE-\"; classtype:attempted-recon; "
        "metadata:affected_product Any, attack_target Server, created_at 2024_01_05, "
        "deployment Perimeter, signature_severity Major, updated_at 2024_04_20; "
        "sid:9000001; rev:3;)\n"));
    TcpConversation tcp(ip(10, 3, 0, 7), 40300, ip(10, 3, 0, 70), 7777);
    auto handshake = tcp.handshake();
    for (int r = 0; r < kWarmRounds + kCountedRounds; ++r) {
        std::vector<std::vector<uint8_t>> frames;
        if (r == 0) {
            frames = handshake;
        }
        frames.push_back(tcp.data(true, "PROBE-" + std::to_string(r) + " status?\r\n"));
        frames.push_back(tcp.data(false, "OK " + std::to_string(r) + "\r\n"));
        ASSERT_NO_FATAL_FAILURE(add_round(frames));
    }
    expect_alerts_allocate_nothing(kWarmRounds, [](const core::AlertRecord& a, size_t) {
        return a.signature_id == 9000001 && a.signature().starts_with("ET SCAN Suspicious") &&
               a.metadata().size() == 6 && !a.concepts().empty() && !a.payload().empty();
    });
}

// The same for alerts on HTTP transactions: the record's HTTP fields (URL, Host, User-Agent
// above the strings' inline size) reuse the strings of an HTTP record an earlier alert left.
TEST_F(WarmAlertingWorker, HttpAlertsOnSeenFlowAllocateNothing) {
    ASSERT_NO_FATAL_FAILURE(use_rules_with(
        "alert http any any -> any any (msg:\"ET WEB_SPECIFIC_APPS probe of a controller's "
        "diagnostics page\"; flow:established,to_server; http.uri; content:\"/diagnostics/\"; "
        "classtype:web-application-attack; metadata:attack_target Server, created_at "
        "2024_02_01, signature_severity Major; sid:9000002; rev:1;)\n"));
    TcpConversation tcp(ip(10, 3, 0, 8), 40400, ip(10, 3, 0, 80), 80);
    auto handshake = tcp.handshake();
    std::vector<std::string> urls;  // made here: the counted rounds must not allocate for them
    for (int r = 0; r < kWarmRounds + kCountedRounds; ++r) {
        std::vector<std::vector<uint8_t>> frames;
        if (r == 0) {
            frames = handshake;
        }
        urls.push_back("/diagnostics/status.cgi?unit=" + std::to_string(r) + "&verbose=1");
        frames.push_back(tcp.data(true, "GET " + urls.back() +
                                            " HTTP/1.1\r\n"
                                            "Host: controller-7.plant.example.com\r\n"
                                            "User-Agent: Mozilla/5.0 (X11; Linux x86_64) probe\r\n"
                                            "\r\n"));
        frames.push_back(tcp.data(false,
                                  "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                  "Content-Length: 5\r\n\r\nhello"));
        ASSERT_NO_FATAL_FAILURE(add_round(frames));
    }
    // A request's alert comes with the packet after it that lets the transaction be inspected
    // (Suricata's inspection point): the last warm round's comes in the first counted round.
    expect_alerts_allocate_nothing(kWarmRounds - 1, [&](const core::AlertRecord& a, size_t r) {
        return a.signature_id == 9000002 && a.http.has_value() &&
               (a.http->url == urls[r] || a.http->url == urls[r - 1]) &&
               a.http->hostname == "controller-7.plant.example.com" &&
               a.http->user_agent == "Mozilla/5.0 (X11; Linux x86_64) probe";
    });
}

}  // namespace
}  // namespace sensor::pipeline
