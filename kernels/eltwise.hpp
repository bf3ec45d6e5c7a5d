// lanes: arguments of the elementwise operations (ReLU, add, softmax, quantize, dequantize) and their
// validation. Each may run in place (output == input).
//
//   relu        f32: max(x, 0)            u8: max(x, zero_point)   (ReLU at the quantized zero)
//   add_f32     out = relu?(a + b)
//   add_u8      ta = float(a - a_zp) * a_scale;  tb = float(b - b_zp) * b_scale;  t = ta + tb;
//               out = clamp(nearbyint(t * (1 / out_scale)) + out_zp, relu ? out_zp : 0, 255)
//               (each step one rounding, in this order; 1 / out_scale is computed once in float)
//   softmax     per row of `cols` values: exp(x - max) / sum exp(x - max)
//   quantize    q = clamp(nearbyint(x * (1 / scale)) + zero_point, type range); NaN -> zero_point
//   dequantize  x = float(q - zero_point) * scale
#pragma once

#include <cmath>
#include <cstdint>

#include "error.hpp"
#include "gemm.hpp"

namespace lanes {

struct relu_args {
    std::int64_t count = 0;
    dtype type = dtype::f32;  // f32 or u8
    const void* input = nullptr;
    void* output = nullptr;
    std::int32_t zero_point = 0;  // u8 only
};

struct add_f32_args {
    std::int64_t count = 0;
    const float* a = nullptr;
    const float* b = nullptr;
    float* output = nullptr;
    bool relu = false;
};

struct add_u8_args {
    std::int64_t count = 0;
    const std::uint8_t* a = nullptr;
    float a_scale = 1.0f;
    std::int32_t a_zero_point = 0;
    const std::uint8_t* b = nullptr;
    float b_scale = 1.0f;
    std::int32_t b_zero_point = 0;
    std::uint8_t* output = nullptr;
    float output_scale = 1.0f;
    std::int32_t output_zero_point = 0;
    bool relu = false;
};

struct softmax_args {
    std::int64_t rows = 0, cols = 0;  // softmax over each row of cols contiguous values
    const float* input = nullptr;
    float* output = nullptr;
};

struct quantize_args {
    std::int64_t count = 0;
    const float* input = nullptr;
    float scale = 1.0f;
    std::int32_t zero_point = 0;
    dtype out = dtype::u8;  // u8 or s8
    void* output = nullptr;
};

struct dequantize_args {
    std::int64_t count = 0;
    const void* input = nullptr;
    dtype in = dtype::u8;  // u8, s8 or s32
    float scale = 1.0f;
    std::int32_t zero_point = 0;
    float* output = nullptr;
};

inline void validate_scale(const arg_check& check, const char* name, float scale) {
    if (!std::isfinite(scale) || scale <= 0.0f) fail(check.op, ": ", name, " = ", scale, " must be finite and positive");
}

inline void validate_zero_point(const arg_check& check, const char* name, std::int32_t zero_point, dtype type) {
    const std::int32_t lo = type == dtype::s8 ? -128 : 0, hi = type == dtype::s8 ? 127 : 255;
    if (type == dtype::s32 || type == dtype::f32) return;
    if (zero_point < lo || zero_point > hi)
        fail(check.op, ": ", name, " = ", zero_point, " is outside [", lo, ", ", hi, "] for ", dtype_name(type));
}

inline void validate(const relu_args& p) {
    const arg_check check{"relu"};
    check.positive("count", p.count);
    check.not_null("input", p.input);
    check.not_null("output", p.output);
    if (p.type != dtype::f32 && p.type != dtype::u8)
        fail("relu: type = ", dtype_name(p.type), " is not supported (f32 or u8)");
    validate_zero_point(check, "zero_point", p.zero_point, p.type);
}

inline void validate(const add_f32_args& p) {
    const arg_check check{"add_f32"};
    check.positive("count", p.count);
    check.not_null("a", p.a);
    check.not_null("b", p.b);
    check.not_null("output", p.output);
}

inline void validate(const add_u8_args& p) {
    const arg_check check{"add_u8"};
    check.positive("count", p.count);
    check.not_null("a", p.a);
    check.not_null("b", p.b);
    check.not_null("output", p.output);
    validate_scale(check, "a_scale", p.a_scale);
    validate_scale(check, "b_scale", p.b_scale);
    validate_scale(check, "output_scale", p.output_scale);
    validate_zero_point(check, "a_zero_point", p.a_zero_point, dtype::u8);
    validate_zero_point(check, "b_zero_point", p.b_zero_point, dtype::u8);
    validate_zero_point(check, "output_zero_point", p.output_zero_point, dtype::u8);
}

inline void validate(const softmax_args& p) {
    const arg_check check{"softmax"};
    check.positive("rows", p.rows);
    check.positive("cols", p.cols);
    check.not_null("input", p.input);
    check.not_null("output", p.output);
    check.product("the input", {p.rows, p.cols});
}

inline void validate(const quantize_args& p) {
    const arg_check check{"quantize"};
    check.positive("count", p.count);
    check.not_null("input", p.input);
    check.not_null("output", p.output);
    if (p.out != dtype::u8 && p.out != dtype::s8)
        fail("quantize: out = ", dtype_name(p.out), " is not supported (u8 or s8)");
    validate_scale(check, "scale", p.scale);
    validate_zero_point(check, "zero_point", p.zero_point, p.out);
}

inline void validate(const dequantize_args& p) {
    const arg_check check{"dequantize"};
    check.positive("count", p.count);
    check.not_null("input", p.input);
    check.not_null("output", p.output);
    if (p.in == dtype::f32) fail("dequantize: in = f32 is not supported (u8, s8 or s32)");
    validate_scale(check, "scale", p.scale);
    validate_zero_point(check, "zero_point", p.zero_point, p.in);
}

}  // namespace lanes
