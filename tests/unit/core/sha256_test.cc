#include "sensor/core/sha256.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace sensor::core {
namespace {

// FIPS 180-4 examples and the NIST CAVS vectors.
TEST(Sha256, MatchesKnownDigests) {
    EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(sha256_hex("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
    EXPECT_EQ(sha256_hex(std::string(1000000, 'a')),
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, IncrementalUpdatesMatchOneShot) {
    // Split points around the 55/56/64-byte padding boundaries.
    std::string text(130, '\0');
    for (size_t i = 0; i < text.size(); ++i) {
        text[i] = static_cast<char>('a' + i % 26);
    }
    for (size_t len : {55u, 56u, 63u, 64u, 65u, 119u, 130u}) {
        for (size_t split = 0; split <= len; split += 7) {
            Sha256 h;
            h.update(std::string_view(text).substr(0, split));
            h.update(std::string_view(text).substr(split, len - split));
            EXPECT_EQ(h.hex_digest(), sha256_hex(text.substr(0, len))) << len << "/" << split;
        }
    }
}

// The SHA extensions' code against the portable code, on the same state and blocks: every
// block count up to 9 and a long run, from a state that is not the initial one.
TEST(Sha256, AcceleratedCompressionMatchesPortable) {
    std::vector<uint8_t> data(64 * 1000);
    uint32_t x = 0x12345678;
    for (uint8_t& byte : data) {
        x = x * 1664525 + 1013904223;  // any bytes: a linear congruential sequence
        byte = static_cast<uint8_t>(x >> 24);
    }
    const std::array<uint32_t, 8> start = {0x01234567, 0x89abcdef, 0xfedcba98, 0x76543210,
                                           0xdeadbeef, 0x0badf00d, 0xcafebabe, 0x8badf00d};
    bool accelerated = true;
    for (size_t blocks : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 8u, 9u, 1000u}) {
        for (size_t offset : {0u, 1u, 7u}) {
            if (offset + blocks * 64 > data.size()) {
                continue;
            }
            auto portable = start;
            sha256_detail::compress_portable(portable, data.data() + offset, blocks);
            auto fast = start;
            accelerated = sha256_detail::compress_accelerated(fast, data.data() + offset, blocks);
            if (!accelerated) {
                EXPECT_EQ(fast, start);
                break;
            }
            EXPECT_EQ(fast, portable) << blocks << " blocks at offset " << offset;
            if (blocks > 0) {
                EXPECT_NE(portable, start);
            }
        }
    }
    if (!accelerated) {
        GTEST_SKIP() << "this CPU has no SHA extensions: only the portable code runs here";
    }
}

TEST(Sha256, FilesDigestDependsOnContentAndBoundaries) {
    auto dir = std::filesystem::temp_directory_path() / ("metrics_sha_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    auto write = [&](const char* name, const char* text) {
        std::ofstream(dir / name) << text;
        return (dir / name).string();
    };
    auto a = write("a.rules", "alert 1\n");
    auto b = write("b.rules", "alert 2\n");
    auto ab = sha256_files({a, b});
    ASSERT_TRUE(ab) << ab.error().message;
    EXPECT_EQ(ab->size(), 64u);
    EXPECT_EQ(*ab, *sha256_files({a, b}));
    EXPECT_NE(*ab, *sha256_files({b, a}));
    // The same bytes split differently between files give another digest.
    auto a2 = write("a2.rules", "alert 1\nalert 2\n");
    auto empty = write("e.rules", "");
    EXPECT_NE(*ab, *sha256_files({a2, empty}));
    write("b.rules", "alert 3\n");
    EXPECT_NE(*ab, *sha256_files({a, b}));
    auto missing = sha256_files({(dir / "nope.rules").string()});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("nope.rules: cannot read"), std::string::npos);
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sensor::core
