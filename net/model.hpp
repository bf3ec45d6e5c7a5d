// lanes net: the two networks, defined statically as code.
//
// A network is a list of layers over a list of tensors, built once by resnet50() or alexnet(). There
// is no graph format and no interpreter: the builder functions below are the whole definition, with
// torchvision's module names (so the weights are torchvision's state_dict keys) and tensor shapes.
//
// Tensors are per image, NHWC; the batch is chosen when an engine is built. Each tensor is named after
// the module that produces it ("conv1", "layer1.0.conv2", "layer1.0" for a bottleneck's output), the
// key of its range in a calibration file. A bottleneck adds its shortcut in place: its last conv
// writes into the shortcut's buffer (tensor_info::storage), which nothing reads afterwards.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../kernels/error.hpp"

namespace lanes::net {

enum class layer_kind { conv, max_pool, adaptive_avg_pool, linear };

struct tensor_info {
    std::string name;
    std::int64_t h = 1, w = 1, c = 0;  // per image
    bool non_negative = false;         // after a ReLU (or a pool of such a tensor): zero point 0 in INT8
    int storage = -1;                  // the tensor whose buffer this one overwrites in place, or -1

    std::int64_t elements() const { return h * w * c; }
};

struct layer {
    layer_kind kind = layer_kind::conv;
    std::string name;  // torchvision module: state_dict prefix of the weights ("layer1.0.conv1", "fc")
    std::string bn;    // the BatchNorm folded into this conv ("layer1.0.bn1"), or empty
    std::int64_t kernel = 1, stride = 1, pad = 0;  // conv and max pool (square)
    std::int64_t out_c = 0;                        // conv and linear
    bool bias = false;                             // conv and linear: the module has its own bias
    bool relu = false;
    int input = -1, output = -1;
    int residual = -1;  // conv: the tensor added before the ReLU, overwritten by the output
};

// One state_dict entry and what it is.
enum class weight_role { weight, bias, bn_weight, bn_bias, bn_mean, bn_var, bn_counter };

struct weight_spec {
    std::string name;
    std::vector<std::int64_t> shape;
    weight_role role = weight_role::weight;  // bn_counter: num_batches_tracked, int64 of shape [], unused

    bool is_counter() const { return role == weight_role::bn_counter; }

    std::int64_t elements() const {
        std::int64_t n = 1;
        for (std::int64_t d : shape) n *= d;
        return n;
    }
};

struct network {
    std::string name;
    std::vector<tensor_info> tensors;
    std::vector<layer> layers;
    int input = 0, output = 0;
    std::int64_t classes = 0;

    const tensor_info& in(const layer& l) const { return tensors[static_cast<std::size_t>(l.input)]; }
    const tensor_info& out(const layer& l) const { return tensors[static_cast<std::size_t>(l.output)]; }

    // Multiply-adds of one image through a conv or linear layer (0 for pools).
    std::int64_t macs(const layer& l) const {
        if (l.kind == layer_kind::conv) return out(l).elements() * l.kernel * l.kernel * in(l).c;
        if (l.kind == layer_kind::linear) return l.out_c * in(l).elements();
        return 0;
    }
    std::int64_t macs_per_image() const {
        std::int64_t total = 0;
        for (const layer& l : layers) total += macs(l);
        return total;
    }

    // The state_dict entries of one layer: weight, bias, then its BatchNorm (none for a pool).
    std::vector<weight_spec> layer_weights(const layer& l) const {
        std::vector<weight_spec> specs;
        if (l.kind == layer_kind::conv)
            specs.push_back({l.name + ".weight", {l.out_c, in(l).c, l.kernel, l.kernel}});
        else if (l.kind == layer_kind::linear)
            specs.push_back({l.name + ".weight", {l.out_c, in(l).elements()}});
        else
            return specs;
        if (l.bias) specs.push_back({l.name + ".bias", {l.out_c}, weight_role::bias});
        if (!l.bn.empty()) {
            specs.push_back({l.bn + ".weight", {l.out_c}, weight_role::bn_weight});
            specs.push_back({l.bn + ".bias", {l.out_c}, weight_role::bn_bias});
            specs.push_back({l.bn + ".running_mean", {l.out_c}, weight_role::bn_mean});
            specs.push_back({l.bn + ".running_var", {l.out_c}, weight_role::bn_var});
            specs.push_back({l.bn + ".num_batches_tracked", {}, weight_role::bn_counter});
        }
        return specs;
    }

    // Every state_dict entry the network reads, in execution order.
    std::vector<weight_spec> weights() const {
        std::vector<weight_spec> specs;
        for (const layer& l : layers)
            for (weight_spec& s : layer_weights(l)) specs.push_back(std::move(s));
        return specs;
    }
};

// Builds a network layer by layer, computing each output shape as PyTorch does.
class network_builder {
public:
    network_builder(std::string name, std::int64_t h, std::int64_t w, std::int64_t c) {
        net_.name = std::move(name);
        net_.input = add_tensor({"input", h, w, c});
    }

    int conv(const std::string& name, const std::string& bn, int input, std::int64_t out_c, std::int64_t kernel,
             std::int64_t stride, std::int64_t pad, bool relu, int residual = -1, const std::string& output_name = "") {
        const tensor_info& x = net_.tensors[static_cast<std::size_t>(input)];
        layer l;
        l.kind = layer_kind::conv;
        l.name = name;
        l.bn = bn;
        l.kernel = kernel, l.stride = stride, l.pad = pad, l.out_c = out_c;
        l.bias = bn.empty();
        l.relu = relu;
        l.input = input;
        l.residual = residual;
        tensor_info y{output_name.empty() ? name : output_name, spatial(x.h, kernel, stride, pad), spatial(x.w, kernel, stride, pad), out_c, relu};
        if (residual >= 0) {
            const tensor_info& r = net_.tensors[static_cast<std::size_t>(residual)];
            if (r.h != y.h || r.w != y.w || r.c != y.c) fail(name, ": the shortcut's shape differs from the output's");
            y.storage = r.storage >= 0 ? r.storage : residual;
        }
        l.output = add_tensor(std::move(y));
        net_.layers.push_back(std::move(l));
        return net_.layers.back().output;
    }

    int max_pool(const std::string& name, int input, std::int64_t kernel, std::int64_t stride, std::int64_t pad) {
        const tensor_info x = net_.tensors[static_cast<std::size_t>(input)];
        layer l;
        l.kind = layer_kind::max_pool;
        l.name = name;
        l.kernel = kernel, l.stride = stride, l.pad = pad;
        l.input = input;
        l.output = add_tensor({name, spatial(x.h, kernel, stride, pad), spatial(x.w, kernel, stride, pad), x.c, x.non_negative});
        net_.layers.push_back(std::move(l));
        return net_.layers.back().output;
    }

    int adaptive_avg_pool(const std::string& name, int input, std::int64_t out_h, std::int64_t out_w) {
        const tensor_info x = net_.tensors[static_cast<std::size_t>(input)];
        layer l;
        l.kind = layer_kind::adaptive_avg_pool;
        l.name = name;
        l.input = input;
        l.output = add_tensor({name, out_h, out_w, x.c, x.non_negative});
        net_.layers.push_back(std::move(l));
        return net_.layers.back().output;
    }

    // A fully connected layer over the whole input tensor (flattened as PyTorch flattens NCHW).
    int linear(const std::string& name, int input, std::int64_t out_features, bool relu) {
        layer l;
        l.kind = layer_kind::linear;
        l.name = name;
        l.out_c = out_features;
        l.bias = true;
        l.relu = relu;
        l.input = input;
        l.output = add_tensor({name, 1, 1, out_features, relu});
        net_.layers.push_back(std::move(l));
        return net_.layers.back().output;
    }

    network finish(int output) {
        net_.output = output;
        net_.classes = net_.tensors[static_cast<std::size_t>(output)].c;
        return std::move(net_);
    }

private:
    static std::int64_t spatial(std::int64_t in, std::int64_t kernel, std::int64_t stride, std::int64_t pad) {
        return (in + 2 * pad - kernel) / stride + 1;
    }
    int add_tensor(tensor_info t) {
        net_.tensors.push_back(std::move(t));
        return static_cast<int>(net_.tensors.size()) - 1;
    }
    network net_;
};

// torchvision.models.resnet50 (v1.5: the stride of a downsampling bottleneck sits on its 3x3 conv).
inline network resnet50() {
    network_builder b("resnet50", 224, 224, 3);
    int x = b.conv("conv1", "bn1", 0, 64, 7, 2, 3, true);
    x = b.max_pool("maxpool", x, 3, 2, 1);
    const int blocks[4] = {3, 4, 6, 3};
    std::int64_t width = 64;
    for (int stage = 0; stage < 4; ++stage, width *= 2) {
        for (int i = 0; i < blocks[stage]; ++i) {
            const std::string block = "layer" + std::to_string(stage + 1) + "." + std::to_string(i);
            const std::int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
            int shortcut = x;
            if (i == 0) shortcut = b.conv(block + ".downsample.0", block + ".downsample.1", x, width * 4, 1, stride, 0, false);
            int y = b.conv(block + ".conv1", block + ".bn1", x, width, 1, 1, 0, true);
            y = b.conv(block + ".conv2", block + ".bn2", y, width, 3, stride, 1, true);
            x = b.conv(block + ".conv3", block + ".bn3", y, width * 4, 1, 1, 0, true, shortcut, block);
        }
    }
    x = b.adaptive_avg_pool("avgpool", x, 1, 1);
    return b.finish(b.linear("fc", x, 1000, false));
}

// torchvision.models.alexnet (the dropout layers are identities at inference).
inline network alexnet() {
    network_builder b("alexnet", 224, 224, 3);
    int x = b.conv("features.0", "", 0, 64, 11, 4, 2, true);
    x = b.max_pool("features.2", x, 3, 2, 0);
    x = b.conv("features.3", "", x, 192, 5, 1, 2, true);
    x = b.max_pool("features.5", x, 3, 2, 0);
    x = b.conv("features.6", "", x, 384, 3, 1, 1, true);
    x = b.conv("features.8", "", x, 256, 3, 1, 1, true);
    x = b.conv("features.10", "", x, 256, 3, 1, 1, true);
    x = b.max_pool("features.12", x, 3, 2, 0);
    x = b.adaptive_avg_pool("avgpool", x, 6, 6);
    x = b.linear("classifier.1", x, 4096, true);
    x = b.linear("classifier.4", x, 4096, true);
    return b.finish(b.linear("classifier.6", x, 1000, false));
}

inline std::vector<std::string> network_names() { return {"resnet50", "alexnet"}; }

inline network network_by_name(const std::string& name) {
    if (name == "resnet50") return resnet50();
    if (name == "alexnet") return alexnet();
    fail("unknown network '", name, "' (resnet50 or alexnet)");
}

}  // namespace lanes::net
