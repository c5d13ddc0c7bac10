#pragma once
// Shared by the HtpHeap tests: a heap made or the test failed, and what the process's own
// malloc holds (to show a pool did not fall back to it, or that a fallback block went back).

#include <gtest/gtest.h>
#include <malloc.h>

#include <cstddef>
#include <memory>

#include "sensor/applayer/htp_heap.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// From the sanitizer runtime's allocator interface; gcc ships no header that declares it.
extern "C" size_t __sanitizer_get_current_allocated_bytes();
#endif

namespace sensor::applayer::testing {

// The largest request glibc's per-thread cache (tcache) keeps when it is freed, up to 7 chunks
// of each size. mallinfo2 still counts those chunks in use, so without a sanitizer a free of a
// smaller block may not show in malloc_in_use(): tests that must see a free use larger blocks.
inline constexpr size_t kMallocThreadCacheMax = 1032;

// Bytes the process's malloc has handed out and not taken back. glibc maps a request above its
// mmap threshold (128 KiB at first, raised at run time once such a block is freed, so it
// depends on the tests run before) on its own: that shows in hblkhd, not in uordblks.
inline size_t malloc_in_use() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return __sanitizer_get_current_allocated_bytes();
#else
    const struct mallinfo2 info = mallinfo2();
    return info.uordblks + info.hblkhd;
#endif
}

inline std::unique_ptr<HtpHeap> make_heap(size_t bytes) {
    auto heap = HtpHeap::create(bytes);
    EXPECT_TRUE(heap.has_value()) << heap.error().message;
    return heap ? std::move(*heap) : nullptr;
}

}  // namespace sensor::applayer::testing
