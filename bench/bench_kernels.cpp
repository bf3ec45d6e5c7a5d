// lanes kernel benchmarks for the operations without a binary of their own (FP32 GEMM and GEMV are in
// bench_gemm_f32.cpp). Every kernel of the table that can run here is registered under op/isa/shape,
// so a new kernel added to a table is benchmarked with no change here.
//
// Counters: GFLOP/s (GOP/s for INT8) and pct_peak, the share of this core's measured peak for the
// instruction family that kernel's level uses (kernels/peak.hpp).
// The peak is measured once at start-up and printed in the context header.
//
//     taskset -c 1 build/bench/bench_kernels --benchmark_filter='gemm_u8s8/.*/256'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "../lanes.hpp"

namespace {

using lanes::isa;

struct gemm_shape {
    std::int64_t m, n, k;
    std::string label() const { return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k); }
};

const std::vector<gemm_shape> square_shapes = {{64, 64, 64}, {128, 128, 128}, {256, 256, 256}, {512, 512, 512}};


// Runs body() once per benchmark iteration and returns the wall seconds per iteration. Timed here
// (not through Google Benchmark's rate counters) so the counters print as plain numbers.
template <class Body>
double timed_loop(benchmark::State& state, Body&& body) {
    const auto start = std::chrono::steady_clock::now();
    for (auto _ : state) {
        body();
        benchmark::ClobberMemory();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return seconds / static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
}

// `ops` per iteration -> giga-ops per second under `name`, and % of the `peak` ops/s.
void set_rate_counters(benchmark::State& state, const char* name, double ops, double seconds, double peak) {
    state.counters[name] = ops / seconds / 1e9;
    if (peak > 0) state.counters["pct_peak"] = 100.0 * ops / seconds / peak;
}

void register_gemm_u8s8() {
    for (const auto& entry : lanes::tables::gemm_u8s8) {
        if (!lanes::usable(entry.level)) continue;
        for (const gemm_shape& s : square_shapes) {
            if (entry.level == isa::ref && s.m > 256) continue;
            const std::string name = std::string("gemm_u8s8/") + lanes::isa_name(entry.level) + "/" + s.label();
            benchmark::RegisterBenchmark(name.c_str(), [entry, s](benchmark::State& state) {
                std::vector<std::uint8_t> a(static_cast<std::size_t>(s.m * s.k), 200), c(static_cast<std::size_t>(s.m * s.n));
                std::vector<std::int8_t> b(static_cast<std::size_t>(s.k * s.n), -3);
                std::vector<float> scale(static_cast<std::size_t>(s.n), 1e-4f);
                const lanes::gemm_u8s8_args p{.m = s.m, .n = s.n, .k = s.k, .a = a.data(), .lda = s.k, .a_zero_point = 128,
                                              .b = b.data(), .ldb = s.n, .c = c.data(), .ldc = s.n,
                                              .requant = {.scale = scale.data(), .zero_point = 128}};
                const double seconds = timed_loop(state, [&] { entry.run(p); });
                set_rate_counters(state, "GOP/s", 2.0 * static_cast<double>(s.m * s.n * s.k), seconds,
                                  lanes::peak_ops_per_second(lanes::machine_peaks(), entry.level, true));
            })->Unit(benchmark::kMicrosecond);
        }
    }
}

void add_peak_context() {
    const lanes::peak_report& r = lanes::machine_peaks();
    benchmark::AddCustomContext("lanes clock (GHz)", std::to_string(r.clock_hz / 1e9));
    for (const lanes::peak_figure* f : {&r.fma_avx2, &r.fma_avx512, &r.maddubs_avx2, &r.maddubs_avx512, &r.vnni_avx, &r.vnni_avx512, &r.read})
        benchmark::AddCustomContext(std::string("lanes peak ") + f->name,
                                    f->measured ? std::to_string(f->per_second / 1e9) + " G/s" : "not measured: " + f->why_not);
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    add_peak_context();
    register_gemm_u8s8();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
