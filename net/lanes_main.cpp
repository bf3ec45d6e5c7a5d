// lanes: the command-line tool. Subcommands:
//   lanes info [--peak]    the CPU, usable ISA levels, the cap, the kernel each operation runs
#include <CLI/CLI.hpp>

#include <cstdio>
#include <exception>

#include "info.hpp"

int main(int argc, char** argv) {
    CLI::App app{"lanes: SIMD kernels for CNN inference on x86-64"};
    app.require_subcommand(1);

    bool peak = false;
    CLI::App* info = app.add_subcommand("info", "CPU, ISA levels, the LANES_ISA cap and the kernel each operation runs");
    info->add_flag("--peak", peak, "also measure this core's peak throughput per instruction family and its read bandwidth");

    CLI11_PARSE(app, argc, argv);
    try {
        if (info->parsed()) return lanes::cli::info(peak);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lanes: %s\n", e.what());
        return 2;
    }
    return 0;
}
