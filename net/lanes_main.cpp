// lanes: the command-line tool. Subcommands:
//   lanes info [--peak]        the CPU, usable ISA levels, the cap, the kernel each operation runs
//   lanes run IMAGE...         classify images: top-5 labels with probabilities
//   lanes bench                latency percentiles, throughput, memory and a per-layer profile
//   lanes calibrate            record INT8 activation ranges into a JSON file
// Errors exit with status 2 and one line on stderr.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "commands.hpp"
#include "info.hpp"

namespace {

void add_net_options(CLI::App* app, lanes::cli::net_options& o, bool with_precision = true) {
    app->add_option("--net", o.net, "resnet50 or alexnet")->check(CLI::IsMember({"resnet50", "alexnet"}))->capture_default_str();
    if (with_precision)
        app->add_option("--precision", o.precision, "fp32 or int8")->check(CLI::IsMember({"fp32", "int8"}))->capture_default_str();
    app->add_option("--weights", o.weights, "safetensors file with torchvision's state_dict keys (default: seeded weights)");
    app->add_option("--seed", o.seed, "seed of the default weights")->capture_default_str();
    app->add_option("--threads", o.threads, "OpenMP threads")->capture_default_str();
    app->add_option("--isa", o.isa, "cap the ISA level (as LANES_ISA)");
}

}  // namespace

int main(int argc, char** argv) {
#if defined(__GLIBC__)
    // Loading a network allocates and frees one layer's raw weights after another (up to 151 MB).
    // glibc would serve them from its heap after the first free and keep the freed pages resident;
    // a fixed threshold keeps every large buffer in its own mapping, returned to the OS when freed.
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
    CLI::App app{"lanes: SIMD kernels for CNN inference on x86-64"};
    app.require_subcommand(1);

    bool peak = false;
    CLI::App* info = app.add_subcommand("info", "CPU, ISA levels, the LANES_ISA cap and the kernel each operation runs");
    info->add_flag("--peak", peak, "also measure this core's peak throughput per instruction family and its read bandwidth");

    lanes::cli::run_options run;
    CLI::App* run_cmd = app.add_subcommand("run", "classify images and print the top-5 labels of each");
    add_net_options(run_cmd, run.common);
    run_cmd->add_option("--calib", run.common.calib, "calibration JSON from `lanes calibrate` (int8; default: calibrate on the images)");
    run_cmd->add_option("--top", run.top, "how many classes to print per image")->capture_default_str();
    run_cmd->add_option("--dump", run.dump, "also write the preprocessed input and the logits to this safetensors file");
    run_cmd->add_option("images", run.images, "JPEG, PNG or PPM files (one batch)")->required();

    lanes::cli::bench_options bench;
    CLI::App* bench_cmd = app.add_subcommand("bench", "latency and throughput on seeded inputs");
    add_net_options(bench_cmd, bench.common);
    bench_cmd->add_option("--calib", bench.common.calib, "calibration JSON (int8; default: calibrate on seeded random inputs)");
    bench_cmd->add_option("--batch", bench.batch, "images per inference")->capture_default_str();
    bench_cmd->add_option("--seconds", bench.seconds, "how long to measure")->capture_default_str();
    bench_cmd->add_flag("--profile", bench.profile, "print a per-layer table: time, GFLOP/s, % of peak, kernel");

    lanes::cli::calibrate_options calibrate;
    CLI::App* calibrate_cmd = app.add_subcommand("calibrate", "record the INT8 activation ranges of a network into a JSON file");
    add_net_options(calibrate_cmd, calibrate.common, false);
    calibrate_cmd->add_option("--images", calibrate.images, "directory of images (default: seeded random inputs)");
    calibrate_cmd->add_option("--random", calibrate.random, "how many seeded random inputs without --images")->capture_default_str();
    calibrate_cmd->add_option("--method", calibrate.method, "percentile or minmax")->check(CLI::IsMember({"percentile", "minmax"}))->capture_default_str();
    calibrate_cmd->add_option("--percentile", calibrate.percentile, "the percentile method's P")->capture_default_str();
    calibrate_cmd->add_option("--out", calibrate.out, "the JSON file to write")->required();

    CLI11_PARSE(app, argc, argv);
    try {
        if (info->parsed()) return lanes::cli::info(peak);
        if (run_cmd->parsed()) return lanes::cli::run(run);
        if (bench_cmd->parsed()) return lanes::cli::bench(bench);
        if (calibrate_cmd->parsed()) return lanes::cli::calibrate(calibrate);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lanes: %s\n", e.what());
        return 2;
    }
    return 0;
}
