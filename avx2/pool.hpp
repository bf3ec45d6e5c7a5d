// lanes avx2: NHWC max pooling on ymm registers (kernels/pool_kernels-inl.hpp): 8 floats or 32 bytes
// of channels per instruction. AVX2 has no byte masks, so the last group of u8 channels goes through a
// small stack buffer; float tails use vmaskmovps.
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

#include "../kernels/pool_kernels-inl.hpp"

}  // namespace lanes::avx2
LANES_TARGET_END
