// Fuzzes the rule loader: arbitrary text through parse_rules_text, the load report and the
// Hyperscan compilation of whatever loaded (contents and pcre prefilters), checking the
// invariants the detector relies on. Nothing may crash, leak or trip a sanitizer.

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
            if (content.bytes.empty() ||
                size_t{content.fp_offset} + content.fp_length > content.bytes.size()) {
                std::abort();
            }
        }
        // Every inspection keyword sits in exactly one buffer list, in range.
        size_t listed = 0;
        for (const auto& list : rule.lists) {
            for (const auto& item : list.items) {
                using Kind = sensor::rules::Item::Kind;
                const size_t n = item.kind == Kind::kContent    ? rule.contents.size()
                                 : item.kind == Kind::kPcre     ? rule.pcres.size()
                                 : item.kind == Kind::kByteOp   ? rule.byte_ops.size()
                                 : item.kind == Kind::kIsdataat ? rule.isdataats.size()
                                                                : rule.lengths.size();
                if (item.index >= n) {
                    std::abort();
                }
                ++listed;
            }
        }
        if (listed != rule.items.size()) {
            std::abort();
        }
        for (const auto& pcre : rule.pcres) {
            if (!pcre.regex.valid()) {
                std::abort();  // a pcre that does not compile is a rule error
            }
        }
        for (const auto& op : rule.byte_ops) {
            if (op.var >= 0 && static_cast<size_t>(op.var) >= rule.byte_vars.size()) {
                std::abort();
            }
        }
        for (const auto& bits : rule.flowbits) {
            for (uint16_t id : bits.ids) {
                if (id >= set->flowbit_names().size()) {
                    std::abort();
                }
            }
        }
    }
    if (!set->rules().empty()) {
        auto compiled = sensor::rules::CompiledRules::compile(*set);
        if (!compiled) {
            std::abort();  // literals always compile; a failing pcre prefilter is left out
        }
    }
    return 0;
}
