#pragma once
// HtpHeap: the pool libhtp allocates from, so that HTTP parsing mallocs nothing per transaction
// in steady state. install_htp_heap() makes one process-wide heap and points libhtp's own
// malloc/calloc/realloc/free/strdup imports at it; every thread may then allocate and free.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string_view>

#include "sensor/core/result.h"

namespace sensor::applayer {

struct HtpHeapStats {
    uint64_t capacity_bytes = 0;  // the reserved region
    uint64_t carved_bytes = 0;    // pages handed to size classes so far (never returned)
    uint64_t fallbacks = 0;       // requests passed to malloc: region full, or above kMaxBlock
};

// One region reserved up front (address space only until pages are carved), cut into 64 KiB
// pages; each page serves one size class. Blocks carry no header: a pointer belongs to the
// heap when it lies in the region, and its page says its class. Free blocks wait on per-thread
// lists (no locks; a thread that frees another's block keeps it). A thread's lists go back to
// the heap when it exits; what it allocates or frees after that (from thread-local destructors)
// goes straight back too. The C allocator contracts hold (16-byte alignment; pointers the heap
// does not own go to the real free and realloc).
class HtpHeap {
public:
    static constexpr size_t kPageBytes = size_t{64} << 10;
    static constexpr size_t kMaxBlock = size_t{64} << 10;  // larger requests go to malloc
    static constexpr size_t kMaxHeaps = 4;                 // alive at once in one process

    // Reserves `bytes` rounded down to whole pages (at least one page). Fails when mmap does
    // or when kMaxHeaps heaps are alive.
    static core::Result<std::unique_ptr<HtpHeap>> create(size_t bytes);
    // Precondition: no block of this heap is in use, and no other thread calls into it.
    ~HtpHeap();
    HtpHeap(const HtpHeap&) = delete;
    HtpHeap& operator=(const HtpHeap&) = delete;

    // malloc, calloc, realloc, free and strdup.
    void* allocate(size_t size) noexcept;
    void* allocate_zeroed(size_t count, size_t size) noexcept;
    void* reallocate(void* p, size_t size) noexcept;
    void release(void* p) noexcept;
    char* duplicate(const char* s) noexcept;

    bool owns(const void* p) const noexcept {
        return reinterpret_cast<uintptr_t>(p) - base_ < capacity_;
    }
    HtpHeapStats stats() const noexcept;
    // The block size a request of `size` bytes gets (its size class); 0 above kMaxBlock.
    static size_t block_size(size_t size) noexcept;

    // Defined in htp_heap.cc: a free block (its first bytes link it into a list) and one
    // thread's free lists of one heap.
    struct Block;
    struct ThreadCache;

private:
    HtpHeap(uintptr_t base, size_t capacity, size_t slot, uint64_t id);
    // This thread's lists, or nullptr once its exit hook has run (nothing would give them back).
    ThreadCache* cache() noexcept;
    bool start_cache(ThreadCache& c) noexcept;
    bool refill(ThreadCache& c, size_t size_class) noexcept;
    void* fallback(size_t size) noexcept;
    // allocate and release for a thread past its exit hook: through a list handed back at once.
    void* allocate_late(size_t size_class, size_t size) noexcept;
    void release_late(void* p, size_t size_class) noexcept;
    // Hands a thread's free lists to the heap; the heap must stay alive meanwhile (at thread
    // exit the caller holds g_registry_mutex).
    void take_lists(ThreadCache& c) noexcept;
    struct ThreadExit;  // gives a thread's lists back when it ends

    static constexpr size_t kClassCount = 44;

    uintptr_t base_;
    size_t capacity_;
    size_t pages_;
    size_t slot_;  // index into the per-thread caches
    uint64_t id_;  // unique per heap: tells a thread's cache of a dead heap from ours
    std::unique_ptr<std::atomic<uint8_t>[]> page_class_;  // written once, when carved
    std::atomic<size_t> next_page_{0};
    std::atomic<uint64_t> fallbacks_{0};
    std::mutex orphans_mutex_;                                    // guards orphans_
    std::array<Block*, kClassCount> orphans_{};                   // lists of exited threads
    std::array<std::atomic<bool>, kClassCount> orphans_ready_{};  // orphans_[c] may be non-empty
};

// Creates the process-wide heap of `bytes` and redirects libhtp's allocator imports to it.
// Once per process: later calls return the first call's result whatever their size (a running
// heap cannot be resized). bytes == 0 installs nothing and leaves the choice to a later call.
// On error libhtp keeps malloc; the message says why (the caller logs it as a warning).
core::Result<void> install_htp_heap(size_t bytes);
// The installed heap, or nullptr.
const HtpHeap* installed_htp_heap() noexcept;
// Its figures; zeros when none is installed.
HtpHeapStats htp_heap_stats() noexcept;
// libhtp's import slots (GOT entries) for the five allocator functions in the first loaded
// object whose file name is `object` or starts with it and then '.' or '-' ("libhtp" names
// libhtp.so.2): what install_htp_heap() rewrites.
core::Result<size_t> count_allocator_slots(std::string_view object);

}  // namespace sensor::applayer
