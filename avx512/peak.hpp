// lanes avx512: the loops of the peak probe (kernels/peak.hpp) for the 512-bit instructions.
// Same structure as avx2/peak.hpp, with 16 zmm accumulators (of 32 registers).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "../kernels/target.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX512)
namespace lanes::avx512 {

// The INT8 multiply-add sequences on zmm, through inline asm for the reason given in avx2/peak.hpp
// (with the intrinsics, GCC 12 spilled the 24 accumulators of the 12 x 32 microkernel to the stack).

// acc += vpmaddwd(a, b), the exact scheme of avx512/gemm_u8s8.hpp.
inline __m512i madd16_accumulate(__m512i acc, __m512i a, __m512i b) {
    __m512i product;
    __asm__("vpmaddwd %[b], %[a], %[product]\n\t"
            "vpaddd %[product], %[acc], %[acc]"
            : [acc] "+v"(acc), [product] "=&v"(product)
            : [a] "v"(a), [b] "v"(b));
    return acc;
}

// acc += vpmaddwd(vpmaddubsw(a, b), ones), the saturating sequence (for comparison only).
inline __m512i maddubs_accumulate(__m512i acc, __m512i a, __m512i b, __m512i ones) {
    __m512i product;
    __asm__("vpmaddubsw %[b], %[a], %[product]\n\t"
            "vpmaddwd %[ones], %[product], %[product]\n\t"
            "vpaddd %[product], %[acc], %[acc]"
            : [acc] "+v"(acc), [product] "=&v"(product)
            : [a] "v"(a), [b] "v"(b), [ones] "v"(ones));
    return acc;
}

inline constexpr int peak_accumulators = 16;

// 16 vfmadd231ps zmm per iteration: 16 * 16 lanes * 2 flops.
inline float fma_peak_loop(std::int64_t iterations, float seed) {
    __m512 acc[peak_accumulators];
#pragma GCC unroll 16
    for (int r = 0; r < peak_accumulators; ++r) acc[r] = _mm512_set1_ps(seed * static_cast<float>(r));
    __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(seed);
    for (std::int64_t it = 0; it < iterations; ++it) {
        __asm__ volatile("" : "+v"(x), "+v"(y));
#pragma GCC unroll 16
        for (int r = 0; r < peak_accumulators; ++r) acc[r] = _mm512_fmadd_ps(acc[r], x, y);
    }
    __m512 sum = acc[0];
#pragma GCC unroll 16
    for (int r = 1; r < peak_accumulators; ++r) sum = _mm512_add_ps(sum, acc[r]);
    return _mm512_cvtss_f32(sum);
}

// vpmaddubsw + vpmaddwd + vpaddd on zmm (AVX-512BW): 64 u8*s8 multiply-adds = 128 ops per sequence.
// Only the vpaddd is loop-carried (1 cycle of latency), so 8 chains keep the multiply ports busy; 12
// would not fit the registers next to the weights and GCC would spill accumulators to the stack.
inline constexpr int maddubs_chains = 8;

inline std::int32_t maddubs_peak_loop(std::int64_t iterations, std::int32_t seed) {
    // Each accumulator gets its own weights, read from memory as a kernel reads packed B: with one
    // shared pair of inputs the compiler would compute vpmaddubsw once and reuse it for every chain.
    std::int8_t weights[maddubs_chains * 64];
    for (int i = 0; i < maddubs_chains * 64; ++i) weights[i] = static_cast<std::int8_t>(seed + i);
    __m512i acc[maddubs_chains];
#pragma GCC unroll 8
    for (int r = 0; r < maddubs_chains; ++r) acc[r] = _mm512_set1_epi32(seed + r);
    __m512i a = _mm512_set1_epi8(3);
    const __m512i ones = _mm512_set1_epi16(1);
    const std::int8_t* b = weights;
    for (std::int64_t it = 0; it < iterations; ++it) {
        __asm__ volatile("" : "+v"(a), "+r"(b));  // the loads below must be redone every iteration
#pragma GCC unroll 8
        for (int r = 0; r < maddubs_chains; ++r) {
            const __m512i w = _mm512_loadu_si512(b + r * 64);
            acc[r] = maddubs_accumulate(acc[r], a, w, ones);
        }
    }
    __m512i sum = acc[0];
#pragma GCC unroll 8
    for (int r = 1; r < maddubs_chains; ++r) sum = _mm512_add_epi32(sum, acc[r]);
    std::int32_t lanes[16];
    _mm512_storeu_si512(lanes, sum);  // (GCC 12 warns spuriously on _mm512_castsi512_si128)
    return lanes[0];
}

// vpmaddwd + vpaddd on zmm, the exact INT8 scheme of avx512/gemm_u8s8.hpp (u8 and s8 widened to 16
// bits): 32 16-bit multiply-adds = 64 ops per pair, madd16_chains pairs per iteration, each vpmaddwd
// reading its own weights from memory as the microkernel reads packed B.
inline constexpr int madd16_chains = 8;

inline std::int32_t madd16_peak_loop(std::int64_t iterations, std::int32_t seed) {
    std::int16_t weights[madd16_chains * 32];
    for (int i = 0; i < madd16_chains * 32; ++i) weights[i] = static_cast<std::int16_t>(seed + i);
    __m512i acc[madd16_chains];
#pragma GCC unroll 8
    for (int r = 0; r < madd16_chains; ++r) acc[r] = _mm512_set1_epi32(seed + r);
    __m512i a = _mm512_set1_epi16(3);
    const std::int16_t* b = weights;
    for (std::int64_t it = 0; it < iterations; ++it) {
        __asm__ volatile("" : "+v"(a), "+r"(b));  // the loads below must be redone every iteration
#pragma GCC unroll 8
        for (int r = 0; r < madd16_chains; ++r)
            acc[r] = madd16_accumulate(acc[r], a, _mm512_loadu_si512(b + r * 32));
    }
    __m512i sum = acc[0];
#pragma GCC unroll 8
    for (int r = 1; r < madd16_chains; ++r) sum = _mm512_add_epi32(sum, acc[r]);
    std::int32_t lanes[16];
    _mm512_storeu_si512(lanes, sum);
    return lanes[0];
}

// Reads `bytes` bytes once, in order, and returns their sum: vpsadbw against zero adds each 8 bytes
// of a load into a 64-bit lane, 256 bytes per iteration in four independent chains, then whole
// vectors, then single bytes. Two operations per 64 bytes, far below what memory delivers.
inline std::uint64_t read_loop(const std::uint8_t* data, std::int64_t bytes) {
    const __m512i zero = _mm512_setzero_si512();
    __m512i s0 = zero, s1 = zero, s2 = zero, s3 = zero;
    auto add = [&](__m512i sum, std::int64_t at) { return _mm512_add_epi64(sum, _mm512_sad_epu8(_mm512_loadu_si512(data + at), zero)); };
    std::int64_t i = 0;
    for (; i + 256 <= bytes; i += 256) {
        s0 = add(s0, i);
        s1 = add(s1, i + 64);
        s2 = add(s2, i + 128);
        s3 = add(s3, i + 192);
    }
    for (; i + 64 <= bytes; i += 64) s0 = add(s0, i);
    std::uint64_t lanes[8];
    _mm512_storeu_si512(lanes, _mm512_add_epi64(_mm512_add_epi64(s0, s1), _mm512_add_epi64(s2, s3)));
    std::uint64_t sum = 0;
    for (const std::uint64_t lane : lanes) sum += lane;
    for (; i < bytes; ++i) sum += data[i];
    return sum;
}

}  // namespace lanes::avx512
LANES_TARGET_END
