// lanes: ISA levels, which of them this machine can run, and the LANES_ISA cap.
//
// The levels are totally ordered, as oneDNN orders its ISAs:
//
//     ref < avx2 < avxvnni < avx512 < avx512vnni < amx
//
// A kernel tagged with level L may run when L is usable here and L <= the cap. Each level is usable
// on its own terms (a CPU may have avx512vnni without avxvnni), so a cap of avx512 on a CPU with
// AVX-VNNI also admits the 256-bit VNNI kernels.
//
// The cap comes from LANES_ISA (read once, on first dispatch) or from set_isa_cap(). An unknown name
// or a level this machine cannot run is an error, never a silent fallback.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "cpu.hpp"
#include "error.hpp"

namespace lanes {

enum class isa : int { ref = 0, avx2, avxvnni, avx512, avx512vnni, amx };

inline constexpr std::array<isa, 6> all_isas = {isa::ref, isa::avx2, isa::avxvnni,
                                                isa::avx512, isa::avx512vnni, isa::amx};

inline constexpr const char* isa_name(isa level) {
    switch (level) {
        case isa::ref: return "ref";
        case isa::avx2: return "avx2";
        case isa::avxvnni: return "avxvnni";
        case isa::avx512: return "avx512";
        case isa::avx512vnni: return "avx512vnni";
        case isa::amx: return "amx";
    }
    return "?";
}

inline std::string isa_choices() {
    std::string names;
    for (isa level : all_isas) names += (names.empty() ? "" : ", ") + std::string(isa_name(level));
    return names;
}

inline std::optional<isa> isa_from_name(std::string_view name) {
    for (isa level : all_isas)
        if (name == isa_name(level)) return level;
    return std::nullopt;
}

// Empty when `level` can run here; otherwise every missing piece, e.g. "no AVX512-VNNI".
inline std::string why_unusable(isa level, const cpu_info& c = cpu()) {
    std::string missing;
    auto need = [&](bool ok, const char* what) {
        if (!ok) missing += (missing.empty() ? "" : ", ") + std::string(what);
    };
    const bool avx2_ok = c.has.avx2 && c.has.fma && c.os.ymm;
    const bool avx512_ok = c.has.avx512f && c.has.avx512bw && c.has.avx512dq && c.has.avx512vl && c.os.zmm;
    switch (level) {
        case isa::ref: break;
        case isa::avx2:
            need(c.has.avx2, "no AVX2");
            need(c.has.fma, "no FMA");
            need(c.os.ymm, "OS does not enable YMM state (XCR0)");
            break;
        case isa::avxvnni:
            need(avx2_ok, "avx2 level unusable");
            need(c.has.avxvnni, "no AVX-VNNI");
            break;
        case isa::avx512:
            need(c.has.avx512f, "no AVX512F");
            need(c.has.avx512bw, "no AVX512BW");
            need(c.has.avx512dq, "no AVX512DQ");
            need(c.has.avx512vl, "no AVX512VL");
            need(c.os.zmm, "OS does not enable ZMM state (XCR0)");
            break;
        case isa::avx512vnni:
            need(avx512_ok, "avx512 level unusable");
            need(c.has.avx512vnni, "no AVX512-VNNI");
            break;
        case isa::amx:
            need(avx512_ok && c.has.avx512vnni, "avx512vnni level unusable");
            need(c.has.amx_tile, "no AMX-TILE");
            need(c.has.amx_int8, "no AMX-INT8");
            need(c.os.tiles, "OS does not enable tile state (XCR0)");
            if (c.has.amx_tile && c.os.tiles)
                need(c.os.amx_permission, c.os.amx_permission_error.c_str());
            break;
    }
    return missing;
}

// Bit i set when all_isas[i] is usable here; computed once.
inline unsigned usable_levels() {
    static const unsigned mask = [] {
        unsigned bits = 0;
        for (isa level : all_isas)
            if (why_unusable(level).empty()) bits |= 1u << static_cast<int>(level);
        return bits;
    }();
    return mask;
}

inline bool usable(isa level) { return (usable_levels() >> static_cast<int>(level)) & 1u; }

inline isa best_usable() {
    isa best = isa::ref;
    for (isa level : all_isas)
        if (usable(level)) best = level;
    return best;
}

// Throws unless `level` can run here. `who` names the caller in the message.
inline void require_usable(isa level, const char* who) {
    const std::string why = why_unusable(level);
    if (!why.empty()) fail(who, ": ISA level '", isa_name(level), "' is not usable on this machine (", why, ")");
}

namespace detail {

struct cap_state {
    std::atomic<int> level{-1};               // -1: not decided yet
    std::atomic<std::uint64_t> generation{1};  // bumped whenever the cap changes
};

inline cap_state& cap_storage() {
    static cap_state state;
    return state;
}

inline isa cap_from_environment() {
    const char* value = std::getenv("LANES_ISA");
    if (value == nullptr || *value == '\0') return best_usable();
    const std::optional<isa> level = isa_from_name(value);
    if (!level) fail("LANES_ISA: unknown ISA level '", value, "'; valid levels are ", isa_choices());
    require_usable(*level, "LANES_ISA");
    return *level;
}

}  // namespace detail

// The highest level dispatch may use. The first call reads LANES_ISA and throws lanes::error if it is
// invalid (and keeps throwing on later calls until it is fixed or set_isa_cap() is called).
inline isa isa_cap() {
    detail::cap_state& state = detail::cap_storage();
    int level = state.level.load(std::memory_order_acquire);
    if (level < 0) {
        int expected = -1;
        state.level.compare_exchange_strong(expected, static_cast<int>(detail::cap_from_environment()),
                                            std::memory_order_acq_rel);
        level = state.level.load(std::memory_order_acquire);
    }
    return static_cast<isa>(level);
}

// Changes the cap for the whole process (tests, benchmarks, `lanes bench --isa`).
inline void set_isa_cap(isa level) {
    require_usable(level, "set_isa_cap");
    detail::cap_state& state = detail::cap_storage();
    state.level.store(static_cast<int>(level), std::memory_order_release);
    state.generation.fetch_add(1, std::memory_order_acq_rel);
}

inline std::uint64_t isa_cap_generation() {
    return detail::cap_storage().generation.load(std::memory_order_acquire);
}

}  // namespace lanes
