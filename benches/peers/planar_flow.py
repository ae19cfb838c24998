"""PyTorch peer of the planar-flow job (`std-ext/examples/planar_job.rs`): a 2-D flow of K = 10
planar layers with the same parameters (SplitMix64 of a counter, as `benches/planar.rs` draws
them; u reparameterised to u_hat so that w.u_hat > -1, computed in float64 and rounded to
float32), 10^6 samples z ~ N(0, I) pushed through the layers with their log-densities
log p(x) = log N(z) - sum_k log(1 + w.u_hat (1 - tanh^2(w.z + b))), in float32 on the CPU.

Prints the best of three runs and the mean log-density.
Usage: python benches/peers/planar_flow.py [-n 1000000] [--threads 2]
"""
import argparse
import math
import time

import torch

MASK = (1 << 64) - 1


def mix64(z):
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def param(i):
    return ((mix64(i) >> 40) / float(1 << 24)) * 2.0 - 1.0


def layers():
    out = []
    for k in range(10):
        p = [param(10 * k + j) for j in range(5)]
        u, w, b = [1.5 * p[0], 1.5 * p[1]], [1.5 * p[2], 1.5 * p[3]], p[4]
        wu = w[0] * u[0] + w[1] * u[1]
        ww = w[0] ** 2 + w[1] ** 2
        m = -1.0 + max(wu, 0.0) + math.log1p(math.exp(-abs(wu)))
        uh = [u[i] + (m - wu) * w[i] / ww for i in range(2)]
        out.append((torch.tensor(uh), torch.tensor(w), b, w[0] * uh[0] + w[1] * uh[1]))
    return out


def run(n, fl):
    z = torch.randn(n, 2)
    logp = -0.5 * (z * z).sum(1) - math.log(2 * math.pi)
    for uh, w, b, c in fl:
        h = torch.tanh(z @ w + b)
        z = z + h[:, None] * uh[None, :]
        logp = logp - torch.log1p(c * (1 - h * h))
    return z, logp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1_000_000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    fl = layers()
    best = math.inf
    with torch.no_grad():
        for _ in range(3):
            t = time.perf_counter()
            _, logp = run(args.n, fl)
            best = min(best, time.perf_counter() - t)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads: planar D=2 K=10: "
          f"{args.n} samples + log-densities in {best:.3f} s = {args.n / best / 1e6:.2f} M "
          f"points/s, mean log p {logp.double().mean().item():.4f}")


if __name__ == "__main__":
    main()
