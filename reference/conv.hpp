// lanes reference: direct 2-D convolution, FP32 and INT8, NHWC activations and OIHW weights.
//
// Seven nested loops, exactly the definition: for every output element (n, oy, ox, oc), sum over the
// input channels of its group and the kernel window; positions that fall in the padding are skipped
// (FP32: they hold zero; INT8: they hold the input zero point, so (x - zero_point) is zero).
#pragma once

#include <cstdint>

#include "../kernels/conv.hpp"
#include "requant.hpp"

namespace lanes::ref {

// Calls body(n, oy, ox, oc, out_index, acc_fn) where acc_fn(visit) calls visit(input_index,
// weight_index) for every in-bounds tap of that output element. Shared by both precisions.
template <class Body>
void for_each_conv_output(const conv2d_shape& s, Body&& body) {
    const std::int64_t out_h = s.out_h(), out_w = s.out_w();
    const std::int64_t group_in = s.in_c / s.groups, group_out = s.out_c / s.groups;
    for (std::int64_t n = 0; n < s.batch; ++n)
        for (std::int64_t oy = 0; oy < out_h; ++oy)
            for (std::int64_t ox = 0; ox < out_w; ++ox)
                for (std::int64_t oc = 0; oc < s.out_c; ++oc) {
                    const std::int64_t first_ic = oc / group_out * group_in;
                    auto taps = [&](auto&& visit) {
                        for (std::int64_t ky = 0; ky < s.kernel_h; ++ky) {
                            const std::int64_t iy = oy * s.stride_h - s.pad_top + ky * s.dilation_h;
                            if (iy < 0 || iy >= s.in_h) continue;
                            for (std::int64_t kx = 0; kx < s.kernel_w; ++kx) {
                                const std::int64_t ix = ox * s.stride_w - s.pad_left + kx * s.dilation_w;
                                if (ix < 0 || ix >= s.in_w) continue;
                                for (std::int64_t ic = 0; ic < group_in; ++ic) {
                                    const std::int64_t input_index = ((n * s.in_h + iy) * s.in_w + ix) * s.in_c + first_ic + ic;
                                    const std::int64_t weight_index = ((oc * group_in + ic) * s.kernel_h + ky) * s.kernel_w + kx;
                                    visit(input_index, weight_index);
                                }
                            }
                        }
                    };
                    const std::int64_t out_index = ((n * out_h + oy) * out_w + ox) * s.out_c + oc;
                    body(oc, out_index, taps);
                }
}

inline void conv2d_f32(const conv2d_f32_args& p) {
    validate(p);
    for_each_conv_output(p.shape, [&](std::int64_t oc, std::int64_t out_index, auto&& taps) {
        float sum = 0.0f;
        taps([&](std::int64_t i, std::int64_t w) { sum += p.input[i] * p.weights[w]; });
        if (p.bias != nullptr) sum += p.bias[oc];
        if (p.residual != nullptr) sum += p.residual[out_index];
        p.output[out_index] = p.relu && sum < 0.0f ? 0.0f : sum;
    });
}

inline void conv2d_u8s8(const conv2d_u8s8_args& p) {
    validate(p);
    for_each_conv_output(p.shape, [&](std::int64_t oc, std::int64_t out_index, auto&& taps) {
        std::int32_t acc = 0;
        taps([&](std::int64_t i, std::int64_t w) {
            acc += (static_cast<std::int32_t>(p.input[i]) - p.input_zero_point) * p.weights[w];
        });
        if (p.residual == nullptr) requantize_store(acc, p.requant, oc, p.output, out_index);
        else requantize_store_residual(acc, p.requant, oc, p.output, out_index, p.residual[out_index], p.residual_scale,
                                       p.residual_zero_point);
    });
}

}  // namespace lanes::ref
