"""PyTorch peer of benches/learning.rs: one DSM training step (VP, lambda = sigma_t^2) of a
ScoreNet 2 -> 128 -> 128 -> 2 (SiLU, 8 Gaussian Fourier time features, MLP input 18 wide,
output divided by sigma_t) with its Adam update, on CPU with 2 threads.

Prints samples/s (batch x steps/s) for batch 512 and 4096.
Usage: python benches/peers/dsm_scorenet.py [--threads 2] [--seconds 5]
"""
import argparse
import math
import time

import torch

BETA_MIN, BETA_MAX, EPS = 0.1, 20.0, 1e-5


class ScoreNet(torch.nn.Module):
    def __init__(self, freqs=8, hidden=128, scale=16.0):
        super().__init__()
        self.register_buffer("w", torch.randn(freqs) * scale)
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2 + 2 * freqs, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.SiLU(),
            torch.nn.Linear(hidden, 2))

    def forward(self, x, t, std):
        proj = 2 * math.pi * t[:, None] * self.w[None, :]
        h = torch.cat([x, torch.sin(proj), torch.cos(proj)], dim=1)
        return self.net(h) / std[:, None]


def vp_marginal(t):
    log_alpha = -0.25 * t ** 2 * (BETA_MAX - BETA_MIN) - 0.5 * t * BETA_MIN
    return torch.exp(log_alpha), torch.sqrt(-torch.expm1(2 * log_alpha))


def step(model, opt, x0):
    t = EPS + (1 - EPS) * torch.rand(x0.shape[0])
    z = torch.randn_like(x0)
    alpha, std = vp_marginal(t)
    xt = alpha[:, None] * x0 + std[:, None] * z
    s = model(xt, t, std)
    loss = ((s * std[:, None] + z) ** 2).sum(dim=1).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for batch in (512, 4096):
        model = ScoreNet()
        opt = torch.optim.Adam(model.parameters(), lr=2e-4)
        x0 = torch.randn(batch, 2)
        for _ in range(20):
            step(model, opt, x0)
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            step(model, opt, x0)
            n += 1
        dt = time.perf_counter() - t0
        print(f"batch {batch}: {n / dt:.1f} steps/s, {batch * n / dt / 1e3:.1f} k samples/s")


if __name__ == "__main__":
    main()
