// lanes avx512: NHWC max pooling on zmm registers (kernels/pool_kernels-inl.hpp): 16 floats or 64
// bytes of channels per instruction, masked on the last group.
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

#include "../kernels/pool_kernels-inl.hpp"

}  // namespace lanes::avx512
LANES_TARGET_END
