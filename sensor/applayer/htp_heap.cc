#include "sensor/applayer/htp_heap.h"

#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "sensor/core/check.h"

#if defined(__SANITIZE_ADDRESS__)
#define SENSOR_HTP_HEAP_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SENSOR_HTP_HEAP_ASAN 1
#endif
#endif
#ifdef SENSOR_HTP_HEAP_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/lsan_interface.h>
#endif

namespace sensor::applayer {

// The pool works on addresses: page numbers, alignment and the GOT slots of a loaded object
// are integer arithmetic, turned back into pointers where memory is touched.
// NOLINTBEGIN(performance-no-int-to-ptr)

struct HtpHeap::Block {
    Block* next;
};

struct HtpHeap::ThreadCache {
    uint64_t heap_id;  // 0 or a dead heap's id: the lists are not this heap's
    std::array<Block*, kClassCount> heads;
};

namespace {

// A free block's first bytes hold its list link.
constexpr size_t kLinkBytes = sizeof(void*);
static_assert(sizeof(HtpHeap::Block*) == kLinkBytes);

// 16..128 in steps of 16, then four classes per power of two up to 64 KiB: at most a quarter
// of a block is lost to rounding.
constexpr size_t kSmallClasses = 8;
constexpr std::array<uint32_t, 44> make_class_sizes() {
    std::array<uint32_t, 44> sizes{};
    size_t i = 0;
    for (uint32_t s = 16; s <= 128; s += 16) {
        sizes[i++] = s;
    }
    for (uint32_t m = 7; m <= 15; ++m) {
        for (uint32_t k = 1; k <= 4; ++k) {
            sizes[i++] = (1u << m) + k * (1u << (m - 2));
        }
    }
    return sizes;
}
constexpr std::array<uint32_t, 44> kClassSizes = make_class_sizes();
static_assert(kClassSizes.back() == HtpHeap::kMaxBlock);
static_assert(HtpHeap::kPageBytes % HtpHeap::kMaxBlock == 0);

constexpr size_t class_index(size_t size) noexcept {
    if (size <= 128) {
        return size == 0 ? 0 : (size - 1) >> 4;
    }
    const size_t s = size - 1;
    const auto m = static_cast<size_t>(std::bit_width(s)) - 1;  // 2^m <= s < 2^(m+1)
    return kSmallClasses + (m - 7) * 4 + ((s >> (m - 2)) - 4);
}

// Per-thread state, zero-initialised (no constructor runs, so the hot path pays no guard).
thread_local HtpHeap::ThreadCache t_caches[HtpHeap::kMaxHeaps];
enum : uint8_t { kRunning = 0, kRegistered = 1, kExited = 2 };
thread_local uint8_t t_exit_state = kRunning;

std::mutex g_registry_mutex;  // guards g_live, and keeps a heap alive while an exiting thread
                              // hands its lists back
std::array<HtpHeap*, HtpHeap::kMaxHeaps> g_live{};
std::atomic<uint64_t> g_next_id{1};

// With ASan, free blocks and the unused end of each block are poisoned, so that our own reads
// of libhtp's data still catch use after free and overruns.
void poison([[maybe_unused]] const void* p, [[maybe_unused]] size_t n) noexcept {
#ifdef SENSOR_HTP_HEAP_ASAN
    __asan_poison_memory_region(p, n);
#endif
}
void unpoison([[maybe_unused]] const void* p, [[maybe_unused]] size_t n) noexcept {
#ifdef SENSOR_HTP_HEAP_ASAN
    __asan_unpoison_memory_region(p, n);
#endif
}
// A live block of class size `block` that holds `size` bytes.
void mark_live(void* p, size_t block, size_t size) noexcept {
    poison(p, block);
    unpoison(p, std::max<size_t>(size, 1));
}
// The bytes of a live block its owner may hold: all of it, or with ASan up to the first
// poisoned byte (realloc copies no more).
size_t live_bytes(const void* p, size_t block) noexcept {
#ifdef SENSOR_HTP_HEAP_ASAN
    if (const void* bad = __asan_region_is_poisoned(const_cast<void*>(p), block)) {
        return static_cast<size_t>(static_cast<const std::byte*>(bad) -
                                   static_cast<const std::byte*>(p));
    }
#else
    (void)p;
#endif
    return block;
}

HtpHeap::Block* load_next(HtpHeap::Block* b) noexcept {
    unpoison(b, kLinkBytes);
    HtpHeap::Block* next = nullptr;
    std::memcpy(&next, b, kLinkBytes);
    return next;
}
void store_next(HtpHeap::Block* b, HtpHeap::Block* next) noexcept {
    unpoison(b, kLinkBytes);
    std::memcpy(b, &next, kLinkBytes);
}

// Takes the first block of list `k` (not empty) for a request of `size` bytes.
void* pop(HtpHeap::ThreadCache& c, size_t k, size_t size) noexcept {
    HtpHeap::Block* b = c.heads[k];
    c.heads[k] = load_next(b);
    mark_live(b, kClassSizes[k], size);
    return b;
}
// Puts a freed block of class `k` first on its list.
void push(HtpHeap::ThreadCache& c, size_t k, void* p) noexcept {
    auto* b = static_cast<HtpHeap::Block*>(p);
    poison(b, kClassSizes[k]);
    store_next(b, c.heads[k]);
    poison(b, kLinkBytes);
    c.heads[k] = b;
}

}  // namespace

// Gives the thread's lists of every live heap back when the thread ends (constructed on the
// thread's first use of a heap).
struct HtpHeap::ThreadExit {
    ThreadExit() noexcept {}
    ~ThreadExit() {
        t_exit_state = kExited;
        std::lock_guard lock(g_registry_mutex);
        for (size_t s = 0; s < kMaxHeaps; ++s) {
            ThreadCache& c = t_caches[s];
            if (g_live[s] != nullptr && g_live[s]->id_ == c.heap_id) {
                g_live[s]->take_lists(c);
            }
            c = ThreadCache{};
        }
    }
    ThreadExit(const ThreadExit&) = delete;
    ThreadExit& operator=(const ThreadExit&) = delete;
};

HtpHeap::HtpHeap(uintptr_t base, size_t capacity, size_t slot, uint64_t id)
    : base_(base),
      capacity_(capacity),
      pages_(capacity / kPageBytes),
      slot_(slot),
      id_(id),
      page_class_(std::make_unique<std::atomic<uint8_t>[]>(capacity / kPageBytes)) {}

core::Result<std::unique_ptr<HtpHeap>> HtpHeap::create(size_t bytes) {
    const size_t pages = bytes / kPageBytes;
    if (pages == 0) {
        return core::make_error("app-layer.http.parser-pool: " + std::to_string(bytes) +
                                " bytes is less than one page of " + std::to_string(kPageBytes));
    }
    const size_t capacity = pages * kPageBytes;
    // One page more, so that the region can start on a page boundary.
    const size_t reserved = capacity + kPageBytes;
    void* raw = mmap(nullptr, reserved, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        return core::make_error("app-layer.http.parser-pool: cannot reserve " +
                                std::to_string(capacity) + " bytes: " + std::strerror(errno));
    }
    const auto raw_start = reinterpret_cast<uintptr_t>(raw);
    const uintptr_t base = (raw_start + kPageBytes - 1) & ~(uintptr_t{kPageBytes} - 1);
    if (base > raw_start) {
        munmap(raw, base - raw_start);
    }
    if (raw_start + reserved > base + capacity) {
        munmap(reinterpret_cast<void*>(base + capacity), raw_start + reserved - base - capacity);
    }

    std::unique_ptr<HtpHeap> heap;
    {
        std::lock_guard lock(g_registry_mutex);
        const auto free_slot = std::find(g_live.begin(), g_live.end(), nullptr);
        if (free_slot != g_live.end()) {
            const auto slot = static_cast<size_t>(free_slot - g_live.begin());
            heap.reset(new HtpHeap(base, capacity, slot, g_next_id.fetch_add(1)));
            *free_slot = heap.get();
        }
    }
    if (heap == nullptr) {
        munmap(reinterpret_cast<void*>(base), capacity);
        return core::make_error("app-layer.http.parser-pool: more than " +
                                std::to_string(kMaxHeaps) + " pools alive at once");
    }
    return heap;
}

HtpHeap::~HtpHeap() {
    {
        std::lock_guard lock(g_registry_mutex);
        g_live[slot_] = nullptr;
    }
#ifdef SENSOR_HTP_HEAP_ASAN
    unpoison(reinterpret_cast<void*>(base_), capacity_);
    const size_t carved = std::min(next_page_.load(std::memory_order_relaxed), pages_);
    for (size_t page = 0; page < carved; ++page) {
        __lsan_unregister_root_region(reinterpret_cast<void*>(base_ + page * kPageBytes),
                                      kPageBytes);
    }
#endif
    munmap(reinterpret_cast<void*>(base_), capacity_);
}

size_t HtpHeap::block_size(size_t size) noexcept {
    return size > kMaxBlock ? 0 : kClassSizes[class_index(size)];
}

HtpHeapStats HtpHeap::stats() const noexcept {
    HtpHeapStats s;
    s.capacity_bytes = capacity_;
    s.carved_bytes = std::min(next_page_.load(std::memory_order_relaxed), pages_) * kPageBytes;
    s.fallbacks = fallbacks_.load(std::memory_order_relaxed);
    return s;
}

HtpHeap::ThreadCache* HtpHeap::cache() noexcept {
    ThreadCache& c = t_caches[slot_];
    if (c.heap_id != id_) [[unlikely]] {
        return start_cache(c) ? &c : nullptr;
    }
    return &c;
}

bool HtpHeap::start_cache(ThreadCache& c) noexcept {
    c = ThreadCache{};  // lists of a heap that died in this slot are forgotten
    if (t_exit_state == kExited) {
        return false;  // c stays unclaimed, so that every later call comes here again
    }
    c.heap_id = id_;
    if (t_exit_state == kRunning) {
        t_exit_state = kRegistered;
        static thread_local ThreadExit exit_hook;
        (void)exit_hook;
    }
    return true;
}

bool HtpHeap::refill(ThreadCache& c, size_t size_class) noexcept {
    if (orphans_ready_[size_class].load(std::memory_order_relaxed)) {
        Block* list = nullptr;
        {
            std::lock_guard lock(orphans_mutex_);
            list = orphans_[size_class];
            if (list != nullptr) {
                // A page's worth at most. Taking the whole list left the other threads that
                // needed this class nothing, so they carved new pages: in a process whose
                // threads come and go, the carved pages grew with every generation until the
                // region was full and requests went to malloc.
                const size_t limit = kPageBytes / kClassSizes[size_class];
                Block* tail = list;
                for (size_t taken = 1; taken < limit; ++taken) {
                    Block* next = load_next(tail);
                    poison(tail, kLinkBytes);
                    if (next == nullptr) {
                        break;
                    }
                    tail = next;
                }
                orphans_[size_class] = load_next(tail);
                store_next(tail, nullptr);
                poison(tail, kLinkBytes);
            }
            orphans_ready_[size_class].store(orphans_[size_class] != nullptr,
                                             std::memory_order_relaxed);
        }
        if (list != nullptr) {
            c.heads[size_class] = list;
            return true;
        }
    }
    if (next_page_.load(std::memory_order_relaxed) >= pages_) {
        return false;
    }
    const size_t page = next_page_.fetch_add(1, std::memory_order_relaxed);
    if (page >= pages_) {
        return false;
    }
    page_class_[page].store(static_cast<uint8_t>(size_class), std::memory_order_relaxed);
#ifdef SENSOR_HTP_HEAP_ASAN
    // Blocks hold libhtp's pointers to memory that malloc gave (zlib state, large buffers), so
    // the leak check must scan them. Page by page as they are carved: the whole region is
    // 32 MiB, mostly never touched, and scanning it was 70% of an ASan run's leak check.
    __lsan_register_root_region(reinterpret_cast<void*>(base_ + page * kPageBytes), kPageBytes);
#endif
    const size_t block = kClassSizes[size_class];
    const size_t count = kPageBytes / block;
    auto* first = reinterpret_cast<std::byte*>(base_ + page * kPageBytes);
    for (size_t i = 0; i < count; ++i) {
        auto* next = i + 1 < count ? reinterpret_cast<Block*>(first + (i + 1) * block) : nullptr;
        store_next(reinterpret_cast<Block*>(first + i * block), next);
    }
    poison(first, kPageBytes);
    c.heads[size_class] = reinterpret_cast<Block*>(first);
    return true;
}

void HtpHeap::take_lists(ThreadCache& c) noexcept {
    std::lock_guard lock(orphans_mutex_);
    for (size_t k = 0; k < kClassCount; ++k) {
        Block* head = c.heads[k];
        if (head == nullptr) {
            continue;
        }
        Block* tail = head;
        for (Block* next = load_next(tail); next != nullptr; next = load_next(tail)) {
            poison(tail, kLinkBytes);
            tail = next;
        }
        store_next(tail, orphans_[k]);
        poison(tail, kLinkBytes);
        orphans_[k] = head;
        orphans_ready_[k].store(true, std::memory_order_relaxed);
        c.heads[k] = nullptr;
    }
}

void* HtpHeap::fallback(size_t size) noexcept {
    fallbacks_.fetch_add(1, std::memory_order_relaxed);
    return std::malloc(size);
}

void* HtpHeap::allocate(size_t size) noexcept {
    if (size > kMaxBlock) {
        return fallback(size);
    }
    const size_t k = class_index(size);
    ThreadCache* c = cache();
    if (c == nullptr) [[unlikely]] {
        return allocate_late(k, size);
    }
    if (c->heads[k] == nullptr && !refill(*c, k)) {
        return fallback(size);
    }
    return pop(*c, k, size);
}

void* HtpHeap::allocate_late(size_t size_class, size_t size) noexcept {
    ThreadCache c{};
    c.heap_id = id_;
    if (!refill(c, size_class)) {
        return fallback(size);
    }
    void* p = pop(c, size_class, size);
    take_lists(c);
    return p;
}

void* HtpHeap::allocate_zeroed(size_t count, size_t size) noexcept {
    size_t bytes = 0;
    if (__builtin_mul_overflow(count, size, &bytes)) {
        errno = ENOMEM;
        return nullptr;
    }
    void* p = allocate(bytes);
    if (p != nullptr) {
        std::memset(p, 0, bytes);
    }
    return p;
}

void HtpHeap::release(void* p) noexcept {
    if (p == nullptr) {
        return;
    }
    if (!owns(p)) {
        std::free(p);
        return;
    }
    const size_t offset = reinterpret_cast<uintptr_t>(p) - base_;
    const size_t k = page_class_[offset / kPageBytes].load(std::memory_order_relaxed);
#ifdef SENSOR_HTP_HEAP_ASAN
    SENSOR_CHECK(offset % kPageBytes % kClassSizes[k] == 0, "libhtp freed a pointer into a block");
    SENSOR_CHECK(__asan_address_is_poisoned(p) == 0, "libhtp freed a block twice");
#endif
    ThreadCache* c = cache();
    if (c == nullptr) [[unlikely]] {
        release_late(p, k);
        return;
    }
    push(*c, k, p);
}

void HtpHeap::release_late(void* p, size_t size_class) noexcept {
    ThreadCache c{};
    c.heap_id = id_;
    push(c, size_class, p);
    take_lists(c);
}

void* HtpHeap::reallocate(void* p, size_t size) noexcept {
    if (p == nullptr) {
        return allocate(size);
    }
    if (!owns(p)) {
        return std::realloc(p, size);
    }
    if (size == 0) {  // as glibc: frees and returns null
        release(p);
        return nullptr;
    }
    const size_t offset = reinterpret_cast<uintptr_t>(p) - base_;
    const size_t block =
        kClassSizes[page_class_[offset / kPageBytes].load(std::memory_order_relaxed)];
    if (size <= block) {
        mark_live(p, block, size);
        return p;
    }
    void* moved = allocate(size);
    if (moved == nullptr) {
        return nullptr;  // p stays valid, as realloc leaves it
    }
    std::memcpy(moved, p, live_bytes(p, block));
    release(p);
    return moved;
}

char* HtpHeap::duplicate(const char* s) noexcept {
    const size_t bytes = std::strlen(s) + 1;
    void* p = allocate(bytes);
    if (p != nullptr) {
        std::memcpy(p, s, bytes);
    }
    return static_cast<char*>(p);
}

// ---- installation into libhtp ----

namespace {

std::atomic<HtpHeap*> g_installed{nullptr};

// What libhtp's import slots point at once installed. Reached only after g_installed is set.
HtpHeap& installed() noexcept { return *g_installed.load(std::memory_order_acquire); }
void* htp_malloc(size_t size) noexcept { return installed().allocate(size); }
void* htp_calloc(size_t count, size_t size) noexcept {
    return installed().allocate_zeroed(count, size);
}
void* htp_realloc(void* p, size_t size) noexcept { return installed().reallocate(p, size); }
void htp_free(void* p) noexcept { installed().release(p); }
char* htp_strdup(const char* s) noexcept { return installed().duplicate(s); }

// Written in this order: free and realloc take any pointer, so they go first.
enum Import : uint8_t { kFree, kRealloc, kMalloc, kCalloc, kStrdup, kImportCount };
constexpr std::array<std::string_view, kImportCount> kImportNames = {"free", "realloc", "malloc",
                                                                     "calloc", "strdup"};

#if defined(__x86_64__)
constexpr uint32_t kJumpSlot = R_X86_64_JUMP_SLOT;
constexpr uint32_t kGlobDat = R_X86_64_GLOB_DAT;
constexpr bool kSupportedArch = true;
#elif defined(__aarch64__)
constexpr uint32_t kJumpSlot = R_AARCH64_JUMP_SLOT;
constexpr uint32_t kGlobDat = R_AARCH64_GLOB_DAT;
constexpr bool kSupportedArch = true;
#else
constexpr uint32_t kJumpSlot = 0;
constexpr uint32_t kGlobDat = 0;
constexpr bool kSupportedArch = false;
#endif

struct SlotScan {
    std::string_view object;
    std::string path;   // the object found
    std::string error;  // why its slots could not be read
    struct Slot {
        uintptr_t address;
        Import import;
    };
    std::vector<Slot> slots;
};

// Adds to scan the allocator import slots among the relocations at `table` (`bytes` long).
void scan_relocations(uintptr_t table, size_t bytes, size_t entry_bytes, uintptr_t base,
                      const ElfW(Sym) * symbols, const char* strings, size_t strings_bytes,
                      SlotScan& scan) {
    if (table == 0 || entry_bytes < sizeof(ElfW(Rela))) {
        return;
    }
    for (size_t off = 0; off + sizeof(ElfW(Rela)) <= bytes; off += entry_bytes) {
        const auto* r = reinterpret_cast<const ElfW(Rela)*>(table + off);
        const auto type = static_cast<uint32_t>(ELF64_R_TYPE(r->r_info));
        const auto sym = static_cast<size_t>(ELF64_R_SYM(r->r_info));
        if ((type != kJumpSlot && type != kGlobDat) || sym == 0) {
            continue;
        }
        const ElfW(Sym)& s = symbols[sym];
        if (s.st_shndx != SHN_UNDEF || s.st_name >= strings_bytes) {
            continue;  // defined by the object itself
        }
        const std::string_view name(strings + s.st_name,
                                    strnlen(strings + s.st_name, strings_bytes - s.st_name));
        const auto* known = std::find(kImportNames.begin(), kImportNames.end(), name);
        if (known != kImportNames.end()) {
            scan.slots.push_back(
                {base + r->r_offset, static_cast<Import>(known - kImportNames.begin())});
        }
    }
}

// Whether the file name in `path` is `object`, or `object` followed by a version or suffix
// ("libhtp" names libhtp.so.2 and libhtp-0.5.so, not libhtpx.so nor anything in a directory
// called libhtp).
bool names_object(std::string_view path, std::string_view object) noexcept {
    const size_t slash = path.rfind('/');
    const std::string_view file = slash == std::string_view::npos ? path : path.substr(slash + 1);
    if (object.empty() || !file.starts_with(object)) {
        return false;
    }
    return file.size() == object.size() || file[object.size()] == '.' || file[object.size()] == '-';
}

int scan_object(dl_phdr_info* info, size_t, void* data) {
    auto& scan = *static_cast<SlotScan*>(data);
    if (info->dlpi_name == nullptr || !names_object(info->dlpi_name, scan.object)) {
        return 0;
    }
    scan.path = info->dlpi_name;
    const uintptr_t base = info->dlpi_addr;
    const ElfW(Dyn)* dynamic = nullptr;
    for (size_t i = 0; i < info->dlpi_phnum; ++i) {
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
            dynamic = reinterpret_cast<const ElfW(Dyn)*>(base + info->dlpi_phdr[i].p_vaddr);
        }
    }
    if (dynamic == nullptr) {
        scan.error = "no dynamic section";
        return 1;
    }
    // glibc rewrites these as absolute addresses when it loads the object; accept both forms.
    auto address = [base](ElfW(Addr) a) -> uintptr_t { return a >= base ? a : base + a; };
    uintptr_t jmprel = 0, rela = 0, symtab = 0, strtab = 0;
    size_t jmprel_bytes = 0, rela_bytes = 0, rela_entry = sizeof(ElfW(Rela)), strtab_bytes = 0;
    int64_t pltrel = DT_RELA;
    for (const ElfW(Dyn)* d = dynamic; d->d_tag != DT_NULL; ++d) {
        switch (d->d_tag) {
            case DT_JMPREL:
                jmprel = address(d->d_un.d_ptr);
                break;
            case DT_PLTRELSZ:
                jmprel_bytes = d->d_un.d_val;
                break;
            case DT_PLTREL:
                pltrel = static_cast<int64_t>(d->d_un.d_val);
                break;
            case DT_RELA:
                rela = address(d->d_un.d_ptr);
                break;
            case DT_RELASZ:
                rela_bytes = d->d_un.d_val;
                break;
            case DT_RELAENT:
                rela_entry = d->d_un.d_val;
                break;
            case DT_SYMTAB:
                symtab = address(d->d_un.d_ptr);
                break;
            case DT_STRTAB:
                strtab = address(d->d_un.d_ptr);
                break;
            case DT_STRSZ:
                strtab_bytes = d->d_un.d_val;
                break;
            default:
                break;
        }
    }
    if (symtab == 0 || strtab == 0 || pltrel != DT_RELA) {
        scan.error = "no symbol table, or relocations without addends (DT_REL)";
        return 1;
    }
    const auto* symbols = reinterpret_cast<const ElfW(Sym)*>(symtab);
    const auto* strings = reinterpret_cast<const char*>(strtab);
    scan_relocations(jmprel, jmprel_bytes, sizeof(ElfW(Rela)), base, symbols, strings, strtab_bytes,
                     scan);
    scan_relocations(rela, rela_bytes, rela_entry, base, symbols, strings, strtab_bytes, scan);
    return 1;
}

core::Result<SlotScan> find_slots(std::string_view object) {
    if (!kSupportedArch) {
        return core::make_error("app-layer.http.parser-pool: not supported on this architecture");
    }
    SlotScan scan;
    scan.object = object;
    dl_iterate_phdr(scan_object, &scan);
    const std::string what = "app-layer.http.parser-pool: " + std::string(object);
    if (scan.path.empty()) {
        return core::make_error(what + " is not a loaded shared object");
    }
    if (!scan.error.empty()) {
        return core::make_error(what + " (" + scan.path + "): " + scan.error);
    }
    return scan;
}

// The protection of the mapping that holds `address` (from /proc/self/maps).
core::Result<int> protection_of(uintptr_t address) {
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        char* end = nullptr;
        const auto low = static_cast<uintptr_t>(std::strtoull(line.c_str(), &end, 16));
        if (*end != '-') {
            continue;
        }
        const auto high = static_cast<uintptr_t>(std::strtoull(end + 1, &end, 16));
        if (address < low || address >= high || std::strlen(end) < 4) {
            continue;
        }
        const char* perms = end + 1;  // "rw-p"
        return (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
               (perms[2] == 'x' ? PROT_EXEC : 0);
    }
    return core::make_error("no mapping in /proc/self/maps");
}

// Points every slot at our functions: all or none. The value: a warning when a page could
// not be made read-only again (the pool is in use all the same).
core::Result<std::string> patch_slots(const SlotScan& scan) {
    const std::array<uintptr_t, kImportCount> target = {
        reinterpret_cast<uintptr_t>(&htp_free), reinterpret_cast<uintptr_t>(&htp_realloc),
        reinterpret_cast<uintptr_t>(&htp_malloc), reinterpret_cast<uintptr_t>(&htp_calloc),
        reinterpret_cast<uintptr_t>(&htp_strdup)};
    const auto page_bytes = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
    struct Page {
        uintptr_t start;
        int protection;
        bool opened;
    };
    std::vector<Page> pages;
    for (const auto& slot : scan.slots) {
        const uintptr_t start = slot.address & ~(page_bytes - 1);
        if (std::none_of(pages.begin(), pages.end(),
                         [start](const Page& p) { return p.start == start; })) {
            auto protection = protection_of(start);
            if (!protection) {
                return tl::unexpected(protection.error());
            }
            pages.push_back({start, *protection, false});
        }
    }
    auto close_pages = [&pages, page_bytes] {
        bool ok = true;
        for (Page& p : pages) {
            if (p.opened) {
                ok =
                    mprotect(reinterpret_cast<void*>(p.start), page_bytes, p.protection) == 0 && ok;
                p.opened = false;
            }
        }
        return ok;
    };
    for (Page& p : pages) {
        if ((p.protection & PROT_WRITE) != 0) {
            continue;
        }
        if (mprotect(reinterpret_cast<void*>(p.start), page_bytes, p.protection | PROT_WRITE) !=
            0) {
            const int error = errno;
            close_pages();
            return core::make_error(std::string("cannot make libhtp's import table writable: ") +
                                    std::strerror(error));
        }
        p.opened = true;
    }
    for (size_t i = 0; i < kImportCount; ++i) {
        for (const auto& slot : scan.slots) {
            if (slot.import == i) {
                std::atomic_ref(*reinterpret_cast<uintptr_t*>(slot.address))
                    .store(target[i], std::memory_order_release);
            }
        }
    }
    if (!close_pages()) {
        return std::string("libhtp's import table stays writable (") + std::strerror(errno) + ")";
    }
    return std::string();
}

core::Result<void> install(size_t bytes) {
    auto heap = HtpHeap::create(bytes);
    if (!heap) {
        return tl::unexpected(heap.error());
    }
    auto scan = find_slots("libhtp");
    if (!scan) {
        return tl::unexpected(scan.error());
    }
    const bool frees = std::any_of(scan->slots.begin(), scan->slots.end(),
                                   [](const SlotScan::Slot& s) { return s.import == kFree; });
    if (!frees) {
        return core::make_error("app-layer.http.parser-pool: " + scan->path +
                                " does not import free; HTTP parsing keeps malloc");
    }
    g_installed.store(heap->get(), std::memory_order_release);
    auto patched = patch_slots(*scan);
    if (!patched) {
        g_installed.store(nullptr, std::memory_order_release);
        return core::make_error("app-layer.http.parser-pool: " + patched.error().message +
                                "; HTTP parsing keeps malloc");
    }
    // libhtp frees into the heap until the process ends.
    HtpHeap* kept = heap->release();
    (void)kept;
    if (!patched->empty()) {
        return core::make_error("app-layer.http.parser-pool: in use, but " + *patched);
    }
    return {};
}

}  // namespace

core::Result<void> install_htp_heap(size_t bytes) {
    if (bytes == 0) {
        return {};
    }
    static std::once_flag once;
    static core::Result<void> result;
    std::call_once(once, [bytes] { result = install(bytes); });
    return result;
}

const HtpHeap* installed_htp_heap() noexcept { return g_installed.load(std::memory_order_acquire); }

HtpHeapStats htp_heap_stats() noexcept {
    const HtpHeap* heap = installed_htp_heap();
    return heap == nullptr ? HtpHeapStats{} : heap->stats();
}

core::Result<size_t> count_allocator_slots(std::string_view object) {
    auto scan = find_slots(object);
    if (!scan) {
        return tl::unexpected(scan.error());
    }
    return scan->slots.size();
}

// NOLINTEND(performance-no-int-to-ptr)

}  // namespace sensor::applayer
