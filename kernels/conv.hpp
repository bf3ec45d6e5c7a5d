// lanes: arguments of the 2-D convolutions, and their validation.
//
// Activations are NHWC: element (n, y, x, c) of a batch x height x width x channels tensor sits at
// ((n * height + y) * width + x) * channels + c. Weights arrive in PyTorch's OIHW order:
// out_c x (in_c / groups) x kernel_h x kernel_w. Output size follows PyTorch:
//
//     out_h = (in_h + pad_top + pad_bottom - dilation_h * (kernel_h - 1) - 1) / stride_h + 1
//
// FP32:  out = relu?( conv(input, weights) + bias[oc] + residual )      (residual: same shape as out)
// INT8:  acc = sum (input - input_zero_point) * weight, padding contributes nothing (it holds the
//        input zero point), then the epilogue of kernels/gemm.hpp with one addition: with a residual,
//        t = float(acc + bias[oc]) * scale[oc];  t = t + float(residual - residual_zero_point) * residual_scale
//        before the ReLU / rounding / clamp. scale and residual_scale are already in output units
//        (input_scale * weight_scale[oc] / output_scale and residual_scale_real / output_scale).
#pragma once

#include <cstdint>

#include "error.hpp"
#include "gemm.hpp"

namespace lanes {

struct conv2d_shape {
    std::int64_t batch = 1, in_h = 0, in_w = 0, in_c = 0, out_c = 0;
    std::int64_t kernel_h = 1, kernel_w = 1;
    std::int64_t stride_h = 1, stride_w = 1;
    std::int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    std::int64_t dilation_h = 1, dilation_w = 1;
    std::int64_t groups = 1;

    std::int64_t out_h() const { return (in_h + pad_top + pad_bottom - dilation_h * (kernel_h - 1) - 1) / stride_h + 1; }
    std::int64_t out_w() const { return (in_w + pad_left + pad_right - dilation_w * (kernel_w - 1) - 1) / stride_w + 1; }
    // Depth of one output element's dot product.
    std::int64_t reduction() const { return in_c / groups * kernel_h * kernel_w; }
};

struct conv2d_f32_args {
    conv2d_shape shape;
    const float* input = nullptr;     // NHWC
    const float* weights = nullptr;   // OIHW
    const float* bias = nullptr;      // out_c, may be null
    const float* residual = nullptr;  // NHWC like the output, may be null
    bool relu = false;
    float* output = nullptr;          // NHWC
};

struct conv2d_u8s8_args {
    conv2d_shape shape;
    const std::uint8_t* input = nullptr;  // NHWC
    std::int32_t input_zero_point = 0;
    const std::int8_t* weights = nullptr;  // OIHW
    requant_params requant;                // per output channel bias and scale, output type
    const std::uint8_t* residual = nullptr;  // NHWC like the output, may be null
    float residual_scale = 0.0f;
    std::int32_t residual_zero_point = 0;
    void* output = nullptr;  // NHWC of requant.out's type
};

inline void validate_shape(const arg_check& check, const conv2d_shape& s) {
    check.positive("batch", s.batch);
    check.positive("in_h", s.in_h);
    check.positive("in_w", s.in_w);
    check.positive("in_c", s.in_c);
    check.positive("out_c", s.out_c);
    check.positive("kernel_h", s.kernel_h);
    check.positive("kernel_w", s.kernel_w);
    check.positive("stride_h", s.stride_h);
    check.positive("stride_w", s.stride_w);
    check.positive("dilation_h", s.dilation_h);
    check.positive("dilation_w", s.dilation_w);
    check.positive("groups", s.groups);
    if (s.pad_top < 0 || s.pad_left < 0 || s.pad_bottom < 0 || s.pad_right < 0)
        fail(check.op, ": padding (top ", s.pad_top, ", left ", s.pad_left, ", bottom ", s.pad_bottom, ", right ",
             s.pad_right, ") must not be negative");
    if (s.in_c % s.groups != 0 || s.out_c % s.groups != 0)
        fail(check.op, ": groups = ", s.groups, " must divide in_c = ", s.in_c, " and out_c = ", s.out_c);
    const std::int64_t span_h = check.product("the dilated kernel", {s.dilation_h, s.kernel_h - 1});
    const std::int64_t span_w = check.product("the dilated kernel", {s.dilation_w, s.kernel_w - 1});
    if (span_h >= s.in_h + s.pad_top + s.pad_bottom || span_w >= s.in_w + s.pad_left + s.pad_right)
        fail(check.op, ": the ", s.kernel_h, "x", s.kernel_w, " kernel (dilation ", s.dilation_h, "x", s.dilation_w,
             ") is larger than the padded ", s.in_h, "x", s.in_w, " input");
    check.product("the input", {s.batch, s.in_h, s.in_w, s.in_c});
    check.product("the output", {s.batch, s.out_h(), s.out_w(), s.out_c});
    check.product("the weights", {s.out_c, s.in_c / s.groups, s.kernel_h, s.kernel_w});
}

inline void validate(const conv2d_f32_args& p) {
    const arg_check check{"conv2d_f32"};
    validate_shape(check, p.shape);
    check.not_null("input", p.input);
    check.not_null("weights", p.weights);
    check.not_null("output", p.output);
}

inline void validate(const conv2d_u8s8_args& p) {
    const arg_check check{"conv2d_u8s8"};
    validate_shape(check, p.shape);
    check.not_null("input", p.input);
    check.not_null("weights", p.weights);
    check.not_null("output", p.output);
    validate_u8_zero_point(check, "input_zero_point", p.input_zero_point);
    validate_int8_depth(check, p.shape.reduction());
    validate_requant(check, p.requant, p.shape.out_c);
    if (p.residual != nullptr) {
        validate_u8_zero_point(check, "residual_zero_point", p.residual_zero_point);
        if (p.requant.out == dtype::s32) fail(check.op, ": a residual needs a u8, s8 or f32 output, not s32");
        if (!std::isfinite(p.residual_scale) || p.residual_scale < 0.0f)
            fail(check.op, ": residual_scale = ", p.residual_scale, " must be finite and non-negative");
    }
}

}  // namespace lanes
