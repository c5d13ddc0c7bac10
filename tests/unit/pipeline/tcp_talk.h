#pragma once
// Test helpers for TCP conversations fed to a Worker: a client and a server whose segments
// are placed by their offset in the sender's stream.

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
#include "sensor/core/frame.h"
#include "sensor/core/ip_address.h"
#include "sensor/detect/signature_db.h"
#include "sensor/pipeline/worker.h"

namespace sensor::pipeline::tcp_test {

inline constexpr int64_t kStartUs = 1'700'000'000'000'000;

inline core::IpAddress ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    core::IpAddress x;
    x.bytes = {a, b, c, d};
    return x;
}

inline std::span<const uint8_t> bytes_of(const std::string& s) {
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// A client and a server; segments are placed by their offset in their side's stream, and
// each carries the acknowledgement of everything `acked` says the sender has received.
class Talk {
public:
    explicit Talk(uint16_t client_port = 40000) : client_port_(client_port) {}

    std::vector<uint8_t> syn() { return frame(true, trafficgen::kSyn, 0, {}, false); }
    std::vector<uint8_t> syn_ack() {
        return frame(false, trafficgen::kSyn | trafficgen::kAck, 0, {}, false);
    }
    // Data (or a pure ACK when text is empty) at `at` bytes into the sender's stream.
    std::vector<uint8_t> data(bool from_client, uint32_t at, const std::string& text,
                              uint8_t flags = trafficgen::kAck | trafficgen::kPsh) {
        return frame(from_client, flags, at, text, true);
    }
    // A pure ACK from one side acknowledging `bytes` of the other side's stream.
    std::vector<uint8_t> ack(bool from_client, uint32_t bytes) {
        acked_[from_client ? 1 : 0] = bytes;
        return frame(from_client, trafficgen::kAck, sent_[from_client ? 0 : 1], {}, true);
    }

private:
    std::vector<uint8_t> frame(bool from_client, uint8_t flags, uint32_t at,
                               const std::string& text, bool after_syn) {
        const size_t me = from_client ? 0 : 1;
        const size_t peer = 1 - me;
        trafficgen::TcpHeader h;
        h.src_port = from_client ? client_port_ : kServerPort;
        h.dst_port = from_client ? kServerPort : client_port_;
        h.seq = isn_[me] + (after_syn ? 1 : 0) + at;
        h.ack = (flags & trafficgen::kAck) != 0 ? isn_[peer] + 1 + acked_[peer] : 0;
        h.flags = flags;
        h.window = 65535;
        sent_[me] = std::max(sent_[me], at + static_cast<uint32_t>(text.size()));
        trafficgen::FrameSpec spec;
        spec.src_ip = from_client ? client_ : server_;
        spec.dst_ip = from_client ? server_ : client_;
        return trafficgen::make_tcp_frame(spec, h, bytes_of(text));
    }

    static constexpr uint16_t kServerPort = 80;
    uint16_t client_port_;
    core::IpAddress client_ = ip4(10, 0, 0, 1);
    core::IpAddress server_ = ip4(10, 0, 0, 2);
    uint32_t isn_[2] = {100'000, 900'000};
    uint32_t acked_[2] = {0, 0};  // bytes of side [i]'s stream its peer acknowledges
    uint32_t sent_[2] = {0, 0};
};

// A test that feeds frames to one Worker, one frame per batch, and keeps the alerts raised.
class FeedsWorker : public ::testing::Test {
protected:
    // Ends the flows, which frees their classifier and app-layer state.
    void TearDown() override {
        if (worker_ != nullptr) {
            worker_->finish();
        }
    }
    // A fresh worker with config on rules_text; the previous worker's flows end first.
    void start_worker(const WorkerConfig& config, const char* rules_text) {
        if (worker_ != nullptr) {
            worker_->finish();
        }
        rules::Taxonomy taxonomy;
        auto set = rules::parse_rules_text(rules_text, "test.rules", {}, taxonomy);
        ASSERT_TRUE(set.has_value()) << set.error().message;
        auto db = detect::SignatureDb::build(std::make_shared<const rules::RuleSet>(*set));
        ASSERT_TRUE(db.has_value()) << db.error().message;
        worker_ = std::make_unique<Worker>(config, *db, std::vector<BuiltinRule>{});
        alerts_.clear();
        index_ = 0;
    }
    // Returns how many alerts the frame raised.
    size_t feed(const std::vector<uint8_t>& frame) {
        auto batch = std::make_unique<core::FrameBatch>();
        const int64_t ts = kStartUs + static_cast<int64_t>(index_) * 1000;
        EXPECT_TRUE(batch->push(frame, static_cast<uint32_t>(frame.size()), ts, 1, ++index_, 0));
        batch->set_clock(ts);
        worker_->process(*batch);
        return collect();
    }
    size_t finish() {
        worker_->finish();
        return collect();
    }
    size_t collect() {
        auto& out = worker_->output().alerts;
        const size_t n = out.size();
        for (auto& a : out) {
            alerts_.push_back(std::move(a));
        }
        out.clear();
        return n;
    }

    std::unique_ptr<Worker> worker_;
    std::vector<core::AlertRecord> alerts_;
    uint64_t index_ = 0;  // frames fed: the next frame's capture position - 1
};

}  // namespace sensor::pipeline::tcp_test
