// INT8 GEMM and GEMV: every kernel of the tables must reproduce the reference bit for bit (the whole C
// buffer is compared byte for byte, so the padding between n and ldc and a row past C must also be left
// untouched), over the sizes {1..33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000} (k not a multiple
// of 2 or 4 included), ld > width, unaligned pointers, zero points 0 and non-zero, every output type,
// ReLU, the extremes 255 x -128 and 255 x 127 that saturate vpmaddubsw, prepacked B, and 1 against 2
// threads.
#include <gtest/gtest.h>

#if defined(_OPENMP)
#include <omp.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
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

// How the inputs are drawn.
enum class values {
    random,        // A uniform in [0, 255], B in [-128, 127]
    max_positive,  // A = 255, B = 127: every vpmaddubsw pair would saturate at +32767
    max_negative,  // A = 255, B = -128: every pair would saturate at -32768
    alternating,   // A = 255, B alternating 127 / -128 along k
    small,         // A in [0, 3], B in [-3, 3]: with scale 0.5, many results fall exactly half-way
};

struct int8_case {
    std::int64_t m = 1, n = 1, k = 1;
    bool trans_b = false;
    std::int32_t a_zero_point = 0;
    dtype out = dtype::u8;
    std::int32_t zero_point = 0;
    bool bias = false, relu = false;
    std::int64_t pad = 0;  // added to every leading dimension
    values fill = values::random;
    enum { none, separate, in_place } residual = none;  // in_place: the residual is C itself (u8 output)
};

std::string describe(const int8_case& c) {
    return "m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " k=" + std::to_string(c.k) +
           " trans_b=" + std::to_string(c.trans_b) + " a_zero_point=" + std::to_string(c.a_zero_point) + " out=" +
           dtype_name(c.out) + " zero_point=" + std::to_string(c.zero_point) + " bias=" + std::to_string(c.bias) +
           " relu=" + std::to_string(c.relu) + " pad=" + std::to_string(c.pad) + " fill=" + std::to_string(static_cast<int>(c.fill)) +
           " residual=" + std::to_string(static_cast<int>(c.residual));
}

std::size_t element_bytes(dtype t) { return static_cast<std::size_t>(lanes::dtype_bytes(t)); }

// The operands of one case, and the reference's C.
struct int8_problem {
    buffer<std::uint8_t> a;
    buffer<std::int8_t> b;
    buffer<std::int32_t> bias;
    buffer<float> scale;
    buffer<unsigned char> c, expected;
    buffer<std::uint8_t> residual;
    gemm_u8s8_args args;

    int8_problem(const int8_case& t, std::uint32_t seed)
        : a(static_cast<std::size_t>(t.m * (t.k + t.pad))),
          b(static_cast<std::size_t>(t.trans_b ? t.n * (t.k + t.pad) : t.k * (t.n + t.pad))),
          bias(static_cast<std::size_t>(t.n)),
          scale(static_cast<std::size_t>(t.n)),
          // Unaligned for SIMD (never 16-byte aligned), but aligned to the element as C++ requires; one
          // row longer than C, a row that must be left untouched like the padding (a tile storing rows
          // past m shows there, not only under ASan).
          c(static_cast<std::size_t>((t.m + 1) * (t.n + t.pad)) * element_bytes(t.out), element_bytes(t.out) == 4 ? 4 : 3),
          expected(c.size(), element_bytes(t.out) == 4 ? 4 : 3),
          residual(static_cast<std::size_t>(t.m * (t.n + t.pad + 1)), 5) {
        const std::int64_t lda = t.k + t.pad, ldb = t.trans_b ? t.k + t.pad : t.n + t.pad;
        switch (t.fill) {
            case values::random:
                lanes::test::fill(a, lanes::test::random_ints<std::uint8_t>(a.size(), seed, 0, 255));
                lanes::test::fill(b, lanes::test::random_ints<std::int8_t>(b.size(), seed + 1, -128, 127));
                break;
            case values::small:
                lanes::test::fill(a, lanes::test::random_ints<std::uint8_t>(a.size(), seed, 0, 3));
                lanes::test::fill(b, lanes::test::random_ints<std::int8_t>(b.size(), seed + 1, -3, 3));
                break;
            default:
                for (std::size_t i = 0; i < a.size(); ++i) a[i] = 255;
                for (std::int64_t l = 0; l < t.k; ++l)
                    for (std::int64_t j = 0; j < t.n; ++j) {
                        const std::int8_t v = t.fill == values::max_positive ? 127
                                              : t.fill == values::max_negative ? -128
                                                                               : (l % 2 ? -128 : 127);
                        b[static_cast<std::size_t>(t.trans_b ? j * ldb + l : l * ldb + j)] = v;
                    }
        }
        lanes::test::fill(bias, lanes::test::random_ints<std::int32_t>(bias.size(), seed + 2, -50000, 50000));
        // Scales that spread the outputs over the range (and beyond, so the clamps are exercised), with
        // every third column at exactly 0.5 so that odd sums fall half-way between two integers.
        const auto spread = lanes::test::random_floats(scale.size(), seed + 3, 0.2f, 3.0f);
        for (std::size_t j = 0; j < scale.size(); ++j)
            scale[j] = j % 3 == 0 ? 0.5f : spread[j] * 64.0f / (static_cast<float>(std::sqrt(static_cast<double>(t.k))) * 128.0f * 74.0f);
        lanes::test::fill(c, lanes::test::random_ints<unsigned char>(c.size(), seed + 4, 0, 255));
        std::memcpy(expected.data(), c.data(), c.size());
        args = {.m = t.m, .n = t.n, .k = t.k, .a = a.data(), .lda = lda, .a_zero_point = t.a_zero_point, .b = b.data(), .ldb = ldb,
                .trans_b = t.trans_b, .c = c.data(), .ldc = t.n + t.pad,
                .requant = {.bias = t.bias ? bias.data() : nullptr, .scale = scale.data(), .zero_point = t.zero_point, .relu = t.relu, .out = t.out}};
        if (t.residual != int8_case::none) {
            lanes::test::fill(residual, lanes::test::random_ints<std::uint8_t>(residual.size(), seed + 5, 0, 255));
            args.residual = t.residual == int8_case::in_place ? c.data() : residual.data();
            args.ldr = t.residual == int8_case::in_place ? args.ldc : t.n + t.pad + 1;
            args.residual_scale = t.fill == values::small ? 0.5f : 0.37f;
            args.residual_zero_point = static_cast<std::int32_t>(seed % 256);
        }
        gemm_u8s8_args reference = args;
        reference.c = expected.data();
        if (t.residual == int8_case::in_place) reference.residual = expected.data();  // same bytes as C before the call
        ref::gemm_u8s8(reference);
    }

    // Byte-for-byte equality of the whole C buffer, padding included; reports the first difference.
    void expect_identical(const std::string& who, const int8_case& t) const {
        const std::size_t bytes = c.size();
        for (std::size_t i = 0; i < bytes; ++i) {
            if (c[i] == expected[i]) continue;
            const std::size_t element = i / element_bytes(t.out);
            const std::int64_t ldc = t.n + t.pad;
            ADD_FAILURE() << who << " differs from the reference at row " << static_cast<std::int64_t>(element) / ldc << ", column "
                          << static_cast<std::int64_t>(element) % ldc << " (byte " << i << "): " << describe(t);
            return;
        }
    }
};

void check_gemm_u8s8(const int8_case& t, const std::function<void(const gemm_u8s8_args&)>& run, const std::string& who,
                     std::uint32_t seed) {
    int8_problem problem(t, seed);
    run(problem.args);
    problem.expect_identical(who, t);
}

// One case per size per dimension (the other two rotating through the list, halved while the problem
// exceeds 2M multiply-adds), the variants rotating with the case number.
std::vector<int8_case> sweep_cases() {
    const std::vector<std::int64_t> sizes = issue_sizes();
    const std::size_t count = sizes.size();
    const dtype outputs[] = {dtype::u8, dtype::s8, dtype::s32, dtype::f32};
    std::vector<int8_case> cases;
    for (std::size_t idx = 0; idx < count; ++idx) {
        for (int dim = 0; dim < 3; ++dim) {
            std::int64_t size[3] = {sizes[(idx * 7 + 3) % count], sizes[(idx * 13 + 1) % count], sizes[(idx * 5 + 8) % count]};
            size[dim] = sizes[idx];
            while (size[0] * size[1] * size[2] > 2'000'000) {
                int largest = dim == 0 ? 1 : 0;
                for (int d = 0; d < 3; ++d)
                    if (d != dim && size[d] > size[largest]) largest = d;
                size[largest] = std::max<std::int64_t>(1, size[largest] / 2);
            }
            const std::size_t v = cases.size();
            int8_case c;
            c.m = size[0];
            c.n = size[1];
            c.k = size[2];
            c.trans_b = v % 4 == 3;
            c.a_zero_point = v % 3 == 0 ? 0 : static_cast<std::int32_t>(v * 37 % 256);
            c.out = outputs[v % 4];
            c.zero_point = c.out == dtype::u8 ? static_cast<std::int32_t>(v * 11 % 256) : c.out == dtype::s8 ? static_cast<std::int32_t>(v * 11 % 256) - 128 : 0;
            c.bias = v % 2 == 0;
            c.relu = v % 5 < 2;
            c.pad = static_cast<std::int64_t>(v % 3);
            if (c.out != dtype::s32 && v % 7 < 3) c.residual = c.out == dtype::u8 && v % 7 == 0 ? int8_case::in_place : int8_case::separate;
            cases.push_back(c);
        }
    }
    return cases;
}

// The extremes, for every output type: 255 x 127 and 255 x -128 in every product, over depths that are
// and are not multiples of 2 and 4, and small values whose scaled sums tie.
std::vector<int8_case> extreme_cases() {
    std::vector<int8_case> cases;
    for (const values fill : {values::max_positive, values::max_negative, values::alternating, values::small})
        for (const std::int64_t k : {1, 2, 3, 4, 5, 7, 8, 63, 64, 65, 1000, 4099})
            for (const dtype out : {dtype::s32, dtype::u8, dtype::s8, dtype::f32}) {
                int8_case c{.m = 19, .n = 37, .k = k, .trans_b = k % 2 == 1, .out = out, .bias = k % 3 != 0, .pad = 1, .fill = fill};
                c.zero_point = out == dtype::u8 ? 128 : 0;
                c.a_zero_point = fill == values::small ? 1 : (k % 4 == 1 ? 255 : 0);
                c.relu = k % 2 == 0;
                if (out != dtype::s32 && k % 3 == 1) c.residual = out == dtype::u8 ? int8_case::in_place : int8_case::separate;
                cases.push_back(c);
            }
    return cases;
}

// ---- One test per kernel of the gemm_u8s8 table -----------------------------------------------------

class GemmU8S8Kernel : public table_rows<kernels::gemm_u8s8> {
protected:
    // The case made acceptable to this kernel (the small-M kernel takes m <= 16 with a transposed B).
    int8_case fitted(int8_case c) const {
        gemm_u8s8_args probe{.m = c.m, .n = c.n, .k = c.k, .trans_b = c.trans_b, .requant = {}};
        if (entry().accepts == nullptr || entry().accepts(probe)) return c;
        c.m = std::min<std::int64_t>(c.m, 16);
        c.trans_b = true;
        probe = {.m = c.m, .n = c.n, .k = c.k, .trans_b = c.trans_b, .requant = {}};
        EXPECT_TRUE(entry().accepts(probe)) << entry().name << " accepts none of the sweep's variants";
        return c;
    }
};

TEST_P(GemmU8S8Kernel, BitIdenticalToReferenceOverTheSizeSweep) {
    std::uint32_t seed = 1000;
    for (const int8_case& c : sweep_cases()) {
        check_gemm_u8s8(fitted(c), [&](const gemm_u8s8_args& p) { run(p); }, entry().name, seed += 10);
        if (HasFailure()) return;
    }
}

TEST_P(GemmU8S8Kernel, BitIdenticalOnExtremesAndHalfwayRounding) {
    std::uint32_t seed = 3000;
    for (const int8_case& c : extreme_cases()) {
        check_gemm_u8s8(fitted(c), [&](const gemm_u8s8_args& p) { run(p); }, entry().name, seed += 10);
        if (HasFailure()) return;
    }
}

// The u8/s8 epilogue's rounding, zero point and clamp (reference/requant.hpp): output zero points at
// and next to both ends of each type, with and without ReLU (which raises lo to the zero point), on
// sums far outside the range, ties, and a residual; a tile of all NR columns and a cut one (n = 37).
// (Written for a clamp before the rounding, which was measured and not kept: docs/gemm_u8s8.md.)
TEST_P(GemmU8S8Kernel, BitIdenticalForOutputZeroPointsAtTheBounds) {
    std::uint32_t seed = 3500;
    for (const dtype out : {dtype::u8, dtype::s8})
        for (const std::int32_t zero_point : out == dtype::u8 ? std::vector<std::int32_t>{0, 1, 127, 254, 255} : std::vector<std::int32_t>{-128, -127, -5, 126, 127})
            for (const values fill : {values::max_positive, values::max_negative, values::small, values::random})
                for (const bool relu : {false, true}) {
                    int8_case c{.m = 19, .n = 37, .k = fill == values::small ? 5 : 64, .trans_b = relu, .out = out, .zero_point = zero_point,
                                .bias = true, .relu = relu, .pad = 1, .fill = fill};
                    if (fill == values::random) c.residual = int8_case::separate;
                    check_gemm_u8s8(fitted(c), [&](const gemm_u8s8_args& p) { run(p); }, entry().name, seed += 10);
                    if (HasFailure()) return;
                }
}

// Every number of rows in the last tile of a column of them (m above the small-M path's 16), for the
// plain int32 product, whose tiles store their sums straight from the registers, and for a requantized
// one: a tile of R rows serves every m above the next smaller R, so rows past m must not be stored (the
// row past C in the buffer shows it).
TEST_P(GemmU8S8Kernel, BitIdenticalForEveryRowCountOfTheLastTile) {
    std::uint32_t seed = 4000;
    for (std::int64_t m = 17; m <= 45; ++m)
        for (const std::int64_t k : {3, 64})
            for (const bool plain : {true, false}) {
                int8_case c{.m = m, .n = 37, .k = k, .trans_b = m % 2 == 1, .out = plain ? dtype::s32 : dtype::u8, .bias = !plain, .pad = 1};
                if (!plain) {
                    c.a_zero_point = 3;
                    c.zero_point = 128;
                }
                check_gemm_u8s8(fitted(c), [&](const gemm_u8s8_args& p) { run(p); }, entry().name, seed += 10);
                if (HasFailure()) return;
            }
}

// The vpdpbusd kernels read A in place unless its rows are a multiple of 4 KiB apart (they would share
// one L1 set) or k < 4; these cases take the packing path there, and the in-place path elsewhere.
TEST_P(GemmU8S8Kernel, BitIdenticalWhenRowsOfAAreAPageApart) {
    std::uint32_t seed = 5000;
    for (const std::int64_t k : {5, 64, 1001, 4096}) {
        int8_case c{.m = 31, .n = 45, .k = k, .trans_b = true, .a_zero_point = 3, .out = dtype::u8, .bias = true, .pad = 4096 - k};
        c.zero_point = 128;
        check_gemm_u8s8(fitted(c), [&](const gemm_u8s8_args& p) { run(p); }, entry().name, seed += 10);
        if (HasFailure()) return;
    }
}

// One row of A (a batch-1 layer), which the tiles multiply in a loop of their own (one_row): depths
// with a partial last group, rows of exactly 4 KiB (read in place at the vpdpbusd levels, as one row
// collides with no other), every output type, zero points; and larger m whose last tile holds one row
// (MR = 6, 12, 14).
TEST_P(GemmU8S8Kernel, BitIdenticalForOneRow) {
    std::uint32_t seed = 5200;
    const dtype outputs[] = {dtype::u8, dtype::s8, dtype::s32, dtype::f32};
    int v = 0;
    for (const std::int64_t m : {1, 7, 13, 15})
        for (const std::int64_t k : {3, 5, 64, 1001, 4096}) {
            int8_case c{.m = m, .n = 70, .k = k, .trans_b = v % 2 == 0, .a_zero_point = v % 3 == 0 ? 0 : 200, .out = outputs[v % 4],
                        .bias = v % 2 == 1, .relu = v % 5 == 0, .pad = k == 4096 ? 0 : 1};
            if (c.out == dtype::u8 || c.out == dtype::s8) c.zero_point = 3;
            ++v;
            check_gemm_u8s8(fitted(c), [&](const gemm_u8s8_args& p) { run(p); }, entry().name, seed += 10);
            if (HasFailure()) return;
        }
}

// A product deep enough (k >= 1024) with a C larger than L2: each tile asks for its rows of C before its
// loop (asks_for_c_ahead), including rows that do not start on a cache line (the pad and C's unaligned
// start), and must still store exactly the reference's C and nothing past it.
TEST_P(GemmU8S8Kernel, BitIdenticalWhenTilesAskForCAhead) {
    const std::int64_t n = 70, k = 1027, m = l2_bytes(cpu()) / (4 * n) + 37;
    ASSERT_TRUE(asks_for_c_ahead(k, m * n * 4, cpu()));
    int8_case c{.m = m, .n = n, .k = k, .trans_b = false, .out = dtype::s32, .pad = 3};
    check_gemm_u8s8(fitted(c), [&](const gemm_u8s8_args& p) { run(p); }, entry().name, 5500);
}

// A given as runs (an implicit im2col), scattered (lanes::test::scatter_runs): every kernel that takes
// runs must match the reference computed on the rows.
TEST_P(GemmU8S8Kernel, BitIdenticalWithAGivenAsRuns) {
    std::uint32_t seed = 6000;
    // Run lengths that are whole groups of 4 (read in place at the vpdpbusd levels) and that are not.
    for (const runs_shape s : {runs_shape{1, 5, 4, 1}, runs_shape{14, 37, 12, 3}, runs_shape{15, 33, 64, 3}, runs_shape{50, 70, 6, 2}, runs_shape{31, 45, 1, 7},
                          runs_shape{29, 64, 192, 3}, runs_shape{40, 17, 9, 5}}) {
        int8_case c{.m = s.m, .n = s.n, .k = s.length * s.runs, .trans_b = s.m % 2 == 1, .a_zero_point = 5, .out = dtype::u8, .bias = true};
        c.zero_point = 100;
        int8_problem problem(c, seed += 10);
        gemm_u8s8_args& args = problem.args;
        buffer<std::uint8_t> storage(static_cast<std::size_t>(s.m * c.k));
        const std::vector<const std::uint8_t*> runs = lanes::test::scatter_runs(args.a, args.lda, s.m, c.k, s.length, seed, storage);
        args.a = nullptr;
        args.lda = 0;
        args.a_runs = runs.data();
        args.a_run_length = s.length;
        if (entry().accepts != nullptr && !entry().accepts(args)) continue;  // the small-M kernels take rows only
        run(args);
        problem.expect_identical(entry().name + std::string(" with A as runs of ") + std::to_string(s.length), c);
        if (HasFailure()) return;
    }
}

TEST(GemmU8S8Runs, ARunLengthThatDoesNotDivideKIsReported) {
    const std::uint8_t a[12] = {};
    const std::uint8_t* runs[3] = {a, a + 4, a + 8};
    const std::int8_t b[12] = {};
    std::int32_t c[1];
    gemm_u8s8_args p{.m = 1, .n = 1, .k = 12, .b = b, .ldb = 1, .c = c, .ldc = 1, .requant = {.out = dtype::s32}};
    p.a_runs = runs;
    p.a_run_length = 5;
    EXPECT_LANES_ERROR(gemm_u8s8(p), "a_run_length = 5 must be positive and divide k = 12");
    p.a_run_length = 0;
    EXPECT_LANES_ERROR(gemm_u8s8(p), "a_run_length = 0");
    p.a_run_length = 4;
    EXPECT_NO_THROW(gemm_u8s8(p));
}

TEST_P(GemmU8S8Kernel, OneAndTwoThreadsGiveIdenticalResults) {
#if defined(_OPENMP)
    for (const bool trans_b : {false, true}) {
        // Above the threading threshold: several row blocks (rounded up to a multiple of the thread
        // count), one (m = 16: the small-M path), and the largest depth, where a block of rows is a
        // single tile (given at most 4 MiB of L2 per core): m = 29 makes 3 to 5 tiles, by MR, for 4 to 6
        // blocks, so that one block has no tile.
        struct shape {
            std::int64_t m, n, k;
        };
        for (const shape s : {shape{700, 300, 999}, shape{16, 300, 999}, shape{29, 16, 32768}}) {
            const int8_case c = fitted({.m = s.m, .n = s.n, .k = s.k, .trans_b = trans_b, .a_zero_point = 7, .bias = true, .relu = true});
            int8_problem one(c, 11), two(c, 11);
            const int saved = omp_get_max_threads();
            omp_set_num_threads(1);
            run(one.args);
            omp_set_num_threads(2);
            run(two.args);
            omp_set_num_threads(saved);
            EXPECT_EQ(std::memcmp(one.c.data(), two.c.data(), one.c.size()), 0) << entry().name << ": " << describe(c);
            one.expect_identical(entry().name, c);
        }
    }
#else
    GTEST_SKIP() << "built without OpenMP";
#endif
}

INSTANTIATE_TEST_SUITE_P(Table, GemmU8S8Kernel, GemmU8S8Kernel::all(), GemmU8S8Kernel::name);

// ---- Prepacked B --------------------------------------------------------------------------------------
#if LANES_X86

class GemmU8S8Packed : public table_rows<tables::gemm_u8s8_packers> {};

TEST_P(GemmU8S8Packed, BitIdenticalAndRemembersItsKernel) {
    std::uint32_t seed = 9000;
    for (const int8_case& c : {int8_case{.m = 1, .n = 1, .k = 1}, int8_case{.m = 33, .n = 65, .k = 129, .trans_b = true, .a_zero_point = 3, .bias = true},
                               int8_case{.m = 1, .n = 70, .k = 4096, .trans_b = true, .a_zero_point = 5, .bias = true},  // one row (one_row)
                               int8_case{.m = 1, .n = 100, .k = 1003, .out = dtype::s8, .zero_point = -5, .relu = true, .pad = 1},
                               int8_case{.m = 64, .n = 257, .k = 1001, .a_zero_point = 255, .out = dtype::s32, .pad = 3},
                               int8_case{.m = 37, .n = 70, .k = 64, .out = dtype::s32, .pad = 1},  // plain: stored from the registers
                               int8_case{.m = 17, .n = 100, .k = 4611, .trans_b = true, .out = dtype::s8, .zero_point = -5, .relu = true, .pad = 1},
                               int8_case{.m = 300, .n = 40, .k = 66, .a_zero_point = 100, .out = dtype::f32, .relu = true, .fill = values::max_negative},
                               int8_case{.m = 50, .n = 77, .k = 200, .a_zero_point = 7, .zero_point = 3, .relu = true, .pad = 2, .residual = int8_case::in_place}}) {
        check_gemm_u8s8(c, [&](const gemm_u8s8_args& p) {
            const packed_b_u8s8 packed = entry().pack(p);
            EXPECT_EQ(std::string(packed.kernel()), entry().name);
            EXPECT_EQ(packed.level(), entry().level);
            gemm_u8s8_args without_b = p;
            without_b.b = nullptr;  // the packed call never reads args.b
            lanes::gemm_u8s8_packed(without_b, packed);
        }, entry().name, seed += 10);
    }
}

INSTANTIATE_TEST_SUITE_P(Packers, GemmU8S8Packed, GemmU8S8Packed::all(), GemmU8S8Packed::name);

TEST(GemmU8S8PackedErrors, MismatchedShapeEmptyMatrixBadEpilogueAndLoweredCapAreReported) {
    const auto b = lanes::test::random_ints<std::int8_t>(6, 1, -128, 127);
    std::uint8_t a[6] = {}, c[9] = {};
    const float scale[3] = {1.0f, 1.0f, 1.0f}, bad_scale[3] = {1.0f, -1.0f, 1.0f};
    const requant_params q{.scale = scale};
    const packed_b_u8s8 packed = pack_gemm_u8s8_b({.n = 3, .k = 2, .b = b.data(), .ldb = 3, .requant = {}});
    EXPECT_LANES_ERROR(gemm_u8s8_packed({.m = 3, .n = 3, .k = 1, .a = a, .lda = 2, .c = c, .ldc = 3, .requant = q}, packed),
                       "k = 1 and n = 3 do not match the packed B, which is 2 x 3");
    EXPECT_LANES_ERROR(gemm_u8s8_packed({.m = 3, .n = 3, .k = 2, .a = a, .lda = 2, .c = c, .ldc = 3, .requant = q}, packed_b_u8s8{}),
                       "the packed B is empty");
    EXPECT_LANES_ERROR(gemm_u8s8_packed({.m = 3, .n = 3, .k = 2, .a = a, .lda = 2, .c = c, .ldc = 3, .requant = {.scale = bad_scale}}, packed),
                       "scale[1] = -1 must be finite and non-negative");
    EXPECT_LANES_ERROR(gemm_u8s8_packed({.m = 3, .n = 3, .k = 2, .a = a, .lda = 2, .a_zero_point = 256, .c = c, .ldc = 3, .requant = q}, packed),
                       "a_zero_point = 256 is outside [0, 255]");
    EXPECT_LANES_ERROR(pack_gemm_u8s8_b({.n = 3, .k = 2, .b = b.data(), .ldb = 2, .requant = {}}), "ldb = 2 is smaller than");
    EXPECT_LANES_ERROR(pack_gemm_u8s8_b({.n = 3, .k = max_int8_k + 1, .b = b.data(), .ldb = 3, .requant = {}}), "exceeds 32768");
    const lanes::test::isa_cap_restorer restore_cap;
    set_isa_cap(isa::ref);
    EXPECT_LANES_ERROR(gemm_u8s8_packed({.m = 3, .n = 3, .k = 2, .a = a, .lda = 2, .c = c, .ldc = 3, .requant = q}, packed),
                       "but the ISA cap is ref; pack it again");
    EXPECT_LANES_ERROR(pack_gemm_u8s8_b({.n = 3, .k = 2, .b = b.data(), .ldb = 3, .requant = {}}), "no packing kernel is usable");
    EXPECT_EQ(gemm_u8s8_packing_level(), isa::ref);
}

// gemm_u8s8_packing_level (what the network asks before packing) names the level pack_gemm_u8s8_b
// packs for, under every usable cap.
TEST(GemmU8S8PackingLevel, IsTheLevelThatPacks) {
    const auto b = lanes::test::random_ints<std::int8_t>(6, 1, -128, 127);
    const lanes::test::isa_cap_restorer restore_cap;
    for (const isa level : all_isas) {
        if (level == isa::ref || !usable(level)) continue;
        set_isa_cap(level);
        EXPECT_EQ(gemm_u8s8_packing_level(), pack_gemm_u8s8_b({.n = 3, .k = 2, .b = b.data(), .ldb = 3, .requant = {}}).level())
            << "cap " << isa_name(level);
    }
}

#endif

// ---- GEMV -----------------------------------------------------------------------------------------------

class GemvU8S8Kernel : public table_rows<kernels::gemv_u8s8> {};

TEST_P(GemvU8S8Kernel, BitIdenticalToReference) {
    const std::vector<std::int64_t> sizes = issue_sizes();
    const dtype outputs[] = {dtype::u8, dtype::s8, dtype::s32, dtype::f32};
    std::uint32_t seed = 7000;
    std::size_t v = 0;
    for (const std::int64_t n : sizes) {
        for (const bool extreme : {false, true}) {
            // The GEMV is the transposed-B GEMM with one row: reuse the GEMM problem, then call the GEMV on it.
            int8_case c{.m = 1, .n = n, .k = sizes[(v * 7 + 5) % sizes.size()] * (v % 4 == 0 ? 9 : 1), .trans_b = true,
                        .a_zero_point = v % 3 == 0 ? 0 : 200, .out = outputs[v % 4], .bias = v % 2 == 0, .relu = v % 5 < 2,
                        .pad = static_cast<std::int64_t>(v % 3), .fill = extreme ? values::alternating : values::random};
            c.zero_point = c.out == dtype::u8 ? 20 : c.out == dtype::s8 ? -20 : 0;
            int8_problem problem(c, seed += 10);
            const gemm_u8s8_args& g = problem.args;
            const gemv_u8s8_args p{.n = g.n, .k = g.k, .w = g.b, .ldw = g.ldb, .x = g.a, .x_zero_point = g.a_zero_point, .y = g.c, .requant = g.requant};
            validate(p);
            entry().run(p);
            problem.expect_identical(entry().name, c);
            if (HasFailure()) return;
            ++v;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Table, GemvU8S8Kernel, GemvU8S8Kernel::all(), GemvU8S8Kernel::name);

// ---- Block sizes --------------------------------------------------------------------------------------

TEST(GemmU8S8Blocks, WholeDepthRule) {
    cpu_info c;
    c.l1d_kib = 48;
    c.l2_kib = 2048;
    c.l3_kib = 491520;
    c.cores = 2;
    const gemm_blocks b = blocks_around_depth(14, 32, 4608, 1, 1, c);
    EXPECT_EQ(b.kc, 4608);
    EXPECT_EQ(b.mc, 2048 * 1024 / 8 / 4608 / 14 * 14);  // 56
    EXPECT_EQ(b.nc, 4096);
    const gemm_blocks deep = blocks_around_depth(6, 16, 32768, 2, 2, c);
    EXPECT_EQ(deep.mc, 6);  // at least one panel of rows
    EXPECT_EQ(deep.nc % 16, 0);
}

TEST(GemmU8S8Blocks, TilesAskForCAheadOnlyWhenDeepAndCOutgrowsL2) {
    cpu_info c;
    c.l2_kib = 1024;
    EXPECT_TRUE(asks_for_c_ahead(1024, 4 << 20, c));             // 1024^3 with an s32 C
    EXPECT_FALSE(asks_for_c_ahead(1023, 4 << 20, c));            // a tile too short to hide the wait
    EXPECT_FALSE(asks_for_c_ahead(4608, 1 << 20, c));            // C fits L2: its lines are near already
    EXPECT_TRUE(asks_for_c_ahead(4608, (1 << 20) + 1, c));
    c.l2_kib = 0;                                               // unknown: 1 MiB assumed
    EXPECT_FALSE(asks_for_c_ahead(2048, 1 << 20, c));
    EXPECT_TRUE(asks_for_c_ahead(2048, 2 << 20, c));
}

}  // namespace

TEST(GemmU8S8Residual, BadResidualArgumentsAreReported) {
    std::uint8_t a[4] = {}, c[4] = {}, r[4] = {};
    std::int8_t b[4] = {};
    const float scale[2] = {1.0f, 1.0f};
    gemm_u8s8_args p{.m = 2, .n = 2, .k = 2, .a = a, .lda = 2, .b = b, .ldb = 2, .c = c, .ldc = 2, .requant = {.scale = scale},
                     .residual = r, .ldr = 2, .residual_scale = 0.5f};
    gemm_u8s8_args s32 = p;
    s32.requant.out = dtype::s32;
    EXPECT_LANES_ERROR(gemm_u8s8(s32), "a residual needs a u8, s8 or f32 output, not s32");
    gemm_u8s8_args narrow = p;
    narrow.ldr = 1;
    EXPECT_LANES_ERROR(gemm_u8s8(narrow), "ldr = 1 is smaller than the 2 columns of the residual");
    gemm_u8s8_args bad_scale = p;
    bad_scale.residual_scale = -1.0f;
    EXPECT_LANES_ERROR(gemm_u8s8(bad_scale), "residual_scale = -1 must be finite and non-negative");
    gemm_u8s8_args bad_zero = p;
    bad_zero.residual_zero_point = 300;
    EXPECT_LANES_ERROR(gemm_u8s8(bad_zero), "residual_zero_point = 300 is outside [0, 255]");
    gemm_u8s8_args in_place_s8 = p;
    in_place_s8.residual = c;
    in_place_s8.requant.out = dtype::s8;
    EXPECT_LANES_ERROR(gemm_u8s8(in_place_s8), "an in-place residual (residual == c) needs a u8 output and ldr == ldc");
}
