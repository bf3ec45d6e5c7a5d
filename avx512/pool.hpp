// lanes avx512: NHWC max and average pooling on zmm registers (kernels/pool_kernels-inl.hpp): 16 floats
// or 64 bytes of channels per instruction for the maximum, 16 channels per sum for averages, masked on
// the last group.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "../kernels/pool.hpp"
#include "../kernels/target.hpp"
#include "../reference/pool.hpp"

LANES_TARGET_BEGIN(LANES_TARGET_AVX512)
namespace lanes::avx512 {

struct pool_f32 {
    using T = float;
    using reg = __m512;
    using mask = __mmask16;
    static constexpr int lanes = 16;
    static mask first(std::int64_t n) { return n >= lanes ? static_cast<mask>(0xffff) : static_cast<mask>((1u << n) - 1u); }
    static reg load(mask m, const float* p) { return _mm512_maskz_loadu_ps(m, p); }
    static void store(mask m, float* p, reg v) { _mm512_mask_storeu_ps(p, m, v); }
    // The reference keeps the maximum, and a NaN once seen (the latest one): vmaxps returns its second
    // operand when either is NaN, which keeps a NaN `best`; a NaN `v` is then blended in.
    static reg max(reg best, reg v) {
        const reg larger = _mm512_maskz_max_ps(0xffff, v, best);
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), larger, v);
    }
};

struct pool_u8 {
    using T = std::uint8_t;
    using reg = __m512i;
    using mask = __mmask64;
    static constexpr int lanes = 64;
    static mask first(std::int64_t n) { return n >= lanes ? ~mask{0} : (mask{1} << n) - 1; }
    static reg load(mask m, const std::uint8_t* p) { return _mm512_maskz_loadu_epi8(m, p); }
    static void store(mask m, std::uint8_t* p, reg v) { _mm512_mask_storeu_epi8(p, m, v); }
    static reg max(reg best, reg v) { return _mm512_max_epu8(best, v); }
};

// Average pooling: 16 channels per sum, f32 in a zmm of floats, u8 widened to a zmm of int32.
struct avg_f32 : pool_f32 {
    using acc = __m512;
    static acc zero() { return _mm512_setzero_ps(); }
    static acc add(acc sum, mask m, const float* p) { return _mm512_add_ps(sum, load(m, p)); }
    static void store_mean(mask m, float* p, acc sum, float count) { store(m, p, _mm512_div_ps(sum, _mm512_set1_ps(count))); }
};

struct avg_u8 {
    using T = std::uint8_t;
    using acc = __m512i;
    using mask = __mmask16;
    static constexpr int lanes = 16;
    static mask first(std::int64_t n) { return pool_f32::first(n); }
    static acc zero() { return _mm512_setzero_si512(); }
    // (The maskz forms with every lane on are the plain instructions; GCC 12's plain intrinsics warn
    // that their unused pass-through operand is uninitialized.)
    static constexpr mask all = 0xffff;
    static acc add(acc sum, mask m, const std::uint8_t* p) {
        return _mm512_add_epi32(sum, _mm512_maskz_cvtepu8_epi32(all, _mm_maskz_loadu_epi8(m, p)));
    }
    // float(sum) / count rounded half to even (vrndscaleps, as nearbyint in the default rounding mode), at
    // most 255, then narrowed to bytes (the value is already a whole number in [0, 255]).
    static void store_mean(mask m, std::uint8_t* p, acc sum, float count) {
        const __m512 mean = _mm512_div_ps(_mm512_maskz_cvtepi32_ps(all, sum), _mm512_set1_ps(count));
        const __m512 rounded = _mm512_maskz_min_ps(all, _mm512_maskz_roundscale_ps(all, mean, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                                   _mm512_set1_ps(255.0f));
        _mm512_mask_cvtusepi32_storeu_epi8(p, m, _mm512_maskz_cvttps_epi32(all, rounded));
    }
};

#include "../kernels/pool_kernels-inl.hpp"

}  // namespace lanes::avx512
LANES_TARGET_END
