// flowscore CUDA kernels: shared definitions.
//
// The f32 math of the core (`core/src/math`: exp, expm1, ln, sin_cos, tanh, sigmoid) and its
// random streams (`core/src/rng.rs`: SplitMix64-seeded Xoshiro128++ per sample, Box–Muller),
// operation for operation. Compiled with --fmad=false (and as host C++ with
// -ffp-contract=off), every function returns the bits the core returns for `f32` lanes.
//
// The same text is compiled by NVRTC (prepended to each kernel file) and, for the tests, as
// host C++ after `host_shim.h` (which defines FS_HOST and the CUDA built-ins).

typedef unsigned int fs_u32;
typedef unsigned long long fs_u64;

#ifdef FS_HOST
#define FS_FN static inline
#define FS_KERNEL static
#else
#define FS_FN __device__ __forceinline__
#define FS_KERNEL extern "C" __global__
FS_FN fs_u32 fs_to_bits(float x) { return __float_as_uint(x); }
FS_FN float fs_from_bits(fs_u32 b) { return __uint_as_float(b); }
FS_FN float fs_sqrt(float x) { return __fsqrt_rn(x); }
#endif

// ---------------------------------------------------------------------------------------------
// Lane primitives (core/src/lane.rs), for f32.
// ---------------------------------------------------------------------------------------------

FS_FN float fs_select(bool m, float a, float b) { return m ? a : b; }
FS_FN float fs_min(float a, float b) { return a < b ? a : b; }
FS_FN float fs_max(float a, float b) { return a > b ? a : b; }
FS_FN bool fs_isnan(float x) { return x != x; }
FS_FN float fs_abs(float x) { return fs_from_bits(fs_to_bits(x) & 0x7fffffffu); }
FS_FN float fs_copysign(float x, float s) {
    return fs_from_bits((fs_to_bits(x) & 0x7fffffffu) | (fs_to_bits(s) & 0x80000000u));
}
FS_FN float fs_keep_nan(float x, float r) { return fs_isnan(x) ? x : r; }
FS_FN float fs_nan() { return fs_from_bits(0x7fc00000u); }
FS_FN float fs_inf() { return fs_from_bits(0x7f800000u); }

// Round to nearest even for |x| < 2^22 (math::round_small).
FS_FN float fs_round_small(float x) {
    const float magic = 12582912.0f;
    return (x + magic) - magic;
}
// Lane::round and Lane::floor.
FS_FN float fs_round(float x) {
    const float big = 8388608.0f;
    float a = fs_abs(x);
    float r = fs_copysign((a + big) - big, x);
    return a < big ? r : x;
}
FS_FN float fs_floor(float x) {
    float r = fs_round(x);
    return r > x ? r - 1.0f : r;
}
// 2^k for integer-valued k in -126..=127 (Lane::pow2i).
FS_FN float fs_pow2i(float k) {
    const float magic = 8388608.0f;
    float biased = (k + 127.0f) + magic;
    fs_u32 e = fs_to_bits(biased) - fs_to_bits(magic);
    return fs_from_bits(e << 23);
}
// (m, e) with x = m·2^e, m in [1, 2), for positive normal x (Lane::frexp_normal).
FS_FN void fs_frexp_normal(float x, float* m, float* e) {
    const float magic = 8388608.0f;
    fs_u32 bits = fs_to_bits(x);
    *m = fs_from_bits((bits & 0x007fffffu) | 0x3f800000u);
    float biased = fs_from_bits((bits >> 23) | fs_to_bits(magic)) - magic;
    *e = biased - 127.0f;
}
FS_FN float fs_scale2(float y, float n) {
    float n1 = fs_round_small(n * 0.5f);
    float n2 = n - n1;
    return (y * fs_pow2i(n1)) * fs_pow2i(n2);
}

// The f64 constants of the core rounded to f32, as bits.
#define FS_LOG2_E fs_from_bits(0x3fb8aa3bu)
#define FS_FRAC_2_PI fs_from_bits(0x3f22f983u)
#define FS_TAU fs_from_bits(0x40c90fdbu)

// ---------------------------------------------------------------------------------------------
// exp, expm1 (math/exp.rs)
// ---------------------------------------------------------------------------------------------

FS_FN void fs_exp_reduce(float x, float* n, float* hi, float* lo) {
    *n = fs_round_small(x * FS_LOG2_E);
    *hi = x - *n * 0.693359375f;
    *lo = *n * -2.1219444e-4f;
}
FS_FN float fs_exp_tail(float r) {
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return (r * r) * p;
}
FS_FN void fs_exp_parts(float x, float* hi_out, float* lo_out) {
    float xc = fs_min(fs_max(x, -104.0f), 89.0f);
    float n, hi, lo;
    fs_exp_reduce(xc, &n, &hi, &lo);
    float r = hi - lo;
    float s = hi - (lo - fs_exp_tail(r));
    float y = 1.0f + s;
    float y_lo = (1.0f - y) + s;
    float n1 = fs_round_small(n * 0.5f);
    float a = fs_pow2i(n1), b = fs_pow2i(n - n1);
    *hi_out = (y * a) * b;
    *lo_out = (y_lo * a) * b;
}
FS_FN float fs_exp(float x) {
    float hi, lo;
    fs_exp_parts(x, &hi, &lo);
    return fs_keep_nan(x, hi);
}
FS_FN float fs_expm1(float x) {
    const float one = 1.0f, half = 0.5f, two = 2.0f;
    float xc = fs_min(fs_max(x, -30.0f), 89.0f);
    float n, hi, lo;
    fs_exp_reduce(xc, &n, &hi, &lo);
    float r = hi - lo;
    float c = (hi - r) - lo;
    float e0 = fs_exp_tail(r);
    float e = e0 + c * (one + r);
    float u = r + e;
    const float mant = 23.0f;
    float neg = fs_scale2(one + u, n) - one;
    float two_m = fs_pow2i(-(fs_min(n, 2.0f * mant + 4.0f)));
    float mid = (one - two_m) + u;
    float big = (u - two_m) + one;
    float pos = fs_scale2(n <= mant ? mid : big, n);
    float p1 = r < -0.25f ? two * ((r + half) + e) : one + two * u;
    float m1 = half * u - half;
    float res = n >= two ? pos : neg;
    res = n == one ? p1 : res;
    res = n == -one ? m1 : res;
    res = n == 0.0f ? u : res;
    res = fs_abs(x) < 2.9802322e-8f ? x : res;
    return fs_keep_nan(x, res);
}

// ---------------------------------------------------------------------------------------------
// ln (math/log.rs)
// ---------------------------------------------------------------------------------------------

FS_FN float fs_ln(float x) {
    const float shift = 25.0f;
    bool sub = x < 1.17549435e-38f;
    float xs = sub ? x * fs_pow2i(shift) : x;
    float m, e;
    fs_frexp_normal(xs, &m, &e);
    bool high = m >= 1.41421356f;
    m = high ? m * 0.5f : m;
    e = high ? e + 1.0f : e;
    float f = m - 1.0f;
    e = sub ? e - shift : e;
    float s = f / (2.0f + f);
    float z = s * s;
    float w = z * z;
    float t1 = w * (0.40000972152f + w * 0.24279078841f);
    float t2 = z * (0.66666662693f + w * 0.28498786688f);
    float hfsq = (0.5f * f) * f;
    float sr = s * (hfsq + (t2 + t1));
    float res = (((sr + e * 9.0580006145e-6f) - hfsq) + f) + e * 6.9313812256e-1f;
    res = x == fs_inf() ? fs_inf() : res;
    res = x == 0.0f ? -fs_inf() : res;
    res = x < 0.0f ? fs_nan() : res;
    return fs_keep_nan(x, res);
}

// ---------------------------------------------------------------------------------------------
// sin_cos (math/trig.rs)
// ---------------------------------------------------------------------------------------------

FS_FN void fs_two_diff(float a, float b, float* s, float* e) {
    *s = a - b;
    float bb = *s - a;
    *e = (a - (*s - bb)) - (b + bb);
}
FS_FN void fs_sin_cos(float x, float* sin_out, float* cos_out) {
    const float max_arg = 102943.71f;
    float n = fs_round_small(fs_max(fs_min(x, max_arg), -max_arg) * FS_FRAC_2_PI);
    float b = (x - n * 1.5703125f) - n * 4.825592041015625e-4f;
    float s1, e1, s2, e2;
    fs_two_diff(b, n * 1.2665987014770508e-6f, &s1, &e1);
    fs_two_diff(s1, n * 9.89530235528946e-10f, &s2, &e2);
    float c = (e1 + e2) - n * 2.5633440682570896e-12f;
    float r = s2 + c;
    c = c - (r - s2);
    float z = r * r;
    const float one = 1.0f;
    float hz = 0.5f * z;
    float ps = -1.9515295891e-4f;
    ps = ps * z + 8.3321608736e-3f;
    ps = ps * z + -1.6666654611e-1f;
    float pc = 2.443315711809948e-5f;
    pc = pc * z + -1.388731625493765e-3f;
    pc = pc * z + 4.166664568298827e-2f;
    float sin_r = r + ((r * z) * ps + c * (one - hz));
    float w = one - hz;
    float cos_r = w + (((one - w) - hz) + ((z * z) * pc - r * c));
    float q = n - 4.0f * fs_floor(n * 0.25f);
    bool odd = q == one || q == 3.0f;
    bool sin_neg = q >= 2.0f;
    bool cos_neg = q == one || q == 2.0f;
    float s = odd ? cos_r : sin_r;
    float co = odd ? sin_r : cos_r;
    s = sin_neg ? -s : s;
    co = cos_neg ? -co : co;
    s = x == 0.0f ? x : s;
    bool out = fs_abs(x) > max_arg;
    *sin_out = out ? fs_nan() : fs_keep_nan(x, s);
    *cos_out = out ? fs_nan() : fs_keep_nan(x, co);
}

// ---------------------------------------------------------------------------------------------
// tanh, sigmoid (math/tanh.rs, math/softplus.rs)
// ---------------------------------------------------------------------------------------------

FS_FN float fs_tanh(float x) {
    float a = fs_abs(x);
    float z = a * a;
    float p = -5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z + -5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z + -3.33332819422e-1f;
    float near_ = ((a * z) * p) + a;
    float s = fs_exp(2.0f * fs_min(a, 20.0f));
    float far_ = 1.0f - 2.0f / (s + 1.0f);
    float res = a < 0.625f ? near_ : far_;
    return fs_keep_nan(x, fs_copysign(res, x));
}
FS_FN float fs_sigmoid(float x) {
    const float one = 1.0f;
    float t, t_lo;
    fs_exp_parts(-fs_abs(x), &t, &t_lo);
    float d = one + t;
    float d_lo = ((one - d) + t) + t_lo;
    bool neg = x < 0.0f;
    float num = neg ? t : one;
    float num_lo = neg ? t_lo : 0.0f;
    float q = num / d;
    float inv_d = neg ? one - q : q;
    return fs_keep_nan(x, q + (num_lo - q * d_lo) * inv_d);
}

// Activation codes (nn::Activation): value and derivative (apply_with_derivative).
#define FS_ACT_TANH 0
#define FS_ACT_RELU 1
#define FS_ACT_SILU 2
FS_FN void fs_activation(int act, float x, float* y, float* dy) {
    if (act == FS_ACT_TANH) {
        float t = fs_tanh(x);
        *y = t;
        *dy = 1.0f - t * t;
    } else if (act == FS_ACT_RELU) {
        bool neg = x < 0.0f;
        *y = neg ? 0.0f : x;
        *dy = neg ? 0.0f : 1.0f;
    } else {
        float s = fs_sigmoid(x);
        *y = x * s;
        *dy = s * (1.0f + x * (1.0f - s));
    }
}

// ---------------------------------------------------------------------------------------------
// Random streams (rng.rs)
// ---------------------------------------------------------------------------------------------

#define FS_GAMMA 0x9E3779B97F4A7C15ull

FS_FN fs_u64 fs_mix64(fs_u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

struct FsStream {
    fs_u32 s[4];
};

// The stream of sample `index` under `seed` (rng::stream_state).
FS_FN FsStream fs_stream(fs_u64 seed, fs_u64 index) {
    fs_u64 x = fs_mix64(seed) + index * 2ull * FS_GAMMA;
    fs_u64 a = fs_mix64(x + FS_GAMMA);
    fs_u64 b = fs_mix64(x + FS_GAMMA * 2ull);
    if (a == 0ull && b == 0ull) {
        fs_u64 y = fs_mix64(seed) + 0xFFFFFFFFFFFFFFFFull * 2ull * FS_GAMMA;
        a = fs_mix64(y + FS_GAMMA);
        b = fs_mix64(y + FS_GAMMA * 2ull);
    }
    FsStream st;
    st.s[0] = (fs_u32)a;
    st.s[1] = (fs_u32)(a >> 32);
    st.s[2] = (fs_u32)b;
    st.s[3] = (fs_u32)(b >> 32);
    return st;
}
FS_FN fs_u32 fs_rotl(fs_u32 x, int k) { return (x << k) | (x >> (32 - k)); }
FS_FN fs_u32 fs_next(FsStream* st) {
    fs_u32 s0 = st->s[0], s1 = st->s[1], s2 = st->s[2], s3 = st->s[3];
    fs_u32 result = fs_rotl(s0 + s3, 7) + s0;
    fs_u32 t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = fs_rotl(s3, 11);
    st->s[0] = s0;
    st->s[1] = s1;
    st->s[2] = s2;
    st->s[3] = s3;
    return result;
}
FS_FN float fs_unit(fs_u32 u) { return fs_from_bits(0x3f800000u | (u >> 9)); }
FS_FN float fs_uniform(FsStream* st) { return fs_unit(fs_next(st)) - 1.0f; }
FS_FN float fs_uniform_open(FsStream* st) { return 2.0f - fs_unit(fs_next(st)); }
FS_FN float fs_normal(FsStream* st) {
    float u1 = fs_uniform_open(st);
    float u2 = fs_uniform(st);
    float r = fs_sqrt(-2.0f * fs_ln(u1));
    float s, c;
    fs_sin_cos(FS_TAU * u2, &s, &c);
    return r * c;
}
