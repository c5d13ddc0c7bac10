// Comparing the errors of two load reports, for deciding whether a reload may go ahead.

#include <map>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "rules/rule_set.h"

namespace sensor::rules {

namespace {

// "file:12: text" or "file:12:7: text" -> "text"; anything else is returned whole.
std::string_view message_without_position(const LoadIssue& issue) {
    std::string_view m = issue.message;
    if (issue.file.empty() || !m.starts_with(issue.file) || m.size() <= issue.file.size() ||
        m[issue.file.size()] != ':') {
        return m;
    }
    std::string_view rest = m.substr(issue.file.size() + 1);
    for (int number = 0; number < 2; ++number) {
        size_t digits = 0;
        while (digits < rest.size() && rest[digits] >= '0' && rest[digits] <= '9') {
            ++digits;
        }
        if (digits == 0) {
            break;
        }
        rest.remove_prefix(digits);
        if (rest.starts_with(": ")) {
            return rest.substr(2);
        }
        if (!rest.starts_with(':')) {
            return m;
        }
        rest.remove_prefix(1);
    }
    return m;
}

using ErrorKey = std::tuple<std::string_view, std::string_view, std::string_view>;

ErrorKey key_of(const LoadIssue& issue) {
    return {issue.file, issue.keyword, message_without_position(issue)};
}

}  // namespace

std::vector<LoadIssue> new_errors(const LoadReport& running, const LoadReport& candidate) {
    std::map<ErrorKey, size_t> known;
    for (const auto& issue : running.errors) {
        ++known[key_of(issue)];
    }
    std::vector<LoadIssue> added;
    for (const auto& issue : candidate.errors) {
        auto it = known.find(key_of(issue));
        if (it != known.end() && it->second > 0) {
            --it->second;
        } else {
            added.push_back(issue);
        }
    }
    return added;
}

}  // namespace sensor::rules
