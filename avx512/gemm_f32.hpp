// lanes avx512: a first FP32 GEMM kernel, one row of C and 16 columns (one zmm) at a time.
//
// Register tile 1 x 16. Inner loop over k: vbroadcastss op(A)[i][l]; masked vmovups of B[l][j..j+15]
// (zero-masking, so masked-off lanes are never read); vfmadd231ps into one accumulator.
// Latency-bound (one dependent FMA chain), so far from peak: it exists so dispatch, tests and
// benchmarks have an AVX-512 kernel from the start. op(B) must not be transposed.
// (vmaxps returns its second operand when either is NaN, hence max(0, x) and not max(x, 0).)
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "../kernels/gemm.hpp"
#include "../kernels/target.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX512)
namespace lanes::avx512 {

// Lanes [0, count) set (count may exceed 16).
inline __mmask16 first_lanes(std::int64_t count) {
    return count >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << count) - 1u);
}

inline void gemm_f32_1x16(const gemm_f32_args& p) {
    const __m512 alpha = _mm512_set1_ps(p.alpha), beta = _mm512_set1_ps(p.beta), zero = _mm512_setzero_ps();
    for (std::int64_t i = 0; i < p.m; ++i) {
        for (std::int64_t j = 0; j < p.n; j += 16) {
            const __mmask16 mask = first_lanes(p.n - j);
            __m512 acc = _mm512_setzero_ps();
            for (std::int64_t l = 0; l < p.k; ++l) {
                const float a = p.trans_a ? p.a[l * p.lda + i] : p.a[i * p.lda + l];
                acc = _mm512_fmadd_ps(_mm512_set1_ps(a), _mm512_maskz_loadu_ps(mask, p.b + l * p.ldb + j), acc);
            }
            float* c = p.c + i * p.ldc + j;
            __m512 value = _mm512_mul_ps(alpha, acc);
            if (p.beta != 0.0f) value = _mm512_add_ps(value, _mm512_mul_ps(beta, _mm512_maskz_loadu_ps(mask, c)));
            if (p.bias != nullptr) value = _mm512_add_ps(value, _mm512_maskz_loadu_ps(mask, p.bias + j));
            if (p.relu) value = _mm512_maskz_max_ps(0xffff, zero, value);  // NaN passes through, as in the reference
            _mm512_mask_storeu_ps(c, mask, value);
        }
    }
}

inline bool gemm_f32_1x16_accepts(const gemm_f32_args& p) { return !p.trans_b; }

}  // namespace lanes::avx512
LANES_TARGET_END
