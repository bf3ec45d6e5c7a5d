// lanes CLI: `lanes info` — what this machine is, which ISA levels run here, and which kernel each
// operation resolves to under the current cap.
#pragma once

#include <cstdio>
#include <string>

#include "../lanes.hpp"

namespace lanes::cli {

inline std::string yes_no(bool value) { return value ? "yes" : "no"; }

inline void print_cpu(const cpu_info& c) {
    std::printf("CPU        %s (%s)\n", c.brand.c_str(), c.vendor.c_str());
    if (!c.libcpuid_error.empty()) std::printf("           libcpuid: %s\n", c.libcpuid_error.c_str());
    std::printf("cores      %d physical, %d logical (this package)\n", c.cores, c.logical_cpus);
    std::printf("caches     L1d %d KiB, L2 %d KiB, L3 %d KiB\n", c.l1d_kib, c.l2_kib, c.l3_kib);
    if (c.zmm_halves) std::printf("zmm        run as two 256-bit halves (AMD family 19h)\n");
    const struct {
        const char* name;
        bool present;
    } flags[] = {{"fma", c.has.fma},
                 {"avx2", c.has.avx2},
                 {"avx512f", c.has.avx512f},
                 {"avx512bw", c.has.avx512bw},
                 {"avx512dq", c.has.avx512dq},
                 {"avx512vl", c.has.avx512vl},
                 {"avx512vnni", c.has.avx512vnni},
                 {"avxvnni", c.has.avxvnni},
                 {"avx512bf16", c.has.avx512bf16},
                 {"avx512fp16", c.has.avx512fp16},
                 {"amx-tile", c.has.amx_tile},
                 {"amx-int8", c.has.amx_int8},
                 {"amx-bf16", c.has.amx_bf16}};
    std::string present, absent;
    for (const auto& f : flags) (f.present ? present : absent) += std::string(" ") + f.name;
    std::printf("features  %s\n", present.empty() ? " none" : present.c_str());
    if (!absent.empty()) std::printf("absent    %s\n", absent.c_str());
    std::printf("OS state   YMM %s, ZMM %s, AMX tiles %s", yes_no(c.os.ymm).c_str(), yes_no(c.os.zmm).c_str(),
                yes_no(c.os.tiles).c_str());
    if (c.has.amx_tile && c.os.tiles)
        std::printf(" (tile data permission: %s)", c.os.amx_permission ? "granted" : c.os.amx_permission_error.c_str());
    std::printf("\n");
}

inline void print_levels(isa cap) {
    const char* source = std::getenv("LANES_ISA") != nullptr && *std::getenv("LANES_ISA") != '\0'
                             ? "from LANES_ISA"
                             : "best usable; set LANES_ISA to lower it";
    std::printf("\nISA levels (cap: %s, %s)\n", isa_name(cap), source);
    for (isa level : all_isas) {
        const std::string why = why_unusable(level);
        std::printf("  %-11s %s%s\n", isa_name(level), why.empty() ? "usable" : "not usable: ", why.c_str());
    }
}

inline void print_operations(isa cap) {
    std::printf("\nOperations under cap %s\n", isa_name(cap));
    for (const operation_choice& op : resolved_operations(cap))
        std::printf("  %-20s %-28s (%s)\n", op.op, op.kernel, isa_name(op.kernel_level));
}

inline void print_peaks(const peak_report& r) {
    std::printf("\nMeasured peak on this core (best of 5 runs; clock %.2f GHz from a dependent add chain)\n",
                r.clock_hz / 1e9);
    for (const peak_figure* f : {&r.fma_avx2, &r.fma_avx512, &r.maddubs_avx2, &r.maddubs_avx512, &r.madd16_avx2, &r.madd16_avx512, &r.vnni_avx,
                                 &r.vnni_avx512}) {
        if (f->measured)
            std::printf("  %-30s %8.1f G ops/s  %6.1f ops/cycle\n", f->name, f->per_second / 1e9, f->per_cycle);
        else
            std::printf("  %-30s not measured: %s\n", f->name, f->why_not.c_str());
    }
    if (r.read.measured)
        std::printf("  %-30s %8.1f GB/s      %6.1f bytes/cycle\n", "memory read, one core", r.read.per_second / 1e9,
                    r.read.per_cycle);
    else
        std::printf("  %-30s not measured: %s\n", "memory read, one core", r.read.why_not.c_str());
}

inline int info(bool peak) {
    const isa cap = isa_cap();  // throws on a bad LANES_ISA, before anything is printed
    print_cpu(cpu());
    print_levels(cap);
    print_operations(cap);
    if (peak) print_peaks(measure_peaks());
    return 0;
}

}  // namespace lanes::cli
