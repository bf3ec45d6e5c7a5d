// lanes net: the executor. An engine is one network prepared for one precision and one batch size.
//
// At load (the constructor), once:
//   - each conv's BatchNorm is folded into its weights and bias: s = gamma / sqrt(var + 1e-5),
//     w' = w * s, b' = beta + (b - mean) * s (in double, then rounded to float);
//   - weights are reordered from OIHW to O(HWI), the order of an NHWC patch, and packed for the GEMM
//     microkernel chosen under the current ISA cap (INT8: quantized to s8 per output channel first);
//   - the first linear layer after a spatial tensor gets its columns permuted from PyTorch's NCHW
//     flattening to NHWC, so no tensor is ever transposed at run time;
//   - every activation, every patch or border-window buffer and every scratch buffer gets an offset in
//     one arena (memory_plan below), allocated once. run() allocates nothing;
//   - the arena placed, each conv's window rows get their pointers (point_window_runs below).
//
// A conv runs as a GEMM over the NHWC activations: M = batch * out_h * out_w, N = out_c,
// K = kernel_h * kernel_w * in_c. A 1x1 stride-1 conv reads its input in place; any other reads its
// windows in place too, as runs (implicit im2col), gathering only the windows that leave the input
// (padding = 0 or the input zero point); FP32 conv1, on the caller's images, gathers its patches
// (im2col). Bias, ReLU and the bottleneck's shortcut are in the GEMM's epilogue: FP32 accumulates onto
// the shortcut in place (beta = 1); INT8 passes the shortcut as the GEMM's residual, read and
// overwritten in place while the tile is in registers, exactly as lanes::ref::conv2d_u8s8 defines a
// conv with a residual.
//
// INT8 (see calibration.hpp): the input is quantized to u8 with the calibrated scale and zero point,
// every conv and linear layer maps u8 to u8 (weights s8 symmetric per output channel, bias s32 in
// units of input scale x weight scale), max and average pooling run on u8 and keep their input's
// scale, and the last linear layer writes float logits (float(acc + bias) * input scale * weight scale).
#pragma once

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../lanes.hpp"
#include "calibration.hpp"
#include "model.hpp"
#include "weights.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace lanes::net {

enum class precision { fp32, int8 };

inline const char* precision_name(precision p) { return p == precision::fp32 ? "fp32" : "int8"; }

inline precision precision_from_name(const std::string& name) {
    if (name == "fp32") return precision::fp32;
    if (name == "int8") return precision::int8;
    fail("unknown precision '", name, "' (fp32 or int8)");
}

// ---- The static memory plan ------------------------------------------------------------------------
//
// Every buffer lives from the layer that writes it first to the layer that reads it last. Buffers are
// placed largest first, each at the lowest 64-byte-aligned offset that overlaps no placed buffer alive
// at the same time (a greedy interval packing); the arena is the highest end.
class memory_plan {
public:
    int add(std::int64_t bytes, int first_layer, int last_layer) {
        buffers_.push_back({bytes, first_layer, last_layer, 0});
        return static_cast<int>(buffers_.size()) - 1;
    }
    void extend(int buffer, int first_layer, int last_layer) {
        buffer_info& b = buffers_[static_cast<std::size_t>(buffer)];
        b.first = std::min(b.first, first_layer);
        b.last = std::max(b.last, last_layer);
    }
    void place() {
        std::vector<std::size_t> order(buffers_.size());
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return buffers_[a].bytes > buffers_[b].bytes; });
        std::vector<std::size_t> placed;
        for (std::size_t i : order) {
            buffer_info& b = buffers_[i];
            std::int64_t offset = 0;
            for (bool moved = true; moved;) {
                moved = false;
                for (std::size_t j : placed) {
                    const buffer_info& o = buffers_[j];
                    const bool alive_together = b.first <= o.last && o.first <= b.last;
                    if (alive_together && offset < o.offset + o.bytes && o.offset < offset + b.bytes) {
                        offset = (o.offset + o.bytes + 63) / 64 * 64;
                        moved = true;
                    }
                }
            }
            b.offset = offset;
            arena_bytes_ = std::max(arena_bytes_, offset + b.bytes);
            placed.push_back(i);
        }
    }
    std::int64_t offset(int buffer) const { return buffers_[static_cast<std::size_t>(buffer)].offset; }
    std::int64_t arena_bytes() const { return arena_bytes_; }

private:
    struct buffer_info {
        std::int64_t bytes;
        int first, last;
        std::int64_t offset;
    };
    std::vector<buffer_info> buffers_;
    std::int64_t arena_bytes_ = 0;
};

// ---- Patches ----------------------------------------------------------------------------------------
//
// im2col for NHWC: row (n, oy, ox) of `patches` holds the kernel_h x kernel_w x in_c window of that
// output position, in (ky, kx, ic) order, with `pad` where the window leaves the input. A window row
// that lies wholly inside the input is one contiguous run of kernel_w * in_c values (NHWC keeps a
// pixel's channels next to the next pixel's), so it is copied in one piece; only border rows go
// tap by tap.

// Where the window of patch row r lies: its image and its top-left input position (in the padding when
// the window starts outside the input).
struct window_origin {
    std::int64_t n, iy0, ix0;
};
inline window_origin origin_of(const conv2d_shape& s, std::int64_t r) {
    const std::int64_t out_h = s.out_h(), out_w = s.out_w();
    return {r / (out_h * out_w), r / out_w % out_h * s.stride_h - s.pad_top, r % out_w * s.stride_w - s.pad_left};
}

// Row r of the patch matrix into `dst`: kernel_h runs of kernel_w * in_c values, `run_stride` apart (by
// default packed together; a larger stride is filled with `pad`).
template <class T>
void gather_patch_row(const conv2d_shape& s, const T* input, T pad, std::int64_t r, T* dst, std::int64_t run_stride = 0) {
    const std::int64_t run = s.kernel_w * s.in_c;
    if (run_stride == 0) run_stride = run;
    const auto [n, iy0, ix0] = origin_of(s, r);
    const bool inside_x = ix0 >= 0 && ix0 + s.kernel_w <= s.in_w;
    for (std::int64_t ky = 0; ky < s.kernel_h; ++ky, dst += run_stride) {
        std::fill(dst + run, dst + run_stride, pad);
        const std::int64_t iy = iy0 + ky;
        if (iy < 0 || iy >= s.in_h) {
            std::fill(dst, dst + run, pad);
            continue;
        }
        const T* src = input + ((n * s.in_h + iy) * s.in_w) * s.in_c;
        if (inside_x) {
            std::memcpy(dst, src + ix0 * s.in_c, static_cast<std::size_t>(run) * sizeof(T));
            continue;
        }
        for (std::int64_t kx = 0; kx < s.kernel_w; ++kx) {
            const std::int64_t ix = ix0 + kx;
            if (ix < 0 || ix >= s.in_w) std::fill(dst + kx * s.in_c, dst + (kx + 1) * s.in_c, pad);
            else std::memcpy(dst + kx * s.in_c, src + ix * s.in_c, static_cast<std::size_t>(s.in_c) * sizeof(T));
        }
    }
}

// Rows [first, first + rows) of the whole batch's patch matrix go to `patches` (all of them by default).
template <class T>
void gather_patches(const conv2d_shape& s, const T* input, T pad, T* patches, std::int64_t first = 0, std::int64_t rows = -1) {
    const std::int64_t k = s.kernel_h * s.kernel_w * s.in_c;
    if (rows < 0) rows = s.batch * s.out_h() * s.out_w() - first;
    // Small copies stay out of OpenMP altogether: even `if (false)` starts a team of one, and its end costs a
    // futex syscall (kernels/gemm_driver.hpp, gemm_blocked).
    if (rows * k <= (1 << 16)) {
        for (std::int64_t i = 0; i < rows; ++i) gather_patch_row(s, input, pad, first + i, patches + i * k);
        return;
    }
    LANES_OMP(omp parallel for schedule(static))
    for (std::int64_t i = 0; i < rows; ++i) gather_patch_row(s, input, pad, first + i, patches + i * k);
}

// ---- Windows read where they lie (implicit im2col) --------------------------------------------------
//
// A row of the patch matrix is kernel_h runs of kernel_w * in_c values, one per window row, and a run
// that lies inside the input is already contiguous in NHWC. So instead of copying the patches, the GEMM
// can take a pointer per run (a_runs in gemm_f32_args and gemm_u8s8_args). Only the windows that leave
// the input (the border rows, with padding) are gathered, into a small buffer of their own, and their
// runs point there.
//
// The INT8 kernels read runs in place in whole groups of 4 bytes. A run of another length (conv1: 7
// pixels x 3 channels = 21) is read as `run_stride` = 24 bytes: the GEMM's depth is kernel_h * 24, the
// weights of the 3 extra bytes of each window row are zero, so whatever they hold (the next pixel's
// first channels) adds nothing, and every INT8 activation buffer has 3 bytes of slack after it so that
// the last window's extra bytes are inside the arena.

// The rows of the patch matrix whose window leaves the input.
inline std::vector<std::int64_t> border_rows(const conv2d_shape& s) {
    std::vector<std::int64_t> rows;
    for (std::int64_t r = 0; r < s.batch * s.out_h() * s.out_w(); ++r) {
        const window_origin w = origin_of(s, r);
        if (w.iy0 < 0 || w.iy0 + s.kernel_h > s.in_h || w.ix0 < 0 || w.ix0 + s.kernel_w > s.in_w) rows.push_back(r);
    }
    return rows;
}

// runs[r * kernel_h + ky]: where window row ky of patch row r starts, in the input, or for border row b
// (border[b] == r) in `gathered` at (b * kernel_h + ky) * run_stride. `border` is border_rows(s).
template <class T>
void point_window_runs(const conv2d_shape& s, const T* input, const std::vector<std::int64_t>& border, const T* gathered,
                       std::int64_t run_stride, std::vector<const T*>& runs) {
    const std::int64_t rows = s.batch * s.out_h() * s.out_w(), k = s.kernel_h * run_stride;
    runs.resize(static_cast<std::size_t>(rows * s.kernel_h));
    std::size_t b = 0;
    for (std::int64_t r = 0; r < rows; ++r) {
        const bool on_border = b < border.size() && border[b] == r;
        const window_origin w = origin_of(s, r);
        for (std::int64_t ky = 0; ky < s.kernel_h; ++ky)
            runs[static_cast<std::size_t>(r * s.kernel_h + ky)] = on_border ? gathered + static_cast<std::int64_t>(b) * k + ky * run_stride
                                                                            : input + ((w.n * s.in_h + w.iy0 + ky) * s.in_w + w.ix0) * s.in_c;
        b += on_border;
    }
}

// The border rows' patches, into `gathered` (row b at b * kernel_h * run_stride, runs run_stride apart).
template <class T>
void gather_border_rows(const conv2d_shape& s, const T* input, T pad, const std::vector<std::int64_t>& border, std::int64_t run_stride,
                        T* gathered) {
    const std::int64_t k = s.kernel_h * run_stride;
    for (std::size_t b = 0; b < border.size(); ++b)
        gather_patch_row(s, input, pad, border[b], gathered + static_cast<std::int64_t>(b) * k, run_stride);
}

// Each of the n rows of weights (kernel_h window rows of `run` values) with its window rows
// `run_stride` apart and zeros between: the weights for runs read as run_stride values.
template <class T>
std::vector<T> pad_window_rows(const std::vector<T>& w, std::int64_t n, std::int64_t kernel_h, std::int64_t run, std::int64_t run_stride) {
    std::vector<T> out(static_cast<std::size_t>(n * kernel_h * run_stride), T{});
    for (std::int64_t o = 0; o < n * kernel_h; ++o) std::copy_n(w.begin() + o * run, run, out.begin() + o * run_stride);
    return out;
}

// Rounding without a call: for |x| <= 2^22, (x + 1.5 * 2^23) - 1.5 * 2^23 is x rounded half to even
// (the sum lands where floats are one apart, and 1.5 * 2^23 is even), i.e. nearbyint(x) in the
// default rounding mode. Callers clamp x to +-2^22 first: beyond it every value clamps to the same
// bound of the u8 range anyway. Written with plain comparisons so that the compiler vectorizes the
// loop below (net/ is built with -fno-trapping-math, which lets it evaluate both sides of a select).
inline float round_half_even_small(float x) {
    constexpr float magic = 12582912.0f;
    return (x + magic) - magic;
}
inline constexpr float round_limit = 4194304.0f;  // 2^22

// The network input to u8, exactly as lanes::ref::quantize: clamp(nearbyint(x * (1 / scale)) + zp, 0, 255),
// NaN to the zero point.
[[gnu::always_inline]] inline void quantize_loop(const float* x, std::int64_t count, float scale, std::int32_t zero_point,
                                                 std::uint8_t* out) {
    const float inverse = 1.0f / scale, zp = static_cast<float>(zero_point);
    for (std::int64_t i = 0; i < count; ++i) {
        float t = x[i] * inverse;
        t = t < -round_limit ? -round_limit : t;
        t = t > round_limit ? round_limit : t;
        t = round_half_even_small(t) + zp;
        t = t < 0.0f ? 0.0f : t;
        t = t > 255.0f ? 255.0f : t;
        t = x[i] != x[i] ? zp : t;
        out[i] = static_cast<std::uint8_t>(static_cast<std::int32_t>(t));
    }
}

#if LANES_X86
// The same loop compiled for AVX2 and AVX-512 (the always_inline bodies take the caller's target,
// so the compiler vectorizes them 8 and 16 wide), chosen under the ISA cap like any kernel. Every
// version performs the same IEEE operations per element, so the results are identical.
[[gnu::target(LANES_TARGET_AVX2)]] inline void quantize_avx2(const float* x, std::int64_t n, float scale, std::int32_t z, std::uint8_t* out) {
    quantize_loop(x, n, scale, z, out);
}
[[gnu::target(LANES_TARGET_AVX512)]] inline void quantize_avx512(const float* x, std::int64_t n, float scale, std::int32_t z,
                                                                std::uint8_t* out) {
    quantize_loop(x, n, scale, z, out);
}
#endif

// Splits [0, count) across the OpenMP threads (when large enough) and runs `body(begin, end)` on each part.
template <class Body>
void split_rows(std::int64_t count, Body&& body) {
    const int parts =
#if defined(_OPENMP)
        count > (1 << 18) ? omp_get_max_threads() : 1;
#else
        1;
#endif
    if (parts == 1) return body(std::int64_t{0}, count);  // no team of one (gather_patches says why)
    LANES_OMP(omp parallel for schedule(static))
    for (int t = 0; t < parts; ++t) body(count * t / parts, count * (t + 1) / parts);
}

inline void quantize_input(const float* x, std::int64_t count, float scale, std::int32_t zero_point, std::uint8_t* out) {
    [[maybe_unused]] const isa level = isa_cap();
    split_rows(count, [&](std::int64_t begin, std::int64_t end) {
#if LANES_X86
        if (level >= isa::avx512) return quantize_avx512(x + begin, end - begin, scale, zero_point, out + begin);
        if (level >= isa::avx2) return quantize_avx2(x + begin, end - begin, scale, zero_point, out + begin);
#endif
        quantize_loop(x + begin, end - begin, scale, zero_point, out + begin);
    });
}

// ---- Profile -----------------------------------------------------------------------------------------
struct layer_profile {
    std::string name, what, kernel;
    std::int64_t macs = 0;       // per run (the whole batch)
    double kernel_seconds = 0;   // GEMM / pool / eltwise kernels
    double other_seconds = 0;    // patches, quantization of the input
    bool int8 = false;
    isa level = isa::ref;
};

using seconds_clock = std::chrono::steady_clock;
inline double seconds_since(seconds_clock::time_point t0) {
    return std::chrono::duration<double>(seconds_clock::now() - t0).count();
}

// ---- The engine ----------------------------------------------------------------------------------------
struct engine_options {
    precision prec = precision::fp32;
    std::int64_t batch = 1;
    const calibration* calib = nullptr;  // required for int8
};

struct memory_report {
    std::int64_t weight_bytes = 0;  // packed weights, biases and scales
    std::int64_t arena_bytes = 0;   // every activation, patch matrix and scratch buffer
};

class engine {
public:
    // Linear layers over at most this many images keep their weights unpacked (the small-M kernels), but
    // INT8 ones at AVX512-VNNI (prepare_int8).
    static constexpr std::int64_t small_batch = 16;

    // Called with each FP32 tensor as soon as it is complete (calibration).
    using observer = std::function<void(int tensor, const float* values, std::int64_t count)>;

    engine(network net, weight_source& weights, const engine_options& options)
        : net_(std::move(net)), options_(options) {
        if (options_.batch < 1) fail("engine: batch = ", options_.batch, " must be at least 1");
        if (options_.prec == precision::int8 && options_.calib == nullptr) fail("engine: INT8 needs a calibration");
        int8_ = options_.prec == precision::int8;
        if (int8_) assign_quant_params();
        for (std::size_t i = 0; i < net_.layers.size(); ++i) prepare_layer(static_cast<int>(i), weights);
        plan_memory();
    }

    const network& net() const { return net_; }
    std::int64_t batch() const { return options_.batch; }
    precision prec() const { return options_.prec; }
    memory_report memory() const { return {weight_bytes_, plan_.arena_bytes()}; }

    void set_observer(observer o) {
        if (int8_ && o) fail("engine: only an FP32 engine can be observed");
        observer_ = std::move(o);
    }
    void set_profiling(bool on) { profiling_ = on; }
    const std::vector<layer_profile>& profile() const { return profile_; }
    void reset_profile() {
        for (layer_profile& p : profile_) p.kernel_seconds = p.other_seconds = 0;
    }

    // images: batch x 224 x 224 x 3 floats (preprocessed, NHWC). Returns batch x classes logits,
    // valid until the next run.
    const float* run(const float* images) {
        const tensor_info& in = net_.tensors[static_cast<std::size_t>(net_.input)];
        const std::int64_t count = options_.batch * in.elements();
        if (observer_) observer_(net_.input, images, count);
        if (int8_) {
            const auto t0 = seconds_clock::now();
            const quant_params q = quant_[static_cast<std::size_t>(net_.input)];
            quantize_input(images, count, q.scale, q.zero_point, static_cast<std::uint8_t*>(tensor(net_.input)));
            if (profiling_) profile_.front().other_seconds += seconds_since(t0);
        } else {
            input_ = images;
        }
        for (std::size_t i = 0; i < net_.layers.size(); ++i) {
            run_layer(static_cast<int>(i));
            const layer& l = net_.layers[i];
            if (observer_) observer_(l.output, static_cast<const float*>(tensor(l.output)), options_.batch * net_.out(l).elements());
        }
        return static_cast<const float*>(tensor(net_.output));
    }

private:
    struct prepared {
        conv2d_shape shape;  // conv (as a GEMM) and pools
        std::int64_t m = 0, n = 0, k = 0;
        bool direct = false;  // the GEMM reads the input tensor itself
        packed_b_f32 w_f32;
        std::vector<float> w_rows;  // FP32 weights unpacked, n x k: a linear layer at a small batch (see prepare_layer)
        packed_b_u8s8 w_u8;
        std::vector<std::int8_t> w_s8;  // INT8 weights unpacked (no packed format under LANES_ISA=ref), n x k
        std::vector<float> bias_f32, scale;
        std::vector<std::int32_t> bias_s32;
        bool unpacked = false;   // weights kept as n x k rows for the small-M kernels
        std::int64_t chunk = 0;  // GEMM rows per call (see chunk_rows)
        int patches = -1;        // plan buffer: chunk rows of patches
        // Convs that read their windows where they lie (implicit im2col, see point_window_runs):
        bool implicit = false;
        std::int64_t run = 0;                      // values per window row in A (INT8: rounded up to 4 bytes)
        std::vector<std::int64_t> border;          // the rows whose window leaves the input, gathered at run time
        int gathered = -1;                         // plan buffer: their patches
        std::vector<const std::uint8_t*> runs_u8;  // a pointer per window row, set once the arena is placed
        std::vector<const float*> runs_f32;
    };

    // ---- load -----------------------------------------------------------------------------------------
    void assign_quant_params() {
        quant_.resize(net_.tensors.size());
        quant_[static_cast<std::size_t>(net_.input)] = options_.calib->quant(net_, net_.input);
        for (const layer& l : net_.layers) {
            if (l.output == net_.output) continue;
            quant_[static_cast<std::size_t>(l.output)] = l.kind == layer_kind::conv || l.kind == layer_kind::linear
                                                             ? options_.calib->quant(net_, l.output)
                                                             : quant_[static_cast<std::size_t>(l.input)];
        }
    }

    // The layer's weights as a GEMM's B: n x k rows (trans_b), BatchNorm folded, patch order.
    void load_weights(const layer& l, weight_source& source, std::vector<float>& w, std::vector<float>& bias) {
        const std::vector<weight_spec> specs = net_.layer_weights(l);  // weight, bias?, then BatchNorm
        w = source.load(specs[0]);
        bias.assign(static_cast<std::size_t>(l.out_c), 0.0f);
        std::size_t next = 1;
        if (l.bias) bias = source.load(specs[next++]);
        const std::int64_t per_out = static_cast<std::int64_t>(w.size()) / l.out_c;
        if (!l.bn.empty()) {
            const std::vector<float> gamma = source.load(specs[next]), beta = source.load(specs[next + 1]),
                                     mean = source.load(specs[next + 2]), var = source.load(specs[next + 3]);
            for (std::int64_t o = 0; o < l.out_c; ++o) {
                const std::size_t oi = static_cast<std::size_t>(o);
                const double s = gamma[oi] / std::sqrt(static_cast<double>(var[oi]) + 1e-5);
                for (std::int64_t i = 0; i < per_out; ++i) {
                    float& v = w[static_cast<std::size_t>(o * per_out + i)];
                    v = static_cast<float>(v * s);
                }
                bias[oi] = static_cast<float>(beta[oi] + (static_cast<double>(bias[oi]) - mean[oi]) * s);
            }
        }
        const tensor_info& x = net_.in(l);
        // OIHW -> O(HWI) for a conv; NCHW -> NHWC flattening for a linear layer over a spatial tensor.
        const std::int64_t spatial = l.kind == layer_kind::conv ? l.kernel * l.kernel : x.h * x.w;
        // One row at a time through a row-sized buffer, so the largest layer (AlexNet's 151 MB
        // classifier.1) is never held twice.
        if (spatial > 1) {
            std::vector<float> row(static_cast<std::size_t>(per_out));
            const std::int64_t channels = x.c;
            for (std::int64_t o = 0; o < l.out_c; ++o) {
                float* dst = w.data() + o * per_out;
                std::copy(dst, dst + per_out, row.begin());
                for (std::int64_t c = 0; c < channels; ++c)
                    for (std::int64_t p = 0; p < spatial; ++p)
                        dst[p * channels + c] = row[static_cast<std::size_t>(c * spatial + p)];
            }
        }
    }

    void prepare_layer(int index, weight_source& source) {
        const layer& l = net_.layers[static_cast<std::size_t>(index)];
        const tensor_info& x = net_.in(l);
        const tensor_info& y = net_.out(l);
        prepared p;
        layer_profile prof;
        prof.name = l.name;
        prof.int8 = int8_;
        if (l.kind == layer_kind::max_pool || l.kind == layer_kind::adaptive_avg_pool) {
            p.shape = {.batch = options_.batch, .in_h = x.h, .in_w = x.w, .in_c = x.c, .out_c = x.c,
                       .kernel_h = l.kernel, .kernel_w = l.kernel, .stride_h = l.stride, .stride_w = l.stride,
                       .pad_top = l.pad, .pad_left = l.pad, .pad_bottom = l.pad, .pad_right = l.pad};
            prof.what = (l.kind == layer_kind::max_pool ? "maxpool " : "avgpool ") + dims(x) + " -> " + dims(y);
            prof.kernel = l.kind == layer_kind::max_pool ? kernels::max_pool2d.preferred_at(isa_cap()).name
                                                         : kernels::adaptive_avg_pool2d.preferred_at(isa_cap()).name;
            layers_.push_back(std::move(p));
            profile_.push_back(std::move(prof));
            return;
        }
        p.shape = {.batch = options_.batch, .in_h = x.h, .in_w = x.w, .in_c = x.c, .out_c = l.out_c,
                   .kernel_h = l.kernel, .kernel_w = l.kernel, .stride_h = l.stride, .stride_w = l.stride,
                   .pad_top = l.pad, .pad_left = l.pad, .pad_bottom = l.pad, .pad_right = l.pad};
        if (l.kind == layer_kind::linear) {
            p.m = options_.batch, p.n = l.out_c, p.k = x.elements();
            p.direct = true;
        } else {
            p.m = options_.batch * y.h * y.w, p.n = l.out_c, p.k = l.kernel * l.kernel * x.c;
            p.direct = l.kernel == 1 && l.stride == 1 && l.pad == 0;
            // FP32 reads the caller's images directly, so a conv on them (conv1) gathers its patches.
            p.implicit = !p.direct && (int8_ || l.input != net_.input);
            if (p.implicit) {
                p.run = int8_ ? round_up(l.kernel * x.c, 4) : l.kernel * x.c;
                p.k = l.kernel * p.run;
                p.border = border_rows(p.shape);
            }
        }
        p.chunk = chunk_rows(p);
        std::vector<float> w, bias;
        load_weights(l, source, w, bias);
        if (p.implicit && p.run != l.kernel * x.c) w = pad_window_rows<float>(w, p.n, l.kernel, l.kernel * x.c, p.run);
        prof.macs = p.m * p.n * (l.kind == layer_kind::linear ? p.k : l.kernel * l.kernel * x.c);
        prof.what = (l.kind == layer_kind::linear ? "linear " : "conv " + std::to_string(l.kernel) + "x" + std::to_string(l.kernel) +
                                                                   "/" + std::to_string(l.stride) + " ") +
                    dims(x) + " -> " + dims(y);
        // A linear layer over a batch of at most 16 is a memory-bound product: its weights stay in
        // PyTorch's [out][in] rows, which the small-M kernels stream once (a packed layout would only
        // add the GEMM's blocking around a single pass over them). INT8 at AVX512-VNNI packs them after all
        // (prepare_int8 says why).
        p.unpacked = l.kind == layer_kind::linear && p.m <= small_batch;
        if (!int8_) {
            const gemm_f32_args g{.m = p.m, .n = p.n, .k = p.k, .b = w.data(), .ldb = p.k, .trans_b = true};  // B, and the shape
            if (p.unpacked) {
                p.w_rows = std::move(w);
                const kernel_entry<gemm_f32_args>& e = kernels::gemm_f32.kernel_at(isa_cap(), g);
                prof.kernel = e.name;
                prof.level = e.level;
            } else {
                p.w_f32 = pack_gemm_f32_b(g);
                prof.kernel = p.w_f32.kernel();
                prof.level = p.w_f32.level();
            }
            p.bias_f32 = std::move(bias);
            weight_bytes_ += static_cast<std::int64_t>(p.w_f32.bytes() + (p.w_rows.size() + p.bias_f32.size()) * sizeof(float));
        } else {
            prepare_int8(l, p, w, bias, prof);
        }
        layers_.push_back(std::move(p));
        profile_.push_back(std::move(prof));
    }

    void prepare_int8(const layer& l, prepared& p, const std::vector<float>& w, const std::vector<float>& bias, layer_profile& prof) {
        const quant_params in = quant_[static_cast<std::size_t>(l.input)];
        const bool float_out = l.output == net_.output;
        const float out_scale = float_out ? 1.0f : quant_[static_cast<std::size_t>(l.output)].scale;
        p.w_s8.resize(w.size());
        p.scale.resize(static_cast<std::size_t>(p.n));
        p.bias_s32.resize(static_cast<std::size_t>(p.n));
        for (std::int64_t j = 0; j < p.n; ++j) {
            const float* row = w.data() + j * p.k;
            float largest = 0.0f;
            for (std::int64_t i = 0; i < p.k; ++i) largest = std::max(largest, std::abs(row[i]));
            const float w_scale = largest > 0.0f ? largest / 127.0f : 1.0f;
            for (std::int64_t i = 0; i < p.k; ++i)
                p.w_s8[static_cast<std::size_t>(j * p.k + i)] =
                    static_cast<std::int8_t>(std::clamp(std::nearbyint(row[i] / w_scale), -127.0f, 127.0f));
            const double acc_scale = static_cast<double>(in.scale) * w_scale;  // real value of one accumulator unit
            const double b = std::nearbyint(bias[static_cast<std::size_t>(j)] / acc_scale);
            p.bias_s32[static_cast<std::size_t>(j)] = static_cast<std::int32_t>(std::clamp(b, -double(max_int8_bias), double(max_int8_bias)));
            p.scale[static_cast<std::size_t>(j)] = static_cast<float>(acc_scale / out_scale);
        }
#if LANES_X86
        // A linear layer at a small batch (p.unpacked) keeps its rows for the small-M kernels, but for
        // the AVX512-VNNI kernel, whose packed panels keep one byte per weight: its GEMM on them beat the
        // small-M kernel at batch 1, 2, 8 and 16 on AlexNet's and ResNet-50's fc shapes with a u8 output
        // (1.01-1.69x; batch 4 of 1000 x 4096 0.87x; Zen 4, medians of 100 alternating calls), since
        // one_row (kernels/gemm_u8s8_kernels-inl.hpp) serves batch 1. In AlexNet's INT8 run, where each
        // layer's weights come from memory, its fc layers measured the same within the noise. The
        // widening kernels' panels hold 16-bit weights, twice the bytes to stream, and there the rows
        // stay faster at batch 1 and 2 (0.37-0.79x packed).
        if (isa_cap() != isa::ref && (!p.unpacked || gemm_u8s8_packing_level() == isa::avx512vnni)) {
            gemm_u8s8_args g{.n = p.n, .k = p.k, .b = p.w_s8.data(), .ldb = p.k, .trans_b = true, .requant = {}};
            p.unpacked = false;
            p.w_u8 = pack_gemm_u8s8_b(g);
            std::vector<std::int8_t>().swap(p.w_s8);
            prof.kernel = p.w_u8.kernel();
            prof.level = p.w_u8.level();
        }
#endif
        if (p.w_u8.empty()) {
            const kernel_entry<gemm_u8s8_args>& e = kernels::gemm_u8s8.kernel_at(isa_cap(), int8_args(l, p, nullptr, nullptr));
            prof.kernel = e.name;
            prof.level = e.level;
        }
        weight_bytes_ += static_cast<std::int64_t>(p.w_u8.bytes() + p.w_s8.size() + p.scale.size() * 4 + p.bias_s32.size() * 4);
    }

    // A conv that gathers patches runs its GEMM on chunks of rows sized so that a chunk's patches stay
    // in the L2 cache between being written and being read (half of L2), instead of streaming a whole
    // batch's patch matrix through memory; the buffer shrinks to one chunk too. Chunks are at least 256
    // rows (the GEMM takes any m) so that the packed weights are not re-read too often.
    std::int64_t chunk_rows(const prepared& p) const {
        if (p.direct || p.implicit) return p.m;
        const std::int64_t row_bytes = p.k * (int8_ ? 1 : 4);
        const std::int64_t l2 = std::max(cpu().l2_kib, 256) * std::int64_t{1024};
        const std::int64_t rows = std::max<std::int64_t>(l2 / 2 / row_bytes, 256);
        return rows * 2 > p.m ? p.m : rows;
    }

    static std::string dims(const tensor_info& t) {
        return std::to_string(t.h) + "x" + std::to_string(t.w) + "x" + std::to_string(t.c);
    }

    // Lifetimes in layer indices: the network input is written at -1, the logits read at `layers`.
    void plan_memory() {
        const int count = static_cast<int>(net_.layers.size());
        std::vector<int> buffer_of(net_.tensors.size(), -1);
        auto bytes_of = [&](int t) {
            const bool f32 = !int8_ || t == net_.output;
            // INT8: 3 bytes of slack for the window rows read as whole groups of 4 (point_window_runs).
            return options_.batch * net_.tensors[static_cast<std::size_t>(t)].elements() * (f32 ? 4 : 1) + (f32 ? 0 : 3);
        };
        auto root = [&](int t) {
            const int s = net_.tensors[static_cast<std::size_t>(t)].storage;
            return s >= 0 ? s : t;
        };
        auto use = [&](int t, int at) {
            const int r = root(t);
            if (buffer_of[static_cast<std::size_t>(r)] < 0) buffer_of[static_cast<std::size_t>(r)] = plan_.add(bytes_of(r), at, at);
            plan_.extend(buffer_of[static_cast<std::size_t>(r)], at, at);
        };
        if (int8_) use(net_.input, -1);  // FP32 reads the caller's images directly
        for (int i = 0; i < count; ++i) {
            const layer& l = net_.layers[static_cast<std::size_t>(i)];
            if (int8_ || l.input != net_.input) use(l.input, i);
            if (l.residual >= 0) use(l.residual, i);
            use(l.output, i);
            prepared& p = layers_[static_cast<std::size_t>(i)];
            const std::int64_t element = int8_ ? 1 : 4;
            if (p.implicit) p.gathered = plan_.add(std::max<std::int64_t>(static_cast<std::int64_t>(p.border.size()), 1) * p.k * element, i, i);
            else if ((l.kind == layer_kind::conv) && !p.direct) p.patches = plan_.add(p.chunk * p.k * element, i, i);
        }
        use(net_.output, count);
        plan_.place();
        arena_.reset(static_cast<std::byte*>(allocate_cache_aligned(static_cast<std::size_t>(std::max<std::int64_t>(plan_.arena_bytes(), 64)))));
        tensor_offset_.assign(net_.tensors.size(), -1);
        for (std::size_t t = 0; t < net_.tensors.size(); ++t) {
            const int b = buffer_of[static_cast<std::size_t>(root(static_cast<int>(t)))];
            if (b >= 0) tensor_offset_[t] = plan_.offset(b);
        }
        // The arena is placed: point the implicit convs' window runs into it.
        for (std::size_t i = 0; i < layers_.size(); ++i) {
            prepared& p = layers_[i];
            if (!p.implicit) continue;
            const void* input = tensor(net_.layers[i].input);
            if (int8_)
                point_window_runs<std::uint8_t>(p.shape, static_cast<const std::uint8_t*>(input), p.border,
                                                static_cast<const std::uint8_t*>(buffer(p.gathered)), p.run, p.runs_u8);
            else
                point_window_runs<float>(p.shape, static_cast<const float*>(input), p.border, static_cast<const float*>(buffer(p.gathered)),
                                         p.run, p.runs_f32);
        }
    }

    void* tensor(int t) const {
        if (t == net_.input && !int8_) return const_cast<float*>(input_);
        return arena_.get() + tensor_offset_[static_cast<std::size_t>(t)];
    }
    void* buffer(int b) const { return arena_.get() + plan_.offset(b); }

    // ---- run ----------------------------------------------------------------------------------------------
    gemm_u8s8_args int8_args(const layer& l, const prepared& p, const std::uint8_t* a, void* c) const {
        const bool float_out = l.output == net_.output;
        const quant_params in = quant_[static_cast<std::size_t>(l.input)];
        const quant_params out = l.output == net_.output ? quant_params{} : quant_[static_cast<std::size_t>(l.output)];
        gemm_u8s8_args g{.m = p.m, .n = p.n, .k = p.k, .a = a, .lda = p.k, .a_zero_point = in.zero_point,
                         .b = p.w_s8.empty() ? nullptr : p.w_s8.data(), .ldb = p.k, .trans_b = true, .c = c, .ldc = p.n,
                         .requant = {}};
        g.requant = {.bias = p.bias_s32.data(), .scale = p.scale.data(), .zero_point = float_out ? 0 : out.zero_point,
                     .relu = l.relu, .out = float_out ? dtype::f32 : dtype::u8};
        if (l.residual >= 0) {  // the shortcut, read from and overwritten in the output's own buffer
            const quant_params r = quant_[static_cast<std::size_t>(l.residual)];
            g.residual = static_cast<const std::uint8_t*>(c);
            g.ldr = p.n;
            g.residual_scale = r.scale / out.scale;
            g.residual_zero_point = r.zero_point;
        }
        return g;
    }

    void run_layer(int index) {
        const layer& l = net_.layers[static_cast<std::size_t>(index)];
        prepared& p = layers_[static_cast<std::size_t>(index)];
        layer_profile& prof = profile_[static_cast<std::size_t>(index)];
        auto t0 = seconds_clock::now();
        auto lap = [&](double& into) {
            if (!profiling_) return;
            const auto t1 = seconds_clock::now();
            into += std::chrono::duration<double>(t1 - t0).count();
            t0 = t1;
        };
        const dtype type = int8_ ? dtype::u8 : dtype::f32;
        if (l.kind == layer_kind::max_pool) {
            pool2d_args a{.batch = options_.batch, .in_h = p.shape.in_h, .in_w = p.shape.in_w, .channels = p.shape.in_c,
                          .kernel_h = l.kernel, .kernel_w = l.kernel, .stride_h = l.stride, .stride_w = l.stride,
                          .pad_top = l.pad, .pad_left = l.pad, .pad_bottom = l.pad, .pad_right = l.pad,
                          .type = type, .input = tensor(l.input), .output = tensor(l.output)};
            max_pool2d(a);
            lap(prof.kernel_seconds);
            return;
        }
        if (l.kind == layer_kind::adaptive_avg_pool) {
            const tensor_info& y = net_.out(l);
            adaptive_avg_pool2d({.batch = options_.batch, .in_h = p.shape.in_h, .in_w = p.shape.in_w, .channels = p.shape.in_c,
                                 .out_h = y.h, .out_w = y.w, .type = type, .input = tensor(l.input), .output = tensor(l.output)});
            lap(prof.kernel_seconds);
            return;
        }
        // Rows of the GEMM in chunks (see chunk_rows): gather a chunk's patches, multiply, finish it.
        for (std::int64_t r0 = 0; r0 < p.m; r0 += p.chunk) {
            const std::int64_t rows = std::min(p.chunk, p.m - r0);
            if (int8_) run_int8_rows(l, p, prof, r0, rows, lap);
            else run_fp32_rows(l, p, r0, rows, lap, prof);
        }
    }

    template <class Lap>
    void run_fp32_rows(const layer& l, const prepared& p, std::int64_t r0, std::int64_t rows, Lap& lap, layer_profile& prof) {
        const float* a = static_cast<const float*>(tensor(l.input)) + r0 * p.k;
        if (p.implicit) {  // one call for all rows (chunk_rows): only the border windows are gathered
            gather_border_rows<float>(p.shape, static_cast<const float*>(tensor(l.input)), 0.0f, p.border, p.run,
                                      static_cast<float*>(buffer(p.gathered)));
            lap(prof.other_seconds);
        } else if (!p.direct) {
            float* patches = static_cast<float*>(buffer(p.patches));
            gather_patches<float>(p.shape, static_cast<const float*>(tensor(l.input)), 0.0f, patches, r0, rows);
            a = patches;
            lap(prof.other_seconds);
        }
        // The shortcut already sits in the output buffer (same storage): beta = 1 adds it.
        gemm_f32_args g{.m = rows, .n = p.n, .k = p.k, .a = a, .lda = p.k, .b = p.w_rows.data(), .ldb = p.k,
                        .c = static_cast<float*>(tensor(l.output)) + r0 * p.n, .ldc = p.n, .trans_b = true,
                        .beta = l.residual >= 0 ? 1.0f : 0.0f, .bias = p.bias_f32.data(), .relu = l.relu};
        if (p.implicit) {
            g.a = nullptr;
            g.lda = 0;
            g.a_runs = p.runs_f32.data();
            g.a_run_length = p.run;
        }
        if (p.unpacked) gemm_f32(g);
        else gemm_f32_packed(g, p.w_f32);
        lap(prof.kernel_seconds);
    }

    template <class Lap>
    void run_int8_rows(const layer& l, const prepared& p, layer_profile& prof, std::int64_t r0, std::int64_t rows, Lap& lap) {
        const std::uint8_t* input = static_cast<const std::uint8_t*>(tensor(l.input));
        const std::uint8_t* a = input + r0 * p.k;
        const std::uint8_t zero_point = static_cast<std::uint8_t>(quant_[static_cast<std::size_t>(l.input)].zero_point);
        if (p.implicit) {  // one call for all rows (chunk_rows): only the border windows are gathered
            gather_border_rows<std::uint8_t>(p.shape, input, zero_point, p.border, p.run, static_cast<std::uint8_t*>(buffer(p.gathered)));
            lap(prof.other_seconds);
        } else if (!p.direct) {
            std::uint8_t* patches = static_cast<std::uint8_t*>(buffer(p.patches));
            gather_patches<std::uint8_t>(p.shape, input, zero_point, patches, r0, rows);
            a = patches;
            lap(prof.other_seconds);
        }
        void* c = l.output == net_.output ? static_cast<void*>(static_cast<float*>(tensor(l.output)) + r0 * p.n)
                                          : static_cast<void*>(static_cast<std::uint8_t*>(tensor(l.output)) + r0 * p.n);
        gemm_u8s8_args g = int8_args(l, p, a, c);
        g.m = rows;
        if (p.implicit) {
            g.a = nullptr;
            g.lda = 0;
            g.a_runs = p.runs_u8.data();
            g.a_run_length = p.run;
        }
        if (!p.w_u8.empty()) gemm_u8s8_packed(g, p.w_u8);
        else gemm_u8s8(g);
        lap(prof.kernel_seconds);
    }

    struct free_deleter {
        void operator()(std::byte* p) const { std::free(p); }
    };

    network net_;
    engine_options options_;
    bool int8_ = false;
    std::vector<quant_params> quant_;
    std::vector<prepared> layers_;
    std::vector<layer_profile> profile_;
    memory_plan plan_;
    std::unique_ptr<std::byte[], free_deleter> arena_;
    std::vector<std::int64_t> tensor_offset_;
    std::int64_t weight_bytes_ = 0;
    const float* input_ = nullptr;
    observer observer_;
    bool profiling_ = false;
};

}  // namespace lanes::net
