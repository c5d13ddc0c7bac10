// The decoder's Internet checksum against RFC 1071's worked example and against the
// independent byte-at-a-time one in packet_builder.h, for every length and alignment.

#include "sensor/decode/checksum.h"

#include <gtest/gtest.h>

#include "tests/unit/decode/packet_builder.h"

namespace sensor::decode::test {
namespace {

TEST(ChecksumMath, Rfc1071Example) {
    const Bytes b = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
    EXPECT_EQ(checksum_add(b), 0xddf2u);
    EXPECT_EQ(checksum_finish(checksum_add(b)), 0x220d);
}

TEST(ChecksumMath, MatchesReferenceForAllLengthsAndOffsets) {
    const Bytes data = filler(300, 0x91);
    for (size_t offset = 0; offset < 8; ++offset) {
        for (size_t len = 0; len + offset <= data.size(); ++len) {
            const std::span<const uint8_t> s(data.data() + offset, len);
            EXPECT_EQ(checksum_finish(checksum_add(s)), inet_checksum(s.data(), s.size()))
                << offset << " " << len;
        }
    }
}

TEST(ChecksumMath, ChainsAndPseudoHeaders) {
    const Bytes seg = filler(77, 3);
    const auto src = core::IpAddress::v6_from(kSrc6.data());
    const auto dst = core::IpAddress::v6_from(kDst6.data());
    const uint32_t pseudo = pseudo_header_sum(src, dst, kIpProtoUdp, 77);
    EXPECT_EQ(checksum_finish(checksum_add(seg, pseudo)),
              inet_checksum(seg.data(), seg.size(),
                            pseudo_sum(kSrc6.data(), kDst6.data(), 16, kIpProtoUdp, 77)));
    const auto src4 = core::IpAddress::v4_from(kSrc4.data());
    const auto dst4 = core::IpAddress::v4_from(kDst4.data());
    EXPECT_EQ(checksum_finish(checksum_add(seg, pseudo_header_sum(src4, dst4, kIpProtoTcp, 77))),
              inet_checksum(seg.data(), seg.size(),
                            pseudo_sum(kSrc4.data(), kDst4.data(), 4, kIpProtoTcp, 77)));
    // Two even halves chained equal the whole.
    const std::span<const uint8_t> all(seg);
    EXPECT_EQ(checksum_add(all.subspan(40), checksum_add(all.first(40))), checksum_add(all));
}

}  // namespace
}  // namespace sensor::decode::test
