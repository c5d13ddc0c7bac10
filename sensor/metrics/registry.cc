#include "sensor/metrics/registry.h"

#include <prometheus/text_serializer.h>

#include <algorithm>
#include <limits>
#include <sstream>
#include <utility>

namespace sensor::metrics {

namespace {

bool is_snake(std::string_view s) {
    if (s.empty() || s.front() == '_' || s.back() == '_' || s.find("__") != s.npos) {
        return false;
    }
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

bool ends_with(std::string_view s, std::string_view suffix) {
    return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

prometheus::MetricType prometheus_type(MetricKind kind) {
    switch (kind) {
        case MetricKind::kCounter:
            return prometheus::MetricType::Counter;
        case MetricKind::kHistogram:
            return prometheus::MetricType::Histogram;
        case MetricKind::kGauge:
        case MetricKind::kInfo:
            return prometheus::MetricType::Gauge;
    }
    return prometheus::MetricType::Untyped;
}

}  // namespace

std::string_view kind_name(MetricKind kind) noexcept {
    switch (kind) {
        case MetricKind::kCounter:
            return "counter";
        case MetricKind::kGauge:
            return "gauge";
        case MetricKind::kHistogram:
            return "histogram";
        case MetricKind::kInfo:
            return "info";
    }
    return "untyped";
}

core::Result<void> check_family(const FamilySpec& spec) {
    const std::string& n = spec.name;
    auto fail = [&n](std::string_view why) {
        return core::make_error("metric " + n + ": " + std::string(why));
    };
    if (n.rfind("sensor_", 0) != 0 || !is_snake(n) || n.size() == 7) {
        return fail("name must match ^sensor_[a-z0-9_]+$ without \"__\" or a trailing \"_\"");
    }
    const bool total = ends_with(n, "_total");
    if (spec.kind == MetricKind::kCounter && !total) {
        return fail("counter names end in _total");
    }
    if (spec.kind != MetricKind::kCounter && total) {
        return fail("only counter names end in _total");
    }
    if (spec.kind == MetricKind::kInfo && !ends_with(n, "_info")) {
        return fail("info names end in _info");
    }
    for (std::string_view reserved : {"_bucket", "_sum", "_count"}) {
        if (ends_with(n, reserved)) {
            return fail("names must not end in " + std::string(reserved) +
                        " (reserved for histogram series)");
        }
    }
    if (spec.help.empty() || spec.help.find_first_of("\\\n\r") != std::string::npos) {
        return fail("help must be one non-empty line without backslashes");
    }
    for (size_t i = 0; i < spec.labels.size(); ++i) {
        const std::string& l = spec.labels[i];
        if (!is_snake(l) || (l[0] >= '0' && l[0] <= '9')) {
            return fail("label \"" + l + "\" is not lower snake_case");
        }
        if (l == "le" || l == "quantile") {
            return fail("label \"" + l + "\" is reserved");
        }
        if (std::find(spec.labels.begin() + static_cast<std::ptrdiff_t>(i) + 1, spec.labels.end(),
                      l) != spec.labels.end()) {
            return fail("label \"" + l + "\" given twice");
        }
    }
    return {};
}

bool SampleWriter::set_labels(std::span<const std::string_view> values,
                              prometheus::ClientMetric& m) {
    if (values.size() != spec_.labels.size()) {
        ++errors_;
        return false;
    }
    m.label.reserve(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
        m.label.push_back({spec_.labels[i], std::string(values[i])});
    }
    return true;
}

void SampleWriter::add(std::initializer_list<std::string_view> values, double value) {
    prometheus::ClientMetric m;
    if (!set_labels(std::span<const std::string_view>(values.begin(), values.size()), m)) {
        return;
    }
    switch (spec_.kind) {
        case MetricKind::kCounter:
            m.counter.value = value;
            break;
        case MetricKind::kGauge:
        case MetricKind::kInfo:
            m.gauge.value = value;
            break;
        case MetricKind::kHistogram:
            ++errors_;  // histograms take add_histogram()
            return;
    }
    family_.metric.push_back(std::move(m));
}

void SampleWriter::add(std::span<const std::string> values, double value) {
    std::vector<std::string_view> views(values.begin(), values.end());
    prometheus::ClientMetric m;
    if (!set_labels(views, m)) {
        return;
    }
    if (spec_.kind == MetricKind::kCounter) {
        m.counter.value = value;
    } else if (spec_.kind != MetricKind::kHistogram) {
        m.gauge.value = value;
    } else {
        ++errors_;
        return;
    }
    family_.metric.push_back(std::move(m));
}

void SampleWriter::add_histogram(std::initializer_list<std::string_view> values,
                                 std::span<const double> bounds, std::span<const uint64_t> counts,
                                 double sum) {
    prometheus::ClientMetric m;
    if (spec_.kind != MetricKind::kHistogram || counts.size() != bounds.size() + 1 ||
        !std::is_sorted(bounds.begin(), bounds.end())) {
        ++errors_;
        return;
    }
    if (!set_labels(std::span<const std::string_view>(values.begin(), values.size()), m)) {
        return;
    }
    uint64_t cumulative = 0;
    for (size_t i = 0; i < counts.size(); ++i) {
        cumulative += counts[i];
        double bound = i < bounds.size() ? bounds[i] : std::numeric_limits<double>::infinity();
        m.histogram.bucket.push_back({cumulative, bound});
    }
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = sum;
    family_.metric.push_back(std::move(m));
}

core::Result<void> Registry::add(FamilySpec spec, Provider provider) {
    if (auto ok = check_family(spec); !ok) {
        return ok;
    }
    if (!provider) {
        return core::make_error("metric " + spec.name + ": no provider");
    }
    std::lock_guard lock(mutex_);
    for (const Entry& e : entries_) {
        if (e.spec.name == spec.name) {
            return core::make_error("metric " + spec.name + ": registered twice");
        }
    }
    entries_.push_back({std::move(spec), std::move(provider)});
    return {};
}

std::vector<prometheus::MetricFamily> Registry::Collect() const {
    std::lock_guard lock(mutex_);
    std::vector<prometheus::MetricFamily> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) {
        prometheus::MetricFamily family;
        family.name = e.spec.name;
        family.help = e.spec.help;
        family.type = prometheus_type(e.spec.kind);
        SampleWriter writer(e.spec, family);
        e.provider(writer);
        if (writer.errors() > 0) {
            sample_errors_.fetch_add(writer.errors());
        }
        out.push_back(std::move(family));
    }
    return out;
}

std::string Registry::render() const {
    std::ostringstream out;
    prometheus::TextSerializer().Serialize(out, Collect());
    return out.str();
}

std::vector<FamilySpec> Registry::families() const {
    std::lock_guard lock(mutex_);
    std::vector<FamilySpec> out;
    out.reserve(entries_.size());
    for (const Entry& e : entries_) {
        out.push_back(e.spec);
    }
    return out;
}

}  // namespace sensor::metrics
