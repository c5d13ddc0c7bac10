#include "sensor/detect/signature_db.h"

#include <utility>
#include <vector>

#include "sensor/decode/decoded_packet.h"

namespace sensor::detect {

ProtoBucket proto_bucket(uint8_t ip_proto) noexcept {
    switch (ip_proto) {
        case decode::kIpProtoTcp:
            return ProtoBucket::kTcp;
        case decode::kIpProtoUdp:
            return ProtoBucket::kUdp;
        case decode::kIpProtoIcmp:
        case decode::kIpProtoIcmpv6:
            return ProtoBucket::kIcmp;
        default:
            return ProtoBucket::kOther;
    }
}

namespace {

bool can_match(rules::Protocol proto, ProtoBucket bucket) {
    switch (proto) {
        case rules::Protocol::kIp:
            return bucket != ProtoBucket::kArp;  // as in Suricata, `ip` rules never see ARP
        case rules::Protocol::kTcp:
            return bucket == ProtoBucket::kTcp;
        case rules::Protocol::kUdp:
            return bucket == ProtoBucket::kUdp;
        case rules::Protocol::kIcmp:
            return bucket == ProtoBucket::kIcmp;
        case rules::Protocol::kSctp:
            return bucket == ProtoBucket::kOther;
        case rules::Protocol::kApp:
            return bucket == ProtoBucket::kTcp || bucket == ProtoBucket::kUdp;
        case rules::Protocol::kArp:
            return bucket == ProtoBucket::kArp;
    }
    return false;
}

}  // namespace

core::Result<std::shared_ptr<const SignatureDb>> SignatureDb::build(
    std::shared_ptr<const rules::RuleSet> rules, const rules::CompileOptions& options) {
    if (!rules) {
        return core::make_error("signature db: no rule set given");
    }
    auto compiled = rules::CompiledRules::compile(*rules, options);
    if (!compiled) {
        return tl::unexpected(compiled.error());
    }
    std::shared_ptr<SignatureDb> db(new SignatureDb());
    db->rules_ = std::move(rules);
    db->compiled_ = std::move(*compiled);
    std::vector<std::pair<uint32_t, const rules::Rule*>> indexed;
    for (uint32_t rank : db->compiled_->always_candidates()) {
        const rules::Rule& r = db->rule(db->rule_at(rank));
        if (CandidateIndex::key_for(r) != CandidateIndex::Key::kNone) {
            indexed.emplace_back(rank, &r);
            continue;
        }
        for (size_t b = 0; b < static_cast<size_t>(ProtoBucket::kCount); ++b) {
            if (can_match(r.proto, static_cast<ProtoBucket>(b))) {
                db->always_[b].push_back(rank);
            }
        }
    }
    db->index_.build(indexed, db->rules_->flowbit_names().size());
    for (const rules::Rule& r : db->rules_->rules()) {
        for (const rules::ItemList& l : r.lists) {
            db->slot_used_[l.buffer.slot()] = true;
        }
    }
    return std::shared_ptr<const SignatureDb>(std::move(db));
}

}  // namespace sensor::detect
