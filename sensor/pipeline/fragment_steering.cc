#include "sensor/pipeline/fragment_steering.h"

#include <algorithm>
#include <bit>

namespace sensor::pipeline {

FragmentSteering::FragmentSteering(size_t capacity, int64_t lifetime_us)
    : slots_(std::bit_ceil(std::max(capacity, kProbe))),
      mask_(slots_.size() - 1),
      lifetime_us_(lifetime_us) {}

size_t FragmentSteering::find(uint64_t datagram, int64_t now_us) noexcept {
    for (size_t i = 0; i < kProbe; ++i) {
        Slot& s = slots_[(datagram + i) & mask_];
        if (s.used && s.datagram == datagram && live(s, now_us)) {
            s.last_us = std::max(s.last_us, now_us);
            return s.worker;
        }
    }
    return kNone;
}

void FragmentSteering::remember(uint64_t datagram, size_t worker, int64_t now_us) noexcept {
    Slot* target = nullptr;
    for (size_t i = 0; i < kProbe; ++i) {
        Slot& s = slots_[(datagram + i) & mask_];
        if (!live(s, now_us) || s.datagram == datagram) {
            target = &s;
            break;
        }
        if (target == nullptr || s.last_us < target->last_us) {
            target = &s;
        }
    }
    if (live(*target, now_us) && target->datagram != datagram) {
        ++evictions_;
    }
    target->datagram = datagram;
    target->last_us = now_us;
    target->worker = static_cast<uint32_t>(worker);
    target->used = true;
}

}  // namespace sensor::pipeline
