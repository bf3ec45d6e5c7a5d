// lanes: the INT8 GEMM microkernel, its packing and the dot-product loops, written once for every ISA.
//
// Included once per ISA inside that ISA's namespace and target region (no include guard, like
// kernels/gemm_f32_kernels-inl.hpp), after the ISA has defined `ivec`: the integer multiply-add it uses
// and the handful of operations of the requantizing epilogue. Two families of multiply-add exist:
//
//   vpdpbusd (AVX512-VNNI on zmm, AVX-VNNI on ymm): each 32-bit lane adds 4 products u8 x s8 of 4
//       consecutive k. A is kept as u8 and B as s8, both in groups of 4 along k (k_group = 4).
//   vpmaddwd on 16-bit values (AVX2 on ymm, AVX-512BW on zmm): each 32-bit lane adds 2 products of
//       16-bit integers. A is widened to u16 and B to s16 when they are packed (k_group = 2). This is
//       the exact replacement for vpmaddubsw, whose int16 sum of two products saturates (255 * 127 * 2
//       = 64770 > 32767); docs/gemm_u8s8.md measures both.
//
// Either way every product and every sum is exact in int32 (kernels/gemm.hpp bounds k), so all ISAs
// give the reference's accumulators bit for bit, and the epilogue repeats the reference's float steps.
//
// Needs: <immintrin.h>, <algorithm>, <array>, <cstdint>, <cstring>, <type_traits>, kernels/gemm.hpp, kernels/gemm_driver.hpp and
// reference/requant.hpp, included before the target region begins.

// Whether the ISA's ivec interleaves 4 rows x (4 x lanes) columns of a row-major B in one call (the
// vpdpbusd levels; pack_b below). A concept and a function template, so that the call is compiled only
// for an ISA that has it.
template <class V>
concept interleaves_b_rows = requires(const std::int8_t* row, typename V::reg (&out)[4]) { V::interleave_b(row, 0, out); };
template <class V>
void interleave_b(const std::int8_t* row, std::int64_t stride, typename V::reg (&out)[4]) { V::interleave_b(row, stride, out); }

// ---- The microkernel: an MR x (NV * lanes) tile of int32 accumulators in MR * NV registers --------------
//
// Packed layouts (G = k_group, groups = ceil(kc / G), padding is zero):
//   A panel: for each group g, for each row i, G elements:   a[(g * MR + i) * G + t] = A[i][g*G + t]
//   B panel: for each group g, for each column j, G elements: b[(g * NR + j) * G + t] = B[g*G + t][j]
// so one 32-bit broadcast of A's group and NV loads of B feed MR * NV multiply-adds per group.
template <int MR, int NV>
struct gemm_u8s8_kernel {
    // The driver's contract (kernels/gemm_driver.hpp).
    using args_type = gemm_u8s8_args;
    using a_type = typename ivec::a_type;
    using b_type = typename ivec::b_type;
    static constexpr isa level = ivec::level;
    static constexpr int mr = MR, nr = NV * ivec::lanes, k_group = ivec::group;
    static constexpr bool has_column_sums = true;
    // vpdpbusd broadcasts a group of 4 u8 of A exactly as they lie in a row, so those kernels can read A
    // where it is instead of packing it; the widening kernels need A as u16 and always pack.
    static constexpr bool can_read_a_in_place = k_group == 4;
    static bool reads_a_in_place(const gemm_u8s8_args& p) { return read_u8_a_directly(p); }
    // The tiles do not pack B as they go (the driver's B packed in the tile); pack_b does, first. A
    // version that interleaved B's rows in the first tile was measured: avx512vnni 11-15 % faster where
    // B stays in L2 and 7-8 % slower where it does not, avxvnni 20-22 % slower there; an INT8 tile eats
    // B four times as fast as an FP32 one (docs/gemm_u8s8.md).
    static constexpr bool can_pack_b_in_tile = false;
    // How far ahead B's prefetch (multiply) asks, in groups of depth.
    static constexpr int b_prefetch_groups = 8;

    // The whole depth is one block (KC = k): the s32 accumulators then never leave the registers before
    // the requantizing epilogue, so a u8 or s8 C needs no int32 copy for partial sums. One or two bytes
    // per element keep an MR x KC panel of A and most of a KC x NR panel of B in L1/L2 even at
    // ResNet-50's deepest k = 4608. MC and NC follow the driver's rule with this KC.
    static gemm_blocks blocks(std::int64_t k) {
        return blocks_around_depth(MR, nr, round_up(k, k_group), sizeof(a_type), sizeof(b_type), cpu());
    }

    // sum_p op(B)[p][j] for every column j: the zero-point term is a_zero_point times this.
    static void column_sums(const gemm_u8s8_args& p, std::int32_t* sums) {
        if (p.trans_b) {
            for (std::int64_t j = 0; j < p.n; ++j) {
                const std::int8_t* row = p.b + j * p.ldb;
                std::int32_t s = 0;
                for (std::int64_t l = 0; l < p.k; ++l) s += row[l];
                sums[j] = s;
            }
        } else {
            std::fill(sums, sums + p.n, 0);
            for (std::int64_t l = 0; l < p.k; ++l)
                for (std::int64_t j = 0; j < p.n; ++j) sums[j] += p.b[l * p.ldb + j];
        }
    }

    // Per call: the column sums, needed only when A has a non-zero zero point, and whether each tile asks
    // for its rows of C before its loop (asks_for_c_ahead in kernels/gemm_driver.hpp).
    struct state {
        const std::int32_t* sums = nullptr;
        bool asks_for_c = false;
    };
    static state prepare(const gemm_u8s8_args& p, const packed_b_u8s8* prepacked) {
        state st;
        st.asks_for_c = asks_for_c_ahead(p.k, p.m * p.n * dtype_bytes(p.requant.out), cpu());
        if (p.a_zero_point == 0) return st;
        if (prepacked != nullptr) {
            st.sums = prepacked->column_sums();
            return st;
        }
        std::int32_t* sums = scratch<std::int32_t>(scratch_slot::column_sums, static_cast<std::size_t>(p.n));
        column_sums(p, sums);
        st.sums = sums;
        return st;
    }

    // A's rows [i0, i0 + mc) x depth [p0, p0 + kc) into MR-row panels (u8 kept or widened to u16), read
    // from its rows or from its runs: the part of each run inside the block is copied whole groups at a
    // time when it starts on a group boundary, element by element otherwise. The widening kernels take
    // 16 u8 of 4 rows at a time through one widening transpose (widen_transpose4), the rows left over
    // (MR = 6: 2; a last panel of 5 rows: 1) one by one.
    static void pack_a(const gemm_u8s8_args& p, std::int64_t i0, std::int64_t p0, std::int64_t mc, std::int64_t kc,
                       a_type* dst) {
        const std::int64_t groups = (kc + k_group - 1) / k_group;
        auto at = [&](a_type* out, std::int64_t l) -> a_type& { return out[(l / k_group) * MR * k_group + l % k_group]; };
        for (std::int64_t r = 0; r < mc; r += MR, dst += MR * groups * k_group) {
            const std::int64_t rows = std::min<std::int64_t>(MR, mc - r);
            // The last panel of a block may have fewer rows: the rows past mc are zeros, the whole panel
            // cleared first. (Zeroed element by element, with a division per element in `at`, and its rows
            // copied one by one, packing avx512's 49 x 1024 took 11.7 us, now 2.7.)
            if (rows < MR) std::memset(dst, 0, static_cast<std::size_t>(MR * groups * k_group) * sizeof(a_type));
            for_each_run_piece(p, p0, kc, [&](std::int64_t l, std::int64_t run, std::int64_t offset, std::int64_t count) {
                std::int64_t done = 0;  // elements [0, done) of the piece are packed for every row
                // The widening of `n` rows, 16 elements at a time; n is MR as a constant for whole panels,
                // so that their loops unroll (over a run-time count they packed 5-14 % slower).
                auto widen = [&](auto n) {
                    for (; done + 16 <= count; done += 16) {
                        a_type* const out = &at(dst, l + done);
                        const int fours = n / 4 * 4;
#pragma GCC unroll 4
                        for (int i = 0; i < fours; i += 4) {
                            const std::uint8_t* src[4];
#pragma GCC unroll 4
                            for (int q = 0; q < 4; ++q) src[q] = a_run(p, i0 + r + i + q, run) + offset + done;
                            widen_transpose4(src, out + i * k_group);
                        }
                        for (int i = fours; i < n; ++i) widen_pairs16(a_run(p, i0 + r + i, run) + offset + done, out + i * k_group);
                    }
                };
                if constexpr (sizeof(a_type) == 2)
                    if (l % k_group == 0) {
                        if (rows == MR) widen(std::integral_constant<int, MR>{});
                        else widen(static_cast<int>(rows));
                    }
                for (std::int64_t i = 0; i < rows; ++i) {
                    a_type* const out = dst + i * k_group;
                    const std::uint8_t* const src = a_run(p, i0 + r + i, run) + offset;
                    std::int64_t t = done;
                    if (l % k_group == 0)
                        for (; t + k_group <= count; t += k_group) copy_group(src + t, &at(out, l + t));
                    for (; t < count; ++t) at(out, l + t) = src[t];
                }
            });
            for (std::int64_t i = 0; i < rows; ++i)  // zero padding: the depth past kc in each row's last group
                for (std::int64_t l = kc; l < groups * k_group; ++l) at(dst + i * k_group, l) = 0;
        }
    }

    // op(B)'s depth [p0, p0 + kc) x columns [j0, j0 + nc) into NR-column panels (s8 kept or widened),
    // panel_stride elements apart (0: back to back, nr x the padded depth).
    // Whole groups of 16 columns of a row-major B are interleaved with SSE unpacks (G rows of 16 bytes
    // become 16 groups of G), and at the vpdpbusd levels 4 x lanes columns at a time on the full width
    // (ivec::interleave_b), the depth outside the columns, so that each row of B is read once across
    // all the panels of the call (gemm_driver.hpp, panels_packed_together). A transposed B already
    // holds each column's group contiguously. The rest (a transposed B, partial groups and columns) goes
    // panel by panel, element by element, zero-padded.
    static void pack_b(const gemm_u8s8_args& p, std::int64_t p0, std::int64_t j0, std::int64_t kc, std::int64_t nc,
                       b_type* dst, std::int64_t panel_stride = 0) {
        const std::int64_t groups = (kc + k_group - 1) / k_group, full = kc / k_group;
        const std::int64_t panel_size = panel_stride > 0 ? panel_stride : nr * groups * k_group;
        const std::int64_t vector_cols = p.trans_b ? 0 : nc / 16 * 16;
        for (std::int64_t g = 0; g < full; ++g) {
            const std::int8_t* row = p.b + (p0 + g * k_group) * p.ldb + j0;
            b_type* const out = dst + g * nr * k_group;
            auto group_of = [&](std::int64_t column) { return out + column / nr * panel_size + column % nr * k_group; };
            std::int64_t c = 0;
            if constexpr (interleaves_b_rows<ivec>)
                for (; c + 4 * ivec::lanes <= vector_cols; c += 4 * ivec::lanes) {
                    typename ivec::reg groups[4];
                    interleave_b<ivec>(row + c, p.ldb, groups);
#pragma GCC unroll 4
                    for (int q = 0; q < 4; ++q) std::memcpy(group_of(c + q * ivec::lanes), &groups[q], sizeof groups[q]);
                }
            for (; c < vector_cols; c += 16) interleave16(row + c, p.ldb, group_of(c));
        }
        for (std::int64_t s = 0; s < nc; s += nr, dst += panel_size) {
            const std::int64_t cols = std::min<std::int64_t>(nr, nc - s);
            const std::int64_t done = std::clamp<std::int64_t>(vector_cols - s, 0, nr);  // columns interleaved above
            for (std::int64_t g = done == nr ? full : 0; g < groups; ++g) {
                b_type* out = dst + g * nr * k_group;
                std::int64_t j = g < full ? done : 0;
                if (g < full && p.trans_b)
                    for (; j < cols; ++j) copy_group(p.b + (j0 + s + j) * p.ldb + p0 + g * k_group, out + j * k_group);
                for (; j < nr; ++j) {
                    for (int t = 0; t < k_group; ++t) {
                        const std::int64_t l = g * k_group + t;
                        std::int8_t value = 0;
                        if (j < cols && l < kc)
                            value = p.trans_b ? p.b[(j0 + s + j) * p.ldb + p0 + l] : p.b[(p0 + l) * p.ldb + j0 + s + j];
                        out[j * k_group + t] = value;
                    }
                }
            }
        }
    }

    // One tile over the whole depth, then the requantizing epilogue straight from the registers.
    static void tile(const gemm_u8s8_args& p, const state& st, std::int64_t kc, const a_type* a, const b_type* b,
                     const tile_position& where) {
        with_tile_rows<MR>(where.m, [&](auto rows) { multiply<decltype(rows)::value, false>(p, st, kc, a, b, where); });
    }
    // The same with A read where it lies, from its rows or its runs. INT8 blocks are the whole depth
    // (pc = 0, kc = k).
    static void tile_in_place(const gemm_u8s8_args& p, const state& st, std::int64_t, std::int64_t kc, const b_type* b,
                              const tile_position& where) {
        with_tile_rows<MR>(where.m, [&](auto rows) { multiply<decltype(rows)::value, true>(p, st, kc, nullptr, b, where); });
    }

private:
    // R rows of the tile (R <= MR; R = MR but for the last tile of C), with B's prefetch when its panel
    // of the whole depth (k x NR, 1 or 2 bytes each) outgrows L1d, as in the FP32 kernel and for the same
    // reason; the choice is made once per tile, as there.
    template <int R, bool a_in_place>
    static void multiply(const gemm_u8s8_args& p, const state& st, std::int64_t kc, const a_type* a, const b_type* b,
                         const tile_position& where) {
        if (outgrows_l1((kc + k_group - 1) / k_group * nr * k_group * static_cast<std::int64_t>(sizeof(b_type))))
            return multiply_groups<R, a_in_place, true>(p, st, kc, a, b, where);
        multiply_groups<R, a_in_place, false>(p, st, kc, a, b, where);
    }
    template <int R, bool a_in_place, bool prefetch_b>
    static void multiply_groups(const gemm_u8s8_args& p, const state& st, std::int64_t kc, const a_type* a, const b_type* b,
                                const tile_position& where) {
        if constexpr (R == 2)  // with_tile_rows' smallest loop, which also serves m = 1
            if (where.m == 1 && (!a_in_place || p.a_runs == nullptr)) return one_row<a_in_place>(p, st, kc, a, b, where);
        if (st.asks_for_c) {
            const std::int64_t bytes = dtype_bytes(p.requant.out);
            const char* c = static_cast<const char*>(p.c) + (where.i * p.ldc + where.j) * bytes;
            for (std::int64_t i = 0; i < std::min<std::int64_t>(R, where.m); ++i) prefetch_lines(c + i * p.ldc * bytes, where.n * bytes);
        }
        typename ivec::reg acc[R][NV];
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = ivec::zero();
        // One group of k for the whole tile: row i's 4 (or 2) elements are at rows[i] + offset. With
        // `tail` (in place only) A's lanes are shifted right by tail_shift bits. With prefetch_b, B's group
        // b_prefetch_groups ahead is requested into L1. With prepacked B the tile may also ask for a line
        // of the next panel (next-panel prefetch, kernels/gemm_driver.hpp). Forced inline: called from
        // four places, Clang 14 otherwise keeps it a function, and the accumulators then live in memory.
        next_panel_lines next_b = where.next_b;
        auto group = [&](const a_type* const (&rows)[R], std::int64_t offset, auto tail,
                         int tail_shift) __attribute__((always_inline)) {
            next_b.ask_for_one();
            typename ivec::reg bv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) bv[v] = ivec::load_b(b + v * ivec::lanes * k_group);
            if constexpr (prefetch_b) prefetch_l1<nr * k_group>(b + b_prefetch_groups * nr * k_group);
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) {
                typename ivec::reg ai = ivec::broadcast_a(rows[i] + offset);
                if constexpr (decltype(tail)::value) ai = ivec::shift_right_lanes(ai, tail_shift);
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) acc[i][v] = ivec::madd(acc[i][v], ai, bv[v]);
            }
            b += nr * k_group;
        };
        const a_type* rows[R];
        if constexpr (!a_in_place) {
            // The packed panel: group g of row i at i * G + g * MR * G, zero-padded to whole groups.
#pragma GCC unroll 16
            for (int i = 0; i < R; ++i) rows[i] = a + i * k_group;
            for (std::int64_t g = 0; g < (kc + k_group - 1) / k_group; ++g) group(rows, g * MR * k_group, std::false_type{}, 0);
        } else {
            // In place, by rows or run by run: rows past the tile's m repeat its last row, whose products
            // are computed but never stored, so that no row outside A is read. Runs read in place are
            // whole groups (read_u8_a_directly); a row's partial last group of r < 4 elements is its last
            // 4 bytes shifted right by 4 - r bytes, so its missing elements are zeros (k >= 4; B is zero
            // past kc anyway) and nothing past the row is read.
            auto row_of = [&](int i) { return where.i + std::min<std::int64_t>(i, where.m - 1); };
            if (p.a_runs == nullptr) {
#pragma GCC unroll 16
                for (int i = 0; i < R; ++i) rows[i] = p.a + row_of(i) * p.lda;
                const std::int64_t whole = kc / k_group, rest = kc % k_group;
                for (std::int64_t g = 0; g < whole; ++g) group(rows, g * k_group, std::false_type{}, 0);
                if (rest != 0) group(rows, kc - k_group, std::true_type{}, static_cast<int>(8 * (k_group - rest)));
            } else {
                const std::int64_t runs = kc / p.a_run_length, whole = p.a_run_length / k_group;
                for (std::int64_t run = 0; run < runs; ++run) {
#pragma GCC unroll 16
                    for (int i = 0; i < R; ++i) rows[i] = p.a_runs[row_of(i) * runs + run];
                    for (std::int64_t g = 0; g < whole; ++g) group(rows, g * k_group, std::false_type{}, 0);
                }
            }
        }
        // The plain int32 product (no bias, zero point or ReLU) stores its sums straight from the
        // registers. Through finish below, a tile's sums go to memory and are read back row by row,
        // which at depth 64 took a fifth of the time (avx512vnni 3136 x 256 x 64, perf: a tile is only
        // 16 groups of 28 vpdpbusd there). This way, avx512vnni measured 3-11 % faster on
        // 3136 x 256 x 64, 3136 x 128 x 256, 196 x 1024 x 256, 49 x 2048 x 512 and 1024^3 (ratio to
        // oneDNN, five alternating runs). Only that case: with the requantizing outputs inlined as well,
        // their constants and the 28 sums do not fit the 32 registers together, GCC kept some sums on
        // the stack through the loop, and the same shapes ran 12-32 % slower.
        const requant_params& q = p.requant;
        if (q.out == dtype::s32 && q.bias == nullptr && p.a_zero_point == 0 && !q.relu) {  // no term from B's sums
            std::int32_t* const c = static_cast<std::int32_t*>(p.c) + where.i * p.ldc + where.j;
            const std::int64_t ldc = p.ldc, m = where.m;
            auto store_tile = [&](auto whole) __attribute__((always_inline)) {
                const auto cols = columns_of(where, whole);
#pragma GCC unroll 16
                for (int i = 0; i < R; ++i) {
                    if (i >= m) break;  // a tile of R rows also serves every m above the next smaller R (with_tile_rows)
#pragma GCC unroll 4
                    for (int v = 0; v < NV; ++v) ivec::store_first(cols[v], c + i * ldc + v * ivec::lanes, acc[i][v]);
                }
            };
            if (where.n == nr) store_tile(std::true_type{});
            else store_tile(std::false_type{});
            return;
        }
        // Otherwise the epilogue gets a copy: were `acc` itself passed by reference to a function that
        // is not inlined, Clang 14 would keep all of it in memory through the loops above (a load and a
        // store around every vpdpbusd: 1024^3 at a third of the speed). The copy costs R * NV stores
        // per tile.
        typename ivec::reg result[R][NV];
#pragma GCC unroll 16
        for (int i = 0; i < R; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) result[i][v] = acc[i][v];
        finish(p, st, where, result);
    }

    // A tile of one row: a batch-1 fully connected layer on prepacked weights, whose whole B streams
    // through this loop once, panel after panel, in the order it lies in memory. The two-row loop that
    // would otherwise serve it does every multiply-add twice, on NV accumulators per row that wait on
    // their own latency. Here 4 sets of NV accumulators take the groups of depth in turn (group g into
    // set g % 4), added up before the epilogue. It asks for nothing ahead: with B's L1 prefetch and the
    // next-panel lines of multiply_groups, the same loop read the packed B of 1000 x 2048 at 0.64 of the
    // speed of a plain read of those bytes, and 0.87 without (4096 x 9216: 0.76, 0.99); one sequential
    // stream is what the hardware prefetcher follows best (avx512vnni, Zen 4, medians of 300 calls
    // alternating with the read; docs/gemm_u8s8.md).
    template <bool a_in_place>
    static void one_row(const gemm_u8s8_args& p, const state& st, std::int64_t kc, const a_type* a, const b_type* b,
                        const tile_position& where) {
        constexpr int sets = 4;
        typename ivec::reg acc[sets][NV];
#pragma GCC unroll 4
        for (int s = 0; s < sets; ++s)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[s][v] = ivec::zero();
        // Group g of the row: in place, at row + g * G (a partial last group is its row's last G bytes
        // shifted right, as in multiply_groups); packed, at a + g * MR * G, zero-padded to whole groups.
        // (The row's type depends on a_in_place so that Clang does not check the in-place branch for
        // the widening kernels, whose a_type is u16 and which never read A in place.)
        using row_type = std::conditional_t<a_in_place, std::uint8_t, a_type>;
        const row_type* row = nullptr;
        std::int64_t a_step = MR * k_group, whole = (kc + k_group - 1) / k_group;
        if constexpr (a_in_place) {
            row = p.a + where.i * p.lda;
            a_step = k_group;
            whole = kc / k_group;
        } else {
            row = a;
        }
        auto group = [&](int s, typename ivec::reg ai) __attribute__((always_inline)) {
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[s][v] = ivec::madd(acc[s][v], ai, ivec::load_b(b + v * ivec::lanes * k_group));
            b += nr * k_group;
        };
        std::int64_t g = 0;
        for (; g + sets <= whole; g += sets)
#pragma GCC unroll 4
            for (int s = 0; s < sets; ++s) group(s, ivec::broadcast_a(row + (g + s) * a_step));
        for (; g < whole; ++g) group(0, ivec::broadcast_a(row + g * a_step));
        if constexpr (a_in_place)
            if (kc % k_group != 0) group(1, ivec::shift_right_lanes(ivec::broadcast_a(row + kc - k_group), static_cast<int>(8 * (k_group - kc % k_group))));
        typename ivec::reg result[1][NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) result[0][v] = ivec::add(ivec::add(acc[0][v], acc[1][v]), ivec::add(acc[2][v], acc[3][v]));
        finish(p, st, where, result);
    }

    // One whole group of k_group consecutive elements (of a row of A or of a transposed B), widened when
    // the packed type is 16-bit.
    template <class T>
    static void copy_group(const T* src, std::conditional_t<std::is_same_v<T, std::uint8_t>, a_type, b_type>* out) {
        if constexpr (sizeof(*out) == 1) {
            std::memcpy(out, src, k_group);
        } else {
#pragma GCC unroll 4
            for (int t = 0; t < k_group; ++t) out[t] = src[t];
        }
    }

    // 16 u8 of a row of A (8 pairs) widened to u16, pair q stored at out + q * MR * 2, where the packed
    // panel keeps it (the widening kernels' A layout): one vector widening and eight 32-bit copies,
    // in place of 16 scalar ones (measured: packing A took 40 % of avx2's 3136 x 64 x 64).
    static void widen_pairs16(const std::uint8_t* src, a_type* out) {
        alignas(32) std::uint32_t pairs[8];
        _mm256_store_si256(reinterpret_cast<__m256i*>(pairs), _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src))));
#pragma GCC unroll 8
        for (int q = 0; q < 8; ++q) std::memcpy(out + q * MR * k_group, &pairs[q], sizeof pairs[q]);
    }

    // 16 u8 (8 pairs) of each of 4 rows of A widened to u16 and transposed by pairs: pair q of rows 0..3,
    // 16 bytes, stored at out + q * MR * 2, as the panel keeps them. Each row widens into one ymm whose
    // 32-bit lanes are its pairs; two rounds of unpacks (32-, then 64-bit) gather each pair's four rows,
    // pairs q and q + 4 in the two 128-bit halves of one register. 4 loads, 8 unpacks and 8 stores for
    // 64 elements, where widen_pairs16 takes 4 widenings and 32 scalar copies (measured: packing A took
    // a quarter of avx512's 3136 x 64 x 256 that way).
    static void widen_transpose4(const std::uint8_t* const (&src)[4], a_type* out) {
        __m256i row[4];
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) row[q] = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src[q])));
        const __m256i r01_lo = _mm256_unpacklo_epi32(row[0], row[1]), r01_hi = _mm256_unpackhi_epi32(row[0], row[1]);  // pairs 0 1 | 4 5, 2 3 | 6 7
        const __m256i r23_lo = _mm256_unpacklo_epi32(row[2], row[3]), r23_hi = _mm256_unpackhi_epi32(row[2], row[3]);
        const __m256i pair[4] = {_mm256_unpacklo_epi64(r01_lo, r23_lo), _mm256_unpackhi_epi64(r01_lo, r23_lo),   // pairs 0 | 4, 1 | 5
                                 _mm256_unpacklo_epi64(r01_hi, r23_hi), _mm256_unpackhi_epi64(r01_hi, r23_hi)};  // pairs 2 | 6, 3 | 7
#pragma GCC unroll 4
        for (int q = 0; q < 4; ++q) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + q * MR * k_group), _mm256_castsi256_si128(pair[q]));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(out + (q + 4) * MR * k_group), _mm256_extracti128_si256(pair[q], 1));
        }
    }

    // Rows l .. l + k_group - 1 (`stride` apart) x 16 columns of a row-major B into 16 groups: out[j * G + t].
    static void interleave16(const std::int8_t* row, std::int64_t stride, b_type* out) {
        if constexpr (k_group == 4) {
            const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row));
            const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + stride));
            const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 2 * stride));
            const __m128i r3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + 3 * stride));
            const __m128i lo01 = _mm_unpacklo_epi8(r0, r1), hi01 = _mm_unpackhi_epi8(r0, r1);
            const __m128i lo23 = _mm_unpacklo_epi8(r2, r3), hi23 = _mm_unpackhi_epi8(r2, r3);
            __m128i* o = reinterpret_cast<__m128i*>(out);
            _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(lo01, lo23));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(lo01, lo23));
            _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(hi01, hi23));
            _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(hi01, hi23));
        } else {
            const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row));
            const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + stride));
            const __m128i w0lo = _mm_cvtepi8_epi16(r0), w0hi = _mm_cvtepi8_epi16(_mm_srli_si128(r0, 8));
            const __m128i w1lo = _mm_cvtepi8_epi16(r1), w1hi = _mm_cvtepi8_epi16(_mm_srli_si128(r1, 8));
            __m128i* o = reinterpret_cast<__m128i*>(out);
            _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(w0lo, w1lo));
            _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(w0lo, w1lo));
            _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(w0hi, w1hi));
            _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(w0hi, w1hi));
        }
    }

public:
    // Epilogue, per column j: x = acc + (bias[j] - a_zero_point * sums[j]) in int32 (wrapping adds whose
    // exact result is in range, so the wrap cancels), then the reference's steps (reference/requant.hpp).
    // Public: the dot-product kernels below finish their sums with it too.
    template <int R>
    static void finish(const gemm_u8s8_args& p, const state& st, const tile_position& where,
                       typename ivec::reg (&acc)[R][NV]) {
        const requant_params& q = p.requant;
        const auto cols = columns_of(where, std::false_type{});  // the per-column loads, once per tile
        typename ivec::reg offset[NV];
        typename ivec::freg scale[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) {
            const std::int64_t j = where.j + v * ivec::lanes;
            offset[v] = q.bias != nullptr ? ivec::load_first(cols[v], q.bias + j) : ivec::zero();
            if (st.sums != nullptr)
                offset[v] = ivec::sub(offset[v], ivec::mullo(ivec::set1(p.a_zero_point), ivec::load_first(cols[v], st.sums + j)));
            scale[v] = q.out != dtype::s32 ? ivec::fload_first(cols[v], q.scale + j) : ivec::fzero();
        }
        const ref::output_range range = q.out == dtype::u8 || q.out == dtype::s8 ? ref::int8_output_range(q) : ref::output_range{0, 0};
        const typename ivec::freg lo = ivec::fset1(range.lo), hi = ivec::fset1(range.hi);
        const typename ivec::freg zero_point = ivec::fset1(static_cast<float>(q.zero_point));
        const typename ivec::reg residual_zero_point = ivec::set1(p.residual_zero_point);
        const typename ivec::freg residual_scale = ivec::fset1(p.residual_scale);
        // The rows are stored through C, which the compiler must assume may alias p and q, so what the
        // loop tests is read into locals (and the output type made a constant) before it: otherwise
        // every store reloads the output type and the ReLU flag.
        const bool relu = q.relu;
        void* const c = p.c;
        const std::int64_t ldc = p.ldc, ldr = p.ldr;
        const std::uint8_t* const residual_rows = p.residual;
        auto store_rows = [&](auto out, auto whole) {
            const auto masks = columns_of(where, whole);
            for (std::int64_t i = 0; i < where.m; ++i) {
                const std::int64_t row = (where.i + i) * ldc + where.j;
                const std::uint8_t* residual = residual_rows != nullptr ? residual_rows + (where.i + i) * ldr + where.j : nullptr;
#pragma GCC unroll 4
                for (int v = 0; v < NV; ++v) {
                    const std::int64_t at = row + v * ivec::lanes;
                    const typename ivec::reg x = ivec::add(acc[i][v], offset[v]);
                    if constexpr (decltype(out)::value == dtype::s32) {
                        ivec::store_first(masks[v], static_cast<std::int32_t*>(c) + at, relu ? ivec::max_zero(x) : x);
                    } else {
                        typename ivec::freg f = ivec::fmul(ivec::to_float(x), scale[v]);
                        if (residual != nullptr) {  // + float(R - zero point) * residual_scale, the reference's steps
                            const typename ivec::reg r = ivec::sub(ivec::load_u8_first(masks[v], residual + v * ivec::lanes), residual_zero_point);
                            f = ivec::fadd(f, ivec::fmul(ivec::to_float(r), residual_scale));
                        }
                        if constexpr (decltype(out)::value == dtype::f32) {
                            ivec::fstore_first(masks[v], static_cast<float*>(c) + at, relu ? ivec::fmax_zero(f) : f);
                        } else {
                            f = ivec::fmin(ivec::fmax(ivec::fadd(ivec::round_even(f), zero_point), lo), hi);
                            if constexpr (decltype(out)::value == dtype::u8) ivec::store_u8_first(masks[v], static_cast<std::uint8_t*>(c) + at, f);
                            else ivec::store_s8_first(masks[v], static_cast<std::int8_t*>(c) + at, f);
                        }
                    }
                }
            }
        };
        auto store_all = [&](auto whole) {
            switch (q.out) {
                case dtype::s32: return store_rows(std::integral_constant<dtype, dtype::s32>{}, whole);
                case dtype::f32: return store_rows(std::integral_constant<dtype, dtype::f32>{}, whole);
                case dtype::u8: return store_rows(std::integral_constant<dtype, dtype::u8>{}, whole);
                default: return store_rows(std::integral_constant<dtype, dtype::s8>{}, whole);
            }
        };
        if (where.n == nr) store_all(std::true_type{});
        else store_all(std::false_type{});
    }

private:
    // The masks of the tile's NV vectors of columns. For a tile of all NR columns (`whole`, a constant)
    // every mask is a constant with every lane on, and the masked loads and stores of C and of the
    // residual fold into the plain instructions (the epilogue operations in avx512/ and avx2/ say why
    // that matters); only the last tile of a row of C, cut by n, keeps its masks.
    template <class Whole>
    static std::array<typename ivec::mask, NV> columns_of(const tile_position& where, Whole) {
        std::array<typename ivec::mask, NV> cols;
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) cols[v] = ivec::first(Whole::value ? ivec::lanes : where.n - v * ivec::lanes);
        return cols;
    }
};

// ---- Dot products of rows: C[i][j] = requant( sum_l (A[i][l] - za) * W[j][l] ) --------------------------
//
// The memory-bound kernel behind the INT8 GEMV (one row of A) and the small-M GEMM with a transposed B
// (a fully connected layer at batch 1..16, W in PyTorch's [out][in] order). Each row of W is read from
// memory once: RW rows of W stay in cache while the rows of A pass over them RA at a time. A step covers
// ivec::step bytes of k; the last partial step is copied into a zeroed buffer, so nothing past a row is
// read. With a zero point, sum_l W[j][l] is accumulated alongside (one more multiply-add by ones per W
// vector) and za times it is subtracted at the end. The epilogue is the GEMM tile's, on a vector of sums.
template <int RA, int RW, bool zero_point>
void dot_rows_block(const gemm_u8s8_args& p, std::int64_t i0, std::int64_t j0) {
    constexpr int step = ivec::step;
    typename ivec::reg acc[RA][RW], wsum[RW];
#pragma GCC unroll 16
    for (int j = 0; j < RW; ++j) {
        wsum[j] = ivec::zero();
#pragma GCC unroll 16
        for (int i = 0; i < RA; ++i) acc[i][j] = ivec::zero();
    }
    const typename ivec::reg ones = ivec::x_ones();
    const std::uint8_t* a = p.a + i0 * p.lda;
    const std::int8_t* w = p.b + j0 * p.ldb;
    auto accumulate = [&](const std::uint8_t* const (&a_rows)[RA], const std::int8_t* const (&w_rows)[RW]) {
        typename ivec::reg wv[RW];
#pragma GCC unroll 16
        for (int j = 0; j < RW; ++j) {
            wv[j] = ivec::load_w(w_rows[j]);
            if constexpr (zero_point) wsum[j] = ivec::dot(wsum[j], ones, wv[j]);
        }
#pragma GCC unroll 16
        for (int i = 0; i < RA; ++i) {
            const typename ivec::reg xv = ivec::load_x(a_rows[i]);
#pragma GCC unroll 16
            for (int j = 0; j < RW; ++j) acc[i][j] = ivec::dot(acc[i][j], xv, wv[j]);
        }
    };
    const std::uint8_t* a_start[RA];
    const std::int8_t* w_start[RW];
    for (int i = 0; i < RA; ++i) a_start[i] = a + i * p.lda;
    for (int j = 0; j < RW; ++j) w_start[j] = w + j * p.ldb;
    auto step_at = [&](std::int64_t l) {
        const std::uint8_t* a_rows[RA];
        const std::int8_t* w_rows[RW];
#pragma GCC unroll 16
        for (int i = 0; i < RA; ++i) a_rows[i] = a_start[i] + l;
#pragma GCC unroll 16
        for (int j = 0; j < RW; ++j) w_rows[j] = w_start[j] + l;
        accumulate(a_rows, w_rows);
    };
    std::int64_t l = 0;
    const std::int64_t k = p.k;
    // One row of A (the GEMV): two steps per iteration, which read W from L2 faster (1000 x 1024:
    // 74-76 -> 80-81 GB/s, 1000 x 2048: 55-59 -> 60-62, alternating with oneDNN). Unrolled that way,
    // the small-M loops measured up to 7 % slower with AVX-VNNI, so they keep one step.
    if constexpr (RA == 1)
        for (; l + 2 * step <= k; l += 2 * step) {
            step_at(l);
            step_at(l + step);
        }
    for (; l + step <= k; l += step) step_at(l);
    if (l < p.k) {
        const std::size_t rest = static_cast<std::size_t>(p.k - l);
        alignas(64) std::uint8_t a_tail[RA][step] = {};
        alignas(64) std::int8_t w_tail[RW][step] = {};
        const std::uint8_t* a_rows[RA];
        const std::int8_t* w_rows[RW];
        for (int i = 0; i < RA; ++i) {
            std::memcpy(a_tail[i], a_start[i] + l, rest);
            a_rows[i] = a_tail[i];
        }
        for (int j = 0; j < RW; ++j) {
            std::memcpy(w_tail[j], w_start[j] + l, rest);
            w_rows[j] = w_tail[j];
        }
        accumulate(a_rows, w_rows);
    }
    // The epilogue is the GEMM tile's (gemm_u8s8_kernel::finish), on one vector of RW sums per row of
    // A: ivec::sum4 adds up four accumulators at once (a transpose of their lanes interleaved with the
    // additions) and ivec::join puts two such quads side by side. It replaced a sum of each accumulator
    // on its own followed by the reference's scalar epilogue per element, which with W in L2 cost more
    // than the reading: avx512vnni 16 x 1000 x 2048 went from 301-342 to 401-416 GOP/s, avxvnni from
    // 202-219 to 272-274 (alternating runs).
    const __m128i none = _mm_setzero_si128();
    auto sums_of = [&](const typename ivec::reg (&r)[RW]) {
        const typename ivec::reg z = ivec::zero();
        auto at = [&](int j) { return j < RW ? r[j] : z; };
        const __m128i low = ivec::sum4(at(0), at(1), at(2), at(3));
        if constexpr (RW > 4) return ivec::join(low, ivec::sum4(at(4), at(5), at(6), at(7)));
        return ivec::join(low, none);
    };
    typename ivec::reg out[RA][1];
    // Copies read by the lambda above: indexed through a reference, the accumulators themselves would
    // stay in memory through the loop above under Clang 14.
    typename ivec::reg result[RW];
    typename ivec::reg correction = ivec::zero();
    if constexpr (zero_point) {
#pragma GCC unroll 16
        for (int j = 0; j < RW; ++j) result[j] = wsum[j];
        correction = ivec::mullo(ivec::set1(p.a_zero_point), sums_of(result));
    }
#pragma GCC unroll 16
    for (int i = 0; i < RA; ++i) {
#pragma GCC unroll 16
        for (int j = 0; j < RW; ++j) result[j] = acc[i][j];
        out[i][0] = ivec::sub(sums_of(result), correction);
    }
    tile_position where;
    where.i = i0;
    where.j = j0;
    where.m = RA;
    where.n = RW;
    gemm_u8s8_kernel<RA, 1>::finish(p, {}, where, out);
}

// All rows of A against RW rows of W, which stay in L1/L2 while the groups of A pass over them.
template <int RW, bool zero_point>
void dot_rows_of_w(const gemm_u8s8_args& p, std::int64_t j0) {
    constexpr int RA = ivec::dot_rows_a;
    std::int64_t i = 0;
    for (; i + RA <= p.m; i += RA) dot_rows_block<RA, RW, zero_point>(p, i, j0);
    for (; i < p.m; ++i) dot_rows_block<1, RW, zero_point>(p, i, j0);
}

// A single row of A (the GEMV) takes 8 rows of W at a time on zmm: 8 streams of W read L2 faster than 4
// (1000 x 2048, whose 2 MB of W stay in L2: 41 -> 35 us with vpdpbusd, where oneDNN takes 31) and it
// halves the epilogues; from L3 (AlexNet's layers) it reads at the same speed. On ymm, only vpdpbusd
// without a zero point takes 8: the sums of W would need 8 more of the 16 registers, and the widening
// AVX2 kernel measured 3 % slower from L3 with 8 rows. Several rows of A keep 4 rows of W: their
// accumulators fill the registers.
template <bool zero_point>
void dot_rows_u8s8(const gemm_u8s8_args& p) {
    constexpr int wide = ivec::lanes == 16 || (ivec::group == 4 && !zero_point) ? 8 : 4;
    std::int64_t j = 0;
    if (p.m == 1)
        for (; j + wide <= p.n; j += wide) dot_rows_block<1, wide, zero_point>(p, 0, j);
    for (; j + 4 <= p.n; j += 4) dot_rows_of_w<4, zero_point>(p, j);
    for (; j < p.n; ++j) dot_rows_of_w<1, zero_point>(p, j);
}

// ---- GEMV and small-M GEMM ------------------------------------------------------------------------------

inline constexpr std::int64_t small_m_limit_u8s8 = 16;

inline bool gemm_u8s8_small_m_accepts(const gemm_u8s8_args& p) {
    return p.m <= small_m_limit_u8s8 && p.trans_b && p.a_runs == nullptr;
}

inline void gemm_u8s8_small_m(const gemm_u8s8_args& p) {
    if (p.a_zero_point != 0) dot_rows_u8s8<true>(p);
    else dot_rows_u8s8<false>(p);
}

// y = W x as the 1 x n product x^T W^T.
inline void gemv_u8s8(const gemv_u8s8_args& p) {
    gemm_u8s8_args row;
    row.m = 1;
    row.n = p.n;
    row.k = p.k;
    row.a = p.x;
    row.lda = p.k;
    row.a_zero_point = p.x_zero_point;
    row.b = p.w;
    row.ldb = p.ldw;
    row.trans_b = true;
    row.c = p.y;
    row.ldc = p.n;
    row.requant = p.requant;
    gemm_u8s8_small_m(row);
}
