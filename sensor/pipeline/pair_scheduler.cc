#include "sensor/pipeline/pair_scheduler.h"

#include <algorithm>
#include <bit>
#include <new>

namespace sensor::pipeline {

PairScheduler::PairScheduler(size_t workers, size_t capacity, int64_t idle_limit_us)
    : workers_(std::max<size_t>(1, workers)),
      mask_(std::bit_ceil(std::max<size_t>(capacity, kProbe)) - 1),
      idle_limit_us_(idle_limit_us),
      slots_(static_cast<Slot*>(std::calloc(mask_ + 1, sizeof(Slot)))) {
    if (!slots_) {
        throw std::bad_alloc();
    }
}

}  // namespace sensor::pipeline
