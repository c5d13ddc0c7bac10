#include "sensor/alert/syslog_output.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <utility>

#include "sensor/alert/eve_writer.h"

namespace sensor::alert {

namespace {

constexpr std::array<std::string_view, 24> kFacilityNames = {
    "kern",   "user",   "mail",     "daemon", "auth",   "syslog",   "lpr",     "news",
    "uucp",   "cron",   "authpriv", "ftp",    "ntp",    "security", "console", "solaris-cron",
    "local0", "local1", "local2",   "local3", "local4", "local5",   "local6",  "local7"};

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kBom = "\xEF\xBB\xBF";

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

std::string errno_text(int err) { return std::strerror(err); }

// Length of the well-formed UTF-8 sequence at s[i] (1..4) with its code point, or 0 when the
// bytes there are not one (overlong forms, surrogates and values above U+10FFFF included).
size_t utf8_sequence(std::string_view s, size_t i, uint32_t& cp) noexcept {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        cp = b0;
        return 1;
    }
    size_t len = 0;
    uint32_t min = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1Fu;
        min = 0x80;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0Fu;
        min = 0x800;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (s.size() - i < len) {
        return 0;
    }
    for (size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (b & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    return len;
}

// Copies s, replacing each byte that does not start a well-formed UTF-8 sequence by U+FFFD.
// Returns true when the result holds a byte above 0x7F.
bool append_utf8(std::string& out, std::string_view s) {
    bool non_ascii = false;
    for (size_t i = 0; i < s.size();) {
        uint32_t cp = 0;
        size_t len = utf8_sequence(s, i, cp);
        if (len == 0) {
            out += kReplacement;
            non_ascii = true;
            ++i;
            continue;
        }
        non_ascii = non_ascii || len > 1;
        out.append(s.substr(i, len));
        i += len;
    }
    return non_ascii;
}

void append_u16_escape(std::string& out, uint32_t unit) {
    // One UTF-16 code unit: exactly four hex digits.
    static constexpr char kHex[] = "0123456789abcdef";
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) {
        out.push_back(kHex[(unit >> shift) & 0xf]);
    }
}

// JSON text is UTF-8 whose non-ASCII characters all sit inside strings, where \uXXXX (with
// surrogate pairs above U+FFFF) means the same: the result is ASCII and the same JSON value.
std::string json_to_ascii(std::string_view json) {
    std::string out;
    out.reserve(json.size() + 16);
    for (size_t i = 0; i < json.size();) {
        uint32_t cp = 0;
        size_t len = utf8_sequence(json, i, cp);
        if (len == 1) {
            out.push_back(json[i]);
        } else if (len == 0) {
            append_u16_escape(out, 0xFFFD);
            len = 1;
        } else if (cp < 0x10000) {
            append_u16_escape(out, cp);
        } else {
            cp -= 0x10000;
            append_u16_escape(out, 0xD800 + (cp >> 10));
            append_u16_escape(out, 0xDC00 + (cp & 0x3FF));
        }
        i += len;
    }
    return out;
}

std::string proto_name(uint8_t proto) {
    switch (proto) {
        case 1:
            return "ICMP";
        case 6:
            return "TCP";
        case 17:
            return "UDP";
        case 58:
            return "IPv6-ICMP";
        case 132:
            return "SCTP";
        default:
            return std::to_string(proto);
    }
}

bool has_ports(uint8_t proto) { return proto == 6 || proto == 17 || proto == 132; }

void append_param(std::string& out, std::string_view name, std::string_view value) {
    out += ' ';
    out += name;
    out += "=\"";
    append_sd_value(out, value);
    out += '"';
}

std::string endpoint_text(const core::IpAddress& ip, uint16_t port, bool with_port) {
    std::string s = ip.to_string();
    if (with_port) {
        if (s.find(':') != std::string::npos) {
            s.insert(s.begin(), '[');
            s.push_back(']');
        }
        s.push_back(':');
        s += std::to_string(port);
    }
    return s;
}

bool parse_port(std::string_view s) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    return !s.empty() && ec == std::errc() && end == s.data() + s.size() && value >= 1 &&
           value <= 65535;
}

std::string local_hostname() {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') {
        return "-";
    }
    std::string name(buf);
    for (char& c : name) {
        if (c < 33 || c > 126) {
            c = '_';
        }
    }
    return name;
}

// A collector never sends on a syslog TCP connection: readable means closed or reset.
bool peer_closed(int fd) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 0) != 1) {
        return false;
    }
    char byte = 0;
    return ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) <= 0;
}

}  // namespace

core::Result<SyslogTarget> parse_syslog_target(std::string_view target) {
    const auto fail = [target](std::string_view why) {
        std::string message = "'";
        message.append(target).append("': ").append(why);
        return core::make_error(message);
    };
    SyslogTarget t;
    std::string_view rest;
    if (target.starts_with("/") || target.starts_with("unix:")) {
        t.transport = SyslogTransport::kUnix;
        t.path = std::string(target.starts_with("/") ? target : target.substr(5));
        if (t.path.empty()) {
            return fail("missing socket path after unix:");
        }
        if (t.path.size() >= sizeof(sockaddr_un::sun_path)) {
            return fail("socket path longer than " +
                        std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
        }
        return t;
    }
    if (target.starts_with("udp://")) {
        t.transport = SyslogTransport::kUdp;
        rest = target.substr(6);
    } else if (target.starts_with("tcp://")) {
        t.transport = SyslogTransport::kTcp;
        rest = target.substr(6);
    } else {
        return fail("expected /PATH, unix:PATH, udp://HOST:PORT or tcp://HOST:PORT");
    }
    const size_t colon = rest.rfind(':');
    if (colon == std::string_view::npos || !parse_port(rest.substr(colon + 1))) {
        return fail("expected HOST:PORT with a port from 1 to 65535");
    }
    std::string_view host = rest.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    } else if (host.find_first_of("[]:/") != std::string_view::npos) {
        return fail("IPv6 addresses go in brackets: [ADDR]:PORT");
    }
    if (host.empty()) {
        return fail("missing host");
    }
    t.host = std::string(host);
    t.port = std::string(rest.substr(colon + 1));
    return t;
}

core::Result<int> parse_syslog_facility(std::string_view name) {
    for (size_t i = 0; i < kFacilityNames.size(); ++i) {
        if (name == kFacilityNames[i]) {
            return static_cast<int>(i);
        }
    }
    int value = -1;
    auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), value);
    if (!name.empty() && ec == std::errc() && end == name.data() + name.size() && value >= 0 &&
        value < static_cast<int>(kFacilityNames.size())) {
        return value;
    }
    return core::make_error("unknown facility '" + std::string(name) +
                            "' (expected kern, user, daemon, auth, local0..local7, ... or 0..23)");
}

int syslog_severity(int alert_severity) noexcept {
    switch (alert_severity) {
        case 1:
            return 2;  // critical
        case 2:
            return 3;  // error
        case 3:
            return 4;  // warning
        default:
            return 5;  // notice
    }
}

std::string syslog_timestamp(int64_t ts_us, int32_t utc_offset_s) {
    int64_t secs = ts_us / 1'000'000;
    int64_t frac = ts_us % 1'000'000;
    if (frac < 0) {
        frac += 1'000'000;
        --secs;
    }
    const auto wall = static_cast<time_t>(secs + utc_offset_s);
    std::tm tm{};
    gmtime_r(&wall, &tm);
    char buf[64];
    int n = std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%06lld",
                          tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                          tm.tm_sec, static_cast<long long>(frac));
    std::string out(buf, static_cast<size_t>(n));
    if (utc_offset_s == 0) {
        out += 'Z';
        return out;
    }
    const int32_t abs_offset = utc_offset_s < 0 ? -utc_offset_s : utc_offset_s;
    std::snprintf(buf, sizeof(buf), "%c%02d:%02d", utc_offset_s < 0 ? '-' : '+', abs_offset / 3600,
                  (abs_offset % 3600) / 60);
    out += buf;
    return out;
}

void append_sd_value(std::string& out, std::string_view value) {
    std::string clean;
    append_utf8(clean, value);
    for (char c : clean) {
        if (c == '"' || c == '\\' || c == ']') {
            out += '\\';
        }
        out += c;
    }
}

bool is_header_field(std::string_view value, size_t max_len) noexcept {
    if (value.empty() || value.size() > max_len) {
        return false;
    }
    for (char c : value) {
        if (c < 33 || c > 126) {
            return false;
        }
    }
    return true;
}

std::string format_syslog_alert(const SyslogHeader& header, SyslogFormat format,
                                const core::AlertRecord& alert) {
    int32_t offset = 0;
    if (header.local_time) {
        std::tm tm{};
        const auto t = static_cast<time_t>(alert.ts_us / 1'000'000);
        if (localtime_r(&t, &tm) != nullptr) {
            offset = static_cast<int32_t>(tm.tm_gmtoff);
        }
    }
    const int pri = header.facility * 8 + syslog_severity(alert.severity);
    std::string out;
    out.reserve(1024);
    out += '<';
    out += std::to_string(pri);
    out += ">1 ";
    out += syslog_timestamp(alert.ts_us, offset);
    out += ' ';
    out += header.hostname.empty() ? std::string_view("-") : std::string_view(header.hostname);
    out += ' ';
    out += header.app_name.empty() ? std::string_view("-") : std::string_view(header.app_name);
    out += ' ';
    out += header.procid.empty() ? std::string_view("-") : std::string_view(header.procid);
    out += " alert [";
    out += kSyslogSdId;

    const core::Endpoints& e = alert.endpoints;
    const bool ports = has_ports(e.ip_proto);
    append_param(out, "gid", std::to_string(alert.gid));
    append_param(out, "sid", std::to_string(alert.signature_id));
    append_param(out, "rev", std::to_string(alert.rev));
    append_param(out, "severity", std::to_string(alert.severity));
    append_param(out, "action", alert.action.empty() ? "allowed" : alert.action);
    append_param(out, "signature", alert.signature());
    if (!alert.category().empty()) {
        append_param(out, "category", alert.category());
    }
    append_param(out, "proto", proto_name(e.ip_proto));
    append_param(out, "src_ip", e.src_ip.to_string());
    if (ports) {
        append_param(out, "src_port", std::to_string(e.src_port));
    }
    append_param(out, "dest_ip", e.dest_ip.to_string());
    if (ports) {
        append_param(out, "dest_port", std::to_string(e.dest_port));
    }
    append_param(out, "flow_id", std::to_string(alert.flow_id));
    if (!alert.app_proto.empty()) {
        append_param(out, "app_proto", alert.app_proto);
    }
    if (!alert.concepts().empty()) {
        std::string joined;
        for (const auto& c : alert.concepts()) {
            joined += (joined.empty() ? "" : ",") + c;
        }
        append_param(out, "concept", joined);
    }
    out += "] ";

    if (format == SyslogFormat::kEve) {
        out += json_to_ascii(alert_to_json(alert));
        return out;
    }
    // Suricata's fast.log line. A MSG with UTF-8 beyond ASCII starts with the BOM (RFC 5424
    // section 6.4); an ASCII one needs none.
    std::string text = "[";
    text.append(std::to_string(alert.gid)).append(":");
    text.append(std::to_string(alert.signature_id)).append(":");
    text.append(std::to_string(alert.rev)).append("] ");
    bool non_ascii = append_utf8(text, alert.signature());
    if (!alert.category().empty()) {
        text += " [Classification: ";
        non_ascii = append_utf8(text, alert.category()) || non_ascii;
        text += "]";
    }
    text += " [Priority: " + std::to_string(alert.severity) + "] {" + proto_name(e.ip_proto) +
            "} " + endpoint_text(e.src_ip, e.src_port, ports) + " -> " +
            endpoint_text(e.dest_ip, e.dest_port, ports);
    if (non_ascii) {
        out += kBom;
    }
    out += text;
    return out;
}

core::Result<std::unique_ptr<SyslogOutput>> SyslogOutput::start(const SyslogConfig& config) {
    auto target = parse_syslog_target(config.target);
    if (!target) {
        return tl::unexpected(target.error());
    }
    SyslogConfig c = config;
    if (c.header.hostname.empty() || c.header.hostname == "-") {
        c.header.hostname = local_hostname();
    }
    if (!is_header_field(c.header.hostname, 255)) {
        return core::make_error("hostname '" + c.header.hostname +
                                "': must be 1 to 255 printable ASCII characters, no spaces");
    }
    if (!is_header_field(c.header.app_name, 48)) {
        return core::make_error("app-name '" + c.header.app_name +
                                "': must be 1 to 48 printable ASCII characters, no spaces");
    }
    if (c.header.facility < 0 || c.header.facility > 23) {
        return core::make_error("facility " + std::to_string(c.header.facility) +
                                ": out of range 0..23");
    }
    c.header.procid = std::to_string(getpid());
    c.queue_capacity = std::max<size_t>(c.queue_capacity, 1);
    std::unique_ptr<SyslogOutput> out(new SyslogOutput(std::move(c), std::move(*target)));
    if (auto connected = out->connect(); !connected) {
        return tl::unexpected(connected.error());
    }
    if (auto started = out->queue_.start("syslog", [raw = out.get()] { raw->run(); }); !started) {
        return tl::unexpected(started.error());
    }
    return out;
}

SyslogOutput::SyslogOutput(SyslogConfig config, SyslogTarget target)
    : config_(std::move(config)), target_(std::move(target)), queue_(config_.queue_capacity) {}

SyslogOutput::~SyslogOutput() {
    flush_and_stop();
    close_socket();
}

void SyslogOutput::submit(const core::AlertRecord& alert) noexcept {
    stats_.submitted.add();
    // Replay waits for the sender like every other replay stage (it sends or fails each
    // message within timeout_ms, so this ends); live capture drops and counts.
    std::string* slot = queue_.slot(config_.wait_when_full);
    if (slot == nullptr) {
        stats_.dropped_queue_full.add();
        return;
    }
    try {
        *slot = format_syslog_alert(config_.header, config_.format, alert);
    } catch (...) {  // out of memory: lose this alert, not the thread
        stats_.dropped_queue_full.add();
        return;
    }
    queue_.publish();
}

void SyslogOutput::flush_and_stop() { queue_.stop_and_join(); }

void SyslogOutput::close_socket() noexcept {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

core::Result<void> SyslogOutput::connect() {
    close_socket();
    last_connect_attempt_ms_ = steady_ms();
    timeval tv{};
    tv.tv_sec = config_.timeout_ms / 1000;
    tv.tv_usec = static_cast<suseconds_t>((config_.timeout_ms % 1000) * 1000);
    if (target_.transport == SyslogTransport::kUnix) {
        int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            return core::make_error(target_.path + ": socket: " + errno_text(errno));
        }
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, target_.path.data(), target_.path.size());
        if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
            const int err = errno;
            ::close(fd);
            return core::make_error(
                target_.path + ": cannot connect to the Unix datagram socket: " + errno_text(err));
        }
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        fd_ = fd;
        return {};
    }
    const bool tcp = target_.transport == SyslogTransport::kTcp;
    const std::string where =
        std::string(tcp ? "tcp://" : "udp://") +
        (target_.host.find(':') != std::string::npos ? "[" + target_.host + "]" : target_.host) +
        ":" + target_.port;
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = tcp ? SOCK_STREAM : SOCK_DGRAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(target_.host.c_str(), target_.port.c_str(), &hints, &found); rc != 0) {
        return core::make_error(where + ": cannot resolve: " + gai_strerror(rc));
    }
    std::string failure = "no address";
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                          ai->ai_protocol);
        if (fd < 0) {
            failure = errno_text(errno);
            continue;
        }
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        if (rc != 0 && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            rc = ::poll(&p, 1, config_.timeout_ms);
            if (rc == 1) {
                int err = 0;
                socklen_t len = sizeof(err);
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                errno = err;
                rc = err == 0 ? 0 : -1;
            } else {
                errno = rc == 0 ? ETIMEDOUT : errno;
                rc = -1;
            }
        }
        if (rc != 0) {
            failure = errno_text(errno);
            ::close(fd);
            continue;
        }
        // Blocking from here on, bounded by the send timeout.
        ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        fd_ = fd;
        break;
    }
    freeaddrinfo(found);
    if (fd_ < 0) {
        return core::make_error(where + ": cannot connect: " + failure);
    }
    return {};
}

bool SyslogOutput::send_all(std::string_view bytes) {
    if (target_.transport != SyslogTransport::kTcp) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        return n == static_cast<ssize_t>(bytes.size());
    }
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n <= 0) {
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n == 0) {
                errno = EPIPE;
            }
            return false;
        }
        done += static_cast<size_t>(n);
    }
    return true;
}

bool SyslogOutput::send_one(const std::string& message) {
    std::string_view bytes = message;
    if (target_.transport == SyslogTransport::kTcp) {
        // RFC 6587 octet counting: "MSG-LEN SP SYSLOG-MSG", no trailer.
        frame_.clear();
        frame_ += std::to_string(message.size());
        frame_ += ' ';
        frame_ += message;
        bytes = frame_;
    }
    if (fd_ < 0) {
        if (steady_ms() - last_connect_attempt_ms_ < config_.reconnect_interval_ms) {
            return false;  // still down; the error was recorded when it went down
        }
        if (auto ok = connect(); !ok) {
            queue_.set_error(ok.error().message);
            return false;
        }
        stats_.reconnects.add();
    }
    if (target_.transport == SyslogTransport::kTcp && peer_closed(fd_)) {
        // A send to a closed peer succeeds once and is lost; reconnect before it.
        close_socket();
        if (auto ok = connect(); !ok) {
            queue_.set_error(ok.error().message);
            return false;
        }
        stats_.reconnects.add();
    }
    if (send_all(bytes)) {
        return true;
    }
    const int err = errno;
    queue_.set_error(config_.target + ": send: " + errno_text(err));
    const bool tcp = target_.transport == SyslogTransport::kTcp;
    if (err == EMSGSIZE || err == ENOBUFS || (!tcp && (err == EAGAIN || err == EWOULDBLOCK))) {
        return false;  // this message only; the socket is fine
    }
    // The collector restarted (ECONNREFUSED, EPIPE, ECONNRESET), or a TCP frame was cut by the
    // send timeout: a new connection, once, then this message again.
    close_socket();
    if (auto ok = connect(); !ok) {
        queue_.set_error(ok.error().message);
        return false;
    }
    stats_.reconnects.add();
    if (send_all(bytes)) {
        return true;
    }
    queue_.set_error(config_.target + ": send: " + errno_text(errno));
    if (tcp) {
        close_socket();
    }
    return false;
}

void SyslogOutput::run() {
    int64_t stop_deadline_ms = -1;
    for (;;) {
        const bool stopping = queue_.stopping();
        const size_t pending = queue_.pending();
        if (stopping && stop_deadline_ms < 0) {
            // A collector that stopped reading must not hold the process at exit forever.
            stop_deadline_ms = steady_ms() + std::max(5 * config_.timeout_ms, 2000);
        }
        if (pending == 0) {
            if (stopping) {
                return;
            }
            queue_.wait_for_item(50);
            continue;
        }
        if (stop_deadline_ms >= 0 && steady_ms() > stop_deadline_ms) {
            stats_.dropped_at_stop.add(pending);
            queue_.pop(pending);
            continue;
        }
        if (send_one(queue_.front())) {
            stats_.sent.add();
        } else {
            stats_.send_failures.add();
        }
        queue_.pop();
    }
}

}  // namespace sensor::alert
