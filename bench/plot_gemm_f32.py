#!/usr/bin/python3
"""Turns bench_gemm_f32's Google Benchmark JSON into a PNG and a Markdown table.

    /usr/bin/python3 bench/plot_gemm_f32.py gemm_f32.json docs/gemm_f32.png [threads.json] > table.md

Every figure is the median over the repetitions of the run. A peer's `ratio` is our time over theirs
measured alternately inside each iteration (bench_gemm_f32.cpp), so the ratio is the number to quote
on a noisy machine; GFLOP/s are shown to give the scale.
"""
import collections
import json
import math
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

CONTENDERS = ["avx512", "avx2", "ref", "packed", "onednn", "openblas"]
LABELS = {"ref": "portable (xsimd, SSE2)", "packed": "avx512, B prepacked", "onednn": "oneDNN dnnl_sgemm",
          "openblas": "OpenBLAS cblas_sgemm"}


def load(path):
    with open(path) as f:
        data = json.load(f)
    runs = collections.defaultdict(lambda: collections.defaultdict(list))
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"].replace("/manual_time", "")
        for key in ("GFLOP/s", "GOP/s", "pct_peak", "ratio", "speedup", "GB/s", "pct_read_bw"):
            if key in b:
                runs[name][key].append(b[key])
    medians = {name: {k: statistics.median(v) for k, v in counters.items()} for name, counters in runs.items()}
    return medians, data.get("context", {})


def split(name):
    # op/contender/shape/tag
    op, contender, shape, tag = name.split("/", 3)
    return op, contender, shape, tag


def peak_lines(context):
    lines = {}
    for key, value in context.items():
        m = re.match(r"lanes peak (fp32 fma \w+)", key)
        if m and value.endswith("G/s"):
            lines[m.group(1)] = float(value.split()[0])
    return lines


def geomean(values):
    values = [v for v in values if v > 0]
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: plot_gemm_f32.py gemm_f32.json out.png [threads.json]")
    medians, context = load(sys.argv[1])
    by_shape = collections.defaultdict(dict)  # (op, shape, tag) -> contender -> counters
    for name, counters in medians.items():
        op, contender, shape, tag = split(name)
        by_shape[(op, shape, tag)][contender] = counters

    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [1, 2]})
    squares = sorted((k for k in by_shape if k[0] == "gemm_f32" and k[2] == "square"), key=lambda k: int(k[1].split("x")[0]))
    sizes = [int(k[1].split("x")[0]) for k in squares]
    for contender in CONTENDERS:
        ys = [by_shape[k].get(contender, {}).get("GFLOP/s", float("nan")) for k in squares]
        if not all(math.isnan(y) for y in ys):
            left.plot(sizes, ys, marker="o", label=LABELS.get(contender, contender))
    for label, value in peak_lines(context).items():
        left.axhline(value, linestyle="--", color="grey")
        left.text(sizes[0] if sizes else 64, value, f"measured peak, {label}", va="bottom", fontsize=8)
    left.set_xscale("log", base=2)
    left.set_xlabel("M = N = K")
    left.set_ylabel("GFLOP/s (one core, median)")
    left.set_title("Square SGEMM")
    left.legend(fontsize=8)

    named = [k for k in by_shape if k[0] == "gemm_f32" and k[2] != "square"]
    named.sort(key=lambda k: (k[2].split(".")[0], k[2]))
    xs = range(len(named))
    for contender in ["avx512", "packed", "onednn", "openblas"]:
        ys = [by_shape[k].get(contender, {}).get("GFLOP/s", float("nan")) for k in named]
        right.plot(xs, ys, marker="o", linestyle="none", label=LABELS.get(contender, contender))
    for label, value in peak_lines(context).items():
        right.axhline(value, linestyle="--", color="grey")
    right.set_xticks(list(xs))
    right.set_xticklabels([f"{k[2]} {k[1]}" for k in named], rotation=80, fontsize=7)
    right.set_ylabel("GFLOP/s (one core, median)")
    right.set_title("ResNet-50 / AlexNet im2col and FC (batch 16) shapes")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)

    # ---- Markdown tables ----
    peaks = peak_lines(context)
    print(f"Peaks probed at start-up (the plot's lines): " + ", ".join(f"{k} {v:.0f} GFLOP/s" for k, v in peaks.items())
          + ". % peak is against the probe run inside each timed iteration (bench/common.hpp).\n")
    print("| shape (M x N x K) | layer | avx512 GFLOP/s | % peak | avx2 % peak | prepacked GFLOP/s | vs oneDNN | vs OpenBLAS |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    ratios = collections.defaultdict(list)
    for k in squares + named:
        row = by_shape[k]
        ours = row.get("avx512", {})
        onednn = row.get("onednn", {}).get("ratio")
        openblas = row.get("openblas", {}).get("ratio")
        if onednn:
            ratios["onednn"].append(onednn)
        if openblas:
            ratios["openblas"].append(openblas)
        fmt = lambda v, f="{:.2f}": f.format(v) if v is not None else "-"  # noqa: E731
        print(f"| {k[1]} | {k[2]} | {fmt(ours.get('GFLOP/s'), '{:.0f}')} | {fmt(ours.get('pct_peak'), '{:.0f}')} | "
              f"{fmt(row.get('avx2', {}).get('pct_peak'), '{:.0f}')} | {fmt(row.get('packed', {}).get('GFLOP/s'), '{:.0f}')} | "
              f"{fmt(onednn)}x | {fmt(openblas)}x |")
    print(f"\nGeometric mean of (their time / our time) over the {len(ratios['onednn'])} shapes: "
          f"oneDNN {geomean(ratios['onednn']):.3f}x, OpenBLAS {geomean(ratios['openblas']):.3f}x; "
          f"lowest against oneDNN {min(ratios['onednn'], default=float('nan')):.2f}x.\n")

    gemv = sorted(k for k in by_shape if k[0] == "gemv_f32")
    if gemv:
        print("| GEMV (out x in) | layer | avx512 GB/s | % read probe | reading W alone, GB/s | ours / reading W | "
              "oneDNN / reading W | avx2 GB/s | vs oneDNN (M=1 sgemm) | vs OpenBLAS |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        nan = float("nan")
        for k in gemv:
            row = by_shape[k]
            ours = row.get("avx512", {})
            read = row.get("read", {}).get("ratio", nan)
            onednn = row.get("onednn", {}).get("ratio", nan)
            # oneDNN's share of the read speed, from two ratios to our time measured in separate benchmarks.
            print(f"| {k[1]} | {k[2]} | {ours.get('GB/s', nan):.1f} | {ours.get('pct_read_bw', nan):.0f} | "
                  f"{row.get('read', {}).get('GB/s', nan):.1f} | {read:.2f} | {read / onednn:.2f} | "
                  f"{row.get('avx2', {}).get('GB/s', nan):.1f} | {onednn:.2f}x | {row.get('openblas', {}).get('ratio', nan):.2f}x |")
        print("\n% read probe: of the single-core read bandwidth probe, a buffer beyond L3. Reading W alone streams the "
              "same weights once at the same size, alternately with our best level; the shares are its time over theirs.\n")

    if len(sys.argv) > 3:
        threads, _ = load(sys.argv[3])
        for name, counters in threads.items():
            print(f"\n2 threads against 1 ({name}): {counters.get('speedup', float('nan')):.2f}x "
                  f"({counters.get('GFLOP/s', float('nan')):.0f} GFLOP/s with 2 threads)")


if __name__ == "__main__":
    main()
