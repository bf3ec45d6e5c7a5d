// The `lanes` executable: LANES_ISA caps what `lanes info` reports, and a bad value is a clear error.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>
#include <sys/wait.h>

#include "../lanes.hpp"

namespace {

struct run_result {
    int exit_code;
    std::string output;  // stdout and stderr
};

run_result run_lanes(const std::string& environment, const std::string& arguments) {
    const char* exe = std::getenv("LANES_EXE");
    if (exe == nullptr) throw std::runtime_error("LANES_EXE is not set (meson test sets it)");
    const std::string command = environment + " '" + exe + "' " + arguments + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    if (pipe == nullptr) throw std::runtime_error("popen failed");
    std::string output;
    std::array<char, 4096> chunk;
    while (std::fgets(chunk.data(), static_cast<int>(chunk.size()), pipe) != nullptr) output += chunk.data();
    const int status = pclose(pipe);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace

TEST(Cli, CapAtAvx2ShowsAvx2OrLowerForEveryOperation) {
    if (!lanes::usable(lanes::isa::avx2)) GTEST_SKIP() << "avx2 is not usable here: " << lanes::why_unusable(lanes::isa::avx2);
    const run_result r = run_lanes("LANES_ISA=avx2", "info");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("cap: avx2, from LANES_ISA"), std::string::npos) << r.output;
    const std::string marker = "Operations under cap avx2\n";
    const std::size_t start = r.output.find(marker);
    ASSERT_NE(start, std::string::npos) << r.output;
    std::istringstream lines(r.output.substr(start + marker.size()));
    std::string line;
    int operations = 0;
    while (std::getline(lines, line) && !line.empty()) {
        ++operations;
        const bool low = line.find("(avx2)") != std::string::npos || line.find("(ref)") != std::string::npos;
        EXPECT_TRUE(low) << line;
    }
    EXPECT_EQ(operations, static_cast<int>(lanes::resolved_operations(lanes::isa::avx2).size()));
}

TEST(Cli, BogusCapIsAClearError) {
    const run_result r = run_lanes("LANES_ISA=bogus", "info");
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.output.find("unknown ISA level 'bogus'"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("ref, avx2, avxvnni, avx512, avx512vnni, amx"), std::string::npos) << r.output;
}

TEST(Cli, UnusableCapIsAClearError) {
    for (lanes::isa level : lanes::all_isas) {
        if (lanes::usable(level)) continue;
        const run_result r = run_lanes(std::string("LANES_ISA=") + lanes::isa_name(level), "info");
        EXPECT_NE(r.exit_code, 0);
        EXPECT_NE(r.output.find("is not usable on this machine"), std::string::npos) << r.output;
        return;
    }
    GTEST_SKIP() << "every ISA level is usable on this machine";
}

// ---- lanes run / bench / calibrate -------------------------------------------------------------------
namespace {

std::string test_image(const char* name) { return std::string(LANES_TEST_DATA_DIR) + "/" + name; }

int count_of(const std::string& text, const std::string& what) {
    int n = 0;
    for (std::size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

}  // namespace

TEST(Cli, RunPrintsTheTopFiveLabelsOfEachImage) {
    const std::string cat = test_image("cat.jpg"), coffee = test_image("coffee.png");
    const run_result r = run_lanes("", "run --net alexnet '" + cat + "' '" + coffee + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find(cat + "\n"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(coffee + "\n"), std::string::npos) << r.output;
    EXPECT_EQ(count_of(r.output, "%  "), 10) << r.output;
}

TEST(Cli, CalibrateWritesAFileThatAnInt8RunReads) {
    const std::string calib = ::testing::TempDir() + "lanes_cli_calib.json";
    const run_result c = run_lanes("", "calibrate --net alexnet --random 2 --method minmax --out '" + calib + "'");
    ASSERT_EQ(c.exit_code, 0) << c.output;
    EXPECT_NE(c.output.find("calibrating: pass 1/1, image 2/2"), std::string::npos) << c.output;
    const run_result r = run_lanes("", "run --net alexnet --precision int8 --calib '" + calib + "' '" + test_image("rocket.jpg") + "'");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(count_of(r.output, "%  "), 5) << r.output;
    EXPECT_EQ(r.output.find("no --calib"), std::string::npos) << r.output;
    const run_result wrong = run_lanes("", "run --net resnet50 --precision int8 --calib '" + calib + "' '" + test_image("rocket.jpg") + "'");
    EXPECT_EQ(wrong.exit_code, 2);
    EXPECT_NE(wrong.output.find("calibrated for 'alexnet', not resnet50"), std::string::npos) << wrong.output;
}

TEST(Cli, BenchPrintsLatencyThroughputMemoryAndAProfile) {
    const run_result r = run_lanes("", "bench --net alexnet --precision int8 --batch 2 --seconds 0.05 --profile");
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const char* line : {"alexnet int8, batch 2, 1 thread", "latency per batch (ms): p50 ", "throughput: ", "images/s",
                             "memory: weights ", "planned activations", "peak RSS", "features.0 ", "classifier.6 ",
                             "outside them"})
        EXPECT_NE(r.output.find(line), std::string::npos) << line << "\n" << r.output;
    // The first convolution's row ends with its % peak and kernel. A kernel with a peak (every level but
    // the reference) shows a number: the peak probed alongside the runs was measured and found.
    const std::size_t at = r.output.find("\nfeatures.0 ");
    ASSERT_NE(at, std::string::npos) << r.output;
    std::istringstream row(r.output.substr(at + 1, r.output.find('\n', at + 1) - at - 1));
    std::vector<std::string> fields;
    for (std::string field; row >> field;) fields.push_back(field);
    ASSERT_GE(fields.size(), 2u) << r.output;
    const std::string& kernel = fields.back();
    const std::string& pct = fields[fields.size() - 2];
    if (kernel.rfind("ref::", 0) == 0) EXPECT_EQ(pct, "-") << r.output;
    else EXPECT_TRUE(!pct.empty() && pct.find_first_not_of("0123456789") == std::string::npos && std::stoi(pct) > 0) << pct << "\n" << r.output;
}

TEST(Cli, BadInputExitsNonZeroWithOneLine) {
    const std::string missing_weights = ::testing::TempDir() + "lanes_cli_no_such.safetensors";
    const struct {
        std::string arguments, fragment;
    } cases[] = {
        {"run --net alexnet '" + ::testing::TempDir() + "no_such_image.png'", "cannot open the image"},
        {"run --net alexnet --weights '" + missing_weights + "' '" + test_image("cat.jpg") + "'", "cannot open the weights file"},
        {"run --net alexnet --weights '" + test_image("cat.jpg") + "' '" + test_image("cat.jpg") + "'", "goes beyond the end of the file"},
        {"run --net alexnet --threads 0 '" + test_image("cat.jpg") + "'", "--threads = 0 must be at least 1"},
        {"bench --net alexnet --isa bogus", "unknown ISA level 'bogus'"},
        {"bench --net alexnet --batch 0", "--batch = 0 must be at least 1"},
        {"calibrate --net alexnet --images /nonexistent --out x.json", "/nonexistent: not a directory"},
        {"run --net alexnet --precision int8 --calib /nonexistent.json '" + test_image("cat.jpg") + "'", "cannot open the calibration file"},
    };
    for (const auto& c : cases) {
        const run_result r = run_lanes("", c.arguments);
        EXPECT_EQ(r.exit_code, 2) << c.arguments << "\n" << r.output;
        EXPECT_NE(r.output.find("lanes: "), std::string::npos) << r.output;
        EXPECT_NE(r.output.find(c.fragment), std::string::npos) << c.arguments << "\n" << r.output;
        EXPECT_EQ(count_of(r.output, "\n"), 1) << r.output;
    }
    const run_result unknown = run_lanes("", "run --net vgg16 x.png");
    EXPECT_NE(unknown.exit_code, 0) << unknown.output;
}
