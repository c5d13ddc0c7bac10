#pragma once
// AppLayerStats: counters of one worker's app layer (HTTP, DNS, TLS). Single writer: the
// owning worker; metrics read them without locks.

#include <iterator>

#include "sensor/core/counter.h"

namespace sensor::applayer {

struct AppLayerStats {
    core::Counter http_parsers_created;
    core::Counter http_sessions_reused;
    core::Counter http_parsers_refused;
    core::Counter http_parsers_active;  // gauge
    core::Counter http_transactions;
    core::Counter http_parse_errors;
    core::Counter http_stopped;
    core::Counter http_body_bytes_truncated;
    core::Counter http_updates_dropped;
    core::Counter http_transactions_forced_free;
    core::Counter stream_gaps;
    core::Counter memcap_refused;
    core::Counter dns_queries;
    core::Counter dns_responses;
    core::Counter dns_parse_errors;
    core::Counter tls_client_hellos;
    core::Counter tls_hellos_reassembled;
    core::Counter tls_parse_errors;
    core::Counter tls_without_hello;
    core::Counter memory_bytes;  // gauge
};

inline constexpr core::CounterSpec<AppLayerStats> kAppLayerCounters[] = {
    {&AppLayerStats::http_parsers_created, "sensor_applayer_http_parsers_created_total",
     "HTTP flows given a libhtp connection parser"},
    {&AppLayerStats::http_sessions_reused, "sensor_applayer_http_sessions_reused_total",
     "HTTP flows whose session (object and buffers) was an ended flow's, not allocated"},
    {&AppLayerStats::http_parsers_refused, "sensor_applayer_http_parsers_refused_total",
     "HTTP flows left unparsed because the parser count or memory cap was reached"},
    {&AppLayerStats::http_parsers_active, "sensor_applayer_http_parsers_active",
     "libhtp connection parsers alive now"},
    {&AppLayerStats::http_transactions, "sensor_applayer_http_transactions_total",
     "HTTP transactions (request lines parsed)"},
    {&AppLayerStats::http_parse_errors, "sensor_applayer_http_parse_errors_total",
     "HTTP flows abandoned after a libhtp parse error"},
    {&AppLayerStats::http_stopped, "sensor_applayer_http_stopped_total",
     "HTTP flows no longer parsed: CONNECT tunnel or data libhtp cannot take yet"},
    {&AppLayerStats::http_body_bytes_truncated, "sensor_applayer_http_body_bytes_truncated_total",
     "HTTP body bytes past the body limit or the memory cap, not inspected"},
    {&AppLayerStats::http_updates_dropped, "sensor_applayer_http_updates_dropped_total",
     "HTTP transaction updates not exposed (too many in one packet, or a body buffer reused "
     "before inspection)"},
    {&AppLayerStats::http_transactions_forced_free,
     "sensor_applayer_http_transactions_forced_free_total",
     "HTTP transactions freed unfinished because too many were waiting for a response"},
    {&AppLayerStats::stream_gaps, "sensor_applayer_stream_gaps_total",
     "HTTP or TLS flows abandoned at a gap in the TCP sequence"},
    {&AppLayerStats::memcap_refused, "sensor_applayer_memcap_refused_total",
     "DNS or TLS flows left unparsed because the memory cap was reached"},
    {&AppLayerStats::dns_queries, "sensor_applayer_dns_queries_total",
     "DNS queries parsed (dns.query exposed)"},
    {&AppLayerStats::dns_responses, "sensor_applayer_dns_responses_total", "DNS responses parsed"},
    {&AppLayerStats::dns_parse_errors, "sensor_applayer_dns_parse_errors_total",
     "DNS messages not parsed: malformed, or split over TCP segments"},
    {&AppLayerStats::tls_client_hellos, "sensor_applayer_tls_client_hellos_total",
     "TLS ClientHellos parsed (tls.sni and ja3.hash exposed)"},
    {&AppLayerStats::tls_hellos_reassembled, "sensor_applayer_tls_hellos_reassembled_total",
     "TLS ClientHellos rebuilt from several records or segments"},
    {&AppLayerStats::tls_parse_errors, "sensor_applayer_tls_parse_errors_total",
     "TLS handshake messages (ClientHello, ServerHello, Certificate) malformed or larger than "
     "the reassembly cap, or a server stream that is not TLS"},
    {&AppLayerStats::tls_without_hello, "sensor_applayer_tls_without_hello_total",
     "TLS flows whose client stream did not start with a ClientHello"},
    {&AppLayerStats::memory_bytes, "sensor_applayer_memory_bytes",
     "Bytes held by app-layer flow state (libhtp parsers counted by estimate)"},
};
static_assert(sizeof(AppLayerStats) == std::size(kAppLayerCounters) * sizeof(core::Counter),
              "register every AppLayerStats counter in kAppLayerCounters");

}  // namespace sensor::applayer
