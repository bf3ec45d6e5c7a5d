// lanes avx512: FP32 GEMM and GEMV on zmm registers: kernels/gemm_f32_kernels-inl.hpp with 16 lanes.
//
// Microkernel gemm_f32_14x32: MR x NR = 14 x 32, two zmm of 16 columns per row of C.
//   zmm0..27   the accumulators c[i][0], c[i][1] for rows i = 0..13
//   2 zmm      the current row of B, B[l][j..j+15] and B[l][j+16..j+31]
//   1 zmm      the broadcast A[i][l]
// Inner loop, once per l: 2 x vmovups (B), then 14 x { vbroadcastss A[i][l]; 2 x vfmadd231ps }.
// That is 28 FMAs for 16 loads: the two FMA ports are the bottleneck (the two load ports are not),
// and 28 independent accumulators cover the 4-cycle FMA latency 3.5 times over. 14 x 32 is the largest
// tile whose accumulators, B row and broadcast fit the 32 registers; docs/gemm_f32.md compares it with
// 8 x 48, 12 x 32 and 6 x 64 as measured here. Measured: 95 % of the FMA peak on an L1-resident panel,
// 65-77 % inside the whole GEMM at 1024^3 and 2048^3, depending on the day (docs/gemm_f32.md). Tails use AVX-512 masks: a masked-off lane is neither
// read nor written. Packing transposes a row-major A (or A's runs) 16 columns at a time in registers
// (vec::transpose), and reads a transposed B with vgatherdps, one column of the panel per instruction.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../kernels/gemm.hpp"
#include "../kernels/gemm_driver.hpp"
#include "../kernels/target.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX512)
namespace lanes::avx512 {

// The vector operations the shared kernels are written in, on zmm registers.
struct vec {
    static constexpr isa level = isa::avx512;
    static constexpr int lanes = 16;
    using reg = __m512;
    using mask = __mmask16;

    static reg zero() { return _mm512_setzero_ps(); }
    static reg set1(float x) { return _mm512_set1_ps(x); }
    static reg load(const float* p) { return _mm512_loadu_ps(p); }
    static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
    static reg fmadd(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
    static reg mul(reg a, reg b) { return _mm512_mul_ps(a, b); }
    static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
    // max(0, x): vmaxps returns its second operand when either is NaN, so a NaN passes as in the reference.
    static reg max_zero(reg x) { return _mm512_maskz_max_ps(0xffff, _mm512_setzero_ps(), x); }
    // The sum of the lanes, as a tree: halves, quarters, then pairs. (The masked forms with every lane
    // set are the plain instructions; GCC 12 warns of an uninitialized variable in the unmasked ones'
    // headers.)
    static float sum(reg v) {
        const __m256 low = half(v, 0), high = half(v, 1);
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(low), _mm256_extractf128_ps(low, 1));
        s = _mm_add_ps(s, _mm_add_ps(_mm256_castps256_ps128(high), _mm256_extractf128_ps(high, 1)));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
    }
    // The sums of a, b, c and d into out[0..4): the lanes transposed and added pairwise on the way
    // (9 operations for the four sums).
    static void sum4(reg a, reg b, reg c, reg d, float* out) {
        const reg ab = _mm512_add_ps(_mm512_maskz_unpacklo_ps(0xffff, a, b), _mm512_maskz_unpackhi_ps(0xffff, a, b));  // a b a b per 128 bits
        const reg cd = _mm512_add_ps(_mm512_maskz_unpacklo_ps(0xffff, c, d), _mm512_maskz_unpackhi_ps(0xffff, c, d));  // c d c d
        const __m512d abd = _mm512_castps_pd(ab), cdd = _mm512_castps_pd(cd);
        const reg abcd = _mm512_add_ps(_mm512_castpd_ps(_mm512_maskz_unpacklo_pd(0xff, abd, cdd)), _mm512_castpd_ps(_mm512_maskz_unpackhi_pd(0xff, abd, cdd)));  // a b c d
        const __m256 h = _mm256_add_ps(half(abcd, 0), half(abcd, 1));
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1)));
    }
    // Lanes [8 i, 8 i + 8) of v.
    static __m256 half(reg v, int i) {
        return _mm256_castpd_ps(i == 0 ? _mm512_maskz_extractf64x4_pd(0xf, _mm512_castps_pd(v), 0) : _mm512_maskz_extractf64x4_pd(0xf, _mm512_castps_pd(v), 1));
    }

    // Lanes [0, count) (count may be negative or exceed the width).
    static mask first(std::int64_t count) {
        if (count <= 0) return 0;
        return count >= lanes ? static_cast<mask>(0xffff) : static_cast<mask>((1u << count) - 1u);
    }
    static reg load_first(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static void store_first(mask m, float* p, reg v) { _mm512_mask_storeu_ps(p, m, v); }
    // Lane i = p[i * stride] for the lanes in m, 0 elsewhere; the byte offsets must fit in int32.
    static bool can_gather(std::int64_t stride) { return stride < (std::int64_t{1} << 31) / 4 / lanes; }
    static reg gather_first(mask m, const float* p, std::int64_t stride) {
        const __m512i index = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                 _mm512_set1_epi32(static_cast<int>(stride)));
        return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, index, p, 4);
    }
    // r[i][j] becomes r[j][i]: the 16 x 16 transpose in four rounds of 16 shuffles. The first two
    // interleave pairs of registers float by float, then pair by pair, so that each 128-bit quarter holds
    // one column of 4 rows; the last two move those quarters into place. Packing A uses it to turn 16
    // columns of the MR rows into 16 columns of the panel.
    static void transpose(reg (&r)[16]) {
        reg t[16];
        for (int j = 0; j < 16; j += 2) {  // t[j], t[j + 1]: rows j, j + 1 interleaved, float by float
            t[j] = _mm512_maskz_unpacklo_ps(0xffff, r[j], r[j + 1]);
            t[j + 1] = _mm512_maskz_unpackhi_ps(0xffff, r[j], r[j + 1]);
        }
        __m512d u[16];  // quarter q of u[4g + c] = column 4q + c of rows 4g .. 4g + 3
        for (int g = 0; g < 16; g += 4) {
            const __m512d a = _mm512_castps_pd(t[g]), b = _mm512_castps_pd(t[g + 1]);
            const __m512d c = _mm512_castps_pd(t[g + 2]), d = _mm512_castps_pd(t[g + 3]);
            u[g] = _mm512_maskz_unpacklo_pd(0xff, a, c);
            u[g + 1] = _mm512_maskz_unpackhi_pd(0xff, a, c);
            u[g + 2] = _mm512_maskz_unpacklo_pd(0xff, b, d);
            u[g + 3] = _mm512_maskz_unpackhi_pd(0xff, b, d);
        }
        for (int c = 0; c < 4; ++c) {
            const reg u0 = _mm512_castpd_ps(u[c]), u1 = _mm512_castpd_ps(u[4 + c]);
            const reg u2 = _mm512_castpd_ps(u[8 + c]), u3 = _mm512_castpd_ps(u[12 + c]);
            const reg low01 = _mm512_maskz_shuffle_f32x4(0xffff, u0, u1, 0x44), high01 = _mm512_maskz_shuffle_f32x4(0xffff, u0, u1, 0xee);
            const reg low23 = _mm512_maskz_shuffle_f32x4(0xffff, u2, u3, 0x44), high23 = _mm512_maskz_shuffle_f32x4(0xffff, u2, u3, 0xee);
            r[c] = _mm512_maskz_shuffle_f32x4(0xffff, low01, low23, 0x88);
            r[4 + c] = _mm512_maskz_shuffle_f32x4(0xffff, low01, low23, 0xdd);
            r[8 + c] = _mm512_maskz_shuffle_f32x4(0xffff, high01, high23, 0x88);
            r[12 + c] = _mm512_maskz_shuffle_f32x4(0xffff, high01, high23, 0xdd);
        }
    }
    // Lane i = p[index[i]] for the lanes in m, 0 elsewhere.
    static reg gather_at(mask m, const float* p, const std::int32_t* index) {
        return _mm512_mask_i32gather_ps(_mm512_setzero_ps(), m, _mm512_maskz_loadu_epi32(m, index), p, 4);
    }
};

#include "../kernels/gemm_f32_kernels-inl.hpp"

struct gemm_f32_14x32 : gemm_f32_kernel<14, 2> {
    static constexpr const char* name = "avx512::gemm_f32_14x32";
};

inline void gemm_f32(const gemm_f32_args& p) { gemm_blocked<gemm_f32_14x32>(p); }

}  // namespace lanes::avx512
LANES_TARGET_END
