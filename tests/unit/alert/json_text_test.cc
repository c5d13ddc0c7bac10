// JsonText must write what nlohmann::json::dump() writes (compact, replacement of invalid
// UTF-8), since EVE consumers and the tests of the EVE writer compare text.

#include "sensor/alert/json_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace sensor::alert {
namespace {

std::string nlohmann_dump(const std::string& text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ours(const std::string& text) {
    std::string out;
    JsonText::append_string_to(out, text);
    return out;
}

TEST(JsonText, StringsAreEscapedAsNlohmannEscapesThem) {
    const std::vector<std::string> cases = {
        "",
        "plain ascii",
        "quote \" and backslash \\",
        std::string("nul \0 byte", 10),
        "\b\f\n\r\t\x01\x1f\x7f",
        "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80",  // 2, 3 and 4 byte sequences
    };
    for (const std::string& c : cases) {
        EXPECT_EQ(ours(c), nlohmann_dump(c)) << c;
    }
}

TEST(JsonText, InvalidUtf8IsReplacedLikeNlohmann) {
    const std::vector<std::string> cases = {
        "\x80",  // lone continuation byte
        "a\xC3"
        "A",  // lead byte, then ASCII
        "\xE2\x82"
        "A",                 // truncated 3-byte sequence: one replacement
        "\xE0\x80\x80",      // overlong
        "\xED\xA0\x80",      // surrogate
        "\xF4\x90\x80\x80",  // above U+10FFFF
        "\xC0\xAF",          // invalid lead bytes
        "\xFF\xFE",          //
        "end \xE2\x82",      // incomplete at the end
        "\xF0\x9F\x98",      // incomplete 4-byte sequence at the end
        "x\xC3\xC3\xA9y",    // broken sequence, then a valid one
    };
    for (const std::string& c : cases) {
        EXPECT_EQ(ours(c), nlohmann_dump(c)) << c;
    }
}

TEST(JsonText, EveryTwoByteStringMatches) {
    // Exhaustive over two bytes (and a third fixed continuation byte) to cover every lead and
    // continuation combination.
    for (int a = 0; a < 256; ++a) {
        for (int b = 0; b < 256; ++b) {
            for (const char tail : {'\0', '\x80', 'z'}) {
                std::string s{static_cast<char>(a), static_cast<char>(b)};
                if (tail != '\0') {
                    s += tail;
                }
                ASSERT_EQ(ours(s), nlohmann_dump(s)) << a << " " << b;
            }
        }
    }
}

TEST(JsonText, ObjectsArraysAndNumbersAreCompact) {
    std::string out;
    JsonText j(out);
    j.begin_object();
    j.member("a", 1);
    j.member("neg", int64_t{-5});
    j.member("max", std::numeric_limits<uint64_t>::max());
    j.key("list");
    j.begin_array();
    j.string("x");
    j.number(uint8_t{7});
    j.begin_object();
    j.end_object();
    j.begin_array();
    j.end_array();
    j.end_array();
    j.key("flag");
    j.boolean(false);
    j.key("raw");
    j.raw(R"({"k":[1,2]})");
    j.member("s", "v");
    j.end_object();

    nlohmann::ordered_json expected;
    expected["a"] = 1;
    expected["neg"] = -5;
    expected["max"] = std::numeric_limits<uint64_t>::max();
    expected["list"] = nlohmann::ordered_json::array(
        {"x", 7, nlohmann::ordered_json::object(), nlohmann::ordered_json::array()});
    expected["flag"] = false;
    expected["raw"] = {{"k", {1, 2}}};
    expected["s"] = "v";
    EXPECT_EQ(out, expected.dump());
}

}  // namespace
}  // namespace sensor::alert
