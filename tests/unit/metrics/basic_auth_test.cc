#include "sensor/metrics/basic_auth.h"

#include <crypt.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace sensor::metrics {
namespace {

std::string basic(const std::string& user_colon_password) {
    // Encodes with the same alphabet the decoder takes (RFC 4648 section 4).
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    size_t i = 0;
    const std::string& s = user_colon_password;
    for (; i + 2 < s.size(); i += 3) {
        uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(s[i])) << 16 |
                     static_cast<uint32_t>(static_cast<uint8_t>(s[i + 1])) << 8 |
                     static_cast<uint8_t>(s[i + 2]);
        for (int k = 18; k >= 0; k -= 6) {
            out.push_back(kAlphabet[(v >> k) & 63]);
        }
    }
    if (s.size() - i == 1) {
        uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(s[i])) << 16;
        out += {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], '=', '='};
    } else if (s.size() - i == 2) {
        uint32_t v = static_cast<uint32_t>(static_cast<uint8_t>(s[i])) << 16 |
                     static_cast<uint32_t>(static_cast<uint8_t>(s[i + 1])) << 8;
        out +=
            {kAlphabet[(v >> 18) & 63], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
    }
    return "Basic " + out;
}

TEST(Base64, DecodesRfc4648Vectors) {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"Zg==", "f"},
        {"Zm8=", "fo"},
        {"Zm9v", "foo"},
        {"Zm9vYg==", "foob"},
        {"Zm9vYmE=", "fooba"},
        {"Zm9vYmFy", "foobar"},
    };
    for (const auto& [in, want] : vectors) {
        std::string out;
        EXPECT_TRUE(base64_decode(in, out)) << in;
        EXPECT_EQ(out, want) << in;
    }
}

TEST(Base64, RejectsMalformedInput) {
    std::string out;
    for (const char* bad : {"Zg=", "Zm9", "Zm9v!", "Z===", "=Zg=", "Zm=v", "Zh==", "Zm9vYmE"}) {
        EXPECT_FALSE(base64_decode(bad, out)) << bad;
    }
}

TEST(BasicAuth, ChecksPlainPasswords) {
    auto auth = BasicAuth::parse("# scrapers\nprom:s3cret\n\nops:other:with:colons\n", "auth");
    ASSERT_TRUE(auth) << auth.error().message;
    EXPECT_EQ(auth->users(), 2u);
    EXPECT_TRUE(auth->check(basic("prom:s3cret")));
    EXPECT_TRUE(auth->check(basic("ops:other:with:colons")));
    EXPECT_FALSE(auth->check(basic("prom:s3cre")));
    EXPECT_FALSE(auth->check(basic("prom:s3cret2")));
    EXPECT_FALSE(auth->check(basic("ops:s3cret")));
    EXPECT_FALSE(auth->check(basic("nobody:s3cret")));
    EXPECT_FALSE(auth->check(""));
    EXPECT_FALSE(auth->check("Bearer cHJvbTpzM2NyZXQ="));
    EXPECT_FALSE(auth->check("Basic !!!!"));
    EXPECT_FALSE(auth->check(basic("prom")));  // no colon
}

TEST(BasicAuth, ChecksCryptHashes) {
    crypt_data data{};
    const char* salt = crypt_gensalt_rn("$6$", 0, nullptr, 0, data.setting, sizeof(data.setting));
    ASSERT_NE(salt, nullptr);
    const char* hash = crypt_rn("hunter2", salt, &data, sizeof(data));
    ASSERT_NE(hash, nullptr);
    ASSERT_EQ(hash[0], '$');
    auto auth = BasicAuth::parse(std::string("prom:") + hash + "\n", "auth");
    ASSERT_TRUE(auth) << auth.error().message;
    EXPECT_TRUE(auth->check(basic("prom:hunter2")));
    EXPECT_FALSE(auth->check(basic("prom:hunter3")));
    // The hash itself is not a password.
    EXPECT_FALSE(auth->check(basic(std::string("prom:") + hash)));
}

TEST(BasicAuth, ReportsFileAndLine) {
    auto missing_colon = BasicAuth::parse("a:b\nnocolon\n", "auth.txt");
    ASSERT_FALSE(missing_colon);
    EXPECT_EQ(missing_colon.error().message,
              "auth.txt:2: expected user:password or user:crypt-hash");
    auto twice = BasicAuth::parse("a:b\r\na:c\r\n", "auth.txt");
    ASSERT_FALSE(twice);
    EXPECT_EQ(twice.error().message, "auth.txt:2: user \"a\" given twice");
    auto empty_password = BasicAuth::parse("a:\n", "auth.txt");
    ASSERT_FALSE(empty_password);
    auto none = BasicAuth::parse("# only a comment\n", "auth.txt");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().message, "auth.txt: no credentials in file");
}

TEST(BasicAuth, LoadsFromFile) {
    auto dir =
        std::filesystem::temp_directory_path() / ("metrics_auth_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = (dir / "auth").string();
    std::ofstream(path) << "prom:pw\n";
    auto auth = BasicAuth::load(path);
    ASSERT_TRUE(auth) << auth.error().message;
    EXPECT_TRUE(auth->check(basic("prom:pw")));
    auto missing = BasicAuth::load((dir / "missing").string());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().message.rfind((dir / "missing").string() + ": cannot read", 0), 0u)
        << missing.error().message;
    std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sensor::metrics
