// lanes: the blocked GEMM driver shared by every ISA (the five loops around the microkernel).
//
//   for jc in [0, n) step NC            columns of C and B; B's KC x NC panel is reused by all of A
//     for pc in [0, k) step KC          the depth; a block of B is packed into NR-column panels
//       for ic in [0, m) step MC        rows of C and A; A's MC x KC block is packed into MR-row panels
//         for jr in [0, NC) step NR       one NR-column panel of packed B (lives in L1 during the ir loop)
//           for ir in [0, MC) step MR       one MR x NR tile of C: Micro::tile(kc, A panel, B panel)
//
// (the jr and ir loops trade places when the block of B is small: rows_outer below).
//
// Everything specific to an instruction set lives in the microkernel type `Micro` (see
// docs/gemm_f32.md for the contract): its tile MR x NR, its packing of A and B, and `tile()`, which
// multiplies an MR x KC panel of A by a KC x NR panel of B and applies the epilogue in registers. The
// driver never touches a vector register; its packing buffers are zero-padded to whole panels, so a
// microkernel always runs a full tile and masks only its stores to C.
//
// Block sizes come from the cache sizes (the rule is choose_gemm_blocks below). Threads (OpenMP) split
// the ic loop and, when there are fewer row blocks than threads, the columns of each block too; every
// element of C is computed by the same sequence of operations whatever the thread count, so 1 and 2
// threads give bit-identical results.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#if defined(_OPENMP)
#include <omp.h>
#define LANES_OMP(directive) _Pragma(#directive)
#else
#define LANES_OMP(directive)  // built without OpenMP: one thread, and no unknown-pragma warnings
#endif

#include "cpu.hpp"
#include "error.hpp"
#include "gemm.hpp"
#include "isa.hpp"
#include "workspace.hpp"

namespace lanes {

inline constexpr std::int64_t round_up(std::int64_t x, std::int64_t multiple) { return (x + multiple - 1) / multiple * multiple; }

// ---- Block sizes ------------------------------------------------------------------------------------
//
// KC: one KC x NR panel of B is reused by every MR x KC panel of A the ir loop streams past it, and
//     each tile loads and stores its C once per KC. Each block of KC costs a pass over C, so KC is
//     large, larger than L1d holds of B (the B lines that miss L1 come from L2 at a few bytes per
//     cycle, well within its bandwidth, and are asked for ahead: outgrows_l1 below):
//         KC = 512.
//     Measured with the AVX-512 14 x 32 tile (a 64 KiB panel):
//       48 KiB L1d (Zen 5): 512 against 384 (= L1d / NR), 1024^3 and 2048^3 +8 %, 784 x 256 x 512
//         +6 %, 3136 x 128 x 256 +5 %, the rest within noise; 768 was no better. Half of L1d, the
//         textbook choice, measured 5-10 % slower than 384.
//       32 KiB L1d (Zen 4): 512 against 336 (4/3 of L1d / NR, the rule before), 1024^3 and 2048^3
//         +3 %, the 35 shapes' geomean ratio to oneDNN +0.8 %; 768 +0.2 % more.
// KC in L1: when A has a single block of rows, B is packed panel by panel, by the panel's first tile
//     (FP32) or just before its tiles (INT8; pack_b_per_panel), and that panel must stay in L1 while
//     every tile reads it:
//         KC = L1d / (NR * element bytes), rounded down to a multiple of 16, within [64, 512]
//     (M = 49 on Zen 5: 384 against 512 measured 3-10 % faster). On a core that runs zmm in halves
//     (cpu_info::zmm_halves, Zen 4) the tile takes twice the cycles per row of B, half the bytes per
//     cycle, which L2 serves: KC in L1 = KC there (M = 49 on Zen 4: 512 against 256, +1 to +5 %).
// MC: the packed MC x KC block of A stays in L2 for the whole jr loop, using an eighth of it (the rest
//     holds the C rows being updated and the B panel on its way in), counted with the KC in L1 (so an
//     A of up to MC rows is one block whichever KC it gets; the larger KC makes it a sixth):
//         MC = (L2 / 8) / (KC in L1 * element bytes), rounded down to a multiple of MR, within [MR, 960].
// NC: the KC x NC panel of B stays in the last-level cache, using at most half of one core's share:
//         NC = (L3 / cores / 2) / (KC in L1 * element bytes), a multiple of NR within [NR, 4096].
//     (Virtual machines can report an L3 far larger than the chip's; the 4096 cap keeps the packed
//     panel at a few MB whatever the report says.)
// Unknown cache sizes (0) fall back to 32 KiB L1d, 1 MiB L2 and 2 MiB of L3 per core.
struct gemm_blocks {
    std::int64_t mc = 0, kc = 0, nc = 0;
    std::int64_t kc_in_l1 = 0;  // KC when B is packed panel by panel (0: keep kc; INT8 needs the whole depth)
};

// L1d in bytes, 32 KiB when the CPU did not report it.
inline std::int64_t l1d_bytes(const cpu_info& c) { return (c.l1d_kib > 0 ? c.l1d_kib : 32) * std::int64_t{1024}; }

// L2 in bytes, 1 MiB when the CPU did not report it.
inline std::int64_t l2_bytes(const cpu_info& c) { return (c.l2_kib > 0 ? c.l2_kib : 1024) * std::int64_t{1024}; }

// MC and NC for a given KC, by the rule above; A and B elements may differ in size (INT8 kernels that
// widen to 16 bits pack both as 2 bytes, vpdpbusd kernels both as 1).
inline gemm_blocks blocks_around_depth(int mr, int nr, std::int64_t kc, std::int64_t a_bytes, std::int64_t b_bytes,
                                       const cpu_info& c) {
    const std::int64_t l2 = l2_bytes(c);
    const std::int64_t cores = c.cores > 0 ? c.cores : 1;
    const std::int64_t l3_per_core = c.l3_kib > 0 ? c.l3_kib * std::int64_t{1024} / cores : std::int64_t{2} << 20;
    gemm_blocks b;
    b.kc = kc;
    b.mc = std::clamp<std::int64_t>(l2 / 8 / (kc * a_bytes) / mr * mr, mr, 960 / mr * mr);
    b.nc = std::clamp<std::int64_t>(l3_per_core / 2 / (kc * b_bytes) / nr * nr, nr, 4096 / nr * nr);
    return b;
}

inline gemm_blocks choose_gemm_blocks(int mr, int nr, std::int64_t element_bytes, const cpu_info& c) {
    constexpr std::int64_t kc = 512;
    const std::int64_t kc_in_l1 =
        c.zmm_halves ? kc : std::clamp<std::int64_t>(l1d_bytes(c) / (nr * element_bytes) / 16 * 16, 64, kc);
    gemm_blocks b = blocks_around_depth(mr, nr, kc_in_l1, element_bytes, element_bytes, c);
    b.kc_in_l1 = kc_in_l1;
    b.kc = kc;
    return b;
}

// The blocks an FP32 microkernel uses on this machine, chosen once.
template <class Micro>
const gemm_blocks& blocks_for() {
    static const gemm_blocks blocks = choose_gemm_blocks(Micro::mr, Micro::nr, sizeof(float), cpu());
    return blocks;
}

// ---- FP32: what a microkernel needs to finish its tile ---------------------------------------------
//
// A tile of C covering rows [i, i + m) and columns [j, j + n) (m <= MR, n <= NR) is finished as
//     C = relu?( alpha * acc + beta * C + bias )
// by the microkernel, with `beta` = the caller's beta on the first block of k (C is not read when it
// is 0) and 1 on later blocks, and bias/relu only on the last block.
struct gemm_tile_f32 {
    float* c = nullptr;
    std::int64_t ldc = 0;
    std::int64_t m = 0, n = 0;
    float alpha = 1.0f, beta = 0.0f;
    const float* bias = nullptr;  // already offset to column j; null when there is none or not yet
    bool relu = false;
};

// Calls piece(l, run, offset, count) for the pieces of A's depth [p0, p0 + kc) that lie in one run
// each: depth p0 + l .. p0 + l + count - 1 is elements offset .. offset + count - 1 of run `run` (a row
// without runs is one run of k). Every row of A has the same pieces.
template <class Args, class Piece>
void for_each_run_piece(const Args& p, std::int64_t p0, std::int64_t kc, Piece&& piece) {
    const std::int64_t length = a_run_length(p);
    for (std::int64_t l = 0; l < kc;) {
        const std::int64_t offset = (p0 + l) % length, count = std::min(kc - l, length - offset);
        piece(l, (p0 + l) / length, offset, count);
        l += count;
    }
}

// Packs rows [i0, i0 + mc) x columns [p0, p0 + kc) of op(A) into MR-row panels: panel r holds
// op(A)[i0 + r*MR + i][p0 + l] at dst[r*MR*kc + l*MR + i]; rows past mc are zeros.
template <int MR>
void pack_a_panels(const gemm_f32_args& p, std::int64_t i0, std::int64_t p0, std::int64_t mc, std::int64_t kc,
                   float* dst) {
    for (std::int64_t r = 0; r < mc; r += MR, dst += MR * kc) {
        const std::int64_t rows = std::min<std::int64_t>(MR, mc - r);
        if (!p.trans_a) {
            for (std::int64_t i = 0; i < rows; ++i)
                for_each_run_piece(p, p0, kc, [&](std::int64_t l, std::int64_t run, std::int64_t offset, std::int64_t count) {
                    const float* src = a_run(p, i0 + r + i, run) + offset;
                    for (std::int64_t t = 0; t < count; ++t) dst[(l + t) * MR + i] = src[t];
                });
        } else {
            for (std::int64_t l = 0; l < kc; ++l) {
                const float* src = p.a + (p0 + l) * p.lda + i0 + r;
                for (std::int64_t i = 0; i < rows; ++i) dst[l * MR + i] = src[i];
            }
        }
        for (std::int64_t i = rows; i < MR; ++i)
            for (std::int64_t l = 0; l < kc; ++l) dst[l * MR + i] = 0.0f;
    }
}

// Packs rows [p0, p0 + kc) x columns [j0, j0 + nc) of op(B) into NR-column panels: panel s holds
// op(B)[p0 + l][j0 + s*NR + j] at dst[s*stride + l*NR + j], stride = panel_stride or, when that is 0,
// NR*kc; columns past nc are zeros.
template <int NR>
void pack_b_panels(const gemm_f32_args& p, std::int64_t p0, std::int64_t j0, std::int64_t kc, std::int64_t nc,
                   float* dst, std::int64_t panel_stride = 0) {
    for (std::int64_t s = 0; s < nc; s += NR, dst += panel_stride > 0 ? panel_stride : NR * kc) {
        const std::int64_t cols = std::min<std::int64_t>(NR, nc - s);
        if (!p.trans_b) {
            for (std::int64_t l = 0; l < kc; ++l) {
                std::memcpy(dst + l * NR, p.b + (p0 + l) * p.ldb + j0 + s, static_cast<std::size_t>(cols) * sizeof(float));
                for (std::int64_t j = cols; j < NR; ++j) dst[l * NR + j] = 0.0f;
            }
        } else {
            for (std::int64_t j = 0; j < cols; ++j) {
                const float* src = p.b + (j0 + s + j) * p.ldb + p0;
                for (std::int64_t l = 0; l < kc; ++l) dst[l * NR + j] = src[l];
            }
            for (std::int64_t l = 0; l < kc; ++l)
                for (std::int64_t j = cols; j < NR; ++j) dst[l * NR + j] = 0.0f;
        }
    }
}

// ---- Prepacked B -------------------------------------------------------------------------------------
//
// op(B) packed once for one microkernel: for each block of KC rows, its NR-column panels, exactly the
// layout the driver would pack on the fly. The matrix records the kernel that packed it, its tile and
// its KC; only that kernel may read it. `Args` (gemm_f32_args or gemm_u8s8_args) keeps an FP32 packed
// matrix from being passed to the INT8 GEMM; the element type is the microkernel's (float, int16 or
// int8), so the storage is raw bytes. Depth is padded with zeros to the kernel's k group (1 for FP32,
// 2 for vpmaddwd, 4 for vpdpbusd). An INT8 packing also keeps each column's sum over the whole depth,
// sum_p op(B)[p][j], for the zero-point term of the epilogue.
template <class Args>
class packed_b {
public:
    packed_b() = default;

    std::int64_t k() const { return k_; }
    std::int64_t n() const { return n_; }
    std::int64_t kc() const { return kc_; }
    int nr() const { return nr_; }
    isa level() const { return level_; }
    const char* kernel() const { return kernel_; }
    bool empty() const { return data_ == nullptr; }
    // Memory held: the packed panels and the column sums.
    std::size_t bytes() const { return bytes_ + sums_.size() * sizeof(std::int32_t); }
    // The packed panels alone, panels<T>(0, 0) onwards: what one product with m = 1 reads of B.
    std::size_t panel_bytes() const { return bytes_; }
    const std::int32_t* column_sums() const { return sums_.empty() ? nullptr : sums_.data(); }

    // Panels of rows [p0, p0 + kc) starting at column j0 (a multiple of NR), as elements of type T.
    template <class T>
    const T* panels(std::int64_t p0, std::int64_t j0) const {
        const std::int64_t kc = round_up(std::min(kc_, k_ - p0), group_);
        return reinterpret_cast<const T*>(data_.get()) + p0 * round_up(n_, nr_) + j0 * kc;
    }

    // Packs op(B) of `p` (k x n; trans_b says how it is stored) for microkernel `Micro`.
    template <class Micro>
    static packed_b pack(const Args& p) {
        using T = typename Micro::b_type;
        packed_b out;
        out.k_ = p.k;
        out.n_ = p.n;
        out.kc_ = Micro::blocks(p.k).kc;
        out.nr_ = Micro::nr;
        out.group_ = Micro::k_group;
        out.level_ = Micro::level;
        out.kernel_ = Micro::name;
        const std::int64_t count = round_up(p.k, Micro::k_group) * round_up(p.n, Micro::nr);
        out.bytes_ = static_cast<std::size_t>(count) * sizeof(T);
        out.data_.reset(static_cast<unsigned char*>(allocate_cache_aligned(out.bytes_)));
        T* data = reinterpret_cast<T*>(out.data_.get());
        for (std::int64_t p0 = 0; p0 < p.k; p0 += out.kc_) {
            const std::int64_t kc = std::min(out.kc_, p.k - p0);
            Micro::pack_b(p, p0, 0, kc, p.n, data + p0 * round_up(p.n, Micro::nr));
        }
        if constexpr (Micro::has_column_sums) {
            out.sums_.resize(static_cast<std::size_t>(p.n));
            Micro::column_sums(p, out.sums_.data());
        }
        return out;
    }

private:
    struct free_deleter {
        void operator()(unsigned char* f) const { std::free(f); }
    };
    std::int64_t k_ = 0, n_ = 0, kc_ = 0;
    std::size_t bytes_ = 0;
    int nr_ = 0, group_ = 1;
    isa level_ = isa::ref;
    const char* kernel_ = "";
    std::unique_ptr<unsigned char[], free_deleter> data_;
    std::vector<std::int32_t> sums_;
};

using packed_b_f32 = packed_b<gemm_f32_args>;
using packed_b_u8s8 = packed_b<gemm_u8s8_args>;

// ---- Threads ---------------------------------------------------------------------------------------
//
// OpenMP's thread count (OMP_NUM_THREADS, omp_set_num_threads) when the consumer builds with OpenMP,
// otherwise 1. Below about 2^21 multiply-adds (~10 us on one core) a second thread costs more to wake
// than it saves, so small problems stay on the calling thread.
inline int gemm_threads(std::int64_t m, std::int64_t n, std::int64_t k) {
#if defined(_OPENMP)
    if (m * n * k < (std::int64_t{1} << 21)) return 1;
    return std::max(1, omp_get_max_threads());
#else
    (void)m, (void)n, (void)k;
    return 1;
#endif
}

// ---- Reading A in place -----------------------------------------------------------------------------
//
// Packing A costs about as much as the multiplication when C has only a panel or two of columns (a
// 1x1 convolution with 64 output channels): each packed element is used n / NR times. The FP32
// microkernel can instead broadcast straight from A's rows when A is not transposed. What decides it is
// where the MR rows fall in L1's 64 sets (a 48 KiB, 12-way L1d: 4 KiB per way):
//   - rows a multiple of 4 KiB apart all fall into one set, more rows than it has ways: always pack;
//   - rows a multiple of 1 or 2 KiB apart share four or two sets: read in place for n <= 8 NR, where
//     a packed element would serve few panels, and pack above. Zen 5, medians of five alternating
//     rounds against packing (panels of C in parentheses): 3136 x 128 x 256 avx512 (4) +8 %, avx2 (8)
//     +10 %; 784 x 128 x 512 (4) +4 %, (8) +6 %; avx512 784 x 256 x 512 and 196 x 256 x 2304 (8) within
//     1 %. Above: 784 x 512 x 256 (16) -5 % to +2 % over three sets, 196 x 1024 x 256 (32) -2 to -4 %;
//   - otherwise read in place at every n (measured: 128^3 +27 %, 784 x 128 x 1152 +14 %,
//     729 x 192 x 1600 +8 %, 169 x 256 x 3456 +5 %; larger n within noise).
// Runs (an implicit im2col) are read in place for n <= 2 NR; at larger n reading them in place
// measured no different on ResNet-50, and they keep the gather into packed panels.
inline bool read_a_directly(const gemm_f32_args& p, int nr) {
    if (p.trans_a) return false;
    if (p.a_runs != nullptr) return p.n <= 2 * nr;
    const std::int64_t row_bytes = p.lda * static_cast<std::int64_t>(sizeof(float));
    if (row_bytes % 4096 == 0) return false;
    return row_bytes % 1024 != 0 || p.n <= 8 * nr;
}

// The vpdpbusd microkernels broadcast A's groups of 4 u8 straight from its rows, which saves packing A
// (a scalar copy of every group, measured at a third of the time of a 3136 x 64 x 64 product) at every
// size measured, large n included. Rows a multiple of 4 KiB apart would fall into one L1 set (more rows
// than an 8- or 12-way L1 has ways), and a depth below one group has nothing to read in place. A single
// row has no other row to collide with, so it is read in place at any length (packed, it was a panel
// of MR rows, MR - 1 of them zeros written on every call: avx512vnni 1 x 1000 x 4096 on prepacked B
// took 64 us that way and 45 us in place).
// A given as runs (an implicit im2col) is read in place when every run is whole groups of 4.
inline bool read_u8_a_directly(const gemm_u8s8_args& p) {
    if (p.a_runs != nullptr) return p.a_run_length % 4 == 0;
    return p.k >= 4 && (p.m == 1 || p.lda % 4096 != 0);
}

// When A has a single block of rows (m <= MC), each panel of B is used only by the ceil(m / MR) tiles of
// that block. Packing the whole KC x NC block first would write it out of L1 and read it back; instead
// each panel (with the others of its line of B, below) is packed just before its tiles run, into a
// small buffer, or by the first of them (B packed in the tile, below). (An earlier version also
// prefetched the next panels' rows into L2 meanwhile, a loop of prefetcht1. GCC 12 removed that loop
// as code without effect, so the documented GCC figures never had it; Clang kept it, and it cost Clang
// 13 % on the INT8 M = 49 shapes: 49 x 512 x 4608 avx512vnni 325-330 against 372-377 GOP/s without
// it, GCC's figure. Removed.)
//
// B packed in the tile. Packed on its own, the panel is a copy whose loads wait on L3 (rows of B are
// KBs apart; 2 to 9 MB of B on ResNet-50's M = 49 layers), with no arithmetic to overlap them: a
// quarter of those products. A microkernel that can (`can_pack_b_in_tile`: the FP32 ones, whose
// panel is a plain copy of B's rows; the INT8 ones measured slower, docs/gemm_u8s8.md) has the
// panel's first tile read B itself, with its rows asked for a few steps ahead, and store each row into
// the panel as it multiplies it; the panel's other tiles then read the packed copy. Measured against
// packing first (avx512, GFLOP/s, two alternating runs of each binary): 49 x 512 x 2048 114 ->
// 140-141, 49 x 2048 x 512 113-114 -> 143, 49 x 512 x 4608 114-116 -> 140, 49 x 2048 x 1024 113-115
// -> 141-143.
//
// With several blocks of rows on one thread, the first block's tiles pack the shared block of B the same
// way, for the blocks after it. Measured side by side against packing first (avx512, GFLOP/s, two
// alternating runs, Sapphire Rapids VM): 2 blocks, 169 x 256 x 2304 144-146 -> 152-153, 196 x 256 x
// 2304 148-149 -> 157-159, 256^3 156-160 -> 164-168; 4 to 7 blocks, 512^3, 784 x 512 x 128 and 1024^3
// +1-3 %. It was limited to 8 blocks, as 3136 x 128 x 256 (19 blocks there) read 1 % slower. On Zen 5
// (MC = 84: 13 blocks at 1024^3, 38 at 3136 rows) the limit cost more than it saved: without it, medians
// of five alternating rounds, % of the probed peak, avx512 1024^3 88.7 -> 91.0, 2048^3 87.9 -> 89.3,
// ten more shapes of 7 to 150 blocks (512^3 and nine ResNet-50 and AlexNet layers) +0.1 to +1.6 %
// (four rounds; 3136 x 128 x 256 +0.8 %), avx2 +0.4 to +1.7 % on six shapes. So one thread always
// packs B this way.
inline bool pack_b_per_panel(std::int64_t row_blocks) {
    return row_blocks == 1;
}

// Whether s8 panels (the vpdpbusd levels) are packed panel by panel: then each pack_b call reads four
// lines of every row of B and spreads its panels apart (panels_packed_together, panel_gap).
template <class Micro>
constexpr bool spreads_panels(bool per_panel) {
    return per_panel && sizeof(typename Micro::b_type) == 1;
}

// Panels of a row-major B packed in one go: as many as one 64-byte line of a row of B covers, so that
// each line read from memory is used whole at once. An FP32 panel of 32 columns reads two whole lines
// of each row of B; a 32-column s8 panel reads half a line, so two are packed together, and the
// 16-column AVX2 and AVX-VNNI ones four (pack_b runs the depth outside the panels, so each row is read
// once for all of them). Measured on INT8 49 x 512 x 4608, where B (2.4 MB) comes from beyond L2 and
// packing it took 46 % of the time: avx512vnni 266-282 -> 371-378 GOP/s, avxvnni 182 -> 263; on
// 49 x 2048 x 1024 (2 MB of B) avx512vnni 349-360 -> 411-427, avxvnni 198-234 -> 302. Shapes whose B
// stays in L2 (49 x 2048 x 512) measured the same either way.
//
// When B is packed panel by panel (pack_b_per_panel: A is one block of rows, every panel of B is packed
// just before its tiles) into s8 panels (the vpdpbusd levels), each call reads four lines of every row of
// B, an aligned 256 bytes, rather than one: B's rows are 512 B to 2 KB apart and each is visited once
// per call, so a single line per row leaves every row a lone miss. Measured on Zen 5 (GOP/s, alternating
// rounds): two lines against one, six rounds, avx512vnni 49 x 2048 x 1024 581-595 -> 624-647,
// 49 x 2048 x 512 572-588 -> 632-645, 49 x 512 x 2048 626-674 -> 652-715, 49 x 512 x 4608 the same,
// avxvnni +2 % on 49 x 2048 x 1024. More lines than two pay only with the panels spread apart (panel_gap):
// four lines, spread, against two, in four sets of 4-6 rounds, the medians of each set +1 to +8 % on the
// two shapes with 2 KB rows of B (higher in 18 and 17 rounds of 20), -1 to +7 % on the two with 512 B
// rows (higher in 11 and 12); avxvnni, one set, -1 to +1 %. Two lines slowed the widening
// AVX-512BW level, whose s16 panels hold twice the bytes they read (49 x 2048 x 1024 276-288 -> 261-272
// GOP/s), so the rule is for s8 panels only; docs/gemm_u8s8.md.
template <class Micro>
constexpr std::int64_t panels_packed_together(bool per_panel = false) {
    constexpr std::int64_t row_bytes = Micro::nr * static_cast<std::int64_t>(sizeof(*typename Micro::args_type{}.b));
    if (row_bytes >= 64) return 1;
    return (spreads_panels<Micro>(per_panel) ? 256 : 64) / row_bytes;
}

// The gap, in elements of packed B, between consecutive panels of one pack_b call when B is packed panel
// by panel. The PB panels of a call lie NR x depth elements apart (32 KiB for s8 32-column panels at
// k = 1024: a multiple of L1d's 4 KiB way), so without a gap the stores of one group of k land in the
// same few sets of L1 for every panel; 64 bytes more per panel spreads them over as many sets as there
// are panels. Measured with pack_b_u8s8 (avx512vnni, GB/s of B, two runs, the four M = 49 B): 16
// panels per call back to back 17-19, 64 bytes apart 33-41; 8 panels 25-35 and 30-39; 4 panels (two
// lines) 30-38 either way.
template <class Micro>
constexpr std::int64_t panel_gap(bool per_panel) {
    return spreads_panels<Micro>(per_panel) ? 64 / static_cast<std::int64_t>(sizeof(typename Micro::b_type)) : 0;
}

// The order of the two innermost loops. Normally the panel of B is the outer one (jr, then ir): the
// panel stays in L1 while the block of A streams past it from L2. When the whole block of B a work item
// multiplies is small, at most twice L1d (a small depth: ResNet-50's 1x1 convolutions of 64 input
// channels), the rows go outside instead (ir, then jr): the MR rows of A stay in L1 while the small B
// is read from L1 or L2, and each tile row of C is then written left to right, whole, rather than a
// panel's width at a time down all the rows of the block. Measured side by side against the previous
// binary (ratio to oneDNN, two alternating runs): INT8 avx512vnni 784 x 512 x 128 0.70-0.72 -> 0.75-0.76,
// resnet50.conv1 1.06-1.07 -> 1.10-1.12; FP32 avx512 3136 x 256 x 64 0.81-0.83 -> 0.84, 3136 x 64 x 64
// 0.89-0.93 -> 0.93. Larger B blocks keep the usual order. Every tile computes the same thing either way.
inline bool rows_outer(std::int64_t b_block_bytes) { return b_block_bytes <= 2 * l1d_bytes(cpu()); }

// Whether a packed panel of B of `bytes` outgrows L1d, so that the tiles reading it find it in L2: the
// microkernels then prefetch it a few steps ahead (kernels/gemm_f32_kernels-inl.hpp says why). The
// microkernels branch on it themselves: a helper outside their target region that took their loop as
// a callback could not inline it, and the accumulators would leave the registers (measured: the FP32
// tile fell from 166 to 57 GFLOP/s).
inline bool outgrows_l1(std::int64_t bytes) { return bytes > l1d_bytes(cpu()); }

// C asked for ahead (INT8). A tile of C is written once, after its loop over the whole depth. When C is
// larger than L2 its lines then come from L3 or memory, and the tile's stores wait for them behind a
// full store queue: perf on avx512vnni 1024^3 (an s32 C of 4 MB) put 8 % of the samples on the first
// instructions of the next tile, against 1 % with a C of 1 MB. A tile deep enough to run for thousands
// of cycles (k >= 1024) therefore asks for its rows of C (prefetch_lines, into L2) before its loop, and
// they are there when it stores. Measured in one process, calls alternating with and without
// (avx512vnni, median of 400 pairs): 1024^3 +6 to +7 %, 2048^3 +5 %; with a C that fits L2 the lines
// are already near and the requests only cost (depth 256: 3136 x 128 x 256 -5 %, 196 x 1024 x 256 -7 %;
// depth >= 1024 with a small C: -2 to +2 %), hence both conditions.
inline bool asks_for_c_ahead(std::int64_t k, std::int64_t c_bytes, const cpu_info& c) {
    return k >= 1024 && c_bytes > l2_bytes(c);
}

// Asks for the 64-byte lines holding bytes [p, p + bytes) into L2 (prefetcht1), one request per line;
// every address asked for lies inside that range. A read request: with the write hint, a build whose
// flags enable PRFCHW would emit prefetchw instead, an instruction that was not measured.
inline void prefetch_lines(const void* p, std::int64_t bytes) {
    const char* first = static_cast<const char*>(p);
    for (std::int64_t offset = 0; offset < bytes; offset += 64) __builtin_prefetch(first + offset, 0, 2);
    if (bytes > 0) __builtin_prefetch(first + bytes - 1, 0, 2);  // the last line, when p is not aligned
}

// Asks for the 64-byte lines of the `count` elements from p into L1 (prefetcht0), one request per line.
// p may point past the caller's buffer: a prefetch never faults and loads nothing into a register.
template <int count, class T>
void prefetch_l1(const T* p) {
#pragma GCC unroll 8
    for (int j = 0; j < count; j += 64 / static_cast<int>(sizeof(T))) __builtin_prefetch(p + j, 0, 3);
}

// Next-panel prefetch (prepacked B). In a network each layer's prepacked weights were last read a whole
// inference ago, so they come from memory. With few tiles per panel (ResNet-50's layer4: M = 49, four
// tiles of 14 rows), the panel's first tile then streams it while the other three read only caches:
// for the AVX-512 FP32 tile, 64 KiB in about 2 us, some 30 GB/s, more than one core reads (the INT8
// tile, 4x faster on a 4x smaller panel, asks for the same), and those layers ran at 62-67 % of peak
// in the network against 87 % in the benchmark, where B stays cached. So the first tiles of each
// panel also ask for the panel that comes next, one 64-byte line per step of depth, into L2
// (prefetcht1): tile t of the block asks for lines [t * steps, (t + 1) * steps) of it. A 128-byte row
// per step then takes two tiles, at half the rate, and the panel waits in L2 when its turn comes. The
// next panel is the block's next one or, after its last, the first of the work item's panels in the
// next block of depth; after the last block of depth, none. B that the driver packs itself was just
// written and is still in L2 or L3: it gets none. Measured in the network (`taskset -c 1 lanes bench
// --net resnet50 --seconds 2 --profile`, layer4's convolutions per inference, three or four
// alternating runs of the builds without and with): FP32 avx512 10.0 -> 8.8-8.9 ms (p50 46.1-46.6 ->
// 44.2-45.1 ms), INT8 avx512vnni 2.42-2.54 -> 2.23-2.42 ms (p50 12.2-12.7 -> 11.9-12.4 ms); FP32 avx2,
// whose tile runs at half the speed, within noise. In the benchmark, whose B stays cached, 49 x 512 x
// 4608 and 49 x 2048 x 1024 gained 5-7 % (prepacked, avx512) and the other shapes stayed within 1 %.

// The part of the next panel that one tile asks for, one 64-byte line per step of its depth loop
// (ask_for_one); `lines` is 0 when it asks for none. A prefetch never faults.
struct next_panel_lines {
    const char* line = nullptr;  // the next line to ask for
    std::int64_t lines = 0;      // how many lines are left to ask for

    void ask_for_one() {
        if (lines <= 0) return;
        __builtin_prefetch(line, 0, 2);
        line += 64;
        --lines;
    }
};

// The panel the tiles of a block multiply after panel s of depth block pc, for a work item whose panels
// are [s_begin, s_end) of the columns from jc; null after the last block of depth.
template <class Micro>
const typename Micro::b_type* next_prepacked_panel(const packed_b<typename Micro::args_type>& b, std::int64_t pc, std::int64_t jc,
                                                   std::int64_t s, std::int64_t s_begin, std::int64_t s_end) {
    using T = typename Micro::b_type;
    if (s + 1 < s_end) return b.template panels<T>(pc, jc + (s + 1) * Micro::nr);
    if (pc + b.kc() < b.k()) return b.template panels<T>(pc + b.kc(), jc + s_begin * Micro::nr);
    return nullptr;
}

// The lines of `next` (a panel of kc_padded rows) that tile `tile` of the block asks for.
template <class Micro>
next_panel_lines share_of_next_panel(const typename Micro::b_type* next, std::int64_t kc_padded, std::int64_t tile) {
    if (next == nullptr) return {};
    const std::int64_t steps = kc_padded / Micro::k_group;
    const std::int64_t lines = Micro::nr * kc_padded * static_cast<std::int64_t>(sizeof(typename Micro::b_type)) / 64;
    const std::int64_t first = tile * steps;
    if (first >= lines) return {};
    return {reinterpret_cast<const char*>(next) + first * 64, std::min(steps, lines - first)};
}

// ---- The microkernel contract -------------------------------------------------------------------------
//
// The driver is written against a microkernel type `Micro` (FP32: kernels/gemm_f32_kernels-inl.hpp;
// INT8: kernels/gemm_u8s8_kernels-inl.hpp) that provides:
//
//     args_type, a_type, b_type          the GEMM's arguments; the element types of packed A and B
//     level, name, mr, nr, k_group       its ISA level and tile; depth is packed in groups of k_group
//     blocks(k)                          MC, KC, NC for a depth of k
//     has_column_sums, column_sums(p, s) whether packed B carries sum_p op(B)[p][j] (INT8), and how
//     pack_a(p, i0, p0, mc, kc, dst)     A's rows [i0, i0+mc) x depth [p0, p0+kc) into MR-row panels
//     pack_b(p, p0, j0, kc, nc, dst, panel_stride)   B's depth [p0, p0+kc) x columns [j0, j0+nc) into
//                                        NR-column panels, panel_stride elements apart (0: back to back)
//     prepare(p, prepacked) -> state     per-call data the tiles need (INT8: the column sums)
//     tile(p, state, kc, a, b, where)    one MR x NR tile over one block of depth, epilogue included
//     can_read_a_in_place                whether it also has the two below (FP32; INT8 with vpdpbusd)
//     reads_a_in_place(p), tile_in_place(p, state, pc, kc, b, where)   the same reading A where it lies
//                                        (rows where.i.., depth pc..pc+kc)
//     can_pack_b_in_tile                 whether it also has the two below (FP32)
//     packs_b_in_tile(p), tile_packing_b(p, state, pc, kc, a, b_dst, where)   a tile that packs its
//                                        panel of B into b_dst as it multiplies (a: the packed panel
//                                        of A, or null to read A in place)
//
// Packed panels are padded with zeros to whole tiles and whole k groups, so a microkernel always runs a
// full tile and masks only its stores to C.
//
// Where a tile sits in C, and which block of the depth it is on.
struct tile_position {
    std::int64_t i = 0, j = 0;  // the tile's first row and column in C
    std::int64_t m = 0, n = 0;  // rows and columns of C it covers (<= MR, <= NR)
    bool first = true;          // first block of the depth: C's old contents are not yet accumulated
    bool last = true;           // last block: the epilogue (bias, ReLU, requantization) applies
    next_panel_lines next_b;    // prepacked B: its share of the next panel (next-panel prefetch, above)
};

// The last tile of C, when MR does not divide M, covers m < MR rows. The microkernels then run the loop
// of the smallest of 2, 4, 8 or MR rows that covers them, so that rows past m cost nothing: with MR = 14
// and M = 49, the last tile multiplies 8 rows instead of 14, 11 % of the product. The packed panel keeps
// its MR-row layout; the shorter loop reads the first R rows of each column of it.
// Calls body(std::integral_constant<int, R>{}).
template <int MR, class Body>
void with_tile_rows(std::int64_t m, Body&& body) {
    if constexpr (MR > 2) if (m <= 2) return body(std::integral_constant<int, 2>{});
    if constexpr (MR > 4) if (m <= 4) return body(std::integral_constant<int, 4>{});
    if constexpr (MR > 8) if (m <= 8) return body(std::integral_constant<int, 8>{});
    body(std::integral_constant<int, MR>{});
}

// ---- The driver ------------------------------------------------------------------------------------
//
// B is packed per (jc, pc) block into the calling thread's scratch, the threads sharing the work, or
// read from `prepacked`. Each work item is one block of at most MC rows times a range of NR panels; a
// thread packs that block of A into its own scratch and runs the tiles.
//
// The blocks of rows are cut at evenly spaced tile boundaries (block b covers tiles [b * T / B,
// (b + 1) * T / B) of the T tiles of MR rows), and with several threads their number B is a multiple of
// the thread count, so that each thread's contiguous share of the blocks holds the same number of rows
// to within a tile. Blocks of exactly MC rows and a short last one split 2048 rows between two threads
// as 1176 and 872 (AVX-512 FP32, MC = 168), which held two threads at 1.67-1.74x one on 2048^3.
template <class Micro>
void gemm_blocked(const typename Micro::args_type& p, const packed_b<typename Micro::args_type>* prepacked = nullptr) {
    using a_type = typename Micro::a_type;
    using b_type = typename Micro::b_type;
    constexpr int MR = Micro::mr, NR = Micro::nr, G = Micro::k_group;
    gemm_blocks blocks = Micro::blocks(p.k);
    if (prepacked != nullptr) blocks.kc = prepacked->kc();
    const std::int64_t MC = blocks.mc, NC = blocks.nc;
    const std::int64_t row_blocks = (p.m + MC - 1) / MC;
    const bool per_panel_b = prepacked == nullptr && pack_b_per_panel(row_blocks);
    // A panel packed just before its tiles is read from L1 by each of them (the block-size rule above).
    const std::int64_t KC = per_panel_b && blocks.kc_in_l1 > 0 ? std::min(blocks.kc, blocks.kc_in_l1) : blocks.kc;
    const std::int64_t KC_padded = round_up(std::min(KC, p.k), G);
    const std::int64_t PB = panels_packed_together<Micro>(per_panel_b);  // panels of B packed in one go
    const std::int64_t gap = panel_gap<Micro>(per_panel_b);  // between the panels of the per-panel buffer
    const int threads = gemm_threads(p.m, p.n, p.k);
    const auto state = Micro::prepare(p, prepacked);
    const std::int64_t tiles = (p.m + MR - 1) / MR;
    const std::int64_t blocks_of_rows = threads > 1 && row_blocks >= threads ? round_up(row_blocks, threads) : row_blocks;
    auto first_row = [&](std::int64_t block) { return std::min(p.m, block * tiles / blocks_of_rows * MR); };

    bool direct_a = false;
    if constexpr (Micro::can_read_a_in_place) direct_a = Micro::reads_a_in_place(p);
    // Whether the first tile of each panel packs that panel of B (B packed in the tile, above): when B is
    // packed panel by panel, and when one thread runs the row blocks one after the other, so that the
    // first block's tiles can pack the whole block of B for the others (first_block_packs_b below).
    bool b_in_tile = false;
    if constexpr (Micro::can_pack_b_in_tile)
        b_in_tile = prepacked == nullptr && PB == 1 && (per_panel_b || threads == 1) &&
                    Micro::packs_b_in_tile(p);
    b_type* shared_b = nullptr;
    if (prepacked == nullptr && !per_panel_b)
        shared_b = scratch<b_type>(scratch_slot::packed_b, static_cast<std::size_t>(KC_padded * round_up(std::min(NC, p.n), NR)));

    // What each thread runs; the `omp for` loops inside share the work among the team that calls it.
    auto run = [&] {
        // This thread's buffers: a block of A, and one panel of B when B is packed panel by panel.
        a_type* packed_a = direct_a ? nullptr : scratch<a_type>(scratch_slot::packed_a, static_cast<std::size_t>(round_up(std::min(MC, p.m), MR) * KC_padded));
        b_type* b_panel_buffer = per_panel_b ? scratch<b_type>(scratch_slot::b_panel, static_cast<std::size_t>(PB * (NR * KC_padded + gap))) : nullptr;
        for (std::int64_t jc = 0; jc < p.n; jc += NC) {
            const std::int64_t nc = std::min(NC, p.n - jc);
            const std::int64_t panels = (nc + NR - 1) / NR;
            // Split the columns when there are too few row blocks to keep every thread busy.
            const std::int64_t column_chunks = std::min<std::int64_t>(panels, (2 * threads + blocks_of_rows - 1) / blocks_of_rows);
            const std::int64_t chunk_panels = (panels + column_chunks - 1) / column_chunks;
            for (std::int64_t pc = 0; pc < p.k; pc += KC) {
                const std::int64_t kc = std::min(KC, p.k - pc);
                const std::int64_t kc_padded = round_up(kc, G);
                const std::int64_t panel_stride = NR * kc_padded + gap;  // panels of the per-panel buffer
                const b_type* b_block = nullptr;
                // The first block of rows packs the shared block of B in its tiles, unless its loops run in
                // the other order (rows_outer), where a row of tiles goes over every panel first.
                const bool first_block_packs_b =
                    b_in_tile && !per_panel_b && !rows_outer(kc_padded * NR * panels * static_cast<std::int64_t>(sizeof(b_type)));
                if (prepacked != nullptr) {
                    b_block = prepacked->template panels<b_type>(pc, jc);
                } else if (first_block_packs_b) {
                    b_block = shared_b;
                } else if (!per_panel_b) {
                    LANES_OMP(omp for schedule(static))
                    for (std::int64_t s = 0; s < panels; s += PB) {
                        const std::int64_t cols = std::min<std::int64_t>(PB * NR, nc - s * NR);
                        Micro::pack_b(p, pc, jc + s * NR, kc, cols, shared_b + s * NR * kc_padded);
                    }
                    b_block = shared_b;
                }
                const bool first = pc == 0, last = pc + kc == p.k;

                LANES_OMP(omp for schedule(static))
                for (std::int64_t item = 0; item < blocks_of_rows * column_chunks; ++item) {
                    const std::int64_t block = item / column_chunks;
                    const std::int64_t ic = first_row(block), mc = first_row(block + 1) - ic;
                    const std::int64_t s_begin = (item % column_chunks) * chunk_panels;
                    const std::int64_t s_end = std::min(panels, s_begin + chunk_panels);
                    if (s_begin >= s_end || mc == 0) continue;  // a block gets no tile when there are fewer tiles than blocks
                    if (!direct_a) Micro::pack_a(p, ic, pc, mc, kc, packed_a);
                    // One tile: rows [ic + ir, +MR) of the block times panel s of B.
                    auto position = [&](std::int64_t s, std::int64_t ir) {
                        tile_position where;
                        where.i = ic + ir;
                        where.m = std::min<std::int64_t>(MR, mc - ir);
                        where.j = jc + s * NR;
                        where.n = std::min<std::int64_t>(NR, p.n - where.j);
                        where.first = first;
                        where.last = last;
                        return where;
                    };
                    auto run_tile = [&](std::int64_t s, std::int64_t ir, const b_type* b_panel, next_panel_lines next_b = {}) {
                        tile_position where = position(s, ir);
                        where.next_b = next_b;
                        if constexpr (Micro::can_read_a_in_place) {
                            if (direct_a) return Micro::tile_in_place(p, state, pc, kc, b_panel, where);
                        }
                        Micro::tile(p, state, kc, packed_a + ir * kc_padded, b_panel, where);
                    };
                    if (!per_panel_b && rows_outer(kc_padded * NR * (s_end - s_begin) * static_cast<std::int64_t>(sizeof(b_type)))) {
                        for (std::int64_t ir = 0; ir < mc; ir += MR)
                            for (std::int64_t s = s_begin; s < s_end; ++s) run_tile(s, ir, b_block + s * NR * kc_padded);
                        continue;
                    }
                    for (std::int64_t s = s_begin; s < s_end; ++s) {
                        const b_type* b_panel = b_block + s * NR * kc_padded;
                        if constexpr (Micro::can_pack_b_in_tile) {
                            // The panel's first tile packs it (B packed in the tile, above), into the panel
                            // buffer or, for the first block of rows, into the shared block.
                            if (per_panel_b ? b_in_tile : (first_block_packs_b && block == 0)) {
                                b_type* packed_here = per_panel_b ? b_panel_buffer : shared_b + s * NR * kc_padded;
                                Micro::tile_packing_b(p, state, pc, kc, direct_a ? nullptr : packed_a, packed_here, position(s, 0));
                                for (std::int64_t ir = MR; ir < mc; ir += MR) run_tile(s, ir, packed_here);
                                continue;
                            }
                        }
                        if (per_panel_b) {
                            // Panels are packed PB at a time (panels_packed_together), then run one by one.
                            const std::int64_t q = (s - s_begin) % PB;
                            if (q == 0) {
                                const std::int64_t j = jc + s * NR, cols = std::min(std::min(PB, s_end - s) * NR, p.n - j);
                                Micro::pack_b(p, pc, j, kc, cols, b_panel_buffer, panel_stride);
                            }
                            b_panel = b_panel_buffer + q * panel_stride;
                        }
                        // Prepacked B: the first tiles also ask for the next panel (next-panel prefetch).
                        const b_type* next = prepacked != nullptr ? next_prepacked_panel<Micro>(*prepacked, pc, jc, s, s_begin, s_end) : nullptr;
                        for (std::int64_t ir = 0; ir < mc; ir += MR) run_tile(s, ir, b_panel, share_of_next_panel<Micro>(next, kc_padded, ir / MR));
                    }
                }
            }
        }
    };
    // One thread runs it without a parallel region: an `omp parallel if (false)` still starts and ends a
    // team of one, and its barriers (the region's end and those of the `omp for` loops) each cost a
    // futex syscall: on this VM about a quarter of an INT8 64^3 product (1.86 -> 1.33 us) and a seventh
    // of an FP32 one (121 -> 140-143 GFLOP/s). Outside any team the `omp for` loops are orphaned and
    // their barriers return at once. Called from inside a team of several threads, the loops would split
    // among that team, so the call gets a team of its own, as before.
#if defined(_OPENMP)
    if (threads > 1 || omp_get_num_threads() > 1) {
        LANES_OMP(omp parallel num_threads(threads))
        run();
        return;
    }
#endif
    run();
}

}  // namespace lanes
