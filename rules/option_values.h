#pragma once
// Parsers for the values of rule options (flow, flowbits, threshold, byte_*, pcre, dsize...).
// Pure functions used by the loader on the control thread; errors carry no location, the
// loader prefixes file:line:col.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rule.h"

namespace sensor::rules {

// Why a value was not accepted: a wrong value (an error), or a valid form this version does
// not evaluate (the rule is then "unsupported" under `text` as its keyword).
struct OptionError {
    bool unsupported = false;
    std::string text;
};

template <class T>
using OptionResult = tl::expected<T, OptionError>;

// Resolves a byte_extract variable name to its index; -1 when the rule defines no such name.
using VarLookup = std::function<int(std::string_view)>;

std::string_view trim_view(std::string_view s) noexcept;

// Decimal, or hexadecimal with 0x; optional leading '-' when allow_negative.
std::optional<int64_t> parse_integer(std::string_view s, int64_t min, int64_t max);

// A number, or the name of a byte_extract variable defined earlier in the rule.
OptionResult<Operand> parse_operand(std::string_view s, int64_t min, int64_t max,
                                    const VarLookup& vars, std::string_view what);

// dsize/bsize/urilen/itype/icode value: N, =N, !N, <N, <=N, >N, >=N, A<>B (exclusive), A-B
// (exclusive, as Suricata), A<=>B (inclusive, Snort 3). nullopt: malformed or out of range.
std::optional<IntCheck> parse_int_check(std::string_view s, uint64_t max);

OptionResult<FlowMatch> parse_flow(std::string_view value);

// stream_size:<server|client|both|either>,<op>,<n> with op one of < <= = != >= >.
OptionResult<FieldCheck> parse_stream_size(std::string_view value);

// ip_proto:[!<>]<number or name> (tcp, udp, icmp, igmp, gre, ...).
OptionResult<IntCheck> parse_ip_proto(std::string_view value);

// fragbits:[+*!]<MDR>; the modifier may also follow the bits (Snort's `M+`).
std::optional<FragbitsCheck> parse_fragbits(std::string_view value);

// tos:[!]<n>, n decimal or `x` and hex digits (Suricata: `tos:x10`).
std::optional<IntCheck> parse_tos(std::string_view value);

// flags:[+*!]<FSRPAUCE0 12>[,<mask>]
std::optional<TcpFlagsCheck> parse_tcp_flags(std::string_view value);

// threshold (detection_filter = false) or detection_filter (true).
OptionResult<Threshold> parse_threshold(std::string_view value, bool detection_filter);

struct FlowbitsSpec {
    bool noalert = false;  // flowbits:noalert
    FlowbitOp::Cmd cmd = FlowbitOp::Cmd::kSet;
    std::vector<std::string> names;
    bool all = false;  // names joined by '&'
};
OptionResult<FlowbitsSpec> parse_flowbits(std::string_view value);

// xbits:<set|unset|toggle|isset|isnotset>,<name>,track <ip_src|ip_dst|ip_pair>[,expire <s>]
// (track and expire in either order; expire is read but has no effect on checks and unset),
// or xbits:noalert. name_hash is filled in.
struct XbitsSpec {
    bool noalert = false;  // xbits:noalert
    XbitOp op;
};
OptionResult<XbitsSpec> parse_xbits(std::string_view value);

// tls.version:<1.0|1.1|1.2|1.3|0xHHHH>, optionally quoted.
std::optional<TlsVersionCheck> parse_tls_version(std::string_view value);

// byte_test / byte_jump / byte_extract. For byte_extract, extract_name receives the new
// variable's name (the caller assigns ByteOp::var).
OptionResult<ByteOp> parse_byte_op(ByteOp::Kind kind, std::string_view value, const VarLookup& vars,
                                   std::string* extract_name);

OptionResult<Isdataat> parse_isdataat(std::string_view value, const VarLookup& vars);

struct PcreSpec {
    std::string pattern;
    std::string flags;
    bool negated = false;
    bool relative = false;
    uint32_t compile_options = 0;
    std::optional<uint8_t> buffer_kind;  // from U, I, H, M, C, P, Q, S, V, W, Z
};
// pcre:[!]"/regex/flags": splits and interprets the flags; does not compile.
OptionResult<PcreSpec> parse_pcre(std::string_view value);

}  // namespace sensor::rules
