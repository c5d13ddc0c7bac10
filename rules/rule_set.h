#pragma once
// RuleSet and the loader: rule files -> parsed rules plus a LoadReport of what was loaded,
// unsupported or wrong (each with file:line). Loaded on the control thread; immutable after.

#include <cstddef>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/rule.h"
#include "rules/taxonomy.h"
#include "sensor/core/result.h"

namespace sensor::rules {

// Address and port groups by name (without `$`); they replace Suricata's defaults of the
// same name, and the other defaults stay.
struct LoadOptions {
    std::map<std::string, std::string> address_groups;
    std::map<std::string, std::string> port_groups;
};

struct LoadIssue {
    std::string file;
    int line = 0;
    std::string keyword;  // unsupported keyword, or the option an error is about ("" for header)
    std::string message;  // already prefixed "file:line: " or "file:line:col: "
};

struct LoadReport {
    size_t files = 0;
    size_t rules_seen = 0;  // rule lines (after joining continuations), comments excluded
    size_t loaded = 0;
    std::vector<LoadIssue> unsupported;  // one per skipped rule, keyword = first unsupported
    std::vector<LoadIssue> errors;       // one per rejected rule
    size_t unclassified = 0;             // loaded rules whose concepts are {"unclassified"}
};

class RuleSet {
public:
    RuleSet() = default;
    RuleSet(std::vector<Rule> rules, LoadReport report, std::vector<std::string> flowbit_names = {})
        : rules_(std::move(rules)),
          report_(std::move(report)),
          flowbit_names_(std::move(flowbit_names)) {}

    const std::vector<Rule>& rules() const noexcept { return rules_; }
    const LoadReport& report() const noexcept { return report_; }
    size_t size() const noexcept { return rules_.size(); }
    // Flowbit names by id (FlowbitOp::ids index this); numbered across all loaded files.
    const std::vector<std::string>& flowbit_names() const noexcept { return flowbit_names_; }

private:
    std::vector<Rule> rules_;
    LoadReport report_;
    std::vector<std::string> flowbit_names_;
};

// paths: rule files, or directories whose *.rules files are all loaded (sorted by name, not
// recursive). The Result is an error only when a path cannot be read at all; every problem
// with a single rule goes to the report and the rest of the file still loads.
core::Result<RuleSet> load_rule_files(const std::vector<std::string>& paths,
                                      const LoadOptions& options, const Taxonomy& taxonomy);

// The same over text in memory (tests, fuzzing); file_name is used in messages.
core::Result<RuleSet> parse_rules_text(std::string_view text, std::string_view file_name,
                                       const LoadOptions& options, const Taxonomy& taxonomy);

// Human summary for `sensor -T`: totals, unsupported keywords with counts, every error.
std::string format_load_report(const LoadReport& report);

// The errors of `candidate` that `running` does not have. Errors are compared by file, option
// and message without its "file:line[:col]: " prefix, as a multiset, because lines move when
// rules are added above a broken one. A reload may keep the errors the running rules already
// had (a stock rule set with one broken rule must stay reloadable); new ones refuse it.
std::vector<LoadIssue> new_errors(const LoadReport& running, const LoadReport& candidate);

}  // namespace sensor::rules
