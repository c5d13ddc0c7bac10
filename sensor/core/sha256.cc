#include "sensor/core/sha256.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace sensor::core {

namespace {

constexpr std::array<uint32_t, 64> kRound = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

constexpr uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define SENSOR_SHA256_X86 1

bool cpu_has_sha_extensions() {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) {
        return false;
    }
    const bool sha = (ebx & (1u << 29)) != 0;  // CPUID.(EAX=7,ECX=0):EBX.SHA
    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) {
        return false;
    }
    const bool sse41 = (ecx & (1u << 19)) != 0;  // CPUID.1:ECX.SSE4_1 (with SSSE3 before it)
    return sha && sse41;
}

// SHA256RNDS2 works on the state as two registers, (A, B, E, F) and (C, D, G, H), from the
// highest 32-bit lane down; each call does two rounds with the two low lanes of its third
// operand (message word plus round constant) and returns the new (A, B, E, F), while the old
// one has become (C, D, G, H). SHA256MSG1/MSG2 compute four message words at a time.
__attribute__((target("sha,sse4.1"))) void compress_sha_ni(std::array<uint32_t, 8>& state,
                                                           const uint8_t* data, size_t blocks) {
    const __m128i byte_swap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    // state[0..3] = a b c d and state[4..7] = e f g h, lane 0 first.
    const __m128i abcd = _mm_shuffle_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[0])), 0xB1);  // b a d c
    const __m128i efgh = _mm_shuffle_epi32(
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(&state[4])), 0x1B);  // h g f e
    __m128i abef = _mm_alignr_epi8(abcd, efgh, 8);                            // f e b a
    __m128i cdgh = _mm_blend_epi16(efgh, abcd, 0xF0);                         // h g d c
    for (size_t block = 0; block < blocks; ++block, data += 64) {
        const __m128i abef_before = abef;
        const __m128i cdgh_before = cdgh;
        __m128i words[4];  // words[g % 4] holds message words 4g .. 4g+3
#pragma GCC unroll 16
        for (size_t g = 0; g < 16; ++g) {
            __m128i& w = words[g % 4];
            if (g < 4) {
                w = _mm_shuffle_epi8(
                    _mm_loadu_si128(reinterpret_cast<const __m128i*>(data + 16 * g)), byte_swap);
            } else {
                // W[t] = W[t-16] + s0(W[t-15]) + W[t-7] + s1(W[t-2]): w holds W[t-16..t-13].
                const __m128i& w_minus_4 = words[(g + 3) % 4];
                const __m128i& w_minus_8 = words[(g + 2) % 4];
                __m128i next = _mm_sha256msg1_epu32(w, words[(g + 1) % 4]);
                next = _mm_add_epi32(next, _mm_alignr_epi8(w_minus_4, w_minus_8, 4));
                w = _mm_sha256msg2_epu32(next, w_minus_4);
            }
            const __m128i wk =
                _mm_add_epi32(w, _mm_loadu_si128(reinterpret_cast<const __m128i*>(&kRound[4 * g])));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);                           // new abef
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E));  // and again
        }
        abef = _mm_add_epi32(abef, abef_before);
        cdgh = _mm_add_epi32(cdgh, cdgh_before);
    }
    const __m128i ab_ef = _mm_shuffle_epi32(abef, 0x1B);  // a b e f
    const __m128i gh_cd = _mm_shuffle_epi32(cdgh, 0xB1);  // g h c d
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[0]), _mm_blend_epi16(ab_ef, gh_cd, 0xF0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(&state[4]), _mm_alignr_epi8(gh_cd, ab_ef, 8));
}
#endif

using Compress = void (*)(std::array<uint32_t, 8>&, const uint8_t*, size_t);

Compress chosen_compress() {
#ifdef SENSOR_SHA256_X86
    if (cpu_has_sha_extensions()) {
        return compress_sha_ni;
    }
#endif
    return sha256_detail::compress_portable;
}

void compress(std::array<uint32_t, 8>& state, const uint8_t* data, size_t blocks) {
    static const Compress chosen = chosen_compress();
    chosen(state, data, blocks);
}

}  // namespace

namespace sha256_detail {

void compress_portable(std::array<uint32_t, 8>& state, const uint8_t* data, size_t blocks) {
    for (size_t block = 0; block < blocks; ++block, data += 64) {
        const uint8_t* p = data;
        uint32_t w[64];
        for (size_t i = 0; i < 16; ++i) {
            w[i] = uint32_t{p[4 * i]} << 24 | uint32_t{p[4 * i + 1]} << 16 |
                   uint32_t{p[4 * i + 2]} << 8 | uint32_t{p[4 * i + 3]};
        }
        for (size_t i = 16; i < 64; ++i) {
            uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = state[0], b = state[1], c = state[2], d = state[3], e = state[4], f = state[5],
                 g = state[6], h = state[7];
        for (size_t i = 0; i < 64; ++i) {
            uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                          kRound[i] + w[i];
            uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            h = g;
            g = f;
            f = e;
            e = d + t1;
            d = c;
            c = b;
            b = a;
            a = t1 + t2;
        }
        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
        state[4] += e;
        state[5] += f;
        state[6] += g;
        state[7] += h;
    }
}

bool compress_accelerated(std::array<uint32_t, 8>& state, const uint8_t* data, size_t blocks) {
#ifdef SENSOR_SHA256_X86
    if (cpu_has_sha_extensions()) {
        compress_sha_ni(state, data, blocks);
        return true;
    }
#endif
    (void)state;
    (void)data;
    (void)blocks;
    return false;
}

}  // namespace sha256_detail

Sha256::Sha256()
    : h_{0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19} {}

void Sha256::update(std::string_view data) {
    total_ += data.size();
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    size_t left = data.size();
    if (buf_len_ > 0) {
        const size_t take = std::min(left, buf_.size() - buf_len_);
        std::memcpy(buf_.data() + buf_len_, p, take);
        buf_len_ += take;
        p += take;
        left -= take;
        if (buf_len_ < buf_.size()) {
            return;
        }
        compress(h_, buf_.data(), 1);
        buf_len_ = 0;
    }
    const size_t whole = left / buf_.size();
    if (whole > 0) {
        compress(h_, p, whole);
        p += whole * buf_.size();
        left -= whole * buf_.size();
    }
    if (left > 0) {
        std::memcpy(buf_.data(), p, left);
        buf_len_ = left;
    }
}

std::string Sha256::hex_digest() {
    const uint64_t bits = total_ * 8;
    buf_[buf_len_++] = 0x80;
    if (buf_len_ > 56) {
        std::memset(buf_.data() + buf_len_, 0, buf_.size() - buf_len_);
        compress(h_, buf_.data(), 1);
        buf_len_ = 0;
    }
    std::memset(buf_.data() + buf_len_, 0, 56 - buf_len_);
    for (size_t i = 0; i < 8; ++i) {
        buf_[56 + i] = static_cast<uint8_t>(bits >> (56 - 8 * i));
    }
    compress(h_, buf_.data(), 1);
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(64);
    for (uint32_t word : h_) {
        for (int shift = 28; shift >= 0; shift -= 4) {
            out.push_back(kHex[(word >> shift) & 0xF]);
        }
    }
    return out;
}

std::string sha256_hex(std::string_view data) {
    Sha256 h;
    h.update(data);
    return h.hex_digest();
}

core::Result<std::string> sha256_files(const std::vector<std::string>& paths) {
    Sha256 h;
    std::string chunk(size_t{64} * 1024, '\0');
    for (const std::string& path : paths) {
        std::ifstream f(path, std::ios::binary | std::ios::ate);
        if (!f) {
            return core::make_error(path + ": cannot read: " + std::strerror(errno));
        }
        const auto size = static_cast<uint64_t>(f.tellg());
        f.seekg(0);
        h.update(std::to_string(size) + "\n");
        while (f) {
            f.read(chunk.data(), static_cast<std::streamsize>(chunk.size()));
            h.update(std::string_view(chunk.data(), static_cast<size_t>(f.gcount())));
        }
        if (f.bad()) {
            return core::make_error(path + ": read failed");
        }
    }
    return h.hex_digest();
}

}  // namespace sensor::core
