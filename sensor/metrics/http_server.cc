#include "sensor/metrics/http_server.h"

#include <CivetServer.h>
#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace sensor::metrics {

namespace {

constexpr const char* kRealm = "sensor metrics";

void send(mg_connection* conn, const HttpResponse& r, bool head, bool challenge) {
    std::string header = "HTTP/1.1 " + std::to_string(r.status) + " " +
                         mg_get_response_code_text(conn, r.status) +
                         "\r\nContent-Type: " + r.content_type +
                         "\r\nContent-Length: " + std::to_string(r.body.size()) +
                         "\r\nCache-Control: no-store\r\nConnection: close\r\n";
    if (challenge) {
        header +=
            std::string("WWW-Authenticate: Basic realm=\"") + kRealm + "\", charset=\"UTF-8\"\r\n";
    }
    header += "\r\n";
    mg_write(conn, header.data(), header.size());
    if (!head && !r.body.empty()) {
        mg_write(conn, r.body.data(), r.body.size());
    }
}

bool parse_port(std::string_view s, uint16_t& port) {
    if (s.empty() || s.size() > 5) {
        return false;
    }
    unsigned value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size() || value > 65535) {
        return false;
    }
    port = static_cast<uint16_t>(value);
    return true;
}

// civetweb's accept loop polls with a 2 s quantum and sees a stop request only when it wakes,
// so stopping right after a request took up to 2 s. A connection to our own listener wakes
// it: repeated until the stop is done (the first may land before the stop flag is set).
void wake_accept_loop(const std::string& address, uint16_t port, const std::atomic<bool>& done) {
    std::string host = address.substr(0, address.rfind(':'));
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (host.size() > 2 && host.front() == '[') {
        host = host.substr(1, host.size() - 2);
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&ss);
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        if (host == "::" || inet_pton(AF_INET6, host.c_str(), &a6->sin6_addr) != 1) {
            a6->sin6_addr = in6addr_loopback;
        }
        len = sizeof(sockaddr_in6);
    } else {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&ss);
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        if (host == "0.0.0.0" || inet_pton(AF_INET, host.c_str(), &a4->sin_addr) != 1) {
            a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        }
        len = sizeof(sockaddr_in);
    }
    while (!done.load()) {
        int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0) {
            static_cast<void>(::connect(fd, reinterpret_cast<const sockaddr*>(&ss), len));
            ::close(fd);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// civetweb reports why it could not start (a certificate it refused, libssl missing) only to
// its log callback. start() points this at a string while the server starts on its thread.
thread_local std::string* t_start_log = nullptr;

int on_civetweb_log(const mg_connection* /*conn*/, const char* message) {
    if (t_start_log != nullptr && message != nullptr) {
        if (!t_start_log->empty()) {
            *t_start_log += "; ";
        }
        *t_start_log += message;
    }
    return 1;  // handled: civetweb writes nothing itself
}

// Reads a whole PEM file named by config key `key`; `marker` must occur in it.
core::Result<std::string> read_pem(const char* key, const std::string& path,
                                   std::string_view marker, std::string_view what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return core::make_error(std::string(key) + " '" + path +
                                "': cannot read: " + std::strerror(errno));
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        return core::make_error(std::string(key) + " '" + path + "': read error");
    }
    std::string pem = text.str();
    if (pem.find(marker) == std::string::npos) {
        return core::make_error(std::string(key) + " '" + path + "': not a PEM file holding " +
                                std::string(what));
    }
    return pem;
}

// The key and the certificate chain in one anonymous in-memory file, as civetweb wants a
// single PEM while the sensor takes them apart; the key never lands on disk. The path stays
// valid while this object lives (civetweb reads it during start only).
class PemBundle {
public:
    static core::Result<PemBundle> create(const std::string& key_pem, const std::string& cert_pem) {
        PemBundle b;
        b.fd_ = memfd_create("sensor-metrics-tls", MFD_CLOEXEC);
        if (b.fd_ < 0) {
            return core::make_error(std::string("metrics.tls: memfd_create: ") +
                                    std::strerror(errno));
        }
        const std::string both = key_pem + "\n" + cert_pem;
        size_t done = 0;
        while (done < both.size()) {
            ssize_t n = ::write(b.fd_, both.data() + done, both.size() - done);
            if (n <= 0) {
                return core::make_error(std::string("metrics.tls: write: ") + std::strerror(errno));
            }
            done += static_cast<size_t>(n);
        }
        b.path_ = "/proc/self/fd/" + std::to_string(b.fd_);
        return b;
    }
    PemBundle() = default;
    PemBundle(PemBundle&& other) noexcept
        : fd_(std::exchange(other.fd_, -1)), path_(std::move(other.path_)) {}
    PemBundle& operator=(PemBundle&&) = delete;
    PemBundle(const PemBundle&) = delete;
    PemBundle& operator=(const PemBundle&) = delete;
    ~PemBundle() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    const std::string& path() const { return path_; }

private:
    int fd_ = -1;
    std::string path_;
};

// Why civetweb could not load OpenSSL, found the way civetweb looks for it (dlopen by the
// unversioned names, function names looked up in them); only for the error message.
std::string diagnose_openssl() {
    for (const char* lib : {"libssl.so", "libcrypto.so"}) {
        void* handle = dlopen(lib, RTLD_LAZY | RTLD_LOCAL);
        if (handle == nullptr) {
            const char* why = dlerror();
            return std::string("civetweb cannot load ") + lib + " (" +
                   (why != nullptr ? why : "not found") +
                   "): it opens OpenSSL by the unversioned names libssl.so and libcrypto.so, "
                   "which on Debian come with libssl-dev";
        }
        dlclose(handle);
    }
    void* ssl = dlopen("libssl.so", RTLD_LAZY | RTLD_LOCAL);
    const bool v11_name = ssl != nullptr && dlsym(ssl, "SSL_get_peer_certificate") != nullptr;
    const bool v3_name = ssl != nullptr && dlsym(ssl, "SSL_get1_peer_certificate") != nullptr;
    if (ssl != nullptr) {
        dlclose(ssl);
    }
    if (!v11_name && v3_name) {
        return "civetweb cannot use this OpenSSL: libssl.so is OpenSSL 3, which no longer "
               "exports SSL_get_peer_certificate, and this civetweb build looks up OpenSSL 1.1 "
               "function names (see docs/metrics.md, \"TLS\")";
    }
    return "civetweb could not initialize OpenSSL";
}

// civetweb loads OpenSSL once per process. Its first mg_init_library(MG_FEATURES_TLS) call is
// the only reliable answer: after a failed load, a later TLS server starts anyway and crashes
// on its first handshake. So that call is made once, here, before any TLS server starts.
const std::string& openssl_load_error() {
    static const std::string kLoadError = [] {
        const unsigned features = mg_init_library(MG_FEATURES_TLS);
        return (features & MG_FEATURES_TLS) != 0 ? std::string() : diagnose_openssl();
    }();
    return kLoadError;
}

core::Result<std::unique_ptr<HttpServer>> tls_error(const std::string& listen,
                                                    const HttpOptions& options,
                                                    const std::string& why) {
    return core::make_error(
        "metrics listen " + listen + ": cannot start TLS with metrics.tls.certificate '" +
        options.tls_certificate + "' and metrics.tls.key '" + options.tls_key + "': " + why);
}

}  // namespace

bool tls_supported() noexcept { return mg_check_feature(MG_FEATURES_TLS) != 0; }

// The one civetweb handler: registered for every path we serve, it turns the civetweb
// request into an HttpRequest and the answer back into bytes.
class HttpServer::Dispatcher final : public CivetHandler {
public:
    explicit Dispatcher(const HttpServer& owner) : owner_(owner) {}

    bool handleGet(CivetServer* /*server*/, mg_connection* conn) override {
        return answer(conn, "GET");
    }
    bool handleHead(CivetServer* /*server*/, mg_connection* conn) override {
        return answer(conn, "HEAD");
    }
    bool handlePost(CivetServer* /*server*/, mg_connection* conn) override {
        // The body is not read: no route takes one, and every answer closes the connection.
        return answer(conn, "POST");
    }
    bool handlePut(CivetServer* /*server*/, mg_connection* conn) override { return refuse(conn); }
    bool handleDelete(CivetServer* /*server*/, mg_connection* conn) override {
        return refuse(conn);
    }
    bool handleOptions(CivetServer* /*server*/, mg_connection* conn) override {
        return refuse(conn);
    }
    bool handlePatch(CivetServer* /*server*/, mg_connection* conn) override { return refuse(conn); }

private:
    static bool refuse(mg_connection* conn) {
        send(conn, HttpResponse{405, "text/plain; charset=utf-8", "method not allowed\n"}, false,
             false);
        return true;
    }

    bool answer(mg_connection* conn, const char* method) const {
        const bool head = std::string_view(method) == "HEAD";
        const mg_request_info* info = mg_get_request_info(conn);
        HttpRequest request;
        request.method = method;
        request.path = info->local_uri != nullptr ? info->local_uri : "";
        request.query = info->query_string != nullptr ? info->query_string : "";
        const char* authorization = CivetServer::getHeader(conn, "Authorization");
        if (const char* origin = CivetServer::getHeader(conn, "Origin"); origin != nullptr) {
            request.origin = origin;
        }
        HttpResponse response;
        try {
            response = owner_.serve(request, authorization != nullptr ? authorization : "");
        } catch (const std::exception& e) {
            response = HttpResponse{500, "text/plain; charset=utf-8",
                                    std::string("internal error: ") + e.what() + "\n"};
        }
        send(conn, response, head, response.status == 401);
        return true;
    }

    const HttpServer& owner_;
};

core::Result<std::string> parse_listen(std::string_view listen) {
    auto fail = [listen](std::string_view why) {
        return core::make_error("metrics listen \"" + std::string(listen) +
                                "\": " + std::string(why));
    };
    uint16_t port = 0;
    if (listen.find(':') == std::string_view::npos) {
        if (!parse_port(listen, port)) {
            return fail("expected ADDR:PORT, :PORT or PORT");
        }
        return "127.0.0.1:" + std::to_string(port);
    }
    size_t colon = listen.rfind(':');
    std::string_view addr = listen.substr(0, colon);
    if (!parse_port(listen.substr(colon + 1), port)) {
        return fail("port must be a number from 0 to 65535");
    }
    if (addr.empty()) {
        return "127.0.0.1:" + std::to_string(port);
    }
    unsigned char buf[16];
    if (addr.front() == '[' && addr.back() == ']' && addr.size() > 2) {
        std::string v6(addr.substr(1, addr.size() - 2));
        if (inet_pton(AF_INET6, v6.c_str(), buf) != 1) {
            return fail("not an IPv6 address: " + v6);
        }
        return "[" + v6 + "]:" + std::to_string(port);
    }
    std::string v4(addr);
    if (inet_pton(AF_INET, v4.c_str(), buf) != 1) {
        return fail("address must be numeric IPv4 or [IPv6]: " + v4);
    }
    return v4 + ":" + std::to_string(port);
}

core::Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpOptions& options) {
    auto listen = parse_listen(options.listen);
    if (!listen) {
        return tl::unexpected(listen.error());
    }
    std::unique_ptr<HttpServer> server(new HttpServer());
    if (!options.basic_auth_file.empty()) {
        auto auth = BasicAuth::load(options.basic_auth_file);
        if (!auth) {
            return tl::unexpected(auth.error());
        }
        server->auth_ = std::move(*auth);
    }
    const bool tls = !options.tls_certificate.empty() || !options.tls_key.empty();
    std::optional<PemBundle> bundle;
    if (tls) {
        if (options.tls_certificate.empty() || options.tls_key.empty()) {
            return core::make_error(
                "metrics.tls.certificate and metrics.tls.key go together: set both or neither");
        }
        if (!tls_supported()) {
            return core::make_error(
                "metrics.tls: this civetweb library was built without TLS support");
        }
        auto cert = read_pem("metrics.tls.certificate", options.tls_certificate,
                             "-----BEGIN CERTIFICATE-----", "a certificate");
        if (!cert) {
            return tl::unexpected(cert.error());
        }
        auto key =
            read_pem("metrics.tls.key", options.tls_key, "PRIVATE KEY-----", "a private key");
        if (!key) {
            return tl::unexpected(key.error());
        }
        if (key->find("ENCRYPTED") != std::string::npos) {
            return core::make_error("metrics.tls.key '" + options.tls_key +
                                    "': encrypted keys are not supported (no passphrase prompt)");
        }
        if (const std::string& why = openssl_load_error(); !why.empty()) {
            return tls_error(*listen, options, why);
        }
        auto made = PemBundle::create(*key, *cert);
        if (!made) {
            return tl::unexpected(made.error());
        }
        bundle.emplace(std::move(*made));
    }
    server->dispatcher_ = std::make_unique<Dispatcher>(*server);
    std::vector<std::string> civet_options = {
        "listening_ports",    *listen + (tls ? "s" : ""),
        "num_threads",        std::to_string(options.threads > 0 ? options.threads : 1),
        "enable_keep_alive",  "no",  // a kept-alive scraper would hold a thread between scrapes
        "request_timeout_ms", "10000",
    };
    if (tls) {
        // The chain file starts with the key; OpenSSL skips PEM blocks of other types.
        civet_options.insert(civet_options.end(),
                             {"ssl_certificate", bundle->path(), "ssl_certificate_chain",
                              bundle->path(), "ssl_protocol_version", "4"});  // TLS 1.2+
    }
    CivetCallbacks callbacks;
    callbacks.log_message = &on_civetweb_log;
    std::string start_log;
    t_start_log = &start_log;
    try {
        server->server_ = std::make_unique<CivetServer>(civet_options, &callbacks);
    } catch (const std::exception& e) {
        t_start_log = nullptr;
        if (tls && !start_log.empty()) {
            return tls_error(*listen, options, start_log);
        }
        return core::make_error("metrics listen " + *listen +
                                ": cannot listen (address in use or not local?): " + e.what() +
                                (start_log.empty() ? "" : " (" + start_log + ")"));
    }
    t_start_log = nullptr;
    server->tls_ = tls;
    std::vector<int> ports = server->server_->getListeningPorts();
    if (ports.empty() || ports[0] <= 0 || ports[0] > 65535) {
        return core::make_error("metrics listen " + *listen + ": no listening port");
    }
    server->port_ = static_cast<uint16_t>(ports[0]);
    server->address_ = listen->substr(0, listen->rfind(':') + 1) + std::to_string(ports[0]);
    return server;
}

HttpServer::~HttpServer() {
    if (server_) {
        std::atomic<bool> done{false};
        std::thread waker([this, &done] { wake_accept_loop(address_, port_, done); });
        server_->close();
        done.store(true);
        waker.join();
    }
    server_.reset();
}

void HttpServer::handle(const std::string& path, HttpHandler handler, bool require_auth) {
    add_route(path, Route{std::move(handler), require_auth, false});
}

void HttpServer::handle_post(const std::string& path, HttpHandler handler, bool require_auth) {
    add_route(path, Route{std::move(handler), require_auth, true});
}

void HttpServer::add_route(const std::string& path, Route route) {
    bool is_new = false;
    {
        std::lock_guard lock(routes_mutex_);
        is_new = routes_.find(path) == routes_.end();
        routes_[path] = std::move(route);
    }
    if (is_new) {
        server_->addHandler(path, dispatcher_.get());
    }
}

void HttpServer::handle_metrics(const std::string& path, std::shared_ptr<const Registry> registry) {
    handle(path, [registry = std::move(registry)](const HttpRequest&) {
        return HttpResponse{200, std::string(kExpositionContentType), registry->render()};
    });
}

HttpResponse HttpServer::serve(const HttpRequest& request, std::string_view authorization) const {
    Route route;
    {
        std::lock_guard lock(routes_mutex_);
        auto it = routes_.find(request.path);
        if (it == routes_.end()) {
            // civetweb also hands us sub-paths of a registered path ("/metrics/x").
            return HttpResponse{404, "text/plain; charset=utf-8", "not found\n"};
        }
        route = it->second;
    }
    if (route.require_auth && auth_ && !auth_->check(authorization)) {
        return HttpResponse{401, "text/plain; charset=utf-8", "unauthorized\n"};
    }
    if (route.post != (request.method == "POST")) {
        return HttpResponse{
            405, "text/plain; charset=utf-8",
            route.post ? "method not allowed: use POST\n" : "method not allowed: use GET\n"};
    }
    if (route.post && !request.origin.empty()) {
        return HttpResponse{403, "text/plain; charset=utf-8",
                            "forbidden: requests from a web page (Origin header) cannot start "
                            "actions\n"};
    }
    return route.handler(request);
}

}  // namespace sensor::metrics
