// HTTPS on the metrics listener: certificates made with the openssl command in a temporary
// directory, requests made with `openssl s_client` (which verifies the chain and the IP).
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "sensor/metrics/http_server.h"
#include "tests/unit/metrics/http_client.h"

namespace sensor::metrics {
namespace {

namespace fs = std::filesystem;
using testing::http_get;

std::string run_command(const std::string& command, int* status = nullptr) {
    std::string out;
    FILE* p = ::popen(command.c_str(), "r");
    if (p == nullptr) {
        return out;
    }
    std::array<char, 4096> buf{};
    size_t n = 0;
    while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) {
        out.append(buf.data(), n);
    }
    int rc = ::pclose(p);
    if (status != nullptr) {
        *status = rc;
    }
    return out;
}

bool have_openssl() {
    int status = -1;
    run_command("openssl version >/dev/null 2>&1", &status);
    return status == 0;
}

class TlsFiles : public ::testing::Test {
protected:
    void SetUp() override {
        if (!tls_supported()) {
            GTEST_SKIP() << "civetweb built without TLS";
        }
        if (!have_openssl()) {
            GTEST_SKIP() << "no openssl command to make certificates";
        }
        tmp_dir = fs::temp_directory_path() /
                  ("metrics_tls_" + std::to_string(getpid()) + "_" +
                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(tmp_dir);
        fs::create_directories(tmp_dir);
        ASSERT_TRUE(make_cert("server"));
    }
    void TearDown() override {
        if (!tmp_dir.empty()) {
            fs::remove_all(tmp_dir);
        }
    }
    // A self-signed EC certificate for 127.0.0.1: NAME.crt and NAME.key.
    bool make_cert(const std::string& name) {
        int status = -1;
        run_command(
            "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
            "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout " +
                path(name + ".key") + " -out " + path(name + ".crt") + " 2>&1",
            &status);
        return status == 0;
    }
    std::string path(const std::string& name) const { return (tmp_dir / name).string(); }

    // Whether civetweb could load OpenSSL here: "" when it could, else the start error.
    // Debian 12's civetweb looks up OpenSSL 1.1 names that OpenSSL 3 lacks (docs/metrics.md).
    std::string openssl_load_error() {
        HttpOptions options{"127.0.0.1:0", "", 1};
        options.tls_certificate = path("server.crt");
        options.tls_key = path("server.key");
        auto server = HttpServer::start(options);
        return server ? std::string() : server.error().message;
    }

    // GET path over TLS, trusting only server.crt and checking it names 127.0.0.1.
    // Returns the raw response, or "" when the handshake or the verification failed.
    std::string https_get(uint16_t port, const std::string& path_and_query,
                          const std::string& extra_headers = "") {
        const std::string request = "GET " + path_and_query +
                                    " HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n" + extra_headers +
                                    "\\r\\n";
        return run_command("printf '" + request + "' | openssl s_client -connect 127.0.0.1:" +
                           std::to_string(port) + " -CAfile " + path("server.crt") +
                           " -verify_return_error -verify_ip 127.0.0.1 -quiet 2>/dev/null");
    }

    fs::path tmp_dir;
};

std::unique_ptr<HttpServer> start_tls(const std::string& cert, const std::string& key,
                                      const std::string& auth = "") {
    HttpOptions options{"127.0.0.1:0", auth, 2};
    options.tls_certificate = cert;
    options.tls_key = key;
    auto server = HttpServer::start(options);
    EXPECT_TRUE(server) << server.error().message;
    return server ? std::move(*server) : nullptr;
}

TEST_F(TlsFiles, ServesHttpsOnlyOnTheSameListener) {
    if (auto why = openssl_load_error(); !why.empty()) {
        GTEST_SKIP() << "civetweb cannot use OpenSSL here: " << why;
    }
    auto server = start_tls(path("server.crt"), path("server.key"));
    ASSERT_NE(server, nullptr);
    EXPECT_TRUE(server->tls_enabled());
    server->handle("/metrics", [](const HttpRequest&) {
        return HttpResponse{200, std::string(kExpositionContentType), "sensor_up 1\n"};
    });
    const std::string reply = https_get(server->port(), "/metrics");
    EXPECT_EQ(reply.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << reply;
    EXPECT_NE(reply.find("\r\n\r\nsensor_up 1\n"), std::string::npos) << reply;
    const std::string missing = https_get(server->port(), "/other");
    EXPECT_EQ(missing.find(" 404 Not Found\r\n"), 8u) << missing;
    // Plain HTTP to the TLS port gets no HTTP answer.
    EXPECT_EQ(http_get(server->port(), "/metrics").status, 0);
}

TEST_F(TlsFiles, ClientThatDoesNotTrustTheCertificateFails) {
    if (auto why = openssl_load_error(); !why.empty()) {
        GTEST_SKIP() << "civetweb cannot use OpenSSL here: " << why;
    }
    ASSERT_TRUE(make_cert("other"));
    auto server = start_tls(path("other.crt"), path("other.key"));
    ASSERT_NE(server, nullptr);
    server->handle("/metrics", [](const HttpRequest&) { return HttpResponse{200, "t/p", "m"}; });
    // https_get trusts server.crt only.
    EXPECT_EQ(https_get(server->port(), "/metrics"), "");
}

TEST_F(TlsFiles, BasicAuthWorksOverTls) {
    if (auto why = openssl_load_error(); !why.empty()) {
        GTEST_SKIP() << "civetweb cannot use OpenSSL here: " << why;
    }
    std::ofstream(path("auth")) << "prom:pw\n";
    auto server = start_tls(path("server.crt"), path("server.key"), path("auth"));
    ASSERT_NE(server, nullptr);
    server->handle("/metrics", [](const HttpRequest&) { return HttpResponse{200, "t/p", "m"}; });
    EXPECT_EQ(https_get(server->port(), "/metrics").rfind("HTTP/1.1 401", 0), 0u);
    // "prom:pw" in base64.
    EXPECT_EQ(https_get(server->port(), "/metrics", "Authorization: Basic cHJvbTpwdw==\\r\\n")
                  .rfind("HTTP/1.1 200", 0),
              0u);
}

TEST_F(TlsFiles, RefusesUnreadableOrUnusableFilesAtStart) {
    auto refused = [](const std::string& cert, const std::string& key) {
        HttpOptions options{"127.0.0.1:0", "", 1};
        options.tls_certificate = cert;
        options.tls_key = key;
        auto server = HttpServer::start(options);
        return server ? std::string() : server.error().message;
    };
    const std::string cert = path("server.crt");
    const std::string key = path("server.key");
    std::string m = refused(path("missing.crt"), key);
    EXPECT_EQ(m.rfind("metrics.tls.certificate '" + path("missing.crt") + "': cannot read", 0), 0u)
        << m;
    m = refused(cert, path("missing.key"));
    EXPECT_EQ(m.rfind("metrics.tls.key '" + path("missing.key") + "': cannot read", 0), 0u) << m;
    m = refused(cert, "");
    EXPECT_NE(m.find("go together"), std::string::npos) << m;
    m = refused(key, key);  // a key where the certificate belongs
    EXPECT_NE(m.find("not a PEM file holding a certificate"), std::string::npos) << m;
    m = refused(cert, cert);
    EXPECT_NE(m.find("not a PEM file holding a private key"), std::string::npos) << m;

    int status = -1;
    run_command("openssl pkey -in " + key + " -aes128 -passout pass:x -out " +
                    path("encrypted.key") + " 2>&1",
                &status);
    ASSERT_EQ(status, 0);
    m = refused(cert, path("encrypted.key"));
    EXPECT_NE(m.find("encrypted keys are not supported"), std::string::npos) << m;
}

// A well-formed key that does not belong to the certificate: civetweb's reason is kept.
TEST_F(TlsFiles, RefusesAKeyThatDoesNotMatchTheCertificate) {
    if (auto why = openssl_load_error(); !why.empty()) {
        GTEST_SKIP() << "civetweb cannot use OpenSSL here: " << why;
    }
    ASSERT_TRUE(make_cert("other"));
    const std::string cert = path("server.crt");
    HttpOptions options{"127.0.0.1:0", "", 1};
    options.tls_certificate = cert;
    options.tls_key = path("other.key");
    auto server = HttpServer::start(options);
    ASSERT_FALSE(server);
    const std::string m = server.error().message;
    EXPECT_EQ(
        m.rfind("metrics listen 127.0.0.1:0: cannot start TLS with metrics.tls.certificate '" +
                    cert + "' and metrics.tls.key '" + path("other.key") + "': ",
                0),
        0u)
        << m;
}

// Where civetweb cannot load OpenSSL (Debian 12: OpenSSL 3 without a compatibility libssl.so),
// the start must fail with the reason, every time, and never leave a listener that would
// crash on its first handshake; plain HTTP keeps working in the same process.
TEST_F(TlsFiles, OpenSslLoadFailureIsAClearStartError) {
    const std::string first = openssl_load_error();
    if (first.empty()) {
        GTEST_SKIP() << "civetweb loads OpenSSL here; nothing to refuse";
    }
    EXPECT_EQ(first.rfind("metrics listen 127.0.0.1:0: cannot start TLS with "
                          "metrics.tls.certificate '" +
                              path("server.crt") + "'",
                          0),
              0u)
        << first;
    EXPECT_TRUE(first.find("civetweb cannot load libssl.so") != std::string::npos ||
                first.find("civetweb cannot use this OpenSSL") != std::string::npos)
        << first;
    EXPECT_EQ(openssl_load_error(), first);
    auto plain = HttpServer::start(HttpOptions{"127.0.0.1:0", "", 1});
    ASSERT_TRUE(plain) << plain.error().message;
    (*plain)->handle("/healthz", [](const HttpRequest&) { return HttpResponse{200, "t/p", "ok"}; });
    EXPECT_EQ(http_get((*plain)->port(), "/healthz").status, 200);
}

}  // namespace
}  // namespace sensor::metrics
