// Test helpers: seeded random buffers, unaligned views, the FP32 tolerance, the GEMM size list and the
// names and skip reasons of table entries.
//
// FP32 tolerance. A dot product of length k summed in float in any order satisfies
//     |computed - exact| <= gamma(k) * sum_l |a_l * b_l|,   gamma(n) = n u / (1 - n u),  u = 2^-24
// (Higham, Accuracy and Stability of Numerical Algorithms, 3.1). The GEMM epilogue adds up to three
// more roundings (alpha, beta*C, bias), so each of two implementations is within gamma(k + 3) of the
// exact value of  |alpha| * sum |a||b| + |beta * c| + |bias|,  and they are within twice that of each
// other. The tests use exactly this bound, per element; it is the worst case, not a fitted constant.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "lanes.hpp"

namespace lanes::test {

inline double gamma(std::int64_t n) {
    const double u = std::ldexp(1.0, -24);
    return static_cast<double>(n) * u / (1.0 - static_cast<double>(n) * u);
}

// Bound on |x - y| for two float evaluations of a sum whose exact magnitude sum is `magnitude`,
// each accumulated over `terms` roundings.
inline double fp32_tolerance(std::int64_t terms, double magnitude) { return 2.0 * gamma(terms) * magnitude; }

// A buffer of `count` elements that starts `offset` elements past a fresh allocation, so views built on
// it are deliberately unaligned (offset 1 for float: 4-byte aligned, never 32- or 64-byte aligned).
template <class T>
struct buffer {
    std::vector<T> storage;
    std::size_t offset;
    buffer(std::size_t count, std::size_t offset_ = 1) : storage(count + offset_), offset(offset_) {}
    T* data() { return storage.data() + offset; }
    const T* data() const { return storage.data() + offset; }
    T& operator[](std::size_t i) { return data()[i]; }
    const T& operator[](std::size_t i) const { return data()[i]; }
    std::size_t size() const { return storage.size() - offset; }
};

inline std::vector<float> random_floats(std::size_t count, std::uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(count);
    for (float& x : v) x = dist(rng);
    return v;
}

template <class T>
std::vector<T> random_ints(std::size_t count, std::uint32_t seed, int lo, int hi) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> dist(lo, hi);
    std::vector<T> v(count);
    for (T& x : v) x = static_cast<T>(dist(rng));
    return v;
}

template <class T>
void fill(buffer<T>& b, const std::vector<T>& values) {
    for (std::size_t i = 0; i < values.size() && i < b.size(); ++i) b[i] = values[i];
}

// Restores the ISA cap a test found when it ends, even when an ASSERT returns early (a cap left lowered
// would make the tests after it fail for no reason of their own).
class isa_cap_restorer {
public:
    isa_cap_restorer() : saved_(isa_cap()) {}
    ~isa_cap_restorer() { set_isa_cap(saved_); }
    isa_cap_restorer(const isa_cap_restorer&) = delete;
    isa_cap_restorer& operator=(const isa_cap_restorer&) = delete;

private:
    isa saved_;
};

// The sizes every GEMM sweep covers in each dimension: 1..33, powers of two +-1, and 1000.
inline std::vector<std::int64_t> issue_sizes() {
    std::vector<std::int64_t> s;
    for (std::int64_t v = 1; v <= 33; ++v) s.push_back(v);
    for (std::int64_t v : {63, 64, 65, 127, 128, 129, 255, 256, 257, 1000}) s.push_back(v);
    return s;
}

// Why a kernel of `level` cannot run here, as a skip message; empty when it can.
inline std::string unusable_reason(const char* kernel, isa level) {
    const std::string why = why_unusable(level, cpu());
    return why.empty() ? why : std::string(kernel) + " needs " + isa_name(level) + ", not usable here: " + why;
}

// A kernel's name as a test-name suffix ("avx512::gemm_f32_14x32" -> "avx512__gemm_f32_14x32").
inline std::string test_suffix(const char* kernel) {
    std::string name = kernel;
    for (char& ch : name)
        if (ch == ':') ch = '_';
    return name;
}

// The rows of a table: a dispatcher's kernels, or an array of packers.
template <class Args>
std::span<const kernel_entry<Args>> rows_of(const dispatcher<Args>& d) {
    return d.table();
}
template <class Row, std::size_t N>
std::span<const Row> rows_of(const Row (&rows)[N]) {
    return rows;
}

// A test parametrized over the rows of `Table` (kernels::gemm_f32, tables::gemm_u8s8_packers, ...):
// entry() is the row under test, named by its kernel, and the test is skipped, with the reason, where
// its ISA level cannot run here.
//
//     class GemmF32Kernel : public table_rows<kernels::gemm_f32> {};
//     INSTANTIATE_TEST_SUITE_P(Table, GemmF32Kernel, GemmF32Kernel::all(), GemmF32Kernel::name);
template <const auto& Table>
class table_rows : public ::testing::TestWithParam<std::size_t> {
public:
    static auto all() { return ::testing::Range<std::size_t>(0, rows_of(Table).size()); }
    static std::string name(const ::testing::TestParamInfo<std::size_t>& info) { return test_suffix(rows_of(Table)[info.param].name); }

protected:
    const auto& entry() const { return rows_of(Table)[GetParam()]; }
    void SetUp() override {
        const std::string why = unusable_reason(entry().name, entry().level);
        if (!why.empty()) GTEST_SKIP() << why;
    }
    // A kernel table's entry on validated arguments, as dispatch would run it.
    template <class Args>
    void run(const Args& p) const {
        validate(p);
        entry().run(p);
    }
};

// Runs `body` and expects a lanes::error whose message contains `fragment`.
#define EXPECT_LANES_ERROR(body, fragment)                                                       \
    do {                                                                                         \
        try {                                                                                    \
            body;                                                                                \
            ADD_FAILURE() << "expected lanes::error containing \"" << (fragment) << "\"";        \
        } catch (const lanes::error& e) {                                                        \
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();      \
        }                                                                                        \
    } while (0)

// A GEMM shape with A given as `runs` runs of `length` elements per row (k = length * runs).
struct runs_shape {
    std::int64_t m, n, length, runs;
};

// A (m rows, `lda` apart) as runs of `length` elements for gemm_*_args::a_runs: each run of each row
// copied into `storage` (exactly m * k elements) in a shuffled order, so that a kernel that took a row as
// contiguous, or read past a run, gives other results (or an ASan report). Returns the run pointers,
// row-major (run r of row i at i * (k / length) + r).
template <class T>
std::vector<const T*> scatter_runs(const T* a, std::int64_t lda, std::int64_t m, std::int64_t k, std::int64_t length,
                                   std::uint32_t seed, buffer<T>& storage) {
    const std::int64_t per_row = k / length;
    std::vector<std::int64_t> order(static_cast<std::size_t>(m * per_row));
    for (std::size_t q = 0; q < order.size(); ++q) order[q] = static_cast<std::int64_t>(q);
    std::shuffle(order.begin(), order.end(), std::mt19937(seed));
    std::vector<const T*> runs(order.size());
    for (std::size_t slot = 0; slot < order.size(); ++slot) {  // slot holds run order[slot]
        T* to = storage.data() + static_cast<std::int64_t>(slot) * length;
        std::memcpy(to, a + order[slot] / per_row * lda + order[slot] % per_row * length, static_cast<std::size_t>(length) * sizeof(T));
        runs[static_cast<std::size_t>(order[slot])] = to;
    }
    return runs;
}

}  // namespace lanes::test
