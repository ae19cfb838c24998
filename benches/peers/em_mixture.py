"""PyTorch peer of `flowscore sample --sampler euler-maruyama`: the reverse VP-SDE
Euler-Maruyama sampler (beta 0.1 -> 20, N = 1000 steps, eps = 1e-3, score_sde's
`ReverseDiffusionPredictor` without the last step's noise) on a Gaussian mixture read from a
SPEC.json, with the mixture's exact perturbed score, on CPU in float32.

The score of p_t = sum_k w_k N(alpha mu_k, alpha^2 Sigma_k + sigma^2 I) is evaluated with each
component's covariance inverted once per step (D x D, batched) and the K precision-vector
products of all samples as one GEMM.
Prints the wall time and sample-steps per second, and the sample mean and covariance (to check
the peer samples the same target).

Usage: python benches/peers/em_mixture.py SPEC.json [-n 100000] [--steps 1000] [--threads 2]
"""
import argparse
import time

import torch

from mixture import beta, load, score

EPS = 1e-3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("spec")
    ap.add_argument("-n", type=int, default=100_000)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    # All samples in one batch: measured faster than cache-sized chunks of 2048..32768.
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    w, mu, cov = load(args.spec, torch.float32)
    n, d = args.n, mu.shape[1]
    h = (1.0 - EPS) / args.steps
    start = time.perf_counter()
    with torch.no_grad():
        x = torch.randn(n, d)
        for i in range(args.steps):
            t = torch.tensor(1.0 - i * h)
            b = beta(t)
            drift = -0.5 * b * x - b * score(x, t, w, mu, cov)
            x = x - drift * h
            if i + 1 < args.steps:
                x = x + torch.sqrt(b * h) * torch.randn_like(x)
    dt = time.perf_counter() - start
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: em {n} samples x "
          f"{args.steps} steps in {dt:.2f} s = {n * args.steps / dt / 1e6:.2f} M sample-steps/s")
    m = x.mean(0)
    c = torch.cov(x.T)
    print(f"  sample mean {m.tolist()}, covariance {c.flatten().tolist()}")


if __name__ == "__main__":
    main()
