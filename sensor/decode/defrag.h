#pragma once
// Defragmenter: bounded IPv4/IPv6 fragment reassembly, owned by a Decoder (one per worker,
// not thread-safe). All memory is taken at construction; add() and expire() never allocate.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "sensor/core/ip_address.h"
#include "sensor/decode/decoder.h"

namespace sensor::decode {

struct FragmentKey {
    core::IpAddress src;
    core::IpAddress dst;
    uint32_t id = 0;    // 16 bits for IPv4, 32 for IPv6
    uint8_t proto = 0;  // IPv4 protocol; 0 for IPv6 (not part of its key)

    bool operator==(const FragmentKey&) const = default;
};

// One fragment as the decoder saw it. Spans point into the caller's bytes and are copied.
struct Fragment {
    FragmentKey key;
    uint32_t offset = 0;              // where data starts in the fragmentable part, in bytes
    bool more = false;                // MF
    std::span<const uint8_t> data;    // the fragmentable bytes this fragment carries
    std::span<const uint8_t> header;  // IPv4 header or IPv6 unfragmentable part
    std::span<const uint8_t> link;    // link-layer bytes just in front of header
    uint16_t next_header_at = 0;      // IPv6: index in header of the byte naming the fragment hdr
    uint8_t next_header = 0;          // IPv6: the fragment header's own next header
    int64_t ts_us = 0;
};

enum class DefragStatus : uint8_t {
    kHeld,       // stored; the datagram is still incomplete
    kComplete,   // datagram rebuilt into the output buffer
    kDuplicate,  // every byte was already held (first copy wins): nothing stored
    kBad,        // inconsistent with itself or with fragments already held
    kMemcap,     // cannot be stored even after evicting every other datagram
};

struct DefragResult {
    DefragStatus status = DefragStatus::kHeld;
    std::span<const uint8_t> datagram;  // kComplete: header + payload in the output buffer
    // kComplete: the first fragment's link bytes (its last kMaxLinkBytes at most), written in
    // the output buffer right in front of datagram, so that the two read as one packet.
    std::span<const uint8_t> link;
};

class Defragmenter {
public:
    static constexpr size_t kPageBytes = 512;  // memory is counted and capped in pages
    static constexpr size_t kMaxHeaderBytes = 512;
    static constexpr size_t kMaxLinkBytes = 64;
    // Size an output buffer must have to receive any rebuilt datagram and its link bytes.
    static constexpr size_t kMaxDatagramBytes = kMaxLinkBytes + kMaxHeaderBytes + 65536;

    // Counts fragments_reassembled, fragments_expired and fragment_overlaps into stats.
    Defragmenter(const DecodeConfig& config, DecodeStats& stats);
    ~Defragmenter();
    Defragmenter(const Defragmenter&) = delete;
    Defragmenter& operator=(const Defragmenter&) = delete;

    // Stores a fragment. On kComplete the datagram is written to out (which must hold
    // kMaxDatagramBytes and must not overlap frag's bytes) with its header fixed up: IPv4 total
    // length, MF and offset cleared, checksum recomputed; IPv6 payload length, fragment
    // header removed. The first fragment's link bytes precede it (Suricata's reassembled
    // packet carries them too).
    DefragResult add(const Fragment& frag, std::span<uint8_t> out) noexcept;

    // Gives up datagrams whose first fragment is older than the timeout (packet time).
    void expire(int64_t now_us) noexcept;

    size_t datagrams() const noexcept { return in_use_; }
    size_t bytes_held() const noexcept {
        return (pages_never_used_ - free_pages_.size()) * kPageBytes;
    }

private:
    static constexpr size_t kPagesPerDatagram = 65536 / kPageBytes;
    static constexpr uint32_t kNone = UINT32_MAX;

    struct Page {
        uint64_t present;  // one bit per 8-byte block
        uint8_t data[kPageBytes];
    };
    struct Datagram {
        FragmentKey key;
        int64_t first_ts = 0;
        uint32_t older = kNone;  // age list, oldest first
        uint32_t newer = kNone;
        uint32_t chain = kNone;  // hash bucket chain
        uint32_t total_len = 0;  // fragmentable part, known once the MF=0 fragment arrived
        uint32_t max_end = 0;
        uint32_t blocks_present = 0;
        uint16_t header_len = 0;
        uint8_t link_len = 0;
        uint16_t next_header_at = 0;
        uint8_t next_header = 0;
        bool total_known = false;
        bool have_header = false;
        std::array<uint32_t, kPagesPerDatagram> pages;
        std::array<uint8_t, kMaxHeaderBytes> header;
        std::array<uint8_t, kMaxLinkBytes> link;
    };

    uint32_t find(const FragmentKey& key) const noexcept;
    uint32_t create(const FragmentKey& key, int64_t ts_us) noexcept;
    void release(uint32_t index) noexcept;
    size_t bucket_of(const FragmentKey& key) const noexcept;
    DefragResult rebuild(uint32_t index, std::span<uint8_t> out) noexcept;

    // Frees the datagram storage; datagrams need no destruction.
    struct DatagramStorageFree {
        size_t capacity = 0;
        void operator()(Datagram* slots) const noexcept {
            std::allocator<Datagram>{}.deallocate(slots, capacity);
        }
    };
    bool has_free_slot() const noexcept {
        return !free_slots_.empty() || slots_never_used_ < max_datagrams_;
    }
    size_t pages_available() const noexcept {
        return free_pages_.size() + (page_count_ - pages_never_used_);
    }

    DecodeStats& stats_;
    size_t max_datagrams_;
    int64_t timeout_us_;
    // Storage for max_datagrams_ datagrams and page_count_ pages, reserved at construction. A
    // datagram slot is constructed, and a page first written, when it is first handed out: a
    // worker's resident memory follows the fragments it held at most, not the caps (the
    // datagram slots alone are 4.7 MB at the default 4,096).
    std::unique_ptr<Datagram[], DatagramStorageFree> slots_;
    uint32_t slots_never_used_ = 0;  // slots at and above this index were never handed out
    std::unique_ptr<Page[]> pages_;
    size_t page_count_;
    uint32_t pages_never_used_ = 0;     // likewise for pages
    std::vector<uint32_t> free_slots_;  // released slots (capacity reserved up front)
    std::vector<uint32_t> free_pages_;  // released pages (likewise)
    std::vector<uint32_t> buckets_;     // power of two
    uint32_t oldest_ = kNone;
    uint32_t newest_ = kNone;
    size_t in_use_ = 0;
};

}  // namespace sensor::decode
