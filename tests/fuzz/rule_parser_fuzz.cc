// Fuzzes the rule loader: arbitrary text through parse_rules_text, the load report and the
// Hyperscan compilation of whatever loaded. Nothing may crash, leak or trip a sanitizer.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "rules/compiled_rules.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"

namespace {

const sensor::rules::Taxonomy& fuzz_taxonomy() {
    static const sensor::rules::Taxonomy taxonomy = [] {
        auto t = sensor::rules::Taxonomy::from_text(
            "config classification: trojan-activity,A Network Trojan was detected,1\n"
            "config classification: misc-activity,Misc activity,3\n",
            "classtype\tconcepts\ntrojan-activity\tcrime.02,threat.06\n");
        if (!t) {
            std::abort();
        }
        return *t;
    }();
    return taxonomy;
}

const sensor::rules::LoadOptions& fuzz_options() {
    static const sensor::rules::LoadOptions options = [] {
        sensor::rules::LoadOptions o;
        o.address_groups["LOOP_A"] = "[10.0.0.0/8,$LOOP_B]";
        o.address_groups["LOOP_B"] = "!$LOOP_A";
        o.address_groups["V6_NET"] = "[2001:db8::/32,!2001:db8::1]";
        o.port_groups["WEB"] = "[$HTTP_PORTS,443,8000:8100,!8080]";
        return o;
    }();
    return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto set = sensor::rules::parse_rules_text(text, "fuzz.rules", fuzz_options(), fuzz_taxonomy());
    if (!set) {
        return 0;
    }
    const auto& report = set->report();
    if (report.loaded + report.unsupported.size() + report.errors.size() != report.rules_seen) {
        std::abort();  // every rule line must land in exactly one bucket
    }
    (void)sensor::rules::format_load_report(report);
    for (const auto& rule : set->rules()) {
        if (rule.sid == 0) {
            std::abort();
        }
        for (const auto& content : rule.contents) {
            if (content.bytes.empty()) {
                std::abort();
            }
        }
    }
    if (!set->rules().empty()) {
        auto compiled = sensor::rules::CompiledRules::compile(*set);
        if (!compiled) {
            std::abort();  // literal patterns must always compile
        }
    }
    return 0;
}
