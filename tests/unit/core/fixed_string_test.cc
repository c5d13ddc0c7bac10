#include "sensor/core/fixed_string.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <type_traits>

namespace sensor::core {
namespace {

TEST(FixedString, HoldsTextUpToItsSize) {
    FixedString<8> s;
    EXPECT_TRUE(s.empty());
    s = "tls";
    EXPECT_EQ(s.view(), "tls");
    EXPECT_EQ(s.size(), 3u);
    EXPECT_FALSE(s.truncated());
    s = "exactly8";
    EXPECT_EQ(s.view(), "exactly8");
    EXPECT_FALSE(s.truncated());
}

TEST(FixedString, CutsLongerTextAndSaysSo) {
    FixedString<8> s("a-name-longer-than-eight");
    EXPECT_EQ(s.view(), "a-name-l");
    EXPECT_TRUE(s.truncated());
    s = "short";  // a later assignment that fits is whole again
    EXPECT_EQ(s.view(), "short");
    EXPECT_FALSE(s.truncated());
}

TEST(FixedString, KeepsEmbeddedBytesAndClears) {
    const std::string text("a\0b", 3);
    FixedString<4> s(text);
    EXPECT_EQ(s.size(), 3u);
    EXPECT_EQ(s.view(), std::string_view(text));
    s.clear();
    EXPECT_TRUE(s.empty());
    EXPECT_EQ(s.str(), "");
}

TEST(FixedString, CopiesAreIndependentAndNeedNoHeap) {
    static_assert(std::is_trivially_copyable_v<FixedString<64>>);
    FixedString<16> a("first");
    FixedString<16> b = a;
    a = "second";
    EXPECT_EQ(b, "first");
    EXPECT_EQ(a, "second");
    EXPECT_FALSE(a == b);
}

}  // namespace
}  // namespace sensor::core
