// lanes reference: max, average and adaptive average pooling over NHWC tensors (f32 or u8).
// Window bounds and divisors follow PyTorch; see kernels/pool.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "../kernels/pool.hpp"

namespace lanes::ref {

// The window of output position `o`, clipped to the input, and the divisor PyTorch's average
// pooling would use for it along this dimension.
struct window {
    std::int64_t begin, end, padded_size;
};

inline window pool_window(std::int64_t o, std::int64_t stride, std::int64_t pad_begin, std::int64_t pad_end,
                          std::int64_t kernel, std::int64_t in) {
    const std::int64_t begin = o * stride - pad_begin;
    const std::int64_t end = std::min(begin + kernel, in + pad_end);
    return {std::max<std::int64_t>(begin, 0), std::min(end, in), end - begin};
}

template <class T>
bool is_nan(T value) {
    if constexpr (std::is_floating_point_v<T>) return std::isnan(value);
    else return false;
}

template <class T, class Reduce>
void pool2d(const pool2d_args& p, Reduce&& reduce) {
    const T* in = static_cast<const T*>(p.input);
    T* out = static_cast<T*>(p.output);
    const std::int64_t out_h = p.out_h(), out_w = p.out_w();
    for (std::int64_t n = 0; n < p.batch; ++n)
        for (std::int64_t oy = 0; oy < out_h; ++oy) {
            const window wy = pool_window(oy, p.stride_h, p.pad_top, p.pad_bottom, p.kernel_h, p.in_h);
            for (std::int64_t ox = 0; ox < out_w; ++ox) {
                const window wx = pool_window(ox, p.stride_w, p.pad_left, p.pad_right, p.kernel_w, p.in_w);
                for (std::int64_t c = 0; c < p.channels; ++c) {
                    auto at = [&](std::int64_t y, std::int64_t x) { return in[((n * p.in_h + y) * p.in_w + x) * p.channels + c]; };
                    out[((n * out_h + oy) * out_w + ox) * p.channels + c] = reduce(wy, wx, at);
                }
            }
        }
}

inline void max_pool2d(const pool2d_args& p) {
    validate_pool("max_pool2d", p);
    auto reduce = [](const window& wy, const window& wx, auto&& at) {
        auto best = at(wy.begin, wx.begin);
        for (std::int64_t y = wy.begin; y < wy.end; ++y)
            for (std::int64_t x = wx.begin; x < wx.end; ++x) {
                const auto v = at(y, x);
                if (v > best || is_nan(v)) best = v;  // NaN propagates, as in PyTorch
            }
        return best;
    };
    if (p.type == dtype::f32) pool2d<float>(p, reduce);
    else pool2d<std::uint8_t>(p, reduce);
}

inline void avg_pool2d(const pool2d_args& p) {
    validate_pool("avg_pool2d", p);
    auto divisor = [&](const window& wy, const window& wx) {
        return p.count_include_pad ? wy.padded_size * wx.padded_size : (wy.end - wy.begin) * (wx.end - wx.begin);
    };
    if (p.type == dtype::f32) {
        pool2d<float>(p, [&](const window& wy, const window& wx, auto&& at) {
            float sum = 0.0f;
            for (std::int64_t y = wy.begin; y < wy.end; ++y)
                for (std::int64_t x = wx.begin; x < wx.end; ++x) sum += at(y, x);
            return sum / static_cast<float>(divisor(wy, wx));
        });
    } else {
        pool2d<std::uint8_t>(p, [&](const window& wy, const window& wx, auto&& at) {
            std::int64_t sum = 0;
            for (std::int64_t y = wy.begin; y < wy.end; ++y)
                for (std::int64_t x = wx.begin; x < wx.end; ++x) sum += at(y, x);
            const float mean = std::nearbyint(static_cast<float>(sum) / static_cast<float>(divisor(wy, wx)));
            return static_cast<std::uint8_t>(std::min(mean, 255.0f));
        });
    }
}

template <class T>
void adaptive_avg_pool2d_typed(const adaptive_pool2d_args& p) {
    const T* in = static_cast<const T*>(p.input);
    T* out = static_cast<T*>(p.output);
    auto start = [](std::int64_t o, std::int64_t in_size, std::int64_t out_size) { return o * in_size / out_size; };
    auto stop = [](std::int64_t o, std::int64_t in_size, std::int64_t out_size) {
        return ((o + 1) * in_size + out_size - 1) / out_size;
    };
    for (std::int64_t n = 0; n < p.batch; ++n)
        for (std::int64_t oy = 0; oy < p.out_h; ++oy)
            for (std::int64_t ox = 0; ox < p.out_w; ++ox) {
                const std::int64_t y0 = start(oy, p.in_h, p.out_h), y1 = stop(oy, p.in_h, p.out_h);
                const std::int64_t x0 = start(ox, p.in_w, p.out_w), x1 = stop(ox, p.in_w, p.out_w);
                const float count = static_cast<float>((y1 - y0) * (x1 - x0));
                for (std::int64_t c = 0; c < p.channels; ++c) {
                    std::conditional_t<std::is_same_v<T, float>, float, std::int64_t> sum = 0;
                    for (std::int64_t y = y0; y < y1; ++y)
                        for (std::int64_t x = x0; x < x1; ++x) sum += in[((n * p.in_h + y) * p.in_w + x) * p.channels + c];
                    T& o = out[((n * p.out_h + oy) * p.out_w + ox) * p.channels + c];
                    if constexpr (std::is_same_v<T, float>) o = sum / count;
                    else o = static_cast<T>(std::min(std::nearbyint(static_cast<float>(sum) / count), 255.0f));
                }
            }
}

inline void adaptive_avg_pool2d(const adaptive_pool2d_args& p) {
    validate(p);
    if (p.type == dtype::f32) adaptive_avg_pool2d_typed<float>(p);
    else adaptive_avg_pool2d_typed<std::uint8_t>(p);
}

}  // namespace lanes::ref
