// lanes: arguments of the pooling operations, and their validation.
//
// NHWC tensors, f32 or u8 (a u8 tensor keeps its scale and zero point through pooling). Output sizes
// and window bounds follow PyTorch's max_pool2d / avg_pool2d, including ceil_mode (the last window
// must start inside the input or its top/left padding) and count_include_pad (the divisor counts the
// padded positions inside the window, but not those beyond the bottom/right padding).
// Max pooling ignores padded positions. u8 averages round half to even: nearbyint(float(sum) / float(count)).
//
// Adaptive average pooling splits each spatial dimension as PyTorch does:
//     start(o) = floor(o * in / out),  end(o) = ceil((o + 1) * in / out).
// Global average pooling is adaptive pooling to 1x1.
#pragma once

#include <cstdint>

#include "error.hpp"
#include "gemm.hpp"

namespace lanes {

struct pool2d_args {
    std::int64_t batch = 1, in_h = 0, in_w = 0, channels = 0;
    std::int64_t kernel_h = 1, kernel_w = 1;
    std::int64_t stride_h = 1, stride_w = 1;
    std::int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
    bool ceil_mode = false;
    bool count_include_pad = true;  // average pooling only
    dtype type = dtype::f32;        // f32 or u8
    const void* input = nullptr;
    void* output = nullptr;

    static std::int64_t out_size(std::int64_t in, std::int64_t pad_begin, std::int64_t pad_end, std::int64_t kernel,
                                 std::int64_t stride, bool ceil) {
        const std::int64_t span = in + pad_begin + pad_end - kernel;
        std::int64_t out = (ceil ? (span + stride - 1) / stride : span / stride) + 1;
        if (ceil && (out - 1) * stride >= in + pad_begin) --out;
        return out;
    }
    std::int64_t out_h() const { return out_size(in_h, pad_top, pad_bottom, kernel_h, stride_h, ceil_mode); }
    std::int64_t out_w() const { return out_size(in_w, pad_left, pad_right, kernel_w, stride_w, ceil_mode); }
};

struct adaptive_pool2d_args {
    std::int64_t batch = 1, in_h = 0, in_w = 0, channels = 0;
    std::int64_t out_h = 1, out_w = 1;
    dtype type = dtype::f32;  // f32 or u8
    const void* input = nullptr;
    void* output = nullptr;
};

inline void validate_pool_type(const arg_check& check, dtype type) {
    if (type != dtype::f32 && type != dtype::u8)
        fail(check.op, ": type = ", dtype_name(type), " is not supported (f32 or u8)");
}

inline void validate_pool(const char* op, const pool2d_args& p) {
    const arg_check check{op};
    check.positive("batch", p.batch);
    check.positive("in_h", p.in_h);
    check.positive("in_w", p.in_w);
    check.positive("channels", p.channels);
    check.positive("kernel_h", p.kernel_h);
    check.positive("kernel_w", p.kernel_w);
    check.positive("stride_h", p.stride_h);
    check.positive("stride_w", p.stride_w);
    check.not_null("input", p.input);
    check.not_null("output", p.output);
    validate_pool_type(check, p.type);
    if (p.pad_top < 0 || p.pad_left < 0 || p.pad_bottom < 0 || p.pad_right < 0)
        fail(op, ": padding (top ", p.pad_top, ", left ", p.pad_left, ", bottom ", p.pad_bottom, ", right ", p.pad_right,
             ") must not be negative");
    if (p.pad_top >= p.kernel_h || p.pad_bottom >= p.kernel_h || p.pad_left >= p.kernel_w || p.pad_right >= p.kernel_w)
        fail(op, ": padding (top ", p.pad_top, ", left ", p.pad_left, ", bottom ", p.pad_bottom, ", right ", p.pad_right,
             ") must be smaller than the ", p.kernel_h, "x", p.kernel_w, " window");
    if (p.kernel_h > p.in_h + p.pad_top + p.pad_bottom || p.kernel_w > p.in_w + p.pad_left + p.pad_right)
        fail(op, ": the ", p.kernel_h, "x", p.kernel_w, " window is larger than the padded ", p.in_h, "x", p.in_w, " input");
    check.product("the input", {p.batch, p.in_h, p.in_w, p.channels});
}

inline void validate(const pool2d_args& p) { validate_pool("pool2d", p); }

inline void validate(const adaptive_pool2d_args& p) {
    const arg_check check{"adaptive_avg_pool2d"};
    check.positive("batch", p.batch);
    check.positive("in_h", p.in_h);
    check.positive("in_w", p.in_w);
    check.positive("channels", p.channels);
    check.positive("out_h", p.out_h);
    check.positive("out_w", p.out_w);
    check.not_null("input", p.input);
    check.not_null("output", p.output);
    validate_pool_type(check, p.type);
    check.product("the input", {p.batch, p.in_h, p.in_w, p.channels});
    check.product("the output", {p.batch, p.out_h, p.out_w, p.channels});
}

}  // namespace lanes
