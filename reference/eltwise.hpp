// lanes reference: ReLU, add, softmax, quantize and dequantize. Definitions in kernels/eltwise.hpp.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "../kernels/eltwise.hpp"
#include "requant.hpp"

namespace lanes::ref {

inline void relu(const relu_args& p) {
    validate(p);
    if (p.type == dtype::f32) {
        const float* in = static_cast<const float*>(p.input);
        float* out = static_cast<float*>(p.output);
        for (std::int64_t i = 0; i < p.count; ++i) out[i] = in[i] < 0.0f ? 0.0f : in[i];
    } else {
        const std::uint8_t* in = static_cast<const std::uint8_t*>(p.input);
        std::uint8_t* out = static_cast<std::uint8_t*>(p.output);
        const std::uint8_t zero = static_cast<std::uint8_t>(p.zero_point);
        for (std::int64_t i = 0; i < p.count; ++i) out[i] = std::max(in[i], zero);
    }
}

inline void add_f32(const add_f32_args& p) {
    validate(p);
    for (std::int64_t i = 0; i < p.count; ++i) {
        const float sum = p.a[i] + p.b[i];
        p.output[i] = p.relu && sum < 0.0f ? 0.0f : sum;
    }
}

inline void add_u8(const add_u8_args& p) {
    validate(p);
    const float inverse_scale = 1.0f / p.output_scale;
    const float lo = p.relu ? static_cast<float>(p.output_zero_point) : 0.0f;
    for (std::int64_t i = 0; i < p.count; ++i) {
        const float a = static_cast<float>(static_cast<std::int32_t>(p.a[i]) - p.a_zero_point) * p.a_scale;
        const float b = static_cast<float>(static_cast<std::int32_t>(p.b[i]) - p.b_zero_point) * p.b_scale;
        const float sum = a + b;
        p.output[i] = static_cast<std::uint8_t>(quantize_value(sum, inverse_scale, p.output_zero_point, lo, 255.0f));
    }
}

inline void softmax(const softmax_args& p) {
    validate(p);
    for (std::int64_t r = 0; r < p.rows; ++r) {
        const float* in = p.input + r * p.cols;
        float* out = p.output + r * p.cols;
        const float largest = *std::max_element(in, in + p.cols);
        float sum = 0.0f;
        for (std::int64_t c = 0; c < p.cols; ++c) {
            out[c] = std::exp(in[c] - largest);
            sum += out[c];
        }
        for (std::int64_t c = 0; c < p.cols; ++c) out[c] /= sum;
    }
}

inline void quantize(const quantize_args& p) {
    validate(p);
    const float inverse_scale = 1.0f / p.scale;
    const float lo = p.out == dtype::u8 ? 0.0f : -128.0f, hi = p.out == dtype::u8 ? 255.0f : 127.0f;
    for (std::int64_t i = 0; i < p.count; ++i) {
        const float q = quantize_value(p.input[i], inverse_scale, p.zero_point, lo, hi);
        if (p.out == dtype::u8) static_cast<std::uint8_t*>(p.output)[i] = static_cast<std::uint8_t>(q);
        else static_cast<std::int8_t*>(p.output)[i] = static_cast<std::int8_t>(q);
    }
}

inline void dequantize(const dequantize_args& p) {
    validate(p);
    for (std::int64_t i = 0; i < p.count; ++i) {
        std::int64_t q = 0;
        if (p.in == dtype::u8) q = static_cast<const std::uint8_t*>(p.input)[i];
        else if (p.in == dtype::s8) q = static_cast<const std::int8_t*>(p.input)[i];
        else q = static_cast<const std::int32_t*>(p.input)[i];
        p.output[i] = static_cast<float>(q - p.zero_point) * p.scale;
    }
}

}  // namespace lanes::ref
