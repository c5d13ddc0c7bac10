#pragma once
// HTTP/1.x over libhtp. HttpEngine: the worker's libhtp configuration (Suricata's defaults,
// personality IDS) and scratch buffers, one per AppLayer. HttpSession: one libhtp connection
// parser per HTTP flow, created lazily, with bounded request/response body buffers.

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sensor/applayer/app_layer_stats.h"
#include "sensor/applayer/memory_budget.h"
#include "sensor/core/app_buffers.h"
#include "sensor/core/records.h"

struct htp_cfg_t;
struct htp_connp_t;
struct htp_tx_t;
struct htp_tx_data_t;
struct htp_table_t;
struct bstr_t;

namespace sensor::applayer {

// Defaults are those of Suricata's suricata.yaml (libhtp default-config).
struct HttpConfig {
    uint32_t request_body_limit = 100 * 1024;  // bytes of each request body kept; 0: none
    uint32_t response_body_limit = 100 * 1024;
    // A body is offered to detection when this many new bytes have come in since it was last
    // offered, when it ends, or when it reaches its limit.
    uint32_t request_body_inspect_window = 4 * 1024;
    uint32_t response_body_inspect_window = 16 * 1024;
    uint32_t field_limit = 18000;  // longest header line or request line (meta-field-limit)
    int response_decompress_layer_limit = 2;
    bool uri_include_all = false;  // http.uri with scheme, credentials, host and port
    uint32_t max_parsers = 16384;  // live connection parsers per worker
    // Transactions waiting for their response before the oldest are freed unfinished (a
    // capture that sees only the requests would otherwise grow without bound).
    uint32_t max_waiting_transactions = 64;
    // Bytes of the process-wide pool libhtp allocates from (htp_heap.h); 0: libhtp keeps
    // malloc. The first engine created sizes it; later engines use it as it is.
    size_t parser_pool_bytes = size_t{32} << 20;
};

// What an HTTP session charges against the memory cap besides its body buffers: our object
// plus an estimate of libhtp's connection parser (it has no allocator hook to measure).
inline constexpr size_t kHttpSessionEstimate = 4096;

class HttpEngine {
public:
    explicit HttpEngine(const HttpConfig& config);  // aborts if libhtp cannot allocate
    ~HttpEngine();
    HttpEngine(const HttpEngine&) = delete;
    HttpEngine& operator=(const HttpEngine&) = delete;

    htp_cfg_t* cfg() const noexcept { return cfg_; }
    const HttpConfig& config() const noexcept { return config_; }

    // Per-worker buffers for the views that are built rather than pointed to. Valid until
    // the next fill.
    struct Scratch {
        std::string uri;
        std::string host;
        std::string header;
        std::string header_names;
        std::string start;
        bstr_t* decode = nullptr;  // header-only bstr aimed at `uri` for in-place decoding
    };
    Scratch& scratch() noexcept { return scratch_; }

private:
    HttpConfig config_;
    htp_cfg_t* cfg_ = nullptr;
    Scratch scratch_;
};

class HttpSession {
public:
    enum Update : uint8_t {
        kRequestLine = 1,
        kRequestHeaders = 2,
        kRequestBody = 4,
        kResponseHeaders = 8,
        kResponseBody = 16,
    };
    // A transaction that progressed on one side (request or response) since that side was
    // last reported. Events are kept per side because a side's bytes may be parsed on a
    // packet of the other direction (the one acknowledging them) and inspected on the next
    // packet of their own.
    struct Event {
        htp_tx_t* tx = nullptr;
        uint8_t updates = 0;
    };
    static constexpr size_t kMaxEvents = 8;  // per side

    enum class Feed : uint8_t {
        kOk,
        kError,  // libhtp gave up on the stream
        kStop,   // CONNECT tunnel, or data libhtp cannot take yet: stop parsing the flow
    };

    // nullptr when libhtp cannot allocate a parser.
    static std::unique_ptr<HttpSession> create(HttpEngine& engine, AppLayerStats& stats,
                                               MemoryBudget& budget, uint16_t client_port,
                                               uint16_t server_port, int64_t ts_us);
    ~HttpSession();

    // Reuse for another flow (new HTTP flows arrive all the time; the object and its buffers
    // are kept rather than freed and allocated again). recycle() ends the connection, forgets
    // its transactions and keeps up to kKeptBufferBytes of each buffer, refunded to the
    // budget while the session waits; reopen() starts the next flow's connection and charges
    // the kept buffers again (or frees them when the budget refuses). False when libhtp
    // cannot allocate a parser: the session is then unusable.
    void recycle() noexcept;
    bool reopen(uint16_t client_port, uint16_t server_port, int64_t ts_us) noexcept;
    static constexpr size_t kKeptBufferBytes = 4096;
    // Capacity of the body and header buffers (charged to the budget while in use).
    size_t buffer_bytes() const noexcept;

    HttpSession(const HttpSession&) = delete;
    HttpSession& operator=(const HttpSession&) = delete;

    // Starts feeding: forgets the events already reported (their views become invalid) and
    // frees finished transactions that no unreported event refers to.
    void begin_packet() noexcept;
    Feed feed(bool to_server, std::span<const uint8_t> data, int64_t ts_us) noexcept;
    // End of the connection: completes a response delimited by connection close.
    void close(int64_t ts_us) noexcept;

    // Events of one side (to_server: the request side), reported or not.
    size_t event_count(bool to_server) const noexcept { return event_count_[to_server ? 0 : 1]; }
    bool has_unreported(bool to_server) const noexcept {
        return !reported_[to_server ? 0 : 1] && event_count_[to_server ? 0 : 1] > 0;
    }
    // Fills out with every view transaction `event` of that side has so far: request line and
    // headers, response status, the headers and cookie of that side, and a body when it
    // became ready. out.transaction_id = libhtp's index + 1.
    void fill(size_t event, bool to_server, core::AppBuffers& out) noexcept;
    // The side's events were reported: they are forgotten before it records or reports again.
    // Their transactions stay until then (alerts describe them).
    void mark_reported(bool to_server) noexcept { reported_[to_server ? 0 : 1] = true; }
    // Copies what EVE writes about transaction tx_index (libhtp's index: AppBuffers
    // transaction_id - 1) into out, for an alert; false when it is no longer held.
    // Allocates (alerts only).
    bool describe(size_t tx_index, core::HttpRecord& out) const;

    // libhtp callbacks (registered once on the engine's configuration).
    static int on_request_line(htp_tx_t* tx);
    static int on_request_header_data(htp_tx_data_t* d);
    static int on_request_headers(htp_tx_t* tx);
    static int on_request_body(htp_tx_data_t* d);
    static int on_request_complete(htp_tx_t* tx);
    static int on_response_header_data(htp_tx_data_t* d);
    static int on_response_headers(htp_tx_t* tx);
    static int on_response_body(htp_tx_data_t* d);
    static int on_response_complete(htp_tx_t* tx);

private:
    struct Body {
        std::vector<uint8_t> data;
        size_t tx_index = SIZE_MAX;  // transaction the bytes belong to
        size_t exposed = 0;          // bytes already offered to detection
        bool ready = false;          // offer on this packet
        bool truncated = false;
    };

    // The header block of the latest transaction of one direction, as received.
    struct RawHeaders {
        std::vector<uint8_t> data;
        size_t tx_index = SIZE_MAX;
    };

    HttpSession(HttpEngine& engine, AppLayerStats& stats, MemoryBudget& budget);
    void note(htp_tx_t* tx, uint8_t update) noexcept;
    void forget_reported(size_t side) noexcept;
    bool has_event(const htp_tx_t* tx) const noexcept;
    void on_body(bool request, htp_tx_data_t* d) noexcept;
    void on_complete(bool request, htp_tx_t* tx) noexcept;
    void on_header_data(bool request, htp_tx_data_t* d) noexcept;
    // Grows v to hold `want` bytes (at most `limit`) within the memory budget; false when the
    // budget refuses, v unchanged.
    bool reserve_charged(std::vector<uint8_t>& v, size_t want, size_t limit) noexcept;
    // The headers fill() reads from one header table (http_session.cc).
    class HeaderLookup;
    // The views built from one direction's line and header table: header names, start,
    // content type and length, raw header block.
    void fill_headers_of_direction(const bstr_t* line, const htp_table_t* headers,
                                   const HeaderLookup& found, bool request, size_t tx_index,
                                   core::AppBuffers& out) noexcept;
    std::span<const uint8_t> take_body(bool request, const htp_tx_t* tx) noexcept;
    void free_finished_transactions() noexcept;

    HttpEngine& engine_;
    AppLayerStats& stats_;
    MemoryBudget& budget_;
    htp_connp_t* connp_ = nullptr;
    std::array<std::array<Event, kMaxEvents>, 2> events_{};  // [0] request, [1] response side
    std::array<size_t, 2> event_count_{};
    std::array<bool, 2> reported_{};
    std::array<Body, 2> bodies_;             // [0] request, [1] response
    std::array<RawHeaders, 2> raw_headers_;  // [0] request, [1] response
    size_t charged_ = 0;                     // body and raw header capacity charged to the budget
    size_t first_live_tx_ = 0;               // transactions below this index are freed
};

}  // namespace sensor::applayer
