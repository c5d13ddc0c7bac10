#pragma once
// RuleExchange: hands a newly compiled rule set from the control thread to every worker.
// The control thread builds the SignatureDb off the packet path and publishes it; each
// worker notices the new generation between batches and switches (a fresh Hyperscan
// scratch for the new database). In-flight flows keep their state. Shared by all workers;
// publish() and the reads are thread-safe.

#include <atomic>
#include <cstdint>
#include <memory>

#include "sensor/detect/signature_db.h"

namespace sensor::pipeline {

class RuleExchange {
public:
    explicit RuleExchange(std::shared_ptr<const detect::SignatureDb> initial)
        : current_(std::move(initial)) {}

    void publish(std::shared_ptr<const detect::SignatureDb> db) {
        current_.store(std::move(db), std::memory_order_release);
        generation_.fetch_add(1, std::memory_order_acq_rel);
    }
    // Cheap check for workers, once per batch.
    uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
    std::shared_ptr<const detect::SignatureDb> current() const {
        return current_.load(std::memory_order_acquire);
    }

private:
    std::atomic<std::shared_ptr<const detect::SignatureDb>> current_;
    std::atomic<uint64_t> generation_{1};
};

}  // namespace sensor::pipeline
