// AlertmanagerOutput against a small HTTP server on 127.0.0.1 that records POST bodies.
#include "sensor/alert/alertmanager.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

namespace sensor::alert {
namespace {

using nlohmann::json;

// Accepts connections on 127.0.0.1, reads one request each, records the body of POSTs to
// /api/v2/alerts and answers with the configured status.
class FakeAlertmanager {
public:
    explicit FakeAlertmanager(uint16_t port = 0, int status = 200) : status_(status) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
              ::listen(fd_, 16) == 0;
        socklen_t len = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { serve(); });
    }
    ~FakeAlertmanager() {
        stop_ = true;
        thread_.join();
        ::close(fd_);
    }
    bool ok() const { return ok_; }
    uint16_t port() const { return port_; }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
    std::vector<std::string> bodies() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return bodies_;
    }
    std::vector<std::string> paths() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return paths_;
    }
    // Every alert object posted, in order.
    std::vector<json> alerts() const {
        std::vector<json> out;
        for (const auto& b : bodies()) {
            for (const auto& a : json::parse(b)) {
                out.push_back(a);
            }
        }
        return out;
    }

private:
    void serve() {
        while (!stop_) {
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, 20) <= 0) {
                continue;
            }
            const int c = ::accept(fd_, nullptr, nullptr);
            if (c < 0) {
                continue;
            }
            handle(c);
            ::close(c);
        }
    }
    void handle(int c) {
        std::string req;
        char buf[4096];
        size_t body_at = std::string::npos;
        size_t length = 0;
        while (true) {
            pollfd p{c, POLLIN, 0};
            if (::poll(&p, 1, 2000) <= 0) {
                return;
            }
            const ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) {
                return;
            }
            req.append(buf, static_cast<size_t>(n));
            if (body_at == std::string::npos) {
                const size_t end = req.find("\r\n\r\n");
                if (end == std::string::npos) {
                    continue;
                }
                body_at = end + 4;
                const size_t cl = req.find("Content-Length: ");
                if (cl != std::string::npos && cl < end) {
                    length = std::stoul(req.substr(cl + 16));
                }
            }
            if (req.size() >= body_at + length) {
                break;
            }
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            paths_.push_back(req.substr(0, req.find("\r\n")));
            bodies_.push_back(req.substr(body_at, length));
        }
        const std::string reply = "HTTP/1.1 " + std::to_string(status_) +
                                  " X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        ::send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
    }

    int fd_ = -1;
    int status_;
    bool ok_ = false;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
    mutable std::mutex mutex_;
    std::vector<std::string> bodies_;
    std::vector<std::string> paths_;
};

bool wait_until(const std::function<bool()>& cond, int timeout_ms = 5000) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        if (cond()) {
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

core::AlertRecord make_alert(uint32_t sid, uint8_t src_last, int64_t ts_us) {
    core::AlertRecord r;
    r.ts_us = ts_us;
    r.signature_id = sid;
    r.rev = 3;
    r.severity = 1;
    r.own_rule_texts({.signature = "ET TEST rule " + std::to_string(sid),
                      .category = "A Network Trojan was detected",
                      .concepts = {"crime.02", "threat.06"}});
    r.app_proto = "http";
    const uint8_t src[4] = {10, 1, 3, src_last};
    const uint8_t dst[4] = {198, 51, 100, 20};
    r.endpoints.src_ip = core::IpAddress::v4_from(src);
    r.endpoints.dest_ip = core::IpAddress::v4_from(dst);
    r.endpoints.src_port = 49152;
    r.endpoints.dest_port = 80;
    r.endpoints.ip_proto = 6;
    return r;
}

AlertmanagerConfig fast_config(const std::string& url) {
    AlertmanagerConfig c;
    c.url = url;
    c.sensor_name = "edge-1";
    c.push_interval_ms = 50;
    c.retry_initial_ms = 50;
    c.retry_max_ms = 200;
    c.timeout_ms = 1000;
    return c;
}

// A port that refuses connections: bound then released by a server that is gone.
uint16_t closed_port() {
    FakeAlertmanager tmp;
    return tmp.port();
}

TEST(AlertmanagerUrl, ParsesHostPortAndPrefix) {
    auto ep = parse_alertmanager_url("http://127.0.0.1:9093");
    ASSERT_TRUE(ep) << ep.error().message;
    EXPECT_EQ(ep->host, "127.0.0.1");
    EXPECT_EQ(ep->port, "9093");
    EXPECT_EQ(ep->path, "/api/v2/alerts");
    auto prefixed = parse_alertmanager_url("http://am.example:80/alertmanager/");
    ASSERT_TRUE(prefixed);
    EXPECT_EQ(prefixed->path, "/alertmanager/api/v2/alerts");
    auto v6 = parse_alertmanager_url("http://[::1]:9093");
    ASSERT_TRUE(v6);
    EXPECT_EQ(v6->host, "::1");
    EXPECT_EQ(v6->port, "9093");
    auto noport = parse_alertmanager_url("http://localhost");
    ASSERT_TRUE(noport);
    EXPECT_EQ(noport->port, "80");
}

TEST(AlertmanagerUrl, RejectsBadUrls) {
    EXPECT_FALSE(parse_alertmanager_url("https://127.0.0.1:9093"));
    EXPECT_FALSE(parse_alertmanager_url("127.0.0.1:9093"));
    EXPECT_FALSE(parse_alertmanager_url("http://:9093"));
    EXPECT_FALSE(parse_alertmanager_url("http://host:99999"));
    EXPECT_FALSE(parse_alertmanager_url("http://host:9x"));
    auto err = AlertmanagerOutput::start(AlertmanagerConfig{});
    ASSERT_FALSE(err);
    EXPECT_NE(err.error().message.find("alertmanager url"), std::string::npos);
}

TEST(AlertmanagerOutput, PostsLabelsAndAnnotations) {
    FakeAlertmanager server;
    ASSERT_TRUE(server.ok());
    auto out = AlertmanagerOutput::start(fast_config(server.url()));
    ASSERT_TRUE(out) << out.error().message;
    (*out)->submit(make_alert(1000001, 41, 1767600095000000));
    (*out)->flush_and_stop();

    EXPECT_EQ((*out)->stats().submitted.load(), 1u);
    EXPECT_EQ((*out)->stats().sent.load(), 1u);
    EXPECT_EQ((*out)->stats().send_failures.load(), 0u);
    ASSERT_FALSE(server.paths().empty());
    EXPECT_EQ(server.paths()[0], "POST /api/v2/alerts HTTP/1.1");
    const auto alerts = server.alerts();
    ASSERT_EQ(alerts.size(), 1u);
    const json& a = alerts[0];
    EXPECT_EQ(a["labels"]["alertname"], "ET TEST rule 1000001");
    EXPECT_EQ(a["labels"]["concept"], "crime.02,threat.06");
    EXPECT_EQ(a["labels"]["severity"], "critical");
    EXPECT_EQ(a["labels"]["category"], "A Network Trojan was detected");
    EXPECT_EQ(a["labels"]["sensor"], "edge-1");
    EXPECT_EQ(a["labels"]["src_ip"], "10.1.3.41");
    EXPECT_EQ(a["labels"]["dest_ip"], "198.51.100.20");
    EXPECT_EQ(a["annotations"]["sid"], "1000001");
    EXPECT_EQ(a["annotations"]["rev"], "3");
    EXPECT_EQ(a["annotations"]["src"], "10.1.3.41:49152");
    EXPECT_EQ(a["annotations"]["dest"], "198.51.100.20:80");
    EXPECT_EQ(a["annotations"]["proto"], "tcp");
    EXPECT_EQ(a["annotations"]["app_proto"], "http");
    EXPECT_EQ(a["annotations"]["count"], "1");
    EXPECT_EQ(a["annotations"]["first_seen"], "2026-01-05T08:01:35.000Z");
    EXPECT_EQ(a["annotations"]["community_id"].get<std::string>().rfind("1:", 0), 0u);
    EXPECT_FALSE(a.contains("generatorURL"));
    // endsAt = startsAt + the 300 s resolve timeout when nothing else arrived.
    const std::string starts = a["startsAt"], ends = a["endsAt"];
    ASSERT_EQ(starts.size(), 24u);
    ASSERT_EQ(ends.size(), 24u);
    auto minutes = [](const std::string& t) {
        return std::stoi(t.substr(11, 2)) * 60 + std::stoi(t.substr(14, 2));
    };
    EXPECT_EQ((minutes(ends) - minutes(starts) + 1440) % 1440, 5);
}

TEST(AlertmanagerOutput, AggregatesSameSidAndAddresses) {
    FakeAlertmanager server;
    ASSERT_TRUE(server.ok());
    auto out = AlertmanagerOutput::start(fast_config(server.url()));
    ASSERT_TRUE(out);
    const int64_t t0 = 1767600000000000;
    for (int i = 0; i < 10; ++i) {
        (*out)->submit(make_alert(1000002, 7, t0 + i * 1000000));  // 10 within 60 s
    }
    (*out)->submit(make_alert(1000002, 8, t0));                 // other source
    (*out)->submit(make_alert(1000002, 7, t0 + 61 * 1000000));  // next window
    (*out)->flush_and_stop();

    const auto& s = (*out)->stats();
    EXPECT_EQ(s.submitted.load(), 12u);
    EXPECT_EQ(s.aggregated.load(), 9u);
    const auto alerts = server.alerts();
    // Last posted state per (src, first_seen): one aggregate of 10, one of 1, one of 1.
    std::map<std::string, std::string> count_by_window;
    for (const auto& a : alerts) {
        count_by_window[a["labels"]["src_ip"].get<std::string>() + " " +
                        a["annotations"]["first_seen"].get<std::string>()] =
            a["annotations"]["count"];
    }
    ASSERT_EQ(count_by_window.size(), 3u);
    EXPECT_EQ(count_by_window["10.1.3.7 2026-01-05T08:00:00.000Z"], "10");
    EXPECT_EQ(count_by_window["10.1.3.8 2026-01-05T08:00:00.000Z"], "1");
    EXPECT_EQ(count_by_window["10.1.3.7 2026-01-05T08:01:01.000Z"], "1");
}

TEST(AlertmanagerOutput, NonSuccessStatusIsAFailure) {
    FakeAlertmanager server(0, 400);
    ASSERT_TRUE(server.ok());
    auto out = AlertmanagerOutput::start(fast_config(server.url()));
    ASSERT_TRUE(out);
    (*out)->submit(make_alert(1, 1, 0));
    ASSERT_TRUE(wait_until([&] { return (*out)->stats().send_failures.load() >= 1; }));
    (*out)->flush_and_stop();
    EXPECT_EQ((*out)->stats().sent.load(), 0u);
    EXPECT_EQ((*out)->stats().dropped_at_stop.load(), 1u);
    EXPECT_NE((*out)->last_error().find("http status 400"), std::string::npos);
}

TEST(AlertmanagerOutput, QueueFullDropsAreCountedWhileDown) {
    const uint16_t port = closed_port();
    auto config = fast_config("http://127.0.0.1:" + std::to_string(port));
    config.queue_capacity = 4;
    config.retry_initial_ms = 60000;  // stays in backoff, so the queue is not drained
    config.retry_max_ms = 60000;
    auto out = AlertmanagerOutput::start(config);
    ASSERT_TRUE(out);
    (*out)->submit(make_alert(1, 1, 0));
    ASSERT_TRUE(wait_until([&] { return (*out)->stats().send_failures.load() >= 1; }));
    const auto before = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) {
        (*out)->submit(make_alert(2, static_cast<uint8_t>(i), 0));
    }
    EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::milliseconds(100));
    EXPECT_EQ((*out)->stats().dropped_queue_full.load(), 6u);
    EXPECT_EQ((*out)->stats().submitted.load(), 11u);
    // Stopping must not wait out the backoff; the last attempt fails too.
    const auto stop_at = std::chrono::steady_clock::now();
    (*out)->flush_and_stop();
    EXPECT_LT(std::chrono::steady_clock::now() - stop_at, std::chrono::seconds(5));
    EXPECT_EQ((*out)->stats().sent.load(), 0u);
    EXPECT_EQ((*out)->stats().dropped_at_stop.load(), 5u);  // 1 + the 4 queued, all distinct
    EXPECT_NE((*out)->last_error().find("connect"), std::string::npos);
}

TEST(AlertmanagerOutput, RetriesUntilServerComesBack) {
    const uint16_t port = closed_port();
    auto out = AlertmanagerOutput::start(fast_config("http://127.0.0.1:" + std::to_string(port)));
    ASSERT_TRUE(out);
    (*out)->submit(make_alert(1000003, 5, 0));
    ASSERT_TRUE(wait_until([&] { return (*out)->stats().send_failures.load() >= 2; }));
    FakeAlertmanager server(port);
    ASSERT_TRUE(server.ok());
    ASSERT_TRUE(wait_until([&] { return (*out)->stats().sent.load() >= 1; }));
    (*out)->flush_and_stop();
    EXPECT_GE((*out)->stats().retries.load(), 2u);
    const auto alerts = server.alerts();
    ASSERT_EQ(alerts.size(), 1u);
    EXPECT_EQ(alerts[0]["annotations"]["sid"], "1000003");
    EXPECT_EQ(alerts[0]["annotations"]["count"], "1");
}

}  // namespace
}  // namespace sensor::alert
