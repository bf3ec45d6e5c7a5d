// lanes: one table per operation, read by dispatch, the tests and the benchmarks.
//
// A table lists the kernels of one operation best first, each tagged with the ISA level it needs:
//
//     inline constexpr kernel_entry<gemm_f32_args> gemm_f32_kernels[] = {
//         {isa::avx512, "avx512::gemm_f32", &avx512::gemm_f32},
//         {isa::avx2,   "avx2::gemm_f32",   &avx2::gemm_f32},
//         {isa::ref,    "ref::gemm_f32",    &ref::gemm_f32},
//     };
//
// Dispatch runs the first entry whose level is usable here, is at or below the cap, and accepts the
// problem (an entry may decline shapes it does not handle). The last entry is always the reference,
// which accepts everything, so a call always finds a kernel. The first allowed entry is looked up
// once per cap setting and cached; arguments are validated before any kernel runs.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>

#include "error.hpp"
#include "isa.hpp"

namespace lanes {

template <class Args>
struct kernel_entry {
    isa level;
    const char* name;                         // "namespace::function", as `lanes info` prints it
    void (*run)(const Args&);                 // assumes validated arguments
    bool (*accepts)(const Args&) = nullptr;  // null: accepts every valid problem
};

template <class Args>
class dispatcher {
public:
    template <std::size_t N>
    constexpr dispatcher(const char* op, const kernel_entry<Args> (&table)[N]) : op_(op), table_(table, N) {}

    const char* op() const { return op_; }
    std::span<const kernel_entry<Args>> table() const { return table_; }

    // The dispatched call: validate, pick under the current cap, run.
    void operator()(const Args& args) const {
        validate(args);
        const std::size_t first = first_allowed_cached();
        pick(args, isa_cap(), first).run(args);
    }

    // Runs as if the cap were `level` (tests and benchmarks); `level` must be usable here.
    void run_at(isa level, const Args& args) const {
        require_usable(level, op_);
        validate(args);
        pick(args, level, first_allowed(level)).run(args);
    }

    // The kernel that a call with `args` would run if the cap were `level`.
    const kernel_entry<Args>& kernel_at(isa level, const Args& args) const {
        return pick(args, level, first_allowed(level));
    }

    // The best kernel allowed under `level`, before any shape-specific refusal.
    const kernel_entry<Args>& preferred_at(isa level) const { return table_[first_allowed(level)]; }

private:
    static bool allowed(isa level, isa cap) { return level <= cap && usable(level); }

    std::size_t first_allowed(isa cap) const {
        for (std::size_t i = 0; i < table_.size(); ++i)
            if (allowed(table_[i].level, cap)) return i;
        fail(op_, ": no kernel is allowed under ISA level ", isa_name(cap), " (the table lacks its reference entry)");
    }

    // Cached per cap generation: the high bits hold the generation, the low 8 bits the index.
    std::size_t first_allowed_cached() const {
        const std::uint64_t generation = isa_cap_generation();
        const std::uint64_t packed = cache_.load(std::memory_order_acquire);
        if ((packed >> 8) == generation) return static_cast<std::size_t>(packed & 0xff);
        const std::size_t index = first_allowed(isa_cap());
        cache_.store((generation << 8) | index, std::memory_order_release);
        return index;
    }

    const kernel_entry<Args>& pick(const Args& args, isa cap, std::size_t first) const {
        for (std::size_t i = first; i < table_.size(); ++i) {
            const kernel_entry<Args>& entry = table_[i];
            if (allowed(entry.level, cap) && (entry.accepts == nullptr || entry.accepts(args))) return entry;
        }
        fail(op_, ": no kernel accepts this problem (the table lacks its reference entry)");
    }

    const char* op_;
    std::span<const kernel_entry<Args>> table_;
    mutable std::atomic<std::uint64_t> cache_{0};
};

}  // namespace lanes
