// The `lanes` executable: LANES_ISA caps what `lanes info` reports, and a bad value is a clear error.
#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
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
