// An embedder's program: built with no -m flags, it must still run the AVX2 / AVX-512 kernels on a
// CPU that has them, and never anything the CPU lacks. It runs one GEMM under every usable ISA cap,
// checks each against the reference, and exits non-zero on any mismatch.
#include <lanes.hpp>

#include <cmath>
#include <cstdio>
#include <vector>

#if defined(__AVX2__) || defined(__AVX512F__) || defined(__FMA__)
#error "the consumer must be compiled for baseline x86-64 (no -m flags)"
#endif

int main() {
    const std::int64_t m = 37, n = 45, k = 29;
    std::vector<float> a(static_cast<std::size_t>(m * k)), b(static_cast<std::size_t>(k * n));
    for (std::size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>((i * 7) % 13) / 13.0f - 0.5f;
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>((i * 5) % 11) / 11.0f - 0.5f;
    std::vector<float> expected(static_cast<std::size_t>(m * n));
    const lanes::gemm_f32_args reference{.m = m, .n = n, .k = k, .a = a.data(), .lda = k, .b = b.data(), .ldb = n,
                                         .c = expected.data(), .ldc = n};
    lanes::ref::gemm_f32(reference);

    int failures = 0, levels = 0;
    for (lanes::isa level : lanes::all_isas) {
        if (!lanes::usable(level)) {
            std::printf("cap %-10s skipped: %s\n", lanes::isa_name(level), lanes::why_unusable(level).c_str());
            continue;
        }
        lanes::set_isa_cap(level);
        std::vector<float> c(static_cast<std::size_t>(m * n));
        lanes::gemm_f32_args p = reference;
        p.c = c.data();
        lanes::gemm_f32(p);
        const auto& kernel = lanes::kernels::gemm_f32.kernel_at(level, p);
        double worst = 0;
        for (std::size_t i = 0; i < c.size(); ++i) worst = std::max(worst, static_cast<double>(std::abs(c[i] - expected[i])));
        // |a|, |b| <= 0.5, so sum |a*b| <= k / 4, and two float summation orders differ by at most
        // 2 * k * 2^-24 * k / 4 (the bound of tests/helpers.hpp, to first order).
        const double kd = static_cast<double>(k);
        const bool ok = worst <= 2.0 * kd * std::ldexp(1.0, -24) * kd * 0.25 && kernel.level <= level;
        std::printf("cap %-10s ran %-24s max |diff| %.3g  %s\n", lanes::isa_name(level), kernel.name, worst, ok ? "ok" : "FAILED");
        failures += ok ? 0 : 1;
        ++levels;
    }
    std::printf("%d passed, %d failed\n", levels - failures, failures);
    return failures == 0 ? 0 : 1;
}
