// lanes avx2: a first FP32 GEMM kernel, one row of C and 8 columns (one ymm) at a time.
//
// Register tile 1 x 8. Inner loop over k: vbroadcastss op(A)[i][l]; vmaskmovps B[l][j..j+7];
// vfmadd231ps into one accumulator. Latency-bound (one dependent FMA chain), so far from peak: it
// exists so dispatch, tests and benchmarks have an AVX2 kernel from the start. Tails use vmaskmovps,
// which never touches memory in the masked-off lanes. op(B) must not be transposed (the table routes
// a transposed B to the reference).
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "../kernels/gemm.hpp"
#include "../kernels/target.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX2)
namespace lanes::avx2 {

// Lanes [0, count) set, for vmaskmovps (count may exceed 8).
inline __m256i first_lanes(std::int64_t count) {
    const __m256i index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    const int n = count < 8 ? static_cast<int>(count) : 8;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), index);
}

inline void gemm_f32_1x8(const gemm_f32_args& p) {
    const __m256 alpha = _mm256_set1_ps(p.alpha), beta = _mm256_set1_ps(p.beta), zero = _mm256_setzero_ps();
    for (std::int64_t i = 0; i < p.m; ++i) {
        for (std::int64_t j = 0; j < p.n; j += 8) {
            const __m256i mask = first_lanes(p.n - j);
            __m256 acc = _mm256_setzero_ps();
            for (std::int64_t l = 0; l < p.k; ++l) {
                const float a = p.trans_a ? p.a[l * p.lda + i] : p.a[i * p.lda + l];
                acc = _mm256_fmadd_ps(_mm256_set1_ps(a), _mm256_maskload_ps(p.b + l * p.ldb + j, mask), acc);
            }
            float* c = p.c + i * p.ldc + j;
            __m256 value = _mm256_mul_ps(alpha, acc);
            if (p.beta != 0.0f) value = _mm256_add_ps(value, _mm256_mul_ps(beta, _mm256_maskload_ps(c, mask)));
            if (p.bias != nullptr) value = _mm256_add_ps(value, _mm256_maskload_ps(p.bias + j, mask));
            if (p.relu) value = _mm256_max_ps(zero, value);  // NaN passes through, as in the reference
            _mm256_maskstore_ps(c, mask, value);
        }
    }
}

inline bool gemm_f32_1x8_accepts(const gemm_f32_args& p) { return !p.trans_b; }

}  // namespace lanes::avx2
LANES_TARGET_END
