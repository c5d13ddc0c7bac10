#pragma once
// Registry: the sensor's metric families, each a name, help, type, label names and a
// provider that reads plain counters when a scrape happens. Filled on the control thread;
// Collect() runs on the HTTP or file-writer thread. The hot path never sees this code.

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sensor/core/result.h"

namespace sensor::metrics {

enum class MetricKind : uint8_t {
    kCounter,
    kGauge,
    kHistogram,
    kInfo,  // rendered as a gauge of value 1 whose labels carry the information
};

std::string_view kind_name(MetricKind kind) noexcept;

struct FamilySpec {
    std::string name;
    std::string help;
    MetricKind kind = MetricKind::kCounter;
    std::vector<std::string> labels;  // label names, in the order SampleWriter takes values
};

// Checks a family against the naming rules: ^sensor_[a-z0-9_]+$ without "__" or a trailing
// "_"; counters end in _total and nothing else does; info families end in _info; no name
// ends in _bucket, _sum or _count (they would collide with histogram series); help is one
// line without backslashes; label names are lower snake_case, unique, not "le"/"quantile".
core::Result<void> check_family(const FamilySpec& spec);

// Handed to a provider during a scrape; appends the family's samples.
class SampleWriter {
public:
    SampleWriter(const FamilySpec& spec, prometheus::MetricFamily& family) noexcept
        : spec_(spec), family_(family) {}

    // values: one per label name of the family, in order. A count mismatch is a bug in the
    // provider: the sample is left out and counted in errors().
    void add(std::initializer_list<std::string_view> values, double value);
    void add(std::span<const std::string> values, double value);
    void add(double value) { add({}, value); }
    // bounds: ascending finite upper bounds; counts: non-cumulative counts per bucket,
    // bounds.size() + 1 of them (the last is above every bound).
    void add_histogram(std::initializer_list<std::string_view> values,
                       std::span<const double> bounds, std::span<const uint64_t> counts,
                       double sum);

    size_t errors() const noexcept { return errors_; }

private:
    bool set_labels(std::span<const std::string_view> values, prometheus::ClientMetric& m);

    const FamilySpec& spec_;
    prometheus::MetricFamily& family_;
    size_t errors_ = 0;
};

using Provider = std::function<void(SampleWriter&)>;

class Registry final : public prometheus::Collectable {
public:
    // Refuses a family that breaks the naming rules or reuses a registered name.
    core::Result<void> add(FamilySpec spec, Provider provider);

    // Every family in registration order, including those without samples right now.
    std::vector<prometheus::MetricFamily> Collect() const override;
    // Text exposition format 0.0.4, as served on /metrics and written by --metrics-file.
    std::string render() const;

    std::vector<FamilySpec> families() const;
    // Samples left out since start because a provider gave the wrong number of labels.
    uint64_t sample_errors() const noexcept { return sample_errors_.load(); }

private:
    struct Entry {
        FamilySpec spec;
        Provider provider;
    };
    mutable std::mutex mutex_;  // guards entries_; scrapes and registration are control plane
    std::vector<Entry> entries_;
    mutable std::atomic<uint64_t> sample_errors_{0};
};

}  // namespace sensor::metrics
