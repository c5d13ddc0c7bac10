// Seeds for tests/fuzz/decode_fuzz.cc, built from the named cases in cases.h. The test checks
// that every seed is small and encodes its frames the way the fuzz target reads them; with
// SENSOR_WRITE_DECODE_SEEDS=1 in the environment it also (re)writes the corpus files.

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "sensor/decode/linktype.h"
#include "tests/unit/decode/cases.h"

namespace sensor::decode::test {
namespace {

constexpr uint8_t kSnaplenBit = 0x10;
constexpr size_t kMaxSeedBytes = 2048;

// Same layout as decode_fuzz.cc: selector byte, then the frame itself when there is one,
// or [u16 length][frame] records when there are several.
Bytes encode(const Case& c) {
    const auto& types = kSupportedLinktypes;
    const auto it = std::find(types.begin(), types.end(), c.inputs.front().linktype);
    auto selector = static_cast<uint8_t>(it - types.begin());
    if (std::any_of(c.inputs.begin(), c.inputs.end(),
                    [](const Input& in) { return in.wire_len != 0; })) {
        selector |= kSnaplenBit;
    }
    Bytes seed{selector};
    if (c.inputs.size() == 1) {
        return cat({seed, c.inputs.front().frame});
    }
    for (const Input& in : c.inputs) {
        seed = cat({seed, {hi(in.frame.size()), lo(in.frame.size())}, in.frame});
    }
    return seed;
}

std::vector<Bytes> decode_records(const Bytes& seed) {
    std::vector<Bytes> frames;
    for (size_t at = 1; at + 2 <= seed.size();) {
        const size_t len = std::min<size_t>(get16(seed, at), seed.size() - at - 2);
        at += 2;
        frames.emplace_back(seed.begin() + static_cast<std::ptrdiff_t>(at),
                            seed.begin() + static_cast<std::ptrdiff_t>(at + len));
        at += len;
    }
    return frames;
}

TEST(DecodeFuzzSeeds, SeedsAreSmallAndRoundTrip) {
    std::vector<Case> all = good_cases();
    const std::vector<Case> drops = drop_cases();
    all.insert(all.end(), drops.begin(), drops.end());
    const char* write = std::getenv("SENSOR_WRITE_DECODE_SEEDS");
    const std::filesystem::path dir =
        std::filesystem::path(SENSOR_SOURCE_DIR) / "tests/fuzz/corpus/decode_fuzz";
    if (write != nullptr && std::string(write) == "1") {
        std::filesystem::create_directories(dir);
    }
    for (const Case& c : all) {
        const int linktype = c.inputs.front().linktype;
        if (!linktype_supported(linktype)) {
            continue;  // the selector cannot express it
        }
        const Bytes seed = encode(c);
        EXPECT_LT(seed.size(), kMaxSeedBytes) << c.name;
        EXPECT_EQ(kSupportedLinktypes[seed[0] & 0x0f], linktype) << c.name;
        if (c.inputs.size() == 1) {
            EXPECT_EQ(Bytes(seed.begin() + 1, seed.end()), c.inputs.front().frame) << c.name;
        } else {
            const std::vector<Bytes> frames = decode_records(seed);
            ASSERT_EQ(frames.size(), c.inputs.size()) << c.name;
            for (size_t i = 0; i < frames.size(); ++i) {
                EXPECT_EQ(frames[i], c.inputs[i].frame) << c.name << " frame " << i;
            }
        }
        if (write != nullptr && std::string(write) == "1") {
            std::ofstream out(dir / c.name, std::ios::binary | std::ios::trunc);
            out.write(reinterpret_cast<const char*>(seed.data()),
                      static_cast<std::streamsize>(seed.size()));
            ASSERT_TRUE(out.good()) << c.name;
        }
    }
}

}  // namespace
}  // namespace sensor::decode::test
