// lanes avx2: the loops of the peak probe (kernels/peak.hpp) for the 256-bit instructions.
//
// Each loop keeps many independent accumulators so that it is bound by throughput, not by the latency
// of one dependency chain (an FMA has ~4 cycles of latency and two ports: at least 8 must be in
// flight). An empty asm statement "launders" the inputs every iteration, so the compiler must assume
// they changed and cannot hoist any work out of the loop.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "../kernels/target.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX2)
namespace lanes::avx2 {

// ---- The INT8 multiply-add sequences, written once for this probe and the INT8 kernels ----------------
//
// Through inline asm: with the intrinsics, GCC 12 computes each sum into a fresh register and copies it
// back to the accumulator. That costs a move per sequence here, and in the 6 x 16 microkernel, whose
// 12 accumulators fill the 16 registers, it spilled the accumulators to the stack (measured: 58-64 %
// of this sequence's peak at 1024^3, 95-103 % with the asm). The asm keeps each accumulator in its
// register and needs one more register for the product.

// acc += vpmaddwd(a, b): pairs of 16-bit values multiplied and summed into 32 bits (the exact scheme
// of avx2/gemm_u8s8.hpp).
inline __m256i madd16_accumulate(__m256i acc, __m256i a, __m256i b) {
    __m256i product;
    __asm__("vpmaddwd %[b], %[a], %[product]\n\t"
            "vpaddd %[product], %[acc], %[acc]"
            : [acc] "+x"(acc), [product] "=&x"(product)
            : [a] "x"(a), [b] "x"(b));
    return acc;
}

// acc += vpmaddwd(vpmaddubsw(a, b), ones): u8 x s8 pairs summed into int16 with saturation, then pairs
// of those into 32 bits. The sequence without VNNI that lanes does not use (it saturates); the probe
// measures it for comparison.
inline __m256i maddubs_accumulate(__m256i acc, __m256i a, __m256i b, __m256i ones) {
    __m256i product;
    __asm__("vpmaddubsw %[b], %[a], %[product]\n\t"
            "vpmaddwd %[ones], %[product], %[product]\n\t"
            "vpaddd %[product], %[acc], %[acc]"
            : [acc] "+x"(acc), [product] "=&x"(product)
            : [a] "x"(a), [b] "x"(b), [ones] "x"(ones));
    return acc;
}

inline constexpr int peak_accumulators = 12;  // 12 ymm accumulators + 2 inputs fit the 16 registers

// 12 vfmadd231ps ymm per iteration: 12 * 8 lanes * 2 flops.
inline float fma_peak_loop(std::int64_t iterations, float seed) {
    __m256 acc[peak_accumulators];
#pragma GCC unroll 12
    for (int r = 0; r < peak_accumulators; ++r) acc[r] = _mm256_set1_ps(seed * static_cast<float>(r));
    __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(seed);
    for (std::int64_t it = 0; it < iterations; ++it) {
        __asm__ volatile("" : "+v"(x), "+v"(y));
#pragma GCC unroll 12
        for (int r = 0; r < peak_accumulators; ++r) acc[r] = _mm256_fmadd_ps(acc[r], x, y);
    }
    __m256 sum = acc[0];
#pragma GCC unroll 12
    for (int r = 1; r < peak_accumulators; ++r) sum = _mm256_add_ps(sum, acc[r]);
    return _mm_cvtss_f32(_mm256_castps256_ps128(sum));
}

// The u8 x s8 dot product without VNNI, maddubs_chains times per iteration:
// vpmaddubsw (u8*s8 pairs -> s16), vpmaddwd with ones (s16 pairs -> s32), vpaddd into the accumulator.
// Each sequence does 32 u8*s8 multiply-adds = 64 ops.
// Only the vpaddd is loop-carried (1 cycle of latency), so 8 chains keep the multiply ports busy; 12
// would not fit the registers next to the weights and GCC would spill accumulators to the stack.
inline constexpr int maddubs_chains = 8;

inline std::int32_t maddubs_peak_loop(std::int64_t iterations, std::int32_t seed) {
    // Each accumulator gets its own weights, read from memory as a kernel reads packed B: with one
    // shared pair of inputs the compiler would compute vpmaddubsw once and reuse it for every chain.
    std::int8_t weights[maddubs_chains * 32];
    for (int i = 0; i < maddubs_chains * 32; ++i) weights[i] = static_cast<std::int8_t>(seed + i);
    __m256i acc[maddubs_chains];
#pragma GCC unroll 8
    for (int r = 0; r < maddubs_chains; ++r) acc[r] = _mm256_set1_epi32(seed + r);
    __m256i a = _mm256_set1_epi8(3);
    const __m256i ones = _mm256_set1_epi16(1);
    const std::int8_t* b = weights;
    for (std::int64_t it = 0; it < iterations; ++it) {
        __asm__ volatile("" : "+v"(a), "+r"(b));  // the loads below must be redone every iteration
#pragma GCC unroll 8
        for (int r = 0; r < maddubs_chains; ++r) {
            const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + r * 32));
            acc[r] = maddubs_accumulate(acc[r], a, w, ones);
        }
    }
    __m256i sum = acc[0];
#pragma GCC unroll 8
    for (int r = 1; r < maddubs_chains; ++r) sum = _mm256_add_epi32(sum, acc[r]);
    return _mm_cvtsi128_si32(_mm256_castsi256_si128(sum));
}

// vpmaddwd + vpaddd on ymm, the exact INT8 scheme of avx2/gemm_u8s8.hpp (u8 and s8 widened to 16
// bits): 16 16-bit multiply-adds = 32 ops per pair, madd16_chains pairs per iteration, each vpmaddwd
// reading its own weights from memory as the microkernel reads packed B.
inline constexpr int madd16_chains = 8;

inline std::int32_t madd16_peak_loop(std::int64_t iterations, std::int32_t seed) {
    std::int16_t weights[madd16_chains * 16];
    for (int i = 0; i < madd16_chains * 16; ++i) weights[i] = static_cast<std::int16_t>(seed + i);
    __m256i acc[madd16_chains];
#pragma GCC unroll 8
    for (int r = 0; r < madd16_chains; ++r) acc[r] = _mm256_set1_epi32(seed + r);
    __m256i a = _mm256_set1_epi16(3);
    const std::int16_t* b = weights;
    for (std::int64_t it = 0; it < iterations; ++it) {
        __asm__ volatile("" : "+v"(a), "+r"(b));  // the loads below must be redone every iteration
#pragma GCC unroll 8
        for (int r = 0; r < madd16_chains; ++r)
            acc[r] = madd16_accumulate(acc[r], a, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + r * 16)));
    }
    __m256i sum = acc[0];
#pragma GCC unroll 8
    for (int r = 1; r < madd16_chains; ++r) sum = _mm256_add_epi32(sum, acc[r]);
    return _mm_cvtsi128_si32(_mm256_castsi256_si128(sum));
}

// avx512::read_loop on ymm: the sum of `bytes` bytes, 128 per iteration in four vpsadbw chains.
inline std::uint64_t read_loop(const std::uint8_t* data, std::int64_t bytes) {
    const __m256i zero = _mm256_setzero_si256();
    __m256i s0 = zero, s1 = zero, s2 = zero, s3 = zero;
    auto add = [&](__m256i sum, std::int64_t at) {
        return _mm256_add_epi64(sum, _mm256_sad_epu8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(data + at)), zero));
    };
    std::int64_t i = 0;
    for (; i + 128 <= bytes; i += 128) {
        s0 = add(s0, i);
        s1 = add(s1, i + 32);
        s2 = add(s2, i + 64);
        s3 = add(s3, i + 96);
    }
    for (; i + 32 <= bytes; i += 32) s0 = add(s0, i);
    std::uint64_t lanes[4];
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(lanes), _mm256_add_epi64(_mm256_add_epi64(s0, s1), _mm256_add_epi64(s2, s3)));
    std::uint64_t sum = 0;
    for (const std::uint64_t lane : lanes) sum += lane;
    for (; i < bytes; ++i) sum += data[i];
    return sum;
}

}  // namespace lanes::avx2
LANES_TARGET_END
