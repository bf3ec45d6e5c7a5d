// lanes CLI: `lanes run`, `lanes bench` and `lanes calibrate` (the options are parsed in lanes_main.cpp).
#pragma once

#include <sys/resource.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "pipeline.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lanes::cli {

struct net_options {
    std::string net = "resnet50";
    std::string precision = "fp32";
    std::string weights;  // safetensors; empty: seeded
    std::string calib;    // calibration JSON; empty: calibrate now (int8)
    std::uint64_t seed = 0;
    int threads = 1;
    std::string isa;  // cap; empty: LANES_ISA or the best level
};

struct run_options {
    net_options common;
    std::vector<std::string> images;
    int top = 5;
    std::string dump;  // safetensors with the preprocessed input and the logits
};

struct bench_options {
    net_options common;
    std::int64_t batch = 1;
    double seconds = 3.0;
    bool profile = false;
};

struct calibrate_options {
    net_options common;
    std::string images;  // directory; empty: seeded random inputs
    std::int64_t random = 8;
    std::string out;
    std::string method = "percentile";
    double percentile = 99.99;
};

inline void apply_threads_and_isa(const net_options& o) {
    if (o.threads < 1) fail("--threads = ", o.threads, " must be at least 1");
#if defined(_OPENMP)
    omp_set_num_threads(o.threads);
#endif
    if (!o.isa.empty()) {
        const std::optional<isa> level = isa_from_name(o.isa);
        if (!level) fail("--isa: unknown ISA level '", o.isa, "'; valid levels are ", isa_choices());
        set_isa_cap(*level);
    }
}

// The INT8 calibration: from --calib, or computed now over `inputs` (with a note on stderr).
inline net::calibration calibration_for(const net_options& o, const net::network& network, net::weight_source& weights,
                                        const std::vector<float>& inputs, const char* what) {
    if (!o.calib.empty()) return net::calibration::load(o.calib, network);
    std::fprintf(stderr, "lanes: no --calib; calibrating on %s (percentile 99.99; `lanes calibrate` saves one)\n", what);
    return net::calibrate(network, weights, inputs, net::calibration_method::percentile, 99.99, net::print_progress);
}

inline int run(const run_options& o) {
    apply_threads_and_isa(o.common);
    const net::precision prec = net::precision_from_name(o.common.precision);
    const net::network network = net::network_by_name(o.common.net);
    if (o.top < 1) fail("--top = ", o.top, " must be at least 1");
    const std::vector<float> batch = net::load_batch(o.images);
    auto weights = net::open_weights(o.common.weights, network, o.common.seed);
    net::calibration calib;
    if (prec == net::precision::int8) calib = calibration_for(o.common, network, *weights, batch, "the images given");
    net::engine engine(network, *weights, {.prec = prec, .batch = static_cast<std::int64_t>(o.images.size()), .calib = &calib});
    const float* logits = engine.run(batch.data());
    const std::vector<std::string> labels = net::load_labels();
    for (std::size_t i = 0; i < o.images.size(); ++i) {
        std::printf("%s\n", o.images[i].c_str());
        const float* row = logits + static_cast<std::int64_t>(i) * network.classes;
        for (const net::ranked_class& c : net::top_k(row, network.classes, o.top)) {
            const std::string label = c.index < static_cast<std::int64_t>(labels.size()) ? labels[static_cast<std::size_t>(c.index)]
                                                                                          : "class " + std::to_string(c.index);
            std::printf("  %6.2f%%  %s (%lld)\n", 100.0 * c.probability, label.c_str(), static_cast<long long>(c.index));
        }
    }
    if (!o.dump.empty()) {
        const std::int64_t n = static_cast<std::int64_t>(o.images.size());
        net::write_safetensors(o.dump, {{"input", {n, net::crop_size, net::crop_size, 3}, batch.data()},
                                        {"logits", {n, network.classes}, logits}});
    }
    return 0;
}

inline double percentile_of(std::vector<double> values, double p) {
    std::sort(values.begin(), values.end());
    const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
    const std::size_t lo = static_cast<std::size_t>(rank);
    const std::size_t hi = std::min(lo + 1, values.size() - 1);
    return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

// Peak resident memory of this process so far, in bytes.
inline std::int64_t peak_rss_bytes() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<std::int64_t>(usage.ru_maxrss) * 1024;
}

// The peaks a profile compares with, probed alongside the runs: after each run, the probe loop of every
// (ISA level, FP32 or INT8) figure its layers ran at, for a quarter of those layers' ops, as the
// benchmarks do inside each iteration (docs/peak.md), so that % peak compares with the same moments
// rather than with the probe at start-up.
class peaks_alongside {
public:
    explicit peaks_alongside(const net::engine& engine) {
        for (const net::layer_profile& p : engine.profile()) {
            if (p.macs == 0 || peak_figure_for(p.level, p.int8) == nullptr) continue;
            auto it = std::find_if(figures_.begin(), figures_.end(), [&](const figure& f) { return f.is(p.level, p.int8); });
            if (it == figures_.end()) it = figures_.insert(figures_.end(), figure{peak_tally(p.level, p.int8)});
            it->ops_per_run += 2.0 * static_cast<double>(p.macs);
        }
    }
    void probe() {
        for (figure& f : figures_) f.tally.probe(f.ops_per_run);
    }
    // Ops per second of one core at that figure over the probes so far; 0 if it was never probed.
    double per_second(isa level, bool int8) const {
        for (const figure& f : figures_)
            if (f.is(level, int8)) return f.tally.per_second();
        return 0;
    }

private:
    struct figure {
        peak_tally tally;
        double ops_per_run = 0;
        bool is(isa level, bool int8) const { return tally.level() == level && tally.int8() == int8; }
    };
    std::vector<figure> figures_;
};

inline void print_profile(const net::engine& engine, const peaks_alongside& peaks, std::int64_t runs, double wall_seconds) {
    std::printf("\nPer layer (mean of %lld runs; %% of the measured peak for the kernel's ISA, probed alongside the "
                "runs, x threads)\n", static_cast<long long>(runs));
    std::printf("%-26s %-36s %9s %9s %8s %7s  %s\n", "layer", "shape", "ms", "other ms", "GFLOP/s", "% peak", "kernel");
    double kernel = 0, other = 0;
    const int threads =
#if defined(_OPENMP)
        omp_get_max_threads();
#else
        1;
#endif
    for (const net::layer_profile& p : engine.profile()) {
        const double k = p.kernel_seconds / static_cast<double>(runs), o = p.other_seconds / static_cast<double>(runs);
        kernel += k;
        other += o;
        const double rate = k > 0 ? 2.0 * static_cast<double>(p.macs) / k : 0.0;
        const double peak = peaks.per_second(p.level, p.int8) * threads;
        char pct[16] = "-";
        if (p.macs > 0 && peak > 0) std::snprintf(pct, sizeof pct, "%.0f", 100.0 * rate / peak);
        char gflops[16] = "-";
        if (p.macs > 0) std::snprintf(gflops, sizeof gflops, "%.1f", rate * 1e-9);
        std::printf("%-26s %-36s %9.3f %9.3f %8s %7s  %s\n", p.name.c_str(), p.what.c_str(), 1e3 * k, 1e3 * o, gflops, pct,
                    p.kernel.c_str());
    }
    const double wall = wall_seconds / static_cast<double>(runs);
    const double outside = std::max(0.0, wall - kernel);
    std::printf("\nper run: %.3f ms; in the GEMM and pool kernels %.3f ms; outside them %.3f ms (%.1f%%): "
                "patches and input quantization %.3f ms, the rest (dispatch, bookkeeping) %.3f ms\n",
                1e3 * wall, 1e3 * kernel, 1e3 * outside, 100.0 * outside / wall, 1e3 * other, 1e3 * std::max(0.0, outside - other));
}

inline int bench(const bench_options& o) {
    apply_threads_and_isa(o.common);
    if (o.batch < 1) fail("--batch = ", o.batch, " must be at least 1");
    if (!(o.seconds > 0)) fail("--seconds = ", o.seconds, " must be positive");
    const net::precision prec = net::precision_from_name(o.common.precision);
    const net::network network = net::network_by_name(o.common.net);
    auto weights = net::open_weights(o.common.weights, network, o.common.seed);
    const std::vector<float> inputs = net::random_batch(o.batch, o.common.seed);
    net::calibration calib;
    if (prec == net::precision::int8) {
        const std::vector<float> calibration_inputs = net::random_batch(4, o.common.seed + 1);
        calib = calibration_for(o.common, network, *weights, calibration_inputs, "4 seeded random inputs");
    }
    net::engine engine(network, *weights, {.prec = prec, .batch = o.batch, .calib = &calib});
    for (int i = 0; i < 2; ++i) engine.run(inputs.data());  // warm-up: per-thread GEMM scratch, caches

    std::vector<double> latencies;
    engine.set_profiling(o.profile);
    engine.reset_profile();
    peaks_alongside peaks(engine);
    const auto start = net::seconds_clock::now();
    while (latencies.size() < 5 || net::seconds_since(start) < o.seconds) {
        const auto t0 = net::seconds_clock::now();
        engine.run(inputs.data());
        latencies.push_back(net::seconds_since(t0));
        if (o.profile) peaks.probe();  // outside the latency; --seconds then holds fewer runs
    }
    double total = 0;
    for (double l : latencies) total += l;

    const net::memory_report memory = engine.memory();
    const double planned = static_cast<double>(memory.weight_bytes + memory.arena_bytes);
    std::printf("%s %s, batch %lld, %d thread%s, ISA cap %s, weights %s\n", network.name.c_str(), net::precision_name(prec),
                static_cast<long long>(o.batch), o.common.threads, o.common.threads == 1 ? "" : "s", isa_name(isa_cap()),
                weights->describe().c_str());
    std::printf("latency per batch (ms): p50 %.3f  p90 %.3f  p99 %.3f   (%zu runs)\n", 1e3 * percentile_of(latencies, 50),
                1e3 * percentile_of(latencies, 90), 1e3 * percentile_of(latencies, 99), latencies.size());
    std::printf("throughput: %.1f images/s   (%.1f GFLOP/s)\n", static_cast<double>(o.batch * static_cast<std::int64_t>(latencies.size())) / total,
                2.0 * static_cast<double>(network.macs_per_image() * o.batch) * static_cast<double>(latencies.size()) / total * 1e-9);
    std::printf("memory: weights %.1f MB + planned activations %.1f MB = %.1f MB; peak RSS %.1f MB (%.2fx)\n",
                memory.weight_bytes / 1e6, memory.arena_bytes / 1e6, planned / 1e6, peak_rss_bytes() / 1e6,
                static_cast<double>(peak_rss_bytes()) / planned);
    if (o.profile) print_profile(engine, peaks, static_cast<std::int64_t>(latencies.size()), total);
    return 0;
}

inline int calibrate(const calibrate_options& o) {
    apply_threads_and_isa(o.common);
    const net::network network = net::network_by_name(o.common.net);
    const net::calibration_method method = net::calibration_method_from_name(o.method);
    if (o.out.empty()) fail("--out is required");
    if (o.random < 1) fail("--random = ", o.random, " must be at least 1");
    auto weights = net::open_weights(o.common.weights, network, o.common.seed);
    const std::vector<float> inputs = o.images.empty() ? net::random_batch(o.random, o.common.seed + 1)
                                                       : net::load_batch(net::images_in(o.images));
    const net::calibration c = net::calibrate(network, *weights, inputs, method, o.percentile, net::print_progress);
    c.save(o.out);
    std::printf("%s: %zu tensor ranges of %s (%s) from %lld %s\n", o.out.c_str(), c.tensors.size(), network.name.c_str(),
                c.method.c_str(), static_cast<long long>(c.images), o.images.empty() ? "seeded random inputs" : "images");
    return 0;
}

}  // namespace lanes::cli
