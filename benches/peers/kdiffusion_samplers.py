"""k-diffusion's sample_heun, sample_dpmpp_2m, sample_dpmpp_3m_sde (eta = 0: the deterministic
DPM-Solver++(3M)) and sample_dpm_adaptive on the closed-form score of the same mixtures as
`examples/sampler_quality.rs` (VP, eps = 1e-3, from sigma_bar(T) to sigma_bar(eps) on the Karras
schedule rho = 7, and the 3M also on log-SNR-uniform steps, get_sigmas_exponential, as flowscore's
DPM-Solver++(3M) runs), printing the same sliced-energy / mode-weight table and writing
DIR/kdiffusion.json for `sampler_quality_plot`.

The mixtures are read from the JSON that `cargo run --release --example sampler_quality -- --out DIR`
writes (weights, means, covariances, the exact reference samples and the exact p_T start points,
from which flowscore's probability-flow samplers start too). k-diffusion works in the VE-type
variable x_hat = x / alpha with sigma = sigma_t / alpha_t; its denoiser is the exact posterior
mean E[x0 | x_hat] of the mixture at that sigma (Tweedie), so no time variable is needed. It is
computed in float64 through each covariance's eigendecomposition S_k = V diag(l) V^T, so
(S_k + sigma^2 I)^-1 = V diag(1 / (l + sigma^2)) V^T: exact, and fast enough for the 8-D case.

    python3 -m venv benches/peers/.venv
    benches/peers/.venv/bin/pip install -r benches/peers/requirements-kdiffusion.txt
    benches/peers/.venv/bin/python benches/peers/kdiffusion_samplers.py DIR
"""
import json
import math
import sys

import torch
from k_diffusion import sampling as ks

torch.set_default_dtype(torch.float64)
BUDGETS = [10, 20, 50, 100, 250, 1000]
BETA_MIN, BETA_MAX, EPS, T = 0.1, 20.0, 1e-3, 1.0


def vp_sigma_bar(t):
    log_alpha = -0.25 * t * t * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN
    return math.sqrt(-math.expm1(2 * log_alpha)) / math.exp(log_alpha)


class MixtureDenoiser:
    """D(x_hat; sigma) = E[x0 | x0 + sigma eps = x_hat] for sum_k pi_k N(mu_k, S_k)."""

    def __init__(self, weights, means, covs):
        self.logw = torch.log(torch.tensor(weights))
        self.mu = torch.tensor(means)
        self.cov = torch.tensor(covs)
        self.lam, self.vec = torch.linalg.eigh(self.cov)  # (K, D), (K, D, D)
        self.evals = 0

    def __call__(self, x, sigma, **kwargs):
        self.evals += 1
        s = sigma.reshape(-1) if torch.is_tensor(sigma) else torch.tensor([float(sigma)])
        # k-diffusion's samplers give every sample the same sigma.
        assert bool((s == s[0]).all()), "one sigma per call"
        s2 = float(s[0]) ** 2
        diff = x.unsqueeze(1) - self.mu.unsqueeze(0)  # (n, K, D)
        z = torch.einsum("kji,nkj->nki", self.vec, diff)  # V^T (x - mu_k)
        inv = 1.0 / (self.lam + s2)  # (K, D)
        logdet = torch.log(self.lam + s2).sum(-1)
        logp = self.logw - 0.5 * logdet - 0.5 * (z * z * inv).sum(-1)
        gamma = torch.softmax(logp, dim=1)
        # E[x0 | k, x] = mu_k + S_k (S_k + s2 I)^-1 (x - mu_k) = mu_k + V diag(l / (l + s2)) V^T (x - mu_k)
        post = self.mu.unsqueeze(0) + torch.einsum("kij,nkj->nki", self.vec, z * (self.lam * inv))
        return (gamma.unsqueeze(-1) * post).sum(1)


def sliced_energy(a, b, dirs):
    pooled = torch.cat([a, b])
    lab = torch.cat([torch.ones(len(a)), torch.zeros(len(b))])
    total = 0.0
    for v in dirs:
        z = pooled @ v
        order = torch.argsort(z)
        zs, ls = z[order], lab[order]
        fa = torch.cumsum(ls, 0) / len(a)
        fb = torch.cumsum(1 - ls, 0) / len(b)
        total += 2 * (((fa - fb) ** 2)[:-1] * (zs[1:] - zs[:-1])).sum().item()
    return total / len(dirs)


def directions(d):
    if d == 2:
        return [torch.tensor([math.cos(math.pi * k / 16), math.sin(math.pi * k / 16)]) for k in range(16)]
    g = torch.Generator().manual_seed(0xD1EC)
    out = []
    for _ in range(32):
        v = torch.randn(d, generator=g)
        out.append(v / v.norm())
    return out


def weight_error(den, x):
    # Responsibilities under p0 (sigma = 0).
    d = x.shape[-1]
    c = den.cov.unsqueeze(0).expand(x.shape[0], -1, -1, -1)
    diff = x.unsqueeze(1) - den.mu.unsqueeze(0)
    sol = torch.linalg.solve(c, diff.unsqueeze(-1)).squeeze(-1)
    logp = den.logw - 0.5 * torch.logdet(c) - 0.5 * (diff * sol).sum(-1)
    w = torch.softmax(logp, dim=1).mean(0)
    return (w - torch.exp(den.logw)).abs().max().item()


def table(case):
    den = MixtureDenoiser(case["weights"], case["means"], case["covariances"])
    ref = torch.tensor(case["reference"])
    n, d = ref.shape
    # The same projections as flowscore's statistic (tests/common/mod.rs), from the JSON.
    dirs = [torch.tensor(v) for v in case["directions"]] if "directions" in case else directions(d)
    smax, smin = vp_sigma_bar(T), vp_sigma_bar(EPS)
    alpha_eps = 1.0 / math.sqrt(1.0 + smin * smin)
    # The exact p_T draws that flowscore's probability-flow samplers start from.
    x_t = torch.tensor(case["start"])
    alpha_t = 1.0 / math.sqrt(1.0 + smax * smax)
    rows = []

    def measure(xhat, nfe, tol=None):
        x = alpha_eps * xhat
        e, w = sliced_energy(x, ref, dirs), weight_error(den, x)
        return {"nfe": nfe, "energy": e, "weight_error": w, "tol": tol}

    def cell(p):
        return f"{p['energy']:.2e} ({p['weight_error']:.3f})"

    print(f"\n### {case['name']} (k-diffusion {getattr(ks, '__name__', '')}, VP, eps = 1e-3, {n} samples)\n")
    print("| sampler |" + "".join(f" {b} NFE |" for b in BUDGETS))
    print("|---|" + "---:|" * len(BUDGETS))
    def dpmpp_3m(model, x, sigmas, disable=True):
        return ks.sample_dpmpp_3m_sde(model, x, sigmas, disable=disable, eta=0.0, noise_sampler=lambda s, t: None)

    karras = lambda n: ks.get_sigmas_karras(n, smin, smax, rho=7.0)
    log_snr = lambda n: ks.get_sigmas_exponential(n, smin, smax)
    for name, fn, per_step, levels in [
        ("k-diffusion sample_heun", ks.sample_heun, 2, karras),
        ("k-diffusion sample_dpmpp_2m", ks.sample_dpmpp_2m, 1, karras),
        ("k-diffusion sample_dpmpp_3m_sde eta=0 (Karras)", dpmpp_3m, 1, karras),
        ("k-diffusion sample_dpmpp_3m_sde eta=0 (log-SNR)", dpmpp_3m, 1, log_snr),
    ]:
        points = []
        for b in BUDGETS:
            steps = max(1, b // per_step)
            # k-diffusion's schedules end with sigma = 0; drop it so that the run ends at sigma_bar(eps).
            sig = levels(steps + 1)[:-1]
            den.evals = 0
            with torch.no_grad():
                xh = fn(den, x_t / alpha_t, sig, disable=True)
            assert den.evals == steps * per_step, (name, b, den.evals)
            points.append(measure(xh, float(b)))
        print(f"| {name} | " + " | ".join(cell(p) for p in points) + " |")
        rows.append({"sampler": name.removeprefix("k-diffusion "), "adaptive": False, "points": points})
    print("\n| adaptive sampler | tolerance | mean NFE | energy distance (weight error) |")
    print("|---|---:|---:|---:|")
    points = []
    for tol in [3e-1, 1e-1, 3e-2, 1e-2, 1e-3, 1e-4]:
        den.evals = 0
        with torch.no_grad():
            xh, info = ks.sample_dpm_adaptive(den, x_t / alpha_t, smin, smax, rtol=tol, atol=tol / 10, return_info=True)
        # One batched call per evaluation: the NFE of every sample.
        p = measure(xh, float(den.evals), tol)
        points.append(p)
        print(f"| k-diffusion sample_dpm_adaptive (atol = rtol/10) | {tol:g} | {den.evals} | {cell(p)} |")
    rows.append({"sampler": "sample_dpm_adaptive", "adaptive": True, "points": points})
    return {"name": case["name"], "rows": rows}


def main():
    with open(sys.argv[1] + "/mixtures.json") as f:
        cases = json.load(f)
    out = {"peer": "k-diffusion", "samples": len(cases[0]["reference"]), "cases": [table(c) for c in cases]}
    with open(sys.argv[1] + "/kdiffusion.json", "w") as f:
        json.dump(out, f)
    print(f"\nwrote {sys.argv[1]}/kdiffusion.json")


if __name__ == "__main__":
    main()
