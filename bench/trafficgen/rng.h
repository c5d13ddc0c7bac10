#pragma once
// Rng: the generator's only source of randomness, one per scenario. std::mt19937_64's output
// sequence is fixed by the standard; the std distributions are not (they differ between
// library implementations), so the range functions here are our own to keep files byte-identical.

#include <cstddef>
#include <cstdint>
#include <random>
#include <span>

namespace sensor::trafficgen {

// SplitMix64 finaliser: spreads a seed or an address over 64 bits.
inline uint64_t mix64(uint64_t x) noexcept {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

class Rng {
public:
    explicit Rng(uint64_t seed) : engine_(seed) {}

    uint64_t next() { return engine_(); }
    // Uniform in [lo, hi]; the modulo bias is far below anything traffic shaping can notice.
    uint64_t between(uint64_t lo, uint64_t hi) { return lo + next() % (hi - lo + 1); }
    int64_t between_i(int64_t lo, int64_t hi) {
        return lo + static_cast<int64_t>(next() % static_cast<uint64_t>(hi - lo + 1));
    }
    double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    bool chance(double p) { return unit() < p; }
    // Eight bytes per draw, most significant first.
    void fill(std::span<uint8_t> out) {
        uint64_t bits = 0;
        for (size_t i = 0; i < out.size(); ++i) {
            if (i % 8 == 0) {
                bits = next();
            }
            out[i] = static_cast<uint8_t>(bits >> 56);
            bits <<= 8;
        }
    }
    template <class T>
    const T& pick(std::span<const T> items) {
        return items[static_cast<size_t>(next() % items.size())];
    }
    // An independent stream for a sub-task, so adding draws in one place leaves others alone.
    Rng fork(uint64_t salt) { return Rng(mix64(next() ^ mix64(salt))); }

private:
    std::mt19937_64 engine_;
};

}  // namespace sensor::trafficgen
