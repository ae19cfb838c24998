// The kernels compiled as host C++ (feature `host-kernels`), with the same launch sequence as
// the CUDA backend, for the tests that compare them with the CPU backend.
#include "host_shim.h"
#include "common.cuh"
#include "dsm.cu"
#include "reduce.cu"
#include "adam.cu"

#include <vector>

static int fs_blocks(long long n, int block) { return (int)((n + block - 1) / block); }

// The DSM gradient of a ScoreNet over a batch of n points (row-major n × d), the launch
// sequence of `CudaBackend`: per-sample kernel, chunk reduction, chunk tree; the loss sum.
extern "C" void fs_host_dsm_gradient(const float* params, const float* freqs, const float* data,
                                     int n, int d, int f, int h, int hidden_layers, int act,
                                     int sde_kind, float sde_c0, float sde_c1, float sde_c2,
                                     float eps, float t_max, int weighting, int feature,
                                     float time_scale, int inverse_sigma, fs_u64 seed,
                                     fs_u64 first_index, const int* calls, int ncalls, int p,
                                     int chunk, float* grad_out, double* loss_out) {
    const int rows = d + 2 * f + 2 * hidden_layers * h + d;
    const int stride = n;
    std::vector<float> rec((size_t)rows * stride);
    std::vector<float> loss(n);
    FS_LAUNCH(dsm_sample, fs_blocks(n, 128), 128, params, freqs, data, n, stride, d, f, h,
              hidden_layers, act, sde_kind, sde_c0, sde_c1, sde_c2, eps, t_max, weighting,
              feature, time_scale, inverse_sigma, seed, first_index, rec.data(), loss.data());
    const int nchunks = (n + chunk - 1) / chunk;
    std::vector<float> part((size_t)nchunks * p);
    FS_LAUNCH(reduce_chunks, fs_blocks((long long)nchunks * p, 256), 256, rec.data(), stride, n,
              calls, ncalls, p, chunk, part.data());
    FS_LAUNCH(chunk_tree, fs_blocks(p, 256), 256, part.data(), nchunks, p);
    std::vector<double> cl(nchunks);
    FS_LAUNCH(chunk_losses, fs_blocks(nchunks, 128), 128, loss.data(), n, chunk, cl.data());
    FS_LAUNCH(loss_tree, 1, 1, cl.data(), nchunks);
    for (int k = 0; k < p; k++) {
        grad_out[k] = part[k];
    }
    *loss_out = cl[0];
}

// One optimiser step on host buffers, the launch sequence of `CudaTrainer::step` after the
// gradient: scale and norm, then Adam (clip decided by the caller from the norm) and EMA.
extern "C" double fs_host_grad_scale_norm(float* grad, int p, float scale) {
    const int runs = (p + 255) / 256;
    std::vector<double> partials(runs);
    FS_LAUNCH(grad_scale_norm, fs_blocks(runs, 128), 128, grad, p, scale, partials.data());
    FS_LAUNCH(norm_total, 1, 1, partials.data(), runs);
    return partials[0];
}

extern "C" void fs_host_adam_ema(float* params, const float* grad, float* m, float* v,
                                 float* average, int p, float lr, float beta1,
                                 float one_minus_beta1, float beta2, float one_minus_beta2,
                                 float bias1, float bias2, float eps, float decay, int clip,
                                 double clip_scale, int ema, float ema_one_minus) {
    FS_LAUNCH(adam_step, fs_blocks(p, 256), 256, params, grad, m, v, p, lr, beta1,
              one_minus_beta1, beta2, one_minus_beta2, bias1, bias2, eps, decay, clip,
              clip_scale);
    if (ema) {
        FS_LAUNCH(ema_update, fs_blocks(p, 256), 256, average, params, p, ema_one_minus);
    }
}
