// Our code allocates only when a flow starts being parsed: warm HTTP keep-alive traffic,
// repeated DNS queries and whole ClientHellos run under a counting operator new. libhtp's
// own allocations come from its pool (htp_heap.h) when the sensor installs it; they are
// counted in tests/unit/pipeline/allocation_test.cc.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <functional>
#include <new>
#include <string>
#include <vector>

#include "sensor/applayer/app_layer.h"
#include "tests/unit/applayer/applayer_test_support.h"

namespace {

std::atomic<bool> g_counting{false};
std::atomic<uint64_t> g_allocations{0};

}  // namespace

void* operator new(size_t size) {
    if (g_counting.load(std::memory_order_relaxed)) {
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    }
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
        return p;
    }
    throw std::bad_alloc();
}
void* operator new(size_t size, const std::nothrow_t&) noexcept {
    if (g_counting.load(std::memory_order_relaxed)) {
        g_allocations.fetch_add(1, std::memory_order_relaxed);
    }
    return std::malloc(size == 0 ? 1 : size);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace sensor::applayer {
namespace {

using testing::Conversation;

uint64_t count_allocations(const std::function<void()>& work) {
    g_allocations = 0;
    g_counting = true;
    work();
    g_counting = false;
    return g_allocations.load();
}

// A query for name<i>.example, type A, class IN.
std::string dns_query(uint16_t id) {
    std::string m = {static_cast<char>(id >> 8),
                     static_cast<char>(id),
                     0x01,
                     0x00,
                     0x00,
                     0x01,
                     0x00,
                     0x00,
                     0x00,
                     0x00,
                     0x00,
                     0x00};
    m += "\x05name";
    m.push_back(static_cast<char>('0' + id % 10));
    m += "\x07";
    m += "example";
    m.push_back('\0');
    m += std::string("\x00\x01\x00\x01", 4);
    return m;
}

// Hands `p` to code the optimiser cannot see into: memory it may read, so an allocation that
// reaches it is observable.
void escape(const void* p) { asm volatile("" : : "g"(p) : "memory"); }

TEST(AppLayerAllocation, CounterSeesAllocations) {
    // Without this, a zero below would prove nothing. An optimised build may drop a new/delete
    // pair whose block is never used ([expr.new]/10), so each block escapes.
    EXPECT_EQ(count_allocations([] {
                  int* p = new int(1);
                  escape(p);
                  delete p;
              }),
              1u);
    EXPECT_EQ(count_allocations([] {
                  int* p = new (std::nothrow) int(1);
                  escape(p);
                  delete p;
              }),
              1u);
    // And an allocation made inside the standard library, as std::string makes for our code.
    EXPECT_EQ(count_allocations([] {
                  std::string s(100, 'x');
                  escape(s.data());
              }),
              1u);
}

TEST(AppLayerAllocation, WarmHttpKeepAliveDoesNotAllocate) {
    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 80);
    const std::string request =
        "POST /submit?x=%41 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: ua\r\n"
        "Cookie: a=b\r\nContent-Length: 64\r\n\r\n" +
        std::string(64, 'p');
    const std::string response =
        "HTTP/1.1 200 OK\r\nContent-Length: 128\r\nSet-Cookie: s=1\r\n\r\n" + std::string(128, 'r');
    auto exchange = [&] {
        core::AppBuffers out = c.send(app, true, request);
        EXPECT_TRUE(out.any);
        out = c.send(app, false, response);
        EXPECT_TRUE(out.any);
    };
    for (int i = 0; i < 3; ++i) {
        exchange();  // parser, body buffers and scratch reach their sizes
    }
    // Conversation::send keeps a copy of each payload: build them before counting.
    std::vector<decode::DecodedPacket> packets;
    for (int i = 0; i < 10; ++i) {
        packets.push_back(c.packet(true, request, decode::kTcpAck | decode::kTcpPsh));
        c.skip(true, static_cast<uint32_t>(request.size()));
        packets.push_back(c.packet(false, response, decode::kTcpAck | decode::kTcpPsh));
        c.skip(false, static_cast<uint32_t>(response.size()));
    }
    size_t exposed = 0;
    const uint64_t n = count_allocations([&] {
        core::AppBuffers out;
        for (size_t i = 0; i < packets.size(); ++i) {
            app.update(c.flow(), i % 2 == 0, packets[i], out);
            exposed += out.any ? 1 : 0;
        }
    });
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(exposed, packets.size());
    EXPECT_EQ(app.stats().http_transactions.load(), 13u);
    app.release(c.flow());
}

TEST(AppLayerAllocation, DnsQueriesAndWholeClientHellosDoNotAllocate) {
    AppLayer app{AppLayerConfig{}};
    Conversation dns(decode::kIpProtoUdp, 40000, 53);
    dns.send(app, true, dns_query(1));  // creates the flow's state (once per flow)
    std::vector<decode::DecodedPacket> queries;
    for (uint16_t id = 2; id < 12; ++id) {
        queries.push_back(dns.packet(true, dns_query(id), 0));
    }
    // A ClientHello in one segment on ten new flows: parsed without any state.
    const std::string hello_record = [] {
        std::string body = "\x03\x03" + std::string(32, 'r') + std::string(1, '\0');
        body += std::string("\x00\x02\x13\x01", 4) + std::string("\x01\x00", 2);
        const std::string sni = "www.example.com";
        std::string ext = std::string("\x00\x00", 2);
        const size_t list = sni.size() + 3;
        ext += {static_cast<char>(0),         static_cast<char>(list + 2), static_cast<char>(0),
                static_cast<char>(list),      static_cast<char>(0),        static_cast<char>(0),
                static_cast<char>(sni.size())};
        ext += sni;
        body += {static_cast<char>(ext.size() >> 8), static_cast<char>(ext.size())};
        body += ext;
        std::string msg = {0x01, 0x00, static_cast<char>(body.size() >> 8),
                           static_cast<char>(body.size())};
        msg += body;
        std::string rec = {0x16, 0x03, 0x01, static_cast<char>(msg.size() >> 8),
                           static_cast<char>(msg.size())};
        return rec + msg;
    }();
    std::vector<Conversation> tls;
    std::vector<decode::DecodedPacket> hellos;
    for (uint16_t i = 0; i < 10; ++i) {
        tls.emplace_back(decode::kIpProtoTcp, static_cast<uint16_t>(41000 + i), 443);
    }
    hellos.reserve(tls.size());
    for (auto& t : tls) {
        hellos.push_back(t.packet(true, hello_record, decode::kTcpAck | decode::kTcpPsh));
    }
    // Warm the SNI and JA3 scratch once.
    Conversation warm(decode::kIpProtoTcp, 40999, 443);
    EXPECT_EQ(testing::buf(warm.send(app, true, hello_record), core::BufferKind::kTlsSni),
              "www.example.com");

    size_t exposed = 0;
    const uint64_t n = count_allocations([&] {
        core::AppBuffers out;
        for (const auto& q : queries) {
            app.update(dns.flow(), true, q, out);
            exposed += out.any ? 1 : 0;
        }
        for (size_t i = 0; i < hellos.size(); ++i) {
            app.update(tls[i].flow(), true, hellos[i], out);
            exposed += out.any ? 1 : 0;
        }
    });
    EXPECT_EQ(n, 0u);
    EXPECT_EQ(exposed, queries.size() + hellos.size());
    app.release(dns.flow());
    for (auto& t : tls) {
        app.release(t.flow());
    }
    app.release(warm.flow());
    EXPECT_EQ(app.memory_bytes(), 0u);
}

}  // namespace
}  // namespace sensor::applayer
