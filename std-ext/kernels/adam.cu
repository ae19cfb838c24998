// Adam (with decoupled weight decay and optional global-norm clipping) and the EMA of the
// parameters (core/src/optim.rs), element-wise on the resident parameter, moment and average
// buffers. The step's coefficients (learning rate, bias corrections, clip factor) are computed
// once per step on the host, exactly as the core computes them.

// g ← g·scale (the batch mean), and the f64 sum of the squares of each run of 256 elements
// in index order into `norm_partials` (one per thread; `norm_total` adds them in order).
FS_KERNEL void grad_scale_norm(float* grad, int p, float scale, double* norm_partials) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    int base = r * 256;
    if (base >= p) {
        return;
    }
    int end = base + 256 < p ? base + 256 : p;
    double sum = 0.0;
    for (int k = base; k < end; k++) {
        float g = grad[k] * scale;
        grad[k] = g;
        double gd = (double)g;
        sum = sum + gd * gd;
    }
    norm_partials[r] = sum;
}

// The partial sums in order (one thread): Σ g² over the whole gradient in norm_partials[0].
FS_KERNEL void norm_total(double* norm_partials, int runs) {
    if (blockIdx.x * blockDim.x + threadIdx.x != 0) {
        return;
    }
    double sum = 0.0;
    for (int b = 0; b < runs; b++) {
        sum = sum + norm_partials[b];
    }
    norm_partials[0] = sum;
}

// One Adam step (optim::Coefficients::update) per element. `clip` != 0: g ← (g·clip_scale in
// f64) rounded to f32.
FS_KERNEL void adam_step(float* params, const float* grad, float* m, float* v, int p, float lr,
                         float beta1, float one_minus_beta1, float beta2, float one_minus_beta2,
                         float bias1, float bias2, float eps, float decay, int clip,
                         double clip_scale) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= p) {
        return;
    }
    float g = grad[k];
    if (clip) {
        g = (float)((double)g * clip_scale);
    }
    float mk = beta1 * m[k] + one_minus_beta1 * g;
    float vk = beta2 * v[k] + one_minus_beta2 * (g * g);
    float m_hat = mk / bias1;
    float v_hat = vk / bias2;
    float step = lr * (m_hat / (fs_sqrt(v_hat) + eps));
    float pk = params[k];
    params[k] = pk - (decay * pk + step);
    m[k] = mk;
    v[k] = vk;
}

// θ̄ ← θ̄ − (1 − d)(θ̄ − θ) (optim::Ema::update), `one_minus` = 1 − d rounded to f32.
FS_KERNEL void ema_update(float* average, const float* params, int p, float one_minus) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= p) {
        return;
    }
    float a = average[k];
    average[k] = a - one_minus * (a - params[k]);
}
