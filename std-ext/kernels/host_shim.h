// The CUDA built-ins the kernels use, for compiling them as host C++: a launch runs every
// thread of every block in turn on the calling thread. The kernels synchronise with no other
// thread (one thread per sample, per parameter or per chunk), so running them one by one
// computes exactly what the device computes.
#pragma once
#include <cmath>
#include <cstring>

#define FS_HOST 1

struct fs_dim3 {
    unsigned x, y, z;
};
static fs_dim3 blockIdx, threadIdx, blockDim, gridDim;

static inline unsigned fs_to_bits(float x) {
    unsigned b;
    std::memcpy(&b, &x, sizeof b);
    return b;
}
static inline float fs_from_bits(unsigned b) {
    float x;
    std::memcpy(&x, &b, sizeof x);
    return x;
}
static inline float fs_sqrt(float x) { return std::sqrt(x); }

// Launch `kernel` on `grid` blocks of `block` threads (one dimension).
#define FS_LAUNCH(kernel, grid, block, ...)                                  \
    do {                                                                     \
        gridDim = fs_dim3{(unsigned)(grid), 1, 1};                           \
        blockDim = fs_dim3{(unsigned)(block), 1, 1};                         \
        for (unsigned fs_b = 0; fs_b < gridDim.x; fs_b++) {                  \
            for (unsigned fs_t = 0; fs_t < blockDim.x; fs_t++) {             \
                blockIdx = fs_dim3{fs_b, 0, 0};                              \
                threadIdx = fs_dim3{fs_t, 0, 0};                             \
                kernel(__VA_ARGS__);                                         \
            }                                                                \
        }                                                                    \
    } while (0)
