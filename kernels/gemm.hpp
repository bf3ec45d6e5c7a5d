// lanes: arguments of the GEMM and GEMV operations, and their validation.
//
// All matrices are row-major with a leading dimension (the distance, in elements, between the starts
// of two consecutive rows). No pointer needs any alignment. Sizes are signed so that a negative size
// is reported instead of wrapping.
#pragma once

#include <cmath>
#include <cstdint>

#include "error.hpp"

namespace lanes {

// ---------------------------------------------------------------------------------------------
// FP32 GEMM:  C = relu?( alpha * op(A) * op(B) + beta * C + bias )
//   op(A) is m x k: A itself (m x k, lda >= k) or, with trans_a, the transpose of a k x m matrix
//   (lda >= m). op(B) is k x n: B (k x n, ldb >= n) or, with trans_b, the transpose of n x k (ldb >= k).
//   bias (n floats, may be null) is added per column. beta == 0 means C is write-only: its old
//   contents are never read (so NaNs in an uninitialised C do not leak through), as in BLAS.
struct gemm_f32_args {
    std::int64_t m = 0, n = 0, k = 0;
    const float* a = nullptr;
    std::int64_t lda = 0;
    const float* b = nullptr;
    std::int64_t ldb = 0;
    float* c = nullptr;
    std::int64_t ldc = 0;
    bool trans_a = false, trans_b = false;
    float alpha = 1.0f, beta = 0.0f;
    const float* bias = nullptr;
    bool relu = false;
    // Optionally A as runs (an implicit im2col), as in gemm_u8s8_args: row i of A is the concatenation of
    // the k / a_run_length runs a_runs[i * (k / a_run_length) + r]; `a` and `lda` are then unused, and
    // trans_a must be false.
    const float* const* a_runs = nullptr;
    std::int64_t a_run_length = 0;
};

// FP32 GEMV:  y = relu?( op(A) * x + bias )
//   A is rows x cols (lda >= cols). Without trans: y has rows entries and x has cols.
//   With trans (y = A^T x): y has cols entries and x has rows. bias has as many entries as y.
struct gemv_f32_args {
    std::int64_t rows = 0, cols = 0;
    const float* a = nullptr;
    std::int64_t lda = 0;
    const float* x = nullptr;
    float* y = nullptr;
    bool trans = false;
    const float* bias = nullptr;
    bool relu = false;
};

// ---------------------------------------------------------------------------------------------
// INT8: u8 activations with a zero point, s8 symmetric weights, s32 accumulation.
//
//   acc[i][j] = sum_p (A[i][p] - a_zero_point) * op(B)[p][j]        exact in int32 (limits below)
//
// then the epilogue, per output column j (the output channel):
//   s32 output:  C = acc + bias[j]
//   f32 output:  C = relu?( float(acc + bias[j]) * scale[j] )
//   u8/s8:       C = clamp( nearbyint( float(acc + bias[j]) * scale[j] ) + zero_point, lo, hi )
// where nearbyint rounds half to even, [lo, hi] is the output type's range ([0, 255] or
// [-128, 127]) and relu raises lo to zero_point (ReLU on a quantized value is a clamp at its zero).
// Every step is one IEEE operation in a fixed order (int32 add, int->float conversion, one float
// multiply, round to nearest even, float add, clamp), so any ISA can reproduce it bit for bit.
// The clamp happens in float before the conversion to integer, so an out-of-range value saturates
// instead of becoming cvtps2dq's 0x80000000.
//
// Optionally a residual R (u8, m x n, leading dimension ldr, a ResNet shortcut) joins before the
// ReLU and the rounding, exactly as lanes::conv2d_u8s8 defines it:
//     t = float(acc + bias[j]) * scale[j];   t = t + float(R[i][j] - residual_zero_point) * residual_scale
// and then the steps above from "relu?" on (u8, s8 or f32 output). R may be C itself (u8 output, ldr ==
// ldc): each element of R is read before the same element of C is written.
//
// Limits that keep every intermediate exact in int32: k <= max_int8_k (|acc| < 2^30) and
// |bias[j]| <= max_int8_bias (2^30), so |acc + bias| < 2^31.
enum class dtype { u8, s8, s32, f32 };

inline constexpr const char* dtype_name(dtype t) {
    switch (t) {
        case dtype::u8: return "u8";
        case dtype::s8: return "s8";
        case dtype::s32: return "s32";
        case dtype::f32: return "f32";
    }
    return "?";
}

inline constexpr std::int64_t dtype_bytes(dtype t) { return t == dtype::s32 || t == dtype::f32 ? 4 : 1; }

inline constexpr std::int64_t max_int8_k = 32768;        // 32768 * 255 * 128 < 2^30
inline constexpr std::int32_t max_int8_bias = 1 << 30;

struct requant_params {
    const std::int32_t* bias = nullptr;  // per output channel; null means zero
    const float* scale = nullptr;        // per output channel; required unless the output is s32
    std::int32_t zero_point = 0;         // output zero point (u8/s8 outputs only)
    bool relu = false;
    dtype out = dtype::u8;
};

struct gemm_u8s8_args {
    std::int64_t m = 0, n = 0, k = 0;
    const std::uint8_t* a = nullptr;  // m x k, lda >= k
    std::int64_t lda = 0;
    std::int32_t a_zero_point = 0;    // 0..255
    const std::int8_t* b = nullptr;   // k x n (ldb >= n), or with trans_b n x k (ldb >= k)
    std::int64_t ldb = 0;
    bool trans_b = false;
    void* c = nullptr;                // m x n of requant.out's type, ldc >= n
    std::int64_t ldc = 0;
    requant_params requant;
    const std::uint8_t* residual = nullptr;  // m x n, ldr >= n; may be null
    std::int64_t ldr = 0;
    float residual_scale = 0.0f;             // in output units (residual scale / output scale)
    std::int32_t residual_zero_point = 0;
    // Optionally A as runs instead of rows (an implicit im2col): row i of A is the concatenation of the
    // k / a_run_length runs a_runs[i * (k / a_run_length) + r], r = 0, 1, ..., each a_run_length
    // consecutive u8. `a` and `lda` are then unused. One row of a convolution window on an NHWC image
    // (kernel_w * in_c consecutive bytes) is one run, so the window need not be copied.
    const std::uint8_t* const* a_runs = nullptr;
    std::int64_t a_run_length = 0;
};

// The length of A's runs, and where run r of row i starts (without runs, row i is one run of k), for
// gemm_f32_args (not transposed) and gemm_u8s8_args.
template <class Args>
std::int64_t a_run_length(const Args& p) {
    return p.a_runs != nullptr ? p.a_run_length : p.k;
}
template <class Args>
auto a_run(const Args& p, std::int64_t i, std::int64_t r) {
    return p.a_runs != nullptr ? p.a_runs[i * (p.k / p.a_run_length) + r] : p.a + i * p.lda;
}

// INT8 GEMV for a fully connected layer: y[j] = epilogue( sum_p (x[p] - x_zero_point) * W[j][p] ),
// with W the weights in PyTorch's [out][in] order (n x k, ldw >= k).
struct gemv_u8s8_args {
    std::int64_t n = 0, k = 0;
    const std::int8_t* w = nullptr;
    std::int64_t ldw = 0;
    const std::uint8_t* x = nullptr;
    std::int32_t x_zero_point = 0;
    void* y = nullptr;
    requant_params requant;
};

// ---------------------------------------------------------------------------------------------
// Validation. Each throws lanes::error naming the argument and its value.

// A as rows (a, lda, trans_a) or as runs (a_runs, a_run_length).
inline void validate_f32_a(const arg_check& check, const gemm_f32_args& p) {
    if (p.a_runs != nullptr) {
        if (p.trans_a) fail(check.op, ": A given as runs cannot be transposed (trans_a)");
        if (p.a_run_length <= 0 || p.k % p.a_run_length != 0)
            fail(check.op, ": a_run_length = ", p.a_run_length, " must be positive and divide k = ", p.k);
        return;
    }
    check.not_null("a", p.a);
    if (p.trans_a) check.matrix("A", "lda", p.k, p.m, p.lda, "k x m, transposed");
    else check.matrix("A", "lda", p.m, p.k, p.lda, "m x k");
}

inline void validate(const gemm_f32_args& p) {
    const arg_check check{"gemm_f32"};
    check.positive("m", p.m);
    check.positive("n", p.n);
    check.positive("k", p.k);
    validate_f32_a(check, p);
    check.not_null("b", p.b);
    check.not_null("c", p.c);
    if (p.trans_b) check.matrix("B", "ldb", p.n, p.k, p.ldb, "n x k, transposed");
    else check.matrix("B", "ldb", p.k, p.n, p.ldb, "k x n");
    check.matrix("C", "ldc", p.m, p.n, p.ldc, "m x n");
}

inline void validate(const gemv_f32_args& p) {
    const arg_check check{"gemv_f32"};
    check.positive("rows", p.rows);
    check.positive("cols", p.cols);
    check.not_null("a", p.a);
    check.not_null("x", p.x);
    check.not_null("y", p.y);
    check.matrix("A", "lda", p.rows, p.cols, p.lda, "rows x cols");
}

inline void validate_requant(const arg_check& check, const requant_params& q, std::int64_t channels) {
    if (q.bias != nullptr) {
        for (std::int64_t j = 0; j < channels; ++j) {
            if (q.bias[j] > max_int8_bias || q.bias[j] < -max_int8_bias)
                fail(check.op, ": bias[", j, "] = ", q.bias[j], " is outside [-2^30, 2^30]");
        }
    }
    if (q.out == dtype::s32) return;
    check.not_null("requant.scale", q.scale);
    for (std::int64_t j = 0; j < channels; ++j) {
        if (!std::isfinite(q.scale[j]) || q.scale[j] < 0.0f)
            fail(check.op, ": scale[", j, "] = ", q.scale[j], " must be finite and non-negative");
    }
    if (q.out == dtype::u8 && (q.zero_point < 0 || q.zero_point > 255))
        fail(check.op, ": output zero_point = ", q.zero_point, " is outside [0, 255] for a u8 output");
    if (q.out == dtype::s8 && (q.zero_point < -128 || q.zero_point > 127))
        fail(check.op, ": output zero_point = ", q.zero_point, " is outside [-128, 127] for an s8 output");
    if ((q.out == dtype::f32) && q.zero_point != 0)
        fail(check.op, ": output zero_point = ", q.zero_point, " must be 0 for an f32 output");
}

inline void validate_int8_depth(const arg_check& check, std::int64_t k) {
    if (k > max_int8_k) fail(check.op, ": k = ", k, " exceeds ", max_int8_k, ", beyond which int32 accumulation could overflow");
}

inline void validate_u8_zero_point(const arg_check& check, const char* name, std::int32_t zero_point) {
    if (zero_point < 0 || zero_point > 255) fail(check.op, ": ", name, " = ", zero_point, " is outside [0, 255]");
}

// A as rows (a, lda) or as runs (a_runs, a_run_length).
inline void validate_u8_a(const arg_check& check, const gemm_u8s8_args& p) {
    if (p.a_runs == nullptr) {
        check.not_null("a", p.a);
        check.matrix("A", "lda", p.m, p.k, p.lda, "m x k");
    } else if (p.a_run_length <= 0 || p.k % p.a_run_length != 0) {
        fail(check.op, ": a_run_length = ", p.a_run_length, " must be positive and divide k = ", p.k);
    }
}

inline void validate_residual(const arg_check& check, const gemm_u8s8_args& p) {
    if (p.residual == nullptr) return;
    if (p.requant.out == dtype::s32) fail(check.op, ": a residual needs a u8, s8 or f32 output, not s32");
    check.matrix("the residual", "ldr", p.m, p.n, p.ldr, "m x n");
    validate_u8_zero_point(check, "residual_zero_point", p.residual_zero_point);
    if (!std::isfinite(p.residual_scale) || p.residual_scale < 0.0f)
        fail(check.op, ": residual_scale = ", p.residual_scale, " must be finite and non-negative");
    if (static_cast<const void*>(p.residual) == p.c && (p.requant.out != dtype::u8 || p.ldr != p.ldc))
        fail(check.op, ": an in-place residual (residual == c) needs a u8 output and ldr == ldc");
}

inline void validate(const gemm_u8s8_args& p) {
    const arg_check check{"gemm_u8s8"};
    check.positive("m", p.m);
    check.positive("n", p.n);
    check.positive("k", p.k);
    validate_int8_depth(check, p.k);
    validate_u8_a(check, p);
    check.not_null("b", p.b);
    check.not_null("c", p.c);
    validate_u8_zero_point(check, "a_zero_point", p.a_zero_point);
    if (p.trans_b) check.matrix("B", "ldb", p.n, p.k, p.ldb, "n x k, transposed");
    else check.matrix("B", "ldb", p.k, p.n, p.ldb, "k x n");
    check.matrix("C", "ldc", p.m, p.n, p.ldc, "m x n");
    validate_requant(check, p.requant, p.n);
    validate_residual(check, p);
}

inline void validate(const gemv_u8s8_args& p) {
    const arg_check check{"gemv_u8s8"};
    check.positive("n", p.n);
    check.positive("k", p.k);
    validate_int8_depth(check, p.k);
    check.not_null("w", p.w);
    check.not_null("x", p.x);
    check.not_null("y", p.y);
    validate_u8_zero_point(check, "x_zero_point", p.x_zero_point);
    check.matrix("W", "ldw", p.n, p.k, p.ldw, "n x k");
    validate_requant(check, p.requant, p.n);
}

}  // namespace lanes
