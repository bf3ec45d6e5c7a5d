// FP32 GEMM and GEMV benchmarks, ours per ISA level and oneDNN / OpenBLAS on the same shapes.
//
// Names: gemm_f32/<contender>/<shape>, where contender is an ISA level of ours (the kernel dispatch
// picks under that cap), "packed" (ours with B prepacked, the network's case), "onednn" (dnnl_sgemm)
// or "openblas" (cblas_sgemm); shape is MxNxK with a tag (resnet50.layer3.3x3, alexnet.fc6, ...).
// gemv_f32/... are the fully connected layers at batch 1 (y = W x, W in PyTorch's [out][in] order;
// the peers get the same product as an M = 1 sgemm with B transposed), and gemv_f32/read/... reads W
// alone, once, in order (bench/common.hpp, register_read).
//
// Counters: GFLOP/s, pct_peak (share of this core's FMA peak for the contender's ISA, the probe run
// inside the same iterations, bench/common.hpp; the peers are held to the AVX-512 peak), GB/s and
// pct_read_bw for GEMV, and on every peer `ratio` = (peer time / our time) with ours at the best
// level, both timed alternately inside the same iteration so that a noisy neighbour slows both alike.
// Everything is single-threaded; the threads benchmark (gemm_f32_threads/...) reports 2 threads
// against 1, alternately, and must not be pinned to one core.
//
//     taskset -c 1 build/bench/bench_gemm_f32 --benchmark_repetitions=3 --benchmark_enable_random_interleaving
//         --benchmark_filter=-threads --benchmark_format=json > gemm_f32.json
//     /usr/bin/python3 bench/plot_gemm_f32.py gemm_f32.json docs/gemm_f32.png
#include <benchmark/benchmark.h>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(LANES_BENCH_DNNL)
#include <dnnl.h>
#endif
#if defined(LANES_BENCH_OPENBLAS)
#include <cblas.h>
#endif

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../lanes.hpp"
#include "common.hpp"

namespace {

using lanes::isa;
using namespace lanes::bench;

// The matrices of one shape, made the first time a selected benchmark runs (so a filtered run does not
// allocate and pack every shape at start-up) and shared by all contenders on that shape.
class workload {
public:
    explicit workload(const shape& s) : s_(s) {}

    const lanes::gemm_f32_args& args() { return made().args; }
    const lanes::packed_b_f32& packed() {
        if (!packed_) packed_ = std::make_unique<lanes::packed_b_f32>(lanes::pack_gemm_f32_b(args()));
        return *packed_;
    }
    // The fully connected layer at batch 1: y = W x with W = B (n x k), and the same product as the
    // 1 x n sgemm x^T W^T that the peers run.
    const lanes::gemv_f32_args& gemv() { return made().gemv; }
    const lanes::gemm_f32_args& gemv_as_gemm() { return made().gemv_as_gemm; }

private:
    struct matrices {
        aligned_vector<float> a, b, c, x, y;
        lanes::gemm_f32_args args, gemv_as_gemm;
        lanes::gemv_f32_args gemv;
        explicit matrices(const shape& s)
            : a(filled(s.m * s.k, 0.5f)), b(filled(s.k * s.n, 0.25f)), c(filled(s.m * s.n, 0.0f)), x(filled(s.k, 1.0f)),
              y(filled(s.n, 0.0f)) {
            args = {.m = s.m, .n = s.n, .k = s.k, .a = a.data(), .lda = s.k, .b = b.data(), .ldb = s.trans_b ? s.k : s.n,
                    .c = c.data(), .ldc = s.n, .trans_b = s.trans_b};
            gemv = {.rows = s.n, .cols = s.k, .a = b.data(), .lda = s.k, .x = x.data(), .y = y.data()};
            gemv_as_gemm = {.m = 1, .n = s.n, .k = s.k, .a = x.data(), .lda = s.k, .b = b.data(), .ldb = s.k, .c = y.data(),
                            .ldc = s.n, .trans_b = true};
        }
        static aligned_vector<float> filled(std::int64_t count, float value) { return aligned_vector<float>(static_cast<std::size_t>(count), value); }
    };
    matrices& made() {
        if (!made_) made_ = std::make_unique<matrices>(s_);
        return *made_;
    }
    shape s_;
    std::unique_ptr<matrices> made_;
    std::unique_ptr<lanes::packed_b_f32> packed_;
};

using runner = std::function<void(const lanes::gemm_f32_args&)>;

std::vector<std::pair<std::string, runner>> peers() {
    std::vector<std::pair<std::string, runner>> out;
#if defined(LANES_BENCH_DNNL)
    out.emplace_back("onednn", [](const lanes::gemm_f32_args& p) {
        dnnl_sgemm('N', p.trans_b ? 'T' : 'N', p.m, p.n, p.k, p.alpha, p.a, p.lda, p.b, p.ldb, p.beta, p.c, p.ldc);
    });
#endif
#if defined(LANES_BENCH_OPENBLAS)
    out.emplace_back("openblas", [](const lanes::gemm_f32_args& p) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, p.trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(p.m), static_cast<int>(p.n),
                    static_cast<int>(p.k), p.alpha, p.a, static_cast<int>(p.lda), p.b, static_cast<int>(p.ldb), p.beta, p.c,
                    static_cast<int>(p.ldc));
    });
#endif
    return out;
}

void register_gemm() {
    const isa best = lanes::best_usable();
    for (const shape& s : all_gemm_shapes()) {
        auto w = std::make_shared<workload>(s);
        const double flops = 2.0 * static_cast<double>(s.m * s.n * s.k);
        for (isa level : lanes::all_isas) {
            if (!lanes::usable(level) || level > isa::avx512) continue;
            if (level == isa::avxvnni) continue;  // same FP32 kernels as avx2
            if (level == isa::ref && flops > 2.2e9) continue;  // the portable kernel on SSE2: the small squares say enough
            register_pair("gemm_f32/" + std::string(lanes::isa_name(level)) + "/" + s.label(),
                          [w, level] { lanes::kernels::gemm_f32.run_at(level, w->args()); }, nullptr, flops, 0, fma_peak(level));
        }
        // Packed for the best kernel under the cap, which is what the run reports against.
        register_pair("gemm_f32/packed/" + s.label(), [w] { lanes::gemm_f32_packed(w->args(), w->packed()); }, nullptr, flops, 0,
                      fma_peak(best));
        for (const auto& peer : peers())  // named members: Clang 14 cannot capture structured bindings
            register_pair("gemm_f32/" + peer.first + "/" + s.label(), [w, run = peer.second] { run(w->args()); },
                          [w, best] { lanes::kernels::gemm_f32.run_at(best, w->args()); }, flops, 0, fma_peak(isa::avx512));
    }
}

void register_gemv() {
    const isa best = lanes::best_usable();
    for (const shape& s : fc_shapes) {
        auto w = std::make_shared<workload>(s);
        const double flops = 2.0 * static_cast<double>(s.n * s.k), bytes = 4.0 * static_cast<double>(s.n * s.k);
        const std::string label = std::to_string(s.n) + "x" + std::to_string(s.k) + "/" + s.tag;
        for (isa level : lanes::all_isas) {
            if (!lanes::usable(level) || level > isa::avx512 || level == isa::avxvnni) continue;
            register_pair("gemv_f32/" + std::string(lanes::isa_name(level)) + "/" + label,
                          [w, level] { lanes::kernels::gemv_f32.run_at(level, w->gemv()); }, nullptr, flops, bytes, fma_peak(level));
        }
        for (const auto& peer : peers())
            register_pair("gemv_f32/" + peer.first + "/" + label, [w, run = peer.second] { run(w->gemv_as_gemm()); },
                          [w, best] { lanes::kernels::gemv_f32.run_at(best, w->gemv()); }, flops, bytes, fma_peak(isa::avx512));
        register_read("gemv_f32/read/" + label, [w] { return w->gemv().a; }, bytes,
                      [w, best] { lanes::kernels::gemv_f32.run_at(best, w->gemv()); });
    }
}

// 2 threads against 1 on the largest square, alternately (not pinned: it needs both cores).
void register_threads() {
#if defined(_OPENMP)
    const isa best = lanes::best_usable();
    const shape s{"square", 2048, 2048, 2048};
    auto w = std::make_shared<workload>(s);
    const lanes::gemm_f32_args probe{.m = s.m, .n = s.n, .k = s.k};  // kernel_at looks at the shape only
    register_pair(std::string("gemm_f32_threads/") + lanes::kernels::gemm_f32.kernel_at(best, probe).name + "/2_vs_1/" + s.label(),
                  [w, best] { omp_set_num_threads(2); lanes::kernels::gemm_f32.run_at(best, w->args()); omp_set_num_threads(1); },
                  [w, best] { lanes::kernels::gemm_f32.run_at(best, w->args()); }, 2.0 * 2048.0 * 2048.0 * 2048.0, 0,
                  peak_of{best, false, 2}, true);
#endif
}

}  // namespace

int main(int argc, char** argv) {
#if defined(_OPENMP)
    omp_set_num_threads(1);  // single-threaded figures; oneDNN follows OpenMP's setting too
#endif
#if defined(LANES_BENCH_OPENBLAS)
    openblas_set_num_threads(1);
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    add_peak_context({&lanes::machine_peaks().fma_avx2, &lanes::machine_peaks().fma_avx512, &lanes::machine_peaks().read});
    register_gemm();
    register_gemv();
    register_threads();
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
