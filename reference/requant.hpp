// lanes reference: the INT8 epilogue, one output element at a time.
//
// This is the definition every SIMD epilogue reproduces bit for bit (see kernels/gemm.hpp):
//
//     t = float(acc + bias)           int32 add (exact by the k and bias limits), one rounding to float
//     t = t * scale                   one float multiply
//     f32 output:  relu? max(t, 0) : t
//     u8/s8:       clamp(nearbyint(t) + zero_point, lo, hi)
//
// nearbyint under the default rounding mode rounds half to even, as cvtps2dq does. The clamp is done
// on floats: nearbyint(t) is an integer-valued float, and when |t| >= 2^24 the float addition of the
// zero point may round, but any such value lies far outside [lo, hi] and clamps to the same bound as
// the exact sum would.
#pragma once

#include <cmath>
#include <cstdint>

#include "../kernels/gemm.hpp"

namespace lanes::ref {

struct output_range {
    float lo, hi;
};

inline output_range int8_output_range(const requant_params& q) {
    output_range r = q.out == dtype::u8 ? output_range{0.0f, 255.0f} : output_range{-128.0f, 127.0f};
    if (q.relu && static_cast<float>(q.zero_point) > r.lo) r.lo = static_cast<float>(q.zero_point);
    return r;
}

// float(acc + bias[channel]) * scale[channel]: the first two steps of the epilogue.
inline float scale_accumulator(std::int32_t acc, const requant_params& q, std::int64_t channel) {
    const std::int32_t biased = acc + (q.bias != nullptr ? q.bias[channel] : 0);
    return static_cast<float>(biased) * q.scale[channel];
}

// The last steps for a u8, s8 or f32 output: ReLU, or round half to even, add the zero point, clamp.
inline void store_scaled(float scaled, const requant_params& q, void* out, std::int64_t index) {
    if (q.out == dtype::f32) {
        static_cast<float*>(out)[index] = q.relu && scaled < 0.0f ? 0.0f : scaled;
        return;
    }
    const output_range range = int8_output_range(q);
    float shifted = std::nearbyint(scaled) + static_cast<float>(q.zero_point);
    shifted = shifted < range.lo ? range.lo : (shifted > range.hi ? range.hi : shifted);
    if (q.out == dtype::u8) static_cast<std::uint8_t*>(out)[index] = static_cast<std::uint8_t>(shifted);
    else static_cast<std::int8_t*>(out)[index] = static_cast<std::int8_t>(shifted);
}

// The whole epilogue: writes element `index` of `out` (of type q.out) for output channel `channel`.
inline void requantize_store(std::int32_t acc, const requant_params& q, std::int64_t channel, void* out,
                             std::int64_t index) {
    if (q.out == dtype::s32) {
        const std::int32_t biased = acc + (q.bias != nullptr ? q.bias[channel] : 0);
        static_cast<std::int32_t*>(out)[index] = q.relu && biased < 0 ? 0 : biased;
        return;
    }
    store_scaled(scale_accumulator(acc, q, channel), q, out, index);
}

// The epilogue with a u8 residual r joining before the ReLU and the rounding (conv2d_u8s8 and
// gemm_u8s8 define it alike): scale_accumulator + float(r - zero_point) * residual_scale, then store_scaled.
inline void requantize_store_residual(std::int32_t acc, const requant_params& q, std::int64_t channel, void* out,
                                      std::int64_t index, std::uint8_t r, float residual_scale, std::int32_t residual_zero_point) {
    const float residual = static_cast<float>(static_cast<std::int32_t>(r) - residual_zero_point) * residual_scale;
    store_scaled(scale_accumulator(acc, q, channel) + residual, q, out, index);
}

// Element (i, j) of an INT8 GEMM's C from its accumulator, with the optional residual (kernels/gemm.hpp).
inline void gemm_u8s8_store(std::int32_t acc, const gemm_u8s8_args& p, std::int64_t i, std::int64_t j) {
    const std::int64_t index = i * p.ldc + j;
    if (p.residual == nullptr) return requantize_store(acc, p.requant, j, p.c, index);
    requantize_store_residual(acc, p.requant, j, p.c, index, p.residual[i * p.ldr + j], p.residual_scale, p.residual_zero_point);
}

// Quantize one float with a per-tensor scale: clamp(nearbyint(x * (1 / scale)) + zero_point, lo, hi).
// The reciprocal is computed once in float, as PyTorch does, and NaN maps to the zero point.
inline float quantize_value(float x, float inverse_scale, std::int32_t zero_point, float lo, float hi) {
    if (std::isnan(x)) return static_cast<float>(zero_point);
    float q = std::nearbyint(x * inverse_scale) + static_cast<float>(zero_point);
    return q < lo ? lo : (q > hi ? hi : q);
}

}  // namespace lanes::ref
