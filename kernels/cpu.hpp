// lanes: what this CPU and this OS let us run.
//
// libcpuid supplies the vendor, brand, core count and cache sizes. The instruction-set flags are read
// here with raw CPUID, because libcpuid 0.6 does not report them all on every vendor: it has no
// AVX-VNNI, BF16, FP16 or AMX flag at all, and on an AMD Zen 5 (EPYC Turin) it reports none of the
// AVX-512 flags the CPU has. The bits are architectural, the same on Intel and AMD:
//   - FMA                                                CPUID.(1,0):ECX[12]
//   - AVX2, AVX512F, AVX512DQ, AVX512BW, AVX512VL         CPUID.(7,0):EBX[5,16,17,30,31]
//   - AVX512-VNNI                                        CPUID.(7,0):ECX[11]
//   - AVX512-FP16, AMX-BF16, AMX-TILE, AMX-INT8          CPUID.(7,0):EDX[23,22,24,25]
//   - AVX-VNNI (256-bit vpdpbusd without AVX-512)       CPUID.(7,1):EAX[4]
//   - AVX512-BF16                                        CPUID.(7,1):EAX[5]
// and XGETBV tells which register state the OS saves on a context switch: XCR0 bits 1-2 (XMM/YMM),
// 5-7 (opmask and ZMM), 17-18 (AMX tile config and tile data).
// A CPU flag alone is not enough: an instruction whose state the OS does not save faults (#UD).
// On Linux, AMX tile data must also be requested per process with arch_prctl(ARCH_REQ_XCOMP_PERM);
// sandboxes may refuse, and the refusal is recorded rather than thrown.
//
// Detection runs once, on first use, and is thread-safe (a function-local static).
#pragma once

#include <cstdint>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#define LANES_X86 1
#include <cpuid.h>
#include <libcpuid/libcpuid.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#else
#define LANES_X86 0
#endif

namespace lanes {

struct cpu_features {
    bool fma = false, avx2 = false;
    bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
    bool avx512vnni = false, avxvnni = false;
    bool avx512bf16 = false, avx512fp16 = false;
    bool amx_tile = false, amx_int8 = false, amx_bf16 = false;
};

// Register state the OS has enabled in XCR0.
struct os_state {
    bool ymm = false;    // XCR0 bits 1 and 2
    bool zmm = false;    // XCR0 bits 5, 6, 7 (plus ymm)
    bool tiles = false;  // XCR0 bits 17, 18
    bool amx_permission = false;  // arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) succeeded
    std::string amx_permission_error;  // why not, when it was asked and refused
};

struct cpu_info {
    std::string vendor = "unknown";
    std::string brand = "unknown";
    int cores = 0;          // physical cores in the package (libcpuid)
    int logical_cpus = 0;   // hardware threads in the package (libcpuid)
    int l1d_kib = 0, l2_kib = 0, l3_kib = 0;  // 0 when unknown
    // The core runs a 512-bit operation as two 256-bit halves, so a zmm FMA costs both FMA pipes and its
    // peak equals ymm's: AMD family 19h with AVX-512 (Zen 4), as libcpuid identifies it (false when it
    // cannot). The block sizes use it (kernels/gemm_driver.hpp).
    bool zmm_halves = false;
    cpu_features has;
    os_state os;
    std::string libcpuid_error;  // non-empty when libcpuid could not identify the CPU
};

namespace detail {

#if LANES_X86
struct cpuid_regs {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

inline cpuid_regs cpuid(unsigned leaf, unsigned subleaf) {
    cpuid_regs r;
    if (leaf <= static_cast<unsigned>(__get_cpuid_max(0, nullptr))) __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
    return r;
}

inline bool bit(unsigned value, int index) { return ((value >> index) & 1u) != 0; }

// XGETBV(0) reads XCR0. Only valid when CPUID.1:ECX.OSXSAVE[27] is set (`leaf1` is CPUID.(1,0)).
// Inline assembly keeps this function free of any -mxsave target requirement.
inline std::uint64_t read_xcr0(const cpuid_regs& leaf1) {
    if (!bit(leaf1.ecx, 27)) return 0;
    unsigned eax = 0, edx = 0;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return (static_cast<std::uint64_t>(edx) << 32) | eax;
}

inline void request_amx_permission(os_state& os) {
#if defined(__linux__)
    constexpr long arch_req_xcomp_perm = 0x1023;
    constexpr long xfeature_xtiledata = 18;
    if (syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) == 0) {
        os.amx_permission = true;
    } else {
        os.amx_permission_error = "arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA) was refused by the kernel";
    }
#else
    os.amx_permission_error = "AMX tile permission is only requested on Linux";
#endif
}

inline cpu_info detect() {
    cpu_info info;
    // libcpuid: identity, topology, caches.
    cpu_raw_data_t raw{};
    cpu_id_t id{};
    bool amd_family_19h = false;  // Zen 4 (and Zen 3, which has no AVX-512): zmm_halves below
    if (!cpuid_present()) {
        info.libcpuid_error = "the CPUID instruction is not available";
    } else if (cpuid_get_raw_data(&raw) != 0 || cpu_identify(&raw, &id) != 0) {
        info.libcpuid_error = cpuid_error();
    } else {
        info.vendor = id.vendor_str;
        info.brand = id.brand_str;
        info.cores = id.num_cores;
        info.logical_cpus = id.num_logical_cpus;
        info.l1d_kib = id.l1_data_cache > 0 ? id.l1_data_cache : 0;
        info.l2_kib = id.l2_cache > 0 ? id.l2_cache : 0;
        info.l3_kib = id.l3_cache > 0 ? id.l3_cache : 0;
        amd_family_19h = id.vendor == VENDOR_AMD && id.ext_family == 0x19;  // the display family
    }
    // Raw CPUID for every instruction-set flag.
    const cpuid_regs leaf1 = cpuid(1, 0);
    const cpuid_regs leaf7 = cpuid(7, 0);
    const cpuid_regs leaf7_1 = leaf7.eax >= 1 ? cpuid(7, 1) : cpuid_regs{};
    info.has.fma = bit(leaf1.ecx, 12);
    info.has.avx2 = bit(leaf7.ebx, 5);
    info.has.avx512f = bit(leaf7.ebx, 16);
    info.has.avx512dq = bit(leaf7.ebx, 17);
    info.has.avx512bw = bit(leaf7.ebx, 30);
    info.has.avx512vl = bit(leaf7.ebx, 31);
    info.has.avx512vnni = bit(leaf7.ecx, 11);
    info.has.avxvnni = bit(leaf7_1.eax, 4);
    info.has.avx512bf16 = bit(leaf7_1.eax, 5);
    info.has.amx_bf16 = bit(leaf7.edx, 22);
    info.has.avx512fp16 = bit(leaf7.edx, 23);
    info.has.amx_tile = bit(leaf7.edx, 24);
    info.has.amx_int8 = bit(leaf7.edx, 25);

    info.zmm_halves = amd_family_19h && info.has.avx512f;

    // The OS side: which register files are saved across context switches.
    const std::uint64_t xcr0 = read_xcr0(leaf1);
    info.os.ymm = (xcr0 & 0x6) == 0x6;
    info.os.zmm = info.os.ymm && (xcr0 & 0xe0) == 0xe0;
    info.os.tiles = (xcr0 & 0x60000) == 0x60000;
    if (info.has.amx_tile && info.os.tiles) request_amx_permission(info.os);
    return info;
}
#else
inline cpu_info detect() {
    cpu_info info;
    info.libcpuid_error = "not an x86 CPU: only the reference and portable kernels run";
    return info;
}
#endif

}  // namespace detail

// The CPU this process runs on, detected on first call.
inline const cpu_info& cpu() {
    static const cpu_info info = detail::detect();
    return info;
}

}  // namespace lanes
