// FP32 GEMM and GEMV: every kernel of the tables against the reference, within the bound derived in
// helpers.hpp, over the sizes {1..33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000}; leading
// dimensions larger than the width, unaligned pointers, beta 0 / 1 / 0.5, alpha != 1, bias, ReLU,
// transposes, prepacked B, and 1 against 2 threads.
#include <gtest/gtest.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "helpers.hpp"
#include "lanes.hpp"

namespace {

using namespace lanes;
using lanes::test::buffer;
using lanes::test::runs_shape;
using lanes::test::issue_sizes;
using lanes::test::table_rows;

struct gemm_case {
    std::int64_t m = 1, n = 1, k = 1;
    bool trans_a = false, trans_b = false;
    float alpha = 1.0f, beta = 0.0f;
    bool bias = false, relu = false;
    std::int64_t pad = 0;  // added to every leading dimension
};

std::string describe(const gemm_case& c) {
    return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
           " trans_a=" + std::to_string(c.trans_a) + " trans_b=" + std::to_string(c.trans_b) +
           " alpha=" + std::to_string(c.alpha) + " beta=" + std::to_string(c.beta) + " bias=" + std::to_string(c.bias) +
           " relu=" + std::to_string(c.relu) + " pad=" + std::to_string(c.pad);
}

// Runs `run` on a random problem of shape `c` and checks every element of C against the reference
// within the derived bound, and that the columns between n and ldc, and one row past C in the buffer,
// were not touched (so a tile that stores a row or a column too many fails here, not only under
// ASan). With a run_length, `run` gets A as runs of that length (gemm_f32_args::a_runs) scattered by
// lanes::test::scatter_runs; the reference gets the rows.
void check_gemm_f32(const gemm_case& c, const std::function<void(const gemm_f32_args&)>& run, const std::string& who,
                    std::uint32_t seed, std::int64_t run_length = 0) {
    const std::int64_t lda = (c.trans_a ? c.m : c.k) + c.pad, ldb = (c.trans_b ? c.k : c.n) + c.pad, ldc = c.n + c.pad;
    buffer<float> a(static_cast<std::size_t>((c.trans_a ? c.k : c.m) * lda)), b(static_cast<std::size_t>((c.trans_b ? c.n : c.k) * ldb));
    buffer<float> out(static_cast<std::size_t>((c.m + 1) * ldc)), expected(out.size()), bias(static_cast<std::size_t>(c.n));
    lanes::test::fill(a, lanes::test::random_floats(a.size(), seed));
    lanes::test::fill(b, lanes::test::random_floats(b.size(), seed + 1));
    lanes::test::fill(out, lanes::test::random_floats(out.size(), seed + 2));
    lanes::test::fill(bias, lanes::test::random_floats(bias.size(), seed + 3));
    const std::vector<float> c0(out.data(), out.data() + out.size());
    if (c.beta == 0.0f)  // beta = 0: C is write-only, so a NaN in it must not leak into the result
        for (std::int64_t i = 0; i < c.m; ++i) out[static_cast<std::size_t>(i * ldc)] = std::numeric_limits<float>::quiet_NaN();
    std::memcpy(expected.data(), out.data(), out.size() * sizeof(float));

    gemm_f32_args p{.m = c.m, .n = c.n, .k = c.k, .a = a.data(), .lda = lda, .b = b.data(), .ldb = ldb, .c = out.data(),
                    .ldc = ldc, .trans_a = c.trans_a, .trans_b = c.trans_b, .alpha = c.alpha, .beta = c.beta,
                    .bias = c.bias ? bias.data() : nullptr, .relu = c.relu};
    gemm_f32_args q = p;
    q.c = expected.data();
    buffer<float> storage(static_cast<std::size_t>(c.m * c.k));
    std::vector<const float*> runs;
    if (run_length > 0) {
        runs = lanes::test::scatter_runs(a.data(), lda, c.m, c.k, run_length, seed, storage);
        p.a = nullptr;
        p.lda = 0;
        p.a_runs = runs.data();
        p.a_run_length = run_length;
    }
    run(p);
    ref::gemm_f32(q);

    auto at_a = [&](std::int64_t i, std::int64_t l) { return a[static_cast<std::size_t>(c.trans_a ? l * lda + i : i * lda + l)]; };
    auto at_b = [&](std::int64_t l, std::int64_t j) { return b[static_cast<std::size_t>(c.trans_b ? j * ldb + l : l * ldb + j)]; };
    for (std::int64_t i = 0; i <= c.m; ++i) {
        for (std::int64_t j = 0; j < ldc; ++j) {
            const std::size_t at = static_cast<std::size_t>(i * ldc + j);
            if (i == c.m || j >= c.n) {
                ASSERT_EQ(out[at], c0[at]) << who << " wrote outside C at " << i << "," << j << ": " << describe(c);
                continue;
            }
            double magnitude = 0;
            for (std::int64_t l = 0; l < c.k; ++l) magnitude += std::abs(static_cast<double>(at_a(i, l)) * at_b(l, j));
            magnitude = std::abs(c.alpha) * magnitude + (c.beta != 0.0f ? std::abs(c.beta * c0[at]) : 0.0) +
                        (c.bias ? std::abs(bias[static_cast<std::size_t>(j)]) : 0.0);
            ASSERT_NEAR(out[at], expected[at], lanes::test::fp32_tolerance(c.k + 3, magnitude))
                << who << " at " << i << "," << j << ": " << describe(c);
        }
    }
}

// The shapes of the sweep: each size of the list in each dimension, the other two dimensions taken
// from the list in a fixed rotation, halved while the problem exceeds 2M multiply-adds (to keep the
// reference fast enough for the sanitizer build). Variants rotate with the case number.
std::vector<gemm_case> sweep_cases() {
    const std::vector<std::int64_t> sizes = issue_sizes();
    const std::size_t count = sizes.size();
    std::vector<gemm_case> cases;
    for (std::size_t idx = 0; idx < count; ++idx) {
        for (int dim = 0; dim < 3; ++dim) {
            std::int64_t m = dim == 0 ? sizes[idx] : sizes[(idx * 7 + 3) % count];
            std::int64_t n = dim == 1 ? sizes[idx] : sizes[(idx * 13 + 1) % count];
            std::int64_t k = dim == 2 ? sizes[idx] : sizes[(idx * 5 + 8) % count];
            while (m * n * k > 2'000'000) {
                std::int64_t* largest = nullptr;
                for (std::int64_t* x : {&m, &n, &k})
                    if ((x == &m && dim == 0) || (x == &n && dim == 1) || (x == &k && dim == 2)) continue;
                    else if (largest == nullptr || *x > *largest) largest = x;
                *largest = std::max<std::int64_t>(1, *largest / 2);
            }
            const std::size_t v = cases.size();
            gemm_case c;
            c.m = m;
            c.n = n;
            c.k = k;
            c.trans_a = v % 3 == 1;
            c.trans_b = v % 4 == 3;
            c.alpha = v % 2 ? 0.75f : 1.0f;
            c.beta = v % 3 == 0 ? 0.0f : (v % 3 == 1 ? 1.0f : 0.5f);
            c.bias = v % 2 == 0;
            c.relu = v % 5 == 0;
            c.pad = static_cast<std::int64_t>(v % 3);
            cases.push_back(c);
        }
    }
    return cases;
}

// ---- One test per kernel of the gemm_f32 table -----------------------------------------------------

class GemmF32Kernel : public table_rows<kernels::gemm_f32> {
protected:
    // The case made acceptable to this kernel (the small-M kernel takes m <= 16 with a transposed B).
    gemm_case fitted(gemm_case c) const {
        gemm_f32_args probe{.m = c.m, .n = c.n, .k = c.k, .trans_a = c.trans_a, .trans_b = c.trans_b};
        if (entry().accepts == nullptr || entry().accepts(probe)) return c;
        c.m = std::min<std::int64_t>(c.m, 16);
        c.trans_a = false;
        c.trans_b = true;
        probe = {.m = c.m, .n = c.n, .k = c.k, .trans_a = c.trans_a, .trans_b = c.trans_b};
        EXPECT_TRUE(entry().accepts(probe)) << entry().name << " accepts none of the sweep's variants";
        return c;
    }
};

TEST_P(GemmF32Kernel, MatchesReferenceOverTheSizeSweep) {
    std::uint32_t seed = 1000;
    for (const gemm_case& c : sweep_cases()) {
        check_gemm_f32(fitted(c), [&](const gemm_f32_args& p) { run(p); }, entry().name, seed += 10);
        if (HasFatalFailure()) return;
    }
}

TEST_P(GemmF32Kernel, EveryEpilogueAndLayoutOnBlockBoundaries) {
    // k on and beyond one KC block (several blocks accumulate into C), n beyond one NR panel. With a
    // 48 KiB L1d, m = 45 is one block of rows, whose B is packed panel by panel with the KC in L1 (384
    // with the 14 x 32 tile), and m = 180 is two blocks of rows (MC = 168) with KC = 512.
    struct rows_and_depth {
        std::int64_t m, k;
    };
    std::uint32_t seed = 5000;
    for (const rows_and_depth s : {rows_and_depth{45, 383}, rows_and_depth{45, 384}, rows_and_depth{45, 385}, rows_and_depth{45, 1000},
                                   rows_and_depth{180, 512}, rows_and_depth{180, 513}, rows_and_depth{180, 1000}})
        for (const bool trans_a : {false, true})
            for (const bool trans_b : {false, true})
                for (const float beta : {0.0f, 1.0f, 0.5f}) {
                    gemm_case c{.m = s.m, .n = 70, .k = s.k, .trans_a = trans_a, .trans_b = trans_b, .alpha = 0.5f, .beta = beta,
                                .bias = beta != 1.0f, .relu = beta != 0.5f, .pad = 5};
                    check_gemm_f32(fitted(c), [&](const gemm_f32_args& p) { run(p); }, entry().name, seed += 10);
                    if (HasFatalFailure()) return;
                }
}

// Row-major A is read in place or packed depending on n and on how far apart its rows are
// (read_a_directly): rows 1, 2 or 4 KiB apart, or none of these, at n on both sides of 2 NR and 8 NR.
TEST_P(GemmF32Kernel, ReadsAInPlaceOrPacksItByRowDistance) {
    std::uint32_t seed = 6000;
    for (const std::int64_t lda : {256, 301, 512, 1024})
        for (const std::int64_t n : {40, 70, 200, 300}) {
            const std::int64_t k = lda == 1024 ? 1000 : 200;  // 1000: several blocks of depth, the last not whole vectors
            const gemm_case c{.m = 45, .n = n, .k = k, .trans_b = n == 70, .alpha = 1.0f, .beta = 0.5f, .bias = true, .relu = n == 40, .pad = lda - k};
            check_gemm_f32(fitted(c), [&](const gemm_f32_args& p) { run(p); }, std::string(entry().name) + " lda " + std::to_string(lda), seed += 10);
            if (HasFatalFailure()) return;
        }
}

// A given as runs (an implicit im2col), read in place (n <= 2 NR) or packed, with pieces that cross
// the KC blocks of the depth. The small-M kernels take rows only.
TEST_P(GemmF32Kernel, MatchesReferenceWithAGivenAsRuns) {
    std::uint32_t seed = 7000;
    for (const runs_shape s : {runs_shape{1, 5, 4, 1}, runs_shape{14, 37, 12, 3}, runs_shape{29, 64, 192, 3}, runs_shape{40, 100, 100, 5}, runs_shape{31, 45, 1, 7},
                          runs_shape{50, 20, 130, 4}, runs_shape{20, 8, 24, 3}}) {
        const gemm_case c{.m = s.m, .n = s.n, .k = s.length * s.runs, .trans_b = s.m % 2 == 1, .alpha = 0.5f, .beta = 0.5f, .bias = true, .relu = true};
        gemm_f32_args probe{.m = c.m, .n = c.n, .k = c.k, .trans_b = c.trans_b};
        const float* dummy = nullptr;
        probe.a_runs = &dummy;
        if (entry().accepts != nullptr && !entry().accepts(probe)) continue;
        check_gemm_f32(c, [&](const gemm_f32_args& p) { run(p); }, entry().name + std::string(" with A as runs"), seed += 10, s.length);
        if (HasFatalFailure()) return;
    }
}

// On one thread, the first block of rows packs B in its tiles for the blocks after it, however many
// there are (kernels/gemm_driver.hpp). With MC = 84 (AVX-512, 48 KiB L1d, 1 MiB L2) these are 3, 5, 16
// and 17 blocks; with a column tail, two blocks of depth and leading dimensions 5 floats longer than
// the widths (one case with A's rows 1 KiB apart, so that A is packed rather than read in place).
TEST_P(GemmF32Kernel, OneThreadPacksBInTheFirstBlocksTiles) {
#if defined(_OPENMP)
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    std::uint32_t seed = 8000;
    for (const std::int64_t m : {180, 400, 1344, 1400}) {
        const gemm_case c{.m = m, .n = 70, .k = 600, .alpha = 0.5f, .beta = 0.5f, .bias = true, .relu = m == 400, .pad = m == 400 ? 424 : 5};  // 424: rows 1 KiB apart, A packed
        check_gemm_f32(fitted(c), [&](const gemm_f32_args& p) { run(p); }, entry().name + std::string(" one thread"), seed += 10);
        if (HasFatalFailure()) break;
    }
    omp_set_num_threads(saved);
#else
    GTEST_SKIP() << "built without OpenMP";
#endif
}

TEST_P(GemmF32Kernel, OneAndTwoThreadsGiveIdenticalResults) {
#if defined(_OPENMP)
    const std::int64_t m = 300, n = 200, k = 500;  // above the threading threshold
    for (const bool trans_b : {false, true}) {
        gemm_case c = fitted({.m = m, .n = n, .k = k, .trans_b = trans_b, .alpha = 1.0f, .beta = 0.5f, .bias = true, .relu = true});
        const auto a = lanes::test::random_floats(static_cast<std::size_t>(c.m * c.k), 1);
        const auto b = lanes::test::random_floats(static_cast<std::size_t>(c.k * c.n), 2);
        const auto bias = lanes::test::random_floats(static_cast<std::size_t>(c.n), 3);
        std::vector<float> one = lanes::test::random_floats(static_cast<std::size_t>(c.m * c.n), 4), two = one;
        gemm_f32_args p{.m = c.m, .n = c.n, .k = c.k, .a = a.data(), .lda = c.k, .b = b.data(), .ldb = c.trans_b ? c.k : c.n,
                        .c = one.data(), .ldc = c.n, .trans_b = c.trans_b, .beta = 0.5f, .bias = bias.data(), .relu = true};
        const int saved = omp_get_max_threads();
        omp_set_num_threads(1);
        run(p);
        omp_set_num_threads(2);
        p.c = two.data();
        run(p);
        omp_set_num_threads(saved);
        EXPECT_EQ(std::memcmp(one.data(), two.data(), one.size() * sizeof(float)), 0) << entry().name << " trans_b=" << trans_b;
    }
#else
    GTEST_SKIP() << "built without OpenMP";
#endif
}

// A caller's own threads each running a product of their own: a small one, which the driver runs
// without a team of its own when no team surrounds it, and one above the threading threshold. Were the
// driver's `omp for` loops to bind to the caller's team, each thread would compute part of each product.
TEST_P(GemmF32Kernel, EachThreadOfACallersTeamGetsItsWholeProduct) {
#if defined(_OPENMP)
    for (const std::int64_t m : {40, 300}) {
        const gemm_case c = fitted({.m = m, .n = 70, .k = m == 40 ? 30 : 500, .beta = 0.5f, .bias = true});
        const auto a = lanes::test::random_floats(static_cast<std::size_t>(c.m * c.k), 1);
        const auto b = lanes::test::random_floats(static_cast<std::size_t>(c.k * c.n), 2);
        const auto bias = lanes::test::random_floats(static_cast<std::size_t>(c.n), 3);
        const std::vector<float> start = lanes::test::random_floats(static_cast<std::size_t>(c.m * c.n), 4);
        gemm_f32_args p{.m = c.m, .n = c.n, .k = c.k, .a = a.data(), .lda = c.k, .b = b.data(), .ldb = c.trans_b ? c.k : c.n,
                        .ldc = c.n, .trans_b = c.trans_b, .beta = 0.5f, .bias = bias.data()};
        std::vector<float> alone = start;
        p.c = alone.data();
        run(p);
        std::vector<std::vector<float>> each(2, start);
        int team = 0;
#pragma omp parallel num_threads(2)
        {
#pragma omp single
            team = omp_get_num_threads();
            gemm_f32_args mine = p;
            mine.c = each[static_cast<std::size_t>(omp_get_thread_num())].data();
            run(mine);
        }
        if (team < 2) GTEST_SKIP() << "the OpenMP runtime gave a team of " << team;
        for (const auto& c_of_thread : each)
            EXPECT_EQ(std::memcmp(alone.data(), c_of_thread.data(), alone.size() * sizeof(float)), 0) << entry().name << " m=" << m;
    }
#else
    GTEST_SKIP() << "built without OpenMP";
#endif
}

INSTANTIATE_TEST_SUITE_P(Table, GemmF32Kernel, GemmF32Kernel::all(), GemmF32Kernel::name);

// ---- Prepacked B --------------------------------------------------------------------------------------

class GemmF32Packed : public table_rows<tables::gemm_f32_packers> {};

TEST_P(GemmF32Packed, MatchesReferenceAndRemembersItsKernel) {
    std::uint32_t seed = 9000;
    for (const gemm_case& base : {gemm_case{.m = 1, .n = 1, .k = 1}, gemm_case{.m = 33, .n = 65, .k = 129, .trans_b = true, .bias = true},
                                  gemm_case{.m = 64, .n = 257, .k = 1000, .alpha = 0.5f, .beta = 1.0f, .pad = 3},
                                  gemm_case{.m = 17, .n = 1000, .k = 63, .trans_a = true, .trans_b = true, .beta = 0.5f, .relu = true, .pad = 1}}) {
        check_gemm_f32(base, [&](const gemm_f32_args& p) {
            const packed_b_f32 packed = entry().pack(p);
            EXPECT_EQ(std::string(packed.kernel()), entry().name);
            EXPECT_EQ(packed.level(), entry().level);
            gemm_f32_args without_b = p;
            without_b.b = nullptr;  // the packed call never reads args.b
            lanes::gemm_f32_packed(without_b, packed);
        }, entry().name, seed += 10);
    }
}

INSTANTIATE_TEST_SUITE_P(Packers, GemmF32Packed, GemmF32Packed::all(), GemmF32Packed::name);

TEST(GemmF32PackedErrors, MismatchedShapeEmptyMatrixAndLoweredCapAreReported) {
    const auto b = lanes::test::random_floats(6, 1);
    float a[6] = {}, c[9] = {};
    const packed_b_f32 packed = pack_gemm_f32_b({.n = 3, .k = 2, .b = b.data(), .ldb = 3});
    EXPECT_LANES_ERROR(gemm_f32_packed({.m = 3, .n = 3, .k = 1, .a = a, .lda = 2, .c = c, .ldc = 3}, packed),
                       "k = 1 and n = 3 do not match the packed B, which is 2 x 3");
    EXPECT_LANES_ERROR(gemm_f32_packed({.m = 3, .n = 3, .k = 2, .a = a, .lda = 2, .c = c, .ldc = 3}, packed_b_f32{}),
                       "the packed B is empty");
    EXPECT_LANES_ERROR(pack_gemm_f32_b({.n = 3, .k = 2, .b = b.data(), .ldb = 2}), "ldb = 2 is smaller than");
    if (packed.level() == isa::ref) GTEST_SKIP() << "B was packed by the portable kernel: no lower cap to test";
    const lanes::test::isa_cap_restorer restore_cap;
    set_isa_cap(isa::ref);
    EXPECT_LANES_ERROR(gemm_f32_packed({.m = 3, .n = 3, .k = 2, .a = a, .lda = 2, .c = c, .ldc = 3}, packed),
                       "but the ISA cap is ref; pack it again");
}

// ---- GEMV -----------------------------------------------------------------------------------------------

class GemvF32Kernel : public table_rows<kernels::gemv_f32> {};

TEST_P(GemvF32Kernel, MatchesReferenceBothOrientations) {
    const std::vector<std::int64_t> sizes = issue_sizes();
    std::uint32_t seed = 7000;
    std::size_t v = 0;
    for (const std::int64_t rows : sizes) {
        for (const bool trans : {false, true}) {
            const std::int64_t cols = sizes[(v * 7 + 5) % sizes.size()], lda = cols + static_cast<std::int64_t>(v % 3);
            const std::int64_t outputs = trans ? cols : rows, depth = trans ? rows : cols;
            buffer<float> a(static_cast<std::size_t>(rows * lda)), x(static_cast<std::size_t>(depth)), bias(static_cast<std::size_t>(outputs));
            buffer<float> y(static_cast<std::size_t>(outputs) + 1), expected(y.size());
            lanes::test::fill(a, lanes::test::random_floats(a.size(), seed));
            lanes::test::fill(x, lanes::test::random_floats(x.size(), seed + 1));
            lanes::test::fill(bias, lanes::test::random_floats(bias.size(), seed + 2));
            y[static_cast<std::size_t>(outputs)] = expected[static_cast<std::size_t>(outputs)] = 42.0f;  // past the end
            gemv_f32_args p{.rows = rows, .cols = cols, .a = a.data(), .lda = lda, .x = x.data(), .y = y.data(), .trans = trans,
                            .bias = v % 2 ? bias.data() : nullptr, .relu = v % 3 == 0};
            validate(p);
            entry().run(p);
            p.y = expected.data();
            ref::gemv_f32(p);
            EXPECT_EQ(y[static_cast<std::size_t>(outputs)], 42.0f) << entry().name << " wrote past y";
            for (std::int64_t i = 0; i < outputs; ++i) {
                double magnitude = p.bias ? std::abs(bias[static_cast<std::size_t>(i)]) : 0.0;
                for (std::int64_t l = 0; l < depth; ++l)
                    magnitude += std::abs(static_cast<double>(trans ? a[static_cast<std::size_t>(l * lda + i)] : a[static_cast<std::size_t>(i * lda + l)]) *
                                          x[static_cast<std::size_t>(l)]);
                ASSERT_NEAR(y[static_cast<std::size_t>(i)], expected[static_cast<std::size_t>(i)], lanes::test::fp32_tolerance(depth + 1, magnitude))
                    << entry().name << " rows=" << rows << " cols=" << cols << " trans=" << trans << " at " << i;
            }
            seed += 10;
            ++v;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Table, GemvF32Kernel, GemvF32Kernel::all(), GemvF32Kernel::name);

// ---- Block sizes --------------------------------------------------------------------------------------

TEST(GemmBlocks, FollowTheDocumentedRuleAndStayInRange) {
    cpu_info c;
    c.l1d_kib = 48;
    c.l2_kib = 2048;
    c.l3_kib = 491520;  // a virtual machine's report: the NC cap applies
    c.cores = 2;
    const gemm_blocks b = choose_gemm_blocks(14, 32, 4, c);
    EXPECT_EQ(b.kc, 512);
    EXPECT_EQ(b.kc_in_l1, 384);     // 48 KiB / (32 * 4 B)
    EXPECT_EQ(b.mc, 2048 * 1024 / 8 / (384 * 4) / 14 * 14);  // 170 -> 168, from the KC in L1
    EXPECT_EQ(b.nc, 4096);
    const gemm_blocks unknown = choose_gemm_blocks(6, 16, 4, cpu_info{});
    EXPECT_EQ(unknown.kc, 512);
    EXPECT_EQ(unknown.kc_in_l1, 512);  // 32 KiB / 64 B
    EXPECT_EQ(unknown.mc % 6, 0);
    EXPECT_GT(unknown.nc, 0);
    cpu_info small = c;
    small.l1d_kib = 24;
    EXPECT_EQ(choose_gemm_blocks(14, 32, 4, small).kc, 512);
    EXPECT_EQ(choose_gemm_blocks(14, 32, 4, small).kc_in_l1, 192);  // 24 KiB / 128 B
    // A core that runs zmm in halves (Zen 4: 32 KiB L1d) keeps the whole KC when B is packed panel by
    // panel, and its MC follows from that depth.
    cpu_info halves = c;
    halves.l1d_kib = 32;
    halves.zmm_halves = true;
    const gemm_blocks h = choose_gemm_blocks(14, 32, 4, halves);
    EXPECT_EQ(h.kc, 512);
    EXPECT_EQ(h.kc_in_l1, 512);
    EXPECT_EQ(h.mc, 2048 * 1024 / 8 / (512 * 4) / 14 * 14);  // 128 -> 126
    halves.zmm_halves = false;
    EXPECT_EQ(choose_gemm_blocks(14, 32, 4, halves).kc_in_l1, 256);  // 32 KiB / 128 B
}

// ---- Next-panel prefetch (prepacked B) ----------------------------------------------------------------

// What packing and the next-panel helpers ask of a microkernel, and no more: 32-column FP32 panels
// (128 bytes a row, as AVX-512's), blocks of 8 rows of depth. Its panels are left as they are: only
// their addresses are checked.
struct panel_layout_micro {
    using args_type = gemm_f32_args;
    using b_type = float;
    static constexpr int nr = 32, k_group = 1;
    static constexpr isa level = isa::ref;
    static constexpr const char* name = "panel_layout_micro";
    static constexpr bool has_column_sums = false;
    static gemm_blocks blocks(std::int64_t) { return {.mc = 14, .kc = 8, .nc = 4096}; }
    static void pack_b(const gemm_f32_args&, std::int64_t, std::int64_t, std::int64_t, std::int64_t, float*) {}
    static void column_sums(const gemm_f32_args&, std::int32_t*) {}
};

TEST(NextPanelPrefetch, AsksForThePanelTheTilesVisitNextOnceOverTheFirstTiles) {
    using micro = panel_layout_micro;
    const std::vector<float> b(20 * 96);
    const packed_b_f32 packed = packed_b_f32::pack<micro>({.n = 96, .k = 20, .b = b.data(), .ldb = 96});  // depth 8 + 8 + 4, 3 panels
    auto panel = [&](std::int64_t p0, std::int64_t j0) { return packed.panels<float>(p0, j0); };
    // Within a block of depth, the next panel to the right; after a work item's last panel, its first
    // panel in the next block of depth; after the last block, none.
    EXPECT_EQ(next_prepacked_panel<micro>(packed, 0, 0, 0, 0, 3), panel(0, 32));
    EXPECT_EQ(next_prepacked_panel<micro>(packed, 0, 0, 1, 0, 3), panel(0, 64));
    EXPECT_EQ(next_prepacked_panel<micro>(packed, 0, 0, 2, 0, 3), panel(8, 0));
    EXPECT_EQ(next_prepacked_panel<micro>(packed, 8, 0, 2, 1, 3), panel(16, 32));  // an item of panels 1 and 2
    EXPECT_EQ(next_prepacked_panel<micro>(packed, 8, 0, 0, 0, 1), panel(16, 0));
    EXPECT_EQ(next_prepacked_panel<micro>(packed, 16, 0, 2, 0, 3), nullptr);
    // The tiles' shares: one line per step of depth, from tile 0 on, together the panel once. A panel
    // of 8 rows is 1 KiB, 16 lines: tiles 0 and 1 ask for 8 each, tile 2 for none; a panel of 4 rows
    // (the last block) is 8 lines, 4 for each of tiles 0 and 1.
    for (const std::int64_t kc : {8, 4}) {
        const float* next = panel(kc == 8 ? 0 : 16, 32);
        const char* expected = reinterpret_cast<const char*>(next);
        for (std::int64_t tile = 0; tile < 4; ++tile) {
            const next_panel_lines share = share_of_next_panel<micro>(next, kc, tile);
            if (tile >= 2) {
                EXPECT_EQ(share.lines, 0) << "kc=" << kc << " tile " << tile;
                continue;
            }
            EXPECT_EQ(share.line, expected) << "kc=" << kc << " tile " << tile;
            EXPECT_EQ(share.lines, kc) << "kc=" << kc << " tile " << tile;
            expected += 64 * share.lines;
        }
        EXPECT_EQ(expected, reinterpret_cast<const char*>(next) + 32 * kc * sizeof(float)) << "kc=" << kc;
    }
    EXPECT_EQ(share_of_next_panel<micro>(nullptr, 8, 0).lines, 0);
}

}  // namespace
