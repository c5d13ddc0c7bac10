// TLS encryption-handling in the worker: with Suricata's "default", a TLS flow's payload is
// no longer inspected from its first application data record after both ChangeCipherSpecs;
// "full" inspects it to the end; the clear-text handshake is inspected either way.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bench/trafficgen/packet_builder.h"
#include "bench/trafficgen/payloads.h"
#include "bench/trafficgen/rng.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline {
namespace {

using trafficgen::Bytes;

constexpr const char* kRules =
    "alert tcp any any -> any any (msg:\"marker\"; content:\"SECRETMARK\"; sid:1;)\n"
    "alert tcp any any -> any any (msg:\"sni\"; content:\"tls.example\"; sid:2;)\n"
    "alert tcp any any -> any 443 (msg:\"header only\"; flow:to_server; dsize:>0; sid:3;)\n";

core::IpAddress ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    core::IpAddress x;
    x.bytes = {a, b, c, d};
    return x;
}

// An application data record (type 23) whose body carries the marker in clear, so that only
// the encryption handling decides whether a payload rule sees it.
Bytes app_data_with_marker() {
    const std::string body = "....SECRETMARK....";
    Bytes r(5 + body.size());
    r[0] = 23;  // application data
    r[1] = 3;
    r[2] = 3;
    r[3] = 0;
    r[4] = static_cast<uint8_t>(body.size());
    std::copy(body.begin(), body.end(), r.begin() + 5);
    return r;
}

Bytes cat(const Bytes& a, const Bytes& b) {
    Bytes out(a.size() + b.size());
    std::copy(a.begin(), a.end(), out.begin());
    std::copy(b.begin(), b.end(), out.begin() + static_cast<std::ptrdiff_t>(a.size()));
    return out;
}

class TlsEncryption : public ::testing::Test {
protected:
    void start(bool inspect_encrypted) {
        rules::Taxonomy taxonomy;
        auto set = rules::parse_rules_text(kRules, "test.rules", {}, taxonomy);
        ASSERT_TRUE(set.has_value()) << set.error().message;
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        WorkerConfig config;
        config.tls_inspect_encrypted = inspect_encrypted;
        worker_ = std::make_unique<Worker>(config, *db, std::vector<BuiltinRule>{});
    }
    void TearDown() override {
        if (worker_ != nullptr) {
            worker_->finish();
        }
    }

    // One segment from the client (to_server) or the server, sequence numbers kept per side.
    void send(bool from_client, uint8_t flags, const Bytes& payload) {
        trafficgen::FrameSpec spec;
        spec.src_ip = from_client ? ip4(10, 0, 0, 1) : ip4(10, 0, 0, 2);
        spec.dst_ip = from_client ? ip4(10, 0, 0, 2) : ip4(10, 0, 0, 1);
        trafficgen::TcpHeader tcp;
        tcp.src_port = from_client ? 40000 : 443;
        tcp.dst_port = from_client ? 443 : 40000;
        uint32_t& seq = from_client ? client_seq_ : server_seq_;
        tcp.seq = seq;
        tcp.ack = from_client ? server_seq_ : client_seq_;
        tcp.flags = flags;
        tcp.window = 512;
        seq += static_cast<uint32_t>(payload.size()) + ((flags & 0x03) != 0 ? 1 : 0);
        const Bytes frame = trafficgen::make_tcp_frame(spec, tcp, payload);
        auto batch = std::make_unique<core::FrameBatch>();
        now_us_ += 1000;
        ASSERT_TRUE(
            batch->push(frame, static_cast<uint32_t>(frame.size()), now_us_, 1, ++index_, 0));
        batch->set_clock(now_us_);
        worker_->process(*batch);
        for (const core::AlertRecord& a : worker_->output().alerts) {
            ++alerts_[a.signature_id];
        }
        worker_->output().alerts.clear();
    }

    // Handshake, hellos, the server's ChangeCipherSpec, then (when client_ccs) the client's
    // ChangeCipherSpec with its first application data in one segment, then one record of
    // application data each way.
    void session(bool client_ccs) {
        trafficgen::Rng rng(7);
        const Bytes session_id(32, 0x11);
        send(true, 0x02, {});   // SYN
        send(false, 0x12, {});  // SYN ACK
        send(true, 0x10, {});   // ACK
        send(true, 0x18, trafficgen::tls_client_hello(rng, "tls.example", session_id));
        send(false, 0x18,
             cat(trafficgen::tls_server_hello(rng, false, session_id),
                 trafficgen::tls_change_cipher_spec()));
        send(true, 0x18,
             client_ccs ? cat(trafficgen::tls_change_cipher_spec(), app_data_with_marker())
                        : app_data_with_marker());
        send(false, 0x18, app_data_with_marker());
        send(true, 0x18, app_data_with_marker());
    }

    uint64_t uninspected() const { return worker_->detect_stats().payload_uninspected.load(); }

    std::unique_ptr<Worker> worker_;
    std::map<uint32_t, int> alerts_;
    uint32_t client_seq_ = 1000;
    uint32_t server_seq_ = 5000;
    int64_t now_us_ = 1'000'000;
    uint64_t index_ = 0;
};

TEST_F(TlsEncryption, DefaultStopsPayloadInspectionOnceEncrypted) {
    ASSERT_NO_FATAL_FAILURE(start(false));
    ASSERT_NO_FATAL_FAILURE(session(true));
    EXPECT_EQ(alerts_[2], 1);  // the SNI in the clear ClientHello
    EXPECT_EQ(alerts_[1], 0);  // every marker sits in application data after both CCS
    EXPECT_EQ(alerts_[3], 3);  // header rules go on: hello and the two client records
    EXPECT_EQ(uninspected(), 3u);
}

TEST_F(TlsEncryption, FullInspectsTheEncryptedPhaseToo) {
    ASSERT_NO_FATAL_FAILURE(start(true));
    ASSERT_NO_FATAL_FAILURE(session(true));
    EXPECT_EQ(alerts_[2], 1);
    EXPECT_EQ(alerts_[1], 3);
    EXPECT_EQ(alerts_[3], 3);
    EXPECT_EQ(uninspected(), 0u);
}

TEST_F(TlsEncryption, OneSidedChangeCipherSpecKeepsInspecting) {
    ASSERT_NO_FATAL_FAILURE(start(false));
    ASSERT_NO_FATAL_FAILURE(session(false));
    EXPECT_EQ(alerts_[1], 3);  // the client never sent its CCS: not yet encrypted
    EXPECT_EQ(uninspected(), 0u);
}

}  // namespace
}  // namespace sensor::pipeline
