#pragma once
// AppInfo: what classification learned about a flow. Lives inside the flow slot; written
// only by the owning worker's classifier (tls_version: its app layer), read by detection and
// by flow-record output.

#include <cstdint>

namespace sensor::core {

enum class ClassifyState : uint8_t {
    kPending,     // still feeding packets to the classifier
    kClassified,  // a protocol was found
    kGaveUp,      // packet budget spent or flow ended; best guess recorded
};

struct AppInfo {
    uint16_t master_protocol = 0;  // classifier protocol ids (nDPI's); 0 = unknown
    uint16_t app_protocol = 0;
    uint16_t category = 0;
    ClassifyState state = ClassifyState::kPending;
    uint16_t packets_inspected = 0;
    // TLS version of each side's hello ([0] client, [1] server), as Suricata's tls.version
    // reads it (applayer::hello_version: supported_versions first); 0 unknown.
    uint16_t tls_version[2] = {0, 0};
    uint64_t risk = 0;        // nDPI flow-risk bitmap
    char host[64] = {};       // HTTP Host, TLS SNI or DNS query name, NUL-terminated, truncated
    char ja3[33] = {};        // JA3 client hash (hex), empty when not seen
    char app_proto[16] = {};  // EVE app_proto ("http", "tls", ...) once classified
    void* classifier_state = nullptr;  // owned by the classifier; freed once not pending
};

}  // namespace sensor::core
