#include "bench/trafficgen/generator.h"

#include <pcap/pcap.h>

#include <array>
#include <cstdio>
#include <memory>

namespace sensor::trafficgen {
namespace {

constexpr std::array<std::string_view, 9> kScenarioNames = {
    "all", "benign", "eicar", "c2", "sqli", "modbus-write", "portscan", "synflood", "split"};

struct PcapCloser {
    void operator()(pcap_t* p) const { pcap_close(p); }
};

// Each scenario draws from its own stream, so adding one leaves the others' bytes alone.
Rng scenario_rng(uint64_t seed, Scenario s) {
    return Rng(mix64(seed ^ mix64(0x7467656eULL + static_cast<uint64_t>(s))));
}

}  // namespace

core::Result<Scenario> parse_scenario(std::string_view name) {
    for (size_t i = 0; i < kScenarioNames.size(); ++i) {
        if (kScenarioNames[i] == name) {
            return static_cast<Scenario>(i);
        }
    }
    return core::make_error("--scenario: unknown scenario '" + std::string(name) + "'");
}

std::string_view scenario_name(Scenario scenario) {
    return kScenarioNames[static_cast<size_t>(scenario)];
}

Capture generate(const Options& options) {
    Network net(options.seed);
    const int64_t start_us = options.start_seconds * 1'000'000;
    Summary summary;
    const auto wants = [&](Scenario s) {
        return options.scenario == s || options.scenario == Scenario::kAll;
    };
    using AddFn = void (*)(Network&, Rng&, int64_t, Tally&);
    const std::array<std::pair<Scenario, AddFn>, 7> attacks = {{
        {Scenario::kEicar, &add_eicar},
        {Scenario::kC2, &add_c2},
        {Scenario::kSplit, &add_split},
        {Scenario::kSqli, &add_sqli},
        {Scenario::kModbusWrite, &add_modbus_write},
        {Scenario::kPortscan, &add_portscan},
        {Scenario::kSynflood, &add_synflood},
    }};
    if (wants(Scenario::kBenign)) {
        Rng rng = scenario_rng(options.seed, Scenario::kBenign);
        add_benign(net, rng, start_us, options.benign_flows, summary.tally);
    }
    for (const auto& [scenario, add] : attacks) {
        if (wants(scenario)) {
            Rng rng = scenario_rng(options.seed, scenario);
            add(net, rng, start_us, summary.tally);
        }
    }
    Capture capture;
    capture.packets = net.take_packets();
    summary.packets = capture.packets.size();
    for (const Packet& p : capture.packets) {
        summary.bytes += p.bytes.size();
    }
    summary.flows = net.flow_counts();
    capture.summary = summary;
    return capture;
}

core::Result<void> write_pcap(const Capture& capture, const std::string& path) {
    std::unique_ptr<pcap_t, PcapCloser> dead(pcap_open_dead(DLT_EN10MB, 65535));
    if (!dead) {
        return core::make_error(path + ": pcap_open_dead failed");
    }
    pcap_dumper_t* dumper = pcap_dump_open(dead.get(), path.c_str());
    if (dumper == nullptr) {
        return core::make_error(pcap_geterr(dead.get()));  // already "<path>: <reason>"
    }
    for (const Packet& p : capture.packets) {
        pcap_pkthdr hdr{};
        hdr.ts.tv_sec = static_cast<time_t>(p.ts_us / 1'000'000);
        hdr.ts.tv_usec = static_cast<suseconds_t>(p.ts_us % 1'000'000);
        hdr.caplen = static_cast<bpf_u_int32>(p.bytes.size());
        hdr.len = hdr.caplen;
        pcap_dump(reinterpret_cast<u_char*>(dumper), &hdr, p.bytes.data());
    }
    const bool failed = pcap_dump_flush(dumper) != 0 || std::ferror(pcap_dump_file(dumper)) != 0;
    pcap_dump_close(dumper);
    if (failed) {
        return core::make_error(path + ": write failed");
    }
    return {};
}

std::string format_summary(const Summary& s) {
    return std::to_string(s.packets) + " packets, " + std::to_string(s.flows.total()) +
           " flows (tcp " + std::to_string(s.flows.tcp) + ", udp " + std::to_string(s.flows.udp) +
           ", icmp " + std::to_string(s.flows.icmp) + "), " + std::to_string(s.bytes) + " bytes";
}

}  // namespace sensor::trafficgen
