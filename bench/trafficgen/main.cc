// trafficgen: writes a deterministic pcap of a simulated office/ICS site (benign mix and
// attack scenarios) for the sensor's sample capture, tests and benchmarks.

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "bench/trafficgen/generator.h"

int main(int argc, char** argv) {
    using sensor::trafficgen::Options;
    Options options;
    std::string out;
    std::string scenario = "all";

    CLI::App app{"Deterministic traffic generator: benign office/ICS mix and attack scenarios"};
    app.add_option("-o,--output", out, "pcap file to write")->required();
    app.add_option("--seed", options.seed, "PRNG seed; same arguments give the same bytes");
    app.add_option("--scenario", scenario,
                   "all|benign|eicar|c2|sqli|modbus-write|portscan|synflood|split");
    app.add_option("--benign-flows", options.benign_flows, "benign sessions (default 400)")
        ->check(CLI::Range(0, 1'000'000));
    app.add_option("--start", options.start_seconds,
                   "capture start, epoch seconds (default 2026-01-05T08:00:00Z)")
        ->check(CLI::Range(int64_t{0}, int64_t{4'000'000'000}));
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : 2;
    }

    auto parsed = sensor::trafficgen::parse_scenario(scenario);
    if (!parsed) {
        std::fprintf(stderr, "trafficgen: %s\n", parsed.error().message.c_str());
        return 2;
    }
    options.scenario = *parsed;

    const auto capture = sensor::trafficgen::generate(options);
    if (auto written = sensor::trafficgen::write_pcap(capture, out); !written) {
        std::fprintf(stderr, "trafficgen: %s\n", written.error().message.c_str());
        return 1;
    }
    std::printf("trafficgen: %s: %s\n", out.c_str(),
                sensor::trafficgen::format_summary(capture.summary).c_str());
    return 0;
}
