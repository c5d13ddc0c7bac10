#pragma once
// BasicAuth: HTTP basic authentication for the metrics listener, with credentials read from a
// file (never from the command line, where `ps` would show them). Immutable after load();
// check() may run on several HTTP threads at once.

#include <string>
#include <string_view>
#include <vector>

#include "sensor/core/result.h"

namespace sensor::metrics {

class BasicAuth {
public:
    // File format: one "user:secret" per line; blank lines and lines starting with '#' are
    // ignored. A secret starting with '$' is a crypt(3) hash (bcrypt "$2b$"/"$2y$" as written
    // by htpasswd -B, sha-512 "$6$", yescrypt "$y$"); any other secret is the password
    // itself. Errors name the file and line.
    static core::Result<BasicAuth> load(const std::string& path);
    static core::Result<BasicAuth> parse(std::string_view text, const std::string& origin);

    // authorization: the request's Authorization header value ("Basic <base64>"), or empty.
    bool check(std::string_view authorization) const;

    size_t users() const noexcept { return entries_.size(); }

private:
    struct Entry {
        std::string user;
        std::string secret;
        bool hashed = false;
    };
    std::vector<Entry> entries_;
};

// RFC 4648 base64 without line breaks; false on any character outside the alphabet or a
// bad length or padding.
bool base64_decode(std::string_view in, std::string& out);

}  // namespace sensor::metrics
