#include "sensor/decode/defrag.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <type_traits>

#include "sensor/decode/checksum.h"

namespace sensor::decode {
namespace {

constexpr size_t kBlockBytes = 8;
constexpr size_t kBlocksPerPage = 64;

// Bits [lo, hi) of a page's presence mask.
uint64_t block_mask(size_t lo, size_t hi) noexcept {
    const size_t n = hi - lo;
    const uint64_t bits = n >= 64 ? ~uint64_t{0} : (uint64_t{1} << n) - 1;
    return bits << lo;
}

void put_u16(uint8_t* p, size_t value) noexcept {
    p[0] = static_cast<uint8_t>((value >> 8) & 0xff);
    p[1] = static_cast<uint8_t>(value & 0xff);
}

}  // namespace

Defragmenter::Defragmenter(const DecodeConfig& config, DecodeStats& stats)
    : stats_(stats),
      max_datagrams_(std::min<size_t>(config.defrag_max_datagrams, kNone - 1)),
      timeout_us_(config.defrag_timeout_us),
      slots_(std::allocator<Datagram>{}.allocate(max_datagrams_),
             DatagramStorageFree{max_datagrams_}),
      page_count_(std::min<size_t>(config.defrag_memcap_bytes / kPageBytes, kNone - 1)) {
    // Pages are written before they are read (presence bits), so they need no zeroing.
    pages_ = std::make_unique_for_overwrite<Page[]>(page_count_);
    static_assert(std::is_trivially_destructible_v<Datagram>,
                  "datagram slots are freed without destroying them");
    free_slots_.reserve(max_datagrams_);
    free_pages_.reserve(page_count_);
    buckets_.assign(std::bit_ceil(std::max<size_t>(max_datagrams_, 1)), kNone);
}

Defragmenter::~Defragmenter() = default;

size_t Defragmenter::bucket_of(const FragmentKey& key) const noexcept {
    // FNV-1a over the key's fields: cheap, and fragments are a small share of traffic.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](uint8_t b) {
        h ^= b;
        h *= 1099511628211ull;
    };
    for (size_t i = 0; i < key.src.size(); ++i) {
        mix(key.src.bytes[i]);
        mix(key.dst.bytes[i]);
    }
    for (int shift = 0; shift < 32; shift += 8) {
        mix(static_cast<uint8_t>((key.id >> shift) & 0xff));
    }
    mix(key.proto);
    return static_cast<size_t>(h ^ (h >> 29)) & (buckets_.size() - 1);
}

uint32_t Defragmenter::find(const FragmentKey& key) const noexcept {
    for (uint32_t i = buckets_[bucket_of(key)]; i != kNone; i = slots_[i].chain) {
        if (slots_[i].key == key) {
            return i;
        }
    }
    return kNone;
}

uint32_t Defragmenter::create(const FragmentKey& key, int64_t ts_us) noexcept {
    // Released slots first, as a stack; then the next slot never used.
    uint32_t i = 0;
    if (!free_slots_.empty()) {
        i = free_slots_.back();
        free_slots_.pop_back();
    } else {
        i = slots_never_used_++;
        std::construct_at(&slots_[i]);
    }
    Datagram& d = slots_[i];
    d.key = key;
    d.first_ts = ts_us;
    d.total_len = 0;
    d.max_end = 0;
    d.blocks_present = 0;
    d.header_len = 0;
    d.link_len = 0;
    d.next_header_at = 0;
    d.next_header = 0;
    d.total_known = false;
    d.have_header = false;
    d.pages.fill(kNone);
    const size_t b = bucket_of(key);
    d.chain = buckets_[b];
    buckets_[b] = i;
    d.older = newest_;
    d.newer = kNone;
    if (newest_ != kNone) {
        slots_[newest_].newer = i;
    } else {
        oldest_ = i;
    }
    newest_ = i;
    ++in_use_;
    return i;
}

void Defragmenter::release(uint32_t index) noexcept {
    Datagram& d = slots_[index];
    for (uint32_t& p : d.pages) {
        if (p != kNone) {
            free_pages_.push_back(p);
            p = kNone;
        }
    }
    uint32_t* link = &buckets_[bucket_of(d.key)];
    while (*link != kNone && *link != index) {
        link = &slots_[*link].chain;
    }
    if (*link == index) {
        *link = d.chain;
    }
    if (d.older != kNone) {
        slots_[d.older].newer = d.newer;
    } else {
        oldest_ = d.newer;
    }
    if (d.newer != kNone) {
        slots_[d.newer].older = d.older;
    } else {
        newest_ = d.older;
    }
    d.chain = d.older = d.newer = kNone;
    free_slots_.push_back(index);
    --in_use_;
}

void Defragmenter::expire(int64_t now_us) noexcept {
    while (oldest_ != kNone) {
        const int64_t first = slots_[oldest_].first_ts;
        // Unsigned difference: packet times come from the capture and may be anything.
        if (now_us <= first || static_cast<uint64_t>(now_us) - static_cast<uint64_t>(first) <=
                                   static_cast<uint64_t>(std::max<int64_t>(timeout_us_, 0))) {
            return;
        }
        release(oldest_);
        stats_.fragments_expired.add();
    }
}

DefragResult Defragmenter::add(const Fragment& frag, std::span<uint8_t> out) noexcept {
    const size_t size = frag.data.size();
    const size_t end = size_t{frag.offset} + size;
    if ((frag.more && (size == 0 || size % kBlockBytes != 0)) || frag.offset % kBlockBytes != 0 ||
        end > 65535) {
        return {DefragStatus::kBad, {}, {}};
    }
    if (frag.offset == 0 &&
        (frag.header.size() > kMaxHeaderBytes || frag.next_header_at >= frag.header.size())) {
        return {DefragStatus::kBad, {}, {}};
    }

    uint32_t index = find(frag.key);
    bool created = false;
    if (index != kNone) {
        const Datagram& d = slots_[index];
        const bool end_conflict = frag.more
                                      ? (d.total_known && end > d.total_len)
                                      : (d.total_known ? d.total_len != end : d.max_end > end);
        if (end_conflict) {
            return {DefragStatus::kBad, {}, {}};
        }
    } else {
        if (max_datagrams_ == 0) {
            return {DefragStatus::kMemcap, {}, {}};
        }
        if (!has_free_slot()) {
            release(oldest_);
            stats_.fragments_expired.add();
        }
        index = create(frag.key, frag.ts_us);
        created = true;
    }

    // Which 8-byte blocks are new, and how many pages they need.
    const size_t first_block = frag.offset / kBlockBytes;
    const size_t last_block = (end + kBlockBytes - 1) / kBlockBytes;  // exclusive
    size_t missing = 0;
    size_t new_pages = 0;
    for (size_t p = first_block / kBlocksPerPage;
         first_block < last_block && p <= (last_block - 1) / kBlocksPerPage; ++p) {
        const size_t lo = std::max(first_block, p * kBlocksPerPage) - p * kBlocksPerPage;
        const size_t hi = std::min(last_block, (p + 1) * kBlocksPerPage) - p * kBlocksPerPage;
        const uint64_t want = block_mask(lo, hi);
        const uint32_t page = slots_[index].pages[p];
        if (page == kNone) {
            ++new_pages;
            missing += static_cast<size_t>(std::popcount(want));
        } else {
            missing += static_cast<size_t>(std::popcount(want & ~pages_[page].present));
        }
    }
    const size_t blocks = last_block - first_block;
    const bool adds_total = !frag.more && !slots_[index].total_known;
    const bool adds_header = frag.offset == 0 && !slots_[index].have_header;
    if (missing == 0 && !adds_total && !adds_header) {
        stats_.fragment_overlaps.add();
        return {DefragStatus::kDuplicate, {}, {}};
    }

    while (pages_available() < new_pages) {
        const uint32_t victim = oldest_ != index ? oldest_ : slots_[oldest_].newer;
        if (victim == kNone) {
            if (created) {
                release(index);
            }
            return {DefragStatus::kMemcap, {}, {}};
        }
        release(victim);
        stats_.fragments_expired.add();
    }

    if (missing < blocks) {
        stats_.fragment_overlaps.add();
    }
    Datagram& d = slots_[index];
    for (size_t b = first_block; b < last_block; ++b) {
        uint32_t& page = d.pages[b / kBlocksPerPage];
        if (page == kNone) {
            if (!free_pages_.empty()) {
                page = free_pages_.back();
                free_pages_.pop_back();
            } else {
                page = pages_never_used_++;
            }
            pages_[page].present = 0;
        }
        Page& pg = pages_[page];
        const uint64_t bit = uint64_t{1} << (b % kBlocksPerPage);
        if ((pg.present & bit) != 0) {
            continue;  // first copy wins
        }
        const size_t from = b * kBlockBytes;
        const size_t len = std::min(kBlockBytes, end - from);
        std::memcpy(pg.data + from % kPageBytes, frag.data.data() + (from - frag.offset), len);
        pg.present |= bit;
        ++d.blocks_present;
    }
    if (adds_header) {
        std::memcpy(d.header.data(), frag.header.data(), frag.header.size());
        d.header_len = static_cast<uint16_t>(frag.header.size());
        const std::span<const uint8_t> link =
            frag.link.last(std::min(frag.link.size(), kMaxLinkBytes));
        std::memcpy(d.link.data(), link.data(), link.size());
        d.link_len = static_cast<uint8_t>(link.size());
        d.next_header_at = frag.next_header_at;
        d.next_header = frag.next_header;
        d.have_header = true;
    }
    if (adds_total) {
        d.total_known = true;
        d.total_len = static_cast<uint32_t>(end);
    }
    d.max_end = std::max(d.max_end, static_cast<uint32_t>(end));

    if (d.total_known && d.have_header &&
        d.blocks_present == (d.total_len + kBlockBytes - 1) / kBlockBytes) {
        return rebuild(index, out);
    }
    return {DefragStatus::kHeld, {}, {}};
}

DefragResult Defragmenter::rebuild(uint32_t index, std::span<uint8_t> out) noexcept {
    const Datagram& d = slots_[index];
    const size_t header_len = d.header_len;
    const size_t size = header_len + d.total_len;
    const bool v6 = d.key.src.v6;
    // IPv4 counts its header in the total length; IPv6 counts only what follows the fixed header.
    const size_t length_field = v6 ? size - 40 : size;
    if (length_field > 65535 || d.link_len + size > out.size() || (v6 && header_len < 40) ||
        (!v6 && header_len < 20)) {
        release(index);
        return {DefragStatus::kBad, {}, {}};
    }
    std::memcpy(out.data(), d.link.data(), d.link_len);
    uint8_t* p = out.data() + d.link_len;
    std::memcpy(p, d.header.data(), header_len);
    for (size_t pg = 0; pg * kPageBytes < d.total_len; ++pg) {
        const size_t n = std::min<size_t>(kPageBytes, d.total_len - pg * kPageBytes);
        std::memcpy(p + header_len + pg * kPageBytes, pages_[d.pages[pg]].data, n);
    }
    if (v6) {
        put_u16(p + 4, length_field);
        p[d.next_header_at] = d.next_header;
    } else {
        put_u16(p + 2, length_field);
        p[6] &= 0x40;  // keep DF; clear MF and the offset
        p[7] = 0;
        p[10] = 0;
        p[11] = 0;
        put_u16(p + 10, checksum_finish(checksum_add(std::span<const uint8_t>(p, header_len))));
    }
    release(index);
    stats_.fragments_reassembled.add();
    return {DefragStatus::kComplete, std::span<const uint8_t>(p, size),
            std::span<const uint8_t>(out.data(), d.link_len)};
}

}  // namespace sensor::decode
