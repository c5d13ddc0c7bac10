// Rule text -> Rule: header, options, variables, and the per-rule accounting of the
// LoadReport. Every problem is local to its rule: the rule is skipped, the file goes on.

#include <algorithm>
#include <array>
#include <cctype>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/option_values.h"
#include "rules/rule_set.h"
#include "rules/variables.h"
#include "sensor/core/read_file.h"

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

// Lines that may hold a rule: neither blank nor comments. At least as many as the rules the
// text adds (a rule continued over several lines counts for each).
size_t possible_rules(std::string_view text) {
    size_t count = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t nl = text.find('\n', pos);
        if (nl == std::string_view::npos) {
            nl = text.size();
        }
        const std::string_view line = trim(text.substr(pos, nl - pos));
        if (!line.empty() && line.front() != '#') {
            ++count;
        }
        pos = nl + 1;
    }
    return count;
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
    AppProtoName{"llmnr", "llmnr"},  // nDPI classifies both, under these names
    AppProtoName{"mdns", "mdns"},
};

// Valid Suricata (up to 9) header protocols that this version does not evaluate: the rule is
// reported as unsupported, neither refused as an error nor matched with the wrong meaning.
constexpr std::array<std::string_view, 11> kUnsupportedProtos{
    "ipv4",   "ip4",     "ipv6",  "ip6",  "icmpv4",  "icmpv6",
    "pkthdr", "udp-pkt", "ether", "doh2", "template"};

// app-layer-protocol:[!]NAME[,MODE]. Names Suricata knows but the classifier never gives
// make the rule unsupported (it could never match as meant), not wrong.
OptionResult<AppProtoCheck> parse_app_layer_protocol(std::string_view value) {
    auto fail = [](std::string text) {
        return tl::unexpected(OptionError{false, std::move(text)});
    };
    AppProtoCheck out;
    std::string_view v = value;
    std::string_view mode;
    if (size_t comma = v.find(','); comma != std::string_view::npos) {
        mode = trim(v.substr(comma + 1));
        v = v.substr(0, comma);
    }
    v = trim(v);
    if (!v.empty() && v.front() == '!') {
        out.negated = true;
        v = trim(v.substr(1));
    }
    if (v.empty()) {
        return fail("app-layer-protocol needs a protocol name");
    }
    if (v.find('|') != std::string_view::npos || mode.find(',') != std::string_view::npos ||
        mode == "exact") {
        return tl::unexpected(OptionError{true, "app-layer-protocol:" + std::string(value)});
    }
    const std::string name = lower(v);
    if (name == "failed" || name == "unknown" || name == "http1") {
        out.name = name;
    } else if (auto app = std::find_if(kAppProtos.begin(), kAppProtos.end(),
                                       [&](const AppProtoName& a) { return a.name == name; });
               app != kAppProtos.end()) {
        out.name = std::string(app->normalised);
    } else {
        return tl::unexpected(OptionError{true, "app-layer-protocol:" + name});
    }
    if (out.negated && name == "unknown") {
        return fail("app-layer-protocol 'unknown' cannot be negated");
    }
    using Mode = AppProtoCheck::Mode;
    static constexpr std::pair<std::string_view, Mode> kModes[] = {
        {"direction", Mode::kDirection}, {"to_server", Mode::kToServer},
        {"to_client", Mode::kToClient},  {"either", Mode::kEither},
        {"final", Mode::kFinal},         {"original", Mode::kOriginal},
    };
    if (!mode.empty()) {
        auto m = std::find_if(std::begin(kModes), std::end(kModes),
                              [&](const auto& e) { return e.first == mode; });
        if (m == std::end(kModes)) {
            return fail("unknown app-layer-protocol mode '" + std::string(mode) + "'");
        }
        out.mode = m->second;
    }
    return out;
}

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
    kTarget,
    kService,
    kContent,
    kUricontent,
    kNocase,
    kOffset,
    kDepth,
    kDistance,
    kWithin,
    kStartswith,
    kEndswith,
    kRawbytes,
    kFastPattern,
    kIsdataat,
    kDsize,
    kBsize,
    kBufferlen,
    kUrilen,
    kPcre,
    kByteTest,
    kByteJump,
    kByteExtract,
    kFlow,
    kFlowbits,
    kXbits,
    kNoalert,
    kThreshold,
    kDetectionFilter,
    kFlags,
    kItype,
    kIcode,
    kTtl,
    kTos,
    kIpId,
    kIpProto,
    kTcpSeq,
    kTcpAck,
    kTcpWindow,
    kIcmpId,
    kIcmpSeq,
    kStreamSize,
    kFragbits,
    kSticky,          // sticky buffer: later keywords look in it
    kBufferModifier,  // Suricata/Snort 2 content modifier; a sticky buffer in Snort 3 rules
    kDotprefix,
    kAppLayerProtocol,
    kTlsVersion,
    kUnknown,
};

struct KeywordInfo {
    Kw kw = Kw::kUnknown;
    uint8_t buffer = BufferId::kPayload;  // for kSticky and kBufferModifier
};

constexpr uint8_t buf(core::BufferKind k) { return static_cast<uint8_t>(k); }

// What an arp rule may use: an ARP frame has no IP header, ports, payload or flow, so only
// the rule's identity and alert rate apply.
bool arp_option(Kw kw) {
    switch (kw) {
        case Kw::kMsg:
        case Kw::kSid:
        case Kw::kRev:
        case Kw::kGid:
        case Kw::kClasstype:
        case Kw::kPriority:
        case Kw::kReference:
        case Kw::kMetadata:
        case Kw::kThreshold:
        case Kw::kDetectionFilter:
            return true;
        default:
            return false;
    }
}

KeywordInfo keyword_info(std::string_view k) {
    using core::BufferKind;
    static const std::map<std::string_view, KeywordInfo> table = {
        {"msg", {Kw::kMsg}},
        {"sid", {Kw::kSid}},
        {"rev", {Kw::kRev}},
        {"gid", {Kw::kGid}},
        {"classtype", {Kw::kClasstype}},
        {"priority", {Kw::kPriority}},
        {"reference", {Kw::kReference}},
        {"metadata", {Kw::kMetadata}},
        {"target", {Kw::kTarget}},
        {"service", {Kw::kService}},
        {"content", {Kw::kContent}},
        {"uricontent", {Kw::kUricontent}},
        {"nocase", {Kw::kNocase}},
        {"offset", {Kw::kOffset}},
        {"depth", {Kw::kDepth}},
        {"distance", {Kw::kDistance}},
        {"within", {Kw::kWithin}},
        {"startswith", {Kw::kStartswith}},
        {"endswith", {Kw::kEndswith}},
        {"rawbytes", {Kw::kRawbytes}},
        {"fast_pattern", {Kw::kFastPattern}},
        {"isdataat", {Kw::kIsdataat}},
        {"dsize", {Kw::kDsize}},
        {"bsize", {Kw::kBsize}},
        {"bufferlen", {Kw::kBufferlen}},
        {"urilen", {Kw::kUrilen}},
        {"pcre", {Kw::kPcre}},
        {"byte_test", {Kw::kByteTest}},
        {"byte_jump", {Kw::kByteJump}},
        {"byte_extract", {Kw::kByteExtract}},
        {"flow", {Kw::kFlow}},
        {"flowbits", {Kw::kFlowbits}},
        {"xbits", {Kw::kXbits}},
        {"noalert", {Kw::kNoalert}},
        {"threshold", {Kw::kThreshold}},
        {"detection_filter", {Kw::kDetectionFilter}},
        {"flags", {Kw::kFlags}},
        {"itype", {Kw::kItype}},
        {"icode", {Kw::kIcode}},
        {"ttl", {Kw::kTtl}},
        {"tos", {Kw::kTos}},
        {"id", {Kw::kIpId}},
        {"ip_proto", {Kw::kIpProto}},
        {"seq", {Kw::kTcpSeq}},
        {"ack", {Kw::kTcpAck}},
        {"window", {Kw::kTcpWindow}},
        {"icmp_id", {Kw::kIcmpId}},
        {"icmp_seq", {Kw::kIcmpSeq}},
        {"stream_size", {Kw::kStreamSize}},
        {"fragbits", {Kw::kFragbits}},
        {"dotprefix", {Kw::kDotprefix}},
        {"app-layer-protocol", {Kw::kAppLayerProtocol}},
        {"tls.version", {Kw::kTlsVersion}},
        {"pkt_data", {Kw::kSticky, BufferId::kPayload}},
        {"file_data", {Kw::kSticky, BufferId::kFileData}},
        {"file.data", {Kw::kSticky, BufferId::kFileData}},
        {"http.uri", {Kw::kSticky, buf(BufferKind::kHttpUri)}},
        {"http.uri.raw", {Kw::kSticky, buf(BufferKind::kHttpUriRaw)}},
        {"http.method", {Kw::kSticky, buf(BufferKind::kHttpMethod)}},
        {"http.host", {Kw::kSticky, buf(BufferKind::kHttpHost)}},
        {"http.host.raw", {Kw::kSticky, buf(BufferKind::kHttpHostRaw)}},
        {"http.user_agent", {Kw::kSticky, buf(BufferKind::kHttpUserAgent)}},
        {"http.header", {Kw::kSticky, buf(BufferKind::kHttpHeader)}},
        {"http.cookie", {Kw::kSticky, buf(BufferKind::kHttpCookie)}},
        {"http.stat_code", {Kw::kSticky, buf(BufferKind::kHttpStatCode)}},
        {"http.request_body", {Kw::kSticky, buf(BufferKind::kHttpRequestBody)}},
        {"http.response_body", {Kw::kSticky, buf(BufferKind::kHttpResponseBody)}},
        {"http.request_line", {Kw::kSticky, buf(BufferKind::kHttpRequestLine)}},
        {"http.response_line", {Kw::kSticky, buf(BufferKind::kHttpResponseLine)}},
        {"http.protocol", {Kw::kSticky, buf(BufferKind::kHttpProtocol)}},
        {"http.stat_msg", {Kw::kSticky, buf(BufferKind::kHttpStatMsg)}},
        {"http.header_names", {Kw::kSticky, buf(BufferKind::kHttpHeaderNames)}},
        {"http.start", {Kw::kSticky, buf(BufferKind::kHttpStart)}},
        {"http.content_type", {Kw::kSticky, buf(BufferKind::kHttpContentType)}},
        {"http.content_len", {Kw::kSticky, buf(BufferKind::kHttpContentLen)}},
        {"http.referer", {Kw::kSticky, buf(BufferKind::kHttpReferer)}},
        {"http.accept", {Kw::kSticky, buf(BufferKind::kHttpAccept)}},
        {"http.accept_enc", {Kw::kSticky, buf(BufferKind::kHttpAcceptEnc)}},
        {"http.accept_lang", {Kw::kSticky, buf(BufferKind::kHttpAcceptLang)}},
        {"http.connection", {Kw::kSticky, buf(BufferKind::kHttpConnection)}},
        {"http.location", {Kw::kSticky, buf(BufferKind::kHttpLocation)}},
        {"http.server", {Kw::kSticky, buf(BufferKind::kHttpServer)}},
        {"http.header.raw", {Kw::kSticky, buf(BufferKind::kHttpHeaderRaw)}},
        // Suricata's older names of the sticky buffers above: sticky too, not modifiers.
        {"http_request_line", {Kw::kSticky, buf(BufferKind::kHttpRequestLine)}},
        {"http_response_line", {Kw::kSticky, buf(BufferKind::kHttpResponseLine)}},
        {"http_protocol", {Kw::kSticky, buf(BufferKind::kHttpProtocol)}},
        {"http_header_names", {Kw::kSticky, buf(BufferKind::kHttpHeaderNames)}},
        {"http_start", {Kw::kSticky, buf(BufferKind::kHttpStart)}},
        {"http_content_type", {Kw::kSticky, buf(BufferKind::kHttpContentType)}},
        {"http_content_len", {Kw::kSticky, buf(BufferKind::kHttpContentLen)}},
        {"http_referer", {Kw::kSticky, buf(BufferKind::kHttpReferer)}},
        {"http_accept", {Kw::kSticky, buf(BufferKind::kHttpAccept)}},
        {"http_accept_enc", {Kw::kSticky, buf(BufferKind::kHttpAcceptEnc)}},
        {"http_accept_lang", {Kw::kSticky, buf(BufferKind::kHttpAcceptLang)}},
        {"http_connection", {Kw::kSticky, buf(BufferKind::kHttpConnection)}},
        {"dns.query", {Kw::kSticky, buf(BufferKind::kDnsQuery)}},
        {"dns_query", {Kw::kSticky, buf(BufferKind::kDnsQuery)}},
        {"tls.sni", {Kw::kSticky, buf(BufferKind::kTlsSni)}},
        {"tls_sni", {Kw::kSticky, buf(BufferKind::kTlsSni)}},
        {"ja3.hash", {Kw::kSticky, buf(BufferKind::kJa3Hash)}},
        {"ja3_hash", {Kw::kSticky, buf(BufferKind::kJa3Hash)}},
        {"ja3.string", {Kw::kSticky, buf(BufferKind::kJa3String)}},
        {"ja3_string", {Kw::kSticky, buf(BufferKind::kJa3String)}},
        {"ja3s.hash", {Kw::kSticky, buf(BufferKind::kJa3sHash)}},
        {"tls.cert_subject", {Kw::kSticky, buf(BufferKind::kTlsCertSubject)}},
        {"tls_cert_subject", {Kw::kSticky, buf(BufferKind::kTlsCertSubject)}},
        {"tls.cert_issuer", {Kw::kSticky, buf(BufferKind::kTlsCertIssuer)}},
        {"tls_cert_issuer", {Kw::kSticky, buf(BufferKind::kTlsCertIssuer)}},
        {"tls.cert_serial", {Kw::kSticky, buf(BufferKind::kTlsCertSerial)}},
        {"tls_cert_serial", {Kw::kSticky, buf(BufferKind::kTlsCertSerial)}},
        {"tls.certs", {Kw::kSticky, buf(BufferKind::kTlsCerts)}},
        {"http_uri", {Kw::kBufferModifier, buf(BufferKind::kHttpUri)}},
        {"http_raw_uri", {Kw::kBufferModifier, buf(BufferKind::kHttpUriRaw)}},
        {"http_method", {Kw::kBufferModifier, buf(BufferKind::kHttpMethod)}},
        {"http_host", {Kw::kBufferModifier, buf(BufferKind::kHttpHost)}},
        {"http_raw_host", {Kw::kBufferModifier, buf(BufferKind::kHttpHostRaw)}},
        {"http_user_agent", {Kw::kBufferModifier, buf(BufferKind::kHttpUserAgent)}},
        {"http_header", {Kw::kBufferModifier, buf(BufferKind::kHttpHeader)}},
        {"http_cookie", {Kw::kBufferModifier, buf(BufferKind::kHttpCookie)}},
        {"http_stat_code", {Kw::kBufferModifier, buf(BufferKind::kHttpStatCode)}},
        {"http_client_body", {Kw::kBufferModifier, buf(BufferKind::kHttpRequestBody)}},
        {"http_server_body", {Kw::kBufferModifier, buf(BufferKind::kHttpResponseBody)}},
        {"http_stat_msg", {Kw::kBufferModifier, buf(BufferKind::kHttpStatMsg)}},
        {"http_raw_header", {Kw::kBufferModifier, buf(BufferKind::kHttpHeaderRaw)}},
    };
    auto it = table.find(k);
    return it == table.end() ? KeywordInfo{} : it->second;
}

// Byte_extract variables per rule (Operand::var is an int8_t; Suricata's own limit is lower
// than what rules in the wild use).
constexpr size_t kMaxByteVars = 8;
// Inspection keywords per rule: Item::index is 16 bits.
constexpr size_t kMaxItems = 1024;

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

// One `keyword[:value];` of the option list, located in the line.
struct RawOption {
    std::string keyword;
    bool has_value = false;
    std::string_view value;
    size_t kw_col = 0;
    size_t value_col = 0;
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
    bool snort3 = false;  // Snort 3 dialect: http_* keywords are sticky buffers
    BufferId sticky;      // where contents without their own buffer look
    std::vector<std::string> meta_concepts;
    // flowbits by name until the rule is accepted and the names get ids.
    std::vector<FlowbitsSpec> flowbits;

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
    int var_index(std::string_view name) const {
        const auto& vars = rule.byte_vars;
        for (size_t i = 0; i < vars.size(); ++i) {
            if (vars[i] == name) {
                return static_cast<int>(i);
            }
        }
        return -1;
    }
    void add_item(Item::Kind kind, size_t index) {
        rule.items.push_back(Item{kind, static_cast<uint16_t>(index)});
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

    // Room for this many more rules. A Rule is over a kilobyte: growing the vector rule by
    // rule moved each one about twice, and those copies and the fresh pages they filled were
    // a large share of loading a big rule set in the profiles.
    void reserve(size_t more) { rules_.reserve(rules_.size() + more); }

    RuleSet finish() {
        return RuleSet(std::move(rules_), std::move(report_), std::move(flowbit_names_));
    }

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
    void apply_option(RuleDraft& d, const RawOption& o);
    void apply_content(RuleDraft& d, const RawOption& o, std::optional<uint8_t> buffer);
    void apply_content_modifier(RuleDraft& d, const RawOption& o, Kw kind);
    std::optional<Problem> validate(const Rule& r) const;
    void build_lists(Rule& r) const;
    std::optional<uint16_t> flowbit_id(const std::string& name);

    Variables vars_;
    const Taxonomy& taxonomy_;
    std::vector<Rule> rules_;
    LoadReport report_;
    std::map<std::pair<uint32_t, uint32_t>, size_t> sid_index_;  // (gid, sid) -> rules_ index
    std::map<std::string, uint16_t, std::less<>> flowbit_ids_;
    std::vector<std::string> flowbit_names_;
};

std::optional<uint16_t> Loader::flowbit_id(const std::string& name) {
    auto it = flowbit_ids_.find(name);
    if (it != flowbit_ids_.end()) {
        return it->second;
    }
    if (flowbit_names_.size() > 0xffff) {
        return std::nullopt;
    }
    auto id = static_cast<uint16_t>(flowbit_names_.size());
    flowbit_ids_.emplace(name, id);
    flowbit_names_.push_back(name);
    return id;
}

void Loader::apply_content(RuleDraft& d, const RawOption& o, std::optional<uint8_t> buffer) {
    Rule& r = d.rule;
    if (!o.has_value || o.value.empty()) {
        d.value_error(o.kw_col, o.keyword, "option '" + o.keyword + "' needs a value");
        return;
    }
    auto c = parse_content(o.value);
    if (!c) {
        if (c.error().syntax) {
            d.syntax_error(o.value_col, o.keyword, c.error().message);
        } else {
            d.value_error(o.value_col, o.keyword, c.error().message);
        }
        return;
    }
    c->content.buffer = buffer ? BufferId{*buffer, false} : d.sticky;
    d.add_item(Item::Kind::kContent, r.contents.size());
    r.contents.push_back(std::move(c->content));
    // Snort 3 writes modifiers inside the option: content:"ab",depth 2,nocase;
    std::string_view mods = c->modifiers;
    while (!mods.empty()) {
        size_t comma = mods.find(',');
        std::string_view item = trim(mods.substr(0, comma));
        mods = comma == std::string_view::npos ? std::string_view{} : mods.substr(comma + 1);
        size_t sp = item.find_first_of(" \t");
        std::string name = lower(item.substr(0, sp));
        std::string_view arg =
            sp == std::string_view::npos ? std::string_view{} : trim(item.substr(sp));
        if (name == "fast_pattern_offset" || name == "fast_pattern_length") {
            Content& last = r.contents.back();
            auto v = parse_unsigned(arg, 65535);
            if (!v || (name == "fast_pattern_length" && *v == 0)) {
                d.value_error(o.value_col, name, "invalid " + name + " '" + printable(arg) + "'");
                continue;
            }
            if (name == "fast_pattern_offset") {
                last.fp_offset = static_cast<uint16_t>(*v);
                if (last.fp_length == 0) {
                    last.fp_length =
                        static_cast<uint16_t>(last.bytes.size() > *v ? last.bytes.size() - *v : 1);
                }
            } else {
                last.fp_length = static_cast<uint16_t>(*v);
            }
            continue;
        }
        Kw mod = keyword_info(name).kw;
        switch (mod) {
            case Kw::kNocase:
            case Kw::kOffset:
            case Kw::kDepth:
            case Kw::kDistance:
            case Kw::kWithin:
            case Kw::kFastPattern:
            case Kw::kRawbytes:
                apply_content_modifier(
                    d, RawOption{name, !arg.empty(), arg, o.value_col, o.value_col}, mod);
                break;
            default:
                d.add_unsupported(name.empty() ? std::string("content modifier") : name,
                                  o.value_col);
        }
    }
}

void Loader::apply_content_modifier(RuleDraft& d, const RawOption& o, Kw kind) {
    Rule& r = d.rule;
    const std::string& keyword = o.keyword;
    if (r.contents.empty()) {
        d.value_error(o.kw_col, keyword, "'" + keyword + "' needs a preceding content");
        return;
    }
    Content& c = r.contents.back();
    auto need_value = [&]() {
        if (!o.has_value || o.value.empty()) {
            d.value_error(o.kw_col, keyword, "option '" + keyword + "' needs a value");
            return false;
        }
        return true;
    };
    auto no_value = [&]() {
        if (o.has_value) {
            d.value_error(o.kw_col, keyword, "'" + keyword + "' takes no value");
            return false;
        }
        return true;
    };
    // Absolute (offset, depth, startswith) and relative (distance, within) anchoring are
    // exclusive on one content, as in Suricata.
    auto conflict = [&](std::initializer_list<std::pair<bool, const char*>> others) {
        for (const auto& [present, name] : others) {
            if (present) {
                d.value_error(
                    o.kw_col, keyword,
                    "'" + keyword + "' cannot be combined with '" + name + "' on one content");
                return true;
            }
        }
        return false;
    };
    auto var_lookup = [&d](std::string_view name) { return d.var_index(name); };

    switch (kind) {
        case Kw::kNocase:
            if (!no_value()) {
                break;
            }
            if (c.nocase) {
                d.value_error(o.kw_col, keyword, "duplicate 'nocase' on one content");
            } else {
                c.nocase = true;
            }
            break;
        case Kw::kRawbytes:
            no_value();  // Snort 2: payloads are never normalised here, nothing to undo
            break;
        case Kw::kStartswith:
        case Kw::kEndswith: {
            if (!no_value()) {
                break;
            }
            if (kind == Kw::kStartswith) {
                if (c.startswith) {
                    d.value_error(o.kw_col, keyword, "duplicate 'startswith' on one content");
                    break;
                }
                if (conflict({{c.has_offset, "offset"},
                              {c.has_depth, "depth"},
                              {c.has_distance, "distance"},
                              {c.has_within, "within"}})) {
                    break;
                }
                c.startswith = true;
                c.has_offset = true;
                c.offset = Operand{0, -1};
                c.has_depth = true;
                c.depth = Operand{static_cast<int64_t>(c.bytes.size()), -1};
            } else {
                if (c.endswith) {
                    d.value_error(o.kw_col, keyword, "duplicate 'endswith' on one content");
                    break;
                }
                c.endswith = true;
            }
            break;
        }
        case Kw::kFastPattern: {
            // `only` and `offset,length` change only what the prefilter scans for; the
            // whole content is still confirmed, so accepting them never changes a match.
            if (o.has_value && o.value != "only") {
                size_t comma = o.value.find(',');
                auto off = comma == std::string_view::npos
                               ? std::nullopt
                               : parse_unsigned(o.value.substr(0, comma), 65535);
                auto len = comma == std::string_view::npos
                               ? std::nullopt
                               : parse_unsigned(o.value.substr(comma + 1), 65535);
                if (!off || !len || *len == 0) {
                    d.value_error(o.value_col, keyword,
                                  "invalid fast_pattern value '" + printable(o.value) + "'");
                    break;
                }
                c.fp_offset = static_cast<uint16_t>(*off);
                c.fp_length = static_cast<uint16_t>(*len);
            }
            if (c.fast_pattern) {
                d.value_error(o.kw_col, keyword, "duplicate 'fast_pattern' on one content");
                break;
            }
            bool other = std::any_of(r.contents.begin(), r.contents.end(),
                                     [](const Content& x) { return x.fast_pattern; });
            if (other) {
                d.value_error(o.kw_col, keyword, "fast_pattern set on more than one content");
                break;
            }
            c.fast_pattern = true;
            c.fast_pattern_only = o.has_value && o.value == "only";
            break;
        }
        case Kw::kOffset:
        case Kw::kDepth:
        case Kw::kDistance:
        case Kw::kWithin: {
            if (!need_value()) {
                break;
            }
            const bool absolute = kind == Kw::kOffset || kind == Kw::kDepth;
            const int64_t min = kind == Kw::kDistance ? -65535 : 0;
            auto v = parse_operand(o.value, min, 65535, var_lookup, keyword);
            if (!v) {
                d.value_error(o.value_col, keyword, v.error().text);
                break;
            }
            bool& present = kind == Kw::kOffset     ? c.has_offset
                            : kind == Kw::kDepth    ? c.has_depth
                            : kind == Kw::kDistance ? c.has_distance
                                                    : c.has_within;
            if (c.startswith) {
                conflict({{true, "startswith"}});
                break;
            }
            if (present) {
                d.value_error(o.kw_col, keyword, "duplicate '" + keyword + "' on one content");
                break;
            }
            if (absolute ? conflict({{c.has_distance, "distance"}, {c.has_within, "within"}})
                         : conflict({{c.has_offset, "offset"}, {c.has_depth, "depth"}})) {
                break;
            }
            if (kind == Kw::kDepth && !v->is_var() && v->value == 0) {
                d.value_error(o.value_col, keyword, "depth must be greater than 0");
                break;
            }
            present = true;
            (kind == Kw::kOffset     ? c.offset
             : kind == Kw::kDepth    ? c.depth
             : kind == Kw::kDistance ? c.distance
                                     : c.within) = *v;
            break;
        }
        default:
            break;
    }
}

void Loader::apply_option(RuleDraft& d, const RawOption& o) {
    Rule& r = d.rule;
    const std::string& keyword = o.keyword;
    const std::string_view value = o.value;
    const size_t kw_col = o.kw_col;
    const size_t value_col = o.value_col;
    const KeywordInfo info = keyword_info(keyword);
    const Kw kind = info.kw;
    if (kind == Kw::kUnknown) {
        d.add_unsupported(keyword, kw_col);
        return;
    }
    auto need_value = [&]() {
        if (!o.has_value || value.empty()) {
            d.value_error(kw_col, keyword, "option '" + keyword + "' needs a value");
            return false;
        }
        return true;
    };
    auto no_value = [&]() {
        if (o.has_value) {
            d.value_error(kw_col, keyword, "'" + keyword + "' takes no value");
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
    auto var_lookup = [&d](std::string_view name) { return d.var_index(name); };
    auto report = [&](const OptionError& e) {
        if (e.unsupported) {
            d.add_unsupported(e.text, kw_col);
        } else {
            d.value_error(value_col, keyword, e.text);
        }
    };
    auto int_check = [&](uint64_t max) -> std::optional<IntCheck> {
        auto c = parse_int_check(value, max);
        if (!c) {
            d.value_error(value_col, keyword, "invalid " + keyword + " '" + printable(value) + "'");
        }
        return c;
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
        case Kw::kTarget:
            if (!single() || !need_value()) {
                break;
            }
            if (value != "src_ip" && value != "dest_ip") {
                d.value_error(
                    value_col, keyword,
                    "invalid target '" + printable(value) + "', expected src_ip or dest_ip");
                break;
            }
            r.target = std::string(value);
            break;
        case Kw::kService: {
            if (!need_value()) {
                break;
            }
            size_t start = 0;
            while (start <= value.size()) {
                size_t comma = value.find(',', start);
                if (comma == std::string_view::npos) {
                    comma = value.size();
                }
                std::string name = lower(trim(value.substr(start, comma - start)));
                start = comma + 1;
                if (name.empty()) {
                    d.value_error(value_col, keyword, "empty service name");
                    break;
                }
                auto app = std::find_if(kAppProtos.begin(), kAppProtos.end(),
                                        [&](const AppProtoName& a) { return a.name == name; });
                r.services.push_back(app != kAppProtos.end() ? std::string(app->normalised) : name);
            }
            break;
        }
        case Kw::kContent:
            apply_content(d, o, std::nullopt);
            break;
        case Kw::kUricontent:
            apply_content(d, o, buf(core::BufferKind::kHttpUri));
            break;
        case Kw::kNocase:
        case Kw::kOffset:
        case Kw::kDepth:
        case Kw::kDistance:
        case Kw::kWithin:
        case Kw::kStartswith:
        case Kw::kEndswith:
        case Kw::kRawbytes:
        case Kw::kFastPattern:
            apply_content_modifier(d, o, kind);
            break;
        case Kw::kSticky:
            if (o.has_value) {
                d.add_unsupported(keyword + ":" + std::string(value), kw_col);
                break;
            }
            d.sticky = BufferId{info.buffer, false};
            break;
        case Kw::kBufferModifier: {
            if (o.has_value) {
                d.add_unsupported(keyword + ":" + std::string(value), kw_col);
                break;
            }
            if (d.snort3) {
                d.sticky = BufferId{info.buffer, false};
                break;
            }
            if (r.contents.empty()) {
                d.value_error(kw_col, keyword, "'" + keyword + "' needs a preceding content");
                break;
            }
            Content& c = r.contents.back();
            if (!c.buffer.is_payload()) {
                d.value_error(kw_col, keyword,
                              "'" + keyword + "' on a content that already looks in '" +
                                  buffer_name(c.buffer) + "'");
                break;
            }
            c.buffer = BufferId{info.buffer, false};
            break;
        }
        case Kw::kDotprefix:
            if (!no_value()) {
                break;
            }
            if (d.sticky.is_payload()) {
                d.value_error(kw_col, keyword, "'dotprefix' needs a sticky buffer");
                break;
            }
            d.sticky.dotprefix = true;
            break;
        case Kw::kIsdataat: {
            if (!need_value()) {
                break;
            }
            auto v = parse_isdataat(value, var_lookup);
            if (!v) {
                report(v.error());
                break;
            }
            v->buffer = d.sticky;
            d.add_item(Item::Kind::kIsdataat, r.isdataats.size());
            r.isdataats.push_back(*v);
            break;
        }
        case Kw::kDsize:
        case Kw::kItype:
        case Kw::kIcode: {
            if (!single() || !need_value()) {
                break;
            }
            auto c = int_check(kind == Kw::kDsize ? 65535 : 255);
            if (c && kind == Kw::kDsize &&
                (c->op == IntCheck::Op::kNe || c->op == IntCheck::Op::kGe)) {
                c->floor = 1;
            }
            if (c) {
                (kind == Kw::kDsize ? r.dsize : kind == Kw::kItype ? r.itype : r.icode) = *c;
            }
            break;
        }
        case Kw::kBsize:
        case Kw::kBufferlen:
        case Kw::kUrilen: {
            if (!need_value()) {
                break;
            }
            std::string_view text = value;
            BufferId target = d.sticky;
            if (kind == Kw::kUrilen) {
                target = BufferId{buf(core::BufferKind::kHttpUri), false};
                if (size_t comma = value.find(','); comma != std::string_view::npos) {
                    std::string which = lower(trim(value.substr(comma + 1)));
                    if (which == "raw") {
                        target = BufferId{buf(core::BufferKind::kHttpUriRaw), false};
                    } else if (which != "norm") {
                        d.value_error(value_col, keyword,
                                      "invalid urilen '" + printable(value) + "'");
                        break;
                    }
                    text = value.substr(0, comma);
                }
            } else if (kind == Kw::kBufferlen) {
                if (value.find(',') != std::string_view::npos) {
                    d.add_unsupported("bufferlen:relative", kw_col);
                    break;
                }
            } else if (target.is_payload()) {
                d.value_error(kw_col, keyword, "'bsize' needs a sticky buffer");
                break;
            }
            auto c = parse_int_check(text, 0xffffffffu);
            if (!c) {
                d.value_error(value_col, keyword,
                              "invalid " + keyword + " '" + printable(value) + "'");
                break;
            }
            d.add_item(Item::Kind::kLength, r.lengths.size());
            r.lengths.push_back(LengthCheck{*c, target});
            break;
        }
        case Kw::kPcre: {
            if (!need_value()) {
                break;
            }
            auto spec = parse_pcre(value);
            if (!spec) {
                report(spec.error());
                break;
            }
            Pcre p;
            p.buffer = d.sticky;
            // A buffer flag wins over the sticky buffer, as in Snort (ET rules for Snort
            // write `file_data; ... pcre:"/x/H"`).
            if (spec->buffer_kind) {
                p.buffer = BufferId{*spec->buffer_kind, false};
            }
            auto regex = Regex::compile(spec->pattern, spec->compile_options);
            if (!regex) {
                d.value_error(value_col, keyword,
                              "pcre does not compile: " + regex.error().message);
                break;
            }
            p.pattern = std::move(spec->pattern);
            p.flags = std::move(spec->flags);
            p.negated = spec->negated;
            p.relative = spec->relative;
            p.compile_options = spec->compile_options;
            p.regex = std::move(*regex);
            d.add_item(Item::Kind::kPcre, r.pcres.size());
            r.pcres.push_back(std::move(p));
            break;
        }
        case Kw::kByteTest:
        case Kw::kByteJump:
        case Kw::kByteExtract: {
            if (!need_value()) {
                break;
            }
            const ByteOp::Kind op_kind = kind == Kw::kByteTest   ? ByteOp::Kind::kTest
                                         : kind == Kw::kByteJump ? ByteOp::Kind::kJump
                                                                 : ByteOp::Kind::kExtract;
            std::string name;
            auto op = parse_byte_op(op_kind, value, var_lookup, &name);
            if (!op) {
                report(op.error());
                break;
            }
            op->buffer = d.sticky;
            if (op_kind == ByteOp::Kind::kExtract) {
                // Extracting into a name again overwrites it (Snort 3 rules do).
                if (int existing = d.var_index(name); existing >= 0) {
                    op->var = static_cast<int8_t>(existing);
                    d.add_item(Item::Kind::kByteOp, r.byte_ops.size());
                    r.byte_ops.push_back(*op);
                    break;
                }
                if (r.byte_vars.size() >= kMaxByteVars) {
                    d.value_error(value_col, keyword,
                                  "too many byte_extract variables (at most " +
                                      std::to_string(kMaxByteVars) + ")");
                    break;
                }
                op->var = static_cast<int8_t>(r.byte_vars.size());
                r.byte_vars.push_back(name);
            }
            d.add_item(Item::Kind::kByteOp, r.byte_ops.size());
            r.byte_ops.push_back(*op);
            break;
        }
        case Kw::kFlow: {
            if (!single() || !need_value()) {
                break;
            }
            auto f = parse_flow(value);
            if (!f) {
                report(f.error());
                break;
            }
            r.flow = *f;
            break;
        }
        case Kw::kFlowbits: {
            if (!need_value()) {
                break;
            }
            auto f = parse_flowbits(value);
            if (!f) {
                report(f.error());
                break;
            }
            if (f->noalert) {
                r.noalert = true;
            } else {
                d.flowbits.push_back(std::move(*f));
            }
            break;
        }
        case Kw::kXbits: {
            if (!need_value()) {
                break;
            }
            auto x = parse_xbits(value);
            if (!x) {
                report(x.error());
                break;
            }
            if (x->noalert) {
                r.noalert = true;
            } else {
                r.xbits.push_back(std::move(x->op));
            }
            break;
        }
        case Kw::kNoalert:
            if (no_value()) {
                r.noalert = true;
            }
            break;
        case Kw::kThreshold:
        case Kw::kDetectionFilter: {
            if (!single() || !need_value()) {
                break;
            }
            auto t = parse_threshold(value, kind == Kw::kDetectionFilter);
            if (!t) {
                report(t.error());
                break;
            }
            if (r.threshold) {
                d.value_error(kw_col, keyword, "threshold and detection_filter cannot be combined");
                break;
            }
            r.threshold = *t;
            break;
        }
        case Kw::kFlags: {
            if (!single() || !need_value()) {
                break;
            }
            auto f = parse_tcp_flags(value);
            if (!f) {
                d.value_error(value_col, keyword, "invalid flags '" + printable(value) + "'");
                break;
            }
            r.tcp_flags = *f;
            break;
        }
        case Kw::kTtl:
        case Kw::kIpId:
        case Kw::kTcpSeq:
        case Kw::kTcpAck:
        case Kw::kTcpWindow:
        case Kw::kIcmpId:
        case Kw::kIcmpSeq: {
            if (!need_value()) {
                break;
            }
            using Field = FieldCheck::Field;
            const Field field = kind == Kw::kTtl         ? Field::kTtl
                                : kind == Kw::kIpId      ? Field::kIpId
                                : kind == Kw::kTcpSeq    ? Field::kTcpSeq
                                : kind == Kw::kTcpAck    ? Field::kTcpAck
                                : kind == Kw::kTcpWindow ? Field::kTcpWindow
                                : kind == Kw::kIcmpId    ? Field::kIcmpId
                                                         : Field::kIcmpSeq;
            const uint64_t max = field == Field::kTtl                                 ? 255
                                 : field == Field::kTcpSeq || field == Field::kTcpAck ? 0xffffffffu
                                                                                      : 65535;
            // Suricata accepts id and icmp_id values in quotes.
            std::string_view number = value;
            if (number.size() >= 2 && number.front() == '"' && number.back() == '"') {
                number = trim(number.substr(1, number.size() - 2));
            }
            auto c = parse_int_check(number, max);
            if (!c) {
                d.value_error(value_col, keyword,
                              "invalid " + keyword + " '" + printable(value) + "'");
                break;
            }
            r.field_checks.push_back(FieldCheck{field, *c});
            break;
        }
        case Kw::kTos: {
            if (!need_value()) {
                break;
            }
            auto c = parse_tos(value);
            if (!c) {
                d.value_error(value_col, keyword,
                              "invalid tos '" + printable(value) + "', expected [!]<0-255 or xHH>");
                break;
            }
            r.field_checks.push_back(FieldCheck{FieldCheck::Field::kTos, *c});
            break;
        }
        case Kw::kIpProto: {
            if (!need_value()) {
                break;
            }
            auto c = parse_ip_proto(value);
            if (!c) {
                report(c.error());
                break;
            }
            // The decoder peels IP-in-IP and IPv6-in-IPv4: rules only see the inner packet, so
            // a check that only those protocols pass could never match as written.
            bool inner_possible = false;
            for (unsigned p = 0; p <= 255 && !inner_possible; ++p) {
                inner_possible = p != 4 && p != 41 && c->matches(p);
            }
            if (!inner_possible) {
                d.add_unsupported("ip_proto:" + std::string(value), kw_col);
                break;
            }
            r.field_checks.push_back(FieldCheck{FieldCheck::Field::kIpProto, *c});
            break;
        }
        case Kw::kStreamSize: {
            if (!need_value()) {
                break;
            }
            auto c = parse_stream_size(value);
            if (!c) {
                report(c.error());
                break;
            }
            r.field_checks.push_back(*c);
            break;
        }
        case Kw::kFragbits: {
            if (!single() || !need_value()) {
                break;
            }
            auto f = parse_fragbits(value);
            if (!f) {
                d.value_error(value_col, keyword, "invalid fragbits '" + printable(value) + "'");
                break;
            }
            // Fragments are reassembled before detection and never inspected one by one, so a
            // test that only a fragment (MF set) passes could never match.
            bool whole_possible = false;
            for (int flags : {0x00, 0x40, 0x80, 0xc0}) {
                whole_possible = whole_possible || f->matches(static_cast<uint8_t>(flags));
            }
            if (!whole_possible) {
                d.add_unsupported("fragbits:" + std::string(value), kw_col);
                break;
            }
            r.fragbits = *f;
            break;
        }
        case Kw::kAppLayerProtocol: {
            if (!need_value()) {
                break;
            }
            auto a = parse_app_layer_protocol(value);
            if (!a) {
                report(a.error());
                break;
            }
            r.app_protocols.push_back(std::move(*a));
            break;
        }
        case Kw::kTlsVersion: {
            if (!single() || !need_value()) {
                break;
            }
            auto t = parse_tls_version(value);
            if (!t) {
                d.value_error(value_col, keyword,
                              "invalid tls.version '" + printable(value) +
                                  "', expected 1.0, 1.1, 1.2, 1.3 or a hex value like 0x0303");
                break;
            }
            r.tls_version = *t;
            break;
        }
        case Kw::kUnknown:
            break;
    }
    if (r.items.size() > kMaxItems) {
        d.syntax_error(kw_col, keyword, "too many inspection keywords in one rule");
    }
}

std::optional<Problem> Loader::validate(const Rule& r) const {
    for (const Content& c : r.contents) {
        const auto len = static_cast<int64_t>(c.bytes.size());
        if (c.has_depth && !c.depth.is_var() && !c.startswith && c.depth.value < len) {
            return Problem{0, "depth",
                           "depth " + std::to_string(c.depth.value) +
                               " is smaller than content length " + std::to_string(len)};
        }
        if (c.has_within && !c.within.is_var() && c.within.value < len) {
            return Problem{0, "within",
                           "within " + std::to_string(c.within.value) +
                               " is smaller than content length " + std::to_string(len)};
        }
        if (c.fp_length != 0 && size_t{c.fp_offset} + c.fp_length > c.bytes.size()) {
            return Problem{0, "fast_pattern",
                           "fast_pattern offset " + std::to_string(c.fp_offset) + " and length " +
                               std::to_string(c.fp_length) + " exceed content length " +
                               std::to_string(len)};
        }
        // Suricata lower-cases http.host, so an upper-case pattern could never match.
        if (c.buffer.kind == buf(core::BufferKind::kHttpHost) && !c.nocase &&
            std::any_of(c.bytes.begin(), c.bytes.end(),
                        [](char ch) { return ch >= 'A' && ch <= 'Z'; })) {
            return Problem{0, "content",
                           "http.host content '" + printable(c.bytes) +
                               "' has upper case characters; the buffer is lower case"};
        }
    }
    return std::nullopt;
}

void Loader::build_lists(Rule& r) const {
    for (const Item& item : r.items) {
        BufferId b;
        bool positive = false;
        switch (item.kind) {
            case Item::Kind::kContent:
                b = r.contents[item.index].buffer;
                positive = !r.contents[item.index].negated;
                break;
            case Item::Kind::kPcre:
                b = r.pcres[item.index].buffer;
                positive = !r.pcres[item.index].negated;
                break;
            case Item::Kind::kByteOp:
                b = r.byte_ops[item.index].buffer;
                break;
            case Item::Kind::kIsdataat:
                b = r.isdataats[item.index].buffer;
                break;
            case Item::Kind::kLength:
                b = r.lengths[item.index].buffer;
                break;
        }
        auto it = std::find_if(r.lists.begin(), r.lists.end(),
                               [&](const ItemList& l) { return l.buffer == b; });
        if (it == r.lists.end()) {
            r.lists.push_back(ItemList{b, {}, false});
            it = r.lists.end() - 1;
        }
        it->items.push_back(item);
        it->has_positive = it->has_positive || positive;
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
    } else if (proto == "sctp") {
        r.proto = Protocol::kSctp;
    } else if (proto == "arp") {
        r.proto = Protocol::kArp;
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
        d.snort3 = true;
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
        const size_t src_col = col;
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
        // ARP frames have no IP header and no ports: only `any` can mean what was written.
        if (r.proto == Protocol::kArp &&
            !(r.src.any && r.src_port.any && r.dst.any && r.dst_port.any)) {
            d.add_unsupported("arp with addresses or ports", src_col);
        }

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

    // The options are split first: the dialect (Snort 3 makes http_* sticky buffers) may
    // only show in a later option.
    std::vector<RawOption> options;
    size_t q = open + 1;
    while (true) {
        while (q < close && is_space(line[q])) {
            ++q;
        }
        if (q >= close) {
            break;
        }
        RawOption o;
        o.kw_col = q + 1;
        size_t kw_start = q;
        while (q < close && line[q] != ':' && line[q] != ';') {
            ++q;
        }
        o.keyword = lower(trim(line.substr(kw_start, q - kw_start)));
        if (q < close && line[q] == ':') {
            ++q;
            while (q < close && is_space(line[q])) {
                ++q;
            }
            size_t value_start = q;
            o.value_col = q + 1;
            // As in Suricata, a value ends at the first ';' not escaped by a backslash, even
            // inside quotes: rules in the wild rely on it (pcre:"/a"b/" with a bare quote).
            while (q < close && line[q] != ';') {
                q += line[q] == '\\' ? 2 : 1;
            }
            q = std::min(q, close);
            o.value = trim(line.substr(value_start, q - value_start));
            o.has_value = true;
        }
        if (q < close) {
            ++q;  // the ';'; the last option may omit it
        }
        if (o.keyword.empty()) {
            d.syntax_error(o.kw_col, "", "empty option");
            break;
        }
        bool name_ok = std::all_of(o.keyword.begin(), o.keyword.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                   c == '-';
        });
        if (!name_ok) {
            d.syntax_error(o.kw_col, "", "invalid option name '" + printable(o.keyword) + "'");
            break;
        }
        if (o.keyword == "service") {
            d.snort3 = true;
        } else if (o.keyword == "content" && o.has_value) {
            // Snort 3 content form: content:"ab",depth 2;
            std::string_view v = o.value;
            if (!v.empty() && v.front() == '!') {
                v = trim(v.substr(1));
            }
            if (!v.empty() && v.front() == '"') {
                size_t end = closing_quote(v);
                if (end != std::string_view::npos && trim(v.substr(end + 1)).starts_with(",")) {
                    d.snort3 = true;
                }
            }
        }
        options.push_back(std::move(o));
    }
    for (const RawOption& o : options) {
        if (r.proto == Protocol::kArp && !arp_option(keyword_info(o.keyword).kw)) {
            d.add_unsupported(o.keyword + " (arp rule)", o.kw_col);
            continue;
        }
        apply_option(d, o);
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
    if (auto problem = validate(r)) {
        return add_error(file, line_no, *problem);
    }
    auto [it, inserted] = sid_index_.emplace(std::make_pair(r.gid, r.sid), rules_.size());
    if (!inserted) {
        const Rule& first = rules_[it->second];
        return fail(0, "sid",
                    "duplicate sid " + std::to_string(r.sid) + " for gid " + std::to_string(r.gid) +
                        ", first defined at " + first.file + ":" + std::to_string(first.line));
    }
    for (const FlowbitsSpec& spec : d.flowbits) {
        FlowbitOp op;
        op.cmd = spec.cmd;
        op.all = spec.all;
        for (const std::string& name : spec.names) {
            auto id = flowbit_id(name);
            if (!id) {
                sid_index_.erase(it);
                return fail(0, "flowbits", "too many flowbit names (at most 65536)");
            }
            op.ids.push_back(*id);
        }
        r.flowbits.push_back(std::move(op));
    }
    build_lists(r);
    r.concepts = taxonomy_.concepts_for(d.meta_concepts, r.classtype);
    if (r.concepts.size() == 1 && r.concepts[0] == "unclassified") {
        ++report_.unclassified;
    }
    ++report_.loaded;
    rules_.push_back(std::move(r));
}

}  // namespace

std::string buffer_name(BufferId id) {
    std::string name;
    if (id.kind == BufferId::kPayload) {
        name = "pkt_data";
    } else if (id.kind == BufferId::kFileData) {
        name = "file_data";
    } else if (id.kind < BufferId::kPayload) {
        name = std::string(core::kBufferKindNames[id.kind]);
    } else {
        name = "buffer " + std::to_string(id.kind);
    }
    return id.dotprefix ? name + " (dotprefix)" : name;
}

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
    loader.reserve(possible_rules(text));
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
    auto read_text = [](const std::string& file) -> core::Result<std::string> {
        auto text = core::read_file(file);
        if (!text) {
            return core::make_error(text.error().message + " (rule file)");
        }
        return text;
    };
    // Reading every file twice (counting, then parsing) costs less than keeping all their
    // texts at once, and the count sizes the rule vector exactly once.
    size_t possible = 0;
    for (const std::string& file : files) {
        auto text = read_text(file);
        if (!text) {
            return core::make_error(text.error().message);
        }
        possible += possible_rules(*text);
    }
    Loader loader(options, taxonomy);
    loader.reserve(possible);
    for (const std::string& file : files) {
        auto text = read_text(file);
        if (!text) {
            return core::make_error(text.error().message);
        }
        loader.parse_text(*text, file);
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
