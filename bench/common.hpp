// Shared pieces of the GEMM benchmarks: the shapes of the listed networks, the side-by-side timing
// harness (ours and a peer alternately inside each iteration, with a `ratio` counter) and the peak
// context. See bench_gemm_f32.cpp and bench_gemm_u8s8.cpp for how they are used.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "../lanes.hpp"

namespace lanes::bench {

using clock_type = std::chrono::steady_clock;

// The matrices of the benchmarks start on a cache line, as the network's tensors do (net/engine.hpp)
// and as oneDNN's own memory objects do: std::vector's 16-byte alignment would split a third of
// every row's 64-byte vector stores across two lines, for ours and the peers alike.
template <class T>
struct cache_aligned_allocator {
    using value_type = T;
    cache_aligned_allocator() = default;
    template <class U>
    cache_aligned_allocator(const cache_aligned_allocator<U>&) {}
    T* allocate(std::size_t count) { return static_cast<T*>(allocate_cache_aligned(count * sizeof(T))); }
    void deallocate(T* p, std::size_t) { std::free(p); }
    template <class U>
    bool operator==(const cache_aligned_allocator<U>&) const { return true; }
};
template <class T>
using aligned_vector = std::vector<T, cache_aligned_allocator<T>>;

struct shape {
    const char* tag;
    std::int64_t m, n, k;
    bool trans_b = false;  // B stored n x k (a fully connected layer's weights)
    std::string label() const {
        return std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) + (trans_b ? "t" : "") + "/" + tag;
    }
};

// im2col GEMM of every distinct convolution at batch 1: M = OH*OW, N = OC, K = IC*KH*KW.
inline const std::vector<shape> conv_shapes = {
    {"resnet50.conv1", 12544, 64, 147},          {"resnet50.layer1.1x1a", 3136, 64, 64},
    {"resnet50.layer1.3x3", 3136, 64, 576},      {"resnet50.layer1.1x1b", 3136, 256, 64},
    {"resnet50.layer1.1x1c", 3136, 64, 256},     {"resnet50.layer2.1x1a", 3136, 128, 256},
    {"resnet50.layer2.3x3", 784, 128, 1152},     {"resnet50.layer2.1x1b", 784, 512, 128},
    {"resnet50.layer2.down", 784, 512, 256},     {"resnet50.layer2.1x1c", 784, 128, 512},
    {"resnet50.layer3.1x1a", 784, 256, 512},     {"resnet50.layer3.3x3", 196, 256, 2304},
    {"resnet50.layer3.1x1b", 196, 1024, 256},    {"resnet50.layer3.down", 196, 1024, 512},
    {"resnet50.layer3.1x1c", 196, 256, 1024},    {"resnet50.layer4.1x1a", 196, 512, 1024},
    {"resnet50.layer4.3x3", 49, 512, 4608},      {"resnet50.layer4.1x1b", 49, 2048, 512},
    {"resnet50.layer4.down", 49, 2048, 1024},    {"resnet50.layer4.1x1c", 49, 512, 2048},
    {"alexnet.conv1", 3025, 64, 363},            {"alexnet.conv2", 729, 192, 1600},
    {"alexnet.conv3", 169, 384, 1728},           {"alexnet.conv4", 169, 256, 3456},
    {"alexnet.conv5", 169, 256, 2304},
};
// Fully connected layers: n = out features, k = in features.
inline const std::vector<shape> fc_shapes = {
    {"resnet50.fc", 1, 1000, 2048, true}, {"alexnet.fc6", 1, 4096, 9216, true},
    {"alexnet.fc7", 1, 4096, 4096, true}, {"alexnet.fc8", 1, 1000, 4096, true},
};

inline std::vector<shape> all_gemm_shapes() {
    std::vector<shape> out;
    for (std::int64_t s : {64, 128, 256, 512, 1024, 2048}) out.push_back({"square", s, s, s});
    out.insert(out.end(), conv_shapes.begin(), conv_shapes.end());
    for (shape s : fc_shapes) {
        s.m = 16;  // batch 16
        out.push_back(s);
    }
    return out;
}

inline double seconds_of(const std::function<void()>& f) {
    const auto start = clock_type::now();
    f();
    benchmark::ClobberMemory();
    return std::chrono::duration<double>(clock_type::now() - start).count();
}

// What a contender's rate is compared with (pct_peak): the peak probe of an ISA level, its FP32 FMA or,
// with int8, the INT8 instruction that level's kernels use (lanes::peak_figure_for), times `cores`.
// On one core the probe's loop runs inside each timed iteration, after the calls, for a quarter of the
// contender's ops (lanes::peak_tally): the machines are shared and their speed drifts by 10-20 % over
// minutes, so a peak measured once at start-up could come from a faster or slower moment than the
// kernel's. On several cores (the threads benchmark) it is the start-up figure times the cores.
struct peak_of {
    lanes::isa level = lanes::isa::ref;
    bool int8 = false;
    int cores = 1;
};
inline peak_of fma_peak(lanes::isa level) { return {level, false}; }
inline peak_of int8_peak(lanes::isa level) { return {level, true}; }

inline void set_rate(benchmark::State& state, const char* unit, double ops, double seconds, double peak_per_second) {
    if (ops <= 0) return;  // a contender that computes nothing (register_read)
    state.counters[unit] = ops / seconds / 1e9;
    if (peak_per_second > 0) state.counters["pct_peak"] = 100.0 * ops / seconds / peak_per_second;
}

inline void set_bandwidth(benchmark::State& state, double bytes, double seconds) {
    state.counters["GB/s"] = bytes / seconds / 1e9;
    const lanes::peak_figure& read = lanes::machine_peaks().read;
    if (read.measured) state.counters["pct_read_bw"] = 100.0 * bytes / seconds / read.per_second;
}

// One benchmark: `contender` and (when given) `ours` run alternately each iteration; the reported
// time and rates are the contender's, and `ratio` = contender time / our time (a peer's ratio above 1
// means ours is faster). The threads benchmark reports `speedup` = our 1-thread time / 2-thread time.
// `ops` counts a multiply-add as 2; `unit` names the rate counter ("GFLOP/s", "GOP/s"); the peak
// probe (peak_of, above) runs last in each iteration.
inline void register_pair(const std::string& name, const std::function<void()>& contender, const std::function<void()>& ours,
                          double ops, double bytes, peak_of peak, bool speedup = false, const char* unit = "GFLOP/s") {
    benchmark::RegisterBenchmark(name.c_str(), [=](benchmark::State& state) {
        double own = 0, reference = 0;
        const bool probe_here = peak.cores == 1 && ops > 0;
        lanes::peak_tally tally(peak.level, peak.int8);
        contender();  // warm-up: packing buffers, page faults, JIT
        if (ours) ours();
        for (auto _ : state) {
            const double t = seconds_of(contender);
            state.SetIterationTime(t);
            own += t;
            if (ours) reference += seconds_of(ours);
            if (probe_here) tally.probe(ops);
        }
        const double iterations = static_cast<double>(state.iterations());
        const double peak_per_second = probe_here ? tally.per_second()
                                                  : peak.cores * lanes::peak_ops_per_second(lanes::machine_peaks(), peak.level, peak.int8);
        set_rate(state, unit, ops, own / iterations, peak_per_second);
        if (bytes > 0) set_bandwidth(state, bytes, own / iterations);
        if (ours && !speedup) state.counters["ratio"] = own / reference;
        if (ours && speedup) state.counters["speedup"] = reference / own;
    })->UseManualTime()->Unit(benchmark::kMicrosecond);
}

// <op>/read/<shape>: reading the `bytes` bytes that data() returns once, in order (lanes::read_through),
// against `ours` alternately: what a plain sequential read of a GEMV's weights costs at their size, from
// whichever cache level or memory holds them between iterations. `ratio` = read time / our time, so
// below 1 ours is slower than that read; pct_read_bw compares both with the probe's buffer beyond L3.
template <class Data>
void register_read(const std::string& name, Data data, double bytes, const std::function<void()>& ours) {
    register_pair(name, [data, bytes] { benchmark::DoNotOptimize(lanes::read_through(data(), static_cast<std::int64_t>(bytes))); },
                  ours, 0, bytes, peak_of{});
}

// The clock and the peaks a binary's pct_peak counters refer to, in the JSON's context.
inline void add_peak_context(std::initializer_list<const lanes::peak_figure*> figures) {
    const lanes::peak_report& r = lanes::machine_peaks();
    benchmark::AddCustomContext("lanes clock (GHz)", std::to_string(r.clock_hz / 1e9));
    for (const lanes::peak_figure* f : figures)
        benchmark::AddCustomContext(std::string("lanes peak ") + f->name,
                                    f->measured ? std::to_string(f->per_second / 1e9) + " G/s" : "not measured: " + f->why_not);
}

}  // namespace lanes::bench
