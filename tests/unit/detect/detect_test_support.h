#pragma once
// Fixtures shared by the detect tests: addresses, packets filled field by field as the
// decoder would, and a detector over rules parsed from text.

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/core/app_buffers.h"
#include "sensor/decode/decoded_packet.h"
#include "sensor/detect/detector.h"
#include "sensor/detect/signature_db.h"
#include "sensor/flow/flow_table.h"

namespace sensor::detect::test_support {

inline core::IpAddress ip(const char* text) {
    uint8_t buf[16] = {};
    if (std::string_view(text).find(':') != std::string_view::npos) {
        EXPECT_EQ(inet_pton(AF_INET6, text, buf), 1);
        return core::IpAddress::v6_from(buf);
    }
    EXPECT_EQ(inet_pton(AF_INET, text, buf), 1);
    return core::IpAddress::v4_from(buf);
}

inline std::span<const uint8_t> bytes(std::string_view s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A packet filled field by field, as the decoder would; payload points into `payload`.
inline decode::DecodedPacket packet(std::string_view payload, uint8_t proto = decode::kIpProtoTcp,
                                    const char* src = "192.168.1.10", uint16_t sport = 40000,
                                    const char* dst = "203.0.113.5", uint16_t dport = 80) {
    decode::DecodedPacket p;
    p.src = ip(src);
    p.dst = ip(dst);
    p.ip_proto = proto;
    p.ttl = 64;
    p.src_port = sport;
    p.dst_port = dport;
    p.payload = bytes(payload);
    return p;
}

// The packet's side of a flow: direction, state and app-layer data.
struct Side {
    std::string_view app_proto;
    std::string_view prefix;
    bool to_server = true;
    bool established = true;
    const core::AppBuffers* buffers = nullptr;
    flow::FlowDetectState* state = nullptr;
};

class DetectFixture : public ::testing::Test {
protected:
    using Sids = std::vector<uint32_t>;

    void load(std::string_view text) {
        auto set = rules::parse_rules_text(text, "detect.rules", {}, taxonomy_);
        ASSERT_TRUE(set.has_value());
        ASSERT_TRUE(set->report().errors.empty()) << set->report().errors[0].message;
        ASSERT_TRUE(set->report().unsupported.empty()) << set->report().unsupported[0].message;
        auto db = SignatureDb::build(std::make_shared<const rules::RuleSet>(std::move(*set)));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        db_ = *db;
        detector_ = std::make_unique<Detector>(db_);
    }

    // sids of the rules that alerted, in result order.
    Sids fired(const decode::DecodedPacket& p, const Side& side) {
        PacketContext ctx;
        ctx.pkt = &p;
        ctx.app_proto = side.app_proto;
        ctx.stream_prefix = bytes(side.prefix);
        ctx.to_server = side.to_server;
        ctx.established = side.established;
        ctx.buffers = side.buffers;
        ctx.flow_state = side.state;
        detector_->match(ctx, out_);
        Sids sids;
        for (size_t i = 0; i < out_.count; ++i) {
            sids.push_back(db_->rule(out_.rule_index[i]).sid);
        }
        return sids;
    }
    Sids fired(const decode::DecodedPacket& p, std::string_view app_proto = {},
               std::string_view prefix = {}) {
        return fired(p, Side{app_proto, prefix});
    }

    rules::Taxonomy taxonomy_;
    std::shared_ptr<const SignatureDb> db_;
    std::unique_ptr<Detector> detector_;
    MatchList out_;
};

// AppBuffers over strings the test keeps alive.
inline core::AppBuffers buffers(
    std::initializer_list<std::pair<core::BufferKind, std::string_view>> items,
    uint64_t transaction = 1) {
    core::AppBuffers b;
    for (const auto& [kind, text] : items) {
        b.set(kind, bytes(text));
    }
    b.transaction_id = transaction;
    return b;
}

}  // namespace sensor::detect::test_support
