// lanes: the public entry point of every operation, and the one kernel table behind each.
//
// Calling lanes::gemm_f32(args) validates the arguments, then runs the best kernel of the table that
// is usable here, allowed by the ISA cap (LANES_ISA or set_isa_cap) and accepts the problem.
// lanes::kernels::gemm_f32 is the dispatcher itself: tests and benchmarks use its table() and
// run_at(level, args) to run a specific level. `lanes info` lists what every operation resolved to.
#pragma once

#include <string_view>
#include <vector>

#include "../reference/conv.hpp"
#include "../reference/eltwise.hpp"
#include "../reference/gemm.hpp"
#include "../reference/pool.hpp"
#include "../portable/gemm_f32.hpp"
#include "cpu.hpp"
#include "dispatch.hpp"
#include "gemm_driver.hpp"
#if LANES_X86
#include "../avx2/gemm_f32.hpp"
#include "../avx512/gemm_f32.hpp"
#include "../avx2/gemm_u8s8.hpp"
#include "../avx512/gemm_u8s8.hpp"
#include "../vnni/gemm_u8s8.hpp"
#include "../avx2/pool.hpp"
#include "../avx512/pool.hpp"
#endif

namespace lanes {

// ---- The tables, best kernel first; each ends with the reference. ----------------------------
namespace tables {

// The portable (xsimd) kernels sit at level ref: they need nothing beyond the consumer's own flags.
inline constexpr kernel_entry<gemm_f32_args> gemm_f32[] = {
#if LANES_X86
    {isa::avx512, "avx512::gemm_f32_small_m", &avx512::gemm_f32_small_m, &avx512::gemm_f32_small_m_accepts},
    {isa::avx512, avx512::gemm_f32_14x32::name, &avx512::gemm_f32},
    {isa::avx2, "avx2::gemm_f32_small_m", &avx2::gemm_f32_small_m, &avx2::gemm_f32_small_m_accepts},
    {isa::avx2, avx2::gemm_f32_6x16::name, &avx2::gemm_f32},
#endif
    {isa::ref, "portable::gemm_f32_small_m", &portable::gemm_f32_small_m, &portable::gemm_f32_small_m_accepts},
    {isa::ref, portable::gemm_f32_6x2v::name, &portable::gemm_f32},
    {isa::ref, "ref::gemm_f32", &ref::gemm_f32},
};
inline constexpr kernel_entry<gemv_f32_args> gemv_f32[] = {
#if LANES_X86
    {isa::avx512, "avx512::gemv_f32", &avx512::gemv_f32},
    {isa::avx2, "avx2::gemv_f32", &avx2::gemv_f32},
#endif
    {isa::ref, "portable::gemv_f32", &portable::gemv_f32},
    {isa::ref, "ref::gemv_f32", &ref::gemv_f32},
};

// Microkernels that can prepack B, best first (see pack_gemm_f32_b below).
template <class Args>
struct gemm_packer {
    isa level;
    const char* name;
    packed_b<Args> (*pack)(const Args&);
    void (*run)(const Args&, const packed_b<Args>*);
};
inline constexpr gemm_packer<gemm_f32_args> gemm_f32_packers[] = {
#if LANES_X86
    {isa::avx512, avx512::gemm_f32_14x32::name, &packed_b_f32::pack<avx512::gemm_f32_14x32>,
     &gemm_blocked<avx512::gemm_f32_14x32>},
    {isa::avx2, avx2::gemm_f32_6x16::name, &packed_b_f32::pack<avx2::gemm_f32_6x16>, &gemm_blocked<avx2::gemm_f32_6x16>},
#endif
    {isa::ref, portable::gemm_f32_6x2v::name, &packed_b_f32::pack<portable::gemm_f32_6x2v>,
     &gemm_blocked<portable::gemm_f32_6x2v>},
};

// INT8: every entry is bit-identical to the reference (kernels/gemm_u8s8_kernels-inl.hpp).
inline constexpr kernel_entry<gemm_u8s8_args> gemm_u8s8[] = {
#if LANES_X86
    {isa::avx512vnni, "vnni::gemm_u8s8_small_m", &vnni::gemm_u8s8_small_m, &vnni::gemm_u8s8_small_m_accepts},
    {isa::avx512vnni, vnni::gemm_u8s8_14x32::name, &vnni::gemm_u8s8},
    {isa::avx512, "avx512::gemm_u8s8_small_m", &avx512::gemm_u8s8_small_m, &avx512::gemm_u8s8_small_m_accepts},
    {isa::avx512, avx512::gemm_u8s8_12x32::name, &avx512::gemm_u8s8},
    {isa::avxvnni, "avxvnni::gemm_u8s8_small_m", &avxvnni::gemm_u8s8_small_m, &avxvnni::gemm_u8s8_small_m_accepts},
    {isa::avxvnni, avxvnni::gemm_u8s8_6x16::name, &avxvnni::gemm_u8s8},
    {isa::avx2, "avx2::gemm_u8s8_small_m", &avx2::gemm_u8s8_small_m, &avx2::gemm_u8s8_small_m_accepts},
    {isa::avx2, avx2::gemm_u8s8_6x16::name, &avx2::gemm_u8s8},
#endif
    {isa::ref, "ref::gemm_u8s8", &ref::gemm_u8s8},
};
inline constexpr kernel_entry<gemv_u8s8_args> gemv_u8s8[] = {
#if LANES_X86
    {isa::avx512vnni, "vnni::gemv_u8s8", &vnni::gemv_u8s8},
    {isa::avx512, "avx512::gemv_u8s8", &avx512::gemv_u8s8},
    {isa::avxvnni, "avxvnni::gemv_u8s8", &avxvnni::gemv_u8s8},
    {isa::avx2, "avx2::gemv_u8s8", &avx2::gemv_u8s8},
#endif
    {isa::ref, "ref::gemv_u8s8", &ref::gemv_u8s8},
};
#if LANES_X86
inline constexpr gemm_packer<gemm_u8s8_args> gemm_u8s8_packers[] = {
    {isa::avx512vnni, vnni::gemm_u8s8_14x32::name, &packed_b_u8s8::pack<vnni::gemm_u8s8_14x32>, &gemm_blocked<vnni::gemm_u8s8_14x32>},
    {isa::avx512, avx512::gemm_u8s8_12x32::name, &packed_b_u8s8::pack<avx512::gemm_u8s8_12x32>, &gemm_blocked<avx512::gemm_u8s8_12x32>},
    {isa::avxvnni, avxvnni::gemm_u8s8_6x16::name, &packed_b_u8s8::pack<avxvnni::gemm_u8s8_6x16>, &gemm_blocked<avxvnni::gemm_u8s8_6x16>},
    {isa::avx2, avx2::gemm_u8s8_6x16::name, &packed_b_u8s8::pack<avx2::gemm_u8s8_6x16>, &gemm_blocked<avx2::gemm_u8s8_6x16>},
};
#endif
inline constexpr kernel_entry<conv2d_f32_args> conv2d_f32[] = {{isa::ref, "ref::conv2d_f32", &ref::conv2d_f32}};
inline constexpr kernel_entry<conv2d_u8s8_args> conv2d_u8s8[] = {{isa::ref, "ref::conv2d_u8s8", &ref::conv2d_u8s8}};
inline constexpr kernel_entry<pool2d_args> max_pool2d[] = {
#if LANES_X86
    {isa::avx512, "avx512::max_pool2d", &avx512::max_pool2d},
    {isa::avx2, "avx2::max_pool2d", &avx2::max_pool2d},
#endif
    {isa::ref, "ref::max_pool2d", &ref::max_pool2d}};
inline constexpr kernel_entry<pool2d_args> avg_pool2d[] = {
#if LANES_X86
    {isa::avx512, "avx512::avg_pool2d", &avx512::avg_pool2d, &avx512::avg_pool2d_accepts},
    {isa::avx2, "avx2::avg_pool2d", &avx2::avg_pool2d, &avx2::avg_pool2d_accepts},
#endif
    {isa::ref, "ref::avg_pool2d", &ref::avg_pool2d}};
inline constexpr kernel_entry<adaptive_pool2d_args> adaptive_avg_pool2d[] = {
#if LANES_X86
    {isa::avx512, "avx512::adaptive_avg_pool2d", &avx512::adaptive_avg_pool2d, &avx512::adaptive_avg_pool2d_accepts},
    {isa::avx2, "avx2::adaptive_avg_pool2d", &avx2::adaptive_avg_pool2d, &avx2::adaptive_avg_pool2d_accepts},
#endif
    {isa::ref, "ref::adaptive_avg_pool2d", &ref::adaptive_avg_pool2d}};
inline constexpr kernel_entry<relu_args> relu[] = {{isa::ref, "ref::relu", &ref::relu}};
inline constexpr kernel_entry<add_f32_args> add_f32[] = {{isa::ref, "ref::add_f32", &ref::add_f32}};
inline constexpr kernel_entry<add_u8_args> add_u8[] = {{isa::ref, "ref::add_u8", &ref::add_u8}};
inline constexpr kernel_entry<softmax_args> softmax[] = {{isa::ref, "ref::softmax", &ref::softmax}};
inline constexpr kernel_entry<quantize_args> quantize[] = {{isa::ref, "ref::quantize", &ref::quantize}};
inline constexpr kernel_entry<dequantize_args> dequantize[] = {{isa::ref, "ref::dequantize", &ref::dequantize}};

}  // namespace tables

// ---- One dispatcher per table. ------------------------------------------------------------------
namespace kernels {

inline const dispatcher<gemm_f32_args> gemm_f32{"gemm_f32", tables::gemm_f32};
inline const dispatcher<gemv_f32_args> gemv_f32{"gemv_f32", tables::gemv_f32};
inline const dispatcher<gemm_u8s8_args> gemm_u8s8{"gemm_u8s8", tables::gemm_u8s8};
inline const dispatcher<gemv_u8s8_args> gemv_u8s8{"gemv_u8s8", tables::gemv_u8s8};
inline const dispatcher<conv2d_f32_args> conv2d_f32{"conv2d_f32", tables::conv2d_f32};
inline const dispatcher<conv2d_u8s8_args> conv2d_u8s8{"conv2d_u8s8", tables::conv2d_u8s8};
inline const dispatcher<pool2d_args> max_pool2d{"max_pool2d", tables::max_pool2d};
inline const dispatcher<pool2d_args> avg_pool2d{"avg_pool2d", tables::avg_pool2d};
inline const dispatcher<adaptive_pool2d_args> adaptive_avg_pool2d{"adaptive_avg_pool2d", tables::adaptive_avg_pool2d};
inline const dispatcher<relu_args> relu{"relu", tables::relu};
inline const dispatcher<add_f32_args> add_f32{"add_f32", tables::add_f32};
inline const dispatcher<add_u8_args> add_u8{"add_u8", tables::add_u8};
inline const dispatcher<softmax_args> softmax{"softmax", tables::softmax};
inline const dispatcher<quantize_args> quantize{"quantize", tables::quantize};
inline const dispatcher<dequantize_args> dequantize{"dequantize", tables::dequantize};

}  // namespace kernels

// ---- Public entry points. -------------------------------------------------------------------------
inline void gemm_f32(const gemm_f32_args& args) { kernels::gemm_f32(args); }
inline void gemv_f32(const gemv_f32_args& args) { kernels::gemv_f32(args); }
inline void gemm_u8s8(const gemm_u8s8_args& args) { kernels::gemm_u8s8(args); }
inline void gemv_u8s8(const gemv_u8s8_args& args) { kernels::gemv_u8s8(args); }
inline void conv2d_f32(const conv2d_f32_args& args) { kernels::conv2d_f32(args); }
inline void conv2d_u8s8(const conv2d_u8s8_args& args) { kernels::conv2d_u8s8(args); }
inline void max_pool2d(const pool2d_args& args) { kernels::max_pool2d(args); }
inline void avg_pool2d(const pool2d_args& args) { kernels::avg_pool2d(args); }
inline void adaptive_avg_pool2d(const adaptive_pool2d_args& args) { kernels::adaptive_avg_pool2d(args); }
inline void relu(const relu_args& args) { kernels::relu(args); }
inline void add_f32(const add_f32_args& args) { kernels::add_f32(args); }
inline void add_u8(const add_u8_args& args) { kernels::add_u8(args); }
inline void softmax(const softmax_args& args) { kernels::softmax(args); }
inline void quantize(const quantize_args& args) { kernels::quantize(args); }
inline void dequantize(const dequantize_args& args) { kernels::dequantize(args); }

// ---- Prepacked B (weights) ------------------------------------------------------------------------
//
//     lanes::gemm_f32_args w;  w.k = ic; w.n = oc; w.b = weights; w.ldb = ic; w.trans_b = true;
//     const lanes::packed_b_f32 packed = lanes::pack_gemm_f32_b(w);      // once, at load
//     lanes::gemm_f32_packed(args, packed);                               // many times; args.b is ignored
//
// pack_gemm_f32_b packs op(B) (k x n, from b/ldb/trans_b of its argument) for the best microkernel
// usable under the current cap. gemm_f32_packed runs that same microkernel, so it needs the packing
// kernel's level to be usable and allowed by the cap at the time of the call.
namespace detail {

// The best packer usable under the cap; null if none is.
template <class Args, std::size_t N>
const tables::gemm_packer<Args>* packer_under_cap(const tables::gemm_packer<Args> (&packers)[N]) {
    for (const tables::gemm_packer<Args>& packer : packers)
        if (packer.level <= isa_cap() && usable(packer.level)) return &packer;
    return nullptr;
}

// Packs B with the best packer usable under the cap. B's own checks (k, n, b, ldb) come first.
template <class Args, std::size_t N>
packed_b<Args> pack_with(const char* op, const tables::gemm_packer<Args> (&packers)[N], const Args& p) {
    const arg_check check{op};
    check.positive("k", p.k);
    check.positive("n", p.n);
    check.not_null("b", p.b);
    if (p.trans_b) check.matrix("B", "ldb", p.n, p.k, p.ldb, "n x k, transposed");
    else check.matrix("B", "ldb", p.k, p.n, p.ldb, "k x n");
    if (const tables::gemm_packer<Args>* packer = packer_under_cap(packers)) return packer->pack(p);
    fail(op, ": no packing kernel is usable");
}

// Runs the kernel that packed `b`, after checking that b fits the problem and may run under the cap.
// The caller has checked the rest of the arguments (A, C, the epilogue).
template <class Args, std::size_t N>
void run_packed(const char* op, const tables::gemm_packer<Args> (&packers)[N], const Args& p, const packed_b<Args>& b) {
    if (b.empty()) fail(op, ": the packed B is empty");
    if (p.k != b.k() || p.n != b.n())
        fail(op, ": k = ", p.k, " and n = ", p.n, " do not match the packed B, which is ", b.k(), " x ", b.n());
    if (b.level() > isa_cap())
        fail(op, ": B was packed for ", b.kernel(), " but the ISA cap is ", isa_name(isa_cap()), "; pack it again");
    for (const tables::gemm_packer<Args>& packer : packers) {
        if (std::string_view(packer.name) != b.kernel()) continue;
        require_usable(packer.level, op);
        return packer.run(p, &b);
    }
    fail(op, ": no kernel reads B packed by ", b.kernel());
}

}  // namespace detail

inline packed_b_f32 pack_gemm_f32_b(const gemm_f32_args& p) {
    return detail::pack_with("pack_gemm_f32_b", tables::gemm_f32_packers, p);
}

inline void gemm_f32_packed(const gemm_f32_args& p, const packed_b_f32& b) {
    const arg_check check{"gemm_f32_packed"};
    check.positive("m", p.m);
    validate_f32_a(check, p);
    check.not_null("c", p.c);
    check.matrix("C", "ldc", p.m, p.n, p.ldc, "m x n");
    detail::run_packed("gemm_f32_packed", tables::gemm_f32_packers, p, b);
}

// The same for INT8 weights: pack_gemm_u8s8_b packs op(B) (s8, k x n) and its column sums once;
// gemm_u8s8_packed runs the kernel that packed it (args.b is ignored). With no SIMD level usable (a
// non-x86 build, or LANES_ISA=ref) there is no packed format: pack_gemm_u8s8_b says so, and callers
// use gemm_u8s8 with the unpacked B.
inline packed_b_u8s8 pack_gemm_u8s8_b(const gemm_u8s8_args& p) {
    validate_int8_depth(arg_check{"pack_gemm_u8s8_b"}, p.k);
#if LANES_X86
    return detail::pack_with("pack_gemm_u8s8_b", tables::gemm_u8s8_packers, p);
#else
    fail("pack_gemm_u8s8_b: no packed INT8 format exists for this CPU; use gemm_u8s8");
#endif
}

// The level whose kernel pack_gemm_u8s8_b would pack for now (under the current cap); isa::ref when
// there is no packed format.
inline isa gemm_u8s8_packing_level() {
#if LANES_X86
    const tables::gemm_packer<gemm_u8s8_args>* packer = detail::packer_under_cap(tables::gemm_u8s8_packers);
    return packer != nullptr ? packer->level : isa::ref;
#else
    return isa::ref;
#endif
}

inline void gemm_u8s8_packed(const gemm_u8s8_args& p, const packed_b_u8s8& b) {
    const arg_check check{"gemm_u8s8_packed"};
    check.positive("m", p.m);
    validate_u8_a(check, p);
    check.not_null("c", p.c);
    validate_u8_zero_point(check, "a_zero_point", p.a_zero_point);
    check.matrix("C", "ldc", p.m, p.n, p.ldc, "m x n");
    if (!b.empty() && p.n == b.n()) validate_requant(check, p.requant, p.n);
    validate_residual(check, p);
#if LANES_X86
    detail::run_packed("gemm_u8s8_packed", tables::gemm_u8s8_packers, p, b);
#else
    fail("gemm_u8s8_packed: no packed INT8 format exists for this CPU; use gemm_u8s8");
#endif
}

// ---- What each operation resolves to, for `lanes info` and tests. --------------------------------
struct operation_choice {
    const char* op;
    const char* kernel;  // the preferred kernel under `level` (a problem it declines goes further down)
    isa kernel_level;
};

inline std::vector<operation_choice> resolved_operations(isa level) {
    std::vector<operation_choice> out;
    auto add = [&](const auto& d) {
        const auto& entry = d.preferred_at(level);
        out.push_back({d.op(), entry.name, entry.level});
    };
    add(kernels::gemm_f32);
    add(kernels::gemv_f32);
    add(kernels::gemm_u8s8);
    add(kernels::gemv_u8s8);
    add(kernels::conv2d_f32);
    add(kernels::conv2d_u8s8);
    add(kernels::max_pool2d);
    add(kernels::avg_pool2d);
    add(kernels::adaptive_avg_pool2d);
    add(kernels::relu);
    add(kernels::add_f32);
    add(kernels::add_u8);
    add(kernels::softmax);
    add(kernels::quantize);
    add(kernels::dequantize);
    return out;
}

}  // namespace lanes
