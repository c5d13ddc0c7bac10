#pragma once
// Rule: one parsed signature (Suricata/Snort syntax subset). Built by the loader on the
// control thread; immutable afterwards and shared by every worker through a RuleSet.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/net_spec.h"
#include "rules/regex.h"
#include "sensor/core/app_buffers.h"

namespace sensor::rules {

enum class Action : uint8_t { kAlert, kPass, kDrop, kReject };

// kApp: an application-layer protocol name (http, tls, dns, modbus, ...) kept in
// Rule::app_proto; such a rule matches TCP or UDP packets of flows classified as that protocol.
// kArp: Ethernet/IPv4 ARP frames only (no IP header, so no other rule sees them).
enum class Protocol : uint8_t { kIp, kTcp, kUdp, kIcmp, kSctp, kApp, kArp };

std::string_view action_name(Action a) noexcept;

// Where a content, pcre, byte keyword, isdataat or length check looks. kind is a
// core::BufferKind value, kPayload (the packet payload, after the stream prefix) or kFileData
// (the HTTP body of the packet's own direction). dotprefix: the buffer with a '.' in front
// (Suricata's dotprefix transform).
struct BufferId {
    static constexpr uint8_t kPayload = static_cast<uint8_t>(core::kBufferKindCount);
    static constexpr uint8_t kFileData = kPayload + 1;
    static constexpr uint8_t kKinds = kFileData + 1;

    uint8_t kind = kPayload;
    bool dotprefix = false;

    bool is_payload() const noexcept { return kind == kPayload; }
    // Dense index for per-buffer tables: [0, kBufferSlots).
    size_t slot() const noexcept { return kind + (dotprefix ? size_t{kKinds} : 0); }
    static BufferId from_slot(size_t slot) noexcept {
        return BufferId{static_cast<uint8_t>(slot % kKinds), slot >= kKinds};
    }
    bool operator==(const BufferId&) const = default;
};

inline constexpr size_t kBufferSlots = size_t{BufferId::kKinds} * 2;

// "pkt_data", "http.uri", "dns.query (dotprefix)", ...
std::string buffer_name(BufferId id);

// A number in an option that may instead name a byte_extract variable of the same rule.
struct Operand {
    int64_t value = 0;
    int8_t var = -1;  // index into Rule::byte_vars; -1: use value
    bool is_var() const noexcept { return var >= 0; }
};

// Integer comparison of dsize, bsize, urilen, itype, icode. Ranges are exclusive (Suricata
// `a<>b`, also `a-b`) or inclusive (Snort 3 `a<=>b`).
struct IntCheck {
    enum class Op : uint8_t { kEq, kNe, kLt, kLe, kGt, kGe, kRange, kRangeInclusive };
    Op op = Op::kEq;
    uint64_t lo = 0;
    uint64_t hi = 0;
    // Values below never match. Suricata's dsize `!N` and `>=N` need a payload (its signature
    // mask), so the loader sets 1 there: `dsize:!9` does not match an empty segment.
    uint64_t floor = 0;

    bool matches(uint64_t v) const noexcept {
        if (v < floor) {
            return false;
        }
        switch (op) {
            case Op::kEq:
                return v == lo;
            case Op::kNe:
                return v != lo;
            case Op::kLt:
                return v < lo;
            case Op::kLe:
                return v <= lo;
            case Op::kGt:
                return v > lo;
            case Op::kGe:
                return v >= lo;
            case Op::kRange:
                return v > lo && v < hi;
            case Op::kRangeInclusive:
                return v >= lo && v <= hi;
        }
        return false;
    }
};

struct Content {
    std::string bytes;  // raw bytes after |hex| and escape decoding; never empty
    bool nocase = false;
    bool negated = false;
    bool fast_pattern = false;       // fast_pattern given (any form)
    bool fast_pattern_only = false;  // fast_pattern:only (still confirmed: same result)
    // fast_pattern:offset,length: only these bytes go to the prefilter; length 0 = all.
    uint16_t fp_offset = 0;
    uint16_t fp_length = 0;
    // Absolute anchoring counts from the start of the buffer (the payload, for packets);
    // depth counts from offset. Relative anchoring counts from the end of the previous
    // match in the same buffer (distance may be negative). Never both kinds on one content.
    bool has_offset = false;
    bool has_depth = false;
    bool has_distance = false;
    bool has_within = false;
    bool startswith = false;  // stored as offset 0 + depth = length
    bool endswith = false;    // the match must end where the buffer ends
    Operand offset;
    Operand depth;
    Operand distance;
    Operand within;
    BufferId buffer;

    bool relative() const noexcept { return has_distance || has_within; }
    bool anchored() const noexcept { return has_offset || has_depth; }
    // The bytes the prefilter looks for.
    std::string_view prefilter_bytes() const noexcept {
        std::string_view all = bytes;
        return fp_length == 0 ? all : all.substr(fp_offset, fp_length);
    }
};

struct Pcre {
    std::string pattern;  // between the slashes, as written
    std::string flags;    // after the last slash, as written
    bool negated = false;
    bool relative = false;  // R: starts where the previous match in the buffer ended
    uint32_t compile_options = 0;
    Regex regex;
    BufferId buffer;
};

enum class NumBase : uint8_t { kBinary, kDec, kHex, kOct };

// byte_test, byte_jump and byte_extract: read nbytes at offset (from the buffer start, or from
// the end of the previous match with `relative`), as binary (big or little endian) or as a
// number written in text.
struct ByteOp {
    enum class Kind : uint8_t { kTest, kJump, kExtract };
    enum class Cmp : uint8_t { kLt, kGt, kEq, kLe, kGe, kAnd, kXor };
    Kind kind = Kind::kTest;
    // 0 (byte_test with `string` only): the whole number written at the offset, however many
    // digits it has, as Suricata reads `byte_test:0,...,string` (ET's Content-Length idiom).
    uint8_t nbytes = 1;
    Operand offset;
    bool relative = false;
    bool little_endian = false;
    NumBase base = NumBase::kBinary;
    uint64_t bitmask = 0;  // 0: none
    // byte_test
    Cmp cmp = Cmp::kEq;
    bool negate = false;
    Operand value;
    // byte_jump and byte_extract
    uint32_t multiplier = 1;
    // byte_jump
    bool align4 = false;
    bool from_beginning = false;
    bool from_end = false;
    int32_t post_offset = 0;
    // byte_extract
    int8_t var = -1;
    uint8_t align = 0;  // 0, 2 or 4
    BufferId buffer;
};

struct Isdataat {
    Operand position;
    bool relative = false;
    bool negated = false;
    BufferId buffer;
};

// bsize (length of a sticky buffer) and urilen (length of http.uri or http.uri.raw).
struct LengthCheck {
    IntCheck check;
    BufferId buffer;
};

// One inspection keyword in rule order; index points into the Rule vector of its kind.
struct Item {
    enum class Kind : uint8_t { kContent, kPcre, kByteOp, kIsdataat, kLength };
    Kind kind = Kind::kContent;
    uint16_t index = 0;
};

// The items of one buffer, in rule order: relative keywords refer to the item before them
// in the same list.
struct ItemList {
    BufferId buffer;
    std::vector<Item> items;
    bool has_positive = false;  // some non-negated content or pcre
};

struct FlowMatch {
    bool to_server = false;
    bool to_client = false;
    bool established = false;
    bool not_established = false;
    bool only_stream = false;
    bool no_stream = false;

    bool any() const noexcept {
        return to_server || to_client || established || not_established || only_stream;
    }
};

struct FlowbitOp {
    enum class Cmd : uint8_t { kSet, kUnset, kToggle, kIsSet, kIsNotSet };
    Cmd cmd = Cmd::kSet;
    // Several for `a|b` (isset/isnotset: any of them) or `a&b` (all of them; set, unset and
    // toggle always act on every id).
    std::vector<uint16_t> ids;
    bool all = false;

    bool is_check() const noexcept { return cmd == Cmd::kIsSet || cmd == Cmd::kIsNotSet; }
};

// xbits: a bit kept per host or per pair of hosts, across flows (and workers), on packet time.
// ip_src and ip_dst name the host the bit is kept for (the packet's source or destination):
// both address one per-host bit, so a bit set with `track ip_dst` is seen by `isset` with
// `track ip_src` on the same host. ip_pair bits belong to the two addresses in either order.
// A bit lives until `expire` seconds after it was set; set, unset and toggle act when the
// whole rule matched, isset and isnotset are conditions.
struct XbitOp {
    enum class Track : uint8_t { kIpSrc, kIpDst, kIpPair };
    static constexpr uint32_t kDefaultExpire = 30;  // Suricata's
    FlowbitOp::Cmd cmd = FlowbitOp::Cmd::kSet;
    Track track = Track::kIpSrc;
    uint32_t expire = kDefaultExpire;  // seconds; never 0
    std::string name;
    // FNV-1a of name: the bit's identity in the shared table, the same in every rule set, so
    // bits outlive a rule reload.
    uint64_t name_hash = 0;

    bool is_check() const noexcept {
        return cmd == FlowbitOp::Cmd::kIsSet || cmd == FlowbitOp::Cmd::kIsNotSet;
    }
};

struct Threshold {
    enum class Type : uint8_t { kLimit, kThreshold, kBoth, kDetectionFilter };
    enum class Track : uint8_t { kBySrc, kByDst, kByRule, kByBoth };
    Type type = Type::kLimit;
    Track track = Track::kBySrc;
    uint32_t count = 1;
    uint32_t seconds = 60;
};

// TCP flags test: bits must be exactly set (kExact), all set among others (kAll, `+`), any
// set (kAny, `*`), or not all set (kNot, `!`), after clearing the `ignore` bits.
struct TcpFlagsCheck {
    enum class Mode : uint8_t { kExact, kAll, kAny, kNot };
    Mode mode = Mode::kExact;
    uint8_t bits = 0;
    uint8_t ignore = 0;

    bool matches(uint8_t flags) const noexcept {
        const uint8_t f = static_cast<uint8_t>(flags & ~ignore);
        switch (mode) {
            case Mode::kExact:
                return f == bits;
            case Mode::kAll:
                return (f & bits) == bits;
            case Mode::kAny:
                return (f & bits) != 0;
            case Mode::kNot:
                return (f & bits) != bits;
        }
        return false;
    }
};

// A packet header or stream field compared with an IntCheck. A packet that lacks the field
// never matches: id, tos and fragbits need IPv4; seq, ack and window TCP; icmp_id and icmp_seq
// an ICMP message that carries them (echo, timestamp, information, address mask; ICMPv6
// echo). Stream sizes follow Suricata's stream_size: the TCP sequence space a side has used
// since its initial sequence number (the SYN counts one), the packet itself included.
struct FieldCheck {
    enum class Field : uint8_t {
        kTtl,
        kTos,
        kIpId,
        kIpProto,
        kTcpSeq,
        kTcpAck,
        kTcpWindow,
        kIcmpId,
        kIcmpSeq,
        kStreamServer,  // what the server sent
        kStreamClient,  // what the client sent
        kStreamBoth,    // both sides hold
        kStreamEither,  // one side holds
    };
    Field field = Field::kTtl;
    IntCheck check;
};

// fragbits over the IPv4 flags (reserved, DF, MF) with Suricata's modifiers: exactly these
// (kExact), these and at least one more (kPlus, `+`), any of these (kAny, `*`), not all of
// these (kNot, `!`).
struct FragbitsCheck {
    static constexpr uint8_t kReserved = 0x80;
    static constexpr uint8_t kDontFragment = 0x40;
    static constexpr uint8_t kMoreFragments = 0x20;
    enum class Mode : uint8_t { kExact, kPlus, kAny, kNot };
    Mode mode = Mode::kExact;
    uint8_t bits = 0;

    // flags: the third byte of the IPv4 header (the offset bits are ignored).
    bool matches(uint8_t flags) const noexcept {
        const auto f = static_cast<uint8_t>(flags & (kReserved | kDontFragment | kMoreFragments));
        switch (mode) {
            case Mode::kExact:
                return f == bits;
            case Mode::kPlus:
                return (f & bits) == bits && f != bits;
            case Mode::kAny:
                return (f & bits) != 0;
            case Mode::kNot:
                return (f & bits) != bits;
        }
        return false;
    }
};

// app-layer-protocol: the application protocol of the packet's flow is (or is not) `name`,
// in the direction `mode` names (direction: the packet's own). "unknown" (not yet known)
// never satisfies a named check, negated or not.
struct AppProtoCheck {
    enum class Mode : uint8_t { kDirection, kToServer, kToClient, kEither, kFinal, kOriginal };
    std::string name;  // "http" (HTTP/1 or 2), "http1", "tls", ..., "failed" or "unknown"
    bool negated = false;
    Mode mode = Mode::kDirection;
};

// tls.version: the TLS version of the packet's direction as its hello gave it (Suricata: the
// client's on packets to the server, the server's on packets to the client); a hello with a
// supported_versions extension gives the version chosen there (TLS 1.3). Against `1.0` to
// `1.3` a TLS 1.3 draft (0x7fXX) counts as 1.3; a hex value (`0x0303`) is compared as it is.
struct TlsVersionCheck {
    uint16_t version = 0;
    bool raw = false;
};

struct Rule {
    Action action = Action::kAlert;
    Protocol proto = Protocol::kIp;
    std::string proto_name;  // as normalised: "ip", "tcp", "http", ...
    std::string app_proto;   // empty unless proto == kApp
    AddressSpec src;
    PortSpec src_port;
    AddressSpec dst;
    PortSpec dst_port;
    bool bidirectional = false;  // `<>`

    std::string msg;
    uint32_t gid = 1;
    uint32_t sid = 0;
    uint32_t rev = 0;
    std::string classtype;          // empty when the rule has none
    std::string class_description;  // from classification.config
    int priority = 3;               // rule priority, else classtype priority, else 3
    std::vector<std::pair<std::string, std::string>> references;  // (system, id)
    std::vector<std::pair<std::string, std::string>> metadata;    // (key, value), rule order
    std::vector<std::string> concepts;  // Concept category ids, or {"unclassified"}
    std::string target;                 // "src_ip", "dest_ip" or empty (Suricata `target`)
    std::vector<std::string> services;  // Snort 3 `service`: app protocols, normalised

    // Inspection keywords by kind, and their order per buffer.
    std::vector<Content> contents;  // in rule order
    std::vector<Pcre> pcres;
    std::vector<ByteOp> byte_ops;
    std::vector<Isdataat> isdataats;
    std::vector<LengthCheck> lengths;
    std::vector<Item> items;             // every inspection keyword, rule order
    std::vector<ItemList> lists;         // items grouped by buffer, first-use order
    std::vector<std::string> byte_vars;  // byte_extract names; Operand::var indexes this

    // Packet and flow conditions.
    FlowMatch flow;
    std::optional<IntCheck> dsize;
    std::optional<IntCheck> itype;
    std::optional<IntCheck> icode;
    std::optional<TcpFlagsCheck> tcp_flags;
    std::vector<FieldCheck> field_checks;  // all must hold
    std::optional<FragbitsCheck> fragbits;
    std::vector<FlowbitOp> flowbits;
    std::vector<XbitOp> xbits;
    std::vector<AppProtoCheck> app_protocols;  // all must hold
    std::optional<TlsVersionCheck> tls_version;
    // flowbits:noalert, xbits:noalert or noalert: match, run flowbits and xbits, never alert
    bool noalert = false;
    std::optional<Threshold> threshold;  // threshold or detection_filter

    std::string file;
    int line = 0;

    // Suricata's "PD-only" signature: app-layer-protocol checks on a plain tcp/udp/ip rule
    // with no other packet condition than flow and flowbit sets. It matches only on the
    // packet where protocol detection concludes, not on every packet after.
    bool protocol_detection_only() const noexcept {
        if (app_protocols.empty() || proto == Protocol::kApp || !lists.empty() || dsize || itype ||
            icode || tcp_flags || !field_checks.empty() || fragbits || tls_version) {
            return false;
        }
        for (const FlowbitOp& op : flowbits) {
            if (op.cmd != FlowbitOp::Cmd::kSet) {
                return false;
            }
        }
        for (const XbitOp& op : xbits) {
            if (op.is_check()) {
                return false;
            }
        }
        return true;
    }

    // True when every inspection keyword looks at an app-layer buffer (and there is one):
    // such a rule alerts at most once per transaction.
    bool app_layer_only() const noexcept {
        if (lists.empty()) {
            return false;
        }
        for (const ItemList& l : lists) {
            if (l.buffer.is_payload()) {
                return false;
            }
        }
        return true;
    }
};

}  // namespace sensor::rules
