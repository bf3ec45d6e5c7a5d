// Max pooling kernels against the reference: every table entry, f32 and u8, bit for bit (a maximum
// is exact, and NaNs must propagate as the reference propagates them), over channel counts around
// every vector width, windows with padding and ceil_mode, and unaligned buffers.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

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

class MaxPoolKernel : public table_rows<kernels::max_pool2d> {
protected:
    template <class T>
    void check_case(const pool_case& pc, std::int64_t channels, bool with_nan) const;
};

template <class T>
void MaxPoolKernel::check_case(const pool_case& pc, std::int64_t channels, bool with_nan) const {
    pool2d_args p{.batch = pc.batch, .in_h = pc.h, .in_w = pc.w, .channels = channels, .kernel_h = pc.kernel, .kernel_w = pc.kernel,
                  .stride_h = pc.stride, .stride_w = pc.stride, .pad_top = pc.pad, .pad_left = pc.pad, .pad_bottom = pc.pad,
                  .pad_right = pc.pad, .ceil_mode = pc.ceil, .type = std::is_same_v<T, float> ? dtype::f32 : dtype::u8};
    const std::size_t in_count = static_cast<std::size_t>(pc.batch * pc.h * pc.w * channels);
    const std::size_t out_count = static_cast<std::size_t>(pc.batch * p.out_h() * p.out_w() * channels);
    test::buffer<T> in(in_count), expected(out_count + 8), got(out_count + 8);
    if constexpr (std::is_same_v<T, float>) {
        test::fill(in, test::random_floats(in_count, 5, -3.0f, 3.0f));
        if (with_nan)
            for (std::size_t i = 3; i < in_count; i += 17) in[i] = std::nanf(i % 2 ? "1" : "2");  // two payloads
    } else {
        test::fill(in, test::random_ints<std::uint8_t>(in_count, 5, 0, 255));
    }
    for (std::size_t i = 0; i < out_count + 8; ++i) expected[i] = got[i] = T(77);  // a guard past the end
    p.input = in.data();
    p.output = expected.data();
    ref::max_pool2d(p);
    p.output = got.data();
    run(p);
    ASSERT_EQ(std::memcmp(got.data(), expected.data(), (out_count + 8) * sizeof(T)), 0)
        << entry().name << ": " << pc.h << "x" << pc.w << " kernel " << pc.kernel << " stride " << pc.stride << " pad " << pc.pad
        << " ceil " << pc.ceil << ", " << channels << " channels" << (with_nan ? ", with NaNs" : "");
}

}  // namespace

TEST_P(MaxPoolKernel, MatchesTheReferenceBitForBit) {
    std::vector<std::int64_t> channels;
    for (std::int64_t c = 1; c <= 33; ++c) channels.push_back(c);
    for (std::int64_t c : {63, 64, 65, 100, 127, 128, 129}) channels.push_back(c);
    for (const pool_case& pc : pool_cases)
        for (std::int64_t c : channels) {
            check_case<float>(pc, c, false);
            check_case<float>(pc, c, true);
            check_case<std::uint8_t>(pc, c, false);
        }
}

INSTANTIATE_TEST_SUITE_P(Table, MaxPoolKernel, MaxPoolKernel::all(), MaxPoolKernel::name);
