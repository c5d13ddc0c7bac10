#include "sensor/alert/recent_alerts.h"

#include <algorithm>
#include <cstdlib>

#include "sensor/alert/eve_writer.h"

namespace sensor::alert {

void RecentAlerts::add(const core::AlertRecord& record) {
    if (capacity_ == 0) {
        return;
    }
    add(record, alert_to_json(record));
}

void RecentAlerts::add(const core::AlertRecord& record, std::string_view json) {
    if (capacity_ == 0) {
        return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (ring_.size() < capacity_) {
        ring_.emplace_back();  // grows up to capacity_ entries once
    }
    Entry& entry = ring_[next_];
    next_ = (next_ + 1) % capacity_;
    count_ = std::min(count_ + 1, capacity_);
    entry.ts_us = record.ts_us;
    const auto concepts = record.concepts();
    entry.concepts.resize(concepts.size());
    std::copy(concepts.begin(), concepts.end(), entry.concepts.begin());
    entry.json.assign(json);
}

std::string RecentAlerts::query(int64_t since_us, std::string_view concept_id, size_t limit) const {
    std::vector<const Entry*> picked;
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 0; i < count_ && picked.size() < limit; ++i) {
        const Entry& e = newest(i);
        if (e.ts_us <= since_us) {
            continue;
        }
        if (!concept_id.empty() &&
            std::find(e.concepts.begin(), e.concepts.end(), concept_id) == e.concepts.end()) {
            continue;
        }
        picked.push_back(&e);
    }
    std::string out = "[";
    for (auto it = picked.rbegin(); it != picked.rend(); ++it) {
        if (out.size() > 1) {
            out += ",\n";
        }
        out += (*it)->json;
    }
    out += "]\n";
    return out;
}

size_t RecentAlerts::size() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return count_;
}

bool parse_alerts_query(std::string_view query, AlertsQuery& out, std::string& error) {
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        size_t eq = pair.find('=');
        std::string_view key = pair.substr(0, eq);
        std::string value(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1));
        char* end = nullptr;
        if (key == "since") {
            double seconds = std::strtod(value.c_str(), &end);
            if (value.empty() || *end != '\0' || seconds < 0) {
                error = "since: expected unix seconds, got '" + value + "'";
                return false;
            }
            out.since_us = static_cast<int64_t>(seconds * 1e6);
        } else if (key == "concept") {
            out.concept_id = value;
        } else if (key == "limit") {
            unsigned long long n = std::strtoull(value.c_str(), &end, 10);
            if (value.empty() || *end != '\0' || n == 0) {
                error = "limit: expected a positive integer, got '" + value + "'";
                return false;
            }
            out.limit = static_cast<size_t>(n);
        }
    }
    return true;
}

}  // namespace sensor::alert
