#include "sensor/applayer/http_session.h"

#include <htp/htp.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <new>
#include <string_view>

#include "sensor/applayer/htp_heap.h"
#include "sensor/core/check.h"

namespace sensor::applayer {
namespace {

// Suricata's defaults (app-layer-htp.h): field limits, decompression bounds.
constexpr size_t kFieldLimitSoft = 9000;
constexpr size_t kCompressionBombLimit = size_t{1024} * 1024;
constexpr size_t kCompressionTimeLimitUs = 100000;
constexpr size_t kLzmaMemlimit = size_t{1024} * 1024;
constexpr size_t kMinBodyCapacity = HttpSession::kKeptBufferBytes;
constexpr size_t kScratchReserve = 4096;
// http.header.raw keeps this much of each header block (Suricata: no limit of its own).
constexpr size_t kRawHeaderLimit = size_t{32} * 1024;

// Progress we record per transaction in libhtp's user-data slot, a bit set of these, so that
// nothing is allocated per transaction of our own: the slot points at progress_marks[bits].
constexpr uintptr_t kSeenLine = 1;
constexpr uintptr_t kSeenRequestHeaders = 2;
constexpr uintptr_t kSeenResponseHeaders = 4;
constexpr size_t kProgressStates = 8;
// Never read or written: only the addresses of its elements stand for the states.
uint8_t progress_marks[kProgressStates];

uintptr_t seen(const htp_tx_t* tx) noexcept {
    const auto* mark = static_cast<const uint8_t*>(htp_tx_get_user_data(tx));
    return mark == nullptr ? 0 : static_cast<uintptr_t>(mark - progress_marks);
}
void mark_seen(htp_tx_t* tx, uintptr_t bit) noexcept {
    htp_tx_set_user_data(tx, &progress_marks[(seen(tx) | bit) % kProgressStates]);
}

std::span<const uint8_t> view(const bstr* b) noexcept {
    if (b == nullptr) {
        return {};
    }
    const auto* data =
        b->realptr != nullptr ? b->realptr : reinterpret_cast<const unsigned char*>(b + 1);
    return {data, b->len};
}

// A buffer built in scratch is absent when empty: only a header that is there without a
// value is a present, empty buffer (a span with a data pointer and no bytes).
std::span<const uint8_t> view(const std::string& s) noexcept {
    if (s.empty()) {
        return {};
    }
    return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

const htp_header_t* header(const htp_table_t* headers, const char* name) noexcept {
    if (headers == nullptr) {
        return nullptr;
    }
    return static_cast<const htp_header_t*>(htp_table_get_c(headers, name));
}

std::span<const uint8_t> header_value(const htp_table_t* headers, const char* name) noexcept {
    const htp_header_t* h = header(headers, name);
    return h == nullptr ? std::span<const uint8_t>{} : view(h->value);
}

bool equals_nocase(std::span<const uint8_t> a, std::string_view b) noexcept {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](uint8_t x, char y) {
               return std::tolower(x) == std::tolower(static_cast<unsigned char>(y));
           });
}

void append(std::string& out, std::span<const uint8_t> bytes) {
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// Suricata's http.header: "Name: value\r\n" per header, cookies left out (they have their own
// buffer), no final empty line.
void build_headers(const htp_table_t* headers, std::string_view skip, std::string& out) {
    out.clear();
    if (headers == nullptr) {
        return;
    }
    const size_t n = htp_table_size(headers);
    for (size_t i = 0; i < n; ++i) {
        const auto* h = static_cast<const htp_header_t*>(htp_table_get_index(headers, i, nullptr));
        if (h == nullptr || equals_nocase(view(h->name), skip)) {
            continue;
        }
        append(out, view(h->name));
        out.append(": ");
        append(out, view(h->value));
        out.append("\r\n");
    }
}

// Suricata's http.header_names: "\r\n", then "Name\r\n" per header, then "\r\n"; empty
// without headers.
void build_header_names(const htp_table_t* headers, std::string& out) {
    out.clear();
    const size_t n = headers == nullptr ? 0 : htp_table_size(headers);
    if (n == 0) {
        return;
    }
    out.append("\r\n");
    for (size_t i = 0; i < n; ++i) {
        const auto* h = static_cast<const htp_header_t*>(htp_table_get_index(headers, i, nullptr));
        if (h != nullptr) {
            append(out, view(h->name));
            out.append("\r\n");
        }
    }
    out.append("\r\n");
}

// Suricata's http.start: the request or status line and every header (cookies included),
// each followed by "\r\n", and a final "\r\n" when there are headers.
void build_start(const bstr* line, const htp_table_t* headers, std::string& out) {
    out.clear();
    if (line == nullptr || headers == nullptr) {
        return;
    }
    append(out, view(line));
    out.append("\r\n");
    const size_t n = htp_table_size(headers);
    for (size_t i = 0; i < n; ++i) {
        const auto* h = static_cast<const htp_header_t*>(htp_table_get_index(headers, i, nullptr));
        if (h == nullptr) {
            continue;
        }
        append(out, view(h->name));
        out.append(": ");
        append(out, view(h->value));
        out.append("\r\n");
    }
    if (n > 0) {
        out.append("\r\n");
    }
}

// A host name or an IP literal: letters, digits, '-', '_' and '.', or "[...]". libhtp keeps
// whatever stands in the URI's authority (CONNECT's "/" included) and only flags it.
bool valid_host_name(std::span<const uint8_t> host) noexcept {
    if (host.empty() || host.size() > 255) {
        return false;
    }
    if (host.front() == '[') {
        return host.size() > 2 && host.back() == ']';
    }
    return std::all_of(host.begin(), host.end(), [](uint8_t c) {
        return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.';
    });
}

// The host part of a Host header value ("Example.com:8080" -> "Example.com", "[::1]:80" ->
// "[::1]"), spaces trimmed; null when there is no header.
std::span<const uint8_t> host_of_authority(std::span<const uint8_t> value) noexcept {
    if (value.data() == nullptr) {
        return {};
    }
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
        value = value.subspan(1);
    }
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
        value = value.first(value.size() - 1);
    }
    const uint8_t end_char = !value.empty() && value.front() == '[' ? ']' : ':';
    const auto end = std::find(value.begin(), value.end(), end_char);
    const auto length = static_cast<size_t>(end - value.begin());
    if (end_char == ']') {
        return end == value.end() ? value : value.first(length + 1);
    }
    return value.first(length);
}

// The headers fill() reads. kHeaderNames holds their names in this order, lower case (and
// NUL-terminated: they are string literals).
enum class Header : uint8_t {
    kHost,
    kUserAgent,
    kReferer,
    kAccept,
    kAcceptEncoding,
    kAcceptLanguage,
    kConnection,
    kCookie,
    kSetCookie,
    kContentType,
    kContentLength,
    kLocation,
    kServer,
    kCount,
};
constexpr std::array<std::string_view, static_cast<size_t>(Header::kCount)> kHeaderNames = {
    "host",       "user-agent", "referer",    "accept",       "accept-encoding", "accept-language",
    "connection", "cookie",     "set-cookie", "content-type", "content-length",  "location",
    "server"};

htp_time_t to_timeval(int64_t ts_us) noexcept {
    htp_time_t tv{};
    tv.tv_sec = static_cast<time_t>(ts_us / 1'000'000);
    tv.tv_usec = static_cast<suseconds_t>(ts_us % 1'000'000);
    return tv;
}

HttpSession* session_of(const htp_tx_t* tx) noexcept {
    return static_cast<HttpSession*>(htp_connp_get_user_data(tx->connp));
}

bool finished(const htp_tx_t* tx) noexcept {
    return tx->request_progress == HTP_REQUEST_COMPLETE &&
           tx->response_progress == HTP_RESPONSE_COMPLETE;
}

}  // namespace

// ---- HttpEngine ----

HttpEngine::HttpEngine(const HttpConfig& config) : config_(config) {
    // Before libhtp's first allocation. A failure leaves libhtp on malloc; the sensor installs
    // the pool itself first so that it can log why (this call then returns that result).
    if (config.parser_pool_bytes > 0) {
        (void)install_htp_heap(config.parser_pool_bytes);
    }
    cfg_ = htp_config_create();
    SENSOR_CHECK(cfg_ != nullptr, "libhtp configuration not allocated");
    // As Suricata's HTPConfigure() with the default-config of suricata.yaml: personality IDS,
    // but paths keep their case (rules do not expect lower-cased URIs).
    SENSOR_CHECK(htp_config_set_server_personality(cfg_, HTP_SERVER_IDS) == HTP_OK,
                 "libhtp personality IDS refused");
    htp_config_set_convert_lowercase(cfg_, HTP_DECODER_URL_PATH, 0);
    htp_config_set_parse_request_cookies(cfg_, 0);
    htp_config_set_plusspace_decode(cfg_, HTP_DECODER_URLENCODED, 0);
    htp_config_set_request_decompression(cfg_, 1);
    htp_config_set_response_decompression_layer_limit(cfg_, config.response_decompress_layer_limit);
    htp_config_set_lzma_layers(cfg_, 0);
    htp_config_set_lzma_memlimit(cfg_, kLzmaMemlimit);
    htp_config_set_compression_bomb_limit(cfg_, kCompressionBombLimit);
    htp_config_set_compression_time_limit(cfg_, kCompressionTimeLimitUs);
    htp_config_set_field_limits(cfg_, std::min<size_t>(kFieldLimitSoft, config.field_limit),
                                config.field_limit);
    // libhtp would keep every log message in a per-connection list; we count errors instead.
    htp_config_set_log_level(cfg_, HTP_LOG_NONE);
    // Finished transactions are freed by the session when their views are no longer needed.
    htp_config_set_tx_auto_destroy(cfg_, 0);

    htp_config_register_request_line(cfg_, &HttpSession::on_request_line);
    htp_config_register_request_header_data(cfg_, &HttpSession::on_request_header_data);
    htp_config_register_request_headers(cfg_, &HttpSession::on_request_headers);
    htp_config_register_request_body_data(cfg_, &HttpSession::on_request_body);
    htp_config_register_request_complete(cfg_, &HttpSession::on_request_complete);
    htp_config_register_response_header_data(cfg_, &HttpSession::on_response_header_data);
    htp_config_register_response_headers(cfg_, &HttpSession::on_response_headers);
    htp_config_register_response_body_data(cfg_, &HttpSession::on_response_body);
    htp_config_register_response_complete(cfg_, &HttpSession::on_response_complete);

    scratch_.uri.reserve(kScratchReserve);
    scratch_.host.reserve(256);
    scratch_.header.reserve(kScratchReserve);
    scratch_.header_names.reserve(kScratchReserve);
    scratch_.start.reserve(kScratchReserve);
    scratch_.decode = bstr_alloc(0);
    SENSOR_CHECK(scratch_.decode != nullptr, "libhtp bstr not allocated");
}

HttpEngine::~HttpEngine() {
    bstr_free(scratch_.decode);
    htp_config_destroy(cfg_);
}

// ---- HttpSession ----

HttpSession::HttpSession(HttpEngine& engine, AppLayerStats& stats, MemoryBudget& budget)
    : engine_(engine), stats_(stats), budget_(budget) {}

std::unique_ptr<HttpSession> HttpSession::create(HttpEngine& engine, AppLayerStats& stats,
                                                 MemoryBudget& budget, uint16_t client_port,
                                                 uint16_t server_port, int64_t ts_us) {
    std::unique_ptr<HttpSession> s(new (std::nothrow) HttpSession(engine, stats, budget));
    if (s == nullptr || !s->reopen(client_port, server_port, ts_us)) {
        return nullptr;
    }
    return s;
}

HttpSession::~HttpSession() {
    if (connp_ != nullptr) {
        htp_connp_destroy_all(connp_);
    }
    budget_.refund(charged_);
}

size_t HttpSession::buffer_bytes() const noexcept {
    size_t bytes = 0;
    for (size_t side = 0; side < 2; ++side) {
        bytes += bodies_[side].data.capacity() + raw_headers_[side].data.capacity();
    }
    return bytes;
}

void HttpSession::recycle() noexcept {
    if (connp_ != nullptr) {
        htp_connp_destroy_all(connp_);  // frees every transaction the events point to
        connp_ = nullptr;
    }
    events_ = {};
    event_count_ = {};
    reported_ = {};
    first_live_tx_ = 0;
    // A buffer grown past the kept size is freed (a large body must not stay held by an idle
    // session); the smaller ones are kept, uncharged, for the next flow.
    auto keep = [](std::vector<uint8_t>& v) {
        v.clear();
        if (v.capacity() > kKeptBufferBytes) {
            std::vector<uint8_t>().swap(v);
        }
    };
    for (Body& b : bodies_) {
        keep(b.data);
        b.tx_index = SIZE_MAX;
        b.exposed = 0;
        b.ready = false;
        b.truncated = false;
    }
    for (RawHeaders& r : raw_headers_) {
        keep(r.data);
        r.tx_index = SIZE_MAX;
    }
    budget_.refund(charged_);
    charged_ = 0;
}

bool HttpSession::reopen(uint16_t client_port, uint16_t server_port, int64_t ts_us) noexcept {
    const size_t kept = buffer_bytes();
    if (kept > 0 && budget_.charge(kept)) {
        charged_ = kept;
    } else if (kept > 0) {
        for (Body& b : bodies_) {
            std::vector<uint8_t>().swap(b.data);
        }
        for (RawHeaders& r : raw_headers_) {
            std::vector<uint8_t>().swap(r.data);
        }
    }
    connp_ = htp_connp_create(engine_.cfg());
    if (connp_ == nullptr) {
        return false;
    }
    htp_connp_set_user_data(connp_, this);
    htp_time_t tv = to_timeval(ts_us);
    htp_connp_open(connp_, nullptr, client_port, nullptr, server_port, &tv);
    return true;
}

void HttpSession::begin_packet() noexcept {
    forget_reported(0);
    forget_reported(1);
    free_finished_transactions();
}

void HttpSession::forget_reported(size_t side) noexcept {
    if (reported_[side]) {
        event_count_[side] = 0;
        reported_[side] = false;
    }
}

bool HttpSession::has_event(const htp_tx_t* tx) const noexcept {
    for (size_t side = 0; side < 2; ++side) {
        for (size_t i = 0; i < event_count_[side]; ++i) {
            if (events_[side][i].tx == tx) {
                return true;
            }
        }
    }
    return false;
}

void HttpSession::free_finished_transactions() noexcept {
    htp_conn_t* conn = htp_connp_get_connection(connp_);
    if (conn == nullptr || conn->transactions == nullptr) {
        return;
    }
    // libhtp still points at its current transactions; freeing those would leave it dangling.
    const htp_tx_t* in = htp_connp_get_in_tx(connp_);
    const htp_tx_t* out = htp_connp_get_out_tx(connp_);
    const size_t n = htp_list_size(conn->transactions);
    size_t waiting = 0;
    bool prefix = true;
    for (size_t i = first_live_tx_; i < n; ++i) {
        auto* tx = static_cast<htp_tx_t*>(htp_list_get(conn->transactions, i));
        if (tx != nullptr && finished(tx) && tx != in && tx != out && !has_event(tx) &&
            htp_tx_destroy(tx) == HTP_OK) {
            tx = nullptr;
        }
        if (tx == nullptr) {
            if (prefix) {
                first_live_tx_ = i + 1;
            }
            continue;
        }
        prefix = false;
        ++waiting;
    }
    const size_t cap = engine_.config().max_waiting_transactions;
    for (size_t i = first_live_tx_; i < n && waiting > cap; ++i) {
        auto* tx = static_cast<htp_tx_t*>(htp_list_get(conn->transactions, i));
        if (tx == nullptr || tx == in || tx == out || has_event(tx)) {
            continue;
        }
        // libhtp refuses to free unfinished transactions; Suricata marks them complete first.
        tx->request_progress = HTP_REQUEST_COMPLETE;
        tx->response_progress = HTP_RESPONSE_COMPLETE;
        if (htp_tx_destroy(tx) == HTP_OK) {
            stats_.http_transactions_forced_free.add();
            --waiting;
        }
    }
}

HttpSession::Feed HttpSession::feed(bool to_server, std::span<const uint8_t> data,
                                    int64_t ts_us) noexcept {
    htp_time_t tv = to_timeval(ts_us);
    const int rc = to_server ? htp_connp_req_data(connp_, &tv, data.data(), data.size())
                             : htp_connp_res_data(connp_, &tv, data.data(), data.size());
    switch (rc) {
        case HTP_STREAM_ERROR:
            return Feed::kError;
        case HTP_STREAM_TUNNEL:
        case HTP_STREAM_DATA_OTHER:
        case HTP_STREAM_STOP:
        case HTP_STREAM_CLOSED:
            return Feed::kStop;
        default:
            return Feed::kOk;
    }
}

void HttpSession::close(int64_t ts_us) noexcept {
    htp_time_t tv = to_timeval(ts_us);
    htp_connp_close(connp_, &tv);
}

void HttpSession::note(htp_tx_t* tx, uint8_t update) noexcept {
    const size_t side = (update & (kResponseHeaders | kResponseBody)) != 0 ? 1 : 0;
    forget_reported(side);
    auto& events = events_[side];
    size_t& count = event_count_[side];
    for (size_t i = 0; i < count; ++i) {
        if (events[i].tx == tx) {
            events[i].updates = static_cast<uint8_t>(events[i].updates | update);
            return;
        }
    }
    if (count == kMaxEvents) {
        stats_.http_updates_dropped.add();
        return;
    }
    events[count++] = Event{tx, update};
}

void HttpSession::on_body(bool request, htp_tx_data_t* d) noexcept {
    if (d->data == nullptr || d->len == 0) {
        return;  // libhtp signals the end of a body with an empty chunk
    }
    const HttpConfig& cfg = engine_.config();
    const size_t limit = request ? cfg.request_body_limit : cfg.response_body_limit;
    const size_t window =
        request ? cfg.request_body_inspect_window : cfg.response_body_inspect_window;
    Body& b = bodies_[request ? 0 : 1];
    if (b.tx_index != d->tx->index) {
        if (b.ready) {
            stats_.http_updates_dropped.add();  // the previous body was never offered
        }
        b.data.clear();
        b.tx_index = d->tx->index;
        b.exposed = 0;
        b.ready = false;
        b.truncated = false;
    }
    size_t take = std::min(d->len, limit - std::min(limit, b.data.size()));
    if (!reserve_charged(b.data, b.data.size() + take, limit)) {
        take = b.data.capacity() - b.data.size();  // memory cap: keep what fits
    }
    b.data.insert(b.data.end(), d->data, d->data + take);
    if (take < d->len) {
        stats_.http_body_bytes_truncated.add(d->len - take);
        if (!b.truncated) {
            b.truncated = true;
            b.ready = true;  // offer what we kept once
        }
    }
    if (b.data.size() - b.exposed >= window && b.data.size() > b.exposed) {
        b.ready = true;
    }
    if (b.ready) {
        note(d->tx, request ? kRequestBody : kResponseBody);
    }
}

bool HttpSession::reserve_charged(std::vector<uint8_t>& v, size_t need, size_t limit) noexcept {
    if (need <= v.capacity()) {
        return true;
    }
    const size_t want = std::min(limit, std::max({need, 2 * v.capacity(), kMinBodyCapacity}));
    const size_t before = v.capacity();
    if (!budget_.charge(want - before)) {
        return false;
    }
    v.reserve(want);
    charged_ += want - before;
    return true;
}

void HttpSession::on_header_data(bool request, htp_tx_data_t* d) noexcept {
    RawHeaders& r = raw_headers_[request ? 0 : 1];
    if (r.tx_index != d->tx->index) {
        r.data.clear();
        r.tx_index = d->tx->index;
    }
    if (d->data == nullptr || d->len == 0) {
        return;
    }
    size_t take = std::min(d->len, kRawHeaderLimit - std::min(kRawHeaderLimit, r.data.size()));
    if (!reserve_charged(r.data, r.data.size() + take, kRawHeaderLimit)) {
        take = r.data.capacity() - r.data.size();
    }
    r.data.insert(r.data.end(), d->data, d->data + take);
}

void HttpSession::on_complete(bool request, htp_tx_t* tx) noexcept {
    Body& b = bodies_[request ? 0 : 1];
    if (b.tx_index == tx->index && b.data.size() > b.exposed) {
        b.ready = true;
        note(tx, request ? kRequestBody : kResponseBody);
    }
}

std::span<const uint8_t> HttpSession::take_body(bool request, const htp_tx_t* tx) noexcept {
    Body& b = bodies_[request ? 0 : 1];
    if (!b.ready || b.tx_index != tx->index) {
        return {};
    }
    b.ready = false;
    b.exposed = b.data.size();
    return {b.data.data(), b.data.size()};
}

// Each header fill() reads, as htp_table_get_c finds it (the first whose name libhtp's
// bstr_cmp_c_nocasenorzero equates with ours), found in one pass over the table: a dozen
// htp_table_get_c calls per transaction event each walked the whole table. A name is only
// compared with ours that start with its first letter (its first byte that is not NUL, the
// one that comparison starts with) and, when it holds no NUL byte (which that comparison
// skips), have its length; so the result is the same.
class HttpSession::HeaderLookup {
public:
    explicit HeaderLookup(const htp_table_t* headers) noexcept {
        const size_t n = headers == nullptr ? 0 : htp_table_size(headers);
        for (size_t i = 0; i < n; ++i) {
            bstr* key = nullptr;
            const auto* h = static_cast<const htp_header_t*>(htp_table_get_index(headers, i, &key));
            const std::span<const uint8_t> name = view(key);
            const auto lead =
                std::find_if(name.begin(), name.end(), [](uint8_t c) { return c != 0; });
            if (lead == name.end()) {
                continue;  // no name of ours is empty
            }
            const int first = std::tolower(*lead);
            const bool any_nul =
                lead != name.begin() || std::find(lead, name.end(), 0) != name.end();
            for (size_t k = 0; k < kHeaderNames.size(); ++k) {
                if (!decided_[k] && kHeaderNames[k][0] == first &&
                    (any_nul || name.size() == kHeaderNames[k].size()) &&
                    bstr_cmp_c_nocasenorzero(key, kHeaderNames[k].data()) == 0) {
                    decided_[k] = true;
                    found_[k] = h;
                }
            }
        }
    }
    std::span<const uint8_t> value(Header which) const noexcept {
        const htp_header_t* h = found_[static_cast<size_t>(which)];
        return h == nullptr ? std::span<const uint8_t>{} : view(h->value);
    }

private:
    std::array<const htp_header_t*, kHeaderNames.size()> found_{};
    std::array<bool, kHeaderNames.size()> decided_{};
};

void HttpSession::fill_headers_of_direction(const bstr_t* line, const htp_table_t* headers,
                                            const HeaderLookup& found, bool request,
                                            size_t tx_index, core::AppBuffers& out) noexcept {
    using core::BufferKind;
    HttpEngine::Scratch& s = engine_.scratch();
    build_header_names(headers, s.header_names);
    out.set(BufferKind::kHttpHeaderNames, view(s.header_names));
    build_start(line, headers, s.start);
    out.set(BufferKind::kHttpStart, view(s.start));
    out.set(BufferKind::kHttpContentType, found.value(Header::kContentType));
    out.set(BufferKind::kHttpContentLen, found.value(Header::kContentLength));
    const RawHeaders& raw = raw_headers_[request ? 0 : 1];
    if (raw.tx_index == tx_index) {
        out.set(BufferKind::kHttpHeaderRaw, {raw.data.data(), raw.data.size()});
    }
}

void HttpSession::fill(size_t event, bool to_server, core::AppBuffers& out) noexcept {
    using core::BufferKind;
    const Event& ev = events_[to_server ? 0 : 1][event];
    htp_tx_t* tx = ev.tx;
    HttpEngine::Scratch& s = engine_.scratch();
    const uintptr_t progress = seen(tx);
    out.transaction_id = uint64_t{tx->index} + 1;

    if ((progress & kSeenLine) != 0) {
        out.set(BufferKind::kHttpRequestLine, view(tx->request_line));
        if (to_server) {
            out.set(BufferKind::kHttpProtocol, view(tx->request_protocol));
        }
        out.set(BufferKind::kHttpMethod, view(tx->request_method));
        out.set(BufferKind::kHttpUriRaw, view(tx->request_uri));
        // Suricata's normalized URI: libhtp's normalized path, then the query URL-decoded
        // (HTP_DECODER_URLENCODED), then the fragment.
        const htp_uri_t* u = tx->parsed_uri;
        if (u != nullptr) {
            s.uri.clear();
            if (engine_.config().uri_include_all) {
                if (u->scheme != nullptr) {
                    append(s.uri, view(u->scheme));
                    s.uri.append("://");
                }
                if (u->username != nullptr || u->password != nullptr) {
                    append(s.uri, view(u->username));
                    s.uri.push_back(':');
                    append(s.uri, view(u->password));
                    s.uri.push_back('@');
                }
                append(s.uri, view(u->hostname));
                if (u->port != nullptr) {
                    s.uri.push_back(':');
                    append(s.uri, view(u->port));
                }
            }
            append(s.uri, view(u->path));
            if (u->query != nullptr) {
                s.uri.push_back('?');
                const size_t start = s.uri.size();
                append(s.uri, view(u->query));
                const size_t len = s.uri.size() - start;
                bstr* b = s.decode;
                bstr_adjust_realptr(b, s.uri.data() + start);
                bstr_adjust_size(b, len);
                bstr_adjust_len(b, len);
                uint64_t flags = 0;
                htp_urldecode_inplace(engine_.cfg(), HTP_DECODER_URLENCODED, b, &flags);
                s.uri.resize(start + std::min(len, b->len));
                bstr_adjust_realptr(b, nullptr);
                bstr_adjust_size(b, 0);
                bstr_adjust_len(b, 0);
            }
            if (u->fragment != nullptr) {
                s.uri.push_back('#');
                append(s.uri, view(u->fragment));
            }
            out.set(BufferKind::kHttpUri, view(s.uri));
        }
    }
    if ((progress & kSeenRequestHeaders) != 0) {
        const HeaderLookup req(tx->request_headers);
        // libhtp's request_hostname: from the absolute URI or the Host header, port removed.
        // A URI "host" that is no host name (CONNECT's "/") names nothing: as when the URI
        // has no host, the Host header's stands instead, and without one there is no host.
        std::span<const uint8_t> host = view(tx->request_hostname);
        const bool uri_has_host =
            tx->parsed_uri_raw != nullptr && tx->parsed_uri_raw->hostname != nullptr;
        const bool uri_host = uri_has_host && valid_host_name(view(tx->parsed_uri_raw->hostname));
        if (uri_has_host && !uri_host) {
            host = host_of_authority(req.value(Header::kHost));
        }
        s.host.clear();
        for (uint8_t c : host) {
            s.host.push_back(static_cast<char>(std::tolower(c)));
        }
        out.set(BufferKind::kHttpHost, view(s.host));
        out.set(BufferKind::kHttpHostRaw,
                uri_host ? view(tx->parsed_uri_raw->hostname) : req.value(Header::kHost));
        out.set(BufferKind::kHttpUserAgent, req.value(Header::kUserAgent));
        // Request-only headers (Suricata registers these keywords to server only).
        out.set(BufferKind::kHttpReferer, req.value(Header::kReferer));
        out.set(BufferKind::kHttpAccept, req.value(Header::kAccept));
        out.set(BufferKind::kHttpAcceptEnc, req.value(Header::kAcceptEncoding));
        out.set(BufferKind::kHttpAcceptLang, req.value(Header::kAcceptLanguage));
        out.set(BufferKind::kHttpConnection, req.value(Header::kConnection));
        if (to_server) {
            build_headers(tx->request_headers, "cookie", s.header);
            out.set(BufferKind::kHttpHeader, view(s.header));
            out.set(BufferKind::kHttpCookie, req.value(Header::kCookie));
            fill_headers_of_direction(tx->request_line, tx->request_headers, req, true, tx->index,
                                      out);
        }
    }
    // Response views belong to the response side only (Suricata registers them to client):
    // a request inspected after its response was parsed does not show them.
    if (!to_server && (progress & kSeenResponseHeaders) != 0) {
        out.set(BufferKind::kHttpStatCode, view(tx->response_status));
        out.set(BufferKind::kHttpResponseLine, view(tx->response_line));
        out.set(BufferKind::kHttpStatMsg, view(tx->response_message));
        const htp_table_t* res = tx->response_headers;
        const HeaderLookup found(res);
        out.set(BufferKind::kHttpLocation, found.value(Header::kLocation));
        out.set(BufferKind::kHttpServer, found.value(Header::kServer));
        build_headers(res, "set-cookie", s.header);
        out.set(BufferKind::kHttpHeader, view(s.header));
        out.set(BufferKind::kHttpCookie, found.value(Header::kSetCookie));
        out.set(BufferKind::kHttpProtocol, view(tx->response_protocol));
        fill_headers_of_direction(tx->response_line, res, found, false, tx->index, out);
    }
    if ((ev.updates & kRequestBody) != 0) {
        out.set(BufferKind::kHttpRequestBody, take_body(true, tx));
    }
    if ((ev.updates & kResponseBody) != 0) {
        out.set(BufferKind::kHttpResponseBody, take_body(false, tx));
    }
}

bool HttpSession::describe(size_t tx_index, core::HttpRecord& out) const {
    const htp_conn_t* conn = htp_connp_get_connection(connp_);
    if (conn == nullptr || conn->transactions == nullptr ||
        tx_index >= htp_list_size(conn->transactions)) {
        return false;
    }
    const auto* tx = static_cast<const htp_tx_t*>(htp_list_get(conn->transactions, tx_index));
    if (tx == nullptr) {
        return false;  // freed once finished and inspected
    }
    using Field = core::HttpRecord;
    Field::assign(out.hostname, view(tx->request_hostname));
    out.http_port = tx->request_port_number >= 0 ? tx->request_port_number : -1;
    Field::assign(out.url, view(tx->request_uri));
    Field::assign(out.user_agent, header_value(tx->request_headers, "user-agent"));
    Field::assign(out.xff, header_value(tx->request_headers, "x-forwarded-for"));
    std::span<const uint8_t> type = header_value(tx->response_headers, "content-type");
    type = type.first(static_cast<size_t>(std::find(type.begin(), type.end(), ';') - type.begin()));
    Field::assign(out.content_type, type);
    Field::assign(out.refer, header_value(tx->request_headers, "referer"));
    Field::assign(out.method, view(tx->request_method));
    Field::assign(out.protocol, view(tx->request_protocol));
    out.status = -1;
    out.redirect.clear();
    if (tx->response_status != nullptr) {
        // As Suricata: the leading digits of the status text, 0 when there are none.
        int32_t status = 0;
        for (uint8_t c : view(tx->response_status)) {
            if (c < '0' || c > '9' || status > 99999) {
                break;
            }
            status = status * 10 + (c - '0');
        }
        out.status = status;
        Field::assign(out.redirect, header_value(tx->response_headers, "location"));
    }
    out.length = tx->response_message_len > 0 ? static_cast<uint64_t>(tx->response_message_len) : 0;
    return true;
}

// ---- libhtp callbacks ----

int HttpSession::on_request_line(htp_tx_t* tx) {
    mark_seen(tx, kSeenLine);
    HttpSession* s = session_of(tx);
    s->stats_.http_transactions.add();
    s->note(tx, kRequestLine);
    return HTP_OK;
}

int HttpSession::on_request_header_data(htp_tx_data_t* d) {
    if (d->tx != nullptr) {
        session_of(d->tx)->on_header_data(true, d);
    }
    return HTP_OK;
}

int HttpSession::on_request_headers(htp_tx_t* tx) {
    mark_seen(tx, kSeenRequestHeaders);
    session_of(tx)->note(tx, kRequestHeaders);
    return HTP_OK;
}

int HttpSession::on_request_body(htp_tx_data_t* d) {
    if (d->tx != nullptr) {
        session_of(d->tx)->on_body(true, d);
    }
    return HTP_OK;
}

int HttpSession::on_request_complete(htp_tx_t* tx) {
    session_of(tx)->on_complete(true, tx);
    return HTP_OK;
}

int HttpSession::on_response_header_data(htp_tx_data_t* d) {
    if (d->tx != nullptr) {
        session_of(d->tx)->on_header_data(false, d);
    }
    return HTP_OK;
}

int HttpSession::on_response_headers(htp_tx_t* tx) {
    mark_seen(tx, kSeenResponseHeaders);
    session_of(tx)->note(tx, kResponseHeaders);
    return HTP_OK;
}

int HttpSession::on_response_body(htp_tx_data_t* d) {
    if (d->tx != nullptr) {
        session_of(d->tx)->on_body(false, d);
    }
    return HTP_OK;
}

int HttpSession::on_response_complete(htp_tx_t* tx) {
    session_of(tx)->on_complete(false, tx);
    return HTP_OK;
}

}  // namespace sensor::applayer
