// Pooling kernels against the reference: every table entry, f32 and u8, bit for bit, over channel
// counts around every vector width, windows with padding and ceil_mode, and unaligned buffers. A
// maximum is exact, and NaNs must propagate as the reference propagates them; an average adds the
// same taps in the same order and divides and rounds as the reference does.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>

#include "helpers.hpp"

namespace {

using namespace lanes;
using lanes::test::table_rows;

struct pool_case {
    std::int64_t batch, h, w, kernel, stride, pad;
    bool ceil;
};

const pool_case pool_cases[] = {{1, 9, 9, 3, 2, 1, false}, {2, 7, 8, 3, 2, 0, true}, {1, 5, 5, 2, 2, 0, false},
                                {1, 6, 5, 3, 1, 1, false}, {1, 4, 4, 1, 1, 0, false}, {1, 11, 7, 3, 2, 1, true}};

// The pool2d_args of a case (input and output left unset) and how a failure names it.
template <class T>
pool2d_args args_of(const pool_case& pc, std::int64_t channels) {
    return {.batch = pc.batch, .in_h = pc.h, .in_w = pc.w, .channels = channels, .kernel_h = pc.kernel, .kernel_w = pc.kernel,
            .stride_h = pc.stride, .stride_w = pc.stride, .pad_top = pc.pad, .pad_left = pc.pad, .pad_bottom = pc.pad,
            .pad_right = pc.pad, .ceil_mode = pc.ceil, .type = std::is_same_v<T, float> ? dtype::f32 : dtype::u8};
}
std::string describe(const pool_case& pc, std::int64_t channels) {
    return std::to_string(pc.h) + "x" + std::to_string(pc.w) + " kernel " + std::to_string(pc.kernel) + " stride " +
           std::to_string(pc.stride) + " pad " + std::to_string(pc.pad) + " ceil " + std::to_string(pc.ceil) + ", " +
           std::to_string(channels) + " channels";
}
std::size_t input_count(const pool_case& pc, std::int64_t channels) { return static_cast<std::size_t>(pc.batch * pc.h * pc.w * channels); }
std::size_t output_count(const pool2d_args& p) { return static_cast<std::size_t>(p.batch * p.out_h() * p.out_w() * p.channels); }

// Channel counts around every vector width: 1-33, and 63-129 around 64 and 128.
std::vector<std::int64_t> channel_counts() {
    std::vector<std::int64_t> channels;
    for (std::int64_t c = 1; c <= 33; ++c) channels.push_back(c);
    for (std::int64_t c : {63, 64, 65, 100, 127, 128, 129}) channels.push_back(c);
    return channels;
}

// f32 inputs in [-3, 3], u8 inputs over the whole range, or (saturated) every u8 at 255.
template <class T>
test::buffer<T> pool_input(std::size_t count, std::uint32_t seed, bool saturated = false) {
    test::buffer<T> in(count);
    if constexpr (std::is_same_v<T, float>) test::fill(in, test::random_floats(count, seed, -3.0f, 3.0f));
    else if (saturated) test::fill(in, std::vector<std::uint8_t>(count, 255));
    else test::fill(in, test::random_ints<std::uint8_t>(count, seed, 0, 255));
    return in;
}

// Runs `kernel` and the reference on `p` (its input set) into buffers with a guard past the end, and
// compares them byte for byte, guard included.
template <class T, class Args, class Kernel, class Reference>
void expect_same_output(Args p, std::size_t out_count, Kernel&& kernel, Reference&& reference, const std::string& what) {
    test::buffer<T> expected(out_count + 8), got(out_count + 8);
    for (std::size_t i = 0; i < out_count + 8; ++i) expected[i] = got[i] = T(77);
    p.output = expected.data();
    reference(p);
    p.output = got.data();
    kernel(p);
    ASSERT_EQ(std::memcmp(got.data(), expected.data(), (out_count + 8) * sizeof(T)), 0) << what;
}

class MaxPoolKernel : public table_rows<kernels::max_pool2d> {
protected:
    // A maximum is exact, so f32 NaNs (with_nan: two payloads) must come out with the reference's bits.
    template <class T>
    void check_case(const pool_case& pc, std::int64_t channels, bool with_nan) const {
        pool2d_args p = args_of<T>(pc, channels);
        test::buffer<T> in = pool_input<T>(input_count(pc, channels), 5);
        if constexpr (std::is_same_v<T, float>) {
            if (with_nan)
                for (std::size_t i = 3; i < in.size(); i += 17) in[i] = std::nanf(i % 2 ? "1" : "2");
        }
        p.input = in.data();
        expect_same_output<T>(p, output_count(p), [&](const pool2d_args& a) { run(a); }, [](const pool2d_args& a) { ref::max_pool2d(a); },
                              std::string(entry().name) + ": " + describe(pc, channels) + (with_nan ? ", with NaNs" : ""));
    }
};

}  // namespace

TEST_P(MaxPoolKernel, MatchesTheReferenceBitForBit) {
    for (const pool_case& pc : pool_cases)
        for (std::int64_t c : channel_counts()) {
            check_case<float>(pc, c, false);
            check_case<float>(pc, c, true);
            check_case<std::uint8_t>(pc, c, false);
        }
}

INSTANTIATE_TEST_SUITE_P(Table, MaxPoolKernel, MaxPoolKernel::all(), MaxPoolKernel::name);

// ---- Average pooling ------------------------------------------------------------------------------------
namespace {

class AvgPoolKernel : public table_rows<kernels::avg_pool2d> {
protected:
    template <class T>
    void check_case(const pool_case& pc, std::int64_t channels, bool count_include_pad, bool saturated = false) const {
        pool2d_args p = args_of<T>(pc, channels);
        p.count_include_pad = count_include_pad;
        const test::buffer<T> in = pool_input<T>(input_count(pc, channels), 9, saturated);
        p.input = in.data();
        expect_same_output<T>(p, output_count(p), [&](const pool2d_args& a) { run(a); }, [](const pool2d_args& a) { ref::avg_pool2d(a); },
                              std::string(entry().name) + ": " + describe(pc, channels) + ", count_include_pad " + std::to_string(count_include_pad) +
                                  (saturated ? ", every input 255" : ""));
    }
};

struct adaptive_case {
    std::int64_t batch, in_h, in_w, out_h, out_w;
};
// Global pooling (ResNet-50), AlexNet's 6x6, uneven and overlapping windows, more outputs than inputs.
const adaptive_case adaptive_cases[] = {{1, 7, 7, 1, 1}, {2, 6, 6, 6, 6}, {1, 13, 13, 6, 6}, {2, 7, 6, 3, 4}, {1, 3, 2, 5, 4}, {1, 1, 1, 1, 1}};

class AdaptiveAvgPoolKernel : public table_rows<kernels::adaptive_avg_pool2d> {
protected:
    template <class T>
    void check_case(const adaptive_case& ac, std::int64_t channels, bool saturated = false) const {
        adaptive_pool2d_args p{.batch = ac.batch, .in_h = ac.in_h, .in_w = ac.in_w, .channels = channels, .out_h = ac.out_h,
                               .out_w = ac.out_w, .type = std::is_same_v<T, float> ? dtype::f32 : dtype::u8};
        const test::buffer<T> in = pool_input<T>(static_cast<std::size_t>(ac.batch * ac.in_h * ac.in_w * channels), 10, saturated);
        p.input = in.data();
        expect_same_output<T>(p, static_cast<std::size_t>(ac.batch * ac.out_h * ac.out_w * channels),
                              [&](const adaptive_pool2d_args& a) { run(a); }, [](const adaptive_pool2d_args& a) { ref::adaptive_avg_pool2d(a); },
                              entry().name + std::string(": ") + std::to_string(ac.in_h) + "x" + std::to_string(ac.in_w) + " -> " +
                                  std::to_string(ac.out_h) + "x" + std::to_string(ac.out_w) + ", " + std::to_string(channels) + " channels" +
                                  (saturated ? ", every input 255" : ""));
    }
};

}  // namespace

TEST_P(AvgPoolKernel, MatchesTheReferenceBitForBit) {
    for (const pool_case& pc : pool_cases)
        for (std::int64_t c : channel_counts())
            for (const bool include_pad : {true, false}) {
                check_case<float>(pc, c, include_pad);
                check_case<std::uint8_t>(pc, c, include_pad);
            }
}

// The largest u8 sums, and means of exactly 255 (the clamp at 255 and the narrowing must keep them).
TEST_P(AvgPoolKernel, SaturatedU8InputsAverageTo255) {
    for (const pool_case& pc : pool_cases)
        for (std::int64_t c : {1, 8, 16, 17, 64, 65}) check_case<std::uint8_t>(pc, c, false, true);
}

// NaNs and infinities among f32 inputs: the same outputs are NaN as in the reference, and every other
// output (infinities included) has the reference's bits. Which NaN payload survives a sum of two is
// not compared: the compiler may swap the operands of an addition, in the reference as in a kernel.
TEST_P(AvgPoolKernel, NaNsAndInfinitiesAsInTheReference) {
    for (const pool_case& pc : pool_cases)
        for (std::int64_t c : {1, 8, 16, 17, 33}) {
            pool2d_args p = args_of<float>(pc, c);
            const std::size_t count = input_count(pc, c), out_count = output_count(p);
            test::buffer<float> in = pool_input<float>(count, 11), expected(out_count), got(out_count);
            for (std::size_t i = 3; i < count; i += 7) in[i] = i % 3 == 0 ? std::nanf("1") : i % 3 == 1 ? -INFINITY : INFINITY;
            p.input = in.data();
            p.output = expected.data();
            ref::avg_pool2d(p);
            p.output = got.data();
            run(p);
            for (std::size_t i = 0; i < out_count; ++i) {
                if (std::isnan(expected[i])) {
                    ASSERT_TRUE(std::isnan(got[i])) << entry().name << ": output " << i << " is " << got[i] << ", the reference's NaN";
                } else {
                    ASSERT_EQ(std::memcmp(&got[i], &expected[i], sizeof(float)), 0)
                        << entry().name << ": output " << i << " is " << got[i] << ", the reference's " << expected[i];
                }
            }
        }
}

INSTANTIATE_TEST_SUITE_P(Table, AvgPoolKernel, AvgPoolKernel::all(), AvgPoolKernel::name);

TEST_P(AdaptiveAvgPoolKernel, MatchesTheReferenceBitForBit) {
    for (const adaptive_case& ac : adaptive_cases)
        for (std::int64_t c : channel_counts()) {
            check_case<float>(ac, c);
            check_case<std::uint8_t>(ac, c);
            check_case<std::uint8_t>(ac, c, true);
        }
}

INSTANTIATE_TEST_SUITE_P(Table, AdaptiveAvgPoolKernel, AdaptiveAvgPoolKernel::all(), AdaptiveAvgPoolKernel::name);

// A u8 window of more than 2^23 pixels could overflow a kernel's int32 sums: such a problem goes to
// the reference, at every level (the arguments are only looked at, never run).
TEST(AvgPoolDispatch, HugeU8WindowsGoToTheReference) {
    const std::uint8_t byte = 0;
    std::uint8_t out = 0;
    const adaptive_pool2d_args adaptive{.in_h = 4096, .in_w = 2049, .channels = 1, .type = dtype::u8, .input = &byte, .output = &out};
    const pool2d_args pool{.in_h = 4096, .in_w = 2049, .channels = 1, .kernel_h = 4096, .kernel_w = 2049, .type = dtype::u8,
                           .input = &byte, .output = &out};
    for (const isa level : all_isas) {
        if (!usable(level)) continue;
        EXPECT_STREQ(kernels::adaptive_avg_pool2d.kernel_at(level, adaptive).name, "ref::adaptive_avg_pool2d") << isa_name(level);
        EXPECT_STREQ(kernels::avg_pool2d.kernel_at(level, pool).name, "ref::avg_pool2d") << isa_name(level);
        pool2d_args f32 = pool;  // an f32 sum has no such limit
        f32.type = dtype::f32;
        if (level != isa::ref) {
            EXPECT_STRNE(kernels::avg_pool2d.kernel_at(level, f32).name, "ref::avg_pool2d") << isa_name(level);
        }
    }
}
