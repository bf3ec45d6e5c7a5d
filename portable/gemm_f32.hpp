// lanes portable: FP32 GEMM and GEMV written with xsimd, for any CPU without a hand-written kernel.
//
// kernels/gemm_f32_kernels-inl.hpp compiled for xsimd's default architecture, i.e. whatever the
// consumer's compiler flags allow: SSE2 on a baseline x86-64 build, NEON on AArch64, AVX2 if the
// consumer builds with -mavx2. Microkernel gemm_f32_6x2v: 6 rows x 2 vectors (6 x 8 with 4-lane
// SSE2/NEON registers), 12 accumulators + 2 B vectors + 1 broadcast in the 16 registers those ISAs
// have. xsimd has no masked loads, so a partial vector goes through a small array on the stack, and a
// gather is a scalar loop: only tails and packing take that path.
#pragma once

#include <xsimd/xsimd.hpp>

#include <algorithm>
#include <cstdint>

#include "../kernels/gemm.hpp"
#include "../kernels/gemm_driver.hpp"

namespace lanes::portable {

struct vec {
    static constexpr isa level = isa::ref;
    using reg = xsimd::batch<float>;
    static constexpr int lanes = static_cast<int>(reg::size);
    using mask = int;  // the number of leading active lanes, 0..lanes

    static reg zero() { return reg(0.0f); }
    static reg set1(float x) { return reg(x); }
    static reg load(const float* p) { return reg::load_unaligned(p); }
    static void store(float* p, reg v) { v.store_unaligned(p); }
    static reg fmadd(reg a, reg b, reg c) { return xsimd::fma(a, b, c); }
    static reg mul(reg a, reg b) { return a * b; }
    static reg add(reg a, reg b) { return a + b; }
    static reg max_zero(reg x) { return xsimd::select(x < reg(0.0f), reg(0.0f), x); }  // NaN < 0 is false: kept
    static float sum(reg v) { return xsimd::hadd(v); }
    static void sum4(reg a, reg b, reg c, reg d, float* out) {
        out[0] = sum(a);
        out[1] = sum(b);
        out[2] = sum(c);
        out[3] = sum(d);
    }

    static mask first(std::int64_t count) { return count <= 0 ? 0 : count >= lanes ? lanes : static_cast<int>(count); }
    static reg load_first(mask m, const float* p) {
        if (m == lanes) return load(p);
        alignas(64) float t[lanes] = {};
        std::copy(p, p + m, t);
        return reg::load_aligned(t);
    }
    static void store_first(mask m, float* p, reg v) {
        if (m == lanes) return store(p, v);
        alignas(64) float t[lanes];
        v.store_aligned(t);
        std::copy(t, t + m, p);
    }
    static bool can_gather(std::int64_t) { return true; }
    static reg gather_first(mask m, const float* p, std::int64_t stride) {
        alignas(64) float t[lanes] = {};
        for (int i = 0; i < m; ++i) t[i] = p[i * stride];
        return reg::load_aligned(t);
    }
    static reg gather_at(mask m, const float* p, const std::int32_t* index) {
        alignas(64) float t[lanes] = {};
        for (int i = 0; i < m; ++i) t[i] = p[index[i]];
        return reg::load_aligned(t);
    }
};

#include "../kernels/gemm_f32_kernels-inl.hpp"

struct gemm_f32_6x2v : gemm_f32_kernel<6, 2> {
    static constexpr const char* name = "portable::gemm_f32_6x2v";
};

inline void gemm_f32(const gemm_f32_args& p) { gemm_blocked<gemm_f32_6x2v>(p); }

}  // namespace lanes::portable
