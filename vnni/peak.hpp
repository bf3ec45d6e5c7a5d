// lanes vnni: the vpdpbusd loops of the peak probe (kernels/peak.hpp).
//
// vpdpbusd multiplies 4 adjacent u8 x s8 pairs per 32-bit lane and adds them to the lane:
// 16 lanes * 4 multiply-adds = 128 ops per zmm instruction, 64 per ymm. Its latency is ~5 cycles, so
// 16 (zmm) or 12 (ymm) independent accumulators keep both ports busy.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "../kernels/target.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX512VNNI)
namespace lanes::vnni {

inline std::int32_t dpbusd_zmm_peak_loop(std::int64_t iterations, std::int32_t seed) {
    constexpr int accumulators = 16;
    __m512i acc[accumulators];
#pragma GCC unroll 16
    for (int r = 0; r < accumulators; ++r) acc[r] = _mm512_set1_epi32(seed + r);
    __m512i a = _mm512_set1_epi8(3), b = _mm512_set1_epi8(static_cast<char>(seed));
    for (std::int64_t it = 0; it < iterations; ++it) {
        __asm__ volatile("" : "+v"(a), "+v"(b));
#pragma GCC unroll 16
        for (int r = 0; r < accumulators; ++r) acc[r] = _mm512_dpbusd_epi32(acc[r], a, b);
    }
    __m512i sum = acc[0];
#pragma GCC unroll 16
    for (int r = 1; r < accumulators; ++r) sum = _mm512_add_epi32(sum, acc[r]);
    std::int32_t lanes[16];
    _mm512_storeu_si512(lanes, sum);  // (GCC 12 warns spuriously on _mm512_castsi512_si128)
    return lanes[0];
}

}  // namespace lanes::vnni
LANES_TARGET_END

LANES_TARGET_BEGIN(LANES_TARGET_AVXVNNI)
namespace lanes::vnni {

inline std::int32_t dpbusd_ymm_peak_loop(std::int64_t iterations, std::int32_t seed) {
    constexpr int accumulators = 12;
    __m256i acc[accumulators];
#pragma GCC unroll 12
    for (int r = 0; r < accumulators; ++r) acc[r] = _mm256_set1_epi32(seed + r);
    __m256i a = _mm256_set1_epi8(3), b = _mm256_set1_epi8(static_cast<char>(seed));
    for (std::int64_t it = 0; it < iterations; ++it) {
        __asm__ volatile("" : "+v"(a), "+v"(b));
#pragma GCC unroll 12
        for (int r = 0; r < accumulators; ++r) acc[r] = _mm256_dpbusd_avx_epi32(acc[r], a, b);
    }
    __m256i sum = acc[0];
#pragma GCC unroll 12
    for (int r = 1; r < accumulators; ++r) sum = _mm256_add_epi32(sum, acc[r]);
    return _mm_cvtsi128_si32(_mm256_castsi256_si128(sum));
}

}  // namespace lanes::vnni
LANES_TARGET_END
