// Rule text -> Rule: header, options, variables, and the per-rule accounting of the
// LoadReport. Every problem is local to its rule: the rule is skipped, the file goes on.

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/rule_set.h"
#include "rules/variables.h"

namespace sensor::rules {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

// Suricata application-layer protocol names accepted in the header, with the aliases we
// normalise (Snort's "ssl" is Suricata's "tls").
struct AppProtoName {
    std::string_view name;
    std::string_view normalised;
};
constexpr std::array kAppProtos{
    AppProtoName{"http", "http"},
    AppProtoName{"http1", "http"},
    AppProtoName{"http2", "http2"},
    AppProtoName{"ftp", "ftp"},
    AppProtoName{"ftp-data", "ftp-data"},
    AppProtoName{"smtp", "smtp"},
    AppProtoName{"tls", "tls"},
    AppProtoName{"ssl", "tls"},
    AppProtoName{"ssh", "ssh"},
    AppProtoName{"imap", "imap"},
    AppProtoName{"pop3", "pop3"},
    AppProtoName{"smb", "smb"},
    AppProtoName{"dcerpc", "dcerpc"},
    AppProtoName{"dns", "dns"},
    AppProtoName{"modbus", "modbus"},
    AppProtoName{"enip", "enip"},
    AppProtoName{"dnp3", "dnp3"},
    AppProtoName{"nfs", "nfs"},
    AppProtoName{"ntp", "ntp"},
    AppProtoName{"tftp", "tftp"},
    AppProtoName{"ike", "ike"},
    AppProtoName{"ikev2", "ike"},
    AppProtoName{"krb5", "krb5"},
    AppProtoName{"dhcp", "dhcp"},
    AppProtoName{"snmp", "snmp"},
    AppProtoName{"sip", "sip"},
    AppProtoName{"rfb", "rfb"},
    AppProtoName{"mqtt", "mqtt"},
    AppProtoName{"rdp", "rdp"},
    AppProtoName{"telnet", "telnet"},
    AppProtoName{"pgsql", "pgsql"},
    AppProtoName{"quic", "quic"},
    AppProtoName{"irc", "irc"},
    AppProtoName{"ldap", "ldap"},
    AppProtoName{"websocket", "websocket"},
    AppProtoName{"bittorrent-dht", "bittorrent-dht"},
};

// Valid Suricata header protocols that this version does not evaluate: the rule is
// reported as unsupported rather than matched with the wrong meaning.
constexpr std::array<std::string_view, 9> kUnsupportedProtos{
    "ipv4", "ip4", "ipv6", "ip6", "icmpv4", "icmpv6", "sctp", "pkthdr", "udp-pkt"};

// Options this version evaluates; any other keyword makes the rule unsupported.
enum class Kw : uint8_t {
    kMsg,
    kSid,
    kRev,
    kGid,
    kClasstype,
    kPriority,
    kReference,
    kMetadata,
    kContent,
    kNocase,
    kOffset,
    kDepth,
    kFastPattern,
    kUnknown,
};

Kw keyword_kind(std::string_view k) {
    static const std::map<std::string_view, Kw> table = {
        {"msg", Kw::kMsg},
        {"sid", Kw::kSid},
        {"rev", Kw::kRev},
        {"gid", Kw::kGid},
        {"classtype", Kw::kClasstype},
        {"priority", Kw::kPriority},
        {"reference", Kw::kReference},
        {"metadata", Kw::kMetadata},
        {"content", Kw::kContent},
        {"nocase", Kw::kNocase},
        {"offset", Kw::kOffset},
        {"depth", Kw::kDepth},
        {"fast_pattern", Kw::kFastPattern},
    };
    auto it = table.find(k);
    return it == table.end() ? Kw::kUnknown : it->second;
}

std::optional<uint64_t> parse_unsigned(std::string_view s, uint64_t max) {
    s = trim(s);
    if (s.empty() || s.size() > 12) {
        return std::nullopt;
    }
    uint64_t v = 0;
    for (char c : s) {
        if (c < '0' || c > '9') {
            return std::nullopt;
        }
        v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    if (v > max) {
        return std::nullopt;
    }
    return v;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Text for messages: printable bytes as they are, others as \xHH.
std::string printable(std::string_view s) {
    std::string out;
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7f) {
            out.push_back(ch);
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(kHex[c >> 4]);
            out.push_back(kHex[c & 0xf]);
        }
    }
    return out;
}

// msg and similar quoted values: strips the quotes and the escapes of \" \; \\.
std::string unquote(std::string_view v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
        v = v.substr(1, v.size() - 2);
    }
    std::string out;
    out.reserve(v.size());
    for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '\\' && i + 1 < v.size() &&
            (v[i + 1] == '"' || v[i + 1] == ';' || v[i + 1] == '\\')) {
            ++i;
        }
        out.push_back(v[i]);
    }
    return out;
}

struct ContentError {
    bool syntax = false;  // the quoting itself is broken
    std::string message;
};

struct ParsedContent {
    Content content;
    std::string_view modifiers;  // Snort 3 ",depth 2,nocase" text after the string, if any
};

tl::unexpected<ContentError> content_error(std::string message, bool syntax = false) {
    return tl::unexpected(ContentError{syntax, std::move(message)});
}

// Index of the quote that closes the string opened at v[0], skipping backslash escapes;
// npos when there is none.
size_t closing_quote(std::string_view v) {
    size_t i = 1;
    while (i < v.size() && v[i] != '"') {
        i += v[i] == '\\' ? 2 : 1;
    }
    return i < v.size() ? i : std::string_view::npos;
}

// content:"..." -> bytes. The error message carries no location.
tl::expected<ParsedContent, ContentError> parse_content(std::string_view value) {
    ParsedContent out;
    Content& c = out.content;
    std::string_view v = trim(value);
    if (!v.empty() && v.front() == '!') {
        c.negated = true;
        v = trim(v.substr(1));
    }
    if (v.empty() || v.front() != '"') {
        return content_error("content must be a quoted string");
    }
    size_t end = closing_quote(v);
    if (end == std::string_view::npos) {
        return content_error("unterminated quoted string in option 'content'", true);
    }
    std::string_view inner = v.substr(1, end - 1);
    if (std::string_view rest = trim(v.substr(end + 1)); !rest.empty()) {
        // Snort 3 form: modifiers follow the string, content:"ab",depth 2,nocase;
        if (rest.front() != ',') {
            return content_error("unexpected text after the content string");
        }
        out.modifiers = rest.substr(1);
    }
    bool in_hex = false;
    int nibble = -1;  // pending high nibble inside |..|
    for (size_t i = 0; i < inner.size(); ++i) {
        char ch = inner[i];
        if (in_hex) {
            if (ch == '|') {
                if (nibble >= 0) {
                    return content_error("odd number of hex digits in content");
                }
                in_hex = false;
            } else if (ch == ' ' || ch == '\t') {
                if (nibble >= 0) {
                    return content_error("odd number of hex digits in content");
                }
            } else {
                int h = hex_value(ch);
                if (h < 0) {
                    return content_error("invalid hex character '" + printable({&ch, 1}) +
                                         "' in content");
                }
                if (nibble < 0) {
                    nibble = h;
                } else {
                    c.bytes.push_back(static_cast<char>((nibble << 4) | h));
                    nibble = -1;
                }
            }
            continue;
        }
        if (ch == '|') {
            in_hex = true;
            continue;
        }
        if (ch == '\\') {
            if (i + 1 >= inner.size()) {
                return content_error("trailing backslash in content");
            }
            char next = inner[i + 1];
            if (next != '"' && next != ';' && next != '\\' && next != ':' && next != '|') {
                return content_error("invalid escape '\\" + printable({&next, 1}) + "' in content");
            }
            c.bytes.push_back(next);
            ++i;
            continue;
        }
        if (ch == '"') {
            return content_error("unescaped '\"' in content");
        }
        c.bytes.push_back(ch);
    }
    if (in_hex) {
        return content_error("unterminated hex section in content");
    }
    if (c.bytes.empty()) {
        return content_error("empty content");
    }
    return out;
}

// One problem found while parsing a rule; col 0 = no column.
struct Problem {
    size_t col = 0;
    std::string keyword;
    std::string message;
};

// State of one rule while its options are read.
struct RuleDraft {
    Rule rule;
    std::optional<Problem> syntax;  // structural: always rejects the rule
    std::optional<Problem> value;   // a bad value: loses to "unsupported" (the rule may use
                                    // keywords whose meaning we do not know)
    std::vector<std::pair<std::string, size_t>> unsupported;  // keyword, column
    std::set<Kw> seen_single;
    bool has_sid = false;
    bool has_priority = false;
    std::vector<std::string> meta_concepts;

    void syntax_error(size_t col, std::string keyword, std::string message) {
        if (!syntax) {
            syntax = Problem{col, std::move(keyword), std::move(message)};
        }
    }
    void value_error(size_t col, std::string keyword, std::string message) {
        if (!value) {
            value = Problem{col, std::move(keyword), std::move(message)};
        }
    }
    void add_unsupported(std::string keyword, size_t col) {
        for (const auto& u : unsupported) {
            if (u.first == keyword) {
                return;
            }
        }
        unsupported.emplace_back(std::move(keyword), col);
    }
};

class Loader {
public:
    Loader(const LoadOptions& options, const Taxonomy& taxonomy)
        : vars_(options.address_groups, options.port_groups), taxonomy_(taxonomy) {}

    void parse_text(std::string_view text, std::string_view file) {
        ++report_.files;
        size_t pos = 0;
        int line_no = 0;
        auto next_physical = [&](std::string_view& out) {
            if (pos >= text.size()) {
                return false;
            }
            size_t nl = text.find('\n', pos);
            if (nl == std::string_view::npos) {
                nl = text.size();
            }
            out = text.substr(pos, nl - pos);
            if (!out.empty() && out.back() == '\r') {
                out.remove_suffix(1);
            }
            pos = nl + 1;
            ++line_no;
            return true;
        };
        std::string_view physical;
        std::string logical;
        while (next_physical(physical)) {
            int first_line = line_no;
            logical.assign(physical);
            // A trailing backslash joins the next physical line (Suricata multi-line
            // rules).
            while (true) {
                std::string_view t = logical;
                while (!t.empty() && is_space(t.back())) {
                    t.remove_suffix(1);
                }
                if (t.empty() || t.back() != '\\') {
                    break;
                }
                logical.resize(t.size() - 1);
                if (!next_physical(physical)) {
                    break;
                }
                logical.append(physical);
            }
            std::string_view body = trim(logical);
            if (body.empty() || body.front() == '#') {
                continue;
            }
            ++report_.rules_seen;
            parse_rule(logical, file, first_line);
        }
    }

    RuleSet finish() { return RuleSet(std::move(rules_), std::move(report_)); }

private:
    std::string where(std::string_view file, int line, size_t col) const {
        std::string s(file);
        s += ":" + std::to_string(line);
        if (col > 0) {
            s += ":" + std::to_string(col);
        }
        return s + ": ";
    }

    void add_error(std::string_view file, int line, const Problem& p) {
        report_.errors.push_back(
            LoadIssue{std::string(file), line, p.keyword, where(file, line, p.col) + p.message});
    }

    void parse_rule(std::string_view line, std::string_view file, int line_no);
    void apply_option(RuleDraft& d, const std::string& keyword, bool has_value,
                      std::string_view value, size_t kw_col, size_t value_col);

    Variables vars_;
    const Taxonomy& taxonomy_;
    std::vector<Rule> rules_;
    LoadReport report_;
    std::map<std::pair<uint32_t, uint32_t>, size_t> sid_index_;  // (gid, sid) -> rules_ index
};

void Loader::apply_option(RuleDraft& d, const std::string& keyword, bool has_value,
                          std::string_view value, size_t kw_col, size_t value_col) {
    Rule& r = d.rule;
    const Kw kind = keyword_kind(keyword);
    if (kind == Kw::kUnknown) {
        d.add_unsupported(keyword, kw_col);
        return;
    }
    auto need_value = [&]() {
        if (!has_value || value.empty()) {
            d.value_error(kw_col, keyword, "option '" + keyword + "' needs a value");
            return false;
        }
        return true;
    };
    auto single = [&]() {
        if (!d.seen_single.insert(kind).second) {
            d.value_error(kw_col, keyword, "duplicate option '" + keyword + "'");
            return false;
        }
        return true;
    };
    auto last_content = [&]() -> Content* {
        if (r.contents.empty()) {
            d.value_error(kw_col, keyword, "'" + keyword + "' needs a preceding content");
            return nullptr;
        }
        return &r.contents.back();
    };

    switch (kind) {
        case Kw::kMsg:
            if (!single() || !need_value()) {
                break;
            }
            if (value.front() == '"') {
                size_t end = closing_quote(value);
                if (end == std::string_view::npos) {
                    d.syntax_error(value_col, keyword,
                                   "unterminated quoted string in option 'msg'");
                    break;
                }
                if (end + 1 != value.size()) {
                    d.value_error(value_col, keyword, "unexpected text after the msg string");
                    break;
                }
            }
            r.msg = unquote(value);
            break;
        case Kw::kSid:
        case Kw::kRev:
        case Kw::kGid: {
            if (!single() || !need_value()) {
                break;
            }
            auto v = parse_unsigned(value, 0xffffffffu);
            if (!v) {
                d.value_error(value_col, keyword,
                              "invalid " + keyword + " '" + printable(value) + "'");
                break;
            }
            auto v32 = static_cast<uint32_t>(*v);
            if (kind == Kw::kSid) {
                if (v32 == 0) {
                    d.value_error(value_col, keyword, "sid must be greater than 0");
                    break;
                }
                r.sid = v32;
                d.has_sid = true;
            } else if (kind == Kw::kRev) {
                r.rev = v32;
            } else {
                r.gid = v32;
            }
            break;
        }
        case Kw::kPriority: {
            if (!single() || !need_value()) {
                break;
            }
            auto v = parse_unsigned(value, 255);
            if (!v || *v == 0) {
                d.value_error(value_col, keyword,
                              "invalid priority '" + printable(value) + "', expected 1-255");
                break;
            }
            r.priority = static_cast<int>(*v);
            d.has_priority = true;
            break;
        }
        case Kw::kClasstype: {
            if (!single() || !need_value()) {
                break;
            }
            const Classification* c = taxonomy_.find_class(value);
            if (c == nullptr) {
                d.value_error(value_col, keyword, "unknown classtype '" + printable(value) + "'");
                break;
            }
            r.classtype = std::string(value);
            r.class_description = c->description;
            if (!d.has_priority) {
                r.priority = c->priority;
            }
            break;
        }
        case Kw::kReference: {
            if (!need_value()) {
                break;
            }
            size_t comma = value.find(',');
            if (comma == std::string_view::npos) {
                d.value_error(value_col, keyword,
                              "invalid reference '" + printable(value) + "', expected 'system,id'");
                break;
            }
            r.references.emplace_back(std::string(trim(value.substr(0, comma))),
                                      std::string(trim(value.substr(comma + 1))));
            break;
        }
        case Kw::kMetadata: {
            if (!need_value()) {
                break;
            }
            size_t start = 0;
            while (start <= value.size()) {
                size_t comma = value.find(',', start);
                if (comma == std::string_view::npos) {
                    comma = value.size();
                }
                std::string_view entry = trim(value.substr(start, comma - start));
                start = comma + 1;
                if (entry.empty()) {
                    continue;  // tolerate "a b, ,c d" and a trailing comma
                }
                size_t sp = entry.find_first_of(" \t");
                std::string_view key = entry.substr(0, sp);
                std::string_view val =
                    sp == std::string_view::npos ? std::string_view{} : trim(entry.substr(sp));
                if (key == "concept") {
                    if (!Taxonomy::is_known_concept(val)) {
                        d.value_error(value_col, keyword,
                                      "unknown concept '" + printable(val) + "'");
                        continue;
                    }
                    d.meta_concepts.emplace_back(val);
                }
                r.metadata.emplace_back(std::string(key), std::string(val));
            }
            break;
        }
        case Kw::kContent: {
            if (!need_value()) {
                break;
            }
            auto c = parse_content(value);
            if (!c) {
                if (c.error().syntax) {
                    d.syntax_error(value_col, keyword, c.error().message);
                } else {
                    d.value_error(value_col, keyword, c.error().message);
                }
                break;
            }
            r.contents.push_back(std::move(c->content));
            // Snort 3 writes modifiers inside the option: content:"ab",depth 2,nocase;
            std::string_view mods = c->modifiers;
            while (!mods.empty()) {
                size_t comma = mods.find(',');
                std::string_view item = trim(mods.substr(0, comma));
                mods =
                    comma == std::string_view::npos ? std::string_view{} : mods.substr(comma + 1);
                size_t sp = item.find_first_of(" \t");
                std::string name = lower(item.substr(0, sp));
                std::string_view arg =
                    sp == std::string_view::npos ? std::string_view{} : trim(item.substr(sp));
                Kw mod = keyword_kind(name);
                if (mod == Kw::kNocase || mod == Kw::kOffset || mod == Kw::kDepth ||
                    mod == Kw::kFastPattern) {
                    apply_option(d, name, !arg.empty(), arg, value_col, value_col);
                } else {
                    d.add_unsupported(name.empty() ? std::string("content modifier") : name,
                                      value_col);
                }
            }
            break;
        }
        case Kw::kNocase: {
            Content* c = last_content();
            if (c == nullptr) {
                break;
            }
            if (has_value) {
                d.value_error(kw_col, keyword, "'nocase' takes no value");
            } else if (c->nocase) {
                d.value_error(kw_col, keyword, "duplicate 'nocase' on one content");
            } else {
                c->nocase = true;
            }
            break;
        }
        case Kw::kFastPattern: {
            Content* c = last_content();
            if (c == nullptr) {
                break;
            }
            // `only` and `offset,length` change only what the prefilter scans for; the
            // whole content is still confirmed, so accepting them never changes a match.
            if (has_value && value != "only") {
                size_t comma = value.find(',');
                if (comma == std::string_view::npos ||
                    !parse_unsigned(value.substr(0, comma), 65535) ||
                    !parse_unsigned(value.substr(comma + 1), 65535)) {
                    d.value_error(value_col, keyword,
                                  "invalid fast_pattern value '" + printable(value) + "'");
                    break;
                }
            }
            if (c->fast_pattern) {
                d.value_error(kw_col, keyword, "duplicate 'fast_pattern' on one content");
                break;
            }
            bool other = std::any_of(r.contents.begin(), r.contents.end(),
                                     [](const Content& x) { return x.fast_pattern; });
            if (other) {
                d.value_error(kw_col, keyword, "fast_pattern set on more than one content");
                break;
            }
            c->fast_pattern = true;
            break;
        }
        case Kw::kOffset:
        case Kw::kDepth: {
            Content* c = last_content();
            if (c == nullptr || !need_value()) {
                break;
            }
            auto v = parse_unsigned(value, 65535);
            if (!v) {
                d.value_error(value_col, keyword,
                              "invalid " + keyword + " '" + printable(value) + "'");
                break;
            }
            if (kind == Kw::kOffset) {
                if (c->has_offset) {
                    d.value_error(kw_col, keyword, "duplicate 'offset' on one content");
                    break;
                }
                c->has_offset = true;
                c->offset = static_cast<uint32_t>(*v);
            } else {
                if (c->depth != 0) {
                    d.value_error(kw_col, keyword, "duplicate 'depth' on one content");
                    break;
                }
                if (*v == 0) {
                    d.value_error(value_col, keyword, "depth must be greater than 0");
                    break;
                }
                c->depth = static_cast<uint32_t>(*v);
            }
            break;
        }
        case Kw::kUnknown:
            break;
    }
}

void Loader::parse_rule(std::string_view line, std::string_view file, int line_no) {
    RuleDraft d;
    Rule& r = d.rule;
    r.file = std::string(file);
    r.line = line_no;
    const size_t n = line.size();
    size_t p = 0;

    // Header tokens end at whitespace or '(' outside brackets: lists may contain spaces. An
    // unbalanced '[' falls back to the first whitespace so the list parser names the problem.
    auto next_token = [&](size_t& col) -> std::string_view {
        while (p < n && is_space(line[p])) {
            ++p;
        }
        col = p + 1;
        size_t start = p;
        int depth = 0;
        while (p < n && line[p] != '(') {
            char c = line[p];
            if (c == '[') {
                ++depth;
            } else if (c == ']' && depth > 0) {
                --depth;
            } else if (depth == 0 && is_space(c)) {
                break;
            }
            ++p;
        }
        if (depth > 0) {
            p = start;
            while (p < n && !is_space(line[p]) && line[p] != '(') {
                ++p;
            }
        }
        return line.substr(start, p - start);
    };
    auto fail = [&](size_t col, std::string keyword, std::string message) {
        add_error(file, line_no, Problem{col, std::move(keyword), std::move(message)});
    };

    size_t col = 0;
    std::string_view action = next_token(col);
    if (action == "alert") {
        r.action = Action::kAlert;
    } else if (action == "pass") {
        r.action = Action::kPass;
    } else if (action == "drop") {
        r.action = Action::kDrop;
    } else if (action == "reject") {
        r.action = Action::kReject;
    } else if (action.empty()) {
        return fail(col, "", "missing action");
    } else {
        return fail(col, "", "unknown action '" + printable(action) + "'");
    }

    std::string_view proto_text = next_token(col);
    if (proto_text.empty()) {
        return fail(col, "", "missing protocol");
    }
    std::string proto = lower(proto_text);
    if (proto == "ip") {
        r.proto = Protocol::kIp;
    } else if (proto == "tcp" || proto == "tcp-pkt" || proto == "tcp-stream") {
        // We match packets with a prefix of the previous segment: the same for both forms.
        r.proto = Protocol::kTcp;
        proto = "tcp";
    } else if (proto == "udp") {
        r.proto = Protocol::kUdp;
    } else if (proto == "icmp") {
        r.proto = Protocol::kIcmp;
    } else if (auto app = std::find_if(kAppProtos.begin(), kAppProtos.end(),
                                       [&](const AppProtoName& a) { return a.name == proto; });
               app != kAppProtos.end()) {
        r.proto = Protocol::kApp;
        proto = std::string(app->normalised);
        r.app_proto = proto;
    } else if (std::find(kUnsupportedProtos.begin(), kUnsupportedProtos.end(), proto) !=
               kUnsupportedProtos.end()) {
        d.add_unsupported("protocol " + proto, col);
    } else {
        return fail(col, "", "unknown protocol '" + printable(proto_text) + "'");
    }
    r.proto_name = proto;

    while (p < n && is_space(line[p])) {
        ++p;
    }
    if (p < n && line[p] == '(') {
        // Snort 3 short header `alert http (...)`: any address, any port, both directions
        // are the same thing here.
        r.src.text = r.dst.text = "any";
        r.src_port.text = r.dst_port.text = "any";
    } else {
        // Each field is checked as it is read, so the first wrong one is the one reported.
        auto field = [&](const char* what, size_t& field_col) -> std::optional<std::string_view> {
            std::string_view text = next_token(field_col);
            if (text.empty()) {
                fail(field_col, "", std::string("missing ") + what);
                return std::nullopt;
            }
            return text;
        };
        auto src_text = field("source address", col);
        if (!src_text) {
            return;
        }
        auto src = vars_.parse_address(*src_text);
        if (!src) {
            return fail(col, "", src.error().message);
        }
        auto sport_text = field("source port", col);
        if (!sport_text) {
            return;
        }
        auto sport = vars_.parse_port(*sport_text);
        if (!sport) {
            return fail(col, "", sport.error().message);
        }
        auto dir = field("direction", col);
        if (!dir) {
            return;
        }
        if (*dir == "<>") {
            r.bidirectional = true;
        } else if (*dir != "->") {
            return fail(col, "",
                        "invalid direction '" + printable(*dir) + "', expected '->' or '<>'");
        }
        auto dst_text = field("destination address", col);
        if (!dst_text) {
            return;
        }
        auto dst = vars_.parse_address(*dst_text);
        if (!dst) {
            return fail(col, "", dst.error().message);
        }
        auto dport_text = field("destination port", col);
        if (!dport_text) {
            return;
        }
        auto dport = vars_.parse_port(*dport_text);
        if (!dport) {
            return fail(col, "", dport.error().message);
        }
        r.src = std::move(*src);
        r.src_port = std::move(*sport);
        r.dst = std::move(*dst);
        r.dst_port = std::move(*dport);

        while (p < n && is_space(line[p])) {
            ++p;
        }
        if (p >= n) {
            return fail(n + 1, "", "missing '(' with rule options");
        }
        if (line[p] != '(') {
            size_t extra_col = 0;
            std::string_view extra = next_token(extra_col);
            return fail(extra_col, "",
                        "unexpected '" + printable(extra) + "' after destination port");
        }
    }

    // Options run from '(' to the last ')' of the line; values may contain ')'.
    const size_t open = p;
    const size_t close = line.rfind(')');
    if (close == std::string_view::npos || close < open) {
        return fail(n + 1, "", "missing ')' at end of rule");
    }
    for (size_t i = close + 1; i < n; ++i) {
        if (!is_space(line[i])) {
            return fail(i + 1, "", "unexpected text after ')'");
        }
    }

    size_t q = open + 1;
    while (true) {
        while (q < close && is_space(line[q])) {
            ++q;
        }
        if (q >= close) {
            break;
        }
        const size_t kw_col = q + 1;
        size_t kw_start = q;
        while (q < close && line[q] != ':' && line[q] != ';') {
            ++q;
        }
        std::string keyword = lower(trim(line.substr(kw_start, q - kw_start)));
        bool has_value = false;
        std::string_view value;
        size_t value_col = 0;
        if (q < close && line[q] == ':') {
            ++q;
            while (q < close && is_space(line[q])) {
                ++q;
            }
            size_t value_start = q;
            value_col = q + 1;
            // As in Suricata, a value ends at the first ';' not escaped by a backslash, even
            // inside quotes: rules in the wild rely on it (pcre:"/a"b/" with a bare quote).
            while (q < close && line[q] != ';') {
                q += line[q] == '\\' ? 2 : 1;
            }
            q = std::min(q, close);
            value = trim(line.substr(value_start, q - value_start));
            has_value = true;
        }
        if (q < close) {
            ++q;  // the ';'; the last option may omit it
        }
        if (keyword.empty()) {
            d.syntax_error(kw_col, "", "empty option");
            break;
        }
        bool name_ok = std::all_of(keyword.begin(), keyword.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                   c == '-';
        });
        if (!name_ok) {
            d.syntax_error(kw_col, "", "invalid option name '" + printable(keyword) + "'");
            break;
        }
        apply_option(d, keyword, has_value, value, kw_col, value_col);
    }

    if (d.syntax) {
        return add_error(file, line_no, *d.syntax);
    }
    if (!d.has_sid && !(d.value && d.value->keyword == "sid")) {
        return fail(0, "sid", "rule has no sid");
    }
    if (!d.unsupported.empty()) {
        std::string msg = d.unsupported.size() == 1 ? "unsupported keyword "
                                                    : "unsupported "
                                                      "keywords ";
        for (size_t i = 0; i < d.unsupported.size(); ++i) {
            msg += (i == 0 ? "'" : ", '") + printable(d.unsupported[i].first) + "'";
        }
        const auto& first = d.unsupported.front();
        report_.unsupported.push_back(
            LoadIssue{r.file, line_no, first.first, where(file, line_no, first.second) + msg});
        return;
    }
    if (d.value) {
        return add_error(file, line_no, *d.value);
    }
    for (const Content& c : r.contents) {
        if (c.depth != 0 && c.depth < c.bytes.size()) {
            return fail(0, "depth",
                        "depth " + std::to_string(c.depth) + " is smaller than content length " +
                            std::to_string(c.bytes.size()));
        }
    }
    auto [it, inserted] = sid_index_.emplace(std::make_pair(r.gid, r.sid), rules_.size());
    if (!inserted) {
        const Rule& first = rules_[it->second];
        return fail(0, "sid",
                    "duplicate sid " + std::to_string(r.sid) + " for gid " + std::to_string(r.gid) +
                        ", first defined at " + first.file + ":" + std::to_string(first.line));
    }
    r.concepts = taxonomy_.concepts_for(d.meta_concepts, r.classtype);
    if (r.concepts.size() == 1 && r.concepts[0] == "unclassified") {
        ++report_.unclassified;
    }
    ++report_.loaded;
    rules_.push_back(std::move(r));
}

}  // namespace

std::string_view action_name(Action a) noexcept {
    switch (a) {
        case Action::kAlert:
            return "alert";
        case Action::kPass:
            return "pass";
        case Action::kDrop:
            return "drop";
        case Action::kReject:
            return "reject";
    }
    return "alert";
}

core::Result<RuleSet> parse_rules_text(std::string_view text, std::string_view file_name,
                                       const LoadOptions& options, const Taxonomy& taxonomy) {
    Loader loader(options, taxonomy);
    loader.parse_text(text, file_name);
    return loader.finish();
}

core::Result<RuleSet> load_rule_files(const std::vector<std::string>& paths,
                                      const LoadOptions& options, const Taxonomy& taxonomy) {
    namespace fs = std::filesystem;
    std::vector<std::string> files;
    for (const std::string& path : paths) {
        std::error_code ec;
        fs::file_status st = fs::status(path, ec);
        if (ec || !fs::exists(st)) {
            return core::make_error(path + ": cannot read rules: " +
                                    (ec ? ec.message() : std::string("no such file or directory")));
        }
        if (fs::is_directory(st)) {
            std::vector<std::string> found;
            fs::directory_iterator it(path, ec);
            if (ec) {
                return core::make_error(path + ": cannot read rules directory: " + ec.message());
            }
            for (const auto& entry : it) {
                if (entry.path().extension() == ".rules" && entry.is_regular_file(ec)) {
                    found.push_back(entry.path().string());
                }
            }
            std::sort(found.begin(), found.end());
            files.insert(files.end(), found.begin(), found.end());
        } else {
            files.push_back(path);
        }
    }
    Loader loader(options, taxonomy);
    for (const std::string& file : files) {
        std::ifstream in(file, std::ios::binary);
        if (!in) {
            return core::make_error(file + ": cannot open rule file");
        }
        std::ostringstream buf;
        buf << in.rdbuf();
        if (in.bad()) {
            return core::make_error(file + ": cannot read rule file");
        }
        loader.parse_text(buf.str(), file);
    }
    return loader.finish();
}

std::string format_load_report(const LoadReport& report) {
    std::string out;
    out += "rule files: " + std::to_string(report.files) + "\n";
    out += "rules: " + std::to_string(report.rules_seen) + " seen, " +
           std::to_string(report.loaded) + " loaded, " + std::to_string(report.unsupported.size()) +
           " unsupported, " + std::to_string(report.errors.size()) + " errors, " +
           std::to_string(report.unclassified) + " unclassified\n";
    if (!report.unsupported.empty()) {
        std::map<std::string, size_t> counts;
        for (const LoadIssue& u : report.unsupported) {
            ++counts[u.keyword];
        }
        std::vector<std::pair<std::string, size_t>> sorted(counts.begin(), counts.end());
        std::stable_sort(sorted.begin(), sorted.end(),
                         [](const auto& a, const auto& b) { return a.second > b.second; });
        out += "unsupported rules by first unsupported keyword:\n";
        for (const auto& [keyword, count] : sorted) {
            out += "  " + keyword + ": " + std::to_string(count) + "\n";
        }
    }
    if (!report.errors.empty()) {
        out += "errors:\n";
        for (const LoadIssue& e : report.errors) {
            out += "  " + e.message + "\n";
        }
    }
    return out;
}

}  // namespace sensor::rules
