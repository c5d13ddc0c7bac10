#pragma once
// Shared by the HtpHeap tests: a heap made or the test failed, and what the process's own
// malloc holds (to show a pool did not fall back to it).

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

// Bytes the process's malloc has handed out and not taken back.
inline size_t malloc_in_use() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return __sanitizer_get_current_allocated_bytes();
#else
    return mallinfo2().uordblks;
#endif
}

inline std::unique_ptr<HtpHeap> make_heap(size_t bytes) {
    auto heap = HtpHeap::create(bytes);
    EXPECT_TRUE(heap.has_value()) << heap.error().message;
    return heap ? std::move(*heap) : nullptr;
}

}  // namespace sensor::applayer::testing
