#include "rules/hs_cache.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <system_error>

#include "sensor/core/read_file.h"
#include "sensor/core/sha256.h"

namespace sensor::rules {

namespace {

namespace fs = std::filesystem;

// File layout: magic, kind ('D' database, 'F' failure), SHA-256 (hex) of the body, newline,
// then the body: hs_serialize_database's bytes, or "<pattern position>\n<message>".
constexpr std::string_view kMagic = "sensor-hs-cache 1\n";
constexpr std::string_view kExtension = ".hsdb";
constexpr size_t kDigestChars = 64;

struct FreeDeleter {
    void operator()(void* p) const noexcept { std::free(p); }
};

std::string platform_text() {
    hs_platform_info_t platform{};
    if (hs_populate_platform(&platform) != HS_SUCCESS) {
        return "unknown";
    }
    return std::to_string(platform.tune) + "/" + std::to_string(platform.cpu_features);
}

}  // namespace

core::Result<HsCache> HsCache::open(std::string dir) {
    if (dir.empty()) {
        return core::make_error("hyperscan cache: no directory given");
    }
    std::error_code ec;
    fs::create_directories(dir, ec);
    if (ec || !fs::is_directory(dir, ec)) {
        return core::make_error(dir + ": cannot create the hyperscan cache directory: " +
                                (ec ? ec.message() : "not a directory"));
    }
    if (::access(dir.c_str(), W_OK) != 0) {
        return core::make_error(
            dir + ": hyperscan cache directory is not writable: " + std::strerror(errno));
    }
    return HsCache(std::move(dir));
}

std::string HsCache::key(std::span<const char* const> expressions, std::span<const unsigned> flags,
                         std::span<const unsigned> ids) {
    core::Sha256 h;
    // Everything that decides the database's bytes: a new Hyperscan or another CPU gives
    // other keys, so a stale file is never even looked at.
    h.update("hyperscan ");
    h.update(hs_version());
    h.update("\nplatform ");
    h.update(platform_text());
    h.update("\nmode block\n");
    for (size_t i = 0; i < expressions.size(); ++i) {
        h.update(std::to_string(ids[i]));
        h.update(" ");
        h.update(std::to_string(flags[i]));
        h.update(" ");
        h.update(expressions[i]);  // a C string: it holds no NUL, so NUL ends it
        h.update(std::string_view("\0", 1));
    }
    return h.hex_digest();
}

std::string HsCache::path_of(const std::string& key) const {
    return (fs::path(dir_) / (key + std::string(kExtension))).string();
}

std::optional<HsCache::Entry> HsCache::load(const std::string& key) const {
    const std::string path = path_of(key);
    auto read = core::read_file(path);
    if (!read) {
        return std::nullopt;  // none yet (or unreadable): compile
    }
    const std::string text = std::move(*read);
    const size_t header = kMagic.size() + 1 + kDigestChars + 1;
    if (text.size() < header || text.compare(0, kMagic.size(), kMagic) != 0 ||
        text[header - 1] != '\n') {
        return std::nullopt;
    }
    const char kind = text[kMagic.size()];
    const std::string digest = text.substr(kMagic.size() + 1, kDigestChars);
    const std::string_view body = std::string_view(text).substr(header);
    if (core::sha256_hex(body) != digest) {
        return std::nullopt;  // torn or damaged: compile again (and overwrite)
    }
    Entry entry;
    if (kind == 'D') {
        hs_database_t* db = nullptr;
        if (hs_deserialize_database(body.data(), body.size(), &db) != HS_SUCCESS) {
            return std::nullopt;
        }
        entry.database = db;
    } else if (kind == 'F') {
        const size_t nl = body.find('\n');
        if (nl == std::string_view::npos) {
            return std::nullopt;
        }
        char* end = nullptr;
        const std::string position(body.substr(0, nl));
        entry.failed_pattern = std::strtoull(position.c_str(), &end, 10);
        if (position.empty() || end == nullptr || *end != '\0') {
            return std::nullopt;
        }
        entry.failure = std::string(body.substr(nl + 1));
    } else {
        return std::nullopt;
    }
    std::error_code ec;
    fs::last_write_time(path, fs::file_time_type::clock::now(), ec);  // best effort
    return entry;
}

core::Result<void> HsCache::write(const std::string& key, char kind,
                                  const std::string& body) const {
    static std::atomic<uint64_t> sequence{0};
    const std::string path = path_of(key);
    const std::string tmp =
        path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(sequence.fetch_add(1));
    {
        std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
        out << kMagic << kind << core::sha256_hex(body) << '\n' << body;
        out.flush();
        if (!out) {
            std::error_code ec;
            fs::remove(tmp, ec);
            return core::make_error(tmp + ": cannot write hyperscan cache file");
        }
    }
    std::error_code ec;
    fs::rename(tmp, path, ec);
    if (ec) {
        fs::remove(tmp, ec);
        return core::make_error(path + ": cannot store hyperscan cache file: " + ec.message());
    }
    return {};
}

core::Result<void> HsCache::store(const std::string& key, const hs_database_t* db) const {
    char* raw = nullptr;
    size_t length = 0;
    if (hs_serialize_database(db, &raw, &length) != HS_SUCCESS || raw == nullptr) {
        return core::make_error("hyperscan: cannot serialize a database for the cache");
    }
    std::unique_ptr<char, FreeDeleter> bytes(raw);
    return write(key, 'D', std::string(bytes.get(), length));
}

core::Result<void> HsCache::store_failure(const std::string& key, size_t failed_pattern,
                                          const std::string& message) const {
    return write(key, 'F', std::to_string(failed_pattern) + "\n" + message);
}

size_t HsCache::prune(std::chrono::seconds max_age) const {
    size_t removed = 0;
    std::error_code ec;
    const auto now = fs::file_time_type::clock::now();
    for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        const fs::path& p = it->path();
        const std::string name = p.filename().string();
        // Only our own files: finished ones, and temporaries a killed process left behind.
        const bool ours = p.extension() == kExtension ||
                          name.find(std::string(kExtension) + ".tmp.") != std::string::npos;
        if (!ours || name.size() < kDigestChars) {
            continue;
        }
        std::error_code time_ec;
        const auto written = fs::last_write_time(p, time_ec);
        if (time_ec || now - written < max_age) {
            continue;
        }
        std::error_code rm_ec;
        if (fs::remove(p, rm_ec)) {
            ++removed;
        }
    }
    return removed;
}

}  // namespace sensor::rules
