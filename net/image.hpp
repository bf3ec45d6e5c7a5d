// lanes net: decoding images and torchvision's standard ImageNet preprocessing.
//
//   decode_image     JPEG, PNG or PPM/PGM (stb_image), always as 8-bit RGB (grey is replicated, alpha dropped)
//   preprocess       what torchvision.transforms does for the ImageNet models:
//                      Resize(256)       the shorter side to 256, the longer to int(256 * long / short),
//                                        bilinear with Pillow's antialiasing (a triangle filter widened by
//                                        the scale factor when shrinking), horizontal pass then vertical,
//                                        each rounded to 8 bits with Pillow's 22-bit fixed-point weights
//                      CenterCrop(224)   offsets round((size - 224) / 2), half to even as Python rounds
//                      ToTensor          v / 255 in float
//                      Normalize         (x - mean) / std with the ImageNet mean and std, in float
//                    writing 224 x 224 x 3 floats, NHWC (HWC for one image).
// The resampling follows Pillow's algorithm step for step, so a PNG or PPM gives the same tensor as
// torchvision on a PIL image; JPEG decoders differ (stb vs libjpeg), see docs/network.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lanes::net {

struct rgb_image {
    int width = 0, height = 0;
    std::vector<std::uint8_t> pixels;  // height x width x 3
};

// Throws lanes::error naming the file: cannot open, empty, not a decodable image, too large.
rgb_image decode_image(const std::string& path);

// Decodes from memory (the same checks; `what` names the source in messages).
rgb_image decode_image_memory(const std::uint8_t* data, std::size_t bytes, const std::string& what);

// Pillow's bilinear resize of an RGB image to width x height (both >= 1).
rgb_image resize_bilinear(const rgb_image& in, int width, int height);

inline constexpr int crop_size = 224;
inline constexpr int resize_size = 256;

// ToTensor then Normalize for one 8-bit value of channel `ch` (0 R, 1 G, 2 B): (v / 255 - mean) / std
// in float, in torchvision's order, with the ImageNet mean and standard deviation.
inline float normalize_pixel(std::uint8_t v, int ch) {
    constexpr float mean[3] = {0.485f, 0.456f, 0.406f};
    constexpr float stddev[3] = {0.229f, 0.224f, 0.225f};
    return (static_cast<float>(v) / 255.0f - mean[ch]) / stddev[ch];
}

// The torchvision pipeline above; `out` receives crop_size * crop_size * 3 floats.
void preprocess(const rgb_image& image, float* out);

}  // namespace lanes::net
