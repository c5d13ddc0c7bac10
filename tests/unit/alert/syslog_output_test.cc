// RFC 5424 formatting of alerts, and SyslogOutput against Unix datagram, UDP and TCP
// receivers on this host.
#include "sensor/alert/syslog_output.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "sensor/alert/eve_writer.h"

namespace sensor::alert {
namespace {

// RFC 5424 section 6 ABNF as one regex: HEADER, STRUCTURED-DATA (NILVALUE or SD-ELEMENTs with
// escaped PARAM-VALUEs) and an optional MSG. Groups: 1 PRI, 2 TIMESTAMP, 3 HOSTNAME, 4 APP-NAME,
// 5 PROCID, 6 MSGID, 7 STRUCTURED-DATA, 8 MSG.
const std::regex& rfc5424() {
    static const std::string kSdName = R"((?:(?![= \]"])[!-~]){1,32})";
    static const std::string kParamValue = R"((?:\\["\\\]]|[^"\\\]])*)";
    static const std::string kSdElement =
        R"(\[)" + kSdName + "(?: " + kSdName + "=\"" + kParamValue + "\")*" + R"(\])";
    static const std::regex kRe(
        R"(^<([0-9]|[1-9][0-9]|1[0-8][0-9]|19[01])>1 )"
        R"((-|[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])T(?:[01][0-9]|2[0-3]):)"
        R"([0-5][0-9]:(?:[0-5][0-9]|60)(?:\.[0-9]{1,6})?(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])) )"
        R"(([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) )"
        "(-|(?:" +
        kSdElement + ")+)" + R"((?: ([\s\S]*))?$)");
    return kRe;
}

core::IpAddress ip(const char* text) {
    uint8_t b[16] = {};
    if (inet_pton(AF_INET, text, b) == 1) {
        return core::IpAddress::v4_from(b);
    }
    EXPECT_EQ(inet_pton(AF_INET6, text, b), 1) << text;
    return core::IpAddress::v6_from(b);
}

core::AlertRecord sample_alert() {
    core::AlertRecord a;
    a.ts_us = 1767600000'123456;  // 2026-01-05T08:00:00.123456Z
    a.flow_id = 42;
    a.endpoints.src_ip = ip("10.0.0.5");
    a.endpoints.dest_ip = ip("10.20.0.10");
    a.endpoints.src_port = 40000;
    a.endpoints.dest_port = 502;
    a.endpoints.ip_proto = 6;
    a.app_proto = "modbus";
    a.gid = 1;
    a.signature_id = 9000001;
    a.rev = 2;
    a.severity = 1;
    a.own_rule_texts({.signature = "SENSOR Modbus write from unexpected host",
                      .category = "Potential Corporate Privacy Violation",
                      .concepts = {"ics-write", "policy"}});
    return a;
}

void set_signature(core::AlertRecord& alert, std::string signature) {
    core::RuleTexts texts = alert.copy_rule_texts();
    texts.signature = std::move(signature);
    alert.own_rule_texts(std::move(texts));
}

SyslogHeader header() {
    SyslogHeader h;
    h.facility = 21;  // local5
    h.hostname = "sensor-01";
    h.app_name = "sensor";
    h.procid = "1234";
    return h;
}

// The checker itself must refuse what RFC 5424 refuses, or the tests below prove nothing.
TEST(SyslogRegex, RefusesNonConformingMessages) {
    EXPECT_TRUE(
        std::regex_match(std::string("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com "
                                     "evntslog - ID47 [exampleSDID@32473 iut=\"3\"] hi"),
                         rfc5424()));
    EXPECT_TRUE(std::regex_match(std::string("<0>1 - - - - - -"), rfc5424()));
    for (const char* bad : {
             "<165> 2003-10-11T22:14:15.003Z host app - ID47 - msg",            // no VERSION
             "<192>1 2003-10-11T22:14:15.003Z host app - ID47 - msg",           // PRI > 191
             "<01>1 2003-10-11T22:14:15.003Z host app - ID47 - msg",            // leading zero
             "<165>1 2003-10-11T22:14:15.003 host app - ID47 - msg",            // no time zone
             "<165>1 2003-10-11 22:14:15Z host app - ID47 - msg",               // no T
             "<165>1 2003-10-11T22:14:15.0000001Z host app - ID47 - msg",       // 7 fraction digits
             "<165>1 2003-10-11T22:14:15Z host name app - ID47 - msg",          // space in HOSTNAME
             "<165>1 2003-10-11T22:14:15Z host app - ID47 [x a=\"b\"c\"] msg",  // bare quote
             "<165>1 2003-10-11T22:14:15Z host app - ID47 [x a=\"b]\"] msg",    // bare ]
             "<165>1 2003-10-11T22:14:15Z host app - ID47 [x a=b] msg",         // unquoted value
             "<165>1 2003-10-11T22:14:15Z host app - ID47 msg",                 // no SD at all
         }) {
        EXPECT_FALSE(std::regex_match(std::string(bad), rfc5424())) << bad;
    }
}

TEST(SyslogFacility, NamesAndNumbers) {
    EXPECT_EQ(*parse_syslog_facility("kern"), 0);
    EXPECT_EQ(*parse_syslog_facility("daemon"), 3);
    EXPECT_EQ(*parse_syslog_facility("authpriv"), 10);
    EXPECT_EQ(*parse_syslog_facility("local0"), 16);
    EXPECT_EQ(*parse_syslog_facility("local5"), 21);
    EXPECT_EQ(*parse_syslog_facility("local7"), 23);
    EXPECT_EQ(*parse_syslog_facility("17"), 17);
    for (const char* bad : {"", "local8", "LOCAL0", "24", "-1", "3x"}) {
        auto r = parse_syslog_facility(bad);
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().message.find("unknown facility"), std::string::npos);
    }
}

TEST(SyslogSeverity, HigherPriorityIsMoreSevere) {
    EXPECT_EQ(syslog_severity(1), 2);
    EXPECT_EQ(syslog_severity(2), 3);
    EXPECT_EQ(syslog_severity(3), 4);
    EXPECT_EQ(syslog_severity(4), 5);
    EXPECT_EQ(syslog_severity(0), 5);
    EXPECT_EQ(syslog_severity(255), 5);
}

TEST(SyslogTimestamp, Rfc3339WithZoneAndMicroseconds) {
    EXPECT_EQ(syslog_timestamp(1767600000'123456, 0), "2026-01-05T08:00:00.123456Z");
    EXPECT_EQ(syslog_timestamp(1767600000'000007, 0), "2026-01-05T08:00:00.000007Z");
    EXPECT_EQ(syslog_timestamp(1767600000'000000, 3600), "2026-01-05T09:00:00.000000+01:00");
    EXPECT_EQ(syslog_timestamp(1767600000'000000, -(5 * 3600 + 30 * 60)),
              "2026-01-05T02:30:00.000000-05:30");
    // The offset moves the date too.
    EXPECT_EQ(syslog_timestamp(int64_t{1767657599} * 1'000'000, 60),
              "2026-01-06T00:00:59.000000+00:01");
    EXPECT_EQ(syslog_timestamp(int64_t{951782400} * 1'000'000, 0), "2000-02-29T00:00:00.000000Z");
    EXPECT_EQ(syslog_timestamp(0, 0), "1970-01-01T00:00:00.000000Z");
}

TEST(SyslogSd, EscapesQuoteBackslashAndBracket) {
    std::string out;
    append_sd_value(out, R"(a"b\c]d[e=f)");
    EXPECT_EQ(out, R"(a\"b\\c\]d[e=f)");
    out.clear();
    append_sd_value(out, "caf\xC3\xA9 \xF0\x9F\x94\x92");  // valid UTF-8 stays
    EXPECT_EQ(out, "caf\xC3\xA9 \xF0\x9F\x94\x92");
    out.clear();
    append_sd_value(out, "x\xFFy\xC0\xAFz\xED\xA0\x80");  // invalid, overlong, surrogate
    EXPECT_EQ(out, "x\xEF\xBF\xBDy\xEF\xBF\xBD\xEF\xBF\xBDz\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(SyslogHeaderField, PrintableAsciiWithinLength) {
    EXPECT_TRUE(is_header_field("sensor", 48));
    EXPECT_TRUE(is_header_field(std::string(48, 'a'), 48));
    EXPECT_FALSE(is_header_field(std::string(49, 'a'), 48));
    EXPECT_FALSE(is_header_field("", 48));
    EXPECT_FALSE(is_header_field("two words", 48));
    EXPECT_FALSE(is_header_field("tab\there", 48));
    EXPECT_FALSE(is_header_field("caf\xC3\xA9", 48));
}

TEST(SyslogFormatAlert, HeaderStructuredDataAndEveMessage) {
    const core::AlertRecord alert = sample_alert();
    const std::string msg = format_syslog_alert(header(), SyslogFormat::kEve, alert);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(msg, m, rfc5424())) << msg;
    EXPECT_EQ(m[1].str(), "170");  // local5 (21) * 8 + critical (2) for priority 1
    EXPECT_EQ(m[2].str(), "2026-01-05T08:00:00.123456Z");
    EXPECT_EQ(m[3].str(), "sensor-01");
    EXPECT_EQ(m[4].str(), "sensor");
    EXPECT_EQ(m[5].str(), "1234");
    EXPECT_EQ(m[6].str(), "alert");
    EXPECT_EQ(m[7].str(),
              "[alert@32473 gid=\"1\" sid=\"9000001\" rev=\"2\" severity=\"1\" action=\"allowed\" "
              "signature=\"SENSOR Modbus write from unexpected host\" "
              "category=\"Potential Corporate Privacy Violation\" proto=\"TCP\" "
              "src_ip=\"10.0.0.5\" src_port=\"40000\" dest_ip=\"10.20.0.10\" dest_port=\"502\" "
              "flow_id=\"42\" app_proto=\"modbus\" concept=\"ics-write,policy\"]");
    // MSG is the alert's EVE object.
    EXPECT_EQ(nlohmann::json::parse(m[8].str()), nlohmann::json::parse(alert_to_json(alert)));
}

TEST(SyslogFormatAlert, PriFollowsFacilityAndSeverity) {
    core::AlertRecord alert = sample_alert();
    SyslogHeader h = header();
    for (auto [facility, severity, pri] :
         {std::tuple{0, 1, 2}, std::tuple{3, 2, 27}, std::tuple{16, 3, 132}, std::tuple{23, 4, 189},
          std::tuple{23, 9, 189}}) {
        h.facility = facility;
        alert.severity = severity;
        const std::string msg = format_syslog_alert(h, SyslogFormat::kText, alert);
        EXPECT_EQ(msg.rfind("<" + std::to_string(pri) + ">1 ", 0), 0u) << msg;
    }
}

TEST(SyslogFormatAlert, NilValuesWhenFieldsAreEmpty) {
    SyslogHeader h = header();
    h.hostname.clear();
    h.procid.clear();
    core::AlertRecord alert = sample_alert();
    alert.endpoints.ip_proto = 1;  // ICMP: no ports
    core::RuleTexts texts = alert.copy_rule_texts();
    texts.category.clear();
    texts.concepts.clear();
    alert.own_rule_texts(std::move(texts));
    alert.app_proto.clear();
    const std::string msg = format_syslog_alert(h, SyslogFormat::kEve, alert);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(msg, m, rfc5424())) << msg;
    EXPECT_EQ(m[3].str(), "-");
    EXPECT_EQ(m[5].str(), "-");
    EXPECT_EQ(m[7].str().find("port="), std::string::npos) << m[7].str();
    EXPECT_EQ(m[7].str().find("category="), std::string::npos);
    EXPECT_NE(m[7].str().find("proto=\"ICMP\""), std::string::npos);
}

TEST(SyslogFormatAlert, EscapesStructuredDataAndKeepsMessageAscii) {
    core::AlertRecord alert = sample_alert();
    set_signature(alert, "bad \"quote\" \\ [x] caf\xC3\xA9 \xF0\x9F\x94\x92");
    const std::string msg = format_syslog_alert(header(), SyslogFormat::kEve, alert);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(msg, m, rfc5424())) << msg;
    EXPECT_NE(m[7].str().find(R"(signature="bad \"quote\" \\ [x\] caf)"), std::string::npos)
        << m[7].str();
    const std::string body = m[8].str();
    for (char c : body) {
        ASSERT_TRUE(c >= 0x20 && c < 0x7f) << "non-ASCII byte in MSG: " << body;
    }
    EXPECT_NE(body.find("\\u00e9"), std::string::npos) << body;
    EXPECT_NE(body.find("\\ud83d\\udd12"), std::string::npos) << body;  // surrogate pair
    EXPECT_EQ(nlohmann::json::parse(body)["alert"]["signature"], alert.signature());
}

TEST(SyslogFormatAlert, TextMessageLikeFastLog) {
    core::AlertRecord alert = sample_alert();
    std::string msg = format_syslog_alert(header(), SyslogFormat::kText, alert);
    std::smatch m;
    ASSERT_TRUE(std::regex_match(msg, m, rfc5424())) << msg;
    EXPECT_EQ(m[8].str(),
              "[1:9000001:2] SENSOR Modbus write from unexpected host [Classification: Potential "
              "Corporate Privacy Violation] [Priority: 1] {TCP} 10.0.0.5:40000 -> 10.20.0.10:502");
    // UTF-8 beyond ASCII: MSG-UTF8 starts with the BOM.
    set_signature(alert, "caf\xC3\xA9");
    alert.endpoints.src_ip = ip("2001:db8::1");
    alert.endpoints.dest_ip = ip("2001:db8::2");
    msg = format_syslog_alert(header(), SyslogFormat::kText, alert);
    ASSERT_TRUE(std::regex_match(msg, m, rfc5424())) << msg;
    EXPECT_EQ(m[8].str().rfind("\xEF\xBB\xBF[1:9000001:2] caf\xC3\xA9 ", 0), 0u) << m[8].str();
    EXPECT_NE(m[8].str().find("[2001:db8::1]:40000 -> [2001:db8::2]:502"), std::string::npos);
}

TEST(SyslogFormatAlert, LocalTimeCarriesTheZoneOffset) {
    const char* old = std::getenv("TZ");
    const std::string saved = old != nullptr ? old : "";
    setenv("TZ", "XST-02:00", 1);  // POSIX: two hours east of UTC
    tzset();
    SyslogHeader h = header();
    h.local_time = true;
    const std::string msg = format_syslog_alert(h, SyslogFormat::kEve, sample_alert());
    if (old != nullptr) {
        setenv("TZ", saved.c_str(), 1);
    } else {
        unsetenv("TZ");
    }
    tzset();
    std::smatch m;
    ASSERT_TRUE(std::regex_match(msg, m, rfc5424())) << msg;
    EXPECT_EQ(m[2].str(), "2026-01-05T10:00:00.123456+02:00");
}

TEST(SyslogTargetParse, AcceptsPathsUdpAndTcp) {
    auto t = parse_syslog_target("/dev/log");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->transport, SyslogTransport::kUnix);
    EXPECT_EQ(t->path, "/dev/log");
    t = parse_syslog_target("unix:relative.sock");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->path, "relative.sock");
    t = parse_syslog_target("udp://127.0.0.1:514");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->transport, SyslogTransport::kUdp);
    EXPECT_EQ(t->host, "127.0.0.1");
    EXPECT_EQ(t->port, "514");
    t = parse_syslog_target("tcp://[::1]:6514");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->transport, SyslogTransport::kTcp);
    EXPECT_EQ(t->host, "::1");
    EXPECT_EQ(t->port, "6514");
    t = parse_syslog_target("tcp://logs.example.net:601");
    ASSERT_TRUE(t);
    EXPECT_EQ(t->host, "logs.example.net");
}

TEST(SyslogTargetParse, RejectsMalformedTargets) {
    for (const char* bad :
         {"", "dev/log", "unix:", "udp://", "udp://host", "udp://host:0", "udp://host:65536",
          "udp://:514", "tcp://::1:514", "http://host:514", "udp://host:51x"}) {
        auto t = parse_syslog_target(bad);
        ASSERT_FALSE(t) << bad;
        EXPECT_EQ(t.error().message.rfind("'" + std::string(bad) + "': ", 0), 0u)
            << t.error().message;
    }
    EXPECT_FALSE(parse_syslog_target("/" + std::string(200, 'x')));
}

// ---- SyslogOutput against receivers on this host ----

std::string temp_socket_path(const std::string& name) {
    return (std::filesystem::temp_directory_path() /
            ("syslog-test-" + std::to_string(getpid()) + "-" + name + ".sock"))
        .string();
}

class UnixReceiver {
public:
    explicit UnixReceiver(std::string path) : path_(std::move(path)) {
        ::unlink(path_.c_str());
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
        ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    }
    ~UnixReceiver() {
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    bool ok() const { return ok_; }
    int fd() const { return fd_; }
    const std::string& path() const { return path_; }

private:
    std::string path_;
    int fd_ = -1;
    bool ok_ = false;
};

// Datagrams waiting on fd, read until none arrives for 200 ms.
std::vector<std::string> read_datagrams(int fd) {
    std::vector<std::string> out;
    std::vector<char> buf(65536);
    pollfd p{fd, POLLIN, 0};
    while (::poll(&p, 1, 200) == 1) {
        ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
        if (n < 0) {
            break;
        }
        out.emplace_back(buf.data(), static_cast<size_t>(n));
    }
    return out;
}

SyslogConfig config_for(const std::string& target) {
    SyslogConfig c;
    c.target = target;
    c.header.app_name = "sensor-test";
    c.header.hostname = "host-1";
    c.timeout_ms = 300;
    return c;
}

template <class Pred>
bool wait_for(Pred pred) {
    for (int i = 0; i < 300 && !pred(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return pred();
}

TEST(SyslogOutput, SendsEachAlertAsOneDatagramOnAUnixSocket) {
    UnixReceiver rx(temp_socket_path("unix"));
    ASSERT_TRUE(rx.ok());
    auto out = SyslogOutput::start(config_for(rx.path()));
    ASSERT_TRUE(out) << out.error().message;
    core::AlertRecord alert = sample_alert();
    for (uint32_t sid = 1; sid <= 5; ++sid) {
        alert.signature_id = sid;
        (*out)->submit(alert);
    }
    (*out)->flush_and_stop();
    const auto& st = (*out)->stats();
    EXPECT_EQ(st.submitted.load(), 5u);
    EXPECT_EQ(st.sent.load(), 5u);
    EXPECT_EQ(st.send_failures.load(), 0u);
    auto got = read_datagrams(rx.fd());
    ASSERT_EQ(got.size(), 5u);
    for (size_t i = 0; i < got.size(); ++i) {
        std::smatch m;
        ASSERT_TRUE(std::regex_match(got[i], m, rfc5424())) << got[i];
        EXPECT_EQ(m[3].str(), "host-1");
        EXPECT_EQ(m[4].str(), "sensor-test");
        EXPECT_EQ(m[5].str(), std::to_string(getpid()));
        EXPECT_EQ(nlohmann::json::parse(m[8].str())["alert"]["signature_id"], i + 1);
    }
}

TEST(SyslogOutput, SendsOverUdp) {
    int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    auto out =
        SyslogOutput::start(config_for("udp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port))));
    ASSERT_TRUE(out) << out.error().message;
    (*out)->submit(sample_alert());
    (*out)->submit(sample_alert());
    (*out)->flush_and_stop();
    auto got = read_datagrams(fd);
    ::close(fd);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_TRUE(std::regex_match(got[0], rfc5424())) << got[0];
    EXPECT_EQ((*out)->stats().sent.load(), 2u);
}

TEST(SyslogOutput, FramesTcpWithOctetCounting) {
    int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ASSERT_EQ(::listen(lfd, 4), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(lfd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::string stream;
    std::thread reader([&] {
        int cfd = ::accept(lfd, nullptr, nullptr);
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(cfd, buf, sizeof(buf), 0);
            if (n <= 0) {
                break;
            }
            stream.append(buf, static_cast<size_t>(n));
        }
        ::close(cfd);
    });
    {
        auto out = SyslogOutput::start(
            config_for("tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port))));
        ASSERT_TRUE(out) << out.error().message;
        core::AlertRecord alert = sample_alert();
        set_signature(alert, "with ] and \" inside");
        (*out)->submit(alert);
        (*out)->submit(sample_alert());
        (*out)->submit(sample_alert());
        (*out)->flush_and_stop();
        EXPECT_EQ((*out)->stats().sent.load(), 3u);
    }  // closes the connection
    reader.join();
    ::close(lfd);
    // MSG-LEN SP SYSLOG-MSG, back to back.
    size_t pos = 0;
    int frames = 0;
    while (pos < stream.size()) {
        size_t sp = stream.find(' ', pos);
        ASSERT_NE(sp, std::string::npos);
        const size_t n = std::stoul(stream.substr(pos, sp - pos));
        ASSERT_LE(sp + 1 + n, stream.size());
        const std::string msg = stream.substr(sp + 1, n);
        EXPECT_TRUE(std::regex_match(msg, rfc5424())) << msg;
        pos = sp + 1 + n;
        ++frames;
    }
    EXPECT_EQ(frames, 3);
}

TEST(SyslogOutput, StartFailsWhenTheTargetCannotBeOpened) {
    const std::string missing = temp_socket_path("missing");
    ::unlink(missing.c_str());
    auto out = SyslogOutput::start(config_for(missing));
    ASSERT_FALSE(out);
    EXPECT_NE(out.error().message.find(missing), std::string::npos) << out.error().message;
    EXPECT_NE(out.error().message.find("cannot connect"), std::string::npos);

    // A TCP port nobody listens on: bind one, learn its number, close it.
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    const std::string tcp = "tcp://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    out = SyslogOutput::start(config_for(tcp));
    ASSERT_FALSE(out);
    EXPECT_NE(out.error().message.find(tcp + ": cannot connect"), std::string::npos)
        << out.error().message;

    SyslogConfig bad = config_for("/dev/log");
    bad.header.app_name = "has space";
    out = SyslogOutput::start(bad);
    ASSERT_FALSE(out);
    EXPECT_NE(out.error().message.find("app-name"), std::string::npos);
}

TEST(SyslogOutput, CountsSendFailuresAndReconnects) {
    const std::string path = temp_socket_path("restart");
    auto rx = std::make_unique<UnixReceiver>(path);
    ASSERT_TRUE(rx->ok());
    SyslogConfig c = config_for(path);
    c.reconnect_interval_ms = 0;
    auto out = SyslogOutput::start(c);
    ASSERT_TRUE(out) << out.error().message;
    (*out)->submit(sample_alert());
    ASSERT_TRUE(wait_for([&] { return (*out)->stats().sent.load() == 1; }));

    rx.reset();  // the collector goes away: sends fail, the output keeps going
    (*out)->submit(sample_alert());
    (*out)->submit(sample_alert());
    ASSERT_TRUE(wait_for([&] { return (*out)->stats().send_failures.load() == 2; }));
    EXPECT_NE((*out)->last_error().find(path), std::string::npos) << (*out)->last_error();

    rx = std::make_unique<UnixReceiver>(path);  // and comes back at the same path
    (*out)->submit(sample_alert());
    (*out)->flush_and_stop();
    const auto& st = (*out)->stats();
    EXPECT_EQ(st.sent.load(), 2u);
    EXPECT_EQ(st.send_failures.load(), 2u);
    EXPECT_GE(st.reconnects.load(), 1u);
    EXPECT_EQ(read_datagrams(rx->fd()).size(), 1u);
}

// Fills the receive queue of rx from another socket, so that the output's next send waits.
void fill_receive_queue(const UnixReceiver& rx) {
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    rx.path().copy(addr.sun_path, sizeof(addr.sun_path) - 1);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    const char byte = 'x';
    int sent = 0;
    while (::send(fd, &byte, 1, MSG_DONTWAIT) == 1 && sent < 100000) {
        ++sent;
    }
    ::close(fd);
    ASSERT_GT(sent, 0);
}

TEST(SyslogOutput, FullQueueIsACountedDropNeverAWait) {
    UnixReceiver rx(temp_socket_path("full"));
    ASSERT_TRUE(rx.ok());
    fill_receive_queue(rx);
    SyslogConfig c = config_for(rx.path());
    c.queue_capacity = 1;
    c.timeout_ms = 500;
    auto out = SyslogOutput::start(c);
    ASSERT_TRUE(out) << out.error().message;
    const auto started = std::chrono::steady_clock::now();
    for (int i = 0; i < 3; ++i) {
        (*out)->submit(sample_alert());  // the first holds the only slot until its send ends
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(400));
    (*out)->flush_and_stop();
    const auto& st = (*out)->stats();
    EXPECT_EQ(st.submitted.load(), 3u);
    EXPECT_EQ(st.dropped_queue_full.load(), 2u);
    EXPECT_EQ(st.send_failures.load(), 1u);  // the receiver never read: send timed out
    EXPECT_EQ(st.sent.load(), 0u);
}

TEST(SyslogOutput, ReplayWaitsForRoomInsteadOfDropping) {
    UnixReceiver rx(temp_socket_path("wait"));
    ASSERT_TRUE(rx.ok());
    fill_receive_queue(rx);
    SyslogConfig c = config_for(rx.path());
    c.queue_capacity = 1;
    c.timeout_ms = 100;
    c.wait_when_full = true;
    auto out = SyslogOutput::start(c);
    ASSERT_TRUE(out) << out.error().message;
    for (int i = 0; i < 3; ++i) {
        (*out)->submit(sample_alert());
    }
    (*out)->flush_and_stop();
    const auto& st = (*out)->stats();
    EXPECT_EQ(st.dropped_queue_full.load(), 0u);
    EXPECT_EQ(st.sent.load() + st.send_failures.load(), 3u);
    EXPECT_EQ(st.submitted.load(), st.sent.load() + st.send_failures.load() +
                                       st.dropped_queue_full.load() + st.dropped_at_stop.load());
}

}  // namespace
}  // namespace sensor::alert
