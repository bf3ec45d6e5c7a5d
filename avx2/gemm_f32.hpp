// lanes avx2: FP32 GEMM and GEMV on ymm registers: kernels/gemm_f32_kernels-inl.hpp with 8 lanes.
//
// Microkernel gemm_f32_6x16: MR x NR = 6 x 16, two ymm of 8 columns per row of C.
//   ymm0..11   the accumulators c[i][0], c[i][1] for rows i = 0..5
//   2 ymm      the current row of B;  1 ymm  the broadcast A[i][l]
// Inner loop, once per l: 2 x vmovups (B), then 6 x { vbroadcastss A[i][l]; 2 x vfmadd231ps }:
// 12 FMAs for 8 loads, FMA-port bound, 12 accumulators for a 4-cycle latency on two ports. It is the
// largest tile that fits the 16 ymm registers with the B row and a broadcast (15 of 16). Measured:
// 85-88 % of the ymm FMA peak from 256^3 up, about 91 % at 1024^3 and 2048^3 since A is packed by
// transposes (docs/gemm_f32.md). Tails use
// vmaskmovps, which never touches memory in its masked-off lanes. Packing transposes a row-major A (or
// A's runs) 8 columns at a time in registers (vec::transpose), and reads a transposed B with
// vgatherdps, one column of the panel per instruction.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "../kernels/gemm.hpp"
#include "../kernels/gemm_driver.hpp"
#include "../kernels/target.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX2)
namespace lanes::avx2 {

// The vector operations the shared kernels are written in, on ymm registers.
struct vec {
    static constexpr isa level = isa::avx2;
    static constexpr int lanes = 8;
    using reg = __m256;
    using mask = __m256i;  // all-ones lanes are active

    static reg zero() { return _mm256_setzero_ps(); }
    static reg set1(float x) { return _mm256_set1_ps(x); }
    static reg load(const float* p) { return _mm256_loadu_ps(p); }
    static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
    static reg fmadd(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
    static reg mul(reg a, reg b) { return _mm256_mul_ps(a, b); }
    static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
    // max(0, x): vmaxps returns its second operand when either is NaN, so a NaN passes as in the reference.
    static reg max_zero(reg x) { return _mm256_max_ps(_mm256_setzero_ps(), x); }
    // The sum of the lanes, as a tree: the two halves, then pairs.
    static float sum(reg v) {
        __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
    }
    // The sums of a, b, c and d into out[0..4): the lanes transposed and added pairwise on the way
    // (7 operations for the four sums).
    static void sum4(reg a, reg b, reg c, reg d, float* out) {
        const reg ab = _mm256_add_ps(_mm256_unpacklo_ps(a, b), _mm256_unpackhi_ps(a, b));  // a b a b per 128 bits
        const reg cd = _mm256_add_ps(_mm256_unpacklo_ps(c, d), _mm256_unpackhi_ps(c, d));  // c d c d
        const __m256d abd = _mm256_castps_pd(ab), cdd = _mm256_castps_pd(cd);
        const reg abcd = _mm256_add_ps(_mm256_castpd_ps(_mm256_unpacklo_pd(abd, cdd)), _mm256_castpd_ps(_mm256_unpackhi_pd(abd, cdd)));  // a b c d
        _mm_storeu_ps(out, _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1)));
    }

    // Lanes [0, count) (count may be negative or exceed the width).
    static mask first(std::int64_t count) {
        const int n = count <= 0 ? 0 : count >= lanes ? lanes : static_cast<int>(count);
        return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    }
    static reg load_first(mask m, const float* p) { return _mm256_maskload_ps(p, m); }
    static void store_first(mask m, float* p, reg v) { _mm256_maskstore_ps(p, m, v); }
    static bool can_gather(std::int64_t stride) { return stride < (std::int64_t{1} << 31) / 4 / lanes; }
    static reg gather_first(mask m, const float* p, std::int64_t stride) {
        const __m256i index = _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(static_cast<int>(stride)));
        return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, index, _mm256_castsi256_ps(m), 4);
    }
    static reg gather_at(mask m, const float* p, const std::int32_t* index) {
        return _mm256_mask_i32gather_ps(_mm256_setzero_ps(), p, _mm256_maskload_epi32(index, m), _mm256_castsi256_ps(m), 4);
    }
    // r[i][j] becomes r[j][i]: the 8 x 8 transpose in three rounds of 8 shuffles. vunpck{l,h}ps
    // interleave pairs of rows float by float, vshufps takes pairs of those so that each 128-bit half
    // holds one column of 4 rows, and vperm2f128 joins the halves of rows 0-3 and 4-7. Packing A uses
    // it to turn 8 columns of the 6 rows into 8 columns of the panel.
    static void transpose(reg (&r)[8]) {
        reg t[8], u[8];
        for (int j = 0; j < 8; j += 2) {  // t[j] = r_j0 r_(j+1)0 r_j1 r_(j+1)1 | the same for columns 4, 5
            t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
            t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
        }
        for (int g = 0; g < 8; g += 4) {  // u[g + c] = column c of rows g .. g + 3 | column c + 4
            u[g] = _mm256_shuffle_ps(t[g], t[g + 2], 0x44);
            u[g + 1] = _mm256_shuffle_ps(t[g], t[g + 2], 0xee);
            u[g + 2] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0x44);
            u[g + 3] = _mm256_shuffle_ps(t[g + 1], t[g + 3], 0xee);
        }
        for (int c = 0; c < 4; ++c) {
            r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
            r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
        }
    }
};

#include "../kernels/gemm_f32_kernels-inl.hpp"

struct gemm_f32_6x16 : gemm_f32_kernel<6, 2> {
    static constexpr const char* name = "avx2::gemm_f32_6x16";
};

inline void gemm_f32(const gemm_f32_args& p) { gemm_blocked<gemm_f32_6x16>(p); }

}  // namespace lanes::avx2
LANES_TARGET_END
