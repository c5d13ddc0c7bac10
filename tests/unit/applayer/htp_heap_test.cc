// HtpHeap, the pool libhtp allocates from: size classes, foreign pointers, realloc, exhaustion,
// blocks that change threads, and the installed heap serving libhtp's own allocations while
// HTTP is parsed through AppLayer.

#include "sensor/applayer/htp_heap.h"

#include <gtest/gtest.h>
#include <htp/htp.h>
#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include <sys/mman.h>

#include <algorithm>
#include <barrier>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "sensor/applayer/app_layer.h"
#include "tests/unit/applayer/applayer_test_support.h"
#include "tests/unit/applayer/htp_heap_test_support.h"

namespace sensor::applayer {
namespace {

using core::BufferKind;
using testing::buf;
using testing::Conversation;
using testing::make_heap;
using testing::malloc_in_use;

constexpr size_t kPage = HtpHeap::kPageBytes;

TEST(HtpHeap, BlockSizesCoverEveryRequestWithBoundedRounding) {
    size_t bad = 0;
    size_t previous = 0;
    for (size_t n = 0; n <= HtpHeap::kMaxBlock; ++n) {
        const size_t b = HtpHeap::block_size(n);
        const bool ok = b >= std::max<size_t>(n, 1) && b % 16 == 0 && b >= previous &&
                        b <= n + n / 4 + 16 && HtpHeap::kPageBytes / b >= 1;
        if (!ok && bad++ < 5) {
            ADD_FAILURE() << "request " << n << ": block " << b;
        }
        previous = b;
    }
    EXPECT_EQ(bad, 0u);
    EXPECT_EQ(HtpHeap::block_size(HtpHeap::kMaxBlock + 1), 0u);
}

TEST(HtpHeap, RefusesLessThanOnePage) {
    auto heap = HtpHeap::create(kPage - 1);
    ASSERT_FALSE(heap.has_value());
    EXPECT_NE(heap.error().message.find("app-layer.http.parser-pool"), std::string::npos);
}

TEST(HtpHeap, OwnsItsBlocksAndPassesForeignPointersToMalloc) {
    auto heap = make_heap(size_t{1} << 20);
    ASSERT_NE(heap, nullptr);
    EXPECT_EQ(heap->stats().capacity_bytes, size_t{1} << 20);
    void* p = heap->allocate(100);
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(heap->owns(p));
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u);

    // Memory from malloc (libc's strdup, zlib) given to the heap's free goes back to malloc.
    void* foreign = std::malloc(4000);
    ASSERT_NE(foreign, nullptr);
    EXPECT_FALSE(heap->owns(foreign));
    const size_t before = malloc_in_use();
    heap->release(foreign);
    EXPECT_GE(before - malloc_in_use(), size_t{4000});

    // And realloc of such a pointer is malloc's realloc: contents kept, still foreign.
    auto* grown = static_cast<char*>(std::malloc(16));
    ASSERT_NE(grown, nullptr);
    std::memcpy(grown, "foreign bytes", 14);
    grown = static_cast<char*>(heap->reallocate(grown, 3000));
    ASSERT_NE(grown, nullptr);
    EXPECT_FALSE(heap->owns(grown));
    EXPECT_STREQ(grown, "foreign bytes");
    heap->release(grown);

    heap->release(p);
    heap->release(nullptr);
    EXPECT_EQ(heap->stats().fallbacks, 0u);
    EXPECT_EQ(heap->stats().carved_bytes, kPage);
}

TEST(HtpHeap, ReusesFreedBlocksAndZeroesCalloc) {
    auto heap = make_heap(size_t{1} << 20);
    ASSERT_NE(heap, nullptr);
    void* p = heap->allocate(48);
    ASSERT_NE(p, nullptr);
    std::memset(p, 0xab, 48);
    heap->release(p);
    auto* z = static_cast<unsigned char*>(heap->allocate_zeroed(3, 16));
    EXPECT_EQ(z, p) << "the block just freed serves the next request of its class";
    EXPECT_TRUE(std::all_of(z, z + 48, [](unsigned char c) { return c == 0; }));
    heap->release(z);

    char* s = heap->duplicate("libhtp");
    ASSERT_NE(s, nullptr);
    EXPECT_TRUE(heap->owns(s));
    EXPECT_STREQ(s, "libhtp");
    heap->release(s);

    EXPECT_EQ(heap->allocate_zeroed(SIZE_MAX / 2, 4), nullptr) << "count * size overflows";
    EXPECT_EQ(heap->stats().carved_bytes, 2 * kPage) << "one page per size class used";
    EXPECT_EQ(heap->stats().fallbacks, 0u);
}

TEST(HtpHeap, ReallocAcrossClassesKeepsContents) {
    auto heap = make_heap(size_t{1} << 20);
    ASSERT_NE(heap, nullptr);
    std::string pattern(32, '\0');
    for (size_t i = 0; i < pattern.size(); ++i) {
        pattern[i] = static_cast<char>('a' + i % 26);
    }
    auto* p = static_cast<char*>(heap->allocate(24));
    ASSERT_NE(p, nullptr);
    std::memcpy(p, pattern.data(), 24);
    // 24 bytes got a 32-byte block: growing to 32 stays in place.
    auto* same = static_cast<char*>(heap->reallocate(p, 32));
    EXPECT_EQ(same, p);
    std::memcpy(same + 24, pattern.data() + 24, 8);

    auto* moved = static_cast<char*>(heap->reallocate(same, 5000));
    ASSERT_NE(moved, nullptr);
    EXPECT_NE(moved, same);
    EXPECT_TRUE(heap->owns(moved));
    EXPECT_EQ(std::string(moved, 32), pattern);
    moved[4999] = 'z';

    // Larger than the largest class: malloc's block, contents kept, counted.
    auto* large = static_cast<char*>(heap->reallocate(moved, 100000));
    ASSERT_NE(large, nullptr);
    EXPECT_FALSE(heap->owns(large));
    EXPECT_EQ(std::string(large, 32), pattern);
    EXPECT_EQ(large[4999], 'z');
    EXPECT_EQ(heap->stats().fallbacks, 1u);

    // The freed 32-byte block comes back for a new small request.
    void* again = heap->reallocate(nullptr, 20);
    EXPECT_EQ(again, p);
    EXPECT_EQ(heap->reallocate(again, 0), nullptr);  // frees, as glibc's realloc(p, 0)
    heap->release(large);
}

TEST(HtpHeap, ExhaustionFallsBackToMallocAndCounts) {
    auto heap = make_heap(2 * kPage + 100);  // two pages
    ASSERT_NE(heap, nullptr);
    EXPECT_EQ(heap->stats().capacity_bytes, 2 * kPage);
    std::vector<void*> blocks;
    for (int i = 0; i < 4; ++i) {  // two 32 KiB blocks per page
        blocks.push_back(heap->allocate(32768));
        EXPECT_TRUE(heap->owns(blocks.back())) << i;
    }
    EXPECT_EQ(heap->stats().carved_bytes, 2 * kPage);
    EXPECT_EQ(heap->stats().fallbacks, 0u);

    void* over = heap->allocate(32768);
    ASSERT_NE(over, nullptr);
    EXPECT_FALSE(heap->owns(over));
    EXPECT_EQ(heap->stats().fallbacks, 1u);
    void* small = heap->allocate(16);  // another class: no page left for it either
    ASSERT_NE(small, nullptr);
    EXPECT_FALSE(heap->owns(small));
    EXPECT_EQ(heap->stats().fallbacks, 2u);

    // A freed block serves the next request of its class: no fallback.
    heap->release(blocks.back());
    blocks.back() = heap->allocate(30000);
    EXPECT_TRUE(heap->owns(blocks.back()));
    EXPECT_EQ(heap->stats().fallbacks, 2u);
    EXPECT_EQ(heap->stats().carved_bytes, 2 * kPage);

    heap->release(over);
    heap->release(small);
    for (void* b : blocks) {
        heap->release(b);
    }
}

TEST(HtpHeap, BlocksOfAnExitedThreadAreReused) {
    auto heap = make_heap(kPage);  // one page: only the exited thread's blocks are left
    ASSERT_NE(heap, nullptr);
    std::thread worker([&heap] {
        void* p = heap->allocate(64);
        EXPECT_TRUE(heap->owns(p));
        heap->release(p);
    });
    worker.join();
    EXPECT_EQ(heap->stats().carved_bytes, kPage);

    std::vector<void*> blocks;
    for (size_t i = 0; i < kPage / 64; ++i) {
        blocks.push_back(heap->allocate(64));
    }
    EXPECT_TRUE(std::all_of(blocks.begin(), blocks.end(), [&](void* b) { return heap->owns(b); }));
    EXPECT_EQ(heap->stats().fallbacks, 0u);
    void* over = heap->allocate(64);
    EXPECT_FALSE(heap->owns(over));
    EXPECT_EQ(heap->stats().fallbacks, 1u);
    heap->release(over);
    for (void* b : blocks) {
        heap->release(b);
    }
}

// Generations of threads that run side by side, as a process's pipelines do: each thread
// needs two pages' worth of one class, frees it and exits. What the exited threads leave is
// shared among the next generation a page's worth at a time, so no page is carved after
// the first generation. (When the first thread of a generation took every orphaned block,
// the others carved new pages: 6 more per generation here, and the region was full by the
// 11th.)
TEST(HtpHeap, GenerationsOfThreadsShareWhatTheExitedOnesLeft) {
    constexpr size_t kThreads = 4;
    constexpr size_t kBlock = 1024;
    constexpr size_t kBlocksPerThread = 2 * kPage / kBlock;
    auto heap = make_heap(64 * kPage);
    ASSERT_NE(heap, nullptr);
    size_t carved_after_first = 0;
    for (int generation = 0; generation < 30; ++generation) {
        std::barrier all_allocated(kThreads);
        std::vector<std::thread> threads;
        for (size_t t = 0; t < kThreads; ++t) {
            threads.emplace_back([&] {
                std::vector<void*> blocks;
                for (size_t i = 0; i < kBlocksPerThread; ++i) {
                    blocks.push_back(heap->allocate(kBlock));
                }
                // Nobody frees before everyone has allocated: each generation needs
                // kThreads x 2 pages at once.
                all_allocated.arrive_and_wait();
                for (void* b : blocks) {
                    heap->release(b);
                }
            });
        }
        for (auto& t : threads) {
            t.join();
        }
        if (generation == 0) {
            carved_after_first = heap->stats().carved_bytes;
            EXPECT_EQ(carved_after_first, kThreads * 2 * kPage);
        }
    }
    EXPECT_EQ(heap->stats().carved_bytes, carved_after_first);
    EXPECT_EQ(heap->stats().fallbacks, 0u);
}

TEST(HtpHeap, BlockFreedOnAnotherThreadServesThatThread) {
    auto heap = make_heap(2 * kPage);
    ASSERT_NE(heap, nullptr);
    void* p = heap->allocate(200);
    ASSERT_TRUE(heap->owns(p));
    void* reused = nullptr;
    std::thread other([&] {
        heap->release(p);
        reused = heap->allocate(200);
        heap->release(reused);
    });
    other.join();
    EXPECT_EQ(reused, p);
    EXPECT_EQ(heap->stats().carved_bytes, kPage) << "the other thread carved nothing";
}

#if defined(__SANITIZE_ADDRESS__)
// Under ASan free blocks and the unused end of a block are poisoned: our reads of libhtp's
// data still catch use after free and overruns, and a double free stops the process.
TEST(HtpHeapDeathTest, AsanSeesUseAfterFreeOverrunAndDoubleFree) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    auto heap = make_heap(kPage);
    ASSERT_NE(heap, nullptr);
    auto* p = static_cast<volatile char*>(heap->allocate(20));
    p[19] = 1;
    EXPECT_DEATH(p[20] = 1, "use-after-poison");
    heap->release(const_cast<char*>(p));
    EXPECT_DEATH(p[0] = 1, "use-after-poison");
    EXPECT_DEATH(heap->release(const_cast<char*>(p)), "freed a block twice");
}

// Stores a fresh malloc'd pointer in *slot and leaves no other copy in this frame.
[[gnu::noinline]] void stash_malloc(void** slot) { *slot = std::malloc(100); }
[[gnu::noinline]] int clobber_registers(int x) { return x * 3 + 1; }

// libhtp keeps pointers to memory malloc gave (zlib state, large buffers) in pool blocks: the
// leak check must scan the pages that hold blocks, or it reports that memory as leaked. The
// first half shows that a pointer kept where the leak check does not look is reported (that
// report, on stderr, is expected).
TEST(HtpHeap, LeakCheckScansCarvedPages) {
    void* hidden = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(hidden, MAP_FAILED);
    stash_malloc(static_cast<void**>(hidden));
    EXPECT_EQ(__lsan_do_recoverable_leak_check() + clobber_registers(0), 2)
        << "a pointer in an unregistered mapping is a leak";
    std::free(*static_cast<void**>(hidden));
    munmap(hidden, kPage);

    auto heap = make_heap(4 * kPage);
    ASSERT_NE(heap, nullptr);
    auto** block = static_cast<void**>(heap->allocate(64));
    ASSERT_TRUE(heap->owns(block));
    stash_malloc(block);
    EXPECT_EQ(__lsan_do_recoverable_leak_check() + clobber_registers(0), 1)
        << "the pointer in a pool block was reported as a leak";
    std::free(*block);
    heap->release(block);
}
#endif

TEST(HtpHeapInstall, FindsLibhtpAllocatorImports) {
    auto slots = count_allocator_slots("libhtp");
    ASSERT_TRUE(slots.has_value()) << slots.error().message;
    EXPECT_GE(*slots, 5u) << "malloc, calloc, realloc, free and strdup";
    auto missing = count_allocator_slots("libno-such-object");
    ASSERT_FALSE(missing.has_value());
    EXPECT_NE(missing.error().message.find("not a loaded shared object"), std::string::npos)
        << missing.error().message;
}

TEST(HtpHeapInstall, LibhtpParsesHttpFromThePool) {
    auto installed = install_htp_heap(HttpConfig{}.parser_pool_bytes);
    ASSERT_TRUE(installed.has_value()) << installed.error().message;
    const HtpHeap* heap = installed_htp_heap();
    ASSERT_NE(heap, nullptr);
    const HtpHeapStats before = htp_heap_stats();
    EXPECT_EQ(before.capacity_bytes, HttpConfig{}.parser_pool_bytes);

    // libhtp's own malloc now returns pool blocks, and its free takes them back.
    bstr* b = bstr_dup_c("pool");
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(heap->owns(b));
    bstr_free(b);

    AppLayer app{AppLayerConfig{}};
    Conversation c(decode::kIpProtoTcp, 40000, 80);
    for (int i = 0; i < 3; ++i) {
        const std::string uri = "/pool/" + std::to_string(i);
        core::AppBuffers req = c.send(app, true,
                                      "GET " + uri +
                                          " HTTP/1.1\r\nHost: pool.example\r\n"
                                          "User-Agent: heap-test\r\n\r\n");
        EXPECT_EQ(buf(req, BufferKind::kHttpUri), uri);
        EXPECT_EQ(buf(req, BufferKind::kHttpUserAgent), "heap-test");
        core::AppBuffers resp = c.send(app, false,
                                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                                       "Content-Length: 5\r\n\r\nhello");
        EXPECT_EQ(buf(resp, BufferKind::kHttpStatCode), "200");
    }
    EXPECT_EQ(app.stats().http_transactions.load(), 3u);
    app.release(c.flow());

    const HtpHeapStats after = htp_heap_stats();
    EXPECT_GT(after.carved_bytes, 0u);
    EXPECT_LE(after.carved_bytes, after.capacity_bytes);
    EXPECT_EQ(after.fallbacks, before.fallbacks) << "libhtp's requests all fit the pool";
    // A second install with another size keeps the running pool.
    EXPECT_TRUE(install_htp_heap(kPage).has_value());
    EXPECT_EQ(installed_htp_heap(), heap);
    EXPECT_EQ(htp_heap_stats().capacity_bytes, HttpConfig{}.parser_pool_bytes);
}

}  // namespace
}  // namespace sensor::applayer
