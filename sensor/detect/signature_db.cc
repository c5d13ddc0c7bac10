#include "sensor/detect/signature_db.h"

#include <utility>

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
            return true;
        case rules::Protocol::kTcp:
            return bucket == ProtoBucket::kTcp;
        case rules::Protocol::kUdp:
            return bucket == ProtoBucket::kUdp;
        case rules::Protocol::kIcmp:
            return bucket == ProtoBucket::kIcmp;
        case rules::Protocol::kApp:
            return bucket == ProtoBucket::kTcp || bucket == ProtoBucket::kUdp;
    }
    return false;
}

}  // namespace

core::Result<std::shared_ptr<const SignatureDb>> SignatureDb::build(
    std::shared_ptr<const rules::RuleSet> rules) {
    if (!rules) {
        return core::make_error("signature db: no rule set given");
    }
    auto compiled = rules::CompiledRules::compile(*rules);
    if (!compiled) {
        return tl::unexpected(compiled.error());
    }
    std::shared_ptr<SignatureDb> db(new SignatureDb());
    db->rules_ = std::move(rules);
    db->compiled_ = std::move(*compiled);
    for (uint32_t index : db->compiled_->always_candidates()) {
        const rules::Rule& r = db->rule(index);
        for (size_t b = 0; b < static_cast<size_t>(ProtoBucket::kCount); ++b) {
            if (can_match(r.proto, static_cast<ProtoBucket>(b))) {
                db->always_[b].push_back(index);
            }
        }
    }
    return std::shared_ptr<const SignatureDb>(std::move(db));
}

}  // namespace sensor::detect
