#pragma once
// RecentAlerts: the newest N alerts as EVE JSON, for the HTTP /alerts view. Written by the
// output thread, read by HTTP threads; a mutex guards the ring (control plane only: the
// packet path never touches it).

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "sensor/core/records.h"

namespace sensor::alert {

class RecentAlerts {
public:
    explicit RecentAlerts(size_t capacity) : capacity_(capacity) {}

    void add(const core::AlertRecord& record);
    // The same, with the record already serialized with default EveOptions (what EveWriter
    // wrote for it, when its options are the defaults): no second serialization.
    void add(const core::AlertRecord& record, std::string_view json);

    // JSON array, oldest first, of the alerts newer than since_us (packet time, microseconds
    // since the epoch; 0 = all) carrying concept (empty = any), at most limit of the newest.
    std::string query(int64_t since_us, std::string_view concept_id, size_t limit) const;

    size_t size() const;

private:
    struct Entry {
        int64_t ts_us;
        std::vector<std::string> concepts;
        std::string json;
    };
    // The i-th newest entry (0: the newest), i < count_.
    const Entry& newest(size_t i) const noexcept {
        return ring_[(next_ + capacity_ - 1 - i) % capacity_];
    }

    size_t capacity_;
    mutable std::mutex mutex_;  // guards the ring
    // Up to capacity_ entries; the newest is before next_. A full ring's oldest entry lends
    // its buffers to the newest (strings assigned within their capacity), so a busy sensor
    // allocates nothing here once every slot has held a long enough alert.
    std::vector<Entry> ring_;
    size_t next_ = 0;
    size_t count_ = 0;
};

// Parses the /alerts query string: since=<unix seconds, may be fractional>,
// concept=<id>, limit=<n>. Unknown keys are ignored; a bad value is an error message.
struct AlertsQuery {
    int64_t since_us = 0;
    std::string concept_id;
    size_t limit = 100;
};
bool parse_alerts_query(std::string_view query, AlertsQuery& out, std::string& error);

}  // namespace sensor::alert
