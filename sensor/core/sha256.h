#pragma once
// SHA-256 (FIPS 180-4), used to fingerprint the loaded rule files (sensor_rules_info)
// and to key the on-disk Hyperscan cache.
// Control plane only; a Sha256 object is used by one thread.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sensor/core/result.h"

namespace sensor::core {

class Sha256 {
public:
    Sha256();
    void update(std::string_view data);
    // Lower-case hex digest; the object must not be updated afterwards.
    std::string hex_digest();

private:
    std::array<uint32_t, 8> h_;
    std::array<uint8_t, 64> buf_{};
    size_t buf_len_ = 0;
    uint64_t total_ = 0;  // bytes hashed
};

std::string sha256_hex(std::string_view data);

// The compression function over whole 64-byte blocks. Sha256 uses the CPU's SHA extensions
// where it has them (x86-64 SHA-NI: start-up hashes the rule files, the Hyperscan cache keys
// and every cached database, tens of megabytes) and the portable code elsewhere. Both are
// declared here so that a test can hold one against the other.
namespace sha256_detail {
void compress_portable(std::array<uint32_t, 8>& state, const uint8_t* data, size_t blocks);
// False, and the state untouched, where the CPU has no SHA extensions.
bool compress_accelerated(std::array<uint32_t, 8>& state, const uint8_t* data, size_t blocks);
}  // namespace sha256_detail

// Digest over the files' contents in the given order, each preceded by its length (so moving
// bytes from one file to the next changes the digest). Errors name the unreadable file.
core::Result<std::string> sha256_files(const std::vector<std::string>& paths);

}  // namespace sensor::core
