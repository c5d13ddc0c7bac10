#pragma once
// Rule: one parsed signature (Suricata/Snort syntax subset). Built by the loader on the
// control thread; immutable afterwards and shared by every worker through a RuleSet.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rules/net_spec.h"

namespace sensor::rules {

enum class Action : uint8_t { kAlert, kPass, kDrop, kReject };

// kApp: an application-layer protocol name (http, tls, dns, modbus, ...) kept in
// Rule::app_proto; such a rule matches TCP or UDP packets of flows classified as that protocol.
enum class Protocol : uint8_t { kIp, kTcp, kUdp, kIcmp, kApp };

std::string_view action_name(Action a) noexcept;

struct Content {
    std::string bytes;  // raw bytes after |hex| and escape decoding; never empty
    bool nocase = false;
    bool negated = false;
    bool fast_pattern = false;
    // Anchoring, measured from the start of the packet payload. depth 0 = no depth.
    uint32_t offset = 0;
    uint32_t depth = 0;
    bool has_offset = false;

    bool anchored() const noexcept { return has_offset || depth != 0; }
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
    std::vector<Content> contents;      // in rule order

    std::string file;
    int line = 0;
};

}  // namespace sensor::rules
