#include "sensor/detect/candidate_index.h"

namespace sensor::detect {

namespace {

// An address field narrow enough to index: at most a /8 worth of IPv4 addresses and IPv6
// ranges no wider than a /32 each. Wider sets ($HOME_NET, $EXTERNAL_NET) hold most packets.
bool narrow(const rules::AddressSpec& a) noexcept {
    if (a.any) {
        return false;
    }
    uint64_t count = 0;
    for (const auto& r : a.set.v4.ranges()) {
        count += uint64_t{r.hi} - r.lo + 1;
    }
    if (count > (uint64_t{1} << 24)) {
        return false;
    }
    for (const auto& r : a.set.v6.ranges()) {
        if (r.hi.hi - r.lo.hi >= (uint64_t{1} << 32)) {
            return false;
        }
    }
    return true;
}

bool narrow(const rules::PortSpec& p) noexcept { return !p.any; }

}  // namespace

CandidateIndex::Key CandidateIndex::key_for(const rules::Rule& rule) noexcept {
    for (const rules::FlowbitOp& op : rule.flowbits) {
        if (op.cmd == rules::FlowbitOp::Cmd::kIsSet) {
            return Key::kFlowbit;
        }
    }
    // A `<>` rule matches with its fields swapped, so no single field is necessary.
    if (rule.bidirectional) {
        return Key::kNone;
    }
    if (narrow(rule.src)) {
        return Key::kSrcAddress;
    }
    if (narrow(rule.dst)) {
        return Key::kDstAddress;
    }
    // Snort 3 services ignore the header ports on a flow of that service.
    if (rule.services.empty()) {
        if (narrow(rule.dst_port)) {
            return Key::kDstPort;
        }
        if (narrow(rule.src_port)) {
            return Key::kSrcPort;
        }
    }
    return Key::kNone;
}

void CandidateIndex::build(const std::vector<std::pair<uint32_t, const rules::Rule*>>& rules,
                           size_t flowbit_count) {
    by_flowbit_.assign(flowbit_count, {});
    std::vector<IntervalIndex<uint32_t>::Entry> src_v4;
    std::vector<IntervalIndex<uint32_t>::Entry> dst_v4;
    std::vector<IntervalIndex<rules::U128>::Entry> src_v6;
    std::vector<IntervalIndex<rules::U128>::Entry> dst_v6;
    std::vector<IntervalIndex<uint16_t>::Entry> dst_port;
    std::vector<IntervalIndex<uint16_t>::Entry> src_port;
    indexed_ = 0;
    for (const auto& [rank, rule] : rules) {
        const Key key = key_for(*rule);
        switch (key) {
            case Key::kFlowbit:
                for (const rules::FlowbitOp& op : rule->flowbits) {
                    if (op.cmd == rules::FlowbitOp::Cmd::kIsSet) {
                        // Any of `a|b` makes the rule possible.
                        for (uint16_t id : op.ids) {
                            if (id < by_flowbit_.size()) {
                                by_flowbit_[id].push_back(rank);
                            }
                        }
                        break;
                    }
                }
                break;
            case Key::kSrcAddress:
            case Key::kDstAddress: {
                const bool src = key == Key::kSrcAddress;
                const rules::AddressSpec& a = src ? rule->src : rule->dst;
                for (const auto& r : a.set.v4.ranges()) {
                    (src ? src_v4 : dst_v4).push_back({r.lo, r.hi, rank});
                }
                for (const auto& r : a.set.v6.ranges()) {
                    (src ? src_v6 : dst_v6).push_back({r.lo, r.hi, rank});
                }
                break;
            }
            case Key::kDstPort:
            case Key::kSrcPort: {
                const bool dst = key == Key::kDstPort;
                for (const auto& r : (dst ? rule->dst_port : rule->src_port).set.ranges()) {
                    (dst ? dst_port : src_port).push_back({r.lo, r.hi, rank});
                }
                break;
            }
            case Key::kNone:
                continue;
        }
        ++indexed_;
    }
    for (auto& list : by_flowbit_) {
        std::sort(list.begin(), list.end());
    }
    src_v4_.build(src_v4);
    dst_v4_.build(dst_v4);
    src_v6_.build(src_v6);
    dst_v6_.build(dst_v6);
    dst_port_.build(dst_port);
    src_port_.build(src_port);
}

}  // namespace sensor::detect
