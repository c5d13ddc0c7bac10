// sensor-limit: the throughput ceiling a single worker is measured against. For one capture
// and one rule set it times (a) libpcap reading the file and touching every captured byte,
// and (b) a raw Hyperscan block-mode scan of every TCP/UDP payload with the rule set's
// payload prefilter database, then reports the combined limit 1 / (1/a + 1/b) in packets/s.
// Payloads are decoded and copied before timing: only hs_scan calls are timed in (b).

#include <hs.h>
#include <pcap/pcap.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "bench/common/bench_input.h"
#include "bench/common/guarded_main.h"
#include "bench/common/json_file.h"
#include "rules/compiled_rules.h"
#include "sensor/core/thread_cpu.h"

namespace sensor::bench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double median(std::vector<double> v) {
    if (v.empty()) {
        return 0;
    }
    std::sort(v.begin(), v.end());
    size_t mid = v.size() / 2;
    return v.size() % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

struct ReadPass {
    double seconds = 0;
    double cpu_seconds = 0;
    uint64_t packets = 0;
    uint64_t bytes = 0;
    uint64_t checksum = 0;  // keeps the byte loop from being optimised away
};

// One pass of libpcap over the file; every captured byte is read once.
core::Result<ReadPass> read_pass(const std::string& path) {
    ReadPass pass;
    const auto start = Clock::now();
    const double cpu_start = sensor::core::thread_cpu_seconds();
    char errbuf[PCAP_ERRBUF_SIZE] = {};
    pcap_t* handle = pcap_open_offline(path.c_str(), errbuf);
    if (handle == nullptr) {
        return core::make_error(path + ": cannot open capture: " + errbuf);
    }
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    int rc = 0;
    uint64_t sum = 0;
    while ((rc = pcap_next_ex(handle, &header, &data)) == 1) {
        for (uint32_t i = 0; i < header->caplen; ++i) {
            sum += data[i];
        }
        ++pass.packets;
        pass.bytes += header->caplen;
    }
    if (rc == PCAP_ERROR) {
        std::string msg = path + ": packet " + std::to_string(pass.packets + 1) +
                          ": cannot read: " + pcap_geterr(handle);
        pcap_close(handle);
        return core::make_error(msg);
    }
    pcap_close(handle);
    pass.seconds = seconds_since(start);
    pass.cpu_seconds = sensor::core::thread_cpu_seconds() - cpu_start;
    pass.checksum = sum;
    return pass;
}

int count_match(unsigned int, unsigned long long, unsigned long long, unsigned int, void* context) {
    ++*static_cast<uint64_t*>(context);
    return 0;  // keep scanning, as the sensor's prefilter does
}

struct ScanPass {
    double seconds = 0;
    double cpu_seconds = 0;
    uint64_t matches = 0;
    uint64_t errors = 0;
};

ScanPass scan_pass(const hs_database_t* db, hs_scratch_t* scratch, const PayloadCorpus& corpus) {
    ScanPass pass;
    const auto start = Clock::now();
    const double cpu_start = sensor::core::thread_cpu_seconds();
    for (size_t i = 0; i < corpus.count(); ++i) {
        hs_error_t rc = hs_scan(db, reinterpret_cast<const char*>(corpus.data(i)),
                                static_cast<unsigned int>(corpus.size(i)), 0, scratch, count_match,
                                &pass.matches);
        if (rc != HS_SUCCESS) {
            ++pass.errors;
        }
    }
    pass.seconds = seconds_since(start);
    pass.cpu_seconds = sensor::core::thread_cpu_seconds() - cpu_start;
    return pass;
}

struct Options {
    std::string pcap;
    std::vector<std::string> rule_paths;
    std::string data_dir = default_rules_data_dir();
    int passes = 5;
    std::string json_path;
};

double rate(double count, double seconds) { return seconds > 0 ? count / seconds : 0; }

int run(const Options& opt) {
    const auto load_start = Clock::now();
    auto rules = load_rules(opt.rule_paths, opt.data_dir);
    if (!rules) {
        std::fprintf(stderr, "sensor-limit: %s\n", rules.error().message.c_str());
        return 2;
    }
    const double load_s = seconds_since(load_start);
    const auto compile_start = Clock::now();
    // The limit scans every payload fast pattern of the rule set in one database, unsplit.
    rules::CompileOptions compile_options;
    compile_options.union_payload = true;
    auto compiled = rules::CompiledRules::compile(**rules, compile_options);
    if (!compiled) {
        std::fprintf(stderr, "sensor-limit: %s\n", compiled.error().message.c_str());
        return 2;
    }
    const double compile_s = seconds_since(compile_start);
    const hs_database_t* db = (*compiled)->payload_union_database();
    const hs_database_t* pcre_db = (*compiled)->payload_union_pcre_database();

    auto image = load_capture(opt.pcap);
    if (!image) {
        std::fprintf(stderr, "sensor-limit: %s\n", image.error().message.c_str());
        return 2;
    }
    const PayloadCorpus corpus = extract_payloads(*image);
    const double packets = static_cast<double>(image->frames.size());
    const double payload_bytes = static_cast<double>(corpus.bytes.size());

    hs_scratch_t* scratch = nullptr;
    for (const hs_database_t* d : {db, pcre_db}) {
        if (d != nullptr && hs_alloc_scratch(d, &scratch) != HS_SUCCESS) {
            std::fprintf(stderr, "sensor-limit: hs_alloc_scratch failed\n");
            return 2;
        }
    }

    std::vector<double> read_s;
    std::vector<double> read_cpu_s;
    std::vector<double> scan_s;
    std::vector<double> scan_cpu_s;
    std::vector<double> pcre_s;
    uint64_t matches = 0;
    uint64_t pcre_matches = 0;
    uint64_t scan_errors = 0;
    uint64_t checksum = 0;
    for (int pass = 0; pass < opt.passes; ++pass) {
        auto r = read_pass(opt.pcap);
        if (!r) {
            std::fprintf(stderr, "sensor-limit: %s\n", r.error().message.c_str());
            hs_free_scratch(scratch);
            return 1;
        }
        read_s.push_back(r->seconds);
        read_cpu_s.push_back(r->cpu_seconds);
        checksum ^= r->checksum;
        if (db != nullptr) {
            ScanPass s = scan_pass(db, scratch, corpus);
            scan_s.push_back(s.seconds);
            scan_cpu_s.push_back(s.cpu_seconds);
            matches = s.matches;
            scan_errors += s.errors;
        }
        if (pcre_db != nullptr) {
            ScanPass s = scan_pass(pcre_db, scratch, corpus);
            pcre_s.push_back(s.seconds);
            pcre_matches = s.matches;
            scan_errors += s.errors;
        }
    }
    hs_free_scratch(scratch);

    const double read_med = median(read_s);
    const double scan_med = median(scan_s);
    const double read_pps = rate(packets, read_med);
    const double scan_pps = scan_med > 0 ? rate(packets, scan_med) : 0;
    // Without a payload database there is nothing to scan: the limit is the read rate.
    const double limit_pps = scan_med > 0 ? packets / (read_med + scan_med) : read_pps;
    const double read_cpu_med = median(read_cpu_s);
    const double scan_cpu_med = median(scan_cpu_s);
    const double limit_cpu_pps = rate(packets, read_cpu_med + scan_cpu_med);

    size_t db_bytes = 0;
    if (db != nullptr) {
        hs_database_size(db, &db_bytes);
    }
    nlohmann::json j;
    j["pcap"] = opt.pcap;
    j["rules"] = opt.rule_paths;
    j["passes"] = opt.passes;
    j["packets"] = image->frames.size();
    j["captured_bytes"] = image->captured_bytes();
    j["startup"] = {{"rule_load_s", load_s}, {"compile_s", compile_s}};
    j["rule_set"] = {{"loaded", (*rules)->size()},
                     {"prefiltered", (*compiled)->prefiltered().size()},
                     // Rules without a pattern, evaluated for every packet by the sensor.
                     {"always_candidates", (*compiled)->always_candidates().size()},
                     {"payload_db_bytes", db_bytes},
                     {"all_db_bytes", (*compiled)->database_bytes()}};
    j["read"] = {{"seconds_median", read_med},
                 {"seconds", read_s},
                 {"cpu_seconds_median", read_cpu_med},
                 {"cpu_seconds", read_cpu_s},
                 {"packets_per_s", read_pps},
                 {"bytes_per_s", rate(static_cast<double>(image->captured_bytes()), read_med)},
                 {"checksum", checksum}};
    j["scan"] = {{"payloads", corpus.count()},
                 {"payload_bytes", corpus.bytes.size()},
                 {"seconds_median", scan_med},
                 {"seconds", scan_s},
                 {"cpu_seconds_median", scan_cpu_med},
                 {"cpu_seconds", scan_cpu_s},
                 {"packets_per_s", scan_pps},
                 {"payload_bytes_per_s", rate(payload_bytes, scan_med)},
                 {"matches_per_pass", matches},
                 {"errors", scan_errors}};
    j["scan_pcre_prefilter"] = {{"seconds_median", median(pcre_s)},
                                {"seconds", pcre_s},
                                {"matches_per_pass", pcre_matches}};
    j["limit_packets_per_s"] = limit_pps;
    j["limit_packets_per_cpu_s"] = limit_cpu_pps;

    std::printf("sensor-limit: %s\n", opt.pcap.c_str());
    std::printf("  rules     %zu loaded, %zu prefiltered (load %.2f s, compile %.2f s)\n",
                (*rules)->size(), (*compiled)->prefiltered().size(), load_s, compile_s);
    std::printf("  capture   %zu packets, %zu bytes; %zu TCP/UDP payloads, %zu payload bytes\n",
                image->frames.size(), image->bytes.size(), corpus.count(), corpus.bytes.size());
    std::printf("  (a) read  %.4f s median of %d, %.0f packets/s, %.1f MB/s\n", read_med,
                opt.passes, read_pps,
                rate(static_cast<double>(image->captured_bytes()), read_med) / 1e6);
    std::printf(
        "  (b) scan  %.4f s median of %d, %.0f packets/s, %.1f MB/s payload, %llu "
        "matches/pass\n",
        scan_med, opt.passes, scan_pps, rate(payload_bytes, scan_med) / 1e6,
        static_cast<unsigned long long>(matches));
    std::printf("  (pcre prefilter db, not in the limit) %.4f s median\n", median(pcre_s));
    std::printf("  limit     %.0f packets/s = 1 / (1/a + 1/b); %.0f per CPU second\n", limit_pps,
                limit_cpu_pps);

    if (!opt.json_path.empty()) {
        if (!write_json_file("sensor-limit", opt.json_path, j)) {
            return 1;
        }
    }
    return 0;
}

}  // namespace
}  // namespace sensor::bench

namespace {

int run_main(int argc, char** argv) {
    sensor::bench::Options opt;
    CLI::App cli{"sensor-limit: libpcap read + raw Hyperscan scan limit for one capture"};
    cli.add_option("-r", opt.pcap, "Capture file")->required()->type_name("PCAP");
    cli.add_option("-S", opt.rule_paths, "Rule file or directory (repeatable)")
        ->required()
        ->type_name("PATH");
    cli.add_option("--data-dir", opt.data_dir, "Taxonomy data (classification, concept map)");
    cli.add_option("--passes", opt.passes, "Timed passes; medians are reported")
        ->check(CLI::Range(1, 1000));
    cli.add_option("--json", opt.json_path, "Also write the results as JSON to this file");
    CLI11_PARSE(cli, argc, argv);
    return sensor::bench::run(opt);
}

}  // namespace

int main(int argc, char** argv) {
    return sensor::bench::guarded_main("sensor-limit", run_main, argc, argv);
}
