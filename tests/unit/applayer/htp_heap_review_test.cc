// HtpHeap against the C allocator contracts libhtp relies on: realloc and calloc edge cases,
// alignment of every size class, exhaustion and its counters, threads that end (or keep
// allocating from their thread-local destructors), and which import slots install rewrites.

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <htp/htp.h>
#include <link.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "sensor/applayer/htp_heap.h"
#include "sensor/applayer/http_session.h"
#include "tests/unit/applayer/htp_heap_test_support.h"

namespace sensor::applayer {
namespace {

using testing::make_heap;
using testing::malloc_in_use;

constexpr size_t kPage = HtpHeap::kPageBytes;
constexpr size_t kAlign = alignof(std::max_align_t);

// The distinct block sizes, smallest first.
std::vector<size_t> class_sizes() {
    std::vector<size_t> sizes;
    for (size_t n = 1; n <= HtpHeap::kMaxBlock; ++n) {
        const size_t b = HtpHeap::block_size(n);
        if (sizes.empty() || sizes.back() != b) {
            sizes.push_back(b);
        }
    }
    return sizes;
}

void fill(void* p, size_t n, uint8_t seed) {
    auto* b = static_cast<uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
        b[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
    }
}

// The index of the first byte that differs from fill(seed), or n.
size_t first_mismatch(const void* p, size_t n, uint8_t seed) {
    const auto* b = static_cast<const uint8_t*>(p);
    for (size_t i = 0; i < n; ++i) {
        if (b[i] != static_cast<uint8_t>(seed + i * 7 + (i >> 8))) {
            return i;
        }
    }
    return n;
}

// Allocates `count` blocks of `size` and frees them again; returns the fallbacks that took.
uint64_t fallbacks_to_allocate(HtpHeap& heap, size_t count, size_t size) {
    const uint64_t before = heap.stats().fallbacks;
    std::vector<void*> blocks;
    for (size_t i = 0; i < count; ++i) {
        blocks.push_back(heap.allocate(size));
    }
    const uint64_t taken = heap.stats().fallbacks - before;
    for (void* b : blocks) {
        heap.release(b);
    }
    return taken;
}

// ---- realloc ----

TEST(HtpHeapReview, ReallocOfNullAllocatesAndToZeroFrees) {
    auto heap = make_heap(size_t{1} << 20);
    ASSERT_NE(heap, nullptr);
    void* p = heap->reallocate(nullptr, 0);  // as malloc(0): a unique block
    ASSERT_NE(p, nullptr);
    EXPECT_TRUE(heap->owns(p));
    void* q = heap->reallocate(nullptr, 40);
    ASSERT_NE(q, nullptr);
    EXPECT_NE(p, q);
    EXPECT_EQ(heap->reallocate(p, 0), nullptr);
    EXPECT_EQ(heap->allocate(1), p) << "realloc(p, 0) gave the block back";
    heap->release(p);
    heap->release(q);

    // A foreign block realloc'd to 0 is freed by malloc.
    void* foreign = std::malloc(5000);
    const size_t in_use = malloc_in_use();
    EXPECT_FALSE(heap->owns(foreign));
    EXPECT_EQ(heap->reallocate(foreign, 0), nullptr);
    EXPECT_GE(in_use - malloc_in_use(), size_t{5000});
    EXPECT_EQ(heap->stats().fallbacks, 0u);
}

TEST(HtpHeapReview, ReallocShrinksAndGrowsInPlaceWithinItsBlock) {
    auto heap = make_heap(size_t{1} << 20);
    ASSERT_NE(heap, nullptr);
    const size_t block = HtpHeap::block_size(1000);
    ASSERT_GT(block, 1000u);
    void* p = heap->allocate(1000);
    ASSERT_NE(p, nullptr);
    fill(p, 1000, 3);
    // Shrinking below several classes keeps the block and its first bytes.
    void* small = heap->reallocate(p, 10);
    EXPECT_EQ(small, p);
    EXPECT_EQ(first_mismatch(small, 10, 3), 10u);
    // Growing back up to the block's size stays in place too.
    void* back = heap->reallocate(small, block);
    EXPECT_EQ(back, p);
    EXPECT_EQ(first_mismatch(back, 10, 3), 10u);
    heap->release(back);
    EXPECT_EQ(heap->stats().carved_bytes, kPage);
}

TEST(HtpHeapReview, ReallocGrowingThroughEveryClassKeepsEveryByte) {
    auto heap = make_heap(size_t{8} << 20);
    ASSERT_NE(heap, nullptr);
    const std::vector<size_t> sizes = class_sizes();
    size_t held = 1;
    void* p = heap->allocate(held);
    ASSERT_NE(p, nullptr);
    fill(p, held, 11);
    for (size_t s : sizes) {
        for (size_t want : {s - 1, s, s + 1}) {
            if (want <= held) {
                continue;
            }
            void* q = heap->reallocate(p, want);
            ASSERT_NE(q, nullptr) << want;
            ASSERT_EQ(first_mismatch(q, held, 11), held) << held << " -> " << want;
            fill(q, want, 11);
            p = q;
            held = want;
        }
    }
    // Past the largest class: malloc's block now, holding all 64 KiB + 1 bytes written.
    EXPECT_EQ(held, HtpHeap::kMaxBlock + 1);
    EXPECT_FALSE(heap->owns(p));
    EXPECT_EQ(heap->stats().fallbacks, 1u);
    heap->release(p);
}

TEST(HtpHeapReview, ReallocOfAFullPoolBlockPastTheLargestClassMovesToMalloc) {
    auto heap = make_heap(size_t{1} << 20);
    ASSERT_NE(heap, nullptr);
    void* p = heap->allocate(HtpHeap::kMaxBlock);
    ASSERT_TRUE(heap->owns(p));
    fill(p, HtpHeap::kMaxBlock, 5);
    const size_t in_use = malloc_in_use();
    void* moved = heap->reallocate(p, 3 * HtpHeap::kMaxBlock);
    ASSERT_NE(moved, nullptr);
    EXPECT_FALSE(heap->owns(moved));
    EXPECT_EQ(first_mismatch(moved, HtpHeap::kMaxBlock, 5), HtpHeap::kMaxBlock);
    EXPECT_GE(malloc_in_use() - in_use, 3 * HtpHeap::kMaxBlock);
    EXPECT_EQ(heap->stats().fallbacks, 1u);
    EXPECT_EQ(heap->allocate(HtpHeap::kMaxBlock), p) << "the pool block was freed";
    heap->release(p);

    // Malloc's block stays with malloc, also when shrunk to a size the pool serves, and is
    // not counted again. The size is above malloc's thread cache, so that its free shows.
    constexpr size_t kShrunk = 2000;
    static_assert(kShrunk > testing::kMallocThreadCacheMax && kShrunk < HtpHeap::kMaxBlock);
    void* shrunk = heap->reallocate(moved, kShrunk);
    ASSERT_NE(shrunk, nullptr);
    EXPECT_FALSE(heap->owns(shrunk));
    EXPECT_EQ(first_mismatch(shrunk, kShrunk, 5), kShrunk);
    EXPECT_EQ(heap->stats().fallbacks, 1u);
    const size_t before_free = malloc_in_use();
    heap->release(shrunk);
    EXPECT_LT(malloc_in_use(), before_free);
}

// ---- calloc and strdup ----

TEST(HtpHeapReview, CallocRefusesOverflowingProducts) {
    auto heap = make_heap(kPage);
    ASSERT_NE(heap, nullptr);
    const size_t half = size_t{1} << (sizeof(size_t) * 4);
    for (const auto& [n, size] : std::vector<std::pair<size_t, size_t>>{
             {SIZE_MAX, 2}, {2, SIZE_MAX}, {half, half}, {half + 1, half}}) {
        errno = 0;
        EXPECT_EQ(heap->allocate_zeroed(n, size), nullptr) << n << " * " << size;
        EXPECT_EQ(errno, ENOMEM);
    }
    // A product that wraps to a small number must not be served either.
    EXPECT_EQ(heap->allocate_zeroed(half, half + 16), nullptr);
    EXPECT_EQ(heap->stats().carved_bytes, 0u);
    EXPECT_EQ(heap->stats().fallbacks, 0u);
    void* none = heap->allocate_zeroed(0, 100);
    ASSERT_NE(none, nullptr);
    EXPECT_TRUE(heap->owns(none));
    heap->release(none);
}

TEST(HtpHeapReview, CallocZeroesReusedBlocksOfEveryClassAndLargeRequests) {
    auto heap = make_heap(size_t{4} << 20);
    ASSERT_NE(heap, nullptr);
    for (size_t s : class_sizes()) {
        void* p = heap->allocate(s);
        ASSERT_NE(p, nullptr);
        std::memset(p, 0xa5, s);
        heap->release(p);
        auto* z = static_cast<unsigned char*>(heap->allocate_zeroed(1, s));
        ASSERT_EQ(z, p) << s << ": the freed block is reused";
        ASSERT_TRUE(std::all_of(z, z + s, [](unsigned char c) { return c == 0; })) << s;
        heap->release(z);
    }
    EXPECT_EQ(heap->stats().fallbacks, 0u);
    const size_t large = 3 * HtpHeap::kMaxBlock;
    auto* z = static_cast<unsigned char*>(heap->allocate_zeroed(large / 8, 8));
    ASSERT_NE(z, nullptr);
    EXPECT_FALSE(heap->owns(z));
    EXPECT_TRUE(std::all_of(z, z + large, [](unsigned char c) { return c == 0; }));
    EXPECT_EQ(heap->stats().fallbacks, 1u);
    heap->release(z);
}

TEST(HtpHeapReview, StrdupOfEmptyAndLongStrings) {
    auto heap = make_heap(size_t{1} << 20);
    ASSERT_NE(heap, nullptr);
    char* empty = heap->duplicate("");
    ASSERT_NE(empty, nullptr);
    EXPECT_TRUE(heap->owns(empty));
    EXPECT_STREQ(empty, "");
    heap->release(empty);

    const std::string exact(HtpHeap::kMaxBlock - 1, 'x');  // with its NUL: the largest class
    char* fits = heap->duplicate(exact.c_str());
    ASSERT_NE(fits, nullptr);
    EXPECT_TRUE(heap->owns(fits));
    EXPECT_EQ(std::string(fits), exact);
    heap->release(fits);
    EXPECT_EQ(heap->stats().fallbacks, 0u);

    std::string long_text(HtpHeap::kMaxBlock + 5000, '\0');
    for (size_t i = 0; i < long_text.size(); ++i) {
        long_text[i] = static_cast<char>('a' + i % 26);
    }
    char* copy = heap->duplicate(long_text.c_str());
    ASSERT_NE(copy, nullptr);
    EXPECT_FALSE(heap->owns(copy));
    EXPECT_EQ(std::string(copy), long_text);
    EXPECT_EQ(heap->stats().fallbacks, 1u);
    const size_t in_use = malloc_in_use();
    heap->release(copy);
    EXPECT_GE(in_use - malloc_in_use(), long_text.size() + 1);
}

// ---- alignment ----

TEST(HtpHeapReview, EveryBlockIsAlignedForAnyType) {
    auto heap = make_heap(size_t{8} << 20);
    ASSERT_NE(heap, nullptr);
    std::vector<void*> blocks;
    size_t misaligned = 0;
    for (size_t s : class_sizes()) {
        // Several blocks per class: the second and later start at multiples of the class size.
        for (size_t want : {s, s - 1, s, s}) {
            void* p = heap->allocate(want);
            ASSERT_NE(p, nullptr);
            ASSERT_TRUE(heap->owns(p)) << want;
            if (reinterpret_cast<uintptr_t>(p) % kAlign != 0 && misaligned++ < 5) {
                ADD_FAILURE() << "block of " << want << " at " << p;
            }
            blocks.push_back(p);
        }
    }
    void* large = heap->allocate(HtpHeap::kMaxBlock + 1);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(large) % kAlign, 0u);
    void* zeroed = heap->allocate_zeroed(3, 7);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(zeroed) % kAlign, 0u);
    char* text = heap->duplicate("abc");
    EXPECT_EQ(reinterpret_cast<uintptr_t>(text) % kAlign, 0u);
    void* grown = heap->reallocate(heap->allocate(20), 300);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(grown) % kAlign, 0u);
    EXPECT_EQ(misaligned, 0u);
    for (void* p : {large, zeroed, static_cast<void*>(text), grown}) {
        heap->release(p);
    }
    for (void* p : blocks) {
        heap->release(p);
    }
}

// ---- exhaustion ----

TEST(HtpHeapReview, ExhaustionCountsEachFallbackAndLeaksNothing) {
    // Requests above malloc's thread cache: a fallback block freed into that cache would still
    // count as in use, and one taken from it would not count as new.
    constexpr size_t kRequest = 2000;
    static_assert(kRequest > testing::kMallocThreadCacheMax);
    const size_t fits = 2 * kPage / HtpHeap::block_size(kRequest);
    auto heap = make_heap(2 * kPage);
    ASSERT_NE(heap, nullptr);
    std::vector<void*> pool;
    std::vector<void*> spilled;
    pool.reserve(fits + 10);
    spilled.reserve(fits + 10);
    const size_t baseline = malloc_in_use();
    for (size_t i = 0; i < fits + 10; ++i) {
        void* p = heap->allocate(kRequest);
        ASSERT_NE(p, nullptr);
        (heap->owns(p) ? pool : spilled).push_back(p);
    }
    EXPECT_EQ(pool.size(), fits);
    EXPECT_EQ(spilled.size(), 10u);
    EXPECT_EQ(heap->stats().fallbacks, 10u);
    EXPECT_EQ(heap->stats().carved_bytes, 2 * kPage);
    EXPECT_GE(malloc_in_use() - baseline, 10 * kRequest);
    // A realloc that has to move while the region is full also falls back, once.
    void* moved = heap->reallocate(pool.back(), 2 * kRequest);
    ASSERT_NE(moved, nullptr);
    EXPECT_FALSE(heap->owns(moved));
    EXPECT_EQ(heap->stats().fallbacks, 11u);
    pool.back() = moved;
    for (void* p : spilled) {
        heap->release(p);
    }
    for (void* p : pool) {
        heap->release(p);
    }
    // A fallback block kept would hold at least kRequest bytes: half of that is a clear margin.
    EXPECT_LT(malloc_in_use(), baseline + kRequest / 2)
        << "every fallback block went back to malloc";
    EXPECT_EQ(fallbacks_to_allocate(*heap, fits, kRequest), 0u) << "every pool block is free again";
}

// ---- threads ----

TEST(HtpHeapReview, BlocksInUseWhenTheirThreadEndsCanBeFreedAndReusedElsewhere) {
    auto heap = make_heap(kPage);
    ASSERT_NE(heap, nullptr);
    std::vector<void*> kept;
    std::thread worker([&] {
        for (int i = 0; i < 100; ++i) {
            kept.push_back(heap->allocate(64));
        }
    });
    worker.join();
    ASSERT_TRUE(std::all_of(kept.begin(), kept.end(), [&](void* b) { return heap->owns(b); }));
    for (void* b : kept) {
        heap->release(b);  // freed here: they join this thread's lists
    }
    // The page's other blocks went back with the thread; with these, all of them serve.
    EXPECT_EQ(fallbacks_to_allocate(*heap, kPage / 64, 64), 0u);
}

// Frees a block from a thread-local destructor that runs after the heap's own thread-exit
// hook (it was constructed first, so it is destroyed last).
struct LateFree {
    HtpHeap* heap = nullptr;
    void* block = nullptr;
    LateFree() = default;
    LateFree(const LateFree&) = delete;
    LateFree& operator=(const LateFree&) = delete;
    ~LateFree() {
        if (heap != nullptr) {
            heap->release(block);
        }
    }
};

TEST(HtpHeapReview, BlockFreedAfterItsThreadGaveItsListsBackIsNotLost) {
    auto heap = make_heap(kPage);
    ASSERT_NE(heap, nullptr);
    std::thread worker([&] {
        thread_local LateFree late;
        late.heap = heap.get();
        late.block = heap->allocate(64);
    });
    worker.join();
    EXPECT_EQ(fallbacks_to_allocate(*heap, kPage / 64, 64), 0u)
        << "the block freed while the thread ended must serve again";
}

// Allocates and frees from a thread-local destructor that runs after the heap's hook.
struct LateUse {
    HtpHeap* heap = nullptr;
    LateUse() = default;
    LateUse(const LateUse&) = delete;
    LateUse& operator=(const LateUse&) = delete;
    ~LateUse() {
        if (heap != nullptr) {
            void* p = heap->allocate(64);
            EXPECT_TRUE(heap->owns(p));
            heap->release(p);
            heap->release(heap->allocate(2000));  // a class with no page yet
        }
    }
};

TEST(HtpHeapReview, AllocationAfterItsThreadGaveItsListsBackLosesNoBlocks) {
    auto heap = make_heap(2 * kPage);
    ASSERT_NE(heap, nullptr);
    std::thread worker([&] {
        thread_local LateUse late;
        late.heap = heap.get();
        heap->release(heap->allocate(64));
    });
    worker.join();
    EXPECT_EQ(heap->stats().carved_bytes, 2 * kPage);
    EXPECT_EQ(heap->stats().fallbacks, 0u);
    EXPECT_EQ(fallbacks_to_allocate(*heap, kPage / 64, 64), 0u)
        << "the page of 64-byte blocks went back whole";
    EXPECT_EQ(fallbacks_to_allocate(*heap, kPage / 2048, 2000), 0u)
        << "the page carved while the thread ended went back whole";
}

TEST(HtpHeapReview, ThreadsAllocatingAtOnceNeverShareABlock) {
    auto heap = make_heap(size_t{4} << 20);
    ASSERT_NE(heap, nullptr);
    constexpr int kThreads = 4;
    std::atomic<int> corrupted{0};
    std::vector<std::thread> threads;
    threads.reserve(kThreads);
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&heap, &corrupted, t] {
            std::vector<std::pair<void*, size_t>> held;
            uint32_t x = 2463534242u + static_cast<uint32_t>(t);
            for (int i = 0; i < 4000; ++i) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                const size_t size = 1 + x % 3000;
                void* p = heap->allocate(size);
                fill(p, size, static_cast<uint8_t>(t));
                held.emplace_back(p, size);
                if (x % 3 == 0) {
                    const auto& [q, n] = held[x % held.size()];
                    if (first_mismatch(q, n, static_cast<uint8_t>(t)) != n) {
                        corrupted.fetch_add(1);
                    }
                    heap->release(q);
                    held[x % held.size()] = held.back();
                    held.pop_back();
                }
            }
            for (const auto& [q, n] : held) {
                if (first_mismatch(q, n, static_cast<uint8_t>(t)) != n) {
                    corrupted.fetch_add(1);
                }
                heap->release(q);
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(corrupted.load(), 0);
    EXPECT_LE(heap->stats().carved_bytes, heap->stats().capacity_bytes);
}

TEST(HtpHeapReview, AThreadsListsOfADeadHeapAreNotServedByItsSuccessor) {
    auto first = make_heap(kPage);
    ASSERT_NE(first, nullptr);
    first->release(first->allocate(64));  // this thread's list of 64-byte blocks: in `first`
    first.reset();
    auto second = make_heap(kPage);
    ASSERT_NE(second, nullptr);
    void* p = second->allocate(64);
    EXPECT_TRUE(second->owns(p));
    second->release(p);
}

TEST(HtpHeapReview, AtMostMaxHeapsAliveAtOnce) {
    std::vector<std::unique_ptr<HtpHeap>> heaps;
    for (size_t i = 0; i <= HtpHeap::kMaxHeaps; ++i) {
        auto heap = HtpHeap::create(kPage);
        if (!heap) {
            EXPECT_NE(heap.error().message.find("pools alive at once"), std::string::npos)
                << heap.error().message;
            break;
        }
        heaps.push_back(std::move(*heap));
    }
    EXPECT_LE(heaps.size(), HtpHeap::kMaxHeaps);
    EXPECT_GE(heaps.size(), HtpHeap::kMaxHeaps - 1) << "the installed heap may hold one slot";
    heaps.clear();
    EXPECT_TRUE(HtpHeap::create(kPage).has_value()) << "slots come back with their heaps";
}

// ---- installation ----

std::string loaded_path(std::string_view file_prefix) {
    struct Find {
        std::string_view prefix;
        std::string path;
    } find{file_prefix, {}};
    dl_iterate_phdr(
        [](dl_phdr_info* info, size_t, void* data) {
            auto& f = *static_cast<Find*>(data);
            const std::filesystem::path p(info->dlpi_name == nullptr ? "" : info->dlpi_name);
            if (p.filename().string().starts_with(f.prefix)) {
                f.path = p.string();
                return 1;
            }
            return 0;
        },
        &find);
    return find.path;
}

TEST(HtpHeapReview, SlotsAreLookedUpByFileNameNotByAnyPartOfThePath) {
    const std::string htp = loaded_path("libhtp");
    ASSERT_FALSE(htp.empty());
    const std::string dir = std::filesystem::path(htp).parent_path().filename().string();
    ASSERT_FALSE(dir.empty()) << htp;
    // The directory holds other objects loaded before libhtp (the C library, sanitizers):
    // its name must not select one of them.
    auto by_dir = count_allocator_slots(dir);
    EXPECT_FALSE(by_dir.has_value()) << dir << " selected an object by its directory";
    auto middle = count_allocator_slots("htp.so");
    EXPECT_FALSE(middle.has_value()) << "a name is matched from its start";
    auto full = count_allocator_slots(std::filesystem::path(htp).filename().string());
    ASSERT_TRUE(full.has_value()) << full.error().message;
    auto stem = count_allocator_slots("libhtp");
    ASSERT_TRUE(stem.has_value()) << stem.error().message;
    EXPECT_EQ(*full, *stem);
}

TEST(HtpHeapReview, OnlyLibhtpsFiveImportsAreRedirected) {
    ASSERT_TRUE(install_htp_heap(HttpConfig{}.parser_pool_bytes).has_value());
    const HtpHeap* heap = installed_htp_heap();
    ASSERT_NE(heap, nullptr);
    // calloc (htp_config_create, htp_connp_create), strdup (htp_conn_open), malloc and
    // realloc (bstr), free (their destroy functions): each import of libhtp serves from the pool.
    htp_cfg_t* cfg = htp_config_create();
    ASSERT_NE(cfg, nullptr);
    EXPECT_TRUE(heap->owns(cfg)) << "calloc";
    htp_connp_t* connp = htp_connp_create(cfg);
    ASSERT_NE(connp, nullptr);
    EXPECT_TRUE(heap->owns(connp)) << "calloc";
    htp_connp_open(connp, "192.0.2.1", 40000, "192.0.2.2", 80, nullptr);
    const htp_conn_t* conn = htp_connp_get_connection(connp);
    ASSERT_NE(conn, nullptr);
    ASSERT_NE(conn->client_addr, nullptr);
    EXPECT_TRUE(heap->owns(conn->client_addr)) << "strdup";
    EXPECT_STREQ(conn->client_addr, "192.0.2.1");
    bstr* b = bstr_alloc(16);
    ASSERT_NE(b, nullptr);
    EXPECT_TRUE(heap->owns(b)) << "malloc";
    bstr* grown = bstr_expand(b, 1000);
    ASSERT_NE(grown, nullptr);
    EXPECT_TRUE(heap->owns(grown)) << "realloc";
    bstr_free(grown);
    htp_connp_destroy_all(connp);
    htp_config_destroy(cfg);

    // The process's own allocator calls are untouched.
    void* m = std::malloc(64);
    void* c = std::calloc(4, 16);
    void* r = std::realloc(nullptr, 64);
    char* s = strdup("process");
    for (const void* p : {m, c, r, static_cast<void*>(s)}) {
        EXPECT_NE(p, nullptr);
        EXPECT_FALSE(heap->owns(p));
    }
    std::free(m);
    std::free(c);
    std::free(r);
    std::free(s);

    // Later calls, whatever their size (0 included), keep the running pool.
    EXPECT_TRUE(install_htp_heap(0).has_value());
    EXPECT_TRUE(install_htp_heap(size_t{1} << 20).has_value());
    EXPECT_EQ(installed_htp_heap(), heap);
}

}  // namespace
}  // namespace sensor::applayer
