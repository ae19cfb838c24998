// Denoising score matching of a ScoreNet (core/src/loss/dsm.rs, core/src/score/net.rs,
// core/src/nn/mlp.rs): one thread per sample runs the forward, the loss and the backward to the
// cotangents of every dense layer, and writes them to the gradient record; `reduce.cu` sums the
// record into the parameter gradient in the CPU's order.
//
// The record is feature-major: row r of sample s at rec[r·stride + s], so that the threads of a
// warp touch consecutive words. Rows for L = EXTRA + 1 hidden layers of width H and input width
// IN = D + 2F:
//   [0, IN)                   the MLP input [x_t, emb(τ)]
//   IN + l·H                  a_l, the activation of hidden layer l
//   IN + (L + l)·H            φ'(z_l) after the forward, z̄_l after the backward
//   IN + 2L·H                 ȳ (D rows), the output cotangent
// Parameters (Params layout): input layer W (H × IN) then b, the hidden layers likewise, the
// output layer W (D × H) then b.

#define FS_SDE_VE 0
#define FS_SDE_VP 1
#define FS_SDE_SUBVP 2

struct FsSde {
    int kind;
    float c0;  // VE: σ_min; VP, sub-VP: β_min
    float c1;  // VE: ln(σ_max/σ_min) rounded to f32; VP, sub-VP: β_max − β_min rounded to f32
    float c2;  // VE: √(2 ln(σ_max/σ_min)) rounded to f32; unused otherwise
};

FS_FN float fs_log_alpha(FsSde sde, float t) {
    return -((((0.25f * t) * t) * sde.c1) + (0.5f * t) * sde.c0);
}
FS_FN void fs_marginal(FsSde sde, float t, float* alpha, float* sigma) {
    if (sde.kind == FS_SDE_VE) {
        float smin = sde.c0;
        float v = (smin * smin) * fs_expm1((2.0f * t) * sde.c1);
        *alpha = 1.0f;
        *sigma = fs_sqrt(fs_max(v, 0.0f));
    } else {
        float la = fs_log_alpha(sde, t);
        float var = -fs_expm1(2.0f * la);
        *alpha = fs_exp(la);
        *sigma = sde.kind == FS_SDE_VP ? fs_sqrt(fs_max(var, 0.0f)) : var;
    }
}
FS_FN float fs_diffusion(FsSde sde, float t) {
    if (sde.kind == FS_SDE_VE) {
        return (sde.c0 * fs_exp(t * sde.c1)) * sde.c2;
    }
    float beta = sde.c0 + t * sde.c1;
    if (sde.kind == FS_SDE_VP) {
        return fs_sqrt(beta);
    }
    float discount = -fs_expm1(4.0f * fs_log_alpha(sde, t));
    return fs_sqrt(fs_max(beta * discount, 0.0f));
}

// One dense layer on the record: out rows (act, derivative) from in rows, 4 outputs per pass
// over the inputs; each output summed bias first, then inputs in index order.
FS_FN void fs_dense_forward(const float* w, int nin, int nout, float* rec, int stride, int s,
                            int in_row, int act_row, int der_row, int act) {
    const float* bias = w + nout * nin;
    int o = 0;
    for (; o + 4 <= nout; o += 4) {
        float a0 = bias[o], a1 = bias[o + 1], a2 = bias[o + 2], a3 = bias[o + 3];
        const float* w0 = w + o * nin;
        for (int i = 0; i < nin; i++) {
            float xi = rec[(in_row + i) * stride + s];
            a0 = a0 + w0[i] * xi;
            a1 = a1 + w0[nin + i] * xi;
            a2 = a2 + w0[2 * nin + i] * xi;
            a3 = a3 + w0[3 * nin + i] * xi;
        }
        float acc[4] = {a0, a1, a2, a3};
        for (int q = 0; q < 4; q++) {
            float y, dy;
            fs_activation(act, acc[q], &y, &dy);
            rec[(act_row + o + q) * stride + s] = y;
            rec[(der_row + o + q) * stride + s] = dy;
        }
    }
    for (; o < nout; o++) {
        float a = bias[o];
        for (int i = 0; i < nin; i++) {
            a = a + w[o * nin + i] * rec[(in_row + i) * stride + s];
        }
        float y, dy;
        fs_activation(act, a, &y, &dy);
        rec[(act_row + o) * stride + s] = y;
        rec[(der_row + o) * stride + s] = dy;
    }
}

// z̄ = (Wᵀ ȳ) ⊙ φ'(z), in place over the derivative rows; each input's sum over the rows in
// index order from +0.
FS_FN void fs_dense_back_input(const float* w, int nin, int nout, float* rec, int stride, int s,
                               int ybar_row, int der_row) {
    for (int i = 0; i < nin; i++) {
        float acc = 0.0f;
        for (int o = 0; o < nout; o++) {
            acc = acc + w[o * nin + i] * rec[(ybar_row + o) * stride + s];
        }
        int r = (der_row + i) * stride + s;
        rec[r] = acc * rec[r];
    }
}

// Per sample s < n: t ~ U(eps, T), z ~ N(0, I) from stream (seed, first_index + s),
// x_t = α x + σ z, the ScoreNet forward and the DSM loss and its backward to the record.
// `weighting`: 0 σ², 1 likelihood (g²). `feature`: 0 τ = time_scale·t, 1 τ = ln σ.
// `inverse_sigma`: the output divided by σ.
FS_KERNEL void dsm_sample(const float* params, const float* freqs, const float* data, int n,
                          int stride, int d, int f, int h, int hidden_layers, int act,
                          int sde_kind, float sde_c0, float sde_c1, float sde_c2, float eps,
                          float t_max, int weighting, int feature, float time_scale,
                          int inverse_sigma, fs_u64 seed, fs_u64 first_index, float* rec,
                          float* loss) {
    int s = blockIdx.x * blockDim.x + threadIdx.x;
    if (s >= n) {
        return;
    }
    FsSde sde;
    sde.kind = sde_kind;
    sde.c0 = sde_c0;
    sde.c1 = sde_c1;
    sde.c2 = sde_c2;
    const int in_w = d + 2 * f;
    const int nl = hidden_layers;
    const int a_row = in_w;
    const int dz_row = in_w + nl * h;
    const int ybar_row = in_w + 2 * nl * h;
    const int len_in = h * (in_w + 1);
    const int len_h = h * (h + 1);
    const float* w_out = params + len_in + (nl - 1) * len_h;

    FsStream st = fs_stream(seed, first_index + (fs_u64)s);
    float t = eps + (t_max - eps) * fs_uniform(&st);
    float z[8];
    for (int i = 0; i < d; i++) {
        z[i] = fs_normal(&st);
    }
    float alpha, sigma;
    fs_marginal(sde, t, &alpha, &sigma);
    for (int i = 0; i < d; i++) {
        rec[i * stride + s] = alpha * data[s * d + i] + sigma * z[i];
    }
    // The ScoreNet's own σ (SdeTime conditioning: the marginal's σ again) and τ.
    float tau = feature == 0 ? time_scale * t : fs_ln(sigma);
    float two_pi_tau = FS_TAU * tau;
    for (int k = 0; k < f; k++) {
        float sv, cv;
        fs_sin_cos(freqs[k] * two_pi_tau, &sv, &cv);
        rec[(d + k) * stride + s] = sv;
        rec[(d + f + k) * stride + s] = cv;
    }
    fs_dense_forward(params, in_w, h, rec, stride, s, 0, a_row, dz_row, act);
    for (int l = 1; l < nl; l++) {
        fs_dense_forward(params + len_in + (l - 1) * len_h, h, h, rec, stride, s,
                         a_row + (l - 1) * h, a_row + l * h, dz_row + l * h, act);
    }
    const int last = a_row + (nl - 1) * h;
    float g2 = 0.0f;
    if (weighting == 1) {
        float g = fs_diffusion(sde, t);
        g2 = g * g;
    }
    float total = 0.0f;
    for (int o = 0; o < d; o++) {
        float y = w_out[d * h + o];
        for (int i = 0; i < h; i++) {
            y = y + w_out[o * h + i] * rec[(last + i) * stride + s];
        }
        float sc = inverse_sigma ? y / sigma : y;
        float sbar;
        if (weighting == 0) {
            float r = sc * sigma + z[o];
            total = total + r * r;
            sbar = (2.0f * r) * sigma;
        } else {
            float r = sc + z[o] / sigma;
            total = total + r * r;
            sbar = (2.0f * g2) * r;
        }
        rec[(ybar_row + o) * stride + s] = inverse_sigma ? sbar / sigma : sbar;
    }
    if (weighting == 1) {
        total = total * g2;
    }
    loss[s] = total;
    // Backward: output layer, then the hidden layers in reverse.
    fs_dense_back_input(w_out, h, d, rec, stride, s, ybar_row, dz_row + (nl - 1) * h);
    for (int l = nl - 1; l >= 1; l--) {
        fs_dense_back_input(params + len_in + (l - 1) * len_h, h, h, rec, stride, s,
                            dz_row + l * h, dz_row + (l - 1) * h);
    }
}
