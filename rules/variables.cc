#include "rules/variables.h"

#include <arpa/inet.h>

#include <algorithm>
#include <optional>
#include <utility>

namespace sensor::rules {

namespace {

std::string strip_spaces(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        if (c != ' ' && c != '\t') {
            out.push_back(c);
        }
    }
    return out;
}

bool is_var_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

std::optional<unsigned> parse_decimal(std::string_view s, unsigned max) {
    if (s.empty() || s.size() > 10) {
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
    return static_cast<unsigned>(v);
}

std::optional<core::IpAddress> parse_ip(std::string_view s) {
    std::string text(s);
    uint8_t buf[16] = {};
    if (text.find(':') != std::string::npos) {
        if (inet_pton(AF_INET6, text.c_str(), buf) != 1) {
            return std::nullopt;
        }
        return core::IpAddress::v6_from(buf);
    }
    if (inet_pton(AF_INET, text.c_str(), buf) != 1) {
        return std::nullopt;
    }
    return core::IpAddress::v4_from(buf);
}

uint32_t v4_value(const core::IpAddress& ip) {
    return (uint32_t{ip.bytes[0]} << 24) | (uint32_t{ip.bytes[1]} << 16) |
           (uint32_t{ip.bytes[2]} << 8) | uint32_t{ip.bytes[3]};
}

// Host-part mask of a prefix length: the bits a CIDR block leaves free.
uint64_t low_mask(unsigned bits) { return bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

AddressSet cidr_set(const core::IpAddress& ip, unsigned prefix) {
    AddressSet s;
    if (!ip.v6) {
        uint32_t host = static_cast<uint32_t>(low_mask(32 - prefix));
        uint32_t net = v4_value(ip) & ~host;
        s.v4 = IntervalSet<uint32_t>::single(net, net | host);
        return s;
    }
    U128 v = to_u128(ip);
    unsigned host_bits = 128 - prefix;
    uint64_t lo_host = low_mask(std::min(host_bits, 64u));
    uint64_t hi_host = host_bits > 64 ? low_mask(host_bits - 64) : 0;
    U128 lo{v.hi & ~hi_host, v.lo & ~lo_host};
    U128 hi{lo.hi | hi_host, lo.lo | lo_host};
    s.v6 = IntervalSet<U128>::single(lo, hi);
    return s;
}

// Dotted netmask (255.255.255.0) to a prefix length; nullopt when not contiguous.
std::optional<unsigned> netmask_prefix(std::string_view s) {
    auto ip = parse_ip(s);
    if (!ip || ip->v6) {
        return std::nullopt;
    }
    uint32_t m = v4_value(*ip);
    unsigned prefix = 0;
    while (prefix < 32 && (m & (uint32_t{1} << (31 - prefix))) != 0) {
        ++prefix;
    }
    if (prefix < 32 && (m & static_cast<uint32_t>(low_mask(32 - prefix))) != 0) {
        return std::nullopt;
    }
    return prefix;
}

// Shared shape of address and port fields: `!` negation at any level, `[a,b]` lists and
// `$VAR` references. A list is (union of its positive items, or everything when it has
// none) minus the union of its negated items, as Suricata defines it.
template <class Set, class Leaf>
class FieldParser {
public:
    FieldParser(std::string_view text, std::string_view owner, Leaf leaf)
        : text_(text), owner_(owner), leaf_(std::move(leaf)) {}

    core::Result<Set> parse() {
        if (text_.empty()) {
            return fail("empty " + std::string(Leaf::kWhat));
        }
        auto element = parse_element();
        if (!element) {
            return tl::unexpected(element.error());
        }
        if (pos_ != text_.size()) {
            return fail("unexpected '" + std::string(text_.substr(pos_, 1)) + "' in " +
                        std::string(Leaf::kWhat) + " '" + std::string(text_) + "'");
        }
        if (element->first) {
            return Leaf::all().subtract(element->second);
        }
        return std::move(element->second);
    }

private:
    // Returns (negated, inner set).
    core::Result<std::pair<bool, Set>> parse_element() {
        bool negated = false;
        while (pos_ < text_.size() && text_[pos_] == '!') {
            negated = !negated;
            ++pos_;
        }
        if (pos_ >= text_.size()) {
            return fail("missing " + std::string(Leaf::kWhat) + " after '!' in '" +
                        std::string(text_) + "'");
        }
        char c = text_[pos_];
        if (c == '[') {
            ++pos_;
            auto list = parse_list();
            if (!list) {
                return tl::unexpected(list.error());
            }
            return std::pair<bool, Set>{negated, std::move(*list)};
        }
        if (c == '$') {
            size_t start = ++pos_;
            while (pos_ < text_.size() && is_var_char(text_[pos_])) {
                ++pos_;
            }
            if (pos_ == start) {
                return fail("missing variable name after '$' in '" + std::string(text_) + "'");
            }
            auto set = leaf_.resolve(text_.substr(start, pos_ - start));
            if (!set) {
                return tl::unexpected(set.error());
            }
            return std::pair<bool, Set>{negated, std::move(*set)};
        }
        size_t start = pos_;
        while (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != ']' &&
               text_[pos_] != '[') {
            ++pos_;
        }
        std::string_view token = text_.substr(start, pos_ - start);
        if (token.empty()) {
            return fail("missing " + std::string(Leaf::kWhat) + " in '" + std::string(text_) + "'");
        }
        auto set = leaf_.literal(token);
        if (!set) {
            return fail(set.error().message);
        }
        return std::pair<bool, Set>{negated, std::move(*set)};
    }

    core::Result<Set> parse_list() {
        if (pos_ < text_.size() && text_[pos_] == ']') {
            return fail("empty " + std::string(Leaf::kWhat) + " list in '" + std::string(text_) +
                        "'");
        }
        Set positive;
        Set negative;
        bool has_positive = false;
        while (true) {
            auto element = parse_element();
            if (!element) {
                return tl::unexpected(element.error());
            }
            if (element->first) {
                negative = negative.unite(element->second);
            } else {
                positive = positive.unite(element->second);
                has_positive = true;
            }
            if (pos_ >= text_.size()) {
                return fail("missing ']' in " + std::string(Leaf::kWhat) + " list '" +
                            std::string(text_) + "'");
            }
            char c = text_[pos_++];
            if (c == ']') {
                break;
            }
            if (c != ',') {
                return fail("unexpected '" + std::string(1, c) + "' in " +
                            std::string(Leaf::kWhat) + " list '" + std::string(text_) + "'");
            }
        }
        Set base = has_positive ? std::move(positive) : Leaf::all();
        return base.subtract(negative);
    }

    tl::unexpected<core::Error> fail(std::string message) const {
        if (!owner_.empty()) {
            message += " in $" + std::string(owner_);
        }
        return core::make_error(std::move(message));
    }

    std::string_view text_;
    std::string_view owner_;
    Leaf leaf_;
    size_t pos_ = 0;
};

struct AddressLeaf {
    static constexpr std::string_view kWhat = "address";
    Variables* vars;

    static AddressSet all() { return AddressSet::any(); }
    core::Result<AddressSet> resolve(std::string_view name) const {
        return vars->resolve_address(name);
    }
    core::Result<AddressSet> literal(std::string_view token) const {
        if (token == "any") {
            return AddressSet::any();
        }
        auto bad = [&] { return core::make_error("invalid address '" + std::string(token) + "'"); };
        if (size_t dash = token.find('-'); dash != std::string_view::npos) {
            auto lo = parse_ip(token.substr(0, dash));
            auto hi = parse_ip(token.substr(dash + 1));
            if (!lo || !hi || lo->v6 != hi->v6 || *hi < *lo) {
                return core::make_error("invalid address range '" + std::string(token) + "'");
            }
            AddressSet s;
            if (lo->v6) {
                s.v6 = IntervalSet<U128>::single(to_u128(*lo), to_u128(*hi));
            } else {
                s.v4 = IntervalSet<uint32_t>::single(v4_value(*lo), v4_value(*hi));
            }
            return s;
        }
        size_t slash = token.find('/');
        auto ip = parse_ip(token.substr(0, slash));
        if (!ip) {
            return bad();
        }
        unsigned max_prefix = ip->v6 ? 128 : 32;
        unsigned prefix = max_prefix;
        if (slash != std::string_view::npos) {
            std::string_view p = token.substr(slash + 1);
            auto value = parse_decimal(p, max_prefix);
            if (!value && !ip->v6 && p.find('.') != std::string_view::npos) {
                value = netmask_prefix(p);
            }
            if (!value) {
                return core::make_error("invalid prefix length in '" + std::string(token) + "'");
            }
            prefix = *value;
        }
        return cidr_set(*ip, prefix);
    }
};

struct PortLeaf {
    static constexpr std::string_view kWhat = "port";
    Variables* vars;

    static IntervalSet<uint16_t> all() { return IntervalSet<uint16_t>::full(); }
    core::Result<IntervalSet<uint16_t>> resolve(std::string_view name) const {
        return vars->resolve_port(name);
    }
    core::Result<IntervalSet<uint16_t>> literal(std::string_view token) const {
        if (token == "any") {
            return all();
        }
        size_t colon = token.find(':');
        if (colon == std::string_view::npos) {
            auto v = parse_decimal(token, 65535);
            if (!v) {
                return core::make_error("invalid port '" + std::string(token) + "'");
            }
            return IntervalSet<uint16_t>::single(static_cast<uint16_t>(*v),
                                                 static_cast<uint16_t>(*v));
        }
        std::string_view a = token.substr(0, colon);
        std::string_view b = token.substr(colon + 1);
        auto lo = a.empty() ? std::optional<unsigned>(0) : parse_decimal(a, 65535);
        auto hi = b.empty() ? std::optional<unsigned>(65535) : parse_decimal(b, 65535);
        if (!lo || !hi || (a.empty() && b.empty())) {
            return core::make_error("invalid port range '" + std::string(token) + "'");
        }
        if (*lo > *hi) {
            return core::make_error("port range '" + std::string(token) +
                                    "' has start greater than end");
        }
        return IntervalSet<uint16_t>::single(static_cast<uint16_t>(*lo),
                                             static_cast<uint16_t>(*hi));
    }
};

std::string cycle_message(const std::vector<std::string>& stack, std::string_view name) {
    auto it = std::find(stack.begin(), stack.end(), name);
    std::string msg = "variable cycle";
    const char* sep = " ";
    for (; it != stack.end(); ++it) {
        msg += sep;
        msg += "$" + *it;
        sep = " -> ";
    }
    msg += " -> $" + std::string(name);
    return msg;
}

}  // namespace

const GroupMap& default_address_groups() {
    static const GroupMap groups = [] {
        GroupMap g;
        g["HOME_NET"] = "[192.168.0.0/16,10.0.0.0/8,172.16.0.0/12]";
        g["EXTERNAL_NET"] = "!$HOME_NET";
        for (const char* name :
             {"HTTP_SERVERS", "SMTP_SERVERS", "SQL_SERVERS", "DNS_SERVERS", "TELNET_SERVERS",
              "AIM_SERVERS", "DC_SERVERS", "DNP3_SERVER", "DNP3_CLIENT", "MODBUS_CLIENT",
              "MODBUS_SERVER", "ENIP_CLIENT", "ENIP_SERVER", "SIP_SERVERS"}) {
            g[name] = "$HOME_NET";
        }
        return g;
    }();
    return groups;
}

const GroupMap& default_port_groups() {
    static const GroupMap groups = {
        {"HTTP_PORTS", "80"},
        {"SHELLCODE_PORTS", "!80"},
        {"ORACLE_PORTS", "1521"},
        {"SSH_PORTS", "22"},
        {"DNP3_PORTS", "20000"},
        {"MODBUS_PORTS", "502"},
        {"FILE_DATA_PORTS", "[$HTTP_PORTS,110,143]"},
        {"FTP_PORTS", "21"},
        {"GENEVE_PORTS", "6081"},
        {"VXLAN_PORTS", "4789"},
        {"TEREDO_PORTS", "3544"},
        {"SIP_PORTS", "[5060,5061,5600]"},  // Snort 3's default (snort_defaults.lua)
    };
    return groups;
}

Variables::Variables(const GroupMap& address_groups, const GroupMap& port_groups)
    : address_groups_(default_address_groups()), port_groups_(default_port_groups()) {
    for (const auto& [name, text] : address_groups) {
        address_groups_[name] = text;
    }
    for (const auto& [name, text] : port_groups) {
        port_groups_[name] = text;
    }
}

core::Result<AddressSpec> Variables::parse_address(std::string_view text) {
    std::string stripped = strip_spaces(text);
    FieldParser<AddressSet, AddressLeaf> parser(stripped, {}, AddressLeaf{this});
    auto set = parser.parse();
    if (!set) {
        return tl::unexpected(set.error());
    }
    if (set->empty()) {
        return core::make_error("address '" + stripped + "' matches no address");
    }
    AddressSpec spec;
    spec.any = set->v4.is_full() && set->v6.is_full();
    spec.set = std::move(*set);
    spec.text = std::move(stripped);
    return spec;
}

core::Result<PortSpec> Variables::parse_port(std::string_view text) {
    std::string stripped = strip_spaces(text);
    FieldParser<IntervalSet<uint16_t>, PortLeaf> parser(stripped, {}, PortLeaf{this});
    auto set = parser.parse();
    if (!set) {
        return tl::unexpected(set.error());
    }
    if (set->empty()) {
        return core::make_error("port '" + stripped + "' matches no port");
    }
    PortSpec spec;
    spec.any = set->is_full();
    spec.set = std::move(*set);
    spec.text = std::move(stripped);
    return spec;
}

core::Result<AddressSet> Variables::resolve_address(std::string_view name) {
    if (auto it = address_cache_.find(name); it != address_cache_.end()) {
        return it->second;
    }
    if (std::find(resolving_address_.begin(), resolving_address_.end(), name) !=
        resolving_address_.end()) {
        return core::make_error(cycle_message(resolving_address_, name));
    }
    auto group = address_groups_.find(std::string(name));
    if (group == address_groups_.end()) {
        return core::make_error("undefined address variable $" + std::string(name));
    }
    std::string stripped = strip_spaces(group->second);
    resolving_address_.emplace_back(name);
    FieldParser<AddressSet, AddressLeaf> parser(stripped, group->first, AddressLeaf{this});
    auto set = parser.parse();
    resolving_address_.pop_back();
    if (set) {
        address_cache_.emplace(std::string(name), *set);
    }
    return set;
}

core::Result<IntervalSet<uint16_t>> Variables::resolve_port(std::string_view name) {
    if (auto it = port_cache_.find(name); it != port_cache_.end()) {
        return it->second;
    }
    if (std::find(resolving_port_.begin(), resolving_port_.end(), name) != resolving_port_.end()) {
        return core::make_error(cycle_message(resolving_port_, name));
    }
    auto group = port_groups_.find(std::string(name));
    if (group == port_groups_.end()) {
        return core::make_error("undefined port variable $" + std::string(name));
    }
    std::string stripped = strip_spaces(group->second);
    resolving_port_.emplace_back(name);
    FieldParser<IntervalSet<uint16_t>, PortLeaf> parser(stripped, group->first, PortLeaf{this});
    auto set = parser.parse();
    resolving_port_.pop_back();
    if (set) {
        port_cache_.emplace(std::string(name), *set);
    }
    return set;
}

}  // namespace sensor::rules
