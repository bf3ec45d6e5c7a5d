// lanes: the blocked GEMM driver shared by every ISA (the five loops around the microkernel).
//
//   for jc in [0, n) step NC            columns of C and B; B's KC x NC panel is reused by all of A
//     for pc in [0, k) step KC          the depth; a block of B is packed into NR-column panels
//       for ic in [0, m) step MC        rows of C and A; A's MC x KC block is packed into MR-row panels
//         for jr in [0, NC) step NR       one NR-column panel of packed B (lives in L1 during the ir loop)
//           for ir in [0, MC) step MR       one MR x NR tile of C: Micro::tile(kc, A panel, B panel)
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
//     each tile loads and stores its C once per KC, so KC is as large as L1 allows for that panel:
//         KC = L1d / (NR * element bytes), rounded down to a multiple of 16, within [64, 512].
//     (Half of L1d, the textbook choice, measured 5-10 % slower here: the extra C traffic costs more
//     than the A panel's evictions of B.)
// MC: the packed MC x KC block of A stays in L2 for the whole jr loop, using an eighth of it (the rest
//     holds the C rows being updated and the B panel on its way in):
//         MC = (L2 / 8) / (KC * element bytes), rounded down to a multiple of MR, within [MR, 960].
// NC: the KC x NC panel of B stays in the last-level cache, using at most half of one core's share:
//         NC = (L3 / cores / 2) / (KC * element bytes), a multiple of NR within [NR, 4096].
//     (Virtual machines can report an L3 far larger than the chip's; the 4096 cap keeps the packed
//     panel at a few MB whatever the report says.)
// Unknown cache sizes (0) fall back to 32 KiB L1d, 1 MiB L2 and 2 MiB of L3 per core.
struct gemm_blocks {
    std::int64_t mc = 0, kc = 0, nc = 0;
};

inline gemm_blocks choose_gemm_blocks(int mr, int nr, std::int64_t element_bytes, const cpu_info& c) {
    const std::int64_t l1 = (c.l1d_kib > 0 ? c.l1d_kib : 32) * std::int64_t{1024};
    const std::int64_t l2 = (c.l2_kib > 0 ? c.l2_kib : 1024) * std::int64_t{1024};
    const std::int64_t cores = c.cores > 0 ? c.cores : 1;
    const std::int64_t l3_per_core = c.l3_kib > 0 ? c.l3_kib * std::int64_t{1024} / cores : std::int64_t{2} << 20;
    gemm_blocks b;
    b.kc = std::clamp<std::int64_t>(l1 / (nr * element_bytes) / 16 * 16, 64, 512);
    b.mc = std::clamp<std::int64_t>(l2 / 8 / (b.kc * element_bytes) / mr * mr, mr, 960 / mr * mr);
    b.nc = std::clamp<std::int64_t>(l3_per_core / 2 / (b.kc * element_bytes) / nr * nr, nr, 4096 / nr * nr);
    return b;
}

// The blocks a microkernel uses on this machine, chosen once.
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

// Packs rows [i0, i0 + mc) x columns [p0, p0 + kc) of op(A) into MR-row panels: panel r holds
// op(A)[i0 + r*MR + i][p0 + l] at dst[r*MR*kc + l*MR + i]; rows past mc are zeros.
template <int MR>
void pack_a_panels(const gemm_f32_args& p, std::int64_t i0, std::int64_t p0, std::int64_t mc, std::int64_t kc,
                   float* dst) {
    for (std::int64_t r = 0; r < mc; r += MR, dst += MR * kc) {
        const std::int64_t rows = std::min<std::int64_t>(MR, mc - r);
        if (!p.trans_a) {
            for (std::int64_t i = 0; i < rows; ++i) {
                const float* src = p.a + (i0 + r + i) * p.lda + p0;
                for (std::int64_t l = 0; l < kc; ++l) dst[l * MR + i] = src[l];
            }
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
// op(B)[p0 + l][j0 + s*NR + j] at dst[s*NR*kc + l*NR + j]; columns past nc are zeros.
template <int NR>
void pack_b_panels(const gemm_f32_args& p, std::int64_t p0, std::int64_t j0, std::int64_t kc, std::int64_t nc,
                   float* dst) {
    for (std::int64_t s = 0; s < nc; s += NR, dst += NR * kc) {
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
// its KC; only that kernel may read it.
class packed_b_f32 {
public:
    packed_b_f32() = default;

    std::int64_t k() const { return k_; }
    std::int64_t n() const { return n_; }
    std::int64_t kc() const { return kc_; }
    int nr() const { return nr_; }
    isa level() const { return level_; }
    const char* kernel() const { return kernel_; }
    bool empty() const { return data_ == nullptr; }

    // Panels of rows [p0, p0 + kc) starting at column j0 (a multiple of NR).
    const float* panels(std::int64_t p0, std::int64_t j0) const {
        const std::int64_t kc = std::min(kc_, k_ - p0);
        return data_.get() + p0 * round_up(n_, nr_) + j0 * kc;
    }

    // Packs op(B) of `p` (k x n; trans_b says how it is stored) for microkernel `Micro`.
    template <class Micro>
    static packed_b_f32 pack(const gemm_f32_args& p) {
        packed_b_f32 out;
        out.k_ = p.k;
        out.n_ = p.n;
        out.kc_ = blocks_for<Micro>().kc;
        out.nr_ = Micro::nr;
        out.level_ = Micro::level;
        out.kernel_ = Micro::name;
        const std::int64_t count = p.k * round_up(p.n, Micro::nr);
        out.data_.reset(static_cast<float*>(allocate_cache_aligned(static_cast<std::size_t>(count) * sizeof(float))));
        for (std::int64_t p0 = 0; p0 < p.k; p0 += out.kc_) {
            const std::int64_t kc = std::min(out.kc_, p.k - p0);
            Micro::pack_b(p, p0, 0, kc, p.n, out.data_.get() + p0 * round_up(p.n, Micro::nr));
        }
        return out;
    }

private:
    struct free_deleter {
        void operator()(float* f) const { std::free(f); }
    };
    std::int64_t k_ = 0, n_ = 0, kc_ = 0;
    int nr_ = 0;
    isa level_ = isa::ref;
    const char* kernel_ = "";
    std::unique_ptr<float[], free_deleter> data_;
};

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

// ---- Reading A or B in place ------------------------------------------------------------------------
//
// Packing A costs about as much as the multiplication when C has only a panel or two of columns (a
// 1x1 convolution with 64 output channels): each packed element is used n / NR times. The microkernel
// can instead broadcast straight from A's rows when A is not transposed, unless the rows are a multiple
// of 2 KiB apart: then the MR rows fall into one or two L1 sets and evict each other.
inline bool read_a_directly(const gemm_f32_args& p, int nr) {
    return !p.trans_a && p.n <= 2 * nr && (p.lda * 4) % 2048 != 0;
}

// When A has a single block of rows (m <= MC), each panel of B is used only by the ceil(m / MR) tiles of
// that block. Packing the whole KC x NC block first would write it out of L1 and read it back; instead
// each panel is packed just before its tiles run, into a buffer that stays in L1, and the next panel's
// rows are prefetched meanwhile so that reading B from memory overlaps the arithmetic.
inline bool pack_b_per_panel(std::int64_t row_blocks) {
    return row_blocks == 1;
}

// Asks for the cache lines of op(B)'s rows [p0, p0 + kc) x columns [j0, j0 + cols) (into L2).
inline void prefetch_b_panel(const gemm_f32_args& p, std::int64_t p0, std::int64_t j0, std::int64_t kc, std::int64_t cols) {
    constexpr std::int64_t line = 64 / sizeof(float);
    if (!p.trans_b) {
        for (std::int64_t l = 0; l < kc; ++l)
            for (std::int64_t j = 0; j < cols; j += line) __builtin_prefetch(p.b + (p0 + l) * p.ldb + j0 + j, 0, 2);
    } else {
        for (std::int64_t j = 0; j < cols; ++j)
            for (std::int64_t l = 0; l < kc; l += line) __builtin_prefetch(p.b + (j0 + j) * p.ldb + p0 + l, 0, 2);
    }
}

// ---- The driver ------------------------------------------------------------------------------------
//
// B is packed per (jc, pc) block into the calling thread's scratch, the threads sharing the work, or
// read from `prepacked`. Each work item is one MC block of rows times a range of NR panels; a thread
// packs that block of A into its own scratch and runs the tiles.
template <class Micro>
void gemm_f32_blocked(const gemm_f32_args& p, const packed_b_f32* prepacked = nullptr) {
    constexpr int MR = Micro::mr, NR = Micro::nr;
    gemm_blocks blocks = blocks_for<Micro>();
    if (prepacked != nullptr) blocks.kc = prepacked->kc();
    const std::int64_t MC = blocks.mc, KC = blocks.kc, NC = blocks.nc;
    const int threads = gemm_threads(p.m, p.n, p.k);

    const std::int64_t row_blocks = (p.m + MC - 1) / MC;
    const bool direct_a = read_a_directly(p, NR);
    const bool per_panel_b = prepacked == nullptr && pack_b_per_panel(row_blocks);
    float* shared_b = nullptr;
    if (prepacked == nullptr && !per_panel_b)
        shared_b = scratch<float>(scratch_slot::packed_b, static_cast<std::size_t>(KC * round_up(std::min(NC, p.n), NR)));

    LANES_OMP(omp parallel num_threads(threads) if (threads > 1))
    {
        // This thread's buffers: a block of A, and one panel of B when B is packed panel by panel.
        float* packed_a = direct_a ? nullptr : scratch<float>(scratch_slot::packed_a, static_cast<std::size_t>(round_up(std::min(MC, p.m), MR) * KC));
        float* b_panel_buffer = per_panel_b ? scratch<float>(scratch_slot::b_panel, static_cast<std::size_t>(NR * KC)) : nullptr;
        for (std::int64_t jc = 0; jc < p.n; jc += NC) {
            const std::int64_t nc = std::min(NC, p.n - jc);
            const std::int64_t panels = (nc + NR - 1) / NR;
            // Split the columns when there are too few row blocks to keep every thread busy.
            const std::int64_t column_chunks = std::min<std::int64_t>(panels, (2 * threads + row_blocks - 1) / row_blocks);
            const std::int64_t chunk_panels = (panels + column_chunks - 1) / column_chunks;
            for (std::int64_t pc = 0; pc < p.k; pc += KC) {
                const std::int64_t kc = std::min(KC, p.k - pc);
                const float* b_block = nullptr;
                if (prepacked != nullptr) {
                    b_block = prepacked->panels(pc, jc);
                } else if (!per_panel_b) {
                    LANES_OMP(omp for schedule(static))
                    for (std::int64_t s = 0; s < panels; ++s) {
                        const std::int64_t cols = std::min<std::int64_t>(NR, nc - s * NR);
                        Micro::pack_b(p, pc, jc + s * NR, kc, cols, shared_b + s * NR * kc);
                    }
                    b_block = shared_b;
                }
                const bool first = pc == 0, last = pc + kc == p.k;

                LANES_OMP(omp for schedule(static))
                for (std::int64_t item = 0; item < row_blocks * column_chunks; ++item) {
                    const std::int64_t ic = (item / column_chunks) * MC;
                    const std::int64_t mc = std::min(MC, p.m - ic);
                    const std::int64_t s_begin = (item % column_chunks) * chunk_panels;
                    const std::int64_t s_end = std::min(panels, s_begin + chunk_panels);
                    if (s_begin >= s_end) continue;
                    if (!direct_a) Micro::pack_a(p, ic, pc, mc, kc, packed_a);
                    for (std::int64_t s = s_begin; s < s_end; ++s) {
                        const std::int64_t j = jc + s * NR;
                        gemm_tile_f32 t;
                        t.ldc = p.ldc;
                        t.n = std::min<std::int64_t>(NR, p.n - j);
                        t.alpha = p.alpha;
                        t.beta = first ? p.beta : 1.0f;
                        t.bias = last && p.bias != nullptr ? p.bias + j : nullptr;
                        t.relu = last && p.relu;
                        const float* b_panel = b_block + s * NR * kc;
                        if (per_panel_b) {
                            Micro::pack_b(p, pc, j, kc, t.n, b_panel_buffer);
                            if (s + 1 < s_end) prefetch_b_panel(p, pc, j + NR, kc, std::min<std::int64_t>(NR, p.n - j - NR));
                            b_panel = b_panel_buffer;
                        }
                        for (std::int64_t ir = 0; ir < mc; ir += MR) {
                            t.c = p.c + (ic + ir) * p.ldc + j;
                            t.m = std::min<std::int64_t>(MR, mc - ir);
                            if (direct_a) Micro::tile_direct(kc, p.a + (ic + ir) * p.lda + pc, p.lda, b_panel, NR, t);
                            else Micro::tile(kc, packed_a + ir * kc, b_panel, NR, t);
                        }
                    }
                }
            }
        }
    }
}

}  // namespace lanes
