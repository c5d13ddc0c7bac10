// scrape_bench: the cost of one /metrics scrape for 1, 4 and 16 workers. The workers have
// processed a generated capture (so label sets such as app_proto and risk are realistic);
// each iteration then sums their counters through the sensor's Collectable (Collect), renders
// the text exposition (Collect + prometheus-cpp's TextSerializer), or fetches /metrics from the
// real HTTP listener on loopback (one connection per scrape, as HTTP/1.0). Counters report the
// families, samples and bytes of one scrape.

#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/bench_input.h"
#include "bench/common/bench_main.h"
#include "sensor/app/metrics_setup.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/pipeline_stats.h"
#include "sensor/pipeline/worker.h"

namespace sensor::bench {
namespace {

constexpr uint32_t kBenignSessions = 200;

[[noreturn]] void fail(const std::string& what) {
    std::fprintf(stderr, "scrape_bench: %s\n", what.c_str());
    std::exit(2);
}

// N workers that each processed the same generated capture, with pipeline counters to match.
class Sensor {
public:
    explicit Sensor(size_t workers) {
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>());
        if (!db) {
            fail(db.error().message);
        }
        const CaptureImage& image = capture();
        pipeline::WorkerConfig config;
        config.flow.max_flows = 4096;
        for (size_t i = 0; i < workers; ++i) {
            workers_.push_back(std::make_unique<pipeline::Worker>(
                config, *db, std::vector<pipeline::BuiltinRule>{}));
            core::FrameBatch batch;
            for (const core::Frame& f : image.frames) {
                if (batch.full()) {
                    workers_.back()->process(batch);
                    workers_.back()->output().clear();
                    batch.clear();
                }
                if (!batch.push(f)) {
                    fail("a generated frame does not fit a batch");
                }
            }
            workers_.back()->process(batch);
            workers_.back()->finish();
            workers_.back()->output().clear();
            stats_.enqueued[i].add(image.frames.size());
        }
        stats_.worker_count = workers;
        stats_.source_count = 1;
        stats_.source_names[0] = "trafficgen";
        stats_.sources[0].packets.add(image.frames.size() * workers);
    }

    app::MetricsSources sources() const {
        app::MetricsSources s;
        for (const auto& w : workers_) {
            s.workers.push_back(w.get());
        }
        s.pipeline = &stats_;
        s.rules.sha256 = std::string(64, '0');
        s.version = "bench";
        return s;
    }

private:
    static const CaptureImage& capture() {
        static const CaptureImage image = generated_capture(kBenignSessions);
        return image;
    }

    std::vector<std::unique_ptr<pipeline::Worker>> workers_;
    pipeline::PipelineStats stats_;
};

Sensor& sensor(size_t workers) {
    static std::map<size_t, std::unique_ptr<Sensor>> sensors;
    auto& s = sensors[workers];
    if (s == nullptr) {
        s = std::make_unique<Sensor>(workers);
    }
    return *s;
}

void report(benchmark::State& state, const metrics::Registry& registry, size_t bytes) {
    size_t samples = 0;
    const auto families = registry.Collect();
    for (const auto& f : families) {
        samples += f.metric.size();
    }
    state.counters["families"] = static_cast<double>(families.size());
    state.counters["samples"] = static_cast<double>(samples);
    state.counters["bytes_per_scrape"] = static_cast<double>(bytes);
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_Collect(benchmark::State& state) {
    metrics::Registry registry;
    auto st = app::register_sensor_metrics(registry, sensor(state.range(0)).sources());
    if (!st) {
        fail(st.error().message);
    }
    for (auto _ : state) {
        auto families = registry.Collect();
        benchmark::DoNotOptimize(families.data());
    }
    report(state, registry, registry.render().size());
}

void BM_Render(benchmark::State& state) {
    metrics::Registry registry;
    auto st = app::register_sensor_metrics(registry, sensor(state.range(0)).sources());
    if (!st) {
        fail(st.error().message);
    }
    size_t bytes = 0;
    for (auto _ : state) {
        std::string text = registry.render();
        bytes = text.size();
        benchmark::DoNotOptimize(text.data());
    }
    report(state, registry, bytes);
}

// One HTTP/1.0 GET on a fresh loopback connection; returns the whole response's size, 0 when
// the answer is not 200.
size_t http_get(uint16_t port, const char* path) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return 0;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return 0;
    }
    const std::string request = std::string("GET ") + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
        ::close(fd);
        return 0;
    }
    std::string head;
    size_t total = 0;
    char buf[16384];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) {
            break;
        }
        if (head.size() < 12) {
            head.append(buf, static_cast<size_t>(std::min<ssize_t>(n, 12)));
        }
        total += static_cast<size_t>(n);
    }
    ::close(fd);
    return head.rfind("HTTP/1.", 0) == 0 && head.substr(9, 3) == "200" ? total : 0;
}

void BM_HttpScrape(benchmark::State& state) {
    app::MetricsOptions options;
    options.listen = "127.0.0.1:0";
    auto svc = app::MetricsService::start(options, sensor(state.range(0)).sources());
    if (!svc) {
        fail(svc.error().message);
    }
    const uint16_t port = (*svc)->port();
    size_t bytes = 0;
    for (auto _ : state) {
        bytes = http_get(port, "/metrics");
        if (bytes == 0) {
            state.SkipWithError("GET /metrics failed");
            break;
        }
    }
    report(state, (*svc)->registry(), bytes);
}

BENCHMARK(BM_Collect)->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Render)->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_HttpScrape)->Arg(1)->Arg(4)->Arg(16)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
}  // namespace sensor::bench

int main(int argc, char** argv) {
    try {
        return sensor::bench::run_benchmarks(argc, argv,
                                             "trafficgen (" +
                                                 std::to_string(sensor::bench::kBenignSessions) +
                                                 " benign sessions) per worker");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
