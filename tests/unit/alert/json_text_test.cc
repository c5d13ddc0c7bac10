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

// Long text is checked eight bytes at a time: every byte value at every position of a
// 17-byte plain run (each lane of two words and the tail) must still be escaped as nlohmann
// does, whether it comes alone or in a string member of an object.
TEST(JsonText, EveryByteAtEveryPositionOfLongTextMatches) {
    for (int c = 0; c < 256; ++c) {
        for (size_t at = 0; at < 17; ++at) {
            std::string s(17, 'a');
            s[at] = static_cast<char>(c);
            ASSERT_EQ(ours(s), nlohmann_dump(s)) << c << " at " << at;
            std::string out;
            JsonText j(out);
            j.begin_object();
            j.member("k", s);
            j.end_object();
            nlohmann::ordered_json expected;
            expected["k"] = s;
            ASSERT_EQ(out, expected.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
                << c << " at " << at;
        }
    }
}

// Members larger than JsonText's own buffer, and many small ones that fill it several times,
// reach the string whole and in order.
TEST(JsonText, ValuesLongerThanItsBufferAreWrittenWhole) {
    std::string out = "prefix ";
    JsonText j(out);
    j.begin_object();
    nlohmann::ordered_json expected;
    for (int i = 0; i < 300; ++i) {
        const std::string key = "k" + std::to_string(i);
        const std::string value(static_cast<size_t>(i * 7 % 1500), static_cast<char>('a' + i % 26));
        j.member(key, value);
        expected[key] = value;
        j.member(key + "n", uint64_t{1} << (i % 64));
        expected[key + "n"] = uint64_t{1} << (i % 64);
    }
    std::string raw = "[0";
    for (int i = 1; i < 700; ++i) {
        raw += "," + std::to_string(i);
    }
    raw += "]";
    j.key("raw");
    j.raw(raw);
    expected["raw"] = nlohmann::json::parse(raw);
    j.end_object();
    EXPECT_EQ(out, "prefix " + expected.dump());
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
