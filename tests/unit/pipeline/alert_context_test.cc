// What the worker copies into an AlertRecord besides the rule: app_proto recognised by the
// app layer, the HTTP transaction (tx_id and the `http` object), the flow counters and VLAN
// ids, driven through Worker::process on generated frames.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "bench/trafficgen/packet_builder.h"
#include "rules/rule_set.h"
#include "rules/taxonomy.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline {
namespace {

constexpr int64_t kStartUs = 1'255'711'456'083'524;
constexpr int64_t kStepUs = 1'000;

core::IpAddress ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    core::IpAddress x;
    x.bytes[0] = a;
    x.bytes[1] = b;
    x.bytes[2] = c;
    x.bytes[3] = d;
    return x;
}

std::span<const uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Client 192.168.2.3:37010 talking to 208.69.36.231 on `server_port`, sequence numbers kept.
class Conversation {
public:
    explicit Conversation(uint16_t server_port) : server_port_(server_port) {}

    std::vector<uint8_t> segment(bool from_client, uint8_t flags, const std::string& text = {}) {
        trafficgen::TcpHeader h;
        h.src_port = from_client ? kClientPort : server_port_;
        h.dst_port = from_client ? server_port_ : kClientPort;
        uint32_t& seq = seq_[from_client ? 0 : 1];
        h.seq = seq;
        h.ack = (flags & trafficgen::kAck) != 0 ? seq_[from_client ? 1 : 0] : 0;
        h.flags = flags;
        h.window = 5840;
        seq += static_cast<uint32_t>(text.size()) + ((flags & trafficgen::kSyn) != 0 ? 1u : 0u);
        trafficgen::FrameSpec spec;
        spec.src_ip = from_client ? client_ : server_;
        spec.dst_ip = from_client ? server_ : client_;
        return trafficgen::make_tcp_frame(spec, h, bytes_of(text));
    }
    std::vector<std::vector<uint8_t>> handshake() {
        return {segment(true, trafficgen::kSyn),
                segment(false, trafficgen::kSyn | trafficgen::kAck),
                segment(true, trafficgen::kAck)};
    }
    const core::IpAddress& client() const { return client_; }
    const core::IpAddress& server() const { return server_; }

    static constexpr uint16_t kClientPort = 37010;

private:
    core::IpAddress client_ = ip4(192, 168, 2, 3);
    core::IpAddress server_ = ip4(208, 69, 36, 231);
    uint16_t server_port_;
    uint32_t seq_[2] = {1'000'000, 7'000'000};
};

class AlertContext : public ::testing::Test {
protected:
    // guess = false and a two-packet budget: nDPI gives up on the flow before its data, so
    // app_proto can only come from the app layer.
    void start(const std::string& rules_text) {
        rules::Taxonomy taxonomy;
        auto set = rules::parse_rules_text(rules_text, "test.rules", {}, taxonomy);
        ASSERT_TRUE(set.has_value()) << set.error().message;
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        WorkerConfig config;
        config.classify.max_packets = 1;
        config.classify.guess = false;
        worker_ = std::make_unique<Worker>(config, *db, std::vector<BuiltinRule>{});
    }

    // Ends the flows, which frees their classifier and app-layer state.
    void TearDown() override {
        if (worker_ != nullptr) {
            worker_->finish();
        }
    }

    // One frame per batch, so that each alert's flow counters are those of its packet.
    void feed(const std::vector<uint8_t>& frame) {
        auto batch = std::make_unique<core::FrameBatch>();
        const int64_t ts = kStartUs + static_cast<int64_t>(index_) * kStepUs;
        ASSERT_TRUE(batch->push(frame, static_cast<uint32_t>(frame.size()), ts, 1, ++index_, 0));
        batch->set_clock(ts);
        worker_->process(*batch);
        frame_bytes_.push_back(frame.size());
        for (auto& a : worker_->output().alerts) {
            alerts_.push_back(std::move(a));
        }
        worker_->output().alerts.clear();
    }

    const core::AlertRecord* alert(uint32_t sid, size_t nth = 0) const {
        for (const auto& a : alerts_) {
            if (a.signature_id == sid && nth-- == 0) {
                return &a;
            }
        }
        return nullptr;
    }

    std::unique_ptr<Worker> worker_;
    std::vector<core::AlertRecord> alerts_;
    std::vector<size_t> frame_bytes_;  // wire length of each frame fed, in order
    uint64_t index_ = 0;
};

constexpr const char* kHttpRules =
    "alert tcp any any -> any any (msg:\"uri\"; content:\"blah\"; http_uri; sid:100;)\n"
    "alert tcp any any -> any any (msg:\"raw\"; content:\"Wget\"; sid:101;)\n"
    "alert http any any -> any any (msg:\"status\"; http.stat_code; content:\"404\"; "
    "sid:102;)\n";

const std::string kRequest0 =
    "GET /blah/ HTTP/1.1\r\nUser-Agent: Wget/1.11.4\r\nAccept: */*\r\n"
    "Host: www.google.com:8081\r\nReferer: http://example.org/\r\n\r\n";
const std::string kResponse0 =
    "HTTP/1.1 404 Not Found\r\nContent-Type: text/html; charset=UTF-8\r\n"
    "Content-Length: 9\r\n\r\nnot found";
const std::string kRequest1 = "GET /blah/again HTTP/1.1\r\nHost: www.google.com\r\n\r\n";

TEST_F(AlertContext, HttpAlertsCarryTheirTransactionAndFlow) {
    ASSERT_NO_FATAL_FAILURE(start(kHttpRules));
    Conversation c(8081);
    for (const auto& f : c.handshake()) {
        ASSERT_NO_FATAL_FAILURE(feed(f));
    }
    ASSERT_NO_FATAL_FAILURE(feed(c.segment(true, trafficgen::kAck | trafficgen::kPsh, kRequest0)));
    ASSERT_NO_FATAL_FAILURE(
        feed(c.segment(false, trafficgen::kAck | trafficgen::kPsh, kResponse0)));
    ASSERT_NO_FATAL_FAILURE(feed(c.segment(true, trafficgen::kAck | trafficgen::kPsh, kRequest1)));
    ASSERT_NO_FATAL_FAILURE(feed(c.segment(false, trafficgen::kAck)));
    ASSERT_NO_FATAL_FAILURE(feed(c.segment(true, trafficgen::kAck)));

    // Request side: Suricata's timing. The request (packet 4) is parsed once the response
    // (packet 5) acknowledges it and inspected on the client's next packet (6), which
    // acknowledges the response: that is parsed first, so the transaction has it.
    const core::AlertRecord* uri = alert(100);
    ASSERT_NE(uri, nullptr);
    EXPECT_EQ(uri->packet_index, 6u);
    EXPECT_EQ(uri->app_proto, "http");
    EXPECT_EQ(uri->tx_id, 0);
    ASSERT_TRUE(uri->http.has_value());
    EXPECT_EQ(uri->http->hostname, "www.google.com");
    EXPECT_EQ(uri->http->http_port, 8081);
    EXPECT_EQ(uri->http->url, "/blah/");
    EXPECT_EQ(uri->http->user_agent, "Wget/1.11.4");
    EXPECT_EQ(uri->http->refer, "http://example.org/");
    EXPECT_EQ(uri->http->method, "GET");
    EXPECT_EQ(uri->http->protocol, "HTTP/1.1");
    EXPECT_EQ(uri->http->status, 404);
    EXPECT_EQ(uri->http->content_type, "text/html");
    EXPECT_EQ(uri->http->length, 9u);
    ASSERT_TRUE(uri->flow.has_value());
    EXPECT_EQ(uri->flow->pkts_toserver, 4u);  // SYN, ACK, request, second request
    EXPECT_EQ(uri->flow->pkts_toclient, 2u);
    EXPECT_EQ(uri->flow->bytes_toserver,
              frame_bytes_[0] + frame_bytes_[2] + frame_bytes_[3] + frame_bytes_[5]);
    EXPECT_EQ(uri->flow->bytes_toclient, frame_bytes_[1] + frame_bytes_[4]);
    EXPECT_EQ(uri->flow->start_us, kStartUs);
    EXPECT_EQ(uri->flow->src_ip, c.client());
    EXPECT_EQ(uri->flow->src_port, Conversation::kClientPort);
    EXPECT_EQ(uri->flow->dest_port, 8081);

    // A payload rule fires on the request's own packet and has no transaction. Nothing has
    // been parsed yet (as in Suricata, the protocol is known once the server acknowledged the
    // request): app_proto is the classifier's, which gave up.
    const core::AlertRecord* raw = alert(101);
    ASSERT_NE(raw, nullptr);
    EXPECT_EQ(raw->packet_index, 4u);
    EXPECT_EQ(raw->tx_id, -1);
    EXPECT_FALSE(raw->http.has_value());
    EXPECT_TRUE(raw->flow.has_value());
    EXPECT_EQ(raw->app_proto, "failed");

    // Response side: parsed on packet 6 (the client's ACK), inspected on the server's next
    // packet (7, to_client): the same transaction; the flow object still names the client as
    // src.
    const core::AlertRecord* status = alert(102);
    ASSERT_NE(status, nullptr);
    EXPECT_EQ(status->packet_index, 7u);
    EXPECT_EQ(status->direction, "to_client");
    EXPECT_EQ(status->tx_id, 0);
    ASSERT_TRUE(status->http.has_value());
    EXPECT_EQ(status->http->status, 404);
    EXPECT_EQ(status->http->content_type, "text/html");
    EXPECT_EQ(status->http->length, 9u);
    EXPECT_EQ(status->http->url, "/blah/");
    ASSERT_TRUE(status->flow.has_value());
    EXPECT_EQ(status->endpoints.src_ip, c.server());
    EXPECT_EQ(status->flow->src_ip, c.client());
    EXPECT_EQ(status->flow->pkts_toclient, 3u);

    // The second request on the connection is transaction 1 (acknowledged by packet 7,
    // inspected on packet 8).
    const core::AlertRecord* again = alert(100, 1);
    ASSERT_NE(again, nullptr);
    EXPECT_EQ(again->packet_index, 8u);
    EXPECT_EQ(again->tx_id, 1);
    ASSERT_TRUE(again->http.has_value());
    EXPECT_EQ(again->http->url, "/blah/again");
    EXPECT_EQ(again->http->http_port, -1);  // no port in this Host header
    EXPECT_EQ(again->http->status, -1);

    // nDPI never named the flow; its record still says http, as the app layer recognised it.
    worker_->finish();
    ASSERT_EQ(worker_->output().flows.size(), 1u);
    EXPECT_EQ(worker_->output().flows[0].ndpi_protocol, "Unknown");
    EXPECT_EQ(worker_->output().flows[0].app_proto, "http");
}

TEST_F(AlertContext, FlowsTheAppLayerDoesNotParseKeepTheClassifierVerdict) {
    ASSERT_NO_FATAL_FAILURE(
        start("alert tcp any any -> any any (msg:\"raw\"; content:\"STAT\"; sid:1;)\n"));
    Conversation c(7777);
    for (const auto& f : c.handshake()) {
        ASSERT_NO_FATAL_FAILURE(feed(f));
    }
    ASSERT_NO_FATAL_FAILURE(feed(c.segment(true, trafficgen::kAck | trafficgen::kPsh, "STAT\r\n")));
    const core::AlertRecord* a = alert(1);
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->app_proto, "failed");  // the classifier gave up and nothing else knows
    EXPECT_EQ(a->tx_id, -1);
    EXPECT_FALSE(a->http.has_value());
}

TEST_F(AlertContext, VlanIdsAreCopied) {
    ASSERT_NO_FATAL_FAILURE(
        start("alert udp any any -> any any (msg:\"ping\"; content:\"ping\"; sid:7;)\n"));
    trafficgen::FrameSpec spec;
    spec.src_ip = ip4(10, 0, 0, 1);
    spec.dst_ip = ip4(10, 0, 0, 2);
    const std::string text = "ping";
    std::vector<uint8_t> frame = trafficgen::make_udp_frame(spec, 4000, 5000, bytes_of(text));
    // 802.1Q tag, VLAN 1111, between the MAC addresses and the EtherType.
    const uint8_t tag[] = {0x81, 0x00, 0x04, 0x57};
    frame.insert(frame.begin() + 12, std::begin(tag), std::end(tag));
    ASSERT_NO_FATAL_FAILURE(feed(frame));
    const core::AlertRecord* a = alert(7);
    ASSERT_NE(a, nullptr);
    ASSERT_EQ(a->vlan_count, 1u);
    EXPECT_EQ(a->vlan[0], 1111);
    ASSERT_TRUE(a->flow.has_value());
    EXPECT_EQ(a->flow->src_port, 4000);
    EXPECT_EQ(a->flow->bytes_toserver, frame.size());
}

}  // namespace
}  // namespace sensor::pipeline
