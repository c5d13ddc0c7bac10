// The decoder's steady state never allocates: every frame kind, reassembly included, runs
// under a counting operator new.

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>

#include "tests/unit/decode/cases.h"

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
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }

namespace sensor::decode::test {
namespace {

TEST(Allocation, DecodeNeverAllocatesOnceConstructed) {
    std::vector<Case> all = good_cases();
    const std::vector<Case> drops = drop_cases();
    all.insert(all.end(), drops.begin(), drops.end());
    Decoder decoder(DecodeConfig{});
    DecodedPacket packet;
    std::vector<core::Frame> frames;
    for (const Case& c : all) {
        for (const Input& in : c.inputs) {
            core::Frame f;
            f.data = in.frame.data();
            f.caplen = static_cast<uint32_t>(in.frame.size());
            f.wire_len = in.wire_len == 0 ? f.caplen : in.wire_len;
            f.linktype = in.linktype;
            f.ts_us = static_cast<int64_t>(frames.size()) * 1000;
            f.index = frames.size() + 1;
            frames.push_back(f);
        }
    }
    // The counter must see allocations at all, or a zero below would prove nothing.
    g_counting = true;
    auto* probe = new int(1);
    g_counting = false;
    delete probe;
    ASSERT_EQ(g_allocations.load(), 1u);

    g_allocations = 0;
    g_counting = true;
    for (int round = 0; round < 3; ++round) {
        for (const core::Frame& f : frames) {
            decoder.decode(f, packet);
        }
    }
    g_counting = false;
    EXPECT_EQ(g_allocations.load(), 0u);
    EXPECT_GT(decoder.stats().fragments_reassembled.load(), 0u);
    EXPECT_EQ(decoder.stats().decoded.load() + decoder.stats().dropped_total(), 3 * frames.size());
}

}  // namespace
}  // namespace sensor::decode::test
