// lanes: the one error mechanism of the library.
//
// Every argument problem, unusable ISA request or bad configuration throws lanes::error, a
// std::runtime_error whose message names the operation, the argument and the offending value:
//
//     gemm_f32: lda = 3 is smaller than k = 5 (A is m x k, not transposed)
//
// Checks run once per call at the public entry points, never inside a kernel's inner loops.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>

namespace lanes {

class error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Throws lanes::error with all arguments streamed into one message.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
    std::ostringstream message;
    (message << ... << parts);
    throw error(message.str());
}

// Argument checks shared by every operation. `op` prefixes each message.
struct arg_check {
    const char* op;

    void positive(const char* name, std::int64_t value) const {
        if (value <= 0) fail(op, ": ", name, " = ", value, " must be positive");
    }
    void not_null(const char* name, const void* pointer) const {
        if (pointer == nullptr) fail(op, ": ", name, " is a null pointer");
    }
    // A row-major rows x cols view with leading dimension ld: ld must cover a row, and the
    // index of the last element, (rows - 1) * ld + cols - 1, must fit in std::ptrdiff_t.
    void matrix(const char* name, const char* ld_name, std::int64_t rows, std::int64_t cols,
                std::int64_t ld, const char* shape) const {
        if (ld < cols) fail(op, ": ", ld_name, " = ", ld, " is smaller than the ", cols, " columns of ", name, " (", shape, ")");
        std::int64_t last = 0;
        if (__builtin_mul_overflow(rows - 1, ld, &last) || __builtin_add_overflow(last, cols, &last) ||
            last > std::numeric_limits<std::ptrdiff_t>::max()) {
            fail(op, ": ", name, " (", rows, " x ", cols, ", ", ld_name, " = ", ld, ") spans more elements than a pointer can index");
        }
    }
    // Product of sizes, with an error instead of a silent overflow.
    std::int64_t product(const char* what, std::initializer_list<std::int64_t> sizes) const {
        std::int64_t total = 1;
        for (std::int64_t s : sizes) {
            if (__builtin_mul_overflow(total, s, &total)) fail(op, ": the element count of ", what, " overflows 64 bits");
        }
        return total;
    }
};

}  // namespace lanes
