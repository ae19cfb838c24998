"""PyTorch peer of `benches/math.rs`: the per-value cost of `exp`, `log`, `tanh`, `log1p` and `cos` on
10^6 float32 values (the bench's inputs: exp on [-10, 10], log on [1e-3, 1e3], tanh on [-5, 5],
log1p on [-0.5, 10], cos on [0, 2 pi)), one thread, out= preallocated. PyTorch's CPU kernels are vectorized
(SLEEF or its own polynomials) at the machine's full width, chosen at run time.

Prints the median of 30 runs per function, in ns per value.
Usage: python benches/peers/math_kernels.py [--threads 1]
"""
import argparse
import statistics
import time

import torch

N = 1_000_000


def grid(lo, hi):
    i = torch.arange(N, dtype=torch.float64)
    return (lo + (hi - lo) * (i + 0.5) / N).to(torch.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = torch.empty(N, dtype=torch.float32)
    cpu = torch.backends.cpu.get_cpu_capability()
    for name, fn, lo, hi in [
        ("exp", torch.exp, -10.0, 10.0),
        ("ln", torch.log, 1e-3, 1e3),
        ("tanh", torch.tanh, -5.0, 5.0),
        ("ln_1p", torch.log1p, -0.5, 10.0),
        ("cos", torch.cos, 0.0, 2 * 3.141592653589793),
    ]:
        x = grid(lo, hi)
        for _ in range(5):
            fn(x, out=out)
        times = []
        for _ in range(30):
            t = time.perf_counter()
            fn(x, out=out)
            times.append(time.perf_counter() - t)
        ns = statistics.median(times) / N * 1e9
        print(f"{name:6} torch {torch.__version__} ({cpu}, {args.threads} thread): {ns:.3f} ns/value")


if __name__ == "__main__":
    main()
