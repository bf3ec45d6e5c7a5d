// lanes: the peak probe. Measures, on the calling core, what each instruction family can sustain:
//
//   fma_avx2, fma_avx512        FP32 FLOP/s of vfmadd231ps on ymm / zmm
//   maddubs_avx2, maddubs_avx512 INT8 op/s of vpmaddubsw + vpmaddwd + vpaddd on ymm / zmm (the
//                                usual sequence, which saturates; for comparison only)
//   madd16_avx2, madd16_avx512   INT8 op/s of vpmaddwd + vpaddd on 16-bit values, the exact scheme the
//                                AVX2 and AVX-512BW INT8 kernels use
//   vnni_avx, vnni_avx512        INT8 op/s of vpdpbusd on ymm (AVX-VNNI) / zmm (AVX512-VNNI)
//   read                         single-core read bandwidth (bytes/s) over a buffer well beyond L3
//
// and the core clock, from a chain of dependent integer adds (one per cycle on every x86 core since
// the Pentium Pro), so every figure can also be stated per cycle. An INT8 "op" is one multiply or one
// add: a u8 x s8 multiply-add counts 2, as an FMA does. Each figure is the best of several runs of at
// least 20 ms: on a shared machine, the best run is the one least disturbed by other work.
// Figures whose ISA level is not usable here are left unmeasured, with the reason.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "cpu.hpp"
#if LANES_X86
#include "../avx2/peak.hpp"
#include "../avx512/peak.hpp"
#include "../vnni/peak.hpp"
#endif
#include "isa.hpp"

namespace lanes {

struct peak_figure {
    const char* name = "";
    isa level = isa::ref;    // the level whose instructions it measures
    bool measured = false;
    std::string why_not;     // when not measured
    double per_second = 0;   // ops (or bytes) per second
    double per_cycle = 0;    // per core clock cycle

    static peak_figure of(const char* name, isa level) {
        peak_figure figure;
        figure.name = name;
        figure.level = level;
        return figure;
    }
};

struct peak_report {
    double clock_hz = 0;
    peak_figure fma_avx2 = peak_figure::of("fp32 fma ymm", isa::avx2);
    peak_figure fma_avx512 = peak_figure::of("fp32 fma zmm", isa::avx512);
    peak_figure maddubs_avx2 = peak_figure::of("int8 vpmaddubsw+vpmaddwd ymm", isa::avx2);
    peak_figure maddubs_avx512 = peak_figure::of("int8 vpmaddubsw+vpmaddwd zmm", isa::avx512);
    peak_figure madd16_avx2 = peak_figure::of("int8 widened vpmaddwd ymm", isa::avx2);
    peak_figure madd16_avx512 = peak_figure::of("int8 widened vpmaddwd zmm", isa::avx512);
    peak_figure vnni_avx = peak_figure::of("int8 vpdpbusd ymm", isa::avxvnni);
    peak_figure vnni_avx512 = peak_figure::of("int8 vpdpbusd zmm", isa::avx512vnni);
    peak_figure read = peak_figure::of("memory read (bytes)", isa::ref);
};

// Reads `bytes` bytes at `data` once, in order, with the widest usable vector loads (a plain loop where
// there are none), and returns their sum. The read probe below times it over a buffer beyond L3; the
// GEMV benchmarks time it over the weights themselves, to compare a GEMV with a plain read of the same
// bytes at that size (bench/common.hpp, register_read).
inline std::uint64_t read_through(const void* data, std::int64_t bytes) {
    const auto* p = static_cast<const std::uint8_t*>(data);
#if LANES_X86
    if (usable(isa::avx512)) return avx512::read_loop(p, bytes);
    if (usable(isa::avx2)) return avx2::read_loop(p, bytes);
#endif
    std::uint64_t sum = 0;
    for (std::int64_t i = 0; i < bytes; ++i) sum += p[i];
    return sum;
}

namespace detail {

// Seconds of the best run of fn(iterations), with iterations grown until one run lasts >= 20 ms.
template <class Fn>
double best_seconds(Fn&& fn, std::int64_t& iterations, int runs = 5) {
    using clock = std::chrono::steady_clock;
    auto time_once = [&] {
        const auto start = clock::now();
        fn(iterations);
        return std::chrono::duration<double>(clock::now() - start).count();
    };
    double seconds = time_once();
    while (seconds < 0.02) {
        iterations *= 2;
        seconds = time_once();
    }
    for (int r = 1; r < runs; ++r) seconds = std::min(seconds, time_once());
    return seconds;
}

// 32 dependent register-to-register adds per iteration: one cycle each. (Not add-immediate: recent
// Intel cores fold chains of small immediate adds at rename, several per cycle.)
inline double measure_clock_hz() {
#if LANES_X86
    std::int64_t iterations = 1 << 16;
    const double seconds = best_seconds(
        [](std::int64_t n) {
            std::uint64_t value = 0, step = 1;
            for (std::int64_t i = 0; i < n; ++i) {
                __asm__ volatile(
                    ".rept 32\n\t"
                    "add %1, %0\n\t"
                    ".endr"
                    : "+r"(value), "+r"(step));
            }
        },
        iterations);
    return 32.0 * static_cast<double>(iterations) / seconds;
#else
    return 0;
#endif
}

// The compute probes: which figure each measures, the ops one iteration of its loop does, and the loop,
// which returns a value that depends on every op (so that none is optimised away).
struct compute_probe {
    peak_figure peak_report::*figure = nullptr;
    double ops_per_iteration = 0;
    double (*loop)(std::int64_t iterations) = nullptr;
};

inline const std::vector<compute_probe>& compute_probes() {
    static const std::vector<compute_probe> probes = {
#if LANES_X86
        {&peak_report::fma_avx2, avx2::peak_accumulators * 8 * 2.0, [](std::int64_t n) { return double(avx2::fma_peak_loop(n, 1e-3f)); }},
        {&peak_report::fma_avx512, avx512::peak_accumulators * 16 * 2.0, [](std::int64_t n) { return double(avx512::fma_peak_loop(n, 1e-3f)); }},
        {&peak_report::maddubs_avx2, avx2::maddubs_chains * 32 * 2.0, [](std::int64_t n) { return double(avx2::maddubs_peak_loop(n, 5)); }},
        {&peak_report::maddubs_avx512, avx512::maddubs_chains * 64 * 2.0, [](std::int64_t n) { return double(avx512::maddubs_peak_loop(n, 5)); }},
        {&peak_report::madd16_avx2, avx2::madd16_chains * 16 * 2.0, [](std::int64_t n) { return double(avx2::madd16_peak_loop(n, 5)); }},
        {&peak_report::madd16_avx512, avx512::madd16_chains * 32 * 2.0, [](std::int64_t n) { return double(avx512::madd16_peak_loop(n, 5)); }},
        {&peak_report::vnni_avx, 12 * 32 * 2.0, [](std::int64_t n) { return double(vnni::dpbusd_ymm_peak_loop(n, 5)); }},
        {&peak_report::vnni_avx512, 16 * 64 * 2.0, [](std::int64_t n) { return double(vnni::dpbusd_zmm_peak_loop(n, 5)); }},
#endif
    };
    return probes;
}

inline void measure_compute(peak_figure& figure, double clock_hz, const compute_probe& probe) {
    const std::string why = why_unusable(figure.level);
    if (!why.empty()) {
        figure.why_not = why;
        return;
    }
    std::int64_t iterations = 1 << 12;
    volatile double sink = 0;
    const double seconds = best_seconds([&](std::int64_t n) { sink = sink + probe.loop(n); }, iterations);
    figure.measured = true;
    figure.per_second = probe.ops_per_iteration * static_cast<double>(iterations) / seconds;
    figure.per_cycle = clock_hz > 0 ? figure.per_second / clock_hz : 0;
}

inline void measure_read(peak_figure& figure, double clock_hz, const cpu_info& c) {
#if LANES_X86
    // Four times the last-level cache, between 64 MiB and 1 GiB.
    const std::int64_t l3_bytes = static_cast<std::int64_t>(c.l3_kib) * 1024;
    const std::int64_t bytes = std::clamp<std::int64_t>(4 * l3_bytes, std::int64_t{64} << 20, std::int64_t{1} << 30);
    if (!usable(isa::avx2)) {
        figure.why_not = "needs the avx2 level";
        return;
    }
    std::unique_ptr<std::uint8_t[]> data(new std::uint8_t[static_cast<std::size_t>(bytes)]);
    for (std::int64_t i = 0; i < bytes; ++i) data[i] = static_cast<std::uint8_t>(i & 7);  // touch every page
    std::int64_t passes = 1;
    volatile std::uint64_t sink = 0;
    const double seconds = best_seconds(
        [&](std::int64_t n) {
            for (std::int64_t pass = 0; pass < n; ++pass) sink = sink + read_through(data.get(), bytes);
        },
        passes, 3);
    figure.measured = true;
    figure.per_second = static_cast<double>(bytes) * static_cast<double>(passes) / seconds;
    figure.per_cycle = clock_hz > 0 ? figure.per_second / clock_hz : 0;
#else
    (void)clock_hz;
    (void)c;
    figure.why_not = "not an x86 CPU";
#endif
}

}  // namespace detail

// Runs every probe now (about a second in all).
inline peak_report measure_peaks() {
    peak_report r;
#if LANES_X86
    r.clock_hz = detail::measure_clock_hz();
    for (const detail::compute_probe& probe : detail::compute_probes()) detail::measure_compute(r.*probe.figure, r.clock_hz, probe);
    detail::measure_read(r.read, r.clock_hz, cpu());
#else
    for (peak_figure* f : {&r.fma_avx2, &r.fma_avx512, &r.maddubs_avx2, &r.maddubs_avx512, &r.madd16_avx2, &r.madd16_avx512, &r.vnni_avx, &r.vnni_avx512, &r.read})
        f->why_not = "not an x86 CPU";
#endif
    return r;
}

// The peaks of this machine, measured once per process on first use.
inline const peak_report& machine_peaks() {
    static const peak_report report = measure_peaks();
    return report;
}

// The figure a kernel of `level` should be compared with: `int8` selects the INT8 instruction that
// level's INT8 kernels use (widened vpmaddwd below VNNI, vpdpbusd from avxvnni up). Null for the
// reference, which has no meaningful peak.
inline peak_figure peak_report::*peak_figure_for(isa level, bool int8) {
    switch (level) {
        case isa::ref: return nullptr;
        case isa::avx2: return int8 ? &peak_report::madd16_avx2 : &peak_report::fma_avx2;
        case isa::avxvnni: return int8 ? &peak_report::vnni_avx : &peak_report::fma_avx2;
        case isa::avx512: return int8 ? &peak_report::madd16_avx512 : &peak_report::fma_avx512;
        case isa::avx512vnni:
        case isa::amx: return int8 ? &peak_report::vnni_avx512 : &peak_report::fma_avx512;
    }
    return nullptr;
}

// The compute peak (ops/s) a kernel of `level` should be compared with (peak_figure_for); 0 when there
// is none or it was not measured.
inline double peak_ops_per_second(const peak_report& r, isa level, bool int8) {
    const auto figure = peak_figure_for(level, int8);
    return figure != nullptr && (r.*figure).measured ? (r.*figure).per_second : 0;
}

// What a caller of run_peak_probe (below) should ask for at least: 2^20 ops, about 5 us of zmm FMAs.
// Each call also pays a lookup, the loop's set-up and two clock reads, which on 64^3 (a quarter of its
// ops is 0.6 us of probe) made the probe read 6 % slow and pct_peak that much high.
inline constexpr double min_probe_ops = 1 << 20;

// Runs the probe loop of that same figure for at least `ops` ops, now, and returns how many it did: 0
// when there is no such figure or its level is not usable here. The benchmarks interleave it with the
// timed calls, so that a kernel is compared with the peak of the same moments (bench/common.hpp).
inline double run_peak_probe(isa level, bool int8, double ops) {
    const auto figure = peak_figure_for(level, int8);
    if (figure == nullptr || !why_unusable(level).empty()) return 0;
    for (const detail::compute_probe& probe : detail::compute_probes()) {
        if (probe.figure != figure) continue;
        const auto iterations = std::max<std::int64_t>(1, static_cast<std::int64_t>(ops / probe.ops_per_iteration + 1));
        volatile double sink = probe.loop(iterations);
        (void)sink;
        return probe.ops_per_iteration * static_cast<double>(iterations);
    }
    return 0;
}

// The peak of the same moments as a kernel's runs. After each run, probe(ops of that run) runs the probe
// loop of (level, int8) for a quarter of those ops (min_probe_ops at least) and times it; per_second()
// is the probe's rate over all those calls. The benchmarks (bench/common.hpp, bench_kernels.cpp) and
// `lanes bench --profile` (net/commands.hpp) compare their kernels with it rather than with the probe at
// start-up: the machines are shared and their speed drifts by 10-20 % over minutes.
class peak_tally {
public:
    peak_tally(isa level, bool int8) : level_(level), int8_(int8) {}

    void probe(double kernel_ops) {
        const auto start = std::chrono::steady_clock::now();
        ops_ += run_peak_probe(level_, int8_, std::max(kernel_ops / 4, min_probe_ops));
        seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    // Ops per second over the probes so far; 0 if none ran (no such figure, or not usable here).
    double per_second() const { return ops_ > 0 ? ops_ / seconds_ : 0; }
    isa level() const { return level_; }
    bool int8() const { return int8_; }

private:
    isa level_;
    bool int8_;
    double ops_ = 0, seconds_ = 0;
};

}  // namespace lanes
