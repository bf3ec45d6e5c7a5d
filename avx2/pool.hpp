// lanes avx2: NHWC max and average pooling on ymm registers (kernels/pool_kernels-inl.hpp): 8 floats or
// 32 bytes of channels per instruction for the maximum, 8 channels per sum for averages. AVX2 has no
// byte masks, so the last group of u8 channels goes through a small stack buffer; float tails use
// vmaskmovps.
#pragma once

#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "../kernels/pool.hpp"
#include "../kernels/target.hpp"
#include "../reference/pool.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX2)
namespace lanes::avx2 {

struct pool_f32 {
    using T = float;
    using reg = __m256;
    using mask = __m256i;
    static constexpr int lanes = 8;
    static mask first(std::int64_t n) {
        const int count = n >= lanes ? lanes : static_cast<int>(n);
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static reg load(mask m, const float* p) { return _mm256_maskload_ps(p, m); }
    static void store(mask m, float* p, reg v) { _mm256_maskstore_ps(p, m, v); }
    // As for AVX-512: vmaxps keeps a NaN `best`, and a NaN `v` is blended in.
    static reg max(reg best, reg v) {
        return _mm256_blendv_ps(_mm256_max_ps(v, best), v, _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    }
};

struct pool_u8 {
    using T = std::uint8_t;
    using reg = __m256i;
    using mask = int;  // how many of the 32 lanes are live
    static constexpr int lanes = 32;
    static mask first(std::int64_t n) { return n >= lanes ? lanes : static_cast<int>(n); }
    static reg load(mask m, const std::uint8_t* p) {
        if (m == lanes) return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
        alignas(32) std::uint8_t part[lanes] = {};
        std::memcpy(part, p, static_cast<std::size_t>(m));
        return _mm256_load_si256(reinterpret_cast<const __m256i*>(part));
    }
    static void store(mask m, std::uint8_t* p, reg v) {
        if (m == lanes) return _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
        alignas(32) std::uint8_t part[lanes];
        _mm256_store_si256(reinterpret_cast<__m256i*>(part), v);
        std::memcpy(p, part, static_cast<std::size_t>(m));
    }
    static reg max(reg best, reg v) { return _mm256_max_epu8(best, v); }
};

// Average pooling: 8 channels per sum, f32 in a ymm of floats, u8 widened to a ymm of int32. The 8
// bytes of u8 channels go through a 64-bit word, copied whole or, on the last group, as many bytes as
// there are channels left.
struct avg_f32 : pool_f32 {
    using acc = __m256;
    static acc zero() { return _mm256_setzero_ps(); }
    static acc add(acc sum, mask m, const float* p) { return _mm256_add_ps(sum, load(m, p)); }
    static void store_mean(mask m, float* p, acc sum, float count) { store(m, p, _mm256_div_ps(sum, _mm256_set1_ps(count))); }
};

struct avg_u8 {
    using T = std::uint8_t;
    using acc = __m256i;
    using mask = int;  // how many of the 8 lanes are live
    static constexpr int lanes = 8;
    static mask first(std::int64_t n) { return n >= lanes ? lanes : static_cast<int>(n); }
    static acc zero() { return _mm256_setzero_si256(); }
    static acc add(acc sum, mask m, const std::uint8_t* p) {
        std::uint64_t bytes = 0;
        if (m == lanes) std::memcpy(&bytes, p, sizeof bytes);  // a constant size: one 8-byte load
        else std::memcpy(&bytes, p, static_cast<std::size_t>(m));
        return _mm256_add_epi32(sum, _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(static_cast<long long>(bytes))));
    }
    // As on AVX-512: round half to even, at most 255; then 8 int32 narrowed to 8 bytes by two
    // saturating packs (the values are whole numbers in [0, 255], so nothing saturates).
    static void store_mean(mask m, std::uint8_t* p, acc sum, float count) {
        const __m256 mean = _mm256_div_ps(_mm256_cvtepi32_ps(sum), _mm256_set1_ps(count));
        const __m256 rounded = _mm256_min_ps(_mm256_round_ps(mean, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC), _mm256_set1_ps(255.0f));
        const __m256i whole = _mm256_cvttps_epi32(rounded);
        const __m128i words = _mm_packus_epi32(_mm256_castsi256_si128(whole), _mm256_extracti128_si256(whole, 1));
        const std::uint64_t bytes = static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_packus_epi16(words, words)));
        if (m == lanes) std::memcpy(p, &bytes, sizeof bytes);
        else std::memcpy(p, &bytes, static_cast<std::size_t>(m));
    }
};

#include "../kernels/pool_kernels-inl.hpp"

}  // namespace lanes::avx2
LANES_TARGET_END
