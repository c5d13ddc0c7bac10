#pragma once
// EVE JSON lines (Suricata's eve.json format; docs/eve.md lists every field) for alert and flow
// records. EveWriter is owned and called by the output thread only; written()/failed() may be
// read from any thread.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "sensor/core/counter.h"
#include "sensor/core/records.h"
#include "sensor/core/result.h"

namespace sensor::alert {

// Optional EVE members and forms, after Suricata's eve-log options of the same names.
struct EveOptions {
    // Alerts carry "verdict": {"action": "alert"} (eve-log alert `verdict: yes`). A passive
    // sensor never drops, so the action is always "alert".
    bool verdict = false;
    // Alerts carry "packet" (base64 of the link-layer bytes and the IP packet, for a reassembled
    // datagram the whole of it) and "packet_info": {"linktype", "linktype_name"} (eve-log
    // alert `packet: yes`).
    bool packet = false;
    // IPv6 addresses in their shortest RFC 5952 form ("fe80::1"); false writes all eight
    // groups of four digits, as Suricata does unless `ipv6-compress: yes`.
    bool ipv6_compress = true;
    // Alerts carry the packet payload: "payload" (base64), "payload_printable" and
    // "stream": 0 (eve-log alert `payload: yes`; what is written is the packet's own payload).
    bool payload = false;
    // Alerts carry the rule's `alert.metadata`, the app-layer object of their transaction
    // (`http`, `dhcp`, `llmnr`) and the `flow` object (eve-log alert `metadata: yes`, Suricata's
    // default).
    bool metadata = true;

    bool operator==(const EveOptions&) const = default;
};

// One EVE object, without the trailing newline. Invalid UTF-8 in any text becomes U+FFFD.
std::string alert_to_json(const core::AlertRecord& alert, const EveOptions& options = {});
std::string flow_to_json(const core::FlowRecord& flow, const EveOptions& options = {});
// The same, appended to out (no temporary string per record).
void append_alert_json(std::string& out, const core::AlertRecord& alert,
                       const EveOptions& options = {});
void append_flow_json(std::string& out, const core::FlowRecord& flow,
                      const EveOptions& options = {});

// libpcap's name of a DLT_* value ("EN10MB", "C_HDLC", ...), empty when we have none.
std::string_view linktype_name(int linktype);

// "2026-01-05T08:00:01.123456+0000" for microseconds since the Unix epoch, always in UTC.
std::string eve_timestamp(int64_t ts_us);

class EveWriter {
public:
    // Opens (creating if needed) `path` for appending. The error names the path and errno text.
    static core::Result<std::unique_ptr<EveWriter>> open(const std::string& path,
                                                         const EveOptions& options = {});

    ~EveWriter();
    EveWriter(const EveWriter&) = delete;
    EveWriter& operator=(const EveWriter&) = delete;

    // Append one line each. Lines are buffered (up to kBufferBytes) and reach the file on
    // flush(), when the buffer fills, or on destruction; a line that cannot be written is
    // counted in failed(), never retried.
    // write_alert returns the line it wrote (without the newline), valid until the next call
    // on this writer; empty when the record could not be written.
    std::string_view write_alert(const core::AlertRecord& alert) noexcept;
    void write_flow(const core::FlowRecord& flow) noexcept;
    // A record's line made elsewhere with append_alert_json() or append_flow_json() and
    // options() (by the worker that made the record), without its newline. False when it
    // could not be written (counted in failed()).
    bool write_line(std::string_view line) noexcept;
    void flush() noexcept;

    // After flush(): written() + failed() == number of write_* calls.
    uint64_t written() const { return written_.load(); }
    uint64_t failed() const { return failed_.load(); }

    const EveOptions& options() const noexcept { return options_; }

    static constexpr size_t kBufferBytes = size_t{64} * 1024;

private:
    EveWriter(int fd, const EveOptions& options);
    // Runs append (which writes one record at the end of buffer_) and ends the line; a record
    // that fails half-way is taken out again and counted.
    // False when the record failed.
    template <class Append>
    bool append_record(Append&& append) noexcept;

    int fd_;
    EveOptions options_;
    std::string buffer_;
    uint64_t buffered_lines_ = 0;
    core::Counter written_;
    core::Counter failed_;
};

}  // namespace sensor::alert
