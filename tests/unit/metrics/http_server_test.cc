#include "sensor/metrics/http_server.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/metrics/http_client.h"

namespace sensor::metrics {
namespace {

using testing::http_get;
using testing::http_request;

TEST(ParseListen, DefaultsToLoopback) {
    EXPECT_EQ(*parse_listen("9100"), "127.0.0.1:9100");
    EXPECT_EQ(*parse_listen(":9100"), "127.0.0.1:9100");
    EXPECT_EQ(*parse_listen("0.0.0.0:9100"), "0.0.0.0:9100");
    EXPECT_EQ(*parse_listen("10.1.2.3:0"), "10.1.2.3:0");
    EXPECT_EQ(*parse_listen("[::1]:9100"), "[::1]:9100");
    EXPECT_EQ(*parse_listen("[::]:65535"), "[::]:65535");
}

TEST(ParseListen, RejectsWhatCivetwebWouldMisread) {
    for (const char* bad : {"", "x", "localhost:9100", "1.2.3:9100", "1.2.3.4:65536", "1.2.3.4:-1",
                            "1.2.3.4:", "::1:9100", "[::1]", "[zz]:1", "9100s"}) {
        auto r = parse_listen(bad);
        EXPECT_FALSE(r) << bad;
        if (!r) {
            EXPECT_EQ(r.error().message.rfind("metrics listen \"" + std::string(bad) + "\": ", 0),
                      0u)
                << r.error().message;
        }
    }
}

std::unique_ptr<HttpServer> start_server(const std::string& auth_file = "") {
    auto server = HttpServer::start(HttpOptions{"127.0.0.1:0", auth_file, 2});
    EXPECT_TRUE(server) << server.error().message;
    return server ? std::move(*server) : nullptr;
}

TEST(HttpServer, ServesRegisteredPathsOnly) {
    auto server = start_server();
    ASSERT_NE(server, nullptr);
    ASSERT_NE(server->port(), 0);
    EXPECT_EQ(server->address(), "127.0.0.1:" + std::to_string(server->port()));
    EXPECT_FALSE(server->auth_enabled());

    EXPECT_EQ(http_get(server->port(), "/metrics").status, 404);
    server->handle("/healthz", [](const HttpRequest& req) {
        return HttpResponse{200, "text/plain; charset=utf-8", "ok " + req.query + "\n"};
    });
    auto ok = http_get(server->port(), "/healthz?x=1");
    EXPECT_EQ(ok.status, 200);
    EXPECT_EQ(ok.body, "ok x=1\n");
    EXPECT_NE(ok.headers.find("Content-Type: text/plain; charset=utf-8"), std::string::npos);
    EXPECT_EQ(http_get(server->port(), "/healthz/deeper").status, 404);
    EXPECT_EQ(http_get(server->port(), "/other").status, 404);

    auto head = http_request(server->port(), "HEAD", "/healthz");
    EXPECT_EQ(head.status, 200);
    EXPECT_TRUE(head.body.empty());
    EXPECT_NE(head.headers.find("Content-Length: 4"), std::string::npos) << head.headers;
    EXPECT_EQ(http_request(server->port(), "POST", "/healthz").status, 405);
    EXPECT_EQ(http_request(server->port(), "DELETE", "/healthz").status, 405);
}

TEST(HttpServer, ReplacesHandlersWhileRunning) {
    auto server = start_server();
    ASSERT_NE(server, nullptr);
    server->handle("/alerts", [](const HttpRequest&) { return HttpResponse{200, "a/b", "one"}; });
    EXPECT_EQ(http_get(server->port(), "/alerts").body, "one");
    server->handle("/alerts", [](const HttpRequest&) { return HttpResponse{503, "a/b", "two"}; });
    auto r = http_get(server->port(), "/alerts");
    EXPECT_EQ(r.status, 503);
    EXPECT_EQ(r.body, "two");
}

TEST(HttpServer, HandlerExceptionsBecome500) {
    auto server = start_server();
    ASSERT_NE(server, nullptr);
    server->handle("/boom", [](const HttpRequest&) -> HttpResponse {
        throw std::runtime_error("broken provider");
    });
    auto r = http_get(server->port(), "/boom");
    EXPECT_EQ(r.status, 500);
    EXPECT_NE(r.body.find("broken provider"), std::string::npos);
}

TEST(HttpServer, ServesTheRegistry) {
    auto registry = std::make_shared<Registry>();
    std::atomic<int> scrapes{0};
    ASSERT_TRUE(registry->add(
        FamilySpec{"sensor_test_scrapes_total", "Scrapes seen", MetricKind::kCounter, {}},
        [&scrapes](SampleWriter& w) { w.add(++scrapes); }));
    auto server = start_server();
    ASSERT_NE(server, nullptr);
    server->handle_metrics("/metrics", registry);
    auto r = http_get(server->port(), "/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_NE(r.headers.find("Content-Type: text/plain; version=0.0.4; charset=utf-8"),
              std::string::npos)
        << r.headers;
    EXPECT_NE(r.body.find("sensor_test_scrapes_total 1\n"), std::string::npos) << r.body;
    EXPECT_NE(http_get(server->port(), "/metrics").body.find("sensor_test_scrapes_total 2\n"),
              std::string::npos);

    // Concurrent scrapes: every one answered, every one counted.
    std::vector<std::thread> threads;
    std::atomic<int> ok{0};
    for (int i = 0; i < 8; ++i) {
        threads.emplace_back([&] {
            if (http_get(server->port(), "/metrics").status == 200) {
                ++ok;
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    EXPECT_EQ(ok.load(), 8);
    EXPECT_EQ(scrapes.load(), 10);
}

TEST(HttpServer, BasicAuthGuardsAllButOpenPaths) {
    auto dir =
        std::filesystem::temp_directory_path() / ("metrics_http_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string auth = (dir / "auth").string();
    std::ofstream(auth) << "prom:pw\n";
    auto server = start_server(auth);
    ASSERT_NE(server, nullptr);
    EXPECT_TRUE(server->auth_enabled());
    server->handle("/metrics", [](const HttpRequest&) { return HttpResponse{200, "t/p", "m"}; });
    server->handle(
        "/healthz",
        [](const HttpRequest&) {
            return HttpResponse{200, "t/p", "ok"};
        },
        false);

    auto denied = http_get(server->port(), "/metrics");
    EXPECT_EQ(denied.status, 401);
    EXPECT_NE(denied.headers.find("WWW-Authenticate: Basic realm=\"sensor metrics\""),
              std::string::npos)
        << denied.headers;
    EXPECT_NE(denied.body, "m");
    // "prom:pw" and "prom:px" in base64.
    EXPECT_EQ(http_get(server->port(), "/metrics", "Authorization: Basic cHJvbTpwdw==\r\n").status,
              200);
    EXPECT_EQ(http_get(server->port(), "/metrics", "Authorization: Basic cHJvbTpweA==\r\n").status,
              401);
    EXPECT_EQ(http_get(server->port(), "/healthz").status, 200);
    std::filesystem::remove_all(dir);
}

// An action path (POST /-/reload) takes POST only; basic auth applies to it as to GET paths.
TEST(HttpServer, PostPathsTakePostOnly) {
    auto dir =
        std::filesystem::temp_directory_path() / ("metrics_post_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string auth = (dir / "auth").string();
    std::ofstream(auth) << "prom:pw\n";
    auto server = start_server(auth);
    ASSERT_NE(server, nullptr);
    std::atomic<int> actions{0};
    server->handle_post("/-/reload", [&actions](const HttpRequest& req) {
        ++actions;
        return HttpResponse{200, "text/plain; charset=utf-8", req.method + " done\n"};
    });
    const std::string creds = "Authorization: Basic cHJvbTpwdw==\r\n";
    auto done = http_request(server->port(), "POST", "/-/reload", creds);
    EXPECT_EQ(done.status, 200);
    EXPECT_EQ(done.body, "POST done\n");
    EXPECT_EQ(actions.load(), 1);

    EXPECT_EQ(http_request(server->port(), "POST", "/-/reload").status, 401);
    auto get = http_request(server->port(), "GET", "/-/reload", creds);
    EXPECT_EQ(get.status, 405);
    EXPECT_EQ(get.body, "method not allowed: use POST\n");
    EXPECT_EQ(http_request(server->port(), "HEAD", "/-/reload", creds).status, 405);
    EXPECT_EQ(http_request(server->port(), "PUT", "/-/reload", creds).status, 405);
    // A browser's cross-site POST (a form on another page) carries Origin: refused.
    EXPECT_EQ(http_request(server->port(), "POST", "/-/reload",
                           creds + "Origin: http://attacker.example\r\n")
                  .status,
              403);
    EXPECT_EQ(actions.load(), 1) << "only the authorized POST without Origin ran the action";
    std::filesystem::remove_all(dir);
}

TEST(HttpServer, ReportsUnusableListenAndAuthFile) {
    auto first = start_server();
    ASSERT_NE(first, nullptr);
    const std::string taken = "127.0.0.1:" + std::to_string(first->port());
    auto second = HttpServer::start(HttpOptions{taken, "", 1});
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().message.rfind("metrics listen " + taken + ": cannot listen", 0), 0u)
        << second.error().message;

    auto bad_auth = HttpServer::start(HttpOptions{"127.0.0.1:0", "/nonexistent/auth", 1});
    ASSERT_FALSE(bad_auth);
    EXPECT_EQ(bad_auth.error().message.rfind("/nonexistent/auth: cannot read", 0), 0u);
    EXPECT_FALSE(HttpServer::start(HttpOptions{"localhost:0", "", 1}));
}

}  // namespace
}  // namespace sensor::metrics
