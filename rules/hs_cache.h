#pragma once
// HsCache: compiled Hyperscan databases kept on disk (hs_serialize_database), each under the
// SHA-256 of everything that determines it: the patterns with their flags and ids, the mode,
// the Hyperscan version and the host's platform. A restart or reload with unchanged rules
// then loads its databases instead of compiling them. A pattern that failed to compile is
// remembered too, so a rule set with a broken rule also starts from the cache. Control plane
// only; the methods are safe to call from several compile threads at once.

#include <hs.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>

#include "sensor/core/result.h"

namespace sensor::rules {

class HsCache {
public:
    // What a key holds: a database, or the position (among the key's patterns) of the
    // pattern that made Hyperscan fail, with its message.
    struct Entry {
        hs_database_t* database = nullptr;  // owned by the caller
        size_t failed_pattern = 0;
        std::string failure;
    };

    // Creates the directory when missing; errors name it.
    static core::Result<HsCache> open(std::string dir);

    const std::string& dir() const noexcept { return dir_; }

    // The key of a block-mode database built from these patterns on this host.
    static std::string key(std::span<const char* const> expressions,
                           std::span<const unsigned> flags, std::span<const unsigned> ids);

    // The entry stored under key; nullopt when there is none, or it is unreadable, corrupt, or
    // was built by another Hyperscan version or for another platform (the caller compiles).
    // A hit refreshes the file's time, so pruning keeps what is in use.
    std::optional<Entry> load(const std::string& key) const;

    // Stores a database or a failure under key: written to a temporary file and renamed, so
    // readers never see half a file.
    core::Result<void> store(const std::string& key, const hs_database_t* db) const;
    core::Result<void> store_failure(const std::string& key, size_t failed_pattern,
                                     const std::string& message) const;

    // Removes cache files not used for max_age. Returns how many were removed.
    size_t prune(std::chrono::seconds max_age) const;

private:
    explicit HsCache(std::string dir) : dir_(std::move(dir)) {}
    std::string path_of(const std::string& key) const;
    core::Result<void> write(const std::string& key, char kind, const std::string& body) const;

    std::string dir_;
};

}  // namespace sensor::rules
