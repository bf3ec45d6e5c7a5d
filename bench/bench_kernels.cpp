// lanes kernel benchmarks for the operations without a binary of their own (FP32 GEMM and GEMV are in
// bench_gemm_f32.cpp). Every kernel of the table that can run here is registered under op/isa/shape,
// so a new kernel added to a table is benchmarked with no change here. pack_b_u8s8/... times packing an
// INT8 B on its own (register_pack_b_u8s8 below).
//
// Counters: GFLOP/s (GOP/s for INT8) and pct_peak, the share of this core's measured peak for the
// instruction family that kernel's level uses (kernels/peak.hpp), probed after the calls in each
// iteration as in the other benchmark binaries (docs/peak.md). The start-up peaks are printed in the
// context header.
//
//     taskset -c 1 build/bench/bench_kernels --benchmark_filter='gemm_u8s8/.*/256'
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "../lanes.hpp"

#if LANES_X86
#include <immintrin.h>
#endif

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

// timed_loop with the peak probe of `level` (FP32 FMA, or with int8 the instruction of that level's
// INT8 kernels) after body() in each iteration, for a quarter of its `ops`: sets the counters against
// the probe of the same moments.
template <class Body>
void timed_loop_against_peak(benchmark::State& state, const char* name, double ops, isa level, bool int8, Body&& body) {
    double own = 0;
    lanes::peak_tally tally(level, int8);
    for (auto _ : state) {
        const auto t0 = std::chrono::steady_clock::now();
        body();
        benchmark::ClobberMemory();
        own += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        tally.probe(ops);
    }
    const double iterations = static_cast<double>(std::max<benchmark::IterationCount>(state.iterations(), 1));
    set_rate_counters(state, name, ops, own / iterations, tally.per_second());
}

void register_gemm_u8s8() {
    for (const auto& entry : lanes::tables::gemm_u8s8) {
        if (!lanes::usable(entry.level)) continue;
        for (const gemm_shape& s : square_shapes) {
            if (entry.level == isa::ref && s.m > 256) continue;
            // A kernel that takes only some problems (the small-M ones: m <= 16 and a transposed B) is
            // left out of the shapes it does not take, as the dispatcher would never give it them.
            if (entry.accepts != nullptr && !entry.accepts(lanes::gemm_u8s8_args{.m = s.m, .n = s.n, .k = s.k, .ldb = s.n, .requant = {}}))
                continue;
            const std::string name = std::string("gemm_u8s8/") + lanes::isa_name(entry.level) + "/" + s.label();
            benchmark::RegisterBenchmark(name.c_str(), [entry, s](benchmark::State& state) {
                std::vector<std::uint8_t> a(static_cast<std::size_t>(s.m * s.k), 200), c(static_cast<std::size_t>(s.m * s.n));
                std::vector<std::int8_t> b(static_cast<std::size_t>(s.k * s.n), -3);
                std::vector<float> scale(static_cast<std::size_t>(s.n), 1e-4f);
                const lanes::gemm_u8s8_args p{.m = s.m, .n = s.n, .k = s.k, .a = a.data(), .lda = s.k, .a_zero_point = 128,
                                              .b = b.data(), .ldb = s.n, .c = c.data(), .ldc = s.n,
                                              .requant = {.scale = scale.data(), .zero_point = 128}};
                timed_loop_against_peak(state, "GOP/s", 2.0 * static_cast<double>(s.m * s.n * s.k), entry.level, true,
                                        [&] { entry.run(p); });
            })->Unit(benchmark::kMicrosecond);
        }
    }
}

#if LANES_X86
// Packing an INT8 B for the vpdpbusd microkernels, in the order the driver uses when A is one block of
// rows (the M = 49 layers): 256 bytes of each row of B per pack_b call, the panels they cover
// (panels_packed_together with per_panel) spread apart as in the driver's buffer (panel_gap), every
// row of B visited once per call. Six ways over the same B, GB/s of B read, B staying in this core's
// caches between iterations as in the GEMM benchmarks:
//   lines       Micro::pack_b, 256 columns of B per call into spread panels (the driver's order)
//   two_lines   Micro::pack_b, 128 columns per call, panels back to back (the driver's order until the
//               panels were spread, 2026-12-06)
//   one_line    Micro::pack_b, 64 columns per call (the driver's order before that)
//   lines_read  the reads of `lines`, 256 bytes of each row, without the interleave (their memory cost)
//   rows_read   B read in row order, line after line (what a core reads when the order suits the prefetchers)
//   from_copy   Micro::pack_b of a k x 256 copy of one call's columns of B, in L1/L2 (its arithmetic cost)
// docs/gemm_u8s8.md ("What packing B first costs" and after) quotes these figures.
enum class pack_b_mode { lines, two_lines, one_line, lines_read, rows_read, from_copy };

// Reads the first `width` bytes (a multiple of 64) of `count` rows `stride` bytes apart, two ymm loads
// per 64-byte line into two independent xor chains, so that only the memory bounds it (every CPU with
// VNNI has AVX2).
__attribute__((target("avx2"))) std::uint64_t read_lines(const std::int8_t* p, std::int64_t count, std::int64_t stride,
                                                         std::int64_t width) {
    __m256i x0 = _mm256_setzero_si256(), x1 = _mm256_setzero_si256();
    for (std::int64_t i = 0; i < count; ++i, p += stride)
        for (std::int64_t at = 0; at < width; at += 64) {
            x0 = _mm256_xor_si256(x0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + at)));
            x1 = _mm256_xor_si256(x1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + at + 32)));
        }
    return static_cast<std::uint64_t>(_mm256_extract_epi64(_mm256_xor_si256(x0, x1), 0));
}

template <class Micro>
void register_pack_b_u8s8(isa level) {
    if (!lanes::usable(level)) return;
    using b_type = typename Micro::b_type;
    // The columns (bytes of a row of s8 B) one pack_b call of the driver covers, and one line of them.
    constexpr std::int64_t width = lanes::panels_packed_together<Micro>(true) * Micro::nr, line = 64;
    static_assert(width % line == 0, "read_lines reads whole 64-byte lines");
    struct b_shape {
        std::int64_t k, n;
        const char* layer;
    };
    for (const b_shape s : {b_shape{512, 2048, "resnet50.layer4.1x1b"}, b_shape{1024, 2048, "resnet50.layer4.down"},
                            b_shape{2048, 512, "resnet50.layer4.1x1c"}, b_shape{4608, 512, "resnet50.layer4.3x3"}}) {
        for (const pack_b_mode mode : {pack_b_mode::lines, pack_b_mode::two_lines, pack_b_mode::one_line, pack_b_mode::lines_read,
                                       pack_b_mode::rows_read, pack_b_mode::from_copy}) {
            const char* const mode_names[] = {"lines", "two_lines", "one_line", "lines_read", "rows_read", "from_copy"};
            const std::string name = std::string("pack_b_u8s8/") + lanes::isa_name(level) + "/" + std::to_string(s.k) + "x" +
                                     std::to_string(s.n) + "/" + s.layer + "/" + mode_names[static_cast<int>(mode)];
            benchmark::RegisterBenchmark(name.c_str(), [s, mode](benchmark::State& state) {
                std::vector<std::int8_t> b(static_cast<std::size_t>(s.k * s.n)), copy(static_cast<std::size_t>(s.k * width));
                for (std::size_t i = 0; i < b.size(); ++i) b[i] = static_cast<std::int8_t>(i * 7);
                // The driver's panel buffer: its panels panel_gap apart (lines), or back to back.
                const std::int64_t gap = mode == pack_b_mode::lines ? lanes::panel_gap<Micro>(true) : 0;
                const std::int64_t panel_stride = Micro::nr * lanes::round_up(s.k, Micro::k_group) + gap;
                std::vector<b_type> packed(static_cast<std::size_t>(width / Micro::nr * panel_stride));
                lanes::gemm_u8s8_args p;
                p.n = s.n;
                p.k = s.k;
                p.b = b.data();
                p.ldb = s.n;
                lanes::gemm_u8s8_args from_copy = p;
                from_copy.b = copy.data();
                from_copy.ldb = width;
                const std::int64_t step = mode == pack_b_mode::one_line ? line : mode == pack_b_mode::two_lines ? 2 * line : width;
                std::uint64_t sink = 0;
                const double seconds = timed_loop(state, [&] {
                    if (mode == pack_b_mode::rows_read) sink ^= read_lines(b.data(), s.k * s.n / line, line, line);
                    else
                        for (std::int64_t j = 0; j < s.n; j += step) {
                            if (mode == pack_b_mode::lines) Micro::pack_b(p, 0, j, s.k, step, packed.data(), panel_stride);
                            else if (mode == pack_b_mode::two_lines || mode == pack_b_mode::one_line) Micro::pack_b(p, 0, j, s.k, step, packed.data());
                            else if (mode == pack_b_mode::from_copy) Micro::pack_b(from_copy, 0, 0, s.k, width, packed.data());
                            else sink ^= read_lines(b.data() + j, s.k, s.n, width);
                        }
                    benchmark::DoNotOptimize(sink);
                    benchmark::DoNotOptimize(packed.data());
                });
                state.counters["GB/s"] = static_cast<double>(s.k * s.n) / seconds / 1e9;
            })->Unit(benchmark::kMicrosecond);
        }
    }
}
#endif

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
#if LANES_X86
    register_pack_b_u8s8<lanes::vnni::gemm_u8s8_14x32>(isa::avx512vnni);
    register_pack_b_u8s8<lanes::avxvnni::gemm_u8s8_6x16>(isa::avxvnni);
#endif
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
