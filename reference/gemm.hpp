// lanes reference: GEMM and GEMV, FP32 and INT8, written to be read.
//
// These loops define the results every SIMD kernel must reproduce: exactly for INT8, within the
// tolerance of tests/tolerance.hpp for FP32 (a different summation order rounds differently).
// Each function validates its arguments first and throws lanes::error on a bad one.
#pragma once

#include <cstdint>

#include "../kernels/gemm.hpp"
#include "requant.hpp"

namespace lanes::ref {

// C = relu?(alpha * op(A) * op(B) + beta * C + bias), summing over p in increasing order.
inline void gemm_f32(const gemm_f32_args& p) {
    validate(p);
    // Row i of A is k / length runs of `length` elements (one run of k for a plain A); l counts across them.
    const std::int64_t length = p.trans_a ? p.k : a_run_length(p);
    for (std::int64_t i = 0; i < p.m; ++i) {
        for (std::int64_t j = 0; j < p.n; ++j) {
            float sum = 0.0f;
            for (std::int64_t run = 0, l = 0; run < p.k / length; ++run) {
                const float* a_row = p.trans_a ? nullptr : a_run(p, i, run);
                for (std::int64_t t = 0; t < length; ++t, ++l) {
                    const float a = p.trans_a ? p.a[l * p.lda + i] : a_row[t];
                    const float b = p.trans_b ? p.b[j * p.ldb + l] : p.b[l * p.ldb + j];
                    sum += a * b;
                }
            }
            float& c = p.c[i * p.ldc + j];
            float value = p.alpha * sum;
            if (p.beta != 0.0f) value += p.beta * c;
            if (p.bias != nullptr) value += p.bias[j];
            c = p.relu && value < 0.0f ? 0.0f : value;
        }
    }
}

// y = relu?(op(A) * x + bias).
inline void gemv_f32(const gemv_f32_args& p) {
    validate(p);
    const std::int64_t outputs = p.trans ? p.cols : p.rows;
    const std::int64_t depth = p.trans ? p.rows : p.cols;
    for (std::int64_t i = 0; i < outputs; ++i) {
        float sum = 0.0f;
        for (std::int64_t l = 0; l < depth; ++l) {
            const float a = p.trans ? p.a[l * p.lda + i] : p.a[i * p.lda + l];
            sum += a * p.x[l];
        }
        if (p.bias != nullptr) sum += p.bias[i];
        p.y[i] = p.relu && sum < 0.0f ? 0.0f : sum;
    }
}

// C = requantize( sum_p (A[i][p] - a_zero_point) * op(B)[p][j] ), see kernels/gemm.hpp.
inline void gemm_u8s8(const gemm_u8s8_args& p) {
    validate(p);
    const std::int64_t length = a_run_length(p);  // row i of A as runs, as in gemm_f32 above
    for (std::int64_t i = 0; i < p.m; ++i) {
        for (std::int64_t j = 0; j < p.n; ++j) {
            std::int32_t acc = 0;
            for (std::int64_t run = 0, l = 0; run < p.k / length; ++run) {
                const std::uint8_t* a_row = a_run(p, i, run);
                for (std::int64_t t = 0; t < length; ++t, ++l) {
                    const std::int32_t a = static_cast<std::int32_t>(a_row[t]) - p.a_zero_point;
                    const std::int32_t b = p.trans_b ? p.b[j * p.ldb + l] : p.b[l * p.ldb + j];
                    acc += a * b;
                }
            }
            gemm_u8s8_store(acc, p, i, j);
        }
    }
}

// y[j] = requantize( sum_p (x[p] - x_zero_point) * W[j][p] ).
inline void gemv_u8s8(const gemv_u8s8_args& p) {
    validate(p);
    for (std::int64_t j = 0; j < p.n; ++j) {
        std::int32_t acc = 0;
        for (std::int64_t l = 0; l < p.k; ++l)
            acc += (static_cast<std::int32_t>(p.x[l]) - p.x_zero_point) * p.w[j * p.ldw + l];
        requantize_store(acc, p.requant, j, p.y, j);
    }
}

}  // namespace lanes::ref
