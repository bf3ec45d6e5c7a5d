// lanes net: image decoding (stb_image) and the ImageNet preprocessing. See image.hpp.
#include "image.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <fstream>
#include <iterator>

#include "../kernels/error.hpp"

// Images wider or taller than this are refused before any pixel is allocated.
#define STBI_MAX_DIMENSIONS 16384
#define STBI_NO_STDIO  // files are read here, so every error names the file
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_PNM
#define STB_IMAGE_IMPLEMENTATION
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wshadow"
#endif
#include <stb/stb_image.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace lanes::net {

rgb_image decode_image_memory(const std::uint8_t* data, std::size_t bytes, const std::string& what) {
    if (bytes == 0) fail(what, ": the file is empty");
    if (bytes > static_cast<std::size_t>(std::numeric_limits<int>::max())) fail(what, ": the file is too large (", bytes, " bytes)");
    int width = 0, height = 0, channels = 0;
    if (!stbi_info_from_memory(data, static_cast<int>(bytes), &width, &height, &channels))
        fail(what, ": not a JPEG, PNG or PPM/PGM image, or a damaged one (", stbi_failure_reason(), ")");
    if (width > STBI_MAX_DIMENSIONS || height > STBI_MAX_DIMENSIONS)
        fail(what, ": the image is ", width, "x", height, " pixels; the limit is ", STBI_MAX_DIMENSIONS, " per side");
    stbi_uc* pixels = stbi_load_from_memory(data, static_cast<int>(bytes), &width, &height, &channels, 3);
    if (pixels == nullptr) fail(what, ": cannot decode the image (", stbi_failure_reason(), ")");
    rgb_image image;
    image.width = width;
    image.height = height;
    image.pixels.assign(pixels, pixels + static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
    stbi_image_free(pixels);
    return image;
}

rgb_image decode_image(const std::string& path) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) fail(path, ": is a directory, not an image");
    std::ifstream file(path, std::ios::binary);
    if (!file) fail(path, ": cannot open the image");
    const std::vector<std::uint8_t> bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    if (file.bad()) fail(path, ": cannot read the image");
    return decode_image_memory(bytes.data(), bytes.size(), path);
}

namespace {

// Pillow's fixed point for 8-bit resampling: weights are integers scaled by 2^22.
constexpr int precision_bits = 32 - 8 - 2;

// For each output position: the first input position and the integer weights of the taps.
struct resample_taps {
    int max_taps = 0;
    std::vector<int> first, count;
    std::vector<std::int32_t> weights;  // out x max_taps
};

resample_taps bilinear_taps(int in_size, int out_size) {
    const double scale = static_cast<double>(in_size) / out_size;
    const double filter_scale = std::max(scale, 1.0);
    const double support = 1.0 * filter_scale;  // the triangle filter reaches 1 input pixel, widened when shrinking
    resample_taps t;
    t.max_taps = static_cast<int>(std::ceil(support)) * 2 + 1;
    t.first.resize(static_cast<std::size_t>(out_size));
    t.count.resize(static_cast<std::size_t>(out_size));
    t.weights.assign(static_cast<std::size_t>(out_size) * static_cast<std::size_t>(t.max_taps), 0);
    std::vector<double> w(static_cast<std::size_t>(t.max_taps));
    for (int o = 0; o < out_size; ++o) {
        const double center = (o + 0.5) * scale;
        const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
        const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
        const int taps = hi - lo;
        double total = 0.0;
        for (int x = 0; x < taps; ++x) {
            const double d = std::abs((x + lo - center + 0.5) / filter_scale);
            w[static_cast<std::size_t>(x)] = d < 1.0 ? 1.0 - d : 0.0;
            total += w[static_cast<std::size_t>(x)];
        }
        for (int x = 0; x < taps; ++x) {
            const double normalized = total != 0.0 ? w[static_cast<std::size_t>(x)] / total : w[static_cast<std::size_t>(x)];
            const double scaled = normalized * (1 << precision_bits);
            t.weights[static_cast<std::size_t>(o * t.max_taps + x)] = static_cast<std::int32_t>(scaled < 0 ? scaled - 0.5 : scaled + 0.5);
        }
        t.first[static_cast<std::size_t>(o)] = lo;
        t.count[static_cast<std::size_t>(o)] = taps;
    }
    return t;
}

std::uint8_t clip8(std::int32_t sum) {
    if (sum >= (1 << precision_bits << 8)) return 255;
    if (sum <= 0) return 0;
    return static_cast<std::uint8_t>(sum >> precision_bits);
}

// One pass along x (step = 3 channels) or y (step = a row), from `in` (in_w x in_h) to `out`.
void resample_pass(const std::uint8_t* in, int in_w, int in_h, std::uint8_t* out, int out_w, int out_h, bool horizontal) {
    const resample_taps t = horizontal ? bilinear_taps(in_w, out_w) : bilinear_taps(in_h, out_h);
    for (int y = 0; y < out_h; ++y)
        for (int x = 0; x < out_w; ++x) {
            const int o = horizontal ? x : y;
            const std::int32_t* w = &t.weights[static_cast<std::size_t>(o * t.max_taps)];
            for (int ch = 0; ch < 3; ++ch) {
                std::int32_t sum = 1 << (precision_bits - 1);
                for (int i = 0; i < t.count[static_cast<std::size_t>(o)]; ++i) {
                    const int src = t.first[static_cast<std::size_t>(o)] + i;
                    const std::size_t index = horizontal ? (static_cast<std::size_t>(y) * in_w + src) * 3 + ch
                                                         : (static_cast<std::size_t>(src) * in_w + x) * 3 + ch;
                    sum += in[index] * w[i];
                }
                out[(static_cast<std::size_t>(y) * out_w + x) * 3 + ch] = clip8(sum);
            }
        }
}

}  // namespace

rgb_image resize_bilinear(const rgb_image& in, int width, int height) {
    if (width < 1 || height < 1) fail("resize: the target size ", width, "x", height, " is empty");
    rgb_image wide;
    const rgb_image* source = &in;
    if (width != in.width) {  // horizontal pass first, as Pillow does
        wide.width = width;
        wide.height = in.height;
        wide.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(in.height) * 3);
        resample_pass(in.pixels.data(), in.width, in.height, wide.pixels.data(), width, in.height, true);
        source = &wide;
    }
    if (height == source->height) return source == &in ? in : wide;
    rgb_image out;
    out.width = width;
    out.height = height;
    out.pixels.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
    resample_pass(source->pixels.data(), width, source->height, out.pixels.data(), width, height, false);
    return out;
}

void preprocess(const rgb_image& image, float* out) {
    const int w = image.width, h = image.height;
    if (w < 1 || h < 1) fail("preprocess: the image is empty");
    // Resize(256): the shorter side to 256, the longer to int(256 * long / short) (Python's float division).
    const int shorter = std::min(w, h), longer = std::max(w, h);
    const int new_long = static_cast<int>(static_cast<double>(resize_size) * longer / shorter);
    // A long thin strip would resize to an enormous image: refuse aspect ratios beyond 64:1.
    if (longer > 64 * shorter) fail("preprocess: the ", w, "x", h, " image is too elongated (more than 64:1)");
    const int new_w = w <= h ? resize_size : new_long, new_h = w <= h ? new_long : resize_size;
    const rgb_image resized = resize_bilinear(image, new_w, new_h);
    // CenterCrop(224): int(round((size - 224) / 2.0)), Python's round being half to even.
    const int top = static_cast<int>(std::nearbyint((new_h - crop_size) / 2.0));
    const int left = static_cast<int>(std::nearbyint((new_w - crop_size) / 2.0));
    for (int y = 0; y < crop_size; ++y)
        for (int x = 0; x < crop_size; ++x)
            for (int ch = 0; ch < 3; ++ch) {
                const std::uint8_t v = resized.pixels[(static_cast<std::size_t>(top + y) * new_w + left + x) * 3 + ch];
                out[(y * crop_size + x) * 3 + ch] = normalize_pixel(v, ch);
            }
}

}  // namespace lanes::net
