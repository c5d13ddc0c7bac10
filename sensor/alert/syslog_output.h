#pragma once
// SyslogOutput: sends alerts as RFC 5424 messages to a Unix datagram socket, UDP or TCP
// (RFC 6587 octet counting). submit() runs on the output thread and never blocks on the
// network; a sender thread it owns does the I/O. The formatting functions are pure.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sensor/alert/sender_queue.h"
#include "sensor/core/counter.h"
#include "sensor/core/records.h"
#include "sensor/core/result.h"

namespace sensor::alert {

enum class SyslogTransport : uint8_t { kUnix, kUdp, kTcp };

// What MSG holds: the alert's EVE JSON object (non-ASCII escaped as \uXXXX, so MSG is plain
// ASCII), or one human-readable line in the style of Suricata's fast.log.
enum class SyslogFormat : uint8_t { kEve, kText };

struct SyslogTarget {
    SyslogTransport transport = SyslogTransport::kUnix;
    std::string path;  // kUnix
    std::string host;  // kUdp, kTcp: name or numeric address, without brackets for IPv6
    std::string port;
};

// "/dev/log" or "unix:/PATH" (Unix datagram socket), "udp://HOST:PORT", "tcp://HOST:PORT"
// ("[v6]:PORT" for IPv6). The error says what is wrong, without the config key.
core::Result<SyslogTarget> parse_syslog_target(std::string_view target);

// RFC 5424 facility names (kern, user, mail, daemon, auth, syslog, lpr, news, uucp, cron,
// authpriv, ftp, ntp, security, console, solaris-cron, local0..local7) or a number 0..23.
core::Result<int> parse_syslog_facility(std::string_view name);

// Alert severity (rule priority, 1 = highest) to RFC 5424 severity: 1 -> 2 critical,
// 2 -> 3 error, 3 -> 4 warning, anything else -> 5 notice.
int syslog_severity(int alert_severity) noexcept;

// RFC 3339 as RFC 5424 restricts it: "2026-01-05T08:00:01.123456Z", or with "+01:00" style
// offset when utc_offset_s != 0 (the wall time is then ts + offset).
std::string syslog_timestamp(int64_t ts_us, int32_t utc_offset_s);

// Appends value as an SD-PARAM value: '"', '\' and ']' escaped with '\', invalid UTF-8
// replaced by U+FFFD.
void append_sd_value(std::string& out, std::string_view value);

// True when value is 1..max_len characters of PRINTUSASCII (%d33-126), as HOSTNAME, APP-NAME,
// PROCID and MSGID must be.
bool is_header_field(std::string_view value, size_t max_len) noexcept;

// The HEADER fields that do not change between messages. Checked by SyslogOutput::start.
struct SyslogHeader {
    int facility = 21;  // local5
    std::string hostname = "-";
    std::string app_name = "sensor";
    std::string procid = "-";
    bool local_time = false;  // TIMESTAMP in the host's time zone instead of UTC
};

// The SD-ID of the structured-data element every alert carries. 32473 is the private
// enterprise number RFC 5612 reserves for documentation and examples.
inline constexpr std::string_view kSyslogSdId = "alert@32473";

// One complete RFC 5424 message for alert (no trailing newline, no transport framing):
// <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID alert [alert@32473 ...] MSG
std::string format_syslog_alert(const SyslogHeader& header, SyslogFormat format,
                                const core::AlertRecord& alert);

struct SyslogConfig {
    std::string target = "/dev/log";
    SyslogHeader header;  // hostname "" or "-": taken from gethostname()
    SyslogFormat format = SyslogFormat::kEve;
    size_t queue_capacity = 4096;
    // Replay: submit() waits for room instead of dropping, as the rest of a replay is lossless.
    bool wait_when_full = false;
    int timeout_ms = 1000;             // connect and each send
    int reconnect_interval_ms = 1000;  // at most one reconnect attempt per interval (TCP)
};

// Written by two threads, each counter by one: submitted and dropped_queue_full by the caller
// of submit(); the rest by the sender thread. After flush_and_stop():
// submitted == sent + send_failures + dropped_queue_full + dropped_at_stop.
struct SyslogStats {
    core::Counter submitted;           // alerts handed to submit()
    core::Counter dropped_queue_full;  // lost because the queue was full (live capture)
    core::Counter sent;                // messages the socket accepted
    core::Counter send_failures;       // messages lost to a send error or a lost connection
    core::Counter dropped_at_stop;     // still queued when flush_and_stop gave up
    core::Counter reconnects;          // connections re-established after an error
};

class SyslogOutput {
public:
    // Parses and checks the config, connects to the target and starts the sender thread.
    // The error says what could not be opened; the caller names the config key.
    static core::Result<std::unique_ptr<SyslogOutput>> start(const SyslogConfig& config);
    ~SyslogOutput();
    SyslogOutput(const SyslogOutput&) = delete;
    SyslogOutput& operator=(const SyslogOutput&) = delete;

    // Single producer: call from one thread only (the output thread). Formats the message
    // into a queue slot; a full queue counts a drop and returns at once (unless
    // wait_when_full).
    void submit(const core::AlertRecord& alert) noexcept;

    // Sends what is queued (each message once, no reconnect wait beyond one attempt), then
    // stops the sender thread. Idempotent; the destructor calls it.
    void flush_and_stop();

    const SyslogStats& stats() const noexcept { return stats_; }
    const SyslogConfig& config() const noexcept { return config_; }
    // The most recent send error ("" when none); for the end-of-run log.
    std::string last_error() const { return queue_.last_error(); }

private:
    SyslogOutput(SyslogConfig config, SyslogTarget target);
    core::Result<void> connect();
    // One message, with one reconnect-and-retry on a connection error. False on failure.
    bool send_one(const std::string& message);
    bool send_all(std::string_view bytes);
    void close_socket() noexcept;
    void run();

    SyslogConfig config_;
    SyslogTarget target_;
    SyslogStats stats_;

    SenderQueue<std::string> queue_;  // formatted messages

    int fd_ = -1;                          // sender thread only (and start() before it runs)
    int64_t last_connect_attempt_ms_ = 0;  // steady clock
    std::string frame_;                    // TCP: "LEN SP MSG", reused
};

}  // namespace sensor::alert
