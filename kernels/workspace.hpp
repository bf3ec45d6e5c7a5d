// lanes: per-thread scratch memory for packing buffers.
//
// A GEMM packs blocks of A and B into buffers whose size depends only on the block sizes, not on the
// problem. Each thread keeps its own buffers, 64-byte aligned, grown on first use and then reused, so
// a kernel call allocates only the first time a thread sees a larger block (warm-up), never on the
// steady-state hot path. Buffers are freed when the thread exits.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>

namespace lanes {

// `bytes` rounded up to whole cache lines, 64-byte aligned; release with std::free.
inline void* allocate_cache_aligned(std::size_t bytes) {
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == nullptr) throw std::bad_alloc();
    return p;
}

// The buffers a thread holds; each user takes a fixed slot so two live buffers never alias.
enum class scratch_slot : int { packed_a = 0, packed_b = 1, b_panel = 2, column_sums = 3, count = 4 };

class thread_scratch {
public:
    thread_scratch() = default;
    thread_scratch(const thread_scratch&) = delete;
    thread_scratch& operator=(const thread_scratch&) = delete;
    ~thread_scratch() {
        for (buffer& b : buffers_) std::free(b.data);
    }

    // At least `bytes` bytes, 64-byte aligned, valid until the next call with the same slot.
    void* get(scratch_slot slot, std::size_t bytes) {
        buffer& b = buffers_[static_cast<int>(slot)];
        if (b.bytes < bytes) {
            std::free(b.data);
            b.data = nullptr;
            b.bytes = 0;
            b.data = allocate_cache_aligned(bytes);
            b.bytes = bytes;
        }
        return b.data;
    }

private:
    struct buffer {
        void* data = nullptr;
        std::size_t bytes = 0;
    };
    buffer buffers_[static_cast<int>(scratch_slot::count)];
};

inline thread_scratch& this_thread_scratch() {
    thread_local thread_scratch scratch;
    return scratch;
}

template <class T>
T* scratch(scratch_slot slot, std::size_t count) {
    return static_cast<T*>(this_thread_scratch().get(slot, count * sizeof(T)));
}

}  // namespace lanes
