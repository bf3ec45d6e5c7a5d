// lanes: NHWC max and average pooling, written once for every vector width.
//
// Included once per ISA, inside that ISA's namespace and target region (no include guard), after the
// ISA has defined `pool_f32` and `pool_u8`: the vector type of its element, `lanes`, a mask of the
// first n lanes, masked load and store, and `max(best, v)` with the reference's NaN rule; and, for
// averages, `avg_f32` and `avg_u8`: `lanes` channels summed in a vector (`zero`, `add` of the next
// tap's channels) and `store_mean`, the reference's last steps on that sum.
//
// NHWC puts a pixel's channels side by side, so one output pixel is the lane-wise maximum of its
// window's pixels, `lanes` channels at a time: for each window tap, one load and one max. The window
// is clipped to the input exactly as the reference clips it (ref::pool_window), so padding is never
// read. The last group of channels uses masks, so nothing outside the caller's buffers is touched.
//
// Needs: <cstdint>, kernels/pool.hpp and reference/pool.hpp, included before the target region begins.

template <class V>
void max_pool2d_nhwc(const pool2d_args& p) {
    using T = typename V::T;
    const T* in = static_cast<const T*>(p.input);
    T* out = static_cast<T*>(p.output);
    const std::int64_t out_h = p.out_h(), out_w = p.out_w(), c = p.channels;
    for (std::int64_t n = 0; n < p.batch; ++n)
        for (std::int64_t oy = 0; oy < out_h; ++oy) {
            const ref::window wy = ref::pool_window(oy, p.stride_h, p.pad_top, p.pad_bottom, p.kernel_h, p.in_h);
            for (std::int64_t ox = 0; ox < out_w; ++ox) {
                const ref::window wx = ref::pool_window(ox, p.stride_w, p.pad_left, p.pad_right, p.kernel_w, p.in_w);
                T* o = out + ((n * out_h + oy) * out_w + ox) * c;
                for (std::int64_t c0 = 0; c0 < c; c0 += V::lanes) {
                    const typename V::mask m = V::first(c - c0);
                    auto pixel = [&](std::int64_t y, std::int64_t x) { return in + ((n * p.in_h + y) * p.in_w + x) * c + c0; };
                    typename V::reg best = V::load(m, pixel(wy.begin, wx.begin));
                    for (std::int64_t y = wy.begin; y < wy.end; ++y)
                        for (std::int64_t x = wx.begin; x < wx.end; ++x) best = V::max(best, V::load(m, pixel(y, x)));
                    V::store(m, o + c0, best);
                }
            }
        }
}

inline void max_pool2d(const pool2d_args& p) {
    if (p.type == dtype::f32) max_pool2d_nhwc<pool_f32>(p);
    else max_pool2d_nhwc<pool_u8>(p);
}

// ---- Average pooling ----------------------------------------------------------------------------------
//
// One output pixel is the sum of its window's pixels, `lanes` channels at a time, then the reference's
// division. The taps are added in the reference's order (rows, then columns, from zero), f32 in float
// and u8 in int32 lanes, and store_mean repeats the reference's last steps (f32: sum / float(count);
// u8: nearbyint(float(sum) / float(count)), at most 255), so the result is the reference's bit for
// bit (an f32 NaN stays a NaN; which payload survives a sum of two NaNs is the compiler's choice in
// both). An int32 lane holds a u8 sum exactly while the window has at most 2^23 pixels
// (max_u8_window); the *_accepts functions send larger u8 windows to the reference.
//
// `count` is the divisor, as the reference computes it, in float.
template <class V>
void average_pixel(const typename V::T* in, typename V::T* out, std::int64_t in_w, std::int64_t channels, std::int64_t y0,
                   std::int64_t y1, std::int64_t x0, std::int64_t x1, float count) {
    for (std::int64_t c0 = 0; c0 < channels; c0 += V::lanes) {
        const typename V::mask m = V::first(channels - c0);
        typename V::acc sum = V::zero();
        for (std::int64_t y = y0; y < y1; ++y)
            for (std::int64_t x = x0; x < x1; ++x) sum = V::add(sum, m, in + (y * in_w + x) * channels + c0);
        V::store_mean(m, out + c0, sum, count);
    }
}

inline constexpr std::int64_t max_u8_window = std::int64_t{1} << 23;  // 255 * 2^23 < 2^31

// The loop over the windows is max_pool2d_nhwc's. Shared through a function taking the body as a
// lambda, it made max pooling 11 % slower (112x112x64 u8, 3x3/2: 38 -> 42 us, GCC 12), so each keeps its own.
template <class V>
void avg_pool2d_nhwc(const pool2d_args& p) {
    using T = typename V::T;
    const T* in = static_cast<const T*>(p.input);
    T* out = static_cast<T*>(p.output);
    const std::int64_t out_h = p.out_h(), out_w = p.out_w(), c = p.channels;
    for (std::int64_t n = 0; n < p.batch; ++n)
        for (std::int64_t oy = 0; oy < out_h; ++oy) {
            const ref::window wy = ref::pool_window(oy, p.stride_h, p.pad_top, p.pad_bottom, p.kernel_h, p.in_h);
            for (std::int64_t ox = 0; ox < out_w; ++ox) {
                const ref::window wx = ref::pool_window(ox, p.stride_w, p.pad_left, p.pad_right, p.kernel_w, p.in_w);
                const std::int64_t divisor = p.count_include_pad ? wy.padded_size * wx.padded_size : (wy.end - wy.begin) * (wx.end - wx.begin);
                average_pixel<V>(in + n * p.in_h * p.in_w * c, out + ((n * out_h + oy) * out_w + ox) * c, p.in_w, c, wy.begin, wy.end,
                                 wx.begin, wx.end, static_cast<float>(divisor));
            }
        }
}

inline void avg_pool2d(const pool2d_args& p) {
    if (p.type == dtype::f32) avg_pool2d_nhwc<avg_f32>(p);
    else avg_pool2d_nhwc<avg_u8>(p);
}
inline bool avg_pool2d_accepts(const pool2d_args& p) { return p.type == dtype::f32 || p.kernel_h * p.kernel_w <= max_u8_window; }

template <class V>
void adaptive_avg_pool2d_nhwc(const adaptive_pool2d_args& p) {
    using T = typename V::T;
    const T* in = static_cast<const T*>(p.input);
    T* out = static_cast<T*>(p.output);
    const std::int64_t c = p.channels;
    for (std::int64_t n = 0; n < p.batch; ++n)
        for (std::int64_t oy = 0; oy < p.out_h; ++oy)
            for (std::int64_t ox = 0; ox < p.out_w; ++ox) {
                const std::int64_t y0 = oy * p.in_h / p.out_h, y1 = ((oy + 1) * p.in_h + p.out_h - 1) / p.out_h;
                const std::int64_t x0 = ox * p.in_w / p.out_w, x1 = ((ox + 1) * p.in_w + p.out_w - 1) / p.out_w;
                average_pixel<V>(in + n * p.in_h * p.in_w * c, out + ((n * p.out_h + oy) * p.out_w + ox) * c, p.in_w, c, y0, y1, x0, x1,
                                 static_cast<float>((y1 - y0) * (x1 - x0)));
            }
}

inline void adaptive_avg_pool2d(const adaptive_pool2d_args& p) {
    if (p.type == dtype::f32) adaptive_avg_pool2d_nhwc<avg_f32>(p);
    else adaptive_avg_pool2d_nhwc<avg_u8>(p);
}
// A window never has more pixels than the input.
inline bool adaptive_avg_pool2d_accepts(const adaptive_pool2d_args& p) {
    return p.type == dtype::f32 || p.in_h * p.in_w <= max_u8_window;
}
