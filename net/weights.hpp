// lanes net: where a network's weights come from.
//
// weight_source hands out one state_dict tensor at a time, as floats, so the engine can fold and pack
// each layer and drop the raw copy before reading the next. Two sources:
//   seeded_weights       deterministic values from a seed and the tensor's name (the default: no file)
//   safetensors_weights  a safetensors file with torchvision's state_dict keys, checked against the
//                        network when opened: a missing or extra tensor, a wrong dtype or a wrong
//                        shape is an error naming the tensor.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "model.hpp"
#include "safetensors.hpp"

namespace lanes::net {

class weight_source {
public:
    virtual ~weight_source() = default;
    virtual std::vector<float> load(const weight_spec& spec) = 0;
    virtual std::string describe() const = 0;
};

// SplitMix64: a small, well-mixed generator, enough for reproducible weights.
class splitmix64 {
public:
    explicit splitmix64(std::uint64_t seed) : state_(seed) {}
    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    // Uniform in [lo, hi).
    float uniform(float lo, float hi) {
        return lo + (hi - lo) * static_cast<float>(static_cast<double>(next() >> 11) * 0x1.0p-53);
    }

private:
    std::uint64_t state_;
};

inline std::uint64_t fnv1a(const std::string& s) {
    std::uint64_t h = 0xcbf29ce484222325ull;
    for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
    return h;
}

// Each tensor's values depend only on the seed and its name, so the order of loading does not matter.
//   conv and linear weights  uniform(+-sqrt(6 / fan_in)), He's bound for a ReLU network
//   their biases             uniform(+-0.05)
//   BatchNorm                weight in [0.5, 1), bias and running_mean in [-0.1, 0.1), running_var in [0.5, 1.5)
class seeded_weights : public weight_source {
public:
    explicit seeded_weights(std::uint64_t seed) : seed_(seed) {}

    std::vector<float> load(const weight_spec& spec) override {
        if (spec.is_counter()) return {0.0f};
        splitmix64 rng(seed_ ^ fnv1a(spec.name));
        std::vector<float> values(static_cast<std::size_t>(spec.elements()));
        float lo = -0.1f, hi = 0.1f;
        switch (spec.role) {
            case weight_role::weight: {
                const float fan_in = static_cast<float>(spec.elements() / spec.shape[0]);
                hi = std::sqrt(6.0f / fan_in);
                lo = -hi;
                break;
            }
            case weight_role::bias: lo = -0.05f, hi = 0.05f; break;
            case weight_role::bn_weight: lo = 0.5f, hi = 1.0f; break;
            case weight_role::bn_var: lo = 0.5f, hi = 1.5f; break;
            default: break;
        }
        for (float& v : values) v = rng.uniform(lo, hi);
        return values;
    }

    std::string describe() const override { return "seeded (seed " + std::to_string(seed_) + ")"; }

private:
    std::uint64_t seed_;
};

class safetensors_weights : public weight_source {
public:
    safetensors_weights(const std::string& path, const network& net) : file_(path) {
        const std::vector<weight_spec> specs = net.weights();
        std::set<std::string> expected;
        for (const weight_spec& spec : specs) {
            expected.insert(spec.name);
            const auto it = file_.entries().find(spec.name);
            if (it == file_.entries().end()) fail(path, ": tensor '", spec.name, "' of ", net.name, " is missing");
            const safetensors_entry& e = it->second;
            const std::string dtype = spec.is_counter() ? "I64" : "F32";
            if (e.dtype != dtype) fail(path, ": tensor '", spec.name, "' has dtype ", e.dtype, "; ", net.name, " needs ", dtype);
            if (e.shape != spec.shape)
                fail(path, ": tensor '", spec.name, "' has shape ", shape_string(e.shape), "; ", net.name, " needs ",
                     shape_string(spec.shape));
        }
        for (const auto& [name, e] : file_.entries())
            if (!expected.count(name)) fail(path, ": tensor '", name, "' is not part of ", net.name);
    }

    std::vector<float> load(const weight_spec& spec) override {
        if (spec.is_counter()) return {0.0f};
        std::vector<float> values(static_cast<std::size_t>(spec.elements()));
        file_.read(spec.name, values.data(), values.size() * sizeof(float));
        return values;
    }

    std::string describe() const override { return file_.path(); }

private:
    safetensors_file file_;
};

inline std::unique_ptr<weight_source> open_weights(const std::string& path, const network& net, std::uint64_t seed = 0) {
    if (path.empty()) return std::make_unique<seeded_weights>(seed);
    return std::make_unique<safetensors_weights>(path, net);
}

}  // namespace lanes::net
