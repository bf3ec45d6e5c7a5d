// Dispatch: ISA levels, the cap, the tables, and every operation run at every usable level against the
// reference. Levels this machine cannot run are skipped with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "../lanes.hpp"
#include "helpers.hpp"

using namespace lanes;
using lanes::test::buffer;

TEST(Isa, NamesRoundTripAndUnknownNamesAreRejected) {
    for (isa level : all_isas) EXPECT_EQ(isa_from_name(isa_name(level)), level);
    EXPECT_FALSE(isa_from_name("avx3").has_value());
    EXPECT_EQ(isa_choices(), "ref, avx2, avxvnni, avx512, avx512vnni, amx");
}

TEST(Isa, UsabilityFollowsCpuAndOsState) {
    cpu_info fake;  // nothing present
    EXPECT_EQ(why_unusable(isa::ref, fake), "");
    EXPECT_NE(why_unusable(isa::avx2, fake).find("no AVX2"), std::string::npos);
    fake.has.avx2 = fake.has.fma = true;
    EXPECT_NE(why_unusable(isa::avx2, fake).find("OS does not enable YMM"), std::string::npos);
    fake.os.ymm = true;
    EXPECT_EQ(why_unusable(isa::avx2, fake), "");
    EXPECT_NE(why_unusable(isa::avxvnni, fake).find("no AVX-VNNI"), std::string::npos);
    fake.has.avx512f = fake.has.avx512bw = fake.has.avx512dq = fake.has.avx512vl = true;
    EXPECT_NE(why_unusable(isa::avx512, fake).find("ZMM"), std::string::npos);
    fake.os.zmm = true;
    EXPECT_EQ(why_unusable(isa::avx512, fake), "");
    fake.has.avx512vnni = fake.has.amx_tile = fake.has.amx_int8 = true;
    fake.os.tiles = true;
    fake.os.amx_permission_error = "refused";
    EXPECT_NE(why_unusable(isa::amx, fake).find("refused"), std::string::npos);
}

// The Linux kernel reads the same CPUID bits and lists in /proc/cpuinfo the features it found (and
// clears those whose register state it does not enable). Every feature it lists must be one detection
// found too; the reverse need not hold (an older kernel may not know a newer flag's name). This catches
// a detection that trusts a library that misses flags on some vendor: libcpuid 0.6 reports no AVX-512
// flag on an AMD Zen 5.
TEST(Isa, DetectionFindsEveryFeatureTheLinuxKernelLists) {
    std::ifstream cpuinfo("/proc/cpuinfo");
    if (!cpuinfo) GTEST_SKIP() << "no /proc/cpuinfo to compare with (not Linux)";
    std::string line, listed;
    while (std::getline(cpuinfo, line)) {
        if (line.rfind("flags", 0) == 0) {
            listed = " " + line.substr(line.find(':') + 1) + " ";
            break;
        }
    }
    if (listed.empty()) GTEST_SKIP() << "/proc/cpuinfo has no flags line (not x86)";
    const cpu_features& has = cpu().has;
    const std::pair<const char*, bool> features[] = {
        {"fma", has.fma},           {"avx2", has.avx2},           {"avx512f", has.avx512f},
        {"avx512bw", has.avx512bw}, {"avx512dq", has.avx512dq},   {"avx512vl", has.avx512vl},
        {"avx512_vnni", has.avx512vnni}, {"avx_vnni", has.avxvnni}, {"avx512_bf16", has.avx512bf16},
        {"avx512_fp16", has.avx512fp16}, {"amx_tile", has.amx_tile}, {"amx_int8", has.amx_int8},
        {"amx_bf16", has.amx_bf16},
    };
    for (const auto& [name, detected] : features) {
        if (listed.find(std::string(" ") + name + " ") != std::string::npos) {
            EXPECT_TRUE(detected) << "the kernel lists " << name << " in /proc/cpuinfo, detection did not find it";
        }
    }
}

TEST(Isa, SetCapRejectsUnusableLevelsAndBoundsDispatch) {
    const lanes::test::isa_cap_restorer restore_cap;
    for (isa level : all_isas) {
        if (!usable(level)) {
            EXPECT_LANES_ERROR(set_isa_cap(level), "is not usable on this machine");
            continue;
        }
        set_isa_cap(level);
        EXPECT_EQ(isa_cap(), level);
        for (const operation_choice& op : resolved_operations(level)) EXPECT_LE(op.kernel_level, level) << op.op;
    }
}

TEST(Tables, EndWithTheReferenceAndAreOrderedBestFirst) {
    auto check = [](const auto& d) {
        const auto table = d.table();
        ASSERT_FALSE(table.empty()) << d.op();
        EXPECT_EQ(table.back().level, isa::ref) << d.op();
        EXPECT_EQ(table.back().accepts, nullptr) << d.op() << ": the reference must accept every problem";
        for (std::size_t i = 1; i < table.size(); ++i) EXPECT_GE(table[i - 1].level, table[i].level) << d.op();
    };
    check(kernels::gemm_f32);
    check(kernels::gemv_f32);
    check(kernels::gemm_u8s8);
    check(kernels::gemv_u8s8);
    check(kernels::conv2d_f32);
    check(kernels::conv2d_u8s8);
    check(kernels::max_pool2d);
    check(kernels::avg_pool2d);
    check(kernels::adaptive_avg_pool2d);
    check(kernels::relu);
    check(kernels::add_f32);
    check(kernels::add_u8);
    check(kernels::softmax);
    check(kernels::quantize);
    check(kernels::dequantize);
}

TEST(Dispatch, ValidatesBeforeAnyKernelRuns) {
    float a[1] = {}, c[1] = {};
    EXPECT_LANES_ERROR(lanes::gemm_f32({.m = 1, .n = 1, .k = 1, .a = a, .lda = 1, .b = nullptr, .ldb = 1, .c = c, .ldc = 1}),
                       "gemm_f32: b is a null pointer");
}

// The read loop behind the read probe and the benchmarks' plain read of a GEMV's weights: every byte
// counted once, no byte past the end read (ASan), at every length and alignment, for each vector width.
TEST(Peak, ReadLoopsSumEveryByteOnce) {
    std::vector<std::pair<const char*, std::uint64_t (*)(const std::uint8_t*, std::int64_t)>> loops;
#if LANES_X86
    if (usable(isa::avx2)) loops.emplace_back("avx2", avx2::read_loop);
    if (usable(isa::avx512)) loops.emplace_back("avx512", avx512::read_loop);
#endif
    loops.emplace_back("read_through", [](const std::uint8_t* p, std::int64_t n) { return read_through(p, n); });
    for (std::int64_t bytes : {0, 1, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 1000, 4099})
        for (std::int64_t offset : {0, 1, 3}) {
            std::vector<std::uint8_t> data(static_cast<std::size_t>(offset + bytes));
            std::uint64_t expected = 0;
            for (std::int64_t i = 0; i < bytes; ++i) {
                data[static_cast<std::size_t>(offset + i)] = static_cast<std::uint8_t>(i * 37 + 200);
                expected += data[static_cast<std::size_t>(offset + i)];
            }
            for (const auto& [name, loop] : loops)
                EXPECT_EQ(loop(data.data() + offset, bytes), expected) << name << ", " << bytes << " bytes at offset " << offset;
        }
}

// The probe the benchmarks run between their timed calls (bench/common.hpp): at least the ops asked for
// and less than one more iteration of its loop (the widest does 16 x 64 x 2 ops), on the figure
// of that level's instruction; nothing for the reference or a level this CPU cannot run.
TEST(Peak, InterleavedProbeRunsTheOpsAskedForOnTheLevelsFigure) {
    EXPECT_EQ(peak_figure_for(isa::ref, false), nullptr);
    EXPECT_EQ(peak_figure_for(isa::avx2, true), &peak_report::madd16_avx2);
    EXPECT_EQ(peak_figure_for(isa::avxvnni, true), &peak_report::vnni_avx);
    EXPECT_EQ(peak_figure_for(isa::avxvnni, false), &peak_report::fma_avx2);
    EXPECT_EQ(peak_figure_for(isa::avx512, true), &peak_report::madd16_avx512);
    EXPECT_EQ(peak_figure_for(isa::avx512vnni, true), &peak_report::vnni_avx512);
    EXPECT_EQ(peak_figure_for(isa::amx, false), &peak_report::fma_avx512);
    for (isa level : all_isas)
        for (bool int8 : {false, true})
            for (double ops : {1.0, 1e5, 3e6 + 7}) {
                const double done = run_peak_probe(level, int8, ops);
                if (level == isa::ref || !why_unusable(level).empty()) {
                    EXPECT_EQ(done, 0.0) << isa_name(level);
                    continue;
                }
                EXPECT_GE(done, ops) << isa_name(level) << (int8 ? " int8" : " fp32");
                EXPECT_LT(done, ops + 16 * 64 * 2 + 1) << isa_name(level) << (int8 ? " int8" : " fp32");
            }
}

// ---- Every operation at every level ------------------------------------------------------------

class AtLevel : public ::testing::TestWithParam<isa> {
protected:
    void SetUp() override {
        const std::string why = why_unusable(GetParam());
        if (!why.empty()) GTEST_SKIP() << "ISA level " << isa_name(GetParam()) << " is not usable here: " << why;
    }
    isa level() const { return GetParam(); }
};

INSTANTIATE_TEST_SUITE_P(Levels, AtLevel, ::testing::ValuesIn(all_isas),
                         [](const ::testing::TestParamInfo<isa>& info) { return std::string(isa_name(info.param)); });

TEST_P(AtLevel, Int8OperationsAreBitIdenticalToReference) {
    for (dtype out : {dtype::u8, dtype::s8, dtype::s32, dtype::f32})
        for (std::int64_t k : {1, 3, 4, 5, 64, 65}) {
            const std::int64_t m = 5, n = 19, lda = k + 1, ldc = n + 3;
            auto a = lanes::test::random_ints<std::uint8_t>(static_cast<std::size_t>(m * lda), 11, 0, 255);
            auto b = lanes::test::random_ints<std::int8_t>(static_cast<std::size_t>(k * n), 12, -128, 127);
            a[0] = 255;  // the extremes 255 x -128 and 255 x 127
            b[0] = -128;
            b[1] = 127;
            const auto bias = lanes::test::random_ints<std::int32_t>(static_cast<std::size_t>(n), 13, -3000, 3000);
            const auto scale = lanes::test::random_floats(static_cast<std::size_t>(n), 14, 0.001f, 0.01f);
            std::vector<std::int32_t> c(static_cast<std::size_t>(m * ldc), 7), expected = c;
            const std::int32_t zp = out == dtype::u8 ? 9 : 0;
            gemm_u8s8_args p{.m = m, .n = n, .k = k, .a = a.data(), .lda = lda, .a_zero_point = 3, .b = b.data(), .ldb = n,
                             .c = c.data(), .ldc = ldc,
                             .requant = {.bias = bias.data(), .scale = scale.data(), .zero_point = zp, .out = out}};
            kernels::gemm_u8s8.run_at(level(), p);
            p.c = expected.data();
            ref::gemm_u8s8(p);
            ASSERT_EQ(c, expected) << "out " << dtype_name(out) << " k " << k;

            std::vector<std::int32_t> y(static_cast<std::size_t>(n), 5), y_expected = y;
            gemv_u8s8_args g{.n = n, .k = k, .w = b.data(), .ldw = k, .x = a.data(), .x_zero_point = 200, .y = y.data(),
                             .requant = {.bias = bias.data(), .scale = scale.data(), .zero_point = zp, .relu = true, .out = out}};
            kernels::gemv_u8s8.run_at(level(), g);
            g.y = y_expected.data();
            ref::gemv_u8s8(g);
            ASSERT_EQ(y, y_expected) << "out " << dtype_name(out) << " k " << k;
        }
}

TEST_P(AtLevel, ConvolutionsMatchReference) {
    const conv2d_shape s{.batch = 2, .in_h = 9, .in_w = 8, .in_c = 5, .out_c = 7, .kernel_h = 3, .kernel_w = 3,
                         .stride_h = 2, .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1};
    const std::size_t in_count = static_cast<std::size_t>(s.batch * s.in_h * s.in_w * s.in_c);
    const std::size_t out_count = static_cast<std::size_t>(s.batch * s.out_h() * s.out_w() * s.out_c);
    const auto in = lanes::test::random_floats(in_count, 21);
    const auto w = lanes::test::random_floats(static_cast<std::size_t>(s.out_c * s.reduction()), 22);
    std::vector<float> out(out_count), expected(out_count);
    conv2d_f32_args p{.shape = s, .input = in.data(), .weights = w.data(), .relu = true, .output = out.data()};
    kernels::conv2d_f32.run_at(level(), p);
    p.output = expected.data();
    ref::conv2d_f32(p);
    for (std::size_t i = 0; i < out_count; ++i)
        ASSERT_NEAR(out[i], expected[i], lanes::test::fp32_tolerance(s.reduction(), static_cast<double>(s.reduction())));

    const auto qin = lanes::test::random_ints<std::uint8_t>(in_count, 23, 0, 255);
    const auto qw = lanes::test::random_ints<std::int8_t>(static_cast<std::size_t>(s.out_c * s.reduction()), 24, -128, 127);
    const auto scale = lanes::test::random_floats(static_cast<std::size_t>(s.out_c), 25, 0.0005f, 0.002f);
    std::vector<std::uint8_t> qout(out_count), qexpected(out_count);
    conv2d_u8s8_args q{.shape = s, .input = qin.data(), .input_zero_point = 17, .weights = qw.data(),
                       .requant = {.scale = scale.data(), .zero_point = 128}, .output = qout.data()};
    kernels::conv2d_u8s8.run_at(level(), q);
    q.output = qexpected.data();
    ref::conv2d_u8s8(q);
    ASSERT_EQ(qout, qexpected);
}

TEST_P(AtLevel, PoolingAndElementwiseMatchReference) {
    const auto x = lanes::test::random_floats(2 * 7 * 6 * 3, 31);
    std::vector<float> out(x.size()), expected(x.size());
    pool2d_args pool{.batch = 2, .in_h = 7, .in_w = 6, .channels = 3, .kernel_h = 3, .kernel_w = 3, .stride_h = 2,
                     .stride_w = 2, .pad_top = 1, .pad_left = 1, .pad_bottom = 1, .pad_right = 1, .ceil_mode = true,
                     .input = x.data(), .output = out.data()};
    for (const auto* d : {&kernels::max_pool2d, &kernels::avg_pool2d}) {
        pool.output = out.data();
        d->run_at(level(), pool);
        pool.output = expected.data();
        d->table().back().run(pool);
        ASSERT_EQ(out, expected) << d->op();
    }
    adaptive_pool2d_args adaptive{.batch = 2, .in_h = 7, .in_w = 6, .channels = 3, .out_h = 3, .out_w = 4,
                                  .input = x.data(), .output = out.data()};
    kernels::adaptive_avg_pool2d.run_at(level(), adaptive);
    adaptive.output = expected.data();
    ref::adaptive_avg_pool2d(adaptive);
    ASSERT_EQ(out, expected);

    const std::int64_t count = static_cast<std::int64_t>(x.size());
    kernels::relu.run_at(level(), {.count = count, .input = x.data(), .output = out.data()});
    ref::relu({.count = count, .input = x.data(), .output = expected.data()});
    ASSERT_EQ(out, expected);
    kernels::add_f32.run_at(level(), {.count = count, .a = x.data(), .b = x.data() , .output = out.data()});
    ref::add_f32({.count = count, .a = x.data(), .b = x.data(), .output = expected.data()});
    ASSERT_EQ(out, expected);
    kernels::softmax.run_at(level(), {.rows = 6, .cols = count / 6, .input = x.data(), .output = out.data()});
    ref::softmax({.rows = 6, .cols = count / 6, .input = x.data(), .output = expected.data()});
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], expected[i], 1e-6);

    std::vector<std::uint8_t> q(x.size()), q_expected(x.size());
    kernels::quantize.run_at(level(), {.count = count, .input = x.data(), .scale = 0.01f, .zero_point = 128, .output = q.data()});
    ref::quantize({.count = count, .input = x.data(), .scale = 0.01f, .zero_point = 128, .output = q_expected.data()});
    ASSERT_EQ(q, q_expected);
    std::vector<std::uint8_t> sum(x.size()), sum_expected(x.size());
    kernels::add_u8.run_at(level(), {.count = count, .a = q.data(), .a_scale = 0.01f, .a_zero_point = 128, .b = q.data(),
                                     .b_scale = 0.02f, .b_zero_point = 100, .output = sum.data(), .output_scale = 0.03f,
                                     .output_zero_point = 50, .relu = true});
    ref::add_u8({.count = count, .a = q.data(), .a_scale = 0.01f, .a_zero_point = 128, .b = q.data(), .b_scale = 0.02f,
                 .b_zero_point = 100, .output = sum_expected.data(), .output_scale = 0.03f, .output_zero_point = 50, .relu = true});
    ASSERT_EQ(sum, sum_expected);
    kernels::dequantize.run_at(level(), {.count = count, .input = q.data(), .scale = 0.01f, .zero_point = 128, .output = out.data()});
    ref::dequantize({.count = count, .input = q.data(), .scale = 0.01f, .zero_point = 128, .output = expected.data()});
    ASSERT_EQ(out, expected);
}

TEST_P(AtLevel, DispatchNeverPicksAKernelAboveTheLevel) {
    float a[4] = {1, 2, 3, 4}, c[4];
    const gemm_f32_args p{.m = 2, .n = 2, .k = 2, .a = a, .lda = 2, .b = a, .ldb = 2, .c = c, .ldc = 2};
    EXPECT_LE(kernels::gemm_f32.kernel_at(level(), p).level, level());
    gemm_f32_args t = p;
    t.trans_b = true;  // declined by the first SIMD kernels: dispatch moves down the table
    EXPECT_LE(kernels::gemm_f32.kernel_at(level(), t).level, level());
    EXPECT_NO_THROW(kernels::gemm_f32.run_at(level(), t));
}
