// lanes net: post-training quantization ranges — recording them, choosing them, saving them.
//
// Calibration runs the FP32 network over some images and records, for every tensor that INT8 stores
// with its own scale (the input and each conv or linear output but the logits), the range to map onto
// the 256 levels of u8. Two methods:
//   minmax      the smallest and largest value seen;
//   percentile  the P-th percentile of the values (and the (100 - P)-th for a tensor that can be
//               negative), from a 2048-bin histogram over the min/max range; outliers beyond it clip.
// Pass 1 records min/max; the percentile method needs a second pass for the histograms.
//
// The JSON file:
//   {"format": "lanes-calibration", "version": 1, "net": "resnet50", "method": "percentile",
//    "percentile": 99.99, "images": 5,
//    "tensors": {"input": {"min": -2.1, "max": 2.6, "lo": -2.1, "hi": 2.5}, "conv1": {...}, ...}}
// lo/hi is the range used; min/max is kept for reference.
#pragma once

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "model.hpp"

namespace lanes::net {

struct tensor_range {
    float min = 0, max = 0;  // seen
    float lo = 0, hi = 0;    // chosen
};

// u8 quantization of one tensor: real = scale * (q - zero_point).
struct quant_params {
    float scale = 1.0f;
    std::int32_t zero_point = 0;
};

// The range [lo, hi] widened to include 0 (so zero is exact, as padding and ReLU need), onto 0..255.
inline quant_params quant_from_range(float lo, float hi, bool non_negative) {
    lo = non_negative ? 0.0f : std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
    quant_params q;
    q.scale = std::max((hi - lo) / 255.0f, 1e-8f);
    q.zero_point = static_cast<std::int32_t>(std::clamp(std::nearbyint(-lo / q.scale), 0.0f, 255.0f));
    return q;
}

// Whether INT8 gives tensor `t` a scale of its own (pools keep their input's; the logits stay float).
inline bool has_own_range(const network& net, int t) {
    if (t == net.input) return true;
    if (t == net.output) return false;
    for (const layer& l : net.layers)
        if (l.output == t) return l.kind == layer_kind::conv || l.kind == layer_kind::linear;
    return false;
}

enum class calibration_method { minmax, percentile };

inline calibration_method calibration_method_from_name(const std::string& name) {
    if (name == "minmax") return calibration_method::minmax;
    if (name == "percentile") return calibration_method::percentile;
    fail("unknown calibration method '", name, "' (minmax or percentile)");
}

struct calibration {
    std::string net;
    std::string method = "percentile";
    double percentile = 99.99;
    std::int64_t images = 0;
    std::map<std::string, tensor_range> tensors;

    void save(const std::string& path) const {
        nlohmann::json j;
        j["format"] = "lanes-calibration";
        j["version"] = 1;
        j["net"] = net;
        j["method"] = method;
        j["percentile"] = percentile;
        j["images"] = images;
        nlohmann::json& t = j["tensors"] = nlohmann::json::object();
        for (const auto& [name, r] : tensors) t[name] = {{"min", r.min}, {"max", r.max}, {"lo", r.lo}, {"hi", r.hi}};
        std::ofstream out(path);
        if (!out) fail(path, ": cannot create the calibration file");
        out << j.dump(1) << '\n';
        if (!out) fail(path, ": write failed");
    }

    // Reads a calibration file and checks it covers every tensor of `for_net` with a finite range.
    static calibration load(const std::string& path, const network& for_net) {
        std::ifstream in(path);
        if (!in) fail(path, ": cannot open the calibration file");
        const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
        if (j.is_discarded() || !j.is_object()) fail(path, ": not a JSON object");
        if (j.value("format", "") != "lanes-calibration" || j.value("version", 0) != 1)
            fail(path, ": not a lanes calibration file (version 1)");
        calibration c;
        c.net = j.value("net", "");
        if (c.net != for_net.name) fail(path, ": calibrated for '", c.net, "', not ", for_net.name);
        c.method = j.value("method", "");
        c.percentile = j.value("percentile", 0.0);
        c.images = j.value("images", std::int64_t{0});
        if (!j.contains("tensors") || !j["tensors"].is_object()) fail(path, ": no \"tensors\" object");
        const nlohmann::json& t = j["tensors"];
        for (int i = 0; i < static_cast<int>(for_net.tensors.size()); ++i) {
            if (!has_own_range(for_net, i)) continue;
            const std::string& name = for_net.tensors[static_cast<std::size_t>(i)].name;
            if (!t.contains(name)) fail(path, ": no range for tensor '", name, "'");
            const nlohmann::json& e = t[name];
            tensor_range r;
            for (auto [field, value] : {std::pair{"min", &r.min}, {"max", &r.max}, {"lo", &r.lo}, {"hi", &r.hi}}) {
                if (!e.is_object() || !e.contains(field) || !e[field].is_number())
                    fail(path, ": tensor '", name, "' has no number \"", field, "\"");
                *value = e[field].get<float>();
                if (!std::isfinite(*value)) fail(path, ": tensor '", name, "': \"", field, "\" is not finite");
            }
            if (r.lo > r.hi) fail(path, ": tensor '", name, "': lo = ", r.lo, " is above hi = ", r.hi);
            c.tensors[name] = r;
        }
        return c;
    }

    quant_params quant(const network& for_net, int t) const {
        const tensor_info& info = for_net.tensors[static_cast<std::size_t>(t)];
        const auto it = tensors.find(info.name);
        if (it == tensors.end()) fail("calibration: no range for tensor '", info.name, "'");
        return quant_from_range(it->second.lo, it->second.hi, info.non_negative);
    }
};

// Collects the ranges of an FP32 run: observe() every tensor, pass after pass, then finish().
class range_recorder {
public:
    static constexpr int bins = 2048;

    range_recorder(const network& net, calibration_method method, double percentile)
        : net_(net), method_(method), percentile_(percentile), stats_(net.tensors.size()), recorded_(net.tensors.size()) {
        if (!(percentile > 50.0 && percentile <= 100.0)) fail("calibrate: the percentile ", percentile, " is outside (50, 100]");
        for (std::size_t t = 0; t < recorded_.size(); ++t) recorded_[t] = has_own_range(net, static_cast<int>(t));
    }

    int passes() const { return method_ == calibration_method::percentile ? 2 : 1; }
    void start_pass(int pass) { pass_ = pass; }

    void observe(int t, const float* values, std::int64_t count) {
        if (!recorded_[static_cast<std::size_t>(t)]) return;
        stat& s = stats_[static_cast<std::size_t>(t)];
        if (pass_ == 0) {
            for (std::int64_t i = 0; i < count; ++i) {
                s.min = std::min(s.min, values[i]);
                s.max = std::max(s.max, values[i]);
            }
            return;
        }
        if (s.histogram.empty()) s.histogram.assign(bins, 0);
        const double width = (static_cast<double>(s.max) - s.min) / bins;
        for (std::int64_t i = 0; i < count; ++i) {
            const double bin = width > 0 ? (values[i] - s.min) / width : 0.0;
            ++s.histogram[static_cast<std::size_t>(std::clamp(bin, 0.0, static_cast<double>(bins - 1)))];
        }
    }

    calibration finish(std::int64_t images) const {
        calibration c;
        c.net = net_.name;
        c.method = method_ == calibration_method::minmax ? "minmax" : "percentile";
        c.percentile = method_ == calibration_method::minmax ? 100.0 : percentile_;
        c.images = images;
        for (std::size_t t = 0; t < stats_.size(); ++t) {
            if (!recorded_[t]) continue;
            const stat& s = stats_[t];
            if (s.min > s.max) fail("calibrate: tensor '", net_.tensors[t].name, "' was never observed");
            tensor_range r{s.min, s.max, s.min, s.max};
            if (method_ == calibration_method::percentile) {
                r.hi = quantile(s, percentile_ / 100.0, true);
                if (!net_.tensors[t].non_negative) r.lo = quantile(s, 1.0 - percentile_ / 100.0, false);
            }
            c.tensors[net_.tensors[t].name] = r;
        }
        return c;
    }

private:
    struct stat {
        float min = std::numeric_limits<float>::infinity(), max = -std::numeric_limits<float>::infinity();
        std::vector<std::int64_t> histogram;
    };

    // The value below which a fraction q of the samples lie: the upper edge of its bin (upper = true)
    // or the lower edge.
    static float quantile(const stat& s, double q, bool upper) {
        std::int64_t total = 0;
        for (std::int64_t n : s.histogram) total += n;
        const double width = (static_cast<double>(s.max) - s.min) / bins;
        const double target = q * static_cast<double>(total);
        std::int64_t seen = 0;
        for (int b = 0; b < bins; ++b) {
            seen += s.histogram[static_cast<std::size_t>(b)];
            if (static_cast<double>(seen) >= target)
                return static_cast<float>(s.min + width * (upper ? b + 1 : b));
        }
        return s.max;
    }

    const network& net_;
    calibration_method method_;
    double percentile_;
    int pass_ = 0;
    std::vector<stat> stats_;
    std::vector<bool> recorded_;  // has_own_range, per tensor, decided once
};

}  // namespace lanes::net
