#include "sensor/app/metrics_setup.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "rules/rule_set.h"
#include "sensor/core/concepts.h"
#include "sensor/core/sha256.h"
#include "sensor/decode/drop_reason.h"
#include "sensor/detect/signature_db.h"
#include "tests/unit/metrics/http_client.h"

namespace sensor::app {
namespace {

using metrics::testing::http_get;

// ---- frames: Ethernet II + IPv4 + UDP or TCP, checksums left zero (validation is off) ----

std::vector<uint8_t> ipv4_frame(uint8_t proto, uint8_t src_host, uint8_t dst_host, uint16_t sport,
                                uint16_t dport, uint8_t tcp_flags) {
    std::vector<uint8_t> f = {
        0x02,
        0,
        0,
        0,
        0,
        0x02,  // destination MAC
        0x02,
        0,
        0,
        0,
        0,
        0x01,  // source MAC
        0x08,
        0x00,  // EtherType IPv4
        0x45,
        0x00,
        0,
        0,  // version 4, IHL 5, TOS, total length (set below)
        0x12,
        0x34,
        0x40,
        0x00,  // id, DF, fragment offset 0
        64,
        proto,
        0,
        0,  // TTL, protocol, header checksum
        10,
        0,
        0,
        src_host,  // source address
        10,
        0,
        1,
        dst_host,  // destination address
        static_cast<uint8_t>(sport >> 8),
        static_cast<uint8_t>(sport),
        static_cast<uint8_t>(dport >> 8),
        static_cast<uint8_t>(dport),
    };
    if (proto == 17) {
        f.insert(f.end(), {0, 16, 0, 0});  // UDP length 8 + 8 payload, checksum 0
        f.insert(f.end(), {'p', 'a', 'y', 'l', 'o', 'a', 'd', '!'});
    } else {
        f.insert(f.end(), {0, 0, 0, 1,                // sequence number
                           0, 0, 0, 0,                // acknowledgement number
                           0x50, tcp_flags,           // data offset 5, flags
                           0xff, 0xff, 0, 0, 0, 0});  // window, checksum, urgent pointer
    }
    const size_t ip_len = f.size() - 14;
    f[16] = static_cast<uint8_t>(ip_len >> 8);
    f[17] = static_cast<uint8_t>(ip_len);
    return f;
}

void push(core::FrameBatch& batch, const std::vector<uint8_t>& frame, int64_t ts_us) {
    ASSERT_TRUE(batch.push(frame, static_cast<uint32_t>(frame.size()), ts_us, 1 /* DLT_EN10MB */,
                           batch.size() + 1, 0));
}

// ---- exposition parsing ----

using Samples = std::map<std::string, double>;  // "name{labels}" as rendered -> value

Samples parse_exposition(const std::string& text) {
    Samples out;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') {
            continue;
        }
        size_t space = line.rfind(' ');
        out[line.substr(0, space)] = std::stod(line.substr(space + 1));
    }
    return out;
}

std::set<std::string> typed_names(const std::string& text) {
    std::set<std::string> names;
    std::regex type_line("^# TYPE ([a-z0-9_]+) ");
    std::istringstream in(text);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, type_line)) {
            names.insert(m[1]);
        }
    }
    return names;
}

std::string slurp(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::ostringstream s;
    s << f.rdbuf();
    return s.str();
}

class MetricsSetupTest : public ::testing::Test {
protected:
    void SetUp() override {
        config_.decode.validate_checksums = false;
        config_.flow.max_flows = 256;
        config_.builtin.scan_ports = 3;  // three SYNs to distinct ports make a scan
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>());
        ASSERT_TRUE(db) << db.error().message;
        pipeline::BuiltinRule scan;
        scan.sid = detect::kPortScanSid;
        scan.msg = "scan";
        scan.severity = 2;
        scan.concepts = {"threat.02", "crime.10"};
        w1_ = std::make_unique<pipeline::Worker>(config_, *db,
                                                 std::vector<pipeline::BuiltinRule>{scan});
        w2_ = std::make_unique<pipeline::Worker>(config_, *db,
                                                 std::vector<pipeline::BuiltinRule>{scan});
        dir_ = std::filesystem::temp_directory_path() /
               ("metrics_setup_" + std::to_string(getpid()) + "_" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }

    // Worker 1: two UDP flows and one truncated frame; worker 2: a three-port SYN scan.
    void run_traffic() {
        core::FrameBatch b1;
        const int64_t t0 = 1'767'600'000'000'000;
        push(b1, ipv4_frame(17, 1, 1, 40000, 53, 0), t0);
        push(b1, ipv4_frame(17, 1, 1, 40000, 53, 0), t0 + 10);
        push(b1, ipv4_frame(17, 2, 1, 40001, 123, 0), t0 + 20);
        push(b1, std::vector<uint8_t>(10, 0xAA), t0 + 30);  // shorter than an Ethernet header
        w1_->process(b1);
        core::FrameBatch b2;
        for (uint16_t port : {22, 23, 80}) {
            push(b2, ipv4_frame(6, 9, 5, 50000, port, 0x02 /* SYN */), t0 + port);
        }
        w2_->process(b2);
        w1_->finish();
        w2_->finish();
        // What the pipeline's output stage does with the alerts it writes.
        for (auto* w : {w1_.get(), w2_.get()}) {
            for (const auto& alert : w->output().alerts) {
                pipeline::count_written_alert(pipeline_, alert);
            }
            w->output().clear();
        }
    }

    MetricsSources sources() {
        MetricsSources s;
        s.workers = {w1_.get(), w2_.get()};
        s.pipeline = &pipeline_;
        s.version = "9.8.7-test";
        s.worker_config = config_;
        s.rules.sha256 = std::string(64, 'a');
        s.rules.files = {"one.rules", "two.rules"};
        s.rules.loaded = 12;
        s.rules.unsupported = 3;
        s.rules.failed = 1;
        s.rule_load.last_ts = 1'767'600'123;
        s.rule_load.last_ok = true;
        s.rule_load.last_duration_s = 0.25;
        return s;
    }

    pipeline::WorkerConfig config_;
    std::unique_ptr<pipeline::Worker> w1_;
    std::unique_ptr<pipeline::Worker> w2_;
    pipeline::PipelineStats pipeline_;
    std::filesystem::path dir_;
};

TEST_F(MetricsSetupTest, SumsRealWorkersAtScrapeTime) {
    pipeline_.source_count = 3;
    pipeline_.source_names[0] = "eth0";
    pipeline_.sources[0].packets.add(7);
    pipeline_.sources[0].bytes.add(700);
    pipeline_.sources[0].kernel_drops.add(2);
    pipeline_.sources[0].last_packet_ts_us.set(1'767'600'000'500'000);
    // The same name twice (one file replayed twice): one series, summed, newest time kept.
    pipeline_.source_names[1] = "a.pcap";
    pipeline_.sources[1].packets.add(10);
    pipeline_.sources[1].last_packet_ts_us.set(2'000'000);
    pipeline_.source_names[2] = "a.pcap";
    pipeline_.sources[2].packets.add(5);
    pipeline_.sources[2].last_packet_ts_us.set(1'000'000);
    pipeline_.worker_count = 2;
    pipeline_.enqueued[0].add(4);
    pipeline_.enqueued[1].add(3);
    pipeline_.ring_full_drops[1].add(5);
    pipeline_.ring_depth[1].set(6);
    pipeline_.ring_capacity = 128;
    pipeline_.eve_written.add(9);

    const std::string file = (dir_ / "metrics.prom").string();
    auto svc = MetricsService::start(MetricsOptions{"127.0.0.1:0", file, 0, ""}, sources());
    ASSERT_TRUE(svc) << svc.error().message;
    ASSERT_NE((*svc)->port(), 0);
    EXPECT_EQ((*svc)->listen_address(), "127.0.0.1:" + std::to_string((*svc)->port()));

    // Counters are read at scrape time: traffic after start shows up.
    run_traffic();
    auto reply = http_get((*svc)->port(), "/metrics");
    ASSERT_EQ(reply.status, 200);
    Samples s = parse_exposition(reply.body);

    const auto& ws1 = w1_->stats();
    const auto& ws2 = w2_->stats();
    EXPECT_EQ(s.at("sensor_worker_frames_total"), 7);
    EXPECT_EQ(s.at("sensor_worker_frames_total"),
              static_cast<double>(ws1.frames.load() + ws2.frames.load()));
    EXPECT_EQ(s.at("sensor_worker_packets_analysed_total"), 6);
    EXPECT_EQ(s.at("sensor_decode_decoded_total"),
              static_cast<double>(w1_->decoder().stats().decoded.load() +
                                  w2_->decoder().stats().decoded.load()));
    double dropped = 0;
    for (size_t i = 0; i < decode::kDropReasonCount; ++i) {
        const std::string key = "sensor_decode_dropped_total{reason=\"" +
                                std::string(decode::kDropReasonNames[i]) + "\"}";
        ASSERT_TRUE(s.count(key)) << key;  // every reason present, zero or not
        EXPECT_EQ(s.at(key), static_cast<double>(w1_->decoder().stats().dropped[i].load()));
        dropped += s.at(key);
    }
    EXPECT_EQ(dropped, 1);

    // Flows: 2 UDP + 3 TCP probes, all ended at shutdown by finish().
    EXPECT_EQ(s.at("sensor_flow_created_total"), 5);
    EXPECT_EQ(s.at("sensor_flow_ended_total{reason=\"shutdown\"}"), 5);
    EXPECT_EQ(s.at("sensor_flow_ended_total{reason=\"timeout\"}"), 0);
    EXPECT_EQ(s.at("sensor_flow_active"), 0);
    EXPECT_EQ(s.at("sensor_flow_records_total"), 5);
    EXPECT_EQ(s.at("sensor_flow_capacity"), 2.0 * 256);
    double by_app = 0;
    for (const auto& [key, value] : s) {
        if (key.rfind("sensor_flow_app_proto_total{", 0) == 0) {
            EXPECT_NE(key.find("app_proto=\""), std::string::npos);
            EXPECT_NE(key.find("ndpi_protocol=\""), std::string::npos);
            by_app += value;
        }
    }
    EXPECT_EQ(by_app, 5);

    // One scan alert on worker 2, counted in both of its Concept categories.
    EXPECT_EQ(s.at("sensor_alert_generated_total"), 1);
    EXPECT_EQ(s.at("sensor_alert_concept_total{concept=\"threat.02\"}"), 1);
    EXPECT_EQ(s.at("sensor_alert_concept_total{concept=\"crime.10\"}"), 1);
    EXPECT_EQ(s.at("sensor_alert_concept_total{concept=\"threat.01\"}"), 0);
    for (std::string_view id : core::kConceptIds) {
        EXPECT_TRUE(s.count("sensor_alert_concept_total{concept=\"" + std::string(id) + "\"}"));
    }
    EXPECT_EQ(s.at("sensor_alert_severity_total{severity=\"2\"}"), 1);
    EXPECT_EQ(s.at("sensor_detect_builtin_alerts_total{detector=\"port_scan\"}"), 1);

    // Pipeline and capture, per source and per worker.
    EXPECT_EQ(s.at("sensor_capture_packets_total{source=\"eth0\"}"), 7);
    EXPECT_EQ(s.at("sensor_capture_bytes_total{source=\"eth0\"}"), 700);
    EXPECT_EQ(s.at("sensor_capture_kernel_dropped_total{source=\"eth0\"}"), 2);
    EXPECT_DOUBLE_EQ(s.at("sensor_capture_last_packet_timestamp_seconds{source=\"eth0\"}"),
                     1767600000.5);
    EXPECT_EQ(s.at("sensor_capture_packets_total{source=\"a.pcap\"}"), 15);
    EXPECT_EQ(s.at("sensor_capture_last_packet_timestamp_seconds{source=\"a.pcap\"}"), 2);
    EXPECT_EQ(s.at("sensor_pipeline_enqueued_total{worker=\"0\"}"), 4);
    EXPECT_EQ(s.at("sensor_pipeline_ring_dropped_total{worker=\"1\"}"), 5);
    EXPECT_EQ(s.at("sensor_pipeline_ring_depth{worker=\"1\"}"), 6);
    EXPECT_EQ(s.count("sensor_pipeline_ring_depth{worker=\"2\"}"), 0u);
    EXPECT_EQ(s.at("sensor_pipeline_ring_capacity"), 128);
    EXPECT_EQ(s.at("sensor_output_written_total{output=\"eve\"}"), 9);

    // Histogram over both workers' batches.
    EXPECT_EQ(s.at("sensor_worker_batch_duration_seconds_count"), 2);
    EXPECT_EQ(s.at("sensor_worker_batch_duration_seconds_bucket{le=\"+Inf\"}"), 2);
    // Busy time per worker, in the order of the workers; together the histogram's sum.
    const double busy0 = s.at("sensor_worker_busy_seconds_total{worker=\"0\"}");
    const double busy1 = s.at("sensor_worker_busy_seconds_total{worker=\"1\"}");
    EXPECT_DOUBLE_EQ(busy0, static_cast<double>(w1_->stats().batch_latency_sum_ns.load()) / 1e9);
    EXPECT_DOUBLE_EQ(busy1, static_cast<double>(w2_->stats().batch_latency_sum_ns.load()) / 1e9);
    EXPECT_GT(busy0, 0);
    EXPECT_GT(busy1, 0);
    EXPECT_NEAR(busy0 + busy1, s.at("sensor_worker_batch_duration_seconds_sum"), 1e-9);
    EXPECT_EQ(s.count("sensor_worker_busy_seconds_total{worker=\"2\"}"), 0u);

    // Rules, memory, build.
    EXPECT_EQ(s.at("sensor_rules_info{ruleset_sha256=\"" + std::string(64, 'a') + "\"}"), 1);
    EXPECT_EQ(s.at("sensor_rules_loaded"), 12);
    EXPECT_EQ(s.at("sensor_rules_unsupported"), 3);
    EXPECT_EQ(s.at("sensor_rules_failed"), 1);
    EXPECT_EQ(s.at("sensor_rules_files"), 2);
    EXPECT_EQ(s.at("sensor_rules_last_reload_timestamp_seconds"), 1767600123);
    EXPECT_EQ(s.at("sensor_rules_last_reload_success"), 1);
    EXPECT_EQ(s.at("sensor_rules_last_reload_duration_seconds"), 0.25);
    EXPECT_EQ(s.at("sensor_rules_reloads_total{result=\"ok\"}"), 0);  // both, from the start
    EXPECT_EQ(s.at("sensor_rules_reloads_total{result=\"failed\"}"), 0);
    EXPECT_EQ(s.at("sensor_memory_limit_bytes{component=\"flow_table\"}"),
              2.0 * 256 * static_cast<double>(flow::FlowTable::slot_bytes()));
    EXPECT_EQ(s.at("sensor_memory_limit_bytes{component=\"defrag\"}"),
              2.0 * static_cast<double>(config_.decode.defrag_memcap_bytes));
    EXPECT_EQ(s.at("sensor_memory_used_bytes{component=\"flow_table\"}"), 0);
    EXPECT_EQ(s.at("sensor_memory_limit_bytes{component=\"applayer\"}"),
              2.0 * static_cast<double>(config_.applayer.memcap_bytes));
    EXPECT_EQ(s.at("sensor_memory_used_bytes{component=\"applayer\"}"),
              static_cast<double>(w1_->app_layer().stats().memory_bytes.load() +
                                  w2_->app_layer().stats().memory_bytes.load()));
    // Gauges from a module table (no _total) are typed as gauges.
    EXPECT_NE(reply.body.find("# TYPE sensor_applayer_http_parsers_active gauge"),
              std::string::npos);
    EXPECT_GT(s.at("sensor_memory_used_bytes{component=\"detect\"}"), 0);
    bool build_info = false;
    for (const auto& [key, value] : s) {
        if (key.rfind("sensor_build_info{version=\"9.8.7-test\",ndpi_version=\"", 0) == 0) {
            build_info = value == 1;
        }
    }
    EXPECT_TRUE(build_info) << reply.body;
    EXPECT_EQ(s.at("sensor_metrics_sample_errors_total"), 0);

    // A refused reload: success 0, its time, duration and count; the running rules stay.
    RuleReload refused;
    refused.ok = false;
    refused.ts = 1'767'600'200;
    refused.duration_s = 0.5;
    (*svc)->record_reload(refused);
    Samples after = parse_exposition(http_get((*svc)->port(), "/metrics").body);
    EXPECT_EQ(after.at("sensor_rules_last_reload_success"), 0);
    EXPECT_EQ(after.at("sensor_rules_last_reload_timestamp_seconds"), 1767600200);
    EXPECT_EQ(after.at("sensor_rules_last_reload_duration_seconds"), 0.5);
    EXPECT_EQ(after.at("sensor_rules_reloads_total{result=\"failed\"}"), 1);
    EXPECT_EQ(after.at("sensor_rules_reloads_total{result=\"ok\"}"), 0);
    EXPECT_EQ(after.at("sensor_rules_info{ruleset_sha256=\"" + std::string(64, 'a') + "\"}"), 1);
    EXPECT_EQ(after.at("sensor_rules_loaded"), 12);
    EXPECT_EQ(after.at("sensor_rules_files"), 2);

    // A successful reload replaces the rule information and sets success back to 1.
    RuleReload reloaded;
    reloaded.ok = true;
    reloaded.ts = 1'767'600'300;
    reloaded.duration_s = 1.5;
    reloaded.rules = sources().rules;
    reloaded.rules->sha256 = std::string(64, 'b');
    reloaded.rules->loaded = 13;
    (*svc)->record_reload(reloaded);
    after = parse_exposition(http_get((*svc)->port(), "/metrics").body);
    EXPECT_EQ(after.count("sensor_rules_info{ruleset_sha256=\"" + std::string(64, 'a') + "\"}"),
              0u);
    EXPECT_EQ(after.at("sensor_rules_info{ruleset_sha256=\"" + std::string(64, 'b') + "\"}"), 1);
    EXPECT_EQ(after.at("sensor_rules_loaded"), 13);
    EXPECT_EQ(after.at("sensor_rules_last_reload_success"), 1);
    EXPECT_EQ(after.at("sensor_rules_last_reload_timestamp_seconds"), 1767600300);
    EXPECT_EQ(after.at("sensor_rules_last_reload_duration_seconds"), 1.5);
    EXPECT_EQ(after.at("sensor_rules_reloads_total{result=\"ok\"}"), 1);
    EXPECT_EQ(after.at("sensor_rules_reloads_total{result=\"failed\"}"), 1);

    // The file holds what a scrape shows once written at the end.
    ASSERT_TRUE((*svc)->write_file());
    Samples from_file = parse_exposition(slurp(file));
    EXPECT_EQ(from_file.at("sensor_worker_frames_total"), 7);
    EXPECT_EQ(from_file.at("sensor_alert_concept_total{concept=\"crime.10\"}"), 1);
    EXPECT_EQ(typed_names(slurp(file)), typed_names(reply.body));
}

TEST_F(MetricsSetupTest, ServesHealthAndAlertsHook) {
    auto svc = MetricsService::start(MetricsOptions{"127.0.0.1:0", "", 10, ""}, sources());
    ASSERT_TRUE(svc) << svc.error().message;
    auto health = http_get((*svc)->port(), "/healthz");
    EXPECT_EQ(health.status, 200);
    EXPECT_EQ(health.body, "ok\n");
    EXPECT_EQ(http_get((*svc)->port(), "/alerts").status, 404);
    (*svc)->set_alerts_handler([](const metrics::HttpRequest&) {
        return metrics::HttpResponse{200, "application/json", "[]"};
    });
    auto alerts = http_get((*svc)->port(), "/alerts");
    EXPECT_EQ(alerts.status, 200);
    EXPECT_EQ(alerts.body, "[]");
    EXPECT_TRUE((*svc)->write_file());  // no file configured: nothing to do
}

TEST_F(MetricsSetupTest, BasicAuthOnMetricsNotOnHealth) {
    const std::string auth = (dir_ / "auth").string();
    std::ofstream(auth) << "prom:pw\n";
    auto svc = MetricsService::start(MetricsOptions{"127.0.0.1:0", "", 10, auth}, sources());
    ASSERT_TRUE(svc) << svc.error().message;
    EXPECT_EQ(http_get((*svc)->port(), "/metrics").status, 401);
    auto ok = http_get((*svc)->port(), "/metrics", "Authorization: Basic cHJvbTpwdw==\r\n");
    EXPECT_EQ(ok.status, 200);
    EXPECT_NE(ok.body.find("sensor_worker_frames_total 0\n"), std::string::npos);
    EXPECT_EQ(http_get((*svc)->port(), "/healthz").status, 200);
    (*svc)->set_alerts_handler([](const metrics::HttpRequest&) {
        return metrics::HttpResponse{200, "application/json", "[]"};
    });
    EXPECT_EQ(http_get((*svc)->port(), "/alerts").status, 401);
}

TEST_F(MetricsSetupTest, StartFailsEarlyOnBadFileOrListen) {
    auto bad_file = MetricsService::start(
        MetricsOptions{"", (dir_ / "no/such/m.prom").string(), 10, ""}, sources());
    ASSERT_FALSE(bad_file);
    EXPECT_NE(bad_file.error().message.find("cannot create"), std::string::npos);
    auto bad_listen = MetricsService::start(MetricsOptions{"nowhere:1", "", 10, ""}, sources());
    ASSERT_FALSE(bad_listen);
    auto nothing = MetricsService::start(MetricsOptions{}, sources());
    ASSERT_TRUE(nothing);
    EXPECT_EQ((*nothing)->port(), 0);
    EXPECT_EQ((*nothing)->listen_address(), "");
}

TEST_F(MetricsSetupTest, PeriodicFileDuringTheRun) {
    const std::string file = (dir_ / "m.prom").string();
    auto svc = MetricsService::start(MetricsOptions{"", file, 1, ""}, sources());
    ASSERT_TRUE(svc) << svc.error().message;
    // Written once at start, then every second: the traffic below appears without write_file.
    EXPECT_NE(slurp(file).find("sensor_worker_frames_total 0\n"), std::string::npos);
    run_traffic();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (slurp(file).find("sensor_worker_frames_total 7\n") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_NE(slurp(file).find("sensor_worker_frames_total 7\n"), std::string::npos);
}

TEST_F(MetricsSetupTest, RuleSetInfoHashesTheLoadedFilesInLoadOrder) {
    std::filesystem::create_directories(dir_ / "set" / "sub");
    std::ofstream(dir_ / "set" / "b.rules") << "alert b\n";
    std::ofstream(dir_ / "set" / "a.rules") << "alert a\n";
    std::ofstream(dir_ / "set" / "notes.txt") << "not a rule file\n";
    std::ofstream(dir_ / "set" / "sub" / "c.rules") << "not read: not recursive\n";
    std::ofstream(dir_ / "local.rules") << "alert local\n";
    rules::LoadReport report;
    report.loaded = 5;
    report.unsupported.resize(2);
    report.errors.resize(1);
    auto info =
        make_rule_set_info({(dir_ / "local.rules").string(), (dir_ / "set").string()}, report);
    ASSERT_TRUE(info) << info.error().message;
    const std::vector<std::string> files = {(dir_ / "local.rules").string(),
                                            (dir_ / "set" / "a.rules").string(),
                                            (dir_ / "set" / "b.rules").string()};
    EXPECT_EQ(info->files, files);
    EXPECT_EQ(info->sha256, *core::sha256_files(files));
    EXPECT_EQ(info->loaded, 5u);
    EXPECT_EQ(info->unsupported, 2u);
    EXPECT_EQ(info->failed, 1u);
    auto missing = make_rule_set_info({(dir_ / "gone.rules").string()}, report);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("gone.rules: cannot read"), std::string::npos);
}

// ---- the metric set as a whole: names, docs, dashboards and promtool ----

class MetricSetTest : public MetricsSetupTest {
protected:
    void SetUp() override {
        MetricsSetupTest::SetUp();
        auto st = register_sensor_metrics(registry_, sources());
        ASSERT_TRUE(st) << st.error().message;
        state_ = *st;
    }
    // Every series name a query may use: family names plus histogram series.
    std::set<std::string> series_names() const {
        std::set<std::string> names;
        for (const auto& f : registry_.families()) {
            names.insert(f.name);
            if (f.kind == metrics::MetricKind::kHistogram) {
                for (const char* suffix : {"_bucket", "_sum", "_count"}) {
                    names.insert(f.name + suffix);
                }
            }
        }
        return names;
    }
    metrics::Registry registry_;
    std::shared_ptr<MetricsState> state_;
};

TEST_F(MetricSetTest, NamesFollowTheConventionAndAreUnique) {
    const auto families = registry_.families();
    EXPECT_GE(families.size(), 60u);
    std::set<std::string> seen;
    std::regex name_re("^sensor_[a-z0-9_]+$");
    for (const auto& f : families) {
        EXPECT_TRUE(std::regex_match(f.name, name_re)) << f.name;
        EXPECT_TRUE(seen.insert(f.name).second) << "duplicate " << f.name;
        EXPECT_TRUE(metrics::check_family(f)) << f.name;
        EXPECT_EQ(f.kind == metrics::MetricKind::kCounter,
                  f.name.size() > 6 && f.name.substr(f.name.size() - 6) == "_total")
            << f.name;
        // Unbounded label values are not allowed: no addresses, ports or rule ids.
        for (const auto& l : f.labels) {
            EXPECT_EQ(l.find("ip"), std::string::npos) << f.name << " " << l;
            EXPECT_EQ(l.find("port"), std::string::npos) << f.name << " " << l;
            EXPECT_NE(l, "sid");
        }
    }
    // Every module table is exported under its own names.
    for (const auto& spec : decode::kDecodeCounters) {
        EXPECT_TRUE(seen.count(std::string(spec.name))) << spec.name;
    }
    for (const auto& spec : classify::kClassifyCounters) {
        EXPECT_TRUE(seen.count(std::string(spec.name))) << spec.name;
    }
    for (const auto& spec : detect::kDetectCounters) {
        EXPECT_TRUE(seen.count(std::string(spec.name))) << spec.name;
    }
    // A second registration of the set into the same registry must fail on duplicates.
    EXPECT_FALSE(register_sensor_metrics(registry_, sources()));
}

// docs/metrics.md has one table row per family: | `name` | type | `label`, ... | help |
TEST_F(MetricSetTest, DocsListEveryMetricWithTypeAndLabels) {
    const std::string docs =
        slurp(std::filesystem::path(SENSOR_SOURCE_DIR) / "docs" / "metrics.md");
    ASSERT_FALSE(docs.empty()) << "docs/metrics.md missing";
    std::map<std::string, std::pair<std::string, std::string>> rows;  // name -> type, labels
    std::regex row_re(R"(^\| `(sensor_[a-z0-9_]+)` \| ([a-z]+) \| ([^|]*) \|)");
    std::istringstream in(docs);
    std::string line;
    std::smatch m;
    while (std::getline(in, line)) {
        if (std::regex_search(line, m, row_re)) {
            std::string labels = m[3];
            labels.erase(labels.find_last_not_of(' ') + 1);
            EXPECT_TRUE(rows.emplace(m[1], std::make_pair(m[2], labels)).second)
                << "documented twice: " << m[1];
        }
    }
    for (const auto& f : registry_.families()) {
        auto it = rows.find(f.name);
        if (it == rows.end()) {
            ADD_FAILURE() << "not in docs/metrics.md: " << f.name;
            continue;
        }
        EXPECT_EQ(it->second.first, metrics::kind_name(f.kind)) << f.name;
        std::string labels;
        for (const auto& l : f.labels) {
            labels += (labels.empty() ? "`" : ", `") + l + "`";
        }
        EXPECT_EQ(it->second.second, labels.empty() ? "-" : labels) << f.name;
        rows.erase(it);
    }
    for (const auto& [name, unused] : rows) {
        ADD_FAILURE() << "docs/metrics.md documents an unknown metric: " << name;
    }
}

// Metric names used by the shipped Prometheus rules and Grafana dashboard must exist.
std::set<std::string> metric_refs(const std::string& text) {
    std::set<std::string> refs;
    std::regex ref_re("sensor_[a-z0-9_]+");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), ref_re);
         it != std::sregex_iterator(); ++it) {
        refs.insert(it->str());
    }
    return refs;
}

TEST_F(MetricSetTest, DeployedQueriesUseExistingMetrics) {
    const auto names = series_names();
    const std::filesystem::path root(SENSOR_SOURCE_DIR);
    size_t files = 0;
    for (const char* sub : {"deploy/prometheus", "deploy/grafana"}) {
        ASSERT_TRUE(std::filesystem::is_directory(root / sub)) << sub;
        for (const auto& entry : std::filesystem::directory_iterator(root / sub)) {
            const auto ext = entry.path().extension();
            if (ext != ".yml" && ext != ".yaml" && ext != ".json") {
                continue;
            }
            ++files;
            std::string text = slurp(entry.path());
            std::string exprs;
            if (ext == ".json") {
                // Only PromQL in the dashboard counts, not titles or descriptions.
                auto j = nlohmann::json::parse(text);
                std::function<void(const nlohmann::json&)> walk = [&](const nlohmann::json& v) {
                    if (v.is_object()) {
                        for (auto it = v.begin(); it != v.end(); ++it) {
                            if ((it.key() == "expr" || it.key() == "query") &&
                                it.value().is_string()) {
                                exprs += it.value().get<std::string>() + "\n";
                            } else {
                                walk(it.value());
                            }
                        }
                    } else if (v.is_array()) {
                        for (const auto& x : v) {
                            walk(x);
                        }
                    }
                };
                walk(j);
                EXPECT_FALSE(exprs.empty()) << entry.path();
            } else {
                exprs = text;
            }
            for (const std::string& ref : metric_refs(exprs)) {
                // Prometheus rule names ("sensor:..." recording rules) never match the regex;
                // alert names are CamelCase. Every sensor_ token must be a real series.
                EXPECT_TRUE(names.count(ref)) << entry.path().filename() << " uses unknown " << ref;
            }
        }
    }
    EXPECT_GE(files, 3u);
}

TEST_F(MetricSetTest, PromtoolAcceptsTheExposition) {
#ifndef SENSOR_PROMTOOL
    GTEST_SKIP() << "promtool not found at configure time";
#else
    run_traffic();
    const std::string path = (dir_ / "metrics.prom").string();
    std::ofstream(path) << registry_.render();
    const std::string cmd = std::string(SENSOR_PROMTOOL) + " check metrics < " + path + " 2>&1";
    std::FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof(buf), p) != nullptr) {
        out += buf;
    }
    int status = ::pclose(p);
    EXPECT_EQ(status, 0) << out;
#endif
}

}  // namespace
}  // namespace sensor::app
