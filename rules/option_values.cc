#include "rules/option_values.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <utility>

namespace sensor::rules {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

tl::unexpected<OptionError> fail(std::string text) {
    return tl::unexpected(OptionError{false, std::move(text)});
}

tl::unexpected<OptionError> unsupported(std::string keyword) {
    return tl::unexpected(OptionError{true, std::move(keyword)});
}

// Splits on `sep`, trimming each part; empty parts are kept so the caller can reject them.
std::vector<std::string_view> split(std::string_view s, char sep) {
    std::vector<std::string_view> out;
    size_t start = 0;
    while (true) {
        size_t at = s.find(sep, start);
        if (at == std::string_view::npos) {
            out.push_back(trim_view(s.substr(start)));
            return out;
        }
        out.push_back(trim_view(s.substr(start, at - start)));
        start = at + 1;
    }
}

// "key value" -> (key, value); value empty when there is none.
std::pair<std::string_view, std::string_view> key_value(std::string_view item) {
    size_t sp = item.find_first_of(" \t");
    if (sp == std::string_view::npos) {
        return {item, {}};
    }
    return {item.substr(0, sp), trim_view(item.substr(sp))};
}

bool is_var_name(std::string_view s) {
    if (s.empty() || !(std::isalpha(static_cast<unsigned char>(s[0])) || s[0] == '_')) {
        return false;
    }
    // ET rules name variables like flowbits: "SSL.Client_Hello.length".
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
    });
}

}  // namespace

std::string_view trim_view(std::string_view s) noexcept {
    while (!s.empty() && is_space(s.front())) {
        s.remove_prefix(1);
    }
    while (!s.empty() && is_space(s.back())) {
        s.remove_suffix(1);
    }
    return s;
}

std::optional<int64_t> parse_integer(std::string_view s, int64_t min, int64_t max) {
    s = trim_view(s);
    bool negative = false;
    if (!s.empty() && s.front() == '-') {
        negative = true;
        s.remove_prefix(1);
    } else if (!s.empty() && s.front() == '+') {
        s.remove_prefix(1);
    }
    int base = 10;
    if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        base = 16;
        s.remove_prefix(2);
    }
    if (s.empty() || s.size() > 20) {
        return std::nullopt;
    }
    uint64_t v = 0;
    for (char c : s) {
        int d = -1;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (base == 16 && c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (base == 16 && c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        }
        if (d < 0) {
            return std::nullopt;
        }
        uint64_t next = v * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
        if (next / static_cast<uint64_t>(base) != v ||
            next > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            return std::nullopt;
        }
        v = next;
    }
    int64_t signed_v = negative ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
    if (signed_v < min || signed_v > max) {
        return std::nullopt;
    }
    return signed_v;
}

OptionResult<Operand> parse_operand(std::string_view s, int64_t min, int64_t max,
                                    const VarLookup& vars, std::string_view what) {
    s = trim_view(s);
    if (auto v = parse_integer(s, min, max)) {
        return Operand{*v, -1};
    }
    if (is_var_name(s)) {
        int var = vars ? vars(s) : -1;
        if (var < 0) {
            return fail("unknown byte_extract variable '" + std::string(s) + "' in " +
                        std::string(what));
        }
        return Operand{0, static_cast<int8_t>(var)};
    }
    return fail("invalid " + std::string(what) + " '" + std::string(s) + "'");
}

std::optional<IntCheck> parse_int_check(std::string_view s, uint64_t max) {
    s = trim_view(s);
    auto number = [&](std::string_view t) -> std::optional<uint64_t> {
        auto v = parse_integer(t, 0, static_cast<int64_t>(max));
        if (!v || trim_view(t).empty() || trim_view(t).front() == '-' ||
            trim_view(t).front() == '+') {
            return std::nullopt;
        }
        return static_cast<uint64_t>(*v);
    };
    IntCheck c;
    auto range = [&](size_t at, size_t sep_len, IntCheck::Op op) -> std::optional<IntCheck> {
        auto lo = number(s.substr(0, at));
        auto hi = number(s.substr(at + sep_len));
        if (!lo || !hi || *lo > *hi || (op == IntCheck::Op::kRange && *lo == *hi)) {
            return std::nullopt;
        }
        return IntCheck{op, *lo, *hi};
    };
    if (size_t at = s.find("<=>"); at != std::string_view::npos) {
        return range(at, 3, IntCheck::Op::kRangeInclusive);
    }
    if (size_t at = s.find("<>"); at != std::string_view::npos) {
        return range(at, 2, IntCheck::Op::kRange);
    }
    if (size_t at = s.find('-'); at != std::string_view::npos && at > 0) {
        return range(at, 1, IntCheck::Op::kRange);
    }
    std::string_view rest = s;
    if (rest.substr(0, 2) == "<=") {
        c.op = IntCheck::Op::kLe;
        rest.remove_prefix(2);
    } else if (rest.substr(0, 2) == ">=") {
        c.op = IntCheck::Op::kGe;
        rest.remove_prefix(2);
    } else if (!rest.empty() && rest.front() == '<') {
        c.op = IntCheck::Op::kLt;
        rest.remove_prefix(1);
    } else if (!rest.empty() && rest.front() == '>') {
        c.op = IntCheck::Op::kGt;
        rest.remove_prefix(1);
    } else if (!rest.empty() && rest.front() == '!') {
        c.op = IntCheck::Op::kNe;
        rest.remove_prefix(1);
    } else if (!rest.empty() && rest.front() == '=') {
        rest.remove_prefix(1);
    }
    auto v = number(rest);
    if (!v) {
        return std::nullopt;
    }
    c.lo = *v;
    return c;
}

OptionResult<FlowMatch> parse_flow(std::string_view value) {
    FlowMatch f;
    std::string direction;
    std::string state;
    for (std::string_view part : split(value, ',')) {
        std::string p = lower(part);
        auto set_direction = [&](bool to_server) -> bool {
            if (!direction.empty() && (to_server ? f.to_client : f.to_server)) {
                return false;
            }
            (to_server ? f.to_server : f.to_client) = true;
            direction = p;
            return true;
        };
        auto conflict = [&](const std::string& first) {
            std::string message = "conflicting flow options '";
            message += first;
            message += "' and '";
            message += p;
            message += "'";
            return fail(std::move(message));
        };
        if (p == "to_server" || p == "from_client") {
            if (!set_direction(true)) {
                return conflict(direction);
            }
        } else if (p == "to_client" || p == "from_server") {
            if (!set_direction(false)) {
                return conflict(direction);
            }
        } else if (p == "established" || p == "not_established" || p == "stateless") {
            if (!state.empty() && state != p) {
                return conflict(state);
            }
            state = p;
            f.established = f.established || p == "established";
            f.not_established = f.not_established || p == "not_established";
        } else if (p == "only_stream" || p == "no_stream") {
            (p == "only_stream" ? f.only_stream : f.no_stream) = true;
            if (f.only_stream && f.no_stream) {
                return fail("conflicting flow options 'only_stream' and 'no_stream'");
            }
        } else if (p == "only_frag" || p == "no_frag") {
            return unsupported("flow:" + p);
        } else {
            return fail("invalid flow option '" + std::string(part) + "'");
        }
    }
    return f;
}

OptionResult<FieldCheck> parse_stream_size(std::string_view value) {
    std::vector<std::string_view> parts = split(value, ',');
    if (parts.size() != 3) {
        return fail("invalid stream_size '" + std::string(value) +
                    "', expected <server|client|both|either>,<operator>,<number>");
    }
    FieldCheck c;
    const std::string side = lower(parts[0]);
    if (side == "server") {
        c.field = FieldCheck::Field::kStreamServer;
    } else if (side == "client") {
        c.field = FieldCheck::Field::kStreamClient;
    } else if (side == "both") {
        c.field = FieldCheck::Field::kStreamBoth;
    } else if (side == "either") {
        c.field = FieldCheck::Field::kStreamEither;
    } else {
        return fail("invalid stream_size side '" + std::string(parts[0]) +
                    "', expected server, client, both or either");
    }
    static constexpr std::pair<std::string_view, IntCheck::Op> kOps[] = {
        {"<", IntCheck::Op::kLt},  {"<=", IntCheck::Op::kLe}, {"=", IntCheck::Op::kEq},
        {"!=", IntCheck::Op::kNe}, {">=", IntCheck::Op::kGe}, {">", IntCheck::Op::kGt},
    };
    auto op = std::find_if(std::begin(kOps), std::end(kOps),
                           [&](const auto& e) { return e.first == parts[1]; });
    if (op == std::end(kOps)) {
        return fail("invalid stream_size operator '" + std::string(parts[1]) + "'");
    }
    c.check.op = op->second;
    auto n = parse_integer(parts[2], 0, 0xffffffff);
    if (!n || parts[2].front() == '-' || parts[2].front() == '+') {
        return fail("invalid stream_size value '" + std::string(parts[2]) + "'");
    }
    c.check.lo = static_cast<uint64_t>(*n);
    // Stream sizes are kept per flow in 16 bits that saturate: exact below 65535.
    if (c.check.lo >= 65535) {
        return unsupported("stream_size over 65534");
    }
    return c;
}

OptionResult<IntCheck> parse_ip_proto(std::string_view value) {
    // Names as /etc/protocols spells them, for the protocols rules name in practice.
    static constexpr std::pair<std::string_view, uint8_t> kNames[] = {
        {"hopopt", 0},      {"icmp", 1},         {"igmp", 2},        {"ggp", 3},
        {"ipencap", 4},     {"st", 5},           {"tcp", 6},         {"egp", 8},
        {"igp", 9},         {"pup", 12},         {"udp", 17},        {"hmp", 20},
        {"xns-idp", 22},    {"rdp", 27},         {"iso-tp4", 29},    {"dccp", 33},
        {"xtp", 36},        {"ddp", 37},         {"idpr-cmtp", 38},  {"ipv6", 41},
        {"ipv6-route", 43}, {"ipv6-frag", 44},   {"idrp", 45},       {"rsvp", 46},
        {"gre", 47},        {"esp", 50},         {"ah", 51},         {"skip", 57},
        {"ipv6-icmp", 58},  {"icmpv6", 58},      {"ipv6-nonxt", 59}, {"ipv6-opts", 60},
        {"rspf", 73},       {"vmtp", 81},        {"eigrp", 88},      {"ospf", 89},
        {"ax.25", 93},      {"ipip", 94},        {"etherip", 97},    {"encap", 98},
        {"pim", 103},       {"ipcomp", 108},     {"vrrp", 112},      {"l2tp", 115},
        {"isis", 124},      {"sctp", 132},       {"fc", 133},        {"mobility-header", 135},
        {"udplite", 136},   {"mpls-in-ip", 137}, {"manet", 138},     {"hip", 139},
        {"shim6", 140},     {"wesp", 141},       {"rohc", 142},
    };
    std::string_view v = trim_view(value);
    IntCheck c;
    if (!v.empty() && (v.front() == '!' || v.front() == '<' || v.front() == '>')) {
        c.op = v.front() == '!'   ? IntCheck::Op::kNe
               : v.front() == '<' ? IntCheck::Op::kLt
                                  : IntCheck::Op::kGt;
        v = trim_view(v.substr(1));
    }
    if (v.empty()) {
        return fail("ip_proto needs a protocol number or name");
    }
    if (v.front() >= '0' && v.front() <= '9') {
        auto n = parse_integer(v, 0, 255);
        if (!n) {
            return fail("invalid ip_proto '" + std::string(value) + "', expected 0-255 or a name");
        }
        c.lo = static_cast<uint64_t>(*n);
        return c;
    }
    const std::string name = lower(v);
    auto it = std::find_if(std::begin(kNames), std::end(kNames),
                           [&](const auto& e) { return e.first == name; });
    if (it == std::end(kNames)) {
        return fail("unknown ip_proto name '" + std::string(v) + "'");
    }
    c.lo = it->second;
    return c;
}

std::optional<FragbitsCheck> parse_fragbits(std::string_view value) {
    std::string_view v = trim_view(value);
    FragbitsCheck f;
    bool has_mode = false;
    auto take_mode = [&](char c) {
        if (c != '+' && c != '*' && c != '!') {
            return false;
        }
        f.mode = c == '+'   ? FragbitsCheck::Mode::kPlus
                 : c == '*' ? FragbitsCheck::Mode::kAny
                            : FragbitsCheck::Mode::kNot;
        has_mode = true;
        return true;
    };
    if (!v.empty() && take_mode(v.front())) {
        v = trim_view(v.substr(1));
    }
    if (!v.empty() && !has_mode && take_mode(v.back())) {
        v = trim_view(v.substr(0, v.size() - 1));
    }
    if (v.empty()) {
        return std::nullopt;
    }
    for (char c : v) {
        uint8_t bit = 0;
        switch (std::toupper(static_cast<unsigned char>(c))) {
            case 'M':
                bit = FragbitsCheck::kMoreFragments;
                break;
            case 'D':
                bit = FragbitsCheck::kDontFragment;
                break;
            case 'R':
                bit = FragbitsCheck::kReserved;
                break;
            default:
                return std::nullopt;
        }
        if ((f.bits & bit) != 0) {
            return std::nullopt;
        }
        f.bits = static_cast<uint8_t>(f.bits | bit);
    }
    return f;
}

std::optional<IntCheck> parse_tos(std::string_view value) {
    std::string_view v = trim_view(value);
    IntCheck c;
    if (!v.empty() && v.front() == '!') {
        c.op = IntCheck::Op::kNe;
        v = trim_view(v.substr(1));
    }
    std::optional<int64_t> n;
    if (!v.empty() && (v.front() == 'x' || v.front() == 'X')) {
        const std::string_view digits = v.substr(1);
        if (!digits.empty() && digits.size() <= 2 &&
            std::all_of(digits.begin(), digits.end(),
                        [](char d) { return std::isxdigit(static_cast<unsigned char>(d)); })) {
            n = parse_integer("0x" + std::string(digits), 0, 255);
        }
    } else if (!v.empty() && v.size() <= 3 &&
               std::all_of(v.begin(), v.end(), [](char d) { return d >= '0' && d <= '9'; })) {
        n = parse_integer(v, 0, 255);
    }
    if (!n) {
        return std::nullopt;
    }
    c.lo = static_cast<uint64_t>(*n);
    return c;
}

std::optional<TcpFlagsCheck> parse_tcp_flags(std::string_view value) {
    auto bit = [](char c) -> int {
        switch (std::toupper(static_cast<unsigned char>(c))) {
            case 'F':
                return 0x01;
            case 'S':
                return 0x02;
            case 'R':
                return 0x04;
            case 'P':
                return 0x08;
            case 'A':
                return 0x10;
            case 'U':
                return 0x20;
            case 'E':
            case '2':
                return 0x40;
            case 'C':
            case '1':
                return 0x80;
            default:
                return -1;
        }
    };
    TcpFlagsCheck f;
    std::string_view text = trim_view(value);
    std::string_view mask;
    if (size_t comma = text.find(','); comma != std::string_view::npos) {
        mask = trim_view(text.substr(comma + 1));
        text = trim_view(text.substr(0, comma));
        if (mask.empty()) {
            return std::nullopt;
        }
    }
    bool zero = false;
    bool any_bit = false;
    for (char c : text) {
        if (c == '+' || c == '*' || c == '!') {
            if (f.mode != TcpFlagsCheck::Mode::kExact) {
                return std::nullopt;
            }
            f.mode = c == '+'   ? TcpFlagsCheck::Mode::kAll
                     : c == '*' ? TcpFlagsCheck::Mode::kAny
                                : TcpFlagsCheck::Mode::kNot;
            continue;
        }
        if (c == '0') {
            zero = true;
            continue;
        }
        int b = bit(c);
        if (b < 0) {
            return std::nullopt;
        }
        f.bits = static_cast<uint8_t>(f.bits | b);
        any_bit = true;
    }
    if (!zero && !any_bit) {
        return std::nullopt;
    }
    if (zero && any_bit) {
        return std::nullopt;
    }
    for (char c : mask) {
        int b = bit(c);
        if (b < 0) {
            return std::nullopt;
        }
        f.ignore = static_cast<uint8_t>(f.ignore | b);
    }
    return f;
}

OptionResult<Threshold> parse_threshold(std::string_view value, bool detection_filter) {
    const std::string kw = detection_filter ? "detection_filter" : "threshold";
    Threshold t;
    if (detection_filter) {
        t.type = Threshold::Type::kDetectionFilter;
    }
    bool has_type = detection_filter;
    bool has_track = false;
    bool has_count = false;
    bool has_seconds = false;
    for (std::string_view item : split(value, ',')) {
        auto [key, arg] = key_value(item);
        std::string k = lower(key);
        std::string a = lower(arg);
        if (k == "type" && !detection_filter) {
            if (a == "limit") {
                t.type = Threshold::Type::kLimit;
            } else if (a == "threshold") {
                t.type = Threshold::Type::kThreshold;
            } else if (a == "both") {
                t.type = Threshold::Type::kBoth;
            } else {
                return fail("invalid threshold type '" + std::string(arg) + "'");
            }
            has_type = true;
        } else if (k == "track") {
            if (a == "by_src") {
                t.track = Threshold::Track::kBySrc;
            } else if (a == "by_dst") {
                t.track = Threshold::Track::kByDst;
            } else if (a == "by_rule") {
                t.track = Threshold::Track::kByRule;
            } else if (a == "by_both") {
                t.track = Threshold::Track::kByBoth;
            } else if (a == "by_flow") {
                return unsupported(kw + ":track by_flow");
            } else {
                return fail("invalid " + kw + " track '" + std::string(arg) + "'");
            }
            has_track = true;
        } else if (k == "count" || k == "seconds") {
            auto v = parse_integer(arg, k == "count" ? 1 : 0, 0xffffffff);
            if (!v || trim_view(arg).front() == '-') {
                std::string message = "invalid ";
                message += kw;
                message += " ";
                message += k;
                message += " '";
                message += arg;
                message += "'";
                return fail(std::move(message));
            }
            (k == "count" ? t.count : t.seconds) = static_cast<uint32_t>(*v);
            (k == "count" ? has_count : has_seconds) = true;
        } else {
            return fail("invalid " + kw + " '" + std::string(item) + "'");
        }
    }
    if (!has_type || !has_track || !has_count || !has_seconds) {
        return fail(detection_filter ? "detection_filter needs track, count and seconds"
                                     : "threshold needs type, track, count and seconds");
    }
    return t;
}

OptionResult<FlowbitsSpec> parse_flowbits(std::string_view value) {
    FlowbitsSpec spec;
    std::vector<std::string_view> parts = split(value, ',');
    std::string cmd = lower(parts[0]);
    if (cmd == "noalert") {
        if (parts.size() > 1) {
            return fail("flowbits 'noalert' takes no name");
        }
        spec.noalert = true;
        return spec;
    }
    if (cmd == "set") {
        spec.cmd = FlowbitOp::Cmd::kSet;
    } else if (cmd == "unset") {
        spec.cmd = FlowbitOp::Cmd::kUnset;
    } else if (cmd == "toggle") {
        spec.cmd = FlowbitOp::Cmd::kToggle;
    } else if (cmd == "isset") {
        spec.cmd = FlowbitOp::Cmd::kIsSet;
    } else if (cmd == "isnotset") {
        spec.cmd = FlowbitOp::Cmd::kIsNotSet;
    } else {
        return fail("invalid flowbits command '" + std::string(parts[0]) + "'");
    }
    if (parts.size() < 2 || parts[1].empty()) {
        return fail("flowbits '" + cmd + "' needs a name");
    }
    if (parts.size() > 2) {
        return unsupported("flowbits group");
    }
    std::string_view names = parts[1];
    const bool has_and = names.find('&') != std::string_view::npos;
    const bool has_or = names.find('|') != std::string_view::npos;
    if (has_and && has_or) {
        return fail("flowbits cannot mix '|' and '&'");
    }
    spec.all = has_and;
    for (std::string_view name : split(names, has_and ? '&' : '|')) {
        bool ok = !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
            return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
        });
        if (!ok) {
            return fail("invalid flowbits name '" + std::string(name) + "'");
        }
        spec.names.emplace_back(name);
    }
    if (has_or && spec.cmd != FlowbitOp::Cmd::kIsSet && spec.cmd != FlowbitOp::Cmd::kIsNotSet) {
        return fail("flowbits '|' is only allowed with isset and isnotset");
    }
    return spec;
}

OptionResult<XbitsSpec> parse_xbits(std::string_view value) {
    XbitsSpec spec;
    XbitOp& op = spec.op;
    std::vector<std::string_view> parts = split(value, ',');
    const std::string cmd = lower(parts[0]);
    if (cmd == "noalert") {
        if (parts.size() > 1) {
            return fail("xbits 'noalert' takes no other value");
        }
        spec.noalert = true;
        return spec;
    }
    if (cmd == "set") {
        op.cmd = FlowbitOp::Cmd::kSet;
    } else if (cmd == "unset") {
        op.cmd = FlowbitOp::Cmd::kUnset;
    } else if (cmd == "toggle") {
        op.cmd = FlowbitOp::Cmd::kToggle;
    } else if (cmd == "isset") {
        op.cmd = FlowbitOp::Cmd::kIsSet;
    } else if (cmd == "isnotset") {
        op.cmd = FlowbitOp::Cmd::kIsNotSet;
    } else {
        return fail("invalid xbits command '" + std::string(parts[0]) + "'");
    }
    if (parts.size() < 2 || parts[1].empty()) {
        return fail("xbits '" + cmd + "' needs a name");
    }
    const std::string_view name = parts[1];
    const bool name_ok = std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
    });
    if (!name_ok) {
        return fail("invalid xbits name '" + std::string(name) + "'");
    }
    op.name = std::string(name);
    bool has_track = false;
    bool has_expire = false;
    for (size_t i = 2; i < parts.size(); ++i) {
        auto [key, val] = key_value(parts[i]);
        if (key == "track") {
            if (has_track) {
                return fail("duplicate xbits track");
            }
            has_track = true;
            if (val == "ip_src") {
                op.track = XbitOp::Track::kIpSrc;
            } else if (val == "ip_dst") {
                op.track = XbitOp::Track::kIpDst;
            } else if (val == "ip_pair") {
                op.track = XbitOp::Track::kIpPair;
            } else {
                return fail("invalid xbits track '" + std::string(val) +
                            "', expected ip_src, ip_dst or ip_pair");
            }
        } else if (key == "expire") {
            if (has_expire) {
                return fail("duplicate xbits expire");
            }
            has_expire = true;
            const bool digits = !val.empty() && std::all_of(val.begin(), val.end(), [](char c) {
                return c >= '0' && c <= '9';
            });
            const auto seconds =
                digits ? parse_integer(val, 1, std::numeric_limits<uint32_t>::max()) : std::nullopt;
            if (!seconds) {
                return fail("invalid xbits expire '" + std::string(val) +
                            "', expected 1-4294967295 seconds");
            }
            op.expire = static_cast<uint32_t>(*seconds);
        } else {
            return fail("invalid xbits option '" + std::string(parts[i]) + "'");
        }
    }
    if (!has_track) {
        return fail("xbits '" + cmd + "' needs track ip_src, ip_dst or ip_pair");
    }
    // FNV-1a, 64 bits: stable across runs and rule sets.
    uint64_t h = 0xcbf29ce484222325ULL;
    for (char c : op.name) {
        h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
    op.name_hash = h;
    return spec;
}

std::optional<TlsVersionCheck> parse_tls_version(std::string_view value) {
    std::string_view v = trim_view(value);
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') {
        v = trim_view(v.substr(1, v.size() - 2));
    }
    static constexpr std::pair<std::string_view, uint16_t> kNamed[] = {
        {"1.0", 0x0301}, {"1.1", 0x0302}, {"1.2", 0x0303}, {"1.3", 0x0304}};
    for (const auto& [name, version] : kNamed) {
        if (v == name) {
            return TlsVersionCheck{version, false};
        }
    }
    if (v.size() == 6 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') &&
        std::all_of(v.begin() + 2, v.end(),
                    [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; })) {
        const auto n = parse_integer(v, 0, 0xffff);
        if (n) {
            return TlsVersionCheck{static_cast<uint16_t>(*n), true};
        }
    }
    return std::nullopt;
}

OptionResult<ByteOp> parse_byte_op(ByteOp::Kind kind, std::string_view value, const VarLookup& vars,
                                   std::string* extract_name) {
    const std::string kw = kind == ByteOp::Kind::kTest   ? "byte_test"
                           : kind == ByteOp::Kind::kJump ? "byte_jump"
                                                         : "byte_extract";
    ByteOp op;
    op.kind = kind;
    std::vector<std::string_view> parts = split(value, ',');
    const size_t fixed = kind == ByteOp::Kind::kTest ? 4 : kind == ByteOp::Kind::kJump ? 2 : 3;
    if (parts.size() < fixed ||
        std::any_of(parts.begin(), parts.end(), [](std::string_view p) { return p.empty(); })) {
        return fail(kind == ByteOp::Kind::kTest
                        ? "byte_test needs count, operator, value and offset"
                    : kind == ByteOp::Kind::kJump ? "byte_jump needs count and offset"
                                                  : "byte_extract needs count, offset and name");
    }
    auto count = parse_integer(parts[0], 0, 23);
    const bool text = std::any_of(parts.begin(), parts.end(),
                                  [](std::string_view p) { return trim_view(p) == "string"; });
    const bool whole_number = count && *count == 0 && text && trim_view(parts[0]).front() != '-';
    if (whole_number && kind != ByteOp::Kind::kTest) {
        return unsupported(kw + " count 0");
    }
    // ET rules write `http.content_len; byte_test:0,=,0,0,string,dec;`: Suricata then reads
    // every digit from the offset on (nbytes 0).
    if (!count || (*count == 0 && !whole_number) || trim_view(parts[0]).front() == '-') {
        return fail("invalid " + kw + " count '" + std::string(parts[0]) + "'");
    }
    op.nbytes = static_cast<uint8_t>(*count);
    size_t offset_at = 1;
    if (kind == ByteOp::Kind::kTest) {
        std::string_view cmp = parts[1];
        if (!cmp.empty() && cmp.front() == '!') {
            op.negate = true;
            cmp = trim_view(cmp.substr(1));
        }
        if (cmp == "<") {
            op.cmp = ByteOp::Cmp::kLt;
        } else if (cmp == ">") {
            op.cmp = ByteOp::Cmp::kGt;
        } else if (cmp == "=" || (cmp.empty() && op.negate)) {
            op.cmp = ByteOp::Cmp::kEq;
        } else if (cmp == "<=") {
            op.cmp = ByteOp::Cmp::kLe;
        } else if (cmp == ">=") {
            op.cmp = ByteOp::Cmp::kGe;
        } else if (cmp == "&") {
            op.cmp = ByteOp::Cmp::kAnd;
        } else if (cmp == "^") {
            op.cmp = ByteOp::Cmp::kXor;
        } else {
            return fail("invalid byte_test operator '" + std::string(parts[1]) + "'");
        }
        auto v = parse_operand(parts[2], 0, std::numeric_limits<int64_t>::max(), vars,
                               "byte_test value");
        if (!v) {
            return tl::unexpected(v.error());
        }
        op.value = *v;
        offset_at = 3;
    }
    auto offset = parse_operand(parts[offset_at], -65535, 65535, vars, kw + " offset");
    if (!offset) {
        return tl::unexpected(offset.error());
    }
    op.offset = *offset;
    size_t next = offset_at + 1;
    if (kind == ByteOp::Kind::kExtract) {
        std::string_view name = parts[2];
        if (!is_var_name(name)) {
            return fail("invalid byte_extract name '" + std::string(name) + "'");
        }
        if (extract_name != nullptr) {
            *extract_name = std::string(name);
        }
        next = 3;
    }
    bool is_string = false;
    bool has_base = false;
    bool has_endian = false;
    for (size_t i = next; i < parts.size(); ++i) {
        const auto kv = key_value(parts[i]);
        const std::string k = lower(kv.first);
        const std::string_view arg = kv.second;
        auto no_arg = [arg]() -> bool { return arg.empty(); };
        if (k == "relative" && no_arg()) {
            op.relative = true;
        } else if ((k == "big" || k == "little") && no_arg()) {
            if (has_endian) {
                return fail(kw + " has more than one endianness");
            }
            has_endian = true;
            op.little_endian = k == "little";
        } else if (k == "string" && no_arg()) {
            is_string = true;
        } else if ((k == "hex" || k == "dec" || k == "oct") && no_arg()) {
            if (has_base) {
                return fail(kw + " has more than one number base");
            }
            has_base = true;
            op.base = k == "hex" ? NumBase::kHex : k == "dec" ? NumBase::kDec : NumBase::kOct;
        } else if (k == "dce" && no_arg()) {
            return unsupported(kw + " dce");
        } else if (k == "bitmask") {
            auto mask = parse_integer(arg, 1, std::numeric_limits<int64_t>::max());
            if (!mask) {
                return fail("invalid " + kw + " bitmask '" + std::string(arg) + "'");
            }
            op.bitmask = static_cast<uint64_t>(*mask);
        } else if (k == "multiplier" && kind != ByteOp::Kind::kTest) {
            auto m = parse_integer(arg, 1, 65535);
            if (!m) {
                return fail("invalid " + kw + " multiplier '" + std::string(arg) + "'");
            }
            op.multiplier = static_cast<uint32_t>(*m);
        } else if (kind == ByteOp::Kind::kJump && k == "align" && no_arg()) {
            op.align4 = true;
        } else if (kind == ByteOp::Kind::kJump && k == "from_beginning" && no_arg()) {
            op.from_beginning = true;
        } else if (kind == ByteOp::Kind::kJump && k == "from_end" && no_arg()) {
            op.from_end = true;
        } else if (kind == ByteOp::Kind::kJump && k == "post_offset") {
            auto p = parse_integer(arg, -65535, 65535);
            if (!p) {
                return fail("invalid byte_jump post_offset '" + std::string(arg) + "'");
            }
            op.post_offset = static_cast<int32_t>(*p);
        } else if (kind == ByteOp::Kind::kExtract && k == "align") {
            auto a = parse_integer(arg, 2, 4);
            if (!a || *a == 3) {
                return fail("invalid byte_extract align '" + std::string(arg) +
                            "', expected 2 or 4");
            }
            op.align = static_cast<uint8_t>(*a);
        } else {
            return fail("unknown " + kw + " option '" + std::string(parts[i]) + "'");
        }
    }
    if (op.from_beginning && op.from_end) {
        return fail("byte_jump cannot use both from_beginning and from_end");
    }
    if (is_string) {
        if (!has_base) {
            op.base = NumBase::kDec;
        }
        // Snort ignores an endianness given with string; rules in the wild carry both.
        op.little_endian = false;
    } else {
        if (has_base) {
            return fail(kw + " number base needs 'string'");
        }
        if (op.nbytes > 8) {
            return fail("invalid " + kw + " count '" + std::string(parts[0]) +
                        "', binary reads take 1-8 bytes");
        }
    }
    return op;
}

OptionResult<Isdataat> parse_isdataat(std::string_view value, const VarLookup& vars) {
    Isdataat d;
    std::vector<std::string_view> parts = split(value, ',');
    std::string_view pos = parts[0];
    if (!pos.empty() && pos.front() == '!') {
        d.negated = true;
        pos = trim_view(pos.substr(1));
    }
    auto operand = parse_operand(pos, 0, 65535, vars, "isdataat");
    if (!operand) {
        return tl::unexpected(operand.error());
    }
    d.position = *operand;
    for (size_t i = 1; i < parts.size(); ++i) {
        std::string p = lower(parts[i]);
        if (p == "relative") {
            d.relative = true;
        } else if (p == "rawbytes") {
            // Snort 2: a no-op, we have no normalised payload.
        } else {
            return fail("unknown isdataat option '" + std::string(parts[i]) + "'");
        }
    }
    return d;
}

OptionResult<PcreSpec> parse_pcre(std::string_view value) {
    PcreSpec spec;
    std::string_view v = trim_view(value);
    if (!v.empty() && v.front() == '!') {
        spec.negated = true;
        v = trim_view(v.substr(1));
    }
    if (v.size() < 2 || v.front() != '"' || v.back() != '"') {
        return fail("pcre must be a quoted string");
    }
    std::string_view inner = v.substr(1, v.size() - 2);
    size_t last = inner.rfind('/');
    if (inner.empty() || inner.front() != '/' || last == 0) {
        return fail("invalid pcre '" + std::string(inner) + "', expected \"/regex/flags\"");
    }
    spec.pattern = std::string(inner.substr(1, last - 1));
    spec.flags = std::string(inner.substr(last + 1));
    for (char f : spec.flags) {
        std::optional<uint8_t> kind;
        switch (f) {
            case 'i':
                spec.compile_options |= PCRE2_CASELESS;
                break;
            case 's':
                spec.compile_options |= PCRE2_DOTALL;
                break;
            case 'm':
                spec.compile_options |= PCRE2_MULTILINE;
                break;
            case 'x':
                spec.compile_options |= PCRE2_EXTENDED;
                break;
            case 'A':
                spec.compile_options |= PCRE2_ANCHORED;
                break;
            case 'E':
                spec.compile_options |= PCRE2_DOLLAR_ENDONLY;
                break;
            case 'G':
                spec.compile_options |= PCRE2_UNGREEDY;
                break;
            case 'R':
                spec.relative = true;
                break;
            case 'O':  // use the configured match limits: ours are fixed
            case 'B':  // Snort rawbytes: payloads are never normalised here
                break;
            case 'U':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpUri);
                break;
            case 'I':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpUriRaw);
                break;
            case 'H':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpHeader);
                break;
            case 'M':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpMethod);
                break;
            case 'C':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpCookie);
                break;
            case 'P':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpRequestBody);
                break;
            case 'Q':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpResponseBody);
                break;
            case 'S':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpStatCode);
                break;
            case 'V':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpUserAgent);
                break;
            case 'W':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpHost);
                break;
            case 'Z':
                kind = static_cast<uint8_t>(core::BufferKind::kHttpHostRaw);
                break;
            case 'D':
            case 'K':
            case 'Y':
                return unsupported(std::string("pcre modifier ") + f);
            default:
                return fail("unknown pcre modifier '" + std::string(1, f) + "'");
        }
        if (kind) {
            if (spec.buffer_kind) {
                return fail("pcre has more than one buffer modifier");
            }
            spec.buffer_kind = kind;
        }
    }
    return spec;
}

}  // namespace sensor::rules
