// lanes: SIMD kernels for CNN inference on x86-64. The one header a consumer includes.
//
//     #include <lanes.hpp>
//     lanes::gemm_f32({.m = 64, .n = 64, .k = 64, .a = a, .lda = 64, .b = b, .ldb = 64, .c = c, .ldc = 64});
//
// No -m flags are needed: each kernel is compiled for its own ISA inside the header and runs only when
// the CPU and the OS support it. LANES_ISA=<level> caps the level used (see kernels/isa.hpp).
#pragma once

#include "kernels/cpu.hpp"
#include "kernels/error.hpp"
#include "kernels/isa.hpp"
#include "kernels/operations.hpp"
#include "kernels/peak.hpp"
