// The deterministic reduction of the per-sample gradient record into the parameter gradient,
// in the order of the core's `chunk_gradient` (core/src/loss/mod.rs) and the CPU backend's
// chunk tree (std-ext/src/backend/mod.rs):
//
// - the batch is cut into chunks of `chunk` samples; sample i of a chunk belongs to slot i mod 8;
// - a chunk is cut into blocks of 64 samples up to its last multiple of 8, then the remainder;
// - within a block, for each gradient call in call order, each slot sums its samples'
//   contributions in index order from −0 and adds the sum to its total (from +0); in the
//   remainder each sample's contributions are added to its slot one by one;
// - the slots are combined ((s0+s1)+(s2+s3))+((s4+s5)+(s6+s7)), and the chunk sums pairwise in
//   chunk order (width 1, 2, 4, …).
//
// A gradient call is five ints: the parameter offset, a, b, the record row of its first
// cotangent (ȳ) and of its first input (x). b > 0: a dense call, W̄ (a × b, row-major) += ȳ xᵀ,
// then b̄ (a) += ȳ. b == 0: an add, v̄ (a) += ȳ.
//
// One thread per (chunk, parameter): no atomics, no shared state, so no order but this one.

// The record rows of parameter k's contribution in `call`, or false when the call does not
// touch k: y row and x row (x_row < 0 for a bias or an add).
FS_FN bool fs_call_rows(const int* call, int k, int* y_row, int* x_row) {
    int off = call[0], a = call[1], b = call[2];
    int j = k - off;
    if (j < 0) {
        return false;
    }
    if (b > 0) {
        if (j < a * b) {
            *y_row = call[3] + j / b;
            *x_row = call[4] + j % b;
            return true;
        }
        if (j < a * b + a) {
            *y_row = call[3] + (j - a * b);
            *x_row = -1;
            return true;
        }
        return false;
    }
    if (j < a) {
        *y_row = call[3] + j;
        *x_row = -1;
        return true;
    }
    return false;
}

FS_FN float fs_contrib(const float* rec, int stride, int y_row, int x_row, int s) {
    float y = rec[y_row * stride + s];
    return x_row < 0 ? y : y * rec[x_row * stride + s];
}

FS_KERNEL void reduce_chunks(const float* rec, int stride, int n, const int* calls, int ncalls,
                             int p, int chunk, float* part) {
    long long g = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    int nchunks = (n + chunk - 1) / chunk;
    if (g >= (long long)p * nchunks) {
        return;
    }
    int k = (int)(g % p);
    int c = (int)(g / p);
    int base = c * chunk;
    int len = n - base < chunk ? n - base : chunk;
    int n8 = len - len % 8;
    float slot[8];
    for (int j = 0; j < 8; j++) {
        slot[j] = 0.0f;
    }
    for (int start = 0; start < n8; start += 64) {
        int end = start + 64 < n8 ? start + 64 : n8;
        for (int ci = 0; ci < ncalls; ci++) {
            int y_row, x_row;
            if (!fs_call_rows(calls + 5 * ci, k, &y_row, &x_row)) {
                continue;
            }
            float acc[8];
            for (int j = 0; j < 8; j++) {
                acc[j] = -0.0f;
            }
            for (int i = start; i < end; i++) {
                acc[i & 7] = acc[i & 7] + fs_contrib(rec, stride, y_row, x_row, base + i);
            }
            for (int j = 0; j < 8; j++) {
                slot[j] = slot[j] + acc[j];
            }
        }
    }
    for (int i = n8; i < len; i++) {
        for (int ci = 0; ci < ncalls; ci++) {
            int y_row, x_row;
            if (!fs_call_rows(calls + 5 * ci, k, &y_row, &x_row)) {
                continue;
            }
            slot[i & 7] = slot[i & 7] + fs_contrib(rec, stride, y_row, x_row, base + i);
        }
    }
    part[(long long)c * p + k] =
        ((slot[0] + slot[1]) + (slot[2] + slot[3])) + ((slot[4] + slot[5]) + (slot[6] + slot[7]));
}

// The chunk sums combined pairwise in chunk order into part[0 .. p) (backend::pairwise_sum).
FS_KERNEL void chunk_tree(float* part, int nchunks, int p) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= p) {
        return;
    }
    for (int width = 1; width < nchunks; width *= 2) {
        for (int i = 0; i + width < nchunks; i += 2 * width) {
            part[(long long)i * p + k] = part[(long long)i * p + k] +
                                         part[(long long)(i + width) * p + k];
        }
    }
}

// Per chunk, the f64 sum of its samples' losses in index order.
FS_KERNEL void chunk_losses(const float* loss, int n, int chunk, double* out) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    int nchunks = (n + chunk - 1) / chunk;
    if (c >= nchunks) {
        return;
    }
    int base = c * chunk;
    int end = base + chunk < n ? base + chunk : n;
    double sum = 0.0;
    for (int i = base; i < end; i++) {
        sum = sum + (double)loss[i];
    }
    out[c] = sum;
}

// The chunk losses combined pairwise in chunk order into out[0] (backend::pairwise_sum_f64).
FS_KERNEL void loss_tree(double* out, int nchunks) {
    if (blockIdx.x * blockDim.x + threadIdx.x != 0) {
        return;
    }
    for (int width = 1; width < nchunks; width *= 2) {
        for (int i = 0; i + width < nchunks; i += 2 * width) {
            out[i] = out[i] + out[i + width];
        }
    }
}
