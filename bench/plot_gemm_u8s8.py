#!/usr/bin/python3
"""Turns bench_gemm_u8s8's Google Benchmark JSON into a PNG and the Markdown tables of docs/gemm_u8s8.md.

    /usr/bin/python3 bench/plot_gemm_u8s8.py docs/gemm_u8s8.png uncapped.json [capped_<level>.json ...] > tables.md

uncapped.json is the run without --onednn_isa (every level of ours, oneDNN uncapped); each capped file
is one run with --onednn_isa=<level>. Every figure is the median over the run's repetitions; a ratio
is oneDNN's time over ours, both timed alternately inside each iteration (above 1: ours is faster).
"""
import collections
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plot_gemm_f32 import geomean, load  # noqa: E402

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

LEVELS = ["avx2", "avxvnni", "avx512", "avx512vnni"]
INSTRUCTION = {"avx2": "widened vpmaddwd ymm", "avxvnni": "vpdpbusd ymm", "avx512": "widened vpmaddwd zmm",
               "avx512vnni": "vpdpbusd zmm"}


def by_shape(medians, op):
    table = collections.defaultdict(dict)  # (shape, tag) -> contender -> counters
    for name, counters in medians.items():
        parts = name.split("/")
        if parts[0] != op:
            continue
        if parts[1] == "f32_vs":  # gemv_u8s8/f32_vs/<level>/<shape>/<tag>
            table[(parts[3], parts[4])]["f32_vs/" + parts[2]] = counters
        else:
            table[(parts[2], parts[3])][parts[1]] = counters
    return table


def fmt(value, digits=0):
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: plot_gemm_u8s8.py out.png uncapped.json [capped.json ...]")
    png, uncapped_path, capped_paths = sys.argv[1], sys.argv[2], sys.argv[3:]
    uncapped, context = load(uncapped_path)
    gemm = by_shape(uncapped, "gemm_u8s8")
    gemv = by_shape(uncapped, "gemv_u8s8")
    levels = [lv for lv in LEVELS if any(lv in c for c in gemm.values())]

    print("### GEMM, every level of ours and oneDNN uncapped (GOP/s, % of the level's instruction peak, probed inside the "
          "same iterations)\n")
    print("| shape | " + " | ".join(f"{lv}" for lv in levels) + " | packed | oneDNN | ours / oneDNN |")
    print("|---|" + "---:|" * (len(levels) + 3))
    ratios = []
    for (shape, tag), row in gemm.items():
        cells = [f"{fmt(row.get(lv, {}).get('GOP/s'))} ({fmt(row.get(lv, {}).get('pct_peak'))} %)" for lv in levels]
        packed = row.get("packed", {})
        peer = row.get("onednn", {})
        ratio = peer.get("ratio")
        if ratio:
            ratios.append(ratio)
        print(f"| {shape} {tag} | " + " | ".join(cells) + f" | {fmt(packed.get('GOP/s'))} ({fmt(packed.get('pct_peak'))} %) | "
              f"{fmt(peer.get('GOP/s'))} | {fmt(ratio, 2)} |")
    print(f"\nGeometric mean of ours (best level) / oneDNN uncapped: {geomean(ratios):.2f}x over {len(ratios)} shapes.\n")

    capped = {}
    for path in capped_paths:
        medians, ctx = load(path)
        level = ctx.get("onednn isa cap", os.path.basename(path))
        capped[level] = by_shape(medians, "gemm_u8s8"), by_shape(medians, "gemv_u8s8")
    if capped:
        print("### Like for like: each level of ours against oneDNN capped to the same ISA (ratio, above 1: ours faster)\n")
        cap_levels = [lv for lv in LEVELS if lv in capped]
        print("| shape | " + " | ".join(f"{lv} vs oneDNN@{lv}" for lv in cap_levels) + " |")
        print("|---|" + "---:|" * len(cap_levels))
        shapes = list(capped[cap_levels[0]][0].keys())
        per_level = collections.defaultdict(list)
        for key in shapes:
            cells = []
            for lv in cap_levels:
                r = capped[lv][0].get(key, {}).get("onednn@" + lv, {}).get("ratio")
                if r:
                    per_level[lv].append(r)
                cells.append(fmt(r, 2))
            print(f"| {key[0]} {key[1]} | " + " | ".join(cells) + " |")
        print("| **geometric mean** | " + " | ".join(f"**{geomean(per_level[lv]):.2f}**" for lv in cap_levels) + " |")
        print("| shapes below 0.9 | " + " | ".join(str(sum(r < 0.9 for r in per_level[lv])) for lv in cap_levels) + " |\n")

    print("### GEMV (batch-1 fully connected layers, y = W x)\n")
    print("| layer | " + " | ".join(f"{lv} GB/s" for lv in levels) + " | reading W alone, GB/s | best level / reading W | "
          "oneDNN / reading W | INT8 / FP32 speed-up (" + ", ".join(levels) + ") | ours / oneDNN | packed W, GB/s | "
          "packed / reading its panels | packed / oneDNN |")
    print("|---|" + "---:|" * (len(levels) + 8))
    for (shape, tag), row in gemv.items():
        bw = [f"{fmt(row.get(lv, {}).get('GB/s'), 1)} ({fmt(row.get(lv, {}).get('pct_read_bw'))} %)" for lv in levels]
        speedups = ", ".join(fmt(row.get("f32_vs/" + lv, {}).get("ratio"), 2) for lv in levels)
        read = row.get("read", {})
        onednn = row.get("onednn", {}).get("ratio")
        # oneDNN's share of the read speed, from two ratios to our time measured in separate benchmarks.
        theirs = read["ratio"] / onednn if read.get("ratio") and onednn else None
        packed = row.get("packed", {}).get("GB/s")
        onednn_bw = row.get("onednn", {}).get("GB/s")
        print(f"| {shape} {tag} | " + " | ".join(bw) + f" | {fmt(read.get('GB/s'), 1)} | {fmt(read.get('ratio'), 2)} | "
              f"{fmt(theirs, 2)} | {speedups} | {fmt(onednn, 2)} | {fmt(packed, 1)} | "
              f"{fmt(row.get('packed_read', {}).get('ratio'), 2)} | {fmt(packed / onednn_bw if packed and onednn_bw else None, 2)} |")
    print("\n(% of the single-core read bandwidth probe, a buffer beyond L3, in parentheses. \"Reading W alone\" streams "
          "the same weights once at the same size, alternately with our best level; the shares are its time over theirs. "
          "\"Packed W\" is the layer as the network runs it: W packed once for our best level's GEMM (pack_gemm_u8s8_b), "
          "one row of A; its GB/s count W's n x k bytes, and its share is the time of a plain read of the packed panels, "
          "alternately, over its own. Packed / oneDNN divides two rates measured in separate benchmarks.)")

    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [1, 2]})
    squares = sorted((k for k in gemm if k[1] == "square"), key=lambda k: int(k[0].split("x")[0]))
    sizes = [int(k[0].split("x")[0]) for k in squares]
    for contender in levels + ["onednn"]:
        ys = [gemm[k].get(contender, {}).get("GOP/s", float("nan")) for k in squares]
        left.plot(sizes, ys, marker="o", label="oneDNN (uncapped)" if contender == "onednn" else f"{contender} ({INSTRUCTION[contender]})")
    for key, value in context.items():
        if key.startswith("lanes peak int8") and value.endswith("G/s") and ("vpdpbusd zmm" in key or "widened" in key):
            left.axhline(float(value.split()[0]), linestyle="--", color="grey", linewidth=0.8)
            left.text(sizes[0] if sizes else 64, float(value.split()[0]), key.replace("lanes peak ", "peak: "), va="bottom", fontsize=7)
    left.set_xscale("log", base=2)
    left.set_xlabel("M = N = K")
    left.set_ylabel("GOP/s (one core)")
    left.set_title("INT8 GEMM, squares")
    left.legend(fontsize=8)
    if capped:
        cap_levels = [lv for lv in LEVELS if lv in capped]
        shapes = list(capped[cap_levels[0]][0].keys())
        width = 0.8 / len(cap_levels)
        for i, lv in enumerate(cap_levels):
            ys = [capped[lv][0].get(k, {}).get("onednn@" + lv, {}).get("ratio", float("nan")) for k in shapes]
            right.bar([x + i * width for x in range(len(shapes))], ys, width, label=f"{lv} vs oneDNN@{lv}")
        right.axhline(1.0, color="black", linewidth=0.8)
        right.set_xticks([x + 0.4 for x in range(len(shapes))])
        right.set_xticklabels([f"{t} {s}" for s, t in shapes], rotation=90, fontsize=6)
        right.set_ylabel("oneDNN time / our time")
        right.set_title("Like for like: oneDNN capped to the same ISA")
        right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    main()
