#include "sensor/alert/community_id.h"

#include <boost/beast/core/detail/base64.hpp>
#include <boost/uuid/detail/sha1.hpp>
#include <cstring>
#include <exception>
#include <optional>
#include <utility>

namespace sensor::alert {

namespace {

constexpr uint8_t kProtoIcmp = 1;
constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kProtoIcmp6 = 58;
constexpr uint8_t kProtoSctp = 132;
constexpr size_t kSha1Size = 20;

// The spec's ICMP request/response pairs (taken from Zeek): a type with a counterpart forms a
// two-way "flow" whose ports are (type, counterpart); any other type is one-way.
std::optional<uint16_t> icmp4_counterpart(uint8_t type) {
    switch (type) {
        case 8:  // echo request
            return 0;
        case 0:  // echo reply
            return 8;
        case 13:  // timestamp
            return 14;
        case 14:  // timestamp reply
            return 13;
        case 15:  // information request
            return 16;
        case 16:  // information reply
            return 15;
        case 10:  // router solicitation
            return 9;
        case 9:  // router advertisement
            return 10;
        case 17:  // address mask request
            return 18;
        case 18:  // address mask reply
            return 17;
        default:
            return std::nullopt;
    }
}

std::optional<uint16_t> icmp6_counterpart(uint8_t type) {
    switch (type) {
        case 128:  // echo request
            return 129;
        case 129:  // echo reply
            return 128;
        case 130:  // multicast listener query
            return 131;
        case 131:  // multicast listener report
            return 130;
        case 133:  // router solicitation
            return 134;
        case 134:  // router advertisement
            return 133;
        case 135:  // neighbor solicitation
            return 136;
        case 136:  // neighbor advertisement
            return 135;
        case 139:  // node information query ("who are you")
            return 140;
        case 140:  // node information response
            return 139;
        case 144:  // home agent address discovery request
            return 145;
        case 145:  // home agent address discovery reply
            return 144;
        default:
            return std::nullopt;
    }
}

struct Ports {
    uint16_t src = 0;
    uint16_t dst = 0;
    bool present = false;
    bool one_way = false;
};

Ports ports_of(const core::Endpoints& e) {
    switch (e.ip_proto) {
        case kProtoTcp:
        case kProtoUdp:
        case kProtoSctp:
            return {e.src_port, e.dest_port, true, false};
        case kProtoIcmp:
        case kProtoIcmp6: {
            const std::optional<uint16_t> counterpart = e.ip_proto == kProtoIcmp
                                                            ? icmp4_counterpart(e.icmp_type)
                                                            : icmp6_counterpart(e.icmp_type);
            if (counterpart) {
                return {e.icmp_type, *counterpart, true, false};
            }
            return {e.icmp_type, e.icmp_code, true, true};
        }
        default:
            return {};
    }
}

void put_be16(uint8_t* p, uint16_t v) {
    p[0] = static_cast<uint8_t>(v >> 8);
    p[1] = static_cast<uint8_t>(v & 0xff);
}

}  // namespace

std::string community_id_v1(const core::Endpoints& endpoints, uint16_t seed) {
    return community_id_v1_text(endpoints, seed).str();
}

core::CommunityId community_id_v1_text(const core::Endpoints& endpoints, uint16_t seed) noexcept {
    const size_t addr_len = endpoints.src_ip.size();
    Ports ports = ports_of(endpoints);
    const uint8_t* saddr = endpoints.src_ip.bytes.data();
    const uint8_t* daddr = endpoints.dest_ip.bytes.data();
    const int cmp = std::memcmp(saddr, daddr, addr_len);
    // Smaller address (then smaller port) first, so both directions give one ID.
    if (!ports.one_way && (cmp > 0 || (cmp == 0 && ports.src > ports.dst))) {
        std::swap(saddr, daddr);
        std::swap(ports.src, ports.dst);
    }

    uint8_t input[2 + 16 + 16 + 2 + 4];
    size_t len = 0;
    put_be16(input, seed);
    len += 2;
    std::memcpy(input + len, saddr, addr_len);
    len += addr_len;
    std::memcpy(input + len, daddr, addr_len);
    len += addr_len;
    input[len++] = endpoints.ip_proto;
    input[len++] = 0;  // padding keeps the input 32-bit aligned
    if (ports.present) {
        put_be16(input + len, ports.src);
        put_be16(input + len + 2, ports.dst);
        len += 4;
    }

    boost::uuids::detail::sha1::digest_type digest;
    try {
        boost::uuids::detail::sha1 sha1;
        sha1.process_bytes(input, len);
        sha1.get_digest(digest);
    } catch (const std::exception&) {
        // Boost's SHA-1 throws only past 2^64 bits of input; these are at most 40 bytes.
        return {};
    }
    static_assert(sizeof(digest) == kSha1Size);
    uint8_t hash[kSha1Size];
    if constexpr (sizeof(digest[0]) == 4) {
        // Boost before 1.86 returns five host-order 32-bit words; SHA-1 output is their
        // big-endian bytes.
        for (size_t i = 0; i < 5; ++i) {
            const auto word = static_cast<uint32_t>(digest[i]);
            hash[4 * i] = static_cast<uint8_t>(word >> 24);
            hash[4 * i + 1] = static_cast<uint8_t>(word >> 16);
            hash[4 * i + 2] = static_cast<uint8_t>(word >> 8);
            hash[4 * i + 3] = static_cast<uint8_t>(word);
        }
    } else {
        std::memcpy(hash, digest, kSha1Size);
    }

    namespace base64 = boost::beast::detail::base64;
    static_assert(2 + base64::encoded_size(kSha1Size) <= core::CommunityId::capacity());
    char id[core::CommunityId::capacity()];
    id[0] = '1';
    id[1] = ':';
    const size_t written = base64::encode(id + 2, hash, kSha1Size);
    return core::CommunityId(std::string_view(id, 2 + written));
}

}  // namespace sensor::alert
