// lanes: NHWC max pooling, written once for every vector width.
//
// Included once per ISA, inside that ISA's namespace and target region (no include guard), after the
// ISA has defined `pool_f32` and `pool_u8`: the vector type of its element, `lanes`, a mask of the
// first n lanes, masked load and store, and `max(best, v)` with the reference's NaN rule.
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
