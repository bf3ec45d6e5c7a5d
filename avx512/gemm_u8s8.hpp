// lanes avx512: INT8 GEMM and GEMV with AVX-512BW on zmm: kernels/gemm_u8s8_kernels-inl.hpp with
// vpmaddwd on 16-bit values (the exact alternative to vpmaddubsw; see docs/gemm_u8s8.md).
//
// Microkernel gemm_u8s8_12x32: MR x NR = 12 x 32, two zmm of 16 int32 columns per row of C.
//   zmm0..23   the accumulators c[i][0], c[i][1] for rows i = 0..11
//   2 zmm      B's next pair of k for 32 columns, s16 (packed: 32 columns x 2 k = 64 int16)
//   1 zmm      A[i][2g], A[i][2g+1] as u16, broadcast as one 32-bit value
//   1 zmm      the vpmaddwd product before it is added
// Inner loop, once per pair of k: 2 x vmovdqu16 (B), then 12 x { vpbroadcastd A; 2 x (vpmaddwd; vpaddd) }.
// vpmaddwd sums two 16 x 16-bit products into 32 bits, which cannot overflow for u8 x s8 inputs, so
// the result is exact for every input (vpmaddubsw would saturate 255 * 127 * 2 at 32767).
//
// The epilogue operations on zmm (`zmm_int8_epilogue`) are shared with the AVX512-VNNI kernel
// (vnni/gemm_u8s8.hpp), which derives its `ivec` from them.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../kernels/gemm.hpp"
#include "../kernels/gemm_driver.hpp"
#include "../kernels/target.hpp"
#include "../reference/requant.hpp"
#include "peak.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX512)
namespace lanes::avx512 {

// int32 lanes, their float conversions and the masked stores of every output type, on zmm.
// Several operations use the zero-masked form with every lane on (maskz(0xffff, ...)): GCC 12's
// unmasked wrappers pass an "undefined" register that -Wmaybe-uninitialized reports as an error.
struct zmm_int8_epilogue {
    static constexpr int lanes = 16;
    using reg = __m512i;
    using freg = __m512;
    using mask = __mmask16;

    static reg zero() { return _mm512_setzero_si512(); }
    static reg set1(std::int32_t x) { return _mm512_set1_epi32(x); }
    static reg add(reg a, reg b) { return _mm512_add_epi32(a, b); }
    static reg sub(reg a, reg b) { return _mm512_sub_epi32(a, b); }
    // Each lane shifted right by `bits`, zeros in (the partial last group of A read in place).
    static reg shift_right_lanes(reg x, int bits) { return _mm512_maskz_srl_epi32(0xffff, x, _mm_cvtsi32_si128(bits)); }
    static reg mullo(reg a, reg b) { return _mm512_mullo_epi32(a, b); }
    static reg max_zero(reg x) { return _mm512_maskz_max_epi32(0xffff, x, _mm512_setzero_si512()); }
    // The sums of a, b, c and d, in that order, in the four lanes of an xmm: a transpose of the lanes
    // interleaved with the additions, 9 operations for the four sums. (The masked
    // forms with every lane set are the plain instructions; GCC 12 warns of an uninitialized variable in
    // the unmasked ones' headers.)
    static __m128i sum4(reg a, reg b, reg c, reg d) {
        const reg ab = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(0xffff, a, b), _mm512_maskz_unpackhi_epi32(0xffff, a, b));  // a b a b per 128 bits
        const reg cd = _mm512_add_epi32(_mm512_maskz_unpacklo_epi32(0xffff, c, d), _mm512_maskz_unpackhi_epi32(0xffff, c, d));  // c d c d
        const reg abcd = _mm512_add_epi32(_mm512_maskz_unpacklo_epi64(0xff, ab, cd), _mm512_maskz_unpackhi_epi64(0xff, ab, cd));  // a b c d
        const __m256i h = _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xf, abcd, 0), _mm512_maskz_extracti64x4_epi64(0xf, abcd, 1));
        return _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
    }
    // low in lanes 0-3, high in lanes 4-7, zeros above.
    static reg join(__m128i low, __m128i high) { return _mm512_maskz_inserti32x4(0xff, _mm512_zextsi128_si512(low), high, 1); }

    // Lanes [0, count) (count may be negative or exceed the width).
    static mask first(std::int64_t count) {
        if (count <= 0) return 0;
        return count >= lanes ? static_cast<mask>(0xffff) : static_cast<mask>((1u << count) - 1u);
    }
    // The u8 load and the int32 and float stores take the plain instruction when every lane is on. The
    // tiles pass constant masks for a tile of all NR columns (columns_of in
    // kernels/gemm_u8s8_kernels-inl.hpp), so the test folds away there. On Zen 5 the masked forms
    // slowed the epilogue of a shallow tile: avx512vnni 3136 x 256 x 64, int32 product 515-569 ->
    // 626-683 GOP/s, with a u8 residual 371-402 -> 427-460 (alternating runs; docs/gemm_u8s8.md).
    static bool all(mask m) { return m == 0xffff; }
    static reg load_first(mask m, const std::int32_t* p) { return _mm512_maskz_loadu_epi32(m, p); }
    // The first lanes of p[0..16) as int32 (zero elsewhere); nothing past them is read.
    static reg load_u8_first(mask m, const std::uint8_t* p) {
        if (all(m)) return _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
        return _mm512_maskz_cvtepu8_epi32(m, _mm_maskz_loadu_epi8(m, p));
    }
    static void store_first(mask m, std::int32_t* p, reg v) {
        if (all(m)) _mm512_storeu_si512(p, v);
        else _mm512_mask_storeu_epi32(p, m, v);
    }

    static freg fzero() { return _mm512_setzero_ps(); }
    static freg fset1(float x) { return _mm512_set1_ps(x); }
    static freg to_float(reg x) { return _mm512_maskz_cvtepi32_ps(0xffff, x); }  // rounds to nearest even, as a C++ cast does
    static freg fload_first(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static void fstore_first(mask m, float* p, freg v) {
        if (all(m)) _mm512_storeu_ps(p, v);
        else _mm512_mask_storeu_ps(p, m, v);
    }
    static freg fmul(freg a, freg b) { return _mm512_mul_ps(a, b); }
    static freg fadd(freg a, freg b) { return _mm512_add_ps(a, b); }
    static freg fmin(freg a, freg b) { return _mm512_maskz_min_ps(0xffff, a, b); }
    static freg fmax(freg a, freg b) { return _mm512_maskz_max_ps(0xffff, a, b); }
    // max(0, x) returning x itself for -0.0, as the reference's `x < 0 ? 0 : x` does.
    static freg fmax_zero(freg x) { return _mm512_maskz_max_ps(0xffff, _mm512_setzero_ps(), x); }
    static freg round_even(freg x) { return _mm512_maskz_roundscale_ps(0xffff, x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    // x holds integers already clamped to the output range, so the conversions are exact.
    static void store_u8_first(mask m, std::uint8_t* p, freg x) { _mm512_mask_cvtusepi32_storeu_epi8(p, m, exact_int(x)); }
    static void store_s8_first(mask m, std::int8_t* p, freg x) { _mm512_mask_cvtsepi32_storeu_epi8(p, m, exact_int(x)); }

private:
    static reg exact_int(freg x) { return _mm512_maskz_cvtps_epi32(0xffff, x); }
};

// The multiply-add of this level: vpmaddwd on u8 widened to u16 (A) and s8 widened to s16 (B).
struct ivec : zmm_int8_epilogue {
    static constexpr isa level = isa::avx512;
    static constexpr int group = 2;
    using a_type = std::int16_t;
    using b_type = std::int16_t;
    static reg load_b(const b_type* p) { return _mm512_loadu_si512(p); }
    static reg broadcast_a(const a_type* p) {
        std::int32_t pair;
        std::memcpy(&pair, p, sizeof pair);
        return _mm512_set1_epi32(pair);
    }
    // acc += vpmaddwd(a, b), through inline asm (the reason is in peak.hpp, which shares it with the probe).
    static reg madd(reg acc, reg a, reg b) { return madd16_accumulate(acc, a, b); }

    // Dot products (GEMV): 32 k per step, widened on load.
    static constexpr int step = 32, dot_rows_a = 4;
    static reg load_x(const std::uint8_t* p) { return _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
    static reg load_w(const std::int8_t* p) { return _mm512_cvtepi8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
    static reg x_ones() { return _mm512_set1_epi16(1); }
    static reg dot(reg acc, reg x, reg w) { return madd(acc, x, w); }
};

#include "../kernels/gemm_u8s8_kernels-inl.hpp"

struct gemm_u8s8_12x32 : gemm_u8s8_kernel<12, 2> {
    static constexpr const char* name = "avx512::gemm_u8s8_12x32";
};

inline void gemm_u8s8(const gemm_u8s8_args& p) { gemm_blocked<gemm_u8s8_12x32>(p); }

}  // namespace lanes::avx512
LANES_TARGET_END
