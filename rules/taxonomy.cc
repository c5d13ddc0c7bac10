#include "rules/taxonomy.h"

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <utility>

#include "sensor/core/read_file.h"

namespace sensor::rules {

namespace {

constexpr std::string_view kClassFile = "classification.config";
constexpr std::string_view kMapFile = "concept-map.tsv";
constexpr int kMaxPriority = 255;

struct ConceptFamily {
    std::string_view prefix;
    int last;
};
constexpr ConceptFamily kConceptFamilies[] = {{"threat.", 15}, {"crime.", 10}};

std::string_view trim(std::string_view s) {
    constexpr std::string_view kSpace = " \t\r\f\v";
    const size_t first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos) {
        return {};
    }
    const size_t last = s.find_last_not_of(kSpace);
    return s.substr(first, last - first + 1);
}

// Calls fn(line_number, line) for each line; line numbers start at 1.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
    size_t line_no = 0;
    while (!text.empty()) {
        ++line_no;
        const size_t nl = text.find('\n');
        fn(line_no, text.substr(0, nl));
        if (nl == std::string_view::npos) {
            break;
        }
        text.remove_prefix(nl + 1);
    }
}

std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> parts;
    while (true) {
        const size_t pos = s.find(sep);
        parts.push_back(s.substr(0, pos));
        if (pos == std::string_view::npos) {
            return parts;
        }
        s.remove_prefix(pos + 1);
    }
}

bool valid_classtype_name(std::string_view name) {
    if (name.empty()) {
        return false;
    }
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_';
    });
}

// Consumes `word` at the start of `s` (after blanks); false when it is not there.
bool consume(std::string_view& s, std::string_view word) {
    s = trim(s);
    if (s.substr(0, word.size()) != word) {
        return false;
    }
    s.remove_prefix(word.size());
    return true;
}

class ErrorList {
public:
    void add(std::string_view label, size_t line, std::string_view message) {
        if (!text_.empty()) {
            text_ += '\n';
        }
        text_.append(label).append(":").append(std::to_string(line)).append(": ");
        text_.append(message);
    }
    bool empty() const { return text_.empty(); }
    std::string take() { return std::move(text_); }

private:
    std::string text_;
};

std::string quoted(std::string_view s) { return "'" + std::string(s) + "'"; }

void parse_classifications(std::string_view text, std::string_view label,
                           std::map<std::string, Classification, std::less<>>& out,
                           ErrorList& errors) {
    for_each_line(text, [&](size_t line_no, std::string_view line) {
        std::string_view rest = trim(line);
        if (rest.empty() || rest.front() == '#') {
            return;
        }
        if (!consume(rest, "config") || !consume(rest, "classification") || !consume(rest, ":")) {
            errors.add(label, line_no,
                       "expected 'config classification: name,description,priority'");
            return;
        }
        rest = trim(rest);
        const size_t first_comma = rest.find(',');
        const size_t last_comma = rest.rfind(',');
        if (first_comma == std::string_view::npos || first_comma == last_comma) {
            errors.add(label, line_no, "expected 'name,description,priority' after ':'");
            return;
        }
        const std::string_view name = trim(rest.substr(0, first_comma));
        const std::string_view description =
            trim(rest.substr(first_comma + 1, last_comma - first_comma - 1));
        const std::string_view priority_text = trim(rest.substr(last_comma + 1));
        if (!valid_classtype_name(name)) {
            errors.add(
                label, line_no,
                "invalid classtype name " + quoted(name) + " (letters, digits, '-' and '_' only)");
            return;
        }
        if (description.empty()) {
            errors.add(label, line_no, "empty description for classtype " + quoted(name));
            return;
        }
        int priority = 0;
        const char* end = priority_text.data() + priority_text.size();
        const auto [ptr, ec] = std::from_chars(priority_text.data(), end, priority);
        if (ec != std::errc() || ptr != end || priority < 1 || priority > kMaxPriority) {
            errors.add(label, line_no,
                       "priority " + quoted(priority_text) + " is not an integer from 1 to " +
                           std::to_string(kMaxPriority));
            return;
        }
        if (out.find(name) != out.end()) {
            errors.add(label, line_no, "duplicate classtype " + quoted(name));
            return;
        }
        out.emplace(std::string(name),
                    Classification{std::string(name), std::string(description), priority});
    });
}

void parse_concept_map(std::string_view text, std::string_view label,
                       const std::map<std::string, Classification, std::less<>>& classes,
                       std::map<std::string, std::vector<std::string>, std::less<>>& out,
                       ErrorList& errors) {
    bool header_seen = false;
    for_each_line(text, [&](size_t line_no, std::string_view line) {
        const std::string_view content = trim(line.substr(0, line.find('#')));
        if (content.empty()) {
            return;
        }
        std::vector<std::string_view> fields = split(content, '\t');
        for (std::string_view& field : fields) {
            field = trim(field);
        }
        if (!header_seen) {
            header_seen = true;
            if (fields.size() == 2 && fields[0] == "classtype" && fields[1] == "concepts") {
                return;
            }
            errors.add(label, line_no, "expected the header 'classtype<TAB>concepts'");
        }
        if (fields.size() != 2 || fields[0].empty() || fields[1].empty()) {
            errors.add(label, line_no,
                       "expected 2 tab-separated fields (classtype, concepts), got " +
                           std::to_string(fields.size()));
            return;
        }
        const std::string_view classtype = fields[0];
        if (classes.find(classtype) == classes.end()) {
            errors.add(label, line_no,
                       "classtype " + quoted(classtype) + " is not in " + std::string(kClassFile));
            return;
        }
        if (out.find(classtype) != out.end()) {
            errors.add(label, line_no, "duplicate classtype " + quoted(classtype));
            return;
        }
        std::vector<std::string> ids;
        bool ok = true;
        for (std::string_view id : split(fields[1], ',')) {
            id = trim(id);
            if (!Taxonomy::is_known_concept(id)) {
                errors.add(label, line_no,
                           "unknown concept id " + quoted(id) +
                               " (expected threat.01..threat.15 or crime.01..crime.10)");
                ok = false;
            } else if (std::find(ids.begin(), ids.end(), id) != ids.end()) {
                errors.add(label, line_no, "repeated concept id " + quoted(id));
                ok = false;
            } else {
                ids.emplace_back(id);
            }
        }
        if (ok) {
            out.emplace(std::string(classtype), std::move(ids));
        }
    });
    if (!header_seen) {
        errors.add(label, 1, "expected the header 'classtype<TAB>concepts'");
    }
}

// Parses both tables; returns every error, one per line, or an empty string.
std::string parse_tables(std::string_view class_text, std::string_view class_label,
                         std::string_view map_text, std::string_view map_label,
                         std::map<std::string, Classification, std::less<>>& classes,
                         std::map<std::string, std::vector<std::string>, std::less<>>& map) {
    ErrorList errors;
    parse_classifications(class_text, class_label, classes, errors);
    parse_concept_map(map_text, map_label, classes, map, errors);
    return errors.take();
}

}  // namespace

core::Result<Taxonomy> Taxonomy::from_text(std::string_view classification_text,
                                           std::string_view concept_map_text) {
    Taxonomy taxonomy;
    std::string errors = parse_tables(classification_text, kClassFile, concept_map_text, kMapFile,
                                      taxonomy.classes_, taxonomy.concepts_);
    if (!errors.empty()) {
        return core::make_error(std::move(errors));
    }
    return taxonomy;
}

core::Result<Taxonomy> Taxonomy::load(const std::string& data_dir) {
    const std::filesystem::path dir(data_dir);
    const std::string class_path = (dir / kClassFile).string();
    const std::string map_path = (dir / kMapFile).string();
    core::Result<std::string> class_text = core::read_file(class_path);
    core::Result<std::string> map_text = core::read_file(map_path);
    if (!class_text || !map_text) {
        std::string message;
        for (const core::Result<std::string>* r : {&class_text, &map_text}) {
            if (!*r) {
                message += message.empty() ? "" : "\n";
                message += r->error().message;
            }
        }
        return core::make_error(std::move(message));
    }
    Taxonomy taxonomy;
    std::string errors = parse_tables(*class_text, class_path, *map_text, map_path,
                                      taxonomy.classes_, taxonomy.concepts_);
    if (!errors.empty()) {
        return core::make_error(std::move(errors));
    }
    return taxonomy;
}

const Classification* Taxonomy::find_class(std::string_view classtype) const {
    const auto it = classes_.find(classtype);
    return it == classes_.end() ? nullptr : &it->second;
}

std::vector<std::string> Taxonomy::concepts_for(const std::vector<std::string>& metadata_concepts,
                                                std::string_view classtype) const {
    if (!metadata_concepts.empty()) {
        std::vector<std::string> ids;
        for (const std::string& id : metadata_concepts) {
            if (std::find(ids.begin(), ids.end(), id) == ids.end()) {
                ids.push_back(id);
            }
        }
        return ids;
    }
    const auto it = concepts_.find(classtype);
    if (it != concepts_.end()) {
        return it->second;
    }
    return {"unclassified"};
}

bool Taxonomy::is_known_concept(std::string_view id) {
    for (const ConceptFamily& family : kConceptFamilies) {
        if (id.size() != family.prefix.size() + 2 ||
            id.substr(0, family.prefix.size()) != family.prefix) {
            continue;
        }
        const char tens = id[family.prefix.size()];
        const char ones = id[family.prefix.size() + 1];
        if (tens < '0' || tens > '9' || ones < '0' || ones > '9') {
            return false;
        }
        const int n = (tens - '0') * 10 + (ones - '0');
        return n >= 1 && n <= family.last;
    }
    return false;
}

}  // namespace sensor::rules
