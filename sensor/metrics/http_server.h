#pragma once
// HttpServer: the one metrics listener (civetweb) serving /metrics, /healthz and hooks such as
// /alerts. Owned by the control thread; handlers run on civetweb's own threads, so they must
// only read thread-safe state (counters, snapshots). Optional HTTP basic auth per path and
// optional TLS (HTTPS only, on the same listener).

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sensor/core/result.h"
#include "sensor/metrics/basic_auth.h"
#include "sensor/metrics/registry.h"

class CivetServer;

namespace sensor::metrics {

struct HttpRequest {
    // GET or HEAD, or POST on a handle_post() path; other methods are answered 405 before a
    // handler runs
    std::string method;
    std::string path;
    std::string query;  // after '?', empty when none
    // The Origin header, empty when none. A browser sends it with a cross-site POST, which a
    // POST route refuses (a web page must not trigger an action here; curl sends none).
    std::string origin;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

// Runs on an HTTP thread; may be called concurrently with itself.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpOptions {
    std::string listen;           // ADDR:PORT, :PORT or PORT (127.0.0.1); port 0 picks one
    std::string basic_auth_file;  // empty: no authentication
    int threads = 4;
    // Both set: the listener speaks HTTPS only (TLS 1.2 or later). PEM files, read once at
    // start: the certificate, optionally followed by its chain, and an unencrypted key.
    std::string tls_certificate{};
    std::string tls_key{};
};

// Whether the civetweb library was built with TLS (it loads OpenSSL at run time, on first use,
// by the unversioned names libssl.so and libcrypto.so).
bool tls_supported() noexcept;

inline constexpr std::string_view kExpositionContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// Turns --metrics-listen into civetweb's listening_ports form: "127.0.0.1:9100" for
// "9100" or ":9100", "[::1]:9100" for "[::1]:9100". Only numeric addresses are taken.
core::Result<std::string> parse_listen(std::string_view listen);

class HttpServer {
public:
    // Binds and starts serving (404 on every path until handle() adds one). Errors say which
    // address could not be bound, which auth file line is wrong, or which TLS file
    // (metrics.tls.certificate, metrics.tls.key) is unreadable or unusable.
    static core::Result<std::unique_ptr<HttpServer>> start(const HttpOptions& options);
    ~HttpServer();  // stops listening and waits for requests in flight
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

    // Serves handler at exactly path (GET and HEAD). require_auth: answer 401 unless the
    // request carries valid credentials (ignored when no auth file is configured). A second
    // call for the same path replaces the handler.
    void handle(const std::string& path, HttpHandler handler, bool require_auth = true);
    // Serves handler at exactly path for POST only (an action, such as /-/reload; GET there
    // is answered 405). The request body is not read. A request with an Origin header (a
    // browser's, possibly from another site's page) is answered 403.
    void handle_post(const std::string& path, HttpHandler handler, bool require_auth = true);
    // Serves registry's exposition at path.
    void handle_metrics(const std::string& path, std::shared_ptr<const Registry> registry);

    uint16_t port() const noexcept { return port_; }
    // The bound address with the real port, e.g. "127.0.0.1:9100" or "[::1]:9100".
    const std::string& address() const noexcept { return address_; }
    bool auth_enabled() const noexcept { return auth_.has_value(); }
    bool tls_enabled() const noexcept { return tls_; }

private:
    class Dispatcher;
    struct Route {
        HttpHandler handler;
        bool require_auth = true;
        bool post = false;  // POST only; else GET and HEAD
    };
    void add_route(const std::string& path, Route route);

    HttpServer() = default;
    // Looks up path; fills response (404, 401 or the handler's answer).
    HttpResponse serve(const HttpRequest& request, std::string_view authorization) const;

    std::optional<BasicAuth> auth_;
    mutable std::mutex routes_mutex_;  // guards routes_ against handle() while serving
    std::map<std::string, Route> routes_;
    std::unique_ptr<Dispatcher> dispatcher_;
    std::unique_ptr<CivetServer> server_;  // declared last: stopped before routes_ go away
    uint16_t port_ = 0;
    std::string address_;
    bool tls_ = false;
};

}  // namespace sensor::metrics
