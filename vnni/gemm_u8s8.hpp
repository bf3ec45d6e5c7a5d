// lanes vnni: INT8 GEMM and GEMV with vpdpbusd, on zmm (AVX512-VNNI, namespace lanes::vnni) and on
// ymm (AVX-VNNI, namespace lanes::avxvnni): kernels/gemm_u8s8_kernels-inl.hpp with k in groups of 4.
//
// Microkernel vnni::gemm_u8s8_14x32: MR x NR = 14 x 32, two zmm of 16 int32 columns per row of C.
//   zmm0..27   the accumulators c[i][0], c[i][1] for rows i = 0..13
//   2 zmm      B's next 4 k for 32 columns, s8 (packed: 32 columns x 4 k = 128 bytes)
//   1 zmm      A[i][4g..4g+3], four u8 broadcast as one 32-bit value, straight from row i of A
//              (kernels/gemm_driver.hpp, read_u8_a_directly) or from a packed panel
// Inner loop, once per group of 4 k: 2 x vmovdqu8 (B), then 14 x { vpbroadcastd A; 2 x vpdpbusd }.
// vpdpbusd multiplies the 4 u8 of A by the 4 s8 of B in each 32-bit lane and adds the four products
// and the accumulator in 32 bits, without the int16 intermediate of vpmaddubsw: exact for every input.
// 28 multiply-adds for 16 loads; 28 independent accumulators cover its 5-cycle latency on 2 ports.
//
// Microkernel avxvnni::gemm_u8s8_6x16: the same on the 16 ymm registers: 12 accumulators, 2 B, 1 A.
#pragma once

#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "../avx2/gemm_u8s8.hpp"
#include "../avx512/gemm_u8s8.hpp"
#include "../kernels/gemm.hpp"
#include "../kernels/gemm_driver.hpp"
#include "../kernels/target.hpp"
#include "../reference/requant.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX512VNNI)
namespace lanes::vnni {

struct ivec : avx512::zmm_int8_epilogue {
    static constexpr isa level = isa::avx512vnni;
    static constexpr int group = 4;
    using a_type = std::uint8_t;
    using b_type = std::int8_t;
    static reg load_b(const b_type* p) { return _mm512_loadu_si512(p); }
    static reg broadcast_a(const a_type* p) {
        std::int32_t quad;
        std::memcpy(&quad, p, sizeof quad);
        return _mm512_set1_epi32(quad);
    }
    // vpdpbusd through inline asm: with the intrinsic, GCC 12 gives the result a fresh register and
    // copies it back to the accumulator, and with 28 accumulators it then spills them to the stack
    // (measured: 33 % of peak instead of 80 %). The asm ties the accumulator to its register.
    static reg madd(reg acc, reg a, reg b) {
        __asm__("vpdpbusd %[b], %[a], %[acc]" : [acc] "+v"(acc) : [a] "v"(a), [b] "v"(b));
        return acc;
    }

    // Dot products (GEMV): 64 k per step.
    static constexpr int step = 64, dot_rows_a = 4;
    static reg load_x(const std::uint8_t* p) { return _mm512_loadu_si512(p); }
    static reg load_w(const std::int8_t* p) { return _mm512_loadu_si512(p); }
    static reg x_ones() { return _mm512_set1_epi8(1); }
    static reg dot(reg acc, reg x, reg w) { return madd(acc, x, w); }

    // Packing B: 4 rows (`stride` apart) x 64 columns of a row-major B into the 64 groups of 4 that
    // vpdpbusd reads, columns 16q .. 16q + 15 in out[q]. The unpacks interleave within each 128-bit
    // lane, so u_t holds, in its lane L, the groups of columns 16L + 4t .. 16L + 4t + 3; out[L] is then
    // lane L of u_0 .. u_3, a 4 x 4 transpose of 128-bit lanes (two rounds of vshufi64x2). 24
    // instructions for 256 bytes, where four SSE interleaves of 16 columns (pack_b) take 64.
    static void interleave_b(const std::int8_t* row, std::int64_t stride, reg (&out)[4]) {
        const reg r0 = _mm512_loadu_si512(row), r1 = _mm512_loadu_si512(row + stride);
        const reg r2 = _mm512_loadu_si512(row + 2 * stride), r3 = _mm512_loadu_si512(row + 3 * stride);
        constexpr __mmask64 all8 = ~__mmask64{0};
        constexpr __mmask32 all16 = ~__mmask32{0};
        const reg lo01 = _mm512_maskz_unpacklo_epi8(all8, r0, r1), hi01 = _mm512_maskz_unpackhi_epi8(all8, r0, r1);
        const reg lo23 = _mm512_maskz_unpacklo_epi8(all8, r2, r3), hi23 = _mm512_maskz_unpackhi_epi8(all8, r2, r3);
        const reg u0 = _mm512_maskz_unpacklo_epi16(all16, lo01, lo23), u1 = _mm512_maskz_unpackhi_epi16(all16, lo01, lo23);
        const reg u2 = _mm512_maskz_unpacklo_epi16(all16, hi01, hi23), u3 = _mm512_maskz_unpackhi_epi16(all16, hi01, hi23);
        const reg t0 = _mm512_maskz_shuffle_i64x2(0xff, u0, u1, 0x44), t1 = _mm512_maskz_shuffle_i64x2(0xff, u2, u3, 0x44);  // lanes 0, 1
        const reg t2 = _mm512_maskz_shuffle_i64x2(0xff, u0, u1, 0xee), t3 = _mm512_maskz_shuffle_i64x2(0xff, u2, u3, 0xee);  // lanes 2, 3
        out[0] = _mm512_maskz_shuffle_i64x2(0xff, t0, t1, 0x88);
        out[1] = _mm512_maskz_shuffle_i64x2(0xff, t0, t1, 0xdd);
        out[2] = _mm512_maskz_shuffle_i64x2(0xff, t2, t3, 0x88);
        out[3] = _mm512_maskz_shuffle_i64x2(0xff, t2, t3, 0xdd);
    }
};

#include "../kernels/gemm_u8s8_kernels-inl.hpp"

struct gemm_u8s8_14x32 : gemm_u8s8_kernel<14, 2> {
    static constexpr const char* name = "vnni::gemm_u8s8_14x32";
};

inline void gemm_u8s8(const gemm_u8s8_args& p) { gemm_blocked<gemm_u8s8_14x32>(p); }

}  // namespace lanes::vnni
LANES_TARGET_END

LANES_TARGET_BEGIN(LANES_TARGET_AVXVNNI)
namespace lanes::avxvnni {

struct ivec : avx2::ymm_int8_epilogue {
    static constexpr isa level = isa::avxvnni;
    static constexpr int group = 4;
    using a_type = std::uint8_t;
    using b_type = std::int8_t;
    static reg load_b(const b_type* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
    static reg broadcast_a(const a_type* p) {
        std::int32_t quad;
        std::memcpy(&quad, p, sizeof quad);
        return _mm256_set1_epi32(quad);
    }
    // As on zmm, through asm; {vex} (spelled %{vex%} in GCC asm) selects the AVX-VNNI encoding (the assembler would otherwise emit
    // the EVEX form, an AVX512-VL instruction that a CPU with AVX-VNNI alone cannot run).
    static reg madd(reg acc, reg a, reg b) {
        __asm__("%{vex%} vpdpbusd %[b], %[a], %[acc]" : [acc] "+x"(acc) : [a] "x"(a), [b] "x"(b));
        return acc;
    }

    // Dot products (GEMV): 32 k per step.
    static constexpr int step = 32, dot_rows_a = 2;
    static reg load_x(const std::uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
    static reg load_w(const std::int8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
    static reg x_ones() { return _mm256_set1_epi8(1); }
    static reg dot(reg acc, reg x, reg w) { return madd(acc, x, w); }

    // Packing B: 4 rows x 32 columns into 32 groups of 4, columns 8q .. 8q + 7 in out[q]: the zmm
    // version's unpacks, then out[q] takes 128-bit lane q / 2 of u_{2(q % 2)} and u_{2(q % 2) + 1}
    // (vperm2i128). 20 instructions for 128 bytes, where two SSE interleaves take 32.
    static void interleave_b(const std::int8_t* row, std::int64_t stride, reg (&out)[4]) {
        auto load = [&](std::int64_t r) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + r * stride)); };
        const reg r0 = load(0), r1 = load(1), r2 = load(2), r3 = load(3);
        const reg lo01 = _mm256_unpacklo_epi8(r0, r1), hi01 = _mm256_unpackhi_epi8(r0, r1);
        const reg lo23 = _mm256_unpacklo_epi8(r2, r3), hi23 = _mm256_unpackhi_epi8(r2, r3);
        const reg u0 = _mm256_unpacklo_epi16(lo01, lo23), u1 = _mm256_unpackhi_epi16(lo01, lo23);
        const reg u2 = _mm256_unpacklo_epi16(hi01, hi23), u3 = _mm256_unpackhi_epi16(hi01, hi23);
        out[0] = _mm256_permute2x128_si256(u0, u1, 0x20);
        out[1] = _mm256_permute2x128_si256(u2, u3, 0x20);
        out[2] = _mm256_permute2x128_si256(u0, u1, 0x31);
        out[3] = _mm256_permute2x128_si256(u2, u3, 0x31);
    }
};

#include "../kernels/gemm_u8s8_kernels-inl.hpp"

struct gemm_u8s8_6x16 : gemm_u8s8_kernel<6, 2> {
    static constexpr const char* name = "avxvnni::gemm_u8s8_6x16";
};

inline void gemm_u8s8(const gemm_u8s8_args& p) { gemm_blocked<gemm_u8s8_6x16>(p); }

}  // namespace lanes::avxvnni
LANES_TARGET_END
