// Alertmanager push output: SPSC queue from the output thread, aggregation and HTTP POSTs on
// the sender thread.
#include "sensor/alert/alertmanager.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "sensor/alert/community_id.h"

namespace sensor::alert {
namespace {

constexpr int kDrainIntervalMs = 20;

int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// RFC 3339 in UTC with milliseconds, as Alertmanager's API expects.
std::string rfc3339_ms(int64_t ms) {
    const time_t secs = static_cast<time_t>(ms / 1000);
    struct tm tm_utc {};
    gmtime_r(&secs, &tm_utc);
    char buf[40];
    const size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm_utc);
    char out[64];
    std::snprintf(out, sizeof out, "%.*s.%03dZ", static_cast<int>(n), buf,
                  static_cast<int>(ms % 1000));
    return out;
}

std::string proto_name(uint8_t proto) {
    switch (proto) {
        case 1:
            return "icmp";
        case 6:
            return "tcp";
        case 17:
            return "udp";
        case 58:
            return "ipv6-icmp";
        case 132:
            return "sctp";
        default:
            return std::to_string(proto);
    }
}

std::string host_port(const core::IpAddress& ip, uint16_t port) {
    const std::string text = ip.to_string();
    return ip.v6 ? "[" + text + "]:" + std::to_string(port) : text + ":" + std::to_string(port);
}

// Suricata priority 1 is the most severe; Alertmanager routes conventionally use these words.
const char* severity_word(int severity) {
    if (severity <= 1) {
        return "critical";
    }
    return severity == 2 ? "warning" : "info";
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

class Fd {
public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }

private:
    int fd_;
};

// Waits for events on fd; false on timeout or error.
bool wait_fd(int fd, short events, int timeout_ms) {
    pollfd p{fd, events, 0};
    int rc = 0;
    do {
        rc = ::poll(&p, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc > 0;
}

core::Result<int> connect_to(const HttpEndpoint& ep, int timeout_ms) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const int gai = ::getaddrinfo(ep.host.c_str(), ep.port.c_str(), &hints, &res);
    if (gai != 0) {
        return core::make_error("resolve " + ep.host + ": " + ::gai_strerror(gai));
    }
    std::string err = "connect " + ep.host + ":" + ep.port + ": no address";
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
        const int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                                ai->ai_protocol);
        if (fd < 0) {
            err = errno_text("socket");
            continue;
        }
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc < 0 && errno == EINPROGRESS) {
            if (wait_fd(fd, POLLOUT, timeout_ms)) {
                int so_error = 0;
                socklen_t len = sizeof so_error;
                ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
                rc = so_error == 0 ? 0 : -1;
                errno = so_error;
            } else {
                errno = ETIMEDOUT;
            }
        }
        if (rc == 0) {
            ::freeaddrinfo(res);
            return fd;
        }
        err = "connect " + ep.host + ":" + ep.port + ": " + std::strerror(errno);
        ::close(fd);
    }
    ::freeaddrinfo(res);
    return core::make_error(err);
}

}  // namespace

core::Result<HttpEndpoint> parse_alertmanager_url(const std::string& url) {
    const std::string scheme = "http://";
    auto bad = [&](const std::string& why) {
        return core::make_error("alertmanager url '" + url + "': " + why +
                                " (expected http://HOST:PORT[/path])");
    };
    if (url.rfind(scheme, 0) != 0) {
        return bad("only http is supported");
    }
    std::string rest = url.substr(scheme.size());
    const size_t slash = rest.find('/');
    std::string authority = rest.substr(0, slash);
    std::string path = slash == std::string::npos ? "" : rest.substr(slash);
    HttpEndpoint ep;
    if (!authority.empty() && authority[0] == '[') {
        const size_t close = authority.find(']');
        if (close == std::string::npos) {
            return bad("unterminated ipv6 address");
        }
        ep.host = authority.substr(1, close - 1);
        const std::string after = authority.substr(close + 1);
        if (!after.empty() && after[0] != ':') {
            return bad("junk after ipv6 address");
        }
        ep.port = after.empty() ? "" : after.substr(1);
    } else {
        const size_t colon = authority.rfind(':');
        ep.host = authority.substr(0, colon);
        ep.port = colon == std::string::npos ? "" : authority.substr(colon + 1);
    }
    if (ep.host.empty()) {
        return bad("missing host");
    }
    if (ep.port.empty()) {
        ep.port = "80";
    }
    if (ep.port.size() > 5 ||
        !std::all_of(ep.port.begin(), ep.port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
        std::stoi(ep.port) == 0 || std::stoi(ep.port) > 65535) {
        return bad("bad port '" + ep.port + "'");
    }
    while (!path.empty() && path.back() == '/') {
        path.pop_back();
    }
    ep.path = path + "/api/v2/alerts";
    return ep;
}

core::Result<int> http_post(const HttpEndpoint& ep, const std::string& body, int timeout_ms) {
    auto fd_or = connect_to(ep, timeout_ms);
    if (!fd_or) {
        return tl::unexpected(fd_or.error());
    }
    Fd fd(*fd_or);
    const bool v6 = ep.host.find(':') != std::string::npos;
    std::string request =
        "POST " + ep.path + " HTTP/1.1\r\nHost: " + (v6 ? "[" + ep.host + "]" : ep.host) + ":" +
        ep.port +
        "\r\nContent-Type: application/json\r\nUser-Agent: sensor\r\nConnection: close\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    size_t off = 0;
    while (off < request.size()) {
        const ssize_t n =
            ::send(fd.get(), request.data() + off, request.size() - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!wait_fd(fd.get(), POLLOUT, timeout_ms)) {
                return core::make_error("send to " + ep.host + ":" + ep.port + ": timed out");
            }
            continue;
        }
        return core::make_error(errno_text(("send to " + ep.host + ":" + ep.port).c_str()));
    }
    // Only the status line matters; read until it is complete or the peer closes.
    std::string reply;
    char buf[4096];
    while (reply.find("\r\n") == std::string::npos && reply.size() < 16384) {
        if (!wait_fd(fd.get(), POLLIN, timeout_ms)) {
            return core::make_error("reply from " + ep.host + ":" + ep.port + ": timed out");
        }
        const ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        reply.append(buf, static_cast<size_t>(n));
    }
    // "HTTP/1.1 200 OK"
    if (reply.rfind("HTTP/1.", 0) != 0 || reply.size() < 12 || reply[8] != ' ') {
        return core::make_error("reply from " + ep.host + ":" + ep.port + ": not an http response");
    }
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
        if (reply[i] < '0' || reply[i] > '9') {
            return core::make_error("reply from " + ep.host + ":" + ep.port + ": bad status line");
        }
        status = status * 10 + (reply[i] - '0');
    }
    return status;
}

core::Result<std::unique_ptr<AlertmanagerOutput>> AlertmanagerOutput::start(
    const AlertmanagerConfig& config) {
    auto ep = parse_alertmanager_url(config.url);
    if (!ep) {
        return tl::unexpected(ep.error());
    }
    if (config.queue_capacity == 0 || config.batch_max <= 0 || config.retry_initial_ms <= 0 ||
        config.retry_max_ms < config.retry_initial_ms || config.timeout_ms <= 0 ||
        config.aggregation_window_s < 0 || config.resolve_timeout_s <= 0 ||
        config.push_interval_ms <= 0) {
        return core::make_error(
            "alertmanager: queue_capacity, batch_max, retry_initial_ms, timeout_ms, "
            "push_interval_ms and "
            "resolve_timeout_s must be positive, retry_max_ms >= retry_initial_ms, "
            "aggregation_window_s >= 0");
    }
    std::unique_ptr<AlertmanagerOutput> out(new AlertmanagerOutput(config, std::move(*ep)));
    if (auto started = out->queue_.start("alertmanager", [raw = out.get()] { raw->run(); });
        !started) {
        return tl::unexpected(started.error());
    }
    return out;
}

AlertmanagerOutput::AlertmanagerOutput(AlertmanagerConfig config, HttpEndpoint endpoint)
    : config_(std::move(config)), endpoint_(std::move(endpoint)), queue_(config_.queue_capacity) {}

AlertmanagerOutput::~AlertmanagerOutput() { flush_and_stop(); }

void AlertmanagerOutput::submit(const core::AlertRecord& r) noexcept {
    stats_.submitted.add();
    Item* slot = queue_.slot(false);  // workers never wait on Alertmanager
    if (slot == nullptr) {
        stats_.dropped_queue_full.add();
        return;
    }
    Item& it = *slot;
    try {
        it.ts_us = r.ts_us;
        it.gid = r.gid;
        it.signature_id = r.signature_id;
        it.rev = r.rev;
        it.severity = r.severity;
        it.endpoints = r.endpoints;
        it.signature = r.signature();
        it.category = r.category();
        it.app_proto = r.app_proto;
        it.concepts.clear();
        for (const auto& c : r.concepts()) {
            if (!it.concepts.empty()) {
                it.concepts += ',';
            }
            it.concepts += c;
        }
    } catch (...) {  // out of memory: lose this alert, not the thread
        stats_.dropped_queue_full.add();
        return;
    }
    queue_.publish();
}

void AlertmanagerOutput::flush_and_stop() { queue_.stop_and_join(); }

void AlertmanagerOutput::drain_queue() {
    const int64_t window_us = config_.aggregation_window_s * 1000000;
    // Each item is taken off (pop) only once it has been folded in, `continue` included.
    for (size_t n = queue_.pending(); n > 0; --n, queue_.pop()) {
        const Item& it = queue_.front();
        const Key key{it.signature_id, it.endpoints.src_ip, it.endpoints.dest_ip};
        newest_ts_us_ = std::max(newest_ts_us_, it.ts_us);
        const int64_t now = wall_ms();
        auto found = aggregates_.find(key);
        if (found != aggregates_.end() && it.ts_us - found->second.first_ts_us < window_us) {
            Aggregate& agg = found->second;
            agg.count += 1;
            agg.last_ts_us = std::max(agg.last_ts_us, it.ts_us);
            agg.updated_at_ms = now;
            agg.dirty = true;
            stats_.aggregated.add();
            continue;
        }
        if (found != aggregates_.end() && found->second.dirty) {
            // The old window's final count has not been pushed yet; keep it for the next push.
            retired_.push_back(std::move(found->second));
        }
        Aggregate agg;
        agg.first = it;
        agg.community_id = community_id_v1(it.endpoints);
        agg.first_ts_us = it.ts_us;
        agg.last_ts_us = it.ts_us;
        agg.count = 1;
        agg.starts_at_ms = now;
        agg.updated_at_ms = now;
        aggregates_.insert_or_assign(key, std::move(agg));
    }
}

std::string AlertmanagerOutput::render(const Aggregate& a) const {
    const Item& it = a.first;
    const core::Endpoints& ep = it.endpoints;
    nlohmann::json labels = nlohmann::json::object();
    labels["alertname"] =
        it.signature.empty() ? "sid " + std::to_string(it.signature_id) : it.signature;
    labels["severity"] = severity_word(it.severity);
    if (!it.concepts.empty()) {
        labels["concept"] = it.concepts;
    }
    if (!it.category.empty()) {
        labels["category"] = it.category;
    }
    if (!config_.sensor_name.empty()) {
        labels["sensor"] = config_.sensor_name;
    }
    // Alertmanager identifies an alert by its labels, so the aggregation key must be in them.
    labels["sid"] = std::to_string(it.signature_id);
    labels["src_ip"] = ep.src_ip.to_string();
    labels["dest_ip"] = ep.dest_ip.to_string();

    nlohmann::json ann = nlohmann::json::object();
    ann["signature"] = it.signature;
    ann["sid"] = std::to_string(it.signature_id);
    ann["gid"] = std::to_string(it.gid);
    ann["rev"] = std::to_string(it.rev);
    ann["priority"] = std::to_string(it.severity);
    ann["src"] = host_port(ep.src_ip, ep.src_port);
    ann["dest"] = host_port(ep.dest_ip, ep.dest_port);
    ann["proto"] = proto_name(ep.ip_proto);
    ann["community_id"] = a.community_id;
    if (!it.app_proto.empty()) {
        ann["app_proto"] = it.app_proto;
    }
    ann["count"] = std::to_string(a.count);
    ann["first_seen"] = rfc3339_ms(a.first_ts_us / 1000);
    ann["last_seen"] = rfc3339_ms(a.last_ts_us / 1000);

    nlohmann::json alert = {
        {"labels", labels},
        {"annotations", ann},
        {"startsAt", rfc3339_ms(a.starts_at_ms)},
        {"endsAt", rfc3339_ms(a.updated_at_ms + config_.resolve_timeout_s * 1000)}};
    if (!config_.generator_url.empty()) {
        alert["generatorURL"] = config_.generator_url;
    }
    return alert.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool AlertmanagerOutput::post_batch(const std::vector<Aggregate*>& batch) {
    std::string body = "[";
    for (size_t i = 0; i < batch.size(); ++i) {
        if (i > 0) {
            body += ',';
        }
        body += render(*batch[i]);
    }
    body += ']';
    auto status = http_post(endpoint_, body, config_.timeout_ms);
    std::string error;
    if (!status) {
        error = status.error().message;
    } else if (*status < 200 || *status > 299) {
        error = "post " + endpoint_.path + " to " + endpoint_.host + ":" + endpoint_.port +
                ": http status " + std::to_string(*status);
    }
    if (!error.empty()) {
        stats_.send_failures.add();
        queue_.set_error(std::move(error));
        return false;
    }
    stats_.sent.add(batch.size());
    for (Aggregate* a : batch) {
        a->dirty = false;
    }
    return true;
}

bool AlertmanagerOutput::push_dirty() {
    // Retired windows go first: they share labels with their successor, and Alertmanager keeps
    // the annotations of the last post.
    std::vector<Aggregate*> pending;
    for (Aggregate& agg : retired_) {
        pending.push_back(&agg);
    }
    for (auto& [key, agg] : aggregates_) {
        if (agg.dirty) {
            pending.push_back(&agg);
        }
    }
    bool ok = true;
    const size_t step = static_cast<size_t>(config_.batch_max);
    for (size_t i = 0; i < pending.size() && ok; i += step) {
        const std::vector<Aggregate*> batch(
            pending.begin() + static_cast<std::ptrdiff_t>(i),
            pending.begin() + static_cast<std::ptrdiff_t>(std::min(i + step, pending.size())));
        ok = post_batch(batch);
    }
    std::erase_if(retired_, [](const Aggregate& a) { return !a.dirty; });
    return ok;
}

void AlertmanagerOutput::evict_closed() {
    const int64_t window_us = config_.aggregation_window_s * 1000000;
    std::erase_if(aggregates_, [&](const auto& entry) {
        return !entry.second.dirty && newest_ts_us_ - entry.second.first_ts_us >= window_us;
    });
}

void AlertmanagerOutput::run() {
    int64_t last_push_ms = wall_ms();
    bool stopping = false;
    while (!stopping) {
        stopping = queue_.wait_for_stop(kDrainIntervalMs);
        drain_queue();
        if (stopping || wall_ms() - last_push_ms < config_.push_interval_ms) {
            continue;
        }
        last_push_ms = wall_ms();
        if (!push_dirty()) {
            // Alertmanager is down or refusing: back off without draining, so the queue fills
            // and further alerts are counted as drops instead of growing memory.
            int delay = config_.retry_initial_ms;
            while (!stopping) {
                stopping = queue_.wait_for_stop(delay);
                if (stopping) {
                    break;
                }
                stats_.retries.add();
                if (push_dirty()) {
                    break;
                }
                delay = std::min(delay * 2, config_.retry_max_ms);
            }
            last_push_ms = wall_ms();
        }
        evict_closed();
    }
    // Final flush: one attempt per batch, no backoff, so shutdown is bounded by timeout_ms.
    drain_queue();
    if (!push_dirty()) {
        stats_.dropped_at_stop.add(retired_.size());
        for (const auto& [key, agg] : aggregates_) {
            if (agg.dirty) {
                stats_.dropped_at_stop.add();
            }
        }
    }
}

}  // namespace sensor::alert
