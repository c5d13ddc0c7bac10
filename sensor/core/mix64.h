#pragma once
// mix64: splitmix64's finaliser, the bit mixer the project's hash tables share (flow keys,
// threshold and xbits table keys): every input bit reaches every output bit.

#include <cstdint>

namespace sensor::core {

inline uint64_t mix64(uint64_t h) noexcept {
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

}  // namespace sensor::core
