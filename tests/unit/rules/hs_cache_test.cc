#include "rules/hs_cache.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "rules/compiled_rules.h"
#include "rules_test_support.h"

namespace sensor::rules {
namespace {

namespace fs = std::filesystem;

class HsCacheTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = fs::temp_directory_path() /
               ("hs-cache-test-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(dir_);
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::vector<fs::path> files() const {
        std::vector<fs::path> out;
        for (const auto& e : fs::directory_iterator(dir_)) {
            out.push_back(e.path());
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    fs::path dir_;
};

hs_database_t* compile_one(const char* expression) {
    hs_database_t* db = nullptr;
    hs_compile_error_t* error = nullptr;
    EXPECT_EQ(hs_compile(expression, 0, HS_MODE_BLOCK, nullptr, &db, &error), HS_SUCCESS);
    if (error != nullptr) {
        hs_free_compile_error(error);
    }
    return db;
}

int count_match(unsigned int, unsigned long long, unsigned long long, unsigned int, void* ctx) {
    ++*static_cast<int*>(ctx);
    return 0;
}

int matches(const hs_database_t* db, const std::string& data) {
    hs_scratch_t* scratch = nullptr;
    EXPECT_EQ(hs_alloc_scratch(db, &scratch), HS_SUCCESS);
    int n = 0;
    hs_scan(db, data.data(), static_cast<unsigned>(data.size()), 0, scratch, count_match, &n);
    hs_free_scratch(scratch);
    return n;
}

TEST_F(HsCacheTest, KeyDependsOnEveryPatternInput) {
    const char* a[] = {"abc", "def"};
    const unsigned flags[] = {0, 0};
    const unsigned ids[] = {1, 2};
    const std::string base = HsCache::key(a, flags, ids);
    EXPECT_EQ(base.size(), 64u);
    EXPECT_EQ(HsCache::key(a, flags, ids), base);
    const char* other[] = {"abc", "deg"};
    EXPECT_NE(HsCache::key(other, flags, ids), base);
    const unsigned nocase[] = {0, HS_FLAG_CASELESS};
    EXPECT_NE(HsCache::key(a, nocase, ids), base);
    const unsigned swapped[] = {2, 1};
    EXPECT_NE(HsCache::key(a, flags, swapped), base);
    // Moving a byte from one pattern to the next is another set.
    const char* shifted[] = {"abcd", "ef"};
    EXPECT_NE(HsCache::key(shifted, flags, ids), base);
}

TEST_F(HsCacheTest, StoresAndLoadsADatabase) {
    auto cache = HsCache::open(dir_.string());
    ASSERT_TRUE(cache.has_value()) << cache.error().message;
    EXPECT_FALSE(cache->load("0123").has_value());
    hs_database_t* db = compile_one("needle");
    ASSERT_NE(db, nullptr);
    ASSERT_TRUE(cache->store("0123", db).has_value());
    hs_free_database(db);
    auto hit = cache->load("0123");
    ASSERT_TRUE(hit.has_value());
    ASSERT_NE(hit->database, nullptr);
    EXPECT_EQ(matches(hit->database, "a needle here"), 1);
    EXPECT_EQ(matches(hit->database, "nothing"), 0);
    hs_free_database(hit->database);
    EXPECT_EQ(files().size(), 1u);  // no temporary left behind
}

TEST_F(HsCacheTest, DamagedOrForeignFilesAreMisses) {
    auto cache = HsCache::open(dir_.string());
    ASSERT_TRUE(cache.has_value());
    hs_database_t* db = compile_one("needle");
    ASSERT_TRUE(cache->store("k", db).has_value());
    hs_free_database(db);
    const fs::path file = files().at(0);
    std::string bytes;
    {
        std::ifstream in(file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    // One flipped byte in the body: the digest no longer matches.
    std::string flipped = bytes;
    flipped.back() = static_cast<char>(flipped.back() ^ 0x40);
    std::ofstream(file, std::ios::binary | std::ios::trunc) << flipped;
    EXPECT_FALSE(cache->load("k").has_value());
    // Truncated (a writer killed mid-way without the rename would leave no file at all, but a
    // damaged disk can).
    std::ofstream(file, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
    EXPECT_FALSE(cache->load("k").has_value());
    std::ofstream(file, std::ios::binary | std::ios::trunc) << "not a cache file";
    EXPECT_FALSE(cache->load("k").has_value());
}

TEST_F(HsCacheTest, RemembersACompileFailure) {
    auto cache = HsCache::open(dir_.string());
    ASSERT_TRUE(cache.has_value());
    ASSERT_TRUE(cache->store_failure("f", 3, "Pattern is too large.").has_value());
    auto hit = cache->load("f");
    ASSERT_TRUE(hit.has_value());
    EXPECT_EQ(hit->database, nullptr);
    EXPECT_EQ(hit->failed_pattern, 3u);
    EXPECT_EQ(hit->failure, "Pattern is too large.");
}

TEST_F(HsCacheTest, PruneRemovesOnlyOldCacheFiles) {
    auto cache = HsCache::open(dir_.string());
    ASSERT_TRUE(cache.has_value());
    const std::string old_key(64, 'a');
    const std::string new_key(64, 'b');
    ASSERT_TRUE(cache->store_failure(old_key, 0, "x").has_value());
    ASSERT_TRUE(cache->store_failure(new_key, 0, "x").has_value());
    std::ofstream(dir_ / "README") << "not ours";
    const auto long_ago = fs::file_time_type::clock::now() - std::chrono::hours(24 * 30);
    fs::last_write_time(dir_ / (old_key + ".hsdb"), long_ago);
    fs::last_write_time(dir_ / "README", long_ago);
    EXPECT_EQ(cache->prune(std::chrono::hours(24 * 7)), 1u);
    EXPECT_FALSE(fs::exists(dir_ / (old_key + ".hsdb")));
    EXPECT_TRUE(fs::exists(dir_ / (new_key + ".hsdb")));
    EXPECT_TRUE(fs::exists(dir_ / "README"));
}

TEST_F(HsCacheTest, OpenRefusesAPathThatIsAFile) {
    fs::create_directories(dir_);
    std::ofstream(dir_ / "file") << "x";
    auto cache = HsCache::open((dir_ / "file").string());
    ASSERT_FALSE(cache.has_value());
    EXPECT_NE(cache.error().message.find("cannot create the hyperscan cache directory"),
              std::string::npos)
        << cache.error().message;
    EXPECT_FALSE(HsCache::open("").has_value());
}

TEST_F(HsCacheTest, SecondCompileLoadsEveryDatabaseAndBehavesTheSame) {
    RuleSet set = test_support::parse(
        "alert tcp any any -> any any (flow:to_server; content:\"needle\"; sid:1;)\n"
        "alert udp any any -> any any (content:\"haystack\"; sid:2;)\n"
        "alert http any any -> any any (http.uri; content:\"/gate.php\"; sid:3;)\n"
        "alert tcp any any -> any any (pcre:\"/ab+c[0-9]{3}/i\"; sid:4;)\n"
        "alert tcp any any -> any any (sid:5;)\n");
    ASSERT_EQ(set.rules().size(), 5u);
    auto cache = HsCache::open(dir_.string());
    ASSERT_TRUE(cache.has_value());
    CompileOptions options;
    options.cache = &*cache;
    auto first = CompiledRules::compile(set, options);
    ASSERT_TRUE(first.has_value()) << first.error().message;
    const CacheReport r1 = (*first)->cache_report();
    EXPECT_GT(r1.databases, 0u);
    EXPECT_EQ(r1.loaded + r1.compiled, r1.databases);
    EXPECT_EQ(r1.store_failures, 0u) << r1.store_error;

    auto second = CompiledRules::compile(set, options);
    ASSERT_TRUE(second.has_value()) << second.error().message;
    const CacheReport r2 = (*second)->cache_report();
    EXPECT_EQ(r2.databases, r1.databases);
    EXPECT_EQ(r2.loaded, r2.databases);
    EXPECT_EQ(r2.compiled, 0u);
    const CompiledRules& a = **first;
    const CompiledRules& b = **second;
    EXPECT_EQ(std::vector<uint32_t>(a.prefiltered().begin(), a.prefiltered().end()),
              std::vector<uint32_t>(b.prefiltered().begin(), b.prefiltered().end()));
    EXPECT_EQ(a.database_bytes(), b.database_bytes());
    const size_t tcp = payload_variant(PayloadProto::kTcp, false);
    ASSERT_NE(b.payload_database(tcp), nullptr);
    EXPECT_EQ(matches(b.payload_database(tcp), "a needle"), 1);

    // Another rule set misses the cache.
    RuleSet changed = test_support::parse(
        "alert tcp any any -> any any (flow:to_server; content:\"needle2\"; sid:1;)\n");
    auto third = CompiledRules::compile(changed, options);
    ASSERT_TRUE(third.has_value());
    EXPECT_EQ((*third)->cache_report().loaded, 0u);
    EXPECT_EQ((*third)->cache_report().compiled, (*third)->cache_report().databases);
}

}  // namespace
}  // namespace sensor::rules
