#include "sensor/metrics/registry.h"

#include <gtest/gtest.h>

#include <array>
#include <span>
#include <string>
#include <vector>

#include "sensor/core/counter.h"

namespace sensor::metrics {
namespace {

FamilySpec spec(std::string name, MetricKind kind = MetricKind::kCounter,
                std::vector<std::string> labels = {}) {
    return FamilySpec{std::move(name), "Some help", kind, std::move(labels)};
}

TEST(CheckFamily, AcceptsConventionalNames) {
    EXPECT_TRUE(
        check_family(spec("sensor_decode_dropped_total", MetricKind::kCounter, {"reason"})));
    EXPECT_TRUE(check_family(spec("sensor_flow_active", MetricKind::kGauge)));
    EXPECT_TRUE(check_family(spec("sensor_worker_batch_duration_seconds", MetricKind::kHistogram)));
    EXPECT_TRUE(check_family(spec("sensor_build_info", MetricKind::kInfo, {"version"})));
}

TEST(CheckFamily, RejectsBadNames) {
    const std::vector<FamilySpec> bad = {
        spec("decode_dropped_total"),                          // no sensor_ prefix
        spec("sensor_"),                                       // nothing after the prefix
        spec("sensor_Decode_total"),                           // upper case
        spec("sensor_decode__dropped_total"),                  // double underscore
        spec("sensor_decode-dropped_total"),                   // dash
        spec("sensor_decode_dropped"),                         // counter without _total
        spec("sensor_flow_active_total", MetricKind::kGauge),  // gauge with _total
        spec("sensor_build", MetricKind::kInfo),               // info without _info
        spec("sensor_latency_seconds_total", MetricKind::kHistogram),
        spec("sensor_flow_count", MetricKind::kGauge),  // reserved histogram suffix
        spec("sensor_flow_sum", MetricKind::kGauge),
        spec("sensor_flow_bucket", MetricKind::kGauge),
        spec("sensor_x_total", MetricKind::kCounter, {"Reason"}),
        spec("sensor_x_total", MetricKind::kCounter, {"le"}),
        spec("sensor_x_total", MetricKind::kCounter, {"a", "a"}),
        spec("sensor_x_total", MetricKind::kCounter, {"_a"}),
        spec("sensor_x_total", MetricKind::kCounter, {"1a"}),
    };
    for (const FamilySpec& s : bad) {
        auto r = check_family(s);
        EXPECT_FALSE(r) << s.name;
        if (!r) {
            EXPECT_NE(r.error().message.find(s.name), std::string::npos) << r.error().message;
        }
    }
    FamilySpec no_help = spec("sensor_x_total");
    no_help.help.clear();
    EXPECT_FALSE(check_family(no_help));
    FamilySpec two_lines = spec("sensor_x_total");
    two_lines.help = "one\ntwo";
    EXPECT_FALSE(check_family(two_lines));
    FamilySpec backslash = spec("sensor_x_total");
    backslash.help = "a \\ b";  // the serializer would not escape it
    EXPECT_FALSE(check_family(backslash));
}

TEST(Registry, RefusesDuplicatesAndBadNames) {
    Registry r;
    auto noop = [](SampleWriter&) {};
    ASSERT_TRUE(r.add(spec("sensor_a_total"), noop));
    auto again = r.add(spec("sensor_a_total"), noop);
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().message, "metric sensor_a_total: registered twice");
    EXPECT_FALSE(r.add(spec("sensor_b"), noop));
    EXPECT_FALSE(r.add(spec("sensor_c_total"), nullptr));
    EXPECT_EQ(r.families().size(), 1u);
}

// Two "workers" with their own counters, as the pipeline keeps them: the provider sums them
// when the scrape happens, so later increments show in the next scrape.
struct FakeStats {
    core::Counter packets;
    std::array<core::Counter, 2> dropped;
};

TEST(Registry, SumsCountersAtScrapeTime) {
    FakeStats w1, w2;
    std::vector<const FakeStats*> workers = {&w1, &w2};
    Registry r;
    ASSERT_TRUE(r.add(spec("sensor_test_packets_total"), [&workers](SampleWriter& w) {
        uint64_t n = 0;
        for (const FakeStats* s : workers) {
            n += s->packets.load();
        }
        w.add(static_cast<double>(n));
    }));
    ASSERT_TRUE(
        r.add(spec("sensor_test_dropped_total", MetricKind::kCounter, {"reason"}),
              [&workers](SampleWriter& w) {
                  static constexpr std::array<std::string_view, 2> kNames = {"short", "bad"};
                  for (size_t i = 0; i < kNames.size(); ++i) {
                      uint64_t n = 0;
                      for (const FakeStats* s : workers) {
                          n += s->dropped[i].load();
                      }
                      w.add({kNames[i]}, static_cast<double>(n));
                  }
              }));
    w1.packets.add(3);
    w2.packets.add(4);
    w1.dropped[1].add(2);
    w2.dropped[1].add(5);
    auto families = r.Collect();
    ASSERT_EQ(families.size(), 2u);
    EXPECT_EQ(families[0].name, "sensor_test_packets_total");
    EXPECT_EQ(families[0].type, prometheus::MetricType::Counter);
    ASSERT_EQ(families[0].metric.size(), 1u);
    EXPECT_EQ(families[0].metric[0].counter.value, 7);
    ASSERT_EQ(families[1].metric.size(), 2u);
    EXPECT_EQ(families[1].metric[1].label.at(0).name, "reason");
    EXPECT_EQ(families[1].metric[1].label.at(0).value, "bad");
    EXPECT_EQ(families[1].metric[1].counter.value, 7);
    EXPECT_EQ(families[1].metric[0].counter.value, 0);

    w2.packets.add(10);
    std::string text = r.render();
    EXPECT_NE(text.find("# TYPE sensor_test_packets_total counter\nsensor_test_packets_total 17\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("sensor_test_dropped_total{reason=\"bad\"} 7\n"), std::string::npos)
        << text;
    EXPECT_EQ(r.sample_errors(), 0u);
}

TEST(Registry, CountsSamplesWithTheWrongLabels) {
    Registry r;
    ASSERT_TRUE(
        r.add(spec("sensor_test_total", MetricKind::kCounter, {"a", "b"}), [](SampleWriter& w) {
            w.add({"x"}, 1);       // one label short: left out
            w.add({"x", "y"}, 2);  // right
            w.add(3);              // no labels: left out
        }));
    auto families = r.Collect();
    ASSERT_EQ(families[0].metric.size(), 1u);
    EXPECT_EQ(families[0].metric[0].counter.value, 2);
    EXPECT_EQ(r.sample_errors(), 2u);
}

TEST(Registry, RendersHistogramsCumulatively) {
    Registry r;
    const std::array<double, 2> bounds = {0.001, 0.01};
    const std::array<uint64_t, 3> counts = {4, 0, 1};  // non-cumulative, last above 0.01
    ASSERT_TRUE(r.add(spec("sensor_test_duration_seconds", MetricKind::kHistogram),
                      [&](SampleWriter& w) { w.add_histogram({}, bounds, counts, 0.25); }));
    std::string text = r.render();
    EXPECT_NE(text.find("# TYPE sensor_test_duration_seconds histogram"), std::string::npos);
    EXPECT_NE(text.find("sensor_test_duration_seconds_bucket{le=\"0.001\"} 4\n"), std::string::npos)
        << text;
    EXPECT_NE(text.find("sensor_test_duration_seconds_bucket{le=\"0.01\"} 4\n"), std::string::npos);
    EXPECT_NE(text.find("sensor_test_duration_seconds_bucket{le=\"+Inf\"} 5\n"), std::string::npos);
    EXPECT_NE(text.find("sensor_test_duration_seconds_count 5\n"), std::string::npos);
    EXPECT_NE(text.find("sensor_test_duration_seconds_sum 0.25\n"), std::string::npos);

    // Mismatched bucket count is a provider bug: no sample.
    Registry bad;
    const std::array<uint64_t, 2> short_counts = {1, 2};
    ASSERT_TRUE(bad.add(spec("sensor_test_duration_seconds", MetricKind::kHistogram),
                        [&](SampleWriter& w) { w.add_histogram({}, bounds, short_counts, 0); }));
    EXPECT_TRUE(bad.Collect()[0].metric.empty());
    EXPECT_EQ(bad.sample_errors(), 1u);
}

TEST(Registry, InfoFamiliesAreGaugesOfOne) {
    Registry r;
    ASSERT_TRUE(r.add(spec("sensor_test_info", MetricKind::kInfo, {"version"}),
                      [](SampleWriter& w) { w.add({"1.2.3"}, 1); }));
    std::string text = r.render();
    EXPECT_NE(text.find("# TYPE sensor_test_info gauge\nsensor_test_info{version=\"1.2.3\"} 1\n"),
              std::string::npos)
        << text;
}

TEST(Registry, EscapesLabelValues) {
    Registry r;
    ASSERT_TRUE(r.add(spec("sensor_test_total", MetricKind::kCounter, {"source"}),
                      [](SampleWriter& w) { w.add({"a\"b\\c\nd"}, 1); }));
    EXPECT_NE(r.render().find(R"(sensor_test_total{source="a\"b\\c\nd"} 1)"), std::string::npos)
        << r.render();
}

}  // namespace
}  // namespace sensor::metrics
