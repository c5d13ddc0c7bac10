#pragma once
// Variables: the address and port groups ($HOME_NET, $HTTP_PORTS, ...) and the parsers for
// rule-header address and port fields. One per load (control thread); caches resolved groups.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "rules/net_spec.h"
#include "sensor/core/result.h"

namespace sensor::rules {

using GroupMap = std::map<std::string, std::string>;

// Suricata's default address-groups and port-groups (suricata.yaml).
const GroupMap& default_address_groups();
const GroupMap& default_port_groups();

class Variables {
public:
    // Groups given here replace the defaults of the same name; the other defaults stay.
    Variables(const GroupMap& address_groups, const GroupMap& port_groups);

    // Error messages carry no location; the caller prefixes `file:line:col: `.
    core::Result<AddressSpec> parse_address(std::string_view text);
    core::Result<PortSpec> parse_port(std::string_view text);

    // Used by the element parsers while resolving `$NAME` (cached, cycle-checked).
    core::Result<AddressSet> resolve_address(std::string_view name);
    core::Result<IntervalSet<uint16_t>> resolve_port(std::string_view name);

private:
    GroupMap address_groups_;
    GroupMap port_groups_;
    std::map<std::string, AddressSet, std::less<>> address_cache_;
    std::map<std::string, IntervalSet<uint16_t>, std::less<>> port_cache_;
    // Names being expanded, outermost first; a name seen twice is a cycle.
    std::vector<std::string> resolving_address_;
    std::vector<std::string> resolving_port_;
};

}  // namespace sensor::rules
