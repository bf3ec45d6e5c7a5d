// The reference kernels against hand-computed cases and against naive formulas written independently
// here (different loop order, double or int64 arithmetic, NCHW layouts), plus the INT8 rounding and
// clamping edge cases and every argument check.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include "../lanes.hpp"
#include "helpers.hpp"

using namespace lanes;
using lanes::test::buffer;

// ---- FP32 GEMM ----------------------------------------------------------------------------------

TEST(RefGemmF32, HandComputed2x3x2) {
    // A = [1 2 3; 4 5 6], B = [7 8; 9 10; 11 12]  ->  A*B = [58 64; 139 154]
    const float a[] = {1, 2, 3, 4, 5, 6}, b[] = {7, 8, 9, 10, 11, 12};
    float c[4] = {};
    ref::gemm_f32({.m = 2, .n = 2, .k = 3, .a = a, .lda = 3, .b = b, .ldb = 2, .c = c, .ldc = 2});
    EXPECT_EQ(c[0], 58);
    EXPECT_EQ(c[1], 64);
    EXPECT_EQ(c[2], 139);
    EXPECT_EQ(c[3], 154);
}

TEST(RefGemmF32, EpilogueAlphaBetaBiasRelu) {
    // C = relu(2 * A*B + 0.5 * C + bias) with A*B = [58 64; 139 154]
    const float a[] = {1, 2, 3, 4, 5, 6}, b[] = {7, 8, 9, 10, 11, 12}, bias[] = {-200, -300};
    float c[] = {10, 20, 30, 40};
    ref::gemm_f32({.m = 2, .n = 2, .k = 3, .a = a, .lda = 3, .b = b, .ldb = 2, .c = c, .ldc = 2, .alpha = 2,
                   .beta = 0.5f, .bias = bias, .relu = true});
    EXPECT_EQ(c[0], 0);                          // 116 + 5 - 200 < 0
    EXPECT_EQ(c[1], 0);                          // 128 + 10 - 300 < 0
    EXPECT_EQ(c[2], 278 + 15 - 200);             // 93
    EXPECT_EQ(c[3], 308 + 20 - 300);             // 28
}

TEST(RefGemmF32, BetaZeroNeverReadsC) {
    const float a[] = {1}, b[] = {2};
    float c[] = {std::numeric_limits<float>::quiet_NaN()};
    ref::gemm_f32({.m = 1, .n = 1, .k = 1, .a = a, .lda = 1, .b = b, .ldb = 1, .c = c, .ldc = 1});
    EXPECT_EQ(c[0], 2);
}

TEST(RefGemmF32, TransposesAndLeadingDimensionsMatchNaiveDouble) {
    for (bool trans_a : {false, true})
        for (bool trans_b : {false, true}) {
            const std::int64_t m = 7, n = 5, k = 9;
            const std::int64_t lda = (trans_a ? m : k) + 3, ldb = (trans_b ? k : n) + 2, ldc = n + 4;
            const auto a = lanes::test::random_floats(static_cast<std::size_t>((trans_a ? k : m) * lda), 1);
            const auto b = lanes::test::random_floats(static_cast<std::size_t>((trans_b ? n : k) * ldb), 2);
            std::vector<float> c(static_cast<std::size_t>(m * ldc), 0.25f);
            const auto bias = lanes::test::random_floats(static_cast<std::size_t>(n), 3);
            const std::vector<float> c_before = c;
            ref::gemm_f32({.m = m, .n = n, .k = k, .a = a.data(), .lda = lda, .b = b.data(), .ldb = ldb, .c = c.data(),
                           .ldc = ldc, .trans_a = trans_a, .trans_b = trans_b, .alpha = 1.5f, .beta = -0.5f,
                           .bias = bias.data()});
            for (std::int64_t j = 0; j < n; ++j)
                for (std::int64_t i = 0; i < m; ++i) {
                    double exact = 0, magnitude = 0;
                    for (std::int64_t l = 0; l < k; ++l) {
                        const double x = trans_a ? a[l * lda + i] : a[i * lda + l];
                        const double y = trans_b ? b[j * ldb + l] : b[l * ldb + j];
                        exact += x * y;
                        magnitude += std::abs(x * y);
                    }
                    const double c0 = c_before[i * ldc + j];
                    exact = 1.5 * exact - 0.5 * c0 + bias[j];
                    magnitude = 1.5 * magnitude + 0.5 * std::abs(c0) + std::abs(bias[j]);
                    EXPECT_NEAR(c[i * ldc + j], exact, lanes::test::fp32_tolerance(k + 3, magnitude) / 2)
                        << "trans_a " << trans_a << " trans_b " << trans_b << " at " << i << "," << j;
                }
            // Padding columns between n and ldc are untouched.
            for (std::int64_t i = 0; i < m; ++i)
                for (std::int64_t j = n; j < ldc; ++j) EXPECT_EQ(c[i * ldc + j], 0.25f);
        }
}

TEST(RefGemvF32, HandComputedBothDirections) {
    const float a[] = {1, 2, 3, 0, 4, 5, 6, 0};  // 2 x 3, lda 4
    const float x3[] = {1, -1, 2}, x2[] = {1, 2}, bias[] = {0.5f, -100, 1};
    float y2[2], y3[3];
    ref::gemv_f32({.rows = 2, .cols = 3, .a = a, .lda = 4, .x = x3, .y = y2});
    EXPECT_EQ(y2[0], 1 - 2 + 6);
    EXPECT_EQ(y2[1], 4 - 5 + 12);
    ref::gemv_f32({.rows = 2, .cols = 3, .a = a, .lda = 4, .x = x2, .y = y3, .trans = true, .bias = bias, .relu = true});
    EXPECT_EQ(y3[0], 1 + 8 + 0.5f);
    EXPECT_EQ(y3[1], 0);  // 2 + 10 - 100 clamps
    EXPECT_EQ(y3[2], 3 + 12 + 1);
}

// ---- INT8 ---------------------------------------------------------------------------------------

// The documented epilogue, written again from its definition (kernels/gemm.hpp).
static float spec_requant(std::int64_t acc, std::int32_t bias, float scale, std::int32_t zp, bool relu, dtype out) {
    const float t = static_cast<float>(static_cast<std::int32_t>(acc + bias)) * scale;
    const float lo = out == dtype::u8 ? 0.0f : -128.0f, hi = out == dtype::u8 ? 255.0f : 127.0f;
    const float low = relu ? std::max(lo, static_cast<float>(zp)) : lo;
    return std::clamp(std::rint(t) + static_cast<float>(zp), low, hi);
}

TEST(RefGemmU8S8, HandComputedWithZeroPoint) {
    // A = [10 20], za = 10  ->  (A - za) = [0 10];  B = [3 -4]^T  ->  acc = -40
    const std::uint8_t a[] = {10, 20};
    const std::int8_t b[] = {3, -4};
    std::int32_t c = 0;
    ref::gemm_u8s8({.m = 1, .n = 1, .k = 2, .a = a, .lda = 2, .a_zero_point = 10, .b = b, .ldb = 1, .c = &c, .ldc = 1,
                    .requant = {.out = dtype::s32}});
    EXPECT_EQ(c, -40);
    const std::int32_t bias = 5;
    const float scale = 0.25f;
    std::uint8_t q = 0;
    // (-40 + 5) * 0.25 = -8.75 -> -9, + 100 = 91
    ref::gemm_u8s8({.m = 1, .n = 1, .k = 2, .a = a, .lda = 2, .a_zero_point = 10, .b = b, .ldb = 1, .c = &q, .ldc = 1,
                    .requant = {.bias = &bias, .scale = &scale, .zero_point = 100}});
    EXPECT_EQ(q, 91);
}

TEST(RefGemmU8S8, RandomMatchesNaiveInt64) {
    for (bool trans_b : {false, true})
        for (dtype out : {dtype::u8, dtype::s8, dtype::s32, dtype::f32}) {
            const std::int64_t m = 6, n = 11, k = 37, lda = k + 3, ldb = (trans_b ? k : n) + 1, ldc = n + 2;
            const auto a = lanes::test::random_ints<std::uint8_t>(static_cast<std::size_t>(m * lda), 4, 0, 255);
            const auto b = lanes::test::random_ints<std::int8_t>(static_cast<std::size_t>((trans_b ? n : k) * ldb), 5, -128, 127);
            const auto bias = lanes::test::random_ints<std::int32_t>(static_cast<std::size_t>(n), 6, -5000, 5000);
            const auto scale = lanes::test::random_floats(static_cast<std::size_t>(n), 7, 0.0005f, 0.004f);
            const std::int32_t zp = out == dtype::u8 ? 128 : (out == dtype::s8 ? -3 : 0);
            std::vector<float> c(static_cast<std::size_t>(m * ldc) * 4);  // 4 bytes per element covers every type
            ref::gemm_u8s8({.m = m, .n = n, .k = k, .a = a.data(), .lda = lda, .a_zero_point = 77, .b = b.data(), .ldb = ldb,
                            .trans_b = trans_b, .c = c.data(), .ldc = ldc,
                            .requant = {.bias = bias.data(), .scale = scale.data(), .zero_point = zp, .relu = true, .out = out}});
            for (std::int64_t i = 0; i < m; ++i)
                for (std::int64_t j = 0; j < n; ++j) {
                    std::int64_t acc = 0;
                    for (std::int64_t l = 0; l < k; ++l)
                        acc += (std::int64_t{a[i * lda + l]} - 77) * (trans_b ? b[j * ldb + l] : b[l * ldb + j]);
                    const std::int64_t index = i * ldc + j;
                    switch (out) {
                        case dtype::s32:
                            EXPECT_EQ(reinterpret_cast<const std::int32_t*>(c.data())[index], std::max<std::int64_t>(acc + bias[j], 0));
                            break;
                        case dtype::f32:
                            EXPECT_EQ(c[index], std::max(static_cast<float>(acc + bias[j]) * scale[j], 0.0f));
                            break;
                        case dtype::u8:
                            EXPECT_EQ(reinterpret_cast<const std::uint8_t*>(c.data())[index],
                                      spec_requant(acc, bias[j], scale[j], zp, true, out));
                            break;
                        case dtype::s8:
                            EXPECT_EQ(reinterpret_cast<const std::int8_t*>(c.data())[index],
                                      spec_requant(acc, bias[j], scale[j], zp, true, out));
                            break;
                    }
                }
        }
}

// One output element of a 1x1 "GEMM" with a chosen accumulator: acc = (a - 0) * 1 with k = 1 cannot
// reach every value, so the bias carries it: acc = 0, bias = value.
static float requant_one(std::int32_t value, float scale, std::int32_t zp, bool relu, dtype out) {
    const std::uint8_t a = 0;
    const std::int8_t b = 1;
    std::int32_t storage = 0;
    ref::gemm_u8s8({.m = 1, .n = 1, .k = 1, .a = &a, .lda = 1, .b = &b, .ldb = 1, .c = &storage, .ldc = 1,
                    .requant = {.bias = &value, .scale = &scale, .zero_point = zp, .relu = relu, .out = out}});
    if (out == dtype::u8) return *reinterpret_cast<std::uint8_t*>(&storage);
    if (out == dtype::s8) return *reinterpret_cast<std::int8_t*>(&storage);
    float value_f32;
    std::memcpy(&value_f32, &storage, sizeof value_f32);
    return value_f32;
}

TEST(RefRequant, TiesRoundToEven) {
    EXPECT_EQ(requant_one(5, 0.5f, 0, false, dtype::u8), 2);    // 2.5 -> 2
    EXPECT_EQ(requant_one(7, 0.5f, 0, false, dtype::u8), 4);    // 3.5 -> 4
    EXPECT_EQ(requant_one(-5, 0.5f, 10, false, dtype::u8), 8);  // -2.5 -> -2, + 10
    EXPECT_EQ(requant_one(-7, 0.5f, 0, false, dtype::s8), -4);  // -3.5 -> -4
    EXPECT_EQ(requant_one(1, 0.5f, 0, false, dtype::s8), 0);    // 0.5 -> 0
    EXPECT_EQ(requant_one(3, 0.5f, 0, false, dtype::s8), 2);    // 1.5 -> 2
}

TEST(RefRequant, ClampsToTypeRangeAndReluAtZeroPoint) {
    EXPECT_EQ(requant_one(1000, 1.0f, 0, false, dtype::u8), 255);
    EXPECT_EQ(requant_one(-1000, 1.0f, 0, false, dtype::u8), 0);
    EXPECT_EQ(requant_one(1000, 1.0f, 0, false, dtype::s8), 127);
    EXPECT_EQ(requant_one(-1000, 1.0f, 0, false, dtype::s8), -128);
    EXPECT_EQ(requant_one(255, 1.0f, 0, false, dtype::u8), 255);
    EXPECT_EQ(requant_one(127, 1.0f, 0, false, dtype::s8), 127);
    EXPECT_EQ(requant_one(-128, 1.0f, 0, false, dtype::s8), -128);
    EXPECT_EQ(requant_one(-3, 1.0f, 20, true, dtype::u8), 20);   // 17 clamps up to the zero point
    EXPECT_EQ(requant_one(-3, 1.0f, 20, false, dtype::u8), 17);
    EXPECT_EQ(requant_one(-3, 1.0f, -5, true, dtype::s8), -5);
    // Values far beyond int32 after scaling saturate instead of wrapping (no 0x80000000).
    EXPECT_EQ(requant_one(max_int8_bias, 1e9f, 0, false, dtype::u8), 255);
    EXPECT_EQ(requant_one(-max_int8_bias, 1e9f, 0, false, dtype::s8), -128);
    EXPECT_EQ(requant_one(-8, 0.25f, 0, true, dtype::f32), 0.0f);
    EXPECT_EQ(requant_one(-8, 0.25f, 0, false, dtype::f32), -2.0f);
}

TEST(RefGemvU8S8, ExtremeProductsAtTheDepthLimit) {
    // Every product is 255 * -128 (or 255 * 127) over the largest allowed k: the exact int32 limit.
    const std::int64_t k = max_int8_k;
    const std::vector<std::uint8_t> x(static_cast<std::size_t>(k), 255);
    std::vector<std::int8_t> w(static_cast<std::size_t>(2 * k));
    for (std::int64_t l = 0; l < k; ++l) {
        w[static_cast<std::size_t>(l)] = -128;
        w[static_cast<std::size_t>(k + l)] = 127;
    }
    std::int32_t y[2];
    ref::gemv_u8s8({.n = 2, .k = k, .w = w.data(), .ldw = k, .x = x.data(), .y = y, .requant = {.out = dtype::s32}});
    EXPECT_EQ(y[0], -255 * 128 * k);
    EXPECT_EQ(y[1], 255 * 127 * k);
}

// ---- Convolution --------------------------------------------------------------------------------

// Naive NCHW convolution in double, for comparison with the NHWC reference.
static std::vector<double> conv_nchw(const conv2d_shape& s, const std::vector<float>& nhwc, const std::vector<float>& w,
                                     const std::vector<float>& bias) {
    const std::int64_t oh = s.out_h(), ow = s.out_w(), gi = s.in_c / s.groups, go = s.out_c / s.groups;
    std::vector<double> out(static_cast<std::size_t>(s.batch * oh * ow * s.out_c));
    for (std::int64_t n = 0; n < s.batch; ++n)
        for (std::int64_t oc = 0; oc < s.out_c; ++oc)
            for (std::int64_t y = 0; y < oh; ++y)
                for (std::int64_t x = 0; x < ow; ++x) {
                    double sum = bias[oc];
                    for (std::int64_t ic = 0; ic < gi; ++ic)
                        for (std::int64_t ky = 0; ky < s.kernel_h; ++ky)
                            for (std::int64_t kx = 0; kx < s.kernel_w; ++kx) {
                                const std::int64_t iy = y * s.stride_h + ky * s.dilation_h - s.pad_top;
                                const std::int64_t ix = x * s.stride_w + kx * s.dilation_w - s.pad_left;
                                if (iy < 0 || ix < 0 || iy >= s.in_h || ix >= s.in_w) continue;
                                const std::int64_t c = oc / go * gi + ic;
                                sum += static_cast<double>(nhwc[((n * s.in_h + iy) * s.in_w + ix) * s.in_c + c]) *
                                       w[((oc * gi + ic) * s.kernel_h + ky) * s.kernel_w + kx];
                            }
                    out[((n * oh + y) * ow + x) * s.out_c + oc] = sum;
                }
    return out;
}

TEST(RefConv2dF32, HandComputed) {
    // 1x3x3x1 input 1..9, 2x2 kernel of ones, stride 1: window sums 12 16 24 28.
    const float in[] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, w[] = {1, 1, 1, 1};
    float out[4];
    ref::conv2d_f32({.shape = {.in_h = 3, .in_w = 3, .in_c = 1, .out_c = 1, .kernel_h = 2, .kernel_w = 2},
                     .input = in, .weights = w, .output = out});
    EXPECT_EQ(out[0], 12);
    EXPECT_EQ(out[1], 16);
    EXPECT_EQ(out[2], 24);
    EXPECT_EQ(out[3], 28);
}

TEST(RefConv2dF32, MatchesNaiveNchwOverShapes) {
    const conv2d_shape shapes[] = {
        {.batch = 2, .in_h = 7, .in_w = 6, .in_c = 3, .out_c = 4, .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1},
        {.batch = 1, .in_h = 9, .in_w = 9, .in_c = 4, .out_c = 6, .kernel_h = 3, .kernel_w = 2, .stride_h = 2, .stride_w = 3, .pad_top = 2, .pad_right = 1},
        {.batch = 1, .in_h = 8, .in_w = 7, .in_c = 4, .out_c = 4, .kernel_h = 3, .kernel_w = 3, .pad_top = 2, .pad_left = 2, .pad_bottom = 2, .pad_right = 2, .dilation_h = 2, .dilation_w = 2, .groups = 2},
        {.batch = 3, .in_h = 5, .in_w = 5, .in_c = 6, .out_c = 6, .kernel_h = 3, .kernel_w = 3, .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .groups = 6},
        {.batch = 1, .in_h = 4, .in_w = 4, .in_c = 5, .out_c = 7, .kernel_h = 1, .kernel_w = 1},
    };
    std::uint32_t seed = 10;
    for (const conv2d_shape& s : shapes) {
        const auto in = lanes::test::random_floats(static_cast<std::size_t>(s.batch * s.in_h * s.in_w * s.in_c), seed++);
        const auto w = lanes::test::random_floats(static_cast<std::size_t>(s.out_c * s.reduction()), seed++);
        const auto bias = lanes::test::random_floats(static_cast<std::size_t>(s.out_c), seed++);
        const std::size_t out_count = static_cast<std::size_t>(s.batch * s.out_h() * s.out_w() * s.out_c);
        const auto residual = lanes::test::random_floats(out_count, seed++);
        std::vector<float> out(out_count);
        ref::conv2d_f32({.shape = s, .input = in.data(), .weights = w.data(), .bias = bias.data(),
                         .residual = residual.data(), .relu = true, .output = out.data()});
        const auto expected = conv_nchw(s, in, w, bias);
        for (std::size_t i = 0; i < out_count; ++i) {
            const double exact = std::max(expected[i] + residual[i], 0.0);
            // |a|, |b| <= 1 and at most reduction() + 2 terms of magnitude <= 1.
            EXPECT_NEAR(out[i], exact, lanes::test::fp32_tolerance(s.reduction() + 2, static_cast<double>(s.reduction() + 2)))
                << "element " << i;
        }
    }
}

TEST(RefConv2dU8S8, PaddingHoldsTheZeroPoint) {
    // Convolving with padding must equal convolving an explicitly padded input filled with the zero point.
    const conv2d_shape padded{.in_h = 5, .in_w = 4, .in_c = 3, .out_c = 5, .kernel_h = 3, .kernel_w = 3, .stride_h = 2,
                              .pad_top = 1, .pad_left = 2, .pad_bottom = 1, .pad_right = 1};
    conv2d_shape unpadded = padded;
    unpadded.in_h += 2;
    unpadded.in_w += 3;
    unpadded.pad_top = unpadded.pad_left = unpadded.pad_bottom = unpadded.pad_right = 0;
    const std::int32_t zp = 131;
    const auto in = lanes::test::random_ints<std::uint8_t>(5 * 4 * 3, 20, 0, 255);
    std::vector<std::uint8_t> big(static_cast<std::size_t>(unpadded.in_h * unpadded.in_w * 3), static_cast<std::uint8_t>(zp));
    for (int y = 0; y < 5; ++y)
        for (int x = 0; x < 4; ++x)
            for (int c = 0; c < 3; ++c) big[static_cast<std::size_t>(((y + 1) * unpadded.in_w + x + 2) * 3 + c)] = in[static_cast<std::size_t>((y * 4 + x) * 3 + c)];
    const auto w = lanes::test::random_ints<std::int8_t>(5 * 27, 21, -128, 127);
    ASSERT_EQ(padded.out_h(), unpadded.out_h());
    ASSERT_EQ(padded.out_w(), unpadded.out_w());
    const std::size_t count = static_cast<std::size_t>(padded.out_h() * padded.out_w() * 5);
    std::vector<std::int32_t> a(count), b(count);
    ref::conv2d_u8s8({.shape = padded, .input = in.data(), .input_zero_point = zp, .weights = w.data(), .requant = {.out = dtype::s32}, .output = a.data()});
    ref::conv2d_u8s8({.shape = unpadded, .input = big.data(), .input_zero_point = zp, .weights = w.data(), .requant = {.out = dtype::s32}, .output = b.data()});
    EXPECT_EQ(a, b);
}

TEST(RefConv2dU8S8, ResidualFollowsTheDocumentedFormula) {
    const conv2d_shape s{.in_h = 2, .in_w = 2, .in_c = 2, .out_c = 3, .kernel_h = 1, .kernel_w = 1};
    const auto in = lanes::test::random_ints<std::uint8_t>(8, 30, 0, 255);
    const auto w = lanes::test::random_ints<std::int8_t>(6, 31, -128, 127);
    const auto residual = lanes::test::random_ints<std::uint8_t>(12, 32, 0, 255);
    const std::int32_t bias[] = {100, -200, 300};
    const float scale[] = {0.01f, 0.02f, 0.015f};
    std::uint8_t out[12];
    ref::conv2d_u8s8({.shape = s, .input = in.data(), .input_zero_point = 3, .weights = w.data(),
                      .requant = {.bias = bias, .scale = scale, .zero_point = 60, .relu = true}, .residual = residual.data(),
                      .residual_scale = 0.3f, .residual_zero_point = 128, .output = out});
    for (int pixel = 0; pixel < 4; ++pixel)
        for (int oc = 0; oc < 3; ++oc) {
            std::int32_t acc = 0;
            for (int ic = 0; ic < 2; ++ic) acc += (in[static_cast<std::size_t>(pixel * 2 + ic)] - 3) * w[static_cast<std::size_t>(oc * 2 + ic)];
            const float t = static_cast<float>(acc + bias[oc]) * scale[oc];
            const float r = static_cast<float>(residual[static_cast<std::size_t>(pixel * 3 + oc)] - 128) * 0.3f;
            const float sum = t + r;
            EXPECT_EQ(out[pixel * 3 + oc], std::clamp(std::rint(sum) + 60.0f, 60.0f, 255.0f)) << pixel << "," << oc;
        }
}

// ---- Pooling ------------------------------------------------------------------------------------

TEST(RefPool, MaxPool3x3Stride2Pad1) {
    // 4x4 input 0..15: windows centred on even positions; padding ignored.
    float in[16], out[4];
    for (int i = 0; i < 16; ++i) in[i] = static_cast<float>(i);
    pool2d_args p{.in_h = 4, .in_w = 4, .channels = 1, .kernel_h = 3, .kernel_w = 3, .stride_h = 2, .stride_w = 2,
                  .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .input = in, .output = out};
    ASSERT_EQ(p.out_h(), 2);
    ref::max_pool2d(p);
    EXPECT_EQ(out[0], 5);
    EXPECT_EQ(out[1], 7);
    EXPECT_EQ(out[2], 13);
    EXPECT_EQ(out[3], 15);
}

TEST(RefPool, AvgPoolCountIncludePadAndCeilMode) {
    float in[9], out[4];
    for (int i = 0; i < 9; ++i) in[i] = static_cast<float>(i + 1);  // 3x3: 1..9
    pool2d_args p{.in_h = 3, .in_w = 3, .channels = 1, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2,
                  .pad_top = 1, .pad_left = 1, .input = in, .output = out};
    ASSERT_EQ(p.out_h(), 2);  // (3 + 1 - 2) / 2 + 1
    ref::avg_pool2d(p);       // windows: {1}, {2,3}, {4,7}, {5,6,8,9}, divisor 4 (padding counted)
    EXPECT_FLOAT_EQ(out[0], 1.0f / 4);
    EXPECT_FLOAT_EQ(out[1], 5.0f / 4);
    EXPECT_FLOAT_EQ(out[2], 11.0f / 4);
    EXPECT_FLOAT_EQ(out[3], 28.0f / 4);
    p.count_include_pad = false;
    ref::avg_pool2d(p);
    EXPECT_FLOAT_EQ(out[0], 1.0f);
    EXPECT_FLOAT_EQ(out[1], 2.5f);
    EXPECT_FLOAT_EQ(out[2], 5.5f);
    EXPECT_FLOAT_EQ(out[3], 7.0f);
    // ceil_mode: 3x3 input, 2x2 window, stride 2, no padding -> 2x2 (floor would give 1x1);
    // the partial windows divide by their clipped size.
    pool2d_args c{.in_h = 3, .in_w = 3, .channels = 1, .kernel_h = 2, .kernel_w = 2, .stride_h = 2, .stride_w = 2,
                  .ceil_mode = true, .input = in, .output = out};
    ASSERT_EQ(c.out_h(), 2);
    ref::avg_pool2d(c);
    EXPECT_FLOAT_EQ(out[0], (1 + 2 + 4 + 5) / 4.0f);
    EXPECT_FLOAT_EQ(out[1], (3 + 6) / 2.0f);
    EXPECT_FLOAT_EQ(out[3], 9.0f);
}

TEST(RefPool, U8AverageRoundsHalfToEven) {
    const std::uint8_t in[] = {1, 2, 3, 4};  // 1x4, windows of 2: 1.5 -> 2, 3.5 -> 4
    std::uint8_t out[2];
    ref::avg_pool2d({.in_h = 1, .in_w = 4, .channels = 1, .kernel_h = 1, .kernel_w = 2, .stride_h = 1, .stride_w = 2,
                     .type = dtype::u8, .input = in, .output = out});
    EXPECT_EQ(out[0], 2);
    EXPECT_EQ(out[1], 4);
    const std::uint8_t in2[] = {2, 3, 4, 5};  // 2.5 -> 2, 4.5 -> 4
    ref::avg_pool2d({.in_h = 1, .in_w = 4, .channels = 1, .kernel_h = 1, .kernel_w = 2, .stride_h = 1, .stride_w = 2,
                     .type = dtype::u8, .input = in2, .output = out});
    EXPECT_EQ(out[0], 2);
    EXPECT_EQ(out[1], 4);
}

TEST(RefPool, AdaptiveAverageUsesPyTorchWindows) {
    // 1x5 -> 1x3: windows [0,2) [1,4) [3,5)
    const float in[] = {1, 2, 3, 4, 5};
    float out[3];
    ref::adaptive_avg_pool2d({.in_h = 1, .in_w = 5, .channels = 1, .out_h = 1, .out_w = 3, .input = in, .output = out});
    EXPECT_FLOAT_EQ(out[0], 1.5f);
    EXPECT_FLOAT_EQ(out[1], 3.0f);
    EXPECT_FLOAT_EQ(out[2], 4.5f);
    // Global pooling of two channels.
    const float in2[] = {1, 10, 2, 20, 3, 30, 4, 40};  // 2x2x2 NHWC
    float g[2];
    ref::adaptive_avg_pool2d({.in_h = 2, .in_w = 2, .channels = 2, .out_h = 1, .out_w = 1, .input = in2, .output = g});
    EXPECT_FLOAT_EQ(g[0], 2.5f);
    EXPECT_FLOAT_EQ(g[1], 25.0f);
}

// ---- Elementwise --------------------------------------------------------------------------------

TEST(RefEltwise, ReluAddSoftmax) {
    float x[] = {-1, 0, 2.5f};
    ref::relu({.count = 3, .input = x, .output = x});
    EXPECT_EQ(x[0], 0);
    EXPECT_EQ(x[2], 2.5f);
    std::uint8_t q[] = {3, 10, 200};
    ref::relu({.count = 3, .type = dtype::u8, .input = q, .output = q, .zero_point = 10});
    EXPECT_EQ(q[0], 10);
    EXPECT_EQ(q[2], 200);

    const float a[] = {1, -5}, b[] = {2, 1};
    float s[2];
    ref::add_f32({.count = 2, .a = a, .b = b, .output = s, .relu = true});
    EXPECT_EQ(s[0], 3);
    EXPECT_EQ(s[1], 0);

    const float logits[] = {0, std::log(3.0f), 1000, 1000};
    float p[4];
    ref::softmax({.rows = 2, .cols = 2, .input = logits, .output = p});
    EXPECT_NEAR(p[0], 0.25f, 1e-6);
    EXPECT_NEAR(p[1], 0.75f, 1e-6);
    EXPECT_EQ(p[2], 0.5f);  // large equal logits: no overflow
}

TEST(RefEltwise, AddU8WithScales) {
    // (10 - 0) * 0.5 + (4 - 2) * 0.25 = 5.5; / 1.0 -> 5.5 -> 6 (tie to even), + 0
    const std::uint8_t a[] = {10, 0}, b[] = {4, 2};
    std::uint8_t out[2];
    ref::add_u8({.count = 2, .a = a, .a_scale = 0.5f, .b = b, .b_scale = 0.25f, .b_zero_point = 2, .output = out,
                 .output_scale = 1.0f, .output_zero_point = 0});
    EXPECT_EQ(out[0], 6);
    EXPECT_EQ(out[1], 0);
    // With relu and an output zero point, negatives clamp at the zero point.
    const std::uint8_t n[] = {0};
    const std::uint8_t z[] = {100};
    ref::add_u8({.count = 1, .a = n, .a_scale = 1, .a_zero_point = 50, .b = z, .b_scale = 1, .b_zero_point = 100,
                 .output = out, .output_scale = 1, .output_zero_point = 7, .relu = true});
    EXPECT_EQ(out[0], 7);
}

TEST(RefEltwise, QuantizeDequantize) {
    const float x[] = {0.25f, 0.75f, -1000, 1000, std::numeric_limits<float>::quiet_NaN(), 1.25f};
    std::uint8_t q[6];
    ref::quantize({.count = 6, .input = x, .scale = 0.5f, .zero_point = 10, .out = dtype::u8, .output = q});
    EXPECT_EQ(q[0], 10);   // 0.5 -> 0
    EXPECT_EQ(q[1], 12);   // 1.5 -> 2
    EXPECT_EQ(q[2], 0);
    EXPECT_EQ(q[3], 255);
    EXPECT_EQ(q[4], 10);   // NaN -> zero point
    EXPECT_EQ(q[5], 12);   // 2.5 -> 2
    std::int8_t s[6];
    ref::quantize({.count = 6, .input = x, .scale = 0.5f, .zero_point = 0, .out = dtype::s8, .output = s});
    EXPECT_EQ(s[2], -128);
    EXPECT_EQ(s[3], 127);
    float back[6];
    ref::dequantize({.count = 6, .input = q, .in = dtype::u8, .scale = 0.5f, .zero_point = 10, .output = back});
    EXPECT_EQ(back[1], 1.0f);
    EXPECT_EQ(back[2], -5.0f);
    const std::int32_t wide[] = {-7};
    ref::dequantize({.count = 1, .input = wide, .in = dtype::s32, .scale = 0.5f, .zero_point = 0, .output = back});
    EXPECT_EQ(back[0], -3.5f);
}

// ---- Argument checks ----------------------------------------------------------------------------

TEST(RefValidation, GemmArguments) {
    float a[4] = {}, b[4] = {}, c[4] = {};
    const gemm_f32_args good{.m = 2, .n = 2, .k = 2, .a = a, .lda = 2, .b = b, .ldb = 2, .c = c, .ldc = 2};
    EXPECT_NO_THROW(ref::gemm_f32(good));
    auto with = [&](auto change) { gemm_f32_args p = good; change(p); return p; };
    EXPECT_LANES_ERROR(ref::gemm_f32(with([](auto& p) { p.m = 0; })), "m = 0 must be positive");
    EXPECT_LANES_ERROR(ref::gemm_f32(with([](auto& p) { p.k = -3; })), "k = -3 must be positive");
    EXPECT_LANES_ERROR(ref::gemm_f32(with([](auto& p) { p.a = nullptr; })), "a is a null pointer");
    EXPECT_LANES_ERROR(ref::gemm_f32(with([](auto& p) { p.lda = 1; })), "lda = 1 is smaller than the 2 columns of A");
    EXPECT_LANES_ERROR(ref::gemm_f32(with([](auto& p) { p.ldc = 1; })), "ldc = 1");
    EXPECT_LANES_ERROR(ref::gemm_f32(with([](auto& p) { p.trans_b = true; p.ldb = 1; })), "n x k, transposed");
    // volatile: keeps the compiler from propagating the huge constant into the (unreachable) loops.
    volatile std::int64_t huge = std::int64_t{1} << 62;
    EXPECT_LANES_ERROR(ref::gemm_f32(with([&](auto& p) { p.m = huge; p.lda = std::int64_t{1} << 40; })),
                       "spans more elements than a pointer can index");
    float y[2], x[2];
    EXPECT_LANES_ERROR(ref::gemv_f32({.rows = 2, .cols = 2, .a = a, .lda = 2, .x = x, .y = nullptr}), "y is a null pointer");
    EXPECT_LANES_ERROR(ref::gemv_f32({.rows = 2, .cols = 3, .a = a, .lda = 2, .x = x, .y = y}), "lda = 2 is smaller");
}

TEST(RefValidation, Int8Arguments) {
    std::uint8_t a[4] = {};
    std::int8_t b[4] = {};
    std::uint8_t c[4] = {};
    const float scale[2] = {1, 1};
    const gemm_u8s8_args good{.m = 2, .n = 2, .k = 2, .a = a, .lda = 2, .b = b, .ldb = 2, .c = c, .ldc = 2,
                              .requant = {.scale = scale}};
    EXPECT_NO_THROW(ref::gemm_u8s8(good));
    auto with = [&](auto change) { gemm_u8s8_args p = good; change(p); return p; };
    EXPECT_LANES_ERROR(ref::gemm_u8s8(with([](auto& p) { p.a_zero_point = 256; })), "a_zero_point = 256 is outside [0, 255]");
    EXPECT_LANES_ERROR(ref::gemm_u8s8(with([](auto& p) { p.requant.scale = nullptr; })), "requant.scale is a null pointer");
    EXPECT_LANES_ERROR(ref::gemm_u8s8(with([](auto& p) { p.requant.zero_point = 300; })), "output zero_point = 300");
    EXPECT_LANES_ERROR(ref::gemm_u8s8(with([](auto& p) { p.requant.out = dtype::s8; p.requant.zero_point = 128; })), "[-128, 127]");
    EXPECT_LANES_ERROR(ref::gemm_u8s8(with([](auto& p) { p.k = max_int8_k + 1; })), "int32 accumulation could overflow");
    const float bad_scale[2] = {1, -1};
    EXPECT_LANES_ERROR(ref::gemm_u8s8(with([&](auto& p) { p.requant.scale = bad_scale; })), "scale[1] = -1");
    const std::int32_t big_bias[2] = {0, (1 << 30) + 1};
    EXPECT_LANES_ERROR(ref::gemm_u8s8(with([&](auto& p) { p.requant.bias = big_bias; })), "bias[1] = 1073741825");
    EXPECT_LANES_ERROR(ref::gemv_u8s8({.n = 2, .k = 2, .w = b, .ldw = 1, .x = a, .y = c, .requant = {.scale = scale}}), "ldw = 1");
}

TEST(RefValidation, ConvPoolEltwiseArguments) {
    float in[64] = {}, w[64] = {}, out[64] = {};
    const conv2d_shape s{.in_h = 4, .in_w = 4, .in_c = 2, .out_c = 2, .kernel_h = 3, .kernel_w = 3};
    EXPECT_NO_THROW(ref::conv2d_f32({.shape = s, .input = in, .weights = w, .output = out}));
    auto conv_with = [&](auto change) { conv2d_shape t = s; change(t); return conv2d_f32_args{.shape = t, .input = in, .weights = w, .output = out}; };
    EXPECT_LANES_ERROR(ref::conv2d_f32(conv_with([](auto& t) { t.stride_h = 0; })), "stride_h = 0 must be positive");
    EXPECT_LANES_ERROR(ref::conv2d_f32(conv_with([](auto& t) { t.pad_left = -1; })), "must not be negative");
    EXPECT_LANES_ERROR(ref::conv2d_f32(conv_with([](auto& t) { t.groups = 3; })), "groups = 3 must divide");
    EXPECT_LANES_ERROR(ref::conv2d_f32(conv_with([](auto& t) { t.kernel_h = 5; })), "larger than the padded 4x4 input");
    EXPECT_LANES_ERROR(ref::conv2d_f32(conv_with([](auto& t) { t.batch = std::int64_t{1} << 40; t.in_h = std::int64_t{1} << 30; })),
                       "overflows 64 bits");
    std::uint8_t q[64] = {};
    std::int8_t qw[64] = {};
    const float scale[2] = {1, 1};
    EXPECT_LANES_ERROR(ref::conv2d_u8s8({.shape = s, .input = q, .input_zero_point = -1, .weights = qw, .requant = {.scale = scale}, .output = q}),
                       "input_zero_point = -1");
    EXPECT_LANES_ERROR(ref::conv2d_u8s8({.shape = s, .input = q, .weights = qw, .requant = {.scale = scale}, .residual = q,
                                         .residual_scale = std::numeric_limits<float>::infinity(), .output = q}),
                       "residual_scale = inf");

    EXPECT_LANES_ERROR(ref::max_pool2d({.in_h = 4, .in_w = 4, .channels = 1, .kernel_h = 2, .kernel_w = 2, .pad_top = 2, .input = in, .output = out}),
                       "must be smaller than the 2x2 window");
    EXPECT_LANES_ERROR(ref::avg_pool2d({.in_h = 4, .in_w = 4, .channels = 1, .kernel_h = 2, .kernel_w = 2, .type = dtype::s8, .input = in, .output = out}),
                       "type = s8 is not supported");
    EXPECT_LANES_ERROR(ref::adaptive_avg_pool2d({.in_h = 4, .in_w = 4, .channels = 1, .out_h = 0, .input = in, .output = out}),
                       "out_h = 0 must be positive");
    EXPECT_LANES_ERROR(ref::relu({.count = -1, .input = in, .output = out}), "count = -1 must be positive");
    EXPECT_LANES_ERROR(ref::add_u8({.count = 1, .a = q, .a_scale = 0, .b = q, .output = q}), "a_scale = 0 must be finite and positive");
    EXPECT_LANES_ERROR(ref::softmax({.rows = 1, .cols = 1, .input = nullptr, .output = out}), "input is a null pointer");
    EXPECT_LANES_ERROR(ref::quantize({.count = 1, .input = in, .scale = 1, .out = dtype::f32, .output = q}), "out = f32 is not supported");
    EXPECT_LANES_ERROR(ref::dequantize({.count = 1, .input = q, .in = dtype::s8, .scale = 1, .zero_point = 200, .output = out}),
                       "zero_point = 200 is outside [-128, 127] for s8");
}
