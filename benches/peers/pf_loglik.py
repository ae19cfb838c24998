"""torchdiffeq peer of `flowscore loglik --method ode`: the probability-flow ODE log-likelihood
log p_eps(x) of a Gaussian mixture (SPEC.json) under the VP SDE (beta 0.1 -> 20), eps = 1e-5,
Dormand-Prince (torchdiffeq's `dopri5`) at rtol = atol = 1e-5 in float64, with the exact
divergence of the drift (autograd, one backward pass per dimension) and the exact p_T as the
prior, computed as `flowscore loglik` does: in the target's standard coordinates
z = L^-1 (x - m), log p(x) = log p_z(z) - log det L. All points are one batched solve (one step
size for the batch: torchdiffeq's way, as score_sde's likelihood uses scipy's solver).

Prints the wall time of the solve, points per second, NFE and the error against the closed
form (max and mean |log p - log p_exact|).
Usage: python benches/peers/pf_loglik.py SPEC.json POINTS.csv [--threads 2]
"""
import argparse
import time

import torch
from torchdiffeq import odeint

from mixture import beta, load, log_density, score, standardised

EPS, T = 1e-5, 1.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("points")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dt = torch.float64
    w, mu_z, cov_z, m, chol = standardised(*load(args.spec, dt))
    rows = [line.split(",") for line in open(args.points).read().split()[1:]]
    x = torch.tensor([[float(v) for v in r] for r in rows], dtype=dt)
    z0 = torch.linalg.solve_triangular(chol, (x - m).T, upper=False).T
    n, d = z0.shape
    nfe = [0]

    def field(t, state):
        nfe[0] += 1
        z = state[:, :d]
        with torch.enable_grad():
            z = z.detach().requires_grad_(True)
            s = score(z, t, w, mu_z, cov_z)
            div_s = sum(torch.autograd.grad(s[:, i].sum(), z, retain_graph=i + 1 < d)[0][:, i]
                        for i in range(d))
        b = beta(t)
        dz = -0.5 * b * z - 0.5 * b * s
        div = -0.5 * b * d - 0.5 * b * div_s
        return torch.cat([dz.detach(), div.detach()[:, None]], dim=1)

    start = time.perf_counter()
    state0 = torch.cat([z0, torch.zeros(n, 1, dtype=dt)], dim=1)
    ts = torch.tensor([EPS, T], dtype=dt)
    with torch.no_grad():
        sol = odeint(field, state0, ts, method="dopri5", rtol=1e-5, atol=1e-5)[-1]
        z_t, integral = sol[:, :d], sol[:, d]
        log_pz = log_density(z_t, torch.tensor(T, dtype=dt), w, mu_z, cov_z) + integral
    elapsed = time.perf_counter() - start
    log_det = torch.log(torch.diagonal(chol)).sum()
    log_p = log_pz - log_det
    exact = log_density(z0, torch.tensor(EPS, dtype=dt), w, mu_z, cov_z) - log_det
    err = (log_p - exact).abs()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: pf-ode loglik "
          f"{n} points in {elapsed:.2f} s = {n / elapsed / 1e3:.1f} k points/s, NFE {nfe[0]}, "
          f"|error| max {err.max().item():.2e} mean {err.mean().item():.2e}")


if __name__ == "__main__":
    main()
