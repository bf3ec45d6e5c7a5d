// lanes avx2: INT8 GEMM and GEMV on ymm: kernels/gemm_u8s8_kernels-inl.hpp with vpmaddwd on 16-bit
// values (the exact alternative to vpmaddubsw; see docs/gemm_u8s8.md).
//
// Microkernel gemm_u8s8_6x16: MR x NR = 6 x 16, two ymm of 8 int32 columns per row of C.
//   ymm0..11   the accumulators c[i][0], c[i][1] for rows i = 0..5
//   2 ymm      B's next pair of k for 16 columns, s16;  1 ymm  A's pair as two u16, broadcast
//   1 ymm      the vpmaddwd product before it is added
// Inner loop, once per pair of k: 2 x vmovdqu (B), then 6 x { vpbroadcastd A; 2 x (vpmaddwd; vpaddd) }.
//
// The epilogue operations on ymm (`ymm_int8_epilogue`) are shared with the AVX-VNNI kernel
// (vnni/gemm_u8s8.hpp). AVX2 has no byte-masked store: a partial row of u8/s8 goes through a 16-byte
// stack buffer and memcpy, so nothing past the tile is written.
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

LANES_TARGET_BEGIN(LANES_TARGET_AVX2)
namespace lanes::avx2 {

struct ymm_int8_epilogue {
    static constexpr int lanes = 8;
    using reg = __m256i;
    using freg = __m256;
    struct mask {
        __m256i lanes;  // all-ones lanes are active
        int count;      // how many: lanes [0, count)
    };

    static reg zero() { return _mm256_setzero_si256(); }
    static reg set1(std::int32_t x) { return _mm256_set1_epi32(x); }
    static reg add(reg a, reg b) { return _mm256_add_epi32(a, b); }
    static reg sub(reg a, reg b) { return _mm256_sub_epi32(a, b); }
    // Each lane shifted right by `bits`, zeros in (the partial last group of A read in place).
    static reg shift_right_lanes(reg x, int bits) { return _mm256_srl_epi32(x, _mm_cvtsi32_si128(bits)); }
    static reg mullo(reg a, reg b) { return _mm256_mullo_epi32(a, b); }
    static reg max_zero(reg x) { return _mm256_max_epi32(x, _mm256_setzero_si256()); }
    // The sums of a, b, c and d, in that order, in the four lanes of an xmm: a transpose of the lanes
    // interleaved with the additions, 7 operations for the four sums.
    static __m128i sum4(reg a, reg b, reg c, reg d) {
        const reg ab = _mm256_add_epi32(_mm256_unpacklo_epi32(a, b), _mm256_unpackhi_epi32(a, b));  // per 128 bits: a b a b
        const reg cd = _mm256_add_epi32(_mm256_unpacklo_epi32(c, d), _mm256_unpackhi_epi32(c, d));  // c d c d
        const reg abcd = _mm256_add_epi32(_mm256_unpacklo_epi64(ab, cd), _mm256_unpackhi_epi64(ab, cd));  // a b c d
        return _mm_add_epi32(_mm256_castsi256_si128(abcd), _mm256_extracti128_si256(abcd, 1));
    }
    // low in lanes 0-3, high in lanes 4-7, zeros above.
    static reg join(__m128i low, __m128i high) { return _mm256_inserti128_si256(_mm256_castsi128_si256(low), high, 1); }

    static mask first(std::int64_t count) {
        const int n = count <= 0 ? 0 : count >= lanes ? lanes : static_cast<int>(count);
        return {_mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)), n};
    }
    // The int32 and float stores take the plain instruction when every lane is on (the tiles pass
    // constant masks for a tile of all NR columns, so the test folds away there): vpmaskmovd and
    // vmaskmovps slowed the epilogue of a shallow tile on Zen 5 (docs/gemm_u8s8.md).
    static reg load_first(mask m, const std::int32_t* p) { return _mm256_maskload_epi32(p, m.lanes); }
    static void store_first(mask m, std::int32_t* p, reg v) {
        if (m.count == lanes) _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), v);
        else _mm256_maskstore_epi32(p, m.lanes, v);
    }
    // The first lanes of p[0..8) as int32 (zero elsewhere); a partial group is copied, so nothing past it is read.
    static reg load_u8_first(mask m, const std::uint8_t* p) {
        if (m.count == lanes) return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
        alignas(16) std::uint8_t part[16] = {};
        std::memcpy(part, p, static_cast<std::size_t>(m.count));
        return _mm256_cvtepu8_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(part)));
    }

    static freg fzero() { return _mm256_setzero_ps(); }
    static freg fset1(float x) { return _mm256_set1_ps(x); }
    static freg to_float(reg x) { return _mm256_cvtepi32_ps(x); }
    static freg fload_first(mask m, const float* p) { return _mm256_maskload_ps(p, m.lanes); }
    static void fstore_first(mask m, float* p, freg v) {
        if (m.count == lanes) _mm256_storeu_ps(p, v);
        else _mm256_maskstore_ps(p, m.lanes, v);
    }
    static freg fmul(freg a, freg b) { return _mm256_mul_ps(a, b); }
    static freg fadd(freg a, freg b) { return _mm256_add_ps(a, b); }
    static freg fmin(freg a, freg b) { return _mm256_min_ps(a, b); }
    static freg fmax(freg a, freg b) { return _mm256_max_ps(a, b); }
    static freg fmax_zero(freg x) { return _mm256_max_ps(_mm256_setzero_ps(), x); }
    static freg round_even(freg x) { return _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
    static void store_u8_first(mask m, std::uint8_t* p, freg x) {
        const __m256i words = _mm256_packs_epi32(_mm256_cvtps_epi32(x), _mm256_setzero_si256());
        store_bytes(m, p, _mm256_packus_epi16(words, _mm256_setzero_si256()));
    }
    static void store_s8_first(mask m, std::int8_t* p, freg x) {
        const __m256i words = _mm256_packs_epi32(_mm256_cvtps_epi32(x), _mm256_setzero_si256());
        store_bytes(m, p, _mm256_packs_epi16(words, _mm256_setzero_si256()));
    }

private:
    // After the two packs, bytes 0..3 of each 128-bit half hold lanes 0..3 and 4..7.
    static void store_bytes(mask m, void* p, __m256i packed) {
        const __m128i bytes = _mm_unpacklo_epi32(_mm256_castsi256_si128(packed), _mm256_extracti128_si256(packed, 1));
        if (m.count == lanes) {
            _mm_storel_epi64(static_cast<__m128i*>(p), bytes);
            return;
        }
        alignas(16) std::uint8_t row[16];
        _mm_store_si128(reinterpret_cast<__m128i*>(row), bytes);
        std::memcpy(p, row, static_cast<std::size_t>(m.count));
    }
};

// The multiply-add of this level: vpmaddwd on u8 widened to u16 (A) and s8 widened to s16 (B).
struct ivec : ymm_int8_epilogue {
    static constexpr isa level = isa::avx2;
    static constexpr int group = 2;
    using a_type = std::int16_t;
    using b_type = std::int16_t;
    static reg load_b(const b_type* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
    static reg broadcast_a(const a_type* p) {
        std::int32_t pair;
        std::memcpy(&pair, p, sizeof pair);
        return _mm256_set1_epi32(pair);
    }
    // acc += vpmaddwd(a, b), through inline asm (the reason is in peak.hpp, which shares it with the probe).
    static reg madd(reg acc, reg a, reg b) { return madd16_accumulate(acc, a, b); }

    // Dot products (GEMV): 16 k per step, widened on load.
    static constexpr int step = 16, dot_rows_a = 2;
    static reg load_x(const std::uint8_t* p) { return _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
    static reg load_w(const std::int8_t* p) { return _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
    static reg x_ones() { return _mm256_set1_epi16(1); }
    static reg dot(reg acc, reg x, reg w) { return madd(acc, x, w); }
};

#include "../kernels/gemm_u8s8_kernels-inl.hpp"

struct gemm_u8s8_6x16 : gemm_u8s8_kernel<6, 2> {
    static constexpr const char* name = "avx2::gemm_u8s8_6x16";
};

inline void gemm_u8s8(const gemm_u8s8_args& p) { gemm_blocked<gemm_u8s8_6x16>(p); }

}  // namespace lanes::avx2
LANES_TARGET_END
