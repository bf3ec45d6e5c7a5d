// lanes: the FP32 GEMM microkernel, its packing and the GEMV loops, written once for every vector width.
//
// This file is included once per ISA, inside that ISA's namespace and target region (no include guard,
// like Highway's -inl.h headers), after the ISA has defined `vec`: its vector register type and the
// dozen operations used below (load, fmadd, masked load/store of the first lanes, gather, ...). The
// AVX-512, AVX2 and portable (xsimd) kernels are therefore the same source compiled three times, each
// copy a distinct symbol in lanes::avx512, lanes::avx2 or lanes::portable.
//
// Needs: <algorithm>, <cstdint>, kernels/gemm.hpp and kernels/gemm_driver.hpp, included before the
// target region begins.

// ---- The microkernel: an MR x (NV * lanes) tile of C in MR * NV vector registers ------------------------
//
// Inner loop, once per l in [0, kc):
//     load the NV vectors of B's row l                              (NV loads)
//     for each row i: broadcast A[i][l]; NV fmadds into c[i][*]    (MR broadcasts, MR * NV FMAs)
// MR * NV independent accumulators hide the FMA latency; MR and NV are chosen per ISA so that the
// accumulators, the NV B vectors and one broadcast fill the register file (docs/gemm_f32.md).
//
// B's prefetch. The panel of B should stay in L1 while the tiles of a block of A pass over it, but the
// KC of the block rule (kernels/gemm_driver.hpp, 512) makes it 64 KiB with NR = 32 floats, against
// an L1d of 48 KiB (Zen 5) or 32 KiB (Zen 4), so that every tile reads B from L2. The hardware prefetcher then falls behind.
// When the panel outgrows L1d, each step asks for the row of B b_prefetch_steps ahead (prefetcht0,
// one request per 64-byte line). Measured with the AVX-512 14 x 32 tile on a block of 168 rows of A
// and KC = 512, C in L1: 171 -> 191 GFLOP/s, the same for any distance from 4 to 24 steps. When the
// panel fits (the AVX2 6 x 16 tile: 32 KiB), the requests only cost issue slots (AVX2 measured 2-5 %
// slower with them), so a panel that fits gets none (outgrows_l1 and prefetch_l1 in
// kernels/gemm_driver.hpp). The last steps of a panel ask for addresses past its end, which reads
// nothing.
template <int MR, int NV>
struct gemm_f32_kernel {
    // The driver's contract (kernels/gemm_driver.hpp).
    using args_type = gemm_f32_args;
    using a_type = float;
    using b_type = float;
    static constexpr isa level = vec::level;
    static constexpr int mr = MR, nr = NV * vec::lanes, k_group = 1;
    static constexpr bool has_column_sums = false;
    static constexpr bool can_read_a_in_place = true;
    static void column_sums(const gemm_f32_args&, std::int32_t*) {}
    static gemm_blocks blocks(std::int64_t) { return blocks_for<gemm_f32_kernel>(); }
    struct no_state {};
    static no_state prepare(const gemm_f32_args&, const packed_b_f32*) { return {}; }
    static bool reads_a_in_place(const gemm_f32_args& p) { return read_a_directly(p, nr); }
    // How far ahead B's prefetch (above) asks, in steps of depth.
    static constexpr int b_prefetch_steps = 8;
    // How far ahead a tile that packs B (tile_packing_b) asks for B's rows where they lie. Those rows
    // come from L3 or memory, not L2, so they are asked for further ahead than the packed panel's. On
    // Zen 5, 32 steps instead of 8 (median ratio to oneDNN of five alternating rounds, avx512):
    // 49 x 512 x 4608 (B 9.4 MB) 0.92x -> 1.00x, 49 x 2048 x 1024 1.07x -> 1.12x, the other 49-, 169-
    // and 196-row shapes within 1.5 %, the squares and the 729- and 784-row shapes (whose first block
    // of rows packs B) within 1 % in four rounds; avx2 49 x 512 x 4608 70 -> 78 GFLOP/s. 16 steps
    // measured between 8 and 32.
    static constexpr int b_source_prefetch_steps = 32;

    // op(A) rows [i0, i0 + mc) x columns [p0, p0 + kc) into MR-row panels (pack_a_panels' layout).
    // A row-major A (or A's runs) is transposed in registers where the ISA has vec::transpose, and
    // otherwise read one column at a time with a gather of the MR rows.
    static void pack_a(const gemm_f32_args& p, std::int64_t i0, std::int64_t p0, std::int64_t mc, std::int64_t kc,
                       float* dst) {
        if (p.trans_a || MR > vec::lanes || !vec::can_gather(p.lda)) return pack_a_panels<MR>(p, i0, p0, mc, kc, dst);
        if constexpr (can_transpose<vec>) return pack_a_transposing<vec>(p, i0, p0, mc, kc, dst);
        if (p.a_runs != nullptr) return pack_a_runs(p, i0, p0, mc, kc, dst);
        for (std::int64_t r = 0; r < mc; r += MR, dst += MR * kc) {
            const typename vec::mask rows = vec::first(std::min<std::int64_t>(MR, mc - r)), all = vec::first(MR);
            const float* src = p.a + (i0 + r) * p.lda + p0;
            for (std::int64_t l = 0; l < kc; ++l) vec::store_first(all, dst + l * MR, vec::gather_first(rows, src + l, p.lda));
        }
    }

    // Whether the vector type has a register transpose (vec::transpose; the portable kernel has none).
    template <class V>
    static constexpr bool can_transpose = requires(typename V::reg (&r)[V::lanes]) { V::transpose(r); };

    // The same with a vector transpose instead of the gathers, on each panel's MR rows, piece by piece
    // of the depth (for_each_run_piece: A's runs, or each row as one run of k). A template on V = vec,
    // as transpose_into_panel below.
    template <class V>
    static void pack_a_transposing(const gemm_f32_args& p, std::int64_t i0, std::int64_t p0, std::int64_t mc, std::int64_t kc,
                                   float* dst) {
        for (std::int64_t r = 0; r < mc; r += MR, dst += MR * kc) {
            const int count = static_cast<int>(std::min<std::int64_t>(MR, mc - r));  // MR <= lanes
            for_each_run_piece(p, p0, kc, [&](std::int64_t l, std::int64_t run, std::int64_t offset, std::int64_t width) {
                const float* rows[V::lanes] = {};
                for (int i = 0; i < count; ++i) rows[i] = a_run(p, i0 + r + i, run) + offset;
                transpose_into_panel<V>(rows, count, width, dst + l * MR);
            });
        }
    }

    // Columns [0, width) of a panel from its first `count` rows (count <= MR <= lanes), row i starting
    // at rows[i] (the rows past them are zero), with dst at the panel's column 0: `lanes` columns at a
    // time are loaded a row at a time (one vector each, masked past width), transposed, and stored as
    // `lanes` columns of the panel. One column costs 4 shuffles on zmm and 3 on ymm instead of a
    // gather. Only the piece's last block of columns goes through masks: the blocks before it are whole
    // vector loads, and whole stores of `lanes` floats whose lanes past MR fall on the next column, which
    // is stored after them (AVX2's masked loads and stores, vmaskmovps, took most of this function's time
    // on Zen 4). (A template on the vector type, V = vec, so that ISAs without V::transpose compile
    // without it.)
    template <class V>
    static void transpose_into_panel(const float* const (&rows)[V::lanes], int count, std::int64_t width, float* dst) {
        constexpr int L = V::lanes;
        static_assert(2 * MR >= L, "a whole store's lanes past MR must fall on the next column alone");
        const typename V::mask all = V::first(MR);
        for (std::int64_t l = 0; l < width; l += L) {
            const bool whole = width - l > L;  // a column of the piece follows this block's last one
            const typename V::mask cols = V::first(width - l);
            typename V::reg t[L];
#pragma GCC unroll 16
            for (int i = 0; i < L; ++i)
                t[i] = i >= count ? V::zero() : whole ? V::load(rows[i] + l) : V::load_first(cols, rows[i] + l);
            V::transpose(t);
            if (whole) {
#pragma GCC unroll 16
                for (int c = 0; c < L; ++c) V::store(dst + (l + c) * MR, t[c]);
                continue;
            }
            const int columns = static_cast<int>(width - l);
#pragma GCC unroll 16
            for (int c = 0; c < L; ++c)
                if (c < columns) V::store_first(all, dst + (l + c) * MR, t[c]);
        }
    }

    // The gathers from A's runs (ISAs without vec::transpose): for each piece of the depth
    // (for_each_run_piece), the MR rows' runs are gathered with their element offsets from the first
    // row's run, when those fit in int32 (they do for runs inside one buffer of up to 8 GB); otherwise
    // the generic copy.
    static void pack_a_runs(const gemm_f32_args& p, std::int64_t i0, std::int64_t p0, std::int64_t mc, std::int64_t kc, float* dst) {
        for (std::int64_t r = 0; r < mc; r += MR, dst += MR * kc) {
            const std::int64_t rows = std::min<std::int64_t>(MR, mc - r);
            const typename vec::mask active = vec::first(rows), all = vec::first(MR);
            for_each_run_piece(p, p0, kc, [&](std::int64_t l, std::int64_t run, std::int64_t offset, std::int64_t count) {
                const float* base = a_run(p, i0 + r, run) + offset;
                alignas(64) std::int32_t index[vec::lanes] = {};
                bool fits = true;
                for (std::int64_t i = 1; i < rows; ++i) {
                    const std::intptr_t bytes = reinterpret_cast<std::intptr_t>(a_run(p, i0 + r + i, run) + offset) - reinterpret_cast<std::intptr_t>(base);
                    fits = fits && bytes % 4 == 0 && bytes / 4 > INT32_MIN / 2 && bytes / 4 < INT32_MAX / 2;
                    index[i] = fits ? static_cast<std::int32_t>(bytes / 4) : 0;
                }
                if (fits) {
                    for (std::int64_t t = 0; t < count; ++t) vec::store_first(all, dst + (l + t) * MR, vec::gather_at(active, base + t, index));
                    return;
                }
                for (std::int64_t i = 0; i < MR; ++i) {
                    const float* src = i < rows ? a_run(p, i0 + r + i, run) + offset : nullptr;
                    for (std::int64_t t = 0; t < count; ++t) dst[(l + t) * MR + i] = src != nullptr ? src[t] : 0.0f;
                }
            });
        }
    }

    // op(B) rows [p0, p0 + kc) x columns [j0, j0 + nc) into NR-column panels (pack_b_panels' layout),
    // panel_stride floats apart (0: back to back). B is copied a vector at a time; a transposed B (n x k)
    // is gathered NR rows at a time.
    static void pack_b(const gemm_f32_args& p, std::int64_t p0, std::int64_t j0, std::int64_t kc, std::int64_t nc,
                       float* dst, std::int64_t panel_stride = 0) {
        if (p.trans_b && !vec::can_gather(p.ldb)) return pack_b_panels<nr>(p, p0, j0, kc, nc, dst, panel_stride);
        for (std::int64_t s = 0; s < nc; s += nr, dst += panel_stride > 0 ? panel_stride : nr * kc) {
            typename vec::mask cols[NV];
            for (int v = 0; v < NV; ++v) cols[v] = vec::first(nc - s - v * vec::lanes);
            if (!p.trans_b) {
                const float* src = p.b + p0 * p.ldb + j0 + s;
                for (std::int64_t l = 0; l < kc; ++l, src += p.ldb)
                    for (int v = 0; v < NV; ++v) vec::store(dst + l * nr + v * vec::lanes, vec::load_first(cols[v], src + v * vec::lanes));
            } else {
                const float* src = p.b + (j0 + s) * p.ldb + p0;
                for (std::int64_t l = 0; l < kc; ++l)
                    for (int v = 0; v < NV; ++v)
                        vec::store(dst + l * nr + v * vec::lanes, vec::gather_first(cols[v], src + v * vec::lanes * p.ldb + l, p.ldb));
            }
        }
    }

    // C tile += (packed MR-row panel of A) x (NR-column panel of B), with the epilogue.
    static void tile(const gemm_f32_args& p, no_state, std::int64_t kc, const float* a, const float* b, const tile_position& where) {
        with_tile_rows<MR>(where.m, [&](auto rows) { multiply<decltype(rows)::value, false>(p, 0, kc, a, b, where, finish(p, where)); });
    }
    // The same with A read where it lies: its rows, or its runs, from depth pc on.
    static void tile_in_place(const gemm_f32_args& p, no_state, std::int64_t pc, std::int64_t kc, const float* b,
                              const tile_position& where) {
        with_tile_rows<MR>(where.m, [&](auto rows) { multiply<decltype(rows)::value, true>(p, pc, kc, nullptr, b, where, finish(p, where)); });
    }

    // The first tile of a panel, packing that panel as it goes (the driver's B packed in the tile): each
    // step loads B's row from B itself, stores it to b_dst as pack_b would (NR floats, zeros past the
    // tile's n), and multiplies it. `a` is the packed panel of A, or null to read A in place. B's rows
    // are asked for b_source_prefetch_steps ahead (prefetcht0): without that request the loads wait on
    // L3, and the 49-row shapes ran at 116-123 GFLOP/s instead of 138-145 (Sapphire Rapids VM).
    static constexpr bool can_pack_b_in_tile = true;
    static bool packs_b_in_tile(const gemm_f32_args& p) { return !p.trans_b; }
    static void tile_packing_b(const gemm_f32_args& p, no_state, std::int64_t pc, std::int64_t kc, const float* a, float* b_dst,
                               const tile_position& where) {
        const b_source from{p.b + pc * p.ldb + where.j, p.ldb, where.n, b_dst};
        with_tile_rows<MR>(where.m, [&](auto rows) {
            constexpr int R = decltype(rows)::value;
            if (a == nullptr) return multiply_steps<R, true, false, true>(p, pc, kc, nullptr, b_dst, where, finish(p, where), &from);
            multiply_steps<R, false, false, true>(p, pc, kc, a, b_dst, where, finish(p, where), &from);
        });
    }

private:
    // What the epilogue of this tile applies: beta only on the first block of depth (later blocks add to
    // the partial sums already in C), bias and ReLU only on the last.
    static gemm_tile_f32 finish(const gemm_f32_args& p, const tile_position& where) {
        gemm_tile_f32 t;
        t.c = p.c + where.i * p.ldc + where.j;
        t.ldc = p.ldc;
        t.m = where.m;
        t.n = where.n;
        t.alpha = p.alpha;
        t.beta = where.first ? p.beta : 1.0f;
        t.bias = where.last && p.bias != nullptr ? p.bias + where.j : nullptr;
        t.relu = where.last && p.relu;
        return t;
    }

    // R rows of the tile (R <= MR; R = MR but for the last tile of C), with B's prefetch when its panel
    // outgrows L1 (above). The choice is made here, once per tile, and each loop is its own function:
    // a lambda taking it as an argument was not inlined by Clang 14, which then kept the accumulators in
    // memory (1024^3 at 52 GFLOP/s against 98).
    template <int R, bool a_in_place>
    static void multiply(const gemm_f32_args& p, std::int64_t pc, std::int64_t kc, const float* a, const float* b,
                         const tile_position& where, const gemm_tile_f32& t) {
        if (outgrows_l1(kc * nr * static_cast<std::int64_t>(sizeof(float))))
            return multiply_steps<R, a_in_place, true>(p, pc, kc, a, b, where, t);
        multiply_steps<R, a_in_place, false>(p, pc, kc, a, b, where, t);
    }

    // Where a tile that packs B (tile_packing_b) reads it: row l of the panel is src + l * ld, n columns
    // of it, and goes to dst + l * NR. multiply_steps takes it by pointer: by value, every tile got the
    // 32 bytes built on the stack with two 8-byte stores and read back with one 32-byte load, a failed
    // store forward (6 % of a tile at k = 64, perf).
    struct b_source {
        const float* src = nullptr;
        std::int64_t ld = 0, n = 0;
        float* dst = nullptr;
    };
    template <int R, bool a_in_place, bool prefetch_b, bool packs_b = false>
    static void multiply_steps(const gemm_f32_args& p, std::int64_t pc, std::int64_t kc, const float* a, const float* b,
                               const tile_position& where, const gemm_tile_f32& t, const b_source* source = nullptr) {
        b_source from;
        if constexpr (packs_b) from = *source;
        typename vec::mask from_cols[NV] = {};
        if constexpr (packs_b)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) from_cols[v] = vec::first(from.n - v * vec::lanes);
        typename vec::reg c[R][NV];
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) c[i][v] = vec::zero();
        // Start fetching this tile's rows of C now, so that they have arrived by the epilogue.
        for (std::int64_t i = 0; i < t.m; ++i) {
            __builtin_prefetch(t.c + i * t.ldc, 1, 3);
            __builtin_prefetch(t.c + i * t.ldc + t.n - 1, 1, 3);
        }

        // One step of depth: row i's element is rows[i][at]. With prefetch_b, B's row b_prefetch_steps
        // ahead is requested into L1, one request per cache line of it. With packs_b, B's row comes from
        // B itself (masked to the tile's columns) and is stored into the panel. With prepacked B, the
        // tile may also ask for a line of the next panel (next-panel prefetch, kernels/gemm_driver.hpp).
        next_panel_lines next_b = where.next_b;
        auto step = [&](const float* const (&rows)[R], std::int64_t at) {
            next_b.ask_for_one();
            typename vec::reg row[NV];
            if constexpr (packs_b) {
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) {
                    row[v] = vec::load_first(from_cols[v], from.src + v * vec::lanes);
                    vec::store(from.dst + v * vec::lanes, row[v]);
                }
                prefetch_l1<nr>(from.src + b_source_prefetch_steps * from.ld);
                from.src += from.ld;
                from.dst += nr;
            } else {
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) row[v] = vec::load(b + v * vec::lanes);
            }
            if constexpr (prefetch_b) prefetch_l1<nr>(b + b_prefetch_steps * nr);
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) {
                const typename vec::reg a_il = vec::set1(rows[i][at]);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) c[i][v] = vec::fmadd(a_il, row[v], c[i][v]);
            }
            b += nr;
        };
        const float* rows[R];
        if constexpr (!a_in_place) {
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) rows[i] = a + i;  // the packed panel: A[i][l] at l * MR + i
            for (std::int64_t l = 0; l < kc; ++l) step(rows, l * MR);
        } else {
            // Depth [pc, pc + kc) piece by piece, a piece being the part of one run (or of the row, which
            // is one run without runs) in the block. Rows past the tile's m repeat its last row, whose
            // products are computed but never stored, so that no row outside A is read.
            const std::int64_t length = a_run_length(p), runs = p.k / length;
            for (std::int64_t l = 0; l < kc;) {
                const std::int64_t run = (pc + l) / length, offset = (pc + l) % length, count = std::min(kc - l, length - offset);
#pragma GCC unroll 16
                for (int i = 0; i < R; ++i) {
                    const std::int64_t row = where.i + std::min<std::int64_t>(i, where.m - 1);
                    rows[i] = (p.a_runs != nullptr ? p.a_runs[row * runs + run] : p.a + row * p.lda) + offset;
                }
                for (std::int64_t s = 0; s < count; ++s) step(rows, s);
                l += count;
            }
        }

        // Epilogue on the registers: alpha, the old C (times beta, or 1 for a later block of k), then
        // bias and ReLU on the last block of k. Masks keep every access inside the m x n tile. What it
        // applies is read from t once, into locals (through the reference, each field would be loaded
        // again after every store to C, which might alias it), and a tile that only stores its sums,
        // the plain product's case, skips the rest.
        const bool add_c = t.beta != 0.0f, add_bias = t.bias != nullptr, relu = t.relu;
        const bool plain = t.alpha == 1.0f && !add_c && !add_bias && !relu;
        const std::int64_t m = t.m, ldc = t.ldc;
        float* const c_tile = t.c;
        typename vec::mask cols[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) cols[v] = vec::first(t.n - v * vec::lanes);
        const bool whole = t.n == nr;  // the tile spans NR columns of C: whole vectors, no masks (store_c)
        if (plain) {
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) {
                if (i >= m) break;
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) store_c(whole, cols[v], c_tile + i * ldc + v * vec::lanes, c[i][v]);
            }
            return;
        }
        typename vec::reg bias[NV];
        const typename vec::reg alpha = vec::set1(t.alpha), beta = vec::set1(t.beta);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) bias[v] = add_bias ? vec::load_first(cols[v], t.bias + v * vec::lanes) : vec::zero();
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i) {
            if (i >= m) break;
            float* out = c_tile + i * ldc;
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                typename vec::reg x = vec::mul(alpha, c[i][v]);
                if (add_c) x = vec::add(x, vec::mul(beta, load_c(whole, cols[v], out + v * vec::lanes)));
                if (add_bias) x = vec::add(x, bias[v]);
                if (relu) x = vec::max_zero(x);
                store_c(whole, cols[v], out + v * vec::lanes, x);
            }
        }
    }

    // One vector of a row of C, through its mask only when the tile is narrower than NR: AVX2's masked
    // loads and stores (vmaskmovps) are slow on some cores (Zen 4), and a tile stores 12 of them.
    static typename vec::reg load_c(bool whole, typename vec::mask m, const float* p) {
        return whole ? vec::load(p) : vec::load_first(m, p);
    }
    static void store_c(bool whole, typename vec::mask m, float* p, typename vec::reg x) {
        if (whole) {
            vec::store(p, x);
        } else {
            vec::store_first(m, p, x);
        }
    }
};

// ---- Dot products of rows: C[i][j] = sum_l A[i][l] * W[j][l] ---------------------------------------------
//
// The memory-bound kernel behind GEMV (one row of A: y = W x) and the small-M GEMM with a transposed B
// (a fully connected layer at batch 2..16, W in PyTorch's [out][in] order). Each row of W is streamed
// from memory once: 4 rows of W stay in cache while the rows of A pass over them 4 at a time, 4 x 4 = 16
// accumulators for 8 vector loads per 16 FMAs. Results get the GEMM epilogue (alpha, beta * C, bias, ReLU).
// It takes the GEMM's arguments with op(B) = B^T: B holds W, n x k (ldb >= k); trans_a must be false.
template <int RA, int RW>
void dot_rows_block(const gemm_f32_args& p, std::int64_t i0, std::int64_t j0) {
    typename vec::reg acc[RA][RW];
#pragma GCC unroll 4
    for (int i = 0; i < RA; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < RW; ++j) acc[i][j] = vec::zero();
    const float* a = p.a + i0 * p.lda;
    const float* w = p.b + j0 * p.ldb;
    std::int64_t l = 0;
    for (; l + vec::lanes <= p.k; l += vec::lanes) {
        typename vec::reg wv[RW];
#pragma GCC unroll 4
        for (int j = 0; j < RW; ++j) wv[j] = vec::load(w + j * p.ldb + l);
#pragma GCC unroll 4
        for (int i = 0; i < RA; ++i) {
            const typename vec::reg av = vec::load(a + i * p.lda + l);
#pragma GCC unroll 4
            for (int j = 0; j < RW; ++j) acc[i][j] = vec::fmadd(av, wv[j], acc[i][j]);
        }
    }
    if (l < p.k) {
        const typename vec::mask rest = vec::first(p.k - l);
#pragma GCC unroll 4
        for (int i = 0; i < RA; ++i) {
            const typename vec::reg av = vec::load_first(rest, a + i * p.lda + l);
#pragma GCC unroll 4
            for (int j = 0; j < RW; ++j) acc[i][j] = vec::fmadd(av, vec::load_first(rest, w + j * p.ldb + l), acc[i][j]);
        }
    }
    // The loops below index the accumulators with variables, so they read a copy: indexed that way, the
    // accumulators themselves would stay in memory through the loops above under Clang 14.
    typename vec::reg result[RA][RW];
#pragma GCC unroll 4
    for (int i = 0; i < RA; ++i)
#pragma GCC unroll 4
        for (int j = 0; j < RW; ++j) result[i][j] = acc[i][j];
    // Four accumulators are summed at once when there are four (vec::sum4), their lanes transposed and
    // added as a tree. Summed one at a time through a store and a chain of dependent additions, they
    // cost 3-5 % on the batch-16 shapes (avx512 16 x 1000 x 2048: 65-66 -> 69 GFLOP/s, 16 x 1000 x 4096
    // 78-81 -> 82-83; alternating runs).
    float sums[RA][RW];
    for (int i = 0; i < RA; ++i) {
        if constexpr (RW == 4) vec::sum4(result[i][0], result[i][1], result[i][2], result[i][3], sums[i]);
        else
            for (int j = 0; j < RW; ++j) sums[i][j] = vec::sum(result[i][j]);
    }
    for (int i = 0; i < RA; ++i) {
        for (int j = 0; j < RW; ++j) {
            float& c = p.c[(i0 + i) * p.ldc + j0 + j];
            float value = p.alpha * sums[i][j];
            if (p.beta != 0.0f) value += p.beta * c;
            if (p.bias != nullptr) value += p.bias[j0 + j];
            c = p.relu && value < 0.0f ? 0.0f : value;
        }
    }
}

// All rows of A against RW rows of W, which stay in L1/L2 while the groups of A pass over them.
template <int RW>
void dot_rows_of_w(const gemm_f32_args& p, std::int64_t j0) {
    std::int64_t i = 0;
    for (; i + 4 <= p.m; i += 4) dot_rows_block<4, RW>(p, i, j0);
    switch (p.m - i) {
        case 3: dot_rows_block<3, RW>(p, i, j0); break;
        case 2: dot_rows_block<2, RW>(p, i, j0); break;
        case 1: dot_rows_block<1, RW>(p, i, j0); break;
        default: break;
    }
}

inline void dot_rows(const gemm_f32_args& p) {
    std::int64_t j = 0;
    for (; j + 4 <= p.n; j += 4) dot_rows_of_w<4>(p, j);
    for (; j < p.n; ++j) dot_rows_of_w<1>(p, j);
}

// ---- GEMV --------------------------------------------------------------------------------------------------
//
// y = A x: each output is the dot product of a row of A with x (dot_rows with one row, x).
// y = A^T x: y[j] = sum_i A[i][j] x[i]. A strip of 8 vectors of y stays in registers while every row of
// A streams past: one broadcast of x[i] and 8 FMAs per row of the strip.
inline void gemv_f32_transposed(const gemv_f32_args& p) {
    constexpr int V = 8;
    for (std::int64_t j0 = 0; j0 < p.cols; j0 += V * vec::lanes) {
        typename vec::mask cols[V];
        typename vec::reg acc[V];
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) {
            cols[v] = vec::first(p.cols - j0 - v * vec::lanes);
            acc[v] = vec::zero();
        }
        const bool full = p.cols - j0 >= V * vec::lanes;
        for (std::int64_t i = 0; i < p.rows; ++i) {
            const typename vec::reg xi = vec::set1(p.x[i]);
            const float* row = p.a + i * p.lda + j0;
            if (full) {
#pragma GCC unroll 8
                for (int v = 0; v < V; ++v) acc[v] = vec::fmadd(vec::load(row + v * vec::lanes), xi, acc[v]);
            } else {
#pragma GCC unroll 8
                for (int v = 0; v < V; ++v) acc[v] = vec::fmadd(vec::load_first(cols[v], row + v * vec::lanes), xi, acc[v]);
            }
        }
#pragma GCC unroll 8
        for (int v = 0; v < V; ++v) {
            typename vec::reg y = acc[v];
            if (p.bias != nullptr) y = vec::add(y, vec::load_first(cols[v], p.bias + j0 + v * vec::lanes));
            if (p.relu) y = vec::max_zero(y);
            vec::store_first(cols[v], p.y + j0 + v * vec::lanes, y);
        }
    }
}

inline void gemv_f32(const gemv_f32_args& p) {
    if (p.trans) return gemv_f32_transposed(p);
    // y^T (1 x rows) = x^T (1 x cols) * A^T.
    gemm_f32_args row;
    row.m = 1;
    row.n = p.rows;
    row.k = p.cols;
    row.a = p.x;
    row.lda = p.cols;
    row.b = p.a;
    row.ldb = p.lda;
    row.trans_b = true;
    row.c = p.y;
    row.ldc = p.rows;
    row.bias = p.bias;
    row.relu = p.relu;
    dot_rows(row);
}

// GEMM with few rows of A and a transposed B: rows of B^T are streamed once per 4 rows of A.
inline constexpr std::int64_t small_m_limit = 16;

inline bool gemm_f32_small_m_accepts(const gemm_f32_args& p) {
    return p.m <= small_m_limit && p.trans_b && !p.trans_a && p.a_runs == nullptr;
}

inline void gemm_f32_small_m(const gemm_f32_args& p) { dot_rows(p); }
