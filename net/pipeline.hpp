// lanes net: the steps the CLI and the tests share — batches of images, seeded inputs, calibration,
// class labels and the top-k of a softmax.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "calibration.hpp"
#include "engine.hpp"
#include "image.hpp"

namespace lanes::net {

inline constexpr std::int64_t image_floats = std::int64_t{crop_size} * crop_size * 3;

// Decodes and preprocesses each file into one NHWC batch.
inline std::vector<float> load_batch(const std::vector<std::string>& paths) {
    std::vector<float> batch(static_cast<std::size_t>(image_floats) * paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
        const rgb_image image = decode_image(paths[i]);
        try {
            preprocess(image, batch.data() + i * image_floats);
        } catch (const error& e) {
            fail(paths[i], ": ", e.what());
        }
    }
    return batch;
}

// `count` seeded images: uniform random pixels, normalized like a photograph.
inline std::vector<float> random_batch(std::int64_t count, std::uint64_t seed) {
    std::vector<float> batch(static_cast<std::size_t>(image_floats * count));
    splitmix64 rng(seed ^ 0x5eedull);
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto pixel = static_cast<std::uint8_t>(std::min(rng.uniform(0.0f, 256.0f), 255.0f));
        batch[i] = normalize_pixel(pixel, static_cast<int>(i % 3));
    }
    return batch;
}

// The image files of a directory (.jpg .jpeg .png .ppm .pgm, any case), sorted by name.
inline std::vector<std::string> images_in(const std::string& dir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) fail(dir, ": not a directory");
    std::vector<std::string> files;
    for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
        std::string ext = e.path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        if (e.is_regular_file() && (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".ppm" || ext == ".pgm"))
            files.push_back(e.path().string());
    }
    if (ec) fail(dir, ": ", ec.message());
    if (files.empty()) fail(dir, ": no .jpg, .jpeg, .png, .ppm or .pgm files");
    std::sort(files.begin(), files.end());
    return files;
}

// Runs the FP32 network over `images` (NHWC, image_floats each), one image at a time, and returns the
// ranges. `progress(pass, passes, image, images)` is called before each image.
using progress_fn = std::function<void(int, int, std::int64_t, std::int64_t)>;

inline calibration calibrate(const network& net, weight_source& weights, const std::vector<float>& images,
                             calibration_method method, double percentile, const progress_fn& progress = {}) {
    const std::int64_t count = static_cast<std::int64_t>(images.size()) / image_floats;
    if (count < 1) fail("calibrate: no images");
    range_recorder recorder(net, method, percentile);
    engine fp32(net, weights, {.prec = precision::fp32, .batch = 1});
    fp32.set_observer([&](int t, const float* values, std::int64_t n) { recorder.observe(t, values, n); });
    for (int pass = 0; pass < recorder.passes(); ++pass) {
        recorder.start_pass(pass);
        for (std::int64_t i = 0; i < count; ++i) {
            if (progress) progress(pass, recorder.passes(), i, count);
            fp32.run(images.data() + i * image_floats);
        }
    }
    return recorder.finish(count);
}

// The stderr progress line of a calibration.
inline void print_progress(int pass, int passes, std::int64_t image, std::int64_t images) {
    std::fprintf(stderr, "\rcalibrating: pass %d/%d, image %lld/%lld ", pass + 1, passes, static_cast<long long>(image + 1),
                 static_cast<long long>(images));
    if (pass + 1 == passes && image + 1 == images) std::fprintf(stderr, "\n");
    std::fflush(stderr);
}

// The ImageNet class names: LANES_DATA_DIR, then the source tree, then the install prefix.
inline std::vector<std::string> load_labels() {
    std::vector<std::string> candidates;
    if (const char* dir = std::getenv("LANES_DATA_DIR")) candidates.push_back(std::string(dir) + "/imagenet_classes.txt");
#ifdef LANES_SOURCE_DATA_DIR
    candidates.push_back(std::string(LANES_SOURCE_DATA_DIR) + "/imagenet_classes.txt");
#endif
#ifdef LANES_INSTALL_DATA_DIR
    candidates.push_back(std::string(LANES_INSTALL_DATA_DIR) + "/imagenet_classes.txt");
#endif
    for (const std::string& path : candidates) {
        std::ifstream in(path);
        if (!in) continue;
        std::vector<std::string> labels;
        for (std::string line; std::getline(in, line);) labels.push_back(line);
        return labels;
    }
    return {};
}

struct ranked_class {
    std::int64_t index;
    float probability;
};

// Softmax over one image's logits, then the k most probable classes, best first.
inline std::vector<ranked_class> top_k(const float* logits, std::int64_t classes, std::int64_t k) {
    std::vector<float> probabilities(static_cast<std::size_t>(classes));
    softmax({.rows = 1, .cols = classes, .input = logits, .output = probabilities.data()});
    std::vector<ranked_class> ranked;
    for (std::int64_t i = 0; i < classes; ++i) ranked.push_back({i, probabilities[static_cast<std::size_t>(i)]});
    k = std::min(k, classes);
    std::partial_sort(ranked.begin(), ranked.begin() + k, ranked.end(),
                      [](const ranked_class& a, const ranked_class& b) { return a.probability > b.probability; });
    ranked.resize(static_cast<std::size_t>(k));
    return ranked;
}

}  // namespace lanes::net
