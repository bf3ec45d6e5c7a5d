// INT8 GEMM and GEMV benchmarks: ours per ISA level and oneDNN's dnnl_gemm_u8s8s32 on the same shapes.
//
// Names: gemm_u8s8/<contender>/<shape> with contender an ISA level of ours (the kernel dispatch picks
// under that cap), "packed" (ours with B prepacked at the best level, the network's case), or the peer
// "onednn@<level>" (oneDNN capped to the ISA matching our level) / "onednn" (uncapped). Shapes are the
// FP32 benchmark's (bench/common.hpp). gemv_u8s8/... are the fully connected layers at batch 1
// (y = W x, W in PyTorch's [out][in] order), and gemv_u8s8/f32_vs/<level>/... times the FP32 GEMV of
// the same layer against ours, so its ratio is the INT8 speed-up over FP32; gemv_u8s8/read/... reads W
// alone, once, in order (bench/common.hpp, register_read).
//
// Both compute C = (A - za) * B into int32 (our requant.out = s32, oneDNN's offsetc 'F' with co = 0),
// single-threaded. oneDNN's ISA can be capped only once per process, so a capped comparison is one
// run per level:
//
//     taskset -c 1 build/bench/bench_gemm_u8s8 --onednn_isa=avx512vnni   # ours at avx512vnni vs oneDNN
//                                                                        # capped at AVX512_CORE_VNNI
//     taskset -c 1 build/bench/bench_gemm_u8s8                           # every level of ours, oneDNN uncapped
//
// --onednn_isa takes avx2, avxvnni, avx512 or avx512vnni (oneDNN's AVX2, AVX2_VNNI, AVX512_CORE,
// AVX512_CORE_VNNI). Counters: GOP/s (a multiply-add is 2 ops), pct_peak (of the peak of the
// instruction the level's kernels use, probed inside the same iterations: bench/common.hpp), GB/s
// and pct_read_bw for GEMV, ratio = peer time / our time (above 1: ours is faster). tools/run
// gemm-u8s8-report runs them all and bench/plot_gemm_u8s8.py draws docs/gemm_u8s8.png and the table
// of docs/gemm_u8s8.md.
#include <benchmark/benchmark.h>

#if defined(_OPENMP)
#include <omp.h>
#endif
#if defined(LANES_BENCH_DNNL)
#include <dnnl.h>
#endif

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "../lanes.hpp"
#include "common.hpp"

namespace {

using lanes::isa;
using namespace lanes::bench;

// The matrices of one shape, made on first use (a filtered run touches only what it runs).
class workload {
public:
    explicit workload(const shape& s) : s_(s) {}

    const lanes::gemm_u8s8_args& args() { return made().args; }
    const lanes::packed_b_u8s8& packed() {
        if (!packed_) packed_ = std::make_unique<lanes::packed_b_u8s8>(lanes::pack_gemm_u8s8_b(args()));
        return *packed_;
    }
    const lanes::gemv_u8s8_args& gemv() { return made().gemv; }
    const lanes::gemv_f32_args& gemv_f32() { return made().gemv_f32; }
    // The batch-1 layer as the 1 x n product x^T W^T, for oneDNN and for ours on a prepacked W.
    const lanes::gemm_u8s8_args& gemv_as_gemm() { return made().gemv_as_gemm; }
    const lanes::packed_b_u8s8& packed_w() {
        if (!packed_w_) packed_w_ = std::make_unique<lanes::packed_b_u8s8>(lanes::pack_gemm_u8s8_b(gemv_as_gemm()));
        return *packed_w_;
    }

private:
    struct matrices {
        aligned_vector<std::uint8_t> a, x;
        aligned_vector<std::int8_t> b;
        aligned_vector<std::int32_t> c, y;
        aligned_vector<float> wf, xf, yf;
        lanes::gemm_u8s8_args args, gemv_as_gemm;
        lanes::gemv_u8s8_args gemv;
        lanes::gemv_f32_args gemv_f32;
        explicit matrices(const shape& s)
            : a(static_cast<std::size_t>(s.m * s.k), 3), x(static_cast<std::size_t>(s.k), 5), b(static_cast<std::size_t>(s.k * s.n), -7),
              c(static_cast<std::size_t>(s.m * s.n)), y(static_cast<std::size_t>(s.n)) {
            const lanes::requant_params to_s32{.out = lanes::dtype::s32};
            args = {.m = s.m, .n = s.n, .k = s.k, .a = a.data(), .lda = s.k, .b = b.data(), .ldb = s.trans_b ? s.k : s.n,
                    .trans_b = s.trans_b, .c = c.data(), .ldc = s.n, .requant = to_s32};
            gemv = {.n = s.n, .k = s.k, .w = b.data(), .ldw = s.k, .x = x.data(), .y = y.data(), .requant = to_s32};
            gemv_as_gemm = {.m = 1, .n = s.n, .k = s.k, .a = x.data(), .lda = s.k, .b = b.data(), .ldb = s.k, .trans_b = true,
                            .c = y.data(), .ldc = s.n, .requant = to_s32};
            if (s.trans_b) {  // a fully connected layer: its FP32 GEMV, for the INT8 / FP32 ratio
                wf.assign(static_cast<std::size_t>(s.n * s.k), 0.25f);
                xf.assign(static_cast<std::size_t>(s.k), 1.0f);
                yf.assign(static_cast<std::size_t>(s.n), 0.0f);
                gemv_f32 = {.rows = s.n, .cols = s.k, .a = wf.data(), .lda = s.k, .x = xf.data(), .y = yf.data()};
            }
        }
    };
    matrices& made() {
        if (!made_) made_ = std::make_unique<matrices>(s_);
        return *made_;
    }
    shape s_;
    std::unique_ptr<matrices> made_;
    std::unique_ptr<lanes::packed_b_u8s8> packed_, packed_w_;
};

#if defined(LANES_BENCH_DNNL)
void onednn_gemm(const lanes::gemm_u8s8_args& p) {
    const std::int32_t co = 0;
    dnnl_gemm_u8s8s32('N', p.trans_b ? 'T' : 'N', 'F', p.m, p.n, p.k, 1.0f, p.a, p.lda, static_cast<std::uint8_t>(p.a_zero_point),
                      p.b, p.ldb, 0, 0.0f, static_cast<std::int32_t*>(p.c), p.ldc, &co);
}

// oneDNN's name for the ISA of our level.
std::optional<dnnl_cpu_isa_t> onednn_isa_of(isa level) {
    switch (level) {
        case isa::avx2: return dnnl_cpu_isa_avx2;
        case isa::avxvnni: return dnnl_cpu_isa_avx2_vnni;
        case isa::avx512: return dnnl_cpu_isa_avx512_core;
        case isa::avx512vnni: return dnnl_cpu_isa_avx512_core_vnni;
        default: return std::nullopt;
    }
}
#endif

// The levels of ours that have INT8 kernels and are usable here.
std::vector<isa> int8_levels() {
    std::vector<isa> out;
    for (isa level : {isa::avx2, isa::avxvnni, isa::avx512, isa::avx512vnni})
        if (lanes::usable(level)) out.push_back(level);
    return out;
}

// `capped`: ours at that level against oneDNN capped to match. Otherwise: every level of ours, packed,
// and oneDNN uncapped against our best.
void register_all(std::optional<isa> capped) {
    const isa best = capped ? *capped : lanes::best_usable();
    const std::vector<isa> levels = capped ? std::vector<isa>{*capped} : int8_levels();
    const std::string peer = capped ? std::string("onednn@") + lanes::isa_name(*capped) : "onednn";
    for (const shape& s : all_gemm_shapes()) {
        auto w = std::make_shared<workload>(s);
        const double ops = 2.0 * static_cast<double>(s.m * s.n * s.k);
        for (isa level : levels)
            register_pair("gemm_u8s8/" + std::string(lanes::isa_name(level)) + "/" + s.label(),
                          [w, level] { lanes::kernels::gemm_u8s8.run_at(level, w->args()); }, nullptr, ops, 0, int8_peak(level), false, "GOP/s");
        if (!capped)
            register_pair("gemm_u8s8/packed/" + s.label(), [w] { lanes::gemm_u8s8_packed(w->args(), w->packed()); }, nullptr, ops, 0,
                          int8_peak(best), false, "GOP/s");
#if defined(LANES_BENCH_DNNL)
        register_pair("gemm_u8s8/" + peer + "/" + s.label(), [w] { onednn_gemm(w->args()); },
                      [w, best] { lanes::kernels::gemm_u8s8.run_at(best, w->args()); }, ops, 0, int8_peak(best), false, "GOP/s");
#endif
    }
    for (const shape& s : fc_shapes) {
        auto w = std::make_shared<workload>(s);
        const double ops = 2.0 * static_cast<double>(s.n * s.k), bytes = static_cast<double>(s.n * s.k);
        const std::string label = std::to_string(s.n) + "x" + std::to_string(s.k) + "/" + s.tag;
        for (isa level : levels) {
            register_pair("gemv_u8s8/" + std::string(lanes::isa_name(level)) + "/" + label,
                          [w, level] { lanes::kernels::gemv_u8s8.run_at(level, w->gemv()); }, nullptr, ops, bytes, int8_peak(level), false, "GOP/s");
            if (!capped) {
                // The FP32 GEMV at the FP32 level of the same vector width, against ours.
                const isa f32_level = level >= isa::avx512 ? isa::avx512 : isa::avx2;
                register_pair("gemv_u8s8/f32_vs/" + std::string(lanes::isa_name(level)) + "/" + label,
                              [w, f32_level] { lanes::kernels::gemv_f32.run_at(f32_level, w->gemv_f32()); },
                              [w, level] { lanes::kernels::gemv_u8s8.run_at(level, w->gemv()); }, ops, 4 * bytes, peak_of{}, false, "GOP/s");
            }
        }
        if (!capped) {
            register_read("gemv_u8s8/read/" + label, [w] { return w->gemv().w; }, bytes,
                          [w, best] { lanes::kernels::gemv_u8s8.run_at(best, w->gemv()); });
            // The layer as the network runs it: W packed once for our best level's GEMM, one row of A
            // (GB/s counts W's n x k bytes), and a plain read of the packed panels against it.
            auto packed_gemv = [w] { lanes::gemm_u8s8_packed(w->gemv_as_gemm(), w->packed_w()); };
            register_pair("gemv_u8s8/packed/" + label, packed_gemv, nullptr, ops, bytes, int8_peak(best), false, "GOP/s");
            register_read("gemv_u8s8/packed_read/" + label, [w] { return w->packed_w().panels<std::int8_t>(0, 0); },
                          static_cast<double>(w->packed_w().panel_bytes()), packed_gemv);
        }
#if defined(LANES_BENCH_DNNL)
        register_pair("gemv_u8s8/" + peer + "/" + label, [w] { onednn_gemm(w->gemv_as_gemm()); },
                      [w, best] { lanes::kernels::gemv_u8s8.run_at(best, w->gemv()); }, ops, bytes, int8_peak(best), false, "GOP/s");
#endif
    }
}

// Takes --onednn_isa=LEVEL out of the arguments (before Google Benchmark sees them).
std::optional<isa> take_onednn_isa(int& argc, char** argv) {
    std::optional<isa> level;
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        const char* flag = "--onednn_isa=";
        if (std::strncmp(argv[i], flag, std::strlen(flag)) != 0) {
            argv[out++] = argv[i];
            continue;
        }
        const char* name = argv[i] + std::strlen(flag);
        level = lanes::isa_from_name(name);
        if (!level || *level == isa::ref || *level == isa::amx) {
            std::fprintf(stderr, "--onednn_isa: '%s' is not one of avx2, avxvnni, avx512, avx512vnni\n", name);
            std::exit(2);
        }
        if (!lanes::usable(*level)) {
            std::fprintf(stderr, "--onednn_isa: %s is not usable here (%s)\n", name, lanes::why_unusable(*level).c_str());
            std::exit(2);
        }
    }
    argc = out;
    return level;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(_OPENMP)
    omp_set_num_threads(1);  // single-threaded figures; oneDNN follows OpenMP's setting too
#endif
    const std::optional<isa> capped = take_onednn_isa(argc, argv);
#if defined(LANES_BENCH_DNNL)
    if (capped && dnnl_set_max_cpu_isa(*onednn_isa_of(*capped)) != dnnl_success) {
        std::fprintf(stderr, "oneDNN refused the ISA cap %s\n", lanes::isa_name(*capped));
        return 2;
    }
#endif
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    const lanes::peak_report& r = lanes::machine_peaks();
    add_peak_context({&r.madd16_avx2, &r.madd16_avx512, &r.maddubs_avx2, &r.maddubs_avx512, &r.vnni_avx, &r.vnni_avx512, &r.read});
#if defined(LANES_BENCH_DNNL)
    benchmark::AddCustomContext("onednn isa cap", capped ? lanes::isa_name(*capped) : "none");
#endif
    register_all(capped);
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
}
