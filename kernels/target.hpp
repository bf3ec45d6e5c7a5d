// lanes: compile a region of a header for one ISA, whatever flags the consumer used.
//
//     LANES_TARGET_BEGIN("avx2,fma")
//     namespace lanes::avx2 { inline void kernel(...) { ... _mm256_fmadd_ps ... } }
//     LANES_TARGET_END
//
// Every function defined between the two macros (templates and member functions included) is
// compiled for that target even when the consumer builds with plain -O2, so AVX-512 code can live in
// a header that a baseline x86-64 program includes. The code runs only after dispatch has checked that
// the CPU and OS support the level. Each ISA lives in its own namespace, so its copy of a function is
// a distinct symbol and the linker can never merge two ISAs' versions of one inline function.
//
// GCC: push_options + target pragma. Clang rejects intrinsics under the GCC pragma, so it gets an
// attribute pushed onto every function in the region. Include all system and standard headers
// before LANES_TARGET_BEGIN: a standard inline function compiled with AVX-512 enabled could
// otherwise be picked by the linker for baseline callers.
//
// The region also turns off floating-point contraction (a*b+c fused into one FMA), so a kernel's
// rounding is the one its source spells out, whatever -ffp-contract the consumer uses.
#pragma once

#define LANES_PRAGMA(x) _Pragma(#x)

#if defined(__clang__)
#define LANES_TARGET_BEGIN(spec)                                                             \
    LANES_PRAGMA(clang attribute push(__attribute__((target(spec))), apply_to = function)) \
    LANES_PRAGMA(clang fp contract(off))
#define LANES_TARGET_END LANES_PRAGMA(clang attribute pop)
#elif defined(__GNUC__)
#define LANES_TARGET_BEGIN(spec) \
    LANES_PRAGMA(GCC push_options) LANES_PRAGMA(GCC target(spec)) LANES_PRAGMA(GCC optimize("fp-contract=off"))
#define LANES_TARGET_END LANES_PRAGMA(GCC pop_options)
#else
#error "lanes needs GCC or Clang for per-function target regions"
#endif

// The targets of each level, in one place (spelled out: pragmas take one string literal). Each names
// exactly the features kernels/isa.hpp checks for that level, nothing more: a hypervisor may hide
// extensions such as BMI2 that every real AVX2 CPU has.
#define LANES_TARGET_AVX2 "avx2,fma"
#define LANES_TARGET_AVXVNNI "avx2,fma,avxvnni"
#define LANES_TARGET_AVX512 "avx2,fma,avx512f,avx512bw,avx512dq,avx512vl"
// No "avxvnni" here: a CPU may have AVX512-VNNI without AVX-VNNI, and the compiler must not emit the
// VEX-encoded 256-bit form for it.
#define LANES_TARGET_AVX512VNNI "avx2,fma,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni"
