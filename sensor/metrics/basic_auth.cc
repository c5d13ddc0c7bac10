#include "sensor/metrics/basic_auth.h"

#include <crypt.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace sensor::metrics {

namespace {

int base64_value(char c) {
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+') {
        return 62;
    }
    if (c == '/') {
        return 63;
    }
    return -1;
}

// Compares without an early exit, so response time does not tell how much of a guess was
// right.
bool equal_constant_time(std::string_view a, std::string_view b) {
    unsigned char diff = a.size() == b.size() ? 0 : 1;
    const size_t n = std::min(a.size(), b.size());
    for (size_t i = 0; i < n; ++i) {
        diff = static_cast<unsigned char>(
            diff | (static_cast<unsigned char>(a[i]) ^ static_cast<unsigned char>(b[i])));
    }
    return diff == 0;
}

bool verify_hash(const std::string& password, const std::string& hash) {
    auto data = std::make_unique<crypt_data>();  // tens of KiB: not on an HTTP thread's stack
    std::memset(data.get(), 0, sizeof(crypt_data));
    const char* out =
        crypt_rn(password.c_str(), hash.c_str(), data.get(), static_cast<int>(sizeof(crypt_data)));
    return out != nullptr && out[0] != '*' && equal_constant_time(out, hash);
}

}  // namespace

bool base64_decode(std::string_view in, std::string& out) {
    out.clear();
    if (in.size() % 4 != 0) {
        return false;
    }
    size_t pad = 0;
    if (!in.empty() && in.back() == '=') {
        pad = (in.size() >= 2 && in[in.size() - 2] == '=') ? 2 : 1;
    }
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < in.size() - pad; ++i) {
        int v = base64_value(in[i]);
        if (v < 0) {
            return false;
        }
        acc = (acc << 6) | static_cast<uint32_t>(v);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<char>((acc >> bits) & 0xFF));
        }
    }
    // Leftover bits must be zero padding of the last group.
    return (acc & ((1u << bits) - 1)) == 0;
}

core::Result<BasicAuth> BasicAuth::parse(std::string_view text, const std::string& origin) {
    BasicAuth auth;
    size_t line_no = 0;
    std::istringstream in{std::string(text)};
    std::string line;
    while (std::getline(in, line)) {
        ++line_no;
        if (!line.empty() && line.back() == '\r') {
            line.pop_back();
        }
        if (line.empty() || line[0] == '#') {
            continue;
        }
        const std::string where = origin + ":" + std::to_string(line_no) + ": ";
        size_t colon = line.find(':');
        if (colon == std::string::npos || colon == 0 || colon + 1 == line.size()) {
            return core::make_error(where + "expected user:password or user:crypt-hash");
        }
        Entry e{line.substr(0, colon), line.substr(colon + 1), false};
        e.hashed = e.secret[0] == '$';
        for (const Entry& other : auth.entries_) {
            if (other.user == e.user) {
                return core::make_error(where + "user \"" + e.user + "\" given twice");
            }
        }
        auth.entries_.push_back(std::move(e));
    }
    if (auth.entries_.empty()) {
        return core::make_error(origin + ": no credentials in file");
    }
    return auth;
}

core::Result<BasicAuth> BasicAuth::load(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        return core::make_error(path + ": cannot read basic auth file: " + std::strerror(errno));
    }
    std::ostringstream text;
    text << f.rdbuf();
    return parse(text.str(), path);
}

bool BasicAuth::check(std::string_view authorization) const {
    constexpr std::string_view kScheme = "Basic ";
    if (authorization.size() <= kScheme.size() ||
        authorization.substr(0, kScheme.size()) != kScheme) {
        return false;
    }
    std::string decoded;
    if (!base64_decode(authorization.substr(kScheme.size()), decoded)) {
        return false;
    }
    size_t colon = decoded.find(':');
    if (colon == std::string::npos) {
        return false;
    }
    std::string_view user = std::string_view(decoded).substr(0, colon);
    std::string password = decoded.substr(colon + 1);
    for (const Entry& e : entries_) {
        if (e.user == user) {
            return e.hashed ? verify_hash(password, e.secret)
                            : equal_constant_time(password, e.secret);
        }
    }
    return false;
}

}  // namespace sensor::metrics
