#include "sensor/detect/detector.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "sensor/core/check.h"

namespace sensor::detect {

namespace {

constexpr std::array<uint8_t, 256> kFold = [] {
    std::array<uint8_t, 256> t{};
    for (size_t i = 0; i < t.size(); ++i) {
        t[i] = static_cast<uint8_t>(i >= 'A' && i <= 'Z' ? i + ('a' - 'A') : i);
    }
    return t;
}();

bool contains(std::span<const uint8_t> hay, const std::string& needle, bool nocase) noexcept {
    if (needle.empty() || needle.size() > hay.size()) {
        return false;
    }
    if (!nocase) {
        return memmem(hay.data(), hay.size(), needle.data(), needle.size()) != nullptr;
    }
    const auto* n = reinterpret_cast<const uint8_t*>(needle.data());
    const size_t last = hay.size() - needle.size();
    const uint8_t first = kFold[n[0]];
    for (size_t i = 0; i <= last; ++i) {
        if (kFold[hay[i]] != first) {
            continue;
        }
        size_t j = 1;
        while (j < needle.size() && kFold[hay[i + j]] == kFold[n[j]]) {
            ++j;
        }
        if (j == needle.size()) {
            return true;
        }
    }
    return false;
}

bool proto_matches(const rules::Rule& rule, uint8_t ip_proto, std::string_view app_proto) noexcept {
    switch (rule.proto) {
        case rules::Protocol::kIp:
            return true;
        case rules::Protocol::kTcp:
            return ip_proto == decode::kIpProtoTcp;
        case rules::Protocol::kUdp:
            return ip_proto == decode::kIpProtoUdp;
        case rules::Protocol::kIcmp:
            return ip_proto == decode::kIpProtoIcmp || ip_proto == decode::kIpProtoIcmpv6;
        case rules::Protocol::kApp:
            return (ip_proto == decode::kIpProtoTcp || ip_proto == decode::kIpProtoUdp) &&
                   app_proto == rule.app_proto;
    }
    return false;
}

bool header_matches(const rules::Rule& rule, const decode::DecodedPacket& pkt) noexcept {
    if (rule.src.matches(pkt.src) && rule.src_port.matches(pkt.src_port) &&
        rule.dst.matches(pkt.dst) && rule.dst_port.matches(pkt.dst_port)) {
        return true;
    }
    return rule.bidirectional && rule.src.matches(pkt.dst) && rule.src_port.matches(pkt.dst_port) &&
           rule.dst.matches(pkt.src) && rule.dst_port.matches(pkt.src_port);
}

}  // namespace

Detector::Detector(std::shared_ptr<const SignatureDb> db)
    : db_(std::move(db)), buffer_(std::make_unique<uint8_t[]>(kMaxPrefix + kMaxPayload)) {
    SENSOR_CHECK(db_ != nullptr, "detector needs a signature db");
    hits_.reserve(db_->size());
    hit_flag_.assign(db_->size(), 0);
    if (const hs_database_t* hdb = db_->compiled().database(); hdb != nullptr) {
        hs_error_t rc = hs_alloc_scratch(hdb, &scratch_);
        SENSOR_CHECK(rc == HS_SUCCESS, "hs_alloc_scratch failed");
    }
}

Detector::~Detector() {
    if (scratch_ != nullptr) {
        hs_free_scratch(scratch_);
    }
}

int Detector::on_match(unsigned int id, unsigned long long /*from*/, unsigned long long /*to*/,
                       unsigned int /*flags*/, void* context) {
    auto* self = static_cast<Detector*>(context);
    if (id < self->hit_flag_.size() && self->hit_flag_[id] == 0) {
        self->hit_flag_[id] = 1;
        self->hits_.push_back(id);  // within the capacity reserved for every rule
    }
    return 0;  // keep scanning: other rules' patterns may follow
}

void Detector::match(const decode::DecodedPacket& pkt, std::string_view app_proto,
                     std::span<const uint8_t> stream_prefix, MatchList& out) noexcept {
    out.count = 0;
    out.overflow = 0;

    std::span<const uint8_t> payload = pkt.payload;
    if (stream_prefix.size() > kMaxPrefix) {
        stream_prefix = stream_prefix.last(kMaxPrefix);
    }
    std::span<const uint8_t> buffer = payload;
    size_t prefix_len = 0;
    if (!stream_prefix.empty() && payload.size() <= kMaxPayload) {
        std::memcpy(buffer_.get(), stream_prefix.data(), stream_prefix.size());
        if (!payload.empty()) {
            std::memcpy(buffer_.get() + stream_prefix.size(), payload.data(), payload.size());
        }
        prefix_len = stream_prefix.size();
        buffer = {buffer_.get(), prefix_len + payload.size()};
    }

    hits_.clear();
    const hs_database_t* hdb = db_->compiled().database();
    if (hdb != nullptr && !buffer.empty()) {
        stats_.scans.add();
        hs_error_t rc =
            hs_scan(hdb, reinterpret_cast<const char*>(buffer.data()),
                    static_cast<unsigned int>(buffer.size()), 0, scratch_, on_match, this);
        if (rc != HS_SUCCESS) {
            stats_.scan_errors.add();
        }
    }
    stats_.prefilter_hits.add(hits_.size());
    std::sort(hits_.begin(), hits_.end());

    // Merge the two ascending lists so results come out in rule-index order; the lists
    // are disjoint (a rule is either prefiltered or always a candidate).
    std::span<const uint32_t> always = db_->always_candidates(proto_bucket(pkt.ip_proto));
    size_t a = 0;
    size_t h = 0;
    uint64_t evaluated = 0;
    uint64_t fired = 0;
    while (a < always.size() || h < hits_.size()) {
        uint32_t index;
        if (h >= hits_.size() || (a < always.size() && always[a] < hits_[h])) {
            index = always[a++];
        } else {
            index = hits_[h++];
            hit_flag_[index] = 0;
        }
        ++evaluated;
        if (!evaluate(db_->rule(index), pkt, app_proto, buffer, prefix_len)) {
            continue;
        }
        ++fired;
        if (out.count < MatchList::kMax) {
            out.rule_index[out.count++] = index;
        } else {
            ++out.overflow;
        }
    }
    stats_.candidates.add(evaluated);
    stats_.matches.add(fired);
    if (out.overflow != 0) {
        stats_.overflow.add(out.overflow);
    }
}

bool Detector::evaluate(const rules::Rule& rule, const decode::DecodedPacket& pkt,
                        std::string_view app_proto, std::span<const uint8_t> buffer,
                        size_t prefix_len) const noexcept {
    if (!proto_matches(rule, pkt.ip_proto, app_proto) || !header_matches(rule, pkt)) {
        return false;
    }
    const size_t payload_len = buffer.size() - prefix_len;
    bool has_positive = false;
    bool new_match = false;  // some positive content ends inside the payload
    for (const rules::Content& c : rule.contents) {
        bool found = false;
        bool found_new = false;
        if (c.anchored()) {
            size_t start = c.offset;
            size_t end = c.depth != 0 ? start + c.depth : payload_len;
            end = std::min(end, payload_len);
            if (start < end) {
                found =
                    contains(buffer.subspan(prefix_len + start, end - start), c.bytes, c.nocase);
            }
            found_new = found;
        } else {
            // Occurrences ending inside the payload start at or after this position.
            size_t from = prefix_len >= c.bytes.size() ? prefix_len - c.bytes.size() + 1 : 0;
            found_new = contains(buffer.subspan(from), c.bytes, c.nocase);
            found = found_new || contains(buffer.first(prefix_len), c.bytes, c.nocase);
        }
        if (c.negated) {
            if (found) {
                return false;
            }
            continue;
        }
        if (!found) {
            return false;
        }
        has_positive = true;
        new_match = new_match || found_new;
    }
    return !has_positive || new_match;
}

}  // namespace sensor::detect
