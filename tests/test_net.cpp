// The network executor: topology against torchvision's published shapes and sizes, the memory plan,
// the conv lowering (patches + GEMM with the shortcut as its residual) against the reference conv, INT8 bit-identity
// across ISA levels and thread counts, and every weights, image and calibration defect.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "../net/pipeline.hpp"
#include "helpers.hpp"
#include "reference/conv.hpp"
#include "reference/eltwise.hpp"
#include "reference/gemm.hpp"

#if defined(_OPENMP)
#include <omp.h>
#endif

namespace {

using namespace lanes;
using namespace lanes::net;

const tensor_info& tensor_named(const network& n, const std::string& name) {
    for (const tensor_info& t : n.tensors)
        if (t.name == name) return t;
    throw std::runtime_error("no tensor " + name);
}

// The levels this machine can run (a test that loops over them covers each level's kernels).
std::vector<isa> usable_test_levels() {
    std::vector<isa> levels;
    for (const isa level : all_isas)
        if (usable(level)) levels.push_back(level);
    return levels;
}

// ---- Topology ------------------------------------------------------------------------------------------
// Expected figures are torchvision's: 320 state_dict entries and 25,557,032 parameters for resnet50
// (4.09 G multiply-adds), 16 entries and 61,100,840 parameters for alexnet (0.71 G).
std::int64_t parameters(const network& n) {
    std::int64_t total = 0;
    for (const weight_spec& s : n.weights())
        if (!s.is_counter() && s.role != weight_role::bn_mean && s.role != weight_role::bn_var) total += s.elements();
    return total;
}

TEST(NetTopology, ResNet50MatchesTorchvision) {
    const network n = resnet50();
    EXPECT_EQ(n.weights().size(), 320u);
    EXPECT_EQ(parameters(n), 25'557'032);
    EXPECT_NEAR(static_cast<double>(n.macs_per_image()), 4.09e9, 0.01e9);
    const struct {
        const char* name;
        std::int64_t h, w, c;
    } shapes[] = {{"conv1", 112, 112, 64},         {"maxpool", 56, 56, 64},         {"layer1.2", 56, 56, 256},
                  {"layer2.0.conv2", 28, 28, 128}, {"layer2.0.conv1", 56, 56, 128}, {"layer3.5", 14, 14, 1024},
                  {"layer4.2", 7, 7, 2048},        {"avgpool", 1, 1, 2048},         {"fc", 1, 1, 1000}};
    for (const auto& s : shapes) {
        const tensor_info& t = tensor_named(n, s.name);
        EXPECT_EQ(t.h, s.h) << s.name;
        EXPECT_EQ(t.w, s.w) << s.name;
        EXPECT_EQ(t.c, s.c) << s.name;
    }
    // v1.5: the stride of a downsampling block sits on its 3x3 conv.
    for (const layer& l : n.layers) {
        if (l.name == "layer2.0.conv1") {
            EXPECT_EQ(l.stride, 1);
        }
        if (l.name == "layer2.0.conv2") {
            EXPECT_EQ(l.stride, 2);
        }
    }
}

TEST(NetTopology, AlexNetMatchesTorchvision) {
    const network n = alexnet();
    EXPECT_EQ(n.weights().size(), 16u);
    EXPECT_EQ(parameters(n), 61'100'840);
    EXPECT_NEAR(static_cast<double>(n.macs_per_image()), 0.714e9, 0.01e9);
    EXPECT_EQ(tensor_named(n, "features.0").h, 55);
    EXPECT_EQ(tensor_named(n, "features.12").h, 6);
    EXPECT_EQ(tensor_named(n, "classifier.6").c, 1000);
}

TEST(NetTopology, UnknownNetworkIsAnError) {
    EXPECT_THROW(network_by_name("vgg16"), lanes::error);
}

// ---- Memory plan -----------------------------------------------------------------------------------------
TEST(NetMemoryPlan, BuffersAliveTogetherNeverOverlap) {
    std::mt19937 rng(7);
    for (int trial = 0; trial < 50; ++trial) {
        memory_plan plan;
        struct span {
            std::int64_t bytes;
            int first, last;
        };
        std::vector<span> spans;
        for (int i = 0; i < 30; ++i) {
            const int a = static_cast<int>(rng() % 40), b = a + static_cast<int>(rng() % 10);
            spans.push_back({1 + static_cast<std::int64_t>(rng() % 5000), a, b});
            plan.add(spans.back().bytes, a, b);
        }
        plan.place();
        std::int64_t total = 0;
        for (std::size_t i = 0; i < spans.size(); ++i) {
            total += spans[i].bytes;
            EXPECT_EQ(plan.offset(static_cast<int>(i)) % 64, 0);
            EXPECT_LE(plan.offset(static_cast<int>(i)) + spans[i].bytes, plan.arena_bytes());
            for (std::size_t j = 0; j < i; ++j) {
                const bool together = spans[i].first <= spans[j].last && spans[j].first <= spans[i].last;
                const std::int64_t oi = plan.offset(static_cast<int>(i)), oj = plan.offset(static_cast<int>(j));
                const bool overlap = oi < oj + spans[j].bytes && oj < oi + spans[i].bytes;
                EXPECT_FALSE(together && overlap) << "trial " << trial << ": buffers " << i << " and " << j;
            }
        }
        EXPECT_LE(plan.arena_bytes(), total + 64 * static_cast<std::int64_t>(spans.size()));
    }
}

TEST(NetMemoryPlan, ResNet50ActivationsFitInAFractionOfTheirSum) {
    seeded_weights weights(1);
    const engine e(resnet50(), weights, {.prec = precision::fp32, .batch = 1});
    std::int64_t sum = 0;
    for (const tensor_info& t : e.net().tensors) sum += t.elements() * 4;
    EXPECT_LT(e.memory().arena_bytes, sum / 3) << "planned " << e.memory().arena_bytes << " of " << sum;
    EXPECT_GT(e.memory().weight_bytes, std::int64_t{25'557'032} * 4 * 99 / 100);
}

// ---- The conv lowering against the reference conv ---------------------------------------------------
struct conv_case {
    std::int64_t batch, h, w, in_c, out_c, kernel, stride, pad;
};
const conv_case conv_cases[] = {{1, 9, 7, 5, 6, 3, 1, 1}, {2, 11, 11, 3, 8, 7, 2, 3}, {1, 8, 8, 16, 4, 1, 2, 0},
                                {1, 13, 13, 7, 3, 5, 1, 2}, {3, 5, 6, 4, 9, 3, 2, 1}, {1, 4, 4, 2, 2, 11, 4, 5},
                                {2, 10, 9, 8, 33, 3, 1, 1}};

conv2d_shape shape_of(const conv_case& c) {
    return {.batch = c.batch, .in_h = c.h, .in_w = c.w, .in_c = c.in_c, .out_c = c.out_c, .kernel_h = c.kernel,
            .kernel_w = c.kernel, .stride_h = c.stride, .stride_w = c.stride, .pad_top = c.pad, .pad_left = c.pad,
            .pad_bottom = c.pad, .pad_right = c.pad};
}

// OIHW -> O(HWI): the order the engine packs.
template <class T>
std::vector<T> patch_order(const std::vector<T>& w, const conv2d_shape& s) {
    std::vector<T> out(w.size());
    const std::int64_t spatial = s.kernel_h * s.kernel_w;
    for (std::int64_t o = 0; o < s.out_c; ++o)
        for (std::int64_t c = 0; c < s.in_c; ++c)
            for (std::int64_t p = 0; p < spatial; ++p)
                out[static_cast<std::size_t>((o * spatial + p) * s.in_c + c)] = w[static_cast<std::size_t>((o * s.in_c + c) * spatial + p)];
    return out;
}

TEST(NetConvLowering, Int8PatchesAndGemmWithResidualEqualReferenceConvBitForBit) {
    const test::isa_cap_restorer restore_cap;
    for (const isa level : usable_test_levels())
    for (const conv_case& c : conv_cases) {
        set_isa_cap(level);
        for (const bool residual : {false, true})
        for (const bool implicit : {false, true}) {
            const conv2d_shape s = shape_of(c);
            const std::int64_t m = s.batch * s.out_h() * s.out_w(), k = s.reduction(), outputs = m * s.out_c;
            const auto input = test::random_ints<std::uint8_t>(static_cast<std::size_t>(s.batch * s.in_h * s.in_w * s.in_c), 1, 0, 255);
            const auto weights = test::random_ints<std::int8_t>(static_cast<std::size_t>(s.out_c * k), 2, -127, 127);
            const auto shortcut = test::random_ints<std::uint8_t>(static_cast<std::size_t>(outputs), 3, 0, 255);
            const auto bias = test::random_ints<std::int32_t>(static_cast<std::size_t>(s.out_c), 4, -5000, 5000);
            std::vector<float> scale = test::random_floats(static_cast<std::size_t>(s.out_c), 5, 0.0005f, 0.004f);
            const std::int32_t in_zp = 37, out_zp = 11, shortcut_zp = 129;
            const float shortcut_scale = 0.73f;
            const requant_params rq{.bias = bias.data(), .scale = scale.data(), .zero_point = out_zp, .relu = true, .out = dtype::u8};

            std::vector<std::uint8_t> expected(static_cast<std::size_t>(outputs));
            ref::conv2d_u8s8({.shape = s, .input = input.data(), .input_zero_point = in_zp, .weights = weights.data(), .requant = rq,
                              .residual = residual ? shortcut.data() : nullptr, .residual_scale = shortcut_scale,
                              .residual_zero_point = shortcut_zp, .output = expected.data()});

            std::vector<std::uint8_t> patches(static_cast<std::size_t>(m * k));
            gather_patches<std::uint8_t>(s, input.data(), static_cast<std::uint8_t>(in_zp), patches.data());
            const std::vector<std::int8_t> w = patch_order(weights, s);
            std::vector<std::uint8_t> got = shortcut;  // the engine adds the shortcut in place, in the GEMM's epilogue
            gemm_u8s8_args g{.m = m, .n = s.out_c, .k = k, .a = patches.data(), .lda = k, .a_zero_point = in_zp, .b = w.data(),
                             .ldb = k, .trans_b = true, .c = got.data(), .ldc = s.out_c, .requant = rq};
            if (residual) {
                g.residual = got.data();
                g.ldr = s.out_c;
                g.residual_scale = shortcut_scale;
                g.residual_zero_point = shortcut_zp;
            }
            // The engine's implicit im2col: window rows read in the input (with 3 bytes of slack) as runs
            // rounded up to 4 bytes, border windows gathered, zero weights for the extra bytes.
            const std::int64_t run = s.kernel_w * s.in_c, stride = round_up(run, 4);
            std::vector<std::uint8_t> slack_input = input, gathered;
            std::vector<const std::uint8_t*> runs;
            std::vector<std::int8_t> padded_w;
            if (implicit) {
                slack_input.resize(input.size() + 3, 0xff);
                const std::vector<std::int64_t> border = border_rows(s);
                gathered.resize(std::max<std::size_t>(border.size(), 1) * static_cast<std::size_t>(s.kernel_h * stride));
                gather_border_rows<std::uint8_t>(s, slack_input.data(), static_cast<std::uint8_t>(in_zp), border, stride, gathered.data());
                point_window_runs<std::uint8_t>(s, slack_input.data(), border, gathered.data(), stride, runs);
                padded_w = pad_window_rows<std::int8_t>(w, s.out_c, s.kernel_h, run, stride);
                g.k = s.kernel_h * stride;
                g.a = nullptr;
                g.lda = 0;
                g.a_runs = runs.data();
                g.a_run_length = stride;
                g.b = padded_w.data();
                g.ldb = g.k;
            }
            gemm_u8s8(g);
            ASSERT_EQ(got, expected) << isa_name(level) << ": kernel " << c.kernel << " stride " << c.stride << " residual " << residual
                                     << " implicit " << implicit;
        }
    }
}

TEST(NetConvLowering, Fp32PatchesAndGemmMatchReferenceConv) {
    for (const conv_case& c : conv_cases) {
        const conv2d_shape s = shape_of(c);
        const std::int64_t m = s.batch * s.out_h() * s.out_w(), k = s.reduction(), outputs = m * s.out_c;
        const auto input = test::random_floats(static_cast<std::size_t>(s.batch * s.in_h * s.in_w * s.in_c), 1);
        const auto weights = test::random_floats(static_cast<std::size_t>(s.out_c * k), 2);
        const auto shortcut = test::random_floats(static_cast<std::size_t>(outputs), 3);
        const auto bias = test::random_floats(static_cast<std::size_t>(s.out_c), 4);
        std::vector<float> expected(static_cast<std::size_t>(outputs));
        ref::conv2d_f32({.shape = s, .input = input.data(), .weights = weights.data(), .bias = bias.data(),
                         .residual = shortcut.data(), .relu = true, .output = expected.data()});
        std::vector<float> patches(static_cast<std::size_t>(m * k));
        gather_patches<float>(s, input.data(), 0.0f, patches.data());
        const std::vector<float> w = patch_order(weights, s);
        std::vector<float> got = shortcut;  // the engine accumulates onto the shortcut in place
        const packed_b_f32 packed = pack_gemm_f32_b({.n = s.out_c, .k = k, .b = w.data(), .ldb = k, .trans_b = true});
        gemm_f32_packed({.m = m, .n = s.out_c, .k = k, .a = patches.data(), .lda = k, .c = got.data(), .ldc = s.out_c,
                         .trans_b = true, .beta = 1.0f, .bias = bias.data(), .relu = true},
                        packed);
        for (std::int64_t i = 0; i < outputs; ++i) {
            // Each output: k products, then bias and shortcut; |a|, |w|, |bias|, |shortcut| <= 1.
            ASSERT_NEAR(got[static_cast<std::size_t>(i)], expected[static_cast<std::size_t>(i)], test::fp32_tolerance(k + 3, static_cast<double>(k + 2)))
                << "element " << i;
        }
    }
}

TEST(NetConvLowering, InputQuantizationEqualsTheReference) {
    std::vector<float> x = test::random_floats(5000, 9, -40.0f, 40.0f);
    const float halves[] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 1e30f, -1e30f, std::nanf(""), 3e6f, -3e6f, 0.0f, -0.0f};
    for (std::size_t i = 0; i < std::size(halves); ++i) x[i] = halves[i];
    for (std::size_t i = 100; i < 200; ++i) x[i] = static_cast<float>(static_cast<int>(i) - 150) * 0.125f + 0.0625f;
    const test::isa_cap_restorer restore_cap;
    for (const isa level : usable_test_levels()) {
        set_isa_cap(level);  // the engine's loops have AVX2 and AVX-512 builds, chosen under the cap
        for (const auto& [scale, zp] : {std::pair{0.125f, 0}, {0.25f, 128}, {0.1f, 3}, {1.0f, 255}}) {
            std::vector<std::uint8_t> expected(x.size()), got(x.size());
            ref::quantize({.count = static_cast<std::int64_t>(x.size()), .input = x.data(), .scale = scale, .zero_point = zp,
                           .out = dtype::u8, .output = expected.data()});
            quantize_input(x.data(), static_cast<std::int64_t>(x.size()), scale, zp, got.data());
            ASSERT_EQ(got, expected) << isa_name(level) << ": scale " << scale << " zero point " << zp;
        }
    }
}

// ---- INT8: bit-identical across ISA levels and thread counts -----------------------------------------
class NetInt8Identity : public ::testing::TestWithParam<const char*> {};

TEST_P(NetInt8Identity, EveryUsableLevelAndThreadCountGivesTheSameLogits) {
    const network n = network_by_name(GetParam());
    seeded_weights weights(3);
    const std::vector<float> images = random_batch(2, 11);
    const test::isa_cap_restorer restore_cap;
    const calibration calib = calibrate(n, weights, random_batch(2, 12), calibration_method::percentile, 99.99);
    std::vector<float> first;
    std::string first_name;
    for (const isa level : all_isas) {
        if (!usable(level)) {
            std::printf("[  SKIP    ] %s\n", test::unusable_reason("the int8 network", level).c_str());
            continue;
        }
        set_isa_cap(level);
        engine e(n, weights, {.prec = precision::int8, .batch = 2, .calib = &calib});
        for (const int threads : {1, 2}) {
#if defined(_OPENMP)
            omp_set_num_threads(threads);
#endif
            const float* logits = e.run(images.data());
            const std::vector<float> got(logits, logits + 2 * n.classes);
            const std::string name = std::string(isa_name(level)) + " x" + std::to_string(threads);
            if (first.empty()) {
                first = got, first_name = name;
                continue;
            }
            ASSERT_EQ(std::memcmp(got.data(), first.data(), got.size() * sizeof(float)), 0) << name << " differs from " << first_name;
        }
    }
#if defined(_OPENMP)
    omp_set_num_threads(2);
#endif
}

INSTANTIATE_TEST_SUITE_P(Nets, NetInt8Identity, ::testing::Values("alexnet", "resnet50"));

// ---- Weights file defects ----------------------------------------------------------------------------------
// A small network (conv + BatchNorm, linear) so each file is a few hundred bytes.
network tiny_network() {
    network_builder b("tiny", 4, 4, 3);
    int x = b.conv("conv", "bn", 0, 2, 3, 1, 1, true);
    return b.finish(b.linear("fc", x, 5, false));
}

struct raw_tensor {
    std::string name, dtype;
    std::vector<std::int64_t> shape;
    std::int64_t bytes;
};

std::string temp_path(const std::string& name) { return (std::filesystem::temp_directory_path() / ("lanes_test_" + name)).string(); }

// Writes a safetensors file from a JSON header (as given) and `data_bytes` bytes of data.
std::string write_raw(const std::string& name, const std::string& header, std::int64_t data_bytes, std::uint64_t claimed_length = 0) {
    const std::string path = temp_path(name);
    std::ofstream out(path, std::ios::binary);
    const std::uint64_t length = claimed_length ? claimed_length : header.size();
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>(length >> (8 * i)));
    out << header;
    out << std::string(static_cast<std::size_t>(data_bytes), '\0');
    return path;
}

// The header of a correct file for tiny_network(), with `edit` applied to the list first.
std::pair<std::string, std::int64_t> tiny_header(const std::function<void(std::vector<raw_tensor>&)>& edit = {}) {
    std::vector<raw_tensor> tensors;
    for (const weight_spec& s : tiny_network().weights())
        tensors.push_back({s.name, s.is_counter() ? "I64" : "F32", s.shape, s.is_counter() ? 8 : s.elements() * 4});
    if (edit) edit(tensors);
    nlohmann::json j = nlohmann::json::object();
    std::int64_t offset = 0;
    for (const raw_tensor& t : tensors) {
        j[t.name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes}}};
        offset += t.bytes;
    }
    return {j.dump(), offset};
}

void expect_weights_error(const std::string& path, const std::string& fragment) {
    const network n = tiny_network();
    try {
        safetensors_weights w(path, n);
        FAIL() << "no error for " << path << " (expected: " << fragment << ")";
    } catch (const lanes::error& e) {
        EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
}

TEST(NetWeights, ACorrectFileLoadsAndRuns) {
    const auto [header, bytes] = tiny_header();
    const std::string path = write_raw("good.safetensors", header, bytes);
    safetensors_weights w(path, tiny_network());
    engine e(tiny_network(), w, {.prec = precision::fp32, .batch = 1});
    std::vector<float> input(48, 1.0f);
    const float* logits = e.run(input.data());
    for (int i = 0; i < 5; ++i) EXPECT_EQ(logits[i], 0.0f);  // all-zero weights and biases
}

TEST(NetWeights, EveryDefectIsAnErrorNamingTheTensor) {
    {
        const auto [header, bytes] = tiny_header([](auto& t) { t.erase(t.begin()); });
        expect_weights_error(write_raw("missing.safetensors", header, bytes), "tensor 'conv.weight' of tiny is missing");
    }
    {
        const auto [header, bytes] = tiny_header([](auto& t) { t.push_back({"extra.weight", "F32", {2}, 8}); });
        expect_weights_error(write_raw("extra.safetensors", header, bytes), "tensor 'extra.weight' is not part of tiny");
    }
    {
        const auto [header, bytes] = tiny_header([](auto& t) { t[0].shape = {2, 3, 3, 2}, t[0].bytes = 2 * 3 * 3 * 2 * 4; });
        expect_weights_error(write_raw("shape.safetensors", header, bytes), "tensor 'conv.weight' has shape [2, 3, 3, 2]; tiny needs [2, 3, 3, 3]");
    }
    {
        const auto [header, bytes] = tiny_header([](auto& t) { t[0].dtype = "F16", t[0].bytes /= 2; });
        expect_weights_error(write_raw("dtype.safetensors", header, bytes), "tensor 'conv.weight' has dtype F16; tiny needs F32");
    }
    {
        const auto [header, bytes] = tiny_header();
        expect_weights_error(write_raw("truncated.safetensors", header, bytes - 9), "reach beyond the data");
    }
    {
        const auto [header, bytes] = tiny_header();
        expect_weights_error(write_raw("length.safetensors", header, bytes, 1u << 30), "goes beyond the end of the file");
        expect_weights_error(write_raw("huge_length.safetensors", header, bytes, ~0ull), "goes beyond the end of the file");
    }
    {
        const auto [header, bytes] = tiny_header([](auto& t) { t[1].bytes = t[0].bytes; });
        nlohmann::json j = nlohmann::json::parse(header);
        j["bn.weight"]["data_offsets"] = {0, 8};  // on top of conv.weight
        expect_weights_error(write_raw("overlap.safetensors", j.dump(), bytes), "overlap");
    }
    {
        const auto [header, bytes] = tiny_header();
        nlohmann::json j = nlohmann::json::parse(header);
        j["conv.weight"]["data_offsets"] = {16, 8};
        expect_weights_error(write_raw("reversed.safetensors", j.dump(), bytes), "end before they begin");
        j["conv.weight"]["data_offsets"] = {0, -8};
        expect_weights_error(write_raw("negative.safetensors", j.dump(), bytes), "not a pair of non-negative integers");
        j["conv.weight"] = {{"dtype", "F32"}, {"shape", {2, 3, 3, 3}}};
        expect_weights_error(write_raw("no_offsets.safetensors", j.dump(), bytes), "tensor 'conv.weight': no \"data_offsets\"");
        j["conv.weight"] = {{"dtype", "Q4"}, {"shape", {1}}, {"data_offsets", {0, 1}}};
        expect_weights_error(write_raw("q4.safetensors", j.dump(), bytes), "unknown dtype \"Q4\"");
        j["conv.weight"] = {{"dtype", "F32"}, {"shape", {2, 3, 3, 3}}, {"data_offsets", {0, 4}}};
        expect_weights_error(write_raw("size.safetensors", j.dump(), bytes), "hold 4 bytes but F32 [2, 3, 3, 3] needs 216");
    }
    expect_weights_error(write_raw("not_json.safetensors", "{\"conv.weight\": [", 0), "not valid JSON");
    expect_weights_error(write_raw("array.safetensors", "[1, 2]", 0), "not a JSON object");
    {
        const std::string path = temp_path("short.safetensors");
        std::ofstream(path, std::ios::binary) << "abc";
        expect_weights_error(path, "too short");
    }
    expect_weights_error(temp_path("does_not_exist.safetensors"), "cannot open");
}

// ---- Images --------------------------------------------------------------------------------------------
std::string data_path(const std::string& name) { return std::string(LANES_TEST_DATA_DIR) + "/" + name; }

TEST(NetImages, TestPhotographsDecodeAsRgb) {
    for (const char* name : {"cat.jpg", "coffee.png", "astronaut.ppm", "rocket.jpg", "camera_gray.png"}) {
        const rgb_image image = decode_image(data_path(name));
        EXPECT_GT(image.width, 100) << name;
        EXPECT_EQ(image.pixels.size(), static_cast<std::size_t>(image.width) * image.height * 3) << name;
    }
    const rgb_image grey = decode_image(data_path("camera_gray.png"));
    for (std::size_t i = 0; i < grey.pixels.size(); i += 3) {
        ASSERT_EQ(grey.pixels[i], grey.pixels[i + 1]);
        ASSERT_EQ(grey.pixels[i], grey.pixels[i + 2]);
    }
}

TEST(NetImages, DefectsAreErrorsNamingTheFile) {
    std::ifstream in(data_path("coffee.png"), std::ios::binary);
    const std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ifstream jin(data_path("cat.jpg"), std::ios::binary);
    const std::string jpg((std::istreambuf_iterator<char>(jin)), std::istreambuf_iterator<char>());
    const struct {
        const char* name;
        std::string bytes;
        const char* fragment;
    } cases[] = {{"empty.png", "", "the file is empty"},
                 {"text.png", "this is not an image\n", "not a JPEG, PNG or PPM/PGM image"},
                 {"truncated.png", png.substr(0, png.size() / 3), "cannot decode"},
                 {"truncated.jpg", jpg.substr(0, jpg.size() / 4), "cannot decode"},
                 {"header_only.jpg", jpg.substr(0, 4), "not a JPEG, PNG or PPM/PGM image"},
                 {"huge.ppm", "P6\n20000 300\n255\n", "the limit is 16384 per side"}};
    for (const auto& c : cases) {
        const std::string path = temp_path(c.name);
        std::ofstream(path, std::ios::binary) << c.bytes;
        try {
            decode_image(path);
            ADD_FAILURE() << c.name << ": no error";
        } catch (const lanes::error& e) {
            EXPECT_NE(std::string(e.what()).find(c.fragment), std::string::npos) << e.what();
            EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
        }
    }
    EXPECT_THROW(decode_image(temp_path("no_such_image.png")), lanes::error);
    EXPECT_THROW(decode_image(std::filesystem::temp_directory_path().string()), lanes::error);
}

TEST(NetImages, PreprocessingOfAUniformImageIsTheNormalizedValue) {
    rgb_image image{300, 200, std::vector<std::uint8_t>(300 * 200 * 3)};
    for (std::size_t i = 0; i < image.pixels.size(); ++i) image.pixels[i] = static_cast<std::uint8_t>(i % 3 == 0 ? 200 : i % 3 == 1 ? 100 : 7);
    std::vector<float> out(static_cast<std::size_t>(image_floats));
    preprocess(image, out.data());
    const float expected[3] = {(200 / 255.0f - 0.485f) / 0.229f, (100 / 255.0f - 0.456f) / 0.224f, (7 / 255.0f - 0.406f) / 0.225f};
    for (std::size_t i = 0; i < out.size(); ++i) ASSERT_EQ(out[i], expected[i % 3]) << i;
}

TEST(NetImages, ResizeKeepsAGradientMonotonic) {
    rgb_image image{500, 1, std::vector<std::uint8_t>(500 * 3)};
    for (int x = 0; x < 500; ++x)
        for (int ch = 0; ch < 3; ++ch) image.pixels[static_cast<std::size_t>(x * 3 + ch)] = static_cast<std::uint8_t>(x / 2);
    const rgb_image small = resize_bilinear(image, 123, 1);
    for (int x = 1; x < 123; ++x) EXPECT_GE(small.pixels[static_cast<std::size_t>(x * 3)], small.pixels[static_cast<std::size_t>((x - 1) * 3)]);
    EXPECT_LE(small.pixels[0], 2);
    EXPECT_GE(small.pixels[122 * 3], 247);
}

// ---- Calibration files ---------------------------------------------------------------------------------
TEST(NetCalibration, SavesAndLoadsAndRejectsDefects) {
    const network n = alexnet();
    calibration c;
    c.net = "alexnet";
    for (int t = 0; t < static_cast<int>(n.tensors.size()); ++t)
        if (has_own_range(n, t)) c.tensors[n.tensors[static_cast<std::size_t>(t)].name] = {-1.0f, 5.0f, -0.5f, 4.0f};
    const std::string path = temp_path("calib.json");
    c.save(path);
    const calibration back = calibration::load(path, n);
    EXPECT_EQ(back.tensors.size(), c.tensors.size());
    EXPECT_EQ(back.tensors.at("features.3").hi, 4.0f);
    EXPECT_THROW(calibration::load(path, resnet50()), lanes::error);

    nlohmann::json j = nlohmann::json::parse(std::ifstream(path));
    auto expect_error = [&](const nlohmann::json& doc, const std::string& fragment) {
        const std::string bad = temp_path("bad_calib.json");
        std::ofstream(bad) << doc.dump();
        try {
            calibration::load(bad, n);
            ADD_FAILURE() << "no error (expected: " << fragment << ")";
        } catch (const lanes::error& e) {
            EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
        }
    };
    nlohmann::json missing = j;
    missing["tensors"].erase("features.6");
    expect_error(missing, "no range for tensor 'features.6'");
    nlohmann::json inverted = j;
    inverted["tensors"]["input"]["lo"] = 9.0;
    expect_error(inverted, "tensor 'input': lo = 9 is above hi = 4");
    nlohmann::json not_number = j;
    not_number["tensors"]["input"]["hi"] = "big";
    expect_error(not_number, "tensor 'input' has no number \"hi\"");
    expect_error(nlohmann::json::array(), "not a JSON object");
}

TEST(NetCalibration, PercentileClipsOutliersThatMinMaxKeeps) {
    network_builder b("one", 1, 1, 1000);
    const network n = b.finish(b.linear("fc", 0, 1, false));
    std::vector<float> values(1000);
    for (int i = 0; i < 1000; ++i) values[static_cast<std::size_t>(i)] = static_cast<float>(i % 100) / 100.0f;  // 0 .. 0.99
    values[500] = 50.0f;  // one outlier
    for (const auto method : {calibration_method::minmax, calibration_method::percentile}) {
        range_recorder r(n, method, 99.0);
        for (int pass = 0; pass < r.passes(); ++pass) {
            r.start_pass(pass);
            r.observe(0, values.data(), 1000);
        }
        const tensor_range range = r.finish(1).tensors.at("input");
        EXPECT_EQ(range.max, 50.0f);
        if (method == calibration_method::minmax) {
            EXPECT_EQ(range.hi, 50.0f);
        } else {
            EXPECT_LT(range.hi, 1.1f);
        }
    }
}

}  // namespace
