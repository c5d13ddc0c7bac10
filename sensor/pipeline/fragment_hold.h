#pragma once
// FragmentHold: later fragments of an IP datagram that arrive before its first fragment, held
// by the capture thread until that first fragment shows the datagram's ports. Placing by flow,
// only the first fragment tells which flow (and so which worker) a datagram belongs to; a
// later fragment sent ahead of it (reverse-order senders, or an evasion that delays the first
// piece) would otherwise go by its address pair and miss its flow's worker, and reassembly
// there. Bounded: a fixed number of frames of a fixed size, preallocated; a frame is held at
// most hold_us of capture time. What cannot be held (no free slot, frame too long) or waited
// too long goes back to the caller to be placed by its pair. Capture thread only.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "sensor/core/frame.h"

namespace sensor::pipeline {

class FragmentHold {
public:
    FragmentHold(size_t frames, size_t frame_bytes, int64_t hold_us);

    // Copies the frame to wait for its datagram's first fragment; pair: the frame's address
    // pair hash (how it is placed if that never comes). False: it cannot be held.
    bool hold(uint64_t datagram, uint64_t pair, const core::Frame& frame) noexcept;

    size_t held() const noexcept { return held_; }
    // Capture time by which the oldest held frame has waited long enough.
    int64_t next_expiry_us() const noexcept { return next_expiry_us_; }

    // f(frame) for each held frame of datagram, in arrival order; they are freed. The frame's
    // bytes are valid during the call only.
    template <class F>
    void release(uint64_t datagram, F&& f) {
        release_where([&](const Entry& e) { return e.datagram == datagram; },
                      [&](const Entry& e) { f(e.frame); });
    }
    // f(datagram, pair, frame) for every frame of each datagram one of whose frames has been
    // held since before now_us - hold_us (its first fragment is late: the whole datagram goes
    // on together), in arrival order; they are freed.
    template <class F>
    void release_expired(int64_t now_us, F&& f) {
        expired_.clear();
        for (const Entry& e : entries_) {
            if (e.used && now_us - e.held_at_us > hold_us_) {
                expired_.push_back(e.datagram);  // capacity: one per entry, reserved
            }
        }
        release_where(
            [&](const Entry& e) {
                return std::find(expired_.begin(), expired_.end(), e.datagram) != expired_.end();
            },
            [&](const Entry& e) { f(e.datagram, e.pair, e.frame); });
    }
    // f(datagram, pair, frame) for every held frame, in arrival order (the end of the input).
    template <class F>
    void release_all(F&& f) {
        release_where([](const Entry&) { return true; },
                      [&](const Entry& e) { f(e.datagram, e.pair, e.frame); });
    }

private:
    static constexpr int64_t kNoExpiry = std::numeric_limits<int64_t>::max();
    struct Entry {
        uint64_t datagram = 0;
        uint64_t pair = 0;
        uint64_t order = 0;  // arrival
        int64_t held_at_us = 0;
        core::Frame frame;  // data points into bytes_
        bool used = false;
    };

    // Frees the entries `match` selects, calling `take` on each in arrival order. Held frames
    // are few (the slots are), so a scan per release is cheap, and releases are rare.
    template <class Match, class Take>
    void release_where(Match&& match, Take&& take) {
        if (held_ == 0) {
            return;
        }
        uint64_t after = 0;  // arrival order of the last one taken, plus one
        for (;;) {
            Entry* next = nullptr;
            for (Entry& e : entries_) {
                if (e.used && e.order >= after && match(e) &&
                    (next == nullptr || e.order < next->order)) {
                    next = &e;
                }
            }
            if (next == nullptr) {
                break;
            }
            after = next->order + 1;
            next->used = false;
            --held_;
            take(*next);
        }
        refresh_expiry();
    }
    void refresh_expiry() noexcept;

    std::vector<Entry> entries_;
    std::vector<uint64_t> expired_;  // release_expired's datagrams, reserved for every entry
    std::vector<uint8_t> bytes_;     // entries_.size() slots of frame_bytes_
    size_t frame_bytes_;
    int64_t hold_us_;
    size_t held_ = 0;
    uint64_t next_order_ = 0;
    int64_t next_expiry_us_ = kNoExpiry;
};

}  // namespace sensor::pipeline
